//! Retries, Retry-After and the ambiguity rule, against mock servers that answer scripted
//! sequences.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use pbi_client::{AddOutcome, ClientError, Clock, ManualClock, RetryPolicy};
use pbi_wire::powerbi::{GroupUser, GroupUserAccessRight as Right};
use uuid::Uuid;

use crate::common::*;

/// A scripted answer: status, optional Retry-After, body.
#[derive(Clone)]
struct Step(u16, Option<String>, &'static str);

#[derive(Clone)]
struct Script {
    steps: Arc<Mutex<VecDeque<Step>>>,
    seen: Seen,
}

async fn scripted(State(s): State<Script>, method: Method, uri: Uri) -> Response {
    s.seen.record(method.as_str(), &uri);
    let Step(status, retry_after, body) = s.steps.lock().unwrap().pop_front().unwrap_or(Step(200, None, ""));
    let mut headers = HeaderMap::new();
    if let Some(ra) = retry_after {
        headers.insert("retry-after", HeaderValue::from_str(&ra).unwrap());
    }
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    (StatusCode::from_u16(status).unwrap(), headers, body).into_response()
}

async fn mock(steps: Vec<Step>) -> (String, Seen) {
    let seen = Seen::default();
    let script = Script { steps: Arc::new(Mutex::new(steps.into())), seen: seen.clone() };
    let base = serve(Router::new().fallback(any(scripted)).with_state(script)).await;
    (base, seen)
}

const ERR500: &str = r#"{"error":{"code":"InternalServerError","message":"boom"}}"#;
const THROTTLED: &str = r#"{"error":{"code":"TooManyRequests","message":"You have exceeded the amount of requests allowed"}}"#;
const USERS: &str = r#"{"value":[{"identifier":"a@b.c","principalType":"User","groupUserAccessRight":"Viewer"}]}"#;

fn elapsed(clock: &ManualClock, since: SystemTime) -> Duration {
    clock.now().duration_since(since).unwrap()
}

#[tokio::test]
async fn a_429_is_retried_after_retry_after_seconds() {
    let (base, seen) =
        mock(vec![Step(429, Some("7".into()), THROTTLED), Step(429, Some("7".into()), THROTTLED), Step(200, None, USERS)]).await;
    let clock = ManualClock::starting_now();
    let start = clock.now();
    let client = mock_client(&base, clock.clone(), RetryPolicy::default());
    let users = client.get_group_users(Uuid::nil()).await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(seen.count("GET"), 3);
    let waited = elapsed(&clock, start);
    assert!(waited >= Duration::from_secs(14), "Retry-After honoured twice: waited {waited:?}");
    assert!(waited <= Duration::from_secs(14) + RetryPolicy::default().ceiling(1) * 2, "{waited:?}");
}

#[tokio::test]
async fn a_429_on_a_post_is_retried_too_because_nothing_was_processed() {
    let (base, seen) = mock(vec![Step(429, Some("1".into()), THROTTLED), Step(200, None, "")]).await;
    let client = mock_client(&base, ManualClock::starting_now(), RetryPolicy::default());
    client.add_group_user(Uuid::nil(), &GroupUser::email("a@b.c", Right::Viewer)).await.unwrap();
    assert_eq!(seen.count("POST"), 2);
}

#[tokio::test]
async fn retry_after_as_an_http_date() {
    let clock = ManualClock::starting_now();
    let start = clock.now();
    let date = httpdate_string(start + Duration::from_secs(30));
    let (base, seen) = mock(vec![Step(429, Some(date), THROTTLED), Step(200, None, USERS)]).await;
    let client = mock_client(&base, clock.clone(), RetryPolicy::default());
    client.get_group_users(Uuid::nil()).await.unwrap();
    assert_eq!(seen.count("GET"), 2);
    assert!(elapsed(&clock, start) >= Duration::from_secs(29), "{:?}", elapsed(&clock, start));
}

fn httpdate_string(t: SystemTime) -> String {
    // IMF-fixdate, whole seconds (rounded up so the wait is not shortened).
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() + 1;
    let days = secs / 86400;
    let (h, m, s) = ((secs % 86400) / 3600, (secs % 3600) / 60, secs % 60);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mon = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][(month - 1) as usize];
    format!("{weekday}, {d:02} {mon} {year} {h:02}:{m:02}:{s:02} GMT")
}

