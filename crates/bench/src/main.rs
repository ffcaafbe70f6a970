//! `pbi-bench`: load figures for pbi-access over real HTTP on loopback.
//!
//! It seeds one tenant through the provisioning path, starts the server in-process on an
//! ephemeral port, and runs three bounded phases with the same closed-loop load generator
//! (`--concurrency` tasks sharing one keep-alive `reqwest::Client`):
//!
//! - A, read: `GET /v1.0/myorg/groups/{measured}/users` as a service principal (workspace Admin);
//! - B, baseline: the same request against a bare axum router answering the same bytes, so the
//!   ratio A/B says what the API (auth, store, JSON) costs over HTTP itself;
//! - C, write: add then remove reserved users (`POST` then `DELETE`), each 200 being one
//!   acknowledged write.
//!
//! This is a benchmark, not a test: it prints figures and compares them with the targets
//! (A/B >= 0.5, writes >= 2000/s) but does not fail when they are missed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use clap::Parser;
use pbi_client::{encode_segment, Endpoints, TokenClient};
use pbi_server::auth::credentials::new_client_secret;
use pbi_server::config::Config;
use pbi_server::domain::{PrincipalKind, Role};
use pbi_server::store::Store;
use pbi_server::tenant::{provision, MemberSpec, SecretSpec, ServicePrincipalSpec, TenantSpec, UserSpec, WorkspaceSpec};
use pbi_server::{Application, SharedClock, SystemClock};
use pbi_wire::ops::powerbi as op;
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::StatusCode;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Users held back from every workspace so the write phase can add and remove them.
const RESERVED_USERS: usize = 1000;
/// Members given to each of the other workspaces, so the role table is realistically large.
const MEMBERS_PER_WORKSPACE: usize = 3;
/// Display name of the service principal that makes every call.
const SP_NAME: &str = "bench";
const MEASURED: &str = "Measured";
const READ_TARGET_RATIO: f64 = 0.5;
const WRITE_TARGET_PER_SEC: f64 = 2000.0;

#[derive(Parser, Debug, Clone)]
#[command(name = "pbi-bench", about = "Load figures for pbi-access over real HTTP on loopback (reads, bare-axum baseline, writes)")]
struct Args {
    /// Users in the tenant's directory (the reserved writers and the measured members included).
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    /// Workspaces besides "Measured", with a few members each.
    #[arg(long, default_value_t = 1_000)]
    workspaces: usize,
    /// Principals in the measured workspace: the service principal plus members-1 users.
    #[arg(long, default_value_t = 100)]
    members: usize,
    /// Measured duration of each phase, in seconds.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Unmeasured warm-up before each phase (connections, caches), in seconds.
    #[arg(long, default_value_t = 1)]
    warmup_secs: u64,
    /// Concurrent client tasks (closed loop: each waits for its answer before the next request).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// sqlite://PATH or postgres://…; default: a fresh SQLite file in a temporary directory.
    #[arg(long)]
    database: Option<String>,
    /// PostgreSQL: run without the cache listener, so every read checks versions in the database
    /// (what an instance does while its listener is down; the behaviour before the listener).
    #[arg(long)]
    no_listener: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(args.members >= 1, "--members must be at least 1");
    ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    ensure!(args.duration_secs >= 1, "--duration-secs must be at least 1");
    let measured_users = args.members - 1;
    ensure!(
        args.users > measured_users,
        "--users ({}) must exceed --members - 1 ({measured_users}) to leave users for the write phase",
        args.users
    );
    let reserved = RESERVED_USERS.min(args.users - measured_users);
    ensure!(
        reserved >= args.concurrency,
        "only {reserved} users are left for the write phase; it needs at least --concurrency ({}): raise --users",
        args.concurrency
    );
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    if cfg!(debug_assertions) {
        println!("WARNING: debug build; figures are not representative (use --release)");
    }

    // The database: a fresh SQLite file unless told otherwise.
    let tempdir = tempfile::tempdir().context("creating a temporary directory")?;
    let url = match &args.database {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", tempdir.path().join("bench.db").display()),
    };
    println!("pbi-bench: {cores} cores, database {}", redact_password(&url));

