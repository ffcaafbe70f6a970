//! `pbi-access review`: access-review campaigns kept in their own database (SQLite by default,
//! PostgreSQL when several reviewers' instances share it), migrated like the server's.
//!
//! `start` freezes who holds what over a scope (as `audit` reads it, through the profile's
//! client) into a campaign; `list` shows campaigns with their progress; `export` writes the
//! evidence as JSON, CSV or a printable HTML report; `verify` checks an exported JSON file's hash chain.

use std::path::Path;
use std::process::ExitCode;

use std::sync::Arc;

use askama::Template;
use base64::Engine;
use pbi_client::{Credential, Endpoints, SystemClock, TokenClient, TokenSource};
use pbi_server::domain::Role;
use pbi_server::review::{freeze, verify as verify_chain, Evidence, NewCampaign};
use pbi_server::review::{Decision, DecisionFilter, DecisionRequest, Flag, RowQuery};
use pbi_server::store::Store;
use uuid::Uuid;

use super::audit::{read_access, ReviewScope};
use super::commands::{fail, render, Session};
use super::directory::ledger_calls;
use super::exit;
use super::output::{Format, Rows};
use super::profile::Profile;

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
    /// Days of the activity log to read for each user's last activity (0: not read, no row is
    /// flagged for inactivity; at most 30, what the service keeps).
    pub lookback_days: i64,
}

/// Admin calls one day of the activity log costs at least: the service pages it by the hour.
pub const ACTIVITY_CALLS_PER_DAY: usize = 24;
/// The share of the admin budget a campaign start leaves free for everything else (applies,
/// other commands): a quarter.
const ADMIN_RESERVE_DIVISOR: usize = 4;

/// Each user's (lower-case UPN) last activity in one UTC day, read in full from the activity log
/// (one admin call an hour and page).
async fn activity_day(s: &Session, day: chrono::NaiveDate) -> Result<std::collections::HashMap<String, i64>, String> {
    use futures::StreamExt;
    let mut out = std::collections::HashMap::new();
    let mut events = s.client.activity_events(&format!("{day}T00:00:00.000Z"), &format!("{day}T23:59:59.999Z"), None);
    while let Some(event) = events.next().await {
        let event = event.map_err(|e| format!("reading the activity log: {e}"))?;
        let (Some(user), Some(at)) = (event.get("UserId").and_then(|v| v.as_str()), event.get("CreationTime").and_then(|v| v.as_str()))
        else {
            continue;
        };
        let at = chrono::DateTime::parse_from_rfc3339(at)
            .map(|t| t.timestamp_millis())
            .or_else(|_| chrono::NaiveDateTime::parse_from_str(at, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc().timestamp_millis()));
        let Ok(at) = at else { continue };
        let last = out.entry(user.to_lowercase()).or_insert(at);
        *last = (*last).max(at);
    }
    Ok(out)
}

/// What reading the activity lookback gave.
#[derive(Debug, Clone, Default)]
pub struct Lookback {
    /// Lower-case UPN → last activity (Unix ms) over the days covered.
    pub last: std::collections::HashMap<String, i64>,
    /// The days covered without a gap, counting back from today (the lookback the flags use).
    pub days: i64,
    /// Days read now (the rest came from the review database).
    pub read: usize,
}

