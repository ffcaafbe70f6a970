//! The defects of issue 12, each with the test that failed before its fix: connection abuse,
//! sign-in abuse (smart lockout), filter limits, refused requests on keep-alive connections,
//! SCIM's domain check, duplicated token parameters and SCIM bodies without a `Content-Type`.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::{backend_test, backend_test_with};

// Item 5: a UPN outside the tenant's domain is refused by SCIM as by Graph.
backend_test!(scim_and_graph_refuse_another_tenants_domain, |app: TestApp| async move {
    let foreign = "mia@tailspin.onmicrosoft.com";
    let (s, b, _) = app
        .scim(
            Method::POST,
            "/Users",
            Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": foreign, "active": true})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["scimType"], "invalidValue", "{b}");
    // A PATCH and a PUT that move an existing user into another domain are refused too.
    let id = app.user_id("member");
    let ops = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "userName", "value": foreign}]});
    let (s, b, _) = app.scim(Method::PATCH, &format!("/Users/{id}"), Some(ops)).await;
    assert_eq!((s, b["scimType"].as_str()), (400, Some("invalidValue")), "{b}");
    let (s, b, _) = app.scim(Method::PUT, &format!("/Users/{id}"), Some(json!({"userName": foreign}))).await;
    assert_eq!((s, b["scimType"].as_str()), (400, Some("invalidValue")), "{b}");
    let (_, b, _) = app.scim(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(b["userName"], upn("member"), "nothing changed");
    // The tenant's own domain, in any case, is accepted.
    let own = format!("mia@{}", DOMAIN.to_uppercase());
    let (s, b, _) = app.scim(Method::POST, "/Users", Some(json!({"userName": own, "active": true}))).await;
    assert_eq!(s, 201, "{b}");
    // Graph refuses the foreign domain with its own error.
    let (s, b, _) = app
        .graph(
            Method::POST,
            "/users",
            Some(json!({"accountEnabled": true, "displayName": "Mia", "mailNickname": "mia", "userPrincipalName": foreign,
                "passwordProfile": {"password": "Xy-12345678!"}})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["error"]["code"], "Request_BadRequest", "{b}");
});

// Item 6: a SCIM body without a Content-Type is 415.
backend_test!(scim_body_without_content_type_is_415, |app: TestApp| async move {
    let url = app.url(&format!("/{}/scim/v2/Users", app.tenant_id()));
    let r = app.http.post(&url).bearer_auth(SCIM_SECRET).body(r#"{"userName":"nct@fixture.onmicrosoft.com"}"#).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 415);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["status"], "415", "{b}");
    let (_, b, _) = app.scim(Method::GET, "/Users?filter=userName%20eq%20%22nct@fixture.onmicrosoft.com%22", None).await;
    assert_eq!(b["totalResults"], 0, "nothing was created: {b}");
});

// Item 6: a token request with a parameter sent twice is refused, whichever value is right.
backend_test!(token_endpoint_refuses_duplicated_parameters, |app: TestApp| async move {
    let url = app.url(&format!("/{}/oauth2/v2.0/token", app.tenant_id()));
    let app_id = app.app_id().to_string();
    for body in [
        format!("grant_type=client_credentials&client_id={app_id}&client_secret=wrong&client_secret={SECRET}&scope=https%3A%2F%2Fanalysis.windows.net%2Fpowerbi%2Fapi%2F.default"),
        format!("grant_type=client_credentials&client_id={app_id}&client_secret={SECRET}&client_secret=wrong&scope=https%3A%2F%2Fanalysis.windows.net%2Fpowerbi%2Fapi%2F.default"),
        format!("grant_type=client_credentials&grant_type=password&client_id={app_id}&client_secret={SECRET}&scope=https%3A%2F%2Fanalysis.windows.net%2Fpowerbi%2Fapi%2F.default"),
    ] {
        let r = app.http.post(&url).header("content-type", "application/x-www-form-urlencoded").body(body).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400);
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["error"], "invalid_request", "{b}");
        assert_eq!(b["error_codes"], json!([9000411]), "{b}");
        assert!(b["error_description"].as_str().unwrap().contains("is duplicated"), "{b}");
    }
    // Sent once, the same request succeeds.
    let ok = format!("grant_type=client_credentials&client_id={app_id}&client_secret={SECRET}&scope=https%3A%2F%2Fanalysis.windows.net%2Fpowerbi%2Fapi%2F.default");
    let r = app.http.post(&url).header("content-type", "application/x-www-form-urlencoded").body(ok).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
});

