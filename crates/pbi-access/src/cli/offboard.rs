//! `pbi-access offboard UPN`: find everything a user reaches, show the plan, remove every
//! workspace role and dataset permission through the cheapest endpoint, hand the last Admin
//! role to `--successor`, verify, and report what remains and why. Each step is journaled, so an
//! interrupted or budget-stopped run resumes (`offboard UPN` again, or `--resume JOURNAL`)
//! without repeating a step.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use pbi_client::{ClientError, Endpoints, GraphClient, Ledger, PowerBiClient, SystemClock};
use pbi_lifecycle::apply::TargetError;
use pbi_lifecycle::journal::Journal;
use pbi_lifecycle::offboard::{plan_offboarding, remaining_after, run_offboarding, OffboardPlan, RemainReason, Remains, RunReport};
use pbi_lifecycle::service::{discover_reporting, ClientOffboardTarget};
use pbi_lifecycle::state::{PrincipalKey, PrincipalKind};
use serde_json::json;

use super::exit;
use super::output::{Format, Rows};
use super::profile::Profile;
use super::progress;

/// What `offboard` was asked to do.
pub struct Options {
    pub upn: String,
    pub successor: Option<String>,
    pub dry_run: bool,
    pub yes: bool,
    pub journal: Option<PathBuf>,
    pub resume: Option<PathBuf>,
    pub format: Format,
}

struct Offboarder {
    client: PowerBiClient,
    graph: GraphClient,
    caller: PrincipalKey,
}

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("pbi-access: {message}");
    ExitCode::from(code)
}

/// As a user (`username`/`password`: needed for the admin endpoints that change access) or as
/// the application (client credentials), with the shared ledger; Graph through the same credential.
async fn connect(profile: Profile) -> Result<Offboarder, String> {
    let (Some(username), Some(password)) = (profile.username.clone(), profile.password.clone()) else {
        let session = super::commands::connect(profile.clone()).await?;
        // The app's secret, or its certificate and key.
        let graph =
            PowerBiClient::builder(endpoints(&profile)).credential(profile.app_credential()?).build_graph().map_err(|e| e.to_string())?;
        return Ok(Offboarder {
            client: session.client,
            graph,
            caller: PrincipalKey::new(PrincipalKind::App, &session.caller.to_string()),
        });
    };
    let tenant = profile.tenant.clone().ok_or("no tenant: set it in the profile or PBI_ACCESS_TENANT")?;
    let client_id = profile.client_id.clone().ok_or("no client_id: set it in the profile or PBI_ACCESS_CLIENT_ID")?;
    let budget = profile.pacing();
    let ledger_path = profile.ledger.clone().unwrap_or_else(super::commands::default_ledger);
    if let Some(dir) = ledger_path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let ledger = Ledger::file(&ledger_path, budget, Arc::new(SystemClock)).map_err(|e| format!("ledger {}: {e}", ledger_path.display()))?;
    ledger.observe_waits(progress::wait_reporter());
    let builder = PowerBiClient::builder(endpoints(&profile))
        .password(&tenant, &client_id, &username, &password)
        .admin_ledger(ledger)
        .ledger_tenant(&tenant);
    let client = builder.clone().build().map_err(|e| e.to_string())?;
    // Graph wants a token of its own: the same user signs in for Graph's scope. Its calls are
    // counted apart, so the report can say how many Graph calls discovery made.
    let graph = builder.stats(Arc::default()).build_graph().map_err(|e| e.to_string())?;
    Ok(Offboarder { client, graph, caller: PrincipalKey::new(PrincipalKind::User, &username) })
}

fn endpoints(profile: &Profile) -> Endpoints {
    Endpoints { powerbi: profile.powerbi_url.clone(), authority: profile.authority_url.clone(), graph: profile.graph_url.clone() }
}

/// `offboard-<upn>.journal` in the working directory.
fn default_journal(upn: &str) -> PathBuf {
    let safe: String =
        upn.trim().to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() || "@.-_".contains(c) { c } else { '_' }).collect();
    PathBuf::from(format!("offboard-{safe}.journal"))
}

