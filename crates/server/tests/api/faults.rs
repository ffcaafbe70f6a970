//! Fault injection and the operator API over real HTTP, on both backends: repeatable faults for
//! a seed, probabilities honoured, real added latency, faults only after authentication and
//! never changing data, and the operator token.

use std::time::{Duration, Instant};

use pbi_server::config::{Config, FaultRule};
use pbi_wire::operator::FaultRules;
use pbi_wire::powerbi::{GroupUser, GroupUserAccessRight as R};
use reqwest::StatusCode;

use crate::helpers::*;
use crate::{backend_test, backend_test_with};

const OPERATOR_TOKEN: &str = "operator-token-for-tests";
const FAULTS: &str = "/operator/v1/faults";

fn with_operator(c: &mut Config) {
    c.operator.token = Some(OPERATOR_TOKEN.into());
}

async fn put_rules(app: &TestApp, rules: Vec<FaultRule>) -> reqwest::Response {
    app.http.put(app.url(FAULTS)).bearer_auth(OPERATOR_TOKEN).json(&FaultRules { rules }).send().await.unwrap()
}

fn chaos(seed: u64) -> FaultRule {
    FaultRule {
        operation: Some("Groups_GetGroups".into()),
        probability_429: 0.3,
        probability_500: 0.2,
        probability_503: 0.1,
        retry_after_secs: Some(7),
        seed,
        ..FaultRule::default()
    }
}

async fn statuses(app: &TestApp, token: &str, n: usize) -> Vec<u16> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(app.http.get(app.url("/v1.0/myorg/groups")).bearer_auth(token).send().await.unwrap().status().as_u16());
    }
    out
}

backend_test!(the_operator_api_does_not_exist_without_a_token, |app: TestApp| async move {
    for method in [reqwest::Method::GET, reqwest::Method::PUT, reqwest::Method::DELETE] {
        let response =
            app.http.request(method.clone(), app.url(FAULTS)).bearer_auth("anything").json(&FaultRules::default()).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "NoSuchRoute");
    }
});

