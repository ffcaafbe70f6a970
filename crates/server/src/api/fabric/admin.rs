//! The Fabric admin APIs of workspace access (`/v1/admin/…`): every workspace of the tenant, a
//! workspace's access details, and the administrator's temporary access.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Json;
use pbi_wire::fabric::{
    AccessEntity, AccessEntityResponse, AdminWorkspace as WireAdminWorkspace, AdminWorkspaces, GroupDetails, GroupType, ItemAccessDetail,
    ItemAccessDetails, ItemAccessDetailsResponse, Principal, PrincipalType, ServicePrincipalDetails, UserDetails, WorkspaceAccessDetail,
    WorkspaceAccessDetails, WorkspaceAccessDetailsResponse,
};
use pbi_wire::ops::fabric as op;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::FabricError;
use super::extract::{FabricCaller, FabricPath, FabricQuery};
use super::principals::{principal_json, role_json};
use super::workspaces::{bad_token, change, continuation_uri, expiry, page_size, workspace_type};
use crate::api::powerbi::continuation::percent_encode;
use crate::app::AppState;
use crate::domain::audit::AccessKind;
use crate::domain::filter::{WorkspaceField, WorkspaceFilter};
use crate::domain::policy::Change;
use crate::domain::rights::Rights;
use crate::domain::ArtifactKind as AuditKind;
use crate::domain::{access_list, ArtifactKind, ArtifactUser, PrincipalKind, Role};
use crate::store::Actor;

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
pub struct AdminListQuery {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    workspace_type: Option<String>,
    #[serde(rename = "capacityId", default, skip_serializing_if = "Option::is_none")]
    capacity_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(rename = "continuationToken", default, skip_serializing)]
    continuation_token: Option<String>,
}

impl AdminListQuery {
    fn filters(&self) -> bool {
        self.workspace_type.is_some() || self.capacity_id.is_some() || self.name.is_some() || self.state.is_some()
    }

    /// The store's workspace filter for `name`, `state` and `type` (`capacityId` is checked on
    /// the page). Values are Fabric's, without regard to case.
    fn to_filter(&self) -> Result<Option<WorkspaceFilter>, FabricError> {
        let mut parts = Vec::new();
        if let Some(name) = &self.name {
            parts.push(WorkspaceFilter::Eq(WorkspaceField::Name, name.clone()));
        }
        if let Some(state) = &self.state {
            parts.push(match state.to_ascii_lowercase().as_str() {
                // Orphaned workspaces are displayed as active.
                "active" => WorkspaceFilter::Ne(WorkspaceField::State, "Deleted".into()),
                "deleted" => WorkspaceFilter::Eq(WorkspaceField::State, "Deleted".into()),
                other => return Err(FabricError::invalid_input(format!("state '{other}' is not supported: use active or deleted"))),
            });
        }
        if let Some(kind) = &self.workspace_type {
            let stored = match kind.to_ascii_lowercase().as_str() {
                "workspace" => "Workspace",
                "personal" => "PersonalGroup",
                "adminworkspace" => "AdminWorkspace",
                other => {
                    return Err(FabricError::invalid_input(format!(
                        "type '{other}' is not supported: use personal, workspace or adminworkspace"
                    )))
                }
            };
            parts.push(WorkspaceFilter::Eq(WorkspaceField::Type, stored.into()));
        }
        Ok(parts.into_iter().reduce(|a, b| WorkspaceFilter::And(Box::new(a), Box::new(b))))
    }
}

