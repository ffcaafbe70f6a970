//! `pbi-access review`: access-review campaigns kept in their own database (SQLite by default,
//! PostgreSQL when several reviewers' instances share it), migrated like the server's.
//!
//! `start` freezes who holds what over a scope (as `audit` reads it, through the profile's
//! client) into a campaign; `list` shows campaigns with their progress; `export` writes the
//! evidence as JSON or CSV; `verify` checks an exported JSON file's hash chain.

use std::path::Path;
use std::process::ExitCode;

use pbi_server::review::{freeze, verify as verify_chain, Evidence, NewCampaign};
use pbi_server::store::Store;
use uuid::Uuid;

use super::audit::{read_access, ReviewScope};
use super::commands::{fail, render, Session};
use super::directory::ledger_calls;
use super::exit;
use super::output::{Format, Rows};

/// The review database when `--database` and `PBI_ACCESS_REVIEW_DATABASE` are not given.
pub const DEFAULT_DATABASE: &str = "sqlite://pbi-access-review.db";

/// What `review start` was asked for.
#[derive(Debug, Clone)]
pub struct StartOptions {
    pub name: String,
    pub scope: ReviewScope,
    pub due_days: i64,
    pub reviewers: Vec<String>,
    pub owner: Option<String>,
}

async fn open(database: &str) -> Result<Store, ExitCode> {
    Store::connect(database).await.map_err(|e| fail(exit::FAILURE, format!("cannot open the review database {database}: {e}")))
}

fn scope_json(scope: &ReviewScope) -> serde_json::Value {
    match scope {
        ReviewScope::All => serde_json::json!({ "all": true }),
        ReviewScope::NameContains(t) => serde_json::json!({ "nameContains": t.to_lowercase() }),
        ReviewScope::Workspaces(list) => {
            let mut list: Vec<String> = list.iter().map(|w| w.to_lowercase()).collect();
            list.sort();
            list.dedup();
            serde_json::json!({ "workspaces": list })
        }
    }
}

pub async fn start(s: &Session, database: &str, o: &StartOptions) -> ExitCode {
    if o.name.trim().is_empty() {
        return fail(exit::USAGE, "a campaign needs a --name");
    }
    if !(1..=366).contains(&o.due_days) {
        return fail(exit::USAGE, "--due-days must be between 1 and 366");
    }
    let store = match open(database).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let before = ledger_calls(&s.profile).await;
    let (rows, workspaces) = match read_access(s, &o.scope).await {
        Ok(r) => r,
        Err(e) => return fail(exit::FAILURE, e),
    };
    let admin_calls = ledger_calls(&s.profile).await.saturating_sub(before);
    let now = chrono::Utc::now().timestamp_millis();
    let owner = o.owner.clone().or_else(|| s.profile.username.clone()).unwrap_or_else(|| s.caller.to_string());
    let new = NewCampaign {
        id: Uuid::new_v4(),
        name: o.name.trim().to_string(),
        scope: scope_json(&o.scope),
        owner,
        created_at: now,
        due_at: now + o.due_days * 86_400_000,
        // The activity log is not read yet: no row is flagged for inactivity.
        lookback_days: 0,
        snapshot_at: now,
        admin_calls: admin_calls as i64,
    };
    let previous = match store.previous_review(&new.scope_key()).await {
        Ok(p) => p,
        Err(e) => return fail(exit::FAILURE, e),
    };
    let snapshot = freeze(rows, new.snapshot_at, new.lookback_days, previous.as_ref().map(|p| &p.1), &o.reviewers);
    let campaign = match store.create_review_campaign(&new, &snapshot, previous.map(|p| p.0)).await {
        Ok(c) => c,
        Err(e) => return fail(exit::FAILURE, e),
    };
    let without: Vec<&str> = snapshot
        .rows
        .iter()
        .filter(|r| snapshot.reviewers.get(&r.access.workspace_id).is_none_or(|v| v.is_empty()))
        .map(|r| r.access.workspace.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    println!("campaign {} \"{}\" started", campaign.id, campaign.name);
    println!(
        "snapshot sha256 {} of {} row(s) over {workspaces} workspace(s); {admin_calls} admin call(s) spent",
        campaign.snapshot_hash, campaign.row_count
    );
    if !without.is_empty() {
        eprintln!("pbi-access: no reviewer for {} (no enabled Admin user): name reviewers with --reviewer", without.join(", "));
    }
    ExitCode::SUCCESS
}

pub async fn list(database: &str, format: Format) -> ExitCode {
    let store = match open(database).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let campaigns = match store.review_campaigns().await {
        Ok(c) => c,
        Err(e) => return fail(exit::FAILURE, e),
    };
    let mut rows = Rows::new(&["id", "name", "scope", "due", "rows", "decided", "state", "snapshot"]);
    for c in campaigns {
        let progress = match store.review_progress(c.id).await {
            Ok(p) => p,
            Err(e) => return fail(exit::FAILURE, e),
        };
        let open = progress.decisions.get("open").copied().unwrap_or(0);
        let due = chrono::DateTime::from_timestamp_millis(c.due_at).map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default();
        rows.push(vec![
            c.id.to_string(),
            c.name,
            c.scope.to_string(),
            due,
            c.row_count.to_string(),
            (c.row_count - open).to_string(),
            c.state.as_str().into(),
            c.snapshot_hash[..12].to_string(),
        ]);
    }
    render(&rows, format)
}

/// The CSV columns of an export: one line per row with its latest decision.
pub const CSV_COLUMNS: &[&str] = &[
    "row",
    "workspace",
    "workspaceId",
    "principal",
    "principalType",
    "role",
    "via",
    "licenseType",
    "userType",
    "account",
    "decision",
    "newRole",
    "reviewer",
    "decidedAt",
    "justification",
    "outcome",
    "requestId",
];

fn csv_text(e: &Evidence) -> Result<String, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_COLUMNS).map_err(|e| e.to_string())?;
    for (i, a) in e.rows.iter().enumerate() {
        let row = i as i64 + 1;
        let last = e.decisions.iter().rev().find(|d| d.row == row);
        let result = e.results.iter().find(|r| r.row == row);
        let at = last.and_then(|d| chrono::DateTime::from_timestamp_millis(d.at)).map(|t| t.to_rfc3339()).unwrap_or_default();
        w.write_record([
            row.to_string(),
            a.workspace.clone(),
            a.workspace_id.to_string(),
            a.principal.clone(),
            a.principal_type.clone(),
            a.role.clone(),
            a.via.clone(),
            a.license_type.clone(),
            a.user_type.clone(),
            a.account.clone(),
            last.map(|d| d.decision.clone()).unwrap_or_default(),
            last.and_then(|d| d.new_role.clone()).unwrap_or_default(),
            last.map(|d| d.reviewer.clone()).unwrap_or_default(),
            at,
            last.map(|d| d.justification.clone()).unwrap_or_default(),
            result.map(|r| r.outcome.clone()).unwrap_or_default(),
            result.and_then(|r| r.request_id.clone()).unwrap_or_default(),
        ])
        .map_err(|e| e.to_string())?;
    }
    String::from_utf8(w.into_inner().map_err(|e| e.to_string())?).map_err(|e| e.to_string())
}

