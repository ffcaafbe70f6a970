//! The everyday and desired-state commands: `workspaces`, `members`, `plan`, `apply`. They are
//! clients of the Power BI API (Microsoft's or a pbi-access server's, by profile), spending the
//! admin budget through the shared ledger.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use base64::Engine;
use pbi_client::{ClientError, Endpoints, Ledger, PowerBiClient, Query, SystemClock, TokenClient, TokenSource};
use pbi_lifecycle::apply::{apply, ApplyError, Target, TargetError};
use pbi_lifecycle::desired::{DesiredState, PrincipalName};
use pbi_lifecycle::journal::Journal;
use pbi_lifecycle::plan::{make_plan, Action, Capabilities, Endpoint, Plan, ResolvedWorkspace, Step};
use pbi_lifecycle::service::{role_of, target_error};
use pbi_lifecycle::state::{ObservedState, PrincipalKey, PrincipalKind, Role, WorkspaceState};
use pbi_wire::ops::powerbi as op;
use pbi_wire::powerbi::{GroupUser, GroupUserAccessRight, PrincipalType};
use uuid::Uuid;

use super::exit;
use super::output::{Format, Rows};
use super::profile::Profile;

pub struct Session {
    pub client: PowerBiClient,
    /// The caller's object id (from its token), to find the workspaces it administers.
    pub caller: Uuid,
    pub profile: Profile,
}

pub(crate) fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("pbi-access: {message}");
    ExitCode::from(code)
}

/// Connect with the profile's client credentials, the shared admin-budget ledger and retries.
pub async fn connect(profile: Profile) -> Result<Session, String> {
    let credential = profile.app_credential()?;
    let tenant = credential.tenant().to_string();
    let endpoints =
        Endpoints { powerbi: profile.powerbi_url.clone(), authority: profile.authority_url.clone(), graph: profile.graph_url.clone() };
    let budget = profile.pacing();
    let ledger_path = profile.ledger.clone().unwrap_or_else(default_ledger);
    if let Some(dir) = ledger_path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let ledger = Ledger::file(&ledger_path, budget, Arc::new(SystemClock)).map_err(|e| format!("ledger {}: {e}", ledger_path.display()))?;
    ledger.observe_waits(super::progress::wait_reporter());
    let client = PowerBiClient::builder(endpoints.clone())
        .credential(credential.clone())
        .admin_ledger(ledger)
        .ledger_tenant(&tenant)
        .build()
        .map_err(|e| e.to_string())?;
    // The caller's object id, read from a token of its own.
    let source = TokenSource::new(
        TokenClient::new(reqwest::Client::new(), &endpoints),
        credential,
        pbi_wire::oauth::POWERBI_DEFAULT_SCOPE,
        Arc::new(SystemClock),
    );
    let token = source.token().await.map_err(|e| e.to_string())?;
    let caller = token
        .split('.')
        .nth(1)
        .and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|c| c["oid"].as_str().and_then(|o| o.parse().ok()))
        .ok_or("the access token carries no oid")?;
    Ok(Session { client, caller, profile })
}

pub(crate) fn default_ledger() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("pbi-access").join("admin-ledger.json")
}

/// A workspace by id, or by name among the caller's workspaces.
pub(crate) async fn find_workspace(s: &Session, name_or_id: &str) -> Result<(Uuid, String), String> {
    let filter = match Uuid::parse_str(name_or_id) {
        Ok(id) => format!("id eq '{id}'"),
        Err(_) => format!("name eq '{}'", name_or_id.replace('\'', "''")),
    };
    let found = s.client.get_groups(Some(&filter), Some(2), None).await.map_err(|e| e.to_string())?;
    match found.value.as_slice() {
        [one] => Ok((one.id, one.name.clone())),
        [] => Err(format!("no workspace '{name_or_id}' among the caller's workspaces")),
        _ => Err(format!("several workspaces are named '{name_or_id}': use the id")),
    }
}

