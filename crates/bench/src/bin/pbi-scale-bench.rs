//! `pbi-scale-bench`: does pbi-access hold up at organisation scale? In one run it seeds (or
//! reuses) a demo-sized tenant and a 100,000-user tenant, each in its own database derived from
//! `--database`, serves each with its own `pbi-access serve` child process on loopback, and:
//!
//! - times every Graph, SCIM and Power BI read the lifecycle commands make, on both tenants,
//!   interleaved (small, large, small, …) after one unmeasured warm-up each, and prints p50/p99
//!   per tenant and the ratio large/small of the p99s (target: at most 2, every call being a
//!   single object, a single page or an indexed filter). A non-2xx answer is printed as
//!   `error <status>` and counted as missed (some Graph endpoints are still being built);
//! - runs the real `pbi-access` binary as a child process against the large tenant, with a fresh
//!   budget ledger each time, for `audit --all`, `offboard --dry-run` and `access` of the heavy
//!   user, and `onboard` of a new user into 3 workspaces with a licence (propagation delay 0),
//!   and reports each command's wall time, exit code, peak resident memory (its `VmHWM`, polled
//!   every 20 ms) and the admin-budget calls the server recorded (its `admin/1h` throttle rows);
//! - samples the large tenant's server process's resident memory throughout (the server alone:
//!   the measuring client and the commands are other processes).
//!
//! Times are taken on the client: from sending the request to having read the whole body (not
//! parsing it). The call phase runs with throttling off (it makes more admin calls than an
//! hour's budget); the commands run against a second server on the large tenant's database with
//! the default budgets on, so their admin calls are counted as Power BI would count them.
//!
//! A benchmark, not a test: it prints figures against the targets and does not fail when they
//! are missed.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use clap::Parser;
use pbi_client::{AdminBudget, Endpoints, Ledger, TokenClient};
use pbi_server::seed::{self, SeedCredentials, SeedParams};
use pbi_server::store::Store;
use pbi_server::{SharedClock, SystemClock};
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

const RATIO_TARGET: f64 = 2.0;
const SERVER_MEMORY_TARGET_MB: f64 = 500.0;
const AUDIT_WALL_TARGET_S: f64 = 120.0;
const AUDIT_ADMIN_CALLS_TARGET: i64 = 5;
const AUDIT_MEMORY_TARGET_MB: f64 = 300.0;
const HEAVY_USER_TARGET_S: f64 = 30.0;
const ONBOARD_TARGET_S: f64 = 10.0;
/// The SCIM provisioning secret the bench sets on both tenants.
const SCIM_SECRET: &str = "pbi-scale-bench-scim-secret";
const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
/// The server's key for the tenant's shared admin budget (`api/powerbi/throttle.rs`).
const ADMIN_BUDGET_KEY: &str = "admin/1h";

#[derive(Parser, Debug)]
#[command(
    name = "pbi-scale-bench",
    about = "Call times on a demo-sized and a 100,000-user tenant (ratio large/small), and the lifecycle commands at scale"
)]
struct Args {
    /// sqlite://PATH (or a plain path) or postgres://…: the two tenants go in databases derived
    /// from it (SQLite: files beside PATH; PostgreSQL: one schema each), named after their sizes
    /// and seed. Default: fresh SQLite files in a temporary directory.
    #[arg(long)]
    database: Option<String>,
    /// Users of the large tenant.
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    /// Workspaces of the large tenant.
    #[arg(long, default_value_t = 10_000)]
    workspaces: usize,
    /// Users of the demo-sized tenant (1,000: enough to fill a `$top=999` page).
    #[arg(long, default_value_t = 1_000)]
    small_users: usize,
    /// Workspaces of the demo-sized tenant (100: enough to fill a `$top=100` page).
    #[arg(long, default_value_t = 100)]
    small_workspaces: usize,
    /// The generator's seed, for both tenants.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Measured requests per call and tenant (after one unmeasured warm-up).
    #[arg(long, default_value_t = 50)]
    iterations: usize,
    /// Use tenants already seeded in the derived databases as they are (saves the seeding);
    /// without it a database that already holds its tenant is refused.
    #[arg(long)]
    reuse: bool,
    /// Only the call table: do not run the lifecycle commands.
    #[arg(long)]
    skip_commands: bool,
    /// The `pbi-access` binary (default: beside this executable, as cargo builds both into the
    /// same target directory).
    #[arg(long, value_name = "PATH")]
    pbi_access: Option<PathBuf>,
    /// A command still running after this many seconds is killed and reported as missed.
    #[arg(long, default_value_t = 900)]
    command_timeout_secs: u64,
}

// ----- memory -----

