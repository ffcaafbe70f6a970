//! Closing a campaign and applying it: Revoke and Change decisions on direct access compile into
//! a lifecycle plan (`pbi_lifecycle::plan`) against what the service shows now; the preview shows
//! its calls and the time the admin budget needs; the apply runs it with a journal (resumable,
//! drift-refusing, verified by re-reading) and records a result per decision. Access through a
//! group is not removable by the Power BI API (Entra ID changes the group), and access that has
//! already gone is recorded as not found.

use std::collections::{BTreeMap, HashMap, HashSet};

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use pbi_client::{ClientError, PowerBiClient};
use pbi_lifecycle::apply::{apply, ApplyError, TargetError};
use pbi_lifecycle::journal::Journal;
use pbi_lifecycle::plan::{make_plan, Action, Capabilities, Plan, ResolvedWorkspace};
use pbi_lifecycle::service::role_of;
use pbi_lifecycle::state::{ObservedState, PrincipalKey, PrincipalKind, Role, WorkspaceState};
use pbi_server::review::{Campaign, CampaignState, Decision, DecisionFilter, ResultEntry, ReviewRow, RowQuery};
use serde::Deserialize;
use uuid::Uuid;

use super::auth::Me;
use super::extract::{CsrfForm as HasCsrf, Owning, Posted};
use super::{failure, page, problem, Shared};
use crate::cli::commands::{key_of, ClientTarget};