/// `GET /v1/admin/workspaces`: every workspace of the tenant, deleted ones included, by name.
pub async fn list_workspaces(
    State(state): State<AppState>,
    FabricCaller(caller): FabricCaller,
    headers: HeaderMap,
    uri: Uri,
    FabricQuery(q): FabricQuery<AdminListQuery>,
) -> Result<Json<AdminWorkspaces>, FabricError> {
    let (query, skip) = match q.continuation_token.as_deref() {
        Some(token) => state
            .continuation
            .open::<AdminListQuery, u32>(token, op::ADMIN_LIST_WORKSPACES.id, &caller, state.clock.now_millis(), |t| {
                !q.filters() || *t == AdminListQuery { continuation_token: None, ..q.clone() }
            })
            .map_err(bad_token)?,
        None => (AdminListQuery { continuation_token: None, ..q.clone() }, 0),
    };
    let filter = query.to_filter()?;
    let size = page_size(&state);
    let mut rows = state.store.admin_workspaces(caller.tenant_id, filter.as_ref(), size + 1, skip).await?;
    let more = rows.len() > size as usize;
    rows.truncate(size as usize);
    let workspaces = rows
        .iter()
        .filter(|w| query.capacity_id.is_none() || w.workspace.capacity_id == query.capacity_id)
        .map(|w| WireAdminWorkspace {
            id: w.workspace.id,
            name: w.workspace.name.clone(),
            workspace_type: workspace_type(&w.workspace.kind),
            state: if w.workspace.state == "Deleted" { "Deleted".into() } else { "Active".into() },
            capacity_id: w.workspace.capacity_id,
        })
        .collect();
    let (continuation_token, continuation_uri) = if more {
        let token = state.continuation.issue(op::ADMIN_LIST_WORKSPACES.id, &caller, expiry(&state), &query, &(skip + size));
        (Some(percent_encode(&token)), Some(continuation_uri(&headers, &uri, &state, "/v1/admin/workspaces", &token)))
    } else {
        (None, None)
    };
    Ok(Json(AdminWorkspaces { workspaces, continuation_token, continuation_uri }))
}

/// `GET /v1/admin/workspaces/{id}/users`: every role holder with its role.
pub async fn list_workspace_access_details(
    State(state): State<AppState>,
    FabricCaller(caller): FabricCaller,
    FabricPath(id): FabricPath<Uuid>,
) -> Result<Json<WorkspaceAccessDetailsResponse>, FabricError> {
    let ws = state.store.get_workspace(caller.tenant_id, id).await?.ok_or_else(|| FabricError::workspace_not_found(id))?;
    let members = state.store.members(caller.tenant_id, id).await?;
    let access_details = members
        .iter()
        .filter(|m| m.profile_id.is_none())
        .map(|m| WorkspaceAccessDetails {
            principal: principal_json(m),
            workspace_access_details: WorkspaceAccessDetail { workspace_type: workspace_type(&ws.kind), workspace_role: role_json(m.role) },
        })
        .collect();
    Ok(Json(WorkspaceAccessDetailsResponse { access_details }))
}

/// `POST /v1/admin/workspaces/{id}/grantAdminTemporaryAccess`: the calling administrator becomes
/// an Admin of the workspace (a role like any other, recorded with the admin API's activity).
pub async fn grant_admin_temporary_access(
    State(state): State<AppState>,
    FabricCaller(caller): FabricCaller,
    headers: HeaderMap,
    FabricPath(id): FabricPath<Uuid>,
) -> Result<StatusCode, FabricError> {
    state.store.get_workspace(caller.tenant_id, id).await?.ok_or_else(|| FabricError::workspace_not_found(id))?;
    change(&state, &caller, &headers, Actor::TenantAdmin, id, caller.principal(), Change::Upsert(Role::Admin)).await?;
    Ok(StatusCode::OK)
}

/// `POST /v1/admin/workspaces/{id}/removeAdminTemporaryAccess`: the caller's role goes; removing
/// a role it does not hold is not an error (idempotent), but the last Admin stays.
pub async fn remove_admin_temporary_access(
    State(state): State<AppState>,
    FabricCaller(caller): FabricCaller,
    headers: HeaderMap,
    FabricPath(id): FabricPath<Uuid>,
) -> Result<StatusCode, FabricError> {
    state.store.get_workspace(caller.tenant_id, id).await?.ok_or_else(|| FabricError::workspace_not_found(id))?;
    match change(&state, &caller, &headers, Actor::TenantAdmin, id, caller.principal(), Change::Remove).await {
        Ok(()) => Ok(StatusCode::OK),
        Err(e) if e.code == "WorkspaceRoleAssignmentNotFound" => Ok(StatusCode::OK),
        Err(e) => Err(e),
    }
}

/// Fabric's `ItemType` of an item the store holds.
fn item_type(kind: ArtifactKind) -> &'static str {
    match kind {
        ArtifactKind::Dataset => "SemanticModel",
        other => other.as_str(),
    }
}

/// `ItemPermissions` from the rights a principal holds on an item.
fn permissions(rights: Rights) -> Vec<String> {
    [(Rights::READ, "Read"), (Rights::WRITE, "Write"), (Rights::RESHARE, "Reshare"), (Rights::EXPLORE, "Explore")]
        .iter()
        .filter(|(r, _)| rights.contains(*r))
        .map(|(_, name)| name.to_string())
        .collect()
}

