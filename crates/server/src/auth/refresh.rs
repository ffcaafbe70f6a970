//! Refresh tokens and OpenID Connect ID tokens.
//!
//! Refresh tokens are RS256 JWTs signed with the same key as access tokens, with header `typ`
//! `rt+jwt` and the claim `"token_use":"refresh"`, whose audience is the client (application)
//! id. Each carries its id (`uti`) and family (`fam`); the token grant spends the id in the store
//! (rotation, `store::RefreshUse`) and re-reads the user from the directory, so a deleted or
//! disabled user cannot refresh. The access-token verifier refuses anything carrying
//! `token_use`, and the refresh verifier refuses anything without `"token_use":"refresh"`, so
//! neither kind is accepted as the other.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::tokens::issuer_for;
use super::TokenService;

/// Entra ID's refresh-token inactivity lifetime: 90 days.
pub const REFRESH_LIFETIME_SECS: i64 = 90 * 24 * 3600;

const REFRESH_USE: &str = "refresh";
/// The JOSE header `typ` of refresh tokens (access and ID tokens say `JWT`).
pub const REFRESH_TYP: &str = "rt+jwt";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RefreshClaims {
    token_use: String,
    /// The client (application) id the token was issued to.
    aud: String,
    iss: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    tid: String,
    oid: String,
    sub: String,
    /// "1" when the client authenticated with a secret when the grant began: it must again.
    appidacr: String,
    /// Granted delegated Power BI scopes, short form, space-separated.
    scp: String,
    uti: String,
    /// The family (one sign-in) the token belongs to; tokens issued before families existed
    /// have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fam: Option<String>,
}

/// What a refresh token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshGrant {
    pub tenant: Uuid,
    pub user: Uuid,
    pub client_id: Uuid,
    pub scopes: Vec<String>,
    /// The client authenticated with its secret (a confidential client).
    pub confidential: bool,
    /// When the original sign-in happened is not tracked; this is when this token was issued.
    pub issued_at: i64,
    /// The refresh-token family (see `store::RefreshUse`); `None` on tokens issued before
    /// rotation was tracked.
    pub family: Option<Uuid>,
    /// This token's own id (`uti`): issued with it when not empty, read back by verification.
    pub token_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    /// Not a JWT, not signed by us, or not a refresh token (an access or ID token, say).
    #[error("the refresh token is malformed or invalid")]
    Invalid,
    #[error("the refresh token has expired")]
    Expired { issued_at: i64 },
    #[error("the refresh token was issued to another client")]
    WrongClient,
    #[error("the refresh token was issued in another tenant")]
    WrongTenant,
}

/// Whom an ID token describes; the optional claims follow the `profile` and `email` scopes.
#[derive(Debug, Clone)]
pub struct IdTokenSubject<'a> {
    /// `{public_url}/{tid}/v2.0`, the v2.0 issuer of the OpenID configuration.
    pub issuer: &'a str,
    pub tenant: Uuid,
    pub user: Uuid,
    pub client_id: Uuid,
    pub name: Option<&'a str>,
    pub preferred_username: Option<&'a str>,
    pub email: Option<&'a str>,
    /// The authorization request's `nonce`, echoed so the client can match the token to it.
    pub nonce: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct IdClaims {
    aud: String,
    iss: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    oid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    preferred_username: Option<String>,
    sub: String,
    tid: String,
    uti: String,
    ver: String,
}

/// MSAL's `client_info`: base64url of `{"uid":"<object id>","utid":"<tenant id>"}`.
pub fn client_info(user: Uuid, tenant: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::json!({ "uid": user.to_string(), "utid": tenant.to_string() }).to_string())
}

/// Entra's `sub` is pairwise: stable for one user and one application, different across apps.
pub(crate) fn pairwise_subject(user: Uuid, client_id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(format!("{user}:{client_id}").as_bytes()))
}

