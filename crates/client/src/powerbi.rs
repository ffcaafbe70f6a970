//! Typed calls to the Power BI REST API v1.0. Every method is one line over the generic call
//! path ([`PowerBiClient::call`] / [`PowerBiClient::call_empty`]): the operation from the shared
//! table in `pbi_wire::ops`, its path parameters (percent-encoded here), a query and a body.

use std::sync::Arc;

use futures::stream::BoxStream;
use pbi_wire::admin::{
    ActivityEventResponse, AdminGroup, ArtifactAccessEntry, ArtifactAccessResponse, ArtifactType, ModifiedWorkspace, RequiredWorkspaces,
    ScanRequest, Subscription, SubscriptionsByUserResponse, WorkspaceInfoResponse,
};
use pbi_wire::artifact_users::{
    AppUser, CapacityUser, DashboardUser, DataflowUser, DatasetUser, DatasetUserAccess, DatasourceUser, PipelineUser,
    PostDatasetUserAccess, ReportUser,
};
use pbi_wire::artifacts::{Capacity, Dashboard, Dataflow, Dataset, Report};
use pbi_wire::ops::{powerbi as op, Op};
use pbi_wire::powerbi::{Group, GroupCreationRequest, GroupUser, GroupUserAccessRight, PrincipalType};
use pbi_wire::{ODataEntity, ODataList};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use crate::auth::Auth;
use crate::builder::ClientBuilder;
use crate::error::{ClientError, Result};
use crate::paging::{self, ContinuationRequest, Page, Query};
use crate::retry::{jitter_unit, RetryPolicy};
use crate::time::SystemClock;
use crate::transport::{Answer, Call, Core};
use crate::{encode_segment, Endpoints};

/// A scan result read for its workspaces' users alone (what an access audit needs): the
/// artifacts, with their own user lists, are skipped unparsed, which makes a result of 100
/// workspaces many times cheaper to read than [`WorkspaceInfoResponse`]. A read view of the
/// client's, not a contract of its own: the service answers `WorkspaceInfoResponse`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct WorkspaceUsersResponse {
    #[serde(default)]
    pub workspaces: Vec<WorkspaceUsers>,
}

/// A workspace of a scan result with its users only (see [`WorkspaceUsersResponse`]).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct WorkspaceUsers {
    pub id: Uuid,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub users: Option<Vec<GroupUser>>,
}

/// What a change call's answer proves: its status and the service's `RequestId` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub status: u16,
    pub request_id: Option<String>,
}

/// What `add_group_user_verified` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddOutcome {
    /// The POST succeeded.
    Added,
    /// A POST failed ambiguously, and reading the members back showed the principal with the
    /// asked role: the POST had been applied.
    ConfirmedAfterAmbiguity,
    /// Reading back showed the principal with another role (someone else changed it, or it was
    /// there before). Nothing more was sent.
    PresentWithOtherRole(GroupUserAccessRight),
}

/// Options of `POST /admin/workspaces/getInfo`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanOptions {
    pub lineage: bool,
    pub datasource_details: bool,
    pub dataset_schema: bool,
    pub dataset_expressions: bool,
    pub get_artifact_users: bool,
}

/// Query of `GET /admin/groups` (`$top` is required, 1 to 5000).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminGroupsQuery {
    pub filter: Option<String>,
    /// Comma-separated: `users`, `reports`, `dashboards`, `datasets`, `dataflows`, `workbooks`.
    pub expand: Option<String>,
}

/// Typed calls to the Power BI REST API.
#[derive(Debug, Clone)]
pub struct PowerBiClient {
    core: Arc<Core>,
}

impl PowerBiClient {
    /// A client with a fixed bearer token that makes **one attempt per call** and keeps no
    /// ledger, as the first version of this crate did. Use [`PowerBiClient::builder`] for
    /// credentials with token refresh, retries and the admin budget.
    pub fn new(http: reqwest::Client, endpoints: &Endpoints, token: impl Into<String>) -> PowerBiClient {
        PowerBiClient::from_core(Core {
            http,
            base: endpoints.powerbi.trim_end_matches('/').to_string(),
            auth: Auth::Static(token.into()),
            retry: RetryPolicy::none(),
            clock: Arc::new(SystemClock),
            ledger: None,
            budget_model: None,
            stats: Arc::default(),
        })
    }

