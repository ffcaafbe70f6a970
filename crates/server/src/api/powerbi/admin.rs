//! The admin audit reads: every workspace (`GET /admin/groups`), what a user reaches
//! (`…/users/{userId}/artifactAccess`) and is subscribed to (`…/subscriptions`), and the
//! activity log (`GET /admin/activityevents`). The paged ones use continuation tokens (see
//! `continuation`).

use std::collections::HashMap;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, NaiveDateTime, Utc};
use pbi_wire::admin::{
    AdminDashboard, AdminDataflow, AdminDataset, AdminGroup, AdminReport, ArtifactAccessEntities, ArtifactAccessEntry,
    ArtifactAccessResponse, ArtifactType, GroupType, Subscription, SubscriptionEntities, SubscriptionsByUserResponse, Workbook,
};
use pbi_wire::powerbi::GroupUser;
use serde::{Deserialize, Serialize};
use serde_json::Map;
use uuid::Uuid;

use super::continuation::percent_encode;
use super::error::PbiError;
use super::extract::{Authenticated, PbiPath, PbiQuery};
use super::groups::{admin_group_user_json, license_types, plain_text};
use super::odata::{parse_activity_filter, parse_admin_filter};
use super::page_cache::{Chunks, PageKey};
use crate::app::AppState;
use crate::domain::audit::{AccessKind, AdminWorkspace, ArtifactKind, ArtifactRecord};
use crate::domain::filter::{ActivityCondition, WorkspaceFilter};
use crate::domain::identity::DirUser;
use crate::domain::{Caller, PrincipalKind};
use crate::store::WorkspaceView;

const ARTIFACT_ACCESS: &str = "artifactAccess";
const SUBSCRIPTIONS: &str = "subscriptions";
const ACTIVITY_EVENTS: &str = "activityevents";
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

fn json_response(body: impl Into<axum::body::Body>) -> Response {
    ([(header::CONTENT_TYPE, "application/json; charset=utf-8")], body.into()).into_response()
}

/// ISO 8601 as the service writes artifact times (`2020-06-16T08:22:49.14`), in UTC.
fn iso(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).unwrap_or_default().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

// ---------------------------------------------------------------------------------------------
// GET /admin/groups

#[derive(Debug, Deserialize)]
pub struct AdminGroupsQuery {
    #[serde(rename = "$top")]
    top: Option<i64>,
    #[serde(rename = "$skip")]
    skip: Option<i64>,
    #[serde(rename = "$filter")]
    filter: Option<String>,
    #[serde(rename = "$expand")]
    expand: Option<String>,
}

/// What `$expand` asks for.
#[derive(Debug, Default, Clone, Copy)]
struct Expand {
    users: bool,
    reports: bool,
    dashboards: bool,
    datasets: bool,
    dataflows: bool,
    workbooks: bool,
}

impl Expand {
    fn parse(text: Option<&str>) -> Result<Expand, PbiError> {
        let mut out = Expand::default();
        let Some(text) = text else { return Ok(out) };
        for part in text.split(',').map(str::trim) {
            let flag = match part.to_ascii_lowercase().as_str() {
                "users" => &mut out.users,
                "reports" => &mut out.reports,
                "dashboards" => &mut out.dashboards,
                "datasets" => &mut out.datasets,
                "dataflows" => &mut out.dataflows,
                "workbooks" => &mut out.workbooks,
                _ => {
                    return Err(PbiError::invalid_request(format!(
                        "Invalid $expand: '{part}' is not one of users, reports, dashboards, datasets, dataflows, workbooks"
                    )))
                }
            };
            *flag = true;
        }
        Ok(out)
    }

    fn kinds(self) -> Vec<ArtifactKind> {
        let mut kinds = Vec::new();
        if self.reports {
            kinds.extend([ArtifactKind::Report, ArtifactKind::PaginatedReport]);
        }
        for (on, kind) in [
            (self.dashboards, ArtifactKind::Dashboard),
            (self.datasets, ArtifactKind::Dataset),
            (self.dataflows, ArtifactKind::Dataflow),
            (self.workbooks, ArtifactKind::Workbook),
        ] {
            if on {
                kinds.push(kind);
            }
        }
        kinds
    }
}

