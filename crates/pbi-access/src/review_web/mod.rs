//! `pbi-access review serve`: the access-review web application. Server-rendered pages over the
//! review model (`pbi_server::review`) and its store, for people signed in with the authorization
//! code flow + PKCE against the profile's authority; snapshots and the apply go through the
//! profile's client, as the `review` and `apply` commands do.
//!
//! `auth`: sign-in, sessions in the review database, CSRF; `extract`: what handlers need (the
//! signed-in person, the campaign, a CSRF-checked form); `pages`: campaigns, queue, decisions, evidence;
//! `apply`: closing a campaign into a lifecycle plan, its preview and its apply. Templates are
//! in `templates/review/web/`, static assets (htmx, the style sheet) in `assets/review/`.

// Handlers return a whole page as their error (axum's idiom), so large `Err` variants are the point.
#![allow(clippy::result_large_err)]

mod apply;
mod auth;
mod extract;
mod pages;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use pbi_client::{SharedClock, SystemClock};
use pbi_server::store::Store;

use crate::cli::commands::Session;
use crate::cli::{exit, profile::Profile};

pub use auth::Me;

/// What `review serve` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: SocketAddr,
    pub database: String,
    /// The origin people reach the app at (default `http://` and the bound address).
    pub public_url: Option<String>,
    /// The web application's client id at the authority (default: the demo tenant's review app).
    pub client_id: String,
    /// Its client secret (default: the profile's).
    pub client_secret: Option<String>,
    /// Where apply journals go.
    pub journal_dir: PathBuf,
}

/// Everything a handler needs.
pub struct App {
    pub store: Store,
    /// The profile's application client: snapshots, plans and applies.
    pub session: Session,
    pub oidc: auth::Oidc,
    pub clock: SharedClock,
    pub journal_dir: PathBuf,
    /// The origin without a trailing slash; cookies are `Secure` when it is https.
    pub base_url: String,
}

impl App {
    pub fn now_ms(&self) -> i64 {
        pbi_client::time::unix_millis(self.clock.now())
    }
    fn secure(&self) -> bool {
        self.base_url.starts_with("https://")
    }
}

pub type Shared = Arc<App>;

const HTMX: &str = include_str!("../../assets/review/htmx-2.0.4.min.js");
const STYLE: &str = include_str!("../../assets/review/review.css");

fn asset(body: &'static str, kind: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "public, max-age=86400")], body).into_response()
}

pub fn router(app: Shared) -> Router {
    Router::new()
        .route("/", get(|| async { axum::response::Redirect::to("/review/") }))
        .route("/review", get(|| async { axum::response::Redirect::to("/review/") }))
        .route("/review/", get(pages::campaigns))
        .route("/review/assets/htmx-2.0.4.min.js", get(|| async { asset(HTMX, "text/javascript; charset=utf-8") }))
        .route("/review/assets/review.css", get(|| async { asset(STYLE, "text/css; charset=utf-8") }))
        .route("/review/auth/signin", get(auth::signin))
        .route("/review/auth/callback", get(auth::callback))
        .route("/review/auth/signout", post(auth::signout))
        .route("/review/campaigns/new", get(pages::new_campaign))
        .route("/review/campaigns", post(pages::create_campaign))
        .route("/review/campaigns/{id}", get(pages::campaign))
        .route("/review/campaigns/{id}/queue", get(pages::queue))
        .route("/review/campaigns/{id}/decisions", post(pages::decide))
        .route("/review/campaigns/{id}/close", post(apply::close))
        .route("/review/campaigns/{id}/apply", get(apply::preview).post(apply::run))
        .route("/review/campaigns/{id}/evidence", get(pages::evidence_html))
        .route("/review/campaigns/{id}/evidence.json", get(pages::evidence_json))
        .route("/review/campaigns/{id}/evidence.csv", get(pages::evidence_csv))
        .fallback(|| async { problem(StatusCode::NOT_FOUND, None, "Not found", "There is no such page.") })
        .layer(axum::middleware::map_response(security_headers))
        .with_state(app)
}

/// Headers every page carries: no framing, no sniffing, no referrer (page URLs name campaigns),
/// and a policy that allows this origin's scripts and styles only.
async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'self'; style-src 'self'; frame-ancestors 'none'; form-action 'self' http: https:"),
    );
    r
}

#[derive(Template)]
#[template(path = "review/web/problem.html")]
struct Problem<'a> {
    me: Option<Me>,
    title: &'a str,
    message: &'a str,
}

/// A page saying what went wrong, with its status.
pub fn problem(status: StatusCode, me: Option<Me>, title: &str, message: &str) -> Response {
    page(status, &Problem { me, title, message })
}

pub fn page(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => {
            (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], html).into_response()
        }
        Err(e) => {
            tracing::warn!("rendering a review page: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot render the page").into_response()
        }
    }
}

/// A store or client failure: logged, and said plainly without internals.
pub fn failure(me: Option<Me>, e: impl std::fmt::Display) -> Response {
    tracing::warn!("review app: {e}");
    problem(StatusCode::BAD_GATEWAY, me, "Something failed", &format!("The operation did not complete: {e}"))
}

/// Serve the review app until interrupted.
pub async fn serve(profile: Profile, o: Options) -> ExitCode {
    let store = match crate::cli::review::open(&o.database).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let session = match crate::cli::commands::connect(profile.clone()).await {
        Ok(s) => s,
        Err(e) => return crate::cli::commands::fail(exit::USAGE, e),
    };
    let listener = match tokio::net::TcpListener::bind(o.listen).await {
        Ok(l) => l,
        Err(e) => return crate::cli::commands::fail(exit::FAILURE, format!("cannot listen on {}: {e}", o.listen)),
    };
    let bound = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let base_url = o.public_url.clone().unwrap_or_else(|| format!("http://{bound}")).trim_end_matches('/').to_string();
    let oidc = match auth::Oidc::new(&profile, &o, &base_url) {
        Ok(o) => o,
        Err(e) => return crate::cli::commands::fail(exit::USAGE, e),
    };
    let app = Arc::new(App {
        store,
        session,
        oidc,
        clock: Arc::new(SystemClock),
        journal_dir: o.journal_dir.clone(),
        base_url: base_url.clone(),
    });
    println!("access reviews at {base_url}/review/ (database {})", o.database);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match axum::serve(listener, router(app)).with_graceful_shutdown(shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => crate::cli::commands::fail(exit::FAILURE, e),
    }
}
