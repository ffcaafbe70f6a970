//! The budget ledger: the client paces its calls so that the service's request budgets (the
//! tenant's admin budget, 200 per sliding hour by default, the scanner's own budgets, …) are never
//! exceeded and the normal path never meets a 429. Which budgets a call draws on, with what limit
//! and window, is `pbi_wire::budgets`, the table the server throttles by; the ledger keys its
//! entries by the same budget keys (`admin/1h`, `WorkspaceInfo_GetScanStatus/1h`, …), so it
//! counts exactly what the service counts, under either admin-budget model.
//!
//! Before a budgeted call the client *reserves* a slot in every budget the call draws on (all or
//! none): the ledger records the time. If a budget's window already holds `limit` calls, the
//! client waits until the oldest leaves it; if that is further away than `max_wait`, nothing is
//! reserved and the call ends in `ClientError::BudgetExhausted { budget, retry_after }`. When the
//! answer arrives the reservation is *completed*: its time moves to the answer's time, which is
//! never earlier than the moment the service counted the call, so the slot is released no earlier
//! than the service releases it. A 429 received anyway (someone outside the ledger spent the
//! budget) blocks the call's budgets until its `Retry-After`.
//!
//! The ledger lives in memory ([`Ledger::in_memory`]) or in a JSON file shared by every process
//! on the machine ([`Ledger::file`]): each read-modify-write holds an exclusive advisory lock
//! (`flock`, through `fs4`) on a sibling `.lock` file, and the data file is replaced atomically
//! (write to a temporary file, then rename), so two jobs never together exceed a budget and a
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

use pbi_wire::budgets::{AdminBudgetModel, Budget, Limits, HOUR_MS, MINUTE_MS};
use pbi_wire::ops;
use serde::{Deserialize, Serialize};

use crate::error::{ClientError, Result};
use crate::time::{unix_millis, SharedClock};

/// What the ledger paces to: the budget table's figures (the service's by default) and the
/// longest a call waits for a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pacing {
    pub limits: Limits,
    /// The longest the client waits for a slot before giving up with `BudgetExhausted`.
    pub max_wait: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing { limits: Limits::default(), max_wait: Duration::from_secs(600) }
    }
}

/// The shared admin budget of `limit` per hour, every other budget at the service's figures: the
/// shorthand of the first ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminBudget {
    /// Admin calls allowed in any hour (Power BI: 200).
    pub limit: u32,
    /// The admin budget's window. The service's is one hour, as the budget table's; kept for
    /// source compatibility, it must be one hour.
    pub window: Duration,
    /// The longest the client waits for a slot before giving up with `BudgetExhausted`.
    pub max_wait: Duration,
}

impl Default for AdminBudget {
    fn default() -> Self {
        AdminBudget { limit: 200, window: Duration::from_secs(3600), max_wait: Duration::from_secs(600) }
    }
}

impl From<AdminBudget> for Pacing {
    fn from(b: AdminBudget) -> Pacing {
        debug_assert_eq!(b.window, Duration::from_secs(3600), "the admin budget's window is one hour");
        Pacing { limits: Limits { admin_per_hour: b.limit, ..Limits::default() }, max_wait: b.max_wait }
    }
}

/// Whether a path is an admin call (`/v1.0/myorg/admin/…`; for the call statistics).
pub fn is_admin_path(path: &str) -> bool {
    path.starts_with("/v1.0/myorg/admin/")
}

/// The window of a budget key (`…/1m` or `…/1h`, per-caller keys with the caller after it).
fn window_of(key: &str) -> Duration {
    let minute = key.split('/').nth(1) == Some("1m");
    Duration::from_millis(if minute { MINUTE_MS } else { HOUR_MS } as u64)
}

/// One budget's entries: reserved or completed call times (Unix ms) and a block set by a 429.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetLedger {
    #[serde(default)]
    pub calls: Vec<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_until: Option<i64>,
}

