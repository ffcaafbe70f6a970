//! `users`, `access`, `who` and `audit --workspace` against a running pbi-access (the demo
//! tenant), with a nested group, a Microsoft 365 group backing a workspace, a guest with a write
//! role, a Free user with a write role and a disabled account that still holds a role.

mod common;

use common::cli::{instant_licenses, rows_where, Cli, Graph};
use reqwest::Method;
use serde_json::json;

const DOMAIN: &str = "contoso.onmicrosoft.com";

fn upn(local: &str) -> String {
    format!("{local}@{DOMAIN}")
}

#[tokio::test]
async fn every_new_command_has_help_with_an_example() {
    for command in ["users", "access", "who", "audit", "onboard", "rehearse", "review"] {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_pbi-access")).args([command, "--help"]).output().await.unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{command}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(text.lines().any(|l| l.trim_start().starts_with(&format!("Example: pbi-access {command}"))), "{command}: {text}");
    }
}

#[tokio::test]
async fn sqlite_access_who_and_audit_show_the_paths_and_the_flags() {
    paths_and_flags(None).await;
}

#[tokio::test]
async fn postgres_access_who_and_audit_show_the_paths_and_the_flags() {
    if let Some(url) = common::postgres_database().await {
        paths_and_flags(Some(url)).await;
    }
}