/// A campaign's decisions as a plan, and what cannot be planned.
pub struct Compiled {
    pub plan: Plan,
    /// Step id → the rows it carries out.
    pub rows_of_step: BTreeMap<u32, Vec<i64>>,
    /// Rows no step carries out: (row, outcome, detail).
    pub unplanned: Vec<(i64, &'static str, String)>,
    pub names: BTreeMap<String, String>,
}

fn lifecycle_role(text: &str) -> Option<Role> {
    match text {
        "Admin" => Some(Role::Admin),
        "Member" => Some(Role::Member),
        "Contributor" => Some(Role::Contributor),
        "Viewer" => Some(Role::Viewer),
        _ => None,
    }
}

/// Every row with a Revoke or Change decision.
async fn decided(app: &Shared, id: Uuid) -> Result<Vec<ReviewRow>, String> {
    let mut out = Vec::new();
    for d in [Decision::Revoke, Decision::Change] {
        let mut after = 0;
        loop {
            let q = RowQuery { decision: Some(DecisionFilter::Decided(d)), after, limit: 1000, ..Default::default() };
            let page = app.store.review_rows(id, &q).await.map_err(|e| e.to_string())?;
            let Some(last) = page.last() else { break };
            after = last.row_no;
            out.extend(page);
        }
    }
    out.sort_by_key(|r| r.row_no);
    Ok(out)
}

/// Direct roles of the workspaces (as `plan` observes them), with each group's and app's display
/// name → key (the snapshot names them by display name).
async fn observe(
    client: &PowerBiClient,
    ids: &[(String, String)],
) -> Result<(ObservedState, HashMap<(String, String), PrincipalKey>), ClientError> {
    let mut state = ObservedState::default();
    let mut by_name = HashMap::new();
    for (id, name) in ids {
        let group: Uuid = id.parse().unwrap_or_default();
        let users = match client.get_group_users(group).await {
            Ok(u) => u,
            Err(ClientError::Api { status, .. }) if status.as_u16() == 404 => client.get_group_users_as_admin(group).await?,
            Err(e) => return Err(e),
        };
        let mut members = BTreeMap::new();
        for u in users.iter().filter(|u| u.profile.is_none()) {
            let (Some(key), Some(role)) = (key_of(u), role_of(u.group_user_access_right)) else { continue };
            if let Some(display) = &u.display_name {
                by_name.insert((id.clone(), display.to_lowercase()), key.clone());
            }
            members.insert(key, role);
        }
        state.workspaces.insert(id.clone(), WorkspaceState { id: id.clone(), name: name.clone(), members });
    }
    Ok((state, by_name))
}

pub async fn compile(app: &Shared, c: &Campaign) -> Result<Compiled, String> {
    let rows = decided(app, c.id).await?;
    let mut unplanned = Vec::new();
    let mut direct = Vec::new();
    for r in rows {
        if r.access.via != "direct" {
            unplanned.push((
                r.row_no,
                "notRemovableByApi",
                format!("granted {}: change the group's membership in Entra ID", r.access.via.replace("group ", "through group ")),
            ));
        } else {
            direct.push(r);
        }
    }
    let ids: Vec<(String, String)> = direct
        .iter()
        .map(|r| (r.access.workspace_id.to_string(), r.access.workspace.clone()))
        .collect::<BTreeMap<_, _>>()
        .into_iter()
        .collect();
    let (observed, by_name) = observe(&app.session.client, &ids).await.map_err(|e| format!("reading the workspaces: {e}"))?;
    let mut wanted: BTreeMap<String, BTreeMap<PrincipalKey, Role>> =
        observed.workspaces.iter().map(|(id, w)| (id.clone(), w.members.clone())).collect();
    let mut row_of: HashMap<(String, PrincipalKey), i64> = HashMap::new();
    for r in direct {
        let ws = r.access.workspace_id.to_string();
        let key = match r.access.principal_type.as_str() {
            "User" => Some(PrincipalKey::new(PrincipalKind::User, &r.access.principal)),
            _ => by_name.get(&(ws.clone(), r.access.principal.to_lowercase())).cloned(),
        };
        let members = wanted.entry(ws.clone()).or_default();
        let current = key.as_ref().and_then(|k| members.get(k).copied());
        let (Some(key), Some(current)) = (key, current) else {
            unplanned.push((r.row_no, "notFound", "no longer holds a role on the workspace: nothing to change".into()));
            continue;
        };
        let decision = r.current.as_ref().map(|d| d.decision);
        if Some(current) != lifecycle_role(&r.access.role) {
            unplanned.push((
                r.row_no,
                "notFound",
                format!("the role is now {current:?}, not the reviewed {}: nothing changed", r.access.role),
            ));
            continue;
        }
        match decision {
            Some(Decision::Revoke) => {
                members.remove(&key);
            }
            Some(Decision::Change) => {
                let to = r.current.as_ref().and_then(|d| d.new_role).and_then(|role| lifecycle_role(&role.to_string()));
                let Some(to) = to else { continue };
                members.insert(key.clone(), to);
            }
            _ => continue,
        }
        row_of.insert((ws, key), r.row_no);
    }
    let desired: Vec<ResolvedWorkspace> = observed
        .workspaces
        .values()
        .map(|w| ResolvedWorkspace {
            id: w.id.clone(),
            name: w.name.clone(),
            exclusive: true,
            members: wanted
                .get(&w.id)
                .map(|m| m.iter().map(|(k, role)| (k.clone(), (*role, k.identifier.clone()))).collect())
                .unwrap_or_default(),
        })
        .collect();
    let me = PrincipalKey::new(PrincipalKind::App, &app.session.caller.to_string());
    let admin_of: HashSet<String> =
        observed.workspaces.values().filter(|w| w.members.get(&me) == Some(&Role::Admin)).map(|w| w.id.clone()).collect();
    let caps = Capabilities {
        caller: Some(me),
        admin_of,
        admin_budget_per_hour: app.session.profile.admin_budget_per_hour,
        seconds_per_call: 0.5,
    };
    let names = observed.workspaces.values().map(|w| (w.id.clone(), w.name.clone())).collect();
    let plan = make_plan(&desired, &observed, &caps);
    let mut rows_of_step = BTreeMap::new();
    for step in &plan.steps {
        if let Some(n) = row_of.get(&(step.workspace_id.clone(), step.principal.clone())) {
            rows_of_step.entry(step.id).or_insert_with(Vec::new).push(*n);
        }
    }
    unplanned.sort_by_key(|u| u.0);
    Ok(Compiled { plan, rows_of_step, unplanned, names })
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    fingerprint: String,
}

impl HasCsrf for CsrfForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Close: no more decisions; then the preview.
pub async fn close(State(app): State<Shared>, Owning { me, c }: Owning, _: Posted<CsrfForm>) -> Response {
    if c.state == CampaignState::Open {
        if let Err(e) = app.store.set_review_state(c.id, CampaignState::Closed).await {
            return failure(Some(me), e);
        }
    }
    Redirect::to(&format!("/review/campaigns/{}/apply", c.id)).into_response()
}

struct StepLine {
    id: u32,
    workspace: String,
    principal: String,
    change: String,
    endpoint: String,
    rows: String,
}

struct Unplanned {
    row: i64,
    outcome: &'static str,
    detail: String,
}

#[derive(Template)]
#[template(path = "review/web/apply.html")]
struct Preview {
    me: Option<Me>,
    c: Campaign,
    steps: Vec<StepLine>,
    unplanned: Vec<Unplanned>,
    admin_calls: u32,
    seconds: u64,
    fingerprint: String,
    stale: bool,
    outcome: Option<String>,
}

fn describe(a: &Action) -> String {
    match a {
        Action::Add { role } => format!("add as {role:?}"),
        Action::Update { from, to } => format!("change {from:?} to {to:?}"),
        Action::Remove { from } => format!("remove ({from:?})"),
    }
}

fn preview_page(me: Me, c: Campaign, compiled: &Compiled, stale: bool, outcome: Option<String>, status: StatusCode) -> Response {
    let steps = compiled
        .plan
        .steps
        .iter()
        .map(|s| StepLine {
            id: s.id,
            workspace: s.workspace_name.clone(),
            principal: s.display.clone(),
            change: describe(&s.action),
            endpoint: format!("{:?}", s.endpoint),
            rows: compiled
                .rows_of_step
                .get(&s.id)
                .map(|r| r.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", "))
                .unwrap_or_default(),
        })
        .collect();
    let unplanned =
        compiled.unplanned.iter().map(|(row, outcome, detail)| Unplanned { row: *row, outcome, detail: detail.clone() }).collect();
    page(
        status,
        &Preview {
            me: Some(me),
            c,
            steps,
            unplanned,
            admin_calls: compiled.plan.admin_calls,
            seconds: compiled.plan.estimated_seconds,
            fingerprint: compiled.plan.fingerprint.clone(),
            stale,
            outcome,
        },
    )
}

