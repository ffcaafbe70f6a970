//! The pages: campaigns, a new campaign, a campaign's progress, a reviewer's queue with its
//! decisions form, and the evidence (printable HTML, JSON, CSV).

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use pbi_server::domain::Role;
use pbi_server::review::{
    Campaign, CampaignState, Decision, DecisionFilter, DecisionRefusal, DecisionRequest, Flag, ReviewRow, RowQuery, Tally,
};
use serde::Deserialize;
use uuid::Uuid;

use super::auth::Me;
use super::extract::{not_admin, CsrfForm, MaybeSigned, Posted, Signed, Viewing};
use super::{failure, page, problem, Shared};
use crate::cli::audit::ReviewScope;
use crate::cli::review::{start_campaign, utc, StartOptions};

/// Rows on a queue page.
pub const PAGE_ROWS: u32 = 100;

fn day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

fn percent(decided: i64, total: i64) -> i64 {
    if total == 0 {
        100
    } else {
        decided * 100 / total
    }
}

pub fn scope_text(scope: &serde_json::Value) -> String {
    if scope["all"] == true {
        "all workspaces".into()
    } else if let Some(t) = scope["nameContains"].as_str() {
        format!("workspaces whose name contains \"{t}\"")
    } else if let Some(list) = scope["workspaces"].as_array() {
        list.iter().filter_map(|w| w.as_str()).collect::<Vec<_>>().join(", ")
    } else {
        scope.to_string()
    }
}

#[derive(Template)]
#[template(path = "review/web/signin.html")]
struct SignIn {
    me: Option<Me>,
}

struct CampaignLine {
    id: Uuid,
    name: String,
    scope: String,
    due: String,
    decided: i64,
    total: i64,
    percent: i64,
    state: &'static str,
}

#[derive(Template)]
#[template(path = "review/web/campaigns.html")]
struct Campaigns {
    me: Option<Me>,
    admin: bool,
    campaigns: Vec<CampaignLine>,
}

pub async fn campaigns(State(app): State<Shared>, MaybeSigned(me): MaybeSigned) -> Response {
    let Some(me) = me else {
        return page(StatusCode::OK, &SignIn { me: None });
    };
    let list = match app.store.review_campaigns().await {
        Ok(l) => l,
        Err(e) => return failure(Some(me), e),
    };
    let mut campaigns = Vec::with_capacity(list.len());
    for c in list {
        let progress = match app.store.review_progress(c.id).await {
            Ok(p) => p,
            Err(e) => return failure(Some(me), e),
        };
        let open = progress.decisions.get("open").copied().unwrap_or(0);
        campaigns.push(CampaignLine {
            id: c.id,
            name: c.name,
            scope: scope_text(&c.scope),
            due: day(c.due_at),
            decided: c.row_count - open,
            total: c.row_count,
            percent: percent(c.row_count - open, c.row_count),
            state: c.state.as_str(),
        });
    }
    page(StatusCode::OK, &Campaigns { admin: me.admin, me: Some(me), campaigns })
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct NewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    name_contains: String,
    #[serde(default)]
    workspaces: String,
    #[serde(default)]
    reviewers: String,
    #[serde(default)]
    due_days: String,
    #[serde(default)]
    lookback_days: String,
}

#[derive(Template)]
#[template(path = "review/web/new.html")]
struct NewCampaignPage {
    me: Option<Me>,
    form: NewForm,
    errors: BTreeMap<&'static str, String>,
}

impl CsrfForm for NewForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn new_campaign(Signed(me): Signed) -> Response {
    if !me.admin {
        return not_admin(me);
    }
    let form = NewForm { scope: "all".into(), due_days: "14".into(), lookback_days: "30".into(), ..Default::default() };
    page(StatusCode::OK, &NewCampaignPage { me: Some(me), form, errors: BTreeMap::new() })
}

fn lines(text: &str) -> Vec<String> {
    text.split(['\n', ',']).map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
}

