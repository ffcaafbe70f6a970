//! Client credentials with a certificate, against pbi-access: a freshly signed assertion per
//! token request, cached and renewed like a secret's token.

use std::time::Duration;

use pbi_client::{ClientCertificate, ClientError, Credential, ManualClock, PowerBiClient, TokenClient, TokenSource};
use rsa::pkcs8::EncodePrivateKey;

use crate::common::*;

/// A self-signed RSA certificate and its private key, PEM.
fn certificate(name: &str) -> (String, String) {
    // rcgen's ring backend signs with an RSA key but cannot make one: the rsa crate does.
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let key_pem = key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap().to_string();
    let pair = rcgen::KeyPair::from_pem(&key_pem).unwrap();
    let cert = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap().self_signed(&pair).unwrap();
    (cert.pem(), key_pem)
}

async fn server_with(cert_pem: &str) -> Server {
    let pem = cert_pem.to_string();
    Server::start_with(move |spec| spec["servicePrincipals"][0]["certificates"] = serde_json::json!([{ "pem": pem }])).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_client_lists_groups_and_renews_with_a_fresh_assertion() {
    let (cert_pem, key_pem) = certificate("automation");
    let server = server_with(&cert_pem).await;
    let clock = ManualClock::starting_now();
    let client = PowerBiClient::builder(server.endpoints())
        .client_certificate(server.tenant(), server.app_id(), &cert_pem, &key_pem)
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut names: Vec<String> = client.get_groups(None, None, None).await.unwrap().value.into_iter().map(|g| g.name).collect();
    names.sort();
    assert_eq!(names, ["Alpha", "Beta", "Delta", "Gamma", "Team"]);
    let source = client.token_source().unwrap();
    client.get_groups(None, None, None).await.unwrap();
    assert_eq!(source.fetch_count(), 1, "the token is cached");
    // An hour later on both clocks: the first assertion (10 minutes) is long dead, so the
    // renewal only works with a new one.
    clock.advance(Duration::from_secs(3300));
    server.server_clock.advance(Duration::from_secs(3300));
    client.get_groups(None, None, None).await.unwrap();
    assert_eq!(source.fetch_count(), 2, "renewed at the refresh point");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_certificate_gets_entras_refusal_and_bad_pem_fails_the_build() {
    let (registered, _) = certificate("automation");
    let (other_cert, other_key) = certificate("stranger");
    let server = server_with(&registered).await;
    let certificate = ClientCertificate::from_pem(&other_cert, &other_key).unwrap();
    assert_eq!(certificate.thumbprint().len(), 40);
    let source = TokenSource::new(
        TokenClient::new(reqwest::Client::new(), &server.endpoints()),
        Credential::ClientCertificate { tenant: server.tenant(), client_id: server.app_id(), certificate },
        pbi_wire::oauth::POWERBI_DEFAULT_SCOPE,
        ManualClock::starting_now(),
    );
    match source.token().await {
        Err(ClientError::OAuth { codes, .. }) => assert_eq!(codes, vec![700027]),
        other => panic!("expected AADSTS700027, got {other:?}"),
    }
    let built =
        PowerBiClient::builder(server.endpoints()).client_certificate(server.tenant(), server.app_id(), "not a pem", &other_key).build();
    assert!(matches!(built, Err(ClientError::Invalid(m)) if m.contains("CERTIFICATE")));
    let built =
        PowerBiClient::builder(server.endpoints()).client_certificate(server.tenant(), server.app_id(), &other_cert, "no key").build();
    assert!(matches!(built, Err(ClientError::Invalid(m)) if m.contains("private key")));
}
