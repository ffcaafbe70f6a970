//! `POST /{tenant}/oauth2/v2.0/token`: client credentials, password, authorization code and
//! refresh token grants;
//! clients authenticate with a secret or a certificate-signed client assertion.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use pbi_wire::fabric::FABRIC_RESOURCE;
use pbi_wire::oauth::{TokenResponse, V1TokenResponse, GRAPH_RESOURCE, POWERBI_RESOURCE};
use uuid::Uuid;

use super::{OAuthError, Segment};
use crate::app::AppState;
use crate::auth::certificates::{
    assertion_header, single_audience, unverified_claims, verify_signature, AssertionError, JWT_BEARER, SKEW_SECONDS,
};
use crate::auth::credentials::secret_matches;
use crate::auth::lockout::Outcome;
use crate::auth::refresh::client_info;
use crate::auth::{Audience, IdTokenSubject, RefreshError, RefreshGrant, TokenSubject};
use crate::domain::identity::DirUser;
use crate::domain::signin::{code_hash, pkce_matches, valid_verifier, ClientType, DEVICE_POLL_INTERVAL_SECS};
use crate::domain::Tenant;
use crate::store::{CodeRedemption, RefreshUse};

/// RFC 8628's grant type of the device code poll.
const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Delegated Power BI scopes pbi-access knows; `.default` grants all of them.
pub const DELEGATED_SCOPES: &[&str] = &[
    "App.Read.All",
    "Capacity.Read.All",
    "Capacity.ReadWrite.All",
    "Dashboard.Read.All",
    "Dashboard.ReadWrite.All",
    "Dataflow.Read.All",
    "Dataflow.ReadWrite.All",
    "Dataset.Read.All",
    "Dataset.ReadWrite.All",
    "Pipeline.Read.All",
    "Pipeline.ReadWrite.All",
    "Report.Read.All",
    "Report.ReadWrite.All",
    "Tenant.Read.All",
    "Tenant.ReadWrite.All",
    "Workspace.Read.All",
    "Workspace.ReadWrite.All",
];

/// Delegated Microsoft Graph permissions pbi-access knows; Graph's `.default` grants all of them.
pub const GRAPH_DELEGATED_SCOPES: &[&str] = &[
    "Directory.AccessAsUser.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    "Group.Read.All",
    "Group.ReadWrite.All",
    "GroupMember.Read.All",
    "GroupMember.ReadWrite.All",
    "LicenseAssignment.ReadWrite.All",
    "Organization.Read.All",
    "User.Read",
    "User.Read.All",
    "User.ReadWrite.All",
];

/// Microsoft Graph's application id, which also names it in scopes.
const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// Scopes that ask for no resource access and are accepted alongside Power BI's.
const OIDC_SCOPES: &[&str] = &["openid", "profile", "offline_access", "email"];

/// A Power BI scope without its resource (`…/powerbi/api/Workspace.Read.All` -> `Workspace.Read.All`).
/// Fabric's scopes (`https://api.fabric.microsoft.com/Workspace.ReadWrite.All`) are the same
/// permissions of the same resource application, so they shorten the same way.
fn powerbi_short(scope: &str) -> &str {
    [POWERBI_RESOURCE, FABRIC_RESOURCE].iter().find_map(|r| scope.strip_prefix(r).map(|r| r.trim_start_matches('/'))).unwrap_or(scope)
}

/// A Graph scope without its resource (`https://graph.microsoft.com/User.Read` -> `User.Read`).
fn graph_short(scope: &str) -> Option<&str> {
    [GRAPH_RESOURCE, GRAPH_APP_ID].iter().find_map(|r| scope.strip_prefix(r)?.strip_prefix('/'))
}

/// The resource a delegated request's scopes are for: Microsoft Graph when they name Graph (by
/// URI, by application id, or a bare Graph permission such as `User.Read`), else Power BI (whose
/// bare names pbi-access accepts too). Entra issues a token for one resource at a time, so
/// scopes of both are refused (AADSTS28000).
fn requested_resource(scope: &str) -> Result<Audience, OAuthError> {
    let (mut graph, mut powerbi) = (None, None);
    for s in scope.split_whitespace().filter(|s| !OIDC_SCOPES.contains(s)) {
        let is_graph = graph_short(s).is_some()
            || (!s.contains('/')
                && !DELEGATED_SCOPES.iter().any(|k| k.eq_ignore_ascii_case(s))
                && GRAPH_DELEGATED_SCOPES.iter().any(|k| k.eq_ignore_ascii_case(s)));
        if is_graph {
            graph.get_or_insert(s);
        } else {
            powerbi.get_or_insert(s);
        }
    }
    match (graph, powerbi) {
        (Some(g), Some(p)) => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            28000,
            format!("Provided value for the input parameter scope is not valid because it contains more than one resource. Scope {g} {p} is not valid."),
        )),
        (Some(_), None) => Ok(Audience::Graph),
        _ => Ok(Audience::PowerBi),
    }
}

/// The Graph permissions a delegated request asks for (`.default`: all of them, as if an
/// administrator had consented, like Power BI's `.default`).
fn graph_scopes(scope: &str) -> Result<Vec<String>, OAuthError> {
    named_scopes(scope, GRAPH_DELEGATED_SCOPES, |s| graph_short(s).unwrap_or(s))
}

/// The permissions of one resource that `scope` names, each as `known` spells it (`short` takes
/// the resource off a scope); its `.default` names all of them, and an unknown one is AADSTS70011.
fn named_scopes(scope: &str, known: &[&str], short: impl Fn(&str) -> &str) -> Result<Vec<String>, OAuthError> {
    let mut granted = Vec::new();
    for s in scope.split_whitespace().filter(|s| !OIDC_SCOPES.contains(s)) {
        if short(s) == ".default" {
            return Ok(known.iter().map(|s| s.to_string()).collect());
        }
        let name = known.iter().find(|k| k.eq_ignore_ascii_case(short(s))).ok_or_else(|| invalid_scope(s))?;
        granted.push(name.to_string());
    }
    Ok(granted)
}

