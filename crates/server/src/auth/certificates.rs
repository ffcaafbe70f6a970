//! Certificate credentials (Entra ID's "client assertion" with a certificate): a service
//! principal's public certificates, and the checks on a `client_assertion` JWT signed with the
//! matching private key.
//!
//! The rules follow https://learn.microsoft.com/entra/identity-platform/certificate-credentials:
//! the header names the certificate by `x5t` (base64url SHA-1 of the DER) or `x5t#S256`, the
//! signature is RS256 or PS256, `aud` is the token endpoint, `iss` = `sub` = the client id,
//! `exp`/`nbf` hold within five minutes of skew, and `jti` is present. Entra does not reject a
//! replayed assertion within its lifetime, and neither does pbi-access.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::domain::ClientCertificate;

/// The only `client_assertion_type` Entra takes.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Entra's clock skew for `exp` and `nbf`, in seconds.
pub const SKEW_SECONDS: i64 = 300;

/// A public certificate read from PEM (`-----BEGIN CERTIFICATE-----`) or base64 DER (the
/// `key` of a Graph `keyCredential`): its thumbprints (upper-case hex, as the portal shows
/// them), validity (Unix milliseconds) and a normalised PEM.
pub fn read_certificate(text: &str) -> Result<ClientCertificate, String> {
    let der = certificate_der(text)?;
    let (rest, cert) = X509Certificate::from_der(&der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    if !rest.is_empty() {
        return Err("trailing bytes after the certificate".into());
    }
    match cert.public_key().parsed() {
        Ok(PublicKey::RSA(_)) => {}
        _ => return Err("the certificate's key is not RSA (Entra ID signs client assertions with RS256 or PS256)".into()),
    }
    let validity = cert.validity();
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        STANDARD.encode(&der).as_bytes().chunks(64).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("\n")
    );
    Ok(ClientCertificate {
        id: uuid::Uuid::new_v4(),
        thumbprint_sha1: hex_upper(&Sha1::digest(&der)),
        thumbprint_sha256: hex_upper(&Sha256::digest(&der)),
        certificate_pem: pem,
        starts_at: validity.not_before.timestamp() * 1000,
        expires_at: validity.not_after.timestamp() * 1000,
    })
}

fn certificate_der(text: &str) -> Result<Vec<u8>, String> {
    let text = text.trim();
    let body = match text.strip_prefix("-----BEGIN CERTIFICATE-----") {
        Some(rest) => rest.split("-----END CERTIFICATE-----").next().ok_or("unterminated PEM certificate")?,
        None if text.starts_with("-----BEGIN") => {
            return Err("the PEM block is not a CERTIFICATE (give the public certificate only)".into())
        }
        None => text,
    };
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(compact).map_err(|_| "neither a PEM certificate nor base64 DER".to_string())
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Which certificate a header names: SHA-1 (`x5t`) or SHA-256 (`x5t#S256`) thumbprint, in hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Thumbprint {
    Sha1(String),
    Sha256(String),
}

impl Thumbprint {
    pub fn hex(&self) -> &str {
        match self {
            Thumbprint::Sha1(h) | Thumbprint::Sha256(h) => h,
        }
    }

    pub fn names(&self, cert: &ClientCertificate) -> bool {
        match self {
            Thumbprint::Sha1(h) => cert.thumbprint_sha1.eq_ignore_ascii_case(h),
            Thumbprint::Sha256(h) => cert.thumbprint_sha256.eq_ignore_ascii_case(h),
        }
    }
}

/// The claims of a client assertion that the token endpoint checks.
#[derive(Debug, Clone, Deserialize)]
pub struct AssertionClaims {
    #[serde(default)]
    pub aud: Option<serde_json::Value>,
    #[serde(default)]
    pub iss: Option<String>,
    #[serde(default)]
    pub sub: Option<String>,
    /// NumericDate: seconds, possibly with a fraction (MSAL Python sends `time.time() + 600`).
    #[serde(default)]
    pub exp: Option<f64>,
    #[serde(default)]
    pub nbf: Option<f64>,
    #[serde(default)]
    pub jti: Option<String>,
}

impl AssertionClaims {
    /// `exp` in whole seconds (a fraction is dropped).
    pub fn exp_secs(&self) -> Option<i64> {
        self.exp.filter(|v| v.is_finite()).map(|v| v.floor() as i64)
    }

    /// `nbf` in whole seconds (a fraction is dropped).
    pub fn nbf_secs(&self) -> Option<i64> {
        self.nbf.filter(|v| v.is_finite()).map(|v| v.floor() as i64)
    }
}

/// Why an assertion was refused, before the token endpoint turns it into an AADSTS error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssertionError {
    /// Not a JWT, or an unsupported algorithm.
    Malformed,
    /// Neither `x5t` nor `x5t#S256` in the header.
    NoThumbprint,
    /// The signature does not verify with the named certificate.
    BadSignature,
}

