//! Sign-in (authorization code + PKCE S256, state and nonce) against the profile's authority,
//! server-side sessions in the review database (so every instance on it shares them; they expire,
//! and signing out deletes them) behind an `HttpOnly`, `SameSite=Lax` cookie (`Secure` over
//! https), and the per-session CSRF token every form carries.
//!
//! The ID token is validated (signature against the authority's JWKS, issuer, audience, expiry,
//! nonce); the person is its `preferred_username`. The application roles come from the
//! directory: the access token redeemed with the code carries the person's directory roles in
//! `wids`, and the Fabric administrator role makes a campaign owner.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use pbi_server::review::{PendingSignIn, SignedIn};

use super::extract::{Posted, Signed};
use super::{problem, Options, Shared};
use crate::cli::profile::Profile;

const COOKIE: &str = "pbi_review_session";
/// How long a session lasts, and how long a sign-in may take.
const SESSION_MS: i64 = 8 * 3_600_000;
const PENDING_MS: i64 = 10 * 60_000;
/// The Fabric Administrator directory role, as Entra puts it in `wids`.
pub const FABRIC_ADMIN_ROLE: &str = "a9ea8996-122f-4c74-9520-8edcd192826c";
const SCOPE: &str = "openid profile https://analysis.windows.net/powerbi/api/.default";

/// The signed-in person, as pages see them.
#[derive(Debug, Clone)]
pub struct Me {
    /// Lower-case UPN.
    pub upn: String,
    pub name: String,
    /// A Fabric administrator: creates and closes campaigns.
    pub admin: bool,
    pub csrf: String,
}

pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn cookie_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// The person signed in with the request's session cookie, if any (from the review database).
pub async fn session_of(app: &Shared, headers: &HeaderMap) -> Result<Option<Me>, String> {
    let Some(token) = cookie_of(headers) else { return Ok(None) };
    let signed = app.store.review_session(&token, app.now_ms()).await.map_err(|e| format!("reading the session: {e}"))?;
    Ok(signed.map(|s| Me { upn: s.upn, name: s.name, admin: s.admin, csrf: s.csrf }))
}

#[derive(Debug, Clone, Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

/// The authority as the web application sees it.
pub struct Oidc {
    authority: String,
    tenant: String,
    client_id: String,
    client_secret: Option<String>,
    redirect_uri: String,
    http: reqwest::Client,
    meta: OnceCell<Metadata>,
}

impl Oidc {
    pub fn new(profile: &Profile, o: &Options, base_url: &str) -> Result<Oidc, String> {
        let tenant = profile.tenant.clone().ok_or("no tenant: set it in the profile or PBI_ACCESS_TENANT")?;
        Ok(Oidc {
            authority: profile.authority_url.trim_end_matches('/').to_string(),
            tenant,
            client_id: o.client_id.clone(),
            client_secret: o.client_secret.clone().or_else(|| profile.client_secret.clone()),
            redirect_uri: format!("{base_url}{}", pbi_wire::oauth::DEMO_REVIEW_REDIRECT_PATH),
            http: reqwest::Client::new(),
            meta: OnceCell::new(),
        })
    }

    async fn metadata(&self) -> Result<&Metadata, String> {
        self.meta
            .get_or_try_init(|| async {
                let url = format!("{}/{}/v2.0/.well-known/openid-configuration", self.authority, self.tenant);
                let r = self.http.get(&url).send().await.map_err(|e| format!("cannot reach the authority: {e}"))?;
                if !r.status().is_success() {
                    return Err(format!("the authority's OpenID configuration answered {}", r.status()));
                }
                r.json::<Metadata>().await.map_err(|e| format!("the authority's OpenID configuration: {e}"))
            })
            .await
    }
}

