//! The lists a client reads to find item ids: apps and what they publish (`/apps`), the caller's
//! own items ("My workspace": `/datasets`, `/reports`, `/dashboards`), one dataflow's definition,
//! and the tenant-wide admin item lists (`/admin/apps|reports|datasets|dashboards|dataflows`).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pbi_wire::artifacts::{App, Dashboard, Dataflow, Dataset, InWorkspace, Report};
use pbi_wire::{ODataEntity, ODataList};
use serde::Deserialize;
use uuid::Uuid;

use super::artifacts::{dashboard_json, dataflow_json, dataset_json, iso, report_json, visible_artifact};
use super::error::PbiError;
use super::extract::{Authenticated, PbiPath, PbiQuery};
use super::groups::entity_context;
use super::odata::parse_filter;
use crate::app::AppState;
use crate::domain::filter::WorkspaceField;
use crate::domain::{Artifact, ArtifactKind, Caller, CallerKind};
use crate::store::ItemReach;

const DATASETS: &[ArtifactKind] = &[ArtifactKind::Dataset];
const REPORTS: &[ArtifactKind] = &[ArtifactKind::Report, ArtifactKind::PaginatedReport];
const DASHBOARDS: &[ArtifactKind] = &[ArtifactKind::Dashboard];
const DATAFLOWS: &[ArtifactKind] = &[ArtifactKind::Dataflow];
const APPS: &[ArtifactKind] = &[ArtifactKind::App];

/// The most items one admin list page holds; `$top` above it is refused, and without `$top`
/// a page holds this many.
pub const ADMIN_ITEMS_MAX_TOP: u32 = 5000;

/// `$filter` fields of the admin item lists.
const ADMIN_ITEM_FIELDS: &[(&str, WorkspaceField)] =
    &[("name", WorkspaceField::Name), ("id", WorkspaceField::Id), ("workspaceId", WorkspaceField::WorkspaceId)];

fn upn_of(caller: &Caller) -> Option<&str> {
    match &caller.kind {
        CallerKind::User { upn } => Some(upn),
        CallerKind::App { .. } => None,
    }
}

fn app_json(a: &Artifact) -> App {
    App {
        id: a.id,
        name: a.name.clone(),
        description: a.description.clone(),
        last_update: Some(iso(a.created_at)),
        published_by: a.configured_by.clone(),
    }
}

/// The app APIs refuse service principals ("Service principal authentication isn't supported").
fn users_only(caller: &Caller) -> Result<(), PbiError> {
    match caller.kind {
        CallerKind::User { .. } => Ok(()),
        CallerKind::App { .. } => Err(PbiError::not_authorized("Service principal authentication isn't supported for this API")),
    }
}

fn list<T>(state: &AppState, set: &str, items: &[Artifact], to_json: impl Fn(&Artifact) -> T) -> Json<ODataList<T>> {
    Json(ODataList::new(entity_context(state, set), items.iter().map(to_json).collect()))
}

fn entity<T>(state: &AppState, set: &str, item: T) -> Json<ODataEntity<T>> {
    Json(ODataEntity { odata_context: Some(entity_context(state, &format!("{set}/$entity"))), entity: item })
}

