//! `pbi-review-bench`: how long a reviewer's queue page of 100 rows takes to read from the review
//! store when the campaign holds a million rows.
//!
//! It freezes a synthetic snapshot (`--rows` rows over `--workspaces` workspaces, each with its
//! own Admin as reviewer, flags spread as the model sets them) into a fresh review database, then
//! times the store reads behind `review serve`'s "My queue" page: the reviewer's rows after a
//! keyset position, 101 at a time (one to know whether there is a next page), their workspaces for
//! the filter and their progress, for the first page, a deep page, a flag filter, an
//! open-decisions filter and a search. p50 and p99 over `--iterations`. For contrast it also
//! times the campaign-wide progress the campaign page reads (it grows with the campaign).
//!
//! A benchmark, not a test: it prints figures against the target (a page under 100 ms p99) and
//! does not fail when they are missed. Rendering the page's HTML is not included.

use std::time::{Duration, Instant};

use clap::Parser;
use pbi_server::review::{freeze, AccessRow, DecisionFilter, Flag, NewCampaign, RowQuery};
use pbi_server::store::Store;
use uuid::Uuid;

const TARGET_MS: f64 = 100.0;

#[derive(Parser, Debug)]
#[command(name = "pbi-review-bench", about = "Queue page times of the review store with a large campaign")]
struct Args {
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    #[arg(long, default_value_t = 10_000)]
    workspaces: usize,
    /// sqlite://PATH or postgres://… (default: a fresh SQLite file in a temporary directory).
    #[arg(long)]
    database: Option<String>,
    #[arg(long, default_value_t = 200)]
    iterations: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let url = args.database.clone().unwrap_or_else(|| format!("sqlite://{}", dir.path().join("review.db").display()));
    let store = Store::connect(&url).await?;
    let per_ws = args.rows.div_ceil(args.workspaces).max(1);
    let started = Instant::now();
    let mut rows = Vec::with_capacity(args.rows);
    for i in 0..args.rows {
        let ws = i / per_ws;
        let k = i % per_ws;
        let admin = k == 0;
        rows.push(AccessRow {
            workspace_id: Uuid::from_u128(ws as u128 + 1),
            workspace: format!("Workspace {ws:05}"),
            principal: if admin { format!("owner{ws}@contoso.com") } else { format!("user{k}.{ws}@contoso.com") },
            principal_type: "User".into(),
            role: if admin {
                "Admin"
            } else if k % 3 == 0 {
                "Contributor"
            } else {
                "Viewer"
            }
            .into(),
            via: if k % 7 == 0 && !admin { "group Staff".into() } else { "direct".into() },
            license_type: if k % 5 == 0 { "Free" } else { "Pro" }.into(),
            user_type: if k % 11 == 0 { "Guest" } else { "Member" }.into(),
            account: if k % 13 == 0 && !admin { "disabled" } else { "enabled" }.into(),
            last_activity: Some(0),
        });
    }
    let snapshot = freeze(rows, 0, 0, None, &[]);
    let new = NewCampaign {
        id: Uuid::new_v4(),
        name: "bench".into(),
        scope: serde_json::json!({ "all": true }),
        owner: "admin@contoso.com".into(),
        created_at: 0,
        due_at: i64::MAX / 2,
        lookback_days: 0,
        snapshot_at: 0,
        admin_calls: 0,
    };
    let campaign = store.create_review_campaign(&new, &snapshot, None).await?;
    println!(
        "campaign of {} rows over {} workspaces frozen in {:.1} s ({url})",
        campaign.row_count,
        args.workspaces,
        started.elapsed().as_secs_f64()
    );

    let reviewer = format!("owner{}@contoso.com", args.workspaces / 2);
    let deep_reviewer = format!("owner{}@contoso.com", args.workspaces - 1);
    let cases: Vec<(&str, RowQuery)> = vec![
        ("first page", RowQuery { reviewer: Some(reviewer.clone()), limit: 101, ..Default::default() }),
        ("last workspace (deep)", RowQuery { reviewer: Some(deep_reviewer), limit: 101, ..Default::default() }),
        (
            "next page (keyset)",
            RowQuery {
                reviewer: Some(reviewer.clone()),
                after: (args.workspaces / 2 * per_ws + 50) as i64,
                limit: 101,
                ..Default::default()
            },
        ),
        (
            "flag filter",
            RowQuery { reviewer: Some(reviewer.clone()), flag: Some(Flag::FreeWithWriteRole), limit: 101, ..Default::default() },
        ),
        (
            "open decisions",
            RowQuery { reviewer: Some(reviewer.clone()), decision: Some(DecisionFilter::Open), limit: 101, ..Default::default() },
        ),
        ("search", RowQuery { reviewer: Some(reviewer.clone()), search: Some("user1".into()), limit: 101, ..Default::default() }),
    ];
    println!("{:<24} {:>6} {:>9} {:>9}", "queue page", "rows", "p50 ms", "p99 ms");
    for (name, q) in cases {
        let mut times = Vec::with_capacity(args.iterations);
        let mut n = 0;
        let who = q.reviewer.clone().unwrap_or_default();
        store.review_rows(campaign.id, &q).await?;
        for _ in 0..args.iterations {
            let t = Instant::now();
            n = store.review_rows(campaign.id, &q).await?.len();
            store.list_reviewer_workspaces(campaign.id, &who).await?;
            store.review_reviewer_progress(campaign.id, &who).await?;
            times.push(t.elapsed());
        }
        times.sort();
        let p99 = percentile(&times, 0.99);
        println!(
            "{name:<24} {n:>6} {:>9.2} {p99:>9.2}{}",
            percentile(&times, 0.5),
            if p99 <= TARGET_MS { "" } else { "  (over the 100 ms target)" }
        );
    }
    let mut times = Vec::new();
    for _ in 0..args.iterations.min(10) {
        let t = Instant::now();
        store.review_progress(campaign.id).await?;
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "{:<24} {:>6} {:>9.2} {:>9.2}  (the campaign page; queue pages no longer read it)",
        "campaign-wide progress",
        "-",
        percentile(&times, 0.5),
        percentile(&times, 0.99)
    );
    store.close().await;
    Ok(())
}
