//! The binary end to end: `serve` prints a working demo, an acknowledged write survives
//! `kill -9`, and `healthcheck` tells whether the server answers.

mod common;

use std::time::Duration;

use common::{postgres_database, serve};
use serde_json::Value;
use tokio::process::Command;

async fn acknowledged_writes_survive_kill_9(database: &str) {
    let http = reqwest::Client::new();
    let mut demo = serve(database).await;
    let token = demo.token(&http).await;

    // The demo's own curl tour, as printed.
    let add = http
        .post(format!("{}/v1.0/myorg/groups/{}/users", demo.base, demo.workspace))
        .bearer_auth(&token)
        .json(&serde_json::json!({"emailAddress": "dave@contoso.onmicrosoft.com", "groupUserAccessRight": "Viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(add.status(), 200);
    let mut created = Vec::new();
    for i in 0..20 {
        let r = http
            .post(format!("{}/v1.0/myorg/groups?workspaceV2=True", demo.base))
            .bearer_auth(&token)
            .json(&serde_json::json!({"name": format!("Durable {i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        created.push(format!("Durable {i}"));
    }

    let status = Command::new(env!("CARGO_BIN_EXE_pbi-access")).args(["healthcheck", "--url", &demo.base]).status().await.unwrap();
    assert!(status.success(), "healthcheck answers 0 while the server runs");

    demo.child.start_kill().unwrap(); // SIGKILL: no graceful shutdown, no flush
    demo.child.wait().await.unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_pbi-access")).args(["healthcheck", "--url", &demo.base]).status().await.unwrap();
    assert!(!status.success(), "healthcheck fails once the server is gone");

    let again = serve(database).await;
    assert_eq!(
        (again.tenant.as_str(), again.client_id.as_str()),
        (demo.tenant.as_str(), demo.client_id.as_str()),
        "the demo tenant is kept, not recreated"
    );
    let token = again.token(&http).await;
    let users: Value = http
        .get(format!("{}/v1.0/myorg/groups/{}/users", again.base, again.workspace))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        users["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["identifier"] == "dave@contoso.onmicrosoft.com" && u["groupUserAccessRight"] == "Viewer"),
        "{users}"
    );
    let groups: Value =
        http.get(format!("{}/v1.0/myorg/groups", again.base)).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    let names: Vec<&str> = groups["value"].as_array().unwrap().iter().filter_map(|g| g["name"].as_str()).collect();
    for name in &created {
        assert!(names.contains(&name.as_str()), "{name} lost after kill -9: {names:?}");
    }
}

#[tokio::test]
async fn sqlite_acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    acknowledged_writes_survive_kill_9(&format!("sqlite://{}", dir.path().join("durable.db").display())).await;
}

#[tokio::test]
async fn postgres_acknowledged_writes_survive_kill_9() {
    if let Some(url) = postgres_database().await {
        acknowledged_writes_survive_kill_9(&url).await;
    }
}

#[tokio::test]
async fn bad_configuration_is_reported_not_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pbi.toml");
    std::fs::write(&config, "listne = \"typo\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pbi-access")).args(["serve", "--config"]).arg(&config).output().await.unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("listne"));
    let out = Command::new(env!("CARGO_BIN_EXE_pbi-access"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", "mysql://nope"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported database URL"));

    // TLS: a certificate needs its key, and files that cannot be read stop the start.
    let out = Command::new(env!("CARGO_BIN_EXE_pbi-access")).args(["serve", "--tls-cert", "cert.pem"]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
    let database = format!("sqlite://{}", dir.path().join("tls.db").display());
    let missing = dir.path().join("missing.pem");
    let out = Command::new(env!("CARGO_BIN_EXE_pbi-access"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &database, "--tls-cert"])
        .arg(&missing)
        .arg("--tls-key")
        .arg(&missing)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the certificate chain"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn seed_generates_a_tenant_the_server_then_serves() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("seeded.db").display());
    let seed = |seed: &str| {
        Command::new(env!("CARGO_BIN_EXE_pbi-access"))
            .args(["seed", "--users", "200", "--workspaces", "50", "--seed", seed, "--database", &database])
            .output()
    };
    let out = seed("5").await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("seeded tenant seed5.onmicrosoft.com"), "{stdout}");
    let line = |label: &str| stdout.lines().find_map(|l| common::field(l, label)).unwrap_or_else(|| panic!("no {label} in {stdout}"));
    let (tenant, client, secret) = (line("tenant id"), line("client id"), line("client secret"));
    assert!(stdout.contains("200 users") && stdout.contains("50 workspaces"), "{stdout}");
    // The same seed twice is refused: the tenant exists.
    let again = seed("5").await.unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    // The server serves it (no demo tenant is added to a database that has one).
    let mut child = Command::new(env!("CARGO_BIN_EXE_pbi-access"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &database, "--log-format", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(l) = lines.next_line().await.unwrap() {
            if let Ok(v) = serde_json::from_str::<Value>(&l) {
                if let Some(url) = v["public_url"].as_str() {
                    return url.to_string();
                }
            }
        }
        panic!("the server printed no public_url");
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{base}/{tenant}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client.as_str()),
            ("client_secret", secret.as_str()),
            ("scope", "https://analysis.windows.net/powerbi/api/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let groups: Value = http
        .get(format!("{base}/v1.0/myorg/admin/groups?$top=5000"))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(groups["value"].as_array().map(Vec::len), Some(50), "{groups}");
    child.start_kill().unwrap();
}