    // Seed.
    let clock: SharedClock = Arc::new(SystemClock);
    let started = Instant::now();
    let store = Store::connect(&url).await.with_context(|| format!("connecting to {}", redact_password(&url)))?;
    let connected = started.elapsed();
    let seed = Seed::new(&args, reserved);
    let seeding = Instant::now();
    let provisioned = provision(&store, &*clock, &seed.spec).await.context("provisioning the bench tenant")?;
    let seed_time = seeding.elapsed();
    let member_rows = args.workspaces * MEMBERS_PER_WORKSPACE.min(args.users) + args.members;
    println!(
        "seeded in {:.2} s (+{:.2} s connect/migrate): {} users, {} workspaces, {member_rows} role rows, \
         measured workspace with {} principals, {reserved} users reserved for writes",
        seed_time.as_secs_f64(),
        connected.as_secs_f64(),
        args.users,
        args.workspaces + 1,
        args.members,
    );
    let tenant_id = provisioned.tenant.id;
    let (_, app_id) = provisioned.service_principals[SP_NAME];
    let measured = provisioned.workspaces[MEASURED];

    // Serve.
    let mut config = Config { listen: "127.0.0.1:0".into(), database: url.clone(), demo: false, ..Config::default() };
    // The write phase has up to `concurrency` extra principals in the measured workspace.
    let needed = (args.members + args.concurrency) as u32;
    if needed > config.limits.max_principals_per_workspace {
        println!(
            "note: raising limits.max_principals_per_workspace from {} to {needed} for this run",
            config.limits.max_principals_per_workspace
        );
        config.limits.max_principals_per_workspace = needed;
    }
    if args.no_listener {
        store.stop_listener();
    }
    let app = Application::build_with_store(config, clock.clone(), store.clone()).await.context("starting the server")?;
    if url.starts_with("postgres") && !args.no_listener {
        // The listener connects in the background: measure once it serves from memory.
        let waited = Instant::now();
        while !store.listener_live() && waited.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        println!("cache listener live: {}", store.listener_live());
    }
    let base = app.public_url().to_string();
    let (stop_app, app_stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = app_stopped.await;
    }));
    println!("pbi-access listening at {base}");

    // Token.
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency * 2).build()?;
    let token = TokenClient::new(http.clone(), &Endpoints::local(&base))
        .client_credentials(&tenant_id.to_string(), &app_id.to_string(), &seed.secret)
        .await
        .context("getting a token with client credentials")?
        .access_token;
    let auth = HeaderValue::from_str(&format!("Bearer {token}"))?;

    // Capture the reference response once.
    let users_path = op::GET_GROUP_USERS.url("", &[&measured.to_string()]);
    let read_url = format!("{base}{users_path}");
    let reference = http.get(&read_url).header(AUTHORIZATION, auth.clone()).send().await?;
    ensure!(reference.status() == StatusCode::OK, "GET {read_url} answered {}", reference.status());
    let reference_type = reference.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let body = reference.bytes().await?;
    let listed = member_count(&body)?;
    ensure!(listed == args.members, "the measured workspace lists {listed} principals, expected {}", args.members);
    println!("reference response: {} bytes, {listed} principals, content-type {reference_type}", body.len());

    let warmup = Duration::from_secs(args.warmup_secs);
    let duration = Duration::from_secs(args.duration_secs);

    // Phase A: reads against pbi-access.
    println!("\nphase A: GET {users_path} against pbi-access, {} tasks, {}+{} s", args.concurrency, args.warmup_secs, args.duration_secs);
    let read = run_phase(args.concurrency, warmup, duration, {
        let (http, url, auth) = (http.clone(), read_url.clone(), auth.clone());
        move |_task, deadline| read_worker(http.clone(), url.clone(), auth.clone(), deadline)
    })
    .await?;
    let read = read.into_iter().next().expect("one operation");
    read.print("A read");

    // Phase B: the same load against a bare axum router answering the same bytes.
    let (bare_addr, stop_bare, bare_server) = start_bare(body.clone()).await?;
    let bare_url = format!("http://{bare_addr}{users_path}");
    println!("\nphase B: same load against a bare axum router at http://{bare_addr} ({} bytes, application/json)", body.len());
    let bare = run_phase(args.concurrency, warmup, duration, {
        let (http, url, auth) = (http.clone(), bare_url, auth.clone());
        move |_task, deadline| read_worker(http.clone(), url.clone(), auth.clone(), deadline)
    })
    .await?;
    let bare = bare.into_iter().next().expect("one operation");
    bare.print("B bare");
    let ratio = read.rate() / bare.rate();
    println!("ratio pbi-access / bare = {ratio:.3} (target >= {READ_TARGET_RATIO}: {})", verdict(ratio >= READ_TARGET_RATIO));
    let _ = stop_bare.send(());
    let _ = bare_server.await;

    // Phase C: writes. Each task owns a disjoint slice of the reserved users.
    let add_url = read_url.clone();
    let slices: Vec<Arc<Vec<WriteTarget>>> = seed
        .reserved
        .chunks(reserved.div_ceil(args.concurrency))
        .map(|chunk| {
            Arc::new(
                chunk
                    .iter()
                    .map(|upn| WriteTarget {
                        body: serde_json::json!({
                            "identifier": upn,
                            "principalType": "User",
                            "groupUserAccessRight": "Viewer",
                        })
                        .to_string(),
                        delete_url: op::DELETE_USER_IN_GROUP.url(&base, &[&measured.to_string(), &encode_segment(upn)]),
                    })
                    .collect(),
            )
        })
        .collect();
    let writers = slices.len();
    println!(
        "\nphase C: POST {users_path} then DELETE …/users/{{upn}}, {writers} tasks over {reserved} reserved users, {}+{} s",
        args.warmup_secs, args.duration_secs
    );
    let writes = run_phase(writers, warmup, duration, {
        let (http, auth) = (http.clone(), auth.clone());
        move |task, deadline| write_worker(http.clone(), add_url.clone(), auth.clone(), slices[task].clone(), deadline)
    })
    .await?;
    let all_writes = Stats::merged(&writes);
    writes[0].print("C add (POST)");
    writes[1].print("C remove (DELETE)");
    all_writes.print("C writes");
    println!(
        "acknowledged writes/s = {:.0} (target >= {WRITE_TARGET_PER_SEC}: {})",
        all_writes.rate(),
        verdict(all_writes.rate() >= WRITE_TARGET_PER_SEC)
    );

    // Every add was followed by its remove: the workspace is as seeded.
    let after = http.get(&read_url).header(AUTHORIZATION, auth.clone()).send().await?.bytes().await?;
    let after = member_count(&after)?;
    println!(
        "measured workspace after writes: {after} principals (seeded {}){}",
        args.members,
        if after == args.members { "" } else { "  <- MISMATCH" }
    );

    drop(http);
    let _ = stop_app.send(());
    match tokio::time::timeout(Duration::from_secs(5), server).await {
        Ok(joined) => joined??,
        Err(_) => println!("note: the server did not stop within 5 s"),
    }
    store.close().await;

    // Summary.
    println!("\n== summary ==");
    println!(
        "machine: {cores} cores (available_parallelism); build: {}; database: {}",
        if cfg!(debug_assertions) { "debug" } else { "release" },
        if url.starts_with("sqlite:") { "SQLite (WAL)" } else { "PostgreSQL" }
    );
    println!(
        "tenant: {} users, {} workspaces, measured workspace {} principals; seeding {:.2} s",
        args.users,
        args.workspaces + 1,
        args.members,
        seed_time.as_secs_f64()
    );
    println!(
        "load: {} concurrent tasks, closed loop, {} s measured per phase after {} s warm-up",
        args.concurrency, args.duration_secs, args.warmup_secs
    );
    println!("{:<22} {:>9} {:>7} {:>10} {:>9} {:>9}  target", "phase", "ok", "errors", "per sec", "p50 ms", "p99 ms");
    read.row("A read GetGroupUsers", &format!("A/B {ratio:.2} >= {READ_TARGET_RATIO}: {}", verdict(ratio >= READ_TARGET_RATIO)));
    bare.row("B bare axum", "");
    all_writes
        .row("C writes (add+remove)", &format!(">= {WRITE_TARGET_PER_SEC}/s: {}", verdict(all_writes.rate() >= WRITE_TARGET_PER_SEC)));
    writes[0].row("  C add (POST)", "");
    writes[1].row("  C remove (DELETE)", "");
    println!("reproduce: {}", reproduce(&args));
    if args.database.is_some() {
        println!("note: the bench tenant ({tenant_id}, {}) stays in that database", seed.domain);
    }
    drop(tempdir);
    Ok(())
}