fn invalid_scope(scope: &str) -> OAuthError {
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        "invalid_scope",
        70011,
        format!("The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."),
    )
}

/// The grant, parsed from the form: invalid combinations never reach the issuing code.
#[derive(Debug)]
enum Grant {
    ClientCredentials {
        client_id: String,
        credential: Option<ClientCredential>,
        scope: String,
    },
    Password {
        client_id: String,
        credential: Option<ClientCredential>,
        username: String,
        password: String,
        scope: String,
    },
    RefreshToken {
        client_id: String,
        credential: Option<ClientCredential>,
        refresh_token: String,
        scope: Option<String>,
    },
    DeviceCode {
        client_id: String,
        credential: Option<ClientCredential>,
        device_code: String,
    },
    AuthorizationCode {
        client_id: String,
        credential: Option<ClientCredential>,
        code: String,
        redirect_uri: String,
        code_verifier: Option<String>,
    },
}

/// How a confidential client proved itself: a secret, or a JWT signed with its certificate.
enum ClientCredential {
    Secret(String),
    Assertion(String),
}

impl std::fmt::Debug for ClientCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the credential itself.
        f.write_str(match self {
            ClientCredential::Secret(_) => "Secret",
            ClientCredential::Assertion(_) => "Assertion",
        })
    }
}

/// The OpenID Connect scopes a request named, and whether it sent `client_info=1`.
#[derive(Debug, Clone, Default)]
struct Extras {
    /// The `nonce` of the authorization request, echoed in the ID token.
    nonce: Option<String>,
    openid: bool,
    profile: bool,
    email: bool,
    offline_access: bool,
    client_info: bool,
}

impl Extras {
    fn of(scope: Option<&str>, form: &HashMap<String, String>) -> Extras {
        let named = |name: &str| scope.is_some_and(|s| s.split_whitespace().any(|x| x == name));
        Extras {
            nonce: None,
            openid: named("openid"),
            profile: named("profile"),
            email: named("email"),
            offline_access: named("offline_access"),
            client_info: form.get("client_info").is_some_and(|v| v == "1"),
        }
    }
}

fn required(form: &HashMap<String, String>, name: &str) -> Result<String, OAuthError> {
    form.get(name).filter(|v| !v.is_empty()).cloned().ok_or_else(|| OAuthError::missing(name))
}

/// Client id and credential: a secret from HTTP Basic (`client_secret_basic`) or the form
/// (`client_secret_post`), or a certificate-signed `client_assertion` (`private_key_jwt`).
fn client_auth(headers: &HeaderMap, form: &HashMap<String, String>) -> Result<(Option<String>, Option<ClientCredential>), OAuthError> {
    let basic = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            let (id, secret) = s.split_once(':')?;
            let decode = |v: &str| percent_encoding::percent_decode_str(&v.replace('+', " ")).decode_utf8_lossy().into_owned();
            Some((decode(id), decode(secret)))
        });
    let assertion = form.get("client_assertion").filter(|a| !a.is_empty());
    let assertion_type = form.get("client_assertion_type").filter(|t| !t.is_empty());
    let (id, secret) = match basic {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (form.get("client_id").cloned(), form.get("client_secret").cloned().filter(|s| !s.is_empty())),
    };
    let Some(assertion) = assertion else {
        return Ok((id, secret.map(ClientCredential::Secret)));
    };
    match assertion_type {
        Some(t) if t == JWT_BEARER => {}
        Some(_) => return Err(OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", 90011, "Unexpected client assertion type.")),
        None => return Err(OAuthError::missing("client_assertion_type")),
    }
    if secret.is_some() {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90014,
            "The request carries both a client secret and a client assertion; send one of them.",
        ));
    }
    // Without `client_id`, Entra takes the client from the assertion's `sub`; the signature and
    // the claims are checked later against that client's certificates.
    let id = id.filter(|i| !i.is_empty()).or_else(|| unverified_claims(assertion).and_then(|c| c.sub.or(c.iss)));
    Ok((id, Some(ClientCredential::Assertion(assertion.clone()))))
}

fn parse_grant(headers: &HeaderMap, form: &HashMap<String, String>) -> Result<Grant, OAuthError> {
    if form.values().any(|v| v.contains('\0') || v.len() > 8192) {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90014,
            "A request parameter contains a NUL character or is too long.",
        ));
    }
    let grant_type = required(form, "grant_type")?;
    let (client_id, credential) = client_auth(headers, form)?;
    let client_id = client_id.filter(|c| !c.is_empty()).ok_or_else(|| OAuthError::missing("client_id"))?;
    match grant_type.as_str() {
        "client_credentials" => Ok(Grant::ClientCredentials { client_id, credential, scope: required(form, "scope")? }),
        "password" => Ok(Grant::Password {
            client_id,
            credential,
            username: required(form, "username")?,
            password: required(form, "password")?,
            scope: required(form, "scope")?,
        }),
        "refresh_token" => Ok(Grant::RefreshToken {
            client_id,
            credential,
            refresh_token: required(form, "refresh_token")?,
            scope: form.get("scope").filter(|s| !s.trim().is_empty()).cloned(),
        }),
        DEVICE_CODE_GRANT | "device_code" => Ok(Grant::DeviceCode { client_id, credential, device_code: required(form, "device_code")? }),
        "authorization_code" => Ok(Grant::AuthorizationCode {
            client_id,
            credential,
            code: required(form, "code")?,
            redirect_uri: required(form, "redirect_uri")?,
            code_verifier: form.get("code_verifier").filter(|v| !v.is_empty()).cloned(),
        }),
        other => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{other}'."),
        )),
    }
}

/// Delegated scopes for a `scope` parameter: `…/.default` means every scope; otherwise each
/// Power BI scope named (full URI or short form) must be known.
fn delegated_scopes(scope: &str) -> Result<Vec<String>, OAuthError> {
    let granted = named_scopes(scope, DELEGATED_SCOPES, powerbi_short)?;
    if granted.is_empty() {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            "The provided value for the input parameter 'scope' is not valid: it names no Power BI scope.",
        ));
    }
    Ok(granted)
}

