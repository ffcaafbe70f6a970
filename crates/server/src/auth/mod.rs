//! Tokens and credentials: the signing key ring, access-token issue and verification, and the
//! hashing of client secrets and passwords.

pub mod credentials;
pub mod keys;
pub mod tokens;

pub use keys::KeyRing;
pub use tokens::{IssuedToken, TokenError, TokenService, TokenSubject};
