//! Access tokens shaped like Entra ID's v1 tokens for Power BI: RS256, `kid` in the header,
//! `aud` = the Power BI resource, `iss` = `https://sts.windows.net/{tid}/`.
//!
//! Expiry is checked here against the injected clock (jsonwebtoken's own `exp` check reads the
//! system time, so it is switched off).

use std::sync::Arc;

use jsonwebtoken::{Algorithm, Header, Validation};
use pbi_wire::oauth::{GRAPH_RESOURCE, POWERBI_RESOURCE};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::KeyRing;
use crate::clock::SharedClock;
use crate::domain::{Caller, CallerKind};

/// The claims pbi-access puts in (and reads from) an access token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub tid: String,
    pub oid: String,
    pub sub: String,
    pub appid: String,
    /// 1 = authenticated with a client secret; 0 = public client.
    pub appidacr: String,
    /// `app` or `user`.
    pub idtyp: String,
    pub ver: String,
    pub uti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wids: Vec<String>,
    /// Never set on access tokens. Refresh tokens carry `refresh` here (see `auth::refresh`), and
    /// the verifier refuses any token that has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_use: Option<String>,
}

/// Which API an access token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// `https://analysis.windows.net/powerbi/api`
    PowerBi,
    /// `https://graph.microsoft.com`
    Graph,
}

impl Audience {
    fn of(aud: &str) -> Option<Audience> {
        match aud.trim_end_matches('/') {
            POWERBI_RESOURCE => Some(Audience::PowerBi),
            GRAPH_RESOURCE | "00000003-0000-0000-c000-000000000000" => Some(Audience::Graph),
            _ => None,
        }
    }
}

/// Application permissions of Graph tokens (as if an administrator had consented to them).
const GRAPH_APP_ROLES: &[&str] = &["Directory.ReadWrite.All", "Group.ReadWrite.All", "Organization.Read.All", "User.ReadWrite.All"];

/// Whom a token is for.
#[derive(Debug, Clone)]
pub enum TokenSubject {
    /// Client credentials: the service principal itself.
    /// `roles`: the application permissions granted for Power BI (Graph tokens carry Graph's).
    App { tenant: Uuid, object_id: Uuid, app_id: Uuid, display_name: String, roles: Vec<String> },
    /// Delegated: a user signed in through `client_app`.
    User { tenant: Uuid, object_id: Uuid, upn: String, display_name: String, client_app: Uuid, scopes: Vec<String>, wids: Vec<String> },
}

#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: u64,
    pub scope: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token is malformed")]
    Malformed,
    #[error("the access token signature is invalid")]
    BadSignature,
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is not valid yet")]
    NotYetValid,
    #[error("the access token is not for the Power BI API")]
    WrongAudience,
    #[error("the access token was issued for another tenant or by another issuer")]
    WrongIssuer,
    #[error("the token is not an access token")]
    NotAnAccessToken,
}

pub struct TokenService {
    /// Tokens already verified, with the caller and `exp`: an RSA check per request is the
    /// largest fixed cost of a read. Expiry is still checked on every hit.
    verified: std::sync::RwLock<std::collections::HashMap<String, (Caller, i64, Audience)>>,
    keys: Arc<KeyRing>,
    clock: SharedClock,
    lifetime_secs: u64,
    skew_secs: i64,
    validation: Validation,
}

pub fn issuer_for(tenant: Uuid) -> String {
    format!("https://sts.windows.net/{tenant}/")
}

