//! `/v1/workspaces` and their role assignments. A role assignment is a workspace role of the
//! store (the one Power BI's `/groups/{id}/users` reads and writes), identified by its
//! principal's object id, as the service identifies it.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pbi_wire::fabric::{
    AddWorkspaceRoleAssignmentRequest, Paged, UpdateWorkspaceRoleAssignmentRequest, Workspace as WireWorkspace, WorkspaceRole,
    WorkspaceRoleAssignment, WorkspaceType,
};
use pbi_wire::ops::fabric as op;
use serde::Deserialize;
use uuid::Uuid;

use super::error::FabricError;
use super::extract::{FabricCaller, FabricJson, FabricPath, FabricQuery};
use super::principals::{assignment_json, resolve, role_from_json};
use crate::api::powerbi::activity::{MembershipChange, Origin};
use crate::api::powerbi::continuation::percent_encode;
use crate::app::AppState;
use crate::domain::policy::Change;
use crate::domain::{Caller, Member, PrincipalKind, PrincipalRef, Role, Workspace};
use crate::store::{Actor, MemberChange, Page};

/// A Fabric workspace type from the store's kind (`PersonalGroup` is a "My workspace").
pub fn workspace_type(kind: &str) -> WorkspaceType {
    match kind {
        "PersonalGroup" | "Personal" => WorkspaceType::Personal,
        "AdminWorkspace" | "AdminInsights" => WorkspaceType::AdminWorkspace,
        _ => WorkspaceType::Workspace,
    }
}

fn workspace_json(ws: &Workspace) -> WireWorkspace {
    WireWorkspace {
        id: ws.id,
        display_name: ws.name.clone(),
        description: ws.description.clone().unwrap_or_default(),
        workspace_type: workspace_type(&ws.kind),
        capacity_id: ws.capacity_id,
    }
}

/// `continuationUri`: the operation's URL on the origin the client used, with the token.
pub(super) fn continuation_uri(headers: &HeaderMap, uri: &Uri, state: &AppState, path: &str, token: &str) -> String {
    format!("{}{path}?continuationToken={}", crate::hosts::origin(headers, uri, &state.public_url), percent_encode(token))
}

pub(super) fn expiry(state: &AppState) -> i64 {
    state.clock.now_millis() + (state.config.audit.continuation_ttl_secs as i64) * 1000
}

pub(super) fn page_size(state: &AppState) -> u32 {
    state.config.audit.page_size.max(1)
}

/// A continuation token the service refuses: 400 `InvalidContinuationToken`.
pub(super) fn bad_token(problem: crate::api::powerbi::continuation::TokenProblem) -> FabricError {
    let pbi = crate::api::powerbi::error::PbiError::from(problem);
    FabricError::new(StatusCode::BAD_REQUEST, "InvalidContinuationToken", pbi.message)
}

#[derive(Debug, Deserialize)]
pub struct ListWorkspacesQuery {
    /// Comma-separated workspace roles of the caller (`Admin,Member`).
    roles: Option<String>,
    #[serde(rename = "continuationToken")]
    continuation_token: Option<String>,
    #[serde(rename = "preferWorkspaceSpecificEndpoints")]
    #[allow(dead_code)]
    prefer_workspace_specific_endpoints: Option<bool>,
}

fn parse_roles(roles: Option<&str>) -> Result<Option<Vec<Role>>, FabricError> {
    let Some(roles) = roles.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let parsed = roles
        .split(',')
        .map(|r| role_from_json(&WorkspaceRole::parse(r.trim())).or_else(|_| role_from_json(&WorkspaceRole::parse(&title_case(r.trim())))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(parsed))
}

fn title_case(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c.flat_map(char::to_lowercase)).collect()).unwrap_or_default()
}

/// `GET /v1/workspaces`: the workspaces the caller holds a role in (directly, through a group or
/// a Microsoft 365 backing), by name, `roles` filtering by the caller's role.
pub async fn list_workspaces(
    State(state): State<AppState>,
    FabricCaller(caller): FabricCaller,
    headers: HeaderMap,
    uri: Uri,
    FabricQuery(q): FabricQuery<ListWorkspacesQuery>,
) -> Result<Json<Paged<WireWorkspace>>, FabricError> {
    let (roles_text, skip) = match q.continuation_token.as_deref() {
        Some(token) => state
            .continuation
            .open::<Option<String>, u32>(token, op::LIST_WORKSPACES.id, &caller, state.clock.now_millis(), |t| {
                q.roles.is_none() || *t == q.roles
            })
            .map_err(bad_token)?,
        None => (q.roles.clone(), 0),
    };
    let roles = parse_roles(roles_text.as_deref())?;
    let size = page_size(&state);
    let page = Page { top: Some(size + 1), skip };
    let mut workspaces = state.store.workspaces_of(caller.tenant_id, caller.object_id, None, &page).await?;
    let more = workspaces.len() > size as usize;
    workspaces.truncate(size as usize);
    let mut value = Vec::with_capacity(workspaces.len());
    for ws in &workspaces {
        if let Some(roles) = &roles {
            match state.store.role_in_workspace(caller.tenant_id, ws.id, caller.object_id).await? {
                Some(role) if roles.contains(&role) => {}
                _ => continue,
            }
        }
        value.push(workspace_json(ws));
    }
    let (continuation_token, continuation_uri) = if more {
        let token = state.continuation.issue(op::LIST_WORKSPACES.id, &caller, expiry(&state), &roles_text, &(skip + size));
        (Some(percent_encode(&token)), Some(continuation_uri(&headers, &uri, &state, "/v1/workspaces", &token)))
    } else {
        (None, None)
    };
    Ok(Json(Paged { value, continuation_token, continuation_uri }))
}

