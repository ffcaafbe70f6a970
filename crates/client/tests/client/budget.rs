//! The admin budget: two jobs (two ledger instances on one file, as two processes would) against
//! a mock that enforces the same budget on the same manual clock.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use pbi_client::{AdminBudget, ClientError, Clock, Endpoints, Ledger, ManualClock, PowerBiClient, RetryPolicy};
use serde_json::json;
use uuid::Uuid;

use crate::common::*;

const HOUR: Duration = Duration::from_secs(3600);

/// A Power BI stand-in that allows `limit` admin calls per sliding hour per tenant and answers
/// 429 with `Retry-After` beyond that, as the service does.
#[derive(Clone)]
struct Throttle {
    clock: Arc<ManualClock>,
    limit: usize,
    admin_calls: Arc<Mutex<Vec<SystemTime>>>,
    served: Arc<Mutex<usize>>,
    throttled: Arc<Mutex<usize>>,
    other_calls: Arc<Mutex<usize>>,
}

impl Throttle {
    fn new(clock: Arc<ManualClock>, limit: usize) -> Throttle {
        Throttle {
            clock,
            limit,
            admin_calls: Default::default(),
            served: Default::default(),
            throttled: Default::default(),
            other_calls: Default::default(),
        }
    }
}

async fn throttle_handler(State(t): State<Throttle>, uri: Uri) -> Response {
    if !uri.path().starts_with("/v1.0/myorg/admin/") {
        *t.other_calls.lock().unwrap() += 1;
        return Json(json!({"value": []})).into_response();
    }
    let now = t.clock.now();
    let mut calls = t.admin_calls.lock().unwrap();
    calls.retain(|&at| now.duration_since(at).unwrap_or_default() < HOUR);
    if calls.len() >= t.limit {
        *t.throttled.lock().unwrap() += 1;
        let oldest = *calls.iter().min().unwrap();
        let wait = (oldest + HOUR).duration_since(now).unwrap_or_default();
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"error": {"code": "TooManyRequests", "message": "You have exceeded the amount of requests allowed"}})),
        )
            .into_response();
        response.headers_mut().insert("retry-after", HeaderValue::from_str(&secs.to_string()).unwrap());
        return response;
    }
    calls.push(now);
    *t.served.lock().unwrap() += 1;
    Json(json!({"value": [{"identifier": "a@b.c", "principalType": "User", "groupUserAccessRight": "Admin"}]})).into_response()
}

async fn throttled_service(clock: Arc<ManualClock>, limit: usize) -> (String, Throttle) {
    let t = Throttle::new(clock, limit);
    (serve(Router::new().fallback(any(throttle_handler)).with_state(t.clone())).await, t)
}

fn job_client(base: &str, clock: Arc<ManualClock>, ledger: Option<Arc<Ledger>>, retry: RetryPolicy) -> PowerBiClient {
    let mut b = PowerBiClient::builder(Endpoints::local(base)).token("t").clock(clock).retry(retry).ledger_tenant("contoso");
    if let Some(l) = ledger {
        b = b.admin_ledger(l);
    }
    b.build().unwrap()
}

