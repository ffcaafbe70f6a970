//! The scanner (WorkspaceInfo) API: request a scan of up to 100 workspaces, poll its status,
//! fetch its result, and list the workspaces modified since a time.
//!
//! A scan's result is computed when it is requested and stored with it. Its status then follows
//! the injected clock: `NotStarted` for the first half of `audit.scan_duration_ms`, `Running`
//! for the second half, then `Succeeded`; the result stays available for
//! `audit.scan_result_ttl_secs`. A tenant may have `audit.max_concurrent_scans` (16) scans not yet
//! succeeded; one more is 429 with `Retry-After`.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Timelike};
use pbi_wire::admin::{GroupType, ModifiedWorkspace, RequiredWorkspaces, ScanArtifact, ScanRequest, WorkspaceInfo, WorkspaceInfoResponse};
use pbi_wire::powerbi::GroupUser;
use serde::Deserialize;
use uuid::Uuid;

use super::error::PbiError;
use super::extract::{Authenticated, PbiJson, PbiPath, PbiQuery};
use super::groups::group_user_json;
use crate::app::AppState;
use crate::domain::audit::{right_rank, ArtifactRecord, ScanRecord};
use crate::domain::ArtifactKind;
use crate::domain::{Member, PrincipalRef};

const MAX_WORKSPACES: usize = 100;
const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

/// `true`/`false` in any case (Python's `requests` sends `True`).
fn flag(name: &str, value: Option<&str>) -> Result<bool, PbiError> {
    match value.map(str::trim) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(PbiError::invalid_request(format!("{name} must be true or false, not '{v}'"))),
    }
}

/// `2020-06-15T16:46:28.0487687Z`, as the service writes scan times.
fn scan_time(ms: i64) -> String {
    let t = DateTime::from_timestamp_millis(ms).unwrap_or_default();
    format!("{}.{:07}Z", t.format("%Y-%m-%dT%H:%M:%S"), t.nanosecond() / 100)
}

fn iso(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).unwrap_or_default().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn url(state: &AppState, what: &str, id: Uuid) -> String {
    format!("{}/v1.0/myorg/admin/workspaces/{what}/{id}", state.public_url)
}

fn with_location(mut response: Response, location: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn too_many_scans(state: &AppState, retry_after_ms: i64) -> Response {
    let limit = state.config.audit.max_concurrent_scans;
    let mut response = PbiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        format!("The tenant already has {limit} scans that have not succeeded; wait for one to finish"),
    )
    .into_response();
    let seconds = (retry_after_ms.max(0) + 999) / 1000;
    if let Ok(value) = HeaderValue::from_str(&seconds.max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

#[derive(Debug, Deserialize)]
pub struct ScanFlags {
    lineage: Option<String>,
    #[serde(rename = "datasourceDetails")]
    datasource_details: Option<String>,
    #[serde(rename = "datasetSchema")]
    dataset_schema: Option<String>,
    #[serde(rename = "datasetExpressions")]
    dataset_expressions: Option<String>,
    #[serde(rename = "getArtifactUsers")]
    get_artifact_users: Option<String>,
}

/// A user of an artifact in a scan result: the admin `GroupUser` fields with the kind's own
/// access-right field (`reportUserAccessRight`, …) in place of `groupUserAccessRight`.
fn artifact_user(member: &Member, right_field: &str, right: &str) -> serde_json::Value {
    let mut value = serde_json::to_value(group_user_json(member, true)).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.remove("groupUserAccessRight");
        object.insert(right_field.to_string(), right.into());
    }
    value
}

fn right_field(kind: ArtifactKind) -> &'static str {
    match kind {
        ArtifactKind::Report | ArtifactKind::PaginatedReport => "reportUserAccessRight",
        ArtifactKind::Dashboard => "dashboardUserAccessRight",
        ArtifactKind::Dataset => "datasetUserAccessRight",
        ArtifactKind::Dataflow => "dataflowUserAccessRight",
        ArtifactKind::Datamart => "datamartUserAccessRight",
        ArtifactKind::App => "appUserAccessRight",
        _ => "accessRight",
    }
}

