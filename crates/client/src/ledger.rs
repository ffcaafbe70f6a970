//! The admin budget ledger: the client paces its admin calls (`/v1.0/myorg/admin/…`) so that the
//! tenant's budget (200 per sliding hour by default) is never exceeded and the normal path
//! never meets a 429.
//!
//! Before an admin call the client *reserves* a slot: the ledger records the time. If the window
//! already holds `limit` calls, the client waits until the oldest leaves it; if that is further
//! away than `max_wait`, nothing is reserved and the call ends in
//! `ClientError::BudgetExhausted { retry_after }`. When the answer arrives the reservation is
//! *completed*: its time moves to the answer's time, which is never earlier than the moment the
//! service counted the call, so the slot is released no earlier than the service releases it.
//! A 429 received anyway (someone outside the ledger spent the budget) blocks the tenant until
//! its `Retry-After`.
//!
//! The ledger lives in memory ([`Ledger::in_memory`]) or in a JSON file shared by every process
//! on the machine ([`Ledger::file`]): each read-modify-write holds an exclusive advisory lock
//! (`flock`, through `fs4`) on a sibling `.lock` file, and the data file is replaced atomically
//! (write to a temporary file, then rename), so two jobs never together exceed the budget and a
//! crash never leaves half a file.
//!
//! A call is in the window at time `t` when `t - at < window`: a call made at 10:00:00.000 frees
//! its slot at 11:00:00.000 exactly.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{ClientError, Result};
use crate::time::{unix_millis, SharedClock};

/// The budget of one tenant's admin calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminBudget {
    /// Calls allowed in any window (Power BI: 200).
    pub limit: u32,
    /// The sliding window (Power BI: one hour).
    pub window: Duration,
    /// The longest the client waits for a slot before giving up with `BudgetExhausted`.
    pub max_wait: Duration,
}

impl Default for AdminBudget {
    fn default() -> Self {
        AdminBudget { limit: 200, window: Duration::from_secs(3600), max_wait: Duration::from_secs(600) }
    }
}

/// Whether a path is an admin call that spends the budget.
pub fn is_admin_path(path: &str) -> bool {
    path.starts_with("/v1.0/myorg/admin/")
}

/// One tenant's entries: reserved or completed call times (Unix ms) and a block set by a 429.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantLedger {
    #[serde(default)]
    pub calls: Vec<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_until: Option<i64>,
}

/// What the ledger says to a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A slot is taken at this time (Unix ms).
    Reserved(i64),
    /// No slot before this long.
    Wait(Duration),
}

impl TenantLedger {
    /// Forget calls that left the window and a block that has passed.
    pub fn prune(&mut self, now: i64, window: Duration) {
        let window = window.as_millis() as i64;
        self.calls.retain(|&at| now - at < window);
        if self.blocked_until.is_some_and(|b| b <= now) {
            self.blocked_until = None;
        }
    }

    /// Take a slot at `now`, or say how long until one frees.
    pub fn reserve(&mut self, now: i64, limit: u32, window: Duration) -> Decision {
        self.prune(now, window);
        if let Some(until) = self.blocked_until {
            return Decision::Wait(Duration::from_millis((until - now) as u64));
        }
        if (self.calls.len() as u64) < u64::from(limit) {
            self.calls.push(now);
            return Decision::Reserved(now);
        }
        // Full: the slot frees when enough of the oldest calls leave the window.
        let mut sorted = self.calls.clone();
        sorted.sort_unstable();
        let frees_at = sorted[sorted.len() - limit.max(1) as usize] + window.as_millis() as i64;
        Decision::Wait(Duration::from_millis((frees_at - now).max(1) as u64))
    }

    /// Move a reservation made at `at` to `now` (never earlier).
    pub fn complete(&mut self, at: i64, now: i64) {
        match self.calls.iter().position(|&c| c == at) {
            Some(i) => self.calls[i] = self.calls[i].max(now),
            None => self.calls.push(now),
        }
    }

