//! The review web application in a real browser: headless Chromium through chromedriver
//! (WebDriver) against `pbi-access serve` (the demo tenant) and `pbi-access review serve`.
//! Sign in through `/authorize`, start a campaign, decide (a missing justification, a refused
//! self-review, a justified revoke, a bulk accept), close, apply from a stale preview (refused),
//! apply, then check on the service that exactly the revoked access is gone. axe-core (vendored from npm) finds no serious or
//! critical violation on the main pages; screenshots go to `target/review-screenshots/`.
//!
//! Without Chromium the test says so and passes, unless `PBI_ACCESS_TEST_BROWSER=1` (CI), where
//! it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::cli::Cli;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const AXE: &str = include_str!("assets/axe-core-4.10.2.min.js");

fn upn(local: &str) -> String {
    format!("{local}@contoso.onmicrosoft.com")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/review-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn start_review_app(cli: &Cli, database: &str, journal_dir: &Path) -> (Child, String) {
    let mut child = cli
        .command(&["review", "serve", "--listen", "127.0.0.1:0", "--database", database, "--journal-dir", journal_dir.to_str().unwrap()])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.strip_prefix("access reviews at ") {
                return rest.split_whitespace().next().unwrap().trim_end_matches("/review/").to_string();
            }
        }
        panic!("review serve ended before saying where it listens");
    })
    .await
    .expect("review serve starts");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
}

async fn start_driver() -> (Child, Client) {
    let port = free_port();
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver runs");
    let caps: serde_json::Map<String, Value> = serde_json::from_value(json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1100"]
        }
    }))
    .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        if let Ok(client) = ClientBuilder::new(connector).capabilities(caps.clone()).connect(&url).await {
            return (driver, client);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("chromedriver did not accept a session");
}

/// Serious and critical axe-core violations on the current page.
async fn axe(browser: &Client) -> Vec<String> {
    browser.execute(AXE, vec![]).await.unwrap();
    let found = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] }).then(r => done(r.violations
               .filter(v => v.impact === 'serious' || v.impact === 'critical')
               .map(v => v.id + ': ' + v.help + ' (' + v.nodes.map(n => n.target.join(' ')).join(', ') + ')')));",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(found).unwrap()
}

async fn shot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

async fn text(browser: &Client) -> String {
    browser.find(Locator::Css("main")).await.unwrap().text().await.unwrap()
}

/// The row number of `principal`'s row on the queue page.
async fn row_of(browser: &Client, principal: &str) -> String {
    let tr = browser.find(Locator::XPath(&format!("//tr[th[starts-with(normalize-space(.), '{principal}')]]"))).await.unwrap();
    tr.attr("id").await.unwrap().unwrap().trim_start_matches("row-").to_string()
}

async fn click(browser: &Client, css: &str) {
    browser.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap();
}

