//! Work stops when the client goes: a request whose client closes its socket mid-request stops
//! its database work (SQLite: interrupted; PostgreSQL: cancelled), is counted by the operator
//! API, and a write cut off that way leaves no partial change. Real HTTP over a raw TCP stream,
//! so that the test can hang up; every wait is a bounded poll.

use std::time::{Duration, Instant};

use pbi_server::config::{Config, FaultRule};
use pbi_wire::operator::{FaultRules, RequestStats};
use pbi_wire::powerbi::{GroupUser, GroupUserAccessRight as R};
use sqlx::{AnyConnection, Connection, Executor, Row};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::backend_test_with;
use crate::helpers::*;

const OPERATOR_TOKEN: &str = "operator-token-for-cancel-tests";
/// Longer than any test: the statement must be stopped, not finish.
const FOREVER_MS: u64 = 300_000;

fn with_operator(c: &mut Config) {
    c.operator.token = Some(OPERATOR_TOKEN.into());
}

async fn stats(app: &TestApp) -> RequestStats {
    let response = app.http.get(app.url("/operator/v1/requests")).bearer_auth(OPERATOR_TOKEN).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Poll `$check` (an expression that may `.await`) every 50 ms for up to 10 s.
macro_rules! eventually {
    ($what:expr, $check:expr) => {{
        let deadline = Instant::now() + Duration::from_secs(10);
        while !$check {
            assert!(Instant::now() < deadline, "not within 10 s: {}", $what);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }};
}

/// Open a connection and send one HTTP/1.1 request on it, without reading the answer.
async fn send_raw(app: &TestApp, method: &str, path: &str, token: &str, body: Option<&str>) -> TcpStream {
    let authority = app.url("").trim_start_matches("http://").trim_end_matches('/').to_string();
    let mut stream = TcpStream::connect(&authority).await.unwrap();
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

/// A connection of the test's own to the server's database (not from the server's pools).
async fn side_connection(app: &TestApp) -> AnyConnection {
    let mut conn = AnyConnection::connect(&app.config.database).await.unwrap();
    if app.backend == Backend::Sqlite {
        conn.execute("PRAGMA busy_timeout = 0").await.unwrap();
    }
    conn
}

/// SQLite: whether a write transaction is open on the file now (ours cannot start one).
async fn sqlite_writer_busy(conn: &mut AnyConnection) -> bool {
    match conn.execute("BEGIN IMMEDIATE").await {
        Ok(_) => {
            conn.execute("ROLLBACK").await.unwrap();
            false
        }
        Err(_) => true,
    }
}

/// PostgreSQL: the backends now running a statement that starts with `prefix`.
async fn pg_running(conn: &mut AnyConnection, prefix: &str) -> Vec<i32> {
    sqlx::query("SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1 AND pid <> pg_backend_pid()")
        .bind(format!("{prefix}%"))
        .fetch_all(&mut *conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<i32, _>(0))
        .collect()
}

/// Wait until a new backend (not in `before`) runs a statement starting with `prefix`.
async fn pg_new_runner(conn: &mut AnyConnection, prefix: &str, before: &[i32]) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(pid) = pg_running(conn, prefix).await.into_iter().find(|p| !before.contains(p)) {
            return pid;
        }
        assert!(Instant::now() < deadline, "no statement '{prefix}…' started within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

backend_test_with!(a_long_request_stops_its_database_work_when_the_client_goes, with_operator, |app: TestApp| async move {
    let rule = FaultRule { operation: Some("Groups_GetGroups".into()), statement_ms: FOREVER_MS, ..FaultRule::default() };
    let put = app.http.put(app.url("/operator/v1/faults")).bearer_auth(OPERATOR_TOKEN).json(&FaultRules { rules: vec![rule] });
    assert_eq!(put.send().await.unwrap().status(), 200);
    let token = app.user_token("admin").await;
    let mut side = side_connection(&app).await;
    let before =
        if app.backend == Backend::Postgres { pg_running(&mut side, "SELECT count(*) FROM (SELECT pg_sleep").await } else { vec![] };

    let stream = send_raw(&app, "GET", "/v1.0/myorg/groups", &token, None).await;
    // The statement runs: on SQLite it holds the one writer, on PostgreSQL a backend sleeps.
    let pid = match app.backend {
        Backend::Sqlite => {
            eventually!("the slow statement holds the writer", sqlite_writer_busy(&mut side).await);
            None
        }
        Backend::Postgres => Some(pg_new_runner(&mut side, "SELECT count(*) FROM (SELECT pg_sleep", &before).await),
    };
    assert_eq!(stats(&app).await, RequestStats { in_flight: 2, cancelled: 0, statements_cancelled: 0 }, "the slow request and this one");

    drop(stream);
    eventually!(
        "the request is cancelled and its statement stopped",
        stats(&app).await == RequestStats { in_flight: 1, cancelled: 1, statements_cancelled: 1 }
    );
    match pid {
        None => {
            eventually!("the writer is free again", !sqlite_writer_busy(&mut side).await)
        }
        Some(pid) => {
            eventually!(
                "the backend no longer runs the statement",
                !pg_running(&mut side, "SELECT count(*) FROM (SELECT pg_sleep").await.contains(&pid)
            )
        }
    }

    // The server goes on: its connections serve the next requests.
    let clear = app.http.delete(app.url("/operator/v1/faults")).bearer_auth(OPERATOR_TOKEN);
    assert_eq!(clear.send().await.unwrap().status(), 204);
    for _ in 0..20 {
        assert!(app.client(token.clone()).get_groups(None, None, None).await.is_ok());
    }
    let owner = app.as_user("owner").await;
    owner.add_group_user(app.ws("Team"), &GroupUser::email(upn("outsider"), R::Viewer)).await.unwrap();
    assert_eq!(stats(&app).await, RequestStats { in_flight: 1, cancelled: 1, statements_cancelled: 1 });
});

backend_test_with!(a_write_cut_off_by_its_client_leaves_no_partial_change, with_operator, |app: TestApp| async move {
    // A test-only trigger makes the write's last statement (its activity event) run until
    // stopped, after the role and the workspace's version have been written in its transaction.
    let mut side = side_connection(&app).await;
    match app.backend {
        Backend::Sqlite => {
            side.execute("CREATE TABLE slow_rows (x INTEGER)").await.unwrap();
            side.execute(
                "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1000) INSERT INTO slow_rows SELECT x FROM n",
            )
            .await
            .unwrap();
            side.execute(
                "CREATE TRIGGER slow_activity AFTER INSERT ON activity_events BEGIN \
                 SELECT count(*) FROM slow_rows a, slow_rows b, slow_rows c, slow_rows d; END",
            )
            .await
            .unwrap();
        }
        Backend::Postgres => {
            side.execute(
                "CREATE FUNCTION slow_activity() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(300); RETURN NEW; END $$",
            )
            .await
            .unwrap();
            side.execute("CREATE TRIGGER slow_activity AFTER INSERT ON activity_events FOR EACH ROW EXECUTE FUNCTION slow_activity()")
                .await
                .unwrap();
        }
    }
    let ws = app.ws("Team");
    let roles = app.roles(ws).await;
    let events = app.activity_events().await.len();
    let version = || async {
        let mut conn = side_connection(&app).await;
        sqlx::query("SELECT version FROM workspaces WHERE id = $1")
            .bind(ws.to_string())
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get::<i64, _>(0)
    };
    let version_before = version().await;
    let before = if app.backend == Backend::Postgres { pg_running(&mut side, "INSERT INTO activity_events").await } else { vec![] };

    let body = serde_json::json!({ "identifier": upn("outsider"), "principalType": "User", "groupUserAccessRight": "Admin" }).to_string();
    let token = app.user_token("owner").await;
    let stream = send_raw(&app, "POST", &format!("/v1.0/myorg/groups/{ws}/users"), &token, Some(&body)).await;
    let pid = match app.backend {
        Backend::Sqlite => {
            eventually!("the write holds the writer", sqlite_writer_busy(&mut side).await);
            None
        }
        Backend::Postgres => Some(pg_new_runner(&mut side, "INSERT INTO activity_events", &before).await),
    };

    drop(stream);
    eventually!("the write is cancelled", stats(&app).await.cancelled == 1);
    match pid {
        None => {
            eventually!("the writer is free again", !sqlite_writer_busy(&mut side).await)
        }
        Some(pid) => {
            eventually!(
                "the backend no longer runs the insert",
                !pg_running(&mut side, "INSERT INTO activity_events").await.contains(&pid)
            );
            assert_eq!(stats(&app).await.statements_cancelled, 1);
        }
    }

    // Nothing of the write remains: no role, no version bump, no event.
    assert_eq!(app.roles(ws).await, roles);
    assert_eq!(version().await, version_before);
    assert_eq!(app.activity_events().await.len(), events);
    // The same write, without the trigger, goes through whole.
    side.execute("DROP TRIGGER slow_activity ON activity_events").await.ok();
    side.execute("DROP TRIGGER IF EXISTS slow_activity").await.ok();
    app.as_user("owner").await.add_group_user(ws, &GroupUser::email(upn("outsider"), R::Admin)).await.unwrap();
    assert!(app.roles(ws).await.contains(&(upn("outsider"), "Admin".to_string())));
    assert_eq!(app.activity_events().await.len(), events + 1);
});
