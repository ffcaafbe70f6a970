//! Microsoft's own host names on one listener. Some clients cannot be given a base URL (the
//! `fab` CLI accepts only Microsoft's hosts; the PowerShell modules are fixed to
//! `api.powerbi.com` and `login.microsoftonline.com`), so the server routes by `Host`:
//!
//! | host | serves | as |
//! |---|---|---|
//! | `login.microsoftonline.com` | the identity plane | `/{tenant}/oauth2/…`, discovery |
//! | `api.powerbi.com` | Power BI | `/v1.0/myorg/…` |
//! | `api.fabric.microsoft.com` | Fabric | `/v1/…` |
//! | `graph.microsoft.com` | Graph | `/v1.0/…` (served at `/graph/v1.0/…` on other hosts) |
//!
//! Any other host (`127.0.0.1`, `localhost`, a proxy's name) keeps the single-origin paths. On a
//! Microsoft host a path of another API is not found, answered in the host's dialect where the
//! dialect has a catch-all (Fabric) and by the server's fallback otherwise.

use axum::extract::Request;
use axum::http::uri::{PathAndQuery, Uri};
use axum::http::{header, HeaderMap};

pub const LOGIN: &str = "login.microsoftonline.com";
pub const POWERBI: &str = "api.powerbi.com";
pub const FABRIC: &str = "api.fabric.microsoft.com";
pub const GRAPH: &str = "graph.microsoft.com";

/// Every Microsoft host the server answers for, in the order `pbi-access hosts` prints them.
pub const MICROSOFT_HOSTS: &[&str] = &[LOGIN, POWERBI, FABRIC, GRAPH];

/// Which Microsoft host a request names, from `Host` (HTTP/1.1) or the URI's authority (HTTP/2).
pub fn microsoft_host(headers: &HeaderMap, uri: &Uri) -> Option<&'static str> {
    let named = uri.host().map(str::to_string).or_else(|| {
        let host = headers.get(header::HOST)?.to_str().ok()?;
        // `name:port`; a bracketed IPv6 literal is never a Microsoft host.
        Some(host.rsplit_once(':').map_or(host, |(name, _)| name).to_string())
    })?;
    let named = named.trim_end_matches('.');
    MICROSOFT_HOSTS.iter().copied().find(|h| h.eq_ignore_ascii_case(named))
}

/// The path the single-origin router serves for `path` on `host`; `None` leaves it as it is.
pub fn routed_path(host: &str, path: &str) -> Option<String> {
    let foreign = |prefixes: &[&str]| !prefixes.iter().any(|p| path == p.trim_end_matches('/') || path.starts_with(p));
    match host {
        GRAPH => Some(format!("/graph{path}")),
        // The Fabric router's catch-all answers anything else under `/v1/` with its 404.
        FABRIC if foreign(&["/v1/"]) => Some(format!("/v1/.not-fabric{path}")),
        POWERBI if foreign(&["/v1.0/myorg/"]) => Some(format!("/.not-powerbi{path}")),
        LOGIN if !foreign(&["/v1.0/", "/v1/", "/graph/", "/operator/"]) => Some(format!("/.not-login{path}")),
        _ => None,
    }
}

/// Rewrite a request addressed to a Microsoft host onto the single-origin paths. Runs before
/// routing (it wraps the whole router).
pub fn route_by_host(mut request: Request) -> Request {
    let Some(host) = microsoft_host(request.headers(), request.uri()) else {
        return request;
    };
    let Some(path) = routed_path(host, request.uri().path()) else {
        return request;
    };
    let path_and_query = match request.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let mut parts = request.uri().clone().into_parts();
    match PathAndQuery::try_from(path_and_query) {
        Ok(pq) => parts.path_and_query = Some(pq),
        Err(_) => return request,
    }
    if let Ok(uri) = Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
    request
}

/// The origin a client used, for URLs the server hands back (`Location`, `continuationUri`):
/// `https://{host}` on a Microsoft host, else the configured public URL.
pub fn origin(headers: &HeaderMap, uri: &Uri, public_url: &str) -> String {
    match microsoft_host(headers, uri) {
        Some(host) => format!("https://{host}"),
        None => public_url.trim_end_matches('/').to_string(),
    }
}