impl BudgetLedger {
    /// Forget calls that left the window and a block that has passed.
    pub fn prune(&mut self, now: i64, window: Duration) {
        let window = window.as_millis() as i64;
        self.calls.retain(|&at| now - at < window);
        if self.blocked_until.is_some_and(|b| b <= now) {
            self.blocked_until = None;
        }
    }

    /// How long until this budget has a free slot (zero: now).
    fn wait(&self, now: i64, limit: u32, window: Duration) -> Duration {
        if let Some(until) = self.blocked_until {
            return Duration::from_millis((until - now).max(1) as u64);
        }
        if (self.calls.len() as u64) < u64::from(limit) {
            return Duration::ZERO;
        }
        // Full: the slot frees when enough of the oldest calls leave the window.
        let mut sorted = self.calls.clone();
        sorted.sort_unstable();
        let frees_at = sorted[sorted.len() - limit.max(1) as usize] + window.as_millis() as i64;
        Duration::from_millis((frees_at - now).max(1) as u64)
    }
}

/// One tenant's budgets, by key (`admin/1h`, `WorkspaceInfo_GetScanStatus/1h`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantLedger {
    #[serde(default)]
    pub budgets: BTreeMap<String, BudgetLedger>,
    /// The first ledger's admin calls (one budget per tenant): read into `admin/1h`.
    #[serde(default, skip_serializing)]
    calls: Vec<i64>,
    #[serde(default, skip_serializing)]
    blocked_until: Option<i64>,
}

/// A budget as the ledger counts it: key, limit, window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub key: String,
    pub limit: u32,
    pub window_ms: i64,
}

/// What the ledger says to a reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A slot is taken in every budget at this time (Unix ms).
    Reserved(i64),
    /// No slot before this long, in the budget named.
    Wait(Duration, String),
}

impl TenantLedger {
    fn migrate(&mut self) {
        if !self.calls.is_empty() || self.blocked_until.is_some() {
            let admin = self.budgets.entry("admin/1h".into()).or_default();
            admin.calls.append(&mut self.calls);
            if let Some(b) = self.blocked_until.take() {
                admin.blocked_until = Some(admin.blocked_until.map_or(b, |a| a.max(b)));
            }
        }
    }

    /// Forget what left every window; drop empty budgets.
    pub fn prune(&mut self, now: i64) {
        self.migrate();
        for (key, b) in self.budgets.iter_mut() {
            b.prune(now, window_of(key));
        }
        self.budgets.retain(|_, b| !b.calls.is_empty() || b.blocked_until.is_some());
    }

    /// Calls counted in the window of one budget.
    pub fn calls(&self, key: &str) -> usize {
        self.budgets.get(key).map_or(0, |b| b.calls.len())
    }

    /// Calls counted in the admin budgets (the shared one, or all the per-operation ones).
    pub fn admin_calls(&self) -> usize {
        self.budgets.iter().filter(|(k, _)| k.starts_with("admin/") || k.starts_with("admin:")).map(|(_, b)| b.calls.len()).sum()
    }

    /// Take a slot at `now` in every budget of `slots`, or say how long until all have one.
    pub fn reserve(&mut self, now: i64, slots: &[Slot]) -> Decision {
        self.prune(now);
        let mut longest: Option<(Duration, &str)> = None;
        for s in slots {
            let wait = self.budgets.get(&s.key).map_or(Duration::ZERO, |b| b.wait(now, s.limit, window_of(&s.key)));
            if !wait.is_zero() && longest.is_none_or(|(w, _)| wait > w) {
                longest = Some((wait, &s.key));
            }
        }
        if let Some((wait, key)) = longest {
            return Decision::Wait(wait, key.to_string());
        }
        for s in slots {
            self.budgets.entry(s.key.clone()).or_default().calls.push(now);
        }
        Decision::Reserved(now)
    }

