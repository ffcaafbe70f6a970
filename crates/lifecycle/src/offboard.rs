//! Offboarding a user: from what discovery found (the user's reach, and what the caller can do
//! in each workspace) to an ordered plan of removals, each with its endpoint and admin cost,
//! plus what will remain and why; and an executor that journals every step so an interrupted
//! offboarding resumes without repeating one.
//!
//! Pure apart from the executor's calls to an [`OffboardTarget`]: the discovery itself (Graph,
//! `GET /groups`, `artifactAccess`, member lists) lives in [`crate::service`].

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::apply::TargetError;
use crate::journal::{Journal, JournalError};
use crate::plan::Endpoint;
use crate::state::Role;

/// How the user reaches something, as `artifactAccess` says (`shareType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Share {
    /// A role or permission of the user's own.
    Direct,
    /// A role or permission of one of its groups (or a Microsoft 365 group backing the workspace).
    Group,
    /// An item reached through a workspace role (it goes with the role).
    Workspace,
}

/// One workspace the user reaches, with the facts the plan needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceReach {
    pub id: String,
    pub name: String,
    /// The user's own (direct) role; `None` when it holds none.
    pub direct_role: Option<Role>,
    /// The user also (or only) reaches it through a group.
    pub through_group: bool,
    /// The groups holding a role here that contain the user (display names), when known.
    pub groups: Vec<String>,
    /// Principals holding Admin directly, the user included (0 when the member list was not read).
    pub direct_admins: u32,
    /// The caller's own role here: an Admin removes through the workspace endpoint, free of the admin budget.
    pub caller_role: Option<Role>,
}

/// An item (not a workspace) the user reaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemReach {
    pub id: String,
    pub name: String,
    /// `artifactType`: `Dataset`, `Report`, `Dashboard`, `App`, `Capacity`, …
    pub kind: String,
    pub access_right: String,
    pub share: Share,
}