/// The resource, the refresh token's Power BI scopes, and the access token's scopes when
/// different.
pub(crate) type Granted = (Audience, Vec<String>, Option<Vec<String>>);

/// What a user sign-in's `scope` grants: the access token's resource, the Power BI scopes the
/// refresh token carries, and the access token's own scopes when they differ (Graph). A Graph
/// sign-in gets Power BI's `.default` in its refresh token (consent is modelled as an
/// administrator's, for every scope).
pub(crate) fn granted_scopes(scope: &str) -> Result<Granted, OAuthError> {
    let audience = requested_resource(scope)?;
    Ok(match audience {
        Audience::PowerBi => (audience, delegated_scopes(scope)?, None),
        Audience::Graph => (audience, DELEGATED_SCOPES.iter().map(|s| s.to_string()).collect(), Some(graph_scopes(scope)?)),
    })
}

/// Scopes for a refreshed access token: those asked for, which the refresh token must cover
/// (`.default`, or naming no Power BI scope, means all of them).
fn refreshed_scopes(scope: Option<&str>, granted: &[String], client_id: &str) -> Result<Vec<String>, OAuthError> {
    let mut asked = Vec::new();
    for s in scope.unwrap_or("").split_whitespace() {
        if OIDC_SCOPES.contains(&s) {
            continue;
        }
        let short = powerbi_short(s);
        if short == ".default" {
            return Ok(granted.to_vec());
        }
        let known = DELEGATED_SCOPES.iter().find(|k| k.eq_ignore_ascii_case(short)).ok_or_else(|| invalid_scope(s))?;
        if !granted.iter().any(|g| g == known) {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                65001,
                format!("The user or administrator has not consented to use the application with ID '{client_id}'. Send an interactive authorization request for this user and resource."),
            ));
        }
        asked.push(known.to_string());
    }
    Ok(if asked.is_empty() { granted.to_vec() } else { asked })
}

/// A refresh token that cannot be used: Entra's codes for each reason.
fn refresh_refused(e: RefreshError) -> OAuthError {
    match e {
        RefreshError::Invalid => {
            OAuthError::new(StatusCode::BAD_REQUEST, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
        }
        RefreshError::Expired { issued_at } => OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            700082,
            format!(
                "The refresh token has expired due to inactivity. The token was issued on {} and was inactive for 90.00:00:00.",
                chrono::DateTime::from_timestamp(issued_at, 0).map(|t| t.to_rfc3339()).unwrap_or_default()
            ),
        ),
        RefreshError::WrongClient | RefreshError::WrongTenant => {
            OAuthError::new(StatusCode::BAD_REQUEST, "invalid_grant", 70000, "Provided grant is invalid or malformed.")
        }
    }
}

/// The form's parameters by name. A parameter sent twice (`client_secret=a&client_secret=b`) is
/// refused as Entra ID refuses it, rather than one of the values silently winning.
pub fn single_valued(pairs: Vec<(String, String)>) -> Result<HashMap<String, String>, OAuthError> {
    let mut form = HashMap::with_capacity(pairs.len());
    for (name, value) in pairs {
        if form.contains_key(&name) {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                9000411,
                format!("The request is not properly formatted. The parameter '{name}' is duplicated."),
            ));
        }
        form.insert(name, value);
    }
    Ok(form)
}

fn user_not_found(who: &str, tenant: &Tenant) -> OAuthError {
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        50034,
        format!("The user account {who} does not exist in the {} directory. To sign into this application, the account must be added to the directory.", tenant.domain),
    )
}

/// Entra ID's smart lockout answer (`IdsLocked`), for every sign-in while the account is locked.
pub fn account_locked() -> OAuthError {
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        50053,
        "The account is locked, you've tried to sign in too many times with an incorrect user ID or password.",
    )
}

fn user_disabled() -> OAuthError {
    OAuthError::new(StatusCode::BAD_REQUEST, "invalid_grant", 50057, "The user account is disabled.")
}

/// How a registered application takes part in a user flow: a confidential client must
/// authenticate (and then it is `true`), a public client must not.
async fn authenticate_registered(
    state: &AppState,
    endpoint: &TokenEndpoint<'_>,
    sp_id: Uuid,
    client_id: &str,
    client_type: ClientType,
    credential: Option<ClientCredential>,
) -> Result<bool, OAuthError> {
    match (client_type, credential) {
        (ClientType::Public, Some(_)) => Err(public_client_credential()),
        (ClientType::Public, None) => Ok(false),
        (ClientType::Confidential, None) => Err(secret_required()),
        (ClientType::Confidential, Some(credential)) => {
            verify_client(state, endpoint, sp_id, client_id, &credential).await?;
            Ok(true)
        }
    }
}

/// A refresh token of a revoked family: used twice, or its code presented twice.
fn refresh_revoked() -> OAuthError {
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        50173,
        "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.",
    )
}

fn public_client_credential() -> OAuthError {
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        700025,
        "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
    )
}

fn bad_code() -> OAuthError {
    OAuthError::new(StatusCode::BAD_REQUEST, "invalid_grant", 70000, "Provided grant is invalid or malformed.")
}

fn code_redeemed() -> OAuthError {
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        54005,
        "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
    )
}

fn code_expired() -> OAuthError {
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        70008,
        "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
    )
}

fn secret_required() -> OAuthError {
    OAuthError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    )
}

fn unknown_client(client_id: &str, tenant: &Tenant) -> OAuthError {
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        700016,
        format!("Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", tenant.name),
    )
}

/// The token endpoint as the request reached it: what a client assertion's `aud` may name.
struct TokenEndpoint<'a> {
    tenant: &'a Tenant,
    /// The tenant segment of the request path (an id or a domain).
    path_tenant: &'a str,
    /// The request's `Host`, so an assertion aimed at the address the client used passes even
    /// when the configured public URL names the server differently.
    host: Option<&'a str>,
}