#[derive(Debug, Deserialize)]
pub struct GetWorkspaceQuery {
    #[serde(rename = "preferWorkspaceSpecificEndpoints")]
    #[allow(dead_code)]
    prefer_workspace_specific_endpoints: Option<bool>,
}

/// The caller's role in a workspace; a workspace it holds none in is not found.
async fn caller_role(state: &AppState, caller: &Caller, workspace: Uuid) -> Result<Role, FabricError> {
    state
        .store
        .role_in_workspace(caller.tenant_id, workspace, caller.object_id)
        .await?
        .ok_or_else(|| FabricError::workspace_not_found(workspace))
}

/// Reading role assignments needs Member or Admin.
async fn ensure_can_read_assignments(state: &AppState, caller: &Caller, workspace: Uuid) -> Result<(), FabricError> {
    let role = caller_role(state, caller, workspace).await?;
    if role < Role::Member {
        return Err(FabricError::insufficient_privileges(format!(
            "The caller's workspace role is {}: reading role assignments needs Member or Admin",
            role.as_str()
        )));
    }
    Ok(())
}

pub async fn get_workspace(
    State(state): State<AppState>,
    FabricCaller(caller): FabricCaller,
    FabricPath(id): FabricPath<Uuid>,
    FabricQuery(_q): FabricQuery<GetWorkspaceQuery>,
) -> Result<Json<WireWorkspace>, FabricError> {
    caller_role(&state, &caller, id).await?;
    let ws = state.store.get_workspace(caller.tenant_id, id).await?.ok_or_else(|| FabricError::workspace_not_found(id))?;
    Ok(Json(workspace_json(&ws)))
}

#[derive(Debug, Deserialize)]
pub struct ContinuationQuery {
    #[serde(rename = "continuationToken")]
    continuation_token: Option<String>,
}

/// The workspace's role holders (profile-less: a profile's role is not a Fabric principal here).
async fn holders(state: &AppState, tenant: Uuid, workspace: Uuid) -> Result<Vec<Member>, FabricError> {
    let view = state.store.workspace_view(tenant, workspace).await?.ok_or_else(|| FabricError::workspace_not_found(workspace))?;
    Ok(view.members.iter().filter(|m| m.profile_id.is_none()).cloned().collect())
}

/// `GET …/roleAssignments`: keyset pages by principal id behind a sealed continuation token.
pub async fn list_role_assignments(
    State(state): State<AppState>,
    FabricCaller(caller): FabricCaller,
    headers: HeaderMap,
    uri: Uri,
    FabricPath(id): FabricPath<Uuid>,
    FabricQuery(q): FabricQuery<ContinuationQuery>,
) -> Result<Json<Paged<WorkspaceRoleAssignment>>, FabricError> {
    ensure_can_read_assignments(&state, &caller, id).await?;
    let after: Option<Uuid> = match q.continuation_token.as_deref() {
        Some(token) => {
            let (_, last) = state
                .continuation
                .open::<Uuid, Uuid>(token, op::LIST_WORKSPACE_ROLE_ASSIGNMENTS.id, &caller, state.clock.now_millis(), |w| *w == id)
                .map_err(bad_token)?;
            Some(last)
        }
        None => None,
    };
    let mut members = holders(&state, caller.tenant_id, id).await?;
    members.sort_by_key(|m| m.principal.object_id);
    let size = page_size(&state) as usize;
    let rest: Vec<&Member> = members.iter().filter(|m| after.is_none_or(|a| m.principal.object_id > a)).collect();
    let more = rest.len() > size;
    let value: Vec<WorkspaceRoleAssignment> = rest.iter().take(size).map(|m| assignment_json(m)).collect();
    let (continuation_token, continuation_uri) = match (more, value.last()) {
        (true, Some(last)) => {
            let token = state.continuation.issue(op::LIST_WORKSPACE_ROLE_ASSIGNMENTS.id, &caller, expiry(&state), &id, &last.id);
            let path = format!("/v1/workspaces/{id}/roleAssignments");
            (Some(percent_encode(&token)), Some(continuation_uri(&headers, &uri, &state, &path, &token)))
        }
        _ => (None, None),
    };
    Ok(Json(Paged { value, continuation_token, continuation_uri }))
}

