//! A profile with a certificate instead of a secret (`PBI_ACCESS_CLIENT_CERTIFICATE` and
//! `PBI_ACCESS_CLIENT_KEY`): the binary signs a client assertion, as it would against Entra ID.

mod common;

use std::process::Stdio;
use std::time::Duration;

use rsa::pkcs8::EncodePrivateKey;
use serde_json::json;
use tokio::process::Command;

use common::cli::Cli;

fn certificate(name: &str) -> (String, String) {
    // rcgen's ring backend signs with an RSA key but cannot make one: the rsa crate does.
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let key_pem = key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap().to_string();
    let pair = rcgen::KeyPair::from_pem(&key_pem).unwrap();
    let cert = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap().self_signed(&pair).unwrap();
    (cert.pem(), key_pem)
}

#[tokio::test]
async fn workspaces_with_a_certificate_profile() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_pem, key_pem) = certificate("signer");
    let (_, stranger_key) = certificate("stranger");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let (cert, key, wrong_key) = (write("cert.pem", &cert_pem), write("key.pem", &key_pem), write("wrong.pem", &stranger_key));
    let (tenant, app) = (uuid::Uuid::new_v4().to_string(), uuid::Uuid::new_v4().to_string());
    let spec = json!({
        "id": tenant, "name": "Certs", "domain": "certs.onmicrosoft.com",
        "servicePrincipals": [{"appId": app, "displayName": "signer", "certificates": [{"pem": cert_pem}]}],
        "workspaces": [{"name": "Signed", "members": [{"principal": "signer", "principalType": "App", "role": "Admin"}]}]
    });
    let spec_path = write("certs.json", &spec.to_string());
    let database = format!("sqlite://{}", dir.path().join("certs.db").display());
    let bin = || Command::new(env!("CARGO_BIN_EXE_pbi-access"));
    let out = bin().args(["tenant", "import", &spec_path, "--database", &database]).output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let mut server =
        bin().args(["serve", "--listen", &listen, "--database", &database]).stdout(Stdio::null()).kill_on_drop(true).spawn().unwrap();
    let base = format!("http://{listen}");
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "server did not come up");

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
