//! `CallStats`: what a client's calls met on the wire (every attempt, retries included), so a
//! job can report the admin budget it spent and the 429s it received.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters shared by the clients built from one builder (or given the same `Arc`).
#[derive(Debug, Default)]
pub struct CallStats {
    requests: AtomicU64,
    admin_requests: AtomicU64,
    throttled: AtomicU64,
    server_errors: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Requests that got an answer (each attempt counts).
    pub requests: u64,
    /// Of those, calls to `/v1.0/myorg/admin/…`: what the tenant's admin budget counts.
    pub admin_requests: u64,
    /// Answers 429.
    pub throttled: u64,
    /// Answers 5xx.
    pub server_errors: u64,
}

impl CallStats {
    pub(crate) fn record(&self, admin: bool, status: u16) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if admin {
            self.admin_requests.fetch_add(1, Ordering::Relaxed);
        }
        if status == 429 {
            self.throttled.fetch_add(1, Ordering::Relaxed);
        } else if status >= 500 {
            self.server_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            admin_requests: self.admin_requests.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            server_errors: self.server_errors.load(Ordering::Relaxed),
        }
    }
}
