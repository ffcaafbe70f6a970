//! The RS256 key ring: one RSA key, kept in the store, published as a JWKS.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{DecodingKey, EncodingKey};
use pbi_wire::oauth::Jwk;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use sha2::{Digest, Sha256};

use crate::store::StoredKey;

pub struct KeyRing {
    pub kid: String,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    pub jwk: Jwk,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// A fresh 2048-bit RSA key. The `kid` is derived from the modulus, as a thumbprint.
pub fn generate() -> anyhow::Result<StoredKey> {
    let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)?;
    let pem = key.to_pkcs8_pem(LineEnding::LF)?;
    let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(key.n().to_bytes_be())[..20]);
    Ok(StoredKey { kid, private_pem: pem.to_string() })
}

impl KeyRing {
    pub fn from_stored(stored: &StoredKey) -> anyhow::Result<KeyRing> {
        let key = RsaPrivateKey::from_pkcs8_pem(&stored.private_pem)?;
        let n = URL_SAFE_NO_PAD.encode(key.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(key.e().to_bytes_be());
        Ok(KeyRing {
            kid: stored.kid.clone(),
            encoding: EncodingKey::from_rsa_pem(stored.private_pem.as_bytes())?,
            decoding: DecodingKey::from_rsa_components(&n, &e)?,
            jwk: Jwk { kty: "RSA".into(), use_: "sig".into(), kid: stored.kid.clone(), n, e, alg: Some("RS256".into()) },
        })
    }
}
