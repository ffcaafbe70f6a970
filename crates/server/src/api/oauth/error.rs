use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pbi_wire::oauth::OAuthErrorBody;
use uuid::Uuid;

use crate::clock::Clock;
use crate::store::StoreError;

/// An RFC 6749 §5.2 error, as Entra ID renders it.
#[derive(Debug, Clone)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub code: u32,
    pub description: String,
    pub timestamp: String,
}

impl OAuthError {
    pub fn new(status: StatusCode, error: &'static str, code: u32, description: impl Into<String>) -> OAuthError {
        OAuthError { status, error, code, description: description.into(), timestamp: String::new() }
    }

    /// Set the timestamp Entra puts in every error, from the injected clock.
    pub fn stamped(mut self, clock: &dyn Clock) -> OAuthError {
        self.timestamp = clock.now().format("%Y-%m-%d %H:%M:%SZ").to_string();
        self
    }

    pub fn missing(parameter: &str) -> OAuthError {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{parameter}'."),
        )
    }

    pub fn unknown_tenant(tenant: &str) -> OAuthError {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        )
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> OAuthError {
        tracing::error!(error = %e, "store failure");
        OAuthError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "temporarily_unavailable",
            90033,
            "A transient error has occurred. Please try again.",
        )
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let trace_id = Uuid::new_v4().to_string();
        let correlation_id = Uuid::new_v4().to_string();
        if self.status.is_server_error() {
            tracing::warn!(error = self.error, code = self.code, "token request failed");
        } else {
            tracing::info!(error = self.error, code = self.code, "token request refused");
        }
        let body = OAuthErrorBody {
            error: self.error.to_string(),
            error_description: format!(
                "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {}",
                self.code, self.description, self.timestamp
            ),
            error_codes: vec![self.code],
            timestamp: self.timestamp,
            trace_id,
            correlation_id,
        };
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store, no-cache"));
        response
    }
}

use axum::Json;