fn admin_group_json(w: &AdminWorkspace) -> AdminGroup {
    let ws = &w.workspace;
    AdminGroup {
        id: ws.id,
        name: ws.name.clone(),
        is_read_only: ws.is_read_only,
        is_on_dedicated_capacity: ws.capacity_id.is_some(),
        capacity_id: ws.capacity_id,
        default_dataset_storage_format: ws.capacity_id.map(|_| "Small".to_string()),
        description: ws.description.clone(),
        kind: Some(GroupType::parse(&ws.kind)),
        state: Some(ws.state.clone()),
        has_workspace_level_settings: false,
        users: None,
        reports: None,
        dashboards: None,
        datasets: None,
        dataflows: None,
        workbooks: None,
        dataflow_storage_id: None,
        log_analytics_workspace: None,
        pipeline_id: None,
        capacity_migration_status: None,
    }
}

/// Put the artifacts of one workspace into the lists `$expand` asked for.
fn expand_artifacts(group: &mut AdminGroup, expand: Expand, artifacts: &[&ArtifactRecord]) {
    let of = |kinds: &'static [ArtifactKind]| artifacts.iter().filter(move |a| kinds.contains(&a.kind));
    if expand.reports {
        group.reports = Some(
            of(&[ArtifactKind::Report, ArtifactKind::PaginatedReport])
                .map(|a| AdminReport {
                    id: a.id,
                    name: a.name.clone(),
                    report_type: Some(if a.kind == ArtifactKind::PaginatedReport { "PaginatedReport" } else { "PowerBIReport" }.into()),
                    dataset_id: a.dataset_id.map(|d| d.to_string()),
                    description: a.description.clone(),
                    created_date_time: Some(iso(a.created_at)),
                    modified_date_time: Some(iso(a.modified_at)),
                    workspace_id: Some(a.workspace_id),
                    extra: Map::new(),
                })
                .collect(),
        );
    }
    if expand.dashboards {
        group.dashboards = Some(
            of(&[ArtifactKind::Dashboard])
                .map(|a| AdminDashboard {
                    id: a.id,
                    display_name: a.name.clone(),
                    is_read_only: false,
                    workspace_id: Some(a.workspace_id),
                    extra: Map::new(),
                })
                .collect(),
        );
    }
    if expand.datasets {
        group.datasets = Some(
            of(&[ArtifactKind::Dataset])
                .map(|a| AdminDataset {
                    id: a.id.to_string(),
                    name: a.name.clone(),
                    configured_by: a.configured_by.clone(),
                    description: a.description.clone(),
                    created_date: Some(iso(a.created_at)),
                    target_storage_mode: Some("Abf".into()),
                    workspace_id: Some(a.workspace_id),
                    extra: Map::new(),
                })
                .collect(),
        );
    }
    if expand.dataflows {
        group.dataflows = Some(
            of(&[ArtifactKind::Dataflow])
                .map(|a| AdminDataflow {
                    object_id: a.id,
                    name: a.name.clone(),
                    description: a.description.clone(),
                    configured_by: a.configured_by.clone(),
                    workspace_id: Some(a.workspace_id),
                    extra: Map::new(),
                })
                .collect(),
        );
    }
    if expand.workbooks {
        group.workbooks = Some(
            of(&[ArtifactKind::Workbook])
                .map(|a| Workbook { name: a.name.clone(), dataset_id: a.dataset_id.map(|d| d.to_string()) })
                .collect(),
        );
    }
}

pub async fn get_groups_as_admin(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiQuery(q): PbiQuery<AdminGroupsQuery>,
) -> Result<Response, PbiError> {
    let top = match q.top {
        Some(top @ 1..=5000) => top as u32,
        Some(other) => return Err(PbiError::invalid_request(format!("$top must be between 1 and 5000, not {other}"))),
        None => return Err(PbiError::invalid_request("$top is required: give a value between 1 and 5000")),
    };
    let skip = match q.skip {
        None => 0,
        Some(skip @ 0..=2_147_483_647) => skip as u32,
        Some(other) => return Err(PbiError::invalid_request(format!("$skip must be a non-negative 32-bit integer, not {other}"))),
    };
    let filter =
        q.filter.as_deref().map(parse_admin_filter).transpose().map_err(|e| PbiError::invalid_request(format!("Invalid $filter: {e}")))?;
    let expand = Expand::parse(q.expand.as_deref())?;
    // Exact page cache: the generation is read before any of the page's data (see page_cache).
    let stamp = state.store.cache_stamp(caller.tenant_id).await?;
    let generation = (stamp.generations.generation, stamp.local);
    let key = PageKey { tenant: caller.tenant_id, query: format!("{top}|{skip}|{expand:?}|{}", q.filter.as_deref().unwrap_or("\u{0}")) };
    // Users' `licenseType` changes with time alone while licences propagate: such pages are not kept.
    let cacheable = stamp.cacheable && (!expand.users || state.config.licenses.propagation_delay().is_zero());
    if cacheable {
        if let Some(body) = state.admin_pages.get(&key, generation) {
            return Ok(json_response(body.into_body()));
        }
    }
    let page = PageRequest { tenant: caller.tenant_id, filter: filter.as_ref(), top, skip, expand, directory: stamp.generations.directory };
    let body = render_admin_groups(&state, page).await?;
    if cacheable {
        state.admin_pages.put(key, generation, body.clone());
    }
    Ok(json_response(body.into_body()))
}

