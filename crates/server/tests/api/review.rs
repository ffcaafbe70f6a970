//! The access-review store on both backends: a campaign's snapshot, pages and filters, the
//! hash-chained decisions (refused ones write nothing), progress, the delta and the evidence.

use std::collections::HashMap;

use pbi_server::domain::Role;
use pbi_server::review::{
    freeze, verify, AccessRow, Decision, DecisionFilter, DecisionRefusal, DecisionRequest, Flag, NewCampaign, RowQuery,
};
use pbi_server::store::Store;
use uuid::Uuid;

use crate::helpers::*;

const DAY: i64 = 86_400_000;
const NOW: i64 = 1_800_000_000_000;

fn access(ws: u128, name: &str, principal: &str, kind: &str, role: &str, via: &str) -> AccessRow {
    AccessRow {
        workspace_id: Uuid::from_u128(ws),
        workspace: name.into(),
        principal: principal.into(),
        principal_type: kind.into(),
        role: role.into(),
        via: via.into(),
        license_type: "Pro".into(),
        user_type: "Member".into(),
        account: if kind == "User" { "enabled".into() } else { String::new() },
        last_activity: Some(NOW - DAY),
    }
}

fn facts() -> Vec<AccessRow> {
    let mut gina = access(1, "Finance", "gina_ext#EXT#@contoso.com", "User", "Contributor", "direct");
    gina.user_type = "Guest".into();
    let mut idle = access(2, "Sales", "ivan@contoso.com", "User", "Viewer", "direct");
    idle.last_activity = None;
    vec![
        access(1, "Finance", "dave@contoso.com", "User", "Admin", "direct"),
        gina,
        access(1, "Finance", "bob@contoso.com", "User", "Viewer", "group Finance Team"),
        access(1, "Finance", "Finance Team", "Group", "Viewer", "direct"),
        access(2, "Sales", "erin@contoso.com", "User", "Admin", "direct"),
        access(2, "Sales", "dave@contoso.com", "User", "Member", "direct"),
        idle,
    ]
}

fn new_campaign(name: &str) -> NewCampaign {
    NewCampaign {
        id: Uuid::new_v4(),
        name: name.into(),
        scope: serde_json::json!({"all": true}),
        owner: "Admin@contoso.com".into(),
        created_at: NOW,
        due_at: NOW + 14 * DAY,
        lookback_days: 30,
        snapshot_at: NOW,
        admin_calls: 4,
    }
}

async fn start(store: &Store, name: &str, rows: Vec<AccessRow>) -> pbi_server::review::Campaign {
    let new = new_campaign(name);
    let previous = store.previous_review(&new.scope_key()).await.unwrap();
    let snapshot = freeze(rows, new.snapshot_at, new.lookback_days, previous.as_ref().map(|p| &p.1), &[]);
    store.create_review_campaign(&new, &snapshot, previous.map(|p| p.0)).await.unwrap()
}

fn row_of(rows: &[pbi_server::review::ReviewRow], principal: &str, ws: u128) -> i64 {
    rows.iter().find(|r| r.access.principal == principal && r.access.workspace_id == Uuid::from_u128(ws)).unwrap().row_no
}

