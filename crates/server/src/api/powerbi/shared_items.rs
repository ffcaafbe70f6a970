//! Deployment pipeline users (`/pipelines/{id}/users` and the admin variants) and gateway data
//! source users (`/gateways/{id}/datasources/{id}/users`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use pbi_wire::artifact_users::{DatasourceUser, DatasourceUserAccessRight, PipelineUser, PipelineUserAccessRight};
use pbi_wire::powerbi::{PrincipalType, ServicePrincipalProfile};
use pbi_wire::ODataList;
use serde::Deserialize;
use uuid::Uuid;

use super::error::PbiError;
use super::extract::{Authenticated, PbiJson, PbiPath, PbiQuery};
use super::groups::{entity_context, plain_text, target_of_path};
use crate::app::AppState;
use crate::domain::shared_items::{DatasourceRight, ItemRefusal, ItemUser};
use crate::domain::{Caller, PrincipalKind, PrincipalRef};
use crate::store::{ItemActor, ItemChangeError};

#[derive(Debug, Deserialize)]
pub struct ProfileQuery {
    #[serde(rename = "profileId")]
    profile_id: Option<Uuid>,
}

fn principal_type(kind: PrincipalKind) -> PrincipalType {
    match kind {
        PrincipalKind::User => PrincipalType::User,
        PrincipalKind::Group => PrincipalType::Group,
        PrincipalKind::App => PrincipalType::App,
    }
}

fn pipeline_not_found(id: Uuid) -> PbiError {
    PbiError::entity_not_found(format!("Deployment pipeline '{id}' was not found or the caller is not one of its Admins"))
}

fn datasource_not_found(gateway: Uuid, datasource: Uuid) -> PbiError {
    PbiError::entity_not_found(format!(
        "Data source '{datasource}' of gateway '{gateway}' was not found or the caller is not an Admin of the gateway"
    ))
}

fn refused(e: ItemChangeError, not_found: impl FnOnce() -> PbiError) -> PbiError {
    match e {
        ItemChangeError::Refused(ItemRefusal::NotFound) => not_found(),
        ItemChangeError::Refused(ItemRefusal::NotAUser) => PbiError::entity_not_found("The principal has no access right on this item"),
        ItemChangeError::Refused(ItemRefusal::LastAdmin) => PbiError::new(
            StatusCode::BAD_REQUEST,
            "CannotRemoveLastAdmin",
            "A deployment pipeline must keep at least one Admin: add another Admin before removing this one",
        ),
        ItemChangeError::Store(e) => e.into(),
    }
}

/// The principal a body names: `principalType` (User when left out) and its identifier (a
/// user's UPN or email, or an object id).
async fn principal_of(state: &AppState, tenant: Uuid, kind: Option<PrincipalType>, identifier: &str) -> Result<PrincipalRef, PbiError> {
    let identifier = plain_text(identifier.trim(), "identifier")?;
    if identifier.is_empty() {
        return Err(PbiError::invalid_request("The principal's identifier is missing"));
    }
    let kind = match kind {
        None | Some(PrincipalType::User) => PrincipalKind::User,
        Some(PrincipalType::Group) => PrincipalKind::Group,
        Some(PrincipalType::App) => PrincipalKind::App,
        Some(other) => return Err(PbiError::invalid_request(format!("principalType '{other:?}' cannot hold this access right"))),
    };
    state.store.resolve_principal(tenant, kind, identifier).await?.ok_or_else(|| {
        PbiError::new(
            StatusCode::BAD_REQUEST,
            "PrincipalNotFound",
            format!("No {} '{identifier}' exists in the tenant's directory", kind.as_str()),
        )
    })
}

fn pipeline_user_json(u: &ItemUser<crate::domain::shared_items::PipelineRight>) -> PipelineUser {
    PipelineUser {
        identifier: u.identifier(),
        principal_type: principal_type(u.principal.kind),
        access_right: Some(PipelineUserAccessRight::Admin),
    }
}

