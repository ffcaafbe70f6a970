//! The SCIM 2.0 dialect (RFC 7643/7644), per tenant under `/{tenant}/scim/v2/`: Users and Groups
//! (the same directory rows the Power BI side sees), plus the discovery endpoints. Callers
//! authenticate with the tenant's provisioning secret as a bearer token, as Entra ID's and
//! Okta's provisioning clients do. `routes()` is the routing table; errors are RFC 7644 §3.12
//! bodies.

pub mod error;
pub mod extract;
pub mod filter;
mod groups;
pub mod patch;
pub mod resources;
mod users;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use pbi_wire::ops::Op;
use serde_json::{json, Map, Value};

use self::error::{ScimError, SCIM_JSON};
use self::extract::{ScimCaller, ScimQuery, ScimTenant};
use self::filter::Filter;
use crate::api::routing::{by_path, dialect_ops, route};
use crate::app::AppState;
use crate::store::DirError;

dialect_ops! {
    SERVICE_PROVIDER_CONFIG = "GET" "/{tenant}/scim/v2/ServiceProviderConfig" "ServiceProviderConfig";
    RESOURCE_TYPES = "GET" "/{tenant}/scim/v2/ResourceTypes" "ResourceTypes";
    RESOURCE_TYPE = "GET" "/{tenant}/scim/v2/ResourceTypes/{id}" "ResourceType";
    SCHEMAS = "GET" "/{tenant}/scim/v2/Schemas" "Schemas";
    SCHEMA = "GET" "/{tenant}/scim/v2/Schemas/{id}" "Schema";
    LIST_USERS = "GET" "/{tenant}/scim/v2/Users" "ListUsers";
    CREATE_USER = "POST" "/{tenant}/scim/v2/Users" "CreateUser";
    GET_USER = "GET" "/{tenant}/scim/v2/Users/{id}" "GetUser";
    REPLACE_USER = "PUT" "/{tenant}/scim/v2/Users/{id}" "ReplaceUser";
    PATCH_USER = "PATCH" "/{tenant}/scim/v2/Users/{id}" "PatchUser";
    DELETE_USER = "DELETE" "/{tenant}/scim/v2/Users/{id}" "DeleteUser";
    LIST_GROUPS = "GET" "/{tenant}/scim/v2/Groups" "ListGroups";
    CREATE_GROUP = "POST" "/{tenant}/scim/v2/Groups" "CreateGroup";
    GET_GROUP = "GET" "/{tenant}/scim/v2/Groups/{id}" "GetGroup";
    REPLACE_GROUP = "PUT" "/{tenant}/scim/v2/Groups/{id}" "ReplaceGroup";
    PATCH_GROUP = "PATCH" "/{tenant}/scim/v2/Groups/{id}" "PatchGroup";
    DELETE_GROUP = "DELETE" "/{tenant}/scim/v2/Groups/{id}" "DeleteGroup";
}

pub use crate::api::routing::Route;

/// The routing table of the SCIM dialect.
pub fn routes() -> Vec<Route> {
    vec![
        route(SERVICE_PROVIDER_CONFIG, service_provider_config),
        route(RESOURCE_TYPES, resource_types),
        route(RESOURCE_TYPE, resource_type),
        route(SCHEMAS, schemas),
        route(SCHEMA, schema),
        route(LIST_USERS, users::list),
        route(CREATE_USER, users::create),
        route(GET_USER, users::get),
        route(REPLACE_USER, users::replace),
        route(PATCH_USER, users::patch),
        route(DELETE_USER, users::delete),
        route(LIST_GROUPS, groups::list),
        route(CREATE_GROUP, groups::create),
        route(GET_GROUP, groups::get),
        route(REPLACE_GROUP, groups::replace),
        route(PATCH_GROUP, groups::patch),
        route(DELETE_GROUP, groups::delete),
    ]
}

/// The operations of this dialect, for the compatibility matrix.
pub fn routes_summary() -> Vec<Op> {
    routes().into_iter().map(|r| r.op).collect()
}

pub fn router() -> Router<AppState> {
    by_path(routes(), method_not_allowed)
        .route("/{tenant}/scim/v2", any(no_such_endpoint))
        .route("/{tenant}/scim/v2/{*rest}", any(no_such_endpoint))
}

async fn method_not_allowed() -> ScimError {
    ScimError::new(StatusCode::METHOD_NOT_ALLOWED, None, "This SCIM endpoint does not support this HTTP method")
}

async fn no_such_endpoint() -> ScimError {
    ScimError::new(StatusCode::NOT_FOUND, None, "No SCIM endpoint matches this path")
}

/// `{public_url}/{tenant}/scim/v2`.
pub(crate) fn base_url(state: &AppState, tenant: uuid::Uuid) -> String {
    format!("{}/{tenant}/scim/v2", state.public_url)
}

