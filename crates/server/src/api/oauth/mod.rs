//! The identity dialect: Entra ID's v2.0 token endpoint and key discovery, with RFC 6749 §5.2
//! errors carrying Entra's `AADSTS…` codes.

mod error;
mod token;

pub use error::OAuthError;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use pbi_wire::oauth::Jwks;
use pbi_wire::ops::{identity as op, Op};

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route(op::TOKEN.path, post(token::token)).route(op::KEYS.path, get(keys))
}

/// Operations of this dialect and whether each is served, for the compatibility matrix.
pub fn routes_summary() -> Vec<(Op, bool)> {
    op::ALL.iter().map(|o| (*o, true)).collect()
}

async fn keys(State(state): State<AppState>, Path(tenant): Path<String>) -> Result<Json<Jwks>, OAuthError> {
    if tenant != "common" && tenant != "organizations" && state.store.find_tenant(&tenant).await?.is_none() {
        return Err(OAuthError::unknown_tenant(&tenant).stamped(&*state.clock));
    }
    Ok(Json(Jwks { keys: vec![state.tokens.keys().jwk.clone()] }))
}
