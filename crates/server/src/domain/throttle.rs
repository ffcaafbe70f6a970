//! Request budgets: sliding windows of counted calls. The arithmetic lives here; the store keeps
//! the calls and applies it atomically (`Store::admit`).

/// One budget a call must fit into: at most `limit` counted calls in any `window_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// What is counted, within the tenant: `admin/1h`, `Groups_GetGroupsAsAdmin/1m`,
    /// `Users_RefreshUserPermissions/1h/{caller}`, …
    pub key: String,
    pub limit: u32,
    pub window_ms: i64,
}

/// The answer to "may this call go ahead?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The call was counted against every budget, as `call` (which `Store::refund` takes back
    /// when the call ends in a server error).
    Admitted { call: uuid::Uuid },
    /// At least one budget is spent; nothing was counted.
    Throttled { retry_after_secs: u64 },
}

/// Whole seconds until a budget whose `limit`-th most recent call happened at `blocking_at`
/// has room again (when that call leaves the window), at least 1.
pub fn retry_after_secs(blocking_at: i64, window_ms: i64, now: i64) -> u64 {
    let wait_ms = (blocking_at + window_ms - now).max(0);
    (wait_ms as u64).div_ceil(1000).max(1)
}

/// The message the service sends with a 429 (as community reports quote it), with the wait.
pub fn throttled_message(retry_after_secs: u64) -> String {
    format!(
        "You have exceeded the amount of requests allowed in the current time frame and further requests will fail. Retry in {retry_after_secs} seconds."
    )
}

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 3_600_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_and_is_never_zero() {
        assert_eq!(retry_after_secs(0, HOUR_MS, 600_000), 3000);
        assert_eq!(retry_after_secs(0, HOUR_MS, 600_001), 3000);
        assert_eq!(retry_after_secs(0, HOUR_MS, 599_999), 3001);
        assert_eq!(retry_after_secs(0, HOUR_MS, HOUR_MS - 1), 1);
        assert_eq!(retry_after_secs(0, HOUR_MS, HOUR_MS), 1);
        assert_eq!(retry_after_secs(0, MINUTE_MS, 0), 60);
    }

    #[test]
    fn message_keeps_the_reported_text() {
        assert_eq!(
            throttled_message(3392),
            "You have exceeded the amount of requests allowed in the current time frame and further requests will fail. Retry in 3392 seconds."
        );
    }
}
