//! `pbi-offboard-bench`: offboard many users under the tenant's admin budget, two ways, on a
//! compressed clock, and compare what each spends.
//!
//! The tenant: `--users` departing users who each hold a role in all `--workspaces` workspaces
//! and a direct permission on one dataset. The automation signs in as a Fabric administrator
//! who is Admin of every workspace but `--foreign` of them (there another user is the Admin).
//!
//! - **pbi-access offboard**: `pbi_lifecycle`'s discovery, plan, journaled executor and
//!   verification (what `pbi-access offboard` runs), with the admin-budget ledger pacing calls.
//! - **naive loop**: `artifactAccess`, then `DELETE /admin/groups/{id}/users/{upn}` for every
//!   workspace and `DELETE /datasets/{id}/users/{upn}`, retrying each 429 after `Retry-After`.
//!
//! Each runs against its own in-process server (fresh SQLite file, admin budget `--budget` per
//! hour, enforced by the server) whose clock is the client's `ManualClock`: every wait, on the
//! ledger or on a 429, moves the clock instead of sleeping, so hours pass in seconds. Calls take
//! no simulated time: the simulated wall time is the waiting the budget imposes. Afterwards each
//! run is checked: no departing user may keep a workspace role or the dataset permission.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{ensure, Context};
use chrono::{DateTime, Utc};
use clap::Parser;
use futures::TryStreamExt;
use pbi_client::{AdminBudget, AdminGroupsQuery, Clock as _, Endpoints, Ledger, ManualClock, PowerBiClient, RetryPolicy, StatsSnapshot};
use pbi_lifecycle::journal::Journal;
use pbi_lifecycle::offboard::{plan_offboarding, remaining_after, run_offboarding};
use pbi_lifecycle::service::{discover, ClientOffboardTarget};
use pbi_lifecycle::state::{PrincipalKey, PrincipalKind};
use pbi_server::config::{Config, Throttling};
use pbi_server::domain::{ArtifactKind, PrincipalKind as ServerPrincipalKind, Role};
use pbi_server::store::Store;
use pbi_server::tenant::{
    self, ArtifactSpec, MemberSpec, RightSpec, SecretSpec, ServicePrincipalSpec, TenantSpec, UserSpec, WorkspaceSpec,
};
use pbi_server::Application;
use tokio::sync::oneshot;

const DOMAIN: &str = "offboard.onmicrosoft.com";
const PASSWORD: &str = "bench-password-1";

#[derive(Parser, Debug)]
#[command(
    name = "pbi-offboard-bench",
    about = "Offboarding under the admin budget: pbi-access offboard against a naive admin-endpoint loop"
)]
struct Args {
    /// Departing users.
    #[arg(long, default_value_t = 50)]
    users: usize,
    /// Workspaces each of them holds a role in.
    #[arg(long, default_value_t = 40)]
    workspaces: usize,
    /// Of those, workspaces where the automation holds no role (admin endpoint only).
    #[arg(long, default_value_t = 4)]
    foreign: usize,
    /// The tenant's admin calls per hour (the server enforces it; the ledger paces to it).
    #[arg(long, default_value_t = 200)]
    budget: u32,
}

/// The server reads the same manual clock as the client.
#[derive(Debug)]
struct SimClock(Arc<ManualClock>);

impl pbi_server::Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from(self.0.now())
    }
}

fn admin() -> String {
    format!("automation.admin@{DOMAIN}")
}

fn leaver(i: usize) -> String {
    format!("leaver{i:03}@{DOMAIN}")
}

fn spec(args: &Args) -> TenantSpec {
    let user = |upn: String, admin: bool| UserSpec {
        upn: upn.clone(),
        mail: Some(upn.clone()),
        display_name: upn,
        password: Some(PASSWORD.into()),
        fabric_admin: admin,
        ..UserSpec::default()
    };
    let member = |principal: String, role: Role| MemberSpec { principal, principal_type: ServerPrincipalKind::User, role };
    let mut users = vec![user(admin(), true), user(format!("owner@{DOMAIN}"), false)];
    users.extend((0..args.users).map(|i| user(leaver(i), false)));
    let roles = [Role::Viewer, Role::Member, Role::Contributor];
    let mut workspaces: Vec<WorkspaceSpec> = (0..args.workspaces)
        .map(|w| {
            let owner = if w < args.foreign { format!("owner@{DOMAIN}") } else { admin() };
            let mut members = vec![member(owner, Role::Admin)];
            members.extend((0..args.users).map(|i| member(leaver(i), roles[(i + w) % roles.len()])));
            WorkspaceSpec { name: format!("Bench {w:03}"), members, ..WorkspaceSpec::default() }
        })
        .collect();
    workspaces.push(WorkspaceSpec {
        name: "Bench datasets".into(),
        members: vec![member(admin(), Role::Admin)],
        artifacts: vec![ArtifactSpec {
            kind: ArtifactKind::Dataset,
            name: "Shared model".into(),
            permissions: (0..args.users)
                .map(|i| RightSpec { principal: leaver(i), principal_type: ServerPrincipalKind::User, access_right: "ReadReshare".into() })
                .collect(),
            ..ArtifactSpec::default()
        }],
        ..WorkspaceSpec::default()
    });
    TenantSpec {
        name: "Offboarding bench".into(),
        domain: DOMAIN.into(),
        users,
        service_principals: vec![ServicePrincipalSpec {
            id: None,
            app_id: None,
            display_name: "bench automation".into(),
            secrets: vec![SecretSpec { value: "bench-secret".into(), ..SecretSpec::default() }],
            certificates: vec![],
            ..Default::default()
        }],
        workspaces,
        ..TenantSpec::default()
    }
}