/// A field of /proc/<pid>/status in MB (Linux); NaN when unreadable.
fn status_mb(pid: &str, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

// ----- databases and servers -----

/// The database of one tenant, derived from `--database` and named after its sizes and seed.
async fn derive_database(base: Option<&str>, tmp: &Path, params: &SeedParams) -> anyhow::Result<String> {
    let name = format!("scale_u{}_w{}_s{}", params.users, params.workspaces, params.seed);
    match base {
        None => Ok(format!("sqlite://{}", tmp.join(format!("{name}.db")).display())),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let schema = format!("pbi_{name}");
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(url).await.with_context(|| format!("connecting to {}", redact_password(url)))?;
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).execute(&pool).await?;
            pool.close().await;
            let sep = if url.contains('?') { '&' } else { '?' };
            Ok(format!("{url}{sep}options=-c%20search_path%3D{schema}"))
        }
        Some(url) => {
            let plain = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
            let (path, query) = plain.split_once('?').map_or((plain, None), |(p, q)| (p, Some(q)));
            let path = Path::new(path);
            let stem = path.file_stem().and_then(|s| s.to_str()).filter(|s| !s.is_empty()).unwrap_or("pbi-scale-bench");
            let file = path.with_file_name(format!("{stem}-{name}.db"));
            Ok(format!("sqlite://{}{}", file.display(), query.map(|q| format!("?{q}")).unwrap_or_default()))
        }
    }
}

/// A seeded tenant in its own database.
struct Tenant {
    label: &'static str,
    params: SeedParams,
    url: String,
    store: Store,
    known: SeedCredentials,
    seeded_in: Option<Duration>,
}

async fn prepare(label: &'static str, url: String, params: SeedParams, reuse: bool, clock: &SharedClock) -> anyhow::Result<Tenant> {
    let store = Store::connect(&url).await.with_context(|| format!("connecting to {}", redact_password(&url)))?;
    let known = seed::credentials(&params);
    let seeded_in = if store.find_tenant(&known.domain).await?.is_some() {
        ensure!(
            reuse,
            "{} already holds the {label} tenant {}: pass --reuse to use it as it is (or remove it)",
            redact_password(&url),
            known.domain
        );
        println!("{label}: reusing the seeded tenant {} in {}", known.domain, redact_password(&url));
        None
    } else {
        println!(
            "{label}: seeding {} users and {} workspaces (seed {}) into {} …",
            params.users,
            params.workspaces,
            params.seed,
            redact_password(&url)
        );
        let seeded = seed::generate(&store, &**clock, &params).await?;
        let c = &seeded.counts;
        println!(
            "{label}: seeded in {:.1} s: {} users, {} groups ({} memberships), {} workspaces with {} roles, {} artifacts with {} permissions",
            seeded.elapsed.as_secs_f64(),
            c.users,
            c.groups,
            c.group_members,
            c.workspaces,
            c.workspace_roles,
            c.artifacts,
            c.artifact_permissions
        );
        Some(seeded.elapsed)
    };
    store.update_scim_secret(known.tenant_id, Some(SCIM_SECRET)).await.map_err(|e| anyhow::anyhow!("setting the SCIM secret: {e}"))?;
    Ok(Tenant { label, params, url, store, known, seeded_in })
}

/// A `pbi-access serve` child process on one tenant's database, so that its resident memory is
/// the server's alone; sampled every 50 ms while it runs.
struct Server {
    base: String,
    child: std::process::Child,
    peak_kb: Arc<AtomicU64>,
    sampler: tokio::task::JoinHandle<()>,
}

/// A free loopback port (bound, read, released: the child binds it right after).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Start `pbi-access serve` on `tenant`'s database: throttling as Power BI's when `throttled`,
/// licences counted at once; its log goes to `log_dir`. Returns once `/healthz` answers.
async fn serve(bin: &Path, tenant: &Tenant, throttled: bool, log_dir: &Path) -> anyhow::Result<Server> {
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let log = log_dir.join(format!("serve-{}-{}.log", tenant.label, if throttled { "throttled" } else { "open" }));
    let mut command = std::process::Command::new(bin);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PBI_ACCESS_") {
            command.env_remove(name);
        }
    }
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database", &tenant.url, "--no-demo"])
        .env("PBI_ACCESS_THROTTLING__ENABLED", throttled.to_string())
        .env("PBI_ACCESS_LICENSES__PROPAGATION_DELAY_SECS", "0")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log)?)
        .stderr(std::fs::File::create(log.with_extension("err"))?);
    let mut child = command.spawn().with_context(|| format!("starting {} serve", bin.display()))?;
    let pid = child.id().to_string();
    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            let err = std::fs::read_to_string(log.with_extension("err")).unwrap_or_default();
            bail!("pbi-access serve on the {} tenant exited with {status}: {}", tenant.label, err.trim());
        }
        if http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        ensure!(started.elapsed() < Duration::from_secs(120), "pbi-access serve on the {} tenant did not answer in 120 s", tenant.label);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let peak_kb = Arc::new(AtomicU64::new(0));
    let peak = peak_kb.clone();
    let sampler = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            tick.tick().await;
            let mb = status_mb(&pid, "VmHWM:").max(status_mb(&pid, "VmRSS:"));
            if mb.is_finite() {
                peak.fetch_max((mb * 1024.0) as u64, Ordering::Relaxed);
            }
        }
    });
    Ok(Server { base, child, peak_kb, sampler })
}

