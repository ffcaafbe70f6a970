//! From desired and observed state to an ordered plan: every change, which endpoint it uses,
//! what it costs of the tenant's admin budget, and how long it should take.
//!
//! Ordering keeps every workspace administered at every step: grants and promotions first,
//! then demotions and removals, Admins last, and changes to the caller itself at the very end
//! (after them it may no longer be able to act).

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::state::{ObservedState, PrincipalKey, Role};

/// A desired workspace with its principals looked up (names → service identifiers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedWorkspace {
    pub id: String,
    pub name: String,
    pub exclusive: bool,
    /// Principal → (role, how the desired state wrote it).
    pub members: BTreeMap<PrincipalKey, (Role, String)>,
}

/// What the caller can do, which decides each step's endpoint and cost.
#[derive(Debug, Clone)]
pub struct Capabilities {
    /// The caller itself (its changes go last).
    pub caller: Option<PrincipalKey>,
    /// Workspaces (ids) where the caller is an Admin: the workspace endpoint costs no admin budget there.
    pub admin_of: HashSet<String>,
    /// The tenant's admin budget per sliding hour (200 on the real service).
    pub admin_budget_per_hour: u32,
    /// Seconds one call takes, for the estimate.
    pub seconds_per_call: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Endpoint {
    /// `/v1.0/myorg/groups/{id}/users`: free of the admin budget, needs the caller to be Admin.
    Workspace,
    /// `/v1.0/myorg/admin/groups/{id}/users`: one admin call each.
    Admin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Action {
    Add { role: Role },
    Update { from: Role, to: Role },
    Remove { from: Role },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub id: u32,
    pub workspace_id: String,
    pub workspace_name: String,
    pub principal: PrincipalKey,
    /// The principal as the desired state or the service wrote it.
    pub display: String,
    pub action: Action,
    pub endpoint: Endpoint,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format: u32,
    /// The state the plan was made against; `apply` refuses to run if the service has drifted.
    pub observed: ObservedState,
    pub fingerprint: String,
    pub steps: Vec<Step>,
    /// Admin-endpoint calls the steps spend.
    pub admin_calls: u32,
    pub estimated_seconds: u64,
}

impl ObservedState {
    /// The state after `step` (pure), used to check where an interrupted apply stands.
    pub fn after(&self, step: &Step) -> ObservedState {
        let mut next = self.clone();
        if let Some(ws) = next.workspaces.get_mut(&step.workspace_id) {
            match step.action {
                Action::Add { role } | Action::Update { to: role, .. } => {
                    ws.members.insert(step.principal.clone(), role);
                }
                Action::Remove { .. } => {
                    ws.members.remove(&step.principal);
                }
            }
        }
        next
    }
}

/// Diff desired against observed. Workspaces in `desired` must be in `observed`.
pub fn make_plan(desired: &[ResolvedWorkspace], observed: &ObservedState, caps: &Capabilities) -> Plan {
    let mut steps = Vec::new();
    for want in desired {
        let have = observed.workspaces.get(&want.id).map(|w| w.members.clone()).unwrap_or_default();
        let mut changes: Vec<(u8, PrincipalKey, String, Action)> = Vec::new();
        for (principal, (role, display)) in &want.members {
            match have.get(principal) {
                None => changes.push((rank_grant(*role), principal.clone(), display.clone(), Action::Add { role: *role })),
                Some(current) if current == role => {}
                Some(current) if role > current => {
                    changes.push((rank_grant(*role), principal.clone(), display.clone(), Action::Update { from: *current, to: *role }))
                }
                Some(current) => {
                    changes.push((rank_revoke(*current), principal.clone(), display.clone(), Action::Update { from: *current, to: *role }))
                }
            }
        }
        if want.exclusive {
            for (principal, current) in &have {
                if !want.members.contains_key(principal) {
                    changes.push((
                        rank_revoke(*current) + 1,
                        principal.clone(),
                        principal.identifier.clone(),
                        Action::Remove { from: *current },
                    ));
                }
            }
        }
        // Changes to the caller itself go last: afterwards it may not be able to act.
        for change in &mut changes {
            if caps.caller.as_ref() == Some(&change.1) {
                change.0 = 9;
            }
        }
        changes.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let caller_keeps_admin = caps.admin_of.contains(&want.id);
        for (_, principal, display, action) in changes {
            let touches_caller = caps.caller.as_ref() == Some(&principal);
            let endpoint = if caller_keeps_admin && !touches_caller { Endpoint::Workspace } else { Endpoint::Admin };
            steps.push(Step {
                id: steps.len() as u32 + 1,
                workspace_id: want.id.clone(),
                workspace_name: want.name.clone(),
                principal,
                display,
                action,
                endpoint,
            });
        }
    }
    let admin_calls = steps.iter().filter(|s| s.endpoint == Endpoint::Admin).count() as u32;
    let budget = caps.admin_budget_per_hour.max(1);
    // With a full budget at the start, admin call k (from 0) can go at hour floor(k / budget):
    // the window slides one hour for each budget's worth of calls.
    let waits = if admin_calls == 0 { 0.0 } else { ((admin_calls - 1) / budget) as f64 * 3600.0 };
    let estimated_seconds = (steps.len() as f64 * caps.seconds_per_call + waits).ceil() as u64;
    Plan { format: 1, fingerprint: observed.fingerprint(), observed: observed.clone(), steps, admin_calls, estimated_seconds }
}

/// Grants: Admin promotions first, so a workspace never lacks an Admin.
fn rank_grant(role: Role) -> u8 {
    if role == Role::Admin {
        0
    } else {
        1
    }
}

/// Revocations: from lower roles first, Admins last.
fn rank_revoke(from: Role) -> u8 {
    if from == Role::Admin {
        5
    } else {
        3
    }
}

impl Plan {
    /// The state the plan should leave behind.
    pub fn target_state(&self) -> ObservedState {
        self.steps.iter().fold(self.observed.clone(), |state, step| state.after(step))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{PrincipalKind, WorkspaceState};

    fn key(s: &str) -> PrincipalKey {
        PrincipalKey::new(PrincipalKind::User, s)
    }

    fn observed(members: &[(&str, Role)]) -> ObservedState {
        let ws = WorkspaceState { id: "w1".into(), name: "W".into(), members: members.iter().map(|(p, r)| (key(p), *r)).collect() };
        ObservedState { workspaces: [("w1".to_string(), ws)].into() }
    }

    fn want(members: &[(&str, Role)]) -> ResolvedWorkspace {
        ResolvedWorkspace {
            id: "w1".into(),
            name: "W".into(),
            exclusive: true,
            members: members.iter().map(|(p, r)| (key(p), (*r, p.to_string()))).collect(),
        }
    }

    fn caps(admin_of: bool) -> Capabilities {
        Capabilities {
            caller: Some(key("me@x.com")),
            admin_of: if admin_of { ["w1".to_string()].into() } else { HashSet::new() },
            admin_budget_per_hour: 200,
            seconds_per_call: 0.5,
        }
    }

    #[test]
    fn handing_over_admin_promotes_before_it_removes() {
        let have = observed(&[("old@x.com", Role::Admin), ("v@x.com", Role::Viewer)]);
        let plan = make_plan(&[want(&[("new@x.com", Role::Admin), ("v@x.com", Role::Viewer)])], &have, &caps(false));
        let actions: Vec<_> = plan.steps.iter().map(|s| (s.principal.identifier.as_str(), s.action)).collect();
        assert_eq!(actions, vec![("new@x.com", Action::Add { role: Role::Admin }), ("old@x.com", Action::Remove { from: Role::Admin })]);
        assert_eq!(plan.admin_calls, 2, "the caller is no workspace Admin: admin endpoint");
        assert_eq!(plan.target_state().workspaces["w1"].members.len(), 2);
        // At every step the workspace keeps an Admin.
        let mut state = plan.observed.clone();
        for step in &plan.steps {
            state = state.after(step);
            assert!(state.workspaces["w1"].members.values().any(|r| *r == Role::Admin), "after step {}", step.id);
        }
    }

    #[test]
    fn a_workspace_admin_spends_no_admin_budget_except_on_itself() {
        let have = observed(&[("me@x.com", Role::Admin), ("a@x.com", Role::Viewer)]);
        let plan =
            make_plan(&[want(&[("a@x.com", Role::Member), ("b@x.com", Role::Admin), ("me@x.com", Role::Viewer)])], &have, &caps(true));
        assert_eq!(plan.steps.last().unwrap().principal, key("me@x.com"), "the caller's own change is last");
        assert_eq!(plan.steps.last().unwrap().endpoint, Endpoint::Admin);
        assert_eq!(plan.steps.iter().filter(|s| s.endpoint == Endpoint::Workspace).count(), 2);
        assert_eq!(plan.admin_calls, 1);
    }

    #[test]
    fn no_change_no_step_and_estimates_grow_past_the_budget() {
        let have = observed(&[("a@x.com", Role::Admin)]);
        assert!(make_plan(&[want(&[("a@x.com", Role::Admin)])], &have, &caps(false)).steps.is_empty());
        let many: Vec<(String, Role)> =
            (0..450).map(|i| (format!("u{i}@x.com"), Role::Viewer)).chain([("a@x.com".to_string(), Role::Admin)]).collect();
        let refs: Vec<(&str, Role)> = many.iter().map(|(p, r)| (p.as_str(), *r)).collect();
        let plan = make_plan(&[want(&refs)], &have, &caps(false));
        assert_eq!(plan.admin_calls, 450);
        assert!(plan.estimated_seconds >= 2 * 3600, "450 admin calls at 200/h need over two hours: {}", plan.estimated_seconds);
    }

    #[test]
    fn plans_round_trip_through_json() {
        let have = observed(&[("old@x.com", Role::Admin)]);
        let plan = make_plan(&[want(&[("new@x.com", Role::Admin)])], &have, &caps(false));
        let text = serde_json::to_string(&plan).unwrap();
        let back: Plan = serde_json::from_str(&text).unwrap();
        assert_eq!(back, plan);
        assert_eq!(back.observed.fingerprint(), plan.fingerprint);
    }

    #[test]
    fn the_fingerprint_follows_the_state() {
        let a = observed(&[("a@x.com", Role::Admin)]);
        let b = observed(&[("a@x.com", Role::Member)]);
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), observed(&[("A@X.com", Role::Admin)]).fingerprint());
    }
}
