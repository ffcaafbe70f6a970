//! The SCIM error dialect (RFC 7644 §3.12): `{"schemas":[…Error],"status":"400","scimType":…,"detail":…}`
//! with `Content-Type: application/scim+json`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::{DirError, StoreError};

pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const SCIM_JSON: &str = "application/scim+json";

#[derive(Debug, Clone)]
pub struct ScimError {
    pub status: StatusCode,
    /// RFC 7644 Table 9 (`invalidFilter`, `uniqueness`, `invalidValue`, …); 400 and 409 only.
    pub scim_type: Option<&'static str>,
    pub detail: String,
    pub challenge: bool,
}

impl ScimError {
    pub fn new(status: StatusCode, scim_type: Option<&'static str>, detail: impl Into<String>) -> ScimError {
        ScimError { status, scim_type, detail: detail.into(), challenge: false }
    }

    pub fn bad_request(scim_type: &'static str, detail: impl Into<String>) -> ScimError {
        ScimError::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    pub fn invalid_value(detail: impl Into<String>) -> ScimError {
        ScimError::bad_request("invalidValue", detail)
    }

    pub fn invalid_syntax(detail: impl Into<String>) -> ScimError {
        ScimError::bad_request("invalidSyntax", detail)
    }

    pub fn not_found(what: &str, id: &str) -> ScimError {
        ScimError::new(StatusCode::NOT_FOUND, None, format!("{what} {id} not found"))
    }

    pub fn unauthorized() -> ScimError {
        ScimError {
            challenge: true,
            ..ScimError::new(
                StatusCode::UNAUTHORIZED,
                None,
                "Authorization failure: send the tenant's SCIM provisioning secret as 'Authorization: Bearer <secret>'",
            )
        }
    }

    pub fn internal() -> ScimError {
        ScimError::new(StatusCode::INTERNAL_SERVER_ERROR, None, "An internal error occurred; see the server log for the request id")
    }
}

impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> ScimError {
        tracing::error!(error = %e, "store failure");
        ScimError::internal()
    }
}

impl From<DirError> for ScimError {
    fn from(e: DirError) -> ScimError {
        match e {
            DirError::NotFound => ScimError::new(StatusCode::NOT_FOUND, None, "Resource not found"),
            DirError::ReferenceNotFound(id) => ScimError::invalid_value(format!("Resource {id} referenced in the request does not exist")),
            DirError::Conflict(m) => ScimError::new(StatusCode::CONFLICT, Some("uniqueness"), m),
            DirError::Invalid(m) => ScimError::invalid_value(m),
            DirError::VersionMismatch { current } => ScimError::new(
                StatusCode::PRECONDITION_FAILED,
                None,
                format!("Failed to update: the resource changed on the server (its version is W/\"{current}\")"),
            ),
            DirError::AlreadyMember => ScimError::new(StatusCode::CONFLICT, Some("uniqueness"), "The member is already in the group"),
            DirError::NotMember => ScimError::bad_request("noTarget", "The member is not in the group"),
            DirError::Cycle => ScimError::invalid_value("A group cannot be a member of itself, directly or through nested groups"),
            e @ (DirError::NoSeats(_) | DirError::UnknownSku(_) | DirError::NotAssigned(_) | DirError::NoUsageLocation) => {
                ScimError::invalid_value(e.to_string())
            }
            DirError::Store(e) => e.into(),
        }
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = self.status.as_u16(), detail = %self.detail, "SCIM request failed");
        } else {
            tracing::info!(status = self.status.as_u16(), scim_type = ?self.scim_type, detail = %self.detail, "SCIM request refused");
        }
        let mut body = json!({ "schemas": [ERROR_SCHEMA], "status": self.status.as_u16().to_string(), "detail": self.detail });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        let mut response = (self.status, body.to_string()).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
        if self.challenge {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"pbi-access SCIM\""));
        }
        response
    }
}