impl Server {
    /// Stop the child (SIGTERM, then SIGKILL after 10 s) and return its peak resident memory in MB.
    async fn shut(mut self) -> f64 {
        let pid = self.child.id().to_string();
        let hwm = status_mb(&pid, "VmHWM:");
        if hwm.is_finite() {
            self.peak_kb.fetch_max((hwm * 1024.0) as u64, Ordering::Relaxed);
        }
        self.sampler.abort();
        // SAFETY: our own child, not reaped yet, so the pid still names it.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.peak_kb.load(Ordering::Relaxed) as f64 / 1024.0
    }
}

// ----- the calls -----

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Graph,
    Scim,
    PowerBi,
}

struct Call {
    name: &'static str,
    dialect: Dialect,
    /// Relative to the server's base URL.
    path: String,
    /// `ConsistencyLevel: eventual` (Graph's advanced queries).
    eventual: bool,
}

/// Ids of one tenant the calls need, found through the API (unmeasured).
struct Fixture {
    base: String,
    tenant_id: Uuid,
    heavy_upn: String,
    heavy_id: String,
    heavy_name: String,
    /// A security group with members (`Sales team 0`) and a Microsoft 365 group with owners.
    group: String,
    m365_group: String,
    /// A workspace the automation app holds a role in.
    workspace: String,
    scim_user: String,
    scim_group: String,
}

/// Tokens of the tenant's `automation` app, for Graph and for Power BI.
struct Tokens {
    graph: String,
    powerbi: String,
}

async fn tokens(http: &reqwest::Client, base: &str, known: &SeedCredentials) -> anyhow::Result<Tokens> {
    let client = TokenClient::new(http.clone(), &Endpoints::local(base));
    let (tenant, app) = (known.tenant_id.to_string(), known.client_id.to_string());
    let graph = client.client_credentials_for(&tenant, &app, &known.client_secret, GRAPH_SCOPE).await.context("a Graph token")?;
    let powerbi = client.client_credentials(&tenant, &app, &known.client_secret).await.context("a Power BI token")?;
    Ok(Tokens { graph: graph.access_token, powerbi: powerbi.access_token })
}

