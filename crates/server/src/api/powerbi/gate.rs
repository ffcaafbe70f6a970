//! The gate every Power BI route passes before its handler: authenticate, then inject a fault
//! if a rule says so, then count the call against the operation's request budgets. The routing
//! table attaches one [`RouteGate`] per operation.
//!
//! Order matters: an unauthenticated or unauthorised call gets its 401/403 and is neither
//! faulted nor counted; an injected fault answers before the budgets, so it never changes data
//! (budgets included); a throttled call is not counted and never reaches the handler.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use pbi_wire::ops::Op;

use super::error::PbiError;
use super::extract::Authenticated;
use super::throttle::BudgetTemplate;
use crate::api::charge::{self, Charge, Refusal};
use crate::app::AppState;
use crate::faults::Injected;

/// Response header on every injected fault, so a client's log can tell it from a real one.
pub const FAULT_HEADER: &str = "x-pbi-access-fault";

/// What the gate needs to know of its route.
#[derive(Debug)]
pub struct RouteGate {
    pub op: Op,
    /// Empty when throttling is off or the operation has no budget.
    pub budgets: Vec<BudgetTemplate>,
    /// How long the call may take, injected latency and handler included (GetGroupsAsAdmin).
    pub timeout: Option<Duration>,
}

/// Where `admit` leaves the call's charge, so the gate can take it back even after a timeout.
type ChargeSlot = Arc<std::sync::Mutex<Option<Charge>>>;

pub async fn gate(State(state): State<AppState>, Extension(route): Extension<Arc<RouteGate>>, request: Request, next: Next) -> Response {
    let charged = ChargeSlot::default();
    let response = match route.timeout {
        None => admit(state.clone(), route.clone(), request, next, charged.clone()).await,
        Some(limit) => match tokio::time::timeout(limit, admit(state.clone(), route.clone(), request, next, charged.clone())).await {
            Ok(response) => response,
            Err(_) => {
                tracing::warn!(operation = route.op.id, limit_ms = limit.as_millis() as u64, "request timed out");
                PbiError::timed_out(limit).into_response()
            }
        },
    };
    let taken = charged.lock().expect("charge slot").take();
    if let Some(charge) = taken {
        charge.settle(&state, response.status(), route.op.id).await;
    }
    response
}

async fn admit(state: AppState, route: Arc<RouteGate>, request: Request, next: Next, charged: ChargeSlot) -> Response {
    let fault = state.faults.matching(route.op.id, request.uri().path());
    if route.budgets.is_empty() && fault.is_none() {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let caller = match Authenticated::from_request_parts(&mut parts, &state).await {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    if let Some(fault) = fault {
        let draw = fault.draw();
        if !draw.delay.is_zero() {
            tokio::time::sleep(draw.delay).await;
        }
        if !draw.statement.is_zero() {
            if let Err(e) = state.store.busy_statement(draw.statement.as_millis() as u64).await {
                return PbiError::from(e).into_response();
            }
        }
        if let Some(injected) = draw.answer {
            tracing::info!(operation = route.op.id, ?injected, "fault injected");
            let mut response = match injected {
                Injected::TooManyRequests { retry_after_secs } => PbiError::too_many_requests(retry_after_secs),
                Injected::InternalServerError => PbiError::internal(),
                Injected::ServiceUnavailable => PbiError::service_unavailable(),
            }
            .into_response();
            response.headers_mut().insert(FAULT_HEADER, HeaderValue::from_static("injected"));
            return response;
        }
    }
    match charge::charge(&state, &route.budgets, &caller.0).await {
        Ok(charge) => *charged.lock().expect("charge slot") = charge,
        Err(Refusal::Throttled { retry_after_secs }) => return PbiError::too_many_requests(retry_after_secs).into_response(),
        Err(Refusal::Store(e)) => return PbiError::from(e).into_response(),
    }
    // The handler's `Authenticated` takes this one instead of verifying again.
    parts.extensions.insert(caller);
    next.run(Request::from_parts(parts, body)).await
}
