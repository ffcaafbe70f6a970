//! Access tokens: the token-endpoint client ([`TokenClient`]) and a cached, shared token source
//! ([`TokenSource`]) that refreshes shortly before expiry and lets one request serve every
//! concurrent caller.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pbi_wire::oauth::{OAuthErrorBody, TokenResponse, POWERBI_DEFAULT_SCOPE};
use pbi_wire::ops::identity;

use sha1::{Digest, Sha1};

use crate::error::{ClientError, Result};
use crate::time::SharedClock;
use crate::{encode_segment, Endpoints};

/// The `client_assertion_type` of a JWT client assertion (RFC 7523).
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The scope of Microsoft Graph application permissions.
pub const GRAPH_DEFAULT_SCOPE: &str = "https://graph.microsoft.com/.default";

/// Gets access tokens from an Entra-compatible authority (`{authority}/{tenant}/oauth2/v2.0/token`).
#[derive(Debug, Clone)]
pub struct TokenClient {
    http: reqwest::Client,
    authority: String,
}

impl TokenClient {
    pub fn new(http: reqwest::Client, endpoints: &Endpoints) -> TokenClient {
        TokenClient { http, authority: endpoints.authority.clone() }
    }

    /// POST a token request form.
    pub async fn request(&self, tenant: &str, form: &[(&str, &str)]) -> Result<TokenResponse> {
        let response = self.http.post(self.token_url(tenant)).form(form).send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|_| ClientError::Unexpected { status, body: String::from_utf8_lossy(&bytes).into() });
        }
        match serde_json::from_slice::<OAuthErrorBody>(&bytes) {
            Ok(e) => Err(ClientError::OAuth { status, error: e.error, description: e.error_description, codes: e.error_codes }),
            Err(_) => Err(ClientError::Unexpected { status, body: String::from_utf8_lossy(&bytes).into() }),
        }
    }

    /// The token endpoint of a tenant (also the `aud` of a client assertion).
    pub fn token_url(&self, tenant: &str) -> String {
        identity::TOKEN.url(&self.authority, &[&encode_segment(tenant)])
    }

    /// Client credentials with a certificate, for any `{resource}/.default` scope: a client
    /// assertion signed at `now` and sent as `client_assertion`.
    pub async fn client_certificate_for(
        &self,
        tenant: &str,
        client_id: &str,
        certificate: &ClientCertificate,
        scope: &str,
        now: SystemTime,
    ) -> Result<TokenResponse> {
        let assertion = certificate.assertion(client_id, &self.token_url(tenant), now)?;
        self.request(
            tenant,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_assertion_type", CLIENT_ASSERTION_TYPE),
                ("client_assertion", &assertion),
                ("scope", scope),
            ],
        )
        .await
    }

    /// Client credentials with a secret, for the Power BI resource.
    pub async fn client_credentials(&self, tenant: &str, client_id: &str, secret: &str) -> Result<TokenResponse> {
        self.client_credentials_for(tenant, client_id, secret, POWERBI_DEFAULT_SCOPE).await
    }

    /// Client credentials with a secret, for any `{resource}/.default` scope.
    pub async fn client_credentials_for(&self, tenant: &str, client_id: &str, secret: &str, scope: &str) -> Result<TokenResponse> {
        self.request(tenant, &[("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", secret), ("scope", scope)])
            .await
    }

    /// The resource-owner password grant (delegated token for a user).
    pub async fn password(&self, tenant: &str, client_id: &str, username: &str, password: &str, scope: &str) -> Result<TokenResponse> {
        self.request(
            tenant,
            &[("grant_type", "password"), ("client_id", client_id), ("username", username), ("password", password), ("scope", scope)],
        )
        .await
    }

    /// Redeem a refresh token (delegated). `client_secret` only for confidential clients.
    pub async fn refresh(
        &self,
        tenant: &str,
        client_id: &str,
        client_secret: Option<&str>,
        refresh_token: &str,
        scope: &str,
    ) -> Result<TokenResponse> {
        let mut form = vec![("grant_type", "refresh_token"), ("client_id", client_id), ("refresh_token", refresh_token), ("scope", scope)];
        if let Some(secret) = client_secret {
            form.push(("client_secret", secret));
        }
        self.request(tenant, &form).await
    }
}

/// A certificate credential: the certificate's SHA-1 thumbprint and the private key that signs
/// a fresh client assertion (`private_key_jwt`) for every token request, as MSAL does.
#[derive(Clone)]
pub struct ClientCertificate {
    thumbprint: [u8; 20],
    key: EncodingKey,
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("ClientCertificate").field("thumbprint", &self.thumbprint()).finish_non_exhaustive()
    }
}

/// How long an assertion is good for (Entra advises 5 to 10 minutes).
const ASSERTION_LIFETIME: Duration = Duration::from_secs(600);

