//! Workspaces (`/groups`) and their users, through the workspace endpoints and the admin ones.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pbi_wire::powerbi::{
    Group, GroupCreationRequest, GroupUser, GroupUserAccessRight, PrincipalType, ServicePrincipalProfile, UpdateGroupRequest,
};
use pbi_wire::{ODataEntity, ODataList};
use serde::Deserialize;
use uuid::Uuid;

use super::activity::{MembershipChange, Origin};
use super::error::PbiError;
use super::extract::{Authenticated, PbiJson, PbiPath, PbiQuery};
use super::odata::{parse_filter, GROUP_FIELDS};
use crate::app::AppState;
use crate::domain::policy::Change;
use crate::domain::{Caller, Member, PrincipalKind, PrincipalRef, Role, Workspace};
use crate::store::{Actor, MemberChange, Page};

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(rename = "$top")]
    top: Option<u32>,
    #[serde(rename = "$skip")]
    skip: Option<u32>,
    #[serde(rename = "$filter")]
    filter: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CreateQuery {
    /// `True`, `true` (the only supported value) or `false`; the Swagger's own examples
    /// capitalise it, so it is parsed without regard to case.
    #[serde(rename = "workspaceV2")]
    workspace_v2: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct DeleteQuery {
    #[serde(rename = "profileId")]
    profile_id: Option<Uuid>,
    #[serde(rename = "isGroup")]
    is_group: Option<bool>,
}

fn group_json(ws: &Workspace) -> Group {
    Group {
        id: ws.id,
        name: ws.name.clone(),
        is_read_only: ws.is_read_only,
        is_on_dedicated_capacity: ws.capacity_id.is_some(),
        capacity_id: ws.capacity_id,
        default_dataset_storage_format: ws.capacity_id.map(|_| "Small".to_string()),
        dataflow_storage_id: None,
    }
}

/// A `GroupUser` as the workspace endpoints show it; `admin` adds `graphId` and `userType`.
pub fn group_user_json(m: &Member, admin: bool) -> GroupUser {
    let principal_type = match m.principal.kind {
        PrincipalKind::User => PrincipalType::User,
        PrincipalKind::Group => PrincipalType::Group,
        PrincipalKind::App => PrincipalType::App,
    };
    GroupUser {
        identifier: Some(m.identifier()),
        principal_type: Some(principal_type),
        group_user_access_right: role_json(m.role),
        email_address: match m.principal.kind {
            PrincipalKind::User => m.mail.clone().or_else(|| m.upn.clone()),
            _ => None,
        },
        display_name: m.display_name.clone(),
        graph_id: admin.then(|| m.principal.object_id.to_string()),
        user_type: if admin { m.user_type.map(|t| t.as_str().to_string()) } else { None },
        profile: m.profile_id.map(|id| ServicePrincipalProfile { id, display_name: None }),
        license_type: None,
        deleted_date_time: if admin {
            m.deleted_at.and_then(chrono::DateTime::from_timestamp_millis).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        } else {
            None
        },
    }
}

fn role_json(role: Role) -> GroupUserAccessRight {
    match role {
        Role::Admin => GroupUserAccessRight::Admin,
        Role::Member => GroupUserAccessRight::Member,
        Role::Contributor => GroupUserAccessRight::Contributor,
        Role::Viewer => GroupUserAccessRight::Viewer,
    }
}

fn role_from_json(right: GroupUserAccessRight) -> Result<Role, PbiError> {
    match right {
        GroupUserAccessRight::Admin => Ok(Role::Admin),
        GroupUserAccessRight::Member => Ok(Role::Member),
        GroupUserAccessRight::Contributor => Ok(Role::Contributor),
        GroupUserAccessRight::Viewer => Ok(Role::Viewer),
        GroupUserAccessRight::None => Err(PbiError::new(
            StatusCode::BAD_REQUEST,
            "UnsupportedAccessRightError",
            "groupUserAccessRight 'None' cannot be granted: remove the principal with DELETE instead",
        )),
    }
}

fn caller_actor(caller: &Caller) -> Actor {
    Actor::Principal(caller.principal())
}

/// Read a `GroupUser` request body: which principal (both body forms), named how, and which role.
async fn target_of(state: &AppState, tenant: Uuid, body: &GroupUser) -> Result<(PrincipalRef, String, Role), PbiError> {
    let role = role_from_json(body.group_user_access_right)?;
    let identifier =
        body.identifier.as_deref().or(body.email_address.as_deref()).map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| {
            PbiError::invalid_request("Parameter userDetails.UserEmailAddress is missing or invalid: give an identifier or an emailAddress")
        })?;
    let identifier = plain_text(identifier, "identifier")?;
    let kind = match body.principal_type {
        None | Some(PrincipalType::User) => PrincipalKind::User,
        Some(PrincipalType::Group) => PrincipalKind::Group,
        Some(PrincipalType::App) => PrincipalKind::App,
        Some(PrincipalType::None) => {
            return Err(PbiError::invalid_request("principalType 'None' (whole organisation) cannot hold a workspace role"))
        }
    };
    if kind != PrincipalKind::User && Uuid::parse_str(identifier).is_err() {
        return Err(PbiError::invalid_request(format!(
            "The identifier of a {} principal must be its object id (a GUID), not '{identifier}'",
            kind.as_str()
        )));
    }
    let principal = state.store.resolve_principal(tenant, kind, identifier).await?.ok_or_else(|| {
        PbiError::new(
            StatusCode::BAD_REQUEST,
            "PrincipalNotFound",
            format!("No {} '{identifier}' exists in the tenant's directory", kind.as_str()),
        )
    })?;
    Ok((principal, identifier.to_string(), role))
}

