//! `onboard`, `audit --all` (scanner), the tenant snapshot and `rehearse`, end to end against a
//! running pbi-access with the demo tenant.

mod common;

use common::cli::{instant_licenses, rows_where, Cli, Graph};
use reqwest::Method;
use serde_json::{json, Value};

const DOMAIN: &str = "contoso.onmicrosoft.com";

fn upn(local: &str) -> String {
    format!("{local}@{DOMAIN}")
}

fn outcomes(rows: &Value) -> Vec<String> {
    rows.as_array().unwrap().iter().map(|r| format!("{}: {}", r["step"].as_str().unwrap(), r["outcome"].as_str().unwrap())).collect()
}

#[tokio::test]
async fn sqlite_onboarding_across_workspaces_with_a_license_is_verified_and_idempotent() {
    onboarding(None).await;
}

#[tokio::test]
async fn postgres_onboarding_across_workspaces_with_a_license_is_verified_and_idempotent() {
    if let Some(url) = common::postgres_database().await {
        onboarding(Some(url)).await;
    }
}

async fn onboarding(database: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let config = instant_licenses(dir.path());
    let db = database.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("onboard.db").display()));
    let mut demo = common::serve_with(&db, &["--config", &config]).await;
    let cli = Cli::new(&demo, dir.path());
    let graph = Graph::new(&demo).await;
    graph.create_user(&upn("erin"), "Erin Eng").await;
    // Entra assigns no license to an account without a usage location: a clear refusal.
    let (code, _, err) =
        cli.run(&["onboard", &upn("erin"), "--workspace", "Sales Analytics", "--role", "Viewer", "--license", "pro"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("--usage-location"), "{err}");

    let args = [
        "onboard",
        &upn("erin"),
        "--workspace",
        "Sales Analytics",
        "--workspace",
        "Finance Reporting",
        "--role",
        "Viewer",
        "--license",
        "pro",
        "--dataset",
        "Sales Model",
        "--permission",
        "ReadReshare",
        "--license-wait",
        "30",
        "--usage-location",
        "NL",
    ];
    let first = cli.json(&args).await;
    assert_eq!(
        outcomes(&first),
        [
            "account: verified",
            "usage location: set",
            "license: assigned",
            "workspace role: added as Viewer",
            "workspace role: added as Viewer",
            "dataset permission: granted ReadReshare"
        ],
        "{first}"
    );
    // The roles are there, and Power BI sees the license.
    for ws in ["Sales Analytics", "Finance Reporting"] {
        let audit = cli.json(&["audit", "--workspace", ws]).await;
        let erin = rows_where(&audit, "principal", &upn("erin"));
        assert_eq!(erin.len(), 1, "{ws}: {audit}");
        assert_eq!((erin[0]["role"].as_str(), erin[0]["licenseType"].as_str()), (Some("Viewer"), Some("Pro")), "{audit}");
    }
    let details = graph.send(Method::GET, &format!("/users/{}/licenseDetails", upn("erin")), None).await;
    assert_eq!(details["value"][0]["skuPartNumber"], "POWER_BI_PRO", "{details}");

    // A second run changes nothing.
    let mut args2 = args.to_vec();
    args2.extend(["--output", "json"]);
    let (code, out, err) = cli.run(&args2).await;
    assert_eq!(code, 0, "{err}");
    let second: Value = serde_json::from_str(&out).unwrap();
    assert!(outcomes(&second).iter().skip(1).all(|o| o.ends_with(": unchanged")), "{second}");
    assert!(err.contains("0 change(s)"), "{err}");

    // A workspace the app holds no role in is found and changed through the admin endpoints.
    let http = demo.http();
    let admin = demo.admin_token(&http).await;
    let r =
        http.post(format!("{}/v1.0/myorg/groups", demo.base)).bearer_auth(&admin).json(&json!({"name": "Private"})).send().await.unwrap();
    assert!(r.status().is_success());
    let (code, _, _) = cli.run(&["members", "Private"]).await;
    assert_eq!(code, 1, "the app is not in Private");
    // A workspace the app holds no role in is found through the admin list (audit reads it), but
    // Power BI's admin writes are not open to service principals: a clear refusal.
    let (code, _, err) = cli.run(&["onboard", &upn("erin"), "--workspace", "Private", "--role", "Contributor"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("holds no role in this workspace") && err.contains("give the app a role"), "{err}");
    let audit = cli.json(&["audit", "--workspace", "Private"]).await;
    assert!(rows_where(&audit, "principal", &upn("erin")).is_empty(), "{audit}");
    assert_eq!(rows_where(&audit, "principal", &demo.admin)[0]["role"], "Admin", "{audit}");

    // Onboarding never demotes: dave stays Member of Finance Reporting.
    let (code, out, err) =
        cli.run(&["onboard", &upn("dave"), "--workspace", "Finance Reporting", "--role", "Viewer", "--output", "json"]).await;
    assert_eq!(code, 0, "{err}");
    let rows: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(outcomes(&rows)[1], "workspace role: unchanged (already Member; onboarding never demotes)", "{rows}");
    let audit = cli.json(&["audit", "--workspace", "Finance Reporting"]).await;
    let dave = rows_where(&audit, "principal", &upn("dave"));
    assert!(dave.iter().any(|r| r["role"] == "Member" && r["via"] == "direct"), "{audit}");

    // An account that cannot sign in is refused before anything changes.
    graph.send(Method::PATCH, &format!("/users/{}", upn("carol")), Some(json!({"accountEnabled": false}))).await;
    let (code, _, err) = cli.run(&["onboard", &upn("carol"), "--workspace", "Finance Reporting", "--role", "Member"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("disabled"), "{err}");
    let audit = cli.json(&["audit", "--workspace", "Finance Reporting"]).await;
    assert!(rows_where(&audit, "principal", &upn("carol")).is_empty(), "{audit}");
    let (code, _, err) = cli.run(&["onboard", &upn("erin"), "--workspace", "Finance Reporting", "--role", "Owner"]).await;
    assert_eq!(code, 2, "{err}");
    demo.child.start_kill().unwrap();
}

#[tokio::test]
async fn sqlite_scanner_audit_snapshot_twin_and_rehearsal() {
    scanner_snapshot_rehearsal(None).await;
}

/// The source on PostgreSQL; the twins are SQLite files, as `rehearse` makes them.
#[tokio::test]
async fn postgres_scanner_audit_snapshot_twin_and_rehearsal() {
    if let Some(url) = common::postgres_database().await {
        scanner_snapshot_rehearsal(Some(url)).await;
    }
}

async fn scanner_snapshot_rehearsal(database: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let db = database.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("source.db").display()));
    let mut demo = common::serve(&db).await;
    let cli = Cli::new(&demo, dir.path());
    // 40 more workspaces, so the tenant has 42.
    let http = demo.http();
    let token = demo.token(&http).await;
    for i in 0..40 {
        let r = http
            .post(format!("{}/v1.0/myorg/groups", demo.base))
            .bearer_auth(&token)
            .json(&json!({"name": format!("Team {i:02}")}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    // audit --all: the scanner covers 42 workspaces in a handful of admin calls.
    let (code, out, err) = cli.run(&["audit", "--all", "--output", "json"]).await;
    assert_eq!(code, 0, "{err}");
    let source: Value = serde_json::from_str(&out).unwrap();
    assert!(err.contains("42 workspace(s) audited"), "{err}");
    let spent: usize = err.split("; ").nth(1).and_then(|s| s.split_whitespace().next()).and_then(|n| n.parse().ok()).expect(&err);
    assert!(spent <= 5, "the scanner (modified, getInfo, status, result) draws on its own budgets, not the admin one: {spent}");
    assert_eq!(rows_where(&source, "workspace", "Team 07").len(), 1, "{source}");
    assert!(!rows_where(&source, "principal", &upn("carol")).is_empty());

    // The snapshot imports into a fresh database, and the twin audits the same.
    let snapshot = dir.path().join("contoso.snapshot.json");
    let (code, out, err) = cli.run(&["audit", "--all", "--output", "snapshot", "--out", snapshot.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{err}");
    let secret = out.split("fresh secret ").nth(1).and_then(|s| s.split_whitespace().next()).expect(&out).to_string();
    assert!(!std::fs::read_to_string(&snapshot).unwrap().contains(&demo.secret), "the tenant's own secret is never exported");
    let twin_db = format!("sqlite://{}", dir.path().join("twin.db").display());
    let import = tokio::process::Command::new(env!("CARGO_BIN_EXE_pbi-access"))
        .args(["tenant", "import", snapshot.to_str().unwrap(), "--database", &twin_db])
        .output()
        .await
        .unwrap();
    assert!(import.status.success(), "{}", String::from_utf8_lossy(&import.stderr));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut twin = tokio::process::Command::new(env!("CARGO_BIN_EXE_pbi-access"))
        .args(["serve", "--no-demo", "--listen", &format!("127.0.0.1:{port}"), "--database", &twin_db])
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let twin_base = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if http.get(format!("{twin_base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let twin_cli = Cli::to(&twin_base, &demo.tenant, &demo.client_id, &secret, dir.path());
    let (code, out, err) = twin_cli.run(&["audit", "--all", "--output", "json"]).await;
    assert_eq!(code, 0, "{err}");
    let twin_rows: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(twin_rows, source, "the twin audits like the tenant");
    // The Microsoft 365 backing, which the API does not expose, is inferred and kept.
    let workspace_paths = |rows: Value| -> Vec<Value> { rows_where(&rows, "artifactType", "Workspace").into_iter().cloned().collect() };
    let source_bob = workspace_paths(cli.json(&["access", &upn("bob")]).await);
    assert!(source_bob.iter().any(|r| r["path"] == "Microsoft 365 group Finance Team backing the workspace"), "{source_bob:?}");
    assert_eq!(workspace_paths(twin_cli.json(&["access", &upn("bob")]).await), source_bob);
    twin.start_kill().unwrap();

    // Rehearse an onboarding on a twin: the change shows, the source does not move.
    let (code, out, err) = cli
        .run(&[
            "rehearse",
            "--snapshot",
            snapshot.to_str().unwrap(),
            "--",
            "onboard",
            &upn("carol"),
            "--workspace",
            "Finance Reporting",
            "--role",
            "Contributor",
        ])
        .await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains(&format!("+ Finance Reporting | {} | User | Contributor | direct", upn("carol"))), "{out}");
    assert!(out.contains("cost: "), "{out}");
    assert!(out.contains("added as Contributor"), "the rehearsed command's own output is shown: {out}");
    assert!(err.contains("1 change(s)"), "{err}");
    let after: Value = cli.json(&["audit", "--workspace", "Finance Reporting"]).await;
    assert!(rows_where(&after, "principal", &upn("carol")).is_empty(), "the source is untouched: {after}");
    // A rehearsal that changes nothing says so.
    let (code, out, _) = cli.run(&["rehearse", "--snapshot", snapshot.to_str().unwrap(), "--", "members", "Finance Reporting"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("audit diff: no change"), "{out}");
    // Without --snapshot, a snapshot of the tenant is taken first (reads only).
    let (code, out, err) = cli.run(&["rehearse", "--", "onboard", &upn("dave"), "--workspace", "Team 03", "--role", "Member"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("taking a snapshot"), "{err}");
    assert!(out.contains(&format!("+ Team 03 | {} | User | Member | direct", upn("dave"))), "{out}");
    let team: Value = cli.json(&["audit", "--workspace", "Team 03"]).await;
    assert!(rows_where(&team, "principal", &upn("dave")).is_empty(), "the source is untouched: {team}");
    demo.child.start_kill().unwrap();
}
