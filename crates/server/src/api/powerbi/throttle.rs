//! Which request budgets each operation draws on: `pbi_wire::budgets` holds the table (shared
//! with the client's ledger, so a client spends exactly what the server counts); this module
//! only maps the `[throttling]` config onto its figures.

use pbi_wire::budgets::{self, Limits};
use pbi_wire::ops::Op;

use crate::config::Throttling;
use crate::domain::throttle::Budget;
use crate::domain::Caller;

/// A budget before the caller is known (the wire table's).
pub type BudgetTemplate = budgets::Budget;

/// The wire table's figures under `config`.
pub fn limits(config: &Throttling) -> Limits {
    Limits {
        admin_budget: config.admin_budget,
        admin_per_hour: config.admin_per_hour,
        groups_as_admin_per_hour: config.groups_as_admin_per_hour,
        groups_as_admin_per_minute: config.groups_as_admin_per_minute,
        items_as_admin_per_hour: config.items_as_admin_per_hour,
        items_as_admin_per_minute: config.items_as_admin_per_minute,
        scanner_per_hour: config.scanner_per_hour,
        scan_status_per_hour: config.scan_status_per_hour,
        modified_workspaces_per_hour: config.modified_workspaces_per_hour,
        refresh_user_permissions_per_user_per_hour: config.refresh_user_permissions_per_user_per_hour,
        standard_per_caller_per_minute: config.standard_per_caller_per_minute,
    }
}

/// The budgets of one operation under `config` (none when throttling is off; a limit of 0 is off).
pub fn budgets(op: &Op, config: &Throttling) -> Vec<BudgetTemplate> {
    if !config.enabled {
        return Vec::new();
    }
    budgets::budgets(op, &limits(config))
}

/// The budget as the store counts it for this caller.
pub fn for_caller(template: &BudgetTemplate, caller: &Caller) -> Budget {
    Budget { key: template.key(&caller.object_id.to_string()), limit: template.limit, window_ms: template.window_ms }
}

#[cfg(test)]
mod tests {
    use pbi_wire::budgets::AdminBudgetModel;
    use pbi_wire::ops::powerbi as op;

    use super::*;

    fn described(op: Op, config: &Throttling) -> Vec<String> {
        budgets(&op, config).iter().map(BudgetTemplate::describe).collect()
    }

    #[test]
    fn config_maps_onto_the_wire_table() {
        let c = Throttling::default();
        assert_eq!(limits(&c), Limits::default(), "the server's defaults are the table's");
        assert_eq!(described(op::GET_GROUPS_AS_ADMIN, &c), ["admin 200/h", "50/h", "15/min"]);
        assert_eq!(described(op::GET_MODIFIED_WORKSPACES, &c), ["30/h"]);
        let small = Throttling { admin_per_hour: 7, scan_status_per_hour: 3, admin_budget: AdminBudgetModel::PerOperation, ..c.clone() };
        assert_eq!(budgets(&op::GET_ACTIVITY_EVENTS, &small)[0].key("x"), "admin:Admin_GetActivityEvents/1h");
        assert_eq!(described(op::GET_SCAN_STATUS, &small), ["3/h"]);
        let off = Throttling { enabled: false, ..c };
        assert!(budgets(&op::GET_GROUP_USERS_AS_ADMIN, &off).is_empty());
    }
}