/// Everything discovery found about one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovery {
    /// The user's UPN, lowercase.
    pub upn: String,
    /// The user's object id (from Graph), when known.
    pub object_id: Option<String>,
    pub workspaces: Vec<WorkspaceReach>,
    pub items: Vec<ItemReach>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum OffboardAction {
    /// Make the successor an Admin (before the user's Admin role goes), verified, never blindly repeated.
    AddSuccessorAsAdmin { successor: String },
    /// Remove the user's own workspace role.
    RemoveWorkspaceRole { from: Role },
    /// `DELETE /datasets/{id}/users/{user}`: the user's direct dataset permission.
    RemoveDatasetPermission { right: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffboardStep {
    pub id: u32,
    /// Workspace id (workspace steps) or dataset id.
    pub target_id: String,
    pub target_name: String,
    pub action: OffboardAction,
    pub endpoint: Endpoint,
    /// Admin calls the step spends when all goes well.
    pub admin_cost: u32,
}

impl OffboardStep {
    pub fn describe(&self) -> String {
        match &self.action {
            OffboardAction::AddSuccessorAsAdmin { successor } => format!("add {successor} as Admin"),
            OffboardAction::RemoveWorkspaceRole { from } => format!("remove workspace role ({from:?})"),
            OffboardAction::RemoveDatasetPermission { right } => format!("remove dataset permission ({right})"),
        }
    }
}

/// Why something stays after the offboarding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum RemainReason {
    /// Access through a security or Microsoft 365 group: only Entra can remove the user from it.
    ThroughGroup { groups: Vec<String> },
    /// The user is the workspace's only Admin and no successor was given.
    LastAdmin,
    /// No API removes a direct permission on this kind of item.
    NoApi,
    /// The plan had a step for it, and the service still shows it (with what the step met).
    NotRemoved { error: String },
}

impl std::fmt::Display for RemainReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemainReason::ThroughGroup { groups } if groups.is_empty() => {
                write!(f, "through a group or the workspace's Microsoft 365 group: remove the user from it in Entra")
            }
            RemainReason::ThroughGroup { groups } => write!(f, "through group {}: remove the user from it in Entra", groups.join(", ")),
            RemainReason::LastAdmin => write!(f, "the user is the only Admin: run again with --successor UPN"),
            RemainReason::NoApi => write!(f, "a direct permission no API removes: remove it in the Power BI portal"),
            RemainReason::NotRemoved { error } => write!(f, "still present: {error}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remains {
    pub target_id: String,
    pub target_name: String,
    /// `Workspace`, or the item's `artifactType`.
    pub kind: String,
    pub access: String,
    pub reason: RemainReason,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffboardPlan {
    pub format: u32,
    pub upn: String,
    pub successor: Option<String>,
    pub fingerprint: String,
    pub steps: Vec<OffboardStep>,
    pub remains: Vec<Remains>,
    /// Admin calls the steps spend.
    pub admin_calls: u32,
}

/// Item kinds whose direct permission some API removes (datasets) or that go with the
/// workspace role; everything else shared directly stays.
fn item_remains(item: &ItemReach) -> Option<RemainReason> {
    match item.share {
        Share::Workspace => None,
        Share::Group => Some(RemainReason::ThroughGroup { groups: Vec::new() }),
        Share::Direct if item.kind.eq_ignore_ascii_case("Dataset") => None,
        Share::Direct => Some(RemainReason::NoApi),
    }
}

/// The plan: per workspace, hand over the last Admin role first where needed, then remove the
/// user's role through the cheapest endpoint the caller may use; then direct dataset
/// permissions. Workspaces in id order, so the same discovery gives the same plan.
pub fn plan_offboarding(found: &Discovery, successor: Option<&str>) -> OffboardPlan {
    let successor = successor.map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty() && *s != found.upn);
    let mut steps: Vec<OffboardStep> = Vec::new();
    let mut remains = Vec::new();
    let mut workspaces: Vec<&WorkspaceReach> = found.workspaces.iter().collect();
    workspaces.sort_by(|a, b| a.id.cmp(&b.id));
    for ws in workspaces {
        if ws.through_group {
            remains.push(Remains {
                target_id: ws.id.clone(),
                target_name: ws.name.clone(),
                kind: "Workspace".into(),
                access: "role through a group".into(),
                reason: RemainReason::ThroughGroup { groups: ws.groups.clone() },
            });
        }
        let Some(role) = ws.direct_role else { continue };
        let endpoint = if ws.caller_role == Some(Role::Admin) { Endpoint::Workspace } else { Endpoint::Admin };
        let cost = u32::from(endpoint == Endpoint::Admin);
        let mut push = |action| {
            steps.push(OffboardStep {
                id: steps.len() as u32 + 1,
                target_id: ws.id.clone(),
                target_name: ws.name.clone(),
                action,
                endpoint,
                admin_cost: cost,
            })
        };
        if role == Role::Admin && ws.direct_admins <= 1 {
            match &successor {
                Some(s) => push(OffboardAction::AddSuccessorAsAdmin { successor: s.clone() }),
                None => {
                    remains.push(Remains {
                        target_id: ws.id.clone(),
                        target_name: ws.name.clone(),
                        kind: "Workspace".into(),
                        access: "Admin".into(),
                        reason: RemainReason::LastAdmin,
                    });
                    continue;
                }
            }
        }
        push(OffboardAction::RemoveWorkspaceRole { from: role });
    }
    let mut items: Vec<&ItemReach> = found.items.iter().collect();
    items.sort_by(|a, b| (&a.kind, &a.id).cmp(&(&b.kind, &b.id)));
    for item in items {
        match item_remains(item) {
            Some(reason) => remains.push(Remains {
                target_id: item.id.clone(),
                target_name: item.name.clone(),
                kind: item.kind.clone(),
                access: item.access_right.clone(),
                reason,
            }),
            None if item.share == Share::Direct => steps.push(OffboardStep {
                id: steps.len() as u32 + 1,
                target_id: item.id.clone(),
                target_name: item.name.clone(),
                action: OffboardAction::RemoveDatasetPermission { right: item.access_right.clone() },
                endpoint: Endpoint::Workspace,
                admin_cost: 0,
            }),
            None => {}
        }
    }
    let admin_calls = steps.iter().map(|s| s.admin_cost).sum();
    let canonical = serde_json::to_vec(&(&found.upn, &successor, &steps)).unwrap_or_default();
    let fingerprint = Sha256::digest(canonical).iter().map(|b| format!("{b:02x}")).collect();
    OffboardPlan { format: 1, upn: found.upn.clone(), successor, fingerprint, steps, remains, admin_calls }
}

/// What one step ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// The service made the change (or, for a step in doubt, shows it made).
    Done,
    /// Nothing left to remove (404: an earlier attempt, or someone else, removed it).
    AlreadyGone,
    /// The service refused; retrying would not help. The step is not repeated; verification reports it.
    Refused(String),
}

/// Where an offboarding runs: the service through the client, or a fake in tests.
#[allow(async_fn_in_trait)]
pub trait OffboardTarget {
    /// Run one step. `in_doubt`: an earlier run started it and never saw the answer, so an add
    /// must be read back before it is sent again.
    async fn run_step(&self, upn: &str, step: &OffboardStep, in_doubt: bool) -> Result<StepOutcome, TargetError>;
}