    /// Move a reservation made at `at` to `now` (never earlier), in each budget of `keys`.
    pub fn complete(&mut self, keys: &[String], at: i64, now: i64) {
        for key in keys {
            let b = self.budgets.entry(key.clone()).or_default();
            match b.calls.iter().position(|&c| c == at) {
                Some(i) => b.calls[i] = b.calls[i].max(now),
                None => b.calls.push(now),
            }
        }
    }

    /// The service said 429 until `until`: no slot in these budgets before then.
    pub fn block_until(&mut self, keys: &[String], until: i64) {
        for key in keys {
            let b = self.budgets.entry(key.clone()).or_default();
            b.blocked_until = Some(b.blocked_until.map_or(until, |x| x.max(until)));
        }
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

/// Reserved slots, to be completed when the answer arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub tenant: String,
    pub keys: Vec<String>,
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

/// The shared budget ledger. Cheap to share (`Arc`) between clients of one process; two
/// processes share it through [`Ledger::file`].
#[derive(Debug)]
pub struct Ledger {
    store: Store,
    pacing: Pacing,
    clock: SharedClock,
    observer: Observer,
}

/// The caller of per-caller budgets. The ledger paces one tenant's callers together, which is
/// never more than the service allows each of them.
const CALLER: &str = "ledger";

impl Ledger {
    pub fn in_memory(pacing: impl Into<Pacing>, clock: SharedClock) -> Arc<Ledger> {
        Arc::new(Ledger {
            store: Store::Memory(Mutex::new(LedgerFile::default())),
            pacing: pacing.into(),
            clock,
            observer: Observer::default(),
        })
    }

    /// A ledger kept in `path` (a JSON file, created when missing, with `path.lock` beside it).
    pub fn file(path: impl AsRef<Path>, pacing: impl Into<Pacing>, clock: SharedClock) -> Result<Arc<Ledger>> {
        let data = path.as_ref().to_path_buf();
        if let Some(dir) = data.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| ClientError::Ledger(format!("{}: {e}", dir.display())))?;
        }
        let mut lock = data.clone().into_os_string();
        lock.push(".lock");
        Ok(Arc::new(Ledger { store: Store::File { data, lock: lock.into() }, pacing: pacing.into(), clock, observer: Observer::default() }))
    }

    pub fn pacing(&self) -> &Pacing {
        &self.pacing
    }

    pub fn max_wait(&self) -> Duration {
        self.pacing.max_wait
    }

    /// The budgets a Power BI request draws on under this ledger's figures (`model` overrides
    /// the admin-budget model); none for a request that is no Power BI operation.
    pub fn budgets_for(&self, method: &str, path: &str, model: Option<AdminBudgetModel>) -> Vec<Budget> {
        let Some(op) = ops::find(ops::powerbi::ALL, method, path) else { return Vec::new() };
        let limits = Limits { admin_budget: model.unwrap_or(self.pacing.limits.admin_budget), ..self.pacing.limits.clone() };
        pbi_wire::budgets::budgets(&op, &limits)
    }

    /// The ledger's slots for `budgets`.
    pub fn slots(budgets: &[Budget]) -> Vec<Slot> {
        budgets.iter().map(|b| Slot { key: b.key(CALLER), limit: b.limit, window_ms: b.window_ms }).collect()
    }

    /// Report every wait for a slot to `observer` before sleeping it (one observer; the last set wins).
    pub fn observe_waits(&self, observer: WaitObserver) {
        *self.observer.0.lock().unwrap() = Some(observer);
    }

