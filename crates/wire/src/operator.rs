//! The operator API (`/operator/v1/…`): pbi-access's own administration surface, not part of any
//! Microsoft API. Its JSON uses snake_case, like the TOML config, so a `[[faults]]` table and a
//! rule sent to `PUT /operator/v1/faults` are written the same way.

use serde::{Deserialize, Serialize};

/// One fault-injection rule. A request matches when its operation id equals `operation`, or its
/// path matches the glob `path` (`*` any run of characters, `/` included; `?` one character).
/// Give exactly one of the two. The first matching rule of the list decides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// A Power BI operationId, e.g. `Groups_GetGroupUsers` (compared ignoring case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// A path glob, e.g. `/v1.0/myorg/admin/*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Probability (0–1) of answering 429 `TooManyRequests` with `Retry-After`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub probability_429: f64,
    /// Probability (0–1) of answering 500 `InternalServerError`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub probability_500: f64,
    /// Probability (0–1) of answering 503 `ServiceUnavailable`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub probability_503: f64,
    /// `Retry-After` of an injected 429, in seconds (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
    /// Delay added to every matching request, in milliseconds.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub latency_ms: u64,
    /// Database work added to every matching request, in milliseconds: a statement that keeps a
    /// write connection busy this long (on SQLite the one writer, so other writes wait). It stops
    /// early when the client goes away.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub statement_ms: u64,
    /// A further delay drawn uniformly from 0 to this many milliseconds.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub jitter_ms: u64,
    /// Seed of the rule's random generator (default 0): the same seed and the same sequence of
    /// matching requests give the same faults.
    #[serde(default)]
    pub seed: u64,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

/// The body of `GET` and `PUT /operator/v1/faults`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRules {
    pub rules: Vec<FaultRule>,
}

/// The body of `GET /operator/v1/requests`: this instance's requests since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestStats {
    /// Requests being served now, this one included.
    pub in_flight: u64,
    /// Requests whose client went away before the answer.
    pub cancelled: u64,
    /// Database statements of such requests interrupted (SQLite) or cancelled (PostgreSQL).
    pub statements_cancelled: u64,
}