backend_test_with!(the_operator_api_demands_its_token, with_operator, |app: TestApp| async move {
    let missing = app.http.get(app.url(FAULTS)).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert!(missing.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    let power_bi_token = app.user_token("admin").await;
    for wrong in ["operator-token-for-test", "operator-token-for-testsX", power_bi_token.as_str(), ""] {
        assert_eq!(app.http.get(app.url(FAULTS)).bearer_auth(wrong).send().await.unwrap().status(), StatusCode::UNAUTHORIZED, "{wrong}");
        assert_eq!(put_rules_with(&app, wrong, vec![chaos(1)]).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.http.delete(app.url(FAULTS)).bearer_auth(wrong).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    // Refused calls changed nothing.
    let current: FaultRules = app.http.get(app.url(FAULTS)).bearer_auth(OPERATOR_TOKEN).send().await.unwrap().json().await.unwrap();
    assert!(current.rules.is_empty());
    // The right token reads, replaces and clears.
    let put = put_rules(&app, vec![chaos(1)]).await;
    assert_eq!(put.status(), StatusCode::OK);
    assert_eq!(put.json::<FaultRules>().await.unwrap().rules, vec![chaos(1)]);
    let current: FaultRules = app.http.get(app.url(FAULTS)).bearer_auth(OPERATOR_TOKEN).send().await.unwrap().json().await.unwrap();
    assert_eq!(current.rules, vec![chaos(1)]);
    assert_eq!(app.http.delete(app.url(FAULTS)).bearer_auth(OPERATOR_TOKEN).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let current: FaultRules = app.http.get(app.url(FAULTS)).bearer_auth(OPERATOR_TOKEN).send().await.unwrap().json().await.unwrap();
    assert!(current.rules.is_empty());
});

async fn put_rules_with(app: &TestApp, token: &str, rules: Vec<FaultRule>) -> reqwest::Response {
    app.http.put(app.url(FAULTS)).bearer_auth(token).json(&FaultRules { rules }).send().await.unwrap()
}

backend_test_with!(invalid_rules_are_refused_whole, with_operator, |app: TestApp| async move {
    put_rules(&app, vec![chaos(1)]).await;
    let bad = [
        serde_json::json!({"rules": [{"operation": "Groups_GetGroups", "probability_429": 1.5}]}),
        serde_json::json!({"rules": [{"operation": "Groups_GetGroups", "probability_429": 0.6, "probability_503": 0.6}]}),
        serde_json::json!({"rules": [{"operation": "No_SuchOperation"}]}),
        serde_json::json!({"rules": [{"path": "/v1.0/*", "operation": "Groups_GetGroups"}]}),
        serde_json::json!({"rules": [{"latency_ms": 5}]}),
        serde_json::json!({"rules": [{"path": "*", "probabilty_429": 0.5}]}),
        serde_json::json!({"rules": [{"path": "*", "latency_ms": -5}]}),
        serde_json::json!({"rules": [{"path": "*", "latency_ms": 300001}]}),
        serde_json::json!({"rules": [{"path": "*"}, {"path": ""}]}),
        serde_json::json!({"rule": []}),
    ];
    for body in bad {
        let response = app.http.put(app.url(FAULTS)).bearer_auth(OPERATOR_TOKEN).json(&body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "InvalidRequest", "{body}");
    }
    let not_json = app
        .http
        .put(app.url(FAULTS))
        .bearer_auth(OPERATOR_TOKEN)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    let current: FaultRules = app.http.get(app.url(FAULTS)).bearer_auth(OPERATOR_TOKEN).send().await.unwrap().json().await.unwrap();
    assert_eq!(current.rules, vec![chaos(1)], "a refused PUT leaves the rules as they were");
});

backend_test_with!(the_same_seed_gives_the_same_faults, with_operator, |app: TestApp| async move {
    let token = app.user_token("viewer").await;
    put_rules(&app, vec![chaos(42)]).await;
    let first = statuses(&app, &token, 60).await;
    put_rules(&app, vec![chaos(42)]).await;
    assert_eq!(statuses(&app, &token, 60).await, first, "same seed, same requests");
    put_rules(&app, vec![chaos(43)]).await;
    assert_ne!(statuses(&app, &token, 60).await, first, "another seed");
    // Calls the rule does not match neither suffer nor advance its generator.
    put_rules(&app, vec![chaos(42)]).await;
    let mut again = Vec::new();
    for _ in 0..60 {
        let other = app.http.get(app.url(&format!("/v1.0/myorg/groups/{}", app.ws("Team")))).bearer_auth(&token).send().await.unwrap();
        assert_eq!(other.status(), StatusCode::OK);
        again.extend(statuses(&app, &token, 1).await);
    }
    assert_eq!(again, first);
});

backend_test_with!(
    rules_from_the_config_behave_like_rules_put_later,
    |c: &mut Config| {
        with_operator(c);
        c.faults = vec![chaos(42)];
    },
    |app: TestApp| async move {
        let token = app.user_token("viewer").await;
        let from_config = statuses(&app, &token, 60).await;
        put_rules(&app, vec![chaos(42)]).await;
        assert_eq!(statuses(&app, &token, 60).await, from_config);
    }
);

backend_test_with!(probabilities_are_roughly_honoured, with_operator, |app: TestApp| async move {
    let token = app.user_token("viewer").await;
    put_rules(&app, vec![chaos(2024)]).await;
    let got = statuses(&app, &token, 1000).await;
    let share = |status: u16| got.iter().filter(|s| **s == status).count() as f64 / got.len() as f64;
    for (status, expected) in [(429, 0.3), (500, 0.2), (503, 0.1), (200, 0.4)] {
        assert!((share(status) - expected).abs() < 0.05, "{status}: {} against {expected}", share(status));
    }
});

backend_test_with!(injected_answers_speak_the_power_bi_dialect, with_operator, |app: TestApp| async move {
    let token = app.user_token("viewer").await;
    let only = |p429: f64, p500: f64, p503: f64| FaultRule {
        path: Some("/v1.0/myorg/groups".into()),
        probability_429: p429,
        probability_500: p500,
        probability_503: p503,
        retry_after_secs: Some(7),
        ..FaultRule::default()
    };
    for (rule, status, code) in [
        (only(1.0, 0.0, 0.0), 429, "TooManyRequests"),
        (only(0.0, 1.0, 0.0), 500, "InternalServerError"),
        (only(0.0, 0.0, 1.0), 503, "ServiceUnavailable"),
    ] {
        put_rules(&app, vec![rule]).await;
        let response = app.http.get(app.url("/v1.0/myorg/groups")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(response.headers()["x-pbi-access-fault"], "injected");
        assert!(response.headers().contains_key("requestid"));
        if status == 429 {
            assert_eq!(response.headers()["retry-after"], "7");
        }
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], code);
        if status == 429 {
            assert!(body["error"]["message"].as_str().unwrap().ends_with("Retry in 7 seconds."));
        }
    }
    // The glob is the whole path: a longer path does not match.
    let users = app.http.get(app.url(&format!("/v1.0/myorg/groups/{}/users", app.ws("Team")))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(users.status(), StatusCode::OK);
});

backend_test_with!(injected_latency_is_real, with_operator, |app: TestApp| async move {
    let token = app.user_token("viewer").await;
    put_rules(&app, vec![FaultRule { path: Some("/v1.0/myorg/groups*".into()), latency_ms: 150, jitter_ms: 50, ..FaultRule::default() }])
        .await;
    for _ in 0..3 {
        let started = Instant::now();
        let response = app.http.get(app.url("/v1.0/myorg/groups")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(started.elapsed() >= Duration::from_millis(150), "{:?}", started.elapsed());
    }
});

backend_test_with!(
    faults_come_after_authentication_and_change_nothing,
    |c: &mut Config| {
        with_operator(c);
        c.throttling.admin_per_hour = 3;
    },
    |app: TestApp| async move {
        put_rules(&app, vec![FaultRule { path: Some("*".into()), probability_500: 1.0, ..FaultRule::default() }]).await;
        // No token: 401 as ever, no fault.
        let anonymous = app.http.get(app.url("/v1.0/myorg/groups")).send().await.unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
        assert!(!anonymous.headers().contains_key("x-pbi-access-fault"));
        // A faulted write writes nothing, and faulted admin calls spend no budget.
        let admin = app.as_user("admin").await;
        let owner = app.as_user("owner").await;
        for _ in 0..5 {
            assert_post_500(owner.add_group_user(app.ws("Team"), &GroupUser::email(upn("newbie"), R::Viewer)).await);
            assert_post_500(admin.add_user_as_admin(app.ws("Team"), &GroupUser::email(upn("newbie"), R::Viewer)).await);
        }
        assert_eq!(app.http.delete(app.url(FAULTS)).bearer_auth(OPERATOR_TOKEN).send().await.unwrap().status(), StatusCode::NO_CONTENT);
        let members = app.store.members(app.tenant_id(), app.ws("Team")).await.unwrap();
        assert!(!members.iter().any(|m| m.upn.as_deref() == Some(upn("newbie").as_str())));
        for _ in 0..3 {
            admin.get_group_users_as_admin(app.ws("Team")).await.unwrap();
        }
        assert_api_error(admin.get_group_users_as_admin(app.ws("Team")).await, 429, "TooManyRequests");
    }
);

#[tokio::test]
async fn invalid_config_faults_stop_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        listen: "127.0.0.1:0".into(),
        database: format!("sqlite://{}", dir.path().join("f.db").display()),
        demo: false,
        faults: vec![FaultRule { path: Some("*".into()), probability_503: 2.0, ..FaultRule::default() }],
        ..Config::default()
    };
    let err = pbi_server::Application::build(config, pbi_server::ManualClock::starting_now()).await.err().expect("refused");
    assert!(err.to_string().contains("probability_503"), "{err}");
}

/// A POST answered 500: the client reports it as ambiguous (the write may or may not have
/// happened), carrying the status; the test then checks nothing was written.
#[track_caller]
fn assert_post_500(result: Result<(), pbi_client::ClientError>) {
    match result {
        Err(pbi_client::ClientError::Ambiguous { cause, .. }) if cause.starts_with("500") => {}
        Err(pbi_client::ClientError::Api { status, code, .. }) if status.as_u16() == 500 && code == "InternalServerError" => {}
        other => panic!("expected a 500 on a POST, got {other:?}"),
    }
}

backend_test_with!(the_operator_api_lists_imports_and_exports_tenants, with_operator, |app: TestApp| async move {
    let call = |method: reqwest::Method, path: &str, token: Option<&str>, body: Option<serde_json::Value>| {
        let mut req = app.http.request(method, app.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.unwrap_or_default())
        }
    };
    let (s, list) = call(reqwest::Method::GET, "/operator/v1/tenants", Some(OPERATOR_TOKEN), None).await;
    assert_eq!(s, 200);
    assert_eq!(list["value"].as_array().unwrap().len(), 1);
    assert_eq!(call(reqwest::Method::GET, "/operator/v1/tenants", None, None).await.0, 401);
    assert_eq!(call(reqwest::Method::GET, "/operator/v1/tenants", Some("wrong"), None).await.0, 401);
    // Export the fixture tenant, rename it, import it as a new tenant.
    let (s, mut snapshot) = call(reqwest::Method::GET, &format!("/operator/v1/tenants/{DOMAIN}"), Some(OPERATOR_TOKEN), None).await;
    assert_eq!(s, 200);
    assert!(snapshot["users"].as_array().unwrap().iter().all(|u| u.get("password").is_none()), "no plain-text passwords");
    let original = snapshot.clone();
    snapshot["id"] = serde_json::Value::Null;
    snapshot["domain"] = "copy.onmicrosoft.com".into();
    for section in ["users", "groups", "servicePrincipals", "workspaces", "capacities"] {
        for item in snapshot[section].as_array_mut().into_iter().flatten() {
            if let Some(obj) = item.as_object_mut() {
                obj.remove("id");
                obj.remove("appId");
            }
        }
    }
    // Members name principals by object id; the copy gets new ids, so it keeps no roles.
    for ws in snapshot["workspaces"].as_array_mut().unwrap() {
        ws["members"] = serde_json::json!([]);
        ws["artifacts"] = serde_json::json!([]);
        ws.as_object_mut().unwrap().remove("capacity");
    }
    snapshot["capacities"] = serde_json::json!([]);
    // Pipelines and gateways keep their ids in an export, as capacities do: the copy goes without.
    snapshot["pipelines"] = serde_json::json!([]);
    snapshot["gateways"] = serde_json::json!([]);
    for g in snapshot["groups"].as_array_mut().unwrap() {
        g["members"] = serde_json::json!([]);
        g["owners"] = serde_json::json!([]);
    }
    snapshot["licenses"] = serde_json::json!([]);
    let (s, made) = call(reqwest::Method::POST, "/operator/v1/tenants", Some(OPERATOR_TOKEN), Some(snapshot)).await;
    assert_eq!(s, 201, "{made}");
    assert_eq!(made["domain"], "copy.onmicrosoft.com");
    // The same document again: refused whole, with the reason.
    let (s, err) = call(reqwest::Method::POST, "/operator/v1/tenants", Some(OPERATOR_TOKEN), Some(original)).await;
    assert_eq!(s, 400, "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("exists already"), "{err}");
    assert_eq!(
        call(reqwest::Method::GET, "/operator/v1/tenants", Some(OPERATOR_TOKEN), None).await.1["value"].as_array().unwrap().len(),
        2
    );
    assert_eq!(call(reqwest::Method::GET, "/operator/v1/tenants/nope.onmicrosoft.com", Some(OPERATOR_TOKEN), None).await.0, 404);
    assert_eq!(
        call(reqwest::Method::POST, "/operator/v1/tenants", Some(OPERATOR_TOKEN), Some(serde_json::json!({"name": 1}))).await.0,
        400
    );
});

backend_test_with!(
    get_groups_as_admin_times_out_after_its_configured_limit,
    |c: &mut Config| {
        with_operator(c);
        c.audit.groups_as_admin_timeout_ms = 1000;
    },
    |app: TestApp| async move {
        assert_eq!(Config::default().audit.groups_as_admin_timeout_ms, 30_000, "the reference's 30 s by default");
        let token = app.user_token("admin").await;
        let groups = app.url("/v1.0/myorg/admin/groups?$top=10");
        let quick = app.http.get(&groups).bearer_auth(&token).send().await.unwrap();
        assert_eq!(quick.status(), StatusCode::OK, "within its limit");
        // Injected latency longer than the limit: the service gives up and says so.
        put_rules(&app, vec![FaultRule { path: Some("/v1.0/myorg/admin/groups".into()), latency_ms: 3000, ..FaultRule::default() }]).await;
        let slow = app.http.get(&groups).bearer_auth(&token).send().await.unwrap();
        assert_eq!(slow.status(), StatusCode::GATEWAY_TIMEOUT);
        assert!(slow.headers().get(pbi_server::api::powerbi::gate::FAULT_HEADER).is_none(), "a timeout, not an injected fault");
        let body: serde_json::Value = slow.json().await.unwrap();
        assert_eq!(body["error"]["code"], "RequestTimedOut", "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("within 1 seconds"), "{body}");
        // Another admin read under the same latency has no such limit.
        put_rules(&app, vec![FaultRule { path: Some("/v1.0/myorg/admin/groups/*".into()), latency_ms: 1500, ..FaultRule::default() }])
            .await;
        let users = app.url(&format!("/v1.0/myorg/admin/groups/{}/users", app.ws("Team")));
        let response = app.http.get(users).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
);
