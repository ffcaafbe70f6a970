use serde_json::Value;

use crate::backend_test;
use crate::helpers::*;

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
        (Method::GET, "/v1.0/myorg/datasets/abc/users".into(), None, 501, "NotImplemented"),
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
