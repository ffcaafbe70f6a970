//! Extractors that answer malformed input in the Power BI dialect, and the authenticated caller.

use axum::extract::rejection::{FormRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::http::StatusCode;

use super::error::PbiError;
use crate::app::AppState;
use crate::domain::{Caller, CallerKind, DirectoryRole};

#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(PbiError))]
pub struct PbiJson<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(PbiError))]
pub struct PbiQuery<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(PbiError))]
pub struct PbiPath<T>(pub T);

impl From<JsonRejection> for PbiError {
    fn from(r: JsonRejection) -> PbiError {
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => {
                PbiError::new(StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", "The request body is too large")
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => PbiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                "The request body must be JSON (Content-Type: application/json)",
            ),
            _ => PbiError::invalid_request(format!("The request body is not valid: {}", r.body_text())),
        }
    }
}

impl From<QueryRejection> for PbiError {
    fn from(r: QueryRejection) -> PbiError {
        PbiError::invalid_request(format!("Invalid query parameter: {}", r.body_text()))
    }
}

impl From<PathRejection> for PbiError {
    fn from(r: PathRejection) -> PbiError {
        PbiError::invalid_request(format!("Invalid path parameter: {}", r.body_text()))
    }
}

impl From<FormRejection> for PbiError {
    fn from(r: FormRejection) -> PbiError {
        PbiError::invalid_request(r.body_text())
    }
}

/// What a route demands of its caller, attached to each route as a request extension by the
/// routing table and enforced by [`Authenticated`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteAccess {
    /// Delegated tokens must carry one of these scopes.
    pub scopes: &'static [&'static str],
    pub admin: AdminAccess,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAccess {
    /// A workspace endpoint: workspace roles decide.
    No,
    /// A read-only admin endpoint: Fabric administrators, or a service principal the tenant allows.
    Read,
    /// An admin endpoint that changes something: Fabric administrators only.
    Write,
}

/// The verified caller of a Power BI endpoint, after scope and admin checks.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Caller);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = PbiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PbiError> {
        // Already established by the route's gate (`gate.rs`).
        if let Some(caller) = parts.extensions.get::<Authenticated>() {
            return Ok(caller.clone());
        }
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).ok_or_else(PbiError::missing_token)?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(PbiError::missing_token)?;
        let caller = state.tokens.verify(token).map_err(PbiError::bad_token)?;
        let access = parts.extensions.get::<RouteAccess>().copied().unwrap_or(RouteAccess { scopes: &[], admin: AdminAccess::No });
        if matches!(caller.kind, CallerKind::User { .. })
            && !access.scopes.is_empty()
            && !caller.scopes.iter().any(|s| access.scopes.contains(&s.as_str()))
        {
            return Err(PbiError::not_authorized(format!("The access token lacks a required scope: one of {}", access.scopes.join(", "))));
        }
        match (access.admin, &caller.kind) {
            (AdminAccess::No, CallerKind::User { .. }) => {}
            (_, CallerKind::User { .. }) => {
                let roles = state.store.directory_roles(caller.tenant_id, caller.object_id).await?;
                if !roles.iter().any(|r| matches!(r, DirectoryRole::FabricAdministrator | DirectoryRole::GlobalAdministrator)) {
                    return Err(PbiError::not_authorized("This API requires the caller to be a Fabric administrator"));
                }
            }
            (admin, CallerKind::App { .. }) => service_principal_gates(state, &caller, admin).await?,
        }
        Ok(Authenticated(caller))
    }
}

/// The two tenant-setting gates of a service principal, each with its own error: "Service
/// principals can use Fabric APIs" for every call, and "Service principals can access read-only
/// admin APIs" for admin reads. Admin writes are never open to applications.
async fn service_principal_gates(state: &AppState, caller: &Caller, admin: AdminAccess) -> Result<(), PbiError> {
    let settings = state.store.get_tenant_settings(caller.tenant_id).await?.unwrap_or_default();
    let allowed = |enabled: bool, group: Option<uuid::Uuid>| async move {
        match (enabled, group) {
            (false, _) => Ok::<bool, PbiError>(false),
            (true, None) => Ok(true),
            (true, Some(group)) => Ok(state.store.is_member_of(caller.tenant_id, caller.object_id, group).await?),
        }
    };
    if !allowed(settings.sp_api_enabled, settings.sp_api_group).await? {
        return Err(PbiError::not_authorized(
            "Service principals are not allowed to use Fabric APIs in this tenant, or this one is not in the allowed security group (tenant setting 'Service principals can use Fabric APIs')",
        ));
    }
    match admin {
        AdminAccess::No => Ok(()),
        AdminAccess::Read if allowed(settings.sp_admin_api_enabled, settings.sp_admin_api_group).await? => {
            // "An app must not have any admin-consent required permissions for Power BI set on
            // it": the read-only admin APIs refuse an application that holds one.
            let CallerKind::App { app_id } = caller.kind else { return Ok(()) };
            let granted = state.store.app_registration(caller.tenant_id, app_id).await?.map(|(_, r)| r.powerbi_roles()).unwrap_or_default();
            match granted.first() {
                None => Ok(()),
                Some(_) => Err(PbiError::not_authorized(format!(
                    "The application holds admin-consent-required Power BI permissions ({}); service principals may call the read-only admin APIs only without them",
                    granted.join(", ")
                ))),
            }
        }
        AdminAccess::Read => Err(PbiError::not_authorized(
            "Service principals are not allowed to use read-only admin APIs in this tenant, or this one is not in the allowed security group (tenant setting 'Service principals can access read-only admin APIs')",
        )),
        AdminAccess::Write => Err(PbiError::new(StatusCode::FORBIDDEN, "PowerBINotAuthorizedException", "API is not accessible for application")),
    }
}
