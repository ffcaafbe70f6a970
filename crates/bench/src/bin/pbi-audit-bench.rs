//! `pbi-audit-bench`: figures for the admin audit surface in a large tenant, over real HTTP on
//! loopback against an in-process server.
//!
//! It seeds a tenant with `pbi-access seed`'s generator (100,000 users and 10,000 workspaces by
//! default, over a million role and permission rows), or reuses one already seeded into
//! `--database`, then times:
//!
//! - every page of `GET /admin/users/{heavy}/artifactAccess` for the user who reaches about
//!   5,000 items (first page and deepest page: keyset paging should make them cost the same);
//! - `GET /admin/groups?$top=5000&$expand=users`, cold (nothing cached), warm (the page cache's
//!   answer), and right after a write (the page rendered again; the view cache still helps on
//!   SQLite), each with its time to first byte and to last byte;
//! - every page of `GET /admin/activityevents` for one whole UTC day;
//! - the process's resident memory (`VmRSS` and peak `VmHWM` from /proc/self/status).
//!
//! Times are taken on the client: from sending the request to having read the whole body (not
//! parsing it), and for the workspace list also to the response's head (time to first byte).
//! The client runs in the same process, so the memory figures include its buffers. Throttling
//! is turned off: the walks make more admin calls than an hour's budget.
//!
//! A benchmark, not a test: it prints figures against the targets (each page under 50 ms, deep
//! pages as fast as first ones, memory under 500 MB) and does not fail when they are missed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use clap::Parser;
use pbi_client::{Endpoints, TokenClient};
use pbi_server::config::Config;
use pbi_server::seed::{self, SeedParams};
use pbi_server::store::Store;
use pbi_server::{Application, SharedClock, SystemClock};
use tokio::sync::oneshot;

const PAGE_TARGET_MS: f64 = 50.0;
const MEMORY_TARGET_MB: f64 = 500.0;

#[derive(Parser, Debug)]
#[command(name = "pbi-audit-bench", about = "Page times of the admin audit reads in a large seeded tenant, and the server's memory")]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    #[arg(long, default_value_t = 10_000)]
    workspaces: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// sqlite://PATH or postgres://…; default: a fresh SQLite file in a temporary directory. A
    /// database that already holds the seed's tenant is reused (seeding skipped).
    #[arg(long)]
    database: Option<String>,
    /// Times each list is walked (after one unmeasured warm-up walk).
    #[arg(long, default_value_t = 10)]
    iterations: usize,
}

/// Resident and peak memory of this process, in MB (Linux).
fn memory_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

struct Series {
    name: String,
    ms: Vec<f64>,
}

impl Series {
    fn new(name: impl Into<String>) -> Series {
        Series { name: name.into(), ms: Vec::new() }
    }

    fn row(&mut self) -> (f64, f64, f64) {
        self.ms.sort_by(|a, b| a.total_cmp(b));
        let (p50, p99, max) = (percentile(&self.ms, 50.0), percentile(&self.ms, 99.0), percentile(&self.ms, 100.0));
        let verdict = if p99 < PAGE_TARGET_MS { "met" } else { "MISSED" };
        println!("{:<58} {:>6} {:>9.2} {:>9.2} {:>9.2}  p99 < {PAGE_TARGET_MS} ms: {verdict}", self.name, self.ms.len(), p50, p99, max);
        (p50, p99, max)
    }
}

/// GET a URL and read the whole body; the time covers the request and the body, not parsing it.
async fn timed_get(http: &reqwest::Client, token: &str, url: &str) -> anyhow::Result<(f64, bytes::Bytes)> {
    let (_, ms, body) = timed_get_ttfb(http, token, url).await?;
    Ok((ms, body))
}

