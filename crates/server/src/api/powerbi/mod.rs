//! The Power BI REST v1.0 dialect. `routes()` is the one routing table: every user-management
//! operation of the reference, with the scopes and admin level it demands (the request budgets
//! it draws on come from `pbi_wire::budgets`), and its handler, or none yet (then it answers 501 in
//! the Power BI error format). The router and `docs/compatibility.md` are both generated from it.

pub mod activity;
pub mod admin;
pub mod artifacts;
pub mod continuation;
pub mod dataset_users;
pub mod error;
pub mod extract;
pub mod gate;
pub mod groups;
pub mod items;
pub mod odata;
pub mod page_cache;
pub mod shared_items;
pub mod throttle;

use std::sync::Arc;
pub mod scanner;

use axum::handler::Handler;
use axum::http::StatusCode;
use axum::routing::on;
use axum::{Extension, Router};
use pbi_wire::ops::{powerbi as op, Op};

use self::error::PbiError;
use self::extract::{AdminAccess, RouteAccess};
use self::gate::RouteGate;
use crate::api::routing::method_filter;
use crate::app::AppState;
use crate::config::Throttling;

const WORKSPACE_READ: &[&str] = &["Workspace.Read.All", "Workspace.ReadWrite.All"];
const WORKSPACE_WRITE: &[&str] = &["Workspace.ReadWrite.All"];
const TENANT_READ: &[&str] = &["Tenant.Read.All", "Tenant.ReadWrite.All"];
const TENANT_WRITE: &[&str] = &["Tenant.ReadWrite.All"];
const DATASET_READ: &[&str] = &["Dataset.Read.All", "Dataset.ReadWrite.All"];
const DATASET_WRITE: &[&str] = &["Dataset.ReadWrite.All"];
const REPORT_READ: &[&str] = &["Report.Read.All", "Report.ReadWrite.All"];
const DASHBOARD_READ: &[&str] = &["Dashboard.Read.All", "Dashboard.ReadWrite.All"];
const DATAFLOW_READ: &[&str] = &["Dataflow.Read.All", "Dataflow.ReadWrite.All"];
const APP_READ: &[&str] = &["App.Read.All"];
const CAPACITY_READ: &[&str] = &["Capacity.Read.All", "Capacity.ReadWrite.All"];
const PIPELINE_READ: &[&str] = &["Pipeline.Read.All", "Pipeline.ReadWrite.All"];
const PIPELINE_WRITE: &[&str] = &["Pipeline.ReadWrite.All"];

/// One row of the routing table, with the scopes and admin access its gate checks.
pub type Route = crate::api::routing::Route<RouteAccess>;

fn built<H, T>(op: Op, scopes: &'static [&'static str], admin: AdminAccess, handler: H) -> Route
where
    H: Handler<T, AppState>,
    T: 'static,
{
    Route { op, access: RouteAccess { scopes, admin }, handler: Some(on(method_filter(op), handler)) }
}

/// An operation listed before its handler exists (it answers 501); none is planned today.
#[allow(dead_code)]
fn planned(op: Op, scopes: &'static [&'static str], admin: AdminAccess) -> Route {
    Route { op, access: RouteAccess { scopes, admin }, handler: None }
}

/// How long an operation may take before the service gives up on it: GetGroupsAsAdmin's
/// documented 30 s (`audit.groups_as_admin_timeout_ms`). Only read-only operations may have one,
/// since a timed-out handler is dropped part-way.
fn route_timeout(op: Op, audit: &crate::config::Audit) -> Option<std::time::Duration> {
    let ms = if op.id == op::GET_GROUPS_AS_ADMIN.id { audit.groups_as_admin_timeout_ms } else { 0 };
    (ms > 0).then(|| std::time::Duration::from_millis(ms))
}

