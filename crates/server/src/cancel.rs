//! Work stops when the client goes. Every request runs in a [`scope`]: a task-local
//! [`RequestCtl`] that the store binds to each database connection the request acquires (see
//! `store::cancel`). When the request's future is dropped before it answers (hyper drops it when
//! the client disconnects), the scope's guard marks the request cancelled, counts and logs it,
//! and has the store stop the request's statements: on SQLite the connection's progress handler
//! interrupts the statement, on PostgreSQL `pg_cancel_backend` cancels it from another
//! connection. A write interrupted this way rolls back (sqlx rolls back a dropped transaction).
//!
//! Invariant: a connection is bound to the request that acquired it from acquisition until its
//! next acquisition; only a request's own statements see its cancellation.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::store::Store;

/// The counters `GET /operator/v1/requests` reports, per application.
#[derive(Debug, Default)]
pub struct RequestStats {
    in_flight: AtomicU64,
    cancelled: AtomicU64,
    statements_cancelled: AtomicU64,
}

impl RequestStats {
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }
    /// Requests whose client went away before the answer.
    pub fn cancelled(&self) -> u64 {
        self.cancelled.load(Ordering::Relaxed)
    }
    /// Database statements interrupted (SQLite) or cancelled (PostgreSQL) for such requests.
    pub fn statements_cancelled(&self) -> u64 {
        self.statements_cancelled.load(Ordering::Relaxed)
    }
    pub(crate) fn statement_cancelled(&self) {
        self.statements_cancelled.fetch_add(1, Ordering::Relaxed);
    }
}

/// One request's cancellation state, shared with the connections bound to it.
#[derive(Debug)]
pub struct RequestCtl {
    id: u64,
    cancelled: AtomicBool,
    stats: Arc<RequestStats>,
}

tokio::task_local! {
    static CURRENT: Arc<RequestCtl>;
}

/// Every live request by id, so that a SQLite connection can find the request it is bound to
/// from inside the database (`pbi_bind_request(id)`, see `store::cancel`).
fn registry() -> &'static Mutex<HashMap<u64, Weak<RequestCtl>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<u64, Weak<RequestCtl>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

impl RequestCtl {
    fn new(stats: Arc<RequestStats>) -> Arc<RequestCtl> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let ctl = Arc::new(RequestCtl { id: NEXT.fetch_add(1, Ordering::Relaxed), cancelled: AtomicBool::new(false), stats });
        registry().lock().unwrap_or_else(|e| e.into_inner()).insert(ctl.id, Arc::downgrade(&ctl));
        ctl
    }

    /// Process-wide id (never 0).
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> &RequestStats {
        &self.stats
    }

    /// The live request with this id.
    pub(crate) fn find(id: u64) -> Option<Arc<RequestCtl>> {
        registry().lock().unwrap_or_else(|e| e.into_inner()).get(&id).and_then(Weak::upgrade)
    }
}

impl Drop for RequestCtl {
    fn drop(&mut self) {
        registry().lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
    }
}

/// The request the running task serves, if any.
pub fn current() -> Option<Arc<RequestCtl>> {
    CURRENT.try_with(Arc::clone).ok()
}

/// Run `work` as one request: its database connections are bound to it, and if the future is
/// dropped before it completes, the request is counted and logged as cancelled (with
/// `request_id`) and its statements are stopped.
pub async fn scope<F: Future>(stats: &Arc<RequestStats>, store: &Store, request_id: String, work: F) -> F::Output {
    let ctl = RequestCtl::new(stats.clone());
    stats.in_flight.fetch_add(1, Ordering::Relaxed);
    let mut guard = Guard { ctl: ctl.clone(), store: store.clone(), request_id, done: false };
    let output = CURRENT.scope(ctl, work).await;
    guard.done = true;
    output
}

struct Guard {
    ctl: Arc<RequestCtl>,
    store: Store,
    request_id: String,
    done: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let stats = &self.ctl.stats;
        stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        if self.done {
            return;
        }
        self.ctl.cancelled.store(true, Ordering::Relaxed);
        stats.cancelled.fetch_add(1, Ordering::Relaxed);
        tracing::info!(request_id = %self.request_id, "client went away before the answer; request cancelled");
        self.store.cancel_request(&self.ctl);
    }
}
