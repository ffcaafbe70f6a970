//! `audit --all` on a seeded tenant of a few hundred workspaces, served by the real binary:
//! CSV and JSON Lines streamed as scans arrive, a budget stop (a tiny scanner budget on the
//! server) that journals, exits 3 and resumes without rescanning, `--since`, and a failing scan
//! reported by workspace id (fault injection), and the directory read batch by batch giving the
//! rows of the whole directory read first.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use common::cli::Cli;
use serde_json::Value;
use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};

struct Seeded {
    database: String,
    tenant: String,
    client: String,
    secret: String,
}

async fn seed(dir: &Path, workspaces: usize) -> Seeded {
    seed_sized(dir, 300, workspaces).await
}

async fn seed_sized(dir: &Path, users: usize, workspaces: usize) -> Seeded {
    let database = format!("sqlite://{}", dir.join("seeded.db").display());
    let out = Command::new(env!("CARGO_BIN_EXE_pbi-access"))
        .args(["seed", "--users", &users.to_string(), "--workspaces", &workspaces.to_string(), "--seed", "7", "--database", &database])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let line = |label: &str| stdout.lines().find_map(|l| common::field(l, label)).unwrap_or_else(|| panic!("no {label} in {stdout}"));
    Seeded { database, tenant: line("tenant id"), client: line("client id"), secret: line("client secret") }
}

/// `serve` on the seeded database with this config; returns the process and its URL.
async fn serve(dir: &Path, seeded: &Seeded, config: &str) -> (Child, String) {
    let path = dir.join(format!("config-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(&path, format!("[audit]\nscan_duration_ms = 300\n{config}")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pbi-access"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &seeded.database, "--log-format", "json", "--config"])
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(l) = lines.next_line().await.unwrap() {
            if let Some(url) = serde_json::from_str::<Value>(&l).ok().and_then(|v| v["public_url"].as_str().map(str::to_string)) {
                return url;
            }
        }
        panic!("the server printed no public_url");
    })
    .await
    .unwrap();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
}

fn cli(base: &str, s: &Seeded, dir: &Path, ledger: &str) -> Cli {
    let mut cli = Cli::to(base, &s.tenant, &s.client, &s.secret, dir);
    cli.env.retain(|(k, _)| k != "PBI_ACCESS_LEDGER");
    cli.env.push(("PBI_ACCESS_LEDGER".into(), dir.join(ledger).display().to_string()));
    cli
}

/// CSV rows as maps.
fn csv_rows(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let headers = r.headers().unwrap().clone();
    r.records().map(|rec| headers.iter().zip(rec.unwrap().iter()).map(|(h, v)| (h.to_string(), v.to_string())).collect()).collect()
}

fn workspaces(rows: &[BTreeMap<String, String>]) -> BTreeSet<String> {
    rows.iter().map(|r| r["workspace"].clone()).collect()
}

/// `N admin call(s) spent` from stderr.
fn admin_calls(stderr: &str) -> usize {
    stderr
        .lines()
        .find_map(|l| l.strip_suffix(" admin call(s) spent")?.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("{stderr}"))
}