/// The routing table of the Power BI API.
pub fn routes() -> Vec<Route> {
    use AdminAccess::{No, Read, Write};
    vec![
        built(op::GET_GROUPS, WORKSPACE_READ, No, groups::get_groups),
        built(op::CREATE_GROUP, WORKSPACE_WRITE, No, groups::create_group),
        built(op::GET_GROUP, WORKSPACE_READ, No, groups::get_group),
        built(op::UPDATE_GROUP, WORKSPACE_WRITE, No, groups::update_group),
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
        built(op::GET_REPORT_USERS_AS_ADMIN, TENANT_READ, Read, artifacts::get_report_users_as_admin),
        built(op::GET_DASHBOARD_USERS_AS_ADMIN, TENANT_READ, Read, artifacts::get_dashboard_users_as_admin),
        built(op::GET_DATASET_USERS_AS_ADMIN, TENANT_READ, Read, artifacts::get_dataset_users_as_admin),
        built(op::GET_APP_USERS_AS_ADMIN, TENANT_READ, Read, artifacts::get_app_users_as_admin),
        built(op::GET_DATAFLOW_USERS_AS_ADMIN, TENANT_READ, Read, artifacts::get_dataflow_users_as_admin),
        built(op::GET_CAPACITY_USERS_AS_ADMIN, TENANT_READ, Read, artifacts::get_capacity_users_as_admin),
        built(op::GET_DATASET_USERS, DATASET_READ, No, dataset_users::get_dataset_users),
        built(op::POST_DATASET_USER, DATASET_WRITE, No, dataset_users::post_dataset_user),
        built(op::PUT_DATASET_USER, DATASET_WRITE, No, dataset_users::put_dataset_user),
        built(op::DELETE_DATASET_USER, DATASET_WRITE, No, dataset_users::delete_dataset_user),
        built(op::GET_DATASET_USERS_IN_GROUP, DATASET_READ, No, dataset_users::get_dataset_users_in_group),
        built(op::POST_DATASET_USER_IN_GROUP, DATASET_WRITE, No, dataset_users::post_dataset_user_in_group),
        built(op::PUT_DATASET_USER_IN_GROUP, DATASET_WRITE, No, dataset_users::put_dataset_user_in_group),
        built(op::GET_DATASETS_IN_GROUP, DATASET_READ, No, artifacts::get_datasets_in_group),
        built(op::GET_DATASET_IN_GROUP, DATASET_READ, No, artifacts::get_dataset_in_group),
        built(op::GET_REPORTS_IN_GROUP, REPORT_READ, No, artifacts::get_reports_in_group),
        built(op::GET_REPORT_IN_GROUP, REPORT_READ, No, artifacts::get_report_in_group),
        built(op::GET_DASHBOARDS_IN_GROUP, DASHBOARD_READ, No, artifacts::get_dashboards_in_group),
        built(op::GET_DASHBOARD_IN_GROUP, DASHBOARD_READ, No, artifacts::get_dashboard_in_group),
        built(op::GET_DATAFLOWS, DATAFLOW_READ, No, artifacts::get_dataflows),
        built(op::GET_CAPACITIES, CAPACITY_READ, No, artifacts::get_capacities),
        built(op::GET_DATAFLOW, DATAFLOW_READ, No, items::get_dataflow),
        built(op::GET_DATASETS, DATASET_READ, No, items::get_datasets),
        built(op::GET_DATASET, DATASET_READ, No, items::get_dataset),
        built(op::GET_REPORTS, REPORT_READ, No, items::get_reports),
        built(op::GET_REPORT, REPORT_READ, No, items::get_report),
        built(op::GET_DASHBOARDS, DASHBOARD_READ, No, items::get_dashboards),
        built(op::GET_DASHBOARD, DASHBOARD_READ, No, items::get_dashboard),
        built(op::GET_APPS, APP_READ, No, items::get_apps),
        built(op::GET_APP, APP_READ, No, items::get_app),
        built(op::GET_APP_REPORTS, APP_READ, No, items::get_app_reports),
        built(op::GET_APP_REPORT, APP_READ, No, items::get_app_report),
        built(op::GET_APP_DASHBOARDS, APP_READ, No, items::get_app_dashboards),
        built(op::GET_APP_DASHBOARD, APP_READ, No, items::get_app_dashboard),
        built(op::GET_APPS_AS_ADMIN, TENANT_READ, Read, items::get_apps_as_admin),
        built(op::GET_REPORTS_AS_ADMIN, TENANT_READ, Read, items::get_reports_as_admin),
        built(op::GET_DATASETS_AS_ADMIN, TENANT_READ, Read, items::get_datasets_as_admin),
        built(op::GET_DASHBOARDS_AS_ADMIN, TENANT_READ, Read, items::get_dashboards_as_admin),
        built(op::GET_DATAFLOWS_AS_ADMIN, TENANT_READ, Read, items::get_dataflows_as_admin),
        built(op::POST_WORKSPACE_INFO, TENANT_READ, Read, scanner::post_workspace_info),
        built(op::GET_SCAN_STATUS, TENANT_READ, Read, scanner::get_scan_status),
        built(op::GET_SCAN_RESULT, TENANT_READ, Read, scanner::get_scan_result),
        built(op::GET_MODIFIED_WORKSPACES, TENANT_READ, Read, scanner::get_modified_workspaces),
        built(op::REFRESH_USER_PERMISSIONS, WORKSPACE_READ, No, groups::refresh_user_permissions),
        built(op::GET_PIPELINE_USERS, PIPELINE_READ, No, shared_items::get_pipeline_users),
        built(op::UPDATE_PIPELINE_USER, PIPELINE_WRITE, No, shared_items::update_pipeline_user),
        built(op::DELETE_PIPELINE_USER, PIPELINE_WRITE, No, shared_items::delete_pipeline_user),
        built(op::GET_PIPELINE_USERS_AS_ADMIN, TENANT_READ, Read, shared_items::get_pipeline_users_as_admin),
        built(op::UPDATE_USER_AS_ADMIN_PIPELINE, TENANT_WRITE, Write, shared_items::update_pipeline_user_as_admin),
        built(op::DELETE_USER_AS_ADMIN_PIPELINE, TENANT_WRITE, Write, shared_items::delete_pipeline_user_as_admin),
        built(op::GET_DATASOURCE_USERS, DATASET_READ, No, shared_items::get_datasource_users),
        built(op::ADD_DATASOURCE_USER, DATASET_WRITE, No, shared_items::add_datasource_user),
        built(op::DELETE_DATASOURCE_USER, DATASET_WRITE, No, shared_items::delete_datasource_user),
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

/// Build the axum router from the table. Every route passes its gate (authentication, fault
/// injection, request budgets) before the handler; the gate reads the route's access rules and
/// budgets from the extensions layered outside it.
pub fn router(state: &AppState) -> Router<AppState> {
    let mut router = Router::new();
    for route in routes() {
        let op = route.op;
        let handler = route.handler.unwrap_or_else(|| {
            on(method_filter(op), move |caller: Result<extract::Authenticated, PbiError>| not_implemented(op.id, caller))
        });
        let gate = Arc::new(RouteGate {
            op,
            budgets: throttle::budgets(&op, &state.config.throttling),
            timeout: route_timeout(op, &state.config.audit),
        });
        router = router.route(
            op.path,
            // Outermost first: the extensions are in place when the gate runs. A route layer
            // runs only for the route's own methods, so a wrong method stays a plain 405.
            handler.route_layer(
                tower::ServiceBuilder::new()
                    .layer(Extension(route.access))
                    .layer(Extension(gate))
                    .layer(axum::middleware::from_fn_with_state(state.clone(), gate::gate)),
            ),
        );
    }
    router
}

/// The compatibility matrix, generated from the routing table (`docs/compatibility.md`).
pub fn compatibility_markdown() -> String {
    let mut out = String::from(
        "# Compatibility\n\nGenerated from the routing tables in `crates/server/src/api/*/mod.rs` \
         (`UPDATE_DOCS=1 cargo test -p pbi-server --test api compatibility` rewrites it; a test fails when it is stale).\n\n\
         ## Power BI REST v1.0\n\nThe last column gives the request budgets each operation draws on with the default `[throttling]` \
         config (`pbi_wire::budgets`): `admin 200/h` is the tenant's one admin budget, shared by the admin operations (the scanner's and `workspaces/modified` have their own instead; `admin_budget = \"per_operation\"` gives each admin operation its own 200/h); the others are the operation's own. The witness is a test that exercises the operation, and its file (the compatibility test fails when it does not exist).\n\n\
         | operationId | method | path | status | delegated scopes (any of) | admin | throttling | witness |\n|---|---|---|---|---|---|---|---|\n",
    );
    for route in routes() {
        let status = if route.handler.is_some() { "implemented" } else { "501 (planned)" };
        let admin = match route.access.admin {
            AdminAccess::No => "no",
            AdminAccess::Read => "Fabric admin, or service principal",
            AdminAccess::Write => "Fabric admin",
        };
        let budgets = throttle::budgets(&route.op, &Throttling::default());
        let budgets =
            if budgets.is_empty() { "–".to_string() } else { budgets.iter().map(|b| b.describe()).collect::<Vec<_>>().join(" + ") };
        let witness = crate::api::witnesses::witness(&route.op).unwrap_or_else(|| "–".into());
        out.push_str(&format!(
            "| {} | {} | `{}` | {} | {} | {} | {} | {} |\n",
            route.op.id,
            route.op.method,
            route.op.path,
            status,
            route.access.scopes.join(", "),
            admin,
            budgets,
            witness
        ));
    }
    out.push_str("\n## Identity (Entra ID v2.0)\n\n| operation | method | path | status | witness |\n|---|---|---|---|---|\n");
    for (op, implemented) in crate::api::oauth::routes_summary() {
        let witness = crate::api::witnesses::witness(&op).unwrap_or_else(|| "–".into());
        out.push_str(&format!(
            "| {} | {} | `{}` | {} | {} |\n",
            op.id,
            op.method,
            op.path,
            if implemented { "implemented" } else { "501 (planned)" },
            witness
        ));
    }
    for (title, ops) in [
        ("SCIM 2.0 (per tenant, provisioning secret)", crate::api::scim::routes_summary()),
        ("Microsoft Graph v1.0 (subset)", crate::api::graph::routes_summary()),
    ] {
        out.push_str(&format!("\n## {title}\n\n| operation | method | path | status | witness |\n|---|---|---|---|---|\n"));
        for op in ops {
            let witness = crate::api::witnesses::witness(&op).unwrap_or_else(|| "–".into());
            out.push_str(&format!("| {} | {} | `{}` | implemented | {witness} |\n", op.id, op.method, op.path));
        }
    }
    out.push_str(&crate::api::fabric::compatibility_markdown());
    out.push_str("\n## Operator API (pbi-access's own; only with `[operator] token`)\n\n| operation | method | path |\n|---|---|---|\n");
    for route in crate::api::operator::routes() {
        out.push_str(&format!("| {} | {} | `{}` |\n", route.op.id, route.op.method, route.op.path));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::Audit;

    #[test]
    fn only_get_groups_as_admin_has_a_timeout_and_zero_turns_it_off() {
        let audit = Audit::default();
        assert_eq!(route_timeout(op::GET_GROUPS_AS_ADMIN, &audit), Some(Duration::from_secs(30)));
        let others: Vec<&str> = routes()
            .iter()
            .filter(|r| r.op.id != op::GET_GROUPS_AS_ADMIN.id && route_timeout(r.op, &audit).is_some())
            .map(|r| r.op.id)
            .collect();
        assert!(others.is_empty(), "{others:?}");
        let off = Audit { groups_as_admin_timeout_ms: 0, ..Audit::default() };
        assert_eq!(route_timeout(op::GET_GROUPS_AS_ADMIN, &off), None);
    }

    #[test]
    fn the_budget_table_knows_the_admin_operations_the_routing_table_guards() {
        for r in routes() {
            let admin = r.access.admin != AdminAccess::No;
            assert_eq!(admin, pbi_wire::budgets::is_admin_op(&r.op), "{}", r.op.id);
        }
    }
}