async fn get_json(http: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<Value> {
    let response = http.get(url).bearer_auth(token).send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    ensure!(status.is_success(), "GET {url} answered {status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)]));
    Ok(serde_json::from_slice(&body)?)
}

fn first_id(list: &Value, key: &str) -> Option<String> {
    list[key].as_array()?.first()?["id"].as_str().map(str::to_string)
}

async fn fixture(http: &reqwest::Client, base: &str, known: &SeedCredentials) -> anyhow::Result<Fixture> {
    let t = tokens(http, base, known).await?;
    let graph = format!("{base}/graph/v1.0");
    let heavy = get_json(http, &format!("{graph}/users/{}", known.heavy_upn), &t.graph).await.context("the heavy user")?;
    let heavy_id = heavy["id"].as_str().context("the heavy user's id")?.to_string();
    let heavy_name = heavy["displayName"].as_str().unwrap_or("Hana Heavy").to_string();
    let by_name = |name: String| format!("{graph}/groups?$filter=displayName eq '{name}'");
    let group = first_id(&get_json(http, &by_name("Sales team 0".into()), &t.graph).await?, "value").context("the group Sales team 0")?;
    // The generator names Microsoft 365 groups "{department} community {i}".
    let mut m365_group = None;
    for dept in [
        "Sales",
        "Finance",
        "Marketing",
        "Operations",
        "HR",
        "Engineering",
        "Support",
        "Legal",
        "Procurement",
        "Logistics",
        "Research",
        "IT",
    ] {
        if let Some(id) = first_id(&get_json(http, &by_name(format!("{dept} community 0")), &t.graph).await?, "value") {
            m365_group = Some(id);
            break;
        }
    }
    let m365_group = m365_group.context("the Microsoft 365 group community 0")?;
    let workspace = first_id(&get_json(http, &format!("{base}/v1.0/myorg/groups?$top=1"), &t.powerbi).await?, "value")
        .context("a workspace of the automation app")?;
    let scim = format!("{base}/{}/scim/v2", known.tenant_id);
    let user_filter = format!("{scim}/Users?filter=userName eq \"{}\"", known.heavy_upn);
    let scim_user =
        first_id(&get_json(http, &user_filter, SCIM_SECRET).await.context("SCIM")?, "Resources").context("the heavy user in SCIM")?;
    let scim_group =
        first_id(&get_json(http, &format!("{scim}/Groups?count=1"), SCIM_SECRET).await?, "Resources").context("a SCIM group")?;
    Ok(Fixture {
        base: base.to_string(),
        tenant_id: known.tenant_id,
        heavy_upn: known.heavy_upn.clone(),
        heavy_id,
        heavy_name,
        group,
        m365_group,
        workspace,
        scim_user,
        scim_group,
    })
}

/// What the lifecycle commands read, in the same order for every tenant.
fn calls(f: &Fixture) -> Vec<Call> {
    let g = |name, path: String| Call { name, dialect: Dialect::Graph, path: format!("/graph/v1.0{path}"), eventual: false };
    let s = |name, path: String| Call { name, dialect: Dialect::Scim, path: format!("/{}/scim/v2{path}", f.tenant_id), eventual: false };
    let p = |name, path: String| Call { name, dialect: Dialect::PowerBi, path: format!("/v1.0/myorg{path}"), eventual: false };
    let (user, group) = (&f.heavy_id, &f.group);
    vec![
        g("Graph users $top=1", "/users?$top=1".into()),
        g("Graph users $top=999", "/users?$top=999".into()),
        g("Graph users $filter=userPrincipalName eq", format!("/users?$filter=userPrincipalName eq '{}'", f.heavy_upn)),
        g("Graph users $filter=startswith(displayName)", format!("/users?$filter=startswith(displayName,'{}')", f.heavy_name)),
        Call { eventual: true, ..g("Graph users $count=true (eventual)", "/users?$count=true".into()) },
        g("Graph users/{id}", format!("/users/{user}")),
        g("Graph users/{id}/licenseDetails", format!("/users/{user}/licenseDetails")),
        g("Graph users/{id}/memberOf", format!("/users/{user}/memberOf")),
        g("Graph users/{id}/transitiveMemberOf", format!("/users/{user}/transitiveMemberOf")),
        g("Graph subscribedSkus", "/subscribedSkus".into()),
        g("Graph groups $top=999", "/groups?$top=999".into()),
        g("Graph groups/{id}", format!("/groups/{group}")),
        g("Graph groups/{id}/members", format!("/groups/{group}/members")),
        g("Graph groups/{id}/transitiveMembers", format!("/groups/{group}/transitiveMembers")),
        g("Graph groups/{id}/owners (M365 group)", format!("/groups/{}/owners", f.m365_group)),
        g("Graph directory/deletedItems/…user", "/directory/deletedItems/microsoft.graph.user".into()),
        s("SCIM Users?count=1", "/Users?count=1".into()),
        s("SCIM Users?filter=userName eq", format!("/Users?filter=userName eq \"{}\"", f.heavy_upn)),
        s("SCIM Users/{id}", format!("/Users/{}", f.scim_user)),
        s("SCIM Groups?count=1", "/Groups?count=1".into()),
        s("SCIM Groups/{id}", format!("/Groups/{}", f.scim_group)),
        // One page of the same size on both tenants (without `$top` the answer is every workspace
        // the user reaches, 13 on one tenant and 1,248 on the other).
        p("Power BI groups $top=100", "/groups?$top=100".into()),
        p("Power BI groups/{id}/users", format!("/groups/{}/users", f.workspace)),
        p("Power BI admin artifactAccess (first page)", format!("/admin/users/{user}/artifactAccess")),
        p("Power BI admin/groups $top=100", "/admin/groups?$top=100".into()),
    ]
}

/// Items in an answer: a list's entries, or 1 for a single object.
fn items(body: &[u8]) -> Option<usize> {
    let v: Value = serde_json::from_slice(body).ok()?;
    ["value", "Resources", "artifactAccessEntities"].iter().find_map(|k| v[k].as_array().map(Vec::len)).or(Some(1))
}

/// One call's figures on one tenant.
#[derive(Default)]
struct Sample {
    ms: Vec<f64>,
    error: Option<String>,
    items: Option<usize>,
}

impl Sample {
    fn p(&mut self, p: f64) -> f64 {
        self.ms.sort_by(|a, b| a.total_cmp(b));
        percentile(&self.ms, p)
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Send one call and read its whole body: (ms, status, body), or a transport error.
async fn send(http: &reqwest::Client, base: &str, call: &Call, t: &Tokens) -> Result<(f64, StatusCode, bytes::Bytes), String> {
    let token = match call.dialect {
        Dialect::Graph => t.graph.as_str(),
        Dialect::Scim => SCIM_SECRET,
        Dialect::PowerBi => t.powerbi.as_str(),
    };
    let mut request = http.get(format!("{base}{}", call.path)).bearer_auth(token);
    if call.eventual {
        request = request.header("ConsistencyLevel", "eventual");
    }
    let started = Instant::now();
    let response = request.send().await.map_err(|e| format!("error {e}"))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| format!("error reading the body: {e}"))?;
    Ok((started.elapsed().as_secs_f64() * 1000.0, status, body))
}

/// The warm-up request: note the items, or the error that rules the call out on this tenant.
async fn warm_up(http: &reqwest::Client, base: &str, call: &Call, t: &Tokens) -> Sample {
    match send(http, base, call, t).await {
        Ok((_, status, body)) if status.is_success() => Sample { items: items(&body), ..Sample::default() },
        Ok((_, status, body)) => {
            Sample { error: Some(format!("error {}", status.as_u16())), items: None, ms: vec![] }.noted(&call.path, &error_message(&body))
        }
        Err(e) => Sample { error: Some(e), ..Sample::default() },
    }
}

/// The message of an error body in any dialect (Graph and Power BI `error.message`, SCIM
/// `detail`, OAuth `error_description`), or its first characters.
fn error_message(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let found = [&v["error"]["message"], &v["detail"], &v["error_description"]].into_iter().find_map(|m| m.as_str().map(str::to_string));
    found.unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(160)]).replace('\n', " "))
}