    pub fn builder(endpoints: Endpoints) -> ClientBuilder {
        ClientBuilder::new(endpoints)
    }

    pub(crate) fn from_core(core: Core) -> PowerBiClient {
        PowerBiClient { core: Arc::new(core) }
    }

    /// What this client's calls met on the wire so far (attempts, admin calls, 429s, 5xx).
    pub fn stats(&self) -> crate::stats::StatsSnapshot {
        self.core.stats.snapshot()
    }

    /// The token source behind this client, if it has one (to share or inspect its cache).
    pub fn token_source(&self) -> Option<Arc<crate::auth::TokenSource>> {
        match &self.core.auth {
            Auth::Source(s) => Some(s.clone()),
            Auth::Static(_) => None,
        }
    }

    fn request(&self, op: Op, params: &[&str], query: &Query) -> Call {
        let encoded: Vec<String> = params.iter().map(|p| encode_segment(p)).collect();
        let refs: Vec<&str> = encoded.iter().map(String::as_str).collect();
        let path = op.url("", &refs);
        let method = Method::from_bytes(op.method.as_bytes()).expect("operation table methods are valid");
        Call::new(method, query.append_to(&format!("{}{path}", self.core.base)), path)
    }

    async fn send<B: Serialize + ?Sized>(&self, op: Op, params: &[&str], query: &Query, body: Option<&B>) -> Result<Answer> {
        let mut call = self.request(op, params, query);
        if let Some(body) = body {
            call = call.json(body)?;
        }
        self.core.execute(&call).await
    }