async fn pipeline_users(state: &AppState, caller: &Caller, id: Uuid, admin: bool) -> Result<Json<ODataList<PipelineUser>>, PbiError> {
    state.store.get_pipeline(caller.tenant_id, id).await?.ok_or_else(|| pipeline_not_found(id))?;
    if !admin && !state.store.is_pipeline_admin(caller.tenant_id, id, caller.object_id).await? {
        return Err(pipeline_not_found(id));
    }
    let users = state.store.list_pipeline_users(caller.tenant_id, id).await?;
    Ok(Json(ODataList::new(entity_context(state, "pipelineUsers"), users.iter().map(pipeline_user_json).collect())))
}

async fn update_pipeline(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    body: &PipelineUser,
    actor: ItemActor,
) -> Result<StatusCode, PbiError> {
    match &body.access_right {
        Some(PipelineUserAccessRight::Admin) => {}
        None => return Err(PbiError::invalid_request("accessRight is required: Admin")),
        Some(other) => return Err(PbiError::invalid_request(format!("accessRight must be Admin, not '{other:?}'"))),
    }
    if state.store.get_pipeline(caller.tenant_id, id).await?.is_none() {
        return Err(pipeline_not_found(id));
    }
    let target = principal_of(state, caller.tenant_id, Some(body.principal_type), &body.identifier).await?;
    let now = state.clock.now_millis();
    state
        .store
        .update_pipeline_user(caller.tenant_id, id, actor, target, true, now)
        .await
        .map_err(|e| refused(e, || pipeline_not_found(id)))?;
    Ok(StatusCode::OK)
}

async fn delete_pipeline(state: &AppState, caller: &Caller, id: Uuid, identifier: &str, actor: ItemActor) -> Result<StatusCode, PbiError> {
    if state.store.get_pipeline(caller.tenant_id, id).await?.is_none() {
        return Err(pipeline_not_found(id));
    }
    let target = target_of_path(state, caller.tenant_id, identifier, false).await?;
    let now = state.clock.now_millis();
    state
        .store
        .update_pipeline_user(caller.tenant_id, id, actor, target, false, now)
        .await
        .map_err(|e| refused(e, || pipeline_not_found(id)))?;
    Ok(StatusCode::OK)
}

pub async fn get_pipeline_users(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath(id): PbiPath<Uuid>,
) -> Result<Json<ODataList<PipelineUser>>, PbiError> {
    pipeline_users(&state, &caller, id, false).await
}

pub async fn get_pipeline_users_as_admin(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath(id): PbiPath<Uuid>,
) -> Result<Json<ODataList<PipelineUser>>, PbiError> {
    pipeline_users(&state, &caller, id, true).await
}

pub async fn update_pipeline_user(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath(id): PbiPath<Uuid>,
    PbiJson(body): PbiJson<PipelineUser>,
) -> Result<StatusCode, PbiError> {
    update_pipeline(&state, &caller, id, &body, ItemActor::Principal(caller.object_id)).await
}

pub async fn update_pipeline_user_as_admin(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath(id): PbiPath<Uuid>,
    PbiJson(body): PbiJson<PipelineUser>,
) -> Result<StatusCode, PbiError> {
    update_pipeline(&state, &caller, id, &body, ItemActor::TenantAdmin).await
}

pub async fn delete_pipeline_user(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath((id, identifier)): PbiPath<(Uuid, String)>,
) -> Result<StatusCode, PbiError> {
    delete_pipeline(&state, &caller, id, &identifier, ItemActor::Principal(caller.object_id)).await
}

pub async fn delete_pipeline_user_as_admin(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath((id, identifier)): PbiPath<(Uuid, String)>,
) -> Result<StatusCode, PbiError> {
    delete_pipeline(&state, &caller, id, &identifier, ItemActor::TenantAdmin).await
}