/// Everyone with access to `artifact`: the workspace's principals with the right their role
/// gives, and the holders of direct permissions; each once (in the order first met), with the
/// strongest right.
fn artifact_users(artifact: &ArtifactRecord, members: &[Member], grants: &[(&Member, &str)]) -> Vec<serde_json::Value> {
    let mut best: Vec<(&Member, String)> = Vec::new();
    let mut index: HashMap<PrincipalRef, usize> = HashMap::new();
    let by_role = members.iter().filter(|m| m.profile_id.is_none()).map(|m| (m, artifact.kind.right_from_role(m.role).to_string()));
    let by_grant = grants.iter().map(|(m, right)| (*m, right.to_string()));
    for (member, right) in by_role.chain(by_grant) {
        match index.get(&member.principal) {
            Some(&i) if right_rank(&right) > right_rank(&best[i].1) => best[i].1 = right,
            Some(_) => {}
            None => {
                index.insert(member.principal, best.len());
                best.push((member, right));
            }
        }
    }
    let field = right_field(artifact.kind);
    best.iter().map(|(m, right)| artifact_user(m, field, right)).collect()
}

/// The result of a scan of `ids`, as it is when called.
async fn scan_result(state: &AppState, tenant: Uuid, ids: &[Uuid], with_users: bool) -> Result<WorkspaceInfoResponse, PbiError> {
    let workspaces = state.store.admin_workspaces_by_id(tenant, ids).await?;
    let artifacts = state.store.artifacts_in(tenant, ids, &ArtifactKind::ALL).await?;
    let (views, grants) = if with_users {
        let active: Vec<Uuid> = workspaces.iter().filter(|w| w.workspace.state != "Deleted").map(|w| w.workspace.id).collect();
        (state.store.workspace_views(tenant, &active).await?, state.store.artifact_grants(tenant, ids).await?)
    } else {
        (HashMap::new(), Vec::new())
    };
    let mut grants_of: HashMap<Uuid, Vec<(&Member, &str)>> = HashMap::new();
    for g in &grants {
        grants_of.entry(g.artifact_id).or_default().push((&g.member, g.right.as_str()));
    }
    let mut by_workspace: HashMap<Uuid, Vec<&ArtifactRecord>> = HashMap::new();
    for a in &artifacts {
        by_workspace.entry(a.workspace_id).or_default().push(a);
    }
    // Keep the order the client asked for.
    let position: HashMap<Uuid, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let mut workspaces = workspaces;
    workspaces.sort_by_key(|w| position.get(&w.workspace.id).copied().unwrap_or(usize::MAX));
    let mut out = Vec::with_capacity(workspaces.len());
    for w in &workspaces {
        let ws = &w.workspace;
        let members: &[Member] = views.get(&ws.id).map(|v| v.members.as_slice()).unwrap_or(&[]);
        let mut info = WorkspaceInfo {
            id: ws.id,
            name: ws.name.clone(),
            description: ws.description.clone(),
            kind: Some(GroupType::parse(&ws.kind)),
            state: ws.state.clone(),
            is_on_dedicated_capacity: ws.capacity_id.is_some(),
            capacity_id: ws.capacity_id,
            default_dataset_storage_format: ws.capacity_id.map(|_| "Small".into()),
            reports: Vec::new(),
            dashboards: Vec::new(),
            datasets: Vec::new(),
            dataflows: Vec::new(),
            datamarts: Vec::new(),
            users: with_users.then(|| members.iter().map(|m| group_user_json(m, true)).collect::<Vec<GroupUser>>()),
            extra: serde_json::Map::new(),
        };
        for a in by_workspace.get(&ws.id).map(Vec::as_slice).unwrap_or(&[]) {
            let users = with_users.then(|| artifact_users(a, members, grants_of.get(&a.id).map(Vec::as_slice).unwrap_or(&[])));
            let base = ScanArtifact {
                id: Some(a.id),
                object_id: None,
                name: Some(a.name.clone()),
                display_name: None,
                description: a.description.clone(),
                report_type: None,
                dataset_id: None,
                configured_by: None,
                created_date_time: None,
                modified_date_time: None,
                users,
                extra: serde_json::Map::new(),
            };
            match a.kind {
                ArtifactKind::Report | ArtifactKind::PaginatedReport => info.reports.push(ScanArtifact {
                    report_type: Some(if a.kind == ArtifactKind::PaginatedReport { "PaginatedReport" } else { "PowerBIReport" }.into()),
                    dataset_id: a.dataset_id.map(|d| d.to_string()),
                    created_date_time: Some(iso(a.created_at)),
                    modified_date_time: Some(iso(a.modified_at)),
                    ..base
                }),
                ArtifactKind::Dashboard => {
                    info.dashboards.push(ScanArtifact { name: None, display_name: Some(a.name.clone()), description: None, ..base })
                }
                ArtifactKind::Dataset => info.datasets.push(ScanArtifact { configured_by: a.configured_by.clone(), ..base }),
                ArtifactKind::Dataflow => info.dataflows.push(ScanArtifact {
                    id: None,
                    object_id: Some(a.id),
                    configured_by: a.configured_by.clone(),
                    modified_date_time: Some(iso(a.modified_at)),
                    ..base
                }),
                ArtifactKind::Datamart => info.datamarts.push(ScanArtifact {
                    configured_by: a.configured_by.clone(),
                    modified_date_time: Some(iso(a.modified_at)),
                    ..base
                }),
                // Workbooks and apps are not part of WorkspaceInfo.
                _ => {}
            }
        }
        out.push(info);
    }
    Ok(WorkspaceInfoResponse { workspaces: out, datasource_instances: Vec::new(), misconfigured_datasource_instances: Vec::new() })
}

