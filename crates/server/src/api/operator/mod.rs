//! The operator API: pbi-access's own administration surface under `/operator/v1`, for the
//! people running it (not part of any Microsoft API). It exists only when `[operator] token` is
//! configured (otherwise every path answers 404 `NoSuchRoute`, like an unknown path), and every
//! call must carry that token as `Authorization: Bearer …`. Errors use the same
//! `{"error":{"code","message"}}` envelope as the Power BI API.
//!
//! `routes()` is the routing table: add a row per operation (and its `Op` in
//! `pbi_wire::ops::operator`).

pub mod faults;
pub mod requests;
pub mod tenants;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Router;
use pbi_wire::ops::operator as op;

use crate::api::powerbi::error::PbiError;
use crate::api::routing::route;
use crate::app::AppState;

pub use crate::api::routing::Route;

/// The operator routing table.
pub fn routes() -> Vec<Route> {
    vec![
        route(op::GET_FAULTS, faults::get_faults),
        route(op::PUT_FAULTS, faults::put_faults),
        route(op::DELETE_FAULTS, faults::delete_faults),
        route(op::LIST_TENANTS, tenants::list_tenants),
        route(op::IMPORT_TENANT, tenants::import_tenant),
        route(op::EXPORT_TENANT, tenants::export_tenant),
        route(op::GET_REQUESTS, requests::get_requests),
    ]
}

pub fn router() -> Router<AppState> {
    routes().into_iter().filter_map(|r| Some((r.op.path, r.handler?))).fold(Router::new(), |router, (path, h)| router.route(path, h))
}

/// The caller presented the operator token. Without a configured token the API does not exist.
#[derive(Debug, Clone, Copy)]
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = PbiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PbiError> {
        let Some(expected) = state.config.operator.token.as_deref().filter(|t| !t.is_empty()) else {
            return Err(PbiError::new(StatusCode::NOT_FOUND, "NoSuchRoute", "No API operation matches this path"));
        };
        let challenge = |message: &str| PbiError {
            bearer_challenge: Some("Bearer realm=\"pbi-access-operator\"".into()),
            ..PbiError::not_authorized(message)
        };
        let presented = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or_else(|| challenge("The operator API needs the operator token as a bearer token"))?;
        if !constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
            return Err(challenge("The operator token is not valid"));
        }
        Ok(Operator)
    }
}

/// Equal bytes, without leaking where they first differ (the length may leak).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