    /// Run `f` on one tenant's entries under the lock, and save them.
    async fn update<R: Send + 'static>(&self, tenant: &str, f: impl FnOnce(&mut TenantLedger) -> R + Send + 'static) -> Result<R> {
        let key = tenant.to_ascii_lowercase();
        match &self.store {
            Store::Memory(m) => {
                let mut file = m.lock().unwrap();
                let t = file.tenants.entry(key).or_default();
                t.migrate();
                Ok(f(t))
            }
            Store::File { data, lock } => {
                let (data, lock) = (data.clone(), lock.clone());
                tokio::task::spawn_blocking(move || update_file(&data, &lock, &key, f))
                    .await
                    .map_err(|e| ClientError::Ledger(format!("ledger task: {e}")))?
            }
        }
    }

    /// A copy of one tenant's entries, pruned (for inspection and tests).
    pub async fn snapshot(&self, tenant: &str) -> Result<TenantLedger> {
        let now = unix_millis(self.clock.now());
        self.update(tenant, move |t| {
            t.prune(now);
            t.clone()
        })
        .await
    }

    /// Wait for a free slot in every one of `budgets` and take them, or fail with
    /// `BudgetExhausted` when a slot is further away than `max_wait` (counting what was already
    /// waited).
    pub async fn reserve(&self, tenant: &str, budgets: &[Budget]) -> Result<Reservation> {
        let slots = Ledger::slots(budgets);
        let keys: Vec<String> = slots.iter().map(|s| s.key.clone()).collect();
        let mut waited = Duration::ZERO;
        loop {
            let now = unix_millis(self.clock.now());
            let s = slots.clone();
            match self.update(tenant, move |t| t.reserve(now, &s)).await? {
                Decision::Reserved(at) => return Ok(Reservation { tenant: tenant.to_string(), keys, at }),
                Decision::Wait(wait, budget) => {
                    if waited + wait > self.pacing.max_wait {
                        return Err(ClientError::BudgetExhausted { tenant: tenant.to_string(), budget, retry_after: wait });
                    }
                    tracing::debug!(tenant, budget, ?wait, "budget full: waiting for a slot");
                    let observer = self.observer.0.lock().unwrap().clone();
                    if let Some(observe) = observer {
                        let what = slots.iter().find(|s| s.key == budget).map_or_else(|| budget.clone(), describe_slot);
                        observe(&BudgetWait { tenant: tenant.to_string(), budget: what, wait });
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
        let (at, keys) = (reservation.at, reservation.keys.clone());
        self.update(&reservation.tenant, move |t| t.complete(&keys, at, now)).await
    }

    /// A 429 said to come back after `retry_after`: no call drawing on `budgets` for this
    /// tenant before then.
    pub async fn block_for(&self, tenant: &str, budgets: &[Budget], retry_after: Duration) -> Result<()> {
        let until = unix_millis(self.clock.now()) + retry_after.as_millis() as i64;
        let keys: Vec<String> = Ledger::slots(budgets).into_iter().map(|s| s.key).collect();
        self.update(tenant, move |t| t.block_until(&keys, until)).await
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
        let entry = file.tenants.entry(tenant.to_string()).or_default();
        entry.migrate();
        let out = f(entry);
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

/// A budget for people: `admin budget (200/h)`, `WorkspaceInfo_GetScanStatus budget (10000/h)`.
fn describe_slot(slot: &Slot) -> String {
    let name = slot.key.split('/').next().unwrap_or(&slot.key);
    let per = match slot.window_ms {
        3_600_000 => "h".to_string(),
        60_000 => "min".to_string(),
        ms => format!("{} s", ms / 1000),
    };
    format!("{name} budget ({}/{per})", slot.limit)
}

#[cfg(test)]
mod tests {
    use pbi_wire::ops::powerbi as op;

    use super::*;
    use crate::time::{from_unix_millis, ManualClock};

    const HOUR: Duration = Duration::from_secs(3600);
    const T0: i64 = 1_700_000_000_000;

    fn slot(key: &str, limit: u32) -> Slot {
        Slot { key: key.into(), limit, window_ms: window_of(key).as_millis() as i64 }
    }

    #[test]
    fn admin_paths() {
        assert!(is_admin_path("/v1.0/myorg/admin/groups"));
        assert!(!is_admin_path("/v1.0/myorg/groups"));
        assert!(!is_admin_path("/v1.0/myorg/administrators"));
    }

    #[test]
    fn window_fills_then_frees_when_the_oldest_leaves() {
        let mut t = TenantLedger::default();
        let s = [slot("admin/1h", 3)];
        for i in 0..3 {
            assert_eq!(t.reserve(T0 + i * 1000, &s), Decision::Reserved(T0 + i * 1000));
        }
        // Full: the first call (T0) leaves the window at T0 + 1h.
        assert_eq!(t.reserve(T0 + 10_000, &s), Decision::Wait(HOUR - Duration::from_secs(10), "admin/1h".into()));
        assert_eq!(t.reserve(T0 + 3_599_999, &s), Decision::Wait(Duration::from_millis(1), "admin/1h".into()));
        assert_eq!(t.reserve(T0 + 3_600_000, &s), Decision::Reserved(T0 + 3_600_000));
        assert_eq!(t.calls("admin/1h"), 3, "the expired entry was pruned");
    }

    #[test]
    fn a_call_on_several_budgets_takes_all_or_none_and_minute_windows_are_minutes() {
        let mut t = TenantLedger::default();
        let s = [slot("admin/1h", 10), slot("G/1h", 5), slot("G/1m", 2)];
        assert_eq!(t.reserve(T0, &s), Decision::Reserved(T0));
        assert_eq!(t.reserve(T0 + 1, &s), Decision::Reserved(T0 + 1));
        assert_eq!(t.reserve(T0 + 2, &s), Decision::Wait(Duration::from_millis(59_998), "G/1m".into()));
        assert_eq!((t.calls("admin/1h"), t.calls("G/1h")), (2, 2), "nothing taken when one budget is full");
        assert_eq!(t.reserve(T0 + 2, &[slot("admin/1h", 10)]), Decision::Reserved(T0 + 2), "other operations still pass");
        assert_eq!(t.reserve(T0 + 60_001, &s), Decision::Reserved(T0 + 60_001));
        assert_eq!(t.admin_calls(), 4);
    }

    #[test]
    fn completion_moves_the_slot_later_never_earlier() {
        let mut t = TenantLedger::default();
        let keys = ["admin/1h".to_string()];
        assert_eq!(t.reserve(T0, &[slot("admin/1h", 1)]), Decision::Reserved(T0));
        t.complete(&keys, T0, T0 + 5_000);
        assert_eq!(t.budgets["admin/1h"].calls, vec![T0 + 5_000]);
        t.complete(&keys, T0 + 5_000, T0);
        assert_eq!(t.budgets["admin/1h"].calls, vec![T0 + 5_000], "a clock going backwards does not release early");
    }

    #[test]
    fn a_429_blocks_its_budgets_until_retry_after_even_with_room_left() {
        let mut t = TenantLedger::default();
        let keys = ["admin/1h".to_string()];
        t.block_until(&keys, T0 + 3_392_000);
        t.block_until(&keys, T0 + 1_000);
        assert_eq!(t.reserve(T0, &[slot("admin/1h", 200)]), Decision::Wait(Duration::from_secs(3392), "admin/1h".into()));
        assert_eq!(t.reserve(T0, &[slot("WorkspaceInfo_GetScanStatus/1h", 10)]), Decision::Reserved(T0), "another budget is free");
        assert_eq!(t.reserve(T0 + 3_392_000, &[slot("admin/1h", 200)]), Decision::Reserved(T0 + 3_392_000));
    }

    #[test]
    fn the_first_ledgers_file_reads_into_the_admin_budget() {
        let mut t: TenantLedger = serde_json::from_str(&format!(r#"{{"calls":[{T0}],"blockedUntil":{}}}"#, T0 + 10)).unwrap();
        t.prune(T0);
        assert_eq!(t.calls("admin/1h"), 1);
        assert_eq!(t.budgets["admin/1h"].blocked_until, Some(T0 + 10));
    }

    #[test]
    fn requests_draw_on_the_tables_budgets_under_the_ledgers_model() {
        let clock = ManualClock::new(from_unix_millis(T0));
        let ledger = Ledger::in_memory(Pacing::default(), clock);
        let keys = |m: &str, p: &str, model| Ledger::slots(&ledger.budgets_for(m, p, model)).into_iter().map(|s| s.key).collect::<Vec<_>>();
        assert_eq!(keys("GET", "/v1.0/myorg/admin/groups/x/users", None), ["admin/1h"]);
        assert_eq!(keys("GET", "/v1.0/myorg/admin/workspaces/scanStatus/x", None), ["WorkspaceInfo_GetScanStatus/1h"]);
        assert_eq!(keys("GET", "/v1.0/myorg/admin/workspaces/modified", None), ["WorkspaceInfo_GetModifiedWorkspaces/1h"]);
        assert_eq!(
            keys("GET", "/v1.0/myorg/admin/groups/x/users", Some(AdminBudgetModel::PerOperation)),
            [format!("admin:{}/1h", op::GET_GROUP_USERS_AS_ADMIN.id)]
        );
        assert!(keys("GET", "/v1.0/myorg/groups", None).is_empty());
    }

    #[tokio::test]
    async fn reserve_waits_within_max_wait_and_refuses_beyond() {
        let clock = ManualClock::new(from_unix_millis(T0));
        let ledger = Ledger::in_memory(AdminBudget { limit: 2, window: HOUR, max_wait: Duration::from_secs(30) }, clock.clone());
        let admin = ledger.budgets_for("GET", "/v1.0/myorg/admin/groups/x/users", None);
        ledger.reserve("t", &admin).await.unwrap();
        clock.advance(Duration::from_secs(3590));
        ledger.reserve("t", &admin).await.unwrap();
        // Full; the first slot frees in 10 s (≤ 30 s): the reservation sleeps on the clock.
        let r = ledger.reserve("t", &admin).await.unwrap();
        assert_eq!(r.at, T0 + 3_600_000);
        match ledger.reserve("T", &admin).await {
            Err(ClientError::BudgetExhausted { retry_after, tenant, budget }) => {
                assert_eq!(retry_after, Duration::from_secs(3590));
                assert_eq!((tenant.as_str(), budget.as_str()), ("T", "admin/1h"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(ledger.snapshot("t").await.unwrap().admin_calls(), 2, "nothing reserved by the refusal (tenant keys ignore case)");
        ledger.reserve("other", &admin).await.unwrap();
    }

    #[tokio::test]
    async fn each_wait_is_reported_before_it_is_slept() {
        let clock = ManualClock::new(from_unix_millis(T0));
        let budget = AdminBudget { limit: 1, window: HOUR, max_wait: HOUR };
        let ledger = Ledger::in_memory(budget, clock.clone());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        ledger.observe_waits(Arc::new(move |w: &BudgetWait| sink.lock().unwrap().push(w.clone())));
        let admin = ledger.budgets_for("GET", "/v1.0/myorg/admin/groups/x/users", None);
        ledger.reserve("t", &admin).await.unwrap();
        assert!(seen.lock().unwrap().is_empty(), "no wait, no report");
        clock.advance(Duration::from_secs(600));
        ledger.reserve("t", &admin).await.unwrap();
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
        let admin = a.budgets_for("GET", "/v1.0/myorg/admin/groups/x/users", None);
        a.reserve("t", &admin).await.unwrap();
        b.reserve("t", &admin).await.unwrap();
        a.reserve("t", &admin).await.unwrap();
        assert!(matches!(b.reserve("t", &admin).await, Err(ClientError::BudgetExhausted { .. })));
        let c = Ledger::file(&path, budget, clock.clone()).unwrap();
        assert_eq!(c.snapshot("t").await.unwrap().budgets["admin/1h"].calls, vec![T0, T0, T0]);
        std::fs::write(&path, b"{ not json").unwrap();
        assert!(matches!(c.reserve("t", &admin).await, Err(ClientError::Ledger(_))), "a damaged ledger is reported, not reset");
    }
}