pub async fn post_workspace_info(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiQuery(flags): PbiQuery<ScanFlags>,
    PbiJson(body): PbiJson<RequiredWorkspaces>,
) -> Result<Response, PbiError> {
    let with_users = flag("getArtifactUsers", flags.get_artifact_users.as_deref())?;
    let request = serde_json::json!({
        "workspaces": body.workspaces,
        "lineage": flag("lineage", flags.lineage.as_deref())?,
        "datasourceDetails": flag("datasourceDetails", flags.datasource_details.as_deref())?,
        "datasetSchema": flag("datasetSchema", flags.dataset_schema.as_deref())?,
        "datasetExpressions": flag("datasetExpressions", flags.dataset_expressions.as_deref())?,
        "getArtifactUsers": with_users,
    });
    let mut ids = body.workspaces.clone();
    ids.dedup();
    if ids.is_empty() || ids.len() > MAX_WORKSPACES {
        return Err(PbiError::invalid_request(format!(
            "workspaces must list between 1 and {MAX_WORKSPACES} workspace ids, not {}",
            body.workspaces.len()
        )));
    }
    let audit = &state.config.audit;
    let now = state.clock.now_millis();
    let (pending, first_ready) = state.store.pending_scans(caller.tenant_id, now).await?;
    if pending >= audit.max_concurrent_scans {
        return Ok(too_many_scans(&state, first_ready.unwrap_or(now) - now));
    }
    let result = scan_result(&state, caller.tenant_id, &ids, with_users).await?;
    let scan = ScanRecord {
        id: Uuid::new_v4(),
        created_at: now,
        ready_at: now + audit.scan_duration_ms as i64,
        result_json: serde_json::to_string(&result).map_err(|_| PbiError::internal())?,
    };
    let expired_before = now - audit.scan_result_ttl_secs as i64 * 1000;
    let stored = state
        .store
        .insert_scan(caller.tenant_id, &scan, caller.object_id, &request.to_string(), audit.max_concurrent_scans, expired_before)
        .await?;
    if !stored {
        let (_, first_ready) = state.store.pending_scans(caller.tenant_id, now).await?;
        return Ok(too_many_scans(&state, first_ready.unwrap_or(now) - now));
    }
    let body = ScanRequest { id: scan.id, created_date_time: scan_time(now), status: scan.status(now).to_string(), error: None };
    let response = (StatusCode::ACCEPTED, axum::Json(body)).into_response();
    Ok(with_location(response, &url(&state, "scanStatus", scan.id)))
}

