//! Artifacts in workspaces (`/groups/{groupId}/datasets|reports|dashboards|dataflows`), the
//! caller's capacities, and the per-artifact user lists of the admin API.

use axum::extract::State;
use axum::Json;
use chrono::{TimeZone, Utc};
use pbi_wire::artifacts::{
    AppUser, AppUserAccessRight, Capacity as CapacityJson, CapacityUser as CapacityUserJson, CapacityUserAccessRight, Dashboard,
    DashboardUser, DashboardUserAccessRight, Dataflow, DataflowUser, DataflowUserAccessRight, Dataset, DatasetUser, DatasetUserAccessRight,
    Report, ReportType, ReportUser, ReportUserAccessRight,
};
use pbi_wire::powerbi::PrincipalType;
use pbi_wire::{ODataEntity, ODataList};
use uuid::Uuid;

use super::error::PbiError;
use super::extract::{Authenticated, PbiPath};
use super::groups::entity_context;
use crate::app::AppState;
use crate::domain::rights::{self, Rights};
use crate::domain::{access_list, Artifact, ArtifactKind, ArtifactUser, Caller, CallerKind, CapacityUser, PrincipalKind};

const DATASETS: &[ArtifactKind] = &[ArtifactKind::Dataset];
const REPORTS: &[ArtifactKind] = &[ArtifactKind::Report, ArtifactKind::PaginatedReport];
const DASHBOARDS: &[ArtifactKind] = &[ArtifactKind::Dashboard];
const DATAFLOWS: &[ArtifactKind] = &[ArtifactKind::Dataflow];
const APPS: &[ArtifactKind] = &[ArtifactKind::App];

pub(super) fn caller_upn(caller: &Caller) -> Option<&str> {
    match &caller.kind {
        CallerKind::User { upn } => Some(upn),
        CallerKind::App { .. } => None,
    }
}

pub(super) fn principal_type(kind: PrincipalKind) -> PrincipalType {
    match kind {
        PrincipalKind::User => PrincipalType::User,
        PrincipalKind::Group => PrincipalType::Group,
        PrincipalKind::App => PrincipalType::App,
    }
}