impl TokenService {
    pub fn new(keys: Arc<KeyRing>, clock: SharedClock, lifetime_secs: u64, skew_secs: u64) -> TokenService {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        TokenService { verified: Default::default(), keys, clock, lifetime_secs, skew_secs: skew_secs as i64, validation }
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    pub(crate) fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Access-token lifetime; ID tokens live as long.
    pub(crate) fn lifetime_secs(&self) -> u64 {
        self.lifetime_secs
    }

    /// Sign claims with the current key: RS256, `kid`, and the given `typ`.
    pub(crate) fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.keys.kid.clone());
        header.typ = Some(typ.into());
        jsonwebtoken::encode(&header, claims, &self.keys.encoding).expect("RS256 signing with a valid key cannot fail")
    }

    /// Check the algorithm, `kid` and signature only; lifetime and meaning are the caller's job.
    pub(crate) fn decode_signed<T: serde::de::DeserializeOwned>(&self, token: &str) -> Option<T> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::RS256 || header.kid.as_deref() != Some(self.keys.kid.as_str()) {
            return None;
        }
        jsonwebtoken::decode::<T>(token, &self.keys.decoding, &self.validation).ok().map(|d| d.claims)
    }

    pub fn issue(&self, subject: &TokenSubject) -> IssuedToken {
        self.issue_for(subject, Audience::PowerBi)
    }

    /// An access token for `audience`. Graph application tokens carry the directory and
    /// license permissions pbi-access's Graph subset checks for in `roles`.
    pub fn issue_for(&self, subject: &TokenSubject, audience: Audience) -> IssuedToken {
        let now = self.clock.now().timestamp();
        let exp = now + self.lifetime_secs as i64;
        let mut claims = AccessClaims {
            aud: POWERBI_RESOURCE.to_string(),
            iss: String::new(),
            iat: now,
            nbf: now,
            exp,
            tid: String::new(),
            oid: String::new(),
            sub: String::new(),
            appid: String::new(),
            appidacr: String::new(),
            idtyp: String::new(),
            ver: "1.0".into(),
            uti: Uuid::new_v4().simple().to_string(),
            scp: None,
            roles: Vec::new(),
            upn: None,
            unique_name: None,
            name: None,
            wids: Vec::new(),
            token_use: None,
        };
        let scope = match subject {
            TokenSubject::App { tenant, object_id, app_id, display_name: _, roles } => {
                claims.roles = roles.clone();
                claims.tid = tenant.to_string();
                claims.oid = object_id.to_string();
                claims.sub = object_id.to_string();
                claims.appid = app_id.to_string();
                claims.appidacr = "1".into();
                claims.idtyp = "app".into();
                None
            }
            TokenSubject::User { tenant, object_id, upn, display_name, client_app, scopes, wids } => {
                claims.tid = tenant.to_string();
                claims.oid = object_id.to_string();
                claims.sub = object_id.to_string();
                claims.appid = client_app.to_string();
                claims.appidacr = "0".into();
                claims.idtyp = "user".into();
                claims.scp = Some(scopes.join(" "));
                claims.upn = Some(upn.clone());
                claims.unique_name = Some(upn.clone());
                claims.name = Some(display_name.clone());
                claims.wids = wids.clone();
                // Entra answers Graph's scopes in short form, every other resource's as URIs.
                Some(match audience {
                    Audience::Graph => scopes.join(" "),
                    Audience::PowerBi => scopes.iter().map(|s| format!("{POWERBI_RESOURCE}/{s}")).collect::<Vec<_>>().join(" "),
                })
            }
        };
        if audience == Audience::Graph {
            claims.aud = GRAPH_RESOURCE.to_string();
            if matches!(subject, TokenSubject::App { .. }) {
                // The directory permissions every Graph application token carries, and those granted.
                let granted = std::mem::take(&mut claims.roles);
                claims.roles = GRAPH_APP_ROLES.iter().map(|r| r.to_string()).chain(granted).collect();
            }
        }
        claims.iss = issuer_for(claims.tid.parse().unwrap_or_default());
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.keys.kid.clone());
        header.typ = Some("JWT".into());
        let access_token = jsonwebtoken::encode(&header, &claims, &self.keys.encoding).expect("RS256 signing with a valid key cannot fail");
        IssuedToken { access_token, expires_in: self.lifetime_secs.saturating_sub(1), scope }
    }

    /// Verify signature, audience, issuer/tenant agreement and lifetime; return the caller.
    pub fn verify(&self, token: &str) -> Result<Caller, TokenError> {
        self.verify_for(token, &[Audience::PowerBi])
    }

    /// Verify a token meant for one of `audiences` (Graph accepts its own tokens and, leniently,
    /// Power BI ones; Power BI accepts only its own).
    pub fn verify_for(&self, token: &str, audiences: &[Audience]) -> Result<Caller, TokenError> {
        let now = self.clock.now().timestamp();
        if let Some((caller, exp, audience)) = self.verified.read().ok().and_then(|v| v.get(token).cloned()) {
            if !audiences.contains(&audience) {
                return Err(TokenError::WrongAudience);
            }
            return if now > exp + self.skew_secs { Err(TokenError::Expired) } else { Ok(caller) };
        }
        let (caller, exp, audience) = self.verify_uncached(token)?;
        if !audiences.contains(&audience) {
            return Err(TokenError::WrongAudience);
        }
        if let Ok(mut verified) = self.verified.write() {
            if verified.len() >= 10_000 {
                verified.clear();
            }
            verified.insert(token.to_string(), (caller.clone(), exp, audience));
        }
        Ok(caller)
    }

    fn verify_uncached(&self, token: &str) -> Result<(Caller, i64, Audience), TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::RS256 || header.kid.as_deref() != Some(self.keys.kid.as_str()) {
            return Err(TokenError::BadSignature);
        }
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.keys.decoding, &self.validation).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::BadSignature,
            // Signed by us but not shaped like an access token: a refresh token, say.
            _ if header.typ.as_deref() == Some(crate::auth::refresh::REFRESH_TYP) => TokenError::NotAnAccessToken,
            _ => TokenError::Malformed,
        })?;
        let claims = data.claims;
        if claims.token_use.is_some() {
            return Err(TokenError::NotAnAccessToken);
        }
        let now = self.clock.now().timestamp();
        if now > claims.exp + self.skew_secs {
            return Err(TokenError::Expired);
        }
        if now + self.skew_secs < claims.nbf {
            return Err(TokenError::NotYetValid);
        }
        let audience = Audience::of(&claims.aud).ok_or(TokenError::WrongAudience)?;
        let tenant_id: Uuid = claims.tid.parse().map_err(|_| TokenError::Malformed)?;
        if claims.iss != issuer_for(tenant_id) {
            return Err(TokenError::WrongIssuer);
        }
        let object_id: Uuid = claims.oid.parse().map_err(|_| TokenError::Malformed)?;
        let kind = match claims.idtyp.as_str() {
            "app" => CallerKind::App { app_id: claims.appid.parse().map_err(|_| TokenError::Malformed)? },
            "user" => CallerKind::User { upn: claims.upn.clone().ok_or(TokenError::Malformed)? },
            _ => return Err(TokenError::Malformed),
        };
        let scopes = claims.scp.map(|s| s.split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect()).unwrap_or_default();
        Ok((Caller { tenant_id, object_id, kind, scopes }, claims.exp, audience))
    }
}