fn plan_path(journal: &Path) -> PathBuf {
    journal.with_extension("plan.json")
}

/// A saved plan with steps its journal has not seen done.
fn unfinished(journal: &Path) -> Option<OffboardPlan> {
    let plan: OffboardPlan = serde_json::from_str(&std::fs::read_to_string(plan_path(journal)).ok()?).ok()?;
    let j = Journal::open(journal, &plan.fingerprint, plan.steps.len() as u32).ok()?;
    plan.steps.iter().any(|s| !j.is_done(s.id)).then_some(plan)
}

fn plan_rows(plan: &OffboardPlan) -> Rows {
    let mut rows = Rows::new(&["step", "target", "change", "endpoint", "adminCalls"]);
    for s in &plan.steps {
        rows.push(vec![s.id.to_string(), s.target_name.clone(), s.describe(), format!("{:?}", s.endpoint), s.admin_cost.to_string()]);
    }
    for r in &plan.remains {
        rows.push(vec!["-".into(), r.target_name.clone(), format!("remains ({} {})", r.kind, r.access), "-".into(), r.reason.to_string()]);
    }
    rows
}

fn remains_json(remains: &[Remains]) -> serde_json::Value {
    remains
        .iter()
        .map(|r| json!({"id": r.target_id, "name": r.target_name, "kind": r.kind, "access": r.access, "reason": r.reason.to_string()}))
        .collect()
}

fn print(rows: &Rows, format: Format) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = rows.render(format, &mut out) {
        eprintln!("pbi-access: {e}");
    }
}

fn confirm(plan: &OffboardPlan) -> bool {
    eprint!("Offboard {}: {} step(s), {} admin call(s)? [y/N] ", plan.upn, plan.steps.len(), plan.admin_calls);
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).is_ok() && matches!(answer.trim(), "y" | "Y" | "yes")
}

fn discovery_error(e: ClientError, what: &str) -> ExitCode {
    match e {
        ClientError::BudgetExhausted { retry_after, .. } | ClientError::Throttled { retry_after, .. } => fail(
            exit::BUDGET,
            format!(
                "{what} needs admin budget, and the next admin call is {} s away; nothing was changed. Run the same command again then",
                retry_after.as_secs()
            ),
        ),
        ClientError::Api { status, .. } if status.as_u16() == 404 => fail(exit::USAGE, format!("{what}: no such user ({e})")),
        e => fail(exit::FAILURE, format!("{what}: {e}")),
    }
}

/// Load the profile, then [`run`].
pub async fn main(profile: &str, profiles: Option<PathBuf>, o: Options) -> ExitCode {
    match super::profile::load(profile, profiles) {
        Ok(p) => run(p, o).await,
        Err(e) => fail(exit::USAGE, format!("profile error: {e}")),
    }
}

pub async fn run(profile: Profile, o: Options) -> ExitCode {
    let s = match connect(profile).await {
        Ok(s) => s,
        Err(e) => return fail(exit::USAGE, e),
    };
    if s.caller.kind == PrincipalKind::User && s.caller.identifier == o.upn.trim().to_lowercase() {
        return fail(exit::USAGE, "the signed-in user cannot offboard itself: it would lose the rights the run needs");
    }
    let show = progress::visible(o.format);
    let journal_path = o.resume.clone().or(o.journal.clone()).unwrap_or_else(|| default_journal(&o.upn));
    let (plan, resuming) = match plan_or_resume(&s, &o, &journal_path, show).await {
        Ok(found) => found,
        Err(code) => return code,
    };
    if o.format != Format::Json || o.dry_run {
        show_plan(&s, &plan, o.format);
    }
    if o.dry_run {
        return ExitCode::SUCCESS;
    }
    let mut report = RunReport::default();
    if !plan.steps.is_empty() {
        if !o.yes && !confirm(&plan) {
            return fail(exit::DECLINED, "nothing was changed");
        }
        report = match execute(&s, &plan, &journal_path, resuming, show).await {
            Ok(report) => report,
            Err(code) => return code,
        };
    }
    verify_and_report(&s, &plan, &report, o.format, show).await
}

