//! The identity plane's OAuth2/OIDC side: OpenID configuration, instance discovery, user realm,
//! refresh tokens (and their refusal), ID tokens, and HTTPS serving.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use pbi_wire::oauth::{Jwks, OpenIdConfiguration};
use serde_json::Value;

use crate::backend_test;
use crate::helpers::*;

const PBI_DEFAULT: &str = "https://analysis.windows.net/powerbi/api/.default";
/// What MSAL sends with every user flow.
const MSAL_SCOPE: &str = "https://analysis.windows.net/powerbi/api/.default offline_access openid profile";

fn payload(token: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

fn header(token: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap()
}

impl TestApp {
    /// POST the token endpoint of the fixture tenant with a form; the status and the JSON body.
    async fn token_form(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let r = self.http.post(self.url(&format!("/{}/oauth2/v2.0/token", self.tenant_id()))).form(form).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// The password grant as MSAL's public client sends it.
    async fn msal_password(&self, local: &str) -> Value {
        let (app_id, username) = (self.app_id().to_string(), upn(local));
        let (status, body) = self
            .token_form(&[
                ("grant_type", "password"),
                ("client_id", &app_id),
                ("username", &username),
                ("password", PASSWORD),
                ("scope", MSAL_SCOPE),
                ("client_info", "1"),
            ])
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn refresh(&self, refresh_token: &str, scope: &str) -> (u16, Value) {
        let app_id = self.app_id().to_string();
        self.token_form(&[
            ("grant_type", "refresh_token"),
            ("client_id", &app_id),
            ("refresh_token", refresh_token),
            ("scope", scope),
            ("client_info", "1"),
        ])
        .await
    }

    async fn get_json(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn groups_status(&self, token: &str) -> u16 {
        self.http.get(self.url("/v1.0/myorg/groups")).bearer_auth(token).send().await.unwrap().status().as_u16()
    }
}

#[track_caller]
fn assert_oauth(status_and_body: (u16, Value), status: u16, error: &str, code: u64) {
    let (s, body) = status_and_body;
    assert_eq!((s, body["error"].as_str()), (status, Some(error)), "{body}");
    assert_eq!(body["error_codes"], serde_json::json!([code]), "{body}");
    assert!(body["error_description"].as_str().unwrap().starts_with(&format!("AADSTS{code}: ")), "{body}");
    assert!(!body["timestamp"].as_str().unwrap().is_empty(), "{body}");
}

backend_test!(openid_configuration_has_entras_v2_shape, |app: TestApp| async move {
    let tid = app.tenant_id();
    let (status, doc) = app.get_json(&format!("/{tid}/v2.0/.well-known/openid-configuration")).await;
    assert_eq!(status, 200, "{doc}");
    let b = &app.base;
    assert_eq!(doc["issuer"], format!("{b}/{tid}/v2.0"));
    assert_eq!(doc["token_endpoint"], format!("{b}/{tid}/oauth2/v2.0/token"));
    assert_eq!(doc["authorization_endpoint"], format!("{b}/{tid}/oauth2/v2.0/authorize"));
    assert_eq!(doc["jwks_uri"], format!("{b}/{tid}/discovery/v2.0/keys"));
    assert_eq!(doc["device_authorization_endpoint"], format!("{b}/{tid}/oauth2/v2.0/devicecode"));
    assert_eq!(doc["end_session_endpoint"], format!("{b}/{tid}/oauth2/v2.0/logout"));
    assert_eq!(doc["id_token_signing_alg_values_supported"], serde_json::json!(["RS256"]));
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_post", "private_key_jwt", "client_secret_basic"])
    );
    assert_eq!(doc["subject_types_supported"], serde_json::json!(["pairwise"]));
    assert_eq!(doc["scopes_supported"], serde_json::json!(["openid", "profile", "email", "offline_access"]));
    assert!(doc["response_types_supported"].as_array().unwrap().contains(&"code".into()));
    assert!(doc["claims_supported"].as_array().unwrap().contains(&"preferred_username".into()));
    assert_eq!(doc["tenant_region_scope"], "WW");
    assert_eq!(doc["cloud_instance_name"], "microsoftonline.com");
    assert_eq!(doc["msgraph_host"], "graph.microsoft.com");
    assert_eq!(doc["rbac_url"], "https://pas.windows.net");
    assert!(doc.get("microsoft_multi_refresh_token").is_none(), "v1 only");
    let typed: OpenIdConfiguration = serde_json::from_value(doc.clone()).unwrap();

    // The domain names the same tenant, and the document speaks in tenant ids, as Entra's does.
    let (_, by_domain) = app.get_json(&format!("/{}/v2.0/.well-known/openid-configuration", DOMAIN.to_uppercase())).await;
    assert_eq!(by_domain, doc);

    // Follow the document like a client: its token endpoint issues, its JWKS holds the key.
    let r = app
        .http
        .post(&typed.token_endpoint)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &app.app_id().to_string()),
            ("client_secret", SECRET),
            ("scope", PBI_DEFAULT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    let jwks: Jwks = app.http.get(&typed.jwks_uri).send().await.unwrap().json().await.unwrap();
    assert!(jwks.keys.iter().any(|k| Some(k.kid.as_str()) == header(&token)["kid"].as_str()));

    // Multi-tenant aliases: the issuer keeps Entra's literal placeholder.
    for alias in ["common", "organizations"] {
        let (status, doc) = app.get_json(&format!("/{alias}/v2.0/.well-known/openid-configuration")).await;
        assert_eq!(status, 200);
        assert_eq!(doc["issuer"], format!("{b}/{{tenantid}}/v2.0"));
        assert_eq!(doc["token_endpoint"], format!("{b}/{alias}/oauth2/v2.0/token"));
        assert_eq!(doc["tenant_region_scope"], Value::Null);
        let jwks: Jwks = app.http.get(doc["jwks_uri"].as_str().unwrap()).send().await.unwrap().json().await.unwrap();
        assert_eq!(jwks.keys.len(), 1, "{alias} keys");
    }

    // The v1 document: its issuer is the one in the (v1) access tokens.
    let (status, v1) = app.get_json(&format!("/{tid}/.well-known/openid-configuration")).await;
    assert_eq!(status, 200);
    assert_eq!(v1["issuer"], payload(&token)["iss"]);
    assert_eq!(v1["token_endpoint"], format!("{b}/{tid}/oauth2/token"));
    assert_eq!(v1["jwks_uri"], format!("{b}/common/discovery/keys"));
    assert_eq!(v1["microsoft_multi_refresh_token"], true);
    let jwks: Jwks = app.http.get(v1["jwks_uri"].as_str().unwrap()).send().await.unwrap().json().await.unwrap();
    assert_eq!(jwks.keys.len(), 1);
});

// The two versions are built from one template: pin what each says on its own (Entra's lists,
// in Entra's order) so neither leaks into the other.
backend_test!(openid_configurations_keep_their_own_lists_and_endpoints, |app: TestApp| async move {
    let tid = app.tenant_id();
    let b = &app.base;
    let (_, v2) = app.get_json(&format!("/{tid}/v2.0/.well-known/openid-configuration")).await;
    let (_, v1) = app.get_json(&format!("/{tid}/.well-known/openid-configuration")).await;
    let common = [
        "sub",
        "iss",
        "cloud_instance_name",
        "cloud_instance_host_name",
        "cloud_graph_host_name",
        "msgraph_host",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "acr",
    ];
    let claims = |more: &[&str]| serde_json::json!([&common[..], more].concat());
    assert_eq!(v2["claims_supported"], claims(&["nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"]));
    assert_eq!(v1["claims_supported"], claims(&["amr", "nonce", "email", "given_name", "family_name", "nickname"]));
    assert_eq!(v2["response_types_supported"], serde_json::json!(["code", "id_token", "code id_token", "id_token token"]));
    assert_eq!(v1["response_types_supported"], serde_json::json!(["code", "id_token", "code id_token", "token id_token", "token"]));
    assert_eq!(v1["scopes_supported"], serde_json::json!(["openid"]));
    for (doc, oauth) in [(&v2, format!("{b}/{tid}/oauth2/v2.0")), (&v1, format!("{b}/{tid}/oauth2"))] {
        assert_eq!(doc["authorization_endpoint"], format!("{oauth}/authorize"));
        assert_eq!(doc["device_authorization_endpoint"], format!("{oauth}/devicecode"));
        assert_eq!(doc["end_session_endpoint"], format!("{oauth}/logout"));
        assert_eq!(doc["response_modes_supported"], serde_json::json!(["query", "fragment", "form_post"]));
        assert_eq!(doc["request_uri_parameter_supported"], false);
        assert_eq!((doc["http_logout_supported"].as_bool(), doc["frontchannel_logout_supported"].as_bool()), (Some(true), Some(true)));
        assert_eq!(doc["tenant_region_scope"], "WW");
    }
    let (_, alias_v1) = app.get_json("/common/.well-known/openid-configuration").await;
    assert_eq!(alias_v1["issuer"], "https://sts.windows.net/{tenantid}/");
    assert_eq!(alias_v1["token_endpoint"], format!("{b}/common/oauth2/token"));
    assert_eq!(alias_v1["tenant_region_scope"], Value::Null);
});

backend_test!(unknown_tenants_get_aadsts90002_on_every_identity_path, |app: TestApp| async move {
    let other = uuid::Uuid::new_v4();
    for path in [
        format!("/{other}/v2.0/.well-known/openid-configuration"),
        format!("/{other}/.well-known/openid-configuration"),
        "/nosuch.onmicrosoft.com/v2.0/.well-known/openid-configuration".to_string(),
        "/consumers/v2.0/.well-known/openid-configuration".to_string(),
        "/%FF%FE/v2.0/.well-known/openid-configuration".to_string(),
        "/a%00b/v2.0/.well-known/openid-configuration".to_string(),
        format!("/{other}/discovery/v2.0/keys"),
        format!("/{other}/discovery/keys"),
    ] {
        let r = app.http.get(app.url(&path)).send().await.unwrap();
        assert_eq!(r.headers()["cache-control"], "no-store, no-cache", "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{path}: {body}");
        assert_eq!(body["error_codes"], serde_json::json!([90002]), "{path}: {body}");
    }
    let r = app.http.post(app.url("/%FF/oauth2/v2.0/token")).form(&[("grant_type", "client_credentials")]).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error_codes"][0], 90002);
});

backend_test!(instance_discovery_and_user_realm_answer_like_entra, |app: TestApp| async move {
    let tid = app.tenant_id();
    let host = app.base.strip_prefix("http://").unwrap().to_string();
    let discover = |endpoint: String| {
        let (http, url) = (app.http.clone(), app.url("/common/discovery/instance"));
        async move {
            let r = http.get(url).query(&[("api-version", "1.1"), ("authorization_endpoint", &endpoint)]).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    // What MSAL Python sends for an authority it does not know.
    let (status, body) = discover(format!("https://{host}/{tid}/oauth2/v2.0/authorize")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tenant_discovery_endpoint"], format!("{}/{tid}/v2.0/.well-known/openid-configuration", app.base));
    assert_eq!(body["api-version"], "1.1");
    assert_eq!(body["metadata"], serde_json::json!([{ "preferred_network": host, "preferred_cache": host, "aliases": [host] }]));
    let (status, _) = app.get_json(body["tenant_discovery_endpoint"].as_str().unwrap().strip_prefix(&app.base).unwrap()).await;
    assert_eq!(status, 200, "the endpoint it names answers");
    // v1 authorize endpoints lead to the v1 document; the tenant segment is kept as given.
    let (_, body) = discover(format!("https://{host}/{DOMAIN}/oauth2/authorize")).await;
    assert_eq!(body["tenant_discovery_endpoint"], format!("{}/{DOMAIN}/.well-known/openid-configuration", app.base));
    let (_, body) = discover("https://login.microsoftonline.com/common/oauth2/authorize".into()).await;
    assert_eq!(body["tenant_discovery_endpoint"], format!("{}/common/.well-known/openid-configuration", app.base));
    // Nonsense.
    for bad in ["not a url", "https://host", "https://host//x", "ftp://host/t/oauth2/authorize", "https://host/a<b>/oauth2/authorize"] {
        assert_oauth(discover(bad.into()).await, 400, "invalid_instance", 50049);
    }
    let (status, body) = app.get_json("/common/discovery/instance?api-version=1.1").await;
    assert_oauth((status, body), 400, "invalid_request", 900144);

    // The user realm MSAL asks before the password grant.
    let (status, realm) = app.get_json(&format!("/common/userrealm/{}?api-version=1.0", upn("owner"))).await;
    assert_eq!(status, 200);
    assert_eq!(
        realm,
        serde_json::json!({"ver":"1.0","account_type":"Managed","domain_name":DOMAIN,"cloud_instance_name":"microsoftonline.com","cloud_audience_urn":"urn:federation:MicrosoftOnline"})
    );
    let (_, realm) = app.get_json("/common/userrealm/someone@elsewhere.example?api-version=1.0").await;
    assert_eq!(realm["account_type"], "Unknown");
    assert!(realm.get("domain_name").is_none());
    let (status, realm) = app.get_json("/common/userrealm/%FF%00").await;
    assert_eq!((status, realm["account_type"].as_str()), (200, Some("Unknown")));
});

backend_test!(password_grant_with_offline_access_gives_refresh_id_token_and_client_info, |app: TestApp| async move {
    let body = app.msal_password("owner").await;
    let (tid, oid, client) = (app.tenant_id().to_string(), app.user_id("owner").to_string(), app.app_id().to_string());
    let refresh = body["refresh_token"].as_str().expect("offline_access gives a refresh token");
    assert_eq!(header(refresh)["typ"], "rt+jwt");
    let rt = payload(refresh);
    assert_eq!(
        (rt["token_use"].as_str(), rt["aud"].as_str(), rt["tid"].as_str()),
        (Some("refresh"), Some(client.as_str()), Some(tid.as_str()))
    );
    assert_eq!(rt["exp"].as_i64().unwrap() - rt["iat"].as_i64().unwrap(), 90 * 24 * 3600);

    let id = payload(body["id_token"].as_str().expect("openid gives an ID token"));
    assert_eq!(id["aud"], client);
    assert_eq!(id["iss"], format!("{}/{tid}/v2.0", app.base));
    assert_eq!(id["tid"], tid);
    assert_eq!(id["oid"], oid);
    assert_eq!(id["ver"], "2.0");
    assert_eq!(id["preferred_username"], upn("owner"));
    assert_eq!(id["name"], "Olivia Owner");
    assert!(id.get("email").is_none(), "no email scope, no email claim");
    assert_ne!(id["sub"], oid, "sub is pairwise");

    let info: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body["client_info"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(info, serde_json::json!({ "uid": oid, "utid": tid }));

    // Without offline_access, openid or client_info: a bare access token, as before.
    let bare = app.user_token_scoped("owner", PBI_DEFAULT).await;
    assert!(!bare.is_empty());
    let (status, plain) = app
        .token_form(&[
            ("grant_type", "password"),
            ("client_id", &client),
            ("username", &upn("owner")),
            ("password", PASSWORD),
            ("scope", PBI_DEFAULT),
        ])
        .await;
    assert_eq!(status, 200);
    for absent in ["refresh_token", "id_token", "client_info"] {
        assert!(plain.get(absent).is_none(), "{absent} in {plain}");
    }
    // Client credentials never carry user tokens.
    let (_, app_body) = app
        .token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client),
            ("client_secret", SECRET),
            ("scope", PBI_DEFAULT),
            ("client_info", "1"),
        ])
        .await;
    assert!(app_body.get("refresh_token").is_none() && app_body.get("client_info").is_none(), "{app_body}");
});

backend_test!(refresh_token_grant_issues_fresh_working_tokens, |app: TestApp| async move {
    let first = app.msal_password("owner").await;
    let refresh = first["refresh_token"].as_str().unwrap().to_string();
    app.clock.advance(Duration::from_secs(2 * 3600)); // the first access token has expired
    assert_eq!(app.groups_status(first["access_token"].as_str().unwrap()).await, 401);

    let (status, body) = app.refresh(&refresh, MSAL_SCOPE).await;
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(app.groups_status(access).await, 200);
    let claims = payload(access);
    assert_eq!(claims["oid"], app.user_id("owner").to_string());
    assert_eq!(claims["idtyp"], "user");
    assert!(claims["scp"].as_str().unwrap().split(' ').any(|s| s == "Workspace.ReadWrite.All"));
    let rotated = body["refresh_token"].as_str().expect("a refresh returns a new refresh token");
    assert_ne!(rotated, refresh);
    assert!(body["id_token"].is_string() && body["client_info"].is_string(), "{body}");

    // Narrower scopes on refresh: the access token has them, the new refresh token keeps all.
    let (status, narrow) = app.refresh(rotated, "https://analysis.windows.net/powerbi/api/Workspace.Read.All offline_access").await;
    assert_eq!(status, 200, "{narrow}");
    assert_eq!(payload(narrow["access_token"].as_str().unwrap())["scp"], "Workspace.Read.All");
    assert!(narrow.get("id_token").is_none(), "no openid, no ID token");
    let (status, wide_again) = app.refresh(narrow["refresh_token"].as_str().unwrap(), PBI_DEFAULT).await;
    assert_eq!(status, 200);
    assert!(payload(wide_again["access_token"].as_str().unwrap())["scp"].as_str().unwrap().contains("Tenant.ReadWrite.All"));

    // A narrow grant cannot be widened by refreshing.
    let app_id = app.app_id().to_string();
    let (_, narrow_grant) = app
        .token_form(&[
            ("grant_type", "password"),
            ("client_id", &app_id),
            ("username", &upn("viewer")),
            ("password", PASSWORD),
            ("scope", "https://analysis.windows.net/powerbi/api/Workspace.Read.All offline_access"),
        ])
        .await;
    let narrow_rt = narrow_grant["refresh_token"].as_str().unwrap();
    assert_oauth(
        app.refresh(narrow_rt, "https://analysis.windows.net/powerbi/api/Workspace.ReadWrite.All").await,
        400,
        "invalid_grant",
        65001,
    );
    assert_oauth(app.refresh(narrow_rt, "https://analysis.windows.net/powerbi/api/Bogus.All").await, 400, "invalid_scope", 70011);

    // 90 days of inactivity expire a refresh token (injected clock).
    app.clock.advance(Duration::from_secs(90 * 24 * 3600));
    assert_oauth(app.refresh(rotated, MSAL_SCOPE).await, 400, "invalid_grant", 700082);
});

backend_test!(refresh_is_refused_once_the_user_is_disabled_or_deleted, |app: TestApp| async move {
    let member = app.msal_password("member").await;
    let contributor = app.msal_password("contributor").await;
    let member_access = member["access_token"].as_str().unwrap();
    let (member_rt, contributor_rt) = (member["refresh_token"].as_str().unwrap(), contributor["refresh_token"].as_str().unwrap());
    let (status, rotated) = app.refresh(member_rt, MSAL_SCOPE).await;
    assert_eq!(status, 200);
    let member_rt = rotated["refresh_token"].as_str().unwrap();

    app.sql("UPDATE users SET account_enabled = 0 WHERE tenant_id = $1 AND id = $2", "member").await;
    assert_oauth(app.refresh(member_rt, MSAL_SCOPE).await, 400, "invalid_grant", 50057);
    // An access token already issued stays valid until it expires, as with Entra.
    assert_eq!(app.groups_status(member_access).await, 200);

    app.sql("UPDATE users SET deleted_at = 1 WHERE tenant_id = $1 AND id = $2", "contributor").await;
    assert_oauth(app.refresh(contributor_rt, MSAL_SCOPE).await, 400, "invalid_grant", 50034);

    // Enabled again: the same refresh token works again (a refused attempt does not spend it).
    app.sql("UPDATE users SET account_enabled = 1 WHERE tenant_id = $1 AND id = $2", "member").await;
    assert_eq!(app.refresh(member_rt, MSAL_SCOPE).await.0, 200);
});

backend_test!(refresh_and_access_tokens_are_never_accepted_for_each_other, |app: TestApp| async move {
    let body = app.msal_password("owner").await;
    let (access, refresh, id_token) =
        (body["access_token"].as_str().unwrap(), body["refresh_token"].as_str().unwrap(), body["id_token"].as_str().unwrap());

    // An access token (or ID token, or garbage) as a refresh token.
    for not_refresh in [access, id_token, app.app_token().await.as_str(), "garbage", "a.b.c"] {
        assert_oauth(app.refresh(not_refresh, MSAL_SCOPE).await, 400, "invalid_grant", 9002313);
    }
    // A forged refresh token: the same claims, signed by another key under our kid.
    let foreign = pbi_server::auth::KeyRing::from_stored(&pbi_server::auth::keys::generate().unwrap()).unwrap();
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    h.kid = header(refresh)["kid"].as_str().map(str::to_string);
    h.typ = Some("rt+jwt".into());
    let forged = jsonwebtoken::encode(&h, &payload(refresh), &foreign.encoding).unwrap();
    assert_oauth(app.refresh(&forged, MSAL_SCOPE).await, 400, "invalid_grant", 9002313);

    // A refresh token or an ID token as a bearer token on the Power BI side.
    for not_access in [refresh, id_token] {
        let r = app.http.get(app.url("/v1.0/myorg/groups")).bearer_auth(not_access).send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    }

    // Another client redeeming it, or no refresh_token at all.
    let other_app = app.fixture.service_principals["other-app"].1.to_string();
    let (status, body) = app
        .token_form(&[("grant_type", "refresh_token"), ("client_id", &other_app), ("refresh_token", refresh), ("scope", MSAL_SCOPE)])
        .await;
    assert_oauth((status, body), 400, "invalid_grant", 70000);
    let app_id = app.app_id().to_string();
    assert_oauth(app.token_form(&[("grant_type", "refresh_token"), ("client_id", &app_id)]).await, 400, "invalid_request", 900144);
    let long = "x".repeat(9000);
    assert_oauth(app.refresh(&long, MSAL_SCOPE).await, 400, "invalid_request", 90014);
});

backend_test!(a_confidential_clients_refresh_token_needs_its_secret, |app: TestApp| async move {
    let app_id = app.app_id().to_string();
    let (status, body) = app
        .token_form(&[
            ("grant_type", "password"),
            ("client_id", &app_id),
            ("client_secret", SECRET),
            ("username", &upn("owner")),
            ("password", PASSWORD),
            ("scope", MSAL_SCOPE),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    let refresh = body["refresh_token"].as_str().unwrap();
    assert_oauth(app.refresh(refresh, MSAL_SCOPE).await, 401, "invalid_client", 7000218);
    let with = |secret: &'static str| {
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", app_id.as_str()),
            ("client_secret", secret),
            ("refresh_token", refresh),
            ("scope", MSAL_SCOPE),
        ];
        let app = &app;
        async move { app.token_form(&form).await }
    };
    assert_oauth(with("wrong").await, 401, "invalid_client", 7000215);
    let (status, body) = with(SECRET).await;
    assert_eq!(status, 200, "{body}");
    // HTTP Basic works as well as the form.
    let r = app
        .http
        .post(app.url(&format!("/{}/oauth2/v2.0/token", app.tenant_id())))
        .basic_auth(&app_id, Some(SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", body["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
});

backend_test!(identity_paths_answer_wrong_methods_and_planned_endpoints_in_their_dialect, |app: TestApp| async move {
    let tid = app.tenant_id();
    let r = app.http.get(app.url(&format!("/{tid}/oauth2/v2.0/token"))).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");
    assert_oauth((405, r.json().await.unwrap()), 405, "invalid_request", 900561);
    let r = app.http.post(app.url(&format!("/{tid}/v2.0/.well-known/openid-configuration"))).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["allow"].to_str().unwrap()), (405, "GET"));

    // The authorize endpoint is built: a request it cannot trust gets Entra's error page.
    let r = app.http.get(app.url(&format!("/{tid}/oauth2/v2.0/authorize?client_id=x"))).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("AADSTS700016"));
    // So is v1's: a request without a client gets the page too, and its devicecode is POST only.
    let r = app.http.get(app.url(&format!("/{tid}/oauth2/authorize"))).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("AADSTS900144"));
    let r = app.http.get(app.url(&format!("/{tid}/oauth2/devicecode"))).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["allow"].to_str().unwrap()), (405, "POST"));
});