struct Server {
    base: String,
    tenant: String,
    client_id: String,
    dataset: String,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn start(args: &Args, clock: &Arc<ManualClock>) -> anyhow::Result<Server> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("offboard.db").display());
    let store = Store::connect(&url).await?;
    let server_clock = SimClock(clock.clone());
    let provisioned = tenant::provision(&store, &server_clock, &spec(args)).await.context("provisioning the bench tenant")?;
    let client_id = provisioned.service_principals["bench automation"].1.to_string();
    let dataset = provisioned
        .artifacts
        .iter()
        .find(|((_, kind, name), _)| kind == "Dataset" && name == "Shared model")
        .map(|(_, id)| id.to_string())
        .context("the dataset")?;
    let throttling = Throttling { admin_per_hour: args.budget, ..Throttling::default() };
    let config = Config { listen: "127.0.0.1:0".into(), database: url, demo: false, throttling, ..Config::default() };
    let app = Application::build_with_store(config, Arc::new(server_clock), store).await?;
    let base = app.public_url().to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    Ok(Server { base, tenant: provisioned.tenant.id.to_string(), client_id, dataset, stop, task, _dir: dir })
}

/// A client for the Fabric administrator on the manual clock; patient with 429s (the naive loop
/// relies on that), with the admin ledger when `budget` is given.
fn client(s: &Server, clock: &Arc<ManualClock>, budget: Option<u32>) -> anyhow::Result<(PowerBiClient, pbi_client::GraphClient)> {
    let retry = RetryPolicy { max_attempts: 1000, max_retry_after: Duration::from_secs(4 * 3600), ..RetryPolicy::default() };
    let mut builder = PowerBiClient::builder(Endpoints::local(&s.base))
        .password(&s.tenant, &s.client_id, admin(), PASSWORD)
        .clock(clock.clone())
        .retry(retry);
    if let Some(limit) = budget {
        let budget = AdminBudget { limit, window: Duration::from_secs(3600), max_wait: Duration::from_secs(4 * 3600) };
        builder = builder.admin_ledger(Ledger::in_memory(budget, clock.clone())).ledger_tenant(&s.tenant);
    }
    let client = builder.clone().build()?;
    // pbi-access's Graph takes the tenant's Power BI tokens.
    let source = client.token_source().context("a token source")?;
    let graph = builder.token_source(source).build_graph()?;
    Ok((client, graph))
}

/// The offboarding `pbi-access offboard` does, for every user in turn.
async fn with_offboard(args: &Args, s: &Server, clock: &Arc<ManualClock>) -> anyhow::Result<StatsSnapshot> {
    let (client, graph) = client(s, clock, Some(args.budget))?;
    let caller = PrincipalKey::new(PrincipalKind::User, &admin());
    let journals = tempfile::tempdir()?;
    for i in 0..args.users {
        let (found, _) = discover(&client, Some(&graph), &leaver(i), &caller).await?;
        let plan = plan_offboarding(&found, None);
        let mut journal = Journal::open(&journals.path().join(format!("{i}.journal")), &plan.fingerprint, plan.steps.len() as u32)?;
        let report = run_offboarding(&plan, &mut journal, &ClientOffboardTarget { client: &client }, |_| {}).await?;
        ensure!(report.stopped.is_none() && report.refused.is_empty(), "user {i}: {report:?}");
        let (after, _) = discover(&client, Some(&graph), &leaver(i), &caller).await?;
        let (_, leftovers) = remaining_after(&after, None);
        ensure!(leftovers.is_empty(), "user {i}: not verified: {leftovers:?}");
    }
    Ok(client.stats())
}

