use serde_json::Value;

use crate::backend_test;
use crate::helpers::*;

/// method, path, body (content type, bytes), expected status, expected code.
type Case<'a> = (reqwest::Method, String, Option<(&'a str, Vec<u8>)>, u16, &'a str);

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<(&str, Vec<u8>)>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let token = app.user_token("owner").await;
    // A fresh connection per request: the server may close one after refusing a large body.
    let mut req = reqwest::Client::new().request(method, app.url(path)).bearer_auth(token);
    if let Some((ct, bytes)) = body {
        req = req.header("content-type", ct).body(bytes);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)), headers)
}

backend_test!(bad_input_gets_power_bi_errors_never_500, |app: TestApp| async move {
    use reqwest::Method;
    let users = format!("/v1.0/myorg/groups/{}/users", app.ws("Team"));
    let json = "application/json";
    type Case<'a> = (Method, String, Option<(&'a str, Vec<u8>)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (Method::POST, users.clone(), Some((json, b"{not json".to_vec())), 400, "InvalidRequest"),
        (
            Method::POST,
            users.clone(),
            Some((json, br#"{"emailAddress":"a@b.c","groupUserAccessRight":"Owner"}"#.to_vec())),
            400,
            "InvalidRequest",
        ),
        (
            Method::POST,
            users.clone(),
            Some((json, br#"{"identifier":"x","principalType":"Robot","groupUserAccessRight":"Viewer"}"#.to_vec())),
            400,
            "InvalidRequest",
        ),
        (Method::POST, users.clone(), Some((json, br#"{"groupUserAccessRight":"Viewer"}"#.to_vec())), 400, "InvalidRequest"),
        (
            Method::POST,
            users.clone(),
            Some((json, br#"{"identifier":"","groupUserAccessRight":"Viewer"}"#.to_vec())),
            400,
            "InvalidRequest",
        ),
        (Method::POST, users.clone(), Some((json, br#"[]"#.to_vec())), 400, "InvalidRequest"),
        (Method::POST, users.clone(), Some((json, vec![0xff, 0xfe])), 400, "InvalidRequest"),
        (Method::POST, users.clone(), Some(("text/plain", b"{}".to_vec())), 415, "UnsupportedMediaType"),
        (Method::POST, users.clone(), Some((json, vec![b' '; 2 * 1024 * 1024])), 413, "RequestEntityTooLarge"),
        (Method::GET, "/v1.0/myorg/groups/not-a-guid/users".into(), None, 400, "InvalidRequest"),
        (Method::DELETE, "/v1.0/myorg/groups/not-a-guid/users/x@y.z".into(), None, 400, "InvalidRequest"),
        (Method::DELETE, format!("{users}/x@y.z?profileId=nope"), None, 400, "InvalidRequest"),
        (Method::GET, "/v1.0/myorg/nothing/here".into(), None, 404, "NoSuchRoute"),
        (Method::PATCH, users.clone(), None, 405, "MethodNotAllowed"),
        (Method::GET, "/v1.0/myorg/pipelines/abc/users".into(), None, 400, "InvalidRequest"),
        (Method::POST, "/v1.0/myorg/groups".into(), Some((json, br#"{"nom":"x"}"#.to_vec())), 400, "InvalidRequest"),
    ];
    for (method, path, body, status, code) in cases {
        let (s, b, headers) = send(&app, method.clone(), &path, body).await;
        assert_eq!((s, b["error"]["code"].as_str()), (status, Some(code)), "{method} {path}: {b}");
        assert!(b["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{method} {path}: a message explains");
        assert!(headers.contains_key("requestid"), "every response carries a RequestId");
    }
});

backend_test!(garbage_never_produces_a_server_error, |app: TestApp| async move {
    use reqwest::Method;
    let ws = app.ws("Team");
    let bodies: Vec<&[u8]> = vec![
        b"",
        b"null",
        b"0",
        b"\"s\"",
        b"{}",
        br#"{"groupUserAccessRight":null}"#,
        br#"{"identifier":123}"#,
        br#"{"emailAddress":["a"]}"#,
        br#"{"profile":{"id":"bad"},"emailAddress":"a@b.c","groupUserAccessRight":"Viewer"}"#,
    ];
    for body in bodies {
        for method in [Method::POST, Method::PUT] {
            let (s, b, _) =
                send(&app, method.clone(), &format!("/v1.0/myorg/groups/{ws}/users"), Some(("application/json", body.to_vec()))).await;
            assert!((400..500).contains(&s), "{method} {:?} gave {s} {b}", String::from_utf8_lossy(body));
        }
    }
    for path in ["%00", "%FF%FE", "..%2F..", "a%2Fb", &"x".repeat(3000)] {
        let (s, _, _) = send(&app, Method::DELETE, &format!("/v1.0/myorg/groups/{ws}/users/{path}"), None).await;
        assert!((400..500).contains(&s), "DELETE {path} gave {s}");
    }
});

backend_test!(control_characters_are_refused_not_stored, |app: TestApp| async move {
    let token = app.user_token("owner").await;
    let q =
        app.http.get(app.url("/v1.0/myorg/groups")).query(&[("$filter", "name eq 'a\u{0}b'")]).bearer_auth(&token).send().await.unwrap();
    assert_eq!(q.status(), 400);
    let r = app
        .http
        .post(app.url("/v1.0/myorg/groups?workspaceV2=True"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "bad\u{0}name"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let t = app
        .http
        .post(app.url(&format!("/{}/oauth2/v2.0/token", app.tenant_id())))
        .form(&[
            ("grant_type", "password"),
            ("client_id", &app.app_id().to_string()),
            ("username", "a\u{0}b"),
            ("password", "x"),
            ("scope", ".default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(t.status(), 400);
    let k = app.http.get(app.url("/te%00nant/discovery/v2.0/keys")).send().await.unwrap();
    assert_eq!(k.status(), 400);
    let k = app.http.post(app.url("/te%00nant/oauth2/v2.0/token")).form(&[("grant_type", "client_credentials")]).send().await.unwrap();
    assert_eq!(k.status(), 400);
});

backend_test!(artifact_endpoints_answer_bad_input_in_the_power_bi_dialect, |app: TestApp| async move {
    use reqwest::Method;
    let ws = app.ws("Team");
    let ds = app.artifact("Team", "Dataset", "Sales");
    let users = format!("/v1.0/myorg/datasets/{ds}/users");
    let in_group = format!("/v1.0/myorg/groups/{ws}/datasets/{ds}/users");
    let json = "application/json";
    let cases: Vec<Case> = vec![
        (Method::POST, users.clone(), Some((json, b"{not json".to_vec())), 400, "InvalidRequest"),
        (
            Method::POST,
            users.clone(),
            Some((json, br#"{"identifier":"a@b.c","datasetUserAccessRight":"Read"}"#.to_vec())),
            400,
            "InvalidRequest",
        ),
        (
            Method::POST,
            users.clone(),
            Some((json, br#"{"identifier":"a@b.c","principalType":"User","datasetUserAccessRight":"Owner"}"#.to_vec())),
            400,
            "InvalidRequest",
        ),
        (
            Method::PUT,
            in_group.clone(),
            Some((json, br#"{"identifier":"","principalType":"User","datasetUserAccessRight":"Read"}"#.to_vec())),
            400,
            "InvalidRequest",
        ),
        (
            Method::PUT,
            in_group.clone(),
            Some((json, br#"{"identifier":"x","principalType":"None","datasetUserAccessRight":"Read"}"#.to_vec())),
            400,
            "InvalidRequest",
        ),
        (
            Method::POST,
            users.clone(),
            Some((json, "{\"identifier\":\"a\u{0}b\",\"principalType\":\"User\",\"datasetUserAccessRight\":\"Read\"}".as_bytes().to_vec())),
            400,
            "InvalidRequest",
        ),
        (Method::POST, users.clone(), Some(("text/plain", b"{}".to_vec())), 415, "UnsupportedMediaType"),
        (Method::GET, format!("/v1.0/myorg/groups/not-a-guid/datasets/{ds}/users"), None, 400, "InvalidRequest"),
        (Method::GET, "/v1.0/myorg/groups/not-a-guid/datasets".into(), None, 400, "InvalidRequest"),
        (Method::GET, format!("/v1.0/myorg/groups/{ws}/reports/not-a-guid"), None, 400, "InvalidRequest"),
        // Authorisation comes before the path: a non-admin learns nothing, even about a bad GUID.
        (Method::GET, "/v1.0/myorg/admin/datasets/not-a-guid/users".into(), None, 401, "PowerBINotAuthorizedException"),
        (Method::GET, "/v1.0/myorg/datasets/%00/users".into(), None, 404, "PowerBIEntityNotFound"),
        (Method::DELETE, format!("{users}/%00"), None, 400, "InvalidRequest"),
        (Method::PATCH, users.clone(), None, 405, "MethodNotAllowed"),
        (Method::DELETE, format!("{in_group}/x@y.z"), None, 404, "NoSuchRoute"),
    ];
    for (method, path, body, status, code) in cases {
        let (s, b, headers) = send(&app, method.clone(), &path, body).await;
        assert_eq!((s, b["error"]["code"].as_str()), (status, Some(code)), "{method} {path}: {b}");
        assert!(headers.contains_key("requestid"));
    }
    // A forged token (signed by someone else) and no token at all.
    let forged = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0aWQiOiJ4In0.c2lnbmF0dXJl";
    for path in [users.clone(), format!("/v1.0/myorg/groups/{ws}/datasets"), "/v1.0/myorg/capacities".into()] {
        let r = app.http.get(app.url(&path)).bearer_auth(forged).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
        assert!(r.headers().contains_key("www-authenticate"));
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "PowerBINotAuthorizedException");
        let r = app.http.get(app.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
});