pub async fn workspaces(s: &Session, format: Format) -> ExitCode {
    match s.client.get_groups(None, None, None).await {
        Ok(list) => {
            let mut rows = Rows::new(&["id", "name", "capacity"]);
            for g in list.value {
                rows.push(vec![g.id.to_string(), g.name, g.capacity_id.map(|c| c.to_string()).unwrap_or_default()]);
            }
            render(&rows, format)
        }
        Err(e) => fail(exit::FAILURE, e),
    }
}

pub async fn members(s: &Session, workspace: &str, format: Format) -> ExitCode {
    let (id, _) = match find_workspace(s, workspace).await {
        Ok(w) => w,
        Err(e) => return fail(exit::FAILURE, e),
    };
    match s.client.get_group_users(id).await {
        Ok(users) => {
            let mut rows = Rows::new(&["identifier", "principalType", "role", "displayName"]);
            for u in users {
                rows.push(vec![
                    u.identifier.unwrap_or_default(),
                    u.principal_type.map(|p| p.as_str().to_string()).unwrap_or_default(),
                    u.group_user_access_right.as_str().to_string(),
                    u.display_name.unwrap_or_default(),
                ]);
            }
            render(&rows, format)
        }
        Err(e) => fail(exit::FAILURE, e),
    }
}

pub(crate) fn render(rows: &Rows, format: Format) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match rows.render(format, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(exit::FAILURE, e),
    }
}

fn right_of(role: Role) -> GroupUserAccessRight {
    match role {
        Role::Admin => GroupUserAccessRight::Admin,
        Role::Member => GroupUserAccessRight::Member,
        Role::Contributor => GroupUserAccessRight::Contributor,
        Role::Viewer => GroupUserAccessRight::Viewer,
    }
}

pub(crate) fn key_of(u: &GroupUser) -> Option<PrincipalKey> {
    let kind = match u.principal_type? {
        PrincipalType::User => PrincipalKind::User,
        PrincipalType::Group => PrincipalKind::Group,
        PrincipalType::App => PrincipalKind::App,
        PrincipalType::None => return None,
    };
    Some(PrincipalKey::new(kind, u.identifier.as_deref()?))
}

/// The direct roles of these workspaces, through the workspace endpoint where the caller has a
/// role (free of the admin budget), else the admin endpoint.
async fn observe(client: &PowerBiClient, workspaces: &[(String, String)]) -> Result<ObservedState, ClientError> {
    let mut state = ObservedState::default();
    for (id, name) in workspaces {
        let group: Uuid = id.parse().unwrap_or_default();
        let users = match client.get_group_users(group).await {
            Ok(u) => u,
            Err(ClientError::Api { status, .. }) if status.as_u16() == 404 => client.get_group_users_as_admin(group).await?,
            Err(e) => return Err(e),
        };
        let members: BTreeMap<PrincipalKey, Role> =
            users.iter().filter(|u| u.profile.is_none()).filter_map(|u| Some((key_of(u)?, role_of(u.group_user_access_right)?))).collect();
        state.workspaces.insert(id.clone(), WorkspaceState { id: id.clone(), name: name.clone(), members });
    }
    Ok(state)
}

