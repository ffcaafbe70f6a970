//! The identity dialect: Entra ID's v2.0 token endpoint, key discovery, OpenID configuration,
//! instance discovery and user realm, with RFC 6749 §5.2 errors carrying Entra's `AADSTS…` codes.

mod authorize;
mod device;
mod discovery;
mod error;
mod logout;
mod token;

pub use error::OAuthError;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::Method;
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use pbi_wire::oauth::Jwks;
use pbi_wire::ops::{identity as op, Op};

use crate::app::AppState;

/// Operations that are advertised (the OpenID configuration names them) but not built yet.
const PLANNED: &[Op] = &[];

pub fn router() -> Router<AppState> {
    let mut router = Router::new()
        .route(op::TOKEN.path, only_post(post(token::token)))
        .route(
            op::AUTHORIZE.path,
            get(authorize::show).post(authorize::submit).fallback(|State(state): State<AppState>, method: Method| async move {
                OAuthError::method_not_allowed("GET, POST", method.as_str()).stamped(&*state.clock)
            }),
        )
        .route(op::DEVICE_CODE.path, only_post(post(device::start)))
        .route(
            op::DEVICE_AUTH.path,
            get(device::show).post(device::submit).fallback(|State(state): State<AppState>, method: Method| async move {
                OAuthError::method_not_allowed("GET, POST", method.as_str()).stamped(&*state.clock)
            }),
        )
        .route(op::TOKEN_V1.path, only_post(post(token::token_v1)))
        .route(
            op::AUTHORIZE_V1.path,
            get(authorize::show_v1).post(authorize::submit_v1).fallback(|State(state): State<AppState>, method: Method| async move {
                OAuthError::method_not_allowed("GET, POST", method.as_str()).stamped(&*state.clock)
            }),
        )
        .route(op::DEVICE_CODE_V1.path, only_post(post(device::start_v1)))
        .route(op::LOGOUT.path, only_get(get(logout::logout)))
        .route(op::LOGOUT_V1.path, only_get(get(logout::logout)))
        .route(op::KEYS.path, only_get(get(keys)))
        .route(op::KEYS_V1.path, only_get(get(keys)))
        .route(op::OPENID_CONFIGURATION.path, only_get(get(discovery::openid_configuration)))
        .route(op::OPENID_CONFIGURATION_V1.path, only_get(get(discovery::openid_configuration_v1)))
        .route(op::INSTANCE_DISCOVERY.path, only_get(get(discovery::instance_discovery)))
        .route(op::USER_REALM.path, only_get(get(discovery::user_realm)));
    for planned in PLANNED {
        let id = planned.id;
        let handler = move |State(state): State<AppState>| async move { OAuthError::not_implemented(id).stamped(&*state.clock) };
        let route = match planned.method {
            "POST" => only_post(post(handler)),
            _ => only_get(get(handler)),
        };
        router = router.route(planned.path, route);
    }
    router
}

fn only_get(route: MethodRouter<AppState>) -> MethodRouter<AppState> {
    route.fallback(|State(state): State<AppState>, method: Method| async move {
        OAuthError::method_not_allowed("GET", method.as_str()).stamped(&*state.clock)
    })
}

fn only_post(route: MethodRouter<AppState>) -> MethodRouter<AppState> {
    route.fallback(|State(state): State<AppState>, method: Method| async move {
        OAuthError::method_not_allowed("POST", method.as_str()).stamped(&*state.clock)
    })
}

/// Operations of this dialect and whether each is served, for the compatibility matrix.
pub fn routes_summary() -> Vec<(Op, bool)> {
    op::ALL.iter().map(|o| (*o, !PLANNED.contains(o))).collect()
}

/// The `N`th segment of the request path (1 = first), percent-decoded, invalid UTF-8 replaced.
/// It never rejects, so a mangled tenant or user name gets an answer in this dialect.
pub struct Segment<const N: usize>(pub String);

impl<const N: usize, S: Send + Sync> FromRequestParts<S> for Segment<N> {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.path().split('/').nth(N).unwrap_or("");
        Ok(Segment(percent_encoding::percent_decode_str(raw).decode_utf8_lossy().into_owned()))
    }
}

async fn keys(State(state): State<AppState>, Segment(tenant): Segment<1>) -> Result<Json<Jwks>, OAuthError> {
    discovery::resolve_tenant(&state, &tenant).await?;
    Ok(Json(Jwks { keys: vec![state.tokens.keys().jwk.clone()] }))
}