/// A scan of the caller's tenant whose result has not expired.
async fn live_scan(state: &AppState, tenant: Uuid, id: Uuid, now: i64) -> Result<ScanRecord, PbiError> {
    let ttl = state.config.audit.scan_result_ttl_secs as i64 * 1000;
    match state.store.get_scan(tenant, id).await? {
        Some(scan) if now <= scan.ready_at + ttl => Ok(scan),
        Some(_) => Err(PbiError::entity_not_found(format!("Scan '{id}' has expired: results are kept 24 hours"))),
        None => Err(PbiError::entity_not_found(format!("Scan '{id}' was not found"))),
    }
}

pub async fn get_scan_status(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath(id): PbiPath<Uuid>,
) -> Result<Response, PbiError> {
    let now = state.clock.now_millis();
    let scan = live_scan(&state, caller.tenant_id, id, now).await?;
    let status = scan.status(now);
    let body = ScanRequest { id: scan.id, created_date_time: scan_time(scan.created_at), status: status.to_string(), error: None };
    let response = axum::Json(body).into_response();
    Ok(if status == "Succeeded" { with_location(response, &url(&state, "scanResult", scan.id)) } else { response })
}

pub async fn get_scan_result(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath(id): PbiPath<Uuid>,
) -> Result<Response, PbiError> {
    let now = state.clock.now_millis();
    let scan = live_scan(&state, caller.tenant_id, id, now).await?;
    let status = scan.status(now);
    if status != "Succeeded" {
        return Err(PbiError::new(
            StatusCode::BAD_REQUEST,
            "ScanNotCompleted",
            format!("Scan '{id}' is {status}: poll scanStatus until it has Succeeded"),
        ));
    }
    Ok(([(header::CONTENT_TYPE, "application/json; charset=utf-8")], scan.result_json).into_response())
}

#[derive(Debug, Deserialize)]
pub struct ModifiedQuery {
    #[serde(rename = "modifiedSince")]
    modified_since: Option<String>,
    #[serde(rename = "excludePersonalWorkspaces")]
    exclude_personal: Option<String>,
    #[serde(rename = "excludeInActiveWorkspaces")]
    exclude_inactive: Option<String>,
}

pub async fn get_modified_workspaces(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiQuery(q): PbiQuery<ModifiedQuery>,
) -> Result<axum::Json<Vec<ModifiedWorkspace>>, PbiError> {
    let now = state.clock.now_millis();
    let since = match q.modified_since.as_deref() {
        None => None,
        Some(text) => {
            let since = super::admin::parse_window_time("modifiedSince", text)?.timestamp_millis();
            if since > now - 30 * MINUTE_MS || since < now - 30 * DAY_MS {
                return Err(PbiError::invalid_request("modifiedSince must be between 30 days and 30 minutes before now"));
            }
            Some(since)
        }
    };
    let exclude_personal = flag("excludePersonalWorkspaces", q.exclude_personal.as_deref())?;
    let exclude_inactive = flag("excludeInActiveWorkspaces", q.exclude_inactive.as_deref())?;
    let ids = state.store.modified_workspaces(caller.tenant_id, since, exclude_personal, exclude_inactive).await?;
    Ok(axum::Json(ids.into_iter().map(|id| ModifiedWorkspace { id }).collect()))
}
