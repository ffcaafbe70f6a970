//! Assembly: state, routers, middleware, listener. `Application::build` binds the listener
//! (port 0 in tests) and reports the real address; `main` only reads config and calls it.

use std::future::Future;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Datelike;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::api::powerbi::continuation::ContinuationKey;
use crate::api::powerbi::error::PbiError;
use crate::api::{fabric, graph, oauth, operator, powerbi, scim};
use crate::auth::{keys, KeyRing, TokenService};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::faults::Faults;
use crate::store::{DemoCredentials, Store};
use crate::telemetry::{self, REQUEST_ID};
use crate::tls::{TlsFiles, TlsListener};

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

pub struct AppInner {
    pub store: Store,
    pub tokens: TokenService,
    pub clock: SharedClock,
    pub config: Config,
    /// Base URL clients use to reach this server, without a trailing slash.
    pub public_url: String,
    /// Fault-injection rules in force (from the config, replaced through the operator API).
    pub faults: Faults,
    /// Signs and checks the continuation tokens of the admin reads.
    pub continuation: ContinuationKey,
    /// Per tenant, the retention cut-off of this process's last purge of the activity log.
    pub activity_purged: std::sync::Mutex<std::collections::HashMap<uuid::Uuid, i64>>,
    /// Rendered `GET /admin/groups` pages, exact by tenant write generation.
    pub admin_pages: crate::api::powerbi::page_cache::PageCache,
    /// Requests in flight and cancelled (their client went away), for the operator API.
    pub requests: Arc<crate::cancel::RequestStats>,
    /// Password sign-ins: smart lockout and the Argon2 pool.
    pub sign_in: crate::auth::lockout::SignIn,
}

impl Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

pub struct Application {
    listener: tokio::net::TcpListener,
    state: AppState,
    demo: Option<DemoCredentials>,
    /// The certificate served and its rustls configuration, when TLS is on.
    tls: Option<(TlsFiles, Arc<rustls::ServerConfig>)>,
}

impl Application {
    /// Connect the store named by the config, then build.
    pub async fn build(config: Config, clock: SharedClock) -> anyhow::Result<Application> {
        let store = Store::connect(&config.database).await?;
        Self::build_with_store(config, clock, store).await
    }

    pub async fn build_with_store(config: Config, clock: SharedClock, store: Store) -> anyhow::Result<Application> {
        // PostgreSQL: other instances' commits reach this one's caches as notifications.
        store.start_listener();
        let faults = Faults::new(&config.faults).map_err(|e| anyhow::anyhow!("invalid [[faults]] in the config: {e}"))?;
        let tls = crate::tls::setup(&config, clock.now().year())?;
        let listener =
            tokio::net::TcpListener::bind(&config.listen).await.map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let public_url = config.public_url(listener.local_addr()?);
        let stored = store.signing_key(clock.now_millis(), || keys::generate().expect("RSA key generation")).await?;
        let tokens = TokenService::new(
            Arc::new(KeyRing::from_stored(&stored)?),
            clock.clone(),
            config.tokens.lifetime_secs,
            config.tokens.clock_skew_secs,
        );
        let demo = if config.demo {
            match store.demo_credentials().await? {
                Some(demo) => Some(demo),
                None if store.count_tenants().await? == 0 => Some(crate::tenant::create_demo(&store, &*clock).await?),
                None => None,
            }
        } else {
            None
        };
        let continuation = ContinuationKey::derive(&stored.private_pem);
        let admin_pages = crate::api::powerbi::page_cache::PageCache::new(config.audit.page_cache_mb as usize * 1024 * 1024);
        let sign_in = crate::auth::lockout::SignIn::new(&config.sign_in);
        let state = AppState(Arc::new(AppInner {
            store,
            tokens,
            clock,
            config,
            public_url,
            faults,
            continuation,
            activity_purged: std::sync::Mutex::new(std::collections::HashMap::new()),
            admin_pages,
            requests: Arc::default(),
            sign_in,
        }));
        Ok(Application { listener, state, demo, tls })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn public_url(&self) -> &str {
        &self.state.public_url
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Credentials of the demo tenant, when the demo is on.
    pub fn demo(&self) -> Option<&DemoCredentials> {
        self.demo.as_ref()
    }

    /// The certificate files served, when TLS is on.
    pub fn tls(&self) -> Option<&TlsFiles> {
        self.tls.as_ref().map(|(files, _)| files)
    }

    /// Serve (HTTPS when TLS is on) until `shutdown` resolves, then finish in-flight requests,
    /// under the `[server]` timeouts and connection cap (`crate::serve`). Every connection has
    /// `TCP_NODELAY` (see `no_delay`).
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        // Routing by `Host` rewrites the path before the router sees it, so it wraps the router:
        // an outer router whose only service is the rewrite in front of the routing table.
        let routed = tower::ServiceBuilder::new().map_request(crate::hosts::route_by_host).service(router(self.state.clone()));
        let router = axum::Router::new().fallback_service(routed);
        let limits = self.state.config.server.clone();
        match self.tls {
            None => crate::serve::serve(plain_listener(self.listener), router, limits, shutdown).await,
            Some((_, config)) => crate::serve::serve(TlsListener::new(self.listener, config)?, router, limits, shutdown).await,
        }
    }
}

/// The whole HTTP surface: one router per API dialect, plus health, under shared middleware.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.limits.max_body_bytes;
    Router::new()
        .merge(powerbi::router(&state))
        .merge(oauth::router())
        .merge(scim::router())
        .merge(graph::router(state.clone()))
        .merge(fabric::router(&state))
        .merge(operator::router())
        .route("/healthz", get(health))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(state.clone(), request_scope))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(telemetry::request_span))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
                .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| -> Response { PbiError::internal().into_response() })),
        )
        .layer(axum::middleware::from_fn_with_state(state.config.server.clone(), crate::serve::guard_body))
        .with_state(state)
}

/// Run the request in its cancellation scope (`crate::cancel`): if the client goes before the
/// answer, hyper drops this future and the request's database work stops.
async fn request_scope(State(state): State<AppState>, request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let request_id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
    crate::cancel::scope(&state.requests, &state.store, request_id, next.run(request)).await
}

async fn health(State(state): State<AppState>) -> Result<Json<serde_json::Value>, PbiError> {
    let version = state.store.schema_version().await?;
    Ok(Json(serde_json::json!({ "status": "ok", "schemaVersion": version })))
}

async fn unknown_route() -> PbiError {
    PbiError::new(StatusCode::NOT_FOUND, "NoSuchRoute", "No API operation matches this path")
}

async fn method_not_allowed() -> PbiError {
    PbiError::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "This path does not support this HTTP method")
}

/// The plain-HTTP listener: every accepted connection gets `no_delay`.
fn plain_listener(
    listener: tokio::net::TcpListener,
) -> impl axum::serve::Listener<Io = tokio::net::TcpStream, Addr = std::net::SocketAddr> {
    use axum::serve::ListenerExt;
    listener.tap_io(|stream| no_delay(stream))
}

/// Send each write at once (`TCP_NODELAY`). A response goes out as several writes (a page of
/// `GET /admin/groups` is thousands of shared pieces); with Nagle's algorithm its last small
/// segment waited for the client's delayed ACK, adding 40 ms to one large read in two.
pub(crate) fn no_delay(stream: &tokio::net::TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
}

#[cfg(test)]
mod tests {
    use axum::serve::Listener;

    #[tokio::test]
    async fn accepted_connections_send_without_nagle_delay() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut listener = super::plain_listener(listener);
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await;
        assert!(accepted.nodelay().unwrap(), "TCP_NODELAY is set on the server's side");
    }
}