#[tokio::test]
async fn a_retry_after_longer_than_the_policy_allows_ends_the_call() {
    let (base, seen) = mock(vec![Step(429, Some("3392".into()), THROTTLED)]).await;
    let client = mock_client(&base, ManualClock::starting_now(), RetryPolicy::default());
    match client.get_group_users(Uuid::nil()).await {
        Err(ClientError::Throttled { retry_after, .. }) => assert_eq!(retry_after, Duration::from_secs(3392)),
        other => panic!("{other:?}"),
    }
    assert_eq!(seen.count("GET"), 1, "no attempt to sit out an hour");
}

#[tokio::test]
async fn server_errors_on_reads_are_retried_with_backoff_then_given_up() {
    let (base, seen) = mock(vec![Step(500, None, ERR500), Step(503, None, ""), Step(502, None, ""), Step(200, None, USERS)]).await;
    let client = mock_client(&base, ManualClock::starting_now(), RetryPolicy::default());
    assert_eq!(client.get_group_users(Uuid::nil()).await.unwrap().len(), 1);
    assert_eq!(seen.count("GET"), 4);

    let (base, seen) = mock(vec![Step(500, None, ERR500); 10]).await;
    let policy = RetryPolicy { max_attempts: 3, ..RetryPolicy::default() };
    let client = mock_client(&base, ManualClock::starting_now(), policy);
    match client.get_group_users(Uuid::nil()).await {
        Err(ClientError::Api { status, code, .. }) => assert_eq!((status.as_u16(), code.as_str()), (500, "InternalServerError")),
        other => panic!("{other:?}"),
    }
    assert_eq!(seen.count("GET"), 3, "max_attempts counts the first");

    // A 4xx is an answer, not a failure: never retried.
    let (base, seen) = mock(vec![Step(400, None, r#"{"error":{"code":"InvalidRequest","message":"no"}}"#)]).await;
    let client = mock_client(&base, ManualClock::starting_now(), RetryPolicy::default());
    assert_eq!(client.get_group_users(Uuid::nil()).await.unwrap_err().code(), Some("InvalidRequest"));
    assert_eq!(seen.count("GET"), 1);
}

#[tokio::test]
async fn a_put_is_idempotent_and_retried() {
    let (base, seen) = mock(vec![Step(502, None, ""), Step(200, None, "")]).await;
    let client = mock_client(&base, ManualClock::starting_now(), RetryPolicy::default());
    client.update_group_user(Uuid::nil(), &GroupUser::email("a@b.c", Right::Member)).await.unwrap();
    assert_eq!(seen.count("PUT"), 2);
}

#[tokio::test]
async fn a_post_that_fails_with_5xx_is_ambiguous_and_not_repeated() {
    for status in [500, 502, 503, 504] {
        let (base, seen) = mock(vec![Step(status, None, ERR500), Step(200, None, "")]).await;
        let client = mock_client(&base, ManualClock::starting_now(), RetryPolicy::default());
        match client.add_group_user(Uuid::nil(), &GroupUser::email("a@b.c", Right::Viewer)).await {
            Err(ClientError::Ambiguous { method, cause, .. }) => {
                assert_eq!(method, "POST");
                assert!(cause.contains(&status.to_string()), "{cause}");
            }
            other => panic!("{status}: {other:?}"),
        }
        assert_eq!(seen.count("POST"), 1, "{status}: sent once");
    }
}

/// A server that reads a request and closes the connection without answering.
async fn hang_up_server() -> (String, Arc<Mutex<usize>>) {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(Mutex::new(0usize));
    let c = count.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 8192];
            let mut read = 0;
            // Read up to the end of the headers (and a small body).
            while read < buf.len() {
                match socket.read(&mut buf[read..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => read += n,
                }
                if buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            *c.lock().unwrap() += 1;
            drop(socket);
        }
    });
    (format!("http://{addr}"), count)
}

#[tokio::test]
async fn a_connection_lost_after_sending_a_post_is_ambiguous_but_a_get_is_retried() {
    let (base, count) = hang_up_server().await;
    let client = mock_client(&base, ManualClock::starting_now(), RetryPolicy { max_attempts: 3, ..RetryPolicy::default() });
    match client.add_group_user(Uuid::nil(), &GroupUser::email("a@b.c", Right::Viewer)).await {
        Err(ClientError::Ambiguous { method, .. }) => assert_eq!(method, "POST"),
        other => panic!("{other:?}"),
    }
    assert_eq!(*count.lock().unwrap(), 1, "the POST was not sent again");

    *count.lock().unwrap() = 0;
    assert!(matches!(client.get_group_users(Uuid::nil()).await, Err(ClientError::Http(_))));
    assert_eq!(*count.lock().unwrap(), 3, "the GET was tried three times");
}

#[tokio::test]
async fn a_post_to_a_closed_port_is_not_ambiguous() {
    // Nothing listens there: the connection was never opened, so nothing was sent.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = mock_client(&base, ManualClock::starting_now(), RetryPolicy { max_attempts: 2, ..RetryPolicy::default() });
    match client.add_group_user(Uuid::nil(), &GroupUser::email("a@b.c", Right::Viewer)).await {
        Err(ClientError::Http(e)) => assert!(e.is_connect(), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_delete_that_finds_nothing_after_an_ambiguous_attempt_counts_as_done() {
    let not_found = r#"{"error":{"code":"PowerBIEntityNotFound","message":"gone"}}"#;
    // The first attempt removed the user but answered 500; the retry finds nobody.
    let (base, seen) = mock(vec![Step(500, None, ERR500), Step(404, None, not_found)]).await;
    let client = mock_client(&base, ManualClock::starting_now(), RetryPolicy::default());
    client.delete_group_user(Uuid::nil(), "a@b.c").await.unwrap();
    assert_eq!(seen.count("DELETE"), 2);

    // Without an earlier ambiguous attempt, 404 is an error.
    let (base, _) = mock(vec![Step(404, None, not_found)]).await;
    let client = mock_client(&base, ManualClock::starting_now(), RetryPolicy::default());
    assert_eq!(client.delete_group_user(Uuid::nil(), "a@b.c").await.unwrap_err().code(), Some("PowerBIEntityNotFound"));

    // After a 429 (not processed), a 404 is still an error.
    let (base, _) = mock(vec![Step(429, Some("1".into()), THROTTLED), Step(404, None, not_found)]).await;
    let client = mock_client(&base, ManualClock::starting_now(), RetryPolicy::default());
    assert_eq!(client.delete_group_user(Uuid::nil(), "a@b.c").await.unwrap_err().code(), Some("PowerBIEntityNotFound"));
}

/// A workspace whose member list the mock keeps, with a scripted POST.
#[derive(Clone)]
struct Workspace {
    members: Arc<Mutex<Vec<(String, String)>>>,
    /// Per POST: (apply the change?, status).
    posts: Arc<Mutex<VecDeque<(bool, u16)>>>,
    seen: Seen,
}

async fn workspace_handler(State(ws): State<Workspace>, method: Method, uri: Uri, body: String) -> Response {
    ws.seen.record(method.as_str(), &uri);
    match method {
        Method::GET => {
            let value: Vec<serde_json::Value> = ws
                .members
                .lock()
                .unwrap()
                .iter()
                .map(|(id, role)| serde_json::json!({"identifier": id, "principalType": "User", "groupUserAccessRight": role}))
                .collect();
            axum::Json(serde_json::json!({ "value": value })).into_response()
        }
        Method::POST => {
            let (apply, status) = ws.posts.lock().unwrap().pop_front().unwrap_or((true, 200));
            if apply {
                let user: GroupUser = serde_json::from_str(&body).unwrap();
                let id = user.identifier.or(user.email_address).unwrap();
                ws.members.lock().unwrap().push((id, user.group_user_access_right.as_str().to_string()));
            }
            StatusCode::from_u16(status).unwrap().into_response()
        }
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

async fn workspace(members: Vec<(&str, &str)>, posts: Vec<(bool, u16)>) -> (String, Workspace) {
    let ws = Workspace {
        members: Arc::new(Mutex::new(members.into_iter().map(|(a, b)| (a.to_string(), b.to_string())).collect())),
        posts: Arc::new(Mutex::new(posts.into())),
        seen: Seen::default(),
    };
    (serve(Router::new().fallback(any(workspace_handler)).with_state(ws.clone())).await, ws)
}

#[tokio::test]
async fn verified_add_reads_back_after_an_ambiguous_post() {
    let dave = GroupUser::email("Dave@Contoso.com", Right::Member);

    // Applied, then 500: the read-back finds dave (case-insensitively) with the asked role.
    let (base, ws) = workspace(vec![], vec![(true, 500)]).await;
    let client = mock_client(&base, ManualClock::starting_now(), RetryPolicy::default());
    assert_eq!(client.add_group_user_verified(Uuid::nil(), &dave).await.unwrap(), AddOutcome::ConfirmedAfterAmbiguity);
    assert_eq!((ws.seen.count("POST"), ws.seen.count("GET")), (1, 1));

    // Not applied, 503: absent on read-back, so the POST is sent again.
    let (base, ws) = workspace(vec![], vec![(false, 503), (true, 200)]).await;
    let client = mock_client(&base, ManualClock::starting_now(), RetryPolicy::default());
    assert_eq!(client.add_group_user_verified(Uuid::nil(), &dave).await.unwrap(), AddOutcome::Added);
    assert_eq!((ws.seen.count("POST"), ws.seen.count("GET")), (2, 1));
    assert_eq!(ws.members.lock().unwrap().len(), 1);

    // Present with another role: reported, nothing more sent.
    let (base, ws) = workspace(vec![("dave@contoso.com", "Viewer")], vec![(false, 500)]).await;
    let client = mock_client(&base, ManualClock::starting_now(), RetryPolicy::default());
    assert_eq!(client.add_group_user_verified(Uuid::nil(), &dave).await.unwrap(), AddOutcome::PresentWithOtherRole(Right::Viewer));
    assert_eq!(ws.seen.count("POST"), 1);

    // Never confirmed: the last ambiguity is returned after max_attempts POSTs.
    let (base, ws) = workspace(vec![], vec![(false, 500); 5]).await;
    let client = mock_client(&base, ManualClock::starting_now(), RetryPolicy { max_attempts: 3, ..RetryPolicy::default() });
    assert!(matches!(client.add_group_user_verified(Uuid::nil(), &dave).await, Err(ClientError::Ambiguous { .. })));
    assert_eq!(ws.seen.count("POST"), 3);
}

#[tokio::test]
async fn a_plain_client_makes_one_attempt_and_returns_the_service_error_with_retry_after() {
    let (base, seen) = mock(vec![Step(429, Some("30".into()), THROTTLED)]).await;
    let client = pbi_client::PowerBiClient::new(reqwest::Client::new(), &pbi_client::Endpoints::local(&base), "t");
    let err = client.get_group_users(Uuid::nil()).await.unwrap_err();
    match &err {
        ClientError::Api { status, code, .. } => assert_eq!((status.as_u16(), code.as_str()), (429, "TooManyRequests")),
        other => panic!("{other:?}"),
    }
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(seen.count("GET"), 1);
}

#[tokio::test]
async fn stats_count_every_attempt_with_its_429s_5xx_and_admin_calls() {
    let (base, _) =
        mock(vec![Step(429, Some("1".into()), THROTTLED), Step(500, None, ERR500), Step(200, None, USERS), Step(200, None, USERS)]).await;
    let client = mock_client(&base, ManualClock::starting_now(), RetryPolicy::default());
    assert_eq!(client.stats(), pbi_client::StatsSnapshot::default());
    client.get_group_users(Uuid::nil()).await.unwrap();
    let s = client.stats();
    assert_eq!((s.requests, s.throttled, s.server_errors, s.admin_requests), (3, 1, 1, 0), "{s:?}");
    client.get_group_users_as_admin(Uuid::nil()).await.unwrap();
    let s = client.stats();
    assert_eq!((s.requests, s.admin_requests), (4, 1), "an admin path counts as an admin call: {s:?}");
}