/// Resolve the `{user}` path segment of a DELETE: a UPN or email, or an object id.
pub(crate) async fn target_of_path(state: &AppState, tenant: Uuid, user: &str, is_group: bool) -> Result<PrincipalRef, PbiError> {
    let user = plain_text(user.trim(), "user")?;
    let kinds: &[PrincipalKind] = if is_group {
        &[PrincipalKind::Group]
    } else if Uuid::parse_str(user).is_ok() {
        &[PrincipalKind::App, PrincipalKind::Group, PrincipalKind::User]
    } else {
        &[PrincipalKind::User]
    };
    for kind in kinds {
        if let Some(p) = state.store.resolve_principal(tenant, *kind, user).await? {
            return Ok(p);
        }
    }
    Err(PbiError::entity_not_found(format!("No principal '{user}' exists in the tenant's directory")))
}

/// Text bound for the store: no control characters (PostgreSQL refuses NUL, and no name,
/// UPN or id legitimately carries one) and a sane length.
pub fn plain_text<'a>(value: &'a str, what: &str) -> Result<&'a str, PbiError> {
    if value.chars().any(char::is_control) || value.len() > 1024 {
        return Err(PbiError::invalid_request(format!("The {what} contains control characters or is too long")));
    }
    Ok(value)
}

pub(crate) fn entity_context(state: &AppState, fragment: &str) -> String {
    format!("{}/v1.0/myorg/$metadata#{fragment}", state.public_url)
}

fn paginate<T>(items: Vec<T>, top: Option<u32>, skip: Option<u32>) -> Vec<T> {
    items.into_iter().skip(skip.unwrap_or(0) as usize).take(top.map(|t| t as usize).unwrap_or(usize::MAX)).collect()
}

pub async fn get_groups(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiQuery(q): PbiQuery<ListQuery>,
) -> Result<Json<ODataList<Group>>, PbiError> {
    let filter = q
        .filter
        .as_deref()
        .map(|f| parse_filter(f, GROUP_FIELDS))
        .transpose()
        .map_err(|e| PbiError::invalid_request(format!("Invalid $filter: {e}")))?;
    let page = Page { top: q.top, skip: q.skip.unwrap_or(0) };
    let workspaces = state.store.workspaces_of(caller.tenant_id, caller.object_id, filter.as_ref(), &page).await?;
    Ok(Json(ODataList::new(entity_context(&state, "groups"), workspaces.iter().map(group_json).collect())))
}