impl TokenEndpoint<'_> {
    /// Entra's audiences for a client assertion: this tenant's token endpoint, v2.0 or v1, with
    /// the tenant as its id or its domain.
    fn accepts(&self, aud: &str, public_url: &str) -> bool {
        let Some(rest) = aud.strip_prefix("https://").or_else(|| aud.strip_prefix("http://")) else {
            return false;
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let public = public_url.split_once("://").map(|(_, r)| r).unwrap_or(public_url).trim_end_matches('/');
        if !authority.eq_ignore_ascii_case(public) && !self.host.is_some_and(|h| h.eq_ignore_ascii_case(authority)) {
            return false;
        }
        let (tenant, endpoint) = path.split_once('/').unwrap_or((path, ""));
        let tenant_ok = [self.tenant.id.to_string().as_str(), self.tenant.domain.as_str(), self.path_tenant]
            .iter()
            .any(|t| t.eq_ignore_ascii_case(tenant));
        tenant_ok && matches!(endpoint.trim_end_matches('/'), "oauth2/v2.0/token" | "oauth2/token")
    }
}

/// Check the client's credential: a secret, or a client assertion signed with one of its
/// certificates.
async fn verify_client(
    state: &AppState,
    endpoint: &TokenEndpoint<'_>,
    sp_id: Uuid,
    client_id: &str,
    credential: &ClientCredential,
) -> Result<(), OAuthError> {
    match credential {
        ClientCredential::Secret(secret) => verify_secret(state, endpoint.tenant, sp_id, client_id, secret).await,
        ClientCredential::Assertion(assertion) => verify_assertion(state, endpoint, sp_id, client_id, assertion).await,
    }
}

const CERTIFICATE_DOCS: &str =
    "Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .";

fn invalid_assertion(code: u32, description: String) -> OAuthError {
    OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_client", code, description)
}

/// Entra's date form in assertion errors (`MM/dd/yyyy HH:mm:ss`, UTC).
fn key_date(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis).map(|t| t.format("%m/%d/%Y %H:%M:%S").to_string()).unwrap_or_default()
}

fn assertion_time(seconds: Option<i64>) -> String {
    seconds
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S.0000000Z").to_string())
        .unwrap_or_else(|| "(none)".into())
}

/// Check a client assertion (`private_key_jwt`) the way Entra does: the header names a
/// registered, unexpired certificate; the signature verifies with it; `aud` is this token
/// endpoint; `iss` = `sub` = the client; `exp`/`nbf` hold within five minutes; `jti` is there.
async fn verify_assertion(
    state: &AppState,
    endpoint: &TokenEndpoint<'_>,
    sp_id: Uuid,
    client_id: &str,
    assertion: &str,
) -> Result<(), OAuthError> {
    let malformed = |what: &str| invalid_assertion(50027, format!("JWT token is invalid or malformed: {what}"));
    let (alg, thumbprint) = assertion_header(assertion).map_err(|e| match e {
        AssertionError::NoThumbprint => {
            invalid_assertion(50027, "Invalid JWT token. No certificate thumbprint specified in token header.".into())
        }
        _ => malformed("the client assertion is not a JWT signed with RS256 or PS256."),
    })?;
    let certificates = state.store.client_certificates(endpoint.tenant.id, sp_id).await?;
    let see_keys =
        format!("Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'.");
    let Some(cert) = certificates.iter().find(|c| thumbprint.names(c)) else {
        return Err(invalid_assertion(
            700027,
            format!(
                "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{}', {see_keys}]",
                thumbprint.hex()
            ),
        ));
    };
    let found = format!("Found key 'Start={}, End={}'", key_date(cert.starts_at), key_date(cert.expires_at));
    let now_ms = state.clock.now_millis();
    if now_ms < cert.starts_at || now_ms >= cert.expires_at {
        return Err(invalid_assertion(
            700027,
            format!(
                "Client assertion contains an invalid signature. [Reason - The key used is expired., Thumbprint of key used by client: '{}', {found}, {see_keys}]",
                thumbprint.hex()
            ),
        ));
    }
    let claims = verify_signature(assertion, alg, cert).map_err(|e| match e {
        AssertionError::BadSignature => invalid_assertion(
            700027,
            format!(
                "Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value., Thumbprint of key used by client: '{}', {found}, {see_keys}]",
                thumbprint.hex()
            ),
        ),
        _ => malformed("the client assertion's claims cannot be read."),
    })?;
    let audience_ok = single_audience(claims.aud.as_ref()).is_some_and(|aud| endpoint.accepts(aud, &state.public_url));
    if !audience_ok {
        return Err(invalid_assertion(700023, format!("Client assertion audience claim does not match Realm issuer. {CERTIFICATE_DOCS}")));
    }
    if claims.iss.as_deref() != Some(client_id) || claims.sub.as_deref() != Some(client_id) {
        return Err(invalid_assertion(
            700021,
            format!("Client assertion application identifier doesn't match 'client_id' parameter. {CERTIFICATE_DOCS}"),
        ));
    }
    let now = now_ms.div_euclid(1000);
    let (exp, nbf) = (claims.exp_secs(), claims.nbf_secs());
    let in_time = exp.is_some_and(|exp| now < exp + SKEW_SECONDS) && nbf.is_none_or(|nbf| now + SKEW_SECONDS >= nbf);
    if !in_time {
        return Err(invalid_assertion(
            700024,
            format!(
                "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}. {CERTIFICATE_DOCS}",
                assertion_time(Some(now)),
                assertion_time(nbf),
                assertion_time(exp)
            ),
        ));
    }
    if claims.jti.as_deref().is_none_or(str::is_empty) {
        return Err(malformed("the client assertion has no 'jti' claim."));
    }
    Ok(())
}

/// Check a client secret: a matching unexpired secret passes; expired and wrong ones fail
/// with Entra's codes.
async fn verify_secret(state: &AppState, tenant: &Tenant, sp_id: Uuid, client_id: &str, secret: &str) -> Result<(), OAuthError> {
    let secrets = state.store.client_secrets(tenant.id, sp_id).await?;
    let now = state.clock.now_millis();
    match secrets.iter().find(|s| secret_matches(secret, &s.secret_hash)) {
                Some(s) if s.expires_at <= now => {
                    Err(OAuthError::new(
                        StatusCode::UNAUTHORIZED,
                        "invalid_client",
                        7000222,
                        format!("The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app."),
                    ))
                }
                Some(_) => Ok(()),
                None => {
                    Err(OAuthError::new(
                        StatusCode::UNAUTHORIZED,
                        "invalid_client",
                        7000215,
                        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '".to_string() + client_id + "'.",
                    ))
                }
            }
}