/// One `GET /admin/groups` page to render.
struct PageRequest<'a> {
    tenant: Uuid,
    filter: Option<&'a WorkspaceFilter>,
    top: u32,
    skip: u32,
    expand: Expand,
    /// The tenant's directory generation, read before any of the page's data.
    directory: i64,
}

/// The rendered admin users (a JSON array) of each active workspace of a page, rendered once per
/// view the store keeps (see `Store::workspace_views_at`): after a role change, only that
/// workspace's members are read and rendered again.
async fn admin_users_of(
    state: &AppState,
    tenant: Uuid,
    workspaces: &[AdminWorkspace],
    directory: i64,
) -> Result<HashMap<Uuid, Bytes>, PbiError> {
    let active: Vec<(Uuid, i64)> =
        workspaces.iter().filter(|w| w.workspace.state != "Deleted").map(|w| (w.workspace.id, w.version)).collect();
    let views = state.store.workspace_views_at(tenant, &active, directory).await?;
    // `licenseType` as GetGroupUsersAsAdmin shows it. A rendering is kept with its view only when
    // licences count at once (no propagation delay): licence changes are directory writes, which
    // replace the views, but a delay would make a kept rendering go stale with time alone.
    let keep = state.config.licenses.propagation_delay().is_zero();
    let users: Vec<Uuid> = views
        .iter()
        .filter(|(_, view)| !keep || view.rendered_admin.get().is_none())
        .flat_map(|(_, view)| view.members.iter())
        .filter(|m| m.principal.kind == PrincipalKind::User)
        .map(|m| m.principal.object_id)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let licenses = if users.is_empty() { HashMap::new() } else { license_types(state, tenant, &users).await? };
    let render = |view: &WorkspaceView| -> Bytes {
        let users: Vec<GroupUser> = view.members.iter().map(|m| admin_group_user_json(m, &licenses)).collect();
        serde_json::to_vec(&users).unwrap_or_else(|_| b"[]".to_vec()).into()
    };
    Ok(views
        .into_iter()
        .map(|(id, view)| (id, if keep { view.rendered_admin.get_or_init(|| render(&view)).clone() } else { render(&view) }))
        .collect())
}