/// The plan: the unfinished one saved beside the journal (resuming, `true`), or a new one from a
/// fresh discovery.
async fn plan_or_resume(s: &Offboarder, o: &Options, journal_path: &Path, show: bool) -> Result<(OffboardPlan, bool), ExitCode> {
    let wanted = o.upn.trim().to_lowercase();
    match unfinished(journal_path) {
        Some(plan) if o.resume.is_some() || plan.upn == wanted => {
            eprintln!("pbi-access: resuming the offboarding of {} saved in {}", plan.upn, journal_path.display());
            let asked = o.successor.as_deref().map(|s| s.trim().to_lowercase());
            if asked.is_some() && asked != plan.successor {
                eprintln!(
                    "pbi-access: the saved plan's successor ({}) stays; run the command again when it is done to hand over to another",
                    plan.successor.as_deref().unwrap_or("none")
                );
            }
            Ok((plan, true))
        }
        Some(plan) => Err(fail(
            exit::USAGE,
            format!("{} holds an unfinished offboarding of {}: give another --journal", journal_path.display(), plan.upn),
        )),
        None if o.resume.is_some() => Err(fail(exit::USAGE, format!("nothing to resume in {}", journal_path.display()))),
        None => {
            let spinner = progress::spinner(format!("finding everything {wanted} can reach"), show);
            let found = discover_reporting(&s.client, Some(&s.graph), &o.upn, &s.caller, &|m| spinner.set_message(m)).await;
            spinner.finish_and_clear();
            match found {
                Ok((found, _)) => Ok((plan_offboarding(&found, o.successor.as_deref()), false)),
                Err(e) => Err(discovery_error(e, "discovery")),
            }
        }
    }
}

/// The plan's steps (JSON only for a dry run), and what discovery spent.
fn show_plan(s: &Offboarder, plan: &OffboardPlan, format: Format) {
    if format == Format::Json {
        let doc = json!({"upn": plan.upn, "steps": plan.steps, "remains": remains_json(&plan.remains), "adminCalls": plan.admin_calls});
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        print(&plan_rows(plan), format);
    }
    eprintln!(
        "{} step(s) spending {} admin call(s); {} access path(s) will remain. Discovery spent {} admin call(s) and {} Graph call(s).",
        plan.steps.len(),
        plan.admin_calls,
        plan.remains.len(),
        s.client.stats().admin_requests,
        s.graph.stats().requests
    );
}

/// Run the plan's steps under the journal (saving the plan beside it first, unless resuming);
/// a failure or a budget stop ends the command with the resume instructions.
async fn execute(s: &Offboarder, plan: &OffboardPlan, journal_path: &Path, resuming: bool, show: bool) -> Result<RunReport, ExitCode> {
    if !resuming {
        // A finished journal of an earlier offboarding gives way to this plan's.
        let _ = std::fs::remove_file(journal_path);
        let text = serde_json::to_string_pretty(plan).unwrap_or_default();
        if let Err(e) = std::fs::write(plan_path(journal_path), text) {
            return Err(fail(exit::FAILURE, format!("cannot save the plan beside {}: {e}", journal_path.display())));
        }
    }
    let mut journal = Journal::open(journal_path, &plan.fingerprint, plan.steps.len() as u32).map_err(|e| fail(exit::USAGE, e))?;
    let bar = progress::bar(plan.steps.len() as u64, show);
    let target = ClientOffboardTarget { client: &s.client };
    let result = run_offboarding(plan, &mut journal, &target, |step| {
        bar.set_message(format!("{}: {}", step.target_name, step.describe()));
        bar.inc(1);
    })
    .await;
    bar.finish_and_clear();
    let report = result.map_err(|e| {
        fail(
            exit::FAILURE,
            format!(
                "{e}; the journal {} records what landed: run `pbi-access offboard {}` again to resume",
                journal_path.display(),
                plan.upn
            ),
        )
    })?;
    if let Some(stop) = &report.stopped {
        let wait = match stop {
            TargetError::BudgetExhausted { retry_after_secs } => *retry_after_secs,
            _ => 0,
        };
        return Err(fail(
            exit::BUDGET,
            format!(
                "stopped after {} step(s): the next admin call is {} min away. The journal {} is saved; resume then with: pbi-access offboard {} --resume {} --yes",
                report.executed.len() + report.already_done.len(),
                wait.div_ceil(60),
                journal_path.display(),
                plan.upn,
                journal_path.display()
            ),
        ));
    }
    Ok(report)
}