pub async fn create_campaign(State(app): State<Shared>, Signed(me): Signed, Posted(form): Posted<NewForm>) -> Response {
    if !me.admin {
        return not_admin(me);
    }
    let mut errors = BTreeMap::new();
    if form.name.trim().is_empty() {
        errors.insert("name", "Give the campaign a name.".to_string());
    }
    let scope = match form.scope.as_str() {
        "all" => Some(ReviewScope::All),
        "nameContains" if !form.name_contains.trim().is_empty() => Some(ReviewScope::NameContains(form.name_contains.trim().into())),
        "nameContains" => {
            errors.insert("name_contains", "Give the text the workspace names contain.".to_string());
            None
        }
        "list" if !lines(&form.workspaces).is_empty() => Some(ReviewScope::Workspaces(lines(&form.workspaces))),
        "list" => {
            errors.insert("workspaces", "List at least one workspace, by name or id.".to_string());
            None
        }
        _ => {
            errors.insert("scope", "Choose the scope.".to_string());
            None
        }
    };
    let due_days = match form.due_days.trim().parse::<i64>() {
        Ok(d) if (1..=366).contains(&d) => d,
        _ => {
            errors.insert("due_days", "Give the days until decisions close, 1 to 366.".to_string());
            0
        }
    };
    let lookback_days = match form.lookback_days.trim() {
        "" => 0,
        text => match text.parse::<i64>() {
            Ok(d) if (0..=30).contains(&d) => d,
            _ => {
                errors.insert("lookback_days", "Give the days of activity to read, 0 to 30 (the activity log keeps 30).".to_string());
                0
            }
        },
    };
    let (Some(scope), true) = (scope, errors.is_empty()) else {
        return page(StatusCode::UNPROCESSABLE_ENTITY, &NewCampaignPage { me: Some(me), form, errors });
    };
    let options = StartOptions {
        name: form.name.trim().into(),
        scope,
        due_days,
        reviewers: lines(&form.reviewers),
        owner: Some(me.upn.clone()),
        lookback_days,
    };
    match start_campaign(&app.session, &app.store, &options, app.now_ms()).await {
        Ok(started) => {
            Redirect::to(&format!("/review/campaigns/{}?started=1&asked={}", started.campaign.id, started.lookback_asked)).into_response()
        }
        Err(e) => {
            errors.insert("scope", format!("The snapshot could not be taken: {e}"));
            page(StatusCode::UNPROCESSABLE_ENTITY, &NewCampaignPage { me: Some(me), form, errors })
        }
    }
}

struct Bar {
    name: String,
    decided: i64,
    total: i64,
    percent: i64,
}

fn bars(t: Vec<Tally>) -> Vec<Bar> {
    t.into_iter().map(|t| Bar { percent: percent(t.decided, t.total), name: t.name, decided: t.decided, total: t.total }).collect()
}