/// The body of one `GET /admin/groups` page.
async fn render_admin_groups(state: &AppState, page: PageRequest<'_>) -> Result<Chunks, PbiError> {
    let PageRequest { tenant, filter, top, skip, expand, directory } = page;
    let workspaces = state.store.admin_workspaces(tenant, filter, top, skip).await?;
    let ids: Vec<Uuid> = workspaces.iter().map(|w| w.workspace.id).collect();
    let kinds = expand.kinds();
    let mut artifacts: HashMap<Uuid, Vec<ArtifactRecord>> = HashMap::new();
    if !kinds.is_empty() {
        for a in state.store.artifacts_in(tenant, &ids, &kinds).await? {
            artifacts.entry(a.workspace_id).or_default().push(a);
        }
    }
    let users = if expand.users { admin_users_of(state, tenant, &workspaces, directory).await? } else { HashMap::new() };
    // The body is assembled by hand so that each workspace's users, rendered once per version
    // of the workspace (see `admin_users_of`), are neither serialised again nor copied: the
    // page is the pieces between them, with the users' own buffers in between (`Chunks`).
    let context = format!("{}/v1.0/myorg/$metadata#groups", state.public_url);
    let mut parts = Vec::with_capacity(2 * workspaces.len() + 1);
    let mut body = bytes::BytesMut::with_capacity(256 + workspaces.len() * 512);
    body.extend_from_slice(b"{\"@odata.context\":");
    serde_json::to_writer(bytes::BufMut::writer(&mut body), &context).map_err(|_| PbiError::internal())?;
    body.extend_from_slice(b",\"value\":[");
    for (i, w) in workspaces.iter().enumerate() {
        if i > 0 {
            body.extend_from_slice(b",");
        }
        let mut group = admin_group_json(w);
        if !kinds.is_empty() {
            let mine: Vec<&ArtifactRecord> = artifacts.get(&w.workspace.id).map(|v| v.iter().collect()).unwrap_or_default();
            expand_artifacts(&mut group, expand, &mine);
        }
        let start = body.len();
        serde_json::to_writer(bytes::BufMut::writer(&mut body), &group).map_err(|_| PbiError::internal())?;
        if expand.users {
            debug_assert_eq!(body.last(), Some(&b'}'));
            body.truncate(body.len() - 1);
            if body.len() > start + 1 {
                body.extend_from_slice(b",");
            }
            body.extend_from_slice(b"\"users\":");
            match users.get(&w.workspace.id) {
                Some(users) => {
                    parts.push(body.split().freeze());
                    parts.push(users.clone());
                }
                None => body.extend_from_slice(b"[]"),
            }
            body.extend_from_slice(b"}");
        }
    }
    body.extend_from_slice(b"]}");
    parts.push(body.freeze());
    Ok(Chunks::new(parts))
}

// ---------------------------------------------------------------------------------------------
// Per-user reads with continuation tokens

#[derive(Debug, Deserialize)]
pub struct UserPagesQuery {
    #[serde(rename = "continuationToken")]
    continuation_token: Option<String>,
    #[serde(rename = "artifactTypes")]
    artifact_types: Option<String>,
}

/// The `{userId}` segment: a user's object id or UPN (a guest's `#EXT#` UPN arrives encoded).
async fn resolve_user(state: &AppState, caller: &Caller, user_id: &str) -> Result<DirUser, PbiError> {
    let user_id = plain_text(user_id.trim(), "userId")?;
    let found = match Uuid::parse_str(user_id) {
        Ok(id) => state.store.get_user(caller.tenant_id, id, true).await?,
        Err(_) => state.store.get_user_by_name(caller.tenant_id, user_id).await?,
    };
    found.ok_or_else(|| PbiError::entity_not_found(format!("User '{user_id}' was not found in the tenant's directory")))
}

/// `artifactTypes`: a comma-separated list of ArtifactType values; `Group` and `PersonalGroup`
/// name workspaces too. Returned sorted and without repeats.
fn parse_artifact_types(text: Option<&str>) -> Result<Vec<AccessKind>, PbiError> {
    let Some(text) = text else { return Ok(AccessKind::ALL.to_vec()) };
    let mut kinds = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let kind = if part.eq_ignore_ascii_case("Group") || part.eq_ignore_ascii_case("PersonalGroup") {
            AccessKind::Workspace
        } else {
            AccessKind::ALL.into_iter().find(|k| k.as_str().eq_ignore_ascii_case(part)).ok_or_else(|| {
                PbiError::invalid_request(format!(
                    "Invalid artifactTypes: '{part}' is not an artifact type (Report, PaginatedReport, Dashboard, Dataset, Dataflow, Workbook, App, Datamart, Workspace, Group, PersonalGroup, Capacity)"
                ))
            })?
        };
        kinds.push(kind);
    }
    if kinds.is_empty() {
        return Err(PbiError::invalid_request("Invalid artifactTypes: the list is empty"));
    }
    kinds.sort();
    kinds.dedup();
    Ok(kinds)
}

/// The query an artifact-access token continues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct AccessQuery {
    user: Uuid,
    kinds: Vec<String>,
}

fn continuation_uri(state: &AppState, path: &str, token: &str) -> String {
    format!("{}/v1.0/myorg/admin/{path}?continuationToken='{}'", state.public_url, percent_encode(token))
}

fn expiry(state: &AppState) -> i64 {
    state.clock.now_millis() + (state.config.audit.continuation_ttl_secs as i64) * 1000
}