/// Export a campaign's evidence: `json` (what `verify` checks) or `csv` (one line per row).
pub async fn export(database: &str, campaign: Uuid, csv: bool, out: Option<&Path>) -> ExitCode {
    let store = match open(database).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let evidence = match store.review_evidence(campaign).await {
        Ok(Some(e)) => e,
        Ok(None) => return fail(exit::USAGE, format!("no campaign {campaign} in {database}")),
        Err(e) => return fail(exit::FAILURE, e),
    };
    let text = if csv {
        match csv_text(&evidence) {
            Ok(t) => t,
            Err(e) => return fail(exit::FAILURE, e),
        }
    } else {
        serde_json::to_string_pretty(&evidence).expect("evidence serialises") + "\n"
    };
    match out {
        Some(path) => match std::fs::write(path, text) {
            Ok(()) => {
                eprintln!("evidence of \"{}\" written to {}", evidence.campaign.name, path.display());
                ExitCode::SUCCESS
            }
            Err(e) => fail(exit::FAILURE, format!("cannot write {}: {e}", path.display())),
        },
        None => {
            print!("{text}");
            ExitCode::SUCCESS
        }
    }
}

/// Check a JSON export: exit 0 when the snapshot and every decision are as recorded, exit 8 with
/// the first break otherwise.
pub fn verify(file: &Path) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return fail(exit::USAGE, format!("cannot read {}: {e}", file.display())),
    };
    let evidence: Evidence = match serde_json::from_str(&text) {
        Ok(e) => e,
        Err(e) => return fail(exit::USAGE, format!("{} is not a review export: {e}", file.display())),
    };
    match verify_chain(&evidence) {
        Ok(v) => {
            println!(
                "verified: campaign \"{}\", snapshot sha256 {}, {} row(s), {} decision(s), head {}",
                evidence.campaign.name, evidence.campaign.snapshot_hash, v.rows, v.decisions, v.head
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(exit::TAMPERED, format!("{} does not verify: {e}", file.display())),
    }
}