fn nested_nots(n: usize) -> String {
    format!("{}name eq 'Team'", "not ".repeat(n))
}

fn encoded(filter: &str) -> String {
    percent_encoding::utf8_percent_encode(filter, percent_encoding::NON_ALPHANUMERIC).to_string()
}

// Item 3: a deeply nested or very long filter is a 400 in each dialect, never a 500.
backend_test!(deep_and_long_filters_are_400_in_every_dialect, |app: TestApp| async move {
    let admin = app.user_token("admin").await;
    let many_terms = vec!["name eq 'x'"; 65].join(" or ");
    for path in ["/v1.0/myorg/groups", "/v1.0/myorg/admin/groups"] {
        for filter in [nested_nots(985), nested_nots(33), format!("{}name eq 'Team'{}", "(".repeat(40), ")".repeat(40)), many_terms.clone()]
        {
            let top = if path.contains("admin") { "&$top=10" } else { "" };
            let (s, b, _) = app.call(Method::GET, &format!("{path}?$filter={}{top}", encoded(&filter)), Some(&admin), None, &[]).await;
            assert_eq!(s, 400, "{path} {}: {b}", &filter[..40.min(filter.len())]);
            assert!(b["error"]["code"].is_string(), "Power BI error body: {b}");
        }
        // Within the limits the same shapes still work.
        let top = if path.contains("admin") { "&$top=10" } else { "" };
        let (s, b, _) = app.call(Method::GET, &format!("{path}?$filter={}{top}", encoded(&nested_nots(2))), Some(&admin), None, &[]).await;
        assert_eq!(s, 200, "{b}");
    }
    // Graph: parentheses beyond the depth, or too many conditions.
    let graph_many = vec!["displayName eq 'x'"; 65].join(" or ");
    let graph_deep = format!("{}displayName eq 'x'{}", "(".repeat(40), ")".repeat(40));
    for filter in [graph_many, graph_deep] {
        let (s, b, _) = app.graph(Method::GET, &format!("/groups?$filter={}", encoded(&filter)), None).await;
        assert_eq!(s, 400, "{b}");
        assert!(b["error"]["code"].is_string(), "{b}");
    }
    // SCIM: nested not(…) and too many conditions.
    let scim_deep = format!("{}userName eq \"x\"{}", "not (".repeat(200), ")".repeat(200));
    let scim_many = vec!["userName eq \"x\""; 65].join(" or ");
    for filter in [scim_deep, scim_many] {
        let (s, b, _) = app.scim(Method::GET, &format!("/Users?filter={}", encoded(&filter)), None).await;
        assert_eq!(s, 400, "{b}");
        assert_eq!(b["scimType"], "invalidFilter", "{b}");
    }
});

// Item 3: a call that ends in a server error (a 504 timeout) spends no budget.
backend_test_with!(
    failed_and_unbuilt_calls_spend_no_budget,
    |c: &mut pbi_server::config::Config| {
        c.throttling.admin_per_hour = 3;
        c.audit.groups_as_admin_timeout_ms = 50;
        c.faults = vec![pbi_server::config::FaultRule {
            operation: Some("Groups_GetGroupsAsAdmin".into()),
            latency_ms: 400,
            ..Default::default()
        }];
    },
    |app: TestApp| async move {
        let admin = app.user_token("admin").await;
        for _ in 0..5 {
            let (s, b, _) = app.call(Method::GET, "/v1.0/myorg/admin/groups?$top=10", Some(&admin), None, &[]).await;
            assert_eq!(s, 504, "{b}");
        }
        // Five failed admin calls later, the budget of 3 is whole.
        let path = format!("/v1.0/myorg/admin/groups/{}/users", app.ws("Team"));
        for i in 0..3 {
            let (s, b, _) = app.call(Method::GET, &path, Some(&admin), None, &[]).await;
            assert_eq!(s, 200, "call {i}: {b}");
        }
        let (s, _, _) = app.call(Method::GET, &path, Some(&admin), None, &[]).await;
        assert_eq!(s, 429, "the fourth successful call is over the budget");
    }
);