pub async fn get_user_artifact_access(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath(user_id): PbiPath<String>,
    PbiQuery(q): PbiQuery<UserPagesQuery>,
) -> Result<Response, PbiError> {
    let user = resolve_user(&state, &caller, &user_id).await?;
    let given = q.artifact_types.as_deref().map(|t| parse_artifact_types(Some(t))).transpose()?;
    let names = |kinds: &[AccessKind]| kinds.iter().map(|k| k.as_str().to_string()).collect::<Vec<_>>();
    let (query, after) = match q.continuation_token.as_deref() {
        Some(token) => state.continuation.open::<AccessQuery, String>(token, ARTIFACT_ACCESS, &caller, state.clock.now_millis(), |t| {
            t.user == user.id && given.as_deref().is_none_or(|g| names(g) == t.kinds)
        })?,
        None => (AccessQuery { user: user.id, kinds: names(&given.unwrap_or_else(|| AccessKind::ALL.to_vec())) }, String::new()),
    };
    let kinds: Vec<AccessKind> = query.kinds.iter().filter_map(|k| k.parse().ok()).collect();
    let size = state.config.audit.page_size.max(1);
    let mut page = state.store.artifact_access_page(caller.tenant_id, user.id, &after, &kinds, size + 1).await?;
    let more = page.len() > size as usize;
    page.truncate(size as usize);
    let (continuation_uri, continuation_token) = match (more, page.last()) {
        (true, Some(last)) => {
            let token = state.continuation.issue(ARTIFACT_ACCESS, &caller, expiry(&state), &query, &last.id.to_string());
            let path = format!("users/{}/artifactAccess", percent_encode(user_id.trim()));
            (Some(continuation_uri(&state, &path, &token)), Some(percent_encode(&token)))
        }
        _ => (None, None),
    };
    let artifact_access_entities = page
        .into_iter()
        .map(|a| ArtifactAccessEntry {
            artifact_id: a.id.to_string(),
            display_name: a.name,
            artifact_type: ArtifactType::parse(a.kind.as_str()),
            access_right: a.right,
            share_type: Some(a.share.as_str().to_string()),
            sharer: None,
        })
        .collect();
    let body = ArtifactAccessResponse {
        odata_context: None,
        entities: ArtifactAccessEntities { artifact_access_entities },
        continuation_uri,
        continuation_token,
    };
    Ok(axum::Json(body).into_response())
}

/// The service's subscription dates: `8/10/2021 12:00:00 AM` (UTC).
fn subscription_date(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).unwrap_or_default().format("%-m/%-d/%Y %-I:%M:%S %p").to_string()
}

pub async fn get_user_subscriptions(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath(user_id): PbiPath<String>,
    PbiQuery(q): PbiQuery<UserPagesQuery>,
) -> Result<Response, PbiError> {
    if q.artifact_types.is_some() {
        return Err(PbiError::invalid_request("artifactTypes is not a parameter of this operation"));
    }
    let user = resolve_user(&state, &caller, &user_id).await?;
    let after = match q.continuation_token.as_deref() {
        Some(token) => {
            let (_, after): (Uuid, String) =
                state.continuation.open(token, SUBSCRIPTIONS, &caller, state.clock.now_millis(), |u: &Uuid| *u == user.id)?;
            after
        }
        None => String::new(),
    };
    let size = state.config.audit.page_size.max(1);
    let mut page = state.store.subscriptions_page(caller.tenant_id, user.id, &after, size + 1).await?;
    let more = page.len() > size as usize;
    page.truncate(size as usize);
    let (continuation_uri, continuation_token) = match (more, page.last()) {
        (true, Some(last)) => {
            let token = state.continuation.issue(SUBSCRIPTIONS, &caller, expiry(&state), &user.id, &last.id.to_string());
            let path = format!("users/{}/subscriptions", percent_encode(user_id.trim()));
            (Some(continuation_uri(&state, &path, &token)), Some(percent_encode(&token)))
        }
        _ => (None, None),
    };
    let subscription_entities = page
        .into_iter()
        .map(|s| Subscription {
            id: s.id.to_string(),
            title: Some(s.title),
            artifact_id: Some(s.artifact_id.to_string()),
            artifact_display_name: Some(s.artifact_name),
            sub_artifact_display_name: s.sub_artifact_name,
            artifact_type: Some(s.artifact_kind.as_str().to_string()),
            is_enabled: s.is_enabled,
            frequency: Some(s.frequency),
            start_date: Some(subscription_date(s.start_date)),
            end_date: Some(subscription_date(s.end_date)),
            link_to_content: true,
            preview_image: true,
            attachment_format: Some(s.attachment_format),
            users: Vec::new(),
        })
        .collect();
    let body = SubscriptionsByUserResponse {
        odata_context: None,
        entities: SubscriptionEntities { subscription_entities },
        continuation_uri,
        continuation_token,
    };
    Ok(axum::Json(body).into_response())
}