pub async fn token(
    State(state): State<AppState>,
    Segment(segment): Segment<1>,
    headers: HeaderMap,
    form: Result<axum::Form<Vec<(String, String)>>, axum::extract::rejection::FormRejection>,
) -> Result<Json<TokenResponse>, OAuthError> {
    let answer = async {
        let tenant = state.store.find_tenant(&segment).await?.ok_or_else(|| OAuthError::unknown_tenant(&segment))?;
        let form = single_valued(form_pairs(form)?)?;
        issue(&state, &tenant, &segment, &headers, form).await
    };
    answer.await.map(Json).map_err(|e| e.stamped(&*state.clock))
}

fn form_pairs(
    form: Result<axum::Form<Vec<(String, String)>>, axum::extract::rejection::FormRejection>,
) -> Result<Vec<(String, String)>, OAuthError> {
    form.map(|axum::Form(pairs)| pairs).map_err(|_| {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must be application/x-www-form-urlencoded and contain the parameter 'grant_type'.",
        )
    })
}

/// The resources the v1 endpoint issues for, by `resource=`, with the audience of their tokens
/// and the canonical name the response gives back.
pub(super) fn v1_resource(resource: &str, tenant: &Tenant) -> Result<(Audience, &'static str), OAuthError> {
    match resource.trim().trim_end_matches('/') {
        POWERBI_RESOURCE => Ok((Audience::PowerBi, POWERBI_RESOURCE)),
        // Fabric's identifier URI belongs to the Power BI service application.
        FABRIC_RESOURCE => Ok((Audience::PowerBi, FABRIC_RESOURCE)),
        GRAPH_RESOURCE | GRAPH_APP_ID => Ok((Audience::Graph, GRAPH_RESOURCE)),
        _ => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            500011,
            format!("The resource principal named {resource} was not found in the tenant named {}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", tenant.name),
        )),
    }
}

/// What a v1 sign-in (authorization code or device code) grants for `resource`: the resource's
/// `.default`, a refresh token and an ID token, as v1 always answers a person's sign-in with both.
pub(super) fn v1_user_scope(resource: &str, tenant: &Tenant) -> Result<String, OAuthError> {
    let (_, canonical) = v1_resource(resource, tenant)?;
    Ok(format!("{canonical}/.default offline_access openid profile"))
}

/// `POST /{tenant}/oauth2/token`: the v1 endpoint, for clients that name a `resource` instead
/// of scopes (older ADAL-era clients and PowerShell modules). The client credentials, password
/// and refresh token grants run the v2.0 grant with the resource's `.default` (a password grant
/// always gets a refresh token, as v1 gives one); the authorization code and device code grants
/// redeem codes of the v1 `authorize` and `devicecode` endpoints (ADAL sends the device code as
/// `code` with `grant_type=device_code`), whose resource the code carries. All answer in the v1 shape.
pub async fn token_v1(
    State(state): State<AppState>,
    Segment(segment): Segment<1>,
    headers: HeaderMap,
    form: Result<axum::Form<Vec<(String, String)>>, axum::extract::rejection::FormRejection>,
) -> Result<Json<V1TokenResponse>, OAuthError> {
    let answer = async {
        let tenant = state.store.find_tenant(&segment).await?.ok_or_else(|| OAuthError::unknown_tenant(&segment))?;
        let mut form = single_valued(form_pairs(form)?)?;
        let grant_type = required(&form, "grant_type")?;
        let code_grant = matches!(grant_type.as_str(), "authorization_code" | "device_code");
        if !code_grant && !matches!(grant_type.as_str(), "client_credentials" | "password" | "refresh_token") {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{grant_type}'."),
            ));
        }
        let resource = if code_grant {
            // The code carries its resource; a resource named here must be a known one.
            let named = form.get("resource").filter(|r| !r.trim().is_empty()).cloned();
            if let Some(r) = &named {
                v1_resource(r, &tenant)?;
            }
            if grant_type != "authorization_code" && !form.contains_key("device_code") {
                if let Some(code) = form.remove("code") {
                    form.insert("device_code".into(), code);
                }
            }
            named
        } else {
            let resource = required(&form, "resource")?;
            let (_, canonical) = v1_resource(&resource, &tenant)?;
            // v1 `scope` carries only OpenID Connect values (`openid`); the resource is the rest.
            let openid = form.get("scope").is_some_and(|s| s.split_whitespace().any(|x| x == "openid"));
            let mut scope = format!("{canonical}/.default");
            if grant_type == "password" {
                scope.push_str(" offline_access");
            }
            if openid {
                scope.push_str(" openid profile email");
            }
            form.insert("scope".into(), scope);
            Some(resource)
        };
        let v2 = issue(&state, &tenant, &segment, &headers, form).await?;
        // The lifetimes and resource of the token just issued, as its own claims say.
        let claims = state.tokens.decode_signed::<crate::auth::tokens::AccessClaims>(&v2.access_token);
        let (not_before, expires_on) = match &claims {
            Some(c) => (c.nbf, c.exp),
            None => {
                let now = state.clock.now().timestamp();
                (now, now + v2.expires_in as i64 + 1)
            }
        };
        let resource = match resource {
            Some(r) => r.trim().to_string(),
            None => claims.map(|c| c.aud).unwrap_or_default(),
        };
        let scope = v2.scope.as_deref().map(|s| s.split_whitespace().map(powerbi_short).collect::<Vec<_>>().join(" "));
        Ok(V1TokenResponse {
            token_type: v2.token_type,
            scope,
            expires_in: v2.expires_in.to_string(),
            ext_expires_in: v2.ext_expires_in.to_string(),
            expires_on: expires_on.to_string(),
            not_before: not_before.to_string(),
            resource,
            access_token: v2.access_token,
            refresh_token: v2.refresh_token,
            id_token: v2.id_token,
        })
    };
    answer.await.map(Json).map_err(|e| e.stamped(&*state.clock))
}