/// Each user's last activity over the last `days` UTC days before `now`, spending the admin
/// budget only on days not read before (kept in `store` per tenant) and only as far as the budget
/// allows: at most what the ledger shows free, less a quarter of the budget kept for the rest.
/// Today is always read and never kept (it is still being written). Newest days first, so what
/// the budget allows is the recent end of the lookback.
async fn last_activity(s: &Session, store: &Store, now: i64, days: i64) -> Result<Lookback, String> {
    let Some(today) = chrono::DateTime::from_timestamp_millis(now).map(|t| t.date_naive()) else { return Ok(Lookback::default()) };
    if days <= 0 {
        return Ok(Lookback::default());
    }
    let tenant = s.profile.tenant.clone().unwrap_or_default();
    let first = today - chrono::Days::new(days as u64 - 1);
    let known = store.review_activity(&tenant, &first.to_string()).await.map_err(|e| e.to_string())?;
    let mut out = Lookback { last: known.last, ..Default::default() };
    let limit = s.profile.pacing().limits.admin_per_hour as usize;
    let free = limit.saturating_sub(limit / ADMIN_RESERVE_DIVISOR).saturating_sub(ledger_calls(&s.profile).await);
    let mut affordable = free / ACTIVITY_CALLS_PER_DAY;
    for back in 0..days as u64 {
        let day = today - chrono::Days::new(back);
        if back > 0 && known.days.contains(&day.to_string()) {
            out.days += 1;
            continue;
        }
        if affordable == 0 {
            break;
        }
        affordable -= 1;
        let seen = activity_day(s, day).await?;
        out.read += 1;
        if back > 0 {
            store.record_review_activity_day(&tenant, &day.to_string(), &seen, now).await.map_err(|e| e.to_string())?;
        }
        for (upn, at) in seen {
            let last = out.last.entry(upn).or_insert(at);
            *last = (*last).max(at);
        }
        out.days += 1;
    }
    Ok(out)
}

