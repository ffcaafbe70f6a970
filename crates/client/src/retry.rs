//! Retry policy: exponential backoff with full jitter, and `Retry-After` (delta-seconds or an
//! HTTP date, RFC 9110 §10.2.3).

use std::time::{Duration, SystemTime};

/// How often and how long the client tries again.
///
/// - 429 is retried for every method: the service did not process the request.
/// - 5xx and transport errors are retried only for idempotent methods (GET, PUT, DELETE, HEAD).
///   A POST that fails that way is never repeated blindly: it ends in `ClientError::Ambiguous`.
/// - A connection that could not be opened is retried for every method: nothing was sent.
///
/// The wait before attempt `n + 1` is `max(Retry-After, U(0, min(max_delay, base · 2ⁿ)))`, so a
/// `Retry-After` is always honoured and jitter spreads the clients that were told the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = never retry).
    pub max_attempts: u32,
    /// The first backoff ceiling.
    pub base_delay: Duration,
    /// The largest backoff ceiling.
    pub max_delay: Duration,
    /// The longest `Retry-After` the client sleeps through on its own. Longer ones end the call
    /// with `ClientError::Throttled` (or, for admin calls, `BudgetExhausted`) so the caller can
    /// save its state and stop.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// One attempt per call: errors come back as they are.
    pub fn none() -> RetryPolicy {
        RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }
    }

    /// The backoff ceiling after `attempt` failed attempts (0-based): `min(max, base · 2^attempt)`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.base_delay.checked_mul(factor).unwrap_or(self.max_delay).min(self.max_delay)
    }

    /// Full jitter: `unit` (uniform in [0, 1)) times the ceiling.
    pub fn backoff(&self, attempt: u32, unit: f64) -> Duration {
        self.ceiling(attempt).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// The wait before the next attempt: never less than `retry_after`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
        let jittered = self.backoff(attempt, unit);
        match retry_after {
            Some(ra) => ra.max(jittered),
            None => jittered,
        }
    }
}

/// A uniform draw in [0, 1) for the jitter.
pub fn jitter_unit() -> f64 {
    rand::random::<f64>()
}

/// Parse a `Retry-After` value: delta-seconds (`120`) or an HTTP date (`Fri, 31 Dec 1999 23:59:59
/// GMT`, and the obsolete RFC 850 and asctime forms). A date in the past means "now" (zero).
/// Anything else is `None` (the header is ignored and backoff applies).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long numbers saturate rather than being ignored.
        return Some(Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX / 4)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn ceiling_doubles_then_caps() {
        let p = RetryPolicy { base_delay: Duration::from_millis(100), max_delay: Duration::from_secs(2), ..RetryPolicy::default() };
        let got: Vec<u128> = (0..8).map(|a| p.ceiling(a).as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
        assert_eq!(p.ceiling(10_000), Duration::from_secs(2), "huge attempt counts do not overflow");
    }

    #[test]
    fn full_jitter_stays_within_zero_and_the_ceiling() {
        let p = RetryPolicy::default();
        for attempt in 0..12 {
            assert_eq!(p.backoff(attempt, 0.0), Duration::ZERO);
            for _ in 0..200 {
                let d = p.backoff(attempt, jitter_unit());
                assert!(d <= p.ceiling(attempt), "attempt {attempt}: {d:?} > {:?}", p.ceiling(attempt));
            }
            assert!(p.backoff(attempt, 0.999_999) <= p.ceiling(attempt));
            assert!(p.backoff(attempt, 7.0) <= p.ceiling(attempt), "out-of-range draws are clamped");
        }
        // Full jitter really spreads: 200 draws at attempt 3 are not all in one tenth of the range.
        let draws: Vec<Duration> = (0..200).map(|_| p.backoff(3, jitter_unit())).collect();
        let (lo, hi) = (draws.iter().min().unwrap(), draws.iter().max().unwrap());
        assert!(*hi - *lo > p.ceiling(3) / 10, "{lo:?}..{hi:?}");
    }

    #[test]
    fn delay_never_undercuts_retry_after() {
        let p = RetryPolicy::default();
        for attempt in 0..6 {
            let ra = Duration::from_secs(7);
            assert!(p.delay(attempt, Some(ra), jitter_unit()) >= ra);
            assert!(p.delay(attempt, Some(ra), 0.0) == ra);
        }
        assert_eq!(p.delay(0, None, 0.5), p.ceiling(0) / 2);
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 3392 ", now), Some(Duration::from_secs(3392)));
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        // 1_700_000_000 = Tue, 14 Nov 2023 22:13:20 GMT
        assert_eq!(parse_retry_after("Tue, 14 Nov 2023 22:14:20 GMT", now), Some(Duration::from_secs(60)));
        assert_eq!(parse_retry_after("Tuesday, 14-Nov-23 22:13:50 GMT", now), Some(Duration::from_secs(30)), "RFC 850");
        assert_eq!(parse_retry_after("Tue Nov 14 22:13:25 2023", now), Some(Duration::from_secs(5)), "asctime");
        assert_eq!(parse_retry_after("Tue, 14 Nov 2023 20:00:00 GMT", now), Some(Duration::ZERO), "past dates mean now");
        assert_eq!(parse_retry_after("99999999999999999999999", now).map(|d| d > Duration::from_secs(1 << 40)), Some(true));
        for bad in ["", "-5", "1.5", "soon", "Tue, 99 Nov 2023 22:14:20 GMT", "120s"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }
}
