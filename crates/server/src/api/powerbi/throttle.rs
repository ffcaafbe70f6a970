//! Which request budgets each operation of the routing table draws on. The routing table names
//! an operation's [`OpLimit`]; the config gives the figures.
//!
//! - Every admin operation (`AdminAccess::Read` or `Write`) counts against the tenant's one admin
//!   budget (200/hour), plus its own stricter limit where the reference names one
//!   (GetGroupsAsAdmin 50/hour and 15/minute, GetModifiedWorkspaces 30/hour).
//! - The scanner's PostWorkspaceInfo (500/hour), GetScanStatus (10,000/hour) and GetScanResult
//!   (500/hour) have their own budgets *instead of* the admin one: their documented limits are
//!   higher than 200/hour, which they could never reach if they shared it.
//! - RefreshUserPermissions: 1/hour per caller. Optionally every non-admin operation: N/minute
//!   per caller (`standard_per_caller_per_minute`, off by default).

use super::extract::AdminAccess;
use crate::config::Throttling;
use crate::domain::throttle::{Budget, HOUR_MS, MINUTE_MS};
use crate::domain::Caller;

/// An operation's limits beyond the general rules (module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpLimit {
    /// Only the general rules: the admin budget, or the optional per-caller one.
    General,
    GroupsAsAdmin,
    PostWorkspaceInfo,
    ScanStatus,
    ScanResult,
    ModifiedWorkspaces,
    RefreshUserPermissions,
}

/// A budget before the caller is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetTemplate {
    /// `admin`, or the operationId, or `standard`.
    pub name: String,
    pub limit: u32,
    pub window_ms: i64,
    /// Counted per caller (object id) rather than per tenant.
    pub per_caller: bool,
}

impl BudgetTemplate {
    pub fn for_caller(&self, caller: &Caller) -> Budget {
        let window = if self.window_ms == MINUTE_MS { "1m" } else { "1h" };
        let key = if self.per_caller { format!("{}/{window}/{}", self.name, caller.object_id) } else { format!("{}/{window}", self.name) };
        Budget { key, limit: self.limit, window_ms: self.window_ms }
    }

    /// `200/h`, `15/min per caller`.
    pub fn describe(&self) -> String {
        let unit = if self.window_ms == MINUTE_MS { "min" } else { "h" };
        let subject = if self.name == "admin" { "admin " } else { "" };
        format!("{subject}{}/{unit}{}", self.limit, if self.per_caller { " per caller" } else { "" })
    }
}

/// The budgets of one operation under `config` (none when throttling is off; a limit of 0 is off).
pub fn budgets(op_id: &str, admin: AdminAccess, limit: OpLimit, config: &Throttling) -> Vec<BudgetTemplate> {
    if !config.enabled {
        return Vec::new();
    }
    let tenant = |name: &str, limit: u32, window_ms: i64| BudgetTemplate { name: name.into(), limit, window_ms, per_caller: false };
    let caller = |name: &str, limit: u32, window_ms: i64| BudgetTemplate { name: name.into(), limit, window_ms, per_caller: true };
    let own_budget = matches!(limit, OpLimit::PostWorkspaceInfo | OpLimit::ScanStatus | OpLimit::ScanResult);
    let mut out = Vec::new();
    match admin {
        AdminAccess::Read | AdminAccess::Write if !own_budget => out.push(tenant("admin", config.admin_per_hour, HOUR_MS)),
        AdminAccess::No => out.push(caller("standard", config.standard_per_caller_per_minute, MINUTE_MS)),
        _ => {}
    }
    match limit {
        OpLimit::General => {}
        OpLimit::GroupsAsAdmin => {
            out.push(tenant(op_id, config.groups_as_admin_per_hour, HOUR_MS));
            out.push(tenant(op_id, config.groups_as_admin_per_minute, MINUTE_MS));
        }
        OpLimit::PostWorkspaceInfo | OpLimit::ScanResult => out.push(tenant(op_id, config.scanner_per_hour, HOUR_MS)),
        OpLimit::ScanStatus => out.push(tenant(op_id, config.scan_status_per_hour, HOUR_MS)),
        OpLimit::ModifiedWorkspaces => out.push(tenant(op_id, config.modified_workspaces_per_hour, HOUR_MS)),
        OpLimit::RefreshUserPermissions => out.push(caller(op_id, config.refresh_user_permissions_per_user_per_hour, HOUR_MS)),
    }
    out.retain(|b| b.limit > 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described(admin: AdminAccess, limit: OpLimit, config: &Throttling) -> Vec<String> {
        budgets("Op", admin, limit, config).iter().map(BudgetTemplate::describe).collect()
    }

    #[test]
    fn defaults() {
        let c = Throttling::default();
        assert_eq!(described(AdminAccess::Read, OpLimit::General, &c), ["admin 200/h"]);
        assert_eq!(described(AdminAccess::Read, OpLimit::GroupsAsAdmin, &c), ["admin 200/h", "50/h", "15/min"]);
        assert_eq!(described(AdminAccess::Read, OpLimit::ScanStatus, &c), ["10000/h"]);
        assert_eq!(described(AdminAccess::Read, OpLimit::PostWorkspaceInfo, &c), ["500/h"]);
        assert_eq!(described(AdminAccess::No, OpLimit::General, &c), Vec::<String>::new());
        assert_eq!(described(AdminAccess::No, OpLimit::RefreshUserPermissions, &c), ["1/h per caller"]);
        let on = Throttling { standard_per_caller_per_minute: 60, ..c.clone() };
        assert_eq!(described(AdminAccess::No, OpLimit::General, &on), ["60/min per caller"]);
        let off = Throttling { enabled: false, ..c };
        assert!(budgets("Op", AdminAccess::Write, OpLimit::General, &off).is_empty());
    }
}
