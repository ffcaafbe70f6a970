//! Certificate credentials: a service principal's public certificate, imported through the
//! tenant snapshot, and client assertions (`private_key_jwt`) at the token endpoint, refused with
//! Entra's AADSTS codes.

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pbi_server::auth::certificates::read_certificate;
use pbi_server::clock::Clock;
use pbi_server::tenant::{CertificateSpec, ServicePrincipalSpec, TenantSpec};
use rsa::pkcs8::EncodePrivateKey;
use serde_json::{json, Value};
use sha1::Digest;

use crate::backend_test;
use crate::helpers::*;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A self-signed RSA certificate and its PKCS#8 private key, both PEM.
pub struct TestCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

fn make_cert(name: &str) -> TestCert {
    // rcgen's ring backend signs with an RSA key but cannot make one: the rsa crate does.
    let rsa_key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("RSA key");
    let key_pem = rsa_key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).expect("PKCS#8").to_string();
    let key = rcgen::KeyPair::from_pem(&key_pem).expect("rcgen reads the key");
    let cert = rcgen::CertificateParams::new(vec![name.to_string()]).and_then(|p| p.self_signed(&key)).expect("certificate");
    TestCert { cert_pem: cert.pem(), key_pem, der: cert.der().to_vec() }
}

/// The registered certificate, and another one the app does not have (made once per run).
fn certs() -> &'static (TestCert, TestCert) {
    static CERTS: OnceLock<(TestCert, TestCert)> = OnceLock::new();
    CERTS.get_or_init(|| (make_cert("automation"), make_cert("stranger")))
}

fn x5t(cert: &TestCert) -> String {
    URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&cert.der))
}

fn x5t_s256(cert: &TestCert) -> String {
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&cert.der))
}

/// Give the fixture's `automation` app the first certificate, as `tenant import` would.
async fn register(app: &TestApp) {
    let cert = read_certificate(&certs().0.cert_pem).expect("certificate");
    let mut tx = app.store.external_write().await.unwrap();
    pbi_server::store::insert_client_certificate(&mut *tx, app.tenant_id(), app.app_object_id(), &cert, 0).await.unwrap();
    tx.commit().await.unwrap();
}

fn token_url(app: &TestApp) -> String {
    app.url(&format!("/{}/oauth2/v2.0/token", app.tenant_id()))
}

/// Claims as MSAL sends them, at the server's clock.
fn claims(app: &TestApp) -> Value {
    let now = app.clock.now_millis() / 1000;
    let client = app.app_id().to_string();
    json!({"aud": token_url(app), "iss": client, "sub": client, "jti": uuid::Uuid::new_v4().to_string(), "nbf": now, "iat": now, "exp": now + 600})
}

fn sign(key: &TestCert, header: Header, claims: &Value) -> String {
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(key.key_pem.as_bytes()).unwrap()).unwrap()
}

fn rs256(thumbprint_of: &TestCert) -> Header {
    Header { x5t: Some(x5t(thumbprint_of)), ..Header::new(Algorithm::RS256) }
}

async fn redeem(app: &TestApp, assertion: &str) -> (u16, Value) {
    let client = app.app_id().to_string();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client.as_str()),
        ("scope", "https://analysis.windows.net/powerbi/api/.default"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ];
    let r = app.http.post(token_url(app)).form(&form).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[track_caller]
fn assert_refused(answer: (u16, Value), status: u16, error: &str, code: u64) {
    let (s, body) = answer;
    assert_eq!((s, body["error"].as_str()), (status, Some(error)), "{body}");
    assert_eq!(body["error_codes"], json!([code]), "{body}");
    assert!(body["error_description"].as_str().unwrap().starts_with(&format!("AADSTS{code}:")), "{body}");
}

async fn groups(app: &TestApp, token: &str) -> Value {
    let (status, body, _) = app.call(reqwest::Method::GET, "/v1.0/myorg/groups", Some(token), None, &[]).await;
    assert_eq!(status, 200, "{body}");
    body["value"].clone()
}