pub(crate) async fn open(database: &str) -> Result<Store, ExitCode> {
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

/// A campaign just started: what it froze and what the snapshot cost.
pub struct Started {
    pub campaign: pbi_server::review::Campaign,
    pub workspaces: usize,
    pub admin_calls: usize,
    /// Workspaces in scope without a reviewer (no enabled Admin user, no named reviewer).
    pub without_reviewer: Vec<String>,
    /// The activity lookback asked for; the campaign's `lookback_days` is what the budget covered.
    pub lookback_asked: i64,
    /// Days of the activity log read for this campaign (the others were read before).
    pub activity_days_read: usize,
}

/// Freeze who holds what over the scope into a new campaign in `store` (the snapshot read through
/// the profile's client, as `audit` reads it), at `now` (Unix ms).
pub async fn start_campaign(s: &Session, store: &Store, o: &StartOptions, now: i64) -> Result<Started, String> {
    if o.name.trim().is_empty() {
        return Err("a campaign needs a name".into());
    }
    if !(1..=366).contains(&o.due_days) {
        return Err("the due date must be between 1 and 366 days away".into());
    }
    if !(0..=30).contains(&o.lookback_days) {
        return Err("the activity lookback must be between 0 and 30 days (the activity log keeps 30)".into());
    }
    let before = ledger_calls(&s.profile).await;
    let (mut rows, workspaces) = read_access(s, &o.scope).await?;
    let lookback = last_activity(s, store, now, o.lookback_days).await?;
    for r in rows.iter_mut().filter(|r| r.principal_type == "User") {
        r.last_activity = lookback.last.get(&r.principal.to_lowercase()).copied();
    }
    let admin_calls = ledger_calls(&s.profile).await.saturating_sub(before);
    let owner = o.owner.clone().or_else(|| s.profile.username.clone()).unwrap_or_else(|| s.caller.to_string());
    let new = NewCampaign {
        id: Uuid::new_v4(),
        name: o.name.trim().to_string(),
        scope: scope_json(&o.scope),
        owner,
        created_at: now,
        due_at: now + o.due_days * 86_400_000,
        lookback_days: lookback.days,
        snapshot_at: now,
        admin_calls: admin_calls as i64,
    };
    let previous = store.previous_review(&new.scope_key()).await.map_err(|e| e.to_string())?;
    let snapshot = freeze(rows, new.snapshot_at, new.lookback_days, previous.as_ref().map(|p| &p.1), &o.reviewers);
    let campaign = store.create_review_campaign(&new, &snapshot, previous.map(|p| p.0)).await.map_err(|e| e.to_string())?;
    let without_reviewer: Vec<String> = snapshot
        .rows
        .iter()
        .filter(|r| snapshot.reviewers.get(&r.access.workspace_id).is_none_or(|v| v.is_empty()))
        .map(|r| r.access.workspace.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    Ok(Started { campaign, workspaces, admin_calls, without_reviewer, lookback_asked: o.lookback_days, activity_days_read: lookback.read })
}

/// Why a campaign's activity lookback is shorter than asked.
pub fn lookback_note(covered: i64, asked: i64) -> String {
    format!(
        "the activity log covers {covered} of the {asked} day(s) asked: each day costs {ACTIVITY_CALLS_PER_DAY} admin calls and the \
         admin budget allowed no more; inactivity is judged over {covered} day(s), and the next campaign reads the days still missing"
    )
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
    let started = match start_campaign(s, &store, o, chrono::Utc::now().timestamp_millis()).await {
        Ok(started) => started,
        Err(e) => return fail(exit::FAILURE, e),
    };
    let campaign = &started.campaign;
    println!("campaign {} \"{}\" started", campaign.id, campaign.name);
    println!(
        "snapshot sha256 {} of {} row(s) over {} workspace(s); {} admin call(s) spent",
        campaign.snapshot_hash, campaign.row_count, started.workspaces, started.admin_calls
    );
    if started.lookback_asked > 0 {
        println!("activity: the last {} day(s), {} of them read now", campaign.lookback_days, started.activity_days_read);
    }
    if campaign.lookback_days < started.lookback_asked {
        eprintln!("pbi-access: {}", lookback_note(campaign.lookback_days, started.lookback_asked));
    }
    if !started.without_reviewer.is_empty() {
        eprintln!(
            "pbi-access: no reviewer for {} (no enabled Admin user): name reviewers with --reviewer",
            started.without_reviewer.join(", ")
        );
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

/// The reviewer, signed in: the profile's user through the password grant against the profile's
/// authority, named by the `upn` of the token it gets (never by what the command line says).
async fn signed_in_reviewer(profile: &Profile) -> Result<String, String> {
    let (Some(username), Some(password)) = (profile.username.clone(), profile.password.clone()) else {
        return Err(
            "deciding needs the reviewer signed in: set username and password in the profile (PBI_ACCESS_USERNAME, PBI_ACCESS_PASSWORD)"
                .into(),
        );
    };
    let tenant = profile.tenant.clone().ok_or("no tenant: set it in the profile or PBI_ACCESS_TENANT")?;
    let client_id = profile.client_id.clone().ok_or("no client_id: set it in the profile or PBI_ACCESS_CLIENT_ID")?;
    let endpoints =
        Endpoints { powerbi: profile.powerbi_url.clone(), authority: profile.authority_url.clone(), graph: profile.graph_url.clone() };
    let credential = Credential::Password { tenant, client_id, client_secret: profile.client_secret.clone(), username, password };
    let source = TokenSource::new(
        TokenClient::new(reqwest::Client::new(), &endpoints),
        credential,
        pbi_wire::oauth::POWERBI_DEFAULT_SCOPE,
        Arc::new(SystemClock),
    );
    let token = source.token().await.map_err(|e| format!("sign-in refused: {e}"))?;
    let claims = token
        .split('.')
        .nth(1)
        .and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .ok_or("the token is not a JWT")?;
    claims["upn"].as_str().or(claims["unique_name"].as_str()).map(str::to_lowercase).ok_or_else(|| "the token names no user (upn)".into())
}

/// Which rows `queue` lists.
#[derive(Debug, Clone, Default)]
pub struct QueueOptions {
    pub flag: Option<String>,
    /// `open`, or a decision.
    pub decision: Option<String>,
    pub search: Option<String>,
    pub after: i64,
    pub limit: u32,
}

fn parse_decision(text: &str) -> Result<Decision, String> {
    match text.to_lowercase().replace(['-', '_', '\'', ' '], "").as_str() {
        "keep" => Ok(Decision::Keep),
        "revoke" => Ok(Decision::Revoke),
        "change" => Ok(Decision::Change),
        "dontknow" => Ok(Decision::DontKnow),
        _ => Err(format!("unknown decision '{text}': keep, revoke, change or dont-know")),
    }
}

/// The signed-in reviewer's rows: their workspaces' rows, their own access marked.
pub async fn queue(profile: &Profile, database: &str, campaign: Uuid, o: &QueueOptions, format: Format) -> ExitCode {
    let reviewer = match signed_in_reviewer(profile).await {
        Ok(r) => r,
        Err(e) => return fail(exit::USAGE, e),
    };
    let flag = match o.flag.as_deref().map(str::parse::<Flag>).transpose() {
        Ok(f) => f,
        Err(e) => return fail(exit::USAGE, e),
    };
    let decision = match o.decision.as_deref() {
        None => None,
        Some(d) if d.eq_ignore_ascii_case("open") => Some(DecisionFilter::Open),
        Some(d) => match parse_decision(d) {
            Ok(d) => Some(DecisionFilter::Decided(d)),
            Err(e) => return fail(exit::USAGE, e),
        },
    };
    let store = match open(database).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let q = RowQuery {
        reviewer: Some(reviewer.clone()),
        flag,
        decision,
        search: o.search.clone(),
        after: o.after,
        limit: o.limit,
        ..Default::default()
    };
    let page = match store.review_rows(campaign, &q).await {
        Ok(p) => p,
        Err(e) => return fail(exit::FAILURE, e),
    };
    let mut rows =
        Rows::new(&["row", "workspace", "principal", "role", "via", "flags", "recommendation", "reason", "previous", "decision"]);
    for r in page {
        let own = r.access.principal_type == "User" && r.access.principal.eq_ignore_ascii_case(&reviewer);
        let decision = match (&r.current, own) {
            (_, true) => "your own access: not yours to review".to_string(),
            (Some(c), _) => match c.new_role {
                Some(role) => format!("{} to {role} ({})", c.decision.as_str(), c.by),
                None => format!("{} ({})", c.decision.as_str(), c.by),
            },
            (None, false) => "open".into(),
        };
        rows.push(vec![
            r.row_no.to_string(),
            r.access.workspace.clone(),
            format!("{} ({})", r.access.principal, r.access.principal_type),
            r.access.role.clone(),
            r.access.via.clone(),
            r.flags.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(" "),
            r.recommendation.to_string(),
            r.reason.clone(),
            r.previous_decision.clone().unwrap_or_default(),
            decision,
        ]);
    }
    render(&rows, format)
}

/// Record the signed-in reviewer's decision on `rows` (`accept`: each row's recommendation).
/// All or nothing: the first refusal is said with its row, and nothing is recorded.
pub async fn decide(
    profile: &Profile,
    database: &str,
    campaign: Uuid,
    rows: &[i64],
    decision: Option<&str>,
    role: Option<&str>,
    justification: &str,
) -> ExitCode {
    if rows.is_empty() {
        return fail(exit::USAGE, "name the rows to decide on");
    }
    let reviewer = match signed_in_reviewer(profile).await {
        Ok(r) => r,
        Err(e) => return fail(exit::USAGE, e),
    };
    let new_role = match role.map(str::parse::<Role>).transpose() {
        Ok(r) => r,
        Err(e) => return fail(exit::USAGE, e),
    };
    let store = match open(database).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut requests = Vec::with_capacity(rows.len());
    for &row_no in rows {
        let request = match decision {
            Some(d) => match parse_decision(d) {
                Ok(decision) => DecisionRequest { row_no, decision, new_role, justification: justification.to_string() },
                Err(e) => return fail(exit::USAGE, e),
            },
            None => match store.review_row(campaign, row_no).await {
                Ok(Some(row)) => row.accept_recommendation(),
                Ok(None) => return fail(exit::USAGE, format!("row {row_no}: there is no row {row_no} in this campaign")),
                Err(e) => return fail(exit::FAILURE, e),
            },
        };
        requests.push(request);
    }
    let now = chrono::Utc::now().timestamp_millis();
    match store.record_review_decisions(campaign, &reviewer, &requests, now).await {
        Ok(Ok(entries)) => {
            for e in &entries {
                println!("row {}: {} recorded by {} (decision {}, hash {})", e.row, e.decision, e.reviewer, e.seq, &e.hash[..16]);
            }
            ExitCode::SUCCESS
        }
        Ok(Err((row, refusal))) => fail(exit::USAGE, format!("row {row}: {refusal} ({}); nothing was recorded", refusal.field())),
        Err(e) => fail(exit::FAILURE, e),
    }
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

pub(crate) fn csv_text(e: &Evidence) -> Result<String, String> {
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

/// The evidence export's formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// Snapshot, hash-chained decisions and results: what `verify` checks.
    Json,
    /// One line per row with its latest decision and result.
    Csv,
    /// A printable report (the browser prints it to PDF).
    Html,
}

pub(crate) fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_default()
}

struct ReportRow {
    row: i64,
    workspace: String,
    principal: String,
    principal_type: String,
    role: String,
    via: String,
    decision: String,
    reviewer: String,
    decided_at: String,
    justification: String,
    outcome: String,
    request_id: String,
}

struct ReportEntry {
    seq: i64,
    row: i64,
    reviewer: String,
    at: String,
    decision: String,
    justification: String,
    hash: String,
}

#[derive(Template)]
#[template(path = "review/report.html")]
struct Report {
    name: String,
    exported: String,
    id: String,
    scope: String,
    owner: String,
    created: String,
    due: String,
    state: String,
    snapshot_at: String,
    row_count: usize,
    admin_calls: i64,
    snapshot_hash: String,
    head: String,
    decision_count: usize,
    verified: bool,
    chain_error: String,
    summary: Vec<(String, usize)>,
    rows: Vec<ReportRow>,
    log: Vec<ReportEntry>,
}

fn decision_text(decision: &str, new_role: Option<&str>) -> String {
    match (decision, new_role) {
        ("Change", Some(role)) => format!("Change to {role}"),
        ("DontKnow", _) => "Don't know".into(),
        (d, _) => d.to_string(),
    }
}

/// The printable report: campaign, chain check, every row with its latest decision and result,
/// and the whole log.
pub fn html_text(e: &Evidence, exported_at: i64) -> Result<String, String> {
    let check = verify_chain(e);
    let mut summary: std::collections::BTreeMap<String, usize> = Default::default();
    let rows: Vec<ReportRow> = e
        .rows
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let row = i as i64 + 1;
            let last = e.decisions.iter().rev().find(|d| d.row == row);
            let result = e.results.iter().find(|r| r.row == row);
            let decision = last.map(|d| decision_text(&d.decision, d.new_role.as_deref())).unwrap_or_else(|| "open".into());
            *summary.entry(decision.clone()).or_default() += 1;
            ReportRow {
                row,
                workspace: a.workspace.clone(),
                principal: a.principal.clone(),
                principal_type: a.principal_type.clone(),
                role: a.role.clone(),
                via: a.via.clone(),
                decision,
                reviewer: last.map(|d| d.reviewer.clone()).unwrap_or_default(),
                decided_at: last.map(|d| utc(d.at)).unwrap_or_default(),
                justification: last.map(|d| d.justification.clone()).unwrap_or_default(),
                outcome: result
                    .map(|r| if r.detail.is_empty() { r.outcome.clone() } else { format!("{}: {}", r.outcome, r.detail) })
                    .unwrap_or_default(),
                request_id: result.and_then(|r| r.request_id.clone()).unwrap_or_default(),
            }
        })
        .collect();
    let report = Report {
        name: e.campaign.name.clone(),
        exported: utc(exported_at),
        id: e.campaign.id.to_string(),
        scope: e.campaign.scope.to_string(),
        owner: e.campaign.owner.clone(),
        created: utc(e.campaign.created_at),
        due: utc(e.campaign.due_at),
        state: e.campaign.state.clone(),
        snapshot_at: utc(e.campaign.snapshot_at),
        row_count: e.rows.len(),
        admin_calls: e.campaign.admin_calls,
        snapshot_hash: e.campaign.snapshot_hash.clone(),
        head: e.head.clone(),
        decision_count: e.decisions.len(),
        verified: check.is_ok(),
        chain_error: check.err().map(|c| c.to_string()).unwrap_or_default(),
        summary: summary.into_iter().collect(),
        rows,
        log: e
            .decisions
            .iter()
            .map(|d| ReportEntry {
                seq: d.seq,
                row: d.row,
                reviewer: d.reviewer.clone(),
                at: utc(d.at),
                decision: decision_text(&d.decision, d.new_role.as_deref()),
                justification: d.justification.clone(),
                hash: d.hash.clone(),
            })
            .collect(),
    };
    report.render().map_err(|e| format!("cannot render the report: {e}"))
}

/// Export a campaign's evidence as JSON (what `verify` checks), CSV or a printable HTML report.
pub async fn export(database: &str, campaign: Uuid, format: ExportFormat, out: Option<&Path>) -> ExitCode {
    let store = match open(database).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let evidence = match store.review_evidence(campaign).await {
        Ok(Some(e)) => e,
        Ok(None) => return fail(exit::USAGE, format!("no campaign {campaign} in {database}")),
        Err(e) => return fail(exit::FAILURE, e),
    };
    let text = match format {
        ExportFormat::Json => Ok(serde_json::to_string_pretty(&evidence).expect("evidence serialises") + "\n"),
        ExportFormat::Csv => csv_text(&evidence),
        ExportFormat::Html => html_text(&evidence, chrono::Utc::now().timestamp_millis()),
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => return fail(exit::FAILURE, e),
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

#[cfg(test)]
mod tests {
    use pbi_server::review::{snapshot_hash, AccessRow, CampaignSummary, LogEntry, EVIDENCE_FORMAT};

    use super::*;

    fn evidence() -> Evidence {
        let rows = vec![AccessRow {
            workspace_id: Uuid::from_u128(1),
            workspace: "Sales <EU>".into(),
            principal: "bob@contoso.com".into(),
            principal_type: "User".into(),
            role: "Contributor".into(),
            via: "direct".into(),
            license_type: "Pro".into(),
            user_type: "Member".into(),
            account: "enabled".into(),
            last_activity: None,
        }];
        let hash = snapshot_hash(&rows);
        let mut d = LogEntry {
            campaign: Uuid::from_u128(2),
            seq: 1,
            row: 1,
            reviewer: "admin@contoso.com".into(),
            at: 1_700_000_000_000,
            seen: "{}".into(),
            decision: "Change".into(),
            new_role: Some("Viewer".into()),
            justification: "<script>alert(1)</script>".into(),
            prev: hash.clone(),
            hash: String::new(),
        };
        d.hash = d.compute_hash();
        Evidence {
            format: EVIDENCE_FORMAT.into(),
            campaign: CampaignSummary {
                id: Uuid::from_u128(2),
                name: "Q4".into(),
                scope: serde_json::json!({"all": true}),
                owner: "admin@contoso.com".into(),
                created_at: 0,
                due_at: 0,
                snapshot_at: 0,
                snapshot_hash: hash,
                admin_calls: 2,
                state: "open".into(),
            },
            rows,
            head: d.hash.clone(),
            decisions: vec![d],
            results: vec![],
        }
    }

    #[test]
    fn the_report_escapes_and_says_whether_the_chain_holds() {
        let e = evidence();
        let html = html_text(&e, 0).unwrap();
        assert!(html.contains("Sales &#60;EU&#62;") || html.contains("Sales &lt;EU&gt;"), "{html}");
        assert!(!html.contains("<script>"), "justifications are escaped");
        assert!(html.contains("Change to Viewer"));
        assert!(html.contains(&e.head));
        assert!(html.contains(">verified<"));
        let mut changed = e.clone();
        changed.decisions[0].justification = "other".into();
        assert!(html_text(&changed, 0).unwrap().contains("does not verify: decision 1 was changed"));
    }
}