/// A token service for unit tests, on one key generated once per test process.
#[cfg(test)]
pub(crate) fn test_service(clock: Arc<crate::clock::ManualClock>) -> TokenService {
    static KEY: std::sync::OnceLock<crate::store::StoredKey> = std::sync::OnceLock::new();
    let stored = KEY.get_or_init(|| crate::auth::keys::generate().unwrap());
    TokenService::new(Arc::new(KeyRing::from_stored(stored).unwrap()), clock, 3600, 300)
}

#[cfg(test)]
mod tests {
    use super::test_service as service;
    use super::*;
    use crate::clock::ManualClock;

    fn app(tenant: Uuid) -> TokenSubject {
        TokenSubject::App { tenant, object_id: Uuid::new_v4(), app_id: Uuid::new_v4(), display_name: "app".into(), roles: Vec::new() }
    }

    #[test]
    fn issued_tokens_verify_until_expiry_plus_skew() {
        let clock = ManualClock::starting_now();
        let svc = service(clock.clone());
        let tenant = Uuid::new_v4();
        let token = svc.issue(&app(tenant));
        assert_eq!(token.expires_in, 3599);
        let caller = svc.verify(&token.access_token).unwrap();
        assert_eq!(caller.tenant_id, tenant);
        assert!(caller.is_app());
        clock.advance(std::time::Duration::from_secs(3600 + 299));
        assert!(svc.verify(&token.access_token).is_ok());
        clock.advance(std::time::Duration::from_secs(2));
        assert_eq!(svc.verify(&token.access_token), Err(TokenError::Expired));
    }

    #[test]
    fn tampered_tokens_are_refused() {
        let svc = service(ManualClock::starting_now());
        let token = svc.issue(&app(Uuid::new_v4())).access_token;
        let mut parts: Vec<&str> = token.split('.').collect();
        let other = svc.issue(&app(Uuid::new_v4())).access_token;
        let other_payload = other.split('.').nth(1).unwrap().to_string();
        parts[1] = &other_payload;
        assert_eq!(svc.verify(&parts.join(".")), Err(TokenError::BadSignature));
        assert_eq!(svc.verify("not-a-jwt"), Err(TokenError::Malformed));
    }
}