    /// The generic typed call: `op` with `params`, `query` and an optional JSON body, answer parsed as `T`.
    pub async fn call<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        op: Op,
        params: &[&str],
        query: &Query,
        body: Option<&B>,
    ) -> Result<T> {
        self.send(op, params, query, body).await?.json()
    }

    /// The generic call for operations that answer with an empty body.
    pub async fn call_empty<B: Serialize + ?Sized>(&self, op: Op, params: &[&str], query: &Query, body: Option<&B>) -> Result<()> {
        self.send(op, params, query, body).await.map(drop)
    }

    /// `call_empty` that keeps what an auditor needs of the answer: its status and the service's
    /// `RequestId` (a failure's is in `ClientError::request_id`).
    pub async fn call_receipt<B: Serialize + ?Sized>(&self, op: Op, params: &[&str], query: &Query, body: Option<&B>) -> Result<Receipt> {
        let answer = self.send(op, params, query, body).await?;
        Ok(Receipt { status: answer.status.as_u16(), request_id: answer.request_id() })
    }

    async fn get<T: DeserializeOwned>(&self, op: Op, params: &[&str], query: &Query) -> Result<T> {
        self.call(op, params, query, None::<&()>).await
    }

    async fn list<T: DeserializeOwned>(&self, op: Op, params: &[&str]) -> Result<Vec<T>> {
        Ok(self.get::<ODataList<T>>(op, params, &Query::new()).await?.value)
    }

    fn continuation<P: paging::ContinuationPage>(
        &self,
        op: Op,
        params: &[&str],
        first: Query,
        sticky: Query,
        resume_from: Option<String>,
    ) -> BoxStream<'static, Result<Page<P::Item>>> {
        let call = self.request(op, params, &Query::new());
        paging::continuation_pages::<P>(self.core.clone(), ContinuationRequest { path: call.path, first, sticky, resume_from })
    }

    // ---- Workspaces ---------------------------------------------------------------------------

    /// `GET /groups` with optional `$filter`, `$top`, `$skip`.
    pub async fn get_groups(&self, filter: Option<&str>, top: Option<u32>, skip: Option<u32>) -> Result<ODataList<Group>> {
        self.get(op::GET_GROUPS, &[], &Query::new().opt("$filter", filter).opt("$top", top).opt("$skip", skip)).await
    }

    /// Every workspace (optionally filtered), fetched `page_size` at a time with `$top`/`$skip`.
    pub fn groups_stream(&self, filter: Option<&str>, page_size: u32) -> BoxStream<'static, Result<Vec<Group>>> {
        let path = op::GET_GROUPS.url("", &[]);
        paging::top_skip_pages(self.core.clone(), path, Query::new().opt("$filter", filter), page_size, 0)
    }

    /// `POST /groups?workspaceV2=True`: create a workspace; the caller becomes its Admin.
    pub async fn create_group(&self, name: &str) -> Result<Group> {
        let body = GroupCreationRequest { name: name.into() };
        let created: ODataEntity<Group> = self.call(op::CREATE_GROUP, &[], &Query::new().push("workspaceV2", "True"), Some(&body)).await?;
        Ok(created.entity)
    }

    pub async fn get_group(&self, group: Uuid) -> Result<Group> {
        let g: ODataEntity<Group> = self.get(op::GET_GROUP, &[&group.to_string()], &Query::new()).await?;
        Ok(g.entity)
    }

    pub async fn delete_group(&self, group: Uuid) -> Result<()> {
        self.call_empty(op::DELETE_GROUP, &[&group.to_string()], &Query::new(), None::<&()>).await
    }

    // ---- Workspace users ------------------------------------------------------------------------

    pub async fn get_group_users(&self, group: Uuid) -> Result<Vec<GroupUser>> {
        self.list(op::GET_GROUP_USERS, &[&group.to_string()]).await
    }

    /// Every principal of a workspace, `page_size` at a time (`$top`/`$skip`).
    pub fn group_users_stream(&self, group: Uuid, page_size: u32) -> BoxStream<'static, Result<Vec<GroupUser>>> {
        let path = op::GET_GROUP_USERS.url("", &[&group.to_string()]);
        paging::top_skip_pages(self.core.clone(), path, Query::new(), page_size, 0)
    }

    /// `POST /groups/{id}/users`. Not retried after an ambiguous failure: see
    /// [`PowerBiClient::add_group_user_verified`].
    pub async fn add_group_user(&self, group: Uuid, user: &GroupUser) -> Result<()> {
        self.call_empty(op::ADD_GROUP_USER, &[&group.to_string()], &Query::new(), Some(user)).await
    }

    pub async fn update_group_user(&self, group: Uuid, user: &GroupUser) -> Result<()> {
        self.call_empty(op::UPDATE_GROUP_USER, &[&group.to_string()], &Query::new(), Some(user)).await
    }

    /// `DELETE /groups/{id}/users/{user}`: `user` is a UPN/email or an object id (URL-encoded
    /// here). After a retry, a 404 counts as done (the earlier attempt removed the principal).
    pub async fn delete_group_user(&self, group: Uuid, user: &str) -> Result<()> {
        self.call_empty(op::DELETE_USER_IN_GROUP, &[&group.to_string(), user], &Query::new(), None::<&()>).await
    }

    /// `DELETE /groups/{id}/users/{user}?profileId=…`: a service-principal profile's role.
    pub async fn delete_group_user_profile(&self, group: Uuid, user: &str, profile: Uuid) -> Result<()> {
        self.call_empty(op::DELETE_USER_IN_GROUP, &[&group.to_string(), user], &Query::new().push("profileId", profile), None::<&()>).await
    }

    /// Add a principal, and when the POST fails ambiguously (5xx, timeout, connection lost after
    /// sending) read the members back before deciding: present with the asked role → done;
    /// present with another role → reported, nothing sent; absent → POST again (up to the retry
    /// policy's attempts).
    pub async fn add_group_user_verified(&self, group: Uuid, user: &GroupUser) -> Result<AddOutcome> {
        self.add_verified(group, user, false).await
    }

    /// The same for `POST /admin/groups/{id}/users` (each read-back is an admin call too).
    pub async fn add_user_as_admin_verified(&self, group: Uuid, user: &GroupUser) -> Result<AddOutcome> {
        self.add_verified(group, user, true).await
    }

    async fn add_verified(&self, group: Uuid, user: &GroupUser, admin: bool) -> Result<AddOutcome> {
        let attempts = self.core.retry.max_attempts.max(2);
        let mut ambiguous = None;
        for attempt in 0..attempts {
            let result = if admin { self.add_user_as_admin(group, user).await } else { self.add_group_user(group, user).await };
            match result {
                Ok(()) => return Ok(AddOutcome::Added),
                Err(e @ ClientError::Ambiguous { .. }) => {
                    tracing::info!(%group, error = %e, "ambiguous add: reading the members back");
                    ambiguous = Some(e);
                }
                // Our own earlier, ambiguous POST may be what made the principal a member.
                Err(ClientError::Api { code, .. }) if ambiguous.is_some() && code == "AddingAlreadyExistsGroupUserNotSupportedError" => {}
                Err(e) => return Err(e),
            }
            let members = if admin { self.get_group_users_as_admin(group).await? } else { self.get_group_users(group).await? };
            if let Some(found) = members.iter().find(|m| same_principal(m, user)) {
                return Ok(if found.group_user_access_right == user.group_user_access_right {
                    AddOutcome::ConfirmedAfterAmbiguity
                } else {
                    AddOutcome::PresentWithOtherRole(found.group_user_access_right)
                });
            }
            if attempt + 1 < attempts {
                self.core.clock.sleep(self.core.retry.backoff(attempt, jitter_unit())).await;
            }
        }
        Err(ambiguous.unwrap_or_else(|| ClientError::Invalid("add not confirmed".into())))
    }

    // ---- Admin: workspace users ---------------------------------------------------------------

    pub async fn get_group_users_as_admin(&self, group: Uuid) -> Result<Vec<GroupUser>> {
        self.list(op::GET_GROUP_USERS_AS_ADMIN, &[&group.to_string()]).await
    }

    pub async fn add_user_as_admin(&self, group: Uuid, user: &GroupUser) -> Result<()> {
        self.call_empty(op::ADD_USER_AS_ADMIN, &[&group.to_string()], &Query::new(), Some(user)).await
    }

    pub async fn delete_user_as_admin(&self, group: Uuid, user: &str, is_group: bool) -> Result<()> {
        let query = if is_group { Query::new().push("isGroup", "true") } else { Query::new() };
        self.call_empty(op::DELETE_USER_AS_ADMIN, &[&group.to_string(), user], &query, None::<&()>).await
    }

    // ---- Admin: tenant-wide reads -------------------------------------------------------------

    /// `GET /admin/groups?$top=…` (one page; `top` 1 to 5000).
    pub async fn get_groups_as_admin(&self, top: u32, skip: Option<u32>, q: &AdminGroupsQuery) -> Result<ODataList<AdminGroup>> {
        let query =
            Query::new().push("$top", top).opt("$skip", skip).opt("$filter", q.filter.as_deref()).opt("$expand", q.expand.as_deref());
        self.get(op::GET_GROUPS_AS_ADMIN, &[], &query).await
    }

    /// Every workspace of the tenant, `page_size` (≤ 5000) at a time.
    pub fn groups_as_admin_stream(&self, page_size: u32, q: &AdminGroupsQuery) -> BoxStream<'static, Result<Vec<AdminGroup>>> {
        let path = op::GET_GROUPS_AS_ADMIN.url("", &[]);
        let query = Query::new().opt("$filter", q.filter.as_deref()).opt("$expand", q.expand.as_deref());
        paging::top_skip_pages(self.core.clone(), path, query, page_size.min(5000), 0)
    }

    /// `GET /admin/users/{userId}/artifactAccess`, page by page. `user` is an object id or a UPN.
    pub fn user_artifact_access_pages(
        &self,
        user: &str,
        artifact_types: &[ArtifactType],
        resume_from: Option<String>,
    ) -> BoxStream<'static, Result<Page<ArtifactAccessEntry>>> {
        let types = (!artifact_types.is_empty()).then(|| artifact_types.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(","));
        let first = Query::new().opt("artifactTypes", types);
        self.continuation::<ArtifactAccessResponse>(op::GET_USER_ARTIFACT_ACCESS_AS_ADMIN, &[user], first, Query::new(), resume_from)
    }

    pub fn user_artifact_access(&self, user: &str, artifact_types: &[ArtifactType]) -> BoxStream<'static, Result<ArtifactAccessEntry>> {
        paging::items(self.user_artifact_access_pages(user, artifact_types, None))
    }

    /// `GET /admin/users/{userId}/subscriptions`, page by page.
    pub fn user_subscriptions_pages(&self, user: &str, resume_from: Option<String>) -> BoxStream<'static, Result<Page<Subscription>>> {
        self.continuation::<SubscriptionsByUserResponse>(
            op::GET_USER_SUBSCRIPTIONS_AS_ADMIN,
            &[user],
            Query::new(),
            Query::new(),
            resume_from,
        )
    }

    pub fn user_subscriptions(&self, user: &str) -> BoxStream<'static, Result<Subscription>> {
        paging::items(self.user_subscriptions_pages(user, None))
    }

    /// `GET /admin/activityevents` between two ISO 8601 UTC instants of the same UTC day (given
    /// without quotes; they are quoted here), with an optional `$filter` that is repeated on
    /// every page.
    pub fn activity_events_pages(
        &self,
        start: &str,
        end: &str,
        filter: Option<&str>,
        resume_from: Option<String>,
    ) -> BoxStream<'static, Result<Page<serde_json::Map<String, serde_json::Value>>>> {
        let first = Query::new().push("startDateTime", format!("'{start}'")).push("endDateTime", format!("'{end}'")).opt("$filter", filter);
        let sticky = Query::new().opt("$filter", filter);
        self.continuation::<ActivityEventResponse>(op::GET_ACTIVITY_EVENTS, &[], first, sticky, resume_from)
    }

    pub fn activity_events(
        &self,
        start: &str,
        end: &str,
        filter: Option<&str>,
    ) -> BoxStream<'static, Result<serde_json::Map<String, serde_json::Value>>> {
        paging::items(self.activity_events_pages(start, end, filter, None))
    }

    pub async fn get_report_users_as_admin(&self, report: Uuid) -> Result<Vec<ReportUser>> {
        self.list(op::GET_REPORT_USERS_AS_ADMIN, &[&report.to_string()]).await
    }

    pub async fn get_dashboard_users_as_admin(&self, dashboard: Uuid) -> Result<Vec<DashboardUser>> {
        self.list(op::GET_DASHBOARD_USERS_AS_ADMIN, &[&dashboard.to_string()]).await
    }

    pub async fn get_dataset_users_as_admin(&self, dataset: Uuid) -> Result<Vec<DatasetUser>> {
        self.list(op::GET_DATASET_USERS_AS_ADMIN, &[&dataset.to_string()]).await
    }

    pub async fn get_app_users_as_admin(&self, app: Uuid) -> Result<Vec<AppUser>> {
        self.list(op::GET_APP_USERS_AS_ADMIN, &[&app.to_string()]).await
    }

    pub async fn get_dataflow_users_as_admin(&self, dataflow: Uuid) -> Result<Vec<DataflowUser>> {
        self.list(op::GET_DATAFLOW_USERS_AS_ADMIN, &[&dataflow.to_string()]).await
    }

    pub async fn get_capacity_users_as_admin(&self, capacity: Uuid) -> Result<Vec<CapacityUser>> {
        self.list(op::GET_CAPACITY_USERS_AS_ADMIN, &[&capacity.to_string()]).await
    }

    // ---- Items in workspaces and capacities ------------------------------------------------------

    async fn entity<T: DeserializeOwned>(&self, op: Op, params: &[&str]) -> Result<T> {
        Ok(self.get::<ODataEntity<T>>(op, params, &Query::new()).await?.entity)
    }

    pub async fn get_datasets_in_group(&self, group: Uuid) -> Result<Vec<Dataset>> {
        self.list(op::GET_DATASETS_IN_GROUP, &[&group.to_string()]).await
    }

    pub async fn get_dataset_in_group(&self, group: Uuid, dataset: &str) -> Result<Dataset> {
        self.entity(op::GET_DATASET_IN_GROUP, &[&group.to_string(), dataset]).await
    }

    pub async fn get_reports_in_group(&self, group: Uuid) -> Result<Vec<Report>> {
        self.list(op::GET_REPORTS_IN_GROUP, &[&group.to_string()]).await
    }

    pub async fn get_report_in_group(&self, group: Uuid, report: Uuid) -> Result<Report> {
        self.entity(op::GET_REPORT_IN_GROUP, &[&group.to_string(), &report.to_string()]).await
    }

    pub async fn get_dashboards_in_group(&self, group: Uuid) -> Result<Vec<Dashboard>> {
        self.list(op::GET_DASHBOARDS_IN_GROUP, &[&group.to_string()]).await
    }

    pub async fn get_dashboard_in_group(&self, group: Uuid, dashboard: Uuid) -> Result<Dashboard> {
        self.entity(op::GET_DASHBOARD_IN_GROUP, &[&group.to_string(), &dashboard.to_string()]).await
    }

    pub async fn get_dataflows(&self, group: Uuid) -> Result<Vec<Dataflow>> {
        self.list(op::GET_DATAFLOWS, &[&group.to_string()]).await
    }

    /// `GET /capacities`: the capacities the caller holds a right on.
    pub async fn get_capacities(&self) -> Result<Vec<Capacity>> {
        self.list(op::GET_CAPACITIES, &[]).await
    }

    /// `DELETE /datasets/{id}/users/{user}` (not in the Swagger; the offboarding guides call it).
    pub async fn delete_dataset_user(&self, dataset: &str, user: &str) -> Result<()> {
        self.call_empty(op::DELETE_DATASET_USER, &[dataset, user], &Query::new(), None::<&()>).await
    }

    // ---- Dataset users --------------------------------------------------------------------------

    /// `GET /datasets/{id}/users` (My workspace) or `GET /groups/{g}/datasets/{id}/users`.
    pub async fn get_dataset_users(&self, group: Option<Uuid>, dataset: &str) -> Result<Vec<DatasetUserAccess>> {
        match group {
            None => self.list(op::GET_DATASET_USERS, &[dataset]).await,
            Some(g) => self.list(op::GET_DATASET_USERS_IN_GROUP, &[&g.to_string(), dataset]).await,
        }
    }

    pub async fn post_dataset_user(&self, group: Option<Uuid>, dataset: &str, access: &PostDatasetUserAccess) -> Result<()> {
        match group {
            None => self.call_empty(op::POST_DATASET_USER, &[dataset], &Query::new(), Some(access)).await,
            Some(g) => self.call_empty(op::POST_DATASET_USER_IN_GROUP, &[&g.to_string(), dataset], &Query::new(), Some(access)).await,
        }
    }

    /// `PUT …/datasets/{id}/users`: replaces the principal's rights (`None` removes them).
    pub async fn put_dataset_user(&self, group: Option<Uuid>, dataset: &str, access: &DatasetUserAccess) -> Result<()> {
        match group {
            None => self.call_empty(op::PUT_DATASET_USER, &[dataset], &Query::new(), Some(access)).await,
            Some(g) => self.call_empty(op::PUT_DATASET_USER_IN_GROUP, &[&g.to_string(), dataset], &Query::new(), Some(access)).await,
        }
    }

    // ---- Scanner --------------------------------------------------------------------------------

    /// `POST /admin/workspaces/getInfo` (202 with the scan).
    pub async fn post_workspace_info(&self, workspaces: &[Uuid], options: ScanOptions) -> Result<ScanRequest> {
        let flag = |b: bool| b.then_some("true");
        let query = Query::new()
            .opt("lineage", flag(options.lineage))
            .opt("datasourceDetails", flag(options.datasource_details))
            .opt("datasetSchema", flag(options.dataset_schema))
            .opt("datasetExpressions", flag(options.dataset_expressions))
            .opt("getArtifactUsers", flag(options.get_artifact_users));
        self.call(op::POST_WORKSPACE_INFO, &[], &query, Some(&RequiredWorkspaces { workspaces: workspaces.to_vec() })).await
    }

    pub async fn get_scan_status(&self, scan: Uuid) -> Result<ScanRequest> {
        self.get(op::GET_SCAN_STATUS, &[&scan.to_string()], &Query::new()).await
    }

    pub async fn get_scan_result(&self, scan: Uuid) -> Result<WorkspaceInfoResponse> {
        self.get(op::GET_SCAN_RESULT, &[&scan.to_string()], &Query::new()).await
    }

    /// `GET /admin/workspaces/scanResult/{id}` read for the workspaces' users alone (the same
    /// call and budget as [`Self::get_scan_result`]; the artifacts are skipped unparsed).
    pub async fn get_scan_result_users(&self, scan: Uuid) -> Result<WorkspaceUsersResponse> {
        self.get(op::GET_SCAN_RESULT, &[&scan.to_string()], &Query::new()).await
    }

    /// `GET /admin/workspaces/modified` (`modified_since`: ISO 8601, 30 minutes to 30 days ago).
    pub async fn get_modified_workspaces(
        &self,
        modified_since: Option<&str>,
        exclude_personal: bool,
        exclude_inactive: bool,
    ) -> Result<Vec<ModifiedWorkspace>> {
        let query = Query::new()
            .opt("modifiedSince", modified_since)
            .opt("excludePersonalWorkspaces", exclude_personal.then_some("true"))
            .opt("excludeInActiveWorkspaces", exclude_inactive.then_some("true"));
        self.get(op::GET_MODIFIED_WORKSPACES, &[], &query).await
    }

    /// `POST /RefreshUserPermissions` (one per user per hour).
    pub async fn refresh_user_permissions(&self) -> Result<()> {
        self.call_empty(op::REFRESH_USER_PERMISSIONS, &[], &Query::new(), None::<&()>).await
    }

    // ---- Deployment pipelines and gateway data sources ------------------------------------------

    pub async fn get_pipeline_users(&self, pipeline: Uuid, as_admin: bool) -> Result<Vec<PipelineUser>> {
        let op = if as_admin { op::GET_PIPELINE_USERS_AS_ADMIN } else { op::GET_PIPELINE_USERS };
        self.list(op, &[&pipeline.to_string()]).await
    }

    pub async fn update_pipeline_user(&self, pipeline: Uuid, user: &PipelineUser, as_admin: bool) -> Result<()> {
        let op = if as_admin { op::UPDATE_USER_AS_ADMIN_PIPELINE } else { op::UPDATE_PIPELINE_USER };
        self.call_empty(op, &[&pipeline.to_string()], &Query::new(), Some(user)).await
    }

    pub async fn delete_pipeline_user(&self, pipeline: Uuid, identifier: &str, as_admin: bool) -> Result<()> {
        let op = if as_admin { op::DELETE_USER_AS_ADMIN_PIPELINE } else { op::DELETE_PIPELINE_USER };
        self.call_empty(op, &[&pipeline.to_string(), identifier], &Query::new(), None::<&()>).await
    }

    pub async fn get_datasource_users(&self, gateway: Uuid, datasource: Uuid) -> Result<Vec<DatasourceUser>> {
        self.list(op::GET_DATASOURCE_USERS, &[&gateway.to_string(), &datasource.to_string()]).await
    }

    pub async fn add_datasource_user(&self, gateway: Uuid, datasource: Uuid, user: &DatasourceUser) -> Result<()> {
        self.call_empty(op::ADD_DATASOURCE_USER, &[&gateway.to_string(), &datasource.to_string()], &Query::new(), Some(user)).await
    }

    pub async fn delete_datasource_user(&self, gateway: Uuid, datasource: Uuid, email: &str) -> Result<()> {
        self.call_empty(op::DELETE_DATASOURCE_USER, &[&gateway.to_string(), &datasource.to_string(), email], &Query::new(), None::<&()>)
            .await
    }
}

/// Whether a listed member is the principal a request names: users by UPN or mail, groups and
/// apps by object id, case-insensitively; a profile must match too.
fn same_principal(member: &GroupUser, wanted: &GroupUser) -> bool {
    let eq = |a: &Option<String>, b: &str| a.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(b));
    let Some(name) = wanted.identifier.as_deref().or(wanted.email_address.as_deref()) else {
        return false;
    };
    let kind = wanted.principal_type.unwrap_or(PrincipalType::User);
    if member.principal_type.is_some_and(|t| t != kind) {
        return false;
    }
    let matches = eq(&member.identifier, name) || (kind == PrincipalType::User && eq(&member.email_address, name));
    let profile = |u: &GroupUser| u.profile.as_ref().map(|p| p.id);
    matches && profile(member) == profile(wanted)
}