/// Click a submit button or link and wait until the browser shows the next document.
async fn submit(browser: &Client, css: &str) {
    let old = browser.find(Locator::Css("html")).await.unwrap();
    click(browser, css).await;
    for _ in 0..200 {
        if old.tag_name().await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{css}: no new page came");
}

async fn type_into(browser: &Client, css: &str, value: &str) {
    let field = browser.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

/// Direct principals of a workspace, as the service lists them (identifier → role).
async fn members(demo: &common::Demo, http: &reqwest::Client, token: &str, workspace: &str) -> Vec<(String, String)> {
    let r: Value = http
        .get(format!("{}/v1.0/myorg/admin/groups/{workspace}/users", demo.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut out: Vec<(String, String)> = r["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["identifier"].as_str().unwrap().to_lowercase(), u["groupUserAccessRight"].as_str().unwrap().to_string()))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_campaign_in_the_browser_from_sign_in_to_applied() {
    let required = std::env::var("PBI_ACCESS_TEST_BROWSER").is_ok_and(|v| v == "1");
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        assert!(
            !required,
            "PBI_ACCESS_TEST_BROWSER=1 but {CHROMIUM} or {CHROMEDRIVER} is missing: apt-get install chromium chromium-driver"
        );
        eprintln!("skipped: no {CHROMIUM} / {CHROMEDRIVER} (set PBI_ACCESS_TEST_BROWSER=1 to require them)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut demo = common::serve(&format!("sqlite://{}", dir.path().join("service.db").display())).await;
    let cli = Cli::new(&demo, dir.path());
    let review_db = format!("sqlite://{}", dir.path().join("review.db").display());
    let (mut app, base) = start_review_app(&cli, &review_db, dir.path()).await;
    let http = demo.http();
    let token = demo.admin_token(&http).await;
    let groups: Value = http
        .get(format!("{}/v1.0/myorg/groups?$filter=name eq 'Sales Analytics'", demo.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let workspace = groups["value"][0]["id"].as_str().unwrap().to_string();
    let before = members(&demo, &http, &token, &workspace).await;
    assert!(before.iter().any(|(p, _)| *p == upn("bob")), "{before:?}");

    let (mut driver, browser) = start_driver().await;
    let mut violations: Vec<String> = Vec::new();

    // Sign in: the app sends the browser to /authorize, the person signs in there.
    browser.goto(&format!("{base}/review/")).await.unwrap();
    submit(&browser, "a.button[href='/review/auth/signin']").await;
    assert!(browser.current_url().await.unwrap().path().ends_with("/oauth2/v2.0/authorize"), "the sign-in page is the authority's");
    type_into(&browser, "#username", &demo.admin).await;
    type_into(&browser, "#password", &demo.password).await;
    submit(&browser, "button[type=submit]").await;
    let url = browser.current_url().await.unwrap();
    assert_eq!(url.path(), "/review/", "{}", browser.source().await.unwrap());
    assert!(url.query().is_none(), "no code or token stays in the address: {url}");
    assert!(text(&browser).await.contains("Campaigns"));
    assert!(browser.source().await.unwrap().contains("Fabric administrator"), "the demo admin is a Fabric administrator");

    // A new campaign over one workspace; a missing name is said next to the field.
    submit(&browser, "a[href='/review/campaigns/new']").await;
    click(&browser, "#scope-list").await;
    type_into(&browser, "#workspaces", "Sales Analytics").await;
    submit(&browser, "form.stack button[type=submit]").await;
    assert_eq!(browser.find(Locator::Css("#name-error")).await.unwrap().text().await.unwrap(), "Give the campaign a name.");
    type_into(&browser, "#name", "Q4 Sales").await;
    // Activity is not read here: the decisions below follow the recommendations without it.
    type_into(&browser, "#lookback_days", "0").await;
    submit(&browser, "form.stack button[type=submit]").await;
    let page = text(&browser).await;
    assert!(page.contains("The campaign started") && page.contains("sha256 "), "{page}");
    violations.extend(axe(&browser).await);
    shot(&browser, "campaign").await;
    let campaign_url = browser.current_url().await.unwrap().as_str().split('?').next().unwrap().to_string();

    // The queue: a revoke without a justification is refused next to its field.
    submit(&browser, "a[href$='/queue']").await;
    violations.extend(axe(&browser).await);
    let bob = row_of(&browser, &upn("bob")).await;
    // The row's drawer (a <details>, so it works without JavaScript): the full path, the
    // account, the last activity, the previous campaign's decision.
    click(&browser, &format!("#drawer-{bob} summary")).await;
    let drawer = browser.find(Locator::Css(&format!("#drawer-{bob}"))).await.unwrap().text().await.unwrap();
    assert!(drawer.contains(&format!("{} holds Contributor on Sales Analytics directly", upn("bob"))), "{drawer}");
    assert!(drawer.contains("Last activity") && drawer.contains("not in a previous campaign"), "{drawer}");
    violations.extend(axe(&browser).await);
    shot(&browser, "queue-drawer").await;
    click(&browser, &format!("#drawer-{bob} summary")).await;
    click(&browser, &format!("input[name=d{bob}][value=Revoke]")).await;
    submit(&browser, "button[value=save]").await;
    let error = browser.find(Locator::Css(&format!("#e{bob}"))).await.unwrap().text().await.unwrap();
    assert_eq!(error, "A justification is required for Revoke.");
    assert_eq!(browser.find(Locator::Css(&format!("#j{bob}"))).await.unwrap().attr("aria-invalid").await.unwrap().as_deref(), Some("true"));
    shot(&browser, "queue-error").await;
    type_into(&browser, &format!("#j{bob}"), "moved to Finance").await;
    submit(&browser, "button[value=save]").await;
    assert!(text(&browser).await.contains("1 decision(s) recorded."));

    // A self-review is refused: the admin selects their own row for the bulk accept.
    let own = row_of(&browser, &upn("admin")).await;
    let carol = row_of(&browser, &upn("carol")).await;
    assert!(text(&browser).await.contains("You cannot review your own access."));
    click(&browser, &format!("#s{own}")).await;
    click(&browser, &format!("#s{carol}")).await;
    submit(&browser, "button[value=accept]").await;
    let page = text(&browser).await;
    assert!(page.contains("Nothing was recorded.") && page.contains("You cannot review your own access."), "{page}");
    // The bulk accept of carol alone goes through.
    click(&browser, &format!("#s{carol}")).await;
    submit(&browser, "button[value=accept]").await;
    assert!(text(&browser).await.contains("1 decision(s) recorded."));
    violations.extend(axe(&browser).await);
    shot(&browser, "queue").await;

    // A form without the session's CSRF token is refused with a clear page.
    let cookie = browser.get_named_cookie("pbi_review_session").await.unwrap();
    let forged = reqwest::Client::new()
        .post(format!("{campaign_url}/close"))
        .header("cookie", format!("pbi_review_session={}", cookie.value()))
        .form(&[("csrf", "not-the-token")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(forged.text().await.unwrap().contains("Nothing was changed"));

    // Close, preview, apply.
    browser.goto(&campaign_url).await.unwrap();
    submit(&browser, "form[action$='/close'] button").await;
    let page = text(&browser).await;
    assert!(page.contains("1 change(s)") && page.contains(&upn("bob")), "{page}");
    violations.extend(axe(&browser).await);
    shot(&browser, "apply-preview").await;
    // The service changes under the preview (alice becomes a Viewer): applying from the stale
    // page applies nothing and shows the plan against what the service shows now.
    let changed = http
        .put(format!("{}/v1.0/myorg/groups/{workspace}/users", demo.base))
        .bearer_auth(&token)
        .json(&json!({ "identifier": upn("alice"), "principalType": "User", "groupUserAccessRight": "Viewer" }))
        .send()
        .await
        .unwrap();
    assert!(changed.status().is_success(), "{}", changed.text().await.unwrap());
    submit(&browser, "form[action$='/apply'] button").await;
    let page = text(&browser).await;
    assert!(page.contains("The service changed since the page you applied from: nothing was applied"), "{page}");
    assert_eq!(members(&demo, &http, &token, &workspace).await.len(), before.len(), "nothing was applied");
    submit(&browser, "form[action$='/apply'] button").await;
    let page = text(&browser).await;
    assert!(page.contains("applied"), "{page}");

    // The evidence shows the revoke applied, and the chain verifies.
    browser.goto(&format!("{campaign_url}/evidence")).await.unwrap();
    let report = browser.source().await.unwrap();
    assert!(report.contains(">verified<") && report.contains("moved to Finance") && report.contains("applied"), "{report}");
    shot(&browser, "evidence").await;

    // On the service: exactly bob's role is gone.
    let after = members(&demo, &http, &token, &workspace).await;
    let expected: Vec<(String, String)> = before
        .iter()
        .filter(|(p, _)| *p != upn("bob"))
        .map(|(p, r)| (p.clone(), if *p == upn("alice") { "Viewer".to_string() } else { r.clone() }))
        .collect();
    assert_eq!(after, expected);
    assert!(violations.is_empty(), "axe-core found serious or critical violations: {violations:#?}");

    browser.close().await.unwrap();
    driver.kill().await.unwrap();
    app.kill().await.unwrap();
    demo.child.kill().await.unwrap();
}

fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let unescape = |v: &str| v.replace("&#x2f;", "/").replace("&#47;", "/").replace("&amp;", "&").replace("&quot;", "\"");
    html.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .filter_map(|rest| {
            let (name, rest) = rest.split_once('"')?;
            let value = rest.split_once("value=\"")?.1.split_once('"')?.0;
            Some((name.to_string(), unescape(value)))
        })
        .collect()
}

fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.split(';').next()?.strip_prefix(&format!("{name}=")).map(str::to_string))
}

/// Sign in without a browser, as a browser would: the app's redirect, the authority's form, the
/// callback. Returns the session cookie's value and the callback URL (to try a replay).
async fn sign_in(http: &reqwest::Client, base: &str, user: &str, password: &str) -> (String, String) {
    let r = http.get(format!("{base}/review/auth/signin")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let authorize = r.headers()["location"].to_str().unwrap().to_string();
    assert!(authorize.contains("code_challenge_method=S256") && authorize.contains("nonce="), "{authorize}");
    let r = http.get(&authorize).send().await.unwrap();
    let csrf_cookie = set_cookie(&r, "pbi_signin_csrf").expect("the sign-in page sets its CSRF cookie");
    let html = r.text().await.unwrap();
    let action = html.split("<form method=\"post\" action=\"").nth(1).unwrap().split('"').next().unwrap().replace("%2D", "-");
    let origin = authorize.split("/").take(3).collect::<Vec<_>>().join("/");
    let mut form = hidden_fields(&html);
    form.push(("username".into(), user.into()));
    form.push(("password".into(), password.into()));
    let r =
        http.post(format!("{origin}{action}")).header("cookie", format!("pbi_signin_csrf={csrf_cookie}")).form(&form).send().await.unwrap();
    assert!(r.status().is_redirection(), "{}", r.text().await.unwrap());
    let callback = r.headers()["location"].to_str().unwrap().to_string();
    let r = http.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    (set_cookie(&r, "pbi_review_session").expect("a session cookie"), callback)
}

/// Without a browser (so it runs everywhere): roles, a replayed callback, CSRF, signing out.
#[tokio::test]
async fn sign_in_roles_and_forms_over_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = common::serve(&format!("sqlite://{}", dir.path().join("service.db").display())).await;
    let cli = Cli::new(&demo, dir.path());
    let review_db = format!("sqlite://{}", dir.path().join("review.db").display());
    let (mut app, base) = start_review_app(&cli, &review_db, dir.path()).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    let r = http.get(format!("{base}/review/")).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("href=\"/review/auth/signin\""), "signed out: the sign-in page");
    let r = http.get(format!("{base}/review/campaigns/new")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().unwrap()), (303, "/review/"));

    // dave is no Fabric administrator: he reviews, he does not start campaigns.
    let (dave, callback) = sign_in(&http, &base, &upn("dave"), &demo.password).await;
    let r = http.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), 400, "a callback is used once");
    assert!(r.text().await.unwrap().contains("unknown or too old"));
    let as_dave = |path: &str| http.get(format!("{base}{path}")).header("cookie", format!("pbi_review_session={dave}"));
    let page = as_dave("/review/").send().await.unwrap().text().await.unwrap();
    assert!(page.contains(&upn("dave")) && !page.contains("· Fabric administrator") && !page.contains("New campaign"), "{page}");
    let r = as_dave("/review/campaigns/new").send().await.unwrap();
    assert_eq!(r.status(), 403);
    let csrf = hidden_fields(&page).into_iter().find(|(n, _)| n == "csrf").unwrap().1;
    let r = http
        .post(format!("{base}/review/campaigns"))
        .header("cookie", format!("pbi_review_session={dave}"))
        .form(&[("csrf", csrf.as_str()), ("name", "Mine"), ("scope", "all"), ("due_days", "7")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "only a Fabric administrator starts a campaign");

    // The admin: a wrong CSRF token is refused, the right one starts the campaign.
    let (admin, _) = sign_in(&http, &base, &demo.admin, &demo.password).await;
    let page = http.get(format!("{base}/review/")).header("cookie", format!("pbi_review_session={admin}")).send().await.unwrap();
    let page = page.text().await.unwrap();
    assert!(page.contains("Fabric administrator"));
    let csrf = hidden_fields(&page).into_iter().find(|(n, _)| n == "csrf").unwrap().1;
    let start = |token: String| {
        http.post(format!("{base}/review/campaigns"))
            .header("cookie", format!("pbi_review_session={admin}"))
            .form(&[
                ("csrf", token),
                ("name", "All".into()),
                ("scope", "all".into()),
                ("due_days", "7".into()),
                ("lookback_days", "3".into()),
            ])
            .send()
    };
    assert_eq!(start(csrf.replace(|c: char| c.is_alphanumeric(), "x")).await.unwrap().status(), 403);
    assert_eq!(start(String::new()).await.unwrap().status(), 403);
    let r = start(csrf.clone()).await.unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap().replace("\n", " "));
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("/review/campaigns/"), "{location}");
    // Three days of the activity log were read (one admin call a day at least).
    let page = http.get(format!("{base}{location}")).header("cookie", format!("pbi_review_session={admin}")).send().await.unwrap();
    let page = page.text().await.unwrap();
    let calls: i64 = page.split("<dt>Admin calls spent</dt><dd>").nth(1).unwrap().split('<').next().unwrap().parse().unwrap();
    assert!(calls >= 3, "the snapshot and three days of activity: {calls} admin calls");

    // Signing out ends the session on the server.
    let r = http
        .post(format!("{base}/review/auth/signout"))
        .header("cookie", format!("pbi_review_session={admin}"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = http.get(format!("{base}/review/")).header("cookie", format!("pbi_review_session={admin}")).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("href=\"/review/auth/signin\""));

    app.kill().await.unwrap();
    demo.child.kill().await.unwrap();
}

/// The admin's page, its CSRF token, and a form post as the admin.
struct Signed {
    http: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

impl Signed {
    async fn new(http: &reqwest::Client, base: &str, user: &str, password: &str) -> Signed {
        let (session, _) = sign_in(http, base, user, password).await;
        let cookie = format!("pbi_review_session={session}");
        let page = http.get(format!("{base}/review/")).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
        let csrf = hidden_fields(&page).into_iter().find(|(n, _)| n == "csrf").expect("a signed-in page carries the CSRF token").1;
        Signed { http: http.clone(), base: base.to_string(), cookie, csrf }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(format!("{}{path}", self.base)).header("cookie", &self.cookie).send().await.unwrap()
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let mut fields: Vec<(&str, &str)> = vec![("csrf", &self.csrf)];
        fields.extend_from_slice(form);
        self.http.post(format!("{}{path}", self.base)).header("cookie", &self.cookie).form(&fields).send().await.unwrap()
    }
}

/// Start a campaign over Sales Analytics, revoke bob's role, close and apply: returns the
/// campaign's path and bob's row number.
async fn revoke_bob(admin: &Signed, review_db: &str) -> (String, i64) {
    let r = admin
        .post(
            "/review/campaigns",
            &[("name", "Sales"), ("scope", "list"), ("workspaces", "Sales Analytics"), ("due_days", "7"), ("lookback_days", "0")],
        )
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let campaign = r.headers()["location"].to_str().unwrap().split('?').next().unwrap().to_string();
    let id: uuid::Uuid = campaign.rsplit('/').next().unwrap().parse().unwrap();
    let store = pbi_server::store::Store::connect(review_db).await.unwrap();
    let rows = store.review_rows(id, &pbi_server::review::RowQuery { limit: 100, ..Default::default() }).await.unwrap();
    store.close().await;
    let bob = rows.iter().find(|r| r.access.principal.eq_ignore_ascii_case(&upn("bob"))).expect("bob's row").row_no;
    let n = bob.to_string();
    let r = admin
        .post(
            &format!("{campaign}/decisions"),
            &[("shown", &n), (&format!("d{n}"), "Revoke"), (&format!("j{n}"), "moved to Finance"), ("action", "save")],
        )
        .await;
    assert!(r.status().is_redirection() || r.status().is_success(), "{}", r.status());
    let r = admin.post(&format!("{campaign}/close"), &[]).await;
    assert_eq!(r.status(), 303);
    let preview = admin.get(&format!("{campaign}/apply")).await.text().await.unwrap();
    let fingerprint = hidden_fields(&preview).into_iter().find(|(n, _)| n == "fingerprint").expect("the preview's fingerprint").1;
    let r = admin.post(&format!("{campaign}/apply"), &[("fingerprint", &fingerprint)]).await;
    assert!(r.status().is_redirection(), "{}: {}", r.status(), r.text().await.unwrap());
    (campaign, bob)
}

/// Every applied result names the service's `RequestId` of the call that made the change: the
/// same id the service wrote into the activity log's event for it, and the one the evidence
/// (JSON, CSV, printable HTML) shows.
#[tokio::test]
async fn applied_results_carry_the_services_request_ids() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = common::serve(&format!("sqlite://{}", dir.path().join("service.db").display())).await;
    let cli = Cli::new(&demo, dir.path());
    let review_db = format!("sqlite://{}", dir.path().join("review.db").display());
    let (mut app, base) = start_review_app(&cli, &review_db, dir.path()).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let admin = Signed::new(&http, &base, &demo.admin, &demo.password).await;
    let (campaign, bob) = revoke_bob(&admin, &review_db).await;

    let evidence: Value = admin.get(&format!("{campaign}/evidence.json")).await.json().await.unwrap();
    let result = evidence["results"].as_array().unwrap().iter().find(|r| r["row"] == bob).unwrap_or_else(|| panic!("{evidence}"));
    assert_eq!(result["outcome"], "applied", "{result}");
    let request_id = result["requestId"].as_str().filter(|r| !r.is_empty()).unwrap_or_else(|| panic!("no request id: {result}"));

    // The service recorded the removal under that request id.
    let token = demo.admin_token(&demo.http()).await;
    let today = chrono::Utc::now().date_naive();
    let mut events = Vec::new();
    let mut url =
        format!("{}/v1.0/myorg/admin/activityevents?startDateTime='{today}T00:00:00.000Z'&endDateTime='{today}T23:59:59.999Z'", demo.base);
    loop {
        let page: Value = demo.http().get(&url).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        events.extend(page["activityEventEntities"].as_array().cloned().unwrap_or_default());
        match page["continuationToken"].as_str() {
            Some(t) if page["lastResultSet"] != true => {
                url = format!("{}/v1.0/myorg/admin/activityevents?continuationToken='{t}'", demo.base);
            }
            _ => break,
        }
    }
    let removal = events.iter().find(|e| e["RequestId"] == request_id).unwrap_or_else(|| panic!("no event with {request_id}"));
    assert!(removal["Operation"].as_str().or(removal["Activity"].as_str()).unwrap_or_default().starts_with("Delete"), "{removal}");

    let csv = admin.get(&format!("{campaign}/evidence.csv")).await.text().await.unwrap();
    assert!(csv.lines().any(|l| l.contains(&upn("bob")) && l.ends_with(request_id)), "{csv}");
    let html = admin.get(&format!("{campaign}/evidence")).await.text().await.unwrap();
    assert!(html.contains(request_id), "the printable evidence shows the request id");

    app.kill().await.unwrap();
    demo.child.kill().await.unwrap();
}

/// Two review app instances on one database (PostgreSQL when `PBI_ACCESS_TEST_POSTGRES` is
/// reachable, else a SQLite file) share sign-ins: a session started on one is signed in on the
/// other, signing out on the other ends it on both, and an expired session signs nobody in.
#[tokio::test]
async fn two_instances_share_sessions_in_the_review_database() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = common::serve(&format!("sqlite://{}", dir.path().join("service.db").display())).await;
    let cli = Cli::new(&demo, dir.path());
    let review_db = match std::env::var("PBI_ACCESS_TEST_POSTGRES") {
        Ok(_) => common::postgres_database().await.expect("PBI_ACCESS_TEST_POSTGRES is set: PostgreSQL must be reachable"),
        Err(_) => format!("sqlite://{}", dir.path().join("review.db").display()),
    };
    let (mut first, first_base) = start_review_app(&cli, &review_db, dir.path()).await;
    let (mut second, second_base) = start_review_app(&cli, &review_db, dir.path()).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    let on_first = Signed::new(&http, &first_base, &demo.admin, &demo.password).await;
    let on_second = Signed { http: http.clone(), base: second_base.clone(), cookie: on_first.cookie.clone(), csrf: on_first.csrf.clone() };
    let page = on_second.get("/review/").await.text().await.unwrap();
    assert!(page.contains(&demo.admin.to_lowercase()) && page.contains("Fabric administrator"), "signed in on the other instance: {page}");
    let store = pbi_server::store::Store::connect(&review_db).await.unwrap();
    let cookie = on_second.cookie.trim_start_matches("pbi_review_session=").to_string();
    let now = chrono::Utc::now().timestamp_millis();
    assert!(store.review_session(&cookie, now).await.unwrap().is_some(), "the session is in the database");

    let r = on_second.post("/review/auth/signout", &[]).await;
    assert_eq!(r.status(), 303);
    assert!(store.review_session(&cookie, now).await.unwrap().is_none(), "signing out deletes the session");
    let r = http.get(format!("{first_base}/review/campaigns/new")).header("cookie", &on_second.cookie).send().await.unwrap();
    assert_eq!(r.status(), 303, "signed out on the first instance too");

    // A session past its expiry signs nobody in, on any instance.
    let expired = pbi_server::review::SignedIn {
        upn: demo.admin.to_lowercase(),
        name: "Admin".into(),
        admin: true,
        csrf: "x".into(),
        expires_at: now - 1,
    };
    store.create_review_session("stale-token", &expired, now - 10).await.unwrap();
    for base in [&first_base, &second_base] {
        let page = http.get(format!("{base}/review/")).header("cookie", "pbi_review_session=stale-token").send().await.unwrap();
        assert!(page.text().await.unwrap().contains("href=\"/review/auth/signin\""), "an expired session is no sign-in");
    }
    store.close().await;
    first.kill().await.unwrap();
    second.kill().await.unwrap();
    demo.child.kill().await.unwrap();
}
