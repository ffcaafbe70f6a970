//! Metadata clients read before asking for a token: the OpenID configuration (v2.0 and v1),
//! MSAL's instance discovery, and the user realm MSAL asks before the password grant.

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use pbi_wire::oauth::{InstanceDiscovery, InstanceMetadata, OpenIdConfiguration, UserRealm};

use super::{OAuthError, Segment};
use crate::app::AppState;
use crate::auth::tokens::issuer_for;
use crate::domain::Tenant;

/// The cloud Entra describes itself as; pbi-access copies Microsoft's public-cloud labels.
const CLOUD_INSTANCE_NAME: &str = "microsoftonline.com";
const CLOUD_GRAPH_HOST_NAME: &str = "graph.windows.net";
const MSGRAPH_HOST: &str = "graph.microsoft.com";
const RBAC_URL: &str = "https://pas.windows.net";
const CLOUD_AUDIENCE_URN: &str = "urn:federation:MicrosoftOnline";
/// pbi-access has no regions; `WW` is the value Entra uses for worldwide tenants.
const TENANT_REGION_SCOPE: &str = "WW";

/// A tenant segment of an identity URL: a real tenant, or one of Entra's multi-tenant aliases.
pub(super) enum TenantSegment {
    Tenant(Tenant),
    /// `common` or `organizations`, as the caller spelt it (lower case).
    Alias(&'static str),
}

pub(super) async fn resolve_tenant(state: &AppState, segment: &str) -> Result<TenantSegment, OAuthError> {
    for alias in ["common", "organizations"] {
        if segment.eq_ignore_ascii_case(alias) {
            return Ok(TenantSegment::Alias(alias));
        }
    }
    match state.store.find_tenant(segment).await? {
        Some(tenant) => Ok(TenantSegment::Tenant(tenant)),
        None => Err(OAuthError::unknown_tenant(segment).stamped(&*state.clock)),
    }
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|s| s.to_string()).collect()
}

/// What tells the v2.0 OpenID configuration from the v1 one; the rest of the document they share.
struct Flavour {
    /// Where the token, authorize, device code and logout endpoints live under the tenant.
    oauth_path: &'static str,
    response_types: &'static [&'static str],
    scopes: &'static [&'static str],
    multi_refresh_token: Option<bool>,
    /// The claims after the ones both versions list.
    more_claims: &'static [&'static str],
}

/// The claims both versions list first, in Entra's order.
const COMMON_CLAIMS: &[&str] = &[
    "sub",
    "iss",
    "cloud_instance_name",
    "cloud_instance_host_name",
    "cloud_graph_host_name",
    "msgraph_host",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "acr",
];

