//! Stopping the database work of a request whose client went away (see `crate::cancel`).
//!
//! Each acquisition of a pooled connection binds it to the acquiring request (the task-local
//! `cancel::current()`, or none), in one statement that replaces sqlx's liveness ping:
//! - SQLite: `SELECT pbi_bind_request(id)`. Every SQLite connection the process opens gets, from
//!   an auto-extension, that function and a progress handler sharing one slot; the handler runs
//!   every [`PROGRESS_OPS`] virtual-machine steps on the connection's worker thread and interrupts
//!   the statement (`SQLITE_INTERRUPT`) once the bound request is cancelled. (Dropping sqlx's
//!   future alone stops a SQLite statement only at its next row: a sort, an aggregate or a packed
//!   read would compute to its end.)
//! - PostgreSQL: `SELECT pg_backend_pid()`, remembered as pid → request. Cancelling a request
//!   runs `pg_cancel_backend` from a separate small pool on each of its connections still active.
//!   The pid map's lock is held across the cancel, and a rebinding waits for it, so a cancel never
//!   reaches the next request's statement. (Dropping sqlx's future leaves the backend executing;
//!   the pool's release then waits for it.)
//!
//! A cancelled statement inside a transaction fails, and the dropped transaction rolls back.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sqlx::any::AnyPoolOptions;
use sqlx::AnyConnection;
use sqlx::{AnyPool, Row};

use super::{Backend, Store, StoreResult};
use crate::cancel::{self, RequestCtl};

/// Virtual-machine steps between two checks of a SQLite connection's request.
pub const PROGRESS_OPS: c_int = 1000;

/// The store's side of request binding: on PostgreSQL, which request each backend serves.
#[derive(Debug, Default)]
pub(crate) struct Bindings {
    pids: tokio::sync::Mutex<HashMap<i32, u64>>,
    /// Where `pg_cancel_backend` runs (lazy; no binding hooks, so it never waits on `pids`).
    cancel_pool: OnceLock<AnyPool>,
}

impl Bindings {
    pub(crate) fn postgres(url: &str) -> StoreResult<Bindings> {
        let pool = AnyPoolOptions::new().max_connections(2).acquire_timeout(Duration::from_secs(10)).connect_lazy(url)?;
        let bindings = Bindings::default();
        bindings.cancel_pool.set(pool).expect("a fresh OnceLock");
        Ok(bindings)
    }
}

/// Bind a connection just acquired (or opened) to the running request. Runs as the pool's
/// `before_acquire` and `after_connect`; an error or `false` discards the connection.
///
/// A SQLite connection that interrupted a statement since its last binding is discarded: SQLite
/// rolls back a transaction whose write it interrupts, so sqlx's count of open transactions on
/// that connection no longer matches the database's (its own `ROLLBACK` then fails).
pub(crate) async fn bind(conn: &mut AnyConnection, backend: Backend, bindings: &Bindings) -> Result<bool, sqlx::Error> {
    let request = cancel::current().map_or(0, |ctl| ctl.id());
    match backend {
        Backend::Sqlite => {
            let interrupted: i64 = sqlx::query("SELECT pbi_bind_request($1)").bind(request as i64).fetch_one(conn).await?.try_get(0)?;
            Ok(interrupted == 0)
        }
        Backend::Postgres => {
            let pid: i32 = sqlx::query("SELECT pg_backend_pid()").fetch_one(&mut *conn).await?.try_get(0)?;
            bindings.pids.lock().await.insert(pid, request);
            Ok(true)
        }
    }
}

impl Store {
    /// Stop the statements of a request that was just cancelled. SQLite needs nothing more: the
    /// progress handler of each connection bound to it sees the flag.
    pub(crate) fn cancel_request(&self, ctl: &Arc<RequestCtl>) {
        if self.backend != Backend::Postgres {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let bindings = self.bindings.clone();
        let ctl = ctl.clone();
        runtime.spawn(async move {
            let Some(pool) = bindings.cancel_pool.get() else { return };
            let pids = bindings.pids.lock().await;
            for (&pid, _) in pids.iter().filter(|(_, &request)| request == ctl.id()) {
                let cancelled =
                    sqlx::query("SELECT pg_cancel_backend(pid) AS cancelled FROM pg_stat_activity WHERE pid = $1 AND state = 'active'")
                        .bind(pid)
                        .fetch_optional(pool)
                        .await;
                match cancelled {
                    Ok(Some(row)) if row.try_get::<bool, _>(0).unwrap_or(false) => {
                        ctl.stats().statement_cancelled();
                        tracing::info!(pid, "cancelled the statement of a request whose client went away");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(pid, error = %e, "could not cancel the statement of a cancelled request"),
                }
            }
        });
    }

    /// Rebind PostgreSQL backend `pid` to `request` (none: no request can stop its statements).
    /// A batch's connection serves several requests in turn (`store::batch`).
    pub(crate) async fn bind_backend(&self, pid: i32, request: Option<&Arc<RequestCtl>>) {
        self.bindings.pids.lock().await.insert(pid, request.map_or(0, |ctl| ctl.id()));
    }

    /// Keep one write connection busy in the database for `ms` milliseconds (the fault rules'
    /// `statement_ms`): `pg_sleep` on PostgreSQL, a counting loop on SQLite that holds the
    /// database's write lock. A cancelled request stops it early.
    pub async fn busy_statement(&self, ms: u64) -> StoreResult<()> {
        match self.backend {
            Backend::Postgres => {
                sqlx::query("SELECT count(*) FROM (SELECT pg_sleep($1)) AS busy").bind(ms as f64 / 1000.0).execute(&self.write).await?;
            }
            Backend::Sqlite => {
                // An UPDATE that changes nothing but takes the database's write lock first.
                let deadline = monotonic_ms().saturating_add(ms.min(i64::MAX as u64) as i64);
                sqlx::query(
                    "UPDATE schema_migrations SET version = version WHERE (WITH RECURSIVE busy(n) AS \
                     (SELECT 0 UNION ALL SELECT n + 1 FROM busy WHERE pbi_monotonic_ms() < $1) SELECT count(*) FROM busy) < 0",
                )
                .bind(deadline)
                .execute(&self.write)
                .await?;
            }
        }
        Ok(())
    }
}

/// Milliseconds since the process first asked (what SQLite's `pbi_monotonic_ms()` returns).
fn monotonic_ms() -> i64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_millis() as i64
}

/// Register the SQLite auto-extension (once per process), before any connection opens.
pub(crate) fn install_sqlite_hooks() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: `connection_opened` has the entry-point signature SQLite expects.
        let rc = unsafe { libsqlite3_sys::sqlite3_auto_extension(Some(connection_opened)) };
        if rc != libsqlite3_sys::SQLITE_OK {
            tracing::warn!(rc, "could not register the SQLite request hooks; SQLite statements will not stop with their request");
        }
    });
}

