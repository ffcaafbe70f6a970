//! Extractors that answer in the SCIM dialect: the provisioning-secret caller, the JSON body
//! (`application/scim+json` or `application/json`), query parameters and `If-Match`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use serde_json::Value;

use super::error::ScimError;
use crate::api::query::{QueryParams, QueryRejection};
use crate::app::AppState;
use crate::auth::credentials::secret_matches;
use crate::domain::Tenant;

/// The tenant named in the path, after its SCIM secret was checked.
#[derive(Debug, Clone)]
pub struct ScimCaller {
    pub tenant: Tenant,
    /// The `{id}` path segment, when the route has one.
    pub id: Option<String>,
}

async fn path_params(parts: &mut Parts) -> Result<HashMap<String, String>, ScimError> {
    let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, &())
        .await
        .map_err(|_| ScimError::new(StatusCode::NOT_FOUND, None, "The path names no SCIM resource"))?;
    Ok(params)
}

impl FromRequestParts<AppState> for ScimCaller {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ScimError> {
        let params = path_params(parts).await?;
        let tenant_name = params.get("tenant").cloned().unwrap_or_default();
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(ScimError::unauthorized)?
            .to_string();
        // An unknown tenant and a wrong secret answer alike, so tenants cannot be probed.
        let tenant = state.store.find_tenant(&tenant_name).await?.ok_or_else(ScimError::unauthorized)?;
        let hash = state.store.scim_secret_hash(tenant.id).await?.ok_or_else(ScimError::unauthorized)?;
        if !secret_matches(&presented, &hash) {
            return Err(ScimError::unauthorized());
        }
        Ok(ScimCaller { tenant, id: params.get("id").cloned() })
    }
}

/// The tenant named in the path, unauthenticated (discovery endpoints).
#[derive(Debug, Clone)]
pub struct ScimTenant {
    pub tenant: Tenant,
    pub id: Option<String>,
}

impl FromRequestParts<AppState> for ScimTenant {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ScimError> {
        let params = path_params(parts).await?;
        let name = params.get("tenant").cloned().unwrap_or_default();
        let tenant = state.store.find_tenant(&name).await?.ok_or_else(|| ScimError::not_found("Tenant", &name))?;
        Ok(ScimTenant { tenant, id: params.get("id").cloned() })
    }
}

/// A JSON object body. Any JSON media type is accepted (`application/scim+json`, `application/json`).
pub struct ScimBody(pub serde_json::Map<String, Value>);

impl FromRequest<AppState> for ScimBody {
    type Rejection = ScimError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ScimError> {
        // RFC 7644 §3.1: a body is `application/scim+json` (JSON accepted too); a body without a
        // `Content-Type` is refused like one of another type.
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_ascii_lowercase);
        let essence = content_type.as_deref().map(|ct| ct.split(';').next().unwrap_or_default().trim().to_string());
        if !essence.is_some_and(|e| e == "application/json" || e.ends_with("+json")) {
            return Err(ScimError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
                "The request body must be application/scim+json or application/json (Content-Type)",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| ScimError::new(StatusCode::PAYLOAD_TOO_LARGE, None, "The request body is too large"))?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(ScimBody(map)),
            Ok(_) => Err(ScimError::invalid_syntax("The request body must be a JSON object")),
            Err(e) => Err(ScimError::invalid_syntax(format!("The request body is not valid JSON: {e}"))),
        }
    }
}

/// Query parameters, by name.
pub type ScimQuery = QueryParams<ScimError>;

impl QueryRejection for ScimError {
    fn bad_query(message: String) -> Self {
        ScimError::invalid_value(message)
    }
}

impl ScimQuery {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// The version an `If-Match` header asks for: `None` when absent or `*`. An ETag that is not
/// one of ours can never match, so it gives a version no resource has.
pub fn if_match(headers: &HeaderMap) -> Option<i64> {
    let value = headers.get(header::IF_MATCH)?.to_str().unwrap_or("\"unparsable\"").trim();
    if value == "*" {
        return None;
    }
    Some(parse_etag(value).unwrap_or(-1))
}

pub fn parse_etag(value: &str) -> Option<i64> {
    let v = value.trim();
    let v = v.strip_prefix("W/").unwrap_or(v);
    v.trim_matches('"').parse().ok()
}

pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}
