//! `pbi-access review` against the demo tenant: a campaign started through the client (its
//! review database on SQLite and on PostgreSQL), decisions recorded, the evidence exported as
//! JSON, CSV and a printable HTML report, `verify` passing on the export and failing on a changed copy, and the next
//! campaign over the same scope marked as a delta.

mod common;

use common::cli::Cli;
use pbi_server::review::RowQuery;
use pbi_server::store::Store;

const DOMAIN: &str = "contoso.onmicrosoft.com";

fn upn(local: &str) -> String {
    format!("{local}@{DOMAIN}")
}

#[tokio::test]
async fn sqlite_review_campaign_to_verified_evidence() {
    campaign_to_evidence(None).await;
}

#[tokio::test]
async fn postgres_review_campaign_to_verified_evidence() {
    if let Some(url) = common::postgres_database().await {
        campaign_to_evidence(Some(url)).await;
    }
}

async fn campaign_to_evidence(review_db: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let served = format!("sqlite://{}", dir.path().join("service.db").display());
    let mut demo = common::serve(&served).await;
    let cli = Cli::new(&demo, dir.path());
    let db = review_db.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("review.db").display()));

    let (code, out, err) = cli.run(&["review", "start", "--name", "Q4 Sales", "--workspace", "Sales Analytics", "--database", &db]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("snapshot sha256"), "{out}");
    let (code, _, err) = cli.run(&["review", "start", "--name", "No scope", "--database", &db]).await;
    assert_eq!(code, 2, "a campaign needs a scope: {err}");

    let listed: serde_json::Value = {
        let (code, out, err) = cli.run(&["review", "list", "--output", "json", "--database", &db]).await;
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    };
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let id: uuid::Uuid = listed[0]["id"].as_str().unwrap().parse().unwrap();

    let store = Store::connect(&db).await.unwrap();
    let rows = store.review_rows(id, &RowQuery { limit: 100, ..Default::default() }).await.unwrap();
    let row = |p: &str| rows.iter().find(|r| r.access.principal.eq_ignore_ascii_case(p)).unwrap_or_else(|| panic!("{p}: {rows:?}"));
    // The snapshot is the audit's: the guest, the group and the app with their roles.
    assert_eq!(row(&upn("bob")).access.role, "Contributor");
    assert_eq!(row("Sales Analysts").access.principal_type, "Group");
    assert!(rows.iter().any(|r| r.access.principal_type == "App"));
    let reviewers = store.review_reviewers(id).await.unwrap();
    assert_eq!(reviewers.values().next().unwrap().iter().collect::<Vec<_>>(), [&upn("admin")], "the workspace's Admin reviews it");

    // Reviewers decide as themselves: the profile's user, signed in by the password grant.
    let mut as_admin = Cli::new(&demo, dir.path());
    as_admin.env.push(("PBI_ACCESS_USERNAME".into(), demo.admin.clone()));
    as_admin.env.push(("PBI_ACCESS_PASSWORD".into(), demo.password.clone()));
    let id_text = id.to_string();
    let n = |p: &str| row(p).row_no.to_string();
    let decide = |rows: Vec<String>, extra: &[&str]| {
        let mut args: Vec<String> = ["review", "decide", &id_text].iter().map(|a| a.to_string()).collect();
        args.extend(rows);
        args.extend(extra.iter().map(|a| a.to_string()));
        args.extend(["--database".to_string(), db.clone()]);
        args
    };
    let run = |args: Vec<String>| {
        let cli = &as_admin;
        async move { cli.run(&args.iter().map(String::as_str).collect::<Vec<_>>()).await }
    };
    let (code, _, err) = run(decide(vec![n(&upn("bob"))], &["--decision", "revoke"])).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("A justification is required for Revoke") && err.contains("nothing was recorded"), "{err}");
    let (code, _, err) = run(decide(vec![n(&upn("admin"))], &["--decision", "keep"])).await;
    assert_eq!(code, 2);
    assert!(err.contains("You cannot review your own access"), "{err}");
    let (code, _, err) = run(decide(vec![n(&upn("alice"))], &["--decision", "change", "--role", "Admin", "--justification", "x"])).await;
    assert_eq!(code, 2);
    assert!(err.contains("is not lower than the current role Member"), "{err}");
    let (code, _, err) = cli.run(&["review", "decide", &id_text, &n(&upn("carol")), "--decision", "keep", "--database", &db]).await;
    assert_eq!(code, 2, "the application is no reviewer: {err}");
    assert!(err.contains("username and password"), "{err}");

    let (code, out, err) = run(decide(vec![n(&upn("bob"))], &["--decision", "revoke", "--justification", "moved to Finance"])).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("recorded by {}", upn("admin"))), "{out}");
    let (code, _, err) =
        run(decide(vec![n(&upn("alice"))], &["--decision", "change", "--role", "Viewer", "--justification", "reads only"])).await;
    assert_eq!(code, 0, "{err}");
    // Bulk: accept the recommendations of carol and the group.
    let (code, _, err) = as_admin.run(&["review", "accept", &id_text, &n(&upn("carol")), &n("Sales Analysts"), "--database", &db]).await;
    assert_eq!(code, 0, "{err}");

    let (code, out, err) = as_admin.run(&["review", "queue", &id_text, "--decision", "open", "--output", "json", "--database", &db]).await;
    assert_eq!(code, 0, "{err}");
    let open: serde_json::Value = serde_json::from_str(&out).unwrap();
    let open_rows: Vec<String> = open.as_array().unwrap().iter().map(|r| r["row"].as_str().unwrap().to_string()).collect();
    for decided in [n(&upn("bob")), n(&upn("alice")), n(&upn("carol")), n("Sales Analysts")] {
        assert!(!open_rows.contains(&decided), "row {decided} was decided: {open}");
    }
    assert!(!open_rows.is_empty());
    assert!(open.as_array().unwrap().iter().any(|r| r["decision"] == "your own access: not yours to review"), "{open}");

    let json = dir.path().join("evidence.json");
    let (code, _, err) = cli.run(&["review", "export", &id.to_string(), "--out", json.to_str().unwrap(), "--database", &db]).await;
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = cli.run(&["review", "verify", json.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("4 decision(s)"), "{out}");

    let changed = dir.path().join("changed.json");
    std::fs::write(&changed, std::fs::read_to_string(&json).unwrap().replace("moved to Finance", "left the company")).unwrap();
    let (code, _, err) = cli.run(&["review", "verify", changed.to_str().unwrap()]).await;
    assert_eq!(code, 8, "{err}");
    assert!(err.contains("decision 1 was changed"), "{err}");

    let (code, csv, err) = cli.run(&["review", "export", &id.to_string(), "--format", "csv", "--database", &db]).await;
    assert_eq!(code, 0, "{err}");
    let bob = csv.lines().find(|l| l.contains(&upn("bob"))).unwrap();
    assert!(bob.contains(",Revoke,") && bob.contains("moved to Finance") && bob.contains(&upn("admin")), "{bob}");
    assert!(csv.lines().next().unwrap().starts_with("row,workspace,workspaceId,principal"), "{csv}");

    let html = dir.path().join("evidence.html");
    let (code, _, err) =
        cli.run(&["review", "export", &id.to_string(), "--format", "html", "--out", html.to_str().unwrap(), "--database", &db]).await;
    assert_eq!(code, 0, "{err}");
    let report = std::fs::read_to_string(&html).unwrap();
    let evidence: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(report.contains(evidence["campaign"]["snapshotHash"].as_str().unwrap()), "the report names the snapshot hash");
    assert!(report.contains(evidence["head"].as_str().unwrap()) && report.contains(">verified<"));
    assert!(report.contains("moved to Finance") && report.contains("Change to Viewer"));

    // The next campaign over the same scope carries the previous decisions.
    let (code, _, err) = cli.run(&["review", "start", "--name", "Q1 Sales", "--workspace", "sales analytics", "--database", &db]).await;
    assert_eq!(code, 0, "{err}");
    let next = store.review_campaigns().await.unwrap().into_iter().find(|c| c.name == "Q1 Sales").unwrap();
    assert_eq!(next.previous_id, Some(id));
    let again = store.review_rows(next.id, &RowQuery { limit: 100, ..Default::default() }).await.unwrap();
    let bob = again.iter().find(|r| r.access.principal.eq_ignore_ascii_case(&upn("bob"))).unwrap();
    assert_eq!((bob.previous_decision.as_deref(), bob.is_new), (Some("Revoke"), false));
    store.close().await;
    demo.child.kill().await.unwrap();
}

