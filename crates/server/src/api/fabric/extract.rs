//! Extractors that answer malformed input in the Fabric dialect, the route's access rules, and
//! the authenticated caller (established by the route's gate in `mod.rs`).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::http::StatusCode;

use super::error::FabricError;
use crate::app::AppState;
use crate::domain::{Caller, CallerKind, DirectoryRole};

#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(FabricError))]
pub struct FabricJson<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(FabricError))]
pub struct FabricQuery<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(FabricError))]
pub struct FabricPath<T>(pub T);

impl From<JsonRejection> for FabricError {
    fn from(r: JsonRejection) -> FabricError {
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => {
                FabricError::new(StatusCode::PAYLOAD_TOO_LARGE, "RequestBodyTooLarge", "The request body is too large")
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => FabricError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                "The request body must be JSON (Content-Type: application/json)",
            ),
            _ => FabricError::invalid_input(r.body_text()),
        }
    }
}

impl From<QueryRejection> for FabricError {
    fn from(r: QueryRejection) -> FabricError {
        FabricError::invalid_input(r.body_text())
    }
}

impl From<PathRejection> for FabricError {
    fn from(r: PathRejection) -> FabricError {
        // A path id that is not a GUID names nothing that exists.
        FabricError::invalid_input(r.body_text())
    }
}

/// What a Fabric route demands of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FabricAccess {
    /// Delegated tokens must carry one of these scopes.
    pub scopes: &'static [&'static str],
    /// An admin API: Fabric administrators, or a service principal the tenant allows to use the
    /// admin APIs.
    pub admin: bool,
}

/// The verified caller of a Fabric endpoint, after scope and admin checks.
#[derive(Debug, Clone)]
pub struct FabricCaller(pub Caller);

impl FromRequestParts<AppState> for FabricCaller {
    type Rejection = FabricError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, FabricError> {
        // Every Fabric route's gate establishes it before the handler runs.
        parts.extensions.get::<FabricCaller>().cloned().ok_or_else(FabricError::internal)
    }
}

/// Verify the bearer token (the Power BI service's audience, which Entra also gives tokens asked
/// for with Fabric's scopes) and the route's access rules.
pub async fn authenticate(parts: &Parts, state: &AppState, access: FabricAccess) -> Result<Caller, FabricError> {
    let header = parts.headers.get(axum::http::header::AUTHORIZATION).ok_or_else(FabricError::missing_token)?;
    let token = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(FabricError::missing_token)?;
    let caller = state.tokens.verify(token).map_err(FabricError::bad_token)?;
    match &caller.kind {
        CallerKind::User { .. } => {
            if !caller.scopes.iter().any(|s| access.scopes.contains(&s.as_str())) {
                return Err(FabricError::insufficient_scopes(access.scopes));
            }
            if access.admin {
                let roles = state.store.directory_roles(caller.tenant_id, caller.object_id).await?;
                if !roles.iter().any(|r| matches!(r, DirectoryRole::FabricAdministrator | DirectoryRole::GlobalAdministrator)) {
                    return Err(FabricError::insufficient_privileges("The caller must be a Fabric administrator to use this API"));
                }
            }
        }
        CallerKind::App { .. } => service_principal_gates(state, &caller, access.admin).await?,
    }
    Ok(caller)
}

/// The tenant settings that gate service principals: "Service principals can use Fabric APIs"
/// for every call, and "Service principals can access read-only admin APIs" for the admin ones.
async fn service_principal_gates(state: &AppState, caller: &Caller, admin: bool) -> Result<(), FabricError> {
    let settings = state.store.get_tenant_settings(caller.tenant_id).await?.unwrap_or_default();
    let allowed = |enabled: bool, group: Option<uuid::Uuid>| async move {
        match (enabled, group) {
            (false, _) => Ok::<bool, FabricError>(false),
            (true, None) => Ok(true),
            (true, Some(group)) => Ok(state.store.is_member_of(caller.tenant_id, caller.object_id, group).await?),
        }
    };
    if !allowed(settings.sp_api_enabled, settings.sp_api_group).await? {
        return Err(FabricError::unauthorized(
            "Service principals are not allowed to use Fabric APIs in this tenant, or this one is not in the allowed security group (tenant setting 'Service principals can use Fabric APIs')",
        ));
    }
    if admin && !allowed(settings.sp_admin_api_enabled, settings.sp_admin_api_group).await? {
        return Err(FabricError::insufficient_privileges(
            "Service principals are not allowed to use admin APIs in this tenant, or this one is not in the allowed security group (tenant setting 'Service principals can access read-only admin APIs')",
        ));
    }
    Ok(())
}
