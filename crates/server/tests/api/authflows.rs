//! The interactive sign-in flows over real HTTP: the authorization code flow (sign-in page,
//! CSRF, AADSTS messages, PKCE, single-use codes bound to client and redirect URI).

use std::collections::HashMap;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use pbi_server::domain::signin::{s256, ClientType};
use pbi_server::tenant::{ProvisionedTenant, SecretSpec, ServicePrincipalSpec, TenantSpec, UserSpec};
use serde_json::Value;

use crate::backend_test;
use crate::helpers::*;

const SIGNIN_DOMAIN: &str = "signin.onmicrosoft.com";
const WEB_REDIRECT: &str = "https://reviews.example/auth/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const SCOPE: &str = "https://analysis.windows.net/powerbi/api/.default openid profile offline_access";

fn signin_upn(local: &str) -> String {
    format!("{local}@{SIGNIN_DOMAIN}")
}

/// A tenant with a web app (confidential, a secret), a public client, and three people.
pub fn signin_spec() -> TenantSpec {
    let user = |local: &str, enabled: bool| UserSpec {
        upn: signin_upn(local),
        display_name: local.into(),
        account_enabled: enabled,
        password: Some(PASSWORD.into()),
        ..Default::default()
    };
    TenantSpec {
        name: "Sign-in".into(),
        domain: SIGNIN_DOMAIN.into(),
        users: vec![user("alice", true), user("dee", false), UserSpec { fabric_admin: true, ..user("admin", true) }],
        service_principals: vec![
            ServicePrincipalSpec {
                display_name: "Reviews".into(),
                secrets: vec![SecretSpec { value: SECRET.into(), ..Default::default() }],
                redirect_uris: vec![WEB_REDIRECT.into(), "http://localhost/review/auth/callback".into()],
                permissions: vec!["https://analysis.windows.net/powerbi/api/Workspace.Read.All".into(), "User.Read".into()],
                ..Default::default()
            },
            ServicePrincipalSpec {
                display_name: "CLI".into(),
                redirect_uris: vec!["http://localhost".into()],
                client_type: ClientType::Public,
                ..Default::default()
            },
        ],
        ..Default::default()
    }
}

