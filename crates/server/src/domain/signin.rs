//! The interactive sign-in flows' pure rules: an application's registration (redirect URIs,
//! public or confidential client, permissions), redirect-URI matching, PKCE, and device user
//! codes. No HTTP, no SQL.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// An authorization code is redeemable for 10 minutes, as Entra's.
pub const CODE_LIFETIME_SECS: i64 = 600;
/// A device code lives 15 minutes (Entra's `expires_in` is 900).
pub const DEVICE_CODE_LIFETIME_SECS: i64 = 900;
/// The polling interval a device code asks for, in seconds (Entra answers 5).
pub const DEVICE_POLL_INTERVAL_SECS: i64 = 5;

/// Whether an application can keep a secret. Confidential clients (web apps) authenticate when
/// they redeem a code; public clients (desktop, mobile, command line) cannot, so they must use
/// PKCE. Entra's manifest calls the public kind `allowPublicClient`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ClientType {
    #[default]
    Confidential,
    Public,
}

impl ClientType {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientType::Confidential => "confidential",
            ClientType::Public => "public",
        }
    }
}

impl std::str::FromStr for ClientType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "confidential" => Ok(ClientType::Confidential),
            "public" => Ok(ClientType::Public),
            other => Err(format!("unknown client type '{other}': confidential or public")),
        }
    }
}

/// What the application object says about sign-in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppRegistration {
    pub redirect_uris: Vec<String>,
    pub client_type: ClientType,
    /// The permissions consented for the application, as scope strings (`…/Workspace.Read.All`,
    /// `User.Read`). Empty: every permission pbi-access knows (an administrator's consent to all).
    pub permissions: Vec<String>,
    /// Application permissions (app roles) an administrator granted, short names
    /// (`Tenant.Read.All`): client-credentials tokens for the resource carry them in `roles`.
    pub app_roles: Vec<String>,
}

/// The application permissions of the Power BI service. All of them need an administrator's
/// consent, which is what keeps an application holding one out of the read-only admin APIs.
pub const POWERBI_APP_ROLES: &[&str] = &["Tenant.Read.All", "Tenant.ReadWrite.All"];

/// A granted application permission as its short name, if the Power BI service has it
/// (`https://analysis.windows.net/powerbi/api/Tenant.Read.All` or `Tenant.Read.All`, any case).
pub fn powerbi_app_role(granted: &str) -> Option<&'static str> {
    let short = granted.rsplit('/').next().unwrap_or(granted);
    POWERBI_APP_ROLES.iter().copied().find(|r| r.eq_ignore_ascii_case(short))
}

/// The Microsoft Graph application permissions an administrator can grant in a `TenantSpec`
/// beyond those every Graph application token of pbi-access carries: the audit log's.
pub const GRAPH_GRANTABLE_APP_ROLES: &[&str] = &["AuditLog.Read.All"];

/// A granted application permission as its short name, if it is a grantable Graph one
/// (`https://graph.microsoft.com/AuditLog.Read.All` or `AuditLog.Read.All`, any case).
pub fn graph_app_role(granted: &str) -> Option<&'static str> {
    let short = granted.rsplit('/').next().unwrap_or(granted);
    GRAPH_GRANTABLE_APP_ROLES.iter().copied().find(|r| r.eq_ignore_ascii_case(short))
}

impl AppRegistration {
    /// The granted application permissions of the Power BI service.
    pub fn powerbi_roles(&self) -> Vec<String> {
        self.app_roles.iter().filter(|r| powerbi_app_role(r).is_some()).cloned().collect()
    }

    /// The granted application permissions of Microsoft Graph.
    pub fn graph_roles(&self) -> Vec<String> {
        self.app_roles.iter().filter(|r| graph_app_role(r).is_some()).cloned().collect()
    }

    /// Whether `asked` is one of the registered redirect URIs. Matching is exact (scheme, host,
    /// path, query), except that the port of a loopback URI (`localhost`, `127.0.0.1`, `[::1]`)
    /// is ignored, as Entra does for native applications (RFC 8252 §7.3).
    pub fn allows_redirect(&self, asked: &str) -> bool {
        self.redirect_uris.iter().any(|r| redirect_matches(r, asked))
    }

    /// Whether the consented permissions cover `scope` (its short name, `Workspace.Read.All`).
    pub fn permits(&self, scope: &str) -> bool {
        self.permissions.is_empty()
            || self.permissions.iter().any(|p| {
                let short = p.rsplit('/').next().unwrap_or(p);
                short.eq_ignore_ascii_case(scope) || short == ".default"
            })
    }
}