pub async fn get_role_assignment(
    State(state): State<AppState>,
    FabricCaller(caller): FabricCaller,
    FabricPath((id, assignment)): FabricPath<(Uuid, Uuid)>,
) -> Result<Json<WorkspaceRoleAssignment>, FabricError> {
    ensure_can_read_assignments(&state, &caller, id).await?;
    let members = holders(&state, caller.tenant_id, id).await?;
    let m =
        members.iter().find(|m| m.principal.object_id == assignment).ok_or_else(|| FabricError::role_assignment_not_found(assignment))?;
    Ok(Json(assignment_json(m)))
}

/// Apply one role change through the store's one write path (policy, last-Admin rule, the
/// principal limit and the activity event, under the workspace's lock).
pub(super) async fn change(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    actor: Actor,
    workspace: Uuid,
    target: PrincipalRef,
    change: Change,
) -> Result<(), FabricError> {
    // The activity event names a user by UPN, as Power BI's do.
    let identifier = match target.kind {
        PrincipalKind::User => state.store.get_user(caller.tenant_id, target.object_id, true).await?.map(|u| u.upn),
        _ => None,
    }
    .unwrap_or_else(|| target.object_id.to_string());
    let req = MemberChange {
        tenant_id: caller.tenant_id,
        workspace_id: workspace,
        actor,
        target,
        profile_id: None,
        change,
        principal_limit: state.config.limits.max_principals_per_workspace,
        now: state.clock.now_millis(),
    };
    let origin = Origin::new(caller, headers);
    let admin = actor == Actor::TenantAdmin;
    let effect = state
        .store
        .change_member(&req, move |workspace_name, effect| {
            let described = MembershipChange { workspace, workspace_name, target, identifier: &identifier, profile: None };
            origin.membership_event(admin, req.now, &described, effect)
        })
        .await?;
    tracing::info!(workspace = %workspace, principal = %target.object_id, ?change, ?effect, "workspace access changed (Fabric)");
    Ok(())
}

async fn read_back(state: &AppState, tenant: Uuid, workspace: Uuid, principal: Uuid) -> Result<WorkspaceRoleAssignment, FabricError> {
    let members = holders(state, tenant, workspace).await?;
    members
        .iter()
        .find(|m| m.principal.object_id == principal)
        .map(assignment_json)
        .ok_or_else(|| FabricError::role_assignment_not_found(principal))
}

/// `POST …/roleAssignments`: 201 with `Location` and the assignment.
pub async fn add_role_assignment(
    State(state): State<AppState>,
    FabricCaller(caller): FabricCaller,
    headers: HeaderMap,
    uri: Uri,
    FabricPath(id): FabricPath<Uuid>,
    FabricJson(body): FabricJson<AddWorkspaceRoleAssignmentRequest>,
) -> Result<Response, FabricError> {
    // Visibility before the body: an outsider learns nothing about the directory.
    caller_role(&state, &caller, id).await?;
    let role = role_from_json(&body.role)?;
    let target = resolve(&state, caller.tenant_id, &body.principal).await?;
    change(&state, &caller, &headers, Actor::Principal(caller.principal()), id, target, Change::Add(role)).await?;
    let created = read_back(&state, caller.tenant_id, id, target.object_id).await?;
    let location =
        format!("{}/v1/workspaces/{id}/roleAssignments/{}", crate::hosts::origin(&headers, &uri, &state.public_url), target.object_id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(created)).into_response())
}

/// The assignment named in the path, as a principal of the store.
async fn assigned(state: &AppState, caller: &Caller, workspace: Uuid, assignment: Uuid) -> Result<PrincipalRef, FabricError> {
    caller_role(state, caller, workspace).await?;
    let members = holders(state, caller.tenant_id, workspace).await?;
    members
        .iter()
        .find(|m| m.principal.object_id == assignment)
        .map(|m| m.principal)
        .ok_or_else(|| FabricError::role_assignment_not_found(assignment))
}

pub async fn update_role_assignment(
    State(state): State<AppState>,
    FabricCaller(caller): FabricCaller,
    headers: HeaderMap,
    FabricPath((id, assignment)): FabricPath<(Uuid, Uuid)>,
    FabricJson(body): FabricJson<UpdateWorkspaceRoleAssignmentRequest>,
) -> Result<Json<WorkspaceRoleAssignment>, FabricError> {
    let target = assigned(&state, &caller, id, assignment).await?;
    let role = role_from_json(&body.role)?;
    change(&state, &caller, &headers, Actor::Principal(caller.principal()), id, target, Change::Update(role)).await?;
    Ok(Json(read_back(&state, caller.tenant_id, id, assignment).await?))
}

pub async fn delete_role_assignment(
    State(state): State<AppState>,
    FabricCaller(caller): FabricCaller,
    headers: HeaderMap,
    FabricPath((id, assignment)): FabricPath<(Uuid, Uuid)>,
) -> Result<StatusCode, FabricError> {
    let target = assigned(&state, &caller, id, assignment).await?;
    change(&state, &caller, &headers, Actor::Principal(caller.principal()), id, target, Change::Remove).await?;
    Ok(StatusCode::OK)
}