/// A browser: no redirects followed, cookies kept.
pub struct Browser {
    http: reqwest::Client,
    cookies: HashMap<String, String>,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Browser {
    pub fn new() -> Browser {
        Browser { http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(), cookies: HashMap::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn read(&mut self, r: reqwest::Response) -> Page {
        for c in r.headers().get_all(reqwest::header::SET_COOKIE) {
            let c = c.to_str().unwrap();
            let (k, v) = c.split(';').next().unwrap().split_once('=').unwrap();
            self.cookies.insert(k.to_string(), v.to_string());
        }
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let location = r.headers().get("location").map(|l| l.to_str().unwrap().to_string());
        Page { status, location, body: r.text().await.unwrap(), headers }
    }

    pub async fn get(&mut self, url: &str) -> Page {
        let r = self.http.get(url).header("cookie", self.cookie_header()).send().await.unwrap();
        self.read(r).await
    }

    pub async fn post(&mut self, url: &str, form: &[(String, String)]) -> Page {
        let r = self.http.post(url).header("cookie", self.cookie_header()).form(form).send().await.unwrap();
        self.read(r).await
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let end = after.find(';').unwrap();
        let entity = &after[1..end];
        let ch = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            e if e.starts_with("#x") => char::from_u32(u32::from_str_radix(&e[2..], 16).unwrap()).unwrap(),
            e => char::from_u32(e[1..].parse().unwrap()).unwrap(),
        };
        out.push(ch);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The hidden fields of a page's form, and its action.
pub fn form_of(html: &str) -> (String, Vec<(String, String)>) {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let key = format!(" {name}=\"");
        let start = tag.find(&key)? + key.len();
        Some(unescape(&tag[start..start + tag[start..].find('"')?]))
    };
    let form_tag = &html[html.find("<form").unwrap()..];
    let action = attr(&form_tag[..form_tag.find('>').unwrap()], "action").unwrap();
    let mut fields = Vec::new();
    for piece in html.split("<input").skip(1) {
        let tag = &piece[..piece.find('>').unwrap()];
        if tag.contains("type=\"hidden\"") {
            fields.push((attr(tag, "name").unwrap(), attr(tag, "value").unwrap_or_default()));
        }
    }
    (action, fields)
}

pub fn query_of(location: &str) -> HashMap<String, String> {
    let url = reqwest::Url::parse(location).unwrap();
    url.query_pairs().into_owned().collect()
}

fn claims(token: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

#[derive(Clone, Copy)]
struct Flow<'a> {
    app: &'a TestApp,
    tenant: &'a ProvisionedTenant,
}

impl Flow<'_> {
    fn client(&self, name: &str) -> String {
        self.tenant.service_principals[name].1.to_string()
    }

    fn authorize_url(&self, params: &[(&str, &str)]) -> String {
        let q = url_encode(params);
        self.app.url(&format!("/{}/oauth2/v2.0/authorize?{q}", self.tenant.tenant.id))
    }

    /// The public client's request, with PKCE.
    fn cli_request(&self) -> String {
        let client = self.client("CLI");
        self.authorize_url(&[
            ("client_id", &client),
            ("response_type", "code"),
            ("redirect_uri", "http://localhost:51234"),
            ("scope", SCOPE),
            ("state", "st&te=1"),
            ("nonce", "n-0S6_WzA2Mj"),
            ("code_challenge", &s256(VERIFIER)),
            ("code_challenge_method", "S256"),
        ])
    }

    /// Sign in on the page of `request`; the final page (a redirect when it worked).
    async fn sign_in(&self, browser: &mut Browser, request: &str, username: &str, password: &str) -> Page {
        let page = browser.get(request).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let (action, mut fields) = form_of(&page.body);
        fields.push(("username".into(), username.into()));
        fields.push(("password".into(), password.into()));
        browser.post(&self.app.url(&action), &fields).await
    }

    async fn code(&self, request: &str) -> String {
        let mut browser = Browser::new();
        let done = self.sign_in(&mut browser, request, &signin_upn("alice"), PASSWORD).await;
        assert_eq!(done.status, 302, "{}", done.body);
        query_of(done.location.as_deref().unwrap())["code"].clone()
    }

    async fn redeem(&self, form: &[(&str, &str)]) -> (u16, Value) {
        self.redeem_owned(form.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()).await
    }

    async fn redeem_owned(&self, form: Vec<(String, String)>) -> (u16, Value) {
        let r =
            self.app.http.post(self.app.url(&format!("/{}/oauth2/v2.0/token", self.tenant.tenant.id))).form(&form).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }
}

fn url_encode(params: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

fn aadsts(body: &Value) -> u64 {
    body["error_codes"][0].as_u64().unwrap_or_else(|| panic!("no error code in {body}"))
}

backend_test!(a_public_client_signs_in_with_pkce_and_redeems_its_code_once, |app: TestApp| async move {
    let tenant = app.provision(&signin_spec()).await;
    let flow = Flow { app: &app, tenant: &tenant };
    let mut browser = Browser::new();
    let page = browser.get(&flow.cli_request()).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<label for=\"username\">") && page.body.contains("<label for=\"password\">"), "labelled fields");
    assert!(page.body.contains("CLI") && page.body.contains("Sign-in"), "names the app and the tenant");
    assert_eq!(page.headers["cache-control"], "no-store");
    assert!(page.headers["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    let csrf_cookie = browser.cookies.get("pbi_signin_csrf").cloned().expect("a CSRF cookie");
    assert!(page.body.contains(&csrf_cookie), "the form carries the same token");
    assert!(!page.body.contains(PASSWORD));

    // Wrong password, unknown account, disabled account: the page again, with Entra's code.
    for (who, password, code) in [("alice", "nope", "AADSTS50126"), ("nobody", PASSWORD, "AADSTS50034"), ("dee", PASSWORD, "AADSTS50057")] {
        let again = flow.sign_in(&mut browser, &flow.cli_request(), &signin_upn(who), password).await;
        assert_eq!(again.status, 200, "{who}");
        assert!(again.body.contains(code), "{who}: {}", again.body);
        assert!(again.body.contains("role=\"alert\""), "the error is announced");
        assert!(again.body.contains(&format!("value=\"{}\"", signin_upn(who))), "the name is kept");
    }

    let done = flow.sign_in(&mut browser, &flow.cli_request(), &signin_upn("alice"), PASSWORD).await;
    assert_eq!(done.status, 302, "{}", done.body);
    let location = done.location.unwrap();
    assert!(location.starts_with("http://localhost:51234/?"), "{location}");
    let q = query_of(&location);
    assert_eq!(q["state"], "st&te=1");
    assert!(!location.contains(PASSWORD));
    let code = q["code"].clone();

    let client = flow.client("CLI");
    let redeem = [
        ("grant_type", "authorization_code"),
        ("client_id", client.as_str()),
        ("code", code.as_str()),
        ("redirect_uri", "http://localhost:51234"),
        ("code_verifier", VERIFIER),
        ("scope", SCOPE),
        ("client_info", "1"),
    ];
    let (status, body) = flow.redeem(&redeem).await;
    assert_eq!(status, 200, "{body}");
    let id = claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(id["preferred_username"], signin_upn("alice"));
    assert_eq!(id["aud"], client);
    assert!(body["refresh_token"].is_string() && body["client_info"].is_string());
    let access = claims(body["access_token"].as_str().unwrap());
    assert_eq!(access["appidacr"], "0", "a public client");
    assert_eq!(access["upn"], signin_upn("alice"));
    // The token works against Power BI.
    let groups = app.http.get(app.url("/v1.0/myorg/groups")).bearer_auth(body["access_token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(groups.status(), 200);

    // Single use.
    let (status, body) = flow.redeem(&redeem).await;
    assert_eq!((status, aadsts(&body)), (400, 54005), "{body}");
});

backend_test!(codes_are_bound_to_client_redirect_uri_and_verifier_and_expire, |app: TestApp| async move {
    let tenant = app.provision(&signin_spec()).await;
    let flow = Flow { app: &app, tenant: &tenant };
    let cli = flow.client("CLI");
    let redeem = |code: String, redirect: &str, verifier: &str| {
        let form = vec![
            ("grant_type".to_string(), "authorization_code".to_string()),
            ("client_id".into(), cli.clone()),
            ("code".into(), code),
            ("redirect_uri".into(), redirect.to_string()),
            ("code_verifier".into(), verifier.to_string()),
        ];
        flow.redeem_owned(form)
    };
    let (status, body) = redeem(flow.code(&flow.cli_request()).await, "http://localhost:51234", &"x".repeat(43)).await;
    assert_eq!((status, aadsts(&body)), (400, 501481), "wrong verifier: {body}");
    let (status, body) = redeem(flow.code(&flow.cli_request()).await, "http://localhost:9", VERIFIER).await;
    assert_eq!((status, aadsts(&body)), (400, 500112), "another redirect URI: {body}");
    let (status, body) = redeem("not-a-code".into(), "http://localhost:51234", VERIFIER).await;
    assert_eq!((status, aadsts(&body)), (400, 70000), "{body}");
    // Another client cannot redeem it.
    let code = flow.code(&flow.cli_request()).await;
    let web = flow.client("Reviews");
    let (status, body) = flow
        .redeem(&[
            ("grant_type", "authorization_code"),
            ("client_id", &web),
            ("client_secret", SECRET),
            ("code", &code),
            ("redirect_uri", "http://localhost:51234"),
            ("code_verifier", VERIFIER),
        ])
        .await;
    assert_eq!((status, aadsts(&body)), (400, 70000), "{body}");
    // A public client sends no secret.
    let code = flow.code(&flow.cli_request()).await;
    let (status, body) = flow
        .redeem(&[
            ("grant_type", "authorization_code"),
            ("client_id", &cli),
            ("client_secret", SECRET),
            ("code", &code),
            ("redirect_uri", "http://localhost:51234"),
            ("code_verifier", VERIFIER),
        ])
        .await;
    assert_eq!((status, aadsts(&body)), (400, 700025), "{body}");
    // Ten minutes.
    let code = flow.code(&flow.cli_request()).await;
    app.clock.advance(Duration::from_secs(601));
    let (status, body) = redeem(code, "http://localhost:51234", VERIFIER).await;
    assert_eq!((status, aadsts(&body)), (400, 70008), "{body}");
});

backend_test!(a_web_app_redeems_with_its_secret_and_a_disabled_account_is_refused_at_redemption, |app: TestApp| async move {
    let tenant = app.provision(&signin_spec()).await;
    let flow = Flow { app: &app, tenant: &tenant };
    let web = flow.client("Reviews");
    let request = flow.authorize_url(&[
        ("client_id", &web),
        ("response_type", "code"),
        ("redirect_uri", WEB_REDIRECT),
        ("scope", "openid profile offline_access https://analysis.windows.net/powerbi/api/Workspace.Read.All"),
        ("state", "s1"),
        ("login_hint", &signin_upn("alice")),
    ]);
    let page = Browser::new().get(&request).await;
    assert!(page.body.contains(&format!("value=\"{}\"", signin_upn("alice"))), "login_hint fills the name");
    // A permission the app was not consented to.
    let unconsented = flow.authorize_url(&[
        ("client_id", &web),
        ("response_type", "code"),
        ("redirect_uri", WEB_REDIRECT),
        ("scope", "openid https://analysis.windows.net/powerbi/api/Tenant.Read.All"),
    ]);
    let refused = Browser::new().get(&unconsented).await;
    let q = query_of(refused.location.as_deref().expect("back to the app"));
    assert_eq!(q["error"], "consent_required");
    assert!(q["error_description"].starts_with("AADSTS65001:"));
    let form = |code: &str, secret: Option<&str>| {
        let mut f = vec![
            ("grant_type".to_string(), "authorization_code".to_string()),
            ("client_id".into(), web.clone()),
            ("code".into(), code.to_string()),
            ("redirect_uri".into(), WEB_REDIRECT.into()),
        ];
        if let Some(s) = secret {
            f.push(("client_secret".into(), s.into()));
        }
        f
    };
    let post = |f: Vec<(String, String)>| flow.redeem_owned(f);
    let code = flow.code(&request).await;
    let (status, body) = post(form(&code, None)).await;
    assert_eq!((status, aadsts(&body)), (401, 7000218), "a web app authenticates: {body}");
    let code = flow.code(&request).await;
    let (status, body) = post(form(&code, Some(SECRET))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(claims(body["access_token"].as_str().unwrap())["scp"], "Workspace.Read.All");
    assert_eq!(claims(body["refresh_token"].as_str().unwrap())["appidacr"], "1", "its refresh token needs the secret too");

    // Disabled between sign-in and redemption.
    let code = flow.code(&request).await;
    let mut tx = app.store.external_write().await.unwrap();
    sqlx::query("UPDATE users SET account_enabled = 0 WHERE tenant_id = $1 AND upn_lower = $2")
        .bind(tenant.tenant.id.to_string())
        .bind(signin_upn("alice"))
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let (status, body) = post(form(&code, Some(SECRET))).await;
    assert_eq!((status, aadsts(&body)), (400, 50057), "{body}");
});

backend_test!(untrusted_requests_get_a_page_and_the_rest_go_back_to_the_app, |app: TestApp| async move {
    let tenant = app.provision(&signin_spec()).await;
    let flow = Flow { app: &app, tenant: &tenant };
    let (cli, web) = (flow.client("CLI"), flow.client("Reviews"));
    let challenge = s256(VERIFIER);
    let mut browser = Browser::new();
    // Never redirected: an unknown client, an unregistered redirect URI, an app with none.
    let automation = app.app_id().to_string();
    for (params, code) in [
        (vec![("client_id", "00000000-0000-0000-0000-000000000001"), ("redirect_uri", "http://localhost")], "AADSTS700016"),
        (vec![("client_id", cli.as_str()), ("redirect_uri", "https://evil.example/")], "AADSTS50011"),
        (vec![("client_id", cli.as_str())], "AADSTS900144"),
    ] {
        let mut p = params.clone();
        p.extend([("response_type", "code"), ("scope", SCOPE), ("code_challenge", &challenge), ("code_challenge_method", "S256")]);
        let page = browser.get(&flow.authorize_url(&p)).await;
        assert_eq!(page.status, 400, "{params:?}");
        assert!(page.location.is_none());
        assert!(page.body.contains(code), "{params:?}: {}", page.body);
    }
    let other_tenant = app.url(&format!(
        "/{}/oauth2/v2.0/authorize?{}",
        app.tenant_id(),
        url_encode(&[("client_id", &automation), ("redirect_uri", "http://localhost"), ("response_type", "code"), ("scope", SCOPE)])
    ));
    let page = browser.get(&other_tenant).await;
    assert!(page.status == 400 && page.body.contains("AADSTS500113"), "no reply address registered: {}", page.body);

    // Redirected with the error: no PKCE from a public client, plain PKCE, a bad scope,
    // another response type, prompt=none without a session.
    let base = |extra: &[(&'static str, &'static str)]| {
        let mut p: Vec<(&str, &str)> = vec![("client_id", &cli), ("redirect_uri", "http://localhost"), ("state", "keep")];
        p.extend_from_slice(extra);
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>()
    };
    let leaked: &'static str = Box::leak(challenge.clone().into_boxed_str());
    for (extra, error, code) in [
        (vec![("response_type", "code"), ("scope", SCOPE)], "invalid_request", "9002325"),
        (
            vec![("response_type", "code"), ("scope", SCOPE), ("code_challenge", leaked), ("code_challenge_method", "plain")],
            "invalid_request",
            "5000751",
        ),
        (
            vec![("response_type", "code"), ("scope", "Nope.All"), ("code_challenge", leaked), ("code_challenge_method", "S256")],
            "invalid_scope",
            "70011",
        ),
        (
            vec![("response_type", "token"), ("scope", SCOPE), ("code_challenge", leaked), ("code_challenge_method", "S256")],
            "unsupported_response_type",
            "700054",
        ),
        (
            vec![
                ("response_type", "code"),
                ("scope", SCOPE),
                ("code_challenge", leaked),
                ("code_challenge_method", "S256"),
                ("prompt", "none"),
            ],
            "login_required",
            "50058",
        ),
    ] {
        let p = base(&extra);
        let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let page = browser.get(&flow.authorize_url(&p)).await;
        assert_eq!(page.status, 302, "{extra:?}: {}", page.body);
        let q = query_of(page.location.as_deref().unwrap());
        assert_eq!(q["error"], error, "{extra:?}");
        assert!(q["error_description"].starts_with(&format!("AADSTS{code}:")), "{extra:?}: {}", q["error_description"]);
        assert_eq!(q["state"], "keep");
    }

    // A form post without this browser's CSRF cookie is refused, and nothing is issued.
    let page = browser.get(&flow.cli_request()).await;
    let (action, mut fields) = form_of(&page.body);
    fields.push(("username".into(), signin_upn("alice")));
    fields.push(("password".into(), PASSWORD.into()));
    let mut stranger = Browser::new();
    let forged = stranger.post(&app.url(&action), &fields).await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(forged.location.is_none());
    // The web app's form_post mode answers with a self-posting form.
    let request = flow.authorize_url(&[
        ("client_id", &web),
        ("response_type", "code"),
        ("redirect_uri", WEB_REDIRECT),
        ("scope", SCOPE),
        ("response_mode", "form_post"),
        ("state", "fp"),
    ]);
    let done = flow.sign_in(&mut browser, &request, &signin_upn("alice"), PASSWORD).await;
    assert_eq!(done.status, 200);
    let (action, fields) = form_of(&done.body);
    assert_eq!(action, WEB_REDIRECT);
    assert!(fields.iter().any(|(k, _)| k == "code") && fields.iter().any(|(k, v)| k == "state" && v == "fp"));
    // Wrong method.
    let r = app.http.delete(flow.cli_request()).send().await.unwrap();
    assert_eq!(r.status(), 405);
});

backend_test!(app_registrations_export_and_import_with_the_tenant, |app: TestApp| async move {
    let tenant = app.provision(&signin_spec()).await;
    let exported = pbi_server::tenant::export(&app.store, tenant.tenant.id).await.unwrap().unwrap();
    let cli = exported.service_principals.iter().find(|s| s.display_name == "CLI").unwrap();
    assert_eq!(cli.client_type, ClientType::Public);
    assert_eq!(cli.redirect_uris, vec!["http://localhost".to_string()]);
    let json = serde_json::to_value(&exported).unwrap();
    let web = json["servicePrincipals"].as_array().unwrap().iter().find(|s| s["displayName"] == "Reviews").unwrap();
    assert_eq!(web["redirectUris"][0], WEB_REDIRECT);
    assert!(web.get("clientType").is_none(), "confidential is the default and not written");
    // An old tenant file without the new fields still loads; a bad redirect URI is refused.
    let old: TenantSpec = serde_json::from_value(serde_json::json!({
        "name": "Old", "domain": "old.onmicrosoft.com", "servicePrincipals": [{"displayName": "app"}]
    }))
    .unwrap();
    assert_eq!(old.service_principals[0].client_type, ClientType::Confidential);
    let mut bad = signin_spec();
    bad.domain = "bad.onmicrosoft.com".into();
    bad.service_principals[0].redirect_uris = vec!["http://reviews.example/callback".into()];
    let err = pbi_server::tenant::provision(&app.store, &*app.clock, &bad).await.unwrap_err();
    assert!(err.to_string().contains("must be https"), "{err}");
});

/// The demo tenant registers the review app (confidential, redeeming with the demo secret) and a
/// public client for command-line sign-in, at the ids `pbi_wire::oauth` names.
#[tokio::test]
async fn the_demo_tenant_registers_the_review_app_and_a_public_client() {
    let (url, _dir) = fresh_database(Backend::Sqlite).await.unwrap();
    let store = pbi_server::store::Store::connect(&url).await.unwrap();
    let clock = pbi_server::ManualClock::starting_now();
    let demo = pbi_server::tenant::create_demo(&store, &*clock).await.unwrap();
    let review: uuid::Uuid = pbi_wire::oauth::DEMO_REVIEW_APP_ID.parse().unwrap();
    let (sp, registration) = store.app_registration(demo.tenant_id, review).await.unwrap().expect("the review app");
    assert_eq!(sp.display_name, "Access Review");
    assert_eq!(registration.client_type, ClientType::Confidential);
    assert!(registration.allows_redirect(&format!("http://localhost:8123{}", pbi_wire::oauth::DEMO_REVIEW_REDIRECT_PATH)));
    let secrets = store.client_secrets(demo.tenant_id, sp.id).await.unwrap();
    assert!(secrets.iter().any(|s| pbi_server::auth::credentials::secret_matches(&demo.client_secret, &s.secret_hash)));
    let public: uuid::Uuid = pbi_wire::oauth::DEMO_PUBLIC_CLIENT_ID.parse().unwrap();
    let (_, registration) = store.app_registration(demo.tenant_id, public).await.unwrap().expect("the public client");
    assert_eq!(registration.client_type, ClientType::Public);
    assert!(registration.allows_redirect("http://localhost:40000"));
}

impl Flow<'_> {
    async fn start_device(&self, client: &str) -> (u16, Value) {
        let r = self
            .app
            .http
            .post(self.app.url(&format!("/{}/oauth2/v2.0/devicecode", self.tenant.tenant.id)))
            .form(&[("client_id", client), ("scope", SCOPE)])
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn poll(&self, client: &str, device_code: &str) -> (u16, Value) {
        self.redeem(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", client),
            ("device_code", device_code),
            ("client_info", "1"),
        ])
        .await
    }

    /// Enter `typed` on the verification page; the page that follows.
    async fn enter_code(&self, browser: &mut Browser, verification_uri: &str, typed: &str) -> Page {
        let page = browser.get(verification_uri).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("<label for=\"user_code\">"));
        let (action, mut fields) = form_of(&page.body);
        fields.push(("user_code".into(), typed.into()));
        browser.post(&self.app.url(&action), &fields).await
    }

    async fn device_sign_in(&self, browser: &mut Browser, step_two: &Page, who: &str, password: &str) -> Page {
        let (action, mut fields) = form_of(&step_two.body);
        fields.push(("username".into(), who.into()));
        fields.push(("password".into(), password.into()));
        browser.post(&self.app.url(&action), &fields).await
    }
}

backend_test!(the_device_code_flow_polls_until_the_person_signs_in_on_the_verification_page, |app: TestApp| async move {
    let tenant = app.provision(&signin_spec()).await;
    let flow = Flow { app: &app, tenant: &tenant };
    let cli = flow.client("CLI");
    let (status, started) = flow.start_device(&cli).await;
    assert_eq!(status, 200, "{started}");
    let (device_code, user_code) = (started["device_code"].as_str().unwrap(), started["user_code"].as_str().unwrap());
    let verification_uri = started["verification_uri"].as_str().unwrap();
    assert_eq!(verification_uri, app.url(&format!("/{}/oauth2/deviceauth", tenant.tenant.id)));
    assert_eq!((started["expires_in"].as_u64(), started["interval"].as_u64()), (Some(900), Some(5)));
    assert!(started["message"].as_str().unwrap().contains(user_code) && started.get("verification_uri_complete").is_none());

    // Pending, then too fast, then pending again after the interval.
    let (status, body) = flow.poll(&cli, device_code).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("authorization_pending")), "{body}");
    let (_, body) = flow.poll(&cli, device_code).await;
    assert_eq!(body["error"], "slow_down");
    app.clock.advance(Duration::from_secs(5));
    let (_, body) = flow.poll(&cli, device_code).await;
    assert_eq!(body["error"], "authorization_pending");

    // The person types the code in lower case with a dash, sees the app, signs in.
    let mut browser = Browser::new();
    let typed = format!("{}-{}", &user_code[..4], &user_code[4..]).to_lowercase();
    let step_two = flow.enter_code(&mut browser, verification_uri, &typed).await;
    assert!(step_two.body.contains("<strong>CLI</strong>"), "names the app: {}", step_two.body);
    let wrong = flow.device_sign_in(&mut browser, &step_two, &signin_upn("alice"), "nope").await;
    assert!(wrong.body.contains("AADSTS50126") && wrong.body.contains("role=\"alert\""), "{}", wrong.body);
    let disabled = flow.device_sign_in(&mut browser, &step_two, &signin_upn("dee"), PASSWORD).await;
    assert!(disabled.body.contains("AADSTS50057"));
    let done = flow.device_sign_in(&mut browser, &step_two, &signin_upn("alice"), PASSWORD).await;
    assert!(done.body.contains("You&#39;re signed in") || done.body.contains("You're signed in"), "{}", done.body);
    // The code is spent on the page: entering it again does not work.
    let again = flow.enter_code(&mut browser, verification_uri, user_code).await;
    assert!(again.body.contains("didn"), "{}", again.body);

    app.clock.advance(Duration::from_secs(5));
    let (status, body) = flow.poll(&cli, device_code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(claims(body["access_token"].as_str().unwrap())["upn"], signin_upn("alice"));
    assert!(body["refresh_token"].is_string() && body["id_token"].is_string());
    app.clock.advance(Duration::from_secs(5));
    let (status, body) = flow.poll(&cli, device_code).await;
    assert_eq!((status, aadsts(&body)), (400, 54005), "one device code, one set of tokens: {body}");

    // Unknown codes, another client's code, and expiry.
    let (_, body) = flow.poll(&cli, "nope").await;
    assert_eq!(body["error"], "bad_verification_code");
    let (_, second) = flow.start_device(&cli).await;
    let web = flow.client("Reviews");
    let (_, body) = flow
        .redeem(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", &web),
            ("client_secret", SECRET),
            ("device_code", second["device_code"].as_str().unwrap()),
        ])
        .await;
    assert_eq!(body["error"], "bad_verification_code", "{body}");
    app.clock.advance(Duration::from_secs(901));
    let (_, body) = flow.poll(&cli, second["device_code"].as_str().unwrap()).await;
    assert_eq!((body["error"].as_str(), aadsts(&body)), (Some("expired_token"), 70020));
    let expired = flow.enter_code(&mut browser, verification_uri, second["user_code"].as_str().unwrap()).await;
    assert!(expired.body.contains("expired"), "{}", expired.body);

    // Without this browser's CSRF cookie the page refuses.
    let page = browser.get(verification_uri).await;
    let (action, mut fields) = form_of(&page.body);
    fields.push(("user_code".into(), "BCDFGHJKL".into()));
    assert_eq!(Browser::new().post(&app.url(&action), &fields).await.status, 403);
    // An unknown client cannot start.
    let (status, body) = flow.start_device("00000000-0000-0000-0000-000000000009").await;
    assert_eq!((status, aadsts(&body)), (400, 700016));
});

backend_test!(refresh_tokens_rotate_and_a_reused_one_revokes_its_family, |app: TestApp| async move {
    let tenant = app.provision(&signin_spec()).await;
    let flow = Flow { app: &app, tenant: &tenant };
    let cli = flow.client("CLI");
    let tokens = |code: String| {
        let cli = cli.clone();
        async move {
            flow.redeem_owned(vec![
                ("grant_type".into(), "authorization_code".into()),
                ("client_id".into(), cli),
                ("code".into(), code),
                ("redirect_uri".into(), "http://localhost:51234".into()),
                ("code_verifier".into(), VERIFIER.into()),
            ])
            .await
        }
    };
    let refresh = |token: String| {
        let cli = cli.clone();
        async move {
            flow.redeem_owned(vec![
                ("grant_type".into(), "refresh_token".into()),
                ("client_id".into(), cli),
                ("refresh_token".into(), token),
                ("scope".into(), SCOPE.into()),
            ])
            .await
        }
    };
    let (_, first) = tokens(flow.code(&flow.cli_request()).await).await;
    let r1 = first["refresh_token"].as_str().unwrap().to_string();
    let (status, second) = refresh(r1.clone()).await;
    assert_eq!(status, 200, "{second}");
    let r2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2);
    assert_eq!(claims(&r1)["fam"], claims(&r2)["fam"], "one family per sign-in");
    let (status, third) = refresh(r2.clone()).await;
    assert_eq!(status, 200, "the newest token works: {third}");
    let r3 = third["refresh_token"].as_str().unwrap().to_string();
    // r1 again: a replay. The whole family goes, the newest token too.
    let (status, body) = refresh(r1).await;
    assert_eq!((status, aadsts(&body)), (400, 50173), "{body}");
    let (status, body) = refresh(r3).await;
    assert_eq!((status, aadsts(&body)), (400, 50173), "{body}");

    // A code presented twice revokes the tokens the first presentation got.
    let code = flow.code(&flow.cli_request()).await;
    let (_, first) = tokens(code.clone()).await;
    let (status, _) = tokens(code).await;
    assert_eq!(status, 400);
    let (status, body) = refresh(first["refresh_token"].as_str().unwrap().to_string()).await;
    assert_eq!((status, aadsts(&body)), (400, 50173), "{body}");

    // Another sign-in is another family, untouched.
    let (_, other) = tokens(flow.code(&flow.cli_request()).await).await;
    let (status, _) = refresh(other["refresh_token"].as_str().unwrap().to_string()).await;
    assert_eq!(status, 200);
});

backend_test!(a_signed_in_user_reads_me_and_userinfo_and_app_tokens_are_refused, |app: TestApp| async move {
    let tenant = app.provision(&signin_spec()).await;
    let flow = Flow { app: &app, tenant: &tenant };
    let cli = flow.client("CLI");
    let graph_scope = "User.Read openid profile email offline_access";
    let request = flow.authorize_url(&[
        ("client_id", &cli),
        ("response_type", "code"),
        ("redirect_uri", "http://localhost:51234"),
        ("scope", graph_scope),
        ("code_challenge", &s256(VERIFIER)),
        ("code_challenge_method", "S256"),
    ]);
    let code = flow.code(&request).await;
    let (status, body) = flow
        .redeem(&[
            ("grant_type", "authorization_code"),
            ("client_id", &cli),
            ("code", &code),
            ("redirect_uri", "http://localhost:51234"),
            ("code_verifier", VERIFIER),
            ("scope", graph_scope),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_string();
    let id_token = claims(body["id_token"].as_str().unwrap());
    let alice = tenant.users[&signin_upn("alice")];
    let get = |path: &str, token: &str| {
        let request = app.http.get(app.url(path)).bearer_auth(token);
        async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };

    let (status, me) = get("/graph/v1.0/me", &token).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["id"], alice.to_string());
    assert_eq!(me["userPrincipalName"], signin_upn("alice"));
    assert!(me["@odata.context"].as_str().unwrap().ends_with("/$metadata#users/$entity"), "{me}");
    let (status, me) = get("/graph/v1.0/me?$select=displayName,id", &token).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me.as_object().unwrap().len(), 3, "context, displayName and id only: {me}");
    assert!(me["@odata.context"].as_str().unwrap().ends_with("#users(displayName,id)/$entity"), "{me}");
    let (status, bad) = get("/graph/v1.0/me?$select=shoeSize", &token).await;
    assert_eq!((status, bad["error"]["code"].as_str()), (400, Some("BadRequest")), "{bad}");
    let (status, groups) = get("/graph/v1.0/me/memberOf", &token).await;
    assert_eq!(status, 200, "{groups}");
    assert!(groups["value"].is_array());

    // userinfo, by GET and by POST: the ID token's pairwise `sub` and the profile claims.
    let (status, info) = get("/graph/oidc/userinfo", &token).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["sub"], id_token["sub"]);
    assert_eq!(info["name"], "alice");
    assert!(info.get("picture").is_none());
    let posted = app.http.post(app.url("/graph/oidc/userinfo")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(posted.status(), 200);
    assert_eq!(posted.json::<Value>().await.unwrap(), info);

    // A Power BI token is not a Graph token; an application has no "me".
    let powerbi = app.user_token("member").await;
    let (status, e) = get("/graph/oidc/userinfo", &powerbi).await;
    assert_eq!((status, e["error"]["code"].as_str()), (401, Some("InvalidAuthenticationToken")), "{e}");
    let (status, e) = get("/graph/v1.0/me", &powerbi).await;
    assert_eq!(status, 401, "{e}");
    let app_token = app.graph_app_token().await;
    for path in ["/graph/v1.0/me", "/graph/v1.0/me/memberOf"] {
        let (status, e) = get(path, &app_token).await;
        assert_eq!(status, 400, "{path}: {e}");
        assert_eq!(e["error"]["code"], "BadRequest");
        assert_eq!(e["error"]["message"], "/me request is only valid with delegated authentication flow.");
    }
    let (status, e) = get("/graph/oidc/userinfo", &app_token).await;
    assert_eq!((status, e["error"]["code"].as_str()), (401, Some("InvalidAuthenticationToken")), "{e}");
    let none = app.http.get(app.url("/graph/oidc/userinfo")).send().await.unwrap();
    assert_eq!(none.status(), 401);

    // The discovery document names the endpoint.
    let doc: Value = app
        .http
        .get(app.url(&format!("/{}/v2.0/.well-known/openid-configuration", tenant.tenant.id)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["userinfo_endpoint"], app.url("/graph/oidc/userinfo"));
});

backend_test!(logout_clears_the_sign_in_cookie_and_returns_only_to_a_registered_address, |app: TestApp| async move {
    let tenant = app.provision(&signin_spec()).await;
    let flow = Flow { app: &app, tenant: &tenant };
    let web = flow.client("Reviews");
    let tid = tenant.tenant.id.to_string();
    let logout = |tenant: &str, params: &[(&str, &str)]| app.url(&format!("/{tenant}/oauth2/v2.0/logout?{}", url_encode(params)));
    let mut browser = Browser::new();
    browser.get(&flow.cli_request()).await;
    assert!(browser.cookies.contains_key("pbi_signin_csrf"));

    // A registered address of the named application: back there, with `state`.
    let page = browser.get(&logout(&tid, &[("post_logout_redirect_uri", WEB_REDIRECT), ("client_id", &web), ("state", "s 1")])).await;
    assert_eq!(page.status, 302, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some(format!("{WEB_REDIRECT}?state=s+1").as_str()));
    let cleared = page.headers.get_all("set-cookie").iter().map(|c| c.to_str().unwrap().to_string()).collect::<Vec<_>>();
    assert!(cleared.iter().any(|c| c.starts_with("pbi_signin_csrf=;") && c.contains("Max-Age=0")), "{cleared:?}");

    // Not registered on that application (it is the CLI's), or nowhere: the signed-out page.
    for params in [
        vec![("post_logout_redirect_uri", "http://localhost:51234"), ("client_id", web.as_str())],
        vec![("post_logout_redirect_uri", "https://evil.example/")],
        vec![],
    ] {
        let page = browser.get(&logout(&tid, &params)).await;
        assert_eq!(page.status, 200, "{params:?}");
        assert!(page.location.is_none());
        assert!(page.body.contains("You signed out of your account"), "{}", page.body);
        assert!(page.headers.get_all("set-cookie").iter().any(|c| c.to_str().unwrap().contains("Max-Age=0")));
    }
    // Without client_id, any application of the tenant that registered the address.
    let page = browser.get(&logout(&tenant.tenant.domain, &[("post_logout_redirect_uri", WEB_REDIRECT)])).await;
    assert_eq!(page.location.as_deref(), Some(WEB_REDIRECT));

    // `common` with an ID token naming tenant and client.
    let code = flow.code(&flow.cli_request()).await;
    let cli = flow.client("CLI");
    let (_, body) = flow
        .redeem(&[
            ("grant_type", "authorization_code"),
            ("client_id", &cli),
            ("code", &code),
            ("redirect_uri", "http://localhost:51234"),
            ("code_verifier", VERIFIER),
            ("scope", SCOPE),
        ])
        .await;
    let id_token = body["id_token"].as_str().unwrap();
    let page = browser.get(&logout("common", &[("post_logout_redirect_uri", "http://localhost:8400/"), ("id_token_hint", id_token)])).await;
    assert_eq!(page.location.as_deref(), Some("http://localhost:8400/"), "{}", page.body);
    let page = browser.get(&logout("common", &[("post_logout_redirect_uri", "http://localhost:8400/")])).await;
    assert_eq!(page.status, 200, "no tenant, no trusted address");

    // An unknown tenant is Entra's error page; a POST is refused in the OAuth dialect.
    let page = browser.get(&logout("nope.onmicrosoft.com", &[])).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("AADSTS90002"), "{}", page.body);
    let post = app.http.post(logout(&tid, &[])).send().await.unwrap();
    assert_eq!(post.status(), 405);
});

impl Flow<'_> {
    async fn v1_token(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let r = self.app.http.post(self.app.url(&format!("/{}/oauth2/token", self.tenant.tenant.id))).form(form).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }
}

