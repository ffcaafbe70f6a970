//! A profile with a certificate instead of a secret (`PBI_ACCESS_CLIENT_CERTIFICATE` and
//! `PBI_ACCESS_CLIENT_KEY`): the binary signs a client assertion, as it would against Entra ID.

mod common;

use common::cli::Cli;
use common::{certificate_tenant, import_tenant, serve_quietly, test_certificate};

#[tokio::test]
async fn workspaces_with_a_certificate_profile() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_pem, key_pem) = test_certificate("signer");
    let (_, stranger_key) = test_certificate("stranger");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let (cert, key, wrong_key) = (write("cert.pem", &cert_pem), write("key.pem", &key_pem), write("wrong.pem", &stranger_key));
    let (spec, tenant, app) = certificate_tenant(&cert_pem);
    let database = format!("sqlite://{}", dir.path().join("certs.db").display());
    import_tenant(&spec, dir.path(), &database).await;
    let (mut server, base) = serve_quietly(&database).await;

    // The profile names the certificate and key files; no secret anywhere.
    let mut cli = Cli::to(&base, &tenant, &app, "", dir.path());
    cli.env.retain(|(k, _)| k != "PBI_ACCESS_CLIENT_SECRET");
    cli.env.push(("PBI_ACCESS_CLIENT_CERTIFICATE".into(), cert.clone()));
    cli.env.push(("PBI_ACCESS_CLIENT_KEY".into(), key));
    let rows = cli.json(&["workspaces"]).await;
    let names: Vec<&str> = rows.as_array().unwrap().iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, ["Signed"]);

    // Another key for the same certificate: Entra's refusal reaches the user.
    cli.env.retain(|(k, _)| k != "PBI_ACCESS_CLIENT_KEY");
    cli.env.push(("PBI_ACCESS_CLIENT_KEY".into(), wrong_key));
    let (code, _, err) = cli.run(&["workspaces"]).await;
    assert_ne!(code, 0);
    assert!(err.contains("AADSTS700027"), "{err}");

    // A certificate without its key is a configuration error, said before any request.
    cli.env.retain(|(k, _)| k != "PBI_ACCESS_CLIENT_KEY");
    let (code, _, err) = cli.run(&["workspaces"]).await;
    assert_ne!(code, 0);
    assert!(err.contains("client_key"), "{err}");
    server.start_kill().unwrap();
}