const V2: Flavour = Flavour {
    oauth_path: "oauth2/v2.0",
    response_types: &["code", "id_token", "code id_token", "id_token token"],
    scopes: &["openid", "profile", "email", "offline_access"],
    multi_refresh_token: None,
    more_claims: &["nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
};

const V1: Flavour = Flavour {
    oauth_path: "oauth2",
    response_types: &["code", "id_token", "code id_token", "token id_token", "token"],
    scopes: &["openid"],
    multi_refresh_token: Some(true),
    more_claims: &["amr", "nonce", "email", "given_name", "family_name", "nickname"],
};

/// The OpenID configuration of `segment` (a tenant id or an alias) in one flavour.
fn openid_document(
    base: &str,
    segment: &str,
    issuer: String,
    region: Option<String>,
    jwks_uri: String,
    f: &Flavour,
) -> OpenIdConfiguration {
    let oauth = format!("{base}/{segment}/{}", f.oauth_path);
    OpenIdConfiguration {
        token_endpoint: format!("{oauth}/token"),
        token_endpoint_auth_methods_supported: strings(&["client_secret_post", "private_key_jwt", "client_secret_basic"]),
        jwks_uri,
        response_modes_supported: strings(&["query", "fragment", "form_post"]),
        subject_types_supported: strings(&["pairwise"]),
        id_token_signing_alg_values_supported: strings(&["RS256"]),
        response_types_supported: strings(f.response_types),
        scopes_supported: strings(f.scopes),
        issuer,
        microsoft_multi_refresh_token: f.multi_refresh_token,
        request_uri_parameter_supported: false,
        // Entra names Graph's `https://graph.microsoft.com/oidc/userinfo`; Graph lives under
        // `/graph` on this origin.
        userinfo_endpoint: format!("{base}/graph/oidc/userinfo"),
        authorization_endpoint: format!("{oauth}/authorize"),
        device_authorization_endpoint: format!("{oauth}/devicecode"),
        http_logout_supported: true,
        frontchannel_logout_supported: true,
        end_session_endpoint: format!("{oauth}/logout"),
        claims_supported: strings(&[COMMON_CLAIMS, f.more_claims].concat()),
        tenant_region_scope: region,
        cloud_instance_name: CLOUD_INSTANCE_NAME.into(),
        cloud_graph_host_name: CLOUD_GRAPH_HOST_NAME.into(),
        msgraph_host: MSGRAPH_HOST.into(),
        rbac_url: RBAC_URL.into(),
    }
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub async fn openid_configuration(
    State(state): State<AppState>,
    Segment(tenant): Segment<1>,
) -> Result<Json<OpenIdConfiguration>, OAuthError> {
    let base = &state.public_url;
    let (segment, issuer, region) = match resolve_tenant(&state, &tenant).await? {
        TenantSegment::Tenant(t) => (t.id.to_string(), format!("{base}/{}/v2.0", t.id), Some(TENANT_REGION_SCOPE.to_string())),
        TenantSegment::Alias(alias) => (alias.to_string(), format!("{base}/{{tenantid}}/v2.0"), None),
    };
    let jwks_uri = format!("{base}/{segment}/discovery/v2.0/keys");
    Ok(Json(openid_document(base, &segment, issuer, region, jwks_uri, &V2)))
}

/// `GET /{tenant}/.well-known/openid-configuration`: the v1 document. Its issuer is the one in
/// pbi-access's (v1) access tokens, `https://sts.windows.net/{tid}/`.
pub async fn openid_configuration_v1(
    State(state): State<AppState>,
    Segment(tenant): Segment<1>,
) -> Result<Json<OpenIdConfiguration>, OAuthError> {
    let base = &state.public_url;
    let (segment, issuer, region) = match resolve_tenant(&state, &tenant).await? {
        TenantSegment::Tenant(t) => (t.id.to_string(), issuer_for(t.id), Some(TENANT_REGION_SCOPE.to_string())),
        TenantSegment::Alias(alias) => (alias.to_string(), "https://sts.windows.net/{tenantid}/".to_string(), None),
    };
    Ok(Json(openid_document(base, &segment, issuer, region, format!("{base}/common/discovery/keys"), &V1)))
}

/// `host[:port]` of a URL, lower-cased.
fn authority_of(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then_some(host)
}

fn invalid_instance() -> OAuthError {
    OAuthError::new(axum::http::StatusCode::BAD_REQUEST, "invalid_instance", 50049, "Unknown or invalid instance.")
}

/// `GET /common/discovery/instance?api-version=1.1&authorization_endpoint=…`: MSAL's instance
/// discovery. The tenant discovery endpoint keeps the tenant segment and the v1/v2.0 form of the
/// `authorization_endpoint` asked about, on this server's public URL.
pub async fn instance_discovery(
    State(state): State<AppState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<InstanceDiscovery>, OAuthError> {
    let answer = || -> Result<InstanceDiscovery, OAuthError> {
        let Query(query) = query.map_err(|_| invalid_instance())?;
        let endpoint =
            query.get("authorization_endpoint").filter(|e| !e.is_empty()).ok_or_else(|| OAuthError::missing("authorization_endpoint"))?;
        let rest = endpoint.strip_prefix("https://").or_else(|| endpoint.strip_prefix("http://")).ok_or_else(invalid_instance)?;
        let (host, path) = rest.split_once('/').ok_or_else(invalid_instance)?;
        let path = path.split(['?', '#']).next().unwrap_or("");
        let tenant = path.split('/').next().unwrap_or("");
        let plain = |t: &str| t.chars().all(|c| c.is_ascii_alphanumeric() || "-._{}".contains(c));
        if host.is_empty() || tenant.is_empty() || tenant.len() > 256 || !plain(tenant) {
            return Err(invalid_instance());
        }
        let version = if path.split('/').any(|s| s == "v2.0") { "/v2.0" } else { "" };
        let base = &state.public_url;
        let ours = authority_of(base).unwrap_or(base).to_ascii_lowercase();
        Ok(InstanceDiscovery {
            tenant_discovery_endpoint: format!("{base}/{tenant}{version}/.well-known/openid-configuration"),
            api_version: "1.1".into(),
            metadata: vec![InstanceMetadata { preferred_network: ours.clone(), preferred_cache: ours.clone(), aliases: vec![ours] }],
        })
    };
    answer().map(Json).map_err(|e| e.stamped(&*state.clock))
}

/// `GET /common/userrealm/{username}?api-version=1.0`: `Managed` for a user of a tenant this
/// server holds (so MSAL goes on with the plain password grant), `Unknown` otherwise. No user is
/// looked up: like Entra, the answer depends on the domain only.
pub async fn user_realm(State(state): State<AppState>, Segment(username): Segment<3>) -> Result<Json<UserRealm>, OAuthError> {
    let domain = username.rsplit_once('@').map(|(_, d)| d).filter(|d| d.contains('.'));
    let tenant = match domain {
        Some(domain) => state.store.find_tenant(domain).await?,
        None => None,
    };
    Ok(Json(UserRealm {
        ver: "1.0".into(),
        account_type: if tenant.is_some() { "Managed" } else { "Unknown" }.into(),
        domain_name: tenant.map(|t| t.domain),
        cloud_instance_name: CLOUD_INSTANCE_NAME.into(),
        cloud_audience_urn: CLOUD_AUDIENCE_URN.into(),
    }))
}
