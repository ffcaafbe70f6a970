//! The Microsoft Graph v1.0 dialect (a directory subset) under `/graph/v1.0/`: users (with soft
//! delete and restore), groups and their members, licenses (subscribed SKUs, direct and
//! group-based assignment). Callers present access tokens of the tenant; every read and write is
//! confined to the caller's tenant. `routes()` is the routing table.

mod audit;
pub mod error;
pub mod extract;
mod groups;
mod me;
mod memberships;
pub mod odata;
mod users;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use pbi_wire::ops::Op;

use self::error::GraphError;
use crate::api::routing::{by_path, dialect_ops, route};
use crate::app::AppState;

dialect_ops! {
    LIST_USERS = "GET" "/graph/v1.0/users" "user: list";
    COUNT_USERS = "GET" "/graph/v1.0/users/$count" "user: count";
    CREATE_USER = "POST" "/graph/v1.0/users" "user: create";
    GET_USER = "GET" "/graph/v1.0/users/{id}" "user: get";
    UPDATE_USER = "PATCH" "/graph/v1.0/users/{id}" "user: update";
    DELETE_USER = "DELETE" "/graph/v1.0/users/{id}" "user: delete";
    ASSIGN_USER_LICENSE = "POST" "/graph/v1.0/users/{id}/assignLicense" "user: assignLicense";
    REPROCESS_LICENSES = "POST" "/graph/v1.0/users/{id}/reprocessLicenseAssignment" "user: reprocessLicenseAssignment";
    LICENSE_DETAILS = "GET" "/graph/v1.0/users/{id}/licenseDetails" "user: list licenseDetails";
    USER_MEMBER_OF = "GET" "/graph/v1.0/users/{id}/memberOf" "user: list memberOf";
    USER_TRANSITIVE_MEMBER_OF = "GET" "/graph/v1.0/users/{id}/transitiveMemberOf" "user: list transitiveMemberOf";
    LIST_DELETED_USERS = "GET" "/graph/v1.0/directory/deletedItems/microsoft.graph.user" "directory: list deletedItems (users)";
    RESTORE_DELETED = "POST" "/graph/v1.0/directory/deletedItems/{id}/restore" "directory: restore deleted item";
    SUBSCRIBED_SKUS = "GET" "/graph/v1.0/subscribedSkus" "subscribedSku: list";
    LIST_GROUPS = "GET" "/graph/v1.0/groups" "group: list";
    COUNT_GROUPS = "GET" "/graph/v1.0/groups/$count" "group: count";
    CREATE_GROUP = "POST" "/graph/v1.0/groups" "group: create";
    GET_GROUP = "GET" "/graph/v1.0/groups/{id}" "group: get";
    GROUP_MEMBER_OF = "GET" "/graph/v1.0/groups/{id}/memberOf" "group: list memberOf";
    GROUP_TRANSITIVE_MEMBER_OF = "GET" "/graph/v1.0/groups/{id}/transitiveMemberOf" "group: list transitiveMemberOf";
    LIST_GROUP_MEMBERS = "GET" "/graph/v1.0/groups/{id}/members" "group: list members";
    LIST_GROUP_TRANSITIVE_MEMBERS = "GET" "/graph/v1.0/groups/{id}/transitiveMembers" "group: list transitiveMembers";
    LIST_GROUP_OWNERS = "GET" "/graph/v1.0/groups/{id}/owners" "group: list owners";
    ADD_GROUP_MEMBER = "POST" "/graph/v1.0/groups/{id}/members/$ref" "group: add member";
    REMOVE_GROUP_MEMBER = "DELETE" "/graph/v1.0/groups/{id}/members/{member}/$ref" "group: remove member";
    ASSIGN_GROUP_LICENSE = "POST" "/graph/v1.0/groups/{id}/assignLicense" "group: assignLicense";
    GET_ME = "GET" "/graph/v1.0/me" "user: get (signed-in user)";
    ME_MEMBER_OF = "GET" "/graph/v1.0/me/memberOf" "user: list memberOf (signed-in user)";
    USERINFO = "GET" "/graph/oidc/userinfo" "OpenID Connect userinfo";
    USERINFO_POST = "POST" "/graph/oidc/userinfo" "OpenID Connect userinfo (POST)";
    LIST_DIRECTORY_AUDITS = "GET" "/graph/v1.0/auditLogs/directoryAudits" "directoryAudit: list";
}