backend_test!(a_certificate_signed_assertion_gets_a_token_that_works_like_the_secret_one, |app: TestApp| async move {
    register(&app).await;
    let (cert, _) = certs();
    // RS256 with the SHA-1 thumbprint (x5t), as MSAL Python and azure-identity send it.
    let (status, body) = redeem(&app, &sign(cert, rs256(cert), &claims(&app))).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_string();
    let by_certificate = groups(&app, &token).await;
    assert!(!by_certificate.as_array().unwrap().is_empty(), "the fixture's app is in workspaces");
    assert_eq!(by_certificate, groups(&app, &app.app_token().await).await);

    // PS256 with the SHA-256 thumbprint (x5t#S256), as the current documentation shows it.
    let header = Header { x5t_s256: Some(x5t_s256(cert)), ..Header::new(Algorithm::PS256) };
    let (status, body) = redeem(&app, &sign(cert, header, &claims(&app))).await;
    assert_eq!(status, 200, "{body}");

    // NumericDates with a fraction, as MSAL Python sends them (`time.time() + 600`).
    let mut fractional = claims(&app);
    let now = app.clock.now_millis() as f64 / 1000.0;
    fractional["iat"] = json!(now + 0.25);
    fractional["exp"] = json!(now + 600.25);
    fractional["nbf"] = json!(now + 0.25);
    let (status, body) = redeem(&app, &sign(cert, rs256(cert), &fractional)).await;
    assert_eq!(status, 200, "{body}");

    // The v1 token endpoint and the tenant's domain are audiences Entra takes too.
    let mut v1 = claims(&app);
    v1["aud"] = json!(app.url(&format!("/{DOMAIN}/oauth2/token")));
    assert_eq!(redeem(&app, &sign(cert, rs256(cert), &v1)).await.0, 200);

    // Entra keeps no record of `jti`: the same assertion is good until it expires.
    let once = sign(cert, rs256(cert), &claims(&app));
    assert_eq!(redeem(&app, &once).await.0, 200);
    assert_eq!(redeem(&app, &once).await.0, 200);

    // Without `client_id` the client is the assertion's `sub`.
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", "https://analysis.windows.net/powerbi/api/.default"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", once.as_str()),
    ];
    let r = app.http.post(token_url(&app)).form(&form).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
});

backend_test!(an_assertion_with_an_unknown_certificate_or_a_wrong_key_is_refused_with_700027, |app: TestApp| async move {
    register(&app).await;
    let (cert, stranger) = certs();
    // A certificate the app does not have.
    let answer = redeem(&app, &sign(stranger, rs256(stranger), &claims(&app))).await;
    assert!(answer.1["error_description"].as_str().unwrap().contains("The key was not found"), "{}", answer.1);
    assert_refused(answer, 401, "invalid_client", 700027);
    // The registered certificate's thumbprint, signed with another key.
    let answer = redeem(&app, &sign(stranger, rs256(cert), &claims(&app))).await;
    assert!(answer.1["error_description"].as_str().unwrap().contains("did not match the expected signature value"), "{}", answer.1);
    assert_refused(answer, 401, "invalid_client", 700027);
    // No thumbprint at all.
    assert_refused(redeem(&app, &sign(cert, Header::new(Algorithm::RS256), &claims(&app))).await, 401, "invalid_client", 50027);
    // Not a JWT.
    assert_refused(redeem(&app, "not.a.jwt").await, 401, "invalid_client", 50027);
    // An app without certificates.
    let mut other = claims(&app);
    let other_app = app.fixture.service_principals["other-app"].1.to_string();
    other["iss"] = json!(other_app);
    other["sub"] = json!(other_app);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", other_app.as_str()),
        ("scope", "https://analysis.windows.net/powerbi/api/.default"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", &sign(cert, rs256(cert), &other)),
    ];
    let r = app.http.post(token_url(&app)).form(&form).send().await.unwrap();
    assert_refused((r.status().as_u16(), r.json().await.unwrap()), 401, "invalid_client", 700027);
});

