//! Issue 5's "an apply killed half-way and run again ends in exactly the desired state": the real
//! binary serves a demo tenant, plans 32 changes across eight workspaces, is `kill -9`ed while
//! applying them, and is run again. The service must end in exactly the desired state, the
//! journal must show every step done exactly once, and the activity log must show no add twice.
//!
//! `PBI_ACCESS_APPLY_STEP_DELAY_MS` paces the first apply (a wait before each step's call), so the
//! kill lands between the first and the last step; the test waits on the journal, not on a clock.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use chrono::{Duration as Days, NaiveDate, Utc};
use common::cli::Cli;
use common::Demo;
use serde_json::{json, Value};

const WORKSPACES: usize = 8;
/// Per workspace: alice Viewer → Member, bob removed, dave added as Viewer, gina (guest) added as
/// Contributor; carol stays. Four changes each.
const CHANGES_PER_WORKSPACE: usize = 4;

async fn post(http: &reqwest::Client, token: &str, url: String, body: Value) -> Value {
    let r = http.post(&url).bearer_auth(token).json(&body).send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert!(status.is_success(), "{url}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// `done` entries per step in the journal (a line torn by the kill is skipped).
fn done_counts(journal: &Path) -> BTreeMap<u64, usize> {
    let text = std::fs::read_to_string(journal).unwrap_or_default();
    let mut counts = BTreeMap::new();
    for entry in text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()) {
        if entry["event"] == "done" {
            *counts.entry(entry["step"].as_u64().unwrap()).or_default() += 1;
        }
    }
    counts
}

/// Every `AddGroupMembers` event of the UTC days from `first` to today, following every page.
async fn add_events(demo: &Demo, http: &reqwest::Client, token: &str, first: NaiveDate) -> Vec<Value> {
    let mut events = Vec::new();
    let mut day = first;
    while day <= Utc::now().date_naive() {
        let mut next = Some(format!(
            "{}/v1.0/myorg/admin/activityevents?startDateTime='{day}T00:00:00.000Z'&endDateTime='{day}T23:59:59.999Z'\
             &$filter=Activity%20eq%20'AddGroupMembers'",
            demo.base
        ));
        while let Some(url) = next.take() {
            let page: Value = http.get(&url).bearer_auth(token).send().await.unwrap().json().await.unwrap();
            events.extend(page["activityEventEntities"].as_array().unwrap_or_else(|| panic!("{url}: {page}")).iter().cloned());
            next = page["continuationUri"].as_str().map(str::to_string);
        }
        day += Days::days(1);
    }
    events
}

#[tokio::test]
async fn an_apply_killed_half_way_and_run_again_ends_in_exactly_the_desired_state() {
    let started = Utc::now().date_naive();
    let dir = tempfile::tempdir().unwrap();
    let mut demo = common::serve(&format!("sqlite://{}", dir.path().join("apply.db").display())).await;
    let http = reqwest::Client::new();
    let token = demo.token(&http).await;
    let domain = demo.admin.split_once('@').unwrap().1.to_string();
    let upn = |local: &str| format!("{local}@{domain}");
    let guest = format!("gina_fabrikam.com#EXT#@{domain}");

    // Eight workspaces made by the demo app (so it is their Admin), each with alice, bob and carol.
    let mut names = Vec::new();
    for i in 0..WORKSPACES {
        let name = format!("Interrupted {i}");
        let ws = post(&http, &token, format!("{}/v1.0/myorg/groups?workspaceV2=true", demo.base), json!({ "name": name })).await;
        let id = ws["id"].as_str().unwrap().to_string();
        for (who, role) in [("alice", "Viewer"), ("bob", "Member"), ("carol", "Contributor")] {
            let body = json!({ "emailAddress": upn(who), "groupUserAccessRight": role });
            post(&http, &token, format!("{}/v1.0/myorg/groups/{id}/users", demo.base), body).await;
        }
        names.push(name);
    }

    // The desired state, keeping the app's own Admin role as the service shows it.
    let cli = Cli::new(&demo, dir.path());
    let mut yaml = String::from("workspaces:\n");
    let mut desired: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for name in &names {
        yaml.push_str(&format!("  - workspace: {name}\n    members:\n"));
        let mut want = BTreeSet::new();
        for m in cli.json(&["members", name]).await.as_array().unwrap() {
            let (who, kind) = (m["identifier"].as_str().unwrap(), m["principalType"].as_str().unwrap());
            if kind == "App" {
                yaml.push_str(&format!("      - {{ principal: \"app:{who}\", role: Admin }}\n"));
                want.insert((who.to_lowercase(), "Admin".to_string()));
            }
        }
        for (who, role) in
            [(upn("alice"), "Member"), (upn("carol"), "Contributor"), (upn("dave"), "Viewer"), (guest.clone(), "Contributor")]
        {
            yaml.push_str(&format!("      - {{ principal: \"{who}\", role: {role} }}\n"));
            want.insert((who.to_lowercase(), role.to_string()));
        }
        desired.insert(name.clone(), want);
    }
    let desired_path = dir.path().join("desired.yaml");
    std::fs::write(&desired_path, &yaml).unwrap();
    let plan_path = dir.path().join("big.plan.json");
    let steps = cli.json(&["plan", desired_path.to_str().unwrap(), "--out", plan_path.to_str().unwrap()]).await;
    let total = WORKSPACES * CHANGES_PER_WORKSPACE;
    assert_eq!(steps.as_array().unwrap().len(), total, "{steps}");

    // Apply, paced, and kill -9 it once some but not all steps are done.
    let journal = plan_path.with_extension("journal");
    let mut paced = cli.command(&["apply", plan_path.to_str().unwrap(), "--yes"]);
    paced.env("PBI_ACCESS_APPLY_STEP_DELAY_MS", "150").stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let mut child = paced.kill_on_drop(true).spawn().unwrap();
    let done_before_kill = loop {
        let done = done_counts(&journal).len();
        if done >= 5 {
            break done;
        }
        assert!(child.try_wait().unwrap().is_none(), "the paced apply ended before it could be interrupted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    child.start_kill().unwrap(); // SIGKILL: no clean-up, no last journal line.
    let status = child.wait().await.unwrap();
    assert!(!status.success(), "killed, not finished");
    let after_kill = done_counts(&journal);
    assert!(after_kill.len() >= done_before_kill && after_kill.len() < total, "interrupted half-way: {} of {total}", after_kill.len());

    // Run it again: it resumes, repeating nothing and skipping nothing.
    let (code, out, err) = cli.run(&["apply", plan_path.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code, 0, "{out}{err}");
    let resumed = format!("({} already done)", after_kill.len());
    let in_doubt_landed = format!("({} already done)", after_kill.len() + 1);
    assert!(out.contains(&resumed) || out.contains(&in_doubt_landed), "{out}");
    assert!(out.contains("the service shows the planned state"), "{out}");

    // The journal: every step done exactly once.
    let counts = done_counts(&journal);
    assert_eq!(counts.keys().copied().collect::<Vec<_>>(), (1..=total as u64).collect::<Vec<_>>(), "every step done");
    assert!(counts.values().all(|&n| n == 1), "no step done twice: {counts:?}");

    // The service: exactly the desired state, workspace by workspace.
    for name in &names {
        let members = cli.json(&["members", name]).await;
        let got: BTreeSet<(String, String)> = members
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["identifier"].as_str().unwrap().to_lowercase(), m["role"].as_str().unwrap().to_string()))
            .collect();
        assert_eq!(&got, &desired[name], "{name}");
    }

    // The activity log: each principal added to each workspace exactly once (setup and plan alike).
    let admin = demo.admin_token(&http).await;
    let events = add_events(&demo, &http, &admin, started).await;
    let mut adds: BTreeMap<(String, String), usize> = BTreeMap::new();
    for e in &events {
        let who = e["MembershipInformation"][0]["MemberEmail"].as_str().unwrap_or_default().to_lowercase();
        *adds.entry((e["WorkSpaceName"].as_str().unwrap_or_default().to_string(), who)).or_default() += 1;
    }
    for name in &names {
        for who in [upn("alice"), upn("bob"), upn("carol"), upn("dave"), guest.clone()] {
            assert_eq!(adds.get(&(name.clone(), who.to_lowercase())).copied(), Some(1), "{name} {who}: {adds:?}");
        }
    }
    assert!(adds.values().all(|&n| n == 1), "no add repeated: {adds:?}");
    demo.child.start_kill().unwrap();
}