async fn issue(
    state: &AppState,
    tenant: &Tenant,
    path_tenant: &str,
    headers: &HeaderMap,
    form: HashMap<String, String>,
) -> Result<TokenResponse, OAuthError> {
    let tenant = tenant.clone();
    let grant = parse_grant(headers, &form)?;
    let endpoint =
        TokenEndpoint { tenant: &tenant, path_tenant, host: headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()) };
    let subject = match grant {
        Grant::ClientCredentials { client_id, credential, scope } => {
            let resource = scope.trim().strip_suffix("/.default").ok_or_else(|| {
                OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    1002012,
                    format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
                )
            })?;
            let audience = match resource.trim_end_matches('/') {
                // Fabric's resource is an identifier URI of the Power BI service application:
                // Entra issues its tokens with the Power BI audience (the `fab` CLI checks it).
                POWERBI_RESOURCE | FABRIC_RESOURCE => Audience::PowerBi,
                GRAPH_RESOURCE | "00000003-0000-0000-c000-000000000000" => Audience::Graph,
                _ => {
                    return Err(OAuthError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_resource",
                        500011,
                        format!("The resource principal named {resource} was not found in the tenant named {}.", tenant.name),
                    ))
                }
            };
            let app_id = Uuid::parse_str(&client_id).map_err(|_| unknown_client(&client_id, &tenant))?;
            let sp =
                state.store.get_service_principal(tenant.id, app_id, true).await?.ok_or_else(|| unknown_client(&client_id, &tenant))?;
            let credential = credential.ok_or_else(secret_required)?;
            verify_client(state, &endpoint, sp.id, &client_id, &credential).await?;
            // Tokens carry the application permissions an administrator granted for their resource.
            let registration = state.store.app_registration(tenant.id, app_id).await?.map(|(_, r)| r);
            let roles = match audience {
                Audience::PowerBi => registration.map(|r| r.powerbi_roles()).unwrap_or_default(),
                Audience::Graph => registration.map(|r| r.graph_roles()).unwrap_or_default(),
            };
            let subject =
                TokenSubject::App { tenant: tenant.id, object_id: sp.id, app_id: sp.app_id, display_name: sp.display_name, roles };
            return Ok(respond(state, &subject, audience, None));
        }
        Grant::Password { client_id, credential, username, password, scope } => {
            let app_id = Uuid::parse_str(&client_id).map_err(|_| unknown_client(&client_id, &tenant))?;
            let sp =
                state.store.get_service_principal(tenant.id, app_id, true).await?.ok_or_else(|| unknown_client(&client_id, &tenant))?;
            // A confidential client that sends its secret or assertion must send a good one.
            let confidential = credential.is_some();
            if let Some(credential) = credential {
                verify_client(state, &endpoint, sp.id, &client_id, &credential).await?;
            }
            let (audience, scopes, access_scopes) = granted_scopes(&scope)?;
            let user = authenticate_user(state, &tenant, &username, &password).await?;
            Delegated {
                tenant,
                user,
                client_id: app_id,
                audience,
                scopes,
                access_scopes,
                confidential,
                extras: Extras::of(Some(&scope), &form),
                family: None,
                refresh: None,
            }
        }
        Grant::DeviceCode { client_id, credential, device_code } => {
            let app_id = Uuid::parse_str(&client_id).map_err(|_| unknown_client(&client_id, &tenant))?;
            let (sp, app) = state.store.app_registration(tenant.id, app_id).await?.ok_or_else(|| unknown_client(&client_id, &tenant))?;
            let confidential = authenticate_registered(state, &endpoint, sp.id, &client_id, app.client_type, credential).await?;
            let now = state.clock.now_millis();
            // A poll within a second of the interval still counts as waiting it (network jitter).
            let min_gap = (DEVICE_POLL_INTERVAL_SECS - 1) * 1000;
            let poll = state.store.poll_device_code(tenant.id, &code_hash(&device_code), now, min_gap).await?;
            let device_error =
                |error: &'static str, code: u32, message: &str| OAuthError::new(StatusCode::BAD_REQUEST, error, code, message);
            let Some(poll) = poll.filter(|p| p.code.client_id == app_id) else {
                return Err(device_error(
                    "bad_verification_code",
                    70019,
                    "Verification code is not valid: the device code is unknown or was issued to another client.",
                ));
            };
            if poll.code.redeemed_at.is_some() {
                return Err(device_error("invalid_grant", 54005, "The device code was already redeemed."));
            }
            if poll.code.expires_at <= now {
                return Err(device_error(
                    "expired_token",
                    70020,
                    "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
                ));
            }
            if poll.slow_down {
                return Err(device_error(
                    "slow_down",
                    70016,
                    "OAuth 2.0 device flow error. The client is polling too fast: wait the interval between polls.",
                ));
            }
            let Some(user) = poll.code.user.filter(|_| poll.redeemed) else {
                return Err(device_error(
                    "authorization_pending",
                    70016,
                    "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                ));
            };
            let user = state
                .store
                .get_user(tenant.id, user, false)
                .await?
                .filter(|u| u.deleted_at.is_none())
                .ok_or_else(|| user_not_found(&user.to_string(), &tenant))?;
            if !user.account_enabled {
                return Err(user_disabled());
            }
            let (audience, scopes, access_scopes) = granted_scopes(&poll.code.scope)?;
            let extras = Extras::of(Some(&poll.code.scope), &form);
            Delegated {
                tenant,
                user,
                client_id: app_id,
                audience,
                scopes,
                access_scopes,
                confidential,
                extras,
                family: None,
                refresh: None,
            }
        }
        Grant::AuthorizationCode { client_id, credential, code, redirect_uri, code_verifier } => {
            let app_id = Uuid::parse_str(&client_id).map_err(|_| unknown_client(&client_id, &tenant))?;
            let (sp, app) = state.store.app_registration(tenant.id, app_id).await?.ok_or_else(|| unknown_client(&client_id, &tenant))?;
            let confidential = authenticate_registered(state, &endpoint, sp.id, &client_id, app.client_type, credential).await?;
            let now = state.clock.now_millis();
            let code = match state.store.redeem_auth_code(tenant.id, &code_hash(&code), now).await? {
                CodeRedemption::Redeemed(code) => code,
                CodeRedemption::AlreadyRedeemed(_) => return Err(code_redeemed()),
                CodeRedemption::Unknown => return Err(bad_code()),
            };
            if code.expires_at <= now {
                return Err(code_expired());
            }
            if code.client_id != app_id {
                return Err(bad_code());
            }
            if code.redirect_uri != redirect_uri {
                return Err(OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    500112,
                    format!("The reply address '{redirect_uri}' does not match the reply address '{}' provided when requesting Authorization code.", code.redirect_uri),
                ));
            }
            if let Some(challenge) = &code.code_challenge {
                if !code_verifier.as_deref().is_some_and(|v| valid_verifier(v) && pkce_matches(challenge, v)) {
                    return Err(OAuthError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        501481,
                        "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
                    ));
                }
            }
            // The directory as it is now: an account disabled or deleted since the sign-in is refused.
            let user = state
                .store
                .get_user(tenant.id, code.user, false)
                .await?
                .filter(|u| u.deleted_at.is_none())
                .ok_or_else(|| user_not_found(&code.user.to_string(), &tenant))?;
            if !user.account_enabled {
                return Err(user_disabled());
            }
            let (audience, scopes, access_scopes) = granted_scopes(&code.scope)?;
            let mut extras = Extras::of(Some(&code.scope), &form);
            extras.nonce = code.nonce.clone();
            Delegated {
                tenant,
                user,
                client_id: app_id,
                audience,
                scopes,
                access_scopes,
                confidential,
                extras,
                family: Some(code.family),
                refresh: None,
            }
        }
        Grant::RefreshToken { client_id, credential, refresh_token, scope } => {
            let app_id = Uuid::parse_str(&client_id).map_err(|_| unknown_client(&client_id, &tenant))?;
            let sp =
                state.store.get_service_principal(tenant.id, app_id, true).await?.ok_or_else(|| unknown_client(&client_id, &tenant))?;
            let authenticated = credential.is_some();
            if let Some(credential) = credential {
                verify_client(state, &endpoint, sp.id, &client_id, &credential).await?;
            }
            let grant = state.tokens.verify_refresh(&refresh_token, tenant.id, app_id).map_err(refresh_refused)?;
            // A refresh token issued to a confidential client is redeemed by that client only.
            if grant.confidential && !authenticated {
                return Err(secret_required());
            }
            // Stateless token, live directory: a deleted or disabled user cannot refresh.
            let user = state
                .store
                .get_user(tenant.id, grant.user, true)
                .await?
                .filter(|u| u.deleted_at.is_none())
                .ok_or_else(|| user_not_found(&grant.user.to_string(), &tenant))?;
            if !user.account_enabled {
                return Err(user_disabled());
            }
            // A refresh token is good for either resource, as Entra's are for every resource the
            // application is consented to.
            let audience = requested_resource(scope.as_deref().unwrap_or(""))?;
            let scopes = match audience {
                Audience::PowerBi => refreshed_scopes(scope.as_deref(), &grant.scopes, &client_id)?,
                Audience::Graph => graph_scopes(scope.as_deref().unwrap_or(""))?,
            };
            // Rotation, once every other check passed: each refresh token is redeemed once; a
            // second use revokes its family.
            if let Some(family) = grant.family {
                match state.store.use_refresh_token(&grant.token_id, family, state.clock.now_millis()).await? {
                    RefreshUse::Fresh => {}
                    RefreshUse::Reused | RefreshUse::Revoked => return Err(refresh_revoked()),
                    RefreshUse::Unknown => return Err(refresh_refused(RefreshError::Invalid)),
                }
            }
            let mut extras = Extras::of(scope.as_deref(), &form);
            // A refresh always answers with a new refresh token (rotation), as Entra does.
            extras.offline_access = true;
            Delegated {
                tenant,
                user,
                client_id: app_id,
                audience,
                // The new refresh token keeps everything the old one granted.
                scopes: grant.scopes,
                access_scopes: Some(scopes),
                confidential: grant.confidential || authenticated,
                extras,
                family: grant.family,
                refresh: None,
            }
        }
    };
    let mut subject = subject;
    if subject.extras.offline_access {
        let now = state.clock.now_millis();
        let family = subject.family.unwrap_or_else(Uuid::new_v4);
        state.store.start_refresh_family(family, subject.tenant.id, subject.user.id, subject.client_id, now).await?;
        let token_id = Uuid::new_v4().simple().to_string();
        state.store.record_refresh_token(&token_id, family, now).await?;
        subject.refresh = Some((family, token_id));
    }
    let wids = state.store.directory_roles(subject.tenant.id, subject.user.id).await?.iter().map(|r| r.template_id().to_string()).collect();
    let access = TokenSubject::User {
        tenant: subject.tenant.id,
        object_id: subject.user.id,
        upn: subject.user.upn.clone(),
        display_name: subject.user.display_name.clone(),
        client_app: subject.client_id,
        scopes: subject.access_scopes.clone().unwrap_or_else(|| subject.scopes.clone()),
        wids,
    };
    Ok(respond(state, &access, subject.audience, Some(&subject)))
}