/// One SQLite connection's binding, shared by `pbi_bind_request` and the progress handler.
/// Freed by SQLite (through `drop_slot`) when the connection closes.
#[derive(Default)]
struct Slot {
    bound: Mutex<Option<Arc<RequestCtl>>>,
    /// A statement was interrupted since the last binding.
    interrupted: std::sync::atomic::AtomicBool,
}

/// Runs inside `sqlite3_open` for every connection of the process.
unsafe extern "C" fn connection_opened(
    db: *mut libsqlite3_sys::sqlite3,
    _error: *mut *mut c_char,
    _api: *const libsqlite3_sys::sqlite3_api_routines,
) -> c_int {
    use libsqlite3_sys as ffi;
    let slot = Box::into_raw(Box::<Slot>::default()).cast::<c_void>();
    // SAFETY: `db` is the connection being opened; on failure SQLite calls `drop_slot` itself.
    let rc = unsafe {
        ffi::sqlite3_create_function_v2(
            db,
            c"pbi_bind_request".as_ptr(),
            1,
            ffi::SQLITE_UTF8,
            slot,
            Some(bind_request),
            None,
            None,
            Some(drop_slot),
        )
    };
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    // SAFETY: `slot` lives until the connection closes, after which no handler runs.
    unsafe {
        ffi::sqlite3_progress_handler(db, PROGRESS_OPS, Some(progress), slot);
        ffi::sqlite3_create_function_v2(
            db,
            c"pbi_monotonic_ms".as_ptr(),
            0,
            ffi::SQLITE_UTF8,
            std::ptr::null_mut(),
            Some(sqlite_monotonic_ms),
            None,
            None,
            None,
        )
    }
}

/// `pbi_bind_request(id)`: bind the connection to request `id` (0: none); 1 when a statement was
/// interrupted since the last binding, else 0.
unsafe extern "C" fn bind_request(ctx: *mut libsqlite3_sys::sqlite3_context, argc: c_int, argv: *mut *mut libsqlite3_sys::sqlite3_value) {
    use libsqlite3_sys as ffi;
    // SAFETY: SQLite passes the slot registered with the function and `argc` arguments.
    unsafe {
        let slot = &*(ffi::sqlite3_user_data(ctx) as *const Slot);
        let id = if argc == 1 { ffi::sqlite3_value_int64(*argv) } else { 0 };
        let ctl = u64::try_from(id).ok().filter(|&id| id != 0).and_then(RequestCtl::find);
        *slot.bound.lock().unwrap_or_else(|e| e.into_inner()) = ctl;
        let interrupted = slot.interrupted.swap(false, std::sync::atomic::Ordering::Relaxed);
        ffi::sqlite3_result_int64(ctx, i64::from(interrupted));
    }
}

/// The progress handler: non-zero interrupts the running statement. It interrupts once per
/// binding, so the rollback that follows runs.
unsafe extern "C" fn progress(slot: *mut c_void) -> c_int {
    // SAFETY: the slot registered with the handler, alive while the connection is open.
    let slot = unsafe { &*(slot as *const Slot) };
    let mut bound = slot.bound.lock().unwrap_or_else(|e| e.into_inner());
    match bound.as_ref() {
        Some(ctl) if ctl.is_cancelled() => {
            ctl.stats().statement_cancelled();
            *bound = None;
            slot.interrupted.store(true, std::sync::atomic::Ordering::Relaxed);
            1
        }
        _ => 0,
    }
}

unsafe extern "C" fn drop_slot(slot: *mut c_void) {
    // SAFETY: the pointer `Box::into_raw` made in `connection_opened`, dropped once by SQLite.
    drop(unsafe { Box::from_raw(slot.cast::<Slot>()) });
}

unsafe extern "C" fn sqlite_monotonic_ms(
    ctx: *mut libsqlite3_sys::sqlite3_context,
    _argc: c_int,
    _argv: *mut *mut libsqlite3_sys::sqlite3_value,
) {
    // SAFETY: `ctx` is the context SQLite passes to the function.
    unsafe { libsqlite3_sys::sqlite3_result_int64(ctx, monotonic_ms()) }
}
