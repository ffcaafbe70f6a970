//! Client secrets and user passwords at rest.
//!
//! Client secrets are 40 random characters, so a plain SHA-256 is enough to keep them from being
//! read back (as GitHub does for tokens). Passwords are low-entropy and get Argon2id.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::distributions::{Alphanumeric, DistString};
use sha2::{Digest, Sha256};

/// A new client secret in Entra's shape: 40 characters, with a `~` after a 3-character hint.
pub fn new_client_secret() -> String {
    let mut s = Alphanumeric.sample_string(&mut rand::thread_rng(), 40);
    s.replace_range(3..4, "~");
    s
}

pub fn hash_secret(secret: &str) -> String {
    format!("sha256:{}", STANDARD.encode(Sha256::digest(secret.as_bytes())))
}

pub fn secret_matches(secret: &str, stored_hash: &str) -> bool {
    let computed = hash_secret(secret);
    // Constant-time comparison of equal-length ASCII strings.
    computed.len() == stored_hash.len() && computed.bytes().zip(stored_hash.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).unwrap_or_default()
}

pub fn password_matches(password: &str, stored_hash: &str) -> bool {
    PasswordHash::new(stored_hash).map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok()).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_passwords_round_trip() {
        let s = new_client_secret();
        assert_eq!(s.len(), 40);
        assert!(secret_matches(&s, &hash_secret(&s)));
        assert!(!secret_matches("wrong", &hash_secret(&s)));
        let h = hash_password("P@ssw0rd!");
        assert!(password_matches("P@ssw0rd!", &h));
        assert!(!password_matches("p@ssw0rd!", &h));
        assert!(!password_matches("x", "not a hash"));
    }
}
