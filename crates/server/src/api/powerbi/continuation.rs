//! Continuation tokens of the admin reads (artifact access, subscriptions, activity events).
//!
//! A token is opaque to clients but carries everything the next page needs: which operation and
//! query it continues (so a client may send the token alone, as `continuationUri` does), who may
//! use it (tenant and caller), when it expires (injected clock), and the last key served (keyset
//! paging: never an offset). It is `base64(mac ‖ json)`, the MAC being HMAC-SHA256 (first 16
//! bytes) under a key derived from the server's signing key, so every instance sharing the
//! store accepts the tokens of the others and nobody else can forge or alter one.
//!
//! In JSON the token is percent-encoded (`…%3D`), as the service sends it, and `continuationUri`
//! quotes it: `?continuationToken='…'`. Clients send it back quoted or not, encoded or not.

use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use base64::Engine;

use super::error::PbiError;
use crate::domain::Caller;

const MAC_LEN: usize = 16;
const VERSION: u8 = 1;
/// Longest token accepted (the tokens pbi-access issues are a few hundred bytes).
const MAX_TOKEN_LEN: usize = 4096;

/// Characters left as they are when a token or a path segment goes into a URI or JSON.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

pub fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// The server's key for continuation tokens.
#[derive(Clone)]
pub struct ContinuationKey([u8; 32]);

impl std::fmt::Debug for ContinuationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContinuationKey(…)")
    }
}

/// What a token says. `q` is the query it continues, `k` the last key served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims<Q, K> {
    pub v: u8,
    pub op: String,
    pub t: Uuid,
    pub c: Uuid,
    pub exp: i64,
    pub q: Q,
    pub k: K,
}

/// Why a token was refused; each becomes a 400 with its own message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    Malformed,
    OtherCaller,
    OtherQuery,
    Expired,
}

impl From<TokenProblem> for PbiError {
    fn from(p: TokenProblem) -> PbiError {
        let message = match p {
            TokenProblem::Malformed => "The continuation token is not valid: it is malformed, altered, or was not issued by this service",
            TokenProblem::OtherCaller => "The continuation token was issued to another caller",
            TokenProblem::OtherQuery => {
                "The continuation token belongs to another query: send it to the operation and with the parameters that returned it"
            }
            TokenProblem::Expired => "The continuation token has expired: start the query again",
        };
        PbiError::new(axum::http::StatusCode::BAD_REQUEST, "InvalidContinuationToken", message)
    }
}

impl ContinuationKey {
    /// Derive the key from the signing key's PEM, so instances sharing a store share it.
    pub fn derive(signing_key_pem: &str) -> ContinuationKey {
        let mut mac = Hmac::<Sha256>::new_from_slice(signing_key_pem.as_bytes()).expect("HMAC takes keys of any length");
        mac.update(b"pbi-access continuation tokens v1");
        ContinuationKey(mac.finalize().into_bytes().into())
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }

    /// A token for the next page of `op` for `caller`, valid until `exp` (Unix ms). The result
    /// is the raw token; `percent_encode` it for JSON and URIs.
    pub fn issue<Q: Serialize, K: Serialize>(&self, op: &str, caller: &Caller, exp: i64, query: &Q, last: &K) -> String {
        let claims = Claims { v: VERSION, op: op.to_string(), t: caller.tenant_id, c: caller.object_id, exp, q: query, k: last };
        let json = serde_json::to_vec(&claims).expect("claims serialise");
        let mut mac = self.mac();
        mac.update(&json);
        let tag = mac.finalize().into_bytes();
        let mut raw = Vec::with_capacity(MAC_LEN + json.len());
        raw.extend_from_slice(&tag[..MAC_LEN]);
        raw.extend_from_slice(&json);
        base64::engine::general_purpose::STANDARD.encode(raw)
    }