/// What a person needs to point Microsoft's clients at this server: the hosts-file lines, and
/// the trust settings for the local CA (`ca`, when the certificate is generated).
pub fn setup_text(address: &str, ca: Option<&std::path::Path>) -> String {
    let mut out = String::from("# Add to /etc/hosts (Windows: C:\\Windows\\System32\\drivers\\etc\\hosts):\n");
    for host in MICROSOFT_HOSTS {
        out.push_str(&format!("{address} {host}\n"));
    }
    out.push_str(
        "\n# Clients that cannot be given a port connect to 443: serve there (for example\n\
         # `pbi-access serve --tls --listen 0.0.0.0:443`) or forward 443 to pbi-access's port.\n",
    );
    match ca {
        Some(ca) => {
            let ca = ca.display();
            out.push_str(&format!(
                "\n# Trust the local CA that signed the certificate (it names these hosts):\n\
                 export REQUESTS_CA_BUNDLE={ca}   # Python requests: fab, msal, fabric-cicd\n\
                 export SSL_CERT_FILE={ca}        # Python ssl, OpenSSL-based tools\n\
                 export NODE_EXTRA_CA_CERTS={ca}  # Node.js\n\
                 export CURL_CA_BUNDLE={ca}       # curl\n\
                 # System-wide: Debian/Ubuntu `cp {ca} /usr/local/share/ca-certificates/pbi-access.crt && update-ca-certificates`;\n\
                 # Windows `Import-Certificate -FilePath {ca} -CertStoreLocation Cert:\\LocalMachine\\Root`;\n\
                 # macOS `security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain {ca}`.\n"
            ));
        }
        None => {
            out.push_str("\n# The certificate is your own (tls.cert): it must name the hosts above, and clients must trust its issuer.\n")
        }
    }
    out.push_str("\n# Remove the hosts-file lines afterwards: while they stay, these names reach pbi-access, not Microsoft.\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(h: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(header::HOST, h.parse().unwrap());
        m
    }

    #[test]
    fn hosts_are_recognised_with_ports_and_any_case() {
        let uri: Uri = "/v1/workspaces".parse().unwrap();
        assert_eq!(microsoft_host(&host("api.fabric.microsoft.com"), &uri), Some(FABRIC));
        assert_eq!(microsoft_host(&host("API.PowerBI.com:8443"), &uri), Some(POWERBI));
        assert_eq!(microsoft_host(&host("127.0.0.1:8080"), &uri), None);
        assert_eq!(microsoft_host(&host("evil-api.fabric.microsoft.com"), &uri), None);
        let absolute: Uri = "https://graph.microsoft.com/v1.0/users".parse().unwrap();
        assert_eq!(microsoft_host(&HeaderMap::new(), &absolute), Some(GRAPH));
    }

    #[test]
    fn each_host_keeps_its_own_api_only() {
        assert_eq!(routed_path(GRAPH, "/v1.0/users").as_deref(), Some("/graph/v1.0/users"));
        assert_eq!(routed_path(FABRIC, "/v1/workspaces"), None);
        assert_eq!(routed_path(FABRIC, "/v1.0/myorg/groups").as_deref(), Some("/v1/.not-fabric/v1.0/myorg/groups"));
        assert_eq!(routed_path(POWERBI, "/v1.0/myorg/groups"), None);
        assert_eq!(routed_path(POWERBI, "/v1/workspaces").as_deref(), Some("/.not-powerbi/v1/workspaces"));
        assert_eq!(routed_path(LOGIN, "/contoso.com/oauth2/v2.0/token"), None);
        assert_eq!(routed_path(LOGIN, "/v1.0/myorg/groups").as_deref(), Some("/.not-login/v1.0/myorg/groups"));
    }

    #[test]
    fn the_rewrite_keeps_the_query() {
        let request = Request::builder()
            .uri("/v1.0/users?$top=2")
            .header(header::HOST, "graph.microsoft.com")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(route_by_host(request).uri().to_string(), "/graph/v1.0/users?$top=2");
    }
}
