//! A typed client for the Power BI REST API and the Entra ID token endpoint.
//!
//! Base URLs default to Microsoft's, so the same code talks to production or to a pbi-access
//! server (`Endpoints::local`). URLs are built from the shared operation table in `pbi-wire`.

use pbi_wire::artifacts::{
    AppUser, Capacity, CapacityUser, Dashboard, DashboardUser, Dataflow, DataflowUser, Dataset, DatasetUser, DatasetUserAccess, Report,
    ReportUser,
};
use pbi_wire::oauth::{OAuthErrorBody, TokenResponse, POWERBI_DEFAULT_SCOPE};
use pbi_wire::ops::{identity, powerbi as op, Op};
use pbi_wire::powerbi::{Group, GroupCreationRequest, GroupUser, PowerBiErrorBody};
use pbi_wire::{ODataEntity, ODataList};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

/// Characters left as they are in a path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

pub fn encode_segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// Where the APIs live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// `https://api.powerbi.com`
    pub powerbi: String,
    /// `https://login.microsoftonline.com`
    pub authority: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints { powerbi: "https://api.powerbi.com".into(), authority: "https://login.microsoftonline.com".into() }
    }
}

impl Endpoints {
    /// A pbi-access server serves every API from one base URL.
    pub fn local(base: &str) -> Endpoints {
        let base = base.trim_end_matches('/').to_string();
        Endpoints { powerbi: base.clone(), authority: base }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The Power BI API answered with an error body.
    #[error("{status} {code}: {message}")]
    Api { status: StatusCode, code: String, message: String, request_id: Option<String> },
    /// The token endpoint refused.
    #[error("token endpoint: {status} {error}: {description}")]
    OAuth { status: StatusCode, error: String, description: String, codes: Vec<u32> },
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("unexpected response ({status}): {body}")]
    Unexpected { status: StatusCode, body: String },
}

impl ClientError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Api { status, .. } | ClientError::OAuth { status, .. } | ClientError::Unexpected { status, .. } => Some(*status),
            ClientError::Http(e) => e.status(),
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            ClientError::OAuth { error, .. } => Some(error),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, ClientError>;

/// Gets access tokens from an Entra-compatible authority.
#[derive(Debug, Clone)]
pub struct TokenClient {
    http: reqwest::Client,
    authority: String,
}

impl TokenClient {
    pub fn new(http: reqwest::Client, endpoints: &Endpoints) -> TokenClient {
        TokenClient { http, authority: endpoints.authority.clone() }
    }

    async fn request(&self, tenant: &str, form: &[(&str, &str)]) -> Result<TokenResponse> {
        let url = identity::TOKEN.url(&self.authority, &[&encode_segment(tenant)]);
        let response = self.http.post(url).form(form).send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|_| ClientError::Unexpected { status, body: String::from_utf8_lossy(&bytes).into() });
        }
        match serde_json::from_slice::<OAuthErrorBody>(&bytes) {
            Ok(e) => Err(ClientError::OAuth { status, error: e.error, description: e.error_description, codes: e.error_codes }),
            Err(_) => Err(ClientError::Unexpected { status, body: String::from_utf8_lossy(&bytes).into() }),
        }
    }

    /// Client credentials with a secret, for the Power BI resource.
    pub async fn client_credentials(&self, tenant: &str, client_id: &str, secret: &str) -> Result<TokenResponse> {
        self.request(
            tenant,
            &[("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", secret), ("scope", POWERBI_DEFAULT_SCOPE)],
        )
        .await
    }

    /// The resource-owner password grant (delegated token for a user).
    pub async fn password(&self, tenant: &str, client_id: &str, username: &str, password: &str, scope: &str) -> Result<TokenResponse> {
        self.request(
            tenant,
            &[("grant_type", "password"), ("client_id", client_id), ("username", username), ("password", password), ("scope", scope)],
        )
        .await
    }
}

/// Typed calls to the Power BI REST API with one access token.
#[derive(Debug, Clone)]
pub struct PowerBiClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl PowerBiClient {
    pub fn new(http: reqwest::Client, endpoints: &Endpoints, token: impl Into<String>) -> PowerBiClient {
        PowerBiClient { http, base: endpoints.powerbi.clone(), token: token.into() }
    }

