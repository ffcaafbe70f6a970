use std::collections::HashMap;
use std::fmt::Debug;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pbi_client::{Endpoints, PowerBiClient, TokenClient};
use pbi_server::clock::ManualClock;
use pbi_server::config::Config;
use pbi_server::domain::ArtifactKind;
use pbi_server::store::Store;
use pbi_server::tenant::{
    self, ArtifactSpec, CapacitySpec, DatasourceSpec, GatewaySpec, GroupSpec, MemberSpec, PipelineSpec, ProvisionedTenant, RightSpec,
    SecretSpec, ServicePrincipalSpec, SubscriptionSpec, TenantSpec, UserSpec, WorkspaceSpec,
};
use pbi_server::Application;
use uuid::Uuid;

pub const PASSWORD: &str = "Correct-Horse-9";
pub const SECRET: &str = "abc~0123456789abcdefghijklmnopqrstuvwxyz";
pub const EXPIRED_SECRET: &str = "old~0123456789abcdefghijklmnopqrstuvwxyz";
pub const DOMAIN: &str = "fixture.onmicrosoft.com";
pub const GUEST: &str = "gina_fabrikam.com#EXT#@fixture.onmicrosoft.com";
pub const SCIM_SECRET: &str = "scim-fixture-secret-0123456789";

pub fn upn(local: &str) -> String {
    format!("{local}@{DOMAIN}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The fixture without artifacts, capacities or subscriptions: for tests that seed their own
/// items and count exactly what a principal reaches.
pub fn plain_fixture_spec() -> TenantSpec {
    let mut spec = fixture_spec();
    spec.capacities.clear();
    for ws in &mut spec.workspaces {
        ws.artifacts.clear();
        ws.capacity = None;
    }
    spec
}

/// The two halves every backend test macro writes: a module `$name` with a `sqlite` and a
/// `postgres` test, each binding `$backend` to its backend, spawning the app with `$spawn` (an
/// `Option<TestApp>` future: `None` is a skipped PostgreSQL half) and running `$body` on it.
#[doc(hidden)]
#[macro_export]
macro_rules! backend_test_halves {
    ($name:ident, |$backend:ident| $spawn:expr, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let f = $body;
                let $backend = $crate::helpers::Backend::Sqlite;
                if let Some(app) = $spawn.await {
                    f(app).await;
                }
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let f = $body;
                let $backend = $crate::helpers::Backend::Postgres;
                if let Some(app) = $spawn.await {
                    f(app).await;
                }
            }
        }
    };
}

/// Like `backend_test!`, on the plain fixture and without throttling (admin-read tests that make
/// many calls and count items exactly).
#[macro_export]
macro_rules! plain_backend_test {
    ($name:ident, $body:expr) => {
        $crate::backend_test_halves!(
            $name,
            |backend| $crate::helpers::TestApp::spawn_with_fixture(
                backend,
                |c| c.throttling.enabled = false,
                $crate::helpers::plain_fixture_spec()
            ),
            $body
        );
    };
}

/// Runs a test body once per backend: `backend_test!(name, |app| async move { … })`.
#[macro_export]
macro_rules! backend_test {
    ($name:ident, $body:expr) => {
        $crate::backend_test_halves!($name, |backend| $crate::helpers::TestApp::spawn(backend), $body);
    };
}

/// `backend_test!` with a config tweak: `backend_test_with!(name, |c: &mut Config| …, |app| async move { … })`.
#[macro_export]
macro_rules! backend_test_with {
    ($name:ident, $tweak:expr, $body:expr) => {
        $crate::backend_test_halves!($name, |backend| $crate::helpers::TestApp::spawn_with(backend, $tweak), $body);
    };
}

/// Where the PostgreSQL suite runs: `PBI_ACCESS_TEST_POSTGRES` (then it must work), or a
/// server on 127.0.0.1:5432 if one answers; otherwise the PostgreSQL tests say they are skipped.
pub async fn postgres_url() -> Option<String> {
    static URL: tokio::sync::OnceCell<Option<String>> = tokio::sync::OnceCell::const_new();
    URL.get_or_init(|| async {
        if let Ok(url) = std::env::var("PBI_ACCESS_TEST_POSTGRES") {
            if !url.is_empty() {
                return Some(url);
            }
        }
        let url = "postgres://postgres@127.0.0.1:5432/test".to_string();
        sqlx::any::install_default_drivers();
        let probe = tokio::time::timeout(Duration::from_secs(3), sqlx::AnyPool::connect(&url)).await;
        match probe {
            Ok(Ok(pool)) => {
                pool.close().await;
                Some(url)
            }
            _ => None,
        }
    })
    .await
    .clone()
}

