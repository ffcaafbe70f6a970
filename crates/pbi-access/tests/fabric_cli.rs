//! Microsoft's Fabric CLI (`fab`, PyPI `ms-fabric-cli`) against the real binary: `serve --tls`
//! with the generated certificate (which names Microsoft's hosts), and `tests/python/fab_acl.py`
//! running `fab acl ls|set|get|rm` and `fab api` in a process that resolves Microsoft's host names to this
//! server (its own `socket.getaddrinfo`; the machine's hosts file is never touched). `fab` signs in
//! as the demo's service principal through MSAL at `login.microsoftonline.com`, and every change
//! it makes is read back through Power BI at `api.powerbi.com` (and one made there through `fab`).
//!
//! Without the packages the test says "skipped" and passes, unless `PBI_ACCESS_TEST_PYTHON=1`
//! (as in `.ci/run`), which makes it required.

mod common;

use std::time::Duration;

use common::serve_with;
use tokio::process::Command;

async fn fab_available() -> bool {
    let required = std::env::var("PBI_ACCESS_TEST_PYTHON").is_ok_and(|v| v == "1");
    let probe = Command::new("python3").args(["-c", "import fabric_cli, msal, requests"]).output().await;
    match probe {
        Ok(out) if out.status.success() => true,
        other if required => {
            panic!("PBI_ACCESS_TEST_PYTHON=1 but fab cannot be imported (python3 -m pip install ms-fabric-cli msal): {other:?}")
        }
        _ => {
            eprintln!("skipped: ms-fabric-cli not installed");
            false
        }
    }
}

#[tokio::test]
async fn fab_manages_workspace_access_through_microsofts_host_names() {
    if !fab_available().await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("pbi.db").display());
    let demo = serve_with(&database, &["--tls"]).await;
    let ca = demo.ca.clone().expect("serve --tls prints the CA to trust");
    let port = demo.base.rsplit(':').next().unwrap().trim_end_matches('/').to_string();
    let domain = demo.admin.split_once('@').unwrap().1;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/fab_acl.py");
    let run = Command::new("python3")
        .arg(script)
        .args(["--port", &port, "--tenant", &demo.tenant, "--client-id", &demo.client_id, "--secret", &demo.secret])
        .args(["--workspace", "Sales Analytics", "--grant", &format!("dave@{domain}"), "--viewer", &format!("carol@{domain}")])
        .env("REQUESTS_CA_BUNDLE", &ca)
        .env("SSL_CERT_FILE", &ca)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(300), run).await.expect("fab finishes").unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{stdout}");
    assert!(out.status.success(), "fab failed ({:?}):\n{stdout}\n{stderr}", out.status.code());
    assert!(stdout.contains("* ACL set"), "fab added the role through POST roleAssignments: {stdout}");
    assert!(stdout.contains("* ACL updated"), "and changed it through PATCH: {stdout}");
    assert!(stdout.contains("$ fab api workspaces/"), "fab's raw REST command ran: {stdout}");
    assert!(stdout.contains("all Fabric CLI checks passed"), "{stdout}");
}

#[tokio::test]
async fn hosts_prints_the_entries_and_the_ca_to_trust() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("pbi.db").display());
    let out = Command::new(env!("CARGO_BIN_EXE_pbi-access")).args(["hosts", "--database", &database]).output().await.unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for host in ["login.microsoftonline.com", "api.powerbi.com", "api.fabric.microsoft.com", "graph.microsoft.com"] {
        assert!(text.lines().any(|l| l == format!("127.0.0.1 {host}")), "{host} in:\n{text}");
    }
    let ca = dir.path().join("pbi-access-tls/ca.pem");
    assert!(text.contains(&format!("REQUESTS_CA_BUNDLE={}", ca.display())), "{text}");
    assert!(text.contains("does not exist yet"), "no serve --tls has run: {text}");
    let out = Command::new(env!("CARGO_BIN_EXE_pbi-access")).args(["hosts", "--address", "10.0.0.7"]).output().await.unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("10.0.0.7 api.fabric.microsoft.com"));
}
