//! `GET /{tenant}/oauth2/v2.0/logout`: the OpenID Connect end-session endpoint.
//!
//! The browser's sign-in cookie is cleared. With a `post_logout_redirect_uri` that is a
//! registered redirect URI of the application (named by `client_id` or by the `aud` of
//! `id_token_hint`; without either, of any application of the tenant), the browser goes back
//! there with `state`; otherwise it is shown Entra's "You signed out of your account" page.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::authorize::{error_page, page, CSRF_COOKIE};
use super::discovery::{resolve_tenant, TenantSegment};
use super::{OAuthError, Segment};
use crate::app::AppState;
use crate::domain::Tenant;

#[derive(Template)]
#[template(path = "oauth/signedout.html")]
struct SignedOutPage<'a> {
    tenant_name: Option<&'a str>,
}

fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    params.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

/// Where the browser may go after signing out: the request's `post_logout_redirect_uri` when it
/// is registered on the application the request names (or, naming none, on any of the tenant's).
async fn trusted_redirect(state: &AppState, tenant: &Tenant, client: Option<Uuid>, asked: &str) -> Result<bool, crate::store::StoreError> {
    Ok(match client {
        Some(app_id) => state.store.app_registration(tenant.id, app_id).await?.is_some_and(|(_, app)| app.allows_redirect(asked)),
        None => state.store.app_registrations(tenant.id).await?.iter().any(|(_, app)| app.allows_redirect(asked)),
    })
}

/// The clearing `Set-Cookie` of the sign-in pages' cookie.
fn clear_cookie(state: &AppState, response: &mut Response) {
    let secure = if state.public_url.starts_with("https://") { "; Secure" } else { "" };
    let value = format!("{CSRF_COOKIE}=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Strict{secure}");
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

pub async fn logout(
    State(state): State<AppState>,
    Segment(tenant): Segment<1>,
    params: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(params)) = params else {
        let e = OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", 90014, "The request's query string cannot be read.");
        return error_page(&state, StatusCode::BAD_REQUEST, &e);
    };
    if params.values().any(|v| v.contains('\0') || v.len() > 8192) {
        let e = OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90014,
            "A request parameter contains a NUL character or is too long.",
        );
        return error_page(&state, StatusCode::BAD_REQUEST, &e);
    }
    let hint = param(&params, "id_token_hint").and_then(|t| state.tokens.id_token_hint(t));
    let tenant = match resolve_tenant(&state, &tenant).await {
        Ok(TenantSegment::Tenant(t)) => Some(t),
        // `common` and `organizations`: the tenant of the ID token, if one is hinted.
        Ok(TenantSegment::Alias(_)) => match hint {
            Some((tid, _)) => match state.store.find_tenant(&tid.to_string()).await {
                Ok(t) => t,
                Err(e) => return error_page(&state, StatusCode::INTERNAL_SERVER_ERROR, &OAuthError::from(e)),
            },
            None => None,
        },
        Err(e) => return error_page(&state, StatusCode::BAD_REQUEST, &e),
    };
    let client = match param(&params, "client_id") {
        Some(c) => Uuid::parse_str(c).ok(),
        None => hint.map(|(_, client)| client),
    };
    let redirect = match (&tenant, param(&params, "post_logout_redirect_uri")) {
        (Some(t), Some(uri)) if client.is_some() || param(&params, "client_id").is_none() => {
            match trusted_redirect(&state, t, client, uri).await {
                Ok(true) => Some(uri.to_string()),
                Ok(false) => None,
                Err(e) => return error_page(&state, StatusCode::INTERNAL_SERVER_ERROR, &OAuthError::from(e)),
            }
        }
        _ => None,
    };
    let mut response = match redirect {
        Some(uri) => {
            let target = match (url::Url::parse(&uri), param(&params, "state")) {
                (Ok(mut url), Some(s)) => {
                    url.query_pairs_mut().append_pair("state", s);
                    url.to_string()
                }
                _ => uri,
            };
            let mut r = StatusCode::FOUND.into_response();
            if let Ok(v) = HeaderValue::from_str(&target) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        None => {
            let html = SignedOutPage { tenant_name: tenant.as_ref().map(|t| t.name.as_str()) }.render().unwrap_or_default();
            page(StatusCode::OK, html, false)
        }
    };
    clear_cookie(&state, &mut response);
    response
}
