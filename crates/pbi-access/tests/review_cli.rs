//! `pbi-access review` against the demo tenant: a campaign started through the client (its
//! review database on SQLite and on PostgreSQL), decisions recorded, the evidence exported as
//! JSON and CSV, `verify` passing on the export and failing on a changed copy, and the next
//! campaign over the same scope marked as a delta.

mod common;

use common::cli::Cli;
use pbi_server::domain::Role;
use pbi_server::review::{Decision, DecisionRefusal, DecisionRequest, RowQuery};
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

    let now = chrono::Utc::now().timestamp_millis();
    let req = |p: &str, decision, new_role, j: &str| DecisionRequest { row_no: row(p).row_no, decision, new_role, justification: j.into() };
    let own = store.record_review_decisions(id, &upn("admin"), &[req(&upn("admin"), Decision::Keep, None, "")], now).await.unwrap();
    assert_eq!(own.unwrap_err().1, DecisionRefusal::SelfReview);
    store
        .record_review_decisions(
            id,
            &upn("admin"),
            &[
                req(&upn("bob"), Decision::Revoke, None, "moved to Finance"),
                req(&upn("alice"), Decision::Change, Some(Role::Viewer), "reads only"),
                req(&upn("carol"), Decision::Keep, None, ""),
            ],
            now,
        )
        .await
        .unwrap()
        .unwrap();

    let json = dir.path().join("evidence.json");
    let (code, _, err) = cli.run(&["review", "export", &id.to_string(), "--out", json.to_str().unwrap(), "--database", &db]).await;
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = cli.run(&["review", "verify", json.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("3 decision(s)"), "{out}");

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