/// Check a user's name and password: the one credential check of the password grant, the
/// sign-in page and the device verification page. A deleted or unknown user is AADSTS50034, a
/// wrong password AADSTS50126, a disabled account AADSTS50057 (after the password, so the
/// answer says nothing about an account to someone without its password).
pub(crate) async fn authenticate_user(state: &AppState, tenant: &Tenant, username: &str, password: &str) -> Result<DirUser, OAuthError> {
    let Some((user, hash)) = state.store.get_user_credentials(tenant.id, username).await? else {
        // As long as a wrong password takes, so timing does not tell which accounts exist.
        state.sign_in.verify(password, None).await;
        return Err(user_not_found(username, tenant));
    };
    match state.sign_in.check_password(tenant.id, user.id, password, hash.as_deref(), state.clock.now_millis()).await {
        Outcome::Accepted => {}
        Outcome::WrongPassword => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                50126,
                "Error validating credentials due to invalid username or password.",
            ))
        }
        Outcome::Locked { .. } => return Err(account_locked()),
    }
    if !user.account_enabled {
        return Err(user_disabled());
    }
    Ok(user)
}

/// A user grant that passed every check: what goes into the access, refresh and ID tokens.
struct Delegated {
    tenant: Tenant,
    user: DirUser,
    client_id: Uuid,
    /// The resource the access token is for.
    audience: Audience,
    /// Everything granted in Power BI; the refresh token carries it.
    scopes: Vec<String>,
    /// The access token's scopes when narrower than `scopes` (a refresh asking for fewer).
    access_scopes: Option<Vec<String>>,
    /// The client authenticated with its secret.
    confidential: bool,
    extras: Extras,
    /// The refresh-token family the sign-in continues (a code's, a refreshed token's); a new
    /// one when `None`.
    family: Option<Uuid>,
    /// The family and id of the refresh token to issue, once recorded.
    refresh: Option<(Uuid, String)>,
}