// ---------------------------------------------------------------------------------------------
// GET /admin/activityevents

#[derive(Debug, Deserialize)]
pub struct ActivityQuery {
    #[serde(rename = "startDateTime")]
    start: Option<String>,
    #[serde(rename = "endDateTime")]
    end: Option<String>,
    #[serde(rename = "continuationToken")]
    continuation_token: Option<String>,
    #[serde(rename = "$filter")]
    filter: Option<String>,
}

/// The window and filter an activity token continues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ActivityWindow {
    /// First and last millisecond of the window (both included).
    from: i64,
    to: i64,
    /// The `$filter` as the client wrote it (for `continuationUri`), and its conditions.
    filter: Option<String>,
    conditions: Vec<(String, String)>,
}

/// Where the next page of a window starts: the hour being read, and the last event served in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ActivityCursor {
    chunk: i64,
    after: Option<(i64, String)>,
}

/// `'2019-08-13T07:55:00.000Z'`: ISO 8601 in UTC, in single quotes (also taken without them). A
/// time without an offset is UTC.
pub(super) fn parse_window_time(name: &str, text: &str) -> Result<DateTime<Utc>, PbiError> {
    let trimmed = text.trim();
    let inner = trimmed.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')).unwrap_or(trimmed);
    if let Ok(t) = DateTime::parse_from_rfc3339(inner) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(inner, format) {
            return Ok(t.and_utc());
        }
    }
    Err(PbiError::invalid_request(format!(
        "{name} is not an ISO 8601 UTC date and time in single quotes, such as '2019-08-13T07:55:00.000Z'"
    )))
}

fn conditions_of(filter: Option<&str>) -> Result<Vec<(String, String)>, PbiError> {
    let Some(filter) = filter else { return Ok(Vec::new()) };
    let parsed = parse_activity_filter(filter).map_err(|e| PbiError::invalid_request(format!("Invalid $filter: {e}")))?;
    Ok(parsed
        .into_iter()
        .filter_map(|c| match c {
            ActivityCondition::Activity(v) => Some(("Activity".to_string(), v.to_lowercase())),
            ActivityCondition::UserId(v) => Some(("UserId".to_string(), v.to_lowercase())),
            // Not a `$filter` clause: the server adds it.
            ActivityCondition::NotActivity(_) => None,
        })
        .collect())
}