impl Sample {
    fn noted(self, path: &str, detail: &str) -> Sample {
        println!("  note: GET {path}: {} {detail}", self.error.as_deref().unwrap_or_default());
        self
    }

    fn measure(&mut self, outcome: Result<(f64, StatusCode, bytes::Bytes), String>) {
        match outcome {
            Ok((ms, status, _)) if status.is_success() => self.ms.push(ms),
            Ok((_, status, _)) => {
                self.error.get_or_insert(format!("error {}", status.as_u16()));
            }
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
    }
}

struct Row {
    name: &'static str,
    small: Sample,
    large: Sample,
}

impl Row {
    /// Print the row; whether it met the target.
    fn print(&mut self) -> bool {
        let cell = |s: &mut Sample| match &s.error {
            Some(e) => format!("{e:>19}"),
            None => format!("{:>9.2} {:>9.2}", s.p(50.0), s.p(99.0)),
        };
        let items = |s: &Sample| s.items.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
        let (small, large) = (cell(&mut self.small), cell(&mut self.large));
        let ratio = self.large.p(99.0) / self.small.p(99.0);
        let errored = self.small.error.is_some() || self.large.error.is_some();
        let met = !errored && ratio <= RATIO_TARGET;
        let ratio_text = if errored { "-".to_string() } else { format!("{ratio:.2}") };
        println!(
            "{:<46} {small} {large} {ratio_text:>6} {:>11}  {}",
            self.name,
            format!("{}/{}", items(&self.small), items(&self.large)),
            verdict(met)
        );
        met
    }
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

async fn measure_calls(
    http: &reqwest::Client,
    small: (&Tenant, &Fixture),
    large: (&Tenant, &Fixture),
    iterations: usize,
) -> anyhow::Result<Vec<Row>> {
    let (small_calls, large_calls) = (calls(small.1), calls(large.1));
    let mut rows = Vec::new();
    for (cs, cl) in small_calls.iter().zip(&large_calls) {
        // Fresh tokens for every call, so a long run never outlives them.
        let ts = tokens(http, &small.1.base, &small.0.known).await?;
        let tl = tokens(http, &large.1.base, &large.0.known).await?;
        let mut row =
            Row { name: cs.name, small: warm_up(http, &small.1.base, cs, &ts).await, large: warm_up(http, &large.1.base, cl, &tl).await };
        let started = Instant::now();
        for _ in 0..iterations {
            if row.small.error.is_none() {
                row.small.measure(send(http, &small.1.base, cs, &ts).await);
            }
            if row.large.error.is_none() {
                row.large.measure(send(http, &large.1.base, cl, &tl).await);
            }
        }
        eprintln!("  measured {:<46} in {:.1} s", cs.name, started.elapsed().as_secs_f64());
        rows.push(row);
    }
    Ok(rows)
}

// ----- the commands -----

/// What a `pbi-access` run cost.
struct Command {
    name: String,
    code: i32,
    wall_s: f64,
    peak_mb: f64,
    /// Calls the server counted in the tenant's shared admin budget.
    admin_calls: i64,
    /// Admin-path calls in the command's own budget ledger (scanner calls included).
    ledger_calls: usize,
    target: String,
    met: bool,
    stderr_tail: String,
}

/// Wait for the child `pid`: (exit code, or -signal; its peak resident memory in MB; whether it
/// was killed at `timeout`). It polls every 20 ms, reading the child's `VmHWM` (the peak of its
/// own address space) while it runs: `wait4`'s `ru_maxrss` would not do, as it keeps the
/// parent's peak when the child was spawned sharing the parent's memory (vfork) before `exec`.
/// Polling also keeps the child unreaped (its pid ours) until it has exited or been killed.
fn wait_with_peak(pid: libc::pid_t, timeout: Duration) -> std::io::Result<(i32, f64, bool)> {
    let deadline = Instant::now() + timeout;
    let (mut killed, mut peak_mb) = (false, 0.0f64);
    let mut status: libc::c_int = 0;
    let proc_pid = pid.to_string();
    loop {
        let flags = if killed { 0 } else { libc::WNOHANG };
        // SAFETY: `pid` is our own child, waited for nowhere else; `status` is a live local.
        let r = unsafe { libc::waitpid(pid, &mut status, flags) };
        if r == pid {
            break;
        }
        if r == 0 {
            let hwm = status_mb(&proc_pid, "VmHWM:");
            if hwm.is_finite() {
                peak_mb = peak_mb.max(hwm);
            }
            if Instant::now() >= deadline {
                // SAFETY: the child is not reaped yet, so `pid` still names it.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                killed = true;
            } else {
                std::thread::sleep(Duration::from_millis(20));
            }
            continue;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -libc::WTERMSIG(status) };
    Ok((code, peak_mb, killed))
}

struct CliRunner {
    bin: PathBuf,
    dir: tempfile::TempDir,
    base: String,
    known: SeedCredentials,
    store: Store,
    /// A command still running after this is killed (and reported with its signal).
    timeout: Duration,
}

impl CliRunner {
    /// The profile, through `PBI_ACCESS_*` alone: the automation app, or the Fabric
    /// administrator when `as_admin` (offboarding's admin endpoints that change access are
    /// theirs). A fresh ledger file for each command.
    fn env(&self, ledger: &Path, as_admin: bool) -> Vec<(String, String)> {
        let mut env = vec![
            ("PBI_ACCESS_TENANT".to_string(), self.known.tenant_id.to_string()),
            ("PBI_ACCESS_CLIENT_ID".into(), self.known.client_id.to_string()),
            ("PBI_ACCESS_POWERBI_URL".into(), self.base.clone()),
            ("PBI_ACCESS_AUTHORITY_URL".into(), self.base.clone()),
            ("PBI_ACCESS_GRAPH_URL".into(), format!("{}/graph", self.base)),
            ("PBI_ACCESS_LEDGER".into(), ledger.display().to_string()),
            ("PBI_ACCESS_PROFILES".into(), self.dir.path().join("no-profiles.toml").display().to_string()),
        ];
        if as_admin {
            env.push(("PBI_ACCESS_USERNAME".into(), self.known.admin_upn.clone()));
            env.push(("PBI_ACCESS_PASSWORD".into(), self.known.password.clone()));
        } else {
            env.push(("PBI_ACCESS_CLIENT_SECRET".into(), self.known.client_secret.clone()));
        }
        env
    }

    async fn admin_calls(&self) -> anyhow::Result<i64> {
        let mut tx = self.store.external_write().await?;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM throttle_calls WHERE tenant_id = $1 AND budget = $2")
            .bind(self.known.tenant_id.to_string())
            .bind(ADMIN_BUDGET_KEY)
            .fetch_one(&mut *tx)
            .await?;
        tx.rollback().await?;
        Ok(n)
    }

    /// Forget the tenant's throttle records (of earlier commands or runs on a reused database),
    /// so each command starts on a full budget and its count is its own.
    async fn reset_budget(&self) -> anyhow::Result<()> {
        let mut tx = self.store.external_write().await?;
        sqlx::query("DELETE FROM throttle_calls WHERE tenant_id = $1").bind(self.known.tenant_id.to_string()).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn run(&self, key: &str, args: &[&str], as_admin: bool) -> anyhow::Result<Command> {
        self.reset_budget().await?;
        let ledger = self.dir.path().join(format!("{key}.ledger.json"));
        let (out, err) = (self.dir.path().join(format!("{key}.out")), self.dir.path().join(format!("{key}.err")));
        let mut command = std::process::Command::new(&self.bin);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PBI_ACCESS_") {
                command.env_remove(name);
            }
        }
        command
            .args(args)
            .envs(self.env(&ledger, as_admin))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out)?)
            .stderr(std::fs::File::create(&err)?);
        println!("  running pbi-access {} …", args.join(" "));
        let started = Instant::now();
        let child = command.spawn().with_context(|| format!("starting {}", self.bin.display()))?;
        let pid = child.id() as libc::pid_t;
        // Waiting blocks: off the runtime, which keeps serving the child's requests.
        let timeout = self.timeout;
        let (code, peak_mb, killed) = tokio::task::spawn_blocking(move || wait_with_peak(pid, timeout)).await??;
        let wall_s = started.elapsed().as_secs_f64();
        drop(child);
        let budget = AdminBudget::default();
        let ledger_calls = match Ledger::file(&ledger, budget, Arc::new(pbi_client::SystemClock)) {
            Ok(l) => l.snapshot(&self.known.tenant_id.to_string()).await.map(|t| t.admin_calls()).unwrap_or(0),
            Err(_) => 0,
        };
        let stderr = std::fs::read_to_string(&err).unwrap_or_default();
        let mut stderr_tail = stderr.lines().rev().take(3).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join(" | ");
        if killed {
            stderr_tail = format!("killed after {} s; {stderr_tail}", timeout.as_secs());
        }
        Ok(Command {
            name: format!("pbi-access {}", args.iter().take_while(|a| !a.starts_with("--output")).copied().collect::<Vec<_>>().join(" ")),
            code,
            wall_s,
            peak_mb,
            admin_calls: self.admin_calls().await?,
            ledger_calls,
            target: String::new(),
            met: false,
            stderr_tail,
        })
    }
}

