//! The Fabric error dialect: `ErrorResponse` (`errorCode`, `message`, `requestId`,
//! `moreDetails`, `relatedResource`, `isRetriable`), 429 with `Retry-After`.
//!
//! `FabricError` leaves itself in the response's extensions; the dialect's middleware (`stamp`)
//! renders the body with the request id, which the error itself cannot see.

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pbi_wire::fabric::{ErrorRelatedResource, ErrorResponse, ErrorResponseDetails};

use crate::auth::TokenError;
use crate::domain::policy::Refusal;
use crate::domain::throttle::throttled_message;
use crate::store::{ChangeError, StoreError};
use crate::telemetry::REQUEST_ID;

#[derive(Debug, Clone)]
pub struct FabricError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub more_details: Vec<ErrorResponseDetails>,
    pub related: Option<Box<ErrorRelatedResource>>,
    /// `Retry-After` seconds (429).
    pub retry_after: Option<u64>,
    /// `WWW-Authenticate` (token problems).
    pub challenge: Option<Box<str>>,
}

impl FabricError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> FabricError {
        FabricError { status, code, message: message.into(), more_details: Vec::new(), related: None, retry_after: None, challenge: None }
    }

    /// Name the resource the error is about (`relatedResource`).
    pub fn about(mut self, id: impl ToString, kind: &str) -> FabricError {
        self.related = Some(Box::new(ErrorRelatedResource { resource_id: id.to_string(), resource_type: kind.to_string() }));
        self
    }

    pub fn bad_request(message: impl Into<String>) -> FabricError {
        FabricError::new(StatusCode::BAD_REQUEST, "InvalidInput", message)
    }

    /// A request the body or parameters of which do not fit the schema: `InvalidInput` with the
    /// problem in `moreDetails`, as the service reports model errors.
    pub fn invalid_input(detail: impl Into<String>) -> FabricError {
        let detail = detail.into();
        FabricError {
            more_details: vec![ErrorResponseDetails { error_code: "InvalidParameter".into(), message: detail, related_resource: None }],
            ..FabricError::bad_request("The request has an invalid input")
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> FabricError {
        FabricError::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
    }

    pub fn insufficient_scopes(scopes: &[&str]) -> FabricError {
        FabricError::new(
            StatusCode::FORBIDDEN,
            "InsufficientScopes",
            format!("The caller does not have sufficient scopes to perform this operation: one of {} is required", scopes.join(", ")),
        )
    }

    pub fn insufficient_privileges(message: impl Into<String>) -> FabricError {
        FabricError::new(StatusCode::FORBIDDEN, "InsufficientPrivileges", message)
    }

    pub fn workspace_not_found(id: impl ToString) -> FabricError {
        FabricError::new(StatusCode::NOT_FOUND, "WorkspaceNotFound", "The requested workspace was not found").about(id, "Workspace")
    }

    pub fn principal_not_found(id: impl ToString) -> FabricError {
        FabricError::new(StatusCode::NOT_FOUND, "PrincipalNotFound", "The requested principal was not found").about(id, "Principal")
    }

    pub fn role_assignment_not_found(id: impl ToString) -> FabricError {
        FabricError::new(StatusCode::NOT_FOUND, "WorkspaceRoleAssignmentNotFound", "The requested workspace role assignment was not found")
            .about(id, "WorkspaceRoleAssignment")
    }

    pub fn missing_token() -> FabricError {
        FabricError {
            challenge: Some("Bearer realm=\"pbi-access\"".into()),
            ..FabricError::new(StatusCode::UNAUTHORIZED, "TokenNotProvided", "Token not provided")
        }
    }

    pub fn bad_token(e: TokenError) -> FabricError {
        FabricError {
            challenge: Some(format!("Bearer realm=\"pbi-access\", error=\"invalid_token\", error_description=\"{e}\"").into()),
            ..FabricError::new(StatusCode::UNAUTHORIZED, "InvalidToken", format!("Access token is invalid: {e}"))
        }
    }

    pub fn too_many_requests(retry_after_secs: u64) -> FabricError {
        FabricError {
            retry_after: Some(retry_after_secs),
            ..FabricError::new(StatusCode::TOO_MANY_REQUESTS, "RequestBlocked", throttled_message(retry_after_secs))
        }
    }

    pub fn not_found_route() -> FabricError {
        FabricError::new(StatusCode::NOT_FOUND, "EntityNotFound", "The requested resource could not be found")
    }

    pub fn method_not_allowed() -> FabricError {
        FabricError::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "This path does not support this HTTP method")
    }

    pub fn internal() -> FabricError {
        FabricError::new(StatusCode::INTERNAL_SERVER_ERROR, "UnknownError", "An error occurred; see the server log for the request id")
    }

    fn body(&self, request_id: Option<String>) -> ErrorResponse {
        ErrorResponse {
            error_code: self.code.to_string(),
            message: self.message.clone(),
            request_id,
            more_details: self.more_details.clone(),
            is_retriable: (self.status == StatusCode::TOO_MANY_REQUESTS || self.status.is_server_error()).then_some(true),
            related_resource: self.related.as_deref().cloned(),
        }
    }
}

