//! Tokens and credentials: the signing key ring, access-token issue and verification, refresh
//! and ID tokens, the hashing of client secrets and passwords, and certificate credentials.

pub mod certificates;
pub mod credentials;
pub mod keys;
pub mod lockout;
pub mod refresh;
pub mod tokens;

pub use keys::KeyRing;
pub use refresh::{IdTokenSubject, RefreshError, RefreshGrant};
pub use tokens::{Audience, IssuedToken, TokenError, TokenService, TokenSubject};