/// A fresh, empty database for one test: a SQLite file, or a new PostgreSQL schema.
pub async fn fresh_database(backend: Backend) -> Option<(String, Option<tempfile::TempDir>)> {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            Some((format!("sqlite://{}", dir.path().join("test.db").display()), Some(dir)))
        }
        Backend::Postgres => {
            let Some(base) = postgres_url().await else {
                eprintln!("skipped: no PostgreSQL server (set PBI_ACCESS_TEST_POSTGRES or run one on 127.0.0.1:5432)");
                return None;
            };
            let schema = format!("t_{}", Uuid::new_v4().simple());
            // With PBI_ACCESS_TEST_POSTGRES set, nothing has installed the drivers yet when the
            // first PostgreSQL test gets here (it raced `Store::connect` of the others).
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&base).await.expect("PBI_ACCESS_TEST_POSTGRES is set but PostgreSQL does not answer");
            sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&pool).await.unwrap();
            pool.close().await;
            let sep = if base.contains('?') { '&' } else { '?' };
            Some((format!("{base}{sep}options=-c%20search_path%3D{schema}"), None))
        }
    }
}

pub fn fixture_spec() -> TenantSpec {
    let user = |local: &str, name: &str| UserSpec {
        id: None,
        upn: upn(local),
        mail: Some(upn(local)),
        display_name: name.into(),
        guest: false,
        account_enabled: true,
        password: Some(PASSWORD.into()),
        password_hash: None,
        fabric_admin: false,
    };
    let member =
        |p: &str, t: &str, r: &str| MemberSpec { principal: p.into(), principal_type: t.parse().unwrap(), role: r.parse().unwrap() };
    let mut users = vec![
        UserSpec { fabric_admin: true, ..user("admin", "Fabric Admin") },
        user("owner", "Olivia Owner"),
        user("member", "Max Member"),
        user("contributor", "Cora Contributor"),
        user("viewer", "Vic Viewer"),
        user("outsider", "Otto Outsider"),
        UserSpec { account_enabled: false, ..user("disabled", "Dee Disabled") },
        UserSpec { password: None, ..user("newbie", "Nia Newbie") },
        UserSpec { password: None, mail: Some("second.name@contoso.com".into()), ..user("mailuser", "Mel Mail") },
    ];
    users.push(UserSpec {
        id: None,
        upn: GUEST.into(),
        mail: Some("gina@fabrikam.com".into()),
        display_name: "Gina Guest".into(),
        guest: true,
        account_enabled: true,
        password: None,
        password_hash: None,
        fabric_admin: false,
    });
    TenantSpec {
        settings: Default::default(),
        id: None,
        name: "Fixture".into(),
        domain: DOMAIN.into(),
        users,
        groups: vec![GroupSpec { id: None, display_name: "Analysts".into(), microsoft365: false, ..Default::default() }],
        service_principals: vec![
            ServicePrincipalSpec {
                id: None,
                app_id: None,
                display_name: "automation".into(),
                secrets: vec![
                    SecretSpec { value: SECRET.into(), expires_at: None, hash: None },
                    SecretSpec { value: EXPIRED_SECRET.into(), expires_at: Some(1), hash: None },
                ],
                certificates: vec![],
                // Graph's audit log (`auditLogs/directoryAudits`) needs it.
                app_roles: vec!["AuditLog.Read.All".into()],
                ..Default::default()
            },
            ServicePrincipalSpec { id: None, app_id: None, display_name: "other-app".into(), secrets: vec![], ..Default::default() },
        ],
        workspaces: vec![
            WorkspaceSpec {
                name: "Team".into(),
                members: vec![
                    member(&upn("owner"), "User", "Admin"),
                    member(&upn("member"), "User", "Member"),
                    member(&upn("contributor"), "User", "Contributor"),
                    member(&upn("viewer"), "User", "Viewer"),
                    member("automation", "App", "Admin"),
                    member(&upn("disabled"), "User", "Viewer"),
                ],
                capacity: Some("Fixture F64".into()),
                artifacts: team_artifacts(),
                ..Default::default()
            },
            WorkspaceSpec {
                name: "Marketing Hub".into(),
                members: vec![member(&upn("owner"), "User", "Admin"), member(&upn("viewer"), "User", "Member")],
                artifacts: vec![ArtifactSpec { kind: ArtifactKind::Dataset, name: "Campaigns".into(), ..Default::default() }],
                ..Default::default()
            },
            WorkspaceSpec { name: "marketing archive".into(), members: vec![member(&upn("owner"), "User", "Admin")], ..Default::default() },
            WorkspaceSpec { name: "Solo".into(), members: vec![member(&upn("outsider"), "User", "Admin")], ..Default::default() },
        ],
        capacities: vec![
            CapacitySpec {
                display_name: "Fixture F64".into(),
                sku: "F64".into(),
                region: "North Europe".into(),
                users: vec![
                    right(&upn("owner"), "User", "Admin"),
                    right(&upn("member"), "User", "Assign"),
                    right("Analysts", "Group", "Assign"),
                ],
                ..Default::default()
            },
            CapacitySpec {
                display_name: "Spare A1".into(),
                sku: "A1".into(),
                region: "West US".into(),
                state: Some("Suspended".into()),
                users: vec![right(&upn("member"), "User", "Admin")],
                ..Default::default()
            },
        ],
        pipelines: vec![PipelineSpec {
            display_name: "Release".into(),
            users: vec![right(&upn("owner"), "User", "Admin"), right("Analysts", "Group", "Admin")],
            ..Default::default()
        }],
        gateways: vec![GatewaySpec {
            name: "On-premises".into(),
            users: vec![right(&upn("owner"), "User", "Admin"), right("automation", "App", "Admin")],
            datasources: vec![DatasourceSpec {
                name: "Warehouse".into(),
                datasource_type: "Sql".into(),
                users: vec![right(&upn("member"), "User", "Read")],
                ..Default::default()
            }],
            ..Default::default()
        }],
        scim_secret: Some(SCIM_SECRET.into()),
        scim_secret_hash: None,
        ..Default::default()
    }
}