/// ISO 8601 in UTC with milliseconds, as the service writes `createdDate`.
pub(super) fn iso(millis: i64) -> String {
    Utc.timestamp_millis_opt(millis).single().unwrap_or_default().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

pub(super) fn dataset_json(a: &Artifact) -> Dataset {
    Dataset {
        id: a.id,
        name: a.name.clone(),
        add_rows_api_enabled: false,
        configured_by: a.configured_by.clone(),
        // Nothing is ever refreshed here: no refresh history, no schedule.
        is_refreshable: false,
        is_effective_identity_required: false,
        is_effective_identity_roles_required: false,
        is_on_prem_gateway_required: false,
        target_storage_mode: Some("Abf".into()),
        created_date: Some(iso(a.created_at)),
        description: a.description.clone(),
    }
}

pub(super) fn report_json(a: &Artifact, caller: &Caller) -> Report {
    Report {
        id: a.id,
        report_type: if a.kind == ArtifactKind::PaginatedReport { ReportType::PaginatedReport } else { ReportType::PowerBIReport },
        name: a.name.clone(),
        dataset_id: a.dataset_id.map(|d| d.to_string()),
        description: a.description.clone(),
        is_owned_by_me: caller_upn(caller).is_some_and(|upn| a.is_owned_by(upn)),
    }
}

pub(super) fn dashboard_json(a: &Artifact) -> Dashboard {
    Dashboard { id: a.id, display_name: a.name.clone(), is_read_only: false }
}

pub(super) fn dataflow_json(a: &Artifact) -> Dataflow {
    Dataflow { object_id: a.id, name: a.name.clone(), description: a.description.clone(), configured_by: a.configured_by.clone() }
}

/// The artifacts of the given kinds in a workspace that the caller may see: all of them when it
/// holds a role there (through a group too), else those shared with it directly (or its groups)
/// or that it owns; with neither, the workspace is invisible (404).
async fn visible_in_workspace(
    state: &AppState,
    caller: &Caller,
    workspace: Uuid,
    kinds: &[ArtifactKind],
) -> Result<Vec<Artifact>, PbiError> {
    let role = state.store.role_in_workspace(caller.tenant_id, workspace, caller.object_id).await?;
    let items = state.store.artifacts_in_workspace(caller.tenant_id, workspace, kinds).await?;
    if role.is_some() {
        return Ok(items);
    }
    let shared = state.store.artifacts_shared_with(caller.tenant_id, workspace, caller.object_id, caller_upn(caller)).await?;
    if shared.is_empty() {
        return Err(PbiError::workspace_not_found(workspace));
    }
    Ok(items.into_iter().filter(|a| shared.contains(&a.id)).collect())
}

/// One artifact of the given kinds in `workspace` that the caller may see, else 404.
pub(super) async fn visible_artifact(
    state: &AppState,
    caller: &Caller,
    workspace: Option<Uuid>,
    id: &str,
    kinds: &[ArtifactKind],
) -> Result<(Artifact, Rights), PbiError> {
    let what = kinds.first().map(|k| k.as_str()).unwrap_or("Artifact");
    let not_found = || PbiError::entity_not_found(format!("{what} '{id}' was not found or the caller has no access to it"));
    let Ok(uuid) = Uuid::parse_str(id) else { return Err(not_found()) };
    let artifact = state.store.artifact(caller.tenant_id, uuid).await?.filter(|a| kinds.contains(&a.kind)).ok_or_else(not_found)?;
    if workspace.is_some_and(|ws| ws != artifact.workspace_id) {
        return Err(not_found());
    }
    let held = state.store.rights_on(&artifact, caller.object_id, caller_upn(caller)).await?;
    if held.is_empty() {
        return Err(not_found());
    }
    Ok((artifact, held))
}

/// A `GET /groups/{id}/{set}` list: the workspace's artifacts of `kinds` the caller may see.
async fn list_in_group<T>(
    state: &AppState,
    caller: &Caller,
    group: Uuid,
    kinds: &[ArtifactKind],
    set: &str,
    to_json: impl Fn(&Artifact) -> T,
) -> Result<Json<ODataList<T>>, PbiError> {
    let items = visible_in_workspace(state, caller, group, kinds).await?;
    Ok(Json(ODataList::new(entity_context(state, set), items.iter().map(to_json).collect())))
}

/// A `GET /groups/{id}/{set}/{itemId}` entity: one artifact of `kinds` the caller may see.
async fn one_in_group<T>(
    state: &AppState,
    caller: &Caller,
    group: Uuid,
    id: &str,
    kinds: &[ArtifactKind],
    set: &str,
    to_json: impl Fn(&Artifact) -> T,
) -> Result<Json<ODataEntity<T>>, PbiError> {
    let (a, _) = visible_artifact(state, caller, Some(group), id, kinds).await?;
    Ok(Json(ODataEntity { odata_context: Some(entity_context(state, &format!("{set}/$entity"))), entity: to_json(&a) }))
}

pub async fn get_datasets_in_group(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath(group): PbiPath<Uuid>,
) -> Result<Json<ODataList<Dataset>>, PbiError> {
    list_in_group(&state, &caller, group, DATASETS, "datasets", dataset_json).await
}

pub async fn get_dataset_in_group(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath((group, dataset)): PbiPath<(Uuid, String)>,
) -> Result<Json<ODataEntity<Dataset>>, PbiError> {
    one_in_group(&state, &caller, group, &dataset, DATASETS, "datasets", dataset_json).await
}

pub async fn get_reports_in_group(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath(group): PbiPath<Uuid>,
) -> Result<Json<ODataList<Report>>, PbiError> {
    list_in_group(&state, &caller, group, REPORTS, "reports", |a| report_json(a, &caller)).await
}

pub async fn get_report_in_group(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath((group, report)): PbiPath<(Uuid, Uuid)>,
) -> Result<Json<ODataEntity<Report>>, PbiError> {
    one_in_group(&state, &caller, group, &report.to_string(), REPORTS, "reports", |a| report_json(a, &caller)).await
}

pub async fn get_dashboards_in_group(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath(group): PbiPath<Uuid>,
) -> Result<Json<ODataList<Dashboard>>, PbiError> {
    list_in_group(&state, &caller, group, DASHBOARDS, "dashboards", dashboard_json).await
}

pub async fn get_dashboard_in_group(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath((group, dashboard)): PbiPath<(Uuid, Uuid)>,
) -> Result<Json<ODataEntity<Dashboard>>, PbiError> {
    one_in_group(&state, &caller, group, &dashboard.to_string(), DASHBOARDS, "dashboards", dashboard_json).await
}

pub async fn get_dataflows(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath(group): PbiPath<Uuid>,
) -> Result<Json<ODataList<Dataflow>>, PbiError> {
    list_in_group(&state, &caller, group, DATAFLOWS, "dataflows", dataflow_json).await
}

/// `GET /capacities`: the capacities the caller holds a right on (directly or through a group).
pub async fn get_capacities(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<ODataList<CapacityJson>>, PbiError> {
    let mut out = Vec::new();
    for (capacity, right) in state.store.capacities_of(caller.tenant_id, caller.object_id).await? {
        let admins = state
            .store
            .capacity_users(&capacity)
            .await?
            .iter()
            .filter(|u| u.right == crate::domain::CapacityRight::Admin)
            .map(CapacityUser::identifier)
            .collect();
        out.push(CapacityJson {
            id: capacity.id,
            display_name: capacity.display_name,
            admins,
            sku: capacity.sku,
            state: capacity.state,
            capacity_user_access_right: right.as_str().parse().unwrap_or(CapacityUserAccessRight::None),
            region: capacity.region,
        });
    }
    Ok(Json(ODataList::new(entity_context(&state, "capacities"), out)))
}

/// The principals with access to an artifact of the given kinds, for the admin lists: the
/// workspace's role assignments (their rights derived from the role) and direct permissions.
async fn access_as_admin(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    kinds: &[ArtifactKind],
) -> Result<(Artifact, Vec<ArtifactUser>), PbiError> {
    let what = kinds.first().map(|k| k.as_str()).unwrap_or("Artifact");
    let artifact = state
        .store
        .artifact(caller.tenant_id, id)
        .await?
        .filter(|a| kinds.contains(&a.kind))
        .ok_or_else(|| PbiError::entity_not_found(format!("{what} '{id}' was not found")))?;
    let members = state.store.members(caller.tenant_id, artifact.workspace_id).await?;
    let direct = state.store.artifact_users(&artifact).await?;
    let users = access_list(artifact.kind, &members, &direct);
    Ok((artifact, users))
}

/// The fields every admin user list shares, then the kind's right by name.
struct AdminUser {
    identifier: String,
    principal_type: PrincipalType,
    right: &'static str,
    email_address: Option<String>,
    display_name: Option<String>,
    graph_id: Option<String>,
    user_type: Option<String>,
}

fn admin_user(kind: ArtifactKind, u: &ArtifactUser) -> AdminUser {
    AdminUser {
        identifier: u.identifier(),
        principal_type: principal_type(u.principal.kind),
        right: rights::name(kind, u.rights).unwrap_or("None"),
        email_address: match u.principal.kind {
            PrincipalKind::User => u.mail.clone().or_else(|| u.upn.clone()),
            _ => None,
        },
        display_name: u.display_name.clone(),
        graph_id: Some(u.principal.object_id.to_string()),
        user_type: u.user_type.map(|t| t.as_str().to_string()),
    }
}

macro_rules! admin_users_handler {
    ($(#[$doc:meta])* $fn:ident, $kinds:expr, $item:ident, $field:ident: $right:ty, $fragment:literal, user_type: $with_user_type:literal) => {
        $(#[$doc])*
        pub async fn $fn(
            State(state): State<AppState>,
            Authenticated(caller): Authenticated,
            PbiPath(id): PbiPath<Uuid>,
        ) -> Result<Json<ODataList<$item>>, PbiError> {
            let (artifact, users) = access_as_admin(&state, &caller, id, $kinds).await?;
            let value = users
                .iter()
                .map(|u| {
                    let a = admin_user(artifact.kind, u);
                    $item {
                        identifier: a.identifier,
                        principal_type: a.principal_type,
                        // Stored rights always have a name in the kind's enum.
                        $field: a.right.parse::<$right>().unwrap_or(<$right>::None),
                        email_address: a.email_address,
                        display_name: a.display_name,
                        graph_id: a.graph_id,
                        user_type: if $with_user_type { a.user_type } else { None },
                    }
                })
                .collect();
            Ok(Json(ODataList::new(entity_context(&state, $fragment), value)))
        }
    };
}

admin_users_handler!(
    /// `GET /admin/reports/{reportId}/users` (paginated reports too).
    get_report_users_as_admin, REPORTS, ReportUser, report_user_access_right: ReportUserAccessRight, "reportUsers", user_type: true
);
admin_users_handler!(
    /// `GET /admin/dashboards/{dashboardId}/users`.
    get_dashboard_users_as_admin, DASHBOARDS, DashboardUser, dashboard_user_access_right: DashboardUserAccessRight, "dashboardUsers", user_type: true
);
admin_users_handler!(
    /// `GET /admin/datasets/{datasetId}/users`.
    get_dataset_users_as_admin, DATASETS, DatasetUser, dataset_user_access_right: DatasetUserAccessRight, "datasetUsers", user_type: true
);
admin_users_handler!(
    /// `GET /admin/dataflows/{dataflowId}/users`.
    get_dataflow_users_as_admin, DATAFLOWS, DataflowUser, dataflow_user_access_right: DataflowUserAccessRight, "dataflowUsers", user_type: true
);
admin_users_handler!(
    /// `GET /admin/apps/{appId}/users`.
    get_app_users_as_admin, APPS, AppUser, app_user_access_right: AppUserAccessRight, "appUsers", user_type: false
);

/// `GET /admin/capacities/{capacityId}/users`: the capacity's admins and contributors.
pub async fn get_capacity_users_as_admin(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath(id): PbiPath<Uuid>,
) -> Result<Json<ODataList<CapacityUserJson>>, PbiError> {
    let capacity = state
        .store
        .capacity(caller.tenant_id, id)
        .await?
        .ok_or_else(|| PbiError::entity_not_found(format!("Capacity '{id}' was not found")))?;
    let value = state
        .store
        .capacity_users(&capacity)
        .await?
        .iter()
        .map(|u| CapacityUserJson {
            identifier: u.identifier(),
            principal_type: principal_type(u.principal.kind),
            capacity_user_access_right: u.right.as_str().parse().unwrap_or(CapacityUserAccessRight::None),
            email_address: match u.principal.kind {
                PrincipalKind::User => u.mail.clone().or_else(|| u.upn.clone()),
                _ => None,
            },
            display_name: u.display_name.clone(),
            graph_id: Some(u.principal.object_id.to_string()),
            user_type: u.user_type.map(|t| t.as_str().to_string()),
        })
        .collect();
    Ok(Json(ODataList::new(entity_context(&state, "capacityUsers"), value)))
}
