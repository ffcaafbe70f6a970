//! Running a plan: refuse drift, resume from the journal, stop cleanly when the admin budget is
//! spent, and verify the end state.

use crate::journal::{Journal, JournalError};
use crate::plan::{Plan, Step};
use crate::state::ObservedState;

/// Where a plan runs: the real service through the client, or a pbi-access twin.
#[allow(async_fn_in_trait)]
pub trait Target {
    /// The current state of these workspaces (by id).
    async fn observe(&self, workspace_ids: &[String]) -> Result<ObservedState, TargetError>;
    /// Make one step's change.
    async fn execute(&self, step: &Step) -> Result<(), TargetError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The admin budget will not have room for this call within the allowed wait.
    #[error("the tenant's admin budget is spent; the next call is possible in {retry_after_secs} s")]
    BudgetExhausted { retry_after_secs: u64 },
    /// The call may or may not have landed (timeout, 5xx after sending).
    #[error("outcome unknown: {0}")]
    Ambiguous(String),
    #[error("{0}")]
    Failed(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("the service no longer matches the state this plan was made against ({changed} workspace(s) differ): make a new plan")]
    Drift { changed: usize },
    #[error("step {step} failed: {error}")]
    Step { step: u32, error: TargetError },
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("reading the service: {0}")]
    Observe(TargetError),
    #[error("after the last step the service does not show the planned state ({changed} workspace(s) differ)")]
    NotVerified { changed: usize },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    /// Steps run by this invocation.
    pub executed: Vec<u32>,
    /// Steps found done from an earlier run (journal or verification).
    pub already_done: Vec<u32>,
    /// Set when the run stopped early because the admin budget is spent.
    pub stopped: Option<TargetError>,
    /// The service shows the planned end state.
    pub verified: bool,
}

fn differing(a: &ObservedState, b: &ObservedState) -> usize {
    a.workspaces.iter().filter(|(id, ws)| b.workspaces.get(*id) != Some(ws)).count()
        + b.workspaces.keys().filter(|id| !a.workspaces.contains_key(*id)).count()
}

