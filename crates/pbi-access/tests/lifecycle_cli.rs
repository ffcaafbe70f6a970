//! `workspaces`, `members`, `plan` and `apply` against a running pbi-access, configured by
//! `PBI_ACCESS_*` variables alone, as a user would point them at Microsoft's endpoints.

mod common;

use common::cli::Cli;

#[tokio::test]
async fn plan_then_apply_reaches_the_desired_state_and_refuses_drift() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = common::serve(&format!("sqlite://{}", dir.path().join("cli.db").display())).await;
    let cli = Cli::new(&demo, dir.path());

    let workspaces = cli.json(&["workspaces"]).await;
    assert!(workspaces.as_array().unwrap().iter().any(|w| w["name"] == "Sales Analytics"), "{workspaces}");
    let members = cli.json(&["members", "Sales Analytics"]).await;
    let list = members.as_array().unwrap();
    assert_eq!(list.len(), 7, "{members}");
    let (code, out, _) = cli.run(&["members", "Sales Analytics", "--output", "csv"]).await;
    assert_eq!(code, 0);
    assert!(out.starts_with("identifier,principalType,role,displayName\n"), "{out}");

    // Desired: bob leaves, carol becomes Contributor, dave joins as Viewer; everyone else stays.
    let mut yaml = String::from("workspaces:\n  - workspace: Sales Analytics\n    members:\n");
    for m in list {
        let who = m["identifier"].as_str().unwrap();
        let principal = match m["principalType"].as_str().unwrap() {
            "User" => who.to_string(),
            "Group" => format!("group:{who}"),
            _ => format!("app:{who}"),
        };
        let role = match who {
            w if w.starts_with("bob@") => continue,
            w if w.starts_with("carol@") => "Contributor",
            _ => m["role"].as_str().unwrap(),
        };
        yaml.push_str(&format!("      - {{ principal: \"{principal}\", role: {role} }}\n"));
    }
    yaml.push_str("      - { principal: dave@contoso.onmicrosoft.com, role: Viewer }\n");
    let desired = dir.path().join("desired.yaml");
    std::fs::write(&desired, &yaml).unwrap();
    let plan_path = dir.path().join("access.plan.json");
    let steps = cli.json(&["plan", desired.to_str().unwrap(), "--out", plan_path.to_str().unwrap()]).await;
    let changes: Vec<&str> = steps.as_array().unwrap().iter().map(|s| s["change"].as_str().unwrap()).collect();
    assert_eq!(changes, vec!["Viewer -> Contributor", "add as Viewer", "remove (Contributor)"], "grants first, removals last: {steps}");
    assert!(steps.as_array().unwrap().iter().all(|s| s["endpoint"] == "Workspace"), "the app is a workspace Admin: no admin budget spent");

    let (code, _, err) = cli.run(&["apply", plan_path.to_str().unwrap()]).await;
    assert_eq!(code, 5, "no --yes and no terminal: declined: {err}");
    let (code, out, err) = cli.run(&["apply", plan_path.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("applied 3 step(s)"), "{out}");
    let after = cli.json(&["members", "Sales Analytics"]).await;
    let role = |who: &str| {
        after
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["identifier"].as_str().unwrap().starts_with(who))
            .map(|m| m["role"].as_str().unwrap().to_string())
    };
    assert_eq!((role("bob@"), role("carol@").as_deref(), role("dave@").as_deref()), (None, Some("Contributor"), Some("Viewer")));

    // Applying again repeats nothing; planning again finds nothing to do.
    let (code, out, _) = cli.run(&["apply", plan_path.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("applied 0 step(s) (3 already done)"), "{out}");
    let again = dir.path().join("again.plan.json");
    let steps = cli.json(&["plan", desired.to_str().unwrap(), "--out", again.to_str().unwrap()]).await;
    assert_eq!(steps, serde_json::json!([]));

    // A plan made before someone else changed the workspace is refused, and changes nothing.
    std::fs::write(&desired, yaml.replace("role: Viewer }\n", "role: Member }\n")).unwrap();
    let stale = dir.path().join("stale.plan.json");
    cli.json(&["plan", desired.to_str().unwrap(), "--out", stale.to_str().unwrap()]).await;
    let http = reqwest::Client::new();
    let token = demo.token(&http).await;
    let r = http
        .post(format!("{}/v1.0/myorg/groups/{}/users", demo.base, demo.workspace))
        .bearer_auth(&token)
        .json(&serde_json::json!({"emailAddress": "bob@contoso.onmicrosoft.com", "groupUserAccessRight": "Viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (code, _, err) = cli.run(&["apply", stale.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("no longer matches"), "{err}");
    let unchanged = cli.json(&["members", "Sales Analytics"]).await;
    assert!(unchanged.as_array().unwrap().iter().any(|m| m["identifier"].as_str().unwrap().starts_with("bob@")));

    // Without credentials the commands say what is missing.
    let (code, _, err) = Cli { env: vec![("PBI_ACCESS_PROFILES".into(), "/nonexistent".into())] }.run(&["workspaces"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("no tenant"), "{err}");
    demo.child.start_kill().unwrap();
}