#[tokio::test]
async fn campaigns_record_chained_decisions_on_both_backends() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some((url, _dir)) = fresh_database(backend).await else {
            eprintln!("skipped: {backend:?}");
            continue;
        };
        let store = Store::connect(&url).await.unwrap();
        let c = start(&store, "Q4", facts()).await;
        assert_eq!(c.row_count, 7, "{backend:?}");
        assert_eq!(c.log_head, c.snapshot_hash, "the chain starts at the snapshot");
        assert_eq!(c.owner, "admin@contoso.com");

        // Pages: keyset, filters by reviewer, flag, decision and search.
        let all = store.review_rows(c.id, &RowQuery { limit: 100, ..Default::default() }).await.unwrap();
        assert_eq!(all.len(), 7);
        let first = store.review_rows(c.id, &RowQuery { limit: 3, ..Default::default() }).await.unwrap();
        let next = store.review_rows(c.id, &RowQuery { limit: 3, after: first[2].row_no, ..Default::default() }).await.unwrap();
        assert_eq!(first.iter().chain(&next).map(|r| r.row_no).collect::<Vec<_>>(), (1..=6).collect::<Vec<_>>());
        let daves = store
            .review_rows(c.id, &RowQuery { reviewer: Some("DAVE@contoso.com".into()), limit: 100, ..Default::default() })
            .await
            .unwrap();
        assert!(daves.iter().all(|r| r.access.workspace == "Finance"), "dave reviews Finance only: {daves:?}");
        assert_eq!(daves.len(), 4);
        let guests =
            store.review_rows(c.id, &RowQuery { flag: Some(Flag::GuestWithWriteRole), limit: 100, ..Default::default() }).await.unwrap();
        assert_eq!(guests.iter().map(|r| r.access.principal.as_str()).collect::<Vec<_>>(), ["gina_ext#EXT#@contoso.com"]);
        let found = store.review_rows(c.id, &RowQuery { search: Some("EXT#".into()), limit: 100, ..Default::default() }).await.unwrap();
        assert_eq!(found.len(), 1);
        let none = store.review_rows(c.id, &RowQuery { search: Some("%".into()), limit: 100, ..Default::default() }).await.unwrap();
        assert!(none.is_empty(), "a wildcard is searched for literally");

        let gina = row_of(&all, "gina_ext#EXT#@contoso.com", 1);
        let bob = row_of(&all, "bob@contoso.com", 1);
        let dave_sales = row_of(&all, "dave@contoso.com", 2);
        let dave_finance = row_of(&all, "dave@contoso.com", 1);
        let req = |row_no, decision, new_role, j: &str| DecisionRequest { row_no, decision, new_role, justification: j.into() };

        // Refusals write nothing, even when the batch's other decisions are fine.
        let refused = store
            .record_review_decisions(
                c.id,
                "dave@contoso.com",
                &[req(bob, Decision::Keep, None, ""), req(gina, Decision::Revoke, None, " ")],
                NOW,
            )
            .await
            .unwrap();
        assert_eq!(refused, Err((gina, DecisionRefusal::JustificationRequired("Revoke"))));
        let self_review =
            store.record_review_decisions(c.id, "dave@contoso.com", &[req(dave_finance, Decision::Keep, None, "")], NOW).await.unwrap();
        assert_eq!(self_review, Err((dave_finance, DecisionRefusal::SelfReview)));
        let outsider = store
            .record_review_decisions(c.id, "dave@contoso.com", &[req(row_of(&all, "ivan@contoso.com", 2), Decision::Keep, None, "")], NOW)
            .await
            .unwrap();
        assert!(matches!(outsider, Err((_, DecisionRefusal::NotReviewer(_)))), "{outsider:?}");
        let higher = store
            .record_review_decisions(c.id, "dave@contoso.com", &[req(gina, Decision::Change, Some(Role::Admin), "x")], NOW)
            .await
            .unwrap();
        assert!(matches!(higher, Err((_, DecisionRefusal::RoleNotLower { .. }))), "{higher:?}");
        let late =
            store.record_review_decisions(c.id, "dave@contoso.com", &[req(bob, Decision::Keep, None, "")], NOW + 15 * DAY).await.unwrap();
        assert!(matches!(late, Err((_, DecisionRefusal::CampaignExpired(_)))), "{late:?}");
        assert_eq!(store.review_campaign(c.id).await.unwrap().unwrap().log_length, 0, "{backend:?}: nothing was recorded");
        assert!(store.review_row(c.id, bob).await.unwrap().unwrap().current.is_none());

        // Accepted decisions chain, and the row shows the latest one.
        let done = store
            .record_review_decisions(
                c.id,
                "dave@contoso.com",
                &[req(bob, Decision::Keep, None, ""), req(gina, Decision::Change, Some(Role::Viewer), "guest: read only")],
                NOW + 1,
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(done.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(done[0].prev, c.snapshot_hash);
        assert_eq!(done[1].prev, done[0].hash);
        let erin = all.iter().find(|r| r.row_no == dave_sales).unwrap().accept_recommendation();
        store.record_review_decisions(c.id, "erin@contoso.com", &[erin], NOW + 2).await.unwrap().unwrap();
        let changed = store
            .record_review_decisions(c.id, "dave@contoso.com", &[req(gina, Decision::Revoke, None, "left the project")], NOW + 3)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(changed[0].seq, 4);
        let gina_now = store.review_row(c.id, gina).await.unwrap().unwrap().current.unwrap();
        assert_eq!(
            (gina_now.decision, gina_now.by.as_str(), gina_now.justification.as_str()),
            (Decision::Revoke, "dave@contoso.com", "left the project")
        );
        let seen: serde_json::Value = serde_json::from_str(&changed[0].seen).unwrap();
        assert_eq!(seen["flags"], serde_json::json!(["guest-with-write-role"]), "the log keeps what the reviewer saw");

        let open =
            store.review_rows(c.id, &RowQuery { decision: Some(DecisionFilter::Open), limit: 100, ..Default::default() }).await.unwrap();
        assert_eq!(open.len(), 4);
        let revoked = store
            .review_rows(c.id, &RowQuery { decision: Some(DecisionFilter::Decided(Decision::Revoke)), limit: 100, ..Default::default() })
            .await
            .unwrap();
        assert_eq!(revoked.iter().map(|r| r.row_no).collect::<Vec<_>>(), [gina]);

        // Progress: each reviewer's rows without their own access.
        let p = store.review_progress(c.id).await.unwrap();
        let tallies: Vec<(&str, i64, i64)> = p.by_reviewer.iter().map(|t| (t.name.as_str(), t.decided, t.total)).collect();
        assert_eq!(tallies, [("dave@contoso.com", 2, 3), ("erin@contoso.com", 1, 2)], "{backend:?}");
        let ws: Vec<(&str, i64, i64)> = p.by_workspace.iter().map(|t| (t.name.as_str(), t.decided, t.total)).collect();
        assert_eq!(ws, [("Finance", 2, 4), ("Sales", 1, 3)]);
        // gina's Change was superseded by her Revoke; erin accepted Keep on dave's Sales row.
        assert_eq!(p.decisions, [("Keep".to_string(), 2), ("Revoke".into(), 1), ("open".into(), 4)].into_iter().collect());

        // The evidence verifies, and a changed decision does not.
        let evidence = store.review_evidence(c.id).await.unwrap().unwrap();
        assert_eq!(evidence.decisions.len(), 4);
        assert_eq!(verify(&evidence).unwrap().head, changed[0].hash);
        let text = serde_json::to_string(&evidence).unwrap();
        let mut tampered: pbi_server::review::Evidence =
            serde_json::from_str(&text.replace("left the project", "left the company")).unwrap();
        assert!(verify(&tampered).is_err());
        tampered = serde_json::from_str(&text).unwrap();
        assert!(verify(&tampered).is_ok(), "a JSON round trip keeps the chain");

        // The next campaign over the same scope is a delta against this one.
        let mut later = facts();
        later.push(access(2, "Sales", "newbie@contoso.com", "User", "Viewer", "direct"));
        let next = start(&store, "Q1", later).await;
        assert_eq!(next.previous_id, Some(c.id));
        let rows = store.review_rows(next.id, &RowQuery { limit: 100, ..Default::default() }).await.unwrap();
        let by: HashMap<&str, (&Option<String>, bool)> = rows
            .iter()
            .filter(|r| r.access.workspace == "Finance" || r.access.principal == "newbie@contoso.com")
            .map(|r| (r.access.principal.as_str(), (&r.previous_decision, r.is_new)))
            .collect();
        assert_eq!(by["gina_ext#EXT#@contoso.com"], (&Some("Revoke".to_string()), false));
        assert_eq!(by["Finance Team"], (&Some("open".to_string()), false));
        assert_eq!(by["newbie@contoso.com"], (&None, true));
        store.close().await;
    }
}