/// The preview: the calls the plan makes, what the admin budget needs, what cannot be applied.
pub async fn preview(State(app): State<Shared>, Owning { me, c }: Owning) -> Response {
    if c.state == CampaignState::Open {
        return problem(
            StatusCode::CONFLICT,
            Some(me),
            "The campaign is open",
            "Close the campaign first: then no decision changes under the plan.",
        );
    }
    match compile(&app, &c).await {
        Ok(compiled) => preview_page(me, c, &compiled, false, None, StatusCode::OK),
        Err(e) => failure(Some(me), e),
    }
}

/// Apply the previewed plan, unless the service changed since the preview.
pub async fn run(State(app): State<Shared>, Owning { me, c }: Owning, Posted(f): Posted<CsrfForm>) -> Response {
    if c.state == CampaignState::Open {
        return problem(StatusCode::CONFLICT, Some(me), "The campaign is open", "Close the campaign first.");
    }
    let compiled = match compile(&app, &c).await {
        Ok(c) => c,
        Err(e) => return failure(Some(me), e),
    };
    if compiled.plan.fingerprint != f.fingerprint {
        return preview_page(me, c, &compiled, true, None, StatusCode::CONFLICT);
    }
    let now = app.now_ms();
    for (row, outcome, detail) in &compiled.unplanned {
        let entry = ResultEntry { row: *row, outcome: (*outcome).into(), detail: detail.clone(), request_id: None, at: now };
        if let Err(e) = app.store.record_review_result(c.id, &entry).await {
            return failure(Some(me), e);
        }
    }
    let journal_path = app.journal_dir.join(format!("review-{}.journal", c.id));
    let mut journal = match Journal::open(&journal_path, &compiled.plan.fingerprint, compiled.plan.steps.len() as u32) {
        Ok(j) => j,
        Err(e) => return failure(Some(me), e),
    };
    let target = ClientTarget {
        client: &app.session.client,
        names: compiled.names.clone(),
        step_delay: std::time::Duration::ZERO,
        progress: indicatif::ProgressBar::hidden(),
        receipts: Default::default(),
    };
    let result = apply(&compiled.plan, &mut journal, &target).await;
    let now = app.now_ms();
    let receipts = target.receipts.lock().expect("receipts lock").clone();
    // Each row's result names the service's `RequestId` of the call that made (or refused) its
    // change; a step done by an earlier run keeps the id that run recorded.
    let record = |step: u32, rows: &[i64], outcome: &str, detail: String| {
        rows.iter()
            .map(|n| ResultEntry {
                row: *n,
                outcome: outcome.into(),
                detail: detail.clone(),
                request_id: receipts.get(&step).cloned(),
                at: now,
            })
            .collect::<Vec<_>>()
    };
    let mut results = Vec::new();
    let summary = match &result {
        Ok(report) => {
            for step in &compiled.plan.steps {
                let rows = compiled.rows_of_step.get(&step.id).cloned().unwrap_or_default();
                if report.executed.contains(&step.id) || report.already_done.contains(&step.id) {
                    results.extend(record(step.id, &rows, "applied", describe(&step.action)));
                } else if let Some(stop) = &report.stopped {
                    results.extend(record(step.id, &rows, "failed", format!("{stop}; apply again to resume")));
                }
            }
            match &report.stopped {
                Some(stop) => format!("Stopped: {stop}. Apply again to resume where it stopped."),
                None => {
                    format!("Applied {} change(s); the service shows the planned state.", report.executed.len() + report.already_done.len())
                }
            }
        }
        Err(ApplyError::Drift { .. }) => return preview_page(me, c, &compiled, true, None, StatusCode::CONFLICT),
        Err(ApplyError::Step { step, error }) => {
            let journal_done: Vec<u32> = compiled.plan.steps.iter().filter(|s| s.id < *step).map(|s| s.id).collect();
            for s in &compiled.plan.steps {
                let rows = compiled.rows_of_step.get(&s.id).cloned().unwrap_or_default();
                if journal_done.contains(&s.id) {
                    results.extend(record(s.id, &rows, "applied", describe(&s.action)));
                } else if s.id == *step {
                    let outcome = if matches!(error, TargetError::Failed(m) if m.contains("404")) { "notFound" } else { "failed" };
                    results.extend(record(s.id, &rows, outcome, error.to_string()));
                } else {
                    results.extend(record(s.id, &rows, "failed", format!("not attempted: step {step} failed first")));
                }
            }
            format!("Step {step} failed: {error}. The journal records what landed; applying again resumes.")
        }
        Err(e) => format!("{e}"),
    };
    for r in &results {
        if let Err(e) = app.store.record_review_result(c.id, r).await {
            return failure(Some(me), e);
        }
    }
    if matches!(&result, Ok(report) if report.stopped.is_none() && report.verified) {
        if let Err(e) = app.store.set_review_state(c.id, CampaignState::Applied).await {
            return failure(Some(me), e);
        }
        return Redirect::to(&format!("/review/campaigns/{}?applied=1", c.id)).into_response();
    }
    preview_page(me, c, &compiled, false, Some(summary), StatusCode::OK)
}
