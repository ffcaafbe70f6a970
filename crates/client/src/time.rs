//! Time and sleeping, injected: token expiry, backoff and the admin-budget ledger read `now` and
//! sleep through a [`Clock`], so tests run hours of pacing in milliseconds with [`ManualClock`].

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The wall clock and a way to wait on it.
pub trait Clock: Send + Sync + Debug {
    fn now(&self) -> SystemTime;
    fn sleep(&self, duration: Duration) -> Sleep;

    /// Sleep until `deadline` (at once if it has passed).
    fn sleep_until(&self, deadline: SystemTime) -> Sleep {
        self.sleep(deadline.duration_since(self.now()).unwrap_or(Duration::ZERO))
    }
}

pub type SharedClock = Arc<dyn Clock>;

/// Milliseconds since the Unix epoch (0 before it).
pub fn unix_millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

pub fn from_unix_millis(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

/// The system clock and tokio's timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that moves only when told to, or when someone sleeps on it: `sleep(d)` moves the
/// clock to at least "now at the call + d", `sleep_until(t)` to at least `t`, and both return at
/// once (after yielding, so other tasks run). Sleepers that wait for a deadline therefore do not
/// add up: two tasks waiting for the same instant leave the clock at that instant.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<SystemTime>,
}

impl ManualClock {
    pub fn new(start: SystemTime) -> Arc<ManualClock> {
        Arc::new(ManualClock { now: Mutex::new(start) })
    }

    /// Starts at the current wall-clock time, truncated to the millisecond.
    pub fn starting_now() -> Arc<ManualClock> {
        Self::new(from_unix_millis(unix_millis(SystemTime::now())))
    }

    pub fn advance(&self, by: Duration) {
        *self.now.lock().unwrap() += by;
    }

    pub fn set(&self, to: SystemTime) {
        *self.now.lock().unwrap() = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.now.lock().unwrap()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        {
            let mut now = self.now.lock().unwrap();
            let wake = *now + duration;
            if wake > *now {
                *now = wake;
            }
        }
        Box::pin(tokio::task::yield_now())
    }

    fn sleep_until(&self, deadline: SystemTime) -> Sleep {
        {
            let mut now = self.now.lock().unwrap();
            if deadline > *now {
                *now = deadline;
            }
        }
        Box::pin(tokio::task::yield_now())
    }
}