fn redirect_matches(registered: &str, asked: &str) -> bool {
    if registered == asked {
        return true;
    }
    match (loopback_without_port(registered), loopback_without_port(asked)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// A loopback `http(s)://host:port/rest` URI as `(scheme, host, rest)`; `None` otherwise.
fn loopback_without_port(uri: &str) -> Option<(String, String, String)> {
    let (scheme, rest) = uri.split_once("://")?;
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return None;
    }
    let host =
        if authority.starts_with('[') { &authority[..=authority.find(']')?] } else { authority.split(':').next().unwrap_or(authority) };
    let host = host.to_ascii_lowercase();
    if !matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]") {
        return None;
    }
    // An empty path and "/" are the same resource.
    let path = if path.is_empty() { "/" } else { path };
    Some((scheme.to_ascii_lowercase(), host, path.to_string()))
}

/// RFC 7636 S256: BASE64URL(SHA256(ASCII(code_verifier))).
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A code verifier of RFC 7636 §4.1: 43 to 128 unreserved characters.
pub fn valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len()) && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// A code challenge (S256): 43 base64url characters.
pub fn valid_challenge(challenge: &str) -> bool {
    challenge.len() == 43 && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `verifier` answers `challenge`, compared in constant time.
pub fn pkce_matches(challenge: &str, verifier: &str) -> bool {
    let computed = s256(verifier);
    computed.len() == challenge.len() && computed.bytes().zip(challenge.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// The SHA-256 of an opaque code or token, as it is stored.
pub fn code_hash(code: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(code.as_bytes()))
}

/// A new opaque code: 48 random bytes, base64url (64 characters).
pub fn new_code() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 48];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The letters of a user code: no vowels (no words) and no look-alikes, as RFC 8628 §6.1 advises.
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

/// A new user code: 9 letters, as Entra's (`FQK4RHGLA` style; letters only here).
pub fn new_user_code() -> String {
    use rand::Rng;
    let mut rng = rand::rngs::OsRng;
    (0..9).map(|_| USER_CODE_ALPHABET[rng.gen_range(0..USER_CODE_ALPHABET.len())] as char).collect()
}

/// A user code as a person typed it: case, spaces and dashes ignored; `None` when it cannot be one.
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let code: String = typed.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_uppercase()).collect();
    (code.len() == 9 && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b))).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(uris: &[&str]) -> AppRegistration {
        AppRegistration { redirect_uris: uris.iter().map(|s| s.to_string()).collect(), ..Default::default() }
    }

    #[test]
    fn redirect_uris_match_exactly_except_a_loopback_port() {
        let a = app(&["https://app.contoso.com/callback", "http://localhost/review/auth/callback", "http://localhost"]);
        assert!(a.allows_redirect("https://app.contoso.com/callback"));
        assert!(!a.allows_redirect("https://app.contoso.com/callback/"));
        assert!(!a.allows_redirect("https://app.contoso.com:8443/callback"), "only loopback ports are ignored");
        assert!(!a.allows_redirect("https://evil.example/callback"));
        assert!(a.allows_redirect("http://localhost:51234/review/auth/callback"));
        assert!(a.allows_redirect("http://LOCALHOST:8080/review/auth/callback"));
        assert!(!a.allows_redirect("http://localhost:8080/review/auth/other"));
        assert!(!a.allows_redirect("https://localhost:8080/review/auth/callback"), "the scheme still counts");
        assert!(a.allows_redirect("http://localhost:40000"), "MSAL's http://localhost:PORT");
        assert!(a.allows_redirect("http://localhost:40000/"));
        assert!(!a.allows_redirect("http://localhost.evil.example:40000/"));
        assert!(!a.allows_redirect("http://user@localhost:1/"));
        assert!(!app(&[]).allows_redirect("http://localhost"));
    }

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(s256(verifier), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert!(pkce_matches("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", verifier));
        assert!(!pkce_matches("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN", verifier));
        assert!(valid_verifier(verifier) && valid_challenge(&s256(verifier)));
        assert!(!valid_verifier("short") && !valid_verifier(&"a".repeat(129)) && !valid_verifier(&format!("{}!", "a".repeat(43))));
        assert!(!valid_challenge("plain-text-challenge"));
    }

    #[test]
    fn user_codes_are_read_as_people_type_them() {
        let code = new_user_code();
        assert_eq!(normalize_user_code(&code.to_lowercase()), Some(code.clone()));
        assert_eq!(normalize_user_code("bcd-fgh jkl"), Some("BCDFGHJKL".into()));
        assert_eq!(normalize_user_code("ABCDEFGHI"), None, "vowels are never in a code");
        assert_eq!(normalize_user_code("BCDF"), None);
        assert_ne!(new_code(), new_code());
        assert_eq!(new_code().len(), 64);
    }

    #[test]
    fn permissions_empty_means_all() {
        let mut a = app(&[]);
        assert!(a.permits("Workspace.Read.All"));
        a.permissions = vec!["https://analysis.windows.net/powerbi/api/Workspace.Read.All".into(), "User.Read".into()];
        assert!(a.permits("workspace.read.all") && a.permits("User.Read"));
        assert!(!a.permits("Tenant.ReadWrite.All"));
    }
}