/// `GET /datasets`: the datasets of the caller's "My workspace".
pub async fn get_datasets(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<ODataList<Dataset>>, PbiError> {
    let items =
        state.store.list_artifacts_reached(caller.tenant_id, caller.object_id, upn_of(&caller), DATASETS, ItemReach::MyWorkspace).await?;
    Ok(list(&state, "datasets", &items, dataset_json))
}

/// `GET /reports`: the reports of the caller's "My workspace" and those shared with it.
pub async fn get_reports(State(state): State<AppState>, Authenticated(caller): Authenticated) -> Result<Json<ODataList<Report>>, PbiError> {
    let items = state
        .store
        .list_artifacts_reached(caller.tenant_id, caller.object_id, upn_of(&caller), REPORTS, ItemReach::MyWorkspaceAndShared)
        .await?;
    Ok(list(&state, "reports", &items, |a| report_json(a, &caller)))
}

/// `GET /dashboards`: the dashboards of the caller's "My workspace".
pub async fn get_dashboards(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<ODataList<Dashboard>>, PbiError> {
    let items =
        state.store.list_artifacts_reached(caller.tenant_id, caller.object_id, upn_of(&caller), DASHBOARDS, ItemReach::MyWorkspace).await?;
    Ok(list(&state, "dashboards", &items, dashboard_json))
}

/// `GET /datasets/{datasetId}`: a dataset the caller holds any right on, in any workspace.
pub async fn get_dataset(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath(id): PbiPath<String>,
) -> Result<Json<ODataEntity<Dataset>>, PbiError> {
    let (a, _) = visible_artifact(&state, &caller, None, &id, DATASETS).await?;
    Ok(entity(&state, "datasets", dataset_json(&a)))
}

/// `GET /reports/{reportId}`.
pub async fn get_report(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath(id): PbiPath<Uuid>,
) -> Result<Json<ODataEntity<Report>>, PbiError> {
    let (a, _) = visible_artifact(&state, &caller, None, &id.to_string(), REPORTS).await?;
    Ok(entity(&state, "reports", report_json(&a, &caller)))
}

/// `GET /dashboards/{dashboardId}`.
pub async fn get_dashboard(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath(id): PbiPath<Uuid>,
) -> Result<Json<ODataEntity<Dashboard>>, PbiError> {
    let (a, _) = visible_artifact(&state, &caller, None, &id.to_string(), DASHBOARDS).await?;
    Ok(entity(&state, "dashboards", dashboard_json(&a)))
}

/// `GET /groups/{groupId}/dataflows/{dataflowId}`: the dataflow's definition (its `model.json`,
/// a file in the Swagger). pbi-access keeps no queries, so its entities are empty.
pub async fn get_dataflow(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath((group, dataflow)): PbiPath<(Uuid, Uuid)>,
) -> Result<Response, PbiError> {
    let (a, _) = visible_artifact(&state, &caller, Some(group), &dataflow.to_string(), DATAFLOWS).await?;
    let model = serde_json::json!({
        "name": a.name,
        "description": a.description.clone().unwrap_or_default(),
        "version": "1.0",
        "culture": "en-US",
        "modifiedTime": iso(a.created_at),
        "pbi:mashup": { "fastCombine": false, "allowNativeQueries": false, "queriesMetadata": {}, "document": "" },
        "annotations": [],
        "entities": [],
    });
    Ok(([(header::CONTENT_TYPE, "application/json")], model.to_string()).into_response())
}

/// The app the caller reaches (a permission on it, or a role in its workspace), else 404.
async fn reached_app(state: &AppState, caller: &Caller, app: Uuid) -> Result<Artifact, PbiError> {
    users_only(caller)?;
    let (a, _) = visible_artifact(state, caller, None, &app.to_string(), APPS).await?;
    Ok(a)
}

/// `GET /apps`: the apps the caller can open.
pub async fn get_apps(State(state): State<AppState>, Authenticated(caller): Authenticated) -> Result<Json<ODataList<App>>, PbiError> {
    users_only(&caller)?;
    let items =
        state.store.list_artifacts_reached(caller.tenant_id, caller.object_id, upn_of(&caller), APPS, ItemReach::Everything).await?;
    Ok(list(&state, "apps", &items, app_json))
}

/// `GET /apps/{appId}`.
pub async fn get_app(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath(app): PbiPath<Uuid>,
) -> Result<Json<ODataEntity<App>>, PbiError> {
    let a = reached_app(&state, &caller, app).await?;
    Ok(entity(&state, "apps", app_json(&a)))
}

/// The items of `kinds` an app publishes: those of the workspace it is published from.
async fn app_items(state: &AppState, caller: &Caller, app: Uuid, kinds: &[ArtifactKind]) -> Result<Vec<Artifact>, PbiError> {
    let a = reached_app(state, caller, app).await?;
    Ok(state.store.artifacts_in_workspace(caller.tenant_id, a.workspace_id, kinds).await?)
}

/// One item of an app, else 404.
async fn app_item(state: &AppState, caller: &Caller, app: Uuid, id: Uuid, kinds: &[ArtifactKind]) -> Result<Artifact, PbiError> {
    let what = kinds[0].as_str();
    app_items(state, caller, app, kinds)
        .await?
        .into_iter()
        .find(|a| a.id == id)
        .ok_or_else(|| PbiError::entity_not_found(format!("{what} '{id}' is not in app '{app}'")))
}

/// `GET /apps/{appId}/reports`.
pub async fn get_app_reports(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath(app): PbiPath<Uuid>,
) -> Result<Json<ODataList<Report>>, PbiError> {
    let items = app_items(&state, &caller, app, REPORTS).await?;
    Ok(list(&state, &format!("apps('{app}')/reports"), &items, |a| report_json(a, &caller)))
}

/// `GET /apps/{appId}/reports/{reportId}`.
pub async fn get_app_report(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath((app, report)): PbiPath<(Uuid, Uuid)>,
) -> Result<Json<ODataEntity<Report>>, PbiError> {
    let a = app_item(&state, &caller, app, report, REPORTS).await?;
    Ok(entity(&state, &format!("apps('{app}')/reports"), report_json(&a, &caller)))
}

/// `GET /apps/{appId}/dashboards`.
pub async fn get_app_dashboards(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath(app): PbiPath<Uuid>,
) -> Result<Json<ODataList<Dashboard>>, PbiError> {
    let items = app_items(&state, &caller, app, DASHBOARDS).await?;
    Ok(list(&state, &format!("apps('{app}')/dashboards"), &items, dashboard_json))
}

/// `GET /apps/{appId}/dashboards/{dashboardId}`.
pub async fn get_app_dashboard(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath((app, dashboard)): PbiPath<(Uuid, Uuid)>,
) -> Result<Json<ODataEntity<Dashboard>>, PbiError> {
    let a = app_item(&state, &caller, app, dashboard, DASHBOARDS).await?;
    Ok(entity(&state, &format!("apps('{app}')/dashboards"), dashboard_json(&a)))
}

#[derive(Debug, Deserialize)]
pub struct AdminItemsQuery {
    #[serde(rename = "$filter")]
    filter: Option<String>,
    #[serde(rename = "$top")]
    top: Option<i64>,
    #[serde(rename = "$skip")]
    skip: Option<i64>,
    /// `tiles` on the dashboards (accepted; tiles are not modelled, so none are sent).
    #[serde(rename = "$expand")]
    expand: Option<String>,
}

/// One admin list page: `$top` (1–5000; `required` makes it mandatory), `$skip` (≥ 0) and the
/// parsed `$filter`.
async fn admin_page(
    state: &AppState,
    caller: &Caller,
    q: &AdminItemsQuery,
    kinds: &[ArtifactKind],
    required: bool,
) -> Result<Vec<Artifact>, PbiError> {
    let top = match q.top {
        Some(top) if (1..=ADMIN_ITEMS_MAX_TOP as i64).contains(&top) => top as u32,
        Some(other) => {
            return Err(PbiError::invalid_request(format!("$top must be between 1 and {ADMIN_ITEMS_MAX_TOP}, not {other}")));
        }
        None if required => return Err(PbiError::invalid_request("The query parameter $top is required")),
        None => ADMIN_ITEMS_MAX_TOP,
    };
    let skip = match q.skip {
        None => 0,
        Some(skip @ 0..=2_147_483_647) => skip as u32,
        Some(other) => return Err(PbiError::invalid_request(format!("$skip must be a non-negative 32-bit integer, not {other}"))),
    };
    if let Some(expand) = q.expand.as_deref() {
        if !expand.split(',').all(|e| e.trim().eq_ignore_ascii_case("tiles")) || !kinds.contains(&ArtifactKind::Dashboard) {
            return Err(PbiError::invalid_request(format!("$expand '{expand}' is not supported here")));
        }
    }
    let filter = match q.filter.as_deref() {
        None => None,
        Some(text) => Some(parse_filter(text, ADMIN_ITEM_FIELDS).map_err(|e| PbiError::invalid_request(format!("Invalid $filter: {e}")))?),
    };
    Ok(state.store.list_artifacts_as_admin(caller.tenant_id, kinds, filter.as_ref(), top, skip).await?)
}

fn in_workspace<T>(a: &Artifact, item: T) -> InWorkspace<T> {
    InWorkspace { item, workspace_id: a.workspace_id }
}

/// `GET /admin/apps?$top=`: the tenant's apps.
pub async fn get_apps_as_admin(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiQuery(q): PbiQuery<AdminItemsQuery>,
) -> Result<Json<ODataList<InWorkspace<App>>>, PbiError> {
    let items = admin_page(&state, &caller, &q, APPS, true).await?;
    Ok(list(&state, "apps", &items, |a| in_workspace(a, app_json(a))))
}

/// `GET /admin/reports`.
pub async fn get_reports_as_admin(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiQuery(q): PbiQuery<AdminItemsQuery>,
) -> Result<Json<ODataList<InWorkspace<Report>>>, PbiError> {
    let items = admin_page(&state, &caller, &q, REPORTS, false).await?;
    Ok(list(&state, "reports", &items, |a| in_workspace(a, report_json(a, &caller))))
}

/// `GET /admin/datasets`.
pub async fn get_datasets_as_admin(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiQuery(q): PbiQuery<AdminItemsQuery>,
) -> Result<Json<ODataList<InWorkspace<Dataset>>>, PbiError> {
    let items = admin_page(&state, &caller, &q, DATASETS, false).await?;
    Ok(list(&state, "datasets", &items, |a| in_workspace(a, dataset_json(a))))
}

/// `GET /admin/dashboards`.
pub async fn get_dashboards_as_admin(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiQuery(q): PbiQuery<AdminItemsQuery>,
) -> Result<Json<ODataList<InWorkspace<Dashboard>>>, PbiError> {
    let items = admin_page(&state, &caller, &q, DASHBOARDS, false).await?;
    Ok(list(&state, "dashboards", &items, |a| in_workspace(a, dashboard_json(a))))
}

/// `GET /admin/dataflows`.
pub async fn get_dataflows_as_admin(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiQuery(q): PbiQuery<AdminItemsQuery>,
) -> Result<Json<ODataList<InWorkspace<Dataflow>>>, PbiError> {
    let items = admin_page(&state, &caller, &q, DATAFLOWS, false).await?;
    Ok(list(&state, "dataflows", &items, |a| in_workspace(a, dataflow_json(a))))
}