// The v1 endpoints as ADAL and the PowerShell modules call them: `resource=` instead of scopes,
// no PKCE, codes redeemed at `/oauth2/token` in the v1 shape.
backend_test!(the_v1_authorize_endpoint_signs_in_for_a_resource_and_the_v1_token_endpoint_redeems, |app: TestApp| async move {
    let tenant = app.provision(&signin_spec()).await;
    let flow = Flow { app: &app, tenant: &tenant };
    let cli = flow.client("CLI");
    let tid = tenant.tenant.id.to_string();
    let request = |resource: Option<&str>| {
        let mut params =
            vec![("client_id", cli.as_str()), ("response_type", "code"), ("redirect_uri", "http://localhost:51234"), ("state", "s1")];
        params.extend(resource.map(|r| ("resource", r)));
        app.url(&format!("/{tid}/oauth2/authorize?{}", url_encode(&params)))
    };
    let mut browser = Browser::new();
    let page = browser.get(&request(Some("https://analysis.windows.net/powerbi/api"))).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let (action, _) = form_of(&page.body);
    assert!(
        action.ends_with("/oauth2/authorize") && action.contains(&tid.replace('-', "%2D")),
        "the form posts back to the v1 endpoint: {action}"
    );
    let done = flow.sign_in(&mut browser, &request(Some("https://analysis.windows.net/powerbi/api")), &signin_upn("alice"), PASSWORD).await;
    assert_eq!(done.status, 302, "{}", done.body);
    let q = query_of(done.location.as_deref().unwrap());
    assert_eq!(q["state"], "s1");
    let code = q["code"].clone();

    // ADAL's redemption: resource again, no verifier.
    let redeem = [
        ("grant_type", "authorization_code"),
        ("client_id", cli.as_str()),
        ("code", code.as_str()),
        ("redirect_uri", "http://localhost:51234"),
        ("resource", "https://analysis.windows.net/powerbi/api"),
    ];
    let (status, body) = flow.v1_token(&redeem).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["resource"], "https://analysis.windows.net/powerbi/api");
    assert!(body["expires_in"].is_string() && body["expires_on"].is_string(), "v1 lifetimes are strings: {body}");
    assert!(body["refresh_token"].is_string() && body["id_token"].is_string(), "{body}");
    assert_eq!(claims(body["id_token"].as_str().unwrap())["preferred_username"], signin_upn("alice"));
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["aud"], "https://analysis.windows.net/powerbi/api");
    let groups = app.http.get(app.url("/v1.0/myorg/groups")).bearer_auth(access).send().await.unwrap();
    assert_eq!(groups.status(), 200);
    // Single use, as on v2.0.
    let (status, body) = flow.v1_token(&redeem).await;
    assert_eq!((status, aadsts(&body)), (400, 54005), "{body}");

    // Graph by its application id; the token is Graph's.
    let code = flow.code(&request(Some("00000003-0000-0000-c000-000000000000"))).await;
    let (status, body) = flow
        .v1_token(&[("grant_type", "authorization_code"), ("client_id", &cli), ("code", &code), ("redirect_uri", "http://localhost:51234")])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["resource"], "https://graph.microsoft.com");

    // No resource, or one unknown: back to the application with Entra's code.
    for (resource, code) in [(None, 900144), (Some("https://example.com/api"), 500011)] {
        let page = browser.get(&request(resource)).await;
        assert_eq!(page.status, 302, "{resource:?}: {}", page.body);
        let q = query_of(page.location.as_deref().unwrap());
        assert!(q["error_description"].starts_with(&format!("AADSTS{code}:")), "{q:?}");
        assert_eq!(q["state"], "s1");
    }
});