/// A reviewer's pages are read workspace by workspace and merged in row order: keyset pages run
/// across their workspaces, skip the others', and a workspace filter outside theirs is empty.
#[tokio::test]
async fn a_reviewers_pages_merge_their_workspaces_in_row_order() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some((url, _dir)) = fresh_database(backend).await else {
            eprintln!("skipped: {backend:?}");
            continue;
        };
        let store = Store::connect(&url).await.unwrap();
        let mut rows = Vec::new();
        for (ws, name, admin) in [(1, "A", "ann"), (2, "B", "ben"), (3, "C", "ann")] {
            rows.push(access(ws, name, &format!("{admin}@contoso.com"), "User", "Admin", "direct"));
            for i in 0..4 {
                rows.push(access(ws, name, &format!("user{i}@contoso.com"), "User", "Viewer", "direct"));
            }
        }
        let c = start(&store, "Merge", rows).await;
        let page = |after: i64, limit: u32, workspace: Option<u128>| RowQuery {
            reviewer: Some("ANN@contoso.com".into()),
            workspace_id: workspace.map(Uuid::from_u128),
            after,
            limit,
            ..Default::default()
        };
        let mut seen = Vec::new();
        let mut after = 0;
        loop {
            let rows = store.review_rows(c.id, &page(after, 3, None)).await.unwrap();
            if rows.is_empty() {
                break;
            }
            assert!(rows.len() <= 3);
            after = rows.last().unwrap().row_no;
            seen.extend(rows);
        }
        let numbers: Vec<i64> = seen.iter().map(|r| r.row_no).collect();
        let mut sorted = numbers.clone();
        sorted.sort();
        assert_eq!(numbers, sorted, "{backend:?}: row order across workspaces");
        assert_eq!(seen.len(), 10, "{backend:?}: A and C, five rows each");
        assert!(seen.iter().all(|r| r.access.workspace != "B"), "{backend:?}: not ben's workspace");
        assert!(store.review_rows(c.id, &page(0, 100, Some(2))).await.unwrap().is_empty(), "{backend:?}");
        assert_eq!(store.review_rows(c.id, &page(0, 100, Some(3))).await.unwrap().len(), 5, "{backend:?}");
        store.close().await;
    }
}