/// A right on an artifact (`R` = `String`) or a capacity (`CapacityRight`).
pub fn right<R: FromStr<Err: Debug>>(principal: &str, principal_type: &str, access_right: &str) -> RightSpec<R> {
    RightSpec { principal: principal.into(), principal_type: principal_type.parse().unwrap(), access_right: access_right.parse().unwrap() }
}

/// The items of workspace "Team": a dataset shared with the outsider (ReadReshare) and with
/// mailuser (ReadWrite, which only an operator can give), a report on it, a paginated report, a
/// dashboard shared with the Analysts group, a dataflow, a workbook and an app.
pub fn team_artifacts() -> Vec<ArtifactSpec> {
    vec![
        ArtifactSpec {
            kind: ArtifactKind::Dataset,
            name: "Sales".into(),
            description: Some("Orders and revenue".into()),
            configured_by: Some(upn("contributor")),
            permissions: vec![right(&upn("outsider"), "User", "ReadReshare"), right(&upn("mailuser"), "User", "ReadWrite")],
            ..Default::default()
        },
        ArtifactSpec {
            kind: ArtifactKind::Report,
            name: "Sales Report".into(),
            dataset: Some("Sales".into()),
            configured_by: Some(upn("member")),
            permissions: vec![right(GUEST, "User", "ReadCopy")],
            subscriptions: vec![SubscriptionSpec {
                owner: upn("viewer"),
                title: "Sales daily".into(),
                is_enabled: true,
                sub_artifact_name: Some("Overview".into()),
                ..Default::default()
            }],
            ..Default::default()
        },
        ArtifactSpec { kind: ArtifactKind::PaginatedReport, name: "Invoices".into(), ..Default::default() },
        ArtifactSpec {
            kind: ArtifactKind::Dashboard,
            name: "Pulse".into(),
            permissions: vec![right("Analysts", "Group", "Read")],
            ..Default::default()
        },
        ArtifactSpec {
            kind: ArtifactKind::Dataflow,
            name: "Prep".into(),
            configured_by: Some(upn("owner")),
            permissions: vec![right(&upn("outsider"), "User", "Read")],
            ..Default::default()
        },
        ArtifactSpec { kind: ArtifactKind::Workbook, name: "Budget".into(), ..Default::default() },
        ArtifactSpec {
            kind: ArtifactKind::App,
            name: "Team App".into(),
            permissions: vec![right(&upn("newbie"), "User", "ReadExplore"), right("Analysts", "Group", "Read")],
            ..Default::default()
        },
        ArtifactSpec { kind: ArtifactKind::Dataset, name: "Finance".into(), ..Default::default() },
    ]
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub fixture: ProvisionedTenant,
    /// The server's own store, for tests that change the directory behind the API's back.
    pub store: Store,
    pub backend: Backend,
    /// The config the server was built with (its `database` names the test's database).
    pub config: Config,
    tokens: Mutex<HashMap<String, String>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Another server on the test's database, with its own store connections (see `TestApp::instance`).
pub struct Instance {
    pub base: String,
    /// The instance's own store (its own connections and caches, and on PostgreSQL its listener).
    pub store: Store,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Build and start an application; returns its base URL and its shutdown switch.
async fn start(config: Config, clock: Arc<ManualClock>, store: Option<Store>) -> (String, tokio::sync::oneshot::Sender<()>) {
    let app = match store {
        Some(store) => Application::build_with_store(config, clock, store).await,
        None => Application::build(config, clock).await,
    }
    .expect("build");
    let base = app.public_url().to_string();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    (base, tx)
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
        Self::spawn_with_fixture(backend, tweak, fixture_spec()).await
    }

    pub async fn spawn_with_fixture(backend: Backend, tweak: impl FnOnce(&mut Config), spec: TenantSpec) -> Option<TestApp> {
        // `RUST_LOG=info cargo test …` shows the server's log lines with each test's output.
        let _ = tracing_subscriber::fmt().with_test_writer().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).try_init();
        let (url, dir) = fresh_database(backend).await?;
        let mut config = Config { listen: "127.0.0.1:0".into(), database: url.clone(), demo: false, ..Config::default() };
        tweak(&mut config);
        let clock = ManualClock::starting_now();
        let store = Store::connect(&url).await.expect("store");
        let fixture = tenant::provision(&store, &*clock, &spec).await.expect("fixture tenant");
        let (base, tx) = start(config.clone(), clock.clone(), Some(store.clone())).await;
        Some(TestApp {
            base,
            http: reqwest::Client::new(),
            clock,
            fixture,
            store,
            backend,
            config,
            tokens: Mutex::new(HashMap::new()),
            shutdown: Some(tx),
            _dir: dir,
        })
    }

    /// A second server on the same database and clock, with its own connections, as another
    /// instance of a deployment would be.
    pub async fn instance(&self) -> Instance {
        let store = Store::connect(&self.config.database).await.expect("store");
        let (base, tx) = start(self.config.clone(), self.clock.clone(), Some(store.clone())).await;
        Instance { base, store, shutdown: Some(tx) }
    }

    /// Stop the server and start a new one on the same database (fresh connections, new port).
    pub async fn restart(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let (base, tx) = start(self.config.clone(), self.clock.clone(), None).await;
        self.base = base;
        self.shutdown = Some(tx);
    }

    /// Provision another tenant in the same server.
    pub async fn provision(&self, spec: &TenantSpec) -> ProvisionedTenant {
        tenant::provision(&self.store, &*self.clock, spec).await.expect("tenant")
    }

    /// A delegated token for any user of any tenant (password grant through `client_id`).
    pub async fn token_for(&self, tenant: Uuid, client_id: Uuid, upn: &str) -> String {
        self.token_client()
            .password(&tenant.to_string(), &client_id.to_string(), upn, PASSWORD, "https://analysis.windows.net/powerbi/api/.default")
            .await
            .unwrap_or_else(|e| panic!("token for {upn}: {e}"))
            .access_token
    }

    /// A client-credentials token for an app of any tenant.
    pub async fn app_token_for(&self, tenant: Uuid, app_id: Uuid, secret: &str) -> String {
        self.token_client().client_credentials(&tenant.to_string(), &app_id.to_string(), secret).await.expect("app token").access_token
    }

    pub fn client(&self, token: String) -> PowerBiClient {
        PowerBiClient::new(self.http.clone(), &self.endpoints(), token)
    }

    /// Change a fixture user's row directly (`$1` tenant id, `$2` user id), as the directory
    /// APIs do (disable, delete).
    pub async fn sql(&self, statement: &str, user: &str) {
        let mut tx = self.store.bulk_write().await.unwrap();
        tx.set_tenant(self.tenant_id());
        sqlx::query(statement).bind(self.tenant_id().to_string()).bind(self.user_id(user).to_string()).execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
    }

    pub fn tenant_id(&self) -> Uuid {
        self.fixture.tenant.id
    }

    pub fn endpoints(&self) -> Endpoints {
        Endpoints::local(&self.base)
    }

    pub fn app_id(&self) -> Uuid {
        self.fixture.service_principals["automation"].1
    }

    pub fn app_object_id(&self) -> Uuid {
        self.fixture.service_principals["automation"].0
    }

    pub fn ws(&self, name: &str) -> Uuid {
        self.fixture.workspaces[name]
    }

    pub fn user_id(&self, local: &str) -> Uuid {
        self.fixture.users[&upn(local)]
    }

    pub fn token_client(&self) -> TokenClient {
        TokenClient::new(self.http.clone(), &self.endpoints())
    }

    /// A delegated token (password grant, `.default` scope) for a fixture user.
    pub async fn user_token(&self, local: &str) -> String {
        self.user_token_scoped(local, "https://analysis.windows.net/powerbi/api/.default").await
    }

    pub async fn user_token_scoped(&self, local: &str, scope: &str) -> String {
        let key = format!("{local} {scope}");
        if let Some(t) = self.tokens.lock().unwrap().get(&key) {
            return t.clone();
        }
        let token = self
            .token_client()
            .password(&self.tenant_id().to_string(), &self.app_id().to_string(), &upn(local), PASSWORD, scope)
            .await
            .unwrap_or_else(|e| panic!("token for {local}: {e}"))
            .access_token;
        self.tokens.lock().unwrap().insert(key, token.clone());
        token
    }

    /// A client-credentials token for the `automation` service principal.
    pub async fn app_token(&self) -> String {
        self.token_client()
            .client_credentials(&self.tenant_id().to_string(), &self.app_id().to_string(), SECRET)
            .await
            .expect("app token")
            .access_token
    }

    /// The fixture app's Microsoft Graph token (client credentials, Graph's `.default`).
    pub async fn graph_app_token(&self) -> String {
        self.token_client()
            .client_credentials_for(&self.tenant_id().to_string(), &self.app_id().to_string(), SECRET, pbi_wire::oauth::GRAPH_DEFAULT_SCOPE)
            .await
            .expect("Graph app token")
            .access_token
    }

    pub async fn as_user(&self, local: &str) -> PowerBiClient {
        PowerBiClient::new(self.http.clone(), &self.endpoints(), self.user_token(local).await)
    }

    pub async fn as_app(&self) -> PowerBiClient {
        PowerBiClient::new(self.http.clone(), &self.endpoints(), self.app_token().await)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The id of an artifact of the fixture, by workspace, kind and name.
    pub fn artifact(&self, workspace: &str, kind: &str, name: &str) -> Uuid {
        self.fixture.artifact(workspace, kind, name)
    }

    /// The fixture tenant's activity events (their `event_json`), oldest first, read straight
    /// from the store (the activity log API is another module's).
    pub async fn activity_events(&self) -> Vec<serde_json::Value> {
        let mut tx = self.store.external_write().await.unwrap();
        let rows = sqlx::query("SELECT event_json FROM activity_events WHERE tenant_id = $1 ORDER BY creation_time, id")
            .bind(self.tenant_id().to_string())
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        rows.iter().map(|r| serde_json::from_str(&sqlx::Row::get::<String, _>(r, "event_json")).unwrap()).collect()
    }

    /// Identifiers and roles of a workspace, as the admin endpoint lists them.
    pub async fn roles(&self, ws: Uuid) -> Vec<(String, String)> {
        let admin = self.as_user("admin").await;
        let mut v: Vec<(String, String)> = admin
            .get_group_users_as_admin(ws)
            .await
            .unwrap()
            .into_iter()
            .map(|u| (u.identifier.unwrap().to_lowercase(), u.group_user_access_right.as_str().to_string()))
            .collect();
        v.sort();
        v
    }
}

/// Assert a client call failed with this HTTP status and Power BI error code.
#[track_caller]
pub fn assert_api_error<T: std::fmt::Debug>(result: Result<T, pbi_client::ClientError>, status: u16, code: &str) {
    match result {
        Err(pbi_client::ClientError::Api { status: s, code: c, .. }) if s.as_u16() == status && c == code => {}
        other => panic!("expected {status} {code}, got {other:?}"),
    }
}

/// A second tenant with its own SCIM secret, user and service principal (isolation tests).
pub const OTHER_DOMAIN: &str = "other.onmicrosoft.com";
pub const OTHER_SCIM_SECRET: &str = "scim-other-secret-0123456789";

pub async fn provision_other_tenant(app: &TestApp) -> ProvisionedTenant {
    let spec = TenantSpec {
        id: None,
        name: "Other".into(),
        domain: OTHER_DOMAIN.into(),
        users: vec![UserSpec {
            id: None,
            upn: format!("olga@{OTHER_DOMAIN}"),
            mail: None,
            display_name: "Olga Other".into(),
            guest: false,
            account_enabled: true,
            password: None,
            password_hash: None,
            fabric_admin: false,
        }],
        groups: vec![],
        service_principals: vec![ServicePrincipalSpec {
            id: None,
            app_id: None,
            display_name: "other-automation".into(),
            secrets: vec![SecretSpec { value: SECRET.into(), expires_at: None, hash: None }],
            certificates: vec![],
            ..Default::default()
        }],
        workspaces: vec![],
        scim_secret: Some(OTHER_SCIM_SECRET.into()),
        ..Default::default()
    };
    tenant::provision(&app.store, &*app.clock, &spec).await.expect("second tenant")
}

impl TestApp {
    /// Provision another tenant on `domain` whose only user, `boss@{domain}`, is a Fabric
    /// administrator, and return the boss's delegated token there (cross-tenant admin tests).
    pub async fn other_tenant_admin_token(&self, domain: &str) -> String {
        let boss = format!("boss@{domain}");
        let other = self
            .provision(&TenantSpec {
                name: "Other".into(),
                domain: domain.into(),
                users: vec![UserSpec {
                    upn: boss.clone(),
                    display_name: "Boss".into(),
                    password: Some(PASSWORD.into()),
                    fabric_admin: true,
                    ..Default::default()
                }],
                service_principals: vec![ServicePrincipalSpec {
                    id: None,
                    app_id: None,
                    display_name: "app".into(),
                    secrets: vec![],
                    certificates: vec![],
                    ..Default::default()
                }],
                ..Default::default()
            })
            .await;
        self.token_for(other.tenant.id, other.service_principals["app"].1, &boss).await
    }

    /// A client-credentials token for the `other-automation` app of the second tenant.
    /// The other tenant's app token for `scope` (Power BI's or Graph's `.default`).
    pub async fn other_app_token_for(&self, other: &ProvisionedTenant, scope: &str) -> String {
        let app = other.service_principals["other-automation"].1.to_string();
        self.token_client()
            .client_credentials_for(&other.tenant.id.to_string(), &app, SECRET, scope)
            .await
            .expect("other tenant's app token")
            .access_token
    }

    /// One HTTP call: `(status, JSON body or Null, headers)`. `body` is sent as `content_type`.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, &str)],
    ) -> (u16, serde_json::Value, reqwest::header::HeaderMap) {
        let mut req = reqwest::Client::new().request(method, self.url(path));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some((ct, bytes)) = body {
            req = req.header("content-type", ct).body(bytes);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null), headers)
    }

    /// A SCIM call to this tenant with its secret; `body` as `application/scim+json`.
    pub async fn scim(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value, reqwest::header::HeaderMap) {
        let path = format!("/{}/scim/v2{path}", self.tenant_id());
        self.call(method, &path, Some(SCIM_SECRET), body.map(|b| ("application/scim+json", b.to_string().into_bytes())), &[]).await
    }

    /// A Graph call with the fixture app's token; `body` as `application/json`.
    pub async fn graph(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value, reqwest::header::HeaderMap) {
        let token = self.graph_app_token().await;
        let path = format!("/graph/v1.0{path}");
        self.call(method, &path, Some(&token), body.map(|b| ("application/json", b.to_string().into_bytes())), &[]).await
    }
}
