//! The Power BI error dialect: `{"error":{"code":…,"message":…}}` with the service's codes.

use std::borrow::Cow;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use pbi_wire::powerbi::{PowerBiError, PowerBiErrorBody};

use crate::auth::TokenError;
use crate::domain::dataset_policy::Refusal as DatasetRefusal;
use crate::domain::policy::Refusal;
use crate::domain::rights::{self, Rights};
use crate::domain::throttle::throttled_message;
use crate::domain::ArtifactKind;
use crate::store::{ArtifactChangeError, ChangeError, StoreError};

#[derive(Debug, Clone)]
pub struct PbiError {
    pub status: StatusCode,
    pub code: Cow<'static, str>,
    pub message: String,
    /// Send `WWW-Authenticate: Bearer …` (token problems only).
    pub bearer_challenge: Option<String>,
    /// Send `Retry-After` with this many seconds (429 only).
    pub retry_after: Option<u64>,
}

impl PbiError {
    pub fn new(status: StatusCode, code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> PbiError {
        PbiError { status, code: code.into(), message: message.into(), bearer_challenge: None, retry_after: None }
    }

    pub fn invalid_request(message: impl Into<String>) -> PbiError {
        PbiError::new(StatusCode::BAD_REQUEST, "InvalidRequest", message)
    }

    pub fn not_authorized(message: impl Into<String>) -> PbiError {
        PbiError::new(StatusCode::UNAUTHORIZED, "PowerBINotAuthorizedException", message)
    }

    pub fn entity_not_found(message: impl Into<String>) -> PbiError {
        PbiError::new(StatusCode::NOT_FOUND, "PowerBIEntityNotFound", message)
    }

    pub fn workspace_not_found(id: impl std::fmt::Display) -> PbiError {
        PbiError::entity_not_found(format!("Workspace '{id}' was not found or the caller has no role in it"))
    }

    pub fn missing_token() -> PbiError {
        PbiError {
            bearer_challenge: Some("Bearer realm=\"pbi-access\"".into()),
            ..PbiError::not_authorized("No access token was provided")
        }
    }

    pub fn bad_token(e: TokenError) -> PbiError {
        PbiError {
            bearer_challenge: Some(format!("Bearer realm=\"pbi-access\", error=\"invalid_token\", error_description=\"{e}\"")),
            ..PbiError::not_authorized(e.to_string())
        }
    }

    /// A spent request budget: 429 with `Retry-After` and the service's reported message.
    pub fn too_many_requests(retry_after_secs: u64) -> PbiError {
        PbiError {
            retry_after: Some(retry_after_secs),
            ..PbiError::new(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", throttled_message(retry_after_secs))
        }
    }

    pub fn service_unavailable() -> PbiError {
        PbiError::new(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", "The service is temporarily unavailable; retry later")
    }

    /// The operation took longer than its limit (GetGroupsAsAdmin's 30 s): 504, as a gateway in
    /// front of the service answers when the service does not.
    pub fn timed_out(limit: std::time::Duration) -> PbiError {
        PbiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "RequestTimedOut",
            format!(
                "The request did not complete within {} seconds; narrow it ($top, $filter, $expand) or retry later",
                limit.as_secs_f64()
            ),
        )
    }

    pub fn internal() -> PbiError {
        PbiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "An internal error occurred; see the server log for the request id",
        )
    }
}

impl From<StoreError> for PbiError {
    fn from(e: StoreError) -> PbiError {
        tracing::error!(error = %e, "store failure");
        PbiError::internal()
    }
}

impl From<ChangeError> for PbiError {
    fn from(e: ChangeError) -> PbiError {
        match e {
            ChangeError::WorkspaceNotFound => PbiError::entity_not_found("Workspace was not found or the caller has no role in it"),
            ChangeError::Refused(refusal) => refusal.into(),
            ChangeError::Store(e) => e.into(),
        }
    }
}

impl From<Refusal> for PbiError {
    fn from(refusal: Refusal) -> PbiError {
        match refusal {
            Refusal::WorkspaceNotVisible => PbiError::entity_not_found("Workspace was not found or the caller has no role in it"),
            Refusal::NotAuthorized { role, reason } => PbiError::not_authorized(format!("The caller's workspace role is {role}: {reason}")),
            Refusal::AlreadyMember { role } => PbiError::new(
                StatusCode::BAD_REQUEST,
                "AddingAlreadyExistsGroupUserNotSupportedError",
                format!("The principal already has the {role} role in this workspace; use PUT to change it"),
            ),
            Refusal::NotMember => PbiError::entity_not_found("The principal has no role in this workspace"),
            Refusal::LastAdmin => PbiError::new(
                StatusCode::BAD_REQUEST,
                "CannotRemoveLastAdmin",
                "A workspace must keep at least one Admin: add another Admin before removing or demoting this one",
            ),
            Refusal::PrincipalLimit { limit } => PbiError::new(
                StatusCode::BAD_REQUEST,
                "PrincipalsPerWorkspaceLimitExceeded",
                format!("A workspace can have at most {limit} users or groups in workspace roles"),
            ),
        }
    }
}

impl From<ArtifactChangeError> for PbiError {
    fn from(e: ArtifactChangeError) -> PbiError {
        match e {
            ArtifactChangeError::NotFound => PbiError::entity_not_found("Dataset was not found or the caller has no access to it"),
            ArtifactChangeError::Refused(refusal) => refusal.into(),
            ArtifactChangeError::Store(e) => e.into(),
        }
    }
}

fn dataset_right(r: Rights) -> &'static str {
    rights::name(ArtifactKind::Dataset, r).unwrap_or("a combination no DatasetUserAccessRight names")
}