// Item 1: connections that send nothing, half a head, or a body slower than its length, and
// idle keep-alive connections, are closed after their (short, test-configured) timeouts.
mod connections {
    use std::time::{Duration, Instant};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use crate::helpers::*;

    fn quick(c: &mut pbi_server::config::Config) {
        c.server.header_read_timeout_ms = 400;
        c.server.idle_timeout_ms = 400;
        c.server.body_read_timeout_ms = 400;
    }

    fn addr(app: &TestApp) -> String {
        app.base.trim_start_matches("http://").to_string()
    }

    /// Read until the server closes the connection; what it sent, and when it closed (None if it
    /// was still open after `limit`).
    async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Option<Duration>) {
        let start = Instant::now();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match tokio::time::timeout(limit.saturating_sub(start.elapsed()), stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&seen).into_owned(), Some(start.elapsed())),
                Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
                Err(_) => return (String::from_utf8_lossy(&seen).into_owned(), None),
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn silent_slow_and_idle_connections_are_closed() {
        let app = TestApp::spawn_with(Backend::Sqlite, quick).await.unwrap();
        let limit = Duration::from_secs(5);
        // Sends nothing.
        let mut silent = TcpStream::connect(addr(&app)).await.unwrap();
        let (_, closed) = read_until_closed(&mut silent, limit).await;
        assert!(closed.is_some(), "a connection that sends nothing stays open");
        // Half a request head.
        let mut half = TcpStream::connect(addr(&app)).await.unwrap();
        half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        let (_, closed) = read_until_closed(&mut half, limit).await;
        assert!(closed.is_some(), "a connection with half a head stays open");
        // A body slower than its Content-Length: answered (or closed), not kept.
        let mut slow = TcpStream::connect(addr(&app)).await.unwrap();
        slow.write_all(
            b"POST /v1.0/myorg/groups HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"na",
        )
        .await
        .unwrap();
        let (_, closed) = read_until_closed(&mut slow, limit).await;
        assert!(closed.is_some(), "a connection with a stalled body stays open");
        // A keep-alive connection left idle after its answer.
        let mut idle = TcpStream::connect(addr(&app)).await.unwrap();
        idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let (seen, closed) = read_until_closed(&mut idle, limit).await;
        assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
        let closed = closed.expect("an idle keep-alive connection stays open");
        assert!(closed >= Duration::from_millis(300), "closed after {closed:?}, before the idle timeout");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn past_the_connection_cap_others_get_503_and_healthz_still_answers() {
        let app = TestApp::spawn_with(Backend::Sqlite, |c| {
            c.server.max_connections = 8;
            c.server.overflow_connections = 4;
        })
        .await
        .unwrap();
        let mut held = Vec::new();
        for _ in 0..8 {
            let mut s = TcpStream::connect(addr(&app)).await.unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).await.unwrap();
            assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
            held.push(s);
        }
        // The ninth connection: a 503 that closes the connection.
        let mut ninth = TcpStream::connect(addr(&app)).await.unwrap();
        ninth.write_all(b"GET /v1.0/myorg/groups HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let (seen, closed) = read_until_closed(&mut ninth, Duration::from_secs(5)).await;
        assert!(seen.starts_with("HTTP/1.1 503"), "{seen}");
        assert!(seen.to_ascii_lowercase().contains("connection: close"), "{seen}");
        assert!(closed.is_some());
        // Health checks still answer, on a new connection, while the cap is reached.
        let health = reqwest::Client::new().get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(health.status().as_u16(), 200);
        // Once the held connections go, others are served again.
        drop(held);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let r = reqwest::Client::new().get(app.url("/v1.0/myorg/groups")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401, "served normally again");
    }
}

