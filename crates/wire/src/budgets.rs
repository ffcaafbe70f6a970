//! The request budgets of the Power BI API, as data: which budget each operation of
//! [`crate::ops::powerbi`] draws on, with what limit and window, counted per tenant or per
//! caller. The server's throttle admits calls by this table and the client's ledger paces its
//! calls by it, so the client spends exactly what the service counts.
//!
//! - Every admin operation (`/v1.0/myorg/admin/…`) draws on the admin budget, 200/hour: one per
//!   tenant shared by all of them ([`AdminBudgetModel::Shared`], the default), or one per operation
//!   ([`AdminBudgetModel::PerOperation`]).
//! - GetGroupsAsAdmin draws on its own 50/hour and 15/minute as well; GetReportsAsAdmin,
//!   GetDatasetsAsAdmin and GetDashboardsAsAdmin on their own 50/hour and 5/minute each.
//! - The scanner draws on its own budgets *instead of* the admin one: PostWorkspaceInfo and
//!   GetScanResult 500/hour each, GetScanStatus 10,000/hour, GetModifiedWorkspaces 30/hour.
//! - RefreshUserPermissions: 1/hour per caller. Optionally every non-admin operation: N/minute
//!   per caller (`standard_per_caller_per_minute`, off by default).
//!
//! A limit of 0 turns that budget off.

use serde::{Deserialize, Serialize};

use crate::ops::{powerbi as op, Op};

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 3_600_000;

/// How the admin operations share the 200/hour admin budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminBudgetModel {
    /// One budget per tenant for every admin operation together (the seed guide's reading).
    #[default]
    Shared,
    /// One budget per tenant for each admin operation (the reference pages' reading).
    PerOperation,
}

/// The figures of the budget table. The defaults are the service's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub admin_budget: AdminBudgetModel,
    pub admin_per_hour: u32,
    pub groups_as_admin_per_hour: u32,
    pub groups_as_admin_per_minute: u32,
    /// GetReportsAsAdmin, GetDatasetsAsAdmin, GetDashboardsAsAdmin: each its own.
    pub items_as_admin_per_hour: u32,
    pub items_as_admin_per_minute: u32,
    /// PostWorkspaceInfo, and (counted apart) GetScanResult.
    pub scanner_per_hour: u32,
    pub scan_status_per_hour: u32,
    pub modified_workspaces_per_hour: u32,
    pub refresh_user_permissions_per_user_per_hour: u32,
    pub standard_per_caller_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            admin_budget: AdminBudgetModel::Shared,
            admin_per_hour: 200,
            groups_as_admin_per_hour: 50,
            groups_as_admin_per_minute: 15,
            items_as_admin_per_hour: 50,
            items_as_admin_per_minute: 5,
            scanner_per_hour: 500,
            scan_status_per_hour: 10_000,
            modified_workspaces_per_hour: 30,
            refresh_user_permissions_per_user_per_hour: 1,
            standard_per_caller_per_minute: 0,
        }
    }
}

/// Which figure of [`Limits`] a rule reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Figure {
    GroupsAsAdminPerHour,
    GroupsAsAdminPerMinute,
    ItemsAsAdminPerHour,
    ItemsAsAdminPerMinute,
    ScannerPerHour,
    ScanStatusPerHour,
    ModifiedWorkspacesPerHour,
    RefreshUserPermissionsPerCallerPerHour,
}

impl Limits {
    fn figure(&self, f: Figure) -> u32 {
        match f {
            Figure::GroupsAsAdminPerHour => self.groups_as_admin_per_hour,
            Figure::GroupsAsAdminPerMinute => self.groups_as_admin_per_minute,
            Figure::ItemsAsAdminPerHour => self.items_as_admin_per_hour,
            Figure::ItemsAsAdminPerMinute => self.items_as_admin_per_minute,
            Figure::ScannerPerHour => self.scanner_per_hour,
            Figure::ScanStatusPerHour => self.scan_status_per_hour,
            Figure::ModifiedWorkspacesPerHour => self.modified_workspaces_per_hour,
            Figure::RefreshUserPermissionsPerCallerPerHour => self.refresh_user_permissions_per_user_per_hour,
        }
    }
}

/// An operation's own budget, where the reference names one.
struct Rule {
    op: Op,
    figure: Figure,
    window_ms: i64,
    per_caller: bool,
    /// Drawn *instead of* the admin budget (the scanner), not on top of it.
    instead_of_admin: bool,
}

const fn rule(op: Op, figure: Figure, window_ms: i64, per_caller: bool, instead_of_admin: bool) -> Rule {
    Rule { op, figure, window_ms, per_caller, instead_of_admin }
}