/// Admin calls the server counted in its admin budget (shared or per operation) for the tenant.
async fn server_admin_calls(service_db: &str) -> i64 {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(service_db).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM throttle_calls WHERE budget LIKE 'admin/%' OR budget LIKE 'admin:%'")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}

/// A campaign over every workspace with the default 30-day lookback: the snapshot goes through
/// the scanner's own budgets, the activity log (24 admin calls a day: the service pages it by
/// the hour) is read only as far as the admin budget allows with a quarter left free, the days
/// read are kept, and a second campaign in the same hour never pushes the tenant over its budget.
#[tokio::test]
async fn starting_a_campaign_over_every_workspace_stays_within_the_admin_budget() {
    let dir = tempfile::tempdir().unwrap();
    let served = format!("sqlite://{}", dir.path().join("service.db").display());
    let mut demo = common::serve(&served).await;
    let cli = Cli::new(&demo, dir.path());
    let db = format!("sqlite://{}", dir.path().join("review.db").display());

    let started = std::time::Instant::now();
    let (code, out, err) = cli.run(&["review", "start", "--name", "Everything", "--all", "--database", &db]).await;
    assert_eq!(code, 0, "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(120), "no wait for the budget: {:?}", started.elapsed());
    let spent = server_admin_calls(&served).await;
    assert!((24..=150).contains(&spent), "the start spends at most three quarters of the 200/h admin budget: {spent}\n{out}");
    assert!(out.contains(&format!("{spent} admin call(s) spent")), "the campaign says what the server counted: {out}");
    assert!(err.contains("the activity log covers") && err.contains("of the 30 day(s) asked"), "{err}");

    let store = Store::connect(&db).await.unwrap();
    let first = store.review_campaigns().await.unwrap().pop().unwrap();
    assert_eq!(first.lookback_days as i64, spent / 24, "one day covered per 24 admin calls");
    assert!((1..30).contains(&first.lookback_days), "{first:?}");

    let (code, _, err) = cli.run(&["review", "start", "--name", "Everything again", "--all", "--database", &db]).await;
    assert_eq!(code, 0, "{err}");
    let total = server_admin_calls(&served).await;
    assert!(total <= 200, "two starts in one hour stay within the budget: {total}");
    store.close().await;
    demo.child.kill().await.unwrap();
}
