//! The Fabric REST v1 dialect (`https://api.fabric.microsoft.com/v1/…`), over the same store as
//! Power BI's: a role granted through one API is the role the other reads. `routes()` is the one
//! routing table (operation, scopes, admin or not, handler); the router and the Fabric section
//! of `docs/compatibility.md` are both built from it.
//!
//! Every route passes its gate first: authenticate (Fabric's error body), then count the call
//! against the operation's budgets (`pbi_wire::budgets::fabric_budgets`), 429 with
//! `Retry-After` when one is spent.

pub mod admin;
pub mod error;
pub mod extract;
pub mod principals;
pub mod workspaces;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, on, MethodRouter};
use axum::{Extension, Router};
use pbi_wire::budgets::{self, Budget as BudgetTemplate};
use pbi_wire::ops::{fabric as op, Op};

use self::error::FabricError;
use self::extract::{FabricAccess, FabricCaller};
use crate::api::charge::{self, Refusal};
use crate::api::routing::method_filter;
use crate::app::AppState;
use crate::config::Throttling;

const WORKSPACE_READ: &[&str] = &["Workspace.Read.All", "Workspace.ReadWrite.All"];
const WORKSPACE_WRITE: &[&str] = &["Workspace.ReadWrite.All"];
const TENANT_READ: &[&str] = &["Tenant.Read.All", "Tenant.ReadWrite.All"];
const TENANT_WRITE: &[&str] = &["Tenant.ReadWrite.All"];

/// One row of the routing table; a row without a handler answers 501 in Fabric's error body,
/// after the gate.
pub type Route = crate::api::routing::Route<FabricAccess>;

fn built<H, T>(op: Op, scopes: &'static [&'static str], admin: bool, handler: H) -> Route
where
    H: Handler<T, AppState>,
    T: 'static,
{
    Route { op, access: FabricAccess { scopes, admin }, handler: Some(on(method_filter(op), handler)) }
}

/// An operation listed before its handler exists (501); none is planned today.
#[allow(dead_code)]
fn planned(op: Op, scopes: &'static [&'static str], admin: bool) -> Route {
    Route { op, access: FabricAccess { scopes, admin }, handler: None }
}

pub fn routes() -> Vec<Route> {
    vec![
        built(op::LIST_WORKSPACES, WORKSPACE_READ, false, workspaces::list_workspaces),
        built(op::GET_WORKSPACE, WORKSPACE_READ, false, workspaces::get_workspace),
        built(op::LIST_WORKSPACE_ROLE_ASSIGNMENTS, WORKSPACE_READ, false, workspaces::list_role_assignments),
        built(op::ADD_WORKSPACE_ROLE_ASSIGNMENT, WORKSPACE_WRITE, false, workspaces::add_role_assignment),
        built(op::GET_WORKSPACE_ROLE_ASSIGNMENT, WORKSPACE_READ, false, workspaces::get_role_assignment),
        built(op::UPDATE_WORKSPACE_ROLE_ASSIGNMENT, WORKSPACE_WRITE, false, workspaces::update_role_assignment),
        built(op::DELETE_WORKSPACE_ROLE_ASSIGNMENT, WORKSPACE_WRITE, false, workspaces::delete_role_assignment),
        built(op::ADMIN_LIST_WORKSPACES, TENANT_READ, true, admin::list_workspaces),
        built(op::ADMIN_LIST_WORKSPACE_ACCESS_DETAILS, TENANT_READ, true, admin::list_workspace_access_details),
        built(op::ADMIN_LIST_ITEM_ACCESS_DETAILS, TENANT_READ, true, admin::list_item_access_details),
        built(op::ADMIN_LIST_ACCESS_ENTITIES, TENANT_READ, true, admin::list_access_entities),
        built(op::ADMIN_GRANT_ADMIN_TEMPORARY_ACCESS, TENANT_WRITE, true, admin::grant_admin_temporary_access),
        built(op::ADMIN_REMOVE_ADMIN_TEMPORARY_ACCESS, TENANT_WRITE, true, admin::remove_admin_temporary_access),
    ]
}

/// The budgets of a Fabric operation under `config` (none when throttling is off).
pub fn budgets(op: &Op, config: &Throttling) -> Vec<BudgetTemplate> {
    if !config.enabled {
        return Vec::new();
    }
    budgets::fabric_budgets(op, &crate::api::powerbi::throttle::limits(config))
}

