//! OAuth2 / OpenID Connect shapes of the Entra ID (v2.0) endpoints.

use serde::{Deserialize, Serialize};

/// The resource (audience) of Power BI access tokens.
pub const POWERBI_RESOURCE: &str = "https://analysis.windows.net/powerbi/api";
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
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
