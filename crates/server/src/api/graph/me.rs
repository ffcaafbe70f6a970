//! The signed-in user: `GET /me`, `GET /me/memberOf`, and the OpenID Connect `userinfo`
//! endpoint Entra's discovery document names (`https://graph.microsoft.com/oidc/userinfo`).
//! All three need a delegated token; `/me` under an application token is Graph's 400.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde_json::{Map, Value};

use super::error::GraphError;
use super::extract::{GraphCaller, GraphPath, GraphQuery};
use super::{memberships, users};
use crate::app::AppState;
use crate::auth::tokens::AccessClaims;
use crate::auth::{Audience, TokenError};
use crate::domain::{Caller, CallerKind};

/// The caller's own object id as the `{id}` of the `/users/{id}` call `/me` stands for.
fn me(caller: &Caller) -> Result<GraphPath, GraphError> {
    match caller.kind {
        CallerKind::User { .. } => Ok(GraphPath(HashMap::from([("id".to_string(), caller.object_id.to_string())]))),
        CallerKind::App { .. } => Err(GraphError::odata("/me request is only valid with delegated authentication flow.")),
    }
}

/// `GET /me`: the signed-in user, as `GET /users/{id}` answers (with `$select`).
pub async fn get(state: State<AppState>, GraphCaller(caller): GraphCaller, query: GraphQuery) -> Result<Json<Value>, GraphError> {
    let path = me(&caller)?;
    users::get(state, GraphCaller(caller), path, query).await
}

/// `GET /me/memberOf`: the signed-in user's groups and directory roles.
pub async fn member_of(
    state: State<AppState>,
    GraphCaller(caller): GraphCaller,
    headers: HeaderMap,
    query: GraphQuery,
) -> Result<Json<Value>, GraphError> {
    let path = me(&caller)?;
    memberships::user_member_of(state, GraphCaller(caller), headers, path, query).await
}

/// `GET|POST /oidc/userinfo`: the OpenID Connect claims of the signed-in user, for a Graph
/// token issued to a user: `sub` (the pairwise subject of the user's ID tokens for the same
/// application), `name`, `family_name`, `given_name`, `email` (each only when the directory has
/// it). pbi-access keeps no photos, so there is no `picture`.
pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, GraphError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| GraphError::token("Access token is empty."))?;
    let caller = state.tokens.verify_for(token, &[Audience::Graph]).map_err(|e| match e {
        TokenError::WrongAudience => GraphError::token("Access token validation failure. Invalid audience."),
        e => GraphError::token(format!("Access token validation failure: {e}.")),
    })?;
    if !matches!(caller.kind, CallerKind::User { .. }) {
        return Err(GraphError::token("The userinfo endpoint requires a token issued to a signed-in user."));
    }
    let claims: AccessClaims = state.tokens.decode_signed(token).ok_or_else(|| GraphError::token("Access token is malformed."))?;
    let client = claims.appid.parse().map_err(|_| GraphError::token("Access token is malformed."))?;
    let user =
        state.store.get_user(caller.tenant_id, caller.object_id, false).await?.filter(|u| u.deleted_at.is_none()).ok_or_else(|| {
            GraphError::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", "The user of the token no longer exists.")
        })?;
    let mut out = Map::new();
    out.insert("sub".into(), Value::String(crate::auth::refresh::pairwise_subject(user.id, client)));
    out.insert("name".into(), Value::String(user.display_name.clone()));
    for (claim, value) in [("family_name", &user.surname), ("given_name", &user.given_name), ("email", &user.mail)] {
        if let Some(v) = value {
            out.insert(claim.into(), Value::String(v.clone()));
        }
    }
    Ok(Json(Value::Object(out)))
}
