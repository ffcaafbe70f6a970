use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use pbi_client::ClientError;
use pbi_wire::oauth::Jwks;
use serde_json::Value;

use crate::backend_test;
use crate::helpers::*;

fn payload(token: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

fn header(token: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap()
}

#[track_caller]
fn assert_oauth_error<T: std::fmt::Debug>(r: Result<T, ClientError>, status: u16, error: &str, code: u32) {
    match r {
        Err(ClientError::OAuth { status: s, error: e, description, codes }) => {
            assert_eq!((s.as_u16(), e.as_str()), (status, error), "{description}");
            assert_eq!(codes, vec![code]);
            assert!(description.starts_with(&format!("AADSTS{code}:")), "{description}");
        }
        other => panic!("expected OAuth error {error}, got {other:?}"),
    }
}

backend_test!(client_credentials_token_is_an_entra_shaped_rs256_jwt, |app: TestApp| async move {
    let token = app.app_token().await;
    let h = header(&token);
    assert_eq!(h["alg"], "RS256");
    let claims = payload(&token);
    assert_eq!(claims["aud"], "https://analysis.windows.net/powerbi/api");
    assert_eq!(claims["iss"], format!("https://sts.windows.net/{}/", app.tenant_id()));
    assert_eq!(claims["tid"], app.tenant_id().to_string());
    assert_eq!(claims["oid"], app.app_object_id().to_string());
    assert_eq!(claims["appid"], app.app_id().to_string());
    assert_eq!(claims["idtyp"], "app");
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
    assert!(claims.get("scp").is_none());

    // The JWKS publishes the key that verifies it.
    let jwks: Jwks =
        app.http.get(app.url(&format!("/{}/discovery/v2.0/keys", app.tenant_id()))).send().await.unwrap().json().await.unwrap();
    let jwk = jwks.keys.iter().find(|k| Some(k.kid.as_str()) == h["kid"].as_str()).expect("kid in JWKS");
    let key = jsonwebtoken::DecodingKey::from_rsa_components(&jwk.n, &jwk.e).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["https://analysis.windows.net/powerbi/api"]);
    jsonwebtoken::decode::<Value>(&token, &key, &validation).expect("signature verifies with the published key");
});

backend_test!(password_grant_gives_a_delegated_token_with_scopes_and_roles, |app: TestApp| async move {
    let claims = payload(&app.user_token("admin").await);
    assert_eq!(claims["idtyp"], "user");
    assert_eq!(claims["upn"], upn("admin"));
    assert!(claims["scp"].as_str().unwrap().split(' ').any(|s| s == "Tenant.ReadWrite.All"));
    assert_eq!(claims["wids"][0], "a9ea8996-122f-4c74-9520-8edcd192826c");
    let narrow = payload(&app.user_token_scoped("viewer", "https://analysis.windows.net/powerbi/api/Workspace.Read.All openid").await);
    assert_eq!(narrow["scp"], "Workspace.Read.All");
});