impl ClientCertificate {
    /// The public certificate (PEM) and its RSA private key (PEM, PKCS#8 or PKCS#1).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<ClientCertificate> {
        let body = cert_pem
            .split("-----BEGIN CERTIFICATE-----")
            .nth(1)
            .and_then(|rest| rest.split("-----END CERTIFICATE-----").next())
            .ok_or_else(|| ClientError::Invalid("the certificate is not a PEM CERTIFICATE block".into()))?;
        let der = STANDARD
            .decode(body.chars().filter(|c| !c.is_whitespace()).collect::<String>())
            .map_err(|_| ClientError::Invalid("the certificate's PEM body is not base64".into()))?;
        let key = EncodingKey::from_rsa_pem(key_pem.as_bytes())
            .map_err(|e| ClientError::Invalid(format!("the private key is not an RSA key in PEM: {e}")))?;
        Ok(ClientCertificate { thumbprint: Sha1::digest(&der).into(), key })
    }

    /// The SHA-1 thumbprint in upper-case hex, as the Azure portal shows it.
    pub fn thumbprint(&self) -> String {
        self.thumbprint.iter().map(|b| format!("{b:02X}")).collect()
    }

    /// A client assertion for `client_id`, addressed to the token endpoint `audience`, valid
    /// from `now` for ten minutes: RS256 with `x5t`, as MSAL and azure-identity send it.
    pub fn assertion(&self, client_id: &str, audience: &str, now: SystemTime) -> Result<String> {
        let now = now.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let header = Header { x5t: Some(URL_SAFE_NO_PAD.encode(self.thumbprint)), ..Header::new(Algorithm::RS256) };
        let claims = serde_json::json!({
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now,
            "nbf": now,
            "exp": now + ASSERTION_LIFETIME.as_secs(),
        });
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| ClientError::Invalid(format!("cannot sign the client assertion: {e}")))
    }
}

/// How a [`TokenSource`] gets its tokens.
#[derive(Clone)]
pub enum Credential {
    /// Client credentials with a secret (an application token).
    ClientSecret { tenant: String, client_id: String, secret: String },
    /// Client credentials with a certificate (an application token); each request sends a
    /// newly signed assertion.
    ClientCertificate { tenant: String, client_id: String, certificate: ClientCertificate },
    /// The password grant (a user's token). `offline_access` is asked for, so later tokens come
    /// from the refresh token and the password is sent again only if the refresh is refused.
    Password { tenant: String, client_id: String, client_secret: Option<String>, username: String, password: String },
    /// A refresh token obtained elsewhere (a user's token).
    RefreshToken { tenant: String, client_id: String, client_secret: Option<String>, refresh_token: String },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        match self {
            Credential::ClientSecret { tenant, client_id, .. } => write!(f, "ClientSecret {{ tenant: {tenant}, client_id: {client_id} }}"),
            Credential::ClientCertificate { tenant, client_id, certificate } => {
                write!(f, "ClientCertificate {{ tenant: {tenant}, client_id: {client_id}, thumbprint: {} }}", certificate.thumbprint())
            }
            Credential::Password { tenant, client_id, username, .. } => {
                write!(f, "Password {{ tenant: {tenant}, client_id: {client_id}, username: {username} }}")
            }
            Credential::RefreshToken { tenant, client_id, .. } => write!(f, "RefreshToken {{ tenant: {tenant}, client_id: {client_id} }}"),
        }
    }
}

impl Credential {
    pub fn tenant(&self) -> &str {
        match self {
            Credential::ClientSecret { tenant, .. }
            | Credential::ClientCertificate { tenant, .. }
            | Credential::Password { tenant, .. }
            | Credential::RefreshToken { tenant, .. } => tenant,
        }
    }

    fn is_delegated(&self) -> bool {
        !matches!(self, Credential::ClientSecret { .. } | Credential::ClientCertificate { .. })
    }
}

#[derive(Debug, Clone)]
struct Cached {
    access_token: String,
    expires_at: SystemTime,
    refresh_at: SystemTime,
}

#[derive(Debug, Default)]
struct State {
    cached: Option<Cached>,
    refresh_token: Option<String>,
}

/// A cached token for one credential and one resource.
///
/// - The token is reused until `refresh_before` (default 5 minutes, at most half the lifetime)
///   before it expires, measured on the injected clock from the moment the request was sent.
/// - Concurrent callers share one in-flight request: the fetch happens under an async lock, and
///   callers that queued behind it find the fresh token when they get the lock.
/// - Delegated credentials ask for `offline_access` and then refresh with the refresh token; the
///   password is sent again only when the refresh is refused.
#[derive(Debug)]
pub struct TokenSource {
    client: TokenClient,
    credential: Credential,
    /// The resource scope, e.g. `https://analysis.windows.net/powerbi/api/.default`.
    scope: String,
    clock: SharedClock,
    refresh_before: Duration,
    state: tokio::sync::Mutex<State>,
    fetches: AtomicU64,
    refreshes: AtomicU64,
}