    /// Check a token the client sent (as it arrived in the query string) for `op` and `caller` at
    /// `now`, and return its query and last key. `same_query` says whether the parameters the
    /// client also sent agree with the token's query.
    pub fn open<Q: DeserializeOwned, K: DeserializeOwned>(
        &self,
        sent: &str,
        op: &str,
        caller: &Caller,
        now: i64,
        same_query: impl FnOnce(&Q) -> bool,
    ) -> Result<(Q, K), TokenProblem> {
        let token = normalise(sent).ok_or(TokenProblem::Malformed)?;
        let raw = base64::engine::general_purpose::STANDARD.decode(token.as_bytes()).map_err(|_| TokenProblem::Malformed)?;
        if raw.len() <= MAC_LEN {
            return Err(TokenProblem::Malformed);
        }
        let (tag, json) = raw.split_at(MAC_LEN);
        let mut mac = self.mac();
        mac.update(json);
        mac.verify_truncated_left(tag).map_err(|_| TokenProblem::Malformed)?;
        // The envelope first, so a token of another operation is "another query", not "malformed".
        let claims: Claims<serde_json::Value, serde_json::Value> = serde_json::from_slice(json).map_err(|_| TokenProblem::Malformed)?;
        if claims.v != VERSION {
            return Err(TokenProblem::Malformed);
        }
        if claims.t != caller.tenant_id || claims.c != caller.object_id {
            return Err(TokenProblem::OtherCaller);
        }
        if claims.op != op {
            return Err(TokenProblem::OtherQuery);
        }
        let query: Q = serde_json::from_value(claims.q).map_err(|_| TokenProblem::Malformed)?;
        let last: K = serde_json::from_value(claims.k).map_err(|_| TokenProblem::Malformed)?;
        if !same_query(&query) {
            return Err(TokenProblem::OtherQuery);
        }
        if now > claims.exp {
            return Err(TokenProblem::Expired);
        }
        Ok((query, last))
    }
}

/// The token as sent: quotes stripped, percent-encoding undone if it is still there, and the
/// `+` that form decoding turned into a space put back (base64 has no spaces).
fn normalise(sent: &str) -> Option<String> {
    let mut token = sent.trim();
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    if token.len() >= 2 && token.starts_with('\'') && token.ends_with('\'') {
        token = &token[1..token.len() - 1];
    }
    let decoded = if token.contains('%') { percent_decode_str(token).decode_utf8().ok()?.into_owned() } else { token.to_string() };
    let decoded = decoded.replace(' ', "+");
    (!decoded.is_empty()).then_some(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CallerKind;

    fn caller(object: Uuid) -> Caller {
        Caller { tenant_id: Uuid::nil(), object_id: object, kind: CallerKind::User { upn: "a@b".into() }, scopes: vec![] }
    }

    #[test]
    fn round_trip_in_every_form_a_client_may_send() {
        let key = ContinuationKey::derive("pem");
        let me = caller(Uuid::from_u128(1));
        let token = key.issue("op", &me, 100, &"q".to_string(), &("last".to_string(), 7i64));
        let encoded = percent_encode(&token);
        for sent in [token.clone(), format!("'{token}'"), encoded.clone(), format!("'{encoded}'"), token.replace('+', " ")] {
            let (q, k): (String, (String, i64)) = key.open(&sent, "op", &me, 50, |q: &String| q == "q").unwrap();
            assert_eq!((q.as_str(), k), ("q", ("last".to_string(), 7)));
        }
    }

    #[test]
    fn refuses_forged_foreign_and_expired_tokens() {
        let key = ContinuationKey::derive("pem");
        let me = caller(Uuid::from_u128(1));
        let token = key.issue("op", &me, 100, &1u8, &0u8);
        let open = |sent: &str, op: &str, who: &Caller, now: i64| key.open::<u8, u8>(sent, op, who, now, |q| *q == 1).map(|_| ());
        assert_eq!(open(&token, "op", &me, 50), Ok(()));
        assert_eq!(open(&token, "op", &caller(Uuid::from_u128(2)), 50), Err(TokenProblem::OtherCaller));
        assert_eq!(open(&token, "other", &me, 50), Err(TokenProblem::OtherQuery));
        assert_eq!(open(&token, "op", &me, 101), Err(TokenProblem::Expired));
        assert_eq!(ContinuationKey::derive("other pem").open::<u8, u8>(&token, "op", &me, 50, |_| true), Err(TokenProblem::Malformed));
        // Flip one bit of the payload.
        let mut raw = base64::engine::general_purpose::STANDARD.decode(&token).unwrap();
        let last = raw.len() - 2;
        raw[last] ^= 1;
        let altered = base64::engine::general_purpose::STANDARD.encode(raw);
        assert_eq!(open(&altered, "op", &me, 50), Err(TokenProblem::Malformed));
        for junk in ["", "''", "abc", "%zz", "LDEsMTAwMDAwLDA%3D", &"A".repeat(5000)] {
            assert_eq!(open(junk, "op", &me, 50), Err(TokenProblem::Malformed), "{junk}");
        }
        assert_eq!(key.open::<u8, u8>(&token, "op", &me, 50, |q| *q == 2).map(|_| ()), Err(TokenProblem::OtherQuery));
    }
}