    /// The service said 429 until `until`: no slot before then.
    pub fn block_until(&mut self, until: i64) {
        self.blocked_until = Some(self.blocked_until.map_or(until, |b| b.max(until)));
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct LedgerFile {
    #[serde(default)]
    tenants: BTreeMap<String, TenantLedger>,
}

#[derive(Debug)]
enum Store {
    Memory(Mutex<LedgerFile>),
    File { data: PathBuf, lock: PathBuf },
}

/// A reserved slot, to be completed when the answer arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub tenant: String,
    pub at: i64,
}

/// A wait for budget, reported before the ledger sleeps (so a command can say what it waits for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetWait {
    pub tenant: String,
    /// What is waited for, e.g. `admin budget (200/h)`.
    pub budget: String,
    pub wait: Duration,
}

/// Called with every [`BudgetWait`]; see [`Ledger::observe_waits`].
pub type WaitObserver = Arc<dyn Fn(&BudgetWait) + Send + Sync>;

#[derive(Default)]
struct Observer(Mutex<Option<WaitObserver>>);

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observer")
    }
}

/// The shared admin-budget ledger. Cheap to share (`Arc`) between clients of one process; two
/// processes share it through [`Ledger::file`].
#[derive(Debug)]
pub struct Ledger {
    store: Store,
    budget: AdminBudget,
    clock: SharedClock,
    observer: Observer,
}

impl Ledger {
    pub fn in_memory(budget: AdminBudget, clock: SharedClock) -> Arc<Ledger> {
        Arc::new(Ledger { store: Store::Memory(Mutex::new(LedgerFile::default())), budget, clock, observer: Observer::default() })
    }

    /// A ledger kept in `path` (a JSON file, created when missing, with `path.lock` beside it).
    pub fn file(path: impl AsRef<Path>, budget: AdminBudget, clock: SharedClock) -> Result<Arc<Ledger>> {
        let data = path.as_ref().to_path_buf();
        if let Some(dir) = data.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| ClientError::Ledger(format!("{}: {e}", dir.display())))?;
        }
        let mut lock = data.clone().into_os_string();
        lock.push(".lock");
        Ok(Arc::new(Ledger { store: Store::File { data, lock: lock.into() }, budget, clock, observer: Observer::default() }))
    }

    pub fn budget(&self) -> AdminBudget {
        self.budget
    }

    /// Report every wait for a slot to `observer` before sleeping it (one observer; the last set wins).
    pub fn observe_waits(&self, observer: WaitObserver) {
        *self.observer.0.lock().unwrap() = Some(observer);
    }

    /// What the budget is, for people: `admin budget (200/h)`.
    pub fn describe(&self) -> String {
        let w = self.budget.window.as_secs();
        let per = match w {
            3600 => "h".to_string(),
            60 => "min".to_string(),
            s => format!("{s} s"),
        };
        format!("admin budget ({}/{per})", self.budget.limit)
    }

    /// Run `f` on one tenant's entries under the lock, and save them.
    async fn update<R: Send + 'static>(&self, tenant: &str, f: impl FnOnce(&mut TenantLedger) -> R + Send + 'static) -> Result<R> {
        let key = tenant.to_ascii_lowercase();
        match &self.store {
            Store::Memory(m) => {
                let mut file = m.lock().unwrap();
                Ok(f(file.tenants.entry(key).or_default()))
            }
            Store::File { data, lock } => {
                let (data, lock) = (data.clone(), lock.clone());
                tokio::task::spawn_blocking(move || update_file(&data, &lock, &key, f))
                    .await
                    .map_err(|e| ClientError::Ledger(format!("ledger task: {e}")))?
            }
        }
    }

    /// A copy of one tenant's entries (for inspection and tests).
    pub async fn snapshot(&self, tenant: &str) -> Result<TenantLedger> {
        let now = unix_millis(self.clock.now());
        let window = self.budget.window;
        self.update(tenant, move |t| {
            t.prune(now, window);
            t.clone()
        })
        .await
    }

    /// Wait for a free slot and take it, or fail with `BudgetExhausted` when the slot is further
    /// away than `max_wait` (counting what was already waited).
    pub async fn reserve(&self, tenant: &str) -> Result<Reservation> {
        let mut waited = Duration::ZERO;
        loop {
            let now = unix_millis(self.clock.now());
            let (limit, window) = (self.budget.limit, self.budget.window);
            match self.update(tenant, move |t| t.reserve(now, limit, window)).await? {
                Decision::Reserved(at) => return Ok(Reservation { tenant: tenant.to_string(), at }),
                Decision::Wait(wait) => {
                    if waited + wait > self.budget.max_wait {
                        return Err(ClientError::BudgetExhausted { tenant: tenant.to_string(), retry_after: wait });
                    }
                    tracing::debug!(tenant, ?wait, "admin budget full: waiting for a slot");
                    let observer = self.observer.0.lock().unwrap().clone();
                    if let Some(observe) = observer {
                        observe(&BudgetWait { tenant: tenant.to_string(), budget: self.describe(), wait });
                    }
                    self.clock.sleep_until(crate::time::from_unix_millis(now) + wait).await;
                    waited += wait;
                }
            }
        }
    }

    /// The answer arrived: the call counts from now.
    pub async fn complete(&self, reservation: &Reservation) -> Result<()> {
        let now = unix_millis(self.clock.now());
        let at = reservation.at;
        self.update(&reservation.tenant, move |t| t.complete(at, now)).await
    }

    /// A 429 said to come back after `retry_after`: no admin call for this tenant before then.
    pub async fn block_for(&self, tenant: &str, retry_after: Duration) -> Result<()> {
        let until = unix_millis(self.clock.now()) + retry_after.as_millis() as i64;
        self.update(tenant, move |t| t.block_until(until)).await
    }
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> ClientError {
    ClientError::Ledger(format!("{}: {e}", path.display()))
}