/// The active, non-personal workspaces the scanner lists, straight from the API.
async fn modified_count(base: &str, s: &Seeded, since: Option<&str>) -> usize {
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{base}/{}/oauth2/v2.0/token", s.tenant))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", s.client.as_str()),
            ("client_secret", s.secret.as_str()),
            ("scope", "https://analysis.windows.net/powerbi/api/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut url = format!("{base}/v1.0/myorg/admin/workspaces/modified?excludePersonalWorkspaces=true&excludeInActiveWorkspaces=true");
    if let Some(since) = since {
        url.push_str(&format!("&modifiedSince={since}"));
    }
    let ids: Value = http.get(url).bearer_auth(token["access_token"].as_str().unwrap()).send().await.unwrap().json().await.unwrap();
    ids.as_array().unwrap_or_else(|| panic!("{ids}")).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_all_streams_csv_and_json_lines_and_since_rescans_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let seeded = seed(dir.path(), 300).await;
    let (_server, base) = serve(dir.path(), &seeded, "").await;
    let expected = modified_count(&base, &seeded, None).await;
    assert!(expected > 200, "several batches of 100: {expected}");
    let cli = cli(&base, &seeded, dir.path(), "ledger.json");

    let (code, out, err) = cli.run(&["audit", "--all", "--output", "csv"]).await;
    assert_eq!(code, 0, "{err}");
    let rows = csv_rows(&out);
    assert_eq!(workspaces(&rows).len(), expected, "every scanned workspace is in the output");
    assert!(rows.iter().all(|r| !r["flags"].contains("scan-failed")));
    assert!(admin_calls(&err) <= 5, "the scanner spends its own budgets, not the admin one: {err}");

    let (code, out, err) = cli.run(&["audit", "--all", "--output", "jsonl"]).await;
    assert_eq!(code, 0, "{err}");
    let lines: Vec<BTreeMap<String, String>> =
        out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let mut from_csv = rows.clone();
    let mut from_jsonl = lines.clone();
    from_csv.sort();
    from_jsonl.sort();
    assert_eq!(from_csv, from_jsonl, "the same rows in both formats");

    // --since: only the workspaces modified in the last day (the seed spreads changes over 40 days).
    let (code, out, err) = cli.run(&["audit", "--all", "--output", "csv", "--since", "24h"]).await;
    assert_eq!(code, 0, "{err}");
    let recent = workspaces(&csv_rows(&out));
    assert!(recent.len() < expected / 4, "{} of {expected}", recent.len());
    assert!(recent.is_subset(&workspaces(&rows)));
    let day_ago = (chrono::Utc::now() - chrono::Duration::hours(24)).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let changed = modified_count(&base, &seeded, Some(&day_ago)).await;
    assert!(recent.len() <= changed && changed <= recent.len() + 1, "{} vs {changed}", recent.len());
    let (code, _, err) = cli.run(&["audit", "--all", "--since", "yesterday"]).await;
    assert_eq!(code, 2, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_scanner_budget_stops_with_exit_3_and_the_resume_command_finishes_without_rescanning() {
    let dir = tempfile::tempdir().unwrap();
    let seeded = seed(dir.path(), 300).await;
    // Two scans an hour: the third batch's getInfo is a 429 with an hour to wait.
    let (mut server, base) = serve(dir.path(), &seeded, "[throttling]\nscanner_per_hour = 2\n").await;
    let expected = modified_count(&base, &seeded, None).await;
    assert!(expected > 200, "{expected}");
    let journal = dir.path().join("audit.journal.json");
    let first = cli(&base, &seeded, dir.path(), "ledger-1.json");
    let (code, out, err) = first.run(&["audit", "--all", "--output", "csv", "--journal", journal.to_str().unwrap()]).await;
    assert_eq!(code, 3, "{err}");
    let done = workspaces(&csv_rows(&out));
    let left: usize =
        err.split(" left;").next().and_then(|t| t.rsplit(' ').next()).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{err}"));
    // Three batches (100, 100 and the rest): the two scans the budget allowed are written.
    assert!(left == 100 || left == expected - 200, "{err}");
    assert_eq!(done.len(), expected - left, "{err}");
    let resume =
        err.lines().find_map(|l| l.split_once("Resume then with: ").map(|(_, c)| c.to_string())).unwrap_or_else(|| panic!("{err}"));
    assert!(resume.contains(&format!("--resume {}", journal.display())), "{resume}");
    assert!(resume.starts_with("pbi-access audit --all --output csv"), "{resume}");

    // An hour later (a server with room, and a ledger past the block), the printed command finishes.
    server.start_kill().unwrap();
    let _ = server.wait().await;
    let (_server, base) = serve(dir.path(), &seeded, "").await;
    let later = cli(&base, &seeded, dir.path(), "ledger-2.json");
    let args: Vec<&str> = resume.split_whitespace().skip(1).collect();
    let (code, out, err) = later.run(&args).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("{left} workspace(s) left")), "{err}");
    let rest = workspaces(&csv_rows(&out));
    assert_eq!(rest.len(), left);
    assert!(rest.is_disjoint(&done), "nothing finished was scanned again");
    assert!(!journal.exists(), "a finished audit leaves no journal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_that_fails_twice_is_reported_by_workspace_id_and_the_rest_completes() {
    let dir = tempfile::tempdir().unwrap();
    let seeded = seed(dir.path(), 160).await;
    // Seed 5 draws fail, fail, fail, pass: of two batches (each tried at most twice), exactly
    // one fails twice whatever order their requests arrive in.
    let fault = "[[faults]]\noperation = \"WorkspaceInfo_PostWorkspaceInfo\"\nprobability_500 = 0.5\nseed = 5\n";
    let (_server, base) = serve(dir.path(), &seeded, fault).await;
    let expected = modified_count(&base, &seeded, None).await;
    assert!((101..=200).contains(&expected), "two batches: {expected}");
    let (code, out, err) = cli(&base, &seeded, dir.path(), "ledger.json").run(&["audit", "--all", "--output", "csv"]).await;
    assert_eq!(code, 1, "an incomplete audit does not exit 0: {err}");
    let rows = csv_rows(&out);
    let failed: BTreeSet<String> = rows.iter().filter(|r| r["flags"] == "scan-failed").map(|r| r["workspace"].clone()).collect();
    assert!(failed.len() == 100 || failed.len() == expected - 100, "one batch failed: {}", failed.len());
    for id in &failed {
        uuid::Uuid::parse_str(id).expect("reported by id");
        assert!(err.contains(&format!("workspace {id} not audited")), "{err}");
    }
    let audited: BTreeSet<String> = rows.iter().filter(|r| r["flags"] != "scan-failed").map(|r| r["workspace"].clone()).collect();
    assert_eq!(audited.len() + failed.len(), expected, "the other batch completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_read_batch_by_batch_gives_the_rows_of_the_whole_directory_read_first() {
    let dir = tempfile::tempdir().unwrap();
    // Enough users for nested groups to hold roles.
    let seeded = seed_sized(dir.path(), 2000, 150).await;
    let (_server, base) = serve(dir.path(), &seeded, "").await;
    let cli = cli(&base, &seeded, dir.path(), "ledger.json");

    let (code, lazy, err) = cli.run(&["audit", "--all", "--output", "csv"]).await;
    assert_eq!(code, 0, "{err}");
    let (code, whole, err) = cli.run(&["audit", "--all", "--output", "csv", "--eager-directory"]).await;
    assert_eq!(code, 0, "{err}");
    let (mut lazy, mut whole) = (csv_rows(&lazy), csv_rows(&whole));
    lazy.sort();
    whole.sort();
    assert!(lazy.len() > 1000, "{}", lazy.len());
    // The rows that need the directory are there: users through nested groups, group-only
    // access, and each account's state and licence.
    assert!(lazy.iter().any(|r| r["via"].contains(" inside ")), "a user through a nested group");
    assert!(lazy.iter().any(|r| r["flags"].contains("group-only")));
    assert!(lazy.iter().any(|r| r["account"] == "disabled"));
    assert!(lazy.iter().any(|r| r["licenseType"] == "Pro") && lazy.iter().any(|r| r["licenseType"] == "Free"));
    assert_eq!(lazy, whole, "the same rows whichever way the directory is read");

    // One workspace: the directory it names, the same rows.
    let name = lazy.iter().find(|r| r["via"].contains(" inside ")).map(|r| r["workspace"].clone()).unwrap();
    let (code, one, err) = cli.run(&["audit", "--workspace", &name, "--output", "csv"]).await;
    assert_eq!(code, 0, "{err}");
    let (code, one_whole, err) = cli.run(&["audit", "--workspace", &name, "--output", "csv", "--eager-directory"]).await;
    assert_eq!(code, 0, "{err}");
    let one = csv_rows(&one);
    assert!(one.iter().any(|r| r["via"].contains(" inside ")), "{one:?}");
    assert_eq!(one, csv_rows(&one_whole));
}