backend_test!(an_assertion_out_of_its_time_range_is_refused_with_700024_within_five_minutes_skew, |app: TestApp| async move {
    register(&app).await;
    let (cert, _) = certs();
    let now = app.clock.now_millis() / 1000;
    let mut expired = claims(&app);
    expired["exp"] = json!(now - 301);
    let answer = redeem(&app, &sign(cert, rs256(cert), &expired)).await;
    assert!(answer.1["error_description"].as_str().unwrap().contains("not within its valid time range"), "{}", answer.1);
    assert_refused(answer, 401, "invalid_client", 700024);
    // Within the skew it still passes.
    expired["exp"] = json!(now - 200);
    assert_eq!(redeem(&app, &sign(cert, rs256(cert), &expired)).await.0, 200);
    let mut early = claims(&app);
    early["nbf"] = json!(now + 400);
    assert_refused(redeem(&app, &sign(cert, rs256(cert), &early)).await, 401, "invalid_client", 700024);
    let mut no_exp = claims(&app);
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_refused(redeem(&app, &sign(cert, rs256(cert), &no_exp)).await, 401, "invalid_client", 700024);
    // The server's clock decides: an assertion made now is stale an hour later.
    let fresh = sign(cert, rs256(cert), &claims(&app));
    app.clock.advance(std::time::Duration::from_secs(3600));
    assert_refused(redeem(&app, &fresh).await, 401, "invalid_client", 700024);
});