pub async fn plan(s: &Session, desired_path: &Path, out: &Path, format: Format) -> ExitCode {
    let text = match std::fs::read_to_string(desired_path) {
        Ok(t) => t,
        Err(e) => return fail(exit::USAGE, format!("cannot read {}: {e}", desired_path.display())),
    };
    let desired = match DesiredState::from_yaml(&text) {
        Ok(d) => d,
        Err(e) => return fail(exit::USAGE, e),
    };
    let mut resolved = Vec::new();
    for ws in &desired.workspaces {
        let (id, name) = match find_workspace(s, &ws.workspace).await {
            Ok(w) => w,
            Err(e) => return fail(exit::FAILURE, e),
        };
        let mut members = BTreeMap::new();
        for m in &ws.members {
            let p = match PrincipalName::parse(&m.principal) {
                Ok(p) => p,
                Err(e) => return fail(exit::USAGE, e),
            };
            if p.kind != PrincipalKind::User && Uuid::parse_str(&p.name).is_err() {
                return fail(exit::USAGE, format!("'{}': name groups and apps by object id", m.principal));
            }
            members.insert(PrincipalKey::new(p.kind, &p.name), (m.role, m.principal.clone()));
        }
        resolved.push(ResolvedWorkspace { id: id.to_string(), name, exclusive: ws.exclusive, members });
    }
    let ids: Vec<(String, String)> = resolved.iter().map(|w| (w.id.clone(), w.name.clone())).collect();
    let observed = match observe(&s.client, &ids).await {
        Ok(o) => o,
        Err(e) => return fail(exit::FAILURE, e),
    };
    let me = PrincipalKey::new(PrincipalKind::App, &s.caller.to_string());
    let admin_of: HashSet<String> =
        observed.workspaces.values().filter(|w| w.members.get(&me) == Some(&Role::Admin)).map(|w| w.id.clone()).collect();
    let caps = Capabilities { caller: Some(me), admin_of, admin_budget_per_hour: s.profile.admin_budget_per_hour, seconds_per_call: 0.5 };
    let plan = make_plan(&resolved, &observed, &caps);
    let text = match serde_json::to_string_pretty(&plan) {
        Ok(t) => t,
        Err(e) => return fail(exit::FAILURE, format!("cannot serialise the plan: {e}")),
    };
    if let Err(e) = std::fs::write(out, text) {
        return fail(exit::FAILURE, format!("cannot write {}: {e}", out.display()));
    }
    let mut rows = Rows::new(&["step", "workspace", "principal", "change", "endpoint"]);
    for step in &plan.steps {
        rows.push(vec![
            step.id.to_string(),
            step.workspace_name.clone(),
            step.display.clone(),
            describe(&step.action),
            format!("{:?}", step.endpoint),
        ]);
    }
    let code = render(&rows, format);
    eprintln!(
        "{} change(s), {} admin call(s), about {} s. Plan written to {}; run `pbi-access apply {}`.",
        plan.steps.len(),
        plan.admin_calls,
        plan.estimated_seconds,
        out.display(),
        out.display()
    );
    code
}

fn describe(action: &Action) -> String {
    match action {
        Action::Add { role } => format!("add as {role:?}"),
        Action::Update { from, to } => format!("{from:?} -> {to:?}"),
        Action::Remove { from } => format!("remove ({from:?})"),
    }
}

pub(crate) struct ClientTarget<'a> {
    pub client: &'a PowerBiClient,
    pub names: BTreeMap<String, String>,
    /// Test-only pacing before each step's call (`apply_step_delay_ms`).
    pub step_delay: std::time::Duration,
    /// Advanced after each step this run sends (hidden off a terminal).
    pub progress: indicatif::ProgressBar,
    /// The service's `RequestId` of each step's last answer, by step id.
    pub receipts: std::sync::Mutex<BTreeMap<u32, String>>,
}