pub async fn get_activity_events(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiQuery(q): PbiQuery<ActivityQuery>,
) -> Result<Response, PbiError> {
    let now = state.clock.now_millis();
    let retention = state.config.audit.activity_retention_days as i64 * DAY_MS;
    let given_window = match (q.start.as_deref(), q.end.as_deref()) {
        (Some(start), Some(end)) => {
            let (start, end) = (parse_window_time("startDateTime", start)?, parse_window_time("endDateTime", end)?);
            if start.date_naive() != end.date_naive() {
                return Err(PbiError::invalid_request("startDateTime and endDateTime must be in the same UTC day"));
            }
            if end < start {
                return Err(PbiError::invalid_request("endDateTime must not be before startDateTime"));
            }
            Some((start.timestamp_millis(), end.timestamp_millis()))
        }
        (None, None) => None,
        _ => return Err(PbiError::invalid_request("Give both startDateTime and endDateTime, or a continuationToken")),
    };
    let conditions = q.filter.as_deref().map(|f| conditions_of(Some(f))).transpose()?;
    let (window, cursor) = match (q.continuation_token.as_deref(), given_window) {
        (Some(token), given) => state.continuation.open::<ActivityWindow, ActivityCursor>(token, ACTIVITY_EVENTS, &caller, now, |w| {
            given.is_none_or(|(from, to)| (from, to) == (w.from, w.to)) && conditions.as_ref().is_none_or(|c| *c == w.conditions)
        })?,
        (None, Some((from, to))) => {
            let window = ActivityWindow { from, to, filter: q.filter.clone(), conditions: conditions.unwrap_or_default() };
            let cursor = ActivityCursor { chunk: from, after: None };
            (window, cursor)
        }
        (None, None) => return Err(PbiError::invalid_request("Give both startDateTime and endDateTime, or a continuationToken")),
    };
    purge_activity_now_and_then(&state, caller.tenant_id, now - retention).await?;

    // Events older than the retention are gone; the hour being read is the page's limit.
    let chunk = cursor.chunk.max(now - retention);
    let until = (window.to + 1).min((chunk.div_euclid(HOUR_MS) + 1) * HOUR_MS);
    let mut conditions: Vec<ActivityCondition> = window
        .conditions
        .iter()
        .map(|(field, value)| match field.as_str() {
            "Activity" => ActivityCondition::Activity(value.clone()),
            _ => ActivityCondition::UserId(value.clone()),
        })
        .collect();
    if !state.config.audit.entra_events_in_activity_log {
        let names = super::activity::DIRECTORY_ACTIVITIES.iter().map(|s| s.to_string()).collect();
        conditions.push(ActivityCondition::NotActivity(names));
    }
    let size = state.config.audit.activity_page_size.max(1);
    // Events younger than the visibility delay are not shown yet; the paging does not change, so
    // a later read of the same window finds them, as with the service's lag.
    let delay = state.config.audit.activity_visibility_delay_secs as i64 * 1000;
    let visible_until = if delay > 0 { until.min(now - delay + 1) } else { until };
    let mut events = if chunk < visible_until {
        let after = cursor.after.as_ref().map(|(t, id)| (*t, id.as_str()));
        state.store.activity_page(caller.tenant_id, chunk, visible_until, after, &conditions, size + 1).await?
    } else {
        Vec::new()
    };
    let full = events.len() > size as usize;
    events.truncate(size as usize);
    let next = if full {
        events.last().map(|(t, id, _)| ActivityCursor { chunk, after: Some((*t, id.clone())) })
    } else if until <= window.to {
        Some(ActivityCursor { chunk: until, after: None })
    } else {
        None
    };
    let (uri, token) = match &next {
        Some(next) => {
            let token = state.continuation.issue(ACTIVITY_EVENTS, &caller, expiry(&state), &window, next);
            let mut uri = continuation_uri(&state, ACTIVITY_EVENTS, &token);
            if let Some(filter) = &window.filter {
                uri.push_str("&$filter=");
                uri.push_str(&percent_encoding::utf8_percent_encode(filter, FILTER_IN_URI).to_string());
            }
            (Some(uri), Some(percent_encode(&token)))
        }
        None => (None, None),
    };
    // The stored events are already the JSON objects to return: splice them in.
    let mut body = String::with_capacity(128 + events.iter().map(|e| e.2.len() + 1).sum::<usize>());
    body.push_str("{\"activityEventEntities\":[");
    for (i, (_, _, json)) in events.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(json);
    }
    body.push_str("],\"continuationUri\":");
    body.push_str(&serde_json::to_string(&uri).map_err(|_| PbiError::internal())?);
    body.push_str(",\"continuationToken\":");
    body.push_str(&serde_json::to_string(&token).map_err(|_| PbiError::internal())?);
    body.push_str(",\"lastResultSet\":");
    body.push_str(if next.is_none() { "true" } else { "false" });
    body.push('}');
    Ok(json_response(body))
}

/// Characters of a `$filter` escaped in `continuationUri` (spaces, `&`, `#`, `%`, and the like).
const FILTER_IN_URI: &percent_encoding::AsciiSet =
    &percent_encoding::CONTROLS.add(b' ').add(b'"').add(b'#').add(b'%').add(b'&').add(b'+').add(b'<').add(b'>');

/// Delete the tenant's events past retention, at most once an hour per tenant and process.
async fn purge_activity_now_and_then(state: &AppState, tenant: Uuid, before: i64) -> Result<(), PbiError> {
    let due = {
        let mut purged = state.activity_purged.lock().unwrap_or_else(|e| e.into_inner());
        let last = purged.get(&tenant).copied();
        if last.is_none_or(|last| before - last >= HOUR_MS) {
            purged.insert(tenant, before);
            true
        } else {
            false
        }
    };
    if due {
        let gone = state.store.purge_activity(tenant, before).await?;
        if gone > 0 {
            tracing::info!(%tenant, gone, "purged activity events past retention");
        }
    }
    Ok(())
}