/// The `pbi-access` binary: `--pbi-access`, or beside this executable.
fn locate_cli(given: Option<&PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        ensure!(path.is_file(), "--pbi-access {}: no such file", path.display());
        return Ok(path.clone());
    }
    let me = std::env::current_exe()?;
    let dir = me.parent().context("this executable's directory")?;
    let candidate = dir.join(format!("pbi-access{}", std::env::consts::EXE_SUFFIX));
    if candidate.is_file() {
        return Ok(candidate);
    }
    bail!(
        "no pbi-access binary beside {} (build it with `cargo build{} -p pbi-access`, or pass --pbi-access PATH)",
        me.display(),
        if cfg!(debug_assertions) { "" } else { " --release" }
    )
}

/// Create a member user with no licence and no usage location, to onboard (unmeasured).
async fn new_user(http: &reqwest::Client, base: &str, known: &SeedCredentials) -> anyhow::Result<String> {
    let t = tokens(http, base, known).await?;
    let nickname = format!("scaleonboard{}", &Uuid::new_v4().simple().to_string()[..8]);
    let upn = format!("{nickname}@{}", known.domain);
    let body = serde_json::json!({"accountEnabled": true, "displayName": "Scale Onboard", "mailNickname": nickname,
                                  "userPrincipalName": upn, "passwordProfile": {"password": "Str0ng-Passw0rd!"}});
    let response = http.post(format!("{base}/graph/v1.0/users")).bearer_auth(&t.graph).json(&body).send().await?;
    let status = response.status();
    ensure!(status.is_success(), "creating {upn}: {status}: {}", response.text().await.unwrap_or_default());
    Ok(upn)
}

