//! `pbi-access offboard` end to end against `pbi-access serve`: a user who reaches many
//! workspaces directly, through a group, as the only Admin of one, and through a dataset
//! permission; then the same under injected 429s and 500s.

mod common;

use std::process::Stdio;

use serde_json::{json, Value};
use tokio::process::Command;

const CAROL: &str = "carol@contoso.onmicrosoft.com";
const ALICE: &str = "alice@contoso.onmicrosoft.com";
const OPERATOR_TOKEN: &str = "operator-secret-for-tests";

/// The demo tenant grown for an offboarding, through the API as the Fabric administrator.
struct Tenant {
    http: reqwest::Client,
    base: String,
    token: String,
    /// Workspaces where carol holds a role directly (name → id), the admin holding Admin.
    direct: Vec<(String, String)>,
    /// carol the only Admin; the admin has no role there.
    last_admin: String,
    /// carol a Member, alice the Admin; the admin has no role there.
    foreign: String,
    /// carol only through the group "Sales Analysts".
    grouped: String,
    /// Sales Analytics: carol Viewer directly and through "Sales Analysts".
    sales: String,
}

impl Tenant {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.http.request(method, format!("{}/v1.0/myorg{path}", self.base)).bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn ok(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method.clone(), path, body).await;
        assert!(status < 300, "{method} {path}: {status} {v}");
        v
    }

    async fn create(&self, name: &str) -> String {
        let v = self.ok(reqwest::Method::POST, "/groups?workspaceV2=True", Some(json!({ "name": name }))).await;
        v["id"].as_str().unwrap().to_string()
    }

    async fn add(&self, ws: &str, who: &str, kind: &str, role: &str) {
        let body = json!({"identifier": who, "principalType": kind, "groupUserAccessRight": role});
        self.ok(reqwest::Method::POST, &format!("/groups/{ws}/users"), Some(body)).await;
    }

    /// Who holds which role directly, through the admin endpoint.
    async fn roles(&self, ws: &str) -> Vec<(String, String)> {
        let v = self.ok(reqwest::Method::GET, &format!("/admin/groups/{ws}/users"), None).await;
        v["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["identifier"].as_str().unwrap_or("").to_lowercase(), m["groupUserAccessRight"].as_str().unwrap().to_string()))
            .collect()
    }

    async fn role_of(&self, ws: &str, who: &str) -> Option<String> {
        self.roles(ws).await.into_iter().find(|(id, _)| id == who).map(|(_, r)| r)
    }
}