// Item 4: requests refused before their body is read (401, 413) say `Connection: close`, so a
// pooled keep-alive client never sends its next request on a connection the server drops.
backend_test_with!(
    refusals_before_the_body_never_break_a_pooled_connection,
    |c: &mut pbi_server::config::Config| c.limits.max_body_bytes = 4096,
    |app: TestApp| async move {
        let owner = app.user_token("owner").await;
        let users = format!("/v1.0/myorg/groups/{}/users", app.ws("Team"));
        let pooled = reqwest::Client::builder().pool_max_idle_per_host(4).build().unwrap();
        let body = json!({"emailAddress": upn("outsider"), "groupUserAccessRight": "Viewer"}).to_string();
        let big = vec![b'x'; 64 * 1024];
        let mut errors = Vec::new();
        let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
        for i in 0..200 {
            let add = pooled.post(app.url(&users)).bearer_auth(&owner).header("content-type", "application/json").body(body.clone());
            let refused_401 = pooled.post(app.url(&users)).header("content-type", "application/json").body(body.clone());
            let refused_413 = pooled.post(app.url(&users)).bearer_auth(&owner).header("content-type", "application/json").body(big.clone());
            let delete = pooled.delete(app.url(&format!("{users}/{}", upn("outsider")))).bearer_auth(&owner);
            for (what, request) in [("add", add), ("401", refused_401), ("413", refused_413), ("delete", delete)] {
                match request.send().await {
                    Ok(r) => *statuses.entry(r.status().as_u16()).or_default() += 1,
                    Err(e) => errors.push(format!("{i} {what}: {e}")),
                }
            }
        }
        assert!(errors.is_empty(), "{} requests failed on the connection: {:?}", errors.len(), &errors[..errors.len().min(5)]);
        assert_eq!(statuses.get(&401), Some(&200), "{statuses:?}");
        assert_eq!(statuses.get(&413), Some(&200), "{statuses:?}");
        assert_eq!(statuses.get(&200), Some(&400), "every add and delete applied: {statuses:?}");
    }
);

// Item 2: smart lockout on the password grant, and unknown accounts cost as much as wrong passwords.
backend_test!(password_grant_locks_an_account_after_ten_failures, |app: TestApp| async move {
    let tc = app.token_client();
    let (tenant, client) = (app.tenant_id().to_string(), app.app_id().to_string());
    let scope = "https://analysis.windows.net/powerbi/api/.default";
    let code = |e: pbi_client::ClientError| match e {
        pbi_client::ClientError::OAuth { codes, .. } => codes.first().copied().unwrap_or_default(),
        other => panic!("not an OAuth error: {other}"),
    };
    for _ in 0..10 {
        let e = tc.password(&tenant, &client, &upn("member"), "wrong", scope).await.unwrap_err();
        assert_eq!(code(e), 50126);
    }
    // Locked: the right password is refused too, with Entra's IdsLocked.
    let e = tc.password(&tenant, &client, &upn("member"), PASSWORD, scope).await.unwrap_err();
    assert_eq!(code(e), 50053);
    // Other accounts are not locked.
    assert!(tc.password(&tenant, &client, &upn("viewer"), PASSWORD, scope).await.is_ok());
    // After Entra's default minute, the right password works again.
    app.clock.advance(std::time::Duration::from_secs(61));
    assert!(tc.password(&tenant, &client, &upn("member"), PASSWORD, scope).await.is_ok());
});

backend_test!(unknown_accounts_take_as_long_as_wrong_passwords, |app: TestApp| async move {
    let tc = app.token_client();
    let (tenant, client) = (app.tenant_id().to_string(), app.app_id().to_string());
    let scope = "https://analysis.windows.net/powerbi/api/.default";
    let fastest = |user: String, password: &'static str| {
        let tc = tc.clone();
        let (tenant, client) = (tenant.clone(), client.clone());
        async move {
            let mut best = std::time::Duration::MAX;
            for _ in 0..4 {
                let start = std::time::Instant::now();
                assert!(tc.password(&tenant, &client, &user, password, scope).await.is_err());
                best = best.min(start.elapsed());
            }
            best
        }
    };
    let wrong = fastest(upn("contributor"), "wrong").await;
    let unknown = fastest(upn("nobody-here"), "wrong").await;
    // Argon2 dominates a wrong password; without it an unknown account answered ~10x sooner.
    assert!(unknown * 3 >= wrong, "unknown account {unknown:?}, wrong password {wrong:?}");
});
