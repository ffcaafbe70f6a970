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
    /// Entra's `AADSTS` code; `None` for pbi-access's own answers (such as "not implemented"),
    /// which Entra has no code for.
    pub code: Option<u32>,
    pub description: String,
    pub timestamp: String,
    /// Methods the path accepts, for the `Allow` header of a 405.
    pub allow: Option<&'static str>,
}

impl OAuthError {
    pub fn new(status: StatusCode, error: &'static str, code: u32, description: impl Into<String>) -> OAuthError {
        OAuthError { status, error, code: Some(code), description: description.into(), timestamp: String::new(), allow: None }
    }

    /// An operation Entra has and pbi-access does not implement yet: 501 `not_implemented`.
    pub fn not_implemented(operation: &str) -> OAuthError {
        OAuthError {
            code: None,
            ..OAuthError::new(
                StatusCode::NOT_IMPLEMENTED,
                "not_implemented",
                0,
                format!("pbi-access does not implement the {operation} endpoint yet."),
            )
        }
    }

    /// A known identity path called with a method it does not take (Entra's AADSTS900561).
    pub fn method_not_allowed(allow: &'static str, method: &str) -> OAuthError {
        OAuthError {
            allow: Some(allow),
            ..OAuthError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
                900561,
                format!("The endpoint only accepts {allow} requests. Received a {method} request."),
            )
        }
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
            tracing::warn!(error = self.error, code = self.code, "identity request failed");
        } else {
            tracing::info!(error = self.error, code = self.code, "identity request refused");
        }
        let prefix = self.code.map(|c| format!("AADSTS{c}: ")).unwrap_or_default();
        let body = OAuthErrorBody {
            error: self.error.to_string(),
            error_description: format!(
                "{prefix}{}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {}",
                self.description, self.timestamp
            ),
            error_codes: self.code.into_iter().collect(),
            timestamp: self.timestamp,
            trace_id,
            correlation_id,
        };
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store, no-cache"));
        if let Some(allow) = self.allow {
            response.headers_mut().insert(axum::http::header::ALLOW, axum::http::HeaderValue::from_static(allow));
        }
        response
    }
}

use axum::Json;