/// The operations' own budgets.
const RULES: &[Rule] = &[
    rule(op::GET_GROUPS_AS_ADMIN, Figure::GroupsAsAdminPerHour, HOUR_MS, false, false),
    rule(op::GET_GROUPS_AS_ADMIN, Figure::GroupsAsAdminPerMinute, MINUTE_MS, false, false),
    rule(op::GET_REPORTS_AS_ADMIN, Figure::ItemsAsAdminPerHour, HOUR_MS, false, false),
    rule(op::GET_REPORTS_AS_ADMIN, Figure::ItemsAsAdminPerMinute, MINUTE_MS, false, false),
    rule(op::GET_DATASETS_AS_ADMIN, Figure::ItemsAsAdminPerHour, HOUR_MS, false, false),
    rule(op::GET_DATASETS_AS_ADMIN, Figure::ItemsAsAdminPerMinute, MINUTE_MS, false, false),
    rule(op::GET_DASHBOARDS_AS_ADMIN, Figure::ItemsAsAdminPerHour, HOUR_MS, false, false),
    rule(op::GET_DASHBOARDS_AS_ADMIN, Figure::ItemsAsAdminPerMinute, MINUTE_MS, false, false),
    rule(op::POST_WORKSPACE_INFO, Figure::ScannerPerHour, HOUR_MS, false, true),
    rule(op::GET_SCAN_RESULT, Figure::ScannerPerHour, HOUR_MS, false, true),
    rule(op::GET_SCAN_STATUS, Figure::ScanStatusPerHour, HOUR_MS, false, true),
    rule(op::GET_MODIFIED_WORKSPACES, Figure::ModifiedWorkspacesPerHour, HOUR_MS, false, true),
    rule(op::REFRESH_USER_PERMISSIONS, Figure::RefreshUserPermissionsPerCallerPerHour, HOUR_MS, true, false),
];

/// The name of the shared admin budget.
pub const ADMIN: &str = "admin";
/// The name of the per-caller budget of non-admin operations.
pub const STANDARD: &str = "standard";

/// One budget a call draws on, before the caller is known.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Budget {
    /// `admin`, `admin:{operationId}` (per-operation admin budgets), the operationId of an own
    /// budget, or `standard`.
    pub name: String,
    pub limit: u32,
    pub window_ms: i64,
    /// Counted per caller (object id) rather than per tenant.
    pub per_caller: bool,
}

impl Budget {
    /// What is counted within the tenant: `admin/1h`, `Groups_GetGroupsAsAdmin/1m`,
    /// `Users_RefreshUserPermissions/1h/{caller}`. The server's store and the client's ledger
    /// both key by it.
    pub fn key(&self, caller: &str) -> String {
        let window = if self.window_ms == MINUTE_MS { "1m" } else { "1h" };
        if self.per_caller {
            format!("{}/{window}/{caller}", self.name)
        } else {
            format!("{}/{window}", self.name)
        }
    }

    /// Whether this is an admin budget (shared or per operation).
    pub fn is_admin(&self) -> bool {
        self.name == ADMIN || self.name.starts_with("admin:")
    }

    /// `admin 200/h`, `15/min`, `1/h per caller`.
    pub fn describe(&self) -> String {
        let unit = if self.window_ms == MINUTE_MS { "min" } else { "h" };
        let subject = if self.is_admin() { "admin " } else { "" };
        format!("{subject}{}/{unit}{}", self.limit, if self.per_caller { " per caller" } else { "" })
    }
}

/// Whether an operation is an admin operation (Fabric administrators only; the admin budget).
pub fn is_admin_op(op: &Op) -> bool {
    op.path.starts_with("/v1.0/myorg/admin/")
}

/// The budgets `op` draws on under `limits` (limits of 0 left out).
pub fn budgets(op: &Op, limits: &Limits) -> Vec<Budget> {
    let own: Vec<&Rule> = RULES.iter().filter(|r| r.op == *op).collect();
    let mut out = Vec::new();
    if is_admin_op(op) {
        if !own.iter().any(|r| r.instead_of_admin) {
            let name = match limits.admin_budget {
                AdminBudgetModel::Shared => ADMIN.to_string(),
                AdminBudgetModel::PerOperation => format!("admin:{}", op.id),
            };
            out.push(Budget { name, limit: limits.admin_per_hour, window_ms: HOUR_MS, per_caller: false });
        }
    } else {
        out.push(Budget { name: STANDARD.into(), limit: limits.standard_per_caller_per_minute, window_ms: MINUTE_MS, per_caller: true });
    }
    for r in own {
        out.push(Budget { name: r.op.id.into(), limit: limits.figure(r.figure), window_ms: r.window_ms, per_caller: r.per_caller });
    }
    out.retain(|b| b.limit > 0);
    out
}

/// The Fabric admin APIs' own limits: each read of `/v1/admin/…` "Maximum 200 requests per hour",
/// per operation and tenant (`fabric:{operationId}`, the admin figure of [`Limits`]); the admin
/// temporary-access pair "Maximum 25 requests per minute" each. Fabric's workspace APIs publish
/// no figure, so they draw on the optional per-caller `standard` budget like Power BI's.
pub const FABRIC_TEMPORARY_ACCESS_PER_MINUTE: u32 = 25;