impl From<DatasetRefusal> for PbiError {
    fn from(refusal: DatasetRefusal) -> PbiError {
        let unsupported = |message: String| PbiError::new(StatusCode::BAD_REQUEST, "UnsupportedAccessRightError", message);
        match refusal {
            DatasetRefusal::NotVisible => PbiError::entity_not_found("Dataset was not found or the caller has no access to it"),
            DatasetRefusal::NotAuthorized { needed, held } => PbiError::not_authorized(format!(
                "The caller's permission on the dataset is {}: this operation needs {}",
                dataset_right(held),
                dataset_right(needed)
            )),
            DatasetRefusal::ExceedsCaller { requested, held } => PbiError::not_authorized(format!(
                "The caller's permission on the dataset is {}: it cannot grant {}",
                dataset_right(held),
                dataset_right(requested)
            )),
            DatasetRefusal::AppPrincipal => PbiError::invalid_request(
                "Dataset permissions of service principals (principalType App) cannot be granted or changed through this API",
            ),
            DatasetRefusal::NotGrantable(r) => unsupported(format!(
                "datasetUserAccessRight {} cannot be granted here: POST grants Read, ReadReshare, ReadExplore or ReadReshareExplore",
                dataset_right(r)
            )),
            DatasetRefusal::WriteChange { adding: true } => unsupported("This API cannot add Write permission on a dataset".into()),
            DatasetRefusal::WriteChange { adding: false } => unsupported("This API cannot remove Write permission on a dataset".into()),
            DatasetRefusal::StripsInherited { inherited } => unsupported(format!(
                "This API cannot remove permissions inherited from the workspace role ({}); change the workspace role instead",
                dataset_right(inherited)
            )),
            DatasetRefusal::NoPermission => PbiError::entity_not_found("The principal has no permission on this dataset"),
        }
    }
}

impl IntoResponse for PbiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = self.status.as_u16(), code = %self.code, message = %self.message, "request failed");
        } else {
            tracing::info!(status = self.status.as_u16(), code = %self.code, message = %self.message, "request refused");
        }
        let body = PowerBiErrorBody { error: PowerBiError { code: self.code.into_owned(), message: Some(self.message) } };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(challenge) = self.bearer_challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
        }
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
