//! The Microsoft Graph error dialect:
//! `{"error":{"code":"Request_ResourceNotFound","message":…,"innerError":{"date":…,"request-id":…,"client-request-id":…}}}`.
//!
//! `GraphError` leaves a marker in the response; the dialect's middleware (`stamp`) renders the
//! body with the request id and the injected clock's date, which the error itself cannot see.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::AppState;
use crate::store::{DirError, StoreError};
use crate::telemetry::REQUEST_ID;

#[derive(Debug, Clone)]
pub struct GraphError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub challenge: bool,
}

impl GraphError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> GraphError {
        GraphError { status, code, message: message.into(), challenge: false }
    }

    pub fn bad_request(message: impl Into<String>) -> GraphError {
        GraphError::new(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
    }

    /// OData-level problems (`$filter`, `$select`, JSON), which Graph reports as `BadRequest`.
    pub fn odata(message: impl Into<String>) -> GraphError {
        GraphError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub fn unsupported_query(message: impl Into<String>) -> GraphError {
        GraphError::new(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", message)
    }

    pub fn not_found(id: &str) -> GraphError {
        GraphError::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
        )
    }

    pub fn token(message: impl Into<String>) -> GraphError {
        GraphError { challenge: true, ..GraphError::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", message) }
    }

    pub fn denied() -> GraphError {
        GraphError::new(StatusCode::FORBIDDEN, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
    }

    pub fn internal() -> GraphError {
        GraphError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UnknownError",
            "An internal error occurred; see the server log for the request id",
        )
    }

    /// The `DirError` of a write on object `id`.
    pub fn from_dir(e: DirError, id: &str) -> GraphError {
        match e {
            DirError::NotFound => GraphError::not_found(id),
            DirError::ReferenceNotFound(r) => GraphError::not_found(&r.to_string()),
            DirError::Conflict(m) | DirError::Invalid(m) => GraphError::bad_request(m),
            DirError::VersionMismatch { .. } => {
                GraphError::new(StatusCode::PRECONDITION_FAILED, "Request_PreconditionFailed", "The object has changed.")
            }
            DirError::AlreadyMember => GraphError::bad_request(
                "One or more added object references already exist for the following modified properties: 'members'.",
            ),
            DirError::NotMember => GraphError::not_found(id),
            DirError::Cycle => GraphError::bad_request("A group cannot be a member of itself, directly or through nested groups."),
            DirError::NoSeats(sku) => GraphError::bad_request(format!("Subscription {sku} does not have any available licenses.")),
            DirError::UnknownSku(sku) => GraphError::bad_request(format!("License {sku} does not correspond to a valid company License.")),
            DirError::NotAssigned(_) => GraphError::bad_request("User does not have a corresponding license."),
            DirError::NoUsageLocation => GraphError::bad_request("License assignment cannot be done for user with invalid usage location."),
            DirError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for GraphError {
    fn from(e: StoreError) -> GraphError {
        tracing::error!(error = %e, "store failure");
        GraphError::internal()
    }
}

impl From<DirError> for GraphError {
    fn from(e: DirError) -> GraphError {
        GraphError::from_dir(e, "")
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = self.status.as_u16(), code = self.code, message = %self.message, "Graph request failed");
        } else {
            tracing::info!(status = self.status.as_u16(), code = self.code, message = %self.message, "Graph request refused");
        }
        let mut response = self.status.into_response();
        if self.challenge {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"pbi-access Graph\""));
        }
        response.extensions_mut().insert(self);
        response
    }
}

/// Middleware of the Graph router: render `GraphError`s with `innerError`.
pub async fn stamp(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let request_id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let client_request_id = request.headers().get("client-request-id").and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut response = next.run(request).await;
    if let Some(e) = response.extensions_mut().remove::<GraphError>() {
        let date = state.clock.now().format("%Y-%m-%dT%H:%M:%S").to_string();
        let body = json!({"error": {
            "code": e.code,
            "message": e.message,
            "innerError": {"date": date, "request-id": request_id, "client-request-id": client_request_id.unwrap_or_else(|| request_id.clone())}
        }});
        let (mut parts, _) = response.into_parts();
        parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        parts.headers.remove(header::CONTENT_LENGTH);
        response = Response::from_parts(parts, axum::body::Body::from(body.to_string()));
    }
    response
}