/// Run `plan`, journaling each step. Safe to call again after any interruption: done steps are
/// skipped, a step in doubt is checked against the service, and nothing is repeated or skipped.
pub async fn apply<T: Target>(plan: &Plan, journal: &mut Journal, target: &T) -> Result<ApplyReport, ApplyError> {
    let ids: Vec<String> = plan.observed.workspaces.keys().cloned().collect();
    let observed = target.observe(&ids).await.map_err(ApplyError::Observe)?;

    // Where the journal says we are, before any step in doubt.
    let mut expected = plan.observed.clone();
    let mut already_done = Vec::new();
    for step in &plan.steps {
        if journal.is_done(step.id) {
            expected = expected.after(step);
            already_done.push(step.id);
        }
    }
    // A step in doubt (started, never confirmed) landed if and only if the service shows it.
    for id in journal.in_doubt() {
        if let Some(step) = plan.steps.iter().find(|s| s.id == id) {
            let landed = expected.after(step);
            if observed == landed {
                journal.done(id)?;
                expected = landed;
                already_done.push(id);
            }
        }
    }
    if observed != expected {
        return Err(ApplyError::Drift { changed: differing(&observed, &expected) });
    }

    let mut executed = Vec::new();
    for step in &plan.steps {
        if journal.is_done(step.id) {
            continue;
        }
        journal.started(step.id)?;
        match target.execute(step).await {
            Ok(()) => {
                journal.done(step.id)?;
                executed.push(step.id);
            }
            Err(stop @ TargetError::BudgetExhausted { .. }) => {
                return Ok(ApplyReport { executed, already_done, stopped: Some(stop), verified: false });
            }
            Err(error) => return Err(ApplyError::Step { step: step.id, error }),
        }
    }
    let end = target.observe(&ids).await.map_err(ApplyError::Observe)?;
    let planned = plan.target_state();
    if end != planned {
        return Err(ApplyError::NotVerified { changed: differing(&end, &planned) });
    }
    Ok(ApplyReport { executed, already_done, stopped: None, verified: true })
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::{BTreeMap, HashSet};

    use super::*;
    use crate::plan::{make_plan, Capabilities, ResolvedWorkspace};
    use crate::state::{PrincipalKey, PrincipalKind, Role, WorkspaceState};

    /// An in-memory service that can fail on chosen steps.
    struct Fake {
        state: RefCell<ObservedState>,
        calls: RefCell<Vec<u32>>,
        fail_at: RefCell<HashSet<u32>>,
        /// Apply the change, then report failure (a timeout after the write landed).
        ambiguous_at: RefCell<HashSet<u32>>,
    }

    impl Target for Fake {
        async fn observe(&self, _: &[String]) -> Result<ObservedState, TargetError> {
            Ok(self.state.borrow().clone())
        }
        async fn execute(&self, step: &Step) -> Result<(), TargetError> {
            self.calls.borrow_mut().push(step.id);
            if self.fail_at.borrow_mut().remove(&step.id) {
                return Err(TargetError::BudgetExhausted { retry_after_secs: 3392 });
            }
            let next = self.state.borrow().after(step);
            *self.state.borrow_mut() = next;
            if self.ambiguous_at.borrow_mut().remove(&step.id) {
                return Err(TargetError::Ambiguous("timed out".into()));
            }
            Ok(())
        }
    }

    fn key(s: &str) -> PrincipalKey {
        PrincipalKey::new(PrincipalKind::User, s)
    }

    fn setup() -> (Plan, Fake) {
        let members: BTreeMap<_, _> = [(key("admin@x.com"), Role::Admin), (key("gone@x.com"), Role::Viewer)].into();
        let observed =
            ObservedState { workspaces: [("w".to_string(), WorkspaceState { id: "w".into(), name: "W".into(), members })].into() };
        let want = ResolvedWorkspace {
            id: "w".into(),
            name: "W".into(),
            exclusive: true,
            members: [("admin@x.com", Role::Admin), ("a@x.com", Role::Member), ("b@x.com", Role::Viewer), ("c@x.com", Role::Contributor)]
                .into_iter()
                .map(|(p, r)| (key(p), (r, p.to_string())))
                .collect(),
        };
        let caps = Capabilities { caller: None, admin_of: HashSet::new(), admin_budget_per_hour: 200, seconds_per_call: 1.0 };
        let plan = make_plan(&[want], &observed, &caps);
        let fake = Fake {
            state: RefCell::new(observed),
            calls: RefCell::default(),
            fail_at: RefCell::default(),
            ambiguous_at: RefCell::default(),
        };
        (plan, fake)
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    #[test]
    fn an_interrupted_apply_resumes_without_repeating_or_skipping() {
        let (plan, fake) = setup();
        assert_eq!(plan.steps.len(), 4);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.journal");
        fake.fail_at.borrow_mut().insert(3);
        let mut journal = Journal::open(&path, &plan.fingerprint, 4).unwrap();
        let first = block_on(apply(&plan, &mut journal, &fake)).unwrap();
        assert_eq!(first.executed, vec![1, 2]);
        assert!(matches!(first.stopped, Some(TargetError::BudgetExhausted { retry_after_secs: 3392 })));
        drop(journal);
        // A new process: the journal on disk tells what landed.
        let mut journal = Journal::open(&path, &plan.fingerprint, 4).unwrap();
        let second = block_on(apply(&plan, &mut journal, &fake)).unwrap();
        assert_eq!(second.already_done, vec![1, 2]);
        assert_eq!(second.executed, vec![3, 4]);
        assert!(second.verified);
        assert_eq!(*fake.calls.borrow(), vec![1, 2, 3, 3, 4], "step 3 ran again only because the first try was refused before it landed");
        assert_eq!(*fake.state.borrow(), plan.target_state());
    }

    #[test]
    fn a_step_in_doubt_is_checked_not_repeated() {
        let (plan, fake) = setup();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.journal");
        fake.ambiguous_at.borrow_mut().insert(2);
        let mut journal = Journal::open(&path, &plan.fingerprint, 4).unwrap();
        assert!(matches!(block_on(apply(&plan, &mut journal, &fake)), Err(ApplyError::Step { step: 2, error: TargetError::Ambiguous(_) })));
        let report = block_on(apply(&plan, &mut journal, &fake)).unwrap();
        assert_eq!(report.already_done, vec![1, 2], "the service shows step 2: it landed");
        assert_eq!(report.executed, vec![3, 4]);
        assert_eq!(*fake.calls.borrow(), vec![1, 2, 3, 4], "no step ran twice");
    }

    #[test]
    fn drift_is_refused() {
        let (plan, fake) = setup();
        fake.state.borrow_mut().workspaces.get_mut("w").unwrap().members.insert(key("intruder@x.com"), Role::Admin);
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(&dir.path().join("j"), &plan.fingerprint, 4).unwrap();
        assert!(matches!(block_on(apply(&plan, &mut journal, &fake)), Err(ApplyError::Drift { changed: 1 })));
        assert!(fake.calls.borrow().is_empty());
        assert!(matches!(Journal::open(&dir.path().join("j"), "another plan", 4), Err(JournalError::OtherPlan(_))));
    }
}