impl TokenSource {
    pub fn new(client: TokenClient, credential: Credential, scope: impl Into<String>, clock: SharedClock) -> Arc<TokenSource> {
        Self::with_refresh_before(client, credential, scope, clock, Duration::from_secs(300))
    }

    pub fn with_refresh_before(
        client: TokenClient,
        credential: Credential,
        scope: impl Into<String>,
        clock: SharedClock,
        refresh_before: Duration,
    ) -> Arc<TokenSource> {
        Arc::new(TokenSource {
            client,
            credential,
            scope: scope.into(),
            clock,
            refresh_before,
            state: tokio::sync::Mutex::new(State::default()),
            fetches: AtomicU64::new(0),
            refreshes: AtomicU64::new(0),
        })
    }

    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// How many token requests this source has made (for tests and diagnostics).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// How many of those were refresh-token grants.
    pub fn refresh_count(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    /// A valid access token, from the cache or a new request.
    pub async fn token(&self) -> Result<String> {
        let mut state = self.state.lock().await;
        if let Some(c) = &state.cached {
            if self.clock.now() < c.refresh_at {
                return Ok(c.access_token.clone());
            }
        }
        let sent_at = self.clock.now();
        let response = self.fetch(&mut state).await?;
        let lifetime = Duration::from_secs(response.expires_in);
        let margin = self.refresh_before.min(lifetime / 2);
        let expires_at = sent_at + lifetime;
        state.cached = Some(Cached { access_token: response.access_token.clone(), expires_at, refresh_at: expires_at - margin });
        if response.refresh_token.is_some() {
            state.refresh_token = response.refresh_token;
        }
        Ok(response.access_token)
    }

    /// When the cached token expires, if there is one.
    pub async fn expires_at(&self) -> Option<SystemTime> {
        self.state.lock().await.cached.as_ref().map(|c| c.expires_at)
    }

    /// Forget the cached access token (after a 401): the next call fetches a new one.
    pub async fn invalidate(&self) {
        self.state.lock().await.cached = None;
    }

    async fn fetch(&self, state: &mut State) -> Result<TokenResponse> {
        let delegated_scope = if self.credential.is_delegated() && !self.scope.split(' ').any(|s| s == "offline_access") {
            format!("{} offline_access", self.scope)
        } else {
            self.scope.clone()
        };
        self.fetches.fetch_add(1, Ordering::Relaxed);
        match &self.credential {
            Credential::ClientSecret { tenant, client_id, secret } => {
                self.client.client_credentials_for(tenant, client_id, secret, &self.scope).await
            }
            Credential::ClientCertificate { tenant, client_id, certificate } => {
                self.client.client_certificate_for(tenant, client_id, certificate, &self.scope, self.clock.now()).await
            }
            Credential::Password { tenant, client_id, client_secret, username, password } => {
                if let Some(rt) = state.refresh_token.clone() {
                    self.refreshes.fetch_add(1, Ordering::Relaxed);
                    match self.client.refresh(tenant, client_id, client_secret.as_deref(), &rt, &delegated_scope).await {
                        Ok(r) => return Ok(r),
                        Err(ClientError::OAuth { error, .. }) if error == "invalid_grant" => {
                            tracing::debug!("refresh token refused; signing in with the password again");
                            state.refresh_token = None;
                            self.fetches.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => return Err(e),
                    }
                }
                let mut form = vec![
                    ("grant_type", "password"),
                    ("client_id", client_id.as_str()),
                    ("username", username.as_str()),
                    ("password", password.as_str()),
                    ("scope", delegated_scope.as_str()),
                ];
                if let Some(secret) = client_secret {
                    form.push(("client_secret", secret.as_str()));
                }
                self.client.request(tenant, &form).await
            }
            Credential::RefreshToken { tenant, client_id, client_secret, refresh_token } => {
                let rt = state.refresh_token.clone().unwrap_or_else(|| refresh_token.clone());
                self.refreshes.fetch_add(1, Ordering::Relaxed);
                self.client.refresh(tenant, client_id, client_secret.as_deref(), &rt, &delegated_scope).await
            }
        }
    }
}

/// Where a client's bearer token comes from.
#[derive(Debug, Clone)]
pub enum Auth {
    /// A token given by the caller, used as it is.
    Static(String),
    /// A cached token source.
    Source(Arc<TokenSource>),
}

impl Auth {
    pub async fn token(&self) -> Result<String> {
        match self {
            Auth::Static(t) => Ok(t.clone()),
            Auth::Source(s) => s.token().await,
        }
    }

    pub async fn invalidate(&self) {
        if let Auth::Source(s) = self {
            s.invalidate().await;
        }
    }
}
