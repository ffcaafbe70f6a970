//! `ClientError`: what a call can end in.

use std::time::Duration;

use reqwest::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The Power BI API (or Graph) answered with an error body. `retry_after` is the answer's
    /// `Retry-After` (a 429 or 503 that was not, or no longer, retried).
    #[error("{status} {code}: {message}")]
    Api { status: StatusCode, code: String, message: String, request_id: Option<String>, retry_after: Option<Duration> },
    /// The token endpoint refused.
    #[error("token endpoint: {status} {error}: {description}")]
    OAuth { status: StatusCode, error: String, description: String, codes: Vec<u32> },
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("unexpected response ({status}): {body}")]
    Unexpected { status: StatusCode, body: String },
    /// A non-idempotent call (POST) failed in a way that does not say whether the service
    /// applied it: a 5xx answer, a timeout, or a connection lost after the request was sent.
    /// It was **not** repeated. Read the state back before trying again (see
    /// `PowerBiClient::add_group_user_verified`).
    #[error("{method} {url} may or may not have been applied ({cause}); read back before retrying")]
    Ambiguous { method: String, url: String, cause: String },
    /// 429 with a `Retry-After` longer than the policy sleeps through (`max_retry_after`): the
    /// client did not wait. (A 429 on the last allowed attempt is returned as `Api`.)
    #[error("throttled: retry after {retry_after:?}")]
    Throttled { retry_after: Duration, request_id: Option<String> },
    /// A request budget the call draws on (the tenant's admin budget, or the scanner's, …, named
    /// by its ledger key `budget`) has no free slot within the ledger's maximum wait. Nothing was
    /// reserved or sent: save the job's state and resume after `retry_after`.
    #[error("{budget} budget of tenant {tenant} exhausted: next slot in {retry_after:?}")]
    BudgetExhausted { tenant: String, budget: String, retry_after: Duration },
    /// The admin-budget ledger could not be read or written.
    #[error("admin-budget ledger: {0}")]
    Ledger(String),
    /// The client was built or called with something unusable (a missing credential, a
    /// `@odata.nextLink` pointing at another host, …).
    #[error("client: {0}")]
    Invalid(String),
}

impl ClientError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Api { status, .. } | ClientError::OAuth { status, .. } | ClientError::Unexpected { status, .. } => Some(*status),
            ClientError::Throttled { .. } => Some(StatusCode::TOO_MANY_REQUESTS),
            ClientError::Http(e) => e.status(),
            _ => None,
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            ClientError::OAuth { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The service's `RequestId` of the answer that failed, when there was one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            ClientError::Api { request_id, .. } | ClientError::Throttled { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// When the caller may try again, if the error says so.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Throttled { retry_after, .. } | ClientError::BudgetExhausted { retry_after, .. } => Some(*retry_after),
            ClientError::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, ClientError>;