fn datasource_user_json(u: &ItemUser<DatasourceRight>) -> DatasourceUser {
    DatasourceUser {
        datasource_access_right: match u.right {
            DatasourceRight::Read => DatasourceUserAccessRight::Read,
            DatasourceRight::ReadOverrideEffectiveIdentity => DatasourceUserAccessRight::ReadOverrideEffectiveIdentity,
        },
        email_address: match u.principal.kind {
            PrincipalKind::User => u.mail.clone().or_else(|| u.upn.clone()),
            _ => None,
        },
        display_name: u.display_name.clone(),
        identifier: Some(u.identifier()),
        principal_type: Some(principal_type(u.principal.kind)),
        profile: u.profile_id.map(|id| ServicePrincipalProfile { id, display_name: None }),
    }
}

/// The data source, once the caller is shown to administer its gateway.
async fn visible_datasource(state: &AppState, caller: &Caller, gateway: Uuid, datasource: Uuid) -> Result<(), PbiError> {
    let found = state.store.get_datasource(caller.tenant_id, gateway, datasource).await?.is_some();
    if !found || !state.store.is_gateway_admin(caller.tenant_id, gateway, caller.object_id).await? {
        return Err(datasource_not_found(gateway, datasource));
    }
    Ok(())
}

pub async fn get_datasource_users(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath((gateway, datasource)): PbiPath<(Uuid, Uuid)>,
) -> Result<Json<ODataList<DatasourceUser>>, PbiError> {
    visible_datasource(&state, &caller, gateway, datasource).await?;
    let users = state.store.list_datasource_users(caller.tenant_id, datasource).await?;
    Ok(Json(ODataList::new(entity_context(&state, "datasourceUsers"), users.iter().map(datasource_user_json).collect())))
}

/// `POST …/users`: grant (or change) a principal's right; `None` removes it, as the reference
/// allows for updates.
pub async fn add_datasource_user(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath((gateway, datasource)): PbiPath<(Uuid, Uuid)>,
    PbiJson(body): PbiJson<DatasourceUser>,
) -> Result<StatusCode, PbiError> {
    let right = match &body.datasource_access_right {
        DatasourceUserAccessRight::Read => Some(DatasourceRight::Read),
        DatasourceUserAccessRight::ReadOverrideEffectiveIdentity => Some(DatasourceRight::ReadOverrideEffectiveIdentity),
        DatasourceUserAccessRight::None => None,
        other => {
            return Err(PbiError::invalid_request(format!(
                "datasourceAccessRight must be Read, ReadOverrideEffectiveIdentity or None, not '{other:?}'"
            )))
        }
    };
    visible_datasource(&state, &caller, gateway, datasource).await?;
    let identifier = body.email_address.as_deref().or(body.identifier.as_deref()).unwrap_or("");
    let target = principal_of(&state, caller.tenant_id, body.principal_type, identifier).await?;
    let profile = body.profile.as_ref().map(|p| p.id);
    let now = state.clock.now_millis();
    state
        .store
        .update_datasource_user(caller.tenant_id, gateway, datasource, caller.object_id, target, profile, right, now)
        .await
        .map_err(|e| refused(e, || datasource_not_found(gateway, datasource)))?;
    Ok(StatusCode::OK)
}

pub async fn delete_datasource_user(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath((gateway, datasource, user)): PbiPath<(Uuid, Uuid, String)>,
    PbiQuery(q): PbiQuery<ProfileQuery>,
) -> Result<StatusCode, PbiError> {
    visible_datasource(&state, &caller, gateway, datasource).await?;
    let target = target_of_path(&state, caller.tenant_id, &user, false).await?;
    let now = state.clock.now_millis();
    state
        .store
        .update_datasource_user(caller.tenant_id, gateway, datasource, caller.object_id, target, q.profile_id, None, now)
        .await
        .map_err(|e| refused(e, || datasource_not_found(gateway, datasource)))?;
    Ok(StatusCode::OK)
}