    async fn send<B: Serialize>(&self, op: Op, params: &[&str], query: &[(&str, String)], body: Option<&B>) -> Result<bytes::Bytes> {
        let method = Method::from_bytes(op.method.as_bytes()).expect("operation table methods are valid");
        let mut request = self.http.request(method, op.url(&self.base, params)).bearer_auth(&self.token);
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status();
        let request_id = response.headers().get("requestid").and_then(|v| v.to_str().ok()).map(str::to_string);
        let bytes = response.bytes().await?;
        if status.is_success() {
            return Ok(bytes);
        }
        match serde_json::from_slice::<PowerBiErrorBody>(&bytes) {
            Ok(e) => Err(ClientError::Api { status, code: e.error.code, message: e.error.message.unwrap_or_default(), request_id }),
            Err(_) => Err(ClientError::Unexpected { status, body: String::from_utf8_lossy(&bytes).into() }),
        }
    }

    async fn json<T: DeserializeOwned, B: Serialize>(
        &self,
        op: Op,
        params: &[&str],
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<T> {
        let bytes = self.send(op, params, query, body).await?;
        serde_json::from_slice(&bytes)
            .map_err(|_| ClientError::Unexpected { status: StatusCode::OK, body: String::from_utf8_lossy(&bytes).into() })
    }

    /// `GET /groups` with optional `$filter`, `$top`, `$skip`.
    pub async fn get_groups(&self, filter: Option<&str>, top: Option<u32>, skip: Option<u32>) -> Result<ODataList<Group>> {
        let mut query = Vec::new();
        if let Some(f) = filter {
            query.push(("$filter", f.to_string()));
        }
        if let Some(t) = top {
            query.push(("$top", t.to_string()));
        }
        if let Some(s) = skip {
            query.push(("$skip", s.to_string()));
        }
        self.json(op::GET_GROUPS, &[], &query, None::<&()>).await
    }

    /// `POST /groups?workspaceV2=True`: create a workspace; the caller becomes its Admin.
    pub async fn create_group(&self, name: &str) -> Result<Group> {
        let created: ODataEntity<Group> =
            self.json(op::CREATE_GROUP, &[], &[("workspaceV2", "True".into())], Some(&GroupCreationRequest { name: name.into() })).await?;
        Ok(created.entity)
    }

    pub async fn delete_group(&self, group: Uuid) -> Result<()> {
        self.send(op::DELETE_GROUP, &[&group.to_string()], &[], None::<&()>).await.map(drop)
    }

    pub async fn get_group_users(&self, group: Uuid) -> Result<Vec<GroupUser>> {
        let list: ODataList<GroupUser> = self.json(op::GET_GROUP_USERS, &[&group.to_string()], &[], None::<&()>).await?;
        Ok(list.value)
    }

    pub async fn add_group_user(&self, group: Uuid, user: &GroupUser) -> Result<()> {
        self.send(op::ADD_GROUP_USER, &[&group.to_string()], &[], Some(user)).await.map(drop)
    }

    pub async fn update_group_user(&self, group: Uuid, user: &GroupUser) -> Result<()> {
        self.send(op::UPDATE_GROUP_USER, &[&group.to_string()], &[], Some(user)).await.map(drop)
    }

    /// `DELETE /groups/{id}/users/{user}`: `user` is a UPN/email or an object id (URL-encoded here).
    pub async fn delete_group_user(&self, group: Uuid, user: &str) -> Result<()> {
        self.send(op::DELETE_USER_IN_GROUP, &[&group.to_string(), &encode_segment(user)], &[], None::<&()>).await.map(drop)
    }

    pub async fn get_group_users_as_admin(&self, group: Uuid) -> Result<Vec<GroupUser>> {
        let list: ODataList<GroupUser> = self.json(op::GET_GROUP_USERS_AS_ADMIN, &[&group.to_string()], &[], None::<&()>).await?;
        Ok(list.value)
    }

    pub async fn add_user_as_admin(&self, group: Uuid, user: &GroupUser) -> Result<()> {
        self.send(op::ADD_USER_AS_ADMIN, &[&group.to_string()], &[], Some(user)).await.map(drop)
    }

    pub async fn delete_user_as_admin(&self, group: Uuid, user: &str, is_group: bool) -> Result<()> {
        let query = if is_group { vec![("isGroup", "true".to_string())] } else { vec![] };
        self.send(op::DELETE_USER_AS_ADMIN, &[&group.to_string(), &encode_segment(user)], &query, None::<&()>).await.map(drop)
    }

    async fn list<T: DeserializeOwned>(&self, op: Op, params: &[&str]) -> Result<Vec<T>> {
        let list: ODataList<T> = self.json(op, params, &[], None::<&()>).await?;
        Ok(list.value)
    }

    async fn entity<T: DeserializeOwned>(&self, op: Op, params: &[&str]) -> Result<T> {
        let entity: ODataEntity<T> = self.json(op, params, &[], None::<&()>).await?;
        Ok(entity.entity)
    }

    pub async fn get_datasets_in_group(&self, group: Uuid) -> Result<Vec<Dataset>> {
        self.list(op::GET_DATASETS_IN_GROUP, &[&group.to_string()]).await
    }

    pub async fn get_dataset_in_group(&self, group: Uuid, dataset: &str) -> Result<Dataset> {
        self.entity(op::GET_DATASET_IN_GROUP, &[&group.to_string(), &encode_segment(dataset)]).await
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

    /// `GET /datasets/{id}/users`, or `/groups/{group}/datasets/{id}/users` with a group.
    pub async fn get_dataset_users(&self, group: Option<Uuid>, dataset: &str) -> Result<Vec<DatasetUserAccess>> {
        match group {
            Some(g) => self.list(op::GET_DATASET_USERS_IN_GROUP, &[&g.to_string(), &encode_segment(dataset)]).await,
            None => self.list(op::GET_DATASET_USERS, &[&encode_segment(dataset)]).await,
        }
    }

    /// `POST …/datasets/{id}/users`: grant.
    pub async fn post_dataset_user(&self, group: Option<Uuid>, dataset: &str, user: &DatasetUserAccess) -> Result<()> {
        match group {
            Some(g) => self.send(op::POST_DATASET_USER_IN_GROUP, &[&g.to_string(), &encode_segment(dataset)], &[], Some(user)).await,
            None => self.send(op::POST_DATASET_USER, &[&encode_segment(dataset)], &[], Some(user)).await,
        }
        .map(drop)
    }

    /// `PUT …/datasets/{id}/users`: replace (`None` removes).
    pub async fn put_dataset_user(&self, group: Option<Uuid>, dataset: &str, user: &DatasetUserAccess) -> Result<()> {
        match group {
            Some(g) => self.send(op::PUT_DATASET_USER_IN_GROUP, &[&g.to_string(), &encode_segment(dataset)], &[], Some(user)).await,
            None => self.send(op::PUT_DATASET_USER, &[&encode_segment(dataset)], &[], Some(user)).await,
        }
        .map(drop)
    }

    /// `DELETE /datasets/{id}/users/{user}` (not in the Swagger; the offboarding guides call it).
    pub async fn delete_dataset_user(&self, dataset: &str, user: &str) -> Result<()> {
        self.send(op::DELETE_DATASET_USER, &[&encode_segment(dataset), &encode_segment(user)], &[], None::<&()>).await.map(drop)
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

    pub async fn get_dataflow_users_as_admin(&self, dataflow: Uuid) -> Result<Vec<DataflowUser>> {
        self.list(op::GET_DATAFLOW_USERS_AS_ADMIN, &[&dataflow.to_string()]).await
    }

    pub async fn get_app_users_as_admin(&self, app: Uuid) -> Result<Vec<AppUser>> {
        self.list(op::GET_APP_USERS_AS_ADMIN, &[&app.to_string()]).await
    }

    pub async fn get_capacity_users_as_admin(&self, capacity: Uuid) -> Result<Vec<CapacityUser>> {
        self.list(op::GET_CAPACITY_USERS_AS_ADMIN, &[&capacity.to_string()]).await
    }
}
