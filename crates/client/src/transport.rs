//! The one call path every typed method goes through: bearer token, the budget ledger,
//! retries with backoff, `Retry-After`, and the ambiguity rule for non-idempotent calls.

use std::sync::Arc;

use bytes::Bytes;
use pbi_wire::powerbi::PowerBiErrorBody;
use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::auth::Auth;
use crate::error::{ClientError, Result};
use crate::ledger::{is_admin_path, Ledger};
use crate::retry::{jitter_unit, parse_retry_after, RetryPolicy};
use crate::stats::CallStats;
use crate::time::SharedClock;
use pbi_wire::budgets::{AdminBudgetModel, Budget};

/// One HTTP request, before the token is attached.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    /// Absolute URL.
    pub url: String,
    /// The path (without query) used to decide whether the call is an admin call.
    pub path: String,
    pub body: Option<Bytes>,
}

impl Call {
    pub fn new(method: Method, url: String, path: String) -> Call {
        Call { method, url, path, body: None }
    }

    pub fn json<B: serde::Serialize + ?Sized>(mut self, body: &B) -> Result<Call> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Invalid(format!("request body: {e}")))?;
        self.body = Some(bytes.into());
        Ok(self)
    }

    fn idempotent(&self) -> bool {
        matches!(self.method, Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS)
    }
}

/// A successful answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// The service's id for this request (Power BI's `RequestId` response header), if it sent one.
    pub fn request_id(&self) -> Option<String> {
        self.headers.get("requestid").and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty()).map(str::to_string)
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|e| ClientError::Unexpected { status: self.status, body: format!("{e}: {}", String::from_utf8_lossy(&self.body)) })
    }
}

/// Everything one API's calls share.
#[derive(Debug)]
pub struct Core {
    pub http: reqwest::Client,
    /// Base URL of the API (`https://api.powerbi.com`, `https://graph.microsoft.com`, or pbi-access).
    pub base: String,
    pub auth: Auth,
    pub retry: RetryPolicy,
    pub clock: SharedClock,
    /// The budget ledger and the tenant key it counts under.
    pub ledger: Option<(Arc<Ledger>, String)>,
    /// The admin-budget model to pace to, when not the ledger's.
    pub budget_model: Option<AdminBudgetModel>,
    /// What the calls met on the wire.
    pub stats: Arc<CallStats>,
}

enum Outcome {
    Done(Result<Answer>),
    /// Try again after this long. `sent`: the request may have reached the service.
    Retry {
        after: std::time::Duration,
        sent: bool,
    },
}

impl Core {
    /// Run a call to completion under the retry policy.
    pub async fn execute(&self, call: &Call) -> Result<Answer> {
        // The budgets the service counts this call against (`pbi_wire::budgets`).
        let budgeted = match &self.ledger {
            Some((ledger, tenant)) => {
                let budgets = ledger.budgets_for(call.method.as_str(), &call.path, self.budget_model);
                (!budgets.is_empty()).then_some((ledger, tenant.as_str(), budgets))
            }
            None => None,
        };
        // Set once an earlier attempt may have been applied (5xx or a transport error after sending).
        let mut maybe_applied = false;
        let mut attempt = 0u32;
        loop {
            let reservation = match &budgeted {
                Some((ledger, tenant, budgets)) => Some(ledger.reserve(tenant, budgets).await?),
                None => None,
            };
            let outcome = self.attempt(call, attempt, budgeted.as_ref().map(|(_, t, b)| (*t, b.as_slice())), maybe_applied).await;
            if let (Some((ledger, _, _)), Some(r)) = (&budgeted, &reservation) {
                // The call is over whatever the ledger says: failing a call that succeeded could
                // make its caller repeat it. The reservation still counts from its start.
                if let Err(e) = ledger.complete(r).await {
                    tracing::warn!(error = %e, "budget ledger: could not record the answer time");
                }
            }
            match outcome {
                Outcome::Done(result) => return result,
                Outcome::Retry { after, sent } => {
                    maybe_applied |= sent;
                    attempt += 1;
                    tracing::debug!(method = %call.method, url = %call.url, attempt, ?after, "retrying");
                    if !after.is_zero() {
                        self.clock.sleep(after).await;
                    }
                }
            }
        }
    }

    async fn attempt(&self, call: &Call, attempt: u32, budgeted: Option<(&str, &[Budget])>, maybe_applied: bool) -> Outcome {
        let last = attempt + 1 >= self.retry.max_attempts;
        let token = match self.auth.token().await {
            Ok(t) => t,
            Err(e) => return Outcome::Done(Err(e)),
        };
        let mut request = self.http.request(call.method.clone(), &call.url).bearer_auth(token);
        if let Some(body) = &call.body {
            request = request.header(CONTENT_TYPE, "application/json").body(body.clone());
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return self.transport_error(call, e, attempt, last),
        };
        let status = response.status();
        self.stats.record(is_admin_path(&call.path), status.as_u16());
        let headers = response.headers().clone();
        let body = match response.bytes().await {
            Ok(b) => b,
            // The status line arrived: the request was sent.
            Err(e) => return self.transport_error(call, e, attempt, last),
        };
        let request_id = headers.get("requestid").and_then(|v| v.to_str().ok()).map(str::to_string);
        let retry_after = headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|v| parse_retry_after(v, self.clock.now()));

