//! Counting a call against its request budgets, and taking it back when the call fails on the
//! service's side: the part of the Power BI and Fabric gates that is the same in both dialects.
//! Each gate maps a [`Refusal`] onto its own error body.

use pbi_wire::budgets::Budget as BudgetTemplate;

use crate::api::powerbi::throttle::for_caller;
use crate::app::AppState;
use crate::domain::throttle::{Admission, Budget};
use crate::domain::Caller;
use crate::store::StoreError;

/// A call counted against its budgets, kept so it can be taken back.
#[derive(Debug)]
pub struct Charge {
    tenant: uuid::Uuid,
    budgets: Vec<Budget>,
    at: i64,
    call: uuid::Uuid,
}

/// Why a call was not admitted.
#[derive(Debug)]
pub enum Refusal {
    /// A budget is spent; the call is not counted.
    Throttled {
        retry_after_secs: u64,
    },
    Store(StoreError),
}

/// Count the call against `templates` for `caller`, in all of them or none. `None` when there
/// is nothing to count (throttling off, or an operation without budgets).
pub async fn charge(state: &AppState, templates: &[BudgetTemplate], caller: &Caller) -> Result<Option<Charge>, Refusal> {
    if templates.is_empty() {
        return Ok(None);
    }
    let budgets: Vec<Budget> = templates.iter().map(|b| for_caller(b, caller)).collect();
    let at = state.clock.now_millis();
    match state.store.admit(caller.tenant_id, &budgets, at).await {
        Ok(Admission::Admitted { call }) => Ok(Some(Charge { tenant: caller.tenant_id, budgets, at, call })),
        Ok(Admission::Throttled { retry_after_secs }) => Err(Refusal::Throttled { retry_after_secs }),
        Err(e) => Err(Refusal::Store(e)),
    }
}

impl Charge {
    /// Take the call back when it failed on the service's side (5xx, 501 for an operation not
    /// built): the client will retry it, and the retry must not find its budget spent.
    pub async fn settle(self, state: &AppState, status: axum::http::StatusCode, op_id: &'static str) {
        if !status.is_server_error() {
            return;
        }
        if let Err(e) = state.store.refund(self.tenant, &self.budgets, self.at, self.call).await {
            tracing::warn!(operation = op_id, error = %e, "could not take back the budget of a failed call");
        }
    }
}
