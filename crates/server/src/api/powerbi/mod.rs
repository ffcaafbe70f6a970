//! The Power BI REST v1.0 dialect. `routes()` is the one routing table: every user-management
//! operation of the reference, with the scopes and admin level it demands and its handler, or
//! none yet (then it answers 501 in the Power BI error format). The router and
//! `docs/compatibility.md` are both generated from it.

pub mod activity;
pub mod admin;
pub mod continuation;
pub mod error;
pub mod extract;
pub mod groups;
pub mod odata;
pub mod scanner;

use axum::handler::Handler;
use axum::http::{Method, StatusCode};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Extension, Router};
use pbi_wire::ops::{powerbi as op, Op};

use self::error::PbiError;
use self::extract::{AdminAccess, RouteAccess};
use crate::app::AppState;

const WORKSPACE_READ: &[&str] = &["Workspace.Read.All", "Workspace.ReadWrite.All"];
const WORKSPACE_WRITE: &[&str] = &["Workspace.ReadWrite.All"];
const TENANT_READ: &[&str] = &["Tenant.Read.All", "Tenant.ReadWrite.All"];
const TENANT_WRITE: &[&str] = &["Tenant.ReadWrite.All"];
const DATASET_READ: &[&str] = &["Dataset.Read.All", "Dataset.ReadWrite.All"];
const DATASET_WRITE: &[&str] = &["Dataset.ReadWrite.All"];
const PIPELINE_READ: &[&str] = &["Pipeline.Read.All", "Pipeline.ReadWrite.All"];
const PIPELINE_WRITE: &[&str] = &["Pipeline.ReadWrite.All"];

/// One row of the routing table.
pub struct Route {
    pub op: Op,
    pub access: RouteAccess,
    pub handler: Option<MethodRouter<AppState>>,
}

fn filter(op: Op) -> MethodFilter {
    let method = Method::from_bytes(op.method.as_bytes()).expect("operation table methods are valid");
    MethodFilter::try_from(method).expect("operation table methods are routable")
}

fn built<H, T>(op: Op, scopes: &'static [&'static str], admin: AdminAccess, handler: H) -> Route
where
    H: Handler<T, AppState>,
    T: 'static,
{
    Route { op, access: RouteAccess { scopes, admin }, handler: Some(on(filter(op), handler)) }
}

fn planned(op: Op, scopes: &'static [&'static str], admin: AdminAccess) -> Route {
    Route { op, access: RouteAccess { scopes, admin }, handler: None }
}