impl TokenService {
    /// A new refresh token for the grant, valid for 90 days from now (injected clock).
    pub fn issue_refresh(&self, grant: &RefreshGrant) -> String {
        let now = self.clock().now().timestamp();
        let claims = RefreshClaims {
            token_use: REFRESH_USE.into(),
            aud: grant.client_id.to_string(),
            iss: issuer_for(grant.tenant),
            iat: now,
            nbf: now,
            exp: now + REFRESH_LIFETIME_SECS,
            tid: grant.tenant.to_string(),
            oid: grant.user.to_string(),
            sub: grant.user.to_string(),
            appidacr: if grant.confidential { "1" } else { "0" }.into(),
            scp: grant.scopes.join(" "),
            uti: if grant.token_id.is_empty() { Uuid::new_v4().simple().to_string() } else { grant.token_id.clone() },
            fam: grant.family.map(|f| f.to_string()),
        };
        self.sign(REFRESH_TYP, &claims)
    }

    /// Check a refresh token's signature, kind and lifetime, then that it belongs to this tenant
    /// and this client. The user is not looked at here: the caller re-reads the directory.
    pub fn verify_refresh(&self, token: &str, tenant: Uuid, client_id: Uuid) -> Result<RefreshGrant, RefreshError> {
        let claims: RefreshClaims = self.decode_signed(token).ok_or(RefreshError::Invalid)?;
        if claims.token_use != REFRESH_USE {
            return Err(RefreshError::Invalid);
        }
        let parsed_tenant: Uuid = claims.tid.parse().map_err(|_| RefreshError::Invalid)?;
        let user: Uuid = claims.oid.parse().map_err(|_| RefreshError::Invalid)?;
        let aud: Uuid = claims.aud.parse().map_err(|_| RefreshError::Invalid)?;
        if claims.iss != issuer_for(parsed_tenant) {
            return Err(RefreshError::Invalid);
        }
        if self.clock().now().timestamp() >= claims.exp {
            return Err(RefreshError::Expired { issued_at: claims.iat });
        }
        if parsed_tenant != tenant {
            return Err(RefreshError::WrongTenant);
        }
        if aud != client_id {
            return Err(RefreshError::WrongClient);
        }
        Ok(RefreshGrant {
            tenant,
            user,
            client_id,
            scopes: claims.scp.split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect(),
            confidential: claims.appidacr == "1",
            issued_at: claims.iat,
            family: claims.fam.as_deref().map(Uuid::parse_str).transpose().map_err(|_| RefreshError::Invalid)?,
            token_id: claims.uti,
        })
    }

    /// The tenant and client of an ID token this server signed (`id_token_hint` of a sign-out);
    /// an expired one still names them, as Entra accepts it.
    pub fn id_token_hint(&self, token: &str) -> Option<(Uuid, Uuid)> {
        let claims: IdClaims = self.decode_signed(token)?;
        Some((claims.tid.parse().ok()?, claims.aud.parse().ok()?))
    }