#[derive(Debug, thiserror::Error)]
pub enum OffboardError {
    #[error("step {step} ({what}) failed: {error}")]
    Step { step: u32, what: String, error: TargetError },
    #[error(transparent)]
    Journal(#[from] JournalError),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Steps this run made (or found made).
    pub executed: Vec<u32>,
    /// Steps done by an earlier run, from the journal.
    pub already_done: Vec<u32>,
    /// Steps the service refused, with its reason.
    pub refused: Vec<(u32, String)>,
    /// Set when the run stopped early because the admin budget is spent.
    pub stopped: Option<TargetError>,
}

/// Run the plan's steps in order, journaling each: done steps are skipped, a step in doubt is
/// run knowing it is in doubt, and a spent admin budget stops the run with the journal saved.
/// A successor hand-over that does not land stops its workspace's removal (the service would
/// refuse it anyway) but not the other workspaces.
pub async fn run_offboarding<T: OffboardTarget>(
    plan: &OffboardPlan,
    journal: &mut Journal,
    target: &T,
    mut on_step: impl FnMut(&OffboardStep),
) -> Result<RunReport, OffboardError> {
    let mut report = RunReport::default();
    let in_doubt = journal.in_doubt();
    let mut failed_handover: Option<String> = None;
    for step in &plan.steps {
        on_step(step);
        if journal.is_done(step.id) {
            report.already_done.push(step.id);
            continue;
        }
        if failed_handover.as_deref() == Some(step.target_id.as_str()) {
            report.refused.push((step.id, "the successor could not be made Admin first".into()));
            continue;
        }
        journal.started(step.id)?;
        match target.run_step(&plan.upn, step, in_doubt.contains(&step.id)).await {
            Ok(StepOutcome::Done | StepOutcome::AlreadyGone) => {
                journal.done(step.id)?;
                report.executed.push(step.id);
            }
            Ok(StepOutcome::Refused(why)) => {
                if matches!(step.action, OffboardAction::AddSuccessorAsAdmin { .. }) {
                    failed_handover = Some(step.target_id.clone());
                }
                journal.done(step.id)?;
                report.refused.push((step.id, why));
            }
            Err(stop @ TargetError::BudgetExhausted { .. }) => {
                // Refused by the ledger before sending, or answered 429 (not applied).
                journal.not_sent(step.id)?;
                report.stopped = Some(stop);
                return Ok(report);
            }
            Err(error) => return Err(OffboardError::Step { step: step.id, what: step.describe(), error }),
        }
    }
    Ok(report)
}

/// What remains after the run, from a fresh discovery: the plan's remains for it, and any step
/// a new plan would still need (something the run could not remove).
pub fn remaining_after(found_after: &Discovery, successor: Option<&str>) -> (Vec<Remains>, Vec<OffboardStep>) {
    let again = plan_offboarding(found_after, successor);
    (again.remains, again.steps)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    fn ws(id: &str, role: Option<Role>, admins: u32, caller: Option<Role>) -> WorkspaceReach {
        WorkspaceReach {
            id: id.into(),
            name: format!("W {id}"),
            direct_role: role,
            through_group: false,
            groups: vec![],
            direct_admins: admins,
            caller_role: caller,
        }
    }

    fn discovery() -> Discovery {
        let mut grouped = ws("w4", None, 1, Some(Role::Admin));
        grouped.through_group = true;
        grouped.groups = vec!["Sales Analysts".into()];
        Discovery {
            upn: "carol@x.com".into(),
            object_id: None,
            workspaces: vec![
                ws("w1", Some(Role::Viewer), 1, Some(Role::Admin)),
                ws("w2", Some(Role::Member), 0, None),
                ws("w3", Some(Role::Admin), 1, None),
                grouped,
            ],
            items: vec![
                ItemReach {
                    id: "d1".into(),
                    name: "Model".into(),
                    kind: "Dataset".into(),
                    access_right: "Read".into(),
                    share: Share::Direct,
                },
                ItemReach { id: "r1".into(), name: "Rep".into(), kind: "Report".into(), access_right: "Read".into(), share: Share::Direct },
                ItemReach {
                    id: "r2".into(),
                    name: "In".into(),
                    kind: "Report".into(),
                    access_right: "Read".into(),
                    share: Share::Workspace,
                },
            ],
        }
    }

    #[test]
    fn the_cheapest_endpoint_and_the_last_admin_without_a_successor() {
        let plan = plan_offboarding(&discovery(), None);
        let steps: Vec<_> = plan.steps.iter().map(|s| (s.target_id.as_str(), s.endpoint, s.describe())).collect();
        assert_eq!(
            steps,
            vec![
                ("w1", Endpoint::Workspace, "remove workspace role (Viewer)".to_string()),
                ("w2", Endpoint::Admin, "remove workspace role (Member)".to_string()),
                ("d1", Endpoint::Workspace, "remove dataset permission (Read)".to_string()),
            ]
        );
        assert_eq!(plan.admin_calls, 1, "only the workspace where the caller is no Admin costs admin budget");
        let reasons: Vec<_> = plan.remains.iter().map(|r| (r.target_id.as_str(), r.reason.clone())).collect();
        assert_eq!(
            reasons,
            vec![
                ("w3", RemainReason::LastAdmin),
                ("w4", RemainReason::ThroughGroup { groups: vec!["Sales Analysts".into()] }),
                ("r1", RemainReason::NoApi),
            ]
        );
    }

    #[test]
    fn a_successor_is_made_admin_before_the_last_admin_leaves() {
        let plan = plan_offboarding(&discovery(), Some("Alice@X.com"));
        let w3: Vec<_> = plan.steps.iter().filter(|s| s.target_id == "w3").map(|s| s.action.clone()).collect();
        assert_eq!(
            w3,
            vec![
                OffboardAction::AddSuccessorAsAdmin { successor: "alice@x.com".into() },
                OffboardAction::RemoveWorkspaceRole { from: Role::Admin }
            ]
        );
        assert!(plan.remains.iter().all(|r| r.reason != RemainReason::LastAdmin));
        assert_eq!(plan.admin_calls, 3);
        // The user cannot succeed itself.
        let selfish = plan_offboarding(&discovery(), Some("carol@x.com"));
        assert!(selfish.remains.iter().any(|r| r.reason == RemainReason::LastAdmin));
        assert_ne!(selfish.fingerprint, plan.fingerprint);
        assert_eq!(plan_offboarding(&discovery(), Some("alice@x.com")).fingerprint, plan.fingerprint);
    }

    struct Fake {
        calls: RefCell<Vec<(u32, bool)>>,
        budget_stop_at: RefCell<Option<u32>>,
        refuse: Option<u32>,
    }

    impl OffboardTarget for Fake {
        async fn run_step(&self, _: &str, step: &OffboardStep, in_doubt: bool) -> Result<StepOutcome, TargetError> {
            if *self.budget_stop_at.borrow() == Some(step.id) {
                self.budget_stop_at.replace(None);
                return Err(TargetError::BudgetExhausted { retry_after_secs: 1800 });
            }
            self.calls.borrow_mut().push((step.id, in_doubt));
            if self.refuse == Some(step.id) {
                return Ok(StepOutcome::Refused("no".into()));
            }
            Ok(StepOutcome::Done)
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    #[test]
    fn a_budget_stop_resumes_from_the_journal_without_repeating() {
        let plan = plan_offboarding(&discovery(), Some("alice@x.com"));
        assert_eq!(plan.steps.len(), 5);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("off.journal");
        let fake = Fake { calls: RefCell::default(), budget_stop_at: RefCell::new(Some(3)), refuse: None };
        let mut journal = Journal::open(&path, &plan.fingerprint, 5).unwrap();
        let first = block_on(run_offboarding(&plan, &mut journal, &fake, |_| {})).unwrap();
        assert_eq!(first.executed, vec![1, 2]);
        assert!(matches!(first.stopped, Some(TargetError::BudgetExhausted { retry_after_secs: 1800 })));
        drop(journal);
        let mut journal = Journal::open(&path, &plan.fingerprint, 5).unwrap();
        let second = block_on(run_offboarding(&plan, &mut journal, &fake, |_| {})).unwrap();
        assert_eq!(second.already_done, vec![1, 2]);
        assert_eq!(second.executed, vec![3, 4, 5]);
        assert_eq!(fake.calls.borrow().iter().map(|c| c.0).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5], "no step twice");
        assert!(fake.calls.borrow().iter().all(|c| !c.1), "the stop came before step 3 was started");
    }

    #[test]
    fn a_refused_handover_keeps_the_admin_and_a_step_in_doubt_is_flagged() {
        let plan = plan_offboarding(&discovery(), Some("alice@x.com"));
        let handover = plan.steps.iter().find(|s| matches!(s.action, OffboardAction::AddSuccessorAsAdmin { .. })).unwrap().id;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("off.journal");
        let mut journal = Journal::open(&path, &plan.fingerprint, 5).unwrap();
        journal.started(handover).unwrap();
        drop(journal);
        let fake = Fake { calls: RefCell::default(), budget_stop_at: RefCell::default(), refuse: Some(handover) };
        let mut journal = Journal::open(&path, &plan.fingerprint, 5).unwrap();
        let report = block_on(run_offboarding(&plan, &mut journal, &fake, |_| {})).unwrap();
        assert!(fake.calls.borrow().contains(&(handover, true)), "the target was told the add is in doubt");
        assert!(!fake.calls.borrow().iter().any(|c| c.0 == handover + 1), "the Admin role is not removed without a successor");
        assert_eq!(report.refused.len(), 2);
    }
}