pub async fn create_group(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    PbiQuery(q): PbiQuery<CreateQuery>,
    PbiJson(body): PbiJson<GroupCreationRequest>,
) -> Result<Json<ODataEntity<Group>>, PbiError> {
    if let Some(v) = q.workspace_v2.as_deref() {
        if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") {
            return Err(PbiError::invalid_request(format!("workspaceV2 must be true or false, not '{v}'")));
        }
    }
    let name = plain_text(body.name.trim(), "name")?;
    if name.is_empty() || name.chars().count() > 256 {
        return Err(PbiError::invalid_request("The workspace name must have between 1 and 256 characters"));
    }
    let ws = Workspace {
        id: Uuid::new_v4(),
        tenant_id: caller.tenant_id,
        name: name.to_string(),
        description: None,
        kind: "Workspace".into(),
        state: "Active".into(),
        is_read_only: false,
        capacity_id: None,
    };
    let now = state.clock.now_millis();
    let event = Origin::new(&caller, &headers).workspace_event("CreateFolder", now, ws.id, &ws.name);
    match state.store.create_workspace(&ws, caller.principal(), now, Some(&event)).await {
        Ok(()) => {}
        Err(e) if e.is_unique_violation() => {
            return Err(PbiError::new(
                StatusCode::BAD_REQUEST,
                "PowerBIEntityAlreadyExists",
                format!("A workspace named '{name}' already exists"),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    Ok(Json(ODataEntity { odata_context: Some(entity_context(&state, "groups/$entity")), entity: group_json(&ws) }))
}

pub async fn get_group(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath(id): PbiPath<Uuid>,
) -> Result<Json<ODataEntity<Group>>, PbiError> {
    if state.store.role_in_workspace(caller.tenant_id, id, caller.object_id).await?.is_none() {
        return Err(PbiError::workspace_not_found(id));
    }
    let ws = state.store.get_workspace(caller.tenant_id, id).await?.ok_or_else(|| PbiError::workspace_not_found(id))?;
    Ok(Json(ODataEntity { odata_context: Some(entity_context(&state, "groups/$entity")), entity: group_json(&ws) }))
}

/// `PATCH /groups/{groupId}`: rename a workspace (its Admins only). `defaultDatasetStorageFormat`
/// is checked against the workspace: `Small` is what every workspace of pbi-access has; `Large`
/// needs a Premium capacity, and pbi-access does not model large storage, so it says so.
pub async fn update_group(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    PbiPath(id): PbiPath<Uuid>,
    PbiJson(body): PbiJson<UpdateGroupRequest>,
) -> Result<StatusCode, PbiError> {
    let ws = match state.store.role_in_workspace(caller.tenant_id, id, caller.object_id).await? {
        Some(_) => state.store.get_workspace(caller.tenant_id, id).await?,
        None => None,
    }
    .ok_or_else(|| PbiError::workspace_not_found(id))?;
    match body.default_dataset_storage_format.as_deref() {
        None | Some("Small") => {}
        Some("Large") if ws.capacity_id.is_none() => {
            return Err(PbiError::invalid_request("defaultDatasetStorageFormat 'Large' needs a workspace on a Premium capacity"))
        }
        Some("Large") => {
            return Err(PbiError::new(
                StatusCode::NOT_IMPLEMENTED,
                "NotImplemented",
                "defaultDatasetStorageFormat 'Large' is not modelled by pbi-access; see docs/fidelity.md",
            ))
        }
        Some(other) => return Err(PbiError::invalid_request(format!("defaultDatasetStorageFormat must be Small or Large, not '{other}'"))),
    }
    let Some(name) = body.name.as_deref() else { return Ok(StatusCode::OK) };
    let name = plain_text(name.trim(), "name")?;
    if name.is_empty() || name.chars().count() > 256 {
        return Err(PbiError::invalid_request("The workspace name must have between 1 and 256 characters"));
    }
    let now = state.clock.now_millis();
    let origin = Origin::new(&caller, &headers);
    match state
        .store
        .update_workspace(caller.tenant_id, id, caller_actor(&caller), name, now, |name| {
            Some(origin.workspace_event("UpdateFolder", now, id, name))
        })
        .await
    {
        Ok(()) => Ok(StatusCode::OK),
        Err(crate::store::ChangeError::Store(e)) if e.is_unique_violation() => {
            Err(PbiError::new(StatusCode::BAD_REQUEST, "PowerBIEntityAlreadyExists", format!("A workspace named '{name}' already exists")))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /RefreshUserPermissions`: the service refreshes the caller's cached permissions. Every
/// permission change of pbi-access is visible at once, so there is nothing to refresh; the
/// gate counts the call against its one-an-hour budget per caller.
pub async fn refresh_user_permissions(Authenticated(_caller): Authenticated) -> StatusCode {
    StatusCode::OK
}

pub async fn delete_group(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    PbiPath(id): PbiPath<Uuid>,
) -> Result<StatusCode, PbiError> {
    let now = state.clock.now_millis();
    let origin = Origin::new(&caller, &headers);
    state
        .store
        .delete_workspace(caller.tenant_id, id, caller_actor(&caller), now, |name| {
            Some(origin.workspace_event("DeleteFolder", now, id, name))
        })
        .await?;
    Ok(StatusCode::OK)
}

pub async fn get_group_users(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath(id): PbiPath<Uuid>,
    PbiQuery(q): PbiQuery<ListQuery>,
) -> Result<Response, PbiError> {
    let view = state.store.workspace_view(caller.tenant_id, id).await?.ok_or_else(|| PbiError::workspace_not_found(id))?;
    // A direct role is in the view; access through groups or a Microsoft 365 backing is read.
    if !view.roles.contains_key(&caller.object_id) && state.store.role_in_workspace(caller.tenant_id, id, caller.object_id).await?.is_none()
    {
        return Err(PbiError::workspace_not_found(id));
    }
    let render = |members: &[Member]| -> bytes::Bytes {
        let users: Vec<GroupUser> = members.iter().map(|m| group_user_json(m, false)).collect();
        serde_json::to_vec(&ODataList::new(entity_context(&state, "groupUsers"), users)).unwrap_or_default().into()
    };
    let body = if q.top.is_none() && q.skip.is_none() {
        // The whole list is the same for every caller who may see it: render it once per version.
        view.rendered.get_or_init(|| render(&view.members)).clone()
    } else {
        render(&paginate(view.members.clone(), q.top, q.skip))
    };
    Ok(([(header::CONTENT_TYPE, "application/json; charset=utf-8")], body).into_response())
}

/// Who asks, through which endpoint family, for what; the request's headers go into the
/// activity event.
struct Request<'a> {
    caller: &'a Caller,
    headers: &'a HeaderMap,
    actor: Actor,
}

async fn change(
    state: &AppState,
    request: Request<'_>,
    workspace: Uuid,
    target: PrincipalRef,
    identifier: &str,
    profile_id: Option<Uuid>,
    change: Change,
) -> Result<StatusCode, PbiError> {
    let Request { caller, headers, actor } = request;
    let req = MemberChange {
        tenant_id: caller.tenant_id,
        workspace_id: workspace,
        actor,
        target,
        profile_id,
        change,
        principal_limit: state.config.limits.max_principals_per_workspace,
        now: state.clock.now_millis(),
    };
    let origin = Origin::new(caller, headers);
    let admin = actor == Actor::TenantAdmin;
    let identifier_owned = identifier.to_string();
    let effect = state
        .store
        .change_member(&req, move |workspace_name, effect| {
            let described = MembershipChange { workspace, workspace_name, target, identifier: &identifier_owned, profile: profile_id };
            origin.membership_event(admin, req.now, &described, effect)
        })
        .await?;
    tracing::info!(workspace = %workspace, principal = %target.object_id, ?change, ?effect, "workspace access changed");
    Ok(StatusCode::OK)
}

/// Check that the caller can see the workspace before looking at what it asks for, so an
/// outsider learns nothing about the directory from a workspace it cannot see.
async fn ensure_visible(state: &AppState, caller: &Caller, workspace: Uuid, actor: Actor) -> Result<(), PbiError> {
    let visible = match actor {
        Actor::TenantAdmin => state.store.get_workspace(caller.tenant_id, workspace).await?.is_some(),
        Actor::Principal(p) => state.store.role_in_workspace(caller.tenant_id, workspace, p.object_id).await?.is_some(),
    };
    if visible {
        Ok(())
    } else {
        Err(PbiError::workspace_not_found(workspace))
    }
}

/// A POST or PUT of a workspace user (the user API's or the admin's): once the workspace is
/// visible to `request.actor`, resolve the body's principal and apply `make(role)`.
async fn change_from_body(
    state: &AppState,
    request: Request<'_>,
    workspace: Uuid,
    body: &GroupUser,
    make: fn(Role) -> Change,
) -> Result<StatusCode, PbiError> {
    ensure_visible(state, request.caller, workspace, request.actor).await?;
    let (target, identifier, role) = target_of(state, request.caller.tenant_id, body).await?;
    change(state, request, workspace, target, &identifier, body.profile.as_ref().map(|p| p.id), make(role)).await
}

/// A DELETE of a workspace user named in the path (the user API's or the admin's), once the
/// workspace is visible to `request.actor`.
async fn remove_by_path(
    state: &AppState,
    request: Request<'_>,
    workspace: Uuid,
    user: &str,
    is_group: bool,
    profile_id: Option<Uuid>,
) -> Result<StatusCode, PbiError> {
    ensure_visible(state, request.caller, workspace, request.actor).await?;
    let target = target_of_path(state, request.caller.tenant_id, user, is_group).await?;
    change(state, request, workspace, target, user.trim(), profile_id, Change::Remove).await
}

pub async fn add_group_user(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    PbiPath(id): PbiPath<Uuid>,
    PbiJson(body): PbiJson<GroupUser>,
) -> Result<StatusCode, PbiError> {
    let request = Request { caller: &caller, headers: &headers, actor: caller_actor(&caller) };
    change_from_body(&state, request, id, &body, Change::Add).await
}

pub async fn update_group_user(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    PbiPath(id): PbiPath<Uuid>,
    PbiJson(body): PbiJson<GroupUser>,
) -> Result<StatusCode, PbiError> {
    let request = Request { caller: &caller, headers: &headers, actor: caller_actor(&caller) };
    change_from_body(&state, request, id, &body, Change::Update).await
}

pub async fn delete_user_in_group(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    PbiPath((id, user)): PbiPath<(Uuid, String)>,
    PbiQuery(q): PbiQuery<DeleteQuery>,
) -> Result<StatusCode, PbiError> {
    let request = Request { caller: &caller, headers: &headers, actor: caller_actor(&caller) };
    remove_by_path(&state, request, id, &user, false, q.profile_id).await
}

pub async fn get_group_users_as_admin(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath(id): PbiPath<Uuid>,
) -> Result<Json<ODataList<GroupUser>>, PbiError> {
    state.store.get_workspace(caller.tenant_id, id).await?.ok_or_else(|| PbiError::workspace_not_found(id))?;
    let members = state.store.members(caller.tenant_id, id).await?;
    // Licenses count once they have propagated (config `licenses.propagation_delay_secs`).
    let user_ids: Vec<Uuid> = members.iter().filter(|m| m.principal.kind == PrincipalKind::User).map(|m| m.principal.object_id).collect();
    let licenses = license_types(&state, caller.tenant_id, &user_ids).await?;
    let users = members.iter().map(|m| admin_group_user_json(m, &licenses)).collect();
    Ok(Json(ODataList::new(entity_context(&state, "groupUsers"), users)))
}

/// The `licenseType` of each of `users`, from the licences that have propagated (config
/// `licenses.propagation_delay_secs`).
pub(crate) async fn license_types(
    state: &AppState,
    tenant: Uuid,
    users: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, &'static str>, PbiError> {
    let licenses = state.store.licenses_of_users(tenant, users).await.map_err(|e| {
        tracing::error!(error = %e, "license allocation");
        PbiError::internal()
    })?;
    let cutoff = state.clock.now_millis() - state.config.licenses.propagation_delay().as_millis() as i64;
    Ok(users
        .iter()
        .map(|u| {
            let held: Vec<_> = licenses.get(u).into_iter().flatten().filter(|l| l.since <= cutoff).cloned().collect();
            (*u, license_type(&held))
        })
        .collect())
}

/// A `GroupUser` as the admin endpoints show it: `graphId`, `userType`, and a user's `licenseType`.
pub(crate) fn admin_group_user_json(m: &Member, licenses: &std::collections::HashMap<Uuid, &'static str>) -> GroupUser {
    let mut user = group_user_json(m, true);
    if m.principal.kind == PrincipalKind::User {
        user.license_type = Some(licenses.get(&m.principal.object_id).copied().unwrap_or("Free").into());
    }
    user
}

/// The best Power BI license a user holds: Premium Per User, then Pro, else Free.
fn license_type(held: &[crate::domain::identity::UserLicense]) -> &'static str {
    if held.iter().any(|l| l.part_number == "PBI_PREMIUM_PER_USER") {
        "PremiumPerUser"
    } else if held.iter().any(|l| l.part_number == "POWER_BI_PRO") {
        "Pro"
    } else {
        "Free"
    }
}

pub async fn add_user_as_admin(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    PbiPath(id): PbiPath<Uuid>,
    PbiJson(body): PbiJson<GroupUser>,
) -> Result<StatusCode, PbiError> {
    let request = Request { caller: &caller, headers: &headers, actor: Actor::TenantAdmin };
    change_from_body(&state, request, id, &body, Change::Upsert).await
}

pub async fn delete_user_as_admin(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    PbiPath((id, user)): PbiPath<(Uuid, String)>,
    PbiQuery(q): PbiQuery<DeleteQuery>,
) -> Result<StatusCode, PbiError> {
    let request = Request { caller: &caller, headers: &headers, actor: Actor::TenantAdmin };
    remove_by_path(&state, request, id, &user, q.is_group.unwrap_or(false), q.profile_id).await
}