/// Three workspaces the automation app administers, to onboard into.
async fn three_workspaces(http: &reqwest::Client, base: &str, known: &SeedCredentials) -> anyhow::Result<Vec<String>> {
    let t = tokens(http, base, known).await?;
    let list = get_json(http, &format!("{base}/v1.0/myorg/groups?$top=3"), &t.powerbi).await?;
    let ids: Vec<String> =
        list["value"].as_array().into_iter().flatten().filter_map(|w| w["id"].as_str().map(str::to_string)).take(3).collect();
    ensure!(ids.len() == 3, "the automation app holds roles in fewer than 3 workspaces");
    Ok(ids)
}

async fn run_commands(runner: &CliRunner, http: &reqwest::Client) -> anyhow::Result<Vec<Command>> {
    let heavy = runner.known.heavy_upn.clone();
    let mut out = Vec::new();

    let mut audit = runner.run("audit-all", &["audit", "--all", "--output", "json"], false).await?;
    audit.met = audit.code == 0
        && audit.admin_calls <= AUDIT_ADMIN_CALLS_TARGET
        && audit.wall_s < AUDIT_WALL_TARGET_S
        && audit.peak_mb < AUDIT_MEMORY_TARGET_MB;
    audit.target = format!("exit 0, <= {AUDIT_ADMIN_CALLS_TARGET} admin, < {AUDIT_WALL_TARGET_S:.0} s, < {AUDIT_MEMORY_TARGET_MB:.0} MB");
    out.push(audit);

    let mut offboard = runner.run("offboard-dry-run", &["offboard", &heavy, "--dry-run", "--output", "json"], true).await?;
    offboard.met = offboard.code == 0 && offboard.wall_s < HEAVY_USER_TARGET_S;
    offboard.target = format!("exit 0, < {HEAVY_USER_TARGET_S:.0} s");
    out.push(offboard);

    let mut access = runner.run("access", &["access", &heavy, "--output", "json"], false).await?;
    access.met = access.code == 0 && access.wall_s < HEAVY_USER_TARGET_S;
    access.target = format!("exit 0, < {HEAVY_USER_TARGET_S:.0} s");
    out.push(access);

    let upn = new_user(http, &runner.base, &runner.known).await?;
    let ws = three_workspaces(http, &runner.base, &runner.known).await?;
    let mut args = vec!["onboard", upn.as_str()];
    for w in &ws {
        args.extend(["--workspace", w.as_str()]);
    }
    args.extend(["--role", "Viewer", "--license", "pro", "--usage-location", "NL", "--license-wait", "60", "--output", "json"]);
    let mut onboard = runner.run("onboard", &args, false).await?;
    onboard.name = "pbi-access onboard NEW --workspace ×3 --role Viewer --license pro".into();
    onboard.met = onboard.code == 0 && onboard.wall_s < ONBOARD_TARGET_S;
    onboard.target = format!("exit 0, < {ONBOARD_TARGET_S:.0} s");
    out.push(onboard);
    Ok(out)
}