/// A SCIM JSON response, with an ETag when the resource has a version.
pub(crate) fn scim_response(status: StatusCode, body: &Map<String, Value>) -> Response {
    let mut response = (status, Value::Object(body.clone()).to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    if let Some(v) = body.get("meta").and_then(|m| m.get("version")).and_then(Value::as_str).and_then(|v| HeaderValue::from_str(v).ok()) {
        response.headers_mut().insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED {
        if let Some(loc) =
            body.get("meta").and_then(|m| m.get("location")).and_then(Value::as_str).and_then(|v| HeaderValue::from_str(v).ok())
        {
            response.headers_mut().insert(header::LOCATION, loc);
        }
    }
    response
}

/// `startIndex` (1-based) and `count` of a list request.
pub(crate) fn paging(query: &ScimQuery) -> Result<(usize, usize), ScimError> {
    let num = |name: &str, default: i64| -> Result<i64, ScimError> {
        match query.get(name) {
            None => Ok(default),
            Some(v) => v.trim().parse::<i64>().map_err(|_| ScimError::invalid_value(format!("'{name}' must be an integer, not '{v}'"))),
        }
    };
    let start = num("startIndex", 1)?.max(1) as usize;
    let count = num("count", 100)?.clamp(0, resources::MAX_RESULTS as i64) as usize;
    Ok((start, count))
}

/// A ListResponse: one page of resources out of `total` matches, starting at `start`.
pub(crate) fn list_response(page: Vec<Map<String, Value>>, total: usize, start: usize) -> Response {
    let n = page.len();
    let body = json!({
        "schemas": [resources::LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": n,
        "Resources": page.into_iter().map(Value::Object).collect::<Vec<_>>(),
    });
    scim_response(StatusCode::OK, body.as_object().expect("an object"))
}

/// The `{id}` of a `/Users/{id}` or `/Groups/{id}` request; one that is no UUID names nothing.
pub(crate) fn resource_id(caller: &ScimCaller) -> Result<uuid::Uuid, ScimError> {
    let id = caller.id.clone().unwrap_or_default();
    uuid::Uuid::parse_str(&id).map_err(|_| ScimError::not_found("Resource", &id))
}

/// A store error of a write to resource `id`, its `NotFound` named as that resource missing.
pub(crate) fn not_found(id: uuid::Uuid) -> impl Fn(DirError) -> ScimError {
    move |e| match e {
        DirError::NotFound => ScimError::not_found("Resource", &id.to_string()),
        other => other.into(),
    }
}

/// A list request's `filter` (a blank one is none).
pub(crate) fn list_filter(query: &ScimQuery) -> Result<Option<Filter>, ScimError> {
    query.get("filter").filter(|f| !f.trim().is_empty()).map(filter::parse_filter).transpose()
}

/// `resource` cut to the request's `attributes` / `excludedAttributes`.
pub(crate) fn project_for(query: &ScimQuery, resource: Map<String, Value>) -> Result<Map<String, Value>, ScimError> {
    resources::project(resource, query.get("attributes"), query.get("excludedAttributes"))
}

/// PUT's edit of a resource's document: `body` replaces every attribute but the read-only
/// `id`, `meta` and `schemas`, which are kept.
pub(crate) fn replace_document(doc: &mut Map<String, Value>, body: Map<String, Value>) {
    let keep: Vec<(String, Value)> =
        ["id", "meta", "schemas"].iter().filter_map(|k| doc.get(*k).map(|v| (k.to_string(), v.clone()))).collect();
    *doc = body;
    for (k, v) in keep {
        doc.insert(k, v);
    }
}

/// Inside a store transaction: keep the SCIM error `e` in `failure` (the handler answers with
/// it) and abort the write.
pub(crate) fn refuse(failure: &mut Option<ScimError>, e: ScimError) -> DirError {
    *failure = Some(e);
    DirError::Invalid("the SCIM request was refused".into())
}

async fn service_provider_config(state: axum::extract::State<AppState>, t: ScimTenant) -> Response {
    let body = resources::service_provider_config(&base_url(&state, t.tenant.id));
    scim_response(StatusCode::OK, body.as_object().expect("an object"))
}

async fn resource_types(state: axum::extract::State<AppState>, t: ScimTenant) -> Response {
    let all =
        resources::resource_types(&base_url(&state, t.tenant.id)).into_iter().filter_map(|v| v.as_object().cloned()).collect::<Vec<_>>();
    let n = all.len();
    list_response(all, n, 1)
}

async fn resource_type(state: axum::extract::State<AppState>, t: ScimTenant) -> Result<Response, ScimError> {
    let id = t.id.unwrap_or_default();
    resources::resource_types(&base_url(&state, t.tenant.id))
        .into_iter()
        .find(|r| r["id"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(&id)))
        .map(|r| scim_response(StatusCode::OK, r.as_object().expect("an object")))
        .ok_or_else(|| ScimError::not_found("ResourceType", &id))
}

fn all_schemas() -> Vec<Value> {
    vec![resources::user_schema(), resources::enterprise_schema(), resources::group_schema()]
}

async fn schemas(_t: ScimTenant) -> Response {
    let all = all_schemas().into_iter().filter_map(|v| v.as_object().cloned()).collect::<Vec<_>>();
    let n = all.len();
    list_response(all, n, 1)
}

async fn schema(t: ScimTenant) -> Result<Response, ScimError> {
    let id = t.id.unwrap_or_default();
    all_schemas()
        .into_iter()
        .find(|s| s["id"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(&id)))
        .map(|s| scim_response(StatusCode::OK, s.as_object().expect("an object")))
        .ok_or_else(|| ScimError::not_found("Schema", &id))
}
