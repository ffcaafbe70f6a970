//! Extractors answering in the Graph dialect: the token-authenticated caller, JSON bodies, path
//! segments and the OData query options.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, Method};
use serde_json::{Map, Value};

use super::error::GraphError;
use crate::api::query::{QueryParams, QueryRejection};
use crate::app::AppState;
use crate::auth::{Audience, TokenError};
use crate::domain::{Caller, CallerKind, DirectoryRole};

/// The verified caller. Reads are open to every token of the tenant; writes need an application
/// token or a Global Administrator.
///
/// Graph tokens (`aud` `https://graph.microsoft.com`, from the client-credentials grant with
/// `https://graph.microsoft.com/.default`) are accepted, and so, leniently, are the tenant's
/// Power BI tokens (the delegated flows issue Power BI tokens only). See docs/fidelity.md.
#[derive(Debug, Clone)]
pub struct GraphCaller(pub Caller);

impl FromRequestParts<AppState> for GraphCaller {
    type Rejection = GraphError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, GraphError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| GraphError::token("Access token is empty."))?;
        let caller = state.tokens.verify_for(token, &[Audience::Graph]).map_err(|e| match e {
            // Graph's own words for a token of another resource (a Power BI token, say).
            TokenError::WrongAudience => GraphError::token("Access token validation failure. Invalid audience."),
            e => GraphError::token(format!("Access token validation failure: {e}.")),
        })?;
        if parts.method != Method::GET {
            let allowed = match caller.kind {
                CallerKind::App { .. } => true,
                CallerKind::User { .. } => {
                    state.store.directory_roles(caller.tenant_id, caller.object_id).await?.contains(&DirectoryRole::GlobalAdministrator)
                }
            };
            if !allowed {
                return Err(GraphError::denied());
            }
        }
        Ok(GraphCaller(caller))
    }
}

/// Path parameters by name (`id`, `member`); bad ones are answered by the handler as not found.
pub struct GraphPath(pub HashMap<String, String>);

impl FromRequestParts<AppState> for GraphPath {
    type Rejection = GraphError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, GraphError> {
        let Path(p) = Path::<HashMap<String, String>>::from_request_parts(parts, &())
            .await
            .map_err(|e| GraphError::odata(format!("Invalid path segment: {e}")))?;
        Ok(GraphPath(p))
    }
}

impl GraphPath {
    pub fn get(&self, name: &str) -> String {
        self.0.get(name).cloned().unwrap_or_default()
    }
}

/// A JSON object body.
pub struct GraphBody(pub Map<String, Value>);

const BAD_JSON: &str = "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.";

impl FromRequest<AppState> for GraphBody {
    type Rejection = GraphError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, GraphError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|_| {
            GraphError::new(axum::http::StatusCode::PAYLOAD_TOO_LARGE, "Request_EntityTooLarge", "The request body is too large.")
        })?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(m)) => Ok(GraphBody(m)),
            _ => Err(GraphError::odata(BAD_JSON)),
        }
    }
}

/// OData query options (`$filter`, `$select`, `$top`, `$skiptoken`), names without regard to case.
pub type GraphQuery = QueryParams<GraphError>;

impl QueryRejection for GraphError {
    fn bad_query(message: String) -> Self {
        GraphError::odata(message)
    }
}

impl GraphQuery {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name) || k.trim_start_matches('$').eq_ignore_ascii_case(name.trim_start_matches('$')))
            .map(|(_, v)| v.as_str())
    }
}