impl Target for ClientTarget<'_> {
    async fn observe(&self, ids: &[String]) -> Result<ObservedState, TargetError> {
        let pairs: Vec<(String, String)> = ids.iter().map(|id| (id.clone(), self.names.get(id).cloned().unwrap_or_default())).collect();
        observe(self.client, &pairs).await.map_err(target_error)
    }

    async fn execute(&self, step: &Step) -> Result<(), TargetError> {
        if !self.step_delay.is_zero() {
            tokio::time::sleep(self.step_delay).await;
        }
        let group: Uuid = step.workspace_id.parse().map_err(|_| TargetError::Failed("bad workspace id".into()))?;
        let principal_type = match step.principal.kind {
            PrincipalKind::User => PrincipalType::User,
            PrincipalKind::Group => PrincipalType::Group,
            PrincipalKind::App => PrincipalType::App,
        };
        self.progress.set_message(format!("{} {}", step.workspace_name, step.display));
        let body = |role: Role| GroupUser::principal(step.principal.identifier.clone(), principal_type, right_of(role));
        let (group, who) = (group.to_string(), step.principal.identifier.as_str());
        let none = None::<&GroupUser>;
        let result = match (step.endpoint, step.action) {
            (Endpoint::Workspace, Action::Add { role }) => {
                self.client.call_receipt(op::ADD_GROUP_USER, &[&group], &Query::new(), Some(&body(role))).await
            }
            (Endpoint::Workspace, Action::Update { to, .. }) => {
                self.client.call_receipt(op::UPDATE_GROUP_USER, &[&group], &Query::new(), Some(&body(to))).await
            }
            (Endpoint::Workspace, Action::Remove { .. }) => {
                self.client.call_receipt(op::DELETE_USER_IN_GROUP, &[&group, who], &Query::new(), none).await
            }
            (Endpoint::Admin, Action::Add { role } | Action::Update { to: role, .. }) => {
                self.client.call_receipt(op::ADD_USER_AS_ADMIN, &[&group], &Query::new(), Some(&body(role))).await
            }
            (Endpoint::Admin, Action::Remove { .. }) => {
                let query = if step.principal.kind == PrincipalKind::Group { Query::new().push("isGroup", "true") } else { Query::new() };
                self.client.call_receipt(op::DELETE_USER_AS_ADMIN, &[&group, who], &query, none).await
            }
        };
        self.progress.inc(1);
        let request_id = match &result {
            Ok(receipt) => receipt.request_id.clone(),
            Err(e) => e.request_id().map(str::to_string),
        };
        if let Some(id) = request_id {
            self.receipts.lock().expect("receipts lock").insert(step.id, id);
        }
        result.map(drop).map_err(target_error)
    }
}

pub async fn apply_plan(s: &Session, plan_path: &Path, journal_path: Option<PathBuf>, yes: bool) -> ExitCode {
    let plan: Plan = match std::fs::read_to_string(plan_path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(p) => p,
        Err(e) => return fail(exit::USAGE, format!("{} is not a plan: {e}", plan_path.display())),
    };
    let journal_path = journal_path.unwrap_or_else(|| plan_path.with_extension("journal"));
    if !yes {
        eprint!("Apply {} change(s) ({} admin call(s))? [y/N] ", plan.steps.len(), plan.admin_calls);
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        if std::io::stdin().read_line(&mut answer).is_err() || !matches!(answer.trim(), "y" | "Y" | "yes") {
            return fail(exit::DECLINED, "not applied");
        }
    }
    let mut journal = match Journal::open(&journal_path, &plan.fingerprint, plan.steps.len() as u32) {
        Ok(j) => j,
        Err(e) => return fail(exit::USAGE, e),
    };
    let names = plan.observed.workspaces.values().map(|w| (w.id.clone(), w.name.clone())).collect();
    let step_delay = std::time::Duration::from_millis(s.profile.apply_step_delay_ms);
    // The bar counts the steps this run still has to send; a resumed apply skips the done ones.
    let pending = plan.steps.iter().filter(|step| !journal.is_done(step.id)).count() as u64;
    let progress = super::progress::bar(pending, super::progress::visible(Format::Table));
    let target = ClientTarget { client: &s.client, names, step_delay, progress: progress.clone(), receipts: Default::default() };
    let result = apply(&plan, &mut journal, &target).await;
    progress.finish_and_clear();
    match result {
        Ok(report) if report.stopped.is_some() => {
            eprintln!(
                "pbi-access: {} — stopped after {} step(s); the journal {} is saved. Resume with: pbi-access apply {} --yes",
                report.stopped.unwrap_or(TargetError::Failed(String::new())),
                report.executed.len(),
                journal_path.display(),
                plan_path.display()
            );
            ExitCode::from(exit::BUDGET)
        }
        Ok(report) => {
            println!(
                "applied {} step(s) ({} already done); the service shows the planned state",
                report.executed.len(),
                report.already_done.len()
            );
            ExitCode::SUCCESS
        }
        Err(e @ ApplyError::Drift { .. }) => fail(exit::DRIFT, e),
        Err(e) => {
            fail(exit::FAILURE, format!("{e}; the journal {} records what landed, so applying again resumes", journal_path.display()))
        }
    }
}