/// The tenant to provision, and what the phases need to know about it.
struct Seed {
    spec: TenantSpec,
    secret: String,
    domain: String,
    /// UPNs of the users in no workspace, for the write phase.
    reserved: Vec<String>,
}

impl Seed {
    fn new(args: &Args, reserved: usize) -> Seed {
        // A unique domain, so a shared PostgreSQL database can hold several bench tenants.
        let domain = format!("bench-{}.onmicrosoft.com", &Uuid::new_v4().simple().to_string()[..8]);
        let upn = |i: usize| format!("user{i:06}@{domain}");
        let secret = new_client_secret();
        // No passwords: Argon2 would dominate seeding.
        let users: Vec<UserSpec> = (0..args.users)
            .map(|i| UserSpec {
                id: None,
                upn: upn(i),
                mail: Some(upn(i)),
                display_name: format!("Bench User {i}"),
                guest: false,
                account_enabled: true,
                password: None,
                password_hash: None,
                fabric_admin: false,
            })
            .collect();
        let member = |principal: String, principal_type: PrincipalKind, role: Role| MemberSpec { principal, principal_type, role };
        let measured_users = args.members - 1;
        let mut workspaces = Vec::with_capacity(args.workspaces + 1);
        let mut measured = vec![member(SP_NAME.into(), PrincipalKind::App, Role::Admin)];
        measured.extend((0..measured_users).map(|i| {
            let role = [Role::Member, Role::Contributor, Role::Viewer][i % 3];
            member(upn(i), PrincipalKind::User, role)
        }));
        workspaces.push(WorkspaceSpec { name: MEASURED.into(), members: measured, ..Default::default() });
        // Other workspaces draw their members from the users that are neither measured nor
        // reserved (or, in a tiny directory, from any user).
        let pool_end = args.users - reserved;
        let pool: Vec<usize> = if pool_end > measured_users { (measured_users..pool_end).collect() } else { (0..args.users).collect() };
        let per = MEMBERS_PER_WORKSPACE.min(pool.len());
        for w in 0..args.workspaces {
            let members = (0..per)
                .map(|k| {
                    let user = pool[(w * per + k) % pool.len()];
                    member(upn(user), PrincipalKind::User, [Role::Admin, Role::Member, Role::Viewer][k % 3])
                })
                .collect();
            workspaces.push(WorkspaceSpec { name: format!("Workspace {w:05}"), members, ..Default::default() });
        }
        let spec = TenantSpec {
            settings: Default::default(),
            id: None,
            name: "pbi-bench".into(),
            domain: domain.clone(),
            users,
            groups: Vec::new(),
            service_principals: vec![ServicePrincipalSpec {
                id: None,
                app_id: None,
                display_name: SP_NAME.into(),
                secrets: vec![SecretSpec { value: secret.clone(), expires_at: None, hash: None }],
                certificates: vec![],
                ..Default::default()
            }],
            workspaces,
            capacities: Vec::new(),
            scim_secret: None,
            scim_secret_hash: None,
            ..Default::default()
        };
        let reserved = (args.users - reserved..args.users).map(upn).collect();
        Seed { spec, secret, domain, reserved }
    }
}