/// The same, with the time to the response's head (first byte) as well: (ttfb ms, total ms, body).
async fn timed_get_ttfb(http: &reqwest::Client, token: &str, url: &str) -> anyhow::Result<(f64, f64, bytes::Bytes)> {
    let started = Instant::now();
    let response = http.get(url).bearer_auth(token).send().await?;
    let ttfb = started.elapsed().as_secs_f64() * 1000.0;
    let status = response.status();
    let body = response.bytes().await?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    ensure!(status.is_success(), "GET {url} answered {status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)]));
    Ok((ttfb, ms, body))
}

/// Time to first byte and to last byte of repeated requests.
struct Timed {
    ttfb: Series,
    total: Series,
}

impl Timed {
    fn new(name: &str) -> Timed {
        Timed { ttfb: Series::new(format!("{name} (first byte)")), total: Series::new(format!("{name} (last byte)")) }
    }

    async fn get(&mut self, http: &reqwest::Client, token: &str, url: &str) -> anyhow::Result<()> {
        let (ttfb, total, _) = timed_get_ttfb(http, token, url).await?;
        self.ttfb.ms.push(ttfb);
        self.total.ms.push(total);
        Ok(())
    }

    fn rows(&mut self) {
        self.ttfb.row();
        self.total.row();
    }
}

/// What the walks read of a page: how many items, and where the next page is.
#[derive(serde::Deserialize)]
struct Page {
    #[serde(alias = "artifactAccessEntities", alias = "activityEventEntities")]
    items: Vec<serde::de::IgnoredAny>,
    #[serde(rename = "continuationUri")]
    next: Option<String>,
}

/// Walk a continuation list: the time of each page, and the items seen.
async fn walk(http: &reqwest::Client, token: &str, first: &str) -> anyhow::Result<(Vec<f64>, usize)> {
    let (mut times, mut count, mut next) = (Vec::new(), 0, Some(first.to_string()));
    while let Some(url) = next.take() {
        let (ms, body) = timed_get(http, token, &url).await?;
        times.push(ms);
        let page: Page = serde_json::from_slice(&body)?;
        count += page.items.len();
        next = page.next;
    }
    Ok((times, count))
}

/// What the timing reads of the admin workspace list.
#[derive(serde::Deserialize)]
struct Groups {
    value: Vec<GroupUsers>,
}

#[derive(serde::Deserialize)]
struct GroupUsers {
    id: uuid::Uuid,
    #[serde(default)]
    users: Vec<serde::de::IgnoredAny>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(args.iterations >= 1, "--iterations must be at least 1");
    if cfg!(debug_assertions) {
        println!("WARNING: debug build; figures are not representative (use --release)");
    }
    let tempdir = tempfile::tempdir()?;
    let url = args.database.clone().unwrap_or_else(|| format!("sqlite://{}", tempdir.path().join("audit-bench.db").display()));
    let params = SeedParams { users: args.users, workspaces: args.workspaces, seed: args.seed, domain: None };
    let known = seed::credentials(&params);
    let clock: SharedClock = Arc::new(SystemClock);
    let store = Store::connect(&url).await.with_context(|| format!("connecting to {url}"))?;
    let seeding = if store.find_tenant(&known.domain).await?.is_some() {
        println!("reusing the seeded tenant {} in {url}", known.domain);
        None
    } else {
        println!("seeding {} users and {} workspaces (seed {}) into {url} …", args.users, args.workspaces, args.seed);
        let seeded = seed::generate(&store, &*clock, &params).await?;
        let c = &seeded.counts;
        println!(
            "seeded in {:.1} s: {} users, {} groups ({} memberships), {} workspaces with {} roles, {} artifacts with {} permissions \
             ({} role + permission rows), {} subscriptions, {} activity events",
            seeded.elapsed.as_secs_f64(),
            c.users,
            c.groups,
            c.group_members,
            c.workspaces,
            c.workspace_roles,
            c.artifacts,
            c.artifact_permissions,
            c.workspace_roles + c.artifact_permissions,
            c.subscriptions,
            c.activity_events
        );
        Some(seeded.elapsed)
    };
    let (rss_seeded, _) = memory_mb();

    let mut config = Config { listen: "127.0.0.1:0".into(), database: url.clone(), demo: false, ..Config::default() };
    config.throttling.enabled = false;
    let app = Application::build_with_store(config, clock.clone(), store.clone()).await?;
    let base = app.public_url().to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder().pool_max_idle_per_host(4).build()?;
    let token = TokenClient::new(http.clone(), &Endpoints::local(&base))
        .password(
            &known.tenant_id.to_string(),
            &known.client_id.to_string(),
            &known.admin_upn,
            &known.password,
            "https://analysis.windows.net/powerbi/api/.default",
        )
        .await
        .context("the seeded administrator's token")?
        .access_token;
    let (rss_started, _) = memory_mb();
    println!(
        "pbi-access listening at {base}; resident memory {rss_started:.0} MB after {}",
        if seeding.is_some() { "seeding" } else { "start" }
    );

    // 1. Artifact access of the heavy user, page by page.
    let heavy = store.get_user_by_name(known.tenant_id, &known.heavy_upn).await?.context("the heavy user")?;
    let access_url = format!("{base}/v1.0/myorg/admin/users/{}/artifactAccess", heavy.id);
    let (warm, items) = walk(&http, &token, &access_url).await?;
    let pages = warm.len();
    let (mut first, mut deep, mut all_access) = (
        Series::new("artifactAccess, first page"),
        Series::new(format!("artifactAccess, deepest page ({pages})")),
        Series::new("artifactAccess, every page"),
    );
    for _ in 0..args.iterations {
        let (times, _) = walk(&http, &token, &access_url).await?;
        first.ms.push(times[0]);
        deep.ms.push(*times.last().unwrap_or(&f64::NAN));
        all_access.ms.extend(times);
    }

    // 2. Every workspace with its users, 5,000 a page.
    let groups_url = |skip: usize| format!("{base}/v1.0/myorg/admin/groups?$top=5000&$skip={skip}&$expand=users");
    let (cold_ttfb, cold_ms, body) = timed_get_ttfb(&http, &token, &groups_url(0)).await?;
    let bytes = body.len();
    let groups: Groups = serde_json::from_slice(&body)?;
    drop(body);
    let (listed, users_listed) = (groups.value.len(), groups.value.iter().map(|g| g.users.len()).sum::<usize>());
    let written = groups.value.first().map(|g| g.id).context("an empty workspace list")?;
    drop(groups);
    let (cold_second_ttfb, cold_second_ms, _) = timed_get_ttfb(&http, &token, &groups_url(5000)).await?;
    let (mut groups_warm, mut groups_second) =
        (Timed::new("admin/groups $top=5000 $expand=users, warm"), Timed::new("  … $skip=5000, warm"));
    let mut groups_bare = Timed::new("admin/groups $top=5000, no $expand, warm");
    let mut groups_bare_written = Timed::new("admin/groups $top=5000, no $expand, after a write");
    let mut groups_written = Timed::new("admin/groups … $expand=users, after a write");
    let bare_url = format!("{base}/v1.0/myorg/admin/groups?$top=5000");
    let members_url = format!("{base}/v1.0/myorg/admin/groups/{written}/users");
    // The page without $expand has not been asked for yet: render it once, unmeasured, so that
    // "warm" means cached for both pages.
    timed_get_ttfb(&http, &token, &bare_url).await?;
    for _ in 0..args.iterations {
        groups_bare.get(&http, &token, &bare_url).await?;
        groups_warm.get(&http, &token, &groups_url(0)).await?;
        groups_second.get(&http, &token, &groups_url(5000)).await?;
    }
    for i in 0..args.iterations {
        // A write in one workspace of the page (the administrator joins it, or leaves again):
        // the next read renders the page again.
        let response = if i % 2 == 0 {
            let body = serde_json::json!({"emailAddress": known.admin_upn, "groupUserAccessRight": "Viewer"});
            http.post(&members_url).bearer_auth(&token).json(&body).send().await?
        } else {
            http.delete(format!("{members_url}/{}", known.admin_upn)).bearer_auth(&token).send().await?
        };
        ensure!(response.status().is_success(), "the write between reads answered {}", response.status());
        groups_written.get(&http, &token, &groups_url(0)).await?;
        // And once more without $expand (the write made that page stale too).
        groups_bare_written.get(&http, &token, &bare_url).await?;
    }
    if args.iterations % 2 == 1 {
        http.delete(format!("{members_url}/{}", known.admin_upn)).bearer_auth(&token).send().await?;
    }

    // 3. One whole UTC day of the activity log (yesterday: a full day of history).
    let day = (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%d");
    let events_url =
        format!("{base}/v1.0/myorg/admin/activityevents?startDateTime='{day}T00:00:00.000Z'&endDateTime='{day}T23:59:59.999Z'");
    let (warm_events, events) = walk(&http, &token, &events_url).await?;
    let mut activity_pages = Series::new(format!("activityevents, one day: every page ({})", warm_events.len()));
    let mut day_totals = Vec::new();
    for _ in 0..args.iterations {
        let (times, _) = walk(&http, &token, &events_url).await?;
        day_totals.push(times.iter().sum::<f64>());
        activity_pages.ms.extend(times);
    }
    day_totals.sort_by(|a, b| a.total_cmp(b));
    let (rss_end, hwm_end) = memory_mb();

    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    store.close().await;

    println!("\n== summary ==");
    println!(
        "machine: {} cores; build: {}; database: {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        if cfg!(debug_assertions) { "debug" } else { "release" },
        if url.starts_with("sqlite:") { "SQLite (WAL)" } else { "PostgreSQL" }
    );
    println!(
        "tenant: {} users, {} workspaces, seed {}; heavy user reaches {items} items in {pages} pages",
        args.users, args.workspaces, args.seed
    );
    println!("times are client-side over loopback, whole body read, {} walks after one warm-up", args.iterations);
    println!("{:<58} {:>6} {:>9} {:>9} {:>9}", "request", "n", "p50 ms", "p99 ms", "max ms");
    let (first_p50, _, _) = first.row();
    let (deep_p50, _, _) = deep.row();
    all_access.row();
    println!("{:<58} {:>6} {:>9.2}   (first byte {cold_ttfb:.2})", "admin/groups $top=5000 $expand=users, cold", 1, cold_ms);
    println!("{:<58} {:>6} {:>9.2}   (first byte {cold_second_ttfb:.2})", "  … $skip=5000, cold", 1, cold_second_ms);
    groups_warm.rows();
    groups_second.rows();
    groups_written.rows();
    groups_bare.rows();
    groups_bare_written.rows();
    activity_pages.row();
    println!(
        "{:<58} {:>6} {:>9.2} {:>9.2}   ({events} events in the day)",
        "activityevents, the whole day (all pages)",
        day_totals.len(),
        percentile(&day_totals, 50.0),
        percentile(&day_totals, 99.0)
    );
    println!(
        "deep page / first page (p50): {:.2} (target about 1: {})",
        deep_p50 / first_p50,
        if deep_p50 <= first_p50 * 1.5 { "met" } else { "MISSED" }
    );
    println!("admin/groups page: {listed} workspaces, {users_listed} users, {:.1} MB of JSON", bytes as f64 / 1e6);
    println!(
        "memory: VmRSS {rss_end:.0} MB at the end (peak VmHWM {hwm_end:.0} MB; {rss_seeded:.0} MB after seeding, {rss_started:.0} MB after start; \
         target < {MEMORY_TARGET_MB} MB: {})",
        if rss_end < MEMORY_TARGET_MB { "met" } else { "MISSED" }
    );
    if seeding.is_some() {
        println!("note: the generator ran in this process, so the peak includes seeding; rerun with --database to measure a server that only serves");
    }
    println!(
        "reproduce: cargo build --release -p pbi-bench && target/release/pbi-audit-bench --users {} --workspaces {} --seed {} --iterations {}{}",
        args.users,
        args.workspaces,
        args.seed,
        args.iterations,
        args.database.as_deref().map(|d| format!(" --database '{d}'")).unwrap_or_default()
    );
    drop(tempdir);
    Ok(())
}