    /// A v2.0 ID token for the user, for the client, as Entra issues with the `openid` scope.
    pub fn issue_id_token(&self, subject: &IdTokenSubject<'_>) -> String {
        let now = self.clock().now().timestamp();
        let claims = IdClaims {
            aud: subject.client_id.to_string(),
            iss: subject.issuer.to_string(),
            iat: now,
            nbf: now,
            exp: now + self.lifetime_secs() as i64,
            email: subject.email.map(str::to_string),
            name: subject.name.map(str::to_string),
            nonce: subject.nonce.map(str::to_string),
            oid: subject.user.to_string(),
            preferred_username: subject.preferred_username.map(str::to_string),
            sub: pairwise_subject(subject.user, subject.client_id),
            tid: subject.tenant.to_string(),
            uti: Uuid::new_v4().simple().to_string(),
            ver: "2.0".into(),
        };
        self.sign("JWT", &claims)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::auth::tokens::test_service as service;
    use crate::auth::{KeyRing, TokenError, TokenSubject};
    use crate::clock::{Clock, ManualClock};

    fn grant() -> RefreshGrant {
        RefreshGrant {
            tenant: Uuid::new_v4(),
            user: Uuid::new_v4(),
            client_id: Uuid::new_v4(),
            scopes: vec!["Workspace.Read.All".into(), "Tenant.Read.All".into()],
            confidential: true,
            issued_at: 0,
            family: Some(Uuid::new_v4()),
            token_id: "t1".into(),
        }
    }

    #[test]
    fn refresh_tokens_round_trip_until_90_days() {
        let clock = ManualClock::starting_now();
        let svc = service(clock.clone());
        let g = grant();
        let token = svc.issue_refresh(&g);
        let back = svc.verify_refresh(&token, g.tenant, g.client_id).unwrap();
        assert_eq!(back, RefreshGrant { issued_at: clock.now().timestamp(), ..g.clone() });
        assert_eq!(svc.verify_refresh(&token, Uuid::new_v4(), g.client_id), Err(RefreshError::WrongTenant));
        assert_eq!(svc.verify_refresh(&token, g.tenant, Uuid::new_v4()), Err(RefreshError::WrongClient));
        clock.advance(Duration::from_secs(REFRESH_LIFETIME_SECS as u64 - 1));
        assert!(svc.verify_refresh(&token, g.tenant, g.client_id).is_ok());
        clock.advance(Duration::from_secs(1));
        assert!(matches!(svc.verify_refresh(&token, g.tenant, g.client_id), Err(RefreshError::Expired { .. })));
    }

    #[test]
    fn access_refresh_and_id_tokens_are_never_confused() {
        let svc = service(ManualClock::starting_now());
        let g = grant();
        let refresh = svc.issue_refresh(&g);
        assert_eq!(svc.verify(&refresh).unwrap_err(), TokenError::NotAnAccessToken, "a refresh token is no access token");

        let access = svc
            .issue(&TokenSubject::User {
                tenant: g.tenant,
                object_id: g.user,
                upn: "u@x".into(),
                display_name: "U".into(),
                client_app: g.client_id,
                scopes: g.scopes.clone(),
                wids: vec![],
            })
            .access_token;
        assert!(svc.verify(&access).is_ok());
        assert_eq!(svc.verify_refresh(&access, g.tenant, g.client_id), Err(RefreshError::Invalid), "an access token is no refresh token");

        let id = svc.issue_id_token(&IdTokenSubject {
            issuer: "https://x/t/v2.0",
            tenant: g.tenant,
            user: g.user,
            client_id: g.client_id,
            name: Some("U"),
            preferred_username: Some("u@x"),
            email: None,
            nonce: None,
        });
        assert!(svc.verify(&id).is_err(), "an ID token is no access token");
        assert_eq!(svc.verify_refresh(&id, g.tenant, g.client_id), Err(RefreshError::Invalid));

        // Forged: a refresh token's claims signed by another key.
        let foreign = service_with_other_key();
        assert_eq!(svc.verify_refresh(&foreign.issue_refresh(&g), g.tenant, g.client_id), Err(RefreshError::Invalid));
        assert_eq!(svc.verify_refresh("not.a.jwt", g.tenant, g.client_id), Err(RefreshError::Invalid));
        assert_eq!(svc.verify_refresh("", g.tenant, g.client_id), Err(RefreshError::Invalid));
    }

    fn service_with_other_key() -> TokenService {
        let mut stored = crate::auth::keys::generate().unwrap();
        // Same kid as ours, different key: only the signature can tell.
        stored.kid = service(ManualClock::starting_now()).keys().kid.clone();
        TokenService::new(Arc::new(KeyRing::from_stored(&stored).unwrap()), ManualClock::starting_now(), 3600, 300)
    }

    #[test]
    fn client_info_decodes_to_uid_and_utid() {
        let (user, tenant) = (Uuid::new_v4(), Uuid::new_v4());
        let decoded: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(client_info(user, tenant)).unwrap()).unwrap();
        assert_eq!(decoded, serde_json::json!({ "uid": user.to_string(), "utid": tenant.to_string() }));
        assert_ne!(pairwise_subject(user, Uuid::new_v4()), pairwise_subject(user, Uuid::new_v4()));
    }
}