impl Delegated {
    fn refresh_id(&self) -> Option<&(Uuid, String)> {
        self.refresh.as_ref()
    }
}

/// The token response: the access token, plus for users the refresh token (`offline_access`),
/// ID token (`openid`) and `client_info` (`client_info=1`) the request asked for.
fn respond(state: &AppState, access: &TokenSubject, audience: Audience, user: Option<&Delegated>) -> TokenResponse {
    let issued = state.tokens.issue_for(access, audience);
    let mut response = TokenResponse {
        token_type: "Bearer".into(),
        scope: issued.scope,
        expires_in: issued.expires_in,
        ext_expires_in: issued.expires_in,
        access_token: issued.access_token,
        refresh_token: None,
        id_token: None,
        client_info: None,
    };
    if let Some(d) = user {
        if d.extras.offline_access {
            response.refresh_token = Some(state.tokens.issue_refresh(&RefreshGrant {
                tenant: d.tenant.id,
                user: d.user.id,
                client_id: d.client_id,
                scopes: d.scopes.clone(),
                confidential: d.confidential,
                issued_at: 0,
                family: d.refresh_id().map(|(f, _)| *f),
                token_id: d.refresh_id().map(|(_, t)| t.clone()).unwrap_or_default(),
            }));
        }
        if d.extras.openid {
            let issuer = format!("{}/{}/v2.0", state.public_url, d.tenant.id);
            response.id_token = Some(state.tokens.issue_id_token(&IdTokenSubject {
                issuer: &issuer,
                tenant: d.tenant.id,
                user: d.user.id,
                client_id: d.client_id,
                name: d.extras.profile.then_some(d.user.display_name.as_str()),
                preferred_username: d.extras.profile.then_some(d.user.upn.as_str()),
                email: if d.extras.email { d.user.mail.as_deref() } else { None },
                nonce: d.extras.nonce.as_deref(),
            }));
        }
        if d.extras.client_info {
            response.client_info = Some(client_info(d.user.id, d.tenant.id));
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scope_grants_everything_and_named_scopes_are_checked() {
        assert_eq!(delegated_scopes("https://analysis.windows.net/powerbi/api/.default openid").unwrap().len(), DELEGATED_SCOPES.len());
        assert_eq!(
            delegated_scopes("https://analysis.windows.net/powerbi/api/Workspace.Read.All offline_access").unwrap(),
            vec!["Workspace.Read.All"]
        );
        assert_eq!(delegated_scopes("https://analysis.windows.net/powerbi/api/Nope.All").unwrap_err().code, Some(70011));
        assert_eq!(delegated_scopes("openid").unwrap_err().code, Some(70011));
    }

    #[test]
    fn the_scopes_name_one_resource_and_graph_scopes_are_checked() {
        let graph = |s| requested_resource(s).unwrap() == Audience::Graph;
        assert!(graph("https://graph.microsoft.com/.default offline_access"));
        assert!(graph("00000003-0000-0000-c000-000000000000/User.Read"));
        assert!(graph("User.Read openid"), "a bare Graph permission is Graph's, as in Entra");
        assert!(!graph("Workspace.Read.All"), "a bare Power BI permission stays Power BI's");
        assert!(!graph("https://analysis.windows.net/powerbi/api/.default"));
        assert!(!graph("openid profile"));
        assert_eq!(requested_resource("User.Read Workspace.Read.All").unwrap_err().code, Some(28000));
        assert_eq!(graph_scopes("https://graph.microsoft.com/.default").unwrap().len(), GRAPH_DELEGATED_SCOPES.len());
        assert_eq!(graph_scopes("https://graph.microsoft.com/user.read openid").unwrap(), vec!["User.Read"]);
        assert_eq!(graph_scopes("https://graph.microsoft.com/Mail.Send").unwrap_err().code, Some(70011));
    }

    #[test]
    fn a_refresh_may_narrow_the_granted_scopes_but_not_widen_them() {
        let granted = vec!["Workspace.Read.All".to_string(), "Tenant.Read.All".to_string()];
        assert_eq!(refreshed_scopes(None, &granted, "c").unwrap(), granted);
        assert_eq!(refreshed_scopes(Some("openid profile offline_access"), &granted, "c").unwrap(), granted);
        assert_eq!(refreshed_scopes(Some("https://analysis.windows.net/powerbi/api/.default openid"), &granted, "c").unwrap(), granted);
        assert_eq!(
            refreshed_scopes(Some("https://analysis.windows.net/powerbi/api/workspace.read.all"), &granted, "c").unwrap(),
            vec!["Workspace.Read.All"]
        );
        assert_eq!(refreshed_scopes(Some("Workspace.ReadWrite.All"), &granted, "c").unwrap_err().code, Some(65001));
        assert_eq!(refreshed_scopes(Some("Bogus.All"), &granted, "c").unwrap_err().code, Some(70011));
    }
}
