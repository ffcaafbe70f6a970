//! Logging: `tracing` with a request id on every request span; text or JSON lines.

use axum::http::{HeaderName, Request};
use tracing::Span;

use crate::config::LogFormat;

/// The header carrying the request id, as Power BI names it (`RequestId`).
pub static REQUEST_ID: HeaderName = HeaderName::from_static("requestid");

/// Install the global subscriber (call once, from `main`). `RUST_LOG` overrides the level.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// The span of one request: method, path and the request id set by `SetRequestIdLayer`.
pub fn request_span<B>(request: &Request<B>) -> Span {
    let request_id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
    tracing::info_span!("request", request_id = %request_id, method = %request.method(), path = %request.uri().path())
}
