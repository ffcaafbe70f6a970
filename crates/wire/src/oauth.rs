//! OAuth2 / OpenID Connect shapes of the Entra ID (v2.0) endpoints.

use serde::{Deserialize, Serialize};

/// The resource (audience) of Power BI access tokens.
pub const POWERBI_RESOURCE: &str = "https://analysis.windows.net/powerbi/api";
/// The resource (audience) of Microsoft Graph access tokens.
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
/// The scope an application asks for with client credentials to call Graph.
pub const GRAPH_DEFAULT_SCOPE: &str = "https://graph.microsoft.com/.default";
/// The scope an application asks for with client credentials.
pub const POWERBI_DEFAULT_SCOPE: &str = "https://analysis.windows.net/powerbi/api/.default";

/// A successful token response (RFC 6749 §5.1, with Entra's extra `ext_expires_in`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub token_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub expires_in: u64,
    pub ext_expires_in: u64,
    pub access_token: String,
    /// Present when the scope asked for `offline_access`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// An OpenID Connect ID token (audience: the client), when the scope asked for `openid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// Base64url of `{"uid":"<object id>","utid":"<tenant id>"}`, when the request sent
    /// `client_info=1` for a user; MSAL keys its account cache on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_info: Option<String>,
}

/// A v1 token endpoint response (`POST /{tenant}/oauth2/token` with `resource=`): Entra's v1
/// shape, with the lifetimes as strings of seconds and the resource the token is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct V1TokenResponse {
    pub token_type: String,
    /// Space-separated short permission names, for user tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub expires_in: String,
    pub ext_expires_in: String,
    /// Unix seconds when the access token expires (its `exp`).
    pub expires_on: String,
    /// Unix seconds from when the access token is valid (its `nbf`).
    pub not_before: String,
    pub resource: String,
    pub access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// A token error response (RFC 6749 §5.2) as Entra ID sends it: `AADSTS…` in `error_description`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OAuthErrorBody {
    pub error: String,
    pub error_description: String,
    #[serde(default)]
    pub error_codes: Vec<u32>,
    #[serde(default)]
    pub timestamp: String,
    #[serde(default)]
    pub trace_id: String,
    #[serde(default)]
    pub correlation_id: String,
}

/// A JSON Web Key Set (RFC 7517), as served at `/{tenant}/discovery/v2.0/keys`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(rename = "use")]
    pub use_: String,
    pub kid: String,
    pub n: String,
    pub e: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
}

/// The OpenID Connect discovery document (`/{tenant}/v2.0/.well-known/openid-configuration`,
/// and the v1 form without `/v2.0`), with Entra ID's fields in Entra ID's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenIdConfiguration {
    pub token_endpoint: String,
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub jwks_uri: String,
    pub response_modes_supported: Vec<String>,
    pub subject_types_supported: Vec<String>,
    pub id_token_signing_alg_values_supported: Vec<String>,
    pub response_types_supported: Vec<String>,
    pub scopes_supported: Vec<String>,
    pub issuer: String,
    /// v1 document only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub microsoft_multi_refresh_token: Option<bool>,
    pub request_uri_parameter_supported: bool,
    /// The OpenID Connect userinfo endpoint (Entra's is on Microsoft Graph).
    pub userinfo_endpoint: String,
    pub authorization_endpoint: String,
    pub device_authorization_endpoint: String,
    pub http_logout_supported: bool,
    pub frontchannel_logout_supported: bool,
    pub end_session_endpoint: String,
    pub claims_supported: Vec<String>,
    /// `null` for the `common` and `organizations` documents.
    pub tenant_region_scope: Option<String>,
    pub cloud_instance_name: String,
    pub cloud_graph_host_name: String,
    pub msgraph_host: String,
    pub rbac_url: String,
}

/// The answer of `GET /common/discovery/instance` (MSAL's instance discovery).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceDiscovery {
    pub tenant_discovery_endpoint: String,
    #[serde(rename = "api-version")]
    pub api_version: String,
    pub metadata: Vec<InstanceMetadata>,
}

/// One group of host names that are aliases of each other (`host` or `host:port`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceMetadata {
    pub preferred_network: String,
    pub preferred_cache: String,
    pub aliases: Vec<String>,
}

/// The answer of `GET /common/userrealm/{username}?api-version=1.0`, which MSAL asks before the
/// password grant: `Managed` (the directory checks the password itself) or `Unknown`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRealm {
    pub ver: String,
    pub account_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_name: Option<String>,
    pub cloud_instance_name: String,
    pub cloud_audience_urn: String,
}

/// The demo tenant's web application for the access-review app (a confidential client: it
/// redeems codes with the demo client secret the banner prints, and sends PKCE too).
pub const DEMO_REVIEW_APP_ID: &str = "5f1e6b1c-7a0b-4c4e-9d3a-2b8c1f0e7a51";
/// The review app's redirect path, registered on `http://localhost`, `http://127.0.0.1` and
/// `https://localhost` (any port: loopback ports are not compared).
pub const DEMO_REVIEW_REDIRECT_PATH: &str = "/review/auth/callback";
/// The demo tenant's public client for command-line and desktop sign-in (authorization code with
/// PKCE on `http://localhost`, device code), as MSAL's `PublicClientApplication` uses it.
pub const DEMO_PUBLIC_CLIENT_ID: &str = "0c9e7d4a-3f5b-4a1e-8c2d-6b7a9e1f3d24";

/// The device authorization response (RFC 8628 §3.2) as Entra sends it: no
/// `verification_uri_complete`, and a `message` to show the person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceCodeResponse {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub expires_in: u64,
    pub interval: u64,
    pub message: String,
}

/// The v1 endpoint's device code answer (`POST /{tenant}/oauth2/devicecode`), as ADAL reads it:
/// `verification_url`, and the lifetimes as strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V1DeviceCodeResponse {
    pub user_code: String,
    pub device_code: String,
    pub verification_url: String,
    pub expires_in: String,
    pub interval: String,
    pub message: String,
}
