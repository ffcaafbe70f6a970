//! Real Microsoft clients against the real binary over HTTPS: MSAL Python (client credentials,
//! password, silent refresh) and azure-identity's `ClientSecretCredential` get tokens from
//! `pbi-access serve --tls`, and each token lists workspaces. The Python side is
//! `tests/python/msal_clients.py`. After a restart, MSAL's certificate credential
//! (`{"private_key", "thumbprint"}`) and azure-identity's `CertificateCredential` sign in to a
//! tenant imported with the app's certificate.
//!
//! MSAL Python's interactive flows (authorization code and device code, a person played by plain
//! HTTP) are `tests/python/msal_interactive.py`, run against the demo tenant's public client.
//!
//! Without the Python packages the test says "skipped" and passes, unless
//! `PBI_ACCESS_TEST_PYTHON=1` (as in `.ci/run`), which makes it required.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{certificate_tenant, import_tenant, serve_with, test_certificate};
use tokio::process::Command;

/// Whether `msal` and `azure-identity` can be imported; panics when they must be and cannot.
async fn python_clients_available() -> bool {
    python_modules_available("msal, azure.identity, requests").await
}

/// Whether `python3 -c "import {modules}"` works; panics when it must and does not.
async fn python_modules_available(modules: &str) -> bool {
    let required = std::env::var("PBI_ACCESS_TEST_PYTHON").is_ok_and(|v| v == "1");
    let probe = Command::new("python3").args(["-c", &format!("import {modules}")]).output().await;
    match probe {
        Ok(out) if out.status.success() => true,
        other if required => panic!(
            "PBI_ACCESS_TEST_PYTHON=1 but msal/azure-identity cannot be imported \
             (python3 -m pip install msal azure-identity): {other:?}"
        ),
        _ => {
            eprintln!("skipped: msal/azure-identity not installed");
            false
        }
    }
}

#[tokio::test]
async fn msal_and_azure_identity_get_working_tokens_over_tls() {
    if !python_clients_available().await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("pbi.db").display());
    let mut demo = serve_with(&database, &["--tls"]).await;
    assert!(demo.base.starts_with("https://127.0.0.1:"), "TLS makes the default public URL https: {}", demo.base);
    assert!(demo.tls_generated, "the first start generates the certificate");
    let ca = demo.ca.clone().expect("serve --tls prints the CA to trust");
    assert_eq!(ca, std::fs::canonicalize(dir.path().join("pbi-access-tls/ca.pem")).unwrap(), "kept beside the SQLite file");

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/msal_clients.py");
    let run = Command::new("python3")
        .arg(script)
        .args(["--url", &demo.base, "--tenant", &demo.tenant, "--client-id", &demo.client_id, "--secret", &demo.secret])
        .args(["--username", &demo.admin, "--password", &demo.password])
        .env("REQUESTS_CA_BUNDLE", &ca)
        .env("SSL_CERT_FILE", &ca)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), run).await.expect("the Python clients finish").unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{stdout}");
    assert!(out.status.success(), "Python clients failed ({:?}):\n{stdout}\n{stderr}", out.status.code());
    assert!(stdout.contains("all Microsoft client checks passed"), "{stdout}");

    // A restart keeps the CA, so clients that trust it keep working. Meanwhile a tenant whose
    // app has a certificate is imported.
    let ca_pem = std::fs::read_to_string(&ca).unwrap();
    demo.child.start_kill().unwrap();
    demo.child.wait().await.unwrap();
    let (cert_pem, key_pem) = test_certificate("signer");
    let (cert_path, key_path) = (dir.path().join("app.crt.pem"), dir.path().join("app.key.pem"));
    std::fs::write(&cert_path, &cert_pem).unwrap();
    std::fs::write(&key_path, &key_pem).unwrap();
    let (spec, tenant, app) = certificate_tenant(&cert_pem);
    import_tenant(&spec, dir.path(), &database).await;
    let again = serve_with(&database, &["--tls"]).await;
    assert!(!again.tls_generated, "the second start reuses the certificate");
    assert_eq!(std::fs::read_to_string(again.ca.as_ref().unwrap()).unwrap(), ca_pem);
    let http = again.http();
    let health = http.get(format!("{}/healthz", again.base)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(again.token(&http).await.starts_with("eyJ"));

    let run = Command::new("python3")
        .arg(script)
        .args(["--url", &again.base, "--tenant", &tenant, "--client-id", &app])
        .args(["--certificate", cert_path.to_str().unwrap(), "--private-key", key_path.to_str().unwrap()])
        .env("REQUESTS_CA_BUNDLE", &ca)
        .env("SSL_CERT_FILE", &ca)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), run).await.expect("the Python clients finish").unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{stdout}");
    assert!(out.status.success(), "Python certificate clients failed ({:?}):\n{stdout}\n{stderr}", out.status.code());
    assert!(stdout.contains("all Microsoft certificate checks passed"), "{stdout}");
}

#[tokio::test]
async fn msal_interactive_flows_sign_a_person_in_over_tls() {
    if !python_modules_available("msal, requests").await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("pbi.db").display());
    let demo = serve_with(&database, &["--tls"]).await;
    let ca = demo.ca.clone().expect("serve --tls prints the CA to trust");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/msal_interactive.py");
    let run = Command::new("python3")
        .arg(script)
        .args(["--url", &demo.base, "--tenant", &demo.tenant, "--client-id", pbi_wire::oauth::DEMO_PUBLIC_CLIENT_ID])
        .args(["--username", &demo.admin, "--password", &demo.password])
        .env("REQUESTS_CA_BUNDLE", &ca)
        .env("SSL_CERT_FILE", &ca)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(240), run).await.expect("the MSAL flows finish").unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{stdout}");
    assert!(out.status.success(), "MSAL interactive flows failed ({:?}):\n{stdout}\n{stderr}", out.status.code());
    assert!(stdout.contains("all MSAL interactive checks passed"), "{stdout}");
}