// ----- main -----

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(args.iterations >= 1, "--iterations must be at least 1");
    if cfg!(debug_assertions) {
        println!("WARNING: debug build; figures are not representative (use --release)");
    }
    let cli = locate_cli(args.pbi_access.as_ref())?;
    let clock: SharedClock = Arc::new(SystemClock);
    let tmp = tempfile::tempdir()?;
    let small_params = SeedParams { users: args.small_users, workspaces: args.small_workspaces, seed: args.seed, domain: None };
    let large_params = SeedParams { users: args.users, workspaces: args.workspaces, seed: args.seed, domain: None };
    let small_url = derive_database(args.database.as_deref(), tmp.path(), &small_params).await?;
    let large_url = derive_database(args.database.as_deref(), tmp.path(), &large_params).await?;
    ensure!(small_url != large_url, "the small and the large tenant must differ in size");
    let small = prepare("small", small_url, small_params, args.reuse, &clock).await?;
    let large = prepare("large", large_url, large_params, args.reuse, &clock).await?;

    // From here on the servers are child processes (`pbi-access serve`), each sampled apart.
    let small_server = serve(&cli, &small, false, tmp.path()).await?;
    let large_server = serve(&cli, &large, false, tmp.path()).await?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(4).build()?;
    let small_fixture = fixture(&http, &small_server.base, &small.known).await.context("the small tenant's fixture")?;
    let large_fixture = fixture(&http, &large_server.base, &large.known).await.context("the large tenant's fixture")?;
    println!("serving the small tenant at {} and the large one at {} (pbi-access serve)", small_server.base, large_server.base);
    println!("measuring {} calls, {} iterations each per tenant, interleaved …", calls(&small_fixture).len(), args.iterations);
    let mut rows = measure_calls(&http, (&small, &small_fixture), (&large, &large_fixture), args.iterations).await?;
    let _ = small_server.shut().await;
    let mut server_peak = large_server.shut().await;

    let commands = if args.skip_commands {
        Vec::new()
    } else {
        println!("running the lifecycle commands against the large tenant (throttling on, licences at once) …");
        let server = serve(&cli, &large, true, tmp.path()).await?;
        let runner = CliRunner {
            bin: cli.clone(),
            dir: tempfile::tempdir()?,
            base: server.base.clone(),
            known: large.known.clone(),
            store: large.store.clone(),
            timeout: Duration::from_secs(args.command_timeout_secs),
        };
        let result = run_commands(&runner, &http).await;
        server_peak = server_peak.max(server.shut().await);
        result?
    };
    small.store.close().await;
    large.store.close().await;

    // ----- report -----
    println!("\n== pbi-scale-bench ==");
    println!(
        "machine: {} cores; build: {}; database: {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        if cfg!(debug_assertions) { "debug" } else { "release" },
        if large.url.starts_with("sqlite:") { "SQLite (WAL)" } else { "PostgreSQL" }
    );
    for t in [&small, &large] {
        println!(
            "{} tenant: {} users, {} workspaces, seed {}{}",
            t.label,
            t.params.users,
            t.params.workspaces,
            t.params.seed,
            t.seeded_in.map(|d| format!(", seeded in {:.1} s", d.as_secs_f64())).unwrap_or_else(|| ", reused".into())
        );
    }
    println!(
        "times are client-side over loopback, whole body read, ms; {} requests per call and tenant after one warm-up; \
         target: p99 large <= {RATIO_TARGET} × p99 small",
        args.iterations
    );
    println!(
        "{:<46} {:>9} {:>9} {:>9} {:>9} {:>6} {:>11}  target",
        "call", "small p50", "small p99", "large p50", "large p99", "ratio", "items s/l"
    );
    let (mut met, mut missed) = (0, 0);
    for row in &mut rows {
        if row.print() {
            met += 1;
        } else {
            missed += 1;
        }
    }
    if !commands.is_empty() {
        println!("\ncommands on the large tenant (child process; admin = calls the server counted in the shared admin budget, ledger = admin-path calls in the command's ledger, scanner included)");
        println!("{:<66} {:>4} {:>8} {:>8} {:>6} {:>6}  target", "command", "exit", "wall s", "peak MB", "admin", "ledger");
        for c in &commands {
            println!(
                "{:<66} {:>4} {:>8.2} {:>8.0} {:>6} {:>6}  {}: {}",
                c.name,
                c.code,
                c.wall_s,
                c.peak_mb,
                c.admin_calls,
                c.ledger_calls,
                c.target,
                verdict(c.met)
            );
            if c.code != 0 {
                println!("    stderr: {}", c.stderr_tail);
            }
            if c.met {
                met += 1;
            } else {
                missed += 1;
            }
        }
    }
    let memory_met = server_peak < SERVER_MEMORY_TARGET_MB;
    println!(
        "\nserver resident memory (the large tenant's `pbi-access serve` process alone, peak over the calls{}, VmHWM sampled every 50 ms): \
         {server_peak:.0} MB: < {SERVER_MEMORY_TARGET_MB:.0} MB: {}",
        if args.skip_commands { "" } else { " and the commands" },
        verdict(memory_met)
    );
    if memory_met {
        met += 1;
    } else {
        missed += 1;
    }
    println!("summary: {met} targets met, {missed} missed");
    println!(
        "reproduce: cargo build --release -p pbi-bench -p pbi-access && target/release/pbi-scale-bench --users {} --workspaces {} \
         --small-users {} --small-workspaces {} --seed {} --iterations {}{}{}",
        args.users,
        args.workspaces,
        args.small_users,
        args.small_workspaces,
        args.seed,
        args.iterations,
        args.database.as_deref().map(|d| format!(" --database '{}'", redact_password(d))).unwrap_or_default(),
        if args.skip_commands { " --skip-commands" } else { "" }
    );
    drop(tmp);
    Ok(())
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