/// Discover again, report what was done, refused, remains and was not removed, and exit with
/// what the verification found.
async fn verify_and_report(s: &Offboarder, plan: &OffboardPlan, report: &RunReport, format: Format, show: bool) -> ExitCode {
    let spinner = progress::spinner("verifying", show);
    let after =
        discover_reporting(&s.client, Some(&s.graph), &plan.upn, &s.caller, &|m| spinner.set_message(format!("verifying: {m}"))).await;
    spinner.finish_and_clear();
    let (remains, leftovers) = match after {
        Ok((found, _)) => remaining_after(&found, plan.successor.as_deref()),
        Err(e) => return discovery_error(e, "verification (every step ran)"),
    };
    let stats = s.client.stats();
    let refused: Vec<_> = report.refused.iter().map(|(id, why)| json!({"step": id, "reason": why})).collect();
    let removed: Vec<_> = plan.steps.iter().filter(|st| report.executed.contains(&st.id) || report.already_done.contains(&st.id)).collect();
    if format == Format::Json {
        let doc = json!({
            "upn": plan.upn,
            "removed": removed.iter().map(|st| json!({"id": st.target_id, "name": st.target_name, "change": st.describe(), "endpoint": st.endpoint})).collect::<Vec<_>>(),
            "refused": refused,
            "remains": remains_json(&remains),
            "notRemoved": leftovers.iter().map(|st| json!({"id": st.target_id, "name": st.target_name, "change": st.describe()})).collect::<Vec<_>>(),
            "adminCalls": stats.admin_requests,
            "throttled": stats.throttled,
            "serverErrors": stats.server_errors,
            "verified": leftovers.is_empty(),
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        let mut rows = Rows::new(&["outcome", "target", "what", "why"]);
        for st in &removed {
            rows.push(vec!["done".into(), st.target_name.clone(), st.describe(), format!("{:?} endpoint", st.endpoint)]);
        }
        for (id, why) in &report.refused {
            let name = plan.steps.iter().find(|st| st.id == *id).map(|st| st.target_name.clone()).unwrap_or_default();
            rows.push(vec!["refused".into(), name, format!("step {id}"), why.clone()]);
        }
        for r in &remains {
            rows.push(vec!["remains".into(), r.target_name.clone(), format!("{} {}", r.kind, r.access), r.reason.to_string()]);
        }
        for st in &leftovers {
            rows.push(vec!["NOT REMOVED".into(), st.target_name.clone(), st.describe(), "the service still shows it".into()]);
        }
        print(&rows, format);
    }
    eprintln!(
        "offboarded {}: {} step(s) done, {} path(s) remain; {} admin call(s) spent, {} answer(s) 429 received",
        plan.upn,
        removed.len(),
        remains.len() + leftovers.len(),
        stats.admin_requests,
        stats.throttled
    );
    if !leftovers.is_empty() {
        fail(exit::NOT_VERIFIED, "the service still shows access that was to be removed (see NOT REMOVED)")
    } else if remains.iter().any(|r| r.reason == RemainReason::LastAdmin) {
        fail(exit::LAST_ADMIN, "the user stays the only Admin of some workspace(s): run again with --successor UPN")
    } else {
        ExitCode::SUCCESS
    }
}