async fn run_job(client: PowerBiClient, admin_calls: usize) -> Vec<Result<(), ClientError>> {
    let mut out = Vec::new();
    for i in 0..admin_calls {
        out.push(client.get_group_users_as_admin(Uuid::nil()).await.map(drop));
        if i % 10 == 0 {
            // Non-admin calls are not counted.
            out.push(client.get_group_users(Uuid::nil()).await.map(drop));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_jobs_sharing_a_ledger_file_spend_the_budget_without_a_single_429() {
    let clock = ManualClock::starting_now();
    let start = clock.now();
    let (base, service) = throttled_service(clock.clone(), 20).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin-ledger.json");
    let budget = AdminBudget { limit: 20, window: HOUR, max_wait: HOUR };
    // Two ledger instances on one file: what two processes on one machine would have.
    let a = job_client(&base, clock.clone(), Some(Ledger::file(&path, budget, clock.clone()).unwrap()), RetryPolicy::default());
    let b = job_client(&base, clock.clone(), Some(Ledger::file(&path, budget, clock.clone()).unwrap()), RetryPolicy::default());
    let (ra, rb) = tokio::join!(tokio::spawn(run_job(a, 30)), tokio::spawn(run_job(b, 30)));
    for r in ra.unwrap().into_iter().chain(rb.unwrap()) {
        r.unwrap();
    }
    assert_eq!(*service.throttled.lock().unwrap(), 0, "the normal path never meets a 429");
    assert_eq!(*service.served.lock().unwrap(), 60);
    assert_eq!(*service.other_calls.lock().unwrap(), 6);
    // 60 calls at 20 per hour: the last 20 cannot start before two hours have passed.
    let took = clock.now().duration_since(start).unwrap();
    assert!(took >= 2 * HOUR, "paced over {took:?}");
    // Under load the manual clock may land exactly on the third hour; waits that added up
    // instead of overlapping would take four hours or more.
    assert!(took <= 3 * HOUR, "but not slower than needed: {took:?}");
    let ledger = Ledger::file(&path, budget, clock.clone()).unwrap();
    // However the two jobs interleaved, no window ever holds more than the budget.
    let left = ledger.snapshot("contoso").await.unwrap().calls.len();
    assert!((1..=20).contains(&left), "the ledger keeps the calls of the last window: {left}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_ledger_the_same_jobs_are_throttled() {
    // The control: the mock really enforces the budget.
    let clock = ManualClock::starting_now();
    let (base, service) = throttled_service(clock.clone(), 20).await;
    let policy = RetryPolicy { max_retry_after: Duration::from_secs(60), ..RetryPolicy::default() };
    let a = job_client(&base, clock.clone(), None, policy.clone());
    let b = job_client(&base, clock.clone(), None, policy);
    let (ra, rb) = tokio::join!(tokio::spawn(run_job(a, 15)), tokio::spawn(run_job(b, 15)));
    let throttled = ra.unwrap().into_iter().chain(rb.unwrap()).filter(|r| matches!(r, Err(ClientError::Throttled { .. }))).count();
    assert_eq!(throttled, 10);
    assert_eq!(*service.throttled.lock().unwrap(), 10);
}

#[tokio::test]
async fn a_slot_beyond_max_wait_reserves_nothing_and_says_when() {
    let clock = ManualClock::starting_now();
    let (base, service) = throttled_service(clock.clone(), 20).await;
    let budget = AdminBudget { limit: 20, window: HOUR, max_wait: Duration::from_secs(600) };
    let ledger = Ledger::in_memory(budget, clock.clone());
    let client = job_client(&base, clock.clone(), Some(ledger.clone()), RetryPolicy::default());
    for _ in 0..20 {
        client.get_group_users_as_admin(Uuid::nil()).await.unwrap();
        clock.advance(Duration::from_secs(60));
    }
    // The first call leaves the window 40 minutes from now: more than the 10 minutes allowed.
    match client.get_group_users_as_admin(Uuid::nil()).await {
        Err(ClientError::BudgetExhausted { retry_after, tenant }) => {
            assert_eq!(retry_after, Duration::from_secs(40 * 60));
            assert_eq!(tenant, "contoso");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(*service.served.lock().unwrap() + *service.throttled.lock().unwrap(), 20, "nothing was sent");
    assert_eq!(ledger.snapshot("contoso").await.unwrap().calls.len(), 20, "nothing was reserved");
    client.get_group_users(Uuid::nil()).await.expect("non-admin calls are not held back");
    clock.advance(Duration::from_secs(40 * 60));
    client.get_group_users_as_admin(Uuid::nil()).await.unwrap();
}

#[tokio::test]
async fn a_429_received_anyway_marks_the_window_full_until_retry_after() {
    let clock = ManualClock::starting_now();
    let (base, service) = throttled_service(clock.clone(), 20).await;
    // Someone outside the ledger spent the whole budget 208 s ago: the service says 3392 s.
    let spent = clock.now() - Duration::from_secs(208);
    service.admin_calls.lock().unwrap().extend(std::iter::repeat_n(spent, 20));
    let budget = AdminBudget { limit: 200, window: HOUR, max_wait: Duration::from_secs(600) };
    let ledger = Ledger::in_memory(budget, clock.clone());
    let client = job_client(&base, clock.clone(), Some(ledger.clone()), RetryPolicy::default());
    match client.get_group_users_as_admin(Uuid::nil()).await {
        Err(ClientError::BudgetExhausted { retry_after, .. }) => assert_eq!(retry_after, Duration::from_secs(3392)),
        other => panic!("{other:?}"),
    }
    let blocked = ledger.snapshot("contoso").await.unwrap().blocked_until.expect("blocked");
    assert_eq!(blocked, pbi_client::time::unix_millis(clock.now()) + 3_392_000);
    // The next call does not even reach the service.
    assert!(matches!(client.get_group_users_as_admin(Uuid::nil()).await, Err(ClientError::BudgetExhausted { .. })));
    assert_eq!(*service.throttled.lock().unwrap(), 1);
    clock.advance(Duration::from_secs(3392));
    client.get_group_users_as_admin(Uuid::nil()).await.unwrap();
    assert_eq!(*service.throttled.lock().unwrap(), 1);

    // A short Retry-After within max_wait is waited out through the ledger, then the call succeeds.
    let clock = ManualClock::starting_now();
    let (base, service) = throttled_service(clock.clone(), 20).await;
    let spent = clock.now() - (HOUR - Duration::from_secs(100));
    service.admin_calls.lock().unwrap().extend(std::iter::repeat_n(spent, 20));
    let ledger = Ledger::in_memory(budget, clock.clone());
    let client = job_client(&base, clock.clone(), Some(ledger), RetryPolicy::default());
    let before = clock.now();
    client.get_group_users_as_admin(Uuid::nil()).await.unwrap();
    assert!(clock.now().duration_since(before).unwrap() >= Duration::from_secs(100));
    assert_eq!((*service.throttled.lock().unwrap(), *service.served.lock().unwrap()), (1, 1));
}