async fn grow(demo: &common::Demo) -> Tenant {
    let http = reqwest::Client::new();
    let token = demo.admin_token(&http).await;
    let mut t = Tenant {
        http,
        base: demo.base.clone(),
        token,
        direct: vec![],
        last_admin: String::new(),
        foreign: String::new(),
        grouped: String::new(),
        sales: demo.workspace.clone(),
    };
    let sales_members = t.ok(reqwest::Method::GET, &format!("/groups/{}/users", t.sales), None).await;
    let analysts = sales_members["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["displayName"] == "Sales Analysts")
        .and_then(|m| m["identifier"].as_str())
        .unwrap()
        .to_string();
    for (i, role) in
        ["Viewer", "Member", "Contributor", "Admin", "Viewer", "Member", "Contributor", "Viewer", "Member", "Viewer"].iter().enumerate()
    {
        let name = format!("Offboarding {i:02}");
        let id = t.create(&name).await;
        t.add(&id, CAROL, "User", role).await;
        if i == 0 {
            // Direct and through a group: the direct role goes, the group's stays.
            t.add(&id, &analysts, "Group", "Viewer").await;
        }
        t.direct.push((name, id));
    }
    // Only through nesting: carol is in "Sales Analysts", which is inside "Offboarding Leads".
    let graph = common::cli::Graph::new(demo).await;
    let leads = graph.create_group("Offboarding Leads", &[&analysts]).await;
    t.grouped = t.create("Offboarding grouped").await;
    t.add(&t.grouped, &leads, "Group", "Contributor").await;
    let admin = demo.admin.to_lowercase();
    t.last_admin = t.create("Offboarding last admin").await;
    t.add(&t.last_admin, CAROL, "User", "Admin").await;
    t.ok(reqwest::Method::DELETE, &format!("/groups/{}/users/{admin}", t.last_admin), None).await;
    t.foreign = t.create("Offboarding foreign").await;
    t.add(&t.foreign, ALICE, "User", "Admin").await;
    t.add(&t.foreign, CAROL, "User", "Member").await;
    t.ok(reqwest::Method::DELETE, &format!("/groups/{}/users/{admin}", t.foreign), None).await;
    // A direct dataset permission where carol holds no role.
    let finance = t.ok(reqwest::Method::GET, "/groups?$filter=name%20eq%20'Finance%20Reporting'", None).await;
    let finance = finance["value"][0]["id"].as_str().unwrap().to_string();
    let datasets = t.ok(reqwest::Method::GET, &format!("/groups/{finance}/datasets"), None).await;
    let ledger = datasets["value"][0]["id"].as_str().unwrap().to_string();
    let grant = json!({"identifier": CAROL, "principalType": "User", "datasetUserAccessRight": "ReadReshare"});
    t.ok(reqwest::Method::POST, &format!("/groups/{finance}/datasets/{ledger}/users"), Some(grant)).await;
    t
}

struct Cli {
    env: Vec<(String, String)>,
    dir: std::path::PathBuf,
}

impl Cli {
    fn new(demo: &common::Demo, dir: &std::path::Path) -> Cli {
        let env = vec![
            ("PBI_ACCESS_TENANT".to_string(), demo.tenant.clone()),
            ("PBI_ACCESS_CLIENT_ID".into(), demo.client_id.clone()),
            ("PBI_ACCESS_USERNAME".into(), demo.admin.clone()),
            ("PBI_ACCESS_PASSWORD".into(), demo.password.clone()),
            ("PBI_ACCESS_POWERBI_URL".into(), demo.base.clone()),
            ("PBI_ACCESS_AUTHORITY_URL".into(), demo.base.clone()),
            ("PBI_ACCESS_GRAPH_URL".into(), format!("{}/graph", demo.base)),
            ("PBI_ACCESS_LEDGER".into(), dir.join("ledger.json").display().to_string()),
            ("PBI_ACCESS_PROFILES".into(), dir.join("no-profiles.toml").display().to_string()),
        ];
        Cli { env, dir: dir.to_path_buf() }
    }

    async fn run(&self, args: &[&str], extra_env: &[(&str, &str)]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_pbi-access"))
            .args(args)
            .envs(self.env.clone())
            .envs(extra_env.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
    }

    async fn json(&self, args: &[&str], code: i32) -> Value {
        let (got, out, err) = self.run(args, &[]).await;
        assert_eq!(got, code, "{args:?}: {err}\n{out}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }
}

fn names(list: &Value, key: &str) -> Vec<String> {
    let mut v: Vec<String> = list[key].as_array().unwrap().iter().map(|x| x["name"].as_str().unwrap().to_string()).collect();
    v.sort();
    v
}

/// Every direct role of carol is gone (but in `except`), alice keeps or gains what she should.
async fn assert_carol_gone(t: &Tenant, except: &[&str]) {
    let mut all: Vec<&str> = t.direct.iter().map(|(_, id)| id.as_str()).collect();
    all.extend([t.foreign.as_str(), t.grouped.as_str(), t.sales.as_str(), t.last_admin.as_str()]);
    for ws in all {
        let role = t.role_of(ws, CAROL).await;
        if except.contains(&ws) {
            assert!(role.is_some(), "carol kept {ws}");
        } else {
            assert_eq!(role, None, "carol still holds a role in {ws}");
        }
    }
}

#[tokio::test]
async fn offboarding_across_many_workspaces_hands_over_the_last_admin_and_reports_group_access() {
    let dir = tempfile::tempdir().unwrap();
    offboarding_across_many_workspaces(&format!("sqlite://{}", dir.path().join("off.db").display()), dir.path()).await;
}

#[tokio::test]
async fn offboarding_across_many_workspaces_on_postgres() {
    if let Some(url) = common::postgres_database().await {
        let dir = tempfile::tempdir().unwrap();
        offboarding_across_many_workspaces(&url, dir.path()).await;
    }
}

async fn offboarding_across_many_workspaces(database: &str, dir: &std::path::Path) {
    let mut demo = common::serve(database).await;
    let t = grow(&demo).await;
    let cli = Cli::new(&demo, dir);

    // The plan, and nothing changed.
    let plan = cli.json(&["offboard", CAROL, "--dry-run", "--output", "json"], 0).await;
    let steps = plan["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 10 + 1 + 1 + 1, "ten workspaces as Admin, Sales Analytics, the foreign one, the dataset: {plan}");
    let admin_steps: Vec<&str> = steps.iter().filter(|s| s["endpoint"] == "Admin").map(|s| s["target_name"].as_str().unwrap()).collect();
    assert_eq!(admin_steps, vec!["Offboarding foreign"], "the workspace endpoint wherever the caller is Admin: {plan}");
    assert_eq!(plan["adminCalls"], 1);
    let remains = plan["remains"].as_array().unwrap();
    let reason = |name: &str| remains.iter().find(|r| r["name"] == name).map(|r| r["reason"].as_str().unwrap().to_string());
    assert!(reason("Offboarding last admin").unwrap().contains("--successor"), "{plan}");
    assert!(reason("Offboarding grouped").unwrap().contains("through group Offboarding Leads (through Sales Analysts)"), "{plan}");
    assert_eq!(t.role_of(&t.direct[3].1, CAROL).await.as_deref(), Some("Admin"), "a dry run changes nothing");

    // The signed-in administrator cannot offboard itself.
    let (code, _, err) = cli.run(&["offboard", &demo.admin, "--dry-run"], &[]).await;
    assert_eq!(code, 2, "{err}");

    // Without --yes and without a terminal: declined, nothing changed.
    let (code, _, err) = cli.run(&["offboard", CAROL], &[]).await;
    assert_eq!(code, 5, "{err}");
    assert_eq!(t.role_of(&t.direct[0].1, CAROL).await.as_deref(), Some("Viewer"));

    // Without a successor: everything else goes; the last-Admin workspace stays, exit 6.
    let report = cli.json(&["offboard", CAROL, "--yes", "--output", "json"], 6).await;
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["removed"].as_array().unwrap().len(), 13, "{report}");
    assert_eq!(report["throttled"], 0);
    let mut remaining = names(&report, "remains");
    remaining.retain(|n| n.starts_with("Offboarding") || n == "Sales Analytics");
    assert_eq!(remaining, vec!["Offboarding 00", "Offboarding grouped", "Offboarding last admin", "Sales Analytics"], "{report}");
    let why: Vec<&str> = report["remains"].as_array().unwrap().iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert!(why.iter().filter(|w| w.contains("through group Sales Analysts")).count() >= 2, "group access is named: {report}");
    assert_carol_gone(&t, &[&t.last_admin]).await;
    assert_eq!(t.role_of(&t.foreign, ALICE).await.as_deref(), Some("Admin"), "others keep their roles");

    // With a successor: alice becomes Admin first, then carol leaves. Exit 0.
    let report = cli.json(&["offboard", CAROL, "--yes", "--successor", ALICE, "--output", "json"], 0).await;
    let changes: Vec<&str> = report["removed"].as_array().unwrap().iter().map(|r| r["change"].as_str().unwrap()).collect();
    assert_eq!(changes, vec![format!("add {ALICE} as Admin").as_str(), "remove workspace role (Admin)"], "{report}");
    assert_eq!(t.role_of(&t.last_admin, ALICE).await.as_deref(), Some("Admin"));
    assert_carol_gone(&t, &[]).await;

    // Nothing left to do: a new run plans no step.
    let again = cli.json(&["offboard", CAROL, "--dry-run", "--output", "json"], 0).await;
    assert_eq!(again["steps"], json!([]), "{again}");
    demo.child.start_kill().unwrap();
}

async fn activity_count(db: &std::path::Path, activity: &str, workspace: &str) -> i64 {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    let n: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM activity_events WHERE activity = ? AND event_json LIKE ?")
        .bind(activity)
        .bind(format!("%{workspace}%"))
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n.0
}

/// A server with the operator API on, the grown tenant, and a first offboarding (with a
/// successor) stopped by an admin budget of `budget` calls an hour: its plan and journal saved.
async fn stopped_by_the_budget(dir: &std::path::Path, budget: &str) -> (common::Demo, Tenant, Cli, std::path::PathBuf, String) {
    let config = dir.join("pbi-access.toml");
    std::fs::write(&config, format!("[operator]\ntoken = \"{OPERATOR_TOKEN}\"\n")).unwrap();
    let db = dir.join("offboard.db");
    let demo = common::serve_with(&format!("sqlite://{}", db.display()), &["--config", config.to_str().unwrap()]).await;
    let t = grow(&demo).await;
    let cli = Cli::new(&demo, dir);
    let (code, _, err) = cli
        .run(
            &["offboard", CAROL, "--yes", "--successor", ALICE],
            &[("PBI_ACCESS_ADMIN_BUDGET_PER_HOUR", budget), ("PBI_ACCESS_MAX_WAIT_SECS", "0")],
        )
        .await;
    assert_eq!(code, 3, "{err}");
    (demo, t, cli, db, err)
}

async fn set_faults(t: &Tenant, rules: Value) {
    let r = t.http.put(format!("{}/operator/v1/faults", t.base)).bearer_auth(OPERATOR_TOKEN).json(&rules).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
}

#[tokio::test]
async fn offboarding_through_injected_429s_and_500s_removes_everything_and_adds_the_successor_once() {
    let dir = tempfile::tempdir().unwrap();
    // A first run stopped by the admin budget (the foreign workspace's removal and the hand-over
    // need admin calls, discovery spends two): the journal is saved and a resume command printed.
    let (mut demo, t, cli, db, err) = stopped_by_the_budget(dir.path(), "3").await;
    assert!(err.contains("--resume") && err.contains("journal"), "{err}");

    // Now the service fails: 429s and 500s on every removal and admin call, seeded.
    let rule = |path: &str, seed: u64| json!({"path": path, "probability_429": 0.15, "probability_500": 0.25, "retry_after_secs": 1, "seed": seed});
    let rules = json!({"rules": [
        rule("/v1.0/myorg/groups/*/users/*", 7),
        rule("/v1.0/myorg/admin/groups/*", 11),
        rule("/v1.0/myorg/datasets/*", 13),
    ]});
    set_faults(&t, rules).await;

    // The same command resumes the saved plan, through the faults, to the end.
    let (code, out, err) = cli.run(&["offboard", CAROL, "--yes", "--successor", ALICE, "--output", "json"], &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("resuming the offboarding of"), "the saved plan is resumed, not made again: {err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["verified"], true, "{report}");
    let faults_met = report["throttled"].as_u64().unwrap() + report["serverErrors"].as_u64().unwrap();
    assert!(faults_met > 0, "the run met injected faults: {report}");
    assert_eq!(report["refused"], json!([]), "{report}");
    let r = t.http.delete(format!("{}/operator/v1/faults", t.base)).bearer_auth(OPERATOR_TOKEN).send().await.unwrap();
    assert!(r.status().is_success());
    assert_carol_gone(&t, &[]).await;
    assert_eq!(t.role_of(&t.last_admin, ALICE).await.as_deref(), Some("Admin"));
    assert_eq!(
        activity_count(&db, "AddWorkspaceRoleViaAdminApi", &t.last_admin).await,
        1,
        "the successor was added exactly once, whatever the 500s did"
    );
    assert_eq!(activity_count(&db, "DeleteWorkspaceRoleViaAdminApi", &t.last_admin).await, 1);
    assert_eq!(activity_count(&db, "DeleteWorkspaceRoleViaAdminApi", &t.foreign).await, 1);
    demo.child.start_kill().unwrap();
}

#[tokio::test]
async fn a_successor_add_left_in_doubt_is_read_back_not_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    // Discovery spends the two admin calls there are: the run stops before its first admin step.
    let (mut demo, t, cli, _, _) = stopped_by_the_budget(dir.path(), "2").await;

    // As if the hand-over had been sent and its answer lost: alice is Admin, and the journal has
    // the step started but not done.
    t.ok(
        reqwest::Method::POST,
        &format!("/admin/groups/{}/users", t.last_admin),
        Some(json!({"identifier": ALICE, "principalType": "User", "groupUserAccessRight": "Admin"})),
    )
    .await;
    let journal = dir.path().join(format!("offboard-{CAROL}.journal"));
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join(format!("offboard-{CAROL}.plan.json"))).unwrap()).unwrap();
    let step = plan["steps"].as_array().unwrap().iter().find(|s| s["action"]["type"] == "AddSuccessorAsAdmin").unwrap()["id"].clone();
    let mut text = std::fs::read_to_string(&journal).unwrap();
    text.push_str(&format!("{}\n", json!({"event": "started", "step": step})));
    std::fs::write(&journal, text).unwrap();

    // Any further POST of the hand-over would meet an hour-long 429 and stop the run (exit 3).
    let rules = json!({"rules": [{"operation": "Groups_AddUserAsAdmin", "probability_429": 1.0, "retry_after_secs": 3600}]});
    set_faults(&t, rules).await;
    let (code, out, err) = cli.run(&["offboard", CAROL, "--yes", "--successor", ALICE, "--output", "json"], &[]).await;
    assert_eq!(code, 0, "the add in doubt was read back and found done, not sent again: {err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["throttled"], 0, "{report}");
    assert_eq!(report["verified"], true);
    assert_carol_gone(&t, &[]).await;
    assert_eq!(t.role_of(&t.last_admin, ALICE).await.as_deref(), Some("Admin"));
    demo.child.start_kill().unwrap();
}