/// The header of an assertion: its algorithm (RS256 or PS256) and the certificate it names.
pub fn assertion_header(assertion: &str) -> Result<(Algorithm, Thumbprint), AssertionError> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| AssertionError::Malformed)?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
        return Err(AssertionError::Malformed);
    }
    let hex = |b64: &str| URL_SAFE_NO_PAD.decode(b64.trim_end_matches('=')).map(|b| hex_upper(&b)).map_err(|_| AssertionError::Malformed);
    let thumbprint = match (&header.x5t, &header.x5t_s256) {
        (_, Some(s256)) => Thumbprint::Sha256(hex(s256)?),
        (Some(sha1), None) => Thumbprint::Sha1(hex(sha1)?),
        (None, None) => return Err(AssertionError::NoThumbprint),
    };
    Ok((header.alg, thumbprint))
}

/// The claims of an assertion without checking anything (to learn the client id when the
/// form does not carry `client_id`, as Entra allows).
pub fn unverified_claims(assertion: &str) -> Option<AssertionClaims> {
    let payload = assertion.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?).ok()
}

/// Verify the signature with the certificate's key, and return the claims (not yet checked).
pub fn verify_signature(assertion: &str, alg: Algorithm, cert: &ClientCertificate) -> Result<AssertionClaims, AssertionError> {
    let der = certificate_der(&cert.certificate_pem).map_err(|_| AssertionError::BadSignature)?;
    let (_, parsed) = X509Certificate::from_der(&der).map_err(|_| AssertionError::BadSignature)?;
    let key = match parsed.public_key().parsed() {
        Ok(PublicKey::RSA(rsa)) => {
            let strip = |b: &[u8]| b.iter().position(|x| *x != 0).map(|i| b[i..].to_vec()).unwrap_or_default();
            DecodingKey::from_rsa_raw_components(&strip(rsa.modulus), &strip(rsa.exponent))
        }
        _ => return Err(AssertionError::BadSignature),
    };
    let mut validation = Validation::new(alg);
    // Time and audience are checked by the caller against the injected clock and the endpoint.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &validation).map(|d| d.claims).map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidSignature => AssertionError::BadSignature,
        _ => AssertionError::Malformed,
    })
}

/// `aud` as one string: Entra takes a single audience (a one-element array is accepted too).
pub fn single_audience(aud: Option<&serde_json::Value>) -> Option<&str> {
    match aud? {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Array(a) if a.len() == 1 => a[0].as_str(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_reads_from_pem_and_from_base64_der_with_the_same_thumbprints() {
        // rcgen's ring backend signs with RSA keys but cannot make them: the rsa crate does.
        use rsa::pkcs8::EncodePrivateKey;
        let rsa_key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("an RSA key");
        let pem = rsa_key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).expect("PKCS#8");
        let key = rcgen::KeyPair::from_pem(&pem).expect("rcgen reads it");
        let cert = rcgen::CertificateParams::new(vec!["app".to_string()]).and_then(|p| p.self_signed(&key)).expect("a certificate");
        let from_pem = read_certificate(&cert.pem()).expect("PEM");
        let from_der = read_certificate(&STANDARD.encode(cert.der())).expect("DER");
        assert_eq!(from_pem.thumbprint_sha1, from_der.thumbprint_sha1);
        assert_eq!(from_pem.thumbprint_sha1, hex_upper(&Sha1::digest(cert.der())));
        assert_eq!(from_pem.thumbprint_sha256.len(), 64);
        assert!(from_pem.starts_at < from_pem.expires_at);
        assert!(read_certificate(&key.serialize_pem()).unwrap_err().contains("not a CERTIFICATE"));
        assert!(read_certificate("hello").is_err());
    }

    #[test]
    fn an_ec_certificate_is_refused() {
        let key = rcgen::KeyPair::generate().expect("an EC key");
        let cert = rcgen::CertificateParams::new(vec!["app".to_string()]).and_then(|p| p.self_signed(&key)).expect("a certificate");
        assert!(read_certificate(&cert.pem()).unwrap_err().contains("not RSA"));
    }

    #[test]
    fn one_audience_only() {
        assert_eq!(single_audience(Some(&serde_json::json!("a"))), Some("a"));
        assert_eq!(single_audience(Some(&serde_json::json!(["a"]))), Some("a"));
        assert_eq!(single_audience(Some(&serde_json::json!(["a", "b"]))), None);
        assert_eq!(single_audience(None), None);
    }
}