/// Count of `value` entries in an OData list body.
fn member_count(body: &[u8]) -> anyhow::Result<usize> {
    let json: serde_json::Value = serde_json::from_slice(body).context("the list is not JSON")?;
    json["value"].as_array().map(Vec::len).context("the list has no `value` array")
}

/// What one operation of a phase achieved.
#[derive(Debug, Default, Clone)]
struct Stats {
    /// Latencies of the 200 answers, in microseconds (sorted after merging).
    latencies: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
}

impl Stats {
    fn record(&mut self, outcome: Result<u32, String>) {
        match outcome {
            Ok(micros) => self.latencies.push(micros),
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }

    fn absorb(&mut self, other: Stats) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn merged(all: &[Stats]) -> Stats {
        let mut out = Stats::default();
        for s in all {
            out.absorb(s.clone());
            out.elapsed = out.elapsed.max(s.elapsed);
        }
        out.latencies.sort_unstable();
        out
    }

    fn ok(&self) -> usize {
        self.latencies.len()
    }

    fn rate(&self) -> f64 {
        self.ok() as f64 / self.elapsed.as_secs_f64()
    }

    /// Nearest-rank percentile of sorted latencies, in milliseconds.
    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1] as f64 / 1000.0
    }

    fn print(&self, name: &str) {
        println!(
            "  {name}: {} ok in {:.2} s = {:.0}/s, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms, errors {}",
            self.ok(),
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.percentile_ms(50.0),
            self.percentile_ms(99.0),
            self.percentile_ms(100.0),
            self.errors
        );
        if let Some(e) = &self.first_error {
            println!("    first error: {e}");
        }
    }

    fn row(&self, name: &str, target: &str) {
        let line = format!(
            "{name:<22} {:>9} {:>7} {:>10.0} {:>9.3} {:>9.3}  {target}",
            self.ok(),
            self.errors,
            self.rate(),
            self.percentile_ms(50.0),
            self.percentile_ms(99.0)
        );
        println!("{}", line.trim_end());
    }
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