/// What the gate knows of its route.
#[derive(Debug)]
struct FabricGate {
    op_id: &'static str,
    access: FabricAccess,
    budgets: Vec<BudgetTemplate>,
}

async fn gate(State(state): State<AppState>, Extension(route): Extension<Arc<FabricGate>>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let caller = match extract::authenticate(&parts, &state, route.access).await {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    let charged = match charge::charge(&state, &route.budgets, &caller).await {
        Ok(charged) => charged,
        Err(Refusal::Throttled { retry_after_secs }) => return FabricError::too_many_requests(retry_after_secs).into_response(),
        Err(Refusal::Store(e)) => return FabricError::from(e).into_response(),
    };
    parts.extensions.insert(FabricCaller(caller));
    let response = next.run(Request::from_parts(parts, body)).await;
    if let Some(charged) = charged {
        charged.settle(&state, response.status(), route.op_id).await;
    }
    response
}

/// The router: one entry a path (Fabric's 405 for other methods), a catch-all under `/v1/`
/// answering Fabric's 404, and `stamp` rendering every error with its request id.
pub fn router(state: &AppState) -> Router<AppState> {
    let mut by_path: Vec<(&'static str, MethodRouter<AppState>)> = Vec::new();
    for route in routes() {
        let gate_info =
            Arc::new(FabricGate { op_id: route.op.id, access: route.access, budgets: budgets(&route.op, &state.config.throttling) });
        let op = route.op;
        let handler = route.handler.unwrap_or_else(|| on(method_filter(op), move || not_implemented(op.id)));
        let handler = handler.route_layer(
            tower::ServiceBuilder::new().layer(Extension(gate_info)).layer(axum::middleware::from_fn_with_state(state.clone(), gate)),
        );
        match by_path.iter_mut().find(|(p, _)| *p == route.op.path) {
            Some((_, mr)) => *mr = std::mem::take(mr).merge(handler),
            None => by_path.push((route.op.path, handler)),
        }
    }
    by_path
        .into_iter()
        .fold(Router::new(), |router, (path, mr)| router.route(path, mr.fallback(method_not_allowed)))
        .route("/v1/{*rest}", any(not_found))
        .layer(axum::middleware::from_fn(error::stamp))
}

async fn not_implemented(op_id: &'static str) -> FabricError {
    FabricError::new(
        axum::http::StatusCode::NOT_IMPLEMENTED,
        "NotImplemented",
        format!("{op_id} is part of the Fabric API but not implemented by pbi-access yet; see docs/compatibility.md"),
    )
}

async fn not_found() -> FabricError {
    FabricError::not_found_route()
}

async fn method_not_allowed() -> FabricError {
    FabricError::method_not_allowed()
}

/// The Fabric section of `docs/compatibility.md`, from the routing table.
pub fn compatibility_markdown() -> String {
    let mut out = String::from(
        "\n## Fabric REST v1\n\nServed at `/v1/…`, on `api.fabric.microsoft.com` too (see the hosts guide). Tokens asked for with \
         `https://api.fabric.microsoft.com/.default` or Fabric's delegated scopes carry the Power BI service's audience, as Entra issues them. \
         The last column gives the request budgets with the default `[throttling]` config (`pbi_wire::budgets::fabric_budgets`).\n\n\
         | operationId | method | path | status | delegated scopes (any of) | admin | throttling | witness |\n|---|---|---|---|---|---|---|---|\n",
    );
    for route in routes() {
        let budgets = budgets(&route.op, &Throttling::default());
        let budgets =
            if budgets.is_empty() { "–".to_string() } else { budgets.iter().map(|b| b.describe()).collect::<Vec<_>>().join(" + ") };
        let witness = crate::api::witnesses::witness(&route.op).unwrap_or_else(|| "–".into());
        out.push_str(&format!(
            "| {} | {} | `{}` | {} | {} | {} | {} | {witness} |\n",
            route.op.id,
            route.op.method,
            route.op.path,
            if route.handler.is_some() { "implemented" } else { "501 (planned)" },
            route.access.scopes.join(", "),
            if route.access.admin { "Fabric admin, or service principal" } else { "no" },
            budgets
        ));
    }
    out
}