        if status == StatusCode::TOO_MANY_REQUESTS {
            let wait = self.retry.delay(attempt, retry_after, jitter_unit());
            if let Some((tenant, budgets)) = budgeted {
                // Someone spent the budget outside this ledger: nobody here calls before then.
                if let Some((ledger, _)) = &self.ledger {
                    if let Err(e) = ledger.block_for(tenant, budgets, retry_after.unwrap_or(wait)).await {
                        return Outcome::Done(Err(e));
                    }
                }
                if retry_after.unwrap_or(wait) > self.ledger_max_wait() {
                    return Outcome::Done(Err(ClientError::BudgetExhausted {
                        tenant: tenant.to_string(),
                        budget: budgets.iter().map(|b| b.name.as_str()).collect::<Vec<_>>().join("+"),
                        retry_after: retry_after.unwrap_or(wait),
                    }));
                }
                if last {
                    return Outcome::Done(Err(api_error(status, &body, request_id, Some(retry_after.unwrap_or(wait)))));
                }
                // The next reservation waits out the block; only the jitter is slept here.
                let jitter = self.retry.backoff(attempt, jitter_unit());
                return Outcome::Retry { after: jitter, sent: false };
            }
            if last {
                return Outcome::Done(Err(api_error(status, &body, request_id, Some(retry_after.unwrap_or(wait)))));
            }
            if wait > self.retry.max_retry_after {
                return Outcome::Done(Err(ClientError::Throttled { retry_after: retry_after.unwrap_or(wait), request_id }));
            }
            return Outcome::Retry { after: wait, sent: false };
        }

        if status.is_server_error() {
            if call.idempotent() {
                let wait = self.retry.delay(attempt, retry_after, jitter_unit());
                if !last && wait <= self.retry.max_retry_after {
                    return Outcome::Retry { after: wait, sent: true };
                }
                return Outcome::Done(Err(api_error(status, &body, request_id, retry_after)));
            }
            return Outcome::Done(Err(ClientError::Ambiguous {
                method: call.method.to_string(),
                url: call.url.clone(),
                cause: format!("{status}{}", request_id.map(|r| format!(", RequestId {r}")).unwrap_or_default()),
            }));
        }

        // A DELETE whose earlier attempt may have been applied finds the principal gone: the
        // earlier attempt did it. Counted as done.
        if status == StatusCode::NOT_FOUND && call.method == Method::DELETE && maybe_applied {
            tracing::debug!(url = %call.url, "DELETE answered 404 after an ambiguous attempt: counted as done");
            return Outcome::Done(Ok(Answer { status: StatusCode::OK, headers, body: Bytes::new() }));
        }

        if status == StatusCode::UNAUTHORIZED {
            // A revoked or expired token: the next call fetches a new one.
            self.auth.invalidate().await;
        }

        if status.is_success() {
            return Outcome::Done(Ok(Answer { status, headers, body }));
        }
        Outcome::Done(Err(api_error(status, &body, request_id, retry_after)))
    }

    fn ledger_max_wait(&self) -> std::time::Duration {
        self.ledger.as_ref().map(|(l, _)| l.max_wait()).unwrap_or(self.retry.max_retry_after)
    }

    fn transport_error(&self, call: &Call, e: reqwest::Error, attempt: u32, last: bool) -> Outcome {
        // A connection that was never opened carried nothing: safe to repeat for any method.
        let nothing_sent = e.is_connect();
        if !last && (nothing_sent || call.idempotent()) {
            return Outcome::Retry { after: self.retry.backoff(attempt, jitter_unit()), sent: !nothing_sent };
        }
        if !nothing_sent && !call.idempotent() {
            return Outcome::Done(Err(ClientError::Ambiguous {
                method: call.method.to_string(),
                url: call.url.clone(),
                cause: error_chain(&e),
            }));
        }
        Outcome::Done(Err(ClientError::Http(e)))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// A Power BI error body, or Graph's `{"error":{"code","message"}}` (the same envelope), or
/// whatever came.
pub(crate) fn api_error(
    status: StatusCode,
    body: &[u8],
    request_id: Option<String>,
    retry_after: Option<std::time::Duration>,
) -> ClientError {
    match serde_json::from_slice::<PowerBiErrorBody>(body) {
        Ok(e) => ClientError::Api { status, code: e.error.code, message: e.error.message.unwrap_or_default(), request_id, retry_after },
        Err(_) => ClientError::Unexpected { status, body: String::from_utf8_lossy(body).into() },
    }
}