fn item_principal(u: &ArtifactUser, app_id: Option<Uuid>) -> Principal {
    let mut p = Principal::reference(
        u.principal.object_id,
        match u.principal.kind {
            PrincipalKind::User => PrincipalType::User,
            PrincipalKind::Group => PrincipalType::Group,
            PrincipalKind::App => PrincipalType::ServicePrincipal,
        },
    );
    p.display_name = u.display_name.clone();
    match u.principal.kind {
        PrincipalKind::User => p.user_details = Some(UserDetails { user_principal_name: u.upn.clone() }),
        PrincipalKind::Group => p.group_details = Some(GroupDetails { group_type: Some(GroupType::SecurityGroup) }),
        PrincipalKind::App => p.service_principal_details = Some(ServicePrincipalDetails { aad_app_id: app_id }),
    }
    p
}

#[derive(Debug, Deserialize)]
pub struct ItemQuery {
    #[serde(rename = "type")]
    item_type: Option<String>,
}

/// `GET /v1/admin/workspaces/{id}/items/{itemId}/users`: who reaches the item and with which
/// permissions: the workspace's roles (their rights derived from the role) and direct shares.
pub async fn list_item_access_details(
    State(state): State<AppState>,
    FabricCaller(caller): FabricCaller,
    FabricPath((workspace, item)): FabricPath<(Uuid, Uuid)>,
    FabricQuery(q): FabricQuery<ItemQuery>,
) -> Result<Json<ItemAccessDetailsResponse>, FabricError> {
    state.store.get_workspace(caller.tenant_id, workspace).await?.ok_or_else(|| FabricError::workspace_not_found(workspace))?;
    let not_found = || FabricError::new(StatusCode::NOT_FOUND, "ItemNotFound", "The requested item was not found").about(item, "Item");
    let artifact = state.store.artifact(caller.tenant_id, item).await?.filter(|a| a.workspace_id == workspace).ok_or_else(not_found)?;
    if let Some(t) = q.item_type.as_deref() {
        if !t.eq_ignore_ascii_case(item_type(artifact.kind)) {
            return Err(not_found());
        }
    }
    let members = state.store.members(caller.tenant_id, workspace).await?;
    let direct = state.store.artifact_users(&artifact).await?;
    let app_ids: std::collections::HashMap<Uuid, Option<Uuid>> = members.iter().map(|m| (m.principal.object_id, m.app_id)).collect();
    let access_details = access_list(artifact.kind, &members, &direct)
        .iter()
        .map(|u| ItemAccessDetails {
            principal: item_principal(u, app_ids.get(&u.principal.object_id).copied().flatten()),
            item_access_details: ItemAccessDetail {
                item_type: item_type(artifact.kind).to_string(),
                permissions: permissions(u.rights),
                additional_permissions: Vec::new(),
            },
        })
        .collect();
    Ok(Json(ItemAccessDetailsResponse { access_details }))
}

/// The groups of `GET /v1/admin/users/{userId}/access`, in the reference's page order (Fabric
/// items, Datamarts, Reports, Dashboards, SemanticModels, Apps, Dataflows): the stored kinds of
/// each. Paginated reports count as reports; workbooks are no Fabric item and are left out.
const ACCESS_GROUPS: &[&[AuditKind]] = &[
    &[AuditKind::Datamart],
    &[AuditKind::Report, AuditKind::PaginatedReport],
    &[AuditKind::Dashboard],
    &[AuditKind::Dataset],
    &[AuditKind::App],
    &[AuditKind::Dataflow],
];

/// The most entities one page of `users/{userId}/access` holds [spec].
const ACCESS_PAGE_MAX: u32 = 10_000;

/// The `type` an entity shows: Fabric's `ItemType` (`SemanticModel` for a dataset).
fn access_type(kind: AuditKind) -> &'static str {
    match kind {
        AuditKind::Dataset => "SemanticModel",
        other => other.as_str(),
    }
}

/// The `type` of an entity read from the access store (items only are asked for).
fn access_kind_type(kind: AccessKind) -> &'static str {
    match kind.item() {
        Some(item) => access_type(item),
        None => kind.as_str(),
    }
}

/// `ItemPermissions` of a right as the kind's enum names it (`ReadReshare`, `Owner`, `All`).
fn right_permissions(right: &str) -> Vec<String> {
    let (read, write, reshare, explore) = match right {
        "Owner" => (true, true, true, false),
        "All" => (true, true, true, true),
        r => (r.contains("Read"), r.contains("Write"), r.contains("Reshare"), r.contains("Explore")),
    };
    [(read, "Read"), (write, "Write"), (reshare, "Reshare"), (explore, "Explore")]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| name.to_string())
        .collect()
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AccessQuery {
    #[serde(rename = "type")]
    item_type: Option<String>,
    #[serde(rename = "continuationToken")]
    continuation_token: Option<String>,
}