impl From<StoreError> for FabricError {
    fn from(e: StoreError) -> FabricError {
        tracing::error!(error = %e, "store failure");
        FabricError::internal()
    }
}

impl From<ChangeError> for FabricError {
    fn from(e: ChangeError) -> FabricError {
        match e {
            ChangeError::WorkspaceNotFound => {
                FabricError::new(StatusCode::NOT_FOUND, "WorkspaceNotFound", "The requested workspace was not found")
            }
            ChangeError::Refused(refusal) => refusal.into(),
            ChangeError::Store(e) => e.into(),
        }
    }
}

impl From<Refusal> for FabricError {
    fn from(refusal: Refusal) -> FabricError {
        match refusal {
            Refusal::WorkspaceNotVisible => {
                FabricError::new(StatusCode::NOT_FOUND, "WorkspaceNotFound", "The requested workspace was not found")
            }
            Refusal::NotAuthorized { role, reason } => FabricError::insufficient_privileges(format!(
                "The caller does not have sufficient permissions (workspace role {role}): {reason}"
            )),
            Refusal::AlreadyMember { role } => FabricError::new(
                StatusCode::CONFLICT,
                "PrincipalAlreadyHasWorkspaceRolePermissions",
                format!("The principal already has the {role} role in this workspace; update the role assignment instead"),
            ),
            Refusal::NotMember => FabricError::new(
                StatusCode::NOT_FOUND,
                "WorkspaceRoleAssignmentNotFound",
                "The requested workspace role assignment was not found",
            ),
            Refusal::LastAdmin => FabricError::new(
                StatusCode::BAD_REQUEST,
                "WorkspaceLastAdminRoleAssignment",
                "A workspace must keep at least one Admin: add another Admin before removing or demoting this one",
            ),
            Refusal::PrincipalLimit { limit } => FabricError::new(
                StatusCode::BAD_REQUEST,
                "WorkspaceRoleAssignmentsLimitExceeded",
                format!("A workspace can have at most {limit} users or groups in workspace roles"),
            ),
        }
    }
}

impl IntoResponse for FabricError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = self.status.as_u16(), code = self.code, message = %self.message, "request failed");
        } else {
            tracing::info!(status = self.status.as_u16(), code = self.code, message = %self.message, "request refused");
        }
        // Rendered without a request id; `stamp` adds it.
        let mut response = (self.status, axum::Json(self.body(None))).into_response();
        if let Some(challenge) = self.challenge.as_deref().and_then(|c| HeaderValue::from_str(c).ok()) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
        }
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.extensions_mut().insert(self);
        response
    }
}

/// Render every Fabric error of the response with the request's id (`requestId`, and the
/// `RequestId` header the server sets on every answer).
pub async fn stamp(request: Request, next: Next) -> Response {
    let request_id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut response = next.run(request).await;
    if let Some(e) = response.extensions_mut().remove::<FabricError>() {
        let body = serde_json::to_vec(&e.body(request_id)).unwrap_or_default();
        let (mut parts, _) = response.into_parts();
        parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
        parts.headers.remove(header::CONTENT_LENGTH);
        response = Response::from_parts(parts, axum::body::Body::from(body));
    }
    response
}