/// The budgets a Fabric operation ([`crate::ops::fabric`]) draws on under `limits`.
pub fn fabric_budgets(op: &Op, limits: &Limits) -> Vec<Budget> {
    use crate::ops::fabric as f;
    let own = |limit: u32, window_ms: i64| Budget { name: format!("fabric:{}", op.id), limit, window_ms, per_caller: false };
    let mut out = if *op == f::ADMIN_GRANT_ADMIN_TEMPORARY_ACCESS || *op == f::ADMIN_REMOVE_ADMIN_TEMPORARY_ACCESS {
        vec![own(FABRIC_TEMPORARY_ACCESS_PER_MINUTE, MINUTE_MS)]
    } else if op.path.starts_with("/v1/admin/") {
        vec![own(limits.admin_per_hour, HOUR_MS)]
    } else {
        vec![Budget { name: STANDARD.into(), limit: limits.standard_per_caller_per_minute, window_ms: MINUTE_MS, per_caller: true }]
    };
    out.retain(|b| b.limit > 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described(op: Op, limits: &Limits) -> Vec<String> {
        budgets(&op, limits).iter().map(Budget::describe).collect()
    }

    #[test]
    fn defaults_are_the_service_figures() {
        let l = Limits::default();
        assert_eq!(described(op::GET_GROUP_USERS_AS_ADMIN, &l), ["admin 200/h"]);
        assert_eq!(described(op::GET_GROUPS_AS_ADMIN, &l), ["admin 200/h", "50/h", "15/min"]);
        assert_eq!(described(op::GET_REPORTS_AS_ADMIN, &l), ["admin 200/h", "50/h", "5/min"]);
        assert_eq!(described(op::GET_APPS_AS_ADMIN, &l), ["admin 200/h"]);
        assert_eq!(described(op::GET_DATAFLOWS_AS_ADMIN, &l), ["admin 200/h"]);
        assert_eq!(described(op::POST_WORKSPACE_INFO, &l), ["500/h"]);
        assert_eq!(described(op::GET_SCAN_STATUS, &l), ["10000/h"]);
        assert_eq!(described(op::GET_SCAN_RESULT, &l), ["500/h"]);
        assert_eq!(described(op::GET_MODIFIED_WORKSPACES, &l), ["30/h"]);
        assert_eq!(described(op::GET_GROUPS, &l), Vec::<String>::new());
        assert_eq!(described(op::REFRESH_USER_PERMISSIONS, &l), ["1/h per caller"]);
        let on = Limits { standard_per_caller_per_minute: 60, ..l };
        assert_eq!(described(op::GET_GROUPS, &on), ["60/min per caller"]);
    }

    #[test]
    fn scanner_budgets_are_apart_and_the_admin_model_names_the_admin_budget() {
        let shared = Limits::default();
        let keys = |op: Op, l: &Limits| budgets(&op, l).iter().map(|b| b.key("c")).collect::<Vec<_>>();
        assert_eq!(keys(op::GET_USER_ARTIFACT_ACCESS_AS_ADMIN, &shared), ["admin/1h"]);
        assert_eq!(keys(op::GET_ACTIVITY_EVENTS, &shared), ["admin/1h"]);
        assert_eq!(keys(op::POST_WORKSPACE_INFO, &shared), ["WorkspaceInfo_PostWorkspaceInfo/1h"]);
        assert_eq!(keys(op::GET_SCAN_RESULT, &shared), ["WorkspaceInfo_GetScanResult/1h"]);
        let per_op = Limits { admin_budget: AdminBudgetModel::PerOperation, ..shared };
        assert_eq!(keys(op::GET_ACTIVITY_EVENTS, &per_op), ["admin:Admin_GetActivityEvents/1h"]);
        assert_eq!(
            keys(op::GET_GROUPS_AS_ADMIN, &per_op),
            ["admin:Groups_GetGroupsAsAdmin/1h", "Groups_GetGroupsAsAdmin/1h", "Groups_GetGroupsAsAdmin/1m"]
        );
        assert_eq!(keys(op::GET_SCAN_STATUS, &per_op), ["WorkspaceInfo_GetScanStatus/1h"]);
        assert_eq!(keys(op::REFRESH_USER_PERMISSIONS, &per_op), ["Users_RefreshUserPermissions/1h/c"]);
    }

    #[test]
    fn the_model_reads_from_config_spelling() {
        let m: AdminBudgetModel = serde_json::from_str("\"per_operation\"").unwrap();
        assert_eq!(m, AdminBudgetModel::PerOperation);
        assert_eq!(serde_json::to_string(&AdminBudgetModel::Shared).unwrap(), "\"shared\"");
    }

    #[test]
    fn fabric_admin_operations_have_their_own_budgets() {
        use crate::ops::fabric as f;
        let l = Limits::default();
        let d = |op: Op| fabric_budgets(&op, &l).iter().map(|b| (b.key("c"), b.describe())).collect::<Vec<_>>();
        assert_eq!(d(f::ADMIN_LIST_WORKSPACES), [("fabric:Admin_Workspaces_ListWorkspaces/1h".to_string(), "200/h".to_string())]);
        assert_eq!(d(f::ADMIN_GRANT_ADMIN_TEMPORARY_ACCESS)[0].1, "25/min");
        assert!(d(f::LIST_WORKSPACE_ROLE_ASSIGNMENTS).is_empty(), "no published figure, standard budget off by default");
    }
}