/// HTTPS: the generated local CA is trusted by a strict client (rustls/webpki), the public URL
/// becomes https, the files are kept across restarts, and given files are served as they are.
#[tokio::test]
async fn tls_serves_https_with_a_kept_local_ca_or_given_files() {
    let (url, _db) = fresh_database(Backend::Sqlite).await.unwrap();
    let tls_dir = tempfile::tempdir().unwrap();
    let mut config = pbi_server::Config { listen: "127.0.0.1:0".into(), database: url, demo: true, ..Default::default() };
    config.tls.enabled = true;
    config.tls.dir = Some(tls_dir.path().display().to_string());

    let start = |config: pbi_server::Config| async move {
        let app = pbi_server::Application::build(config, pbi_server::ManualClock::starting_now()).await.unwrap();
        let (files, base, tenant) = (app.tls().cloned().unwrap(), app.public_url().to_string(), app.demo().unwrap().tenant_id);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        (files, base, tenant, tx, server)
    };
    let (files, base, tenant, stop, server) = start(config.clone()).await;
    assert!(files.generated);
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let ca_pem = std::fs::read(files.ca.as_ref().unwrap()).unwrap();
    let trusting = reqwest::Client::builder().add_root_certificate(reqwest::Certificate::from_pem(&ca_pem).unwrap()).build().unwrap();
    let health = trusting.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let doc: Value =
        trusting.get(format!("{base}/{tenant}/v2.0/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["token_endpoint"], format!("{base}/{tenant}/oauth2/v2.0/token"));
    // localhost is in the certificate too.
    let port = base.rsplit(':').next().unwrap();
    assert_eq!(trusting.get(format!("https://localhost:{port}/healthz")).send().await.unwrap().status(), 200);
    // A client that does not trust the CA is refused, and so is plain HTTP.
    assert!(reqwest::Client::new().get(format!("{base}/healthz")).send().await.is_err());
    let plain = reqwest::Client::new().get(format!("http://127.0.0.1:{port}/healthz")).send().await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    // A client that connects and says nothing does not stop the others.
    let _silent = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}")).await.unwrap();
    assert_eq!(trusting.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
    let _ = stop.send(());
    server.await.unwrap().unwrap();

    // Restart: the same files, so clients keep trusting the server.
    let (again, base, _, stop, server) = start(config.clone()).await;
    assert!(!again.generated);
    assert_eq!(std::fs::read(again.ca.as_ref().unwrap()).unwrap(), ca_pem);
    assert_eq!(trusting.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
    let _ = stop.send(());
    server.await.unwrap().unwrap();

    // Given files: served as they are, with no CA of pbi-access's own.
    let own = tempfile::tempdir().unwrap();
    let generated = pbi_server::tls::generate(2026).unwrap();
    std::fs::write(own.path().join("c.pem"), &generated.cert_pem).unwrap();
    std::fs::write(own.path().join("k.pem"), &generated.key_pem).unwrap();
    config.tls = pbi_server::config::Tls {
        enabled: false,
        dir: None,
        cert: Some(own.path().join("c.pem").display().to_string()),
        key: Some(own.path().join("k.pem").display().to_string()),
    };
    let (given, base, _, stop, server) = start(config).await;
    assert_eq!((given.ca.as_ref(), given.generated), (None, false));
    let own_ca = reqwest::Certificate::from_pem(generated.ca_pem.as_bytes()).unwrap();
    let client = reqwest::Client::builder().add_root_certificate(own_ca).build().unwrap();
    assert_eq!(client.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
