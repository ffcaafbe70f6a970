use std::sync::{Arc, Mutex};

use axum::Router;
use pbi_client::{Endpoints, ManualClock, PowerBiClient, RetryPolicy};
use pbi_server::config::Config;
use pbi_server::store::Store;
use pbi_server::tenant::{self, ProvisionedTenant, TenantSpec};
use pbi_server::Application;

pub const PASSWORD: &str = "Correct-Horse-9";
pub const SECRET: &str = "abc~0123456789abcdefghijklmnopqrstuvwxyz";
pub const DOMAIN: &str = "client.onmicrosoft.com";

pub fn upn(local: &str) -> String {
    format!("{local}@{DOMAIN}")
}

/// A pbi-access server in this process, on a temporary SQLite file.
pub struct Server {
    pub base: String,
    pub fixture: ProvisionedTenant,
    /// The server's clock (it checks client assertions' `exp` and `nbf` against it).
    pub server_clock: Arc<pbi_server::clock::ManualClock>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Server {
    pub async fn start() -> Server {
        Self::start_with(|_| {}).await
    }

    /// A server whose fixture tenant (as JSON) `tweak` changed first.
    pub async fn start_with(tweak: impl FnOnce(&mut serde_json::Value)) -> Server {
        Self::start_configured(tweak, |_| {}).await
    }

    /// A server whose fixture tenant `tweak` and whose config `configure` changed first.
    pub async fn start_configured(tweak: impl FnOnce(&mut serde_json::Value), configure: impl FnOnce(&mut Config)) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("client.db").display());
        let mut spec = serde_json::json!({
            "name": "Client tests",
            "domain": DOMAIN,
            "users": [
                {"upn": upn("admin"), "mail": upn("admin"), "displayName": "Ada Admin", "password": PASSWORD, "fabricAdmin": true},
                {"upn": upn("alice"), "mail": upn("alice"), "displayName": "Alice", "password": PASSWORD},
                {"upn": upn("bob"), "mail": upn("bob"), "displayName": "Bob", "password": PASSWORD}
            ],
            "servicePrincipals": [{"displayName": "automation", "secrets": [{"value": SECRET}]}],
            "subscribedSkus": [{"skuPartNumber": "POWER_BI_PRO", "seats": 2}],
            "workspaces": [
                {"name": "Team", "members": [
                    {"principal": upn("admin"), "role": "Admin"},
                    {"principal": "automation", "principalType": "App", "role": "Admin"}]},
                {"name": "Alpha", "members": [{"principal": "automation", "principalType": "App", "role": "Admin"}]},
                {"name": "Beta", "members": [{"principal": "automation", "principalType": "App", "role": "Member"}]},
                {"name": "Gamma", "members": [{"principal": "automation", "principalType": "App", "role": "Viewer"}]},
                {"name": "Delta", "members": [{"principal": "automation", "principalType": "App", "role": "Contributor"}]}
            ]
        });
        tweak(&mut spec);
        let spec: TenantSpec = serde_json::from_value(spec).expect("fixture spec");
        let mut config = Config { listen: "127.0.0.1:0".into(), database: url.clone(), demo: false, ..Config::default() };
        configure(&mut config);
        let clock = pbi_server::clock::ManualClock::starting_now();
        let store = Store::connect(&url).await.expect("store");
        let fixture = tenant::provision(&store, &*clock, &spec).await.expect("fixture tenant");
        let app = Application::build_with_store(config, clock.clone(), store).await.expect("build");
        let base = app.public_url().to_string();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        Server { base, fixture, server_clock: clock, shutdown: Some(tx), _dir: dir }
    }

    pub fn endpoints(&self) -> Endpoints {
        Endpoints::local(&self.base)
    }

    pub fn tenant(&self) -> String {
        self.fixture.tenant.id.to_string()
    }

    pub fn app_id(&self) -> String {
        self.fixture.service_principals["automation"].1.to_string()
    }

    pub fn app_object_id(&self) -> String {
        self.fixture.service_principals["automation"].0.to_string()
    }

    pub fn ws(&self, name: &str) -> uuid::Uuid {
        self.fixture.workspaces[name]
    }

    /// A client-credentials client on a manual clock.
    pub fn app_client(&self, clock: Arc<ManualClock>) -> PowerBiClient {
        PowerBiClient::builder(self.endpoints()).client_secret(self.tenant(), self.app_id(), SECRET).clock(clock).build().unwrap()
    }
}

/// Serve `router` on 127.0.0.1:0 until the test ends; returns the base URL.
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{addr}")
}

/// What a mock saw: method, path and raw query of every request.
#[derive(Debug, Default, Clone)]
pub struct Seen(pub Arc<Mutex<Vec<(String, String, String)>>>);

impl Seen {
    pub fn record(&self, method: &str, uri: &axum::http::Uri) {
        self.0.lock().unwrap().push((method.to_string(), uri.path().to_string(), uri.query().unwrap_or("").to_string()));
    }

    pub fn count(&self, method: &str) -> usize {
        self.0.lock().unwrap().iter().filter(|(m, _, _)| m == method).count()
    }

    pub fn queries(&self) -> Vec<String> {
        self.0.lock().unwrap().iter().map(|(_, _, q)| q.clone()).collect()
    }
}

/// A client with a static token against a mock, sleeping on `clock`.
pub fn mock_client(base: &str, clock: Arc<ManualClock>, retry: RetryPolicy) -> PowerBiClient {
    PowerBiClient::builder(Endpoints::local(base)).token("mock-token").clock(clock).retry(retry).build().unwrap()
}