/// "Sign in": to the authority's `/authorize` with PKCE, state and nonce.
pub async fn signin(State(app): State<Shared>) -> Response {
    let meta = match app.oidc.metadata().await {
        Ok(m) => m,
        Err(e) => return super::failure(None, e),
    };
    let (state, verifier, nonce) = (random_token(), random_token(), random_token());
    let pending = PendingSignIn { verifier: verifier.clone(), nonce: nonce.clone(), expires_at: app.now_ms() + PENDING_MS };
    if let Err(e) = app.store.create_review_signin(&state, &pending).await {
        return super::failure(None, e);
    }
    let url = reqwest::Url::parse_with_params(
        &meta.authorization_endpoint,
        &[
            ("client_id", app.oidc.client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", app.oidc.redirect_uri.as_str()),
            ("response_mode", "query"),
            ("scope", SCOPE),
            ("state", state.as_str()),
            ("nonce", nonce.as_str()),
            ("code_challenge", challenge(&verifier).as_str()),
            ("code_challenge_method", "S256"),
        ],
    );
    match url {
        Ok(url) => Redirect::to(url.as_str()).into_response(),
        Err(e) => super::failure(None, format!("the authorization endpoint is not a URL: {e}")),
    }
}

#[derive(Debug, Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct Tokens {
    access_token: String,
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct IdClaims {
    nonce: Option<String>,
    preferred_username: Option<String>,
    name: Option<String>,
}

fn refused(message: &str) -> Response {
    problem(StatusCode::BAD_REQUEST, None, "Sign-in did not complete", message)
}

/// The redirect back from `/authorize`: redeem the code, validate the ID token, start a session.
pub async fn callback(State(app): State<Shared>, Query(q): Query<Callback>) -> Response {
    if let Some(error) = q.error {
        return refused(&format!("The sign-in service refused: {error}: {}", q.error_description.unwrap_or_default()));
    }
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return refused("The sign-in response has no code or state. Start again from Sign in.");
    };
    let now = app.now_ms();
    let pending = match app.store.take_review_signin(&state, now).await {
        Ok(p) => p,
        Err(e) => return super::failure(None, e),
    };
    let Some(pending) = pending else {
        return refused("This sign-in response is unknown or too old (or was used already). Start again from Sign in.");
    };
    let meta = match app.oidc.metadata().await {
        Ok(m) => m,
        Err(e) => return super::failure(None, e),
    };
    let mut form = vec![
        ("grant_type", "authorization_code".to_string()),
        ("code", code),
        ("redirect_uri", app.oidc.redirect_uri.clone()),
        ("client_id", app.oidc.client_id.clone()),
        ("code_verifier", pending.verifier.clone()),
        ("scope", SCOPE.to_string()),
    ];
    if let Some(secret) = &app.oidc.client_secret {
        form.push(("client_secret", secret.clone()));
    }
    let r = match app.oidc.http.post(&meta.token_endpoint).form(&form).send().await {
        Ok(r) => r,
        Err(e) => return super::failure(None, format!("cannot reach the token endpoint: {e}")),
    };
    if !r.status().is_success() {
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        return refused(&format!(
            "The token endpoint refused the code: {}",
            body["error_description"].as_str().or(body["error"].as_str()).unwrap_or("no reason given")
        ));
    }
    let tokens: Tokens = match r.json().await {
        Ok(t) => t,
        Err(e) => return super::failure(None, format!("the token response: {e}")),
    };
    let Some(id_token) = tokens.id_token else {
        return refused("The token endpoint returned no ID token.");
    };
    let claims = match validate_id_token(&app, meta, &id_token).await {
        Ok(c) => c,
        Err(e) => return refused(&format!("The ID token is not valid: {e}")),
    };
    if claims.nonce.as_deref() != Some(pending.nonce.as_str()) {
        return refused("The ID token's nonce is not the one this sign-in sent.");
    }
    let Some(upn) = claims.preferred_username.map(|u| u.to_lowercase()) else {
        return refused("The ID token names no user (preferred_username).");
    };
    // The access token came straight from the token endpoint over this back channel; its `wids`
    // are the person's directory roles.
    let admin = token_claims(&tokens.access_token)
        .and_then(|c| c.get("wids").cloned())
        .and_then(|w| serde_json::from_value::<Vec<String>>(w).ok())
        .is_some_and(|w| w.iter().any(|r| r.eq_ignore_ascii_case(FABRIC_ADMIN_ROLE)));
    let id = random_token();
    let upn_name = claims.name.unwrap_or_else(|| upn.clone());
    let signed = SignedIn { name: upn_name, upn, admin, csrf: random_token(), expires_at: now + SESSION_MS };
    if let Err(e) = app.store.create_review_session(&id, &signed, now).await {
        return super::failure(None, e);
    }
    let cookie = format!(
        "{COOKIE}={id}; Path=/review; HttpOnly; SameSite=Lax; Max-Age={}{}",
        SESSION_MS / 1000,
        if app.secure() { "; Secure" } else { "" }
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to("/review/")).into_response()
}

fn token_claims(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

async fn validate_id_token(app: &Shared, meta: &Metadata, token: &str) -> Result<IdClaims, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let jwks: jsonwebtoken::jwk::JwkSet = app
        .oidc
        .http
        .get(&meta.jwks_uri)
        .send()
        .await
        .map_err(|e| format!("cannot read the signing keys: {e}"))?
        .json()
        .await
        .map_err(|e| format!("the signing keys: {e}"))?;
    let jwk = match &header.kid {
        Some(kid) => jwks.find(kid),
        None => jwks.keys.first(),
    }
    .ok_or("it is signed with a key the authority does not publish")?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[&app.oidc.client_id]);
    validation.set_issuer(&[&meta.issuer]);
    jsonwebtoken::decode::<IdClaims>(token, &key, &validation).map(|d| d.claims).map_err(|e| e.to_string())
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

impl super::extract::CsrfForm for CsrfOnly {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Sign out: the session ends here, on every instance (the authority's own session is the authority's).
pub async fn signout(State(app): State<Shared>, headers: HeaderMap, _: Signed, _: Posted<CsrfOnly>) -> Response {
    if let Some(id) = cookie_of(&headers) {
        if let Err(e) = app.store.delete_review_session(&id).await {
            return super::failure(None, e);
        }
    }
    let cookie = format!("{COOKIE}=; Path=/review; HttpOnly; SameSite=Lax; Max-Age=0{}", if app.secure() { "; Secure" } else { "" });
    ([(header::SET_COOKIE, cookie)], Redirect::to("/review/")).into_response()
}