/// The routing table of the Power BI API.
pub fn routes() -> Vec<Route> {
    use AdminAccess::{No, Read, Write};
    vec![
        built(op::GET_GROUPS, WORKSPACE_READ, No, groups::get_groups),
        built(op::CREATE_GROUP, WORKSPACE_WRITE, No, groups::create_group),
        built(op::GET_GROUP, WORKSPACE_READ, No, groups::get_group),
        planned(op::UPDATE_GROUP, WORKSPACE_WRITE, No),
        built(op::DELETE_GROUP, WORKSPACE_WRITE, No, groups::delete_group),
        built(op::GET_GROUP_USERS, WORKSPACE_READ, No, groups::get_group_users),
        built(op::ADD_GROUP_USER, WORKSPACE_WRITE, No, groups::add_group_user),
        built(op::UPDATE_GROUP_USER, WORKSPACE_WRITE, No, groups::update_group_user),
        built(op::DELETE_USER_IN_GROUP, WORKSPACE_WRITE, No, groups::delete_user_in_group),
        built(op::GET_GROUP_USERS_AS_ADMIN, TENANT_READ, Read, groups::get_group_users_as_admin),
        built(op::ADD_USER_AS_ADMIN, TENANT_WRITE, Write, groups::add_user_as_admin),
        built(op::DELETE_USER_AS_ADMIN, TENANT_WRITE, Write, groups::delete_user_as_admin),
        built(op::GET_GROUPS_AS_ADMIN, TENANT_READ, Read, admin::get_groups_as_admin),
        built(op::GET_USER_ARTIFACT_ACCESS_AS_ADMIN, TENANT_READ, Read, admin::get_user_artifact_access),
        built(op::GET_USER_SUBSCRIPTIONS_AS_ADMIN, TENANT_READ, Read, admin::get_user_subscriptions),
        built(op::GET_ACTIVITY_EVENTS, TENANT_READ, Read, admin::get_activity_events),
        planned(op::GET_REPORT_USERS_AS_ADMIN, TENANT_READ, Read),
        planned(op::GET_DASHBOARD_USERS_AS_ADMIN, TENANT_READ, Read),
        planned(op::GET_DATASET_USERS_AS_ADMIN, TENANT_READ, Read),
        planned(op::GET_APP_USERS_AS_ADMIN, TENANT_READ, Read),
        planned(op::GET_DATAFLOW_USERS_AS_ADMIN, TENANT_READ, Read),
        planned(op::GET_CAPACITY_USERS_AS_ADMIN, TENANT_READ, Read),
        planned(op::GET_DATASET_USERS, DATASET_READ, No),
        planned(op::POST_DATASET_USER, DATASET_WRITE, No),
        planned(op::PUT_DATASET_USER, DATASET_WRITE, No),
        planned(op::DELETE_DATASET_USER, DATASET_WRITE, No),
        planned(op::GET_DATASET_USERS_IN_GROUP, DATASET_READ, No),
        planned(op::POST_DATASET_USER_IN_GROUP, DATASET_WRITE, No),
        planned(op::PUT_DATASET_USER_IN_GROUP, DATASET_WRITE, No),
        built(op::POST_WORKSPACE_INFO, TENANT_READ, Read, scanner::post_workspace_info),
        built(op::GET_SCAN_STATUS, TENANT_READ, Read, scanner::get_scan_status),
        built(op::GET_SCAN_RESULT, TENANT_READ, Read, scanner::get_scan_result),
        built(op::GET_MODIFIED_WORKSPACES, TENANT_READ, Read, scanner::get_modified_workspaces),
        planned(op::REFRESH_USER_PERMISSIONS, WORKSPACE_READ, No),
        planned(op::GET_PIPELINE_USERS, PIPELINE_READ, No),
        planned(op::UPDATE_PIPELINE_USER, PIPELINE_WRITE, No),
        planned(op::DELETE_PIPELINE_USER, PIPELINE_WRITE, No),
        planned(op::GET_PIPELINE_USERS_AS_ADMIN, TENANT_READ, Read),
        planned(op::UPDATE_USER_AS_ADMIN_PIPELINE, TENANT_WRITE, Write),
        planned(op::DELETE_USER_AS_ADMIN_PIPELINE, TENANT_WRITE, Write),
        planned(op::GET_DATASOURCE_USERS, DATASET_READ, No),
        planned(op::ADD_DATASOURCE_USER, DATASET_WRITE, No),
        planned(op::DELETE_DATASOURCE_USER, DATASET_WRITE, No),
    ]
}

/// Unbuilt operations still authenticate first, as the real service would.
async fn not_implemented(op_id: &'static str, caller: Result<extract::Authenticated, PbiError>) -> PbiError {
    if let Err(e) = caller {
        return e;
    }
    PbiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "NotImplemented",
        format!("{op_id} is part of the Power BI API but not implemented by pbi-access yet; see docs/compatibility.md"),
    )
}

/// Build the axum router from the table.
pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    for route in routes() {
        let op = route.op;
        let handler = route
            .handler
            .unwrap_or_else(|| on(filter(op), move |caller: Result<extract::Authenticated, PbiError>| not_implemented(op.id, caller)));
        router = router.route(op.path, handler.layer(Extension(route.access)));
    }
    router
}

/// The compatibility matrix, generated from the routing table (`docs/compatibility.md`).
pub fn compatibility_markdown() -> String {
    let mut out = String::from(
        "# Compatibility\n\nGenerated from the routing tables in `crates/server/src/api/*/mod.rs` \
         (`UPDATE_DOCS=1 cargo test -p pbi-server --test api compatibility` rewrites it; a test fails when it is stale).\n\n\
         ## Power BI REST v1.0\n\n| operationId | method | path | status | delegated scopes (any of) | admin |\n|---|---|---|---|---|---|\n",
    );
    for route in routes() {
        let status = if route.handler.is_some() { "implemented" } else { "501 (planned)" };
        let admin = match route.access.admin {
            AdminAccess::No => "no",
            AdminAccess::Read => "Fabric admin, or service principal",
            AdminAccess::Write => "Fabric admin",
        };
        out.push_str(&format!(
            "| {} | {} | `{}` | {} | {} | {} |\n",
            route.op.id,
            route.op.method,
            route.op.path,
            status,
            route.access.scopes.join(", "),
            admin
        ));
    }
    out.push_str("\n## Identity (Entra ID v2.0)\n\n| operation | method | path | status |\n|---|---|---|---|\n");
    for (op, implemented) in crate::api::oauth::routes_summary() {
        out.push_str(&format!(
            "| {} | {} | `{}` | {} |\n",
            op.id,
            op.method,
            op.path,
            if implemented { "implemented" } else { "501 (planned)" }
        ));
    }
    out
}