backend_test!(the_v1_device_code_flow_answers_in_adals_shape, |app: TestApp| async move {
    let tenant = app.provision(&signin_spec()).await;
    let flow = Flow { app: &app, tenant: &tenant };
    let cli = flow.client("CLI");
    let (app_ref, tid) = (&app, tenant.tenant.id);
    let start = |form: Vec<(&'static str, String)>| async move {
        let r = app_ref.http.post(app_ref.url(&format!("/{tid}/oauth2/devicecode"))).form(&form).send().await.unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    let (status, started) = start(vec![("client_id", cli.clone()), ("resource", "https://analysis.windows.net/powerbi/api".into())]).await;
    assert_eq!(status, 200, "{started}");
    assert_eq!((started["expires_in"].as_str(), started["interval"].as_str()), (Some("900"), Some("5")), "{started}");
    let verification_url = started["verification_url"].as_str().unwrap();
    assert!(started.get("verification_uri").is_none());
    let (device_code, user_code) = (started["device_code"].as_str().unwrap(), started["user_code"].as_str().unwrap());

    // ADAL polls with grant_type=device_code and the device code as `code`.
    let poll = [
        ("grant_type", "device_code"),
        ("client_id", cli.as_str()),
        ("code", device_code),
        ("resource", "https://analysis.windows.net/powerbi/api"),
    ];
    let (status, body) = flow.v1_token(&poll).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("authorization_pending")), "{body}");
    app.clock.advance(Duration::from_secs(5));
    let mut browser = Browser::new();
    let step_two = flow.enter_code(&mut browser, verification_url, user_code).await;
    flow.device_sign_in(&mut browser, &step_two, &signin_upn("alice"), PASSWORD).await;
    let (status, body) = flow.v1_token(&poll).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["resource"], "https://analysis.windows.net/powerbi/api");
    assert!(body["refresh_token"].is_string() && body["id_token"].is_string());
    assert_eq!(claims(body["access_token"].as_str().unwrap())["upn"], signin_upn("alice"));

    // Without a resource, or with an unknown one: the v1 errors.
    let (status, body) = start(vec![("client_id", cli.clone())]).await;
    assert_eq!((status, aadsts(&body)), (400, 900144), "{body}");
    let (status, body) = start(vec![("client_id", cli.clone()), ("resource", "https://example.com".into())]).await;
    assert_eq!((status, aadsts(&body)), (400, 500011), "{body}");
});

backend_test!(the_v1_logout_endpoint_signs_out_like_the_v2_one, |app: TestApp| async move {
    let tenant = app.provision(&signin_spec()).await;
    let web = tenant.service_principals["Reviews"].1.to_string();
    let mut browser = Browser::new();
    let url = |params: &[(&str, &str)]| app.url(&format!("/{}/oauth2/logout?{}", tenant.tenant.id, url_encode(params)));
    let page = browser.get(&url(&[("post_logout_redirect_uri", WEB_REDIRECT), ("client_id", &web)])).await;
    assert_eq!((page.status, page.location.as_deref()), (302, Some(WEB_REDIRECT)));
    let page = browser.get(&url(&[("post_logout_redirect_uri", "https://evil.example/")])).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("You signed out of your account"));
});