backend_test!(http_basic_client_authentication_is_accepted, |app: TestApp| async move {
    let response = app
        .http
        .post(app.url(&format!("/{}/oauth2/v2.0/token", app.fixture.tenant.domain)))
        .basic_auth(app.app_id(), Some(SECRET))
        .form(&[("grant_type", "client_credentials"), ("scope", "https://analysis.windows.net/powerbi/api/.default")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
});

backend_test!(token_errors_carry_entra_codes, |app: TestApp| async move {
    let tc = app.token_client();
    let tenant = app.tenant_id().to_string();
    let app_id = app.app_id().to_string();
    assert_oauth_error(tc.client_credentials(&uuid::Uuid::new_v4().to_string(), &app_id, SECRET).await, 400, "invalid_request", 90002);
    assert_oauth_error(tc.client_credentials(&tenant, &uuid::Uuid::new_v4().to_string(), SECRET).await, 400, "unauthorized_client", 700016);
    assert_oauth_error(tc.client_credentials(&tenant, &app_id, "wrong").await, 401, "invalid_client", 7000215);
    assert_oauth_error(tc.client_credentials(&tenant, &app_id, EXPIRED_SECRET).await, 401, "invalid_client", 7000222);
    assert_oauth_error(tc.password(&tenant, &app_id, &upn("owner"), "wrong", ".default").await, 400, "invalid_grant", 50126);
    assert_oauth_error(
        tc.password(&tenant, &app_id, &upn("disabled"), PASSWORD, "https://analysis.windows.net/powerbi/api/.default").await,
        400,
        "invalid_grant",
        50057,
    );
    assert_oauth_error(
        tc.password(&tenant, &app_id, &upn("nobody"), PASSWORD, "https://analysis.windows.net/powerbi/api/.default").await,
        400,
        "invalid_grant",
        50034,
    );
    let raw = |form: Vec<(&'static str, String)>| {
        let http = app.http.clone();
        let url = app.url(&format!("/{tenant}/oauth2/v2.0/token"));
        async move { http.post(url).form(&form).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let body = raw(vec![("client_id", app_id.clone())]).await;
    assert_eq!((body["error"].as_str(), body["error_codes"][0].as_u64()), (Some("invalid_request"), Some(900144)));
    let body = raw(vec![("grant_type", "urn:ietf:params:oauth:grant-type:saml1_1-bearer".into()), ("client_id", app_id.clone())]).await;
    assert_eq!(body["error"], "unsupported_grant_type");
    let body = raw(vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", app_id.clone()),
        ("client_secret", SECRET.into()),
        ("scope", "https://analysis.windows.net/powerbi/api/Workspace.Read.All".into()),
    ])
    .await;
    assert_eq!((body["error"].as_str(), body["error_codes"][0].as_u64()), (Some("invalid_scope"), Some(1002012)));
});

backend_test!(expired_and_forged_tokens_get_401_with_a_bearer_challenge, |app: TestApp| async move {
    let token = app.app_token().await;
    let get = |token: String| {
        let http = app.http.clone();
        let url = app.url("/v1.0/myorg/groups");
        async move { http.get(url).bearer_auth(token).send().await.unwrap() }
    };
    assert_eq!(get(token.clone()).await.status(), 200);

    // Forged: same claims, signed by a key that is not ours.
    let foreign = pbi_server::auth::KeyRing::from_stored(&pbi_server::auth::keys::generate().unwrap()).unwrap();
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    h.kid = header(&token)["kid"].as_str().map(str::to_string);
    let forged = jsonwebtoken::encode(&h, &payload(&token), &foreign.encoding).unwrap();
    let r = get(forged).await;
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "PowerBINotAuthorizedException");

    // Expired: past lifetime plus the clock skew, on the injected clock.
    app.clock.advance(std::time::Duration::from_secs(3600 + 300 + 1));
    let r = get(token).await;
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    assert!(r.text().await.unwrap().contains("expired"));

    let r = app.http.get(app.url("/v1.0/myorg/groups")).header("Authorization", "Basic Zm9vOmJhcg==").send().await.unwrap();
    assert_eq!(r.status(), 401);
});

#[tokio::test]
async fn signing_key_and_data_survive_a_restart() {
    let (url, _dir) = fresh_database(Backend::Sqlite).await.unwrap();
    let clock = pbi_server::ManualClock::starting_now();
    let config = pbi_server::Config { listen: "127.0.0.1:0".into(), database: url.clone(), demo: true, ..Default::default() };
    let first = pbi_server::Application::build(config.clone(), clock.clone()).await.unwrap();
    let demo = first.demo().unwrap().clone();
    let kid1 = first.state().tokens.keys().kid.clone();
    first.state().store.close().await;
    drop(first);
    let second = pbi_server::Application::build(config, clock).await.unwrap();
    assert_eq!(second.state().tokens.keys().kid, kid1, "the signing key is kept in the store");
    assert_eq!(second.demo().unwrap(), &demo, "the demo tenant is created once and kept");
    assert_eq!(second.state().store.count_tenants().await.unwrap(), 1);
}

backend_test!(password_grant_checks_a_confidential_clients_secret, |app: TestApp| async move {
    let form = |secret: &'static str| {
        vec![
            ("grant_type", "password".to_string()),
            ("client_id", app.app_id().to_string()),
            ("client_secret", secret.to_string()),
            ("username", upn("owner")),
            ("password", PASSWORD.to_string()),
            ("scope", "https://analysis.windows.net/powerbi/api/.default".to_string()),
        ]
    };
    let url = app.url(&format!("/{}/oauth2/v2.0/token", app.tenant_id()));
    let wrong: Value = app.http.post(&url).form(&form("wrong")).send().await.unwrap().json().await.unwrap();
    assert_eq!(wrong["error_codes"][0], 7000215);
    let right = app.http.post(&url).form(&form(SECRET)).send().await.unwrap();
    assert_eq!(right.status(), 200);
});

backend_test!(operations_authenticate_before_looking_for_the_item, |app: TestApp| async move {
    let path = format!("/v1.0/myorg/admin/pipelines/{}/users", uuid::Uuid::new_v4());
    let r = app.http.get(app.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = app.http.get(app.url(&path)).bearer_auth(app.user_token("admin").await).send().await.unwrap();
    assert_eq!(r.status(), 404);
});

backend_test!(graph_tokens_open_graph_and_only_graph, |app: TestApp| async move {
    let form = [
        ("grant_type", "client_credentials".to_string()),
        ("client_id", app.app_id().to_string()),
        ("client_secret", SECRET.to_string()),
        ("scope", "https://graph.microsoft.com/.default".to_string()),
    ];
    let body: Value =
        app.http.post(app.url(&format!("/{}/oauth2/v2.0/token", app.tenant_id()))).form(&form).send().await.unwrap().json().await.unwrap();
    let token = body["access_token"].as_str().expect("a Graph token").to_string();
    let claims = payload(&token);
    assert_eq!(claims["aud"], "https://graph.microsoft.com");
    assert!(claims["roles"].as_array().unwrap().iter().any(|r| r == "User.ReadWrite.All"));
    let graph = app.http.get(app.url("/graph/v1.0/users?$top=1")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(graph.status(), 200);
    // Power BI refuses a token for another audience, even a valid one of the same tenant.
    let pbi = app.http.get(app.url("/v1.0/myorg/groups")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(pbi.status(), 401);
    assert!(pbi.text().await.unwrap().contains("not for the Power BI API"));
    // Unknown resources are refused at the token endpoint.
    let mut bad = form.clone();
    bad[3].1 = "https://vault.azure.net/.default".into();
    let body: Value =
        app.http.post(app.url(&format!("/{}/oauth2/v2.0/token", app.tenant_id()))).form(&bad).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["error_codes"][0], 500011);
});

/// Post a token request to the tenant's v2.0 endpoint; the JSON answer.
async fn token_request(app: &TestApp, form: &[(&str, String)]) -> Value {
    app.http.post(app.url(&format!("/{}/oauth2/v2.0/token", app.tenant_id()))).form(form).send().await.unwrap().json().await.unwrap()
}

backend_test!(users_get_graph_tokens_for_graph_and_graph_refuses_power_bi_tokens, |app: TestApp| async move {
    let password = |scope: &str| {
        vec![
            ("grant_type", "password".to_string()),
            ("client_id", app.app_id().to_string()),
            ("username", upn("admin")),
            ("password", PASSWORD.to_string()),
            ("scope", scope.to_string()),
        ]
    };
    // A user's Power BI token is for Power BI only: Graph answers with its own 401.
    let pbi = app.user_token("admin").await;
    let r = app.http.get(app.url("/graph/v1.0/users?$top=1")).bearer_auth(&pbi).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    assert_eq!(body["error"]["message"], "Access token validation failure. Invalid audience.");

    // Asking for Graph gives a Graph token: Graph's audience, its scopes in short form.
    let body = token_request(&app, &password("https://graph.microsoft.com/.default offline_access")).await;
    let graph = body["access_token"].as_str().unwrap_or_else(|| panic!("{body}")).to_string();
    let claims = payload(&graph);
    assert_eq!(claims["aud"], "https://graph.microsoft.com");
    assert_eq!(claims["upn"], upn("admin"));
    assert!(claims["scp"].as_str().unwrap().split(' ').any(|s| s == "User.Read.All"), "{claims}");
    assert!(body["scope"].as_str().unwrap().split(' ').any(|s| s == "User.ReadWrite.All"), "{body}");
    let r = app.http.get(app.url("/graph/v1.0/users?$top=1")).bearer_auth(&graph).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = app.http.get(app.url("/v1.0/myorg/groups")).bearer_auth(&graph).send().await.unwrap();
    assert_eq!(r.status(), 401, "Power BI refuses the Graph token");

    // Its refresh token is good for either resource, each asked for by scope.
    let refresh = body["refresh_token"].as_str().expect("offline_access gives a refresh token").to_string();
    let redeem = |refresh: &str, scope: &str| {
        vec![
            ("grant_type", "refresh_token".to_string()),
            ("client_id", app.app_id().to_string()),
            ("refresh_token", refresh.to_string()),
            ("scope", scope.to_string()),
        ]
    };
    let body = token_request(&app, &redeem(&refresh, "https://analysis.windows.net/powerbi/api/.default")).await;
    assert_eq!(payload(body["access_token"].as_str().unwrap())["aud"], "https://analysis.windows.net/powerbi/api");
    // Each refresh rotates the token: the next one uses the new token.
    let refresh = body["refresh_token"].as_str().unwrap().to_string();
    let body = token_request(&app, &redeem(&refresh, "User.Read GroupMember.Read.All")).await;
    let claims = payload(body["access_token"].as_str().unwrap_or_else(|| panic!("{body}")));
    assert_eq!(claims["aud"], "https://graph.microsoft.com");
    assert_eq!(claims["scp"], "User.Read GroupMember.Read.All");

    // One resource per request, and only permissions Graph has.
    let body =
        token_request(&app, &password("https://graph.microsoft.com/User.Read https://analysis.windows.net/powerbi/api/.default")).await;
    assert_eq!(body["error"], "invalid_scope");
    assert_eq!(body["error_codes"][0], 28000);
    let body = token_request(&app, &password("https://graph.microsoft.com/Mail.Send")).await;
    assert_eq!(body["error"], "invalid_scope");
    assert_eq!(body["error_codes"][0], 70011);
});

/// Post a token request to the tenant's v1 endpoint (`resource=`); status and JSON answer.
async fn v1_token_request(app: &TestApp, tenant: &str, form: &[(&str, String)]) -> (u16, Value) {
    let r = app.http.post(app.url(&format!("/{tenant}/oauth2/token"))).form(form).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

backend_test!(the_v1_endpoint_issues_for_a_resource_in_the_v1_shape, |app: TestApp| async move {
    let tid = app.tenant_id().to_string();
    let pbi = "https://analysis.windows.net/powerbi/api".to_string();
    let client = || ("client_id", app.app_id().to_string());

    // Client credentials: exactly the v1 fields, lifetimes as strings.
    let (status, body) = v1_token_request(
        &app,
        &tid,
        &[("grant_type", "client_credentials".into()), client(), ("client_secret", SECRET.into()), ("resource", pbi.clone())],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mut keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["access_token", "expires_in", "expires_on", "ext_expires_in", "not_before", "resource", "token_type"]);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["resource"], pbi);
    let token = body["access_token"].as_str().unwrap();
    let claims = payload(token);
    assert_eq!(body["expires_in"].as_str().unwrap().parse::<i64>().unwrap(), 3599);
    assert_eq!(body["expires_on"].as_str().unwrap(), claims["exp"].to_string());
    assert_eq!(body["not_before"].as_str().unwrap(), claims["nbf"].to_string());
    assert_eq!((claims["ver"].as_str(), claims["aud"].as_str()), (Some("1.0"), Some(pbi.as_str())));
    assert_eq!(claims["appid"], app.app_id().to_string());
    let groups = app.http.get(app.url("/v1.0/myorg/admin/groups?$top=1")).bearer_auth(token).send().await.unwrap();
    assert_eq!(groups.status(), 200, "Power BI accepts it");

    // Password (by domain): a delegated token with `upn` and `unique_name`, and a refresh token.
    let (status, body) = v1_token_request(
        &app,
        DOMAIN,
        &[
            ("grant_type", "password".into()),
            client(),
            ("username", upn("member")),
            ("password", PASSWORD.into()),
            ("resource", pbi.clone()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let claims = payload(body["access_token"].as_str().unwrap());
    assert_eq!((claims["upn"].as_str(), claims["unique_name"].as_str()), (Some(upn("member").as_str()), Some(upn("member").as_str())));
    assert!(body["scope"].as_str().unwrap().split(' ').any(|s| s == "Workspace.Read.All"), "short names: {body}");
    assert!(body.get("id_token").is_none());
    let groups = app.http.get(app.url("/v1.0/myorg/groups")).bearer_auth(body["access_token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(groups.status(), 200);

    // The refresh token, for another resource (Graph), with `scope=openid`.
    let (status, refreshed) = v1_token_request(
        &app,
        &tid,
        &[
            ("grant_type", "refresh_token".into()),
            client(),
            ("refresh_token", body["refresh_token"].as_str().unwrap().into()),
            ("resource", "https://graph.microsoft.com".into()),
            ("scope", "openid".into()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(refreshed["resource"], "https://graph.microsoft.com");
    assert_eq!(payload(refreshed["access_token"].as_str().unwrap())["aud"], "https://graph.microsoft.com");
    assert!(refreshed["refresh_token"].is_string() && refreshed["id_token"].is_string());

    // Refusals in Entra's words.
    let cc = |resource: Option<&str>, grant: &str| {
        let mut f = vec![("grant_type", grant.to_string()), client(), ("client_secret", SECRET.to_string())];
        if let Some(r) = resource {
            f.push(("resource", r.to_string()));
        }
        f
    };
    let (status, e) = v1_token_request(&app, &tid, &cc(None, "client_credentials")).await;
    assert_eq!((status, e["error_codes"][0].as_u64()), (400, Some(900144)), "{e}");
    let (status, e) = v1_token_request(&app, &tid, &cc(Some("https://vault.azure.net"), "client_credentials")).await;
    assert_eq!((status, e["error"].as_str(), e["error_codes"][0].as_u64()), (400, Some("invalid_resource"), Some(500011)), "{e}");
    let (status, e) = v1_token_request(&app, &tid, &cc(Some(&pbi), "urn:ietf:params:oauth:grant-type:device_code")).await;
    assert_eq!((status, e["error_codes"][0].as_u64()), (400, Some(70003)), "{e}");
    let mut wrong = cc(Some(&pbi), "client_credentials");
    wrong[2].1 = "wrong".into();
    let (status, e) = v1_token_request(&app, &tid, &wrong).await;
    assert_eq!((status, e["error_codes"][0].as_u64()), (401, Some(7000215)), "{e}");
    let (status, e) = v1_token_request(&app, "nope.onmicrosoft.com", &cc(Some(&pbi), "client_credentials")).await;
    assert_eq!((status, e["error_codes"][0].as_u64()), (400, Some(90002)), "{e}");
});

backend_test!(granted_app_roles_are_in_app_tokens_and_keep_the_app_out_of_admin_reads, |app: TestApp| async move {
    let capacity = app.fixture.capacities["Fixture F64"];
    let path = format!("/v1.0/myorg/admin/capacities/{capacity}/users");
    let get = |token: String, path: String| {
        let request = app.http.get(app.url(&path)).bearer_auth(token);
        async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // Without application permissions (the reference's requirement), the admin read answers.
    let token = app.app_token().await;
    assert!(payload(&token).get("roles").is_none());
    let (status, body) = get(token, path.clone()).await;
    assert_eq!(status, 200, "{body}");

    // An administrator grants Tenant.Read.All to the application.
    let mut tx = app.store.external_write().await.unwrap();
    sqlx::query("UPDATE service_principals SET app_roles = $1 WHERE tenant_id = $2 AND app_id = $3")
        .bind(r#"["Tenant.Read.All"]"#)
        .bind(app.tenant_id().to_string())
        .bind(app.app_id().to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let token = app.app_token().await;
    assert_eq!(payload(&token)["roles"], serde_json::json!(["Tenant.Read.All"]));
    let (status, body) = get(token.clone(), path.clone()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("PowerBINotAuthorizedException")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("Tenant.Read.All"), "{body}");
    let (status, _) = get(token, "/v1.0/myorg/admin/groups?$top=1".into()).await;
    assert_eq!(status, 401, "every read-only admin API refuses it");
    // Non-admin calls and Graph tokens are unaffected.
    let (status, body) = get(app.app_token().await, "/v1.0/myorg/groups".into()).await;
    assert_eq!(status, 200, "{body}");
    let graph = app.graph_app_token().await;
    assert!(!payload(&graph)["roles"].as_array().unwrap().iter().any(|r| r == "Tenant.Read.All"));

    // A spec names only Power BI's application permissions; export keeps them.
    let spec = pbi_server::tenant::export(&app.store, app.tenant_id()).await.unwrap().unwrap();
    let sp = spec.service_principals.iter().find(|s| s.app_id == Some(app.app_id())).unwrap();
    assert_eq!(sp.app_roles, vec!["Tenant.Read.All"]);
    let spec = pbi_server::tenant::TenantSpec {
        name: "App roles".into(),
        domain: "approles.onmicrosoft.com".into(),
        service_principals: vec![pbi_server::tenant::ServicePrincipalSpec {
            display_name: "mailer".into(),
            app_roles: vec!["Mail.Send".into()],
            ..Default::default()
        }],
        ..Default::default()
    };
    let refused = pbi_server::tenant::provision(&app.store, &*app.clock, &spec).await.map(|_| ()).unwrap_err();
    assert!(refused.to_string().contains("Mail.Send"), "{refused}");
});