/// What a continuation token of the access list is sealed to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct AccessScope {
    user: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    item_type: Option<String>,
}

/// `GET /v1/admin/users/{userId}/access`: the items a user reaches (a workspace role, its own or
/// a group's, or a permission on the item), each once with its strongest right, group by group in
/// the reference's order and by id within a group. Keyset paged: a token holds the group and the
/// last id served, so a page costs the same at any depth.
pub async fn list_access_entities(
    State(state): State<AppState>,
    FabricCaller(caller): FabricCaller,
    headers: HeaderMap,
    uri: Uri,
    FabricPath(user_id): FabricPath<String>,
    FabricQuery(q): FabricQuery<AccessQuery>,
) -> Result<Json<AccessEntityResponse>, FabricError> {
    let user_id = user_id.trim();
    let user = match Uuid::parse_str(user_id) {
        Ok(id) => state.store.get_user(caller.tenant_id, id, true).await?,
        Err(_) => state.store.get_user_by_name(caller.tenant_id, user_id).await?,
    }
    .ok_or_else(|| FabricError::new(StatusCode::NOT_FOUND, "UserNotFound", format!("The user '{user_id}' was not found")))?;
    let asked =
        AccessScope { user: user.id, item_type: q.item_type.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_string) };
    // A token carries its query: `continuationUri` holds only the token, so a type sent with it
    // must be the sealed one, and one left out is the sealed one.
    let (scope, (group, after)) = match q.continuation_token.as_deref() {
        Some(token) => state
            .continuation
            .open::<AccessScope, (usize, String)>(token, op::ADMIN_LIST_ACCESS_ENTITIES.id, &caller, state.clock.now_millis(), |t| {
                t.user == asked.user && (asked.item_type.is_none() || t.item_type == asked.item_type)
            })
            .map_err(bad_token)?,
        None => (asked, (0, String::new())),
    };
    let types = scope.item_type.as_deref();
    if let Some(t) = types {
        let known = ACCESS_GROUPS.iter().flat_map(|g| g.iter()).any(|k| access_type(*k).eq_ignore_ascii_case(t));
        if !known {
            return Err(FabricError::invalid_input(format!("type '{t}' is not an item type this tenant holds")));
        }
    }
    let size = page_size(&state).min(ACCESS_PAGE_MAX);
    let mut entities = Vec::new();
    let mut next = None;
    let (mut group, mut after) = (group, after);
    while group < ACCESS_GROUPS.len() {
        let kinds: Vec<AccessKind> = ACCESS_GROUPS[group]
            .iter()
            .copied()
            .filter(|k| types.is_none_or(|t| access_type(*k).eq_ignore_ascii_case(t)))
            .map(AccessKind::Item)
            .collect();
        if !kinds.is_empty() {
            let want = size - entities.len() as u32;
            let mut page = state.store.artifact_access_page(caller.tenant_id, user.id, &after, &kinds, want + 1).await?;
            if page.len() > want as usize {
                page.truncate(want as usize);
                next = page.last().map(|a| (group, a.id.to_string()));
            }
            entities.extend(page.into_iter().map(|a| AccessEntity {
                id: a.id,
                display_name: Some(a.name),
                item_access_details: ItemAccessDetail {
                    item_type: access_kind_type(a.kind).to_string(),
                    permissions: right_permissions(&a.right),
                    additional_permissions: Vec::new(),
                },
            }));
            if next.is_some() {
                break;
            }
            if entities.len() as u32 == size {
                // Full on a group's last item: the next page starts with the next group.
                if group + 1 < ACCESS_GROUPS.len() {
                    next = Some((group + 1, String::new()));
                }
                break;
            }
        }
        group += 1;
        after = String::new();
    }
    let (continuation_token, continuation_uri) = match next {
        Some(at) => {
            let token = state.continuation.issue(op::ADMIN_LIST_ACCESS_ENTITIES.id, &caller, expiry(&state), &scope, &at);
            let path = format!("/v1/admin/users/{}/access", user.id);
            (Some(percent_encode(&token)), Some(continuation_uri(&headers, &uri, &state, &path, &token)))
        }
        None => (None, None),
    };
    Ok(Json(AccessEntityResponse { access_entities: entities, continuation_token, continuation_uri }))
}
