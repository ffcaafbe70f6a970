//! `offboard --dry-run`, `access` and `who` make as many Graph calls on a tenant with many
//! unrelated groups as on one with few: they read the user's own `transitiveMemberOf` and the
//! holding groups' `transitiveMembers`, never every group's members.

mod common;

use common::cli::{rows_where, Cli, Graph};
use serde_json::{json, Value};

const DOMAIN: &str = "contoso.onmicrosoft.com";

/// The number before `marker` in `text` ("… and 7 Graph call(s)").
fn count_before(text: &str, marker: &str) -> u64 {
    let at = text.find(marker).unwrap_or_else(|| panic!("no '{marker}' in: {text}"));
    text[..at].split_whitespace().last().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("no count before '{marker}': {text}"))
}

/// Graph calls of `offboard --dry-run`, `access` and `who` on the heavy user and its workspace.
async fn graph_calls(cli: &Cli, heavy: &str, workspace: &str) -> [u64; 3] {
    let (code, _, err) = cli.run(&["offboard", heavy, "--dry-run", "--output", "json"]).await;
    assert_eq!(code, 0, "{err}");
    let offboard = count_before(&err, "Graph call(s)");
    let (code, out, err) = cli.run(&["access", heavy, "--output", "json"]).await;
    assert_eq!(code, 0, "{err}");
    let rows: Value = serde_json::from_str(&out).unwrap();
    let scale = rows_where(&rows, "name", "Scale Reporting");
    let paths: Vec<&str> = scale.iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&"direct workspace role"), "{rows}");
    assert!(paths.contains(&"workspace role of group Scale Inner inside group Scale Outer"), "{rows}");
    let access = count_before(&err, "Graph call(s)");
    let (code, out, err) = cli.run(&["who", workspace, "--output", "json"]).await;
    assert_eq!(code, 0, "{err}");
    let rows: Value = serde_json::from_str(&out).unwrap();
    let nested: Vec<&str> = rows_where(&rows, "principal", heavy).iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert!(nested.contains(&"member of group Scale Inner inside group Scale Outer (direct workspace role)"), "{rows}");
    let who = count_before(&err, "Graph call(s)");
    [offboard, access, who]
}

#[tokio::test]
async fn graph_calls_follow_the_user_not_the_number_of_groups() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("scale.db").display());
    let mut demo = common::serve(&db).await;
    let cli = Cli::new(&demo, dir.path());
    let graph = Graph::new(&demo).await;

    // heavy: a Member of "Scale Reporting" directly, and a Viewer through Scale Inner inside Scale Outer.
    let heavy = format!("heavy@{DOMAIN}");
    let heavy_id = graph.create_user(&heavy, "Heavy User").await;
    let inner = graph.create_group("Scale Inner", &[&heavy_id]).await;
    let outer = graph.create_group("Scale Outer", &[&inner]).await;
    let http = demo.http();
    let token = demo.token(&http).await;
    let pbi = |method: reqwest::Method, path: String, body: Value| {
        let req = http.request(method, format!("{}/v1.0/myorg{path}", demo.base)).bearer_auth(&token).json(&body);
        async move {
            let r = req.send().await.unwrap();
            let status = r.status();
            let v: Value = r.json().await.unwrap_or(Value::Null);
            assert!(status.is_success(), "{status} {v}");
            v
        }
    };
    let ws = pbi(reqwest::Method::POST, "/groups?workspaceV2=True".into(), json!({"name": "Scale Reporting"})).await;
    let ws = ws["id"].as_str().unwrap().to_string();
    let add = |who: &str, kind: &str, role: &str| json!({"identifier": who, "principalType": kind, "groupUserAccessRight": role});
    pbi(reqwest::Method::POST, format!("/groups/{ws}/users"), add(&heavy, "User", "Member")).await;
    pbi(reqwest::Method::POST, format!("/groups/{ws}/users"), add(&outer, "Group", "Viewer")).await;

    let few = graph_calls(&cli, &heavy, "Scale Reporting").await;

    // Many groups the heavy user is not in, some nested, each with a member.
    let alice = graph.user_id(&format!("alice@{DOMAIN}")).await;
    let mut last = alice.clone();
    for i in 0..40 {
        let member = if i % 4 == 0 { alice.clone() } else { last.clone() };
        last = graph.create_group(&format!("Unrelated {i:02}"), &[&member]).await;
    }
    let many = graph_calls(&cli, &heavy, "Scale Reporting").await;
    assert_eq!(few, many, "Graph calls of offboard, access and who with few and with 40 more groups");
    // And few in absolute terms: the user and its membership lists; the holding group's tree and
    // the Microsoft 365 groups for who.
    assert!(many[0] <= 8 && many[1] <= 8 && many[2] <= 25, "{many:?}");
    demo.child.kill().await.ok();
}