/// Run `tasks` workers for `warmup` (discarded), then again for `duration`, and merge what each
/// operation (index in the workers' output) achieved. The rate's denominator is the wall time
/// from start until the last worker finished its last request.
async fn run_phase<W, F>(tasks: usize, warmup: Duration, duration: Duration, worker: W) -> anyhow::Result<Vec<Stats>>
where
    W: Fn(usize, Instant) -> F,
    F: std::future::Future<Output = Vec<Stats>> + Send + 'static,
{
    if !warmup.is_zero() {
        let deadline = Instant::now() + warmup;
        let handles: Vec<_> = (0..tasks).map(|t| tokio::spawn(worker(t, deadline))).collect();
        for h in handles {
            h.await?;
        }
    }
    let start = Instant::now();
    let deadline = start + duration;
    let handles: Vec<_> = (0..tasks).map(|t| tokio::spawn(worker(t, deadline))).collect();
    let mut per_op: Vec<Vec<Stats>> = Vec::new();
    for h in handles {
        for (i, s) in h.await?.into_iter().enumerate() {
            if per_op.len() <= i {
                per_op.push(Vec::new());
            }
            per_op[i].push(s);
        }
    }
    let elapsed = start.elapsed();
    Ok(per_op.iter().map(|stats| Stats { elapsed, ..Stats::merged(stats) }).collect())
}

/// Send, read the whole body, and time it; anything but 200 is an error.
async fn timed(request: reqwest::RequestBuilder) -> Result<u32, String> {
    let started = Instant::now();
    let response = request.send().await.map_err(|e| format!("HTTP: {e}"))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| format!("reading the body: {e}"))?;
    let micros = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
    if status == StatusCode::OK {
        Ok(micros)
    } else {
        let text = String::from_utf8_lossy(&body);
        Err(format!("{status}: {}", text.chars().take(300).collect::<String>()))
    }
}

async fn read_worker(http: reqwest::Client, url: String, auth: HeaderValue, deadline: Instant) -> Vec<Stats> {
    let mut stats = Stats::default();
    while Instant::now() < deadline {
        stats.record(timed(http.get(&url).header(AUTHORIZATION, auth.clone())).await);
    }
    vec![stats]
}

struct WriteTarget {
    body: String,
    delete_url: String,
}

/// Add then remove each user of the task's slice in turn, cycling until the deadline.
async fn write_worker(
    http: reqwest::Client,
    add_url: String,
    auth: HeaderValue,
    targets: Arc<Vec<WriteTarget>>,
    deadline: Instant,
) -> Vec<Stats> {
    let (mut adds, mut removes) = (Stats::default(), Stats::default());
    for target in targets.iter().cycle() {
        if Instant::now() >= deadline {
            break;
        }
        adds.record(
            timed(
                http.post(&add_url).header(AUTHORIZATION, auth.clone()).header(CONTENT_TYPE, "application/json").body(target.body.clone()),
            )
            .await,
        );
        // Remove even after a failed add, so a half-done add cannot wedge the cycle.
        removes.record(timed(http.delete(&target.delete_url).header(AUTHORIZATION, auth.clone())).await);
    }
    vec![adds, removes]
}

/// A bare axum router with one GET route answering `body` as JSON, on an ephemeral port.
async fn start_bare(body: Bytes) -> anyhow::Result<(SocketAddr, oneshot::Sender<()>, JoinHandle<std::io::Result<()>>)> {
    let router = axum::Router::new().route(
        op::GET_GROUP_USERS.path,
        axum::routing::get(move || {
            let body = body.clone();
            async move { ([(CONTENT_TYPE, "application/json")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    Ok((addr, stop, handle))
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

fn reproduce(args: &Args) -> String {
    let mut cmd = format!(
        "cargo build --release -p pbi-bench && target/release/pbi-bench --users {} --workspaces {} --members {} \
         --duration-secs {} --warmup-secs {} --concurrency {}",
        args.users, args.workspaces, args.members, args.duration_secs, args.warmup_secs, args.concurrency
    );
    if let Some(url) = &args.database {
        cmd.push_str(&format!(" --database '{}'", redact_password(url)));
    }
    if args.no_listener {
        cmd.push_str(" --no-listener");
    }
    cmd
}
