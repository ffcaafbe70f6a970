//! Group commit of role changes on PostgreSQL.
//!
//! Every role change takes its workspace's row lock and holds it through its commit's WAL flush
//! (`store::workspaces`), so changes to one workspace cannot commit faster than one flush each.
//! Here they queue per workspace instead: one task per busy workspace takes every change queued
//! (up to [`MAX_BATCH`]) and applies them in one transaction through
//! `Store::apply_member_changes`, which decides each against the facts as the earlier changes of
//! the batch left them; changes queued meanwhile form the next batch. Each caller is answered
//! after the commit, so an acknowledged change is as durable as before.
//!
//! Invariant (a batch fails only whole, and only for its cause): when one change's statements
//! fail (its request was cancelled, a database error), the transaction rolls back, that change
//! gets the error, and the other changes go back to the head of the queue to run again; a failed
//! lock or commit answers every change of the batch with the error. A change whose caller left
//! before its batch ran is dropped unapplied.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use tokio::sync::oneshot;
use uuid::Uuid;

use super::workspaces::{BatchError, ChangeError, PendingChange};
use super::{Store, StoreError};
use crate::domain::policy::Effect;

/// The most changes one transaction applies.
pub const MAX_BATCH: usize = 128;

type Outcome = Result<Effect, ChangeError>;

struct Queued {
    change: PendingChange,
    reply: oneshot::Sender<Outcome>,
}

/// The queues of the workspaces being written, by (tenant, workspace). A queue is present while
/// its task runs.
#[derive(Default)]
pub(crate) struct Batches {
    queues: Mutex<HashMap<(Uuid, Uuid), VecDeque<Queued>>>,
}

impl std::fmt::Debug for Batches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batches").finish_non_exhaustive()
    }
}

impl Batches {
    fn queues(&self) -> std::sync::MutexGuard<'_, HashMap<(Uuid, Uuid), VecDeque<Queued>>> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store {
    /// Queue `change` on its workspace's group commit and wait for its outcome.
    pub(super) async fn batched_change(&self, change: PendingChange) -> Outcome {
        let key = (change.req.tenant_id, change.req.workspace_id);
        let (reply, answer) = oneshot::channel();
        let start = match self.batches.queues().entry(key) {
            std::collections::hash_map::Entry::Occupied(mut queue) => {
                queue.get_mut().push_back(Queued { change, reply });
                false
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(VecDeque::from([Queued { change, reply }]));
                true
            }
        };
        if start {
            let store = self.clone();
            tokio::spawn(async move { store.drain(key).await });
        }
        answer.await.unwrap_or_else(|_| Err(ChangeError::Store(unfinished("the workspace's write queue stopped"))))
    }

    /// Apply the workspace's queued changes, batch after batch, until its queue is empty.
    async fn drain(&self, key: (Uuid, Uuid)) {
        let _running = Running { store: self, key };
        loop {
            let batch: Vec<Queued> = {
                let mut queues = self.batches.queues();
                let Some(queue) = queues.get_mut(&key) else { return };
                let n = queue.len().min(MAX_BATCH);
                queue.drain(..n).filter(|q| !q.reply.is_closed()).collect()
            };
            if batch.is_empty() {
                let mut queues = self.batches.queues();
                if queues.get(&key).is_some_and(VecDeque::is_empty) {
                    queues.remove(&key);
                    return;
                }
                continue;
            }
            let (changes, replies): (Vec<PendingChange>, Vec<_>) = batch.into_iter().map(|q| (q.change, q.reply)).unzip();
            match self.apply_member_changes(&changes).await {
                Ok(outcomes) => {
                    for (reply, outcome) in replies.into_iter().zip(outcomes) {
                        let _ = reply.send(outcome);
                    }
                }
                Err(BatchError::Whole(error)) => {
                    for reply in replies {
                        let _ = reply.send(Err(copy(&error)));
                    }
                }
                Err(BatchError::At(failed, error)) => {
                    tracing::warn!(error = %error, batch = changes.len(), "a role change failed; the rest of its batch runs again");
                    let mut error = Some(error);
                    let mut retry = Vec::with_capacity(changes.len());
                    for (i, (change, reply)) in changes.into_iter().zip(replies).enumerate() {
                        if i == failed {
                            let _ = reply.send(Err(error.take().unwrap_or(ChangeError::Store(unfinished("failed")))));
                        } else {
                            retry.push(Queued { change, reply });
                        }
                    }
                    let mut queues = self.batches.queues();
                    let queue = queues.entry(key).or_default();
                    for q in retry.into_iter().rev() {
                        queue.push_front(q);
                    }
                }
            }
        }
    }
}

/// Removes the workspace's queue if its task panicked, so that the next change starts a new one
/// (the changes queued are dropped; their callers get an error).
struct Running<'a> {
    store: &'a Store,
    key: (Uuid, Uuid),
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.store.batches.queues().remove(&self.key);
        }
    }
}

fn unfinished(why: &str) -> StoreError {
    StoreError::Unfinished(why.to_string())
}

/// The outcome of a whole failed batch, for each of its changes.
fn copy(error: &ChangeError) -> ChangeError {
    match error {
        ChangeError::WorkspaceNotFound => ChangeError::WorkspaceNotFound,
        ChangeError::Refused(refusal) => ChangeError::Refused(*refusal),
        ChangeError::Store(e) => ChangeError::Store(unfinished(&e.to_string())),
    }
}

impl Store {
    /// Role changes waiting for their workspace's next batch (PostgreSQL; always 0 on SQLite),
    /// for tests and diagnostics.
    pub fn queued_changes(&self) -> usize {
        self.batches.queues().values().map(VecDeque::len).sum()
    }
}