#[derive(Template)]
#[template(path = "review/web/campaign.html")]
struct CampaignPage {
    me: Option<Me>,
    admin: bool,
    c: Campaign,
    scope: String,
    snapshot_at: String,
    age: String,
    due: String,
    started: bool,
    /// Said when the activity lookback is shorter than the owner asked.
    lookback_note: String,
    reviewers: Vec<Bar>,
    workspaces: Vec<Bar>,
    decisions: Vec<(String, i64)>,
    flags: Vec<(&'static str, i64)>,
    mine: Option<Bar>,
}

#[derive(Deserialize)]
pub struct Started {
    started: Option<String>,
    asked: Option<i64>,
}

pub fn decision_label(d: &str) -> String {
    match d {
        "DontKnow" => "Don't know".into(),
        "open" => "open".into(),
        other => other.to_string(),
    }
}

pub async fn campaign(State(app): State<Shared>, Viewing { me, c }: Viewing, Query(q): Query<Started>) -> Response {
    let (progress, flags) = match (app.store.review_progress(c.id).await, app.store.count_review_flags(c.id).await) {
        (Ok(p), Ok(f)) => (p, f),
        (Err(e), _) | (_, Err(e)) => return failure(Some(me), e),
    };
    let age_ms = app.now_ms() - c.snapshot_at;
    let age = match age_ms / 60_000 {
        m if m < 1 => "less than a minute".to_string(),
        m if m < 120 => format!("{m} minute(s)"),
        m if m < 48 * 60 => format!("{} hour(s)", m / 60),
        m => format!("{} day(s)", m / 1440),
    };
    let reviewers = bars(progress.by_reviewer);
    let mine = reviewers.iter().find(|b| b.name == me.upn).map(Bar::clone_from_ref);
    let page_data = CampaignPage {
        admin: me.admin,
        me: Some(me),
        scope: scope_text(&c.scope),
        snapshot_at: utc(c.snapshot_at),
        age,
        due: day(c.due_at),
        started: q.started.is_some(),
        lookback_note: match q.asked {
            Some(asked) if asked > c.lookback_days => crate::cli::review::lookback_note(c.lookback_days, asked),
            _ => String::new(),
        },
        reviewers,
        workspaces: bars(progress.by_workspace),
        decisions: progress.decisions.into_iter().map(|(d, n)| (decision_label(&d), n)).collect(),
        flags: flags.into_iter().map(|(f, n)| (f.label(), n)).collect(),
        mine,
        c,
    };
    page(StatusCode::OK, &page_data)
}

impl Bar {
    fn clone_from_ref(b: &Bar) -> Bar {
        Bar { name: b.name.clone(), decided: b.decided, total: b.total, percent: b.percent }
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct QueueQuery {
    #[serde(default)]
    workspace: String,
    #[serde(default)]
    flag: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    after: Option<i64>,
    #[serde(default)]
    saved: Option<usize>,
}

impl QueueQuery {
    fn to_url(&self, id: Uuid, after: i64) -> String {
        let mut pairs = vec![];
        for (k, v) in [("workspace", &self.workspace), ("flag", &self.flag), ("decision", &self.decision), ("q", &self.q)] {
            if !v.is_empty() {
                pairs.push((k, v.clone()));
            }
        }
        if after > 0 {
            pairs.push(("after", after.to_string()));
        }
        let base = format!("http://x/review/campaigns/{id}/queue");
        let url = reqwest::Url::parse_with_params(&base, &pairs).map(|u| u.to_string()).unwrap_or(base);
        url.trim_start_matches("http://x").trim_end_matches('?').to_string()
    }
}

/// What the form sent for a row, kept when the page is shown again with an error.
#[derive(Debug, Default, Clone)]
struct Submitted {
    decision: String,
    role: String,
    justification: String,
}

struct QueueRow {
    n: i64,
    workspace: String,
    principal: String,
    kind: String,
    role: String,
    via: String,
    /// The drawer: how the access reaches the principal, their account and last activity.
    path: String,
    account: String,
    last_activity: String,
    flags: Vec<&'static str>,
    recommendation: String,
    reason: String,
    previous: String,
    is_new: bool,
    own: bool,
    current: String,
    lower_roles: Vec<&'static str>,
    chosen: String,
    chosen_role: String,
    justification: String,
    error: Option<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "review/web/queue.html")]
struct QueuePage {
    me: Option<Me>,
    c: Campaign,
    open: bool,
    query: QueueQuery,
    workspaces: Vec<(String, String)>,
    flags: Vec<(&'static str, &'static str)>,
    rows: Vec<QueueRow>,
    next: Option<String>,
    first: Option<String>,
    mine: Option<Bar>,
    saved: Option<usize>,
    error: Option<(i64, String)>,
}

const LOWER: [&str; 3] = ["Viewer", "Contributor", "Member"];

fn queue_row(r: ReviewRow, me: &Me, submitted: Option<&Submitted>, error: Option<&(i64, DecisionRefusal)>) -> QueueRow {
    let own = r.access.principal_type.eq_ignore_ascii_case("User") && r.access.principal.eq_ignore_ascii_case(&me.upn);
    let current_role: Option<Role> = r.access.role.parse().ok();
    let lower_roles = LOWER.iter().copied().filter(|l| l.parse::<Role>().ok().zip(current_role).is_some_and(|(l, c)| l < c)).collect();
    let (chosen, chosen_role, justification) = match (submitted, &r.current) {
        (Some(s), _) => (s.decision.clone(), s.role.clone(), s.justification.clone()),
        (None, Some(c)) => {
            (c.decision.as_str().to_string(), c.new_role.map(|r| r.to_string()).unwrap_or_default(), c.justification.clone())
        }
        (None, None) => Default::default(),
    };
    let current = match &r.current {
        Some(c) => match c.new_role {
            Some(role) => format!("Change to {role} by {} on {}", c.by, day(c.at)),
            None => format!("{} by {} on {}", decision_label(c.decision.as_str()), c.by, day(c.at)),
        },
        None => "open".into(),
    };
    QueueRow {
        n: r.row_no,
        workspace: r.access.workspace.clone(),
        principal: r.access.principal.clone(),
        kind: [r.access.principal_type.as_str(), r.access.user_type.as_str(), r.access.license_type.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(", "),
        role: r.access.role.clone(),
        via: r.access.via.clone(),
        path: if r.access.via == "direct" {
            format!("{} holds {} on {} directly", r.access.principal, r.access.role, r.access.workspace)
        } else {
            format!("{} holds {} on {} through {}", r.access.principal, r.access.role, r.access.workspace, r.access.via)
        },
        account: if r.access.account.is_empty() { "not an account (group or app)".into() } else { r.access.account.clone() },
        last_activity: match r.access.last_activity {
            Some(at) => utc(at),
            None if r.access.principal_type.eq_ignore_ascii_case("User") => "none seen in the campaign's lookback".into(),
            None => "not tracked for groups and apps".into(),
        },
        flags: r.flags.iter().map(|f| f.label()).collect(),
        recommendation: r.recommendation.to_string().replace("Downgrade:", "Downgrade to "),
        reason: r.reason.clone(),
        previous: r.previous_decision.clone().map(|d| decision_label(&d)).unwrap_or_default(),
        is_new: r.is_new,
        own,
        current,
        lower_roles,
        chosen,
        chosen_role,
        justification,
        error: error.filter(|(n, _)| *n == r.row_no).map(|(_, e)| (e.field(), e.to_string())),
    }
}

#[allow(clippy::too_many_arguments)]
async fn render_queue(
    app: &Shared,
    me: Me,
    c: Campaign,
    query: QueueQuery,
    submitted: &HashMap<i64, Submitted>,
    error: Option<(i64, DecisionRefusal)>,
    status: StatusCode,
) -> Response {
    // Only the reviewer's own workspaces and progress: a page costs the same in any campaign.
    let workspaces = match app.store.list_reviewer_workspaces(c.id, &me.upn).await {
        Ok(w) => w,
        Err(e) => return failure(Some(me), e),
    };
    let decision = match query.decision.as_str() {
        "" => None,
        "open" => Some(DecisionFilter::Open),
        d => d.parse::<Decision>().ok().map(DecisionFilter::Decided),
    };
    let after = query.after.unwrap_or(0).max(0);
    let q = RowQuery {
        reviewer: Some(me.upn.clone()),
        workspace_id: query.workspace.parse().ok(),
        flag: query.flag.parse::<Flag>().ok(),
        decision,
        search: Some(query.q.clone()).filter(|s| !s.trim().is_empty()),
        after,
        limit: PAGE_ROWS + 1,
    };
    let mut rows = match app.store.review_rows(c.id, &q).await {
        Ok(r) => r,
        Err(e) => return failure(Some(me), e),
    };
    let more = rows.len() > PAGE_ROWS as usize;
    rows.truncate(PAGE_ROWS as usize);
    let next = more.then(|| query.to_url(c.id, rows.last().map(|r| r.row_no).unwrap_or(after)));
    let first = (after > 0).then(|| query.to_url(c.id, 0));
    let mine = match app.store.review_reviewer_progress(c.id, &me.upn).await {
        Ok(t) => t.map(|t| bars(vec![t]).remove(0)),
        Err(e) => return failure(Some(me), e),
    };
    let rows: Vec<QueueRow> = rows
        .into_iter()
        .map(|r| {
            let s = submitted.get(&r.row_no);
            queue_row(r, &me, s, error.as_ref())
        })
        .collect();
    let saved = query.saved;
    let error_text = error.map(|(n, e)| (n, e.to_string()));
    let page_data = QueuePage {
        open: c.state == CampaignState::Open,
        me: Some(me),
        c,
        query,
        workspaces: workspaces.into_iter().map(|(id, name)| (id.to_string(), name)).collect(),
        flags: Flag::ALL.iter().map(|f| (f.as_str(), f.label())).collect(),
        rows,
        next,
        first,
        mine,
        saved,
        error: error_text,
    };
    page(status, &page_data)
}

pub async fn queue(State(app): State<Shared>, Viewing { me, c }: Viewing, Query(query): Query<QueueQuery>) -> Response {
    render_queue(&app, me, c, query, &HashMap::new(), None, StatusCode::OK).await
}

/// The decisions form: `save` records each row whose decision was changed on the page, `accept`
/// accepts the recommendation of each selected row. All or nothing; a refusal is shown next to
/// its row's field with everything that was typed kept.
pub async fn decide(State(app): State<Shared>, Viewing { me, c }: Viewing, Posted(pairs): Posted<Vec<(String, String)>>) -> Response {
    let field = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let query: QueueQuery = QueueQuery {
        workspace: field("workspace"),
        flag: field("flag"),
        decision: field("filter_decision"),
        q: field("q"),
        after: field("after").parse().ok(),
        saved: None,
    };
    let shown: Vec<i64> = pairs.iter().filter(|(k, _)| k == "shown").filter_map(|(_, v)| v.parse().ok()).collect();
    let mut submitted: HashMap<i64, Submitted> = HashMap::new();
    for &n in &shown {
        submitted.insert(
            n,
            Submitted { decision: field(&format!("d{n}")), role: field(&format!("r{n}")), justification: field(&format!("j{n}")) },
        );
    }
    let mut requests = Vec::new();
    if field("action") == "accept" {
        let selected: Vec<i64> = pairs.iter().filter(|(k, _)| k == "select").filter_map(|(_, v)| v.parse().ok()).collect();
        for n in selected {
            match app.store.review_row(c.id, n).await {
                Ok(Some(row)) => requests.push(row.accept_recommendation()),
                Ok(None) => {
                    return problem(StatusCode::BAD_REQUEST, Some(me), "No such row", &format!("There is no row {n} in this campaign."))
                }
                Err(e) => return failure(Some(me), e),
            }
        }
    } else {
        for &n in &shown {
            let s = &submitted[&n];
            if s.decision.is_empty() {
                continue;
            }
            let Ok(decision) = s.decision.parse::<Decision>() else { continue };
            let new_role = if decision == Decision::Change { s.role.parse::<Role>().ok() } else { None };
            let current = match app.store.review_row(c.id, n).await {
                Ok(Some(row)) => row.current,
                Ok(None) => continue,
                Err(e) => return failure(Some(me), e),
            };
            let unchanged = current.is_some_and(|cur| {
                cur.decision == decision && cur.new_role == new_role && cur.justification.trim() == s.justification.trim()
            });
            if !unchanged {
                requests.push(DecisionRequest { row_no: n, decision, new_role, justification: s.justification.trim().to_string() });
            }
        }
    }
    if requests.is_empty() {
        let url = query.to_url(c.id, query.after.unwrap_or(0));
        return Redirect::to(&url).into_response();
    }
    match app.store.record_review_decisions(c.id, &me.upn, &requests, app.now_ms()).await {
        Ok(Ok(entries)) => {
            let url = query.to_url(c.id, query.after.unwrap_or(0));
            let sep = if url.contains('?') { '&' } else { '?' };
            Redirect::to(&format!("{url}{sep}saved={}", entries.len())).into_response()
        }
        Ok(Err(refusal)) => render_queue(&app, me, c, query, &submitted, Some(refusal), StatusCode::UNPROCESSABLE_ENTITY).await,
        Err(e) => failure(Some(me), e),
    }
}

async fn evidence_of(app: &Shared, Viewing { me, c }: Viewing) -> Result<pbi_server::review::Evidence, Response> {
    match app.store.review_evidence(c.id).await {
        Ok(Some(e)) => Ok(e),
        Ok(None) => Err(problem(StatusCode::NOT_FOUND, Some(me), "No such campaign", "There is no campaign at this address.")),
        Err(e) => Err(failure(Some(me), e)),
    }
}

fn download(body: String, kind: &'static str, name: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}

/// The printable report `review export --format html` writes.
pub async fn evidence_html(State(app): State<Shared>, viewing: Viewing) -> Response {
    let e = match evidence_of(&app, viewing).await {
        Ok(e) => e,
        Err(r) => return r,
    };
    match crate::cli::review::html_text(&e, app.now_ms()) {
        Ok(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], html).into_response(),
        Err(e) => failure(None, e),
    }
}

pub async fn evidence_json(State(app): State<Shared>, viewing: Viewing) -> Response {
    match evidence_of(&app, viewing).await {
        Ok(e) => download(
            serde_json::to_string_pretty(&e).unwrap_or_default() + "\n",
            "application/json",
            format!("review-{}.json", e.campaign.id),
        ),
        Err(r) => r,
    }
}

pub async fn evidence_csv(State(app): State<Shared>, viewing: Viewing) -> Response {
    match evidence_of(&app, viewing).await {
        Ok(e) => match crate::cli::review::csv_text(&e) {
            Ok(text) => download(text, "text/csv; charset=utf-8", format!("review-{}.csv", e.campaign.id)),
            Err(err) => failure(None, err),
        },
        Err(r) => r,
    }
}