async fn paths_and_flags(database: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let config = instant_licenses(dir.path());
    let db = database.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("access.db").display()));
    let mut demo = common::serve_with(&db, &["--config", &config]).await;
    let cli = Cli::new(&demo, dir.path());
    let graph = Graph::new(&demo).await;

    // users: everyone, with the Power BI license Graph says they hold.
    let users = cli.json(&["users"]).await;
    let alice = rows_where(&users, "userPrincipalName", &upn("alice"));
    assert_eq!(alice.len(), 1, "{users}");
    assert_eq!(alice[0]["licenseType"], "Pro");
    assert_eq!(rows_where(&users, "userPrincipalName", &upn("bob"))[0]["licenseType"], "PremiumPerUser");
    let gina = rows_where(&users, "userType", "Guest");
    assert_eq!(gina.len(), 1, "{users}");
    assert_eq!(gina[0]["licenseType"], "Free");
    let (code, out, _) = cli.run(&["users", "--output", "csv"]).await;
    assert_eq!(code, 0);
    assert!(out.starts_with("userPrincipalName,displayName,userType,accountEnabled,licenseType,licenses\n"), "{out}");

    // Nesting: erin is in "Regional Analysts", which is inside "Sales Analysts" (Viewer of Sales Analytics).
    let erin = graph.create_user(&upn("erin"), "Erin Eng").await;
    let regional = graph.create_group("Regional Analysts", &[&erin]).await;
    graph.add_member(&graph.group_id("Sales Analysts").await, &regional).await;

    let access = cli.json(&["access", &upn("erin")]).await;
    let sales: Vec<_> = rows_where(&access, "name", "Sales Analytics");
    assert_eq!(sales.len(), 1, "{access}");
    assert_eq!(sales[0]["access"], "Viewer");
    assert_eq!(sales[0]["path"], "workspace role of group Regional Analysts inside group Sales Analysts", "{access}");

    // bob: Contributor directly in Sales Analytics; in Finance Reporting, the Finance Team group
    // holds Viewer but backs the workspace as a Microsoft 365 group, which makes bob a Member.
    let access = cli.json(&["access", &upn("bob")]).await;
    let finance: Vec<_> = rows_where(&access, "name", "Finance Reporting");
    let paths: Vec<(&str, &str)> = finance.iter().map(|r| (r["access"].as_str().unwrap(), r["path"].as_str().unwrap())).collect();
    assert!(paths.contains(&("Viewer", "workspace role of group Finance Team")), "{access}");
    assert!(paths.contains(&("Member", "Microsoft 365 group Finance Team backing the workspace")), "{access}");
    let sales: Vec<_> = rows_where(&access, "name", "Sales Analytics");
    assert_eq!((sales[0]["access"].as_str(), sales[0]["path"].as_str()), (Some("Contributor"), Some("direct workspace role")));
    // The Sales App is shared with the Finance Team group; frank is in App Readers, inside it.
    let frank = graph.create_user(&upn("frank"), "Frank Fox").await;
    let readers = graph.create_group("App Readers", &[&frank]).await;
    graph.add_member(&graph.group_id("Finance Team").await, &readers).await;
    let access = cli.json(&["access", &upn("frank")]).await;
    let app = rows_where(&access, "name", "Sales App");
    assert_eq!(
        (app[0]["access"].as_str(), app[0]["path"].as_str()),
        (Some("Read"), Some("permission of group App Readers inside group Finance Team")),
        "{access}"
    );
    // dave: direct permissions on the model and the report, no role in Sales Analytics.
    let access = cli.json(&["access", &upn("dave")]).await;
    let model = rows_where(&access, "name", "Sales Model");
    assert_eq!((model[0]["access"].as_str(), model[0]["path"].as_str()), (Some("ReadReshare"), Some("direct permission")), "{access}");
    let (code, _, err) = cli.run(&["access", &upn("nobody")]).await;
    assert_eq!(code, 1);
    assert!(err.contains("no account"), "{err}");

    // who: the workspace's principals, with groups expanded into their nested members.
    let who = cli.json(&["who", "Sales Analytics"]).await;
    let erin_rows = rows_where(&who, "principal", &upn("erin"));
    assert_eq!(erin_rows.len(), 1, "{who}");
    assert_eq!(erin_rows[0]["path"], "member of group Regional Analysts inside group Sales Analysts (direct workspace role)");
    assert_eq!(erin_rows[0]["access"], "Viewer");
    let carol: Vec<_> = rows_where(&who, "principal", &upn("carol"));
    let carol_paths: Vec<&str> = carol.iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert!(
        carol_paths.contains(&"direct workspace role") && carol_paths.contains(&"member of group Sales Analysts (direct workspace role)"),
        "{who}"
    );
    // who on a workspace backed by a Microsoft 365 group: the group and its members, as Members.
    let who = cli.json(&["who", "Finance Reporting"]).await;
    let backing: Vec<_> = rows_where(&who, "path", "Microsoft 365 group backing the workspace");
    assert_eq!(backing.len(), 1, "{who}");
    assert_eq!((backing[0]["principal"].as_str(), backing[0]["access"].as_str()), (Some("Finance Team"), Some("Member")));
    let bob = rows_where(&who, "principal", &upn("bob"));
    let bob_paths: Vec<&str> = bob.iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert!(bob_paths.contains(&"member of group Finance Team (Microsoft 365 group backing the workspace)"), "{who}");
    assert!(rows_where(&cli.json(&["who", "Sales Analytics"]).await, "path", "Microsoft 365 group backing the workspace").is_empty());
    // who on a dataset: role-derived rights and dave's direct permission.
    let who = cli.json(&["who", "Sales Model"]).await;
    let dave = rows_where(&who, "principal", &upn("dave"));
    assert_eq!((dave[0]["access"].as_str(), dave[0]["path"].as_str()), (Some("ReadReshare"), Some("direct permission")), "{who}");
    let alice = rows_where(&who, "principal", &upn("alice"));
    assert_eq!(alice[0]["path"], "workspace role Member", "{who}");
    let (code, _, err) = cli.run(&["who", "No Such Thing"]).await;
    assert_eq!(code, 1, "{err}");

    // audit --workspace: a guest Member, a Free Contributor, a disabled Viewer, group-only access.
    let http = demo.http();
    let token = demo.token(&http).await;
    let put = |who: String, role: &str| {
        http.put(format!("{}/v1.0/myorg/groups/{}/users", demo.base, demo.workspace))
            .bearer_auth(&token)
            .json(&json!({"identifier": who, "principalType": "User", "groupUserAccessRight": role}))
            .send()
    };
    assert!(put(format!("gina_fabrikam.com#EXT#@{DOMAIN}"), "Member").await.unwrap().status().is_success());
    assert!(put(upn("carol"), "Contributor").await.unwrap().status().is_success());
    graph.send(Method::PATCH, &format!("/users/{}", upn("alice")), Some(json!({"accountEnabled": false}))).await;

    let audit = cli.json(&["audit", "--workspace", "Sales Analytics"]).await;
    let flags_of = |who: &str, via: &str| -> String {
        audit
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["principal"].as_str().unwrap().eq_ignore_ascii_case(who) && r["via"] == via)
            .unwrap_or_else(|| panic!("{who} via {via}: {audit}"))["flags"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(flags_of(&format!("gina_fabrikam.com#EXT#@{DOMAIN}"), "direct").contains("guest-with-write-role"), "{audit}");
    assert!(flags_of(&upn("carol"), "direct").contains("free-with-write-role"), "{audit}");
    assert!(flags_of(&upn("alice"), "direct").contains("disabled-account"), "{audit}");
    assert_eq!(flags_of(&upn("bob"), "direct"), "", "a PPU Contributor is fine: {audit}");
    assert!(flags_of(&upn("erin"), "group Regional Analysts inside group Sales Analysts").contains("group-only"), "{audit}");
    assert!(!flags_of(&upn("carol"), "group Sales Analysts").contains("group-only"), "carol also holds a direct role: {audit}");
    let bob = rows_where(&audit, "principal", &upn("bob"));
    assert_eq!((bob[0]["licenseType"].as_str(), bob[0]["userType"].as_str()), (Some("PremiumPerUser"), Some("Member")), "{audit}");
    assert!(rows_where(&audit, "flags", "no-admin").is_empty(), "Sales Analytics has Admins: {audit}");
    // A deleted account keeps its role, and is flagged.
    graph.send(Method::DELETE, &format!("/users/{}", upn("bob")), None).await;
    let audit = cli.json(&["audit", "--workspace", "Sales Analytics"]).await;
    let bob = rows_where(&audit, "principal", &upn("bob"));
    assert_eq!((bob[0]["account"].as_str(), bob[0]["flags"].as_str()), (Some("deleted"), Some("deleted-account")), "{audit}");
    let (code, _, err) = cli.run(&["audit"]).await;
    assert_eq!(code, 2, "either --workspace or --all: {err}");
    let (code, _, err) = cli.run(&["audit", "--workspace", "Sales Analytics", "--output", "snapshot"]).await;
    assert_eq!(code, 2, "a snapshot needs --all: {err}");
    demo.child.start_kill().unwrap();
}