pub use crate::api::routing::Route;

/// The routing table of the Graph dialect.
pub fn routes() -> Vec<Route> {
    vec![
        route(LIST_USERS, users::list),
        route(COUNT_USERS, users::count),
        route(CREATE_USER, users::create),
        route(GET_USER, users::get),
        route(UPDATE_USER, users::update),
        route(DELETE_USER, users::delete),
        route(ASSIGN_USER_LICENSE, users::assign_license),
        route(REPROCESS_LICENSES, users::reprocess_licenses),
        route(LICENSE_DETAILS, users::license_details),
        route(USER_MEMBER_OF, memberships::user_member_of),
        route(USER_TRANSITIVE_MEMBER_OF, memberships::user_transitive_member_of),
        route(LIST_DELETED_USERS, users::list_deleted),
        route(RESTORE_DELETED, users::restore),
        route(SUBSCRIBED_SKUS, users::subscribed_skus),
        route(LIST_GROUPS, groups::list),
        route(COUNT_GROUPS, groups::count),
        route(CREATE_GROUP, groups::create),
        route(GET_GROUP, groups::get),
        route(GROUP_MEMBER_OF, memberships::group_member_of),
        route(GROUP_TRANSITIVE_MEMBER_OF, memberships::group_transitive_member_of),
        route(LIST_GROUP_MEMBERS, memberships::group_members),
        route(LIST_GROUP_TRANSITIVE_MEMBERS, memberships::group_transitive_members),
        route(LIST_GROUP_OWNERS, memberships::group_owners),
        route(ADD_GROUP_MEMBER, groups::add_member),
        route(REMOVE_GROUP_MEMBER, groups::remove_member),
        route(ASSIGN_GROUP_LICENSE, groups::assign_license),
        route(GET_ME, me::get),
        route(ME_MEMBER_OF, me::member_of),
        route(USERINFO, me::userinfo),
        route(USERINFO_POST, me::userinfo),
        route(LIST_DIRECTORY_AUDITS, audit::list),
    ]
}

pub fn routes_summary() -> Vec<Op> {
    routes().into_iter().map(|r| r.op).collect()
}

/// The router; `state` feeds the middleware that renders errors with `innerError`.
pub fn router(state: AppState) -> Router<AppState> {
    by_path(routes(), method_not_allowed)
        .route("/graph/v1.0", any(no_such_segment))
        .route("/graph/v1.0/{*rest}", any(no_such_segment))
        .layer(axum::middleware::from_fn_with_state(state, error::stamp))
}

async fn method_not_allowed() -> GraphError {
    GraphError::new(StatusCode::METHOD_NOT_ALLOWED, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
}

async fn no_such_segment(uri: axum::http::Uri) -> GraphError {
    let segment = uri.path().trim_start_matches("/graph/v1.0").trim_start_matches('/').split('/').next().unwrap_or_default().to_string();
    GraphError::odata(format!("Resource not found for the segment '{segment}'."))
}

/// `{public_url}/graph/v1.0`.
/// `201 Created` with the new object and its address in `Location`.
fn created_at(body: serde_json::Value, location: &str) -> Response {
    let mut response = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(loc) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, loc);
    }
    response
}

/// The body of `GET /users` or `GET /groups` (`segment`): one keyset page of `objects`.
fn directory_list(
    state: &AppState,
    segment: &str,
    query: &extract::GraphQuery,
    request: &odata::ListRequest,
    objects: Vec<serde_json::Map<String, serde_json::Value>>,
    count: Option<i64>,
    last: Option<String>,
) -> serde_json::Value {
    let base = base_url(state);
    let context = format!("{base}/$metadata#{segment}{}", odata::select_suffix(&request.selected));
    odata::keyset_collection(context, objects, &format!("{base}/{segment}"), query, request, count, last)
}

pub(crate) fn base_url(state: &AppState) -> String {
    format!("{}/graph/v1.0", state.public_url)
}

pub(crate) fn rfc3339(millis: i64) -> String {
    use chrono::TimeZone;
    chrono::Utc.timestamp_millis_opt(millis).single().unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
