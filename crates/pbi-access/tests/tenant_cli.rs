//! `pbi-access tenant create|list|export|import` end to end: a snapshot taken from one database
//! and imported into another serves the same tenant, and its secrets still work.

mod common;

use std::process::Stdio;

use serde_json::Value;
use tokio::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pbi-access"))
}

async fn run(args: &[&str]) -> (i32, String, String) {
    let out = bin().args(args).stdin(Stdio::null()).output().await.unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[tokio::test]
async fn snapshots_round_trip_between_databases() {
    let dir = tempfile::tempdir().unwrap();
    let db1 = format!("sqlite://{}", dir.path().join("one.db").display());
    let db2 = format!("sqlite://{}", dir.path().join("two.db").display());
    let (code, out, err) = run(&[
        "tenant",
        "create",
        "--name",
        "Fabrikam",
        "--domain",
        "fabrikam.onmicrosoft.com",
        "--admin",
        "admin@fabrikam.onmicrosoft.com",
        "--password",
        "S3cret-pass",
        "--database",
        &db1,
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    let made: Value = serde_json::from_str(&out).unwrap();
    let (tenant, client, secret) =
        (made["tenantId"].as_str().unwrap(), made["clientId"].as_str().unwrap(), made["clientSecret"].as_str().unwrap());

    let (code, out, _) = run(&["tenant", "list", "--database", &db1]).await;
    assert_eq!(code, 0);
    assert!(out.contains(tenant) && out.contains("fabrikam.onmicrosoft.com"), "{out}");

    let snapshot = dir.path().join("fabrikam.json");
    let (code, _, err) =
        run(&["tenant", "export", "fabrikam.onmicrosoft.com", "--output", snapshot.to_str().unwrap(), "--database", &db1]).await;
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&snapshot).unwrap();
    assert!(!text.contains(secret) && !text.contains("S3cret-pass"), "a snapshot never holds a secret or password in plain text");

    let (code, out, err) = run(&["tenant", "import", snapshot.to_str().unwrap(), "--database", &db2]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(tenant), "{out}");
    // Importing it again is refused as a whole.
    let (code, _, err) = run(&["tenant", "import", snapshot.to_str().unwrap(), "--database", &db2]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    std::fs::write(dir.path().join("bad.json"), "{\"name\": 1}").unwrap();
    let (code, _, err) = run(&["tenant", "import", dir.path().join("bad.json").to_str().unwrap(), "--database", &db2]).await;
    assert_eq!(code, 2, "{err}");
    let (_, out, _) = run(&["tenant", "list", "--database", &db2]).await;
    assert_eq!(out.lines().count(), 2, "header and one tenant: {out}");

    // The imported tenant serves: the original secret and password still work.
    let (mut server, base) = common::serve_quietly(&db2).await;
    let http = reqwest::Client::new();
    let token = |form: Vec<(&'static str, String)>| {
        let http = http.clone();
        let url = format!("{base}/{tenant}/oauth2/v2.0/token");
        async move { http.post(url).form(&form).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let app = token(vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", client.into()),
        ("client_secret", secret.into()),
        ("scope", "https://analysis.windows.net/powerbi/api/.default".into()),
    ])
    .await;
    assert!(app["access_token"].is_string(), "{app}");
    let user = token(vec![
        ("grant_type", "password".into()),
        ("client_id", client.into()),
        ("username", "admin@fabrikam.onmicrosoft.com".into()),
        ("password", "S3cret-pass".into()),
        ("scope", "https://analysis.windows.net/powerbi/api/.default".into()),
    ])
    .await;
    let created = http
        .post(format!("{base}/v1.0/myorg/groups?workspaceV2=True"))
        .bearer_auth(user["access_token"].as_str().unwrap())
        .json(&serde_json::json!({"name": "Imported works"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    server.start_kill().unwrap();
}
