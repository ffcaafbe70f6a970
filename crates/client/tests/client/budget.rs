//! The budgets: two jobs (two ledger instances on one file, as two processes would) against a
//! mock that enforces the same admin budget on the same manual clock; and a client and a real
//! pbi-access server, on one clock, agreeing on every budget's count under both admin-budget
//! models.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use pbi_client::{
    AdminBudget, AdminBudgetModel, AdminGroupsQuery, ClientError, Clock, Endpoints, Ledger, Limits, ManualClock, Pacing, PowerBiClient,
    RetryPolicy, ScanOptions,
};
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
    let left = ledger.snapshot("contoso").await.unwrap().admin_calls();
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
        Err(ClientError::BudgetExhausted { retry_after, tenant, budget }) => {
            assert_eq!(retry_after, Duration::from_secs(40 * 60));
            assert_eq!((tenant.as_str(), budget.as_str()), ("contoso", "admin/1h"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(*service.served.lock().unwrap() + *service.throttled.lock().unwrap(), 20, "nothing was sent");
    assert_eq!(ledger.snapshot("contoso").await.unwrap().admin_calls(), 20, "nothing was reserved");
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
    let blocked = ledger.snapshot("contoso").await.unwrap().budgets["admin/1h"].blocked_until.expect("blocked");
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

/// The server's manual clock, seen by the client: a client's sleep moves the server's time, so
/// both count one timeline.
#[derive(Debug)]
struct OneClock(Arc<pbi_server::clock::ManualClock>);

impl Clock for OneClock {
    fn now(&self) -> SystemTime {
        use pbi_server::clock::Clock as _;
        pbi_client::time::from_unix_millis(self.0.now_millis())
    }

    fn sleep(&self, duration: Duration) -> pbi_client::time::Sleep {
        self.0.advance(duration);
        Box::pin(tokio::task::yield_now())
    }
}

/// Small figures so every budget fills within a test.
fn small_limits(model: AdminBudgetModel) -> Limits {
    Limits {
        admin_budget: model,
        admin_per_hour: 4,
        groups_as_admin_per_hour: 3,
        groups_as_admin_per_minute: 2,
        scanner_per_hour: 3,
        scan_status_per_hour: 5,
        modified_workspaces_per_hour: 2,
        ..Limits::default()
    }
}

fn configure(model: AdminBudgetModel) -> impl FnOnce(&mut pbi_server::config::Config) {
    move |c| {
        let l = small_limits(model);
        c.throttling.admin_budget = model;
        c.throttling.admin_per_hour = l.admin_per_hour;
        c.throttling.groups_as_admin_per_hour = l.groups_as_admin_per_hour;
        c.throttling.groups_as_admin_per_minute = l.groups_as_admin_per_minute;
        c.throttling.scanner_per_hour = l.scanner_per_hour;
        c.throttling.scan_status_per_hour = l.scan_status_per_hour;
        c.throttling.modified_workspaces_per_hour = l.modified_workspaces_per_hour;
        c.audit.scan_duration_ms = 0;
    }
}

/// One call of each kind the audit makes, and two plain admin reads; `Ok(false)` when the
/// ledger refused it (nothing sent).
async fn mixed_call(client: &PowerBiClient, i: usize, ws: Uuid, scan: &mut Option<Uuid>) -> Result<bool, ClientError> {
    let r = match i % 6 {
        0 => client.get_modified_workspaces(None, false, false).await.map(drop),
        1 => client.post_workspace_info(&[ws], ScanOptions::default()).await.map(|s| *scan = Some(s.id)),
        2 | 3 => match scan {
            Some(id) => client.get_scan_status(*id).await.map(drop),
            None => client.get_group_users_as_admin(ws).await.map(drop),
        },
        4 => match scan {
            Some(id) => client.get_scan_result(*id).await.map(drop),
            None => client.get_group_users_as_admin(ws).await.map(drop),
        },
        _ if i % 12 == 5 => client.get_group_users_as_admin(ws).await.map(drop),
        _ => client.get_groups_as_admin(1, None, &AdminGroupsQuery::default()).await.map(drop),
    };
    match r {
        Ok(()) => Ok(true),
        Err(ClientError::BudgetExhausted { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_and_the_server_agree_on_every_budget_under_both_models() {
    for model in [AdminBudgetModel::Shared, AdminBudgetModel::PerOperation] {
        let server = Server::start_configured(|_| {}, configure(model)).await;
        let clock: Arc<dyn Clock> = Arc::new(OneClock(server.server_clock.clone()));
        let pacing = Pacing { limits: small_limits(model), max_wait: Duration::ZERO };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.json");
        let ledger = Ledger::file(&path, pacing, clock.clone()).unwrap();
        let paced = PowerBiClient::builder(server.endpoints())
            .client_secret(server.tenant(), server.app_id(), SECRET)
            .clock(clock.clone())
            .admin_ledger(ledger.clone())
            .build()
            .unwrap();
        let ws = server.ws("Team");
        // Many more calls than the budgets hold: the ledger stops each kind where its budget is full.
        let (mut sent, mut scan) = (0, None);
        for i in 0..60 {
            if mixed_call(&paced, i, ws, &mut scan).await.unwrap() {
                sent += 1;
            }
        }
        assert_eq!(paced.stats().throttled, 0, "{model:?}: the paced client never met a 429");
        assert_eq!(paced.stats().requests, sent, "{model:?}: a refused call was not sent");
        let counts = ledger.snapshot(&server.tenant()).await.unwrap();
        let count = |key: &str| counts.calls(key);
        assert_eq!(count("WorkspaceInfo_GetModifiedWorkspaces/1h"), 2, "{model:?}");
        assert_eq!(count("WorkspaceInfo_PostWorkspaceInfo/1h"), 3);
        assert_eq!(count("WorkspaceInfo_GetScanStatus/1h"), 5);
        assert_eq!(count("WorkspaceInfo_GetScanResult/1h"), 3);
        assert_eq!(count("Groups_GetGroupsAsAdmin/1m"), 2);
        match model {
            // GetGroupsAsAdmin's 2 and GetGroupUsersAsAdmin's 2 fill the shared 4.
            AdminBudgetModel::Shared => assert_eq!((count("admin/1h"), counts.admin_calls()), (4, 4)),
            AdminBudgetModel::PerOperation => {
                assert_eq!(count("admin:Groups_GetGroupsAsAdmin/1h"), 2);
                assert_eq!(count("admin:Groups_GetGroupUsersAsAdmin/1h"), 4);
            }
        }
        // The server counted the same: the next call of each full budget, sent without the
        // ledger, is a 429.
        let raw = PowerBiClient::builder(server.endpoints())
            .client_secret(server.tenant(), server.app_id(), SECRET)
            .clock(clock.clone())
            .retry(RetryPolicy::none())
            .build()
            .unwrap();
        let id = scan.expect("a scan was requested");
        let status = |r: Result<(), ClientError>| r.err().and_then(|e| e.status()).map(|s| s.as_u16());
        assert_eq!(status(raw.get_modified_workspaces(None, false, false).await.map(drop)), Some(429), "{model:?}");
        assert_eq!(status(raw.post_workspace_info(&[ws], ScanOptions::default()).await.map(drop)), Some(429));
        assert_eq!(status(raw.get_scan_status(id).await.map(drop)), Some(429));
        assert_eq!(status(raw.get_scan_result(id).await.map(drop)), Some(429));
        assert_eq!(status(raw.get_group_users_as_admin(ws).await.map(drop)), Some(429), "{model:?}");
        // Under the shared model every admin operation is spent; per operation, another has room.
        let other = status(raw.get_dataset_users_as_admin(Uuid::nil()).await.map(drop));
        match model {
            AdminBudgetModel::Shared => assert_eq!(other, Some(429)),
            AdminBudgetModel::PerOperation => assert_eq!(other, Some(404), "counted, answered, not throttled"),
        }

        // A ledger that may wait sleeps (on the shared clock) until the server has room again.
        let waiting =
            Ledger::file(&path, Pacing { limits: small_limits(model), max_wait: Duration::from_secs(7200) }, clock.clone()).unwrap();
        let patient = PowerBiClient::builder(server.endpoints())
            .client_secret(server.tenant(), server.app_id(), SECRET)
            .clock(clock.clone())
            .admin_ledger(waiting)
            .build()
            .unwrap();
        for _ in 0..6 {
            patient.get_scan_status(id).await.unwrap_or_else(|e| panic!("{model:?}: {e}"));
        }
        assert_eq!(patient.stats().throttled, 0, "{model:?}: waited, never throttled");
    }
}