fn update_file<R>(data: &Path, lock: &Path, tenant: &str, f: impl FnOnce(&mut TenantLedger) -> R) -> Result<R> {
    let lock_file = OpenOptions::new().create(true).truncate(false).write(true).open(lock).map_err(|e| io_err(lock, e))?;
    fs4::FileExt::lock(&lock_file).map_err(|e| io_err(lock, e))?;
    let result = (|| {
        let mut file: LedgerFile = match File::open(data) {
            Ok(mut f) => {
                let mut text = String::new();
                f.read_to_string(&mut text).map_err(|e| io_err(data, e))?;
                if text.trim().is_empty() {
                    LedgerFile::default()
                } else {
                    serde_json::from_str(&text).map_err(|e| io_err(data, format!("not a ledger file: {e}")))?
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => LedgerFile::default(),
            Err(e) => return Err(io_err(data, e)),
        };
        let out = f(file.tenants.entry(tenant.to_string()).or_default());
        let mut tmp = data.to_path_buf().into_os_string();
        tmp.push(format!(".tmp{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let bytes = serde_json::to_vec(&file).map_err(|e| io_err(data, e))?;
        let mut w = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        w.write_all(&bytes).and_then(|_| w.sync_data()).map_err(|e| io_err(&tmp, e))?;
        std::fs::rename(&tmp, data).map_err(|e| io_err(data, e))?;
        Ok(out)
    })();
    let _ = fs4::FileExt::unlock(&lock_file);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{from_unix_millis, ManualClock};

    const HOUR: Duration = Duration::from_secs(3600);
    const T0: i64 = 1_700_000_000_000;

    #[test]
    fn admin_paths() {
        assert!(is_admin_path("/v1.0/myorg/admin/groups"));
        assert!(is_admin_path("/v1.0/myorg/admin/groups/x/users"));
        assert!(!is_admin_path("/v1.0/myorg/groups"));
        assert!(!is_admin_path("/v1.0/myorg/administrators"));
    }

    #[test]
    fn window_fills_then_frees_when_the_oldest_leaves() {
        let mut t = TenantLedger::default();
        for i in 0..3 {
            assert_eq!(t.reserve(T0 + i * 1000, 3, HOUR), Decision::Reserved(T0 + i * 1000));
        }
        // Full: the first call (T0) leaves the window at T0 + 1h.
        assert_eq!(t.reserve(T0 + 10_000, 3, HOUR), Decision::Wait(HOUR - Duration::from_secs(10)));
        // One millisecond before, still full; exactly at T0 + 1h, free.
        assert_eq!(t.reserve(T0 + 3_599_999, 3, HOUR), Decision::Wait(Duration::from_millis(1)));
        assert_eq!(t.reserve(T0 + 3_600_000, 3, HOUR), Decision::Reserved(T0 + 3_600_000));
        assert_eq!(t.calls.len(), 3, "the expired entry was pruned");
        // Next frees when the call at T0 + 1 s leaves.
        assert_eq!(t.reserve(T0 + 3_600_000, 3, HOUR), Decision::Wait(Duration::from_secs(1)));
    }

    #[test]
    fn completion_moves_the_slot_later_never_earlier() {
        let mut t = TenantLedger::default();
        assert_eq!(t.reserve(T0, 1, HOUR), Decision::Reserved(T0));
        t.complete(T0, T0 + 5_000);
        assert_eq!(t.calls, vec![T0 + 5_000]);
        assert_eq!(t.reserve(T0 + 3_600_000, 1, HOUR), Decision::Wait(Duration::from_secs(5)));
        t.complete(T0 + 5_000, T0);
        assert_eq!(t.calls, vec![T0 + 5_000], "a clock going backwards does not release early");
    }

    #[test]
    fn a_429_blocks_until_retry_after_even_with_room_left() {
        let mut t = TenantLedger::default();
        t.block_until(T0 + 3_392_000);
        t.block_until(T0 + 1_000); // a shorter block does not shorten the longer one
        assert_eq!(t.reserve(T0, 200, HOUR), Decision::Wait(Duration::from_secs(3392)));
        assert_eq!(t.reserve(T0 + 3_392_000, 200, HOUR), Decision::Reserved(T0 + 3_392_000));
        assert_eq!(t.blocked_until, None);
    }

    #[tokio::test]
    async fn reserve_waits_within_max_wait_and_refuses_beyond() {
        let clock = ManualClock::new(from_unix_millis(T0));
        let budget = AdminBudget { limit: 2, window: Duration::from_secs(60), max_wait: Duration::from_secs(30) };
        let ledger = Ledger::in_memory(budget, clock.clone());
        ledger.reserve("t").await.unwrap();
        clock.advance(Duration::from_secs(40));
        ledger.reserve("t").await.unwrap();
        // Full; the first slot frees in 20 s (≤ 30 s): the reservation sleeps on the clock.
        let r = ledger.reserve("t").await.unwrap();
        assert_eq!(r.at, T0 + 60_000);
        // Full again; the next slot (the call at 40 s) frees at 100 s, 40 s away: refused.
        match ledger.reserve("T").await {
            Err(ClientError::BudgetExhausted { retry_after, tenant }) => {
                assert_eq!(retry_after, Duration::from_secs(40));
                assert_eq!(tenant, "T");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(ledger.snapshot("t").await.unwrap().calls.len(), 2, "nothing reserved by the refusal (tenant keys ignore case)");
        // Other tenants have their own budget.
        ledger.reserve("other").await.unwrap();
    }

    #[tokio::test]
    async fn each_wait_is_reported_before_it_is_slept() {
        let clock = ManualClock::new(from_unix_millis(T0));
        let budget = AdminBudget { limit: 1, window: HOUR, max_wait: HOUR };
        let ledger = Ledger::in_memory(budget, clock.clone());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        ledger.observe_waits(Arc::new(move |w: &BudgetWait| sink.lock().unwrap().push(w.clone())));
        ledger.reserve("t").await.unwrap();
        assert!(seen.lock().unwrap().is_empty(), "no wait, no report");
        clock.advance(Duration::from_secs(600));
        ledger.reserve("t").await.unwrap();
        let waits = seen.lock().unwrap().clone();
        assert_eq!(waits, vec![BudgetWait { tenant: "t".into(), budget: "admin budget (1/h)".into(), wait: Duration::from_secs(3000) }]);
    }

    #[tokio::test]
    async fn file_ledger_is_shared_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("ledger.json");
        let clock = ManualClock::new(from_unix_millis(T0));
        let budget = AdminBudget { limit: 3, window: HOUR, max_wait: Duration::ZERO };
        let a = Ledger::file(&path, budget, clock.clone()).unwrap();
        let b = Ledger::file(&path, budget, clock.clone()).unwrap();
        a.reserve("t").await.unwrap();
        b.reserve("t").await.unwrap();
        a.reserve("t").await.unwrap();
        assert!(matches!(b.reserve("t").await, Err(ClientError::BudgetExhausted { .. })));
        let c = Ledger::file(&path, budget, clock.clone()).unwrap();
        assert_eq!(c.snapshot("t").await.unwrap().calls, vec![T0, T0, T0]);
        std::fs::write(&path, b"{ not json").unwrap();
        assert!(matches!(c.reserve("t").await, Err(ClientError::Ledger(_))), "a damaged ledger is reported, not reset");
    }
}