/// The loop the guides describe: enumerate, then the admin endpoint for everything, retrying 429s.
async fn naive(args: &Args, s: &Server, clock: &Arc<ManualClock>) -> anyhow::Result<StatsSnapshot> {
    let (client, _) = client(s, clock, None)?;
    for i in 0..args.users {
        let upn = leaver(i);
        let entries: Vec<_> = client.user_artifact_access(&upn, &[]).try_collect().await?;
        for e in entries {
            match (e.artifact_type.as_str(), e.share_type.as_deref()) {
                ("Workspace" | "Group", _) => client.delete_user_as_admin(e.artifact_id.parse()?, &upn, false).await?,
                ("Dataset", Some("Direct")) => client.delete_dataset_user(&e.artifact_id, &upn).await?,
                _ => {}
            }
        }
    }
    Ok(client.stats())
}

/// Direct roles and dataset permissions the departing users still hold (read an hour later,
/// on a fresh budget, by a client whose calls are not counted).
async fn leftovers(s: &Server, clock: &Arc<ManualClock>) -> anyhow::Result<usize> {
    clock.advance(Duration::from_secs(3600));
    let (client, _) = client(s, clock, None)?;
    let groups = client.get_groups_as_admin(5000, None, &AdminGroupsQuery { filter: None, expand: Some("users".into()) }).await?;
    let is_leaver = |id: &Option<String>| id.as_deref().is_some_and(|i| i.to_lowercase().starts_with("leaver"));
    let roles: usize = groups.value.iter().map(|g| g.users.iter().flatten().filter(|u| is_leaver(&u.identifier)).count()).sum();
    let permissions = client.get_dataset_users_as_admin(s.dataset.parse()?).await?;
    let shares = permissions.iter().filter(|u| u.identifier.to_lowercase().starts_with("leaver")).count();
    Ok(roles + shares)
}

struct Outcome {
    name: &'static str,
    stats: StatsSnapshot,
    simulated: Duration,
    left: usize,
}

async fn measure(
    name: &'static str,
    args: &Args,
    run: impl AsyncFnOnce(&Args, &Server, &Arc<ManualClock>) -> anyhow::Result<StatsSnapshot>,
) -> anyhow::Result<Outcome> {
    let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000));
    let server = start(args, &clock).await?;
    let started = clock.now();
    let stats = run(args, &server, &clock).await?;
    let simulated = clock.now().duration_since(started).unwrap_or_default();
    let left = leftovers(&server, &clock).await?;
    let _ = server.stop.send(());
    server.task.await??;
    Ok(Outcome { name, stats, simulated, left })
}

fn hours(d: Duration) -> String {
    format!("{:.2} h", d.as_secs_f64() / 3600.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(args.foreign <= args.workspaces && args.users > 0, "--foreign must not exceed --workspaces, and --users must be positive");
    println!(
        "pbi-offboard-bench: {} users, each in {} workspaces ({} without the automation) and on one dataset; admin budget {}/h",
        args.users, args.workspaces, args.foreign, args.budget
    );
    let real = std::time::Instant::now();
    let ours = measure("pbi-access offboard", &args, with_offboard).await?;
    let loop_ = measure("naive admin loop", &args, naive).await?;
    println!();
    println!("{:<22} {:>12} {:>12} {:>10} {:>15} {:>14}", "approach", "admin calls", "all calls", "429s", "simulated time", "access left");
    for o in [&ours, &loop_] {
        println!(
            "{:<22} {:>12} {:>12} {:>10} {:>15} {:>14}",
            o.name,
            o.stats.admin_requests,
            o.stats.requests,
            o.stats.throttled,
            hours(o.simulated),
            o.left
        );
    }
    let calls = ours.stats.admin_requests as f64 / loop_.stats.admin_requests.max(1) as f64;
    let time = ours.simulated.as_secs_f64() / loop_.simulated.as_secs_f64().max(1.0);
    println!();
    println!(
        "offboard / naive: admin calls {:.0}%, simulated time {:.0}% (target: at most 50% each: {}); 429s received by offboard: {} (target 0: {})",
        calls * 100.0,
        time * 100.0,
        if calls <= 0.5 && time <= 0.5 { "met" } else { "MISSED" },
        ours.stats.throttled,
        if ours.stats.throttled == 0 { "met" } else { "MISSED" }
    );
    println!("real time of the whole benchmark: {:.1} s", real.elapsed().as_secs_f64());
    ensure!(ours.left == 0 && loop_.left == 0, "access left behind: offboard {}, naive {}", ours.left, loop_.left);
    Ok(())
}