backend_test!(an_assertion_for_another_audience_or_client_is_refused, |app: TestApp| async move {
    register(&app).await;
    let (cert, _) = certs();
    for aud in [
        json!("https://login.microsoftonline.com/common/oauth2/v2.0/token"),
        json!(app.url("/00000000-0000-0000-0000-000000000000/oauth2/v2.0/token")),
        json!(app.url(&format!("/{}/oauth2/v2.0/authorize", app.tenant_id()))),
        json!([token_url(&app), app.url("/other")]),
    ] {
        let mut c = claims(&app);
        c["aud"] = aud;
        assert_refused(redeem(&app, &sign(cert, rs256(cert), &c)).await, 401, "invalid_client", 700023);
    }
    let mut c = claims(&app);
    c["sub"] = json!(uuid::Uuid::new_v4().to_string());
    assert_refused(redeem(&app, &sign(cert, rs256(cert), &c)).await, 401, "invalid_client", 700021);
    let mut c = claims(&app);
    c.as_object_mut().unwrap().remove("jti");
    assert_refused(redeem(&app, &sign(cert, rs256(cert), &c)).await, 401, "invalid_client", 50027);
    // A wrong assertion type, or a secret and an assertion together.
    let client = app.app_id().to_string();
    let assertion = sign(cert, rs256(cert), &claims(&app));
    let base = [
        ("grant_type", "client_credentials"),
        ("client_id", client.as_str()),
        ("scope", "https://analysis.windows.net/powerbi/api/.default"),
    ];
    let send = |extra: Vec<(&'static str, String)>| {
        let mut form: Vec<(&str, String)> = base.iter().map(|(k, v)| (*k, v.to_string())).collect();
        form.extend(extra);
        let req = app.http.post(token_url(&app)).form(&form);
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let wrong_type = send(vec![("client_assertion_type", "urn:other".into()), ("client_assertion", assertion.clone())]).await;
    assert_refused(wrong_type, 400, "invalid_request", 90011);
    let both =
        send(vec![("client_assertion_type", JWT_BEARER.into()), ("client_assertion", assertion.clone()), ("client_secret", SECRET.into())])
            .await;
    assert_refused(both, 400, "invalid_request", 90014);
});

backend_test!(a_certificate_expired_in_the_directory_is_refused, |app: TestApp| async move {
    register(&app).await;
    let (cert, _) = certs();
    // rcgen's default validity ends in 4096; move the stored end into the past.
    let mut tx = app.store.external_write().await.unwrap();
    sqlx::query("UPDATE client_certificates SET expires_at = 1").execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    let answer = redeem(&app, &sign(cert, rs256(cert), &claims(&app))).await;
    assert!(answer.1["error_description"].as_str().unwrap().contains("The key used is expired"), "{}", answer.1);
    assert_refused(answer, 401, "invalid_client", 700027);
});

backend_test!(certificates_import_with_the_tenant_and_export_as_public_certificates_with_thumbprints, |app: TestApp| async move {
    let (cert, _) = certs();
    let spec = TenantSpec {
        name: "Certs".into(),
        domain: "certs.onmicrosoft.com".into(),
        service_principals: vec![ServicePrincipalSpec {
            id: None,
            app_id: None,
            display_name: "signer".into(),
            secrets: vec![],
            certificates: vec![CertificateSpec { pem: cert.cert_pem.clone(), ..Default::default() }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let provisioned = app.provision(&spec).await;
    let exported = pbi_server::tenant::export(&app.store, provisioned.tenant.id).await.unwrap().unwrap();
    let certs = &exported.service_principals[0].certificates;
    assert_eq!(certs.len(), 1);
    let hex: String = sha1::Sha1::digest(&cert.der).iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(certs[0].thumbprint.as_deref(), Some(hex.as_str()));
    assert_eq!(certs[0].thumbprint_sha256.as_ref().map(String::len), Some(64));
    assert!(certs[0].pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let json = serde_json::to_string(&exported).unwrap();
    assert!(!json.contains("PRIVATE KEY"));

    // The exported document imports again (same thumbprints) into a fresh database.
    let (url, _dir) = fresh_database(Backend::Sqlite).await.unwrap();
    let other = pbi_server::store::Store::connect(&url).await.unwrap();
    pbi_server::tenant::provision(&other, &*app.clock, &exported).await.unwrap();
    let again = pbi_server::tenant::export(&other, provisioned.tenant.id).await.unwrap().unwrap();
    assert_eq!(serde_json::to_value(&exported).unwrap(), serde_json::to_value(&again).unwrap());

    // A thumbprint that is not the certificate's, a private key, or garbage: refused.
    let mut wrong = spec.clone();
    wrong.domain = "certs2.onmicrosoft.com".into();
    wrong.service_principals[0].certificates[0].thumbprint = Some("00".repeat(20));
    let err = pbi_server::tenant::provision(&app.store, &*app.clock, &wrong).await.unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
    wrong.service_principals[0].certificates[0] = CertificateSpec { pem: cert.key_pem.clone(), ..Default::default() };
    let err = pbi_server::tenant::provision(&app.store, &*app.clock, &wrong).await.unwrap_err();
    assert!(err.to_string().contains("not a CERTIFICATE"), "{err}");

    // The imported certificate signs in.
    let client = provisioned.service_principals["signer"].1.to_string();
    let url = app.url("/certs.onmicrosoft.com/oauth2/v2.0/token");
    let now = app.clock.now_millis() / 1000;
    let c = json!({"aud": url, "iss": client, "sub": client, "jti": "1", "nbf": now, "exp": now + 600});
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client.as_str()),
        ("scope", "https://analysis.windows.net/powerbi/api/.default"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", &sign(cert, rs256(cert), &c)),
    ];
    let r = app.http.post(&url).form(&form).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
});

backend_test!(a_confidential_client_signs_password_and_refresh_grants_with_its_certificate, |app: TestApp| async move {
    register(&app).await;
    let (cert, stranger) = certs();
    let client = app.app_id().to_string();
    let post = |form: Vec<(&'static str, String)>| {
        let req = app.http.post(token_url(&app)).form(&form);
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let assertion = |key: &TestCert| {
        vec![("client_assertion_type", JWT_BEARER.to_string()), ("client_assertion", sign(key, rs256(cert), &claims(&app)))]
    };
    let mut password = vec![
        ("grant_type", "password".to_string()),
        ("client_id", client.clone()),
        ("username", upn("admin")),
        ("password", PASSWORD.to_string()),
        ("scope", "https://analysis.windows.net/powerbi/api/.default offline_access".to_string()),
    ];
    let mut forged = password.clone();
    forged.extend(assertion(stranger));
    assert_refused(post(forged).await, 401, "invalid_client", 700027);
    password.extend(assertion(cert));
    let (status, body) = post(password).await;
    assert_eq!(status, 200, "{body}");
    let refresh_token = body["refresh_token"].as_str().unwrap().to_string();
    let refresh =
        vec![("grant_type", "refresh_token".to_string()), ("client_id", client.clone()), ("refresh_token", refresh_token.clone())];
    // Issued to a confidential client: redeemed only with its credential.
    assert_refused(post(refresh.clone()).await, 401, "invalid_client", 7000218);
    let mut signed = refresh;
    signed.extend(assertion(cert));
    let (status, body) = post(signed).await;
    assert_eq!(status, 200, "{body}");
});
