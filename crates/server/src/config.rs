//! Layered configuration: built-in defaults, then a TOML file, then `PBI_ACCESS_*` environment
//! variables, then command-line flags. The result is passed down explicitly; nothing deeper in
//! the server reads the environment.

use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use pbi_wire::budgets::AdminBudgetModel;
pub use pbi_wire::operator::FaultRule;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on, `host:port`. Port 0 picks a free port.
    pub listen: String,
    /// `sqlite://PATH` (default) or `postgres://…`.
    pub database: String,
    /// The base URL clients reach this server at; used in `@odata.context`, token issuers'
    /// metadata and printed examples. Defaults to `http://{listen}`.
    pub public_url: Option<String>,
    /// `text` or `json` log lines.
    pub log_format: LogFormat,
    /// Create the demo tenant when the database has no tenant.
    pub demo: bool,
    pub limits: Limits,
    pub tokens: Tokens,
    pub tls: Tls,
    #[serde(default)]
    pub licenses: Licenses,
    pub throttling: Throttling,
    /// The operator API (`/operator/v1/…`).
    pub operator: Operator,
    /// Fault-injection rules in force at start (`[[faults]]`); the operator API can replace them.
    pub faults: Vec<FaultRule>,
    pub audit: Audit,
    /// Connections: timeouts and the connection cap (`crate::serve`).
    pub server: Server,
    /// Password sign-ins: smart lockout and the hashing pool (`crate::auth::lockout`).
    pub sign_in: SignIn,
}

/// How long a client may take and how many connections may be open. See docs/fidelity.md,
/// "Limits".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    /// A request head must arrive whole within this, from the moment the server waits for it.
    pub header_read_timeout_ms: u64,
    /// A keep-alive connection with no request in flight and no traffic is closed after this;
    /// 0 keeps idle connections open.
    pub idle_timeout_ms: u64,
    /// A request body must arrive whole within this; 0 turns the limit off.
    pub body_read_timeout_ms: u64,
    /// Connections open at once; 0 is three quarters of the process's open-file limit.
    pub max_connections: usize,
    /// Connections past the cap that still get an answer: `/healthz`, or a 503 with
    /// `Connection: close`; any further one is closed at once.
    pub overflow_connections: usize,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            body_read_timeout_ms: 30_000,
            max_connections: 0,
            overflow_connections: 64,
        }
    }
}

/// Entra ID's smart lockout, per account, and the password hashing pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignIn {
    /// Failed password sign-ins of one account, within `lockout_window_secs`, that lock it
    /// (Entra ID's default: 10); 0 turns lockout off.
    pub lockout_threshold: u32,
    /// How long failures count towards the threshold.
    pub lockout_window_secs: u64,
    /// The first lockout's length (Entra ID's default: 60 s); each further lockout of the same
    /// account doubles it, up to `lockout_max_secs`.
    pub lockout_duration_secs: u64,
    pub lockout_max_secs: u64,
    /// Argon2 verifications at once, on blocking threads; 0 is the number of cores.
    pub hash_concurrency: usize,
}

impl Default for SignIn {
    fn default() -> Self {
        SignIn {
            lockout_threshold: 10,
            lockout_window_secs: 3600,
            lockout_duration_secs: 60,
            lockout_max_secs: 30 * 60,
            hash_concurrency: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Users, groups and apps holding roles in one workspace (a group counts once).
    pub max_principals_per_workspace: u32,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tokens {
    /// Access token lifetime. Entra issues 60–90 minutes; `expires_in` says 3599 for 1 hour.
    pub lifetime_secs: u64,
    /// Tolerated clock difference when checking `exp` and `nbf`.
    pub clock_skew_secs: u64,
}

/// The admin audit surface: paging of the admin reads, the activity log, and scans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Audit {
    /// How long a continuation token stays valid.
    pub continuation_ttl_secs: u64,
    /// Items per page of artifact access and of subscriptions.
    pub page_size: u32,
    /// Most events per page of the activity log (a page also covers at most one hour).
    pub activity_page_size: u32,
    /// Days the activity log keeps events.
    pub activity_retention_days: u32,
    /// Seconds before an activity event shows in `GET /admin/activityevents` (the service shows
    /// most within 30 minutes); 0, the default, shows each at once. For testing lag handling.
    pub activity_visibility_delay_secs: u64,
    /// Whether `GET /admin/activityevents` also returns the directory (Entra ID audit) events
    /// SCIM and Graph changes record (`Workload` `AzureActiveDirectory`). Off by default: the
    /// service keeps them in Entra's audit log, and pipelines expect the Power BI schema only.
    pub entra_events_in_activity_log: bool,
    /// How long a scan takes: `NotStarted` for the first half, `Running` for the second, then
    /// `Succeeded` (injected clock).
    pub scan_duration_ms: u64,
    /// Scans not yet succeeded that a tenant may have at once.
    pub max_concurrent_scans: u32,
    /// How long a scan result stays available after the scan succeeded.
    pub scan_result_ttl_secs: u64,
    /// `GET /admin/groups` (GetGroupsAsAdmin) answers 504 `RequestTimedOut` when it takes longer
    /// than this (the reference: "the call times out after 30 s"); 0 turns the limit off.
    pub groups_as_admin_timeout_ms: u64,
    /// Megabytes of rendered `GET /admin/groups` pages kept (exact: see `api::powerbi::page_cache`);
    /// 0 turns the cache off.
    pub page_cache_mb: u32,
}

impl Default for Audit {
    fn default() -> Self {
        Audit {
            continuation_ttl_secs: 24 * 3600,
            page_size: 1000,
            activity_page_size: 5000,
            activity_retention_days: 30,
            activity_visibility_delay_secs: 0,
            entra_events_in_activity_log: false,
            scan_duration_ms: 2000,
            max_concurrent_scans: 16,
            scan_result_ttl_secs: 24 * 3600,
            groups_as_admin_timeout_ms: 30_000,
            page_cache_mb: 128,
        }
    }
}

/// HTTPS on the listener: the one TLS setting (`tls::setup` loads what it names). Off by default.
/// With `enabled` and no `cert`/`key`, a local CA and a certificate for `localhost`, `127.0.0.1`,
/// `::1` and Microsoft's host names are generated once into `dir` and reused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    pub enabled: bool,
    /// Where the generated `ca.pem`, `cert.pem` and `key.pem` are kept. Default: `pbi-access-tls`
    /// next to the SQLite file (in the working directory for PostgreSQL).
    pub dir: Option<String>,
    /// A PEM certificate chain to serve instead of a generated one; setting it turns TLS on.
    pub cert: Option<String>,
    /// The PEM private key of `cert`; setting it turns TLS on.
    pub key: Option<String>,
}

/// The service's request budgets, as sliding windows counted in the store against the injected
/// clock. A limit of 0 turns that limit off. See docs/fidelity.md, "Throttling".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Throttling {
    pub enabled: bool,
    /// `shared`: one admin budget per tenant for every admin operation (the scanner's own budgets
    /// excepted); `per_operation`: one for each admin operation.
    pub admin_budget: AdminBudgetModel,
    /// The admin budget's limit (shared, or each operation's).
    pub admin_per_hour: u32,
    /// GetGroupsAsAdmin, per tenant, on top of the admin budget.
    pub groups_as_admin_per_hour: u32,
    pub groups_as_admin_per_minute: u32,
    /// GetReportsAsAdmin, GetDatasetsAsAdmin and GetDashboardsAsAdmin, each per tenant, on top
    /// of the admin budget.
    pub items_as_admin_per_hour: u32,
    pub items_as_admin_per_minute: u32,
    /// PostWorkspaceInfo, and (separately counted) GetScanResult, per tenant.
    pub scanner_per_hour: u32,
    /// GetScanStatus, per tenant.
    pub scan_status_per_hour: u32,
    /// GetModifiedWorkspaces, per tenant, instead of the admin budget.
    pub modified_workspaces_per_hour: u32,
    /// RefreshUserPermissions, per caller.
    pub refresh_user_permissions_per_user_per_hour: u32,
    /// Every non-admin operation, per caller; 0 (the default) is off, as Microsoft publishes no figure.
    pub standard_per_caller_per_minute: u32,
}

/// The service's figures, from the budget table in `pbi_wire::budgets`.
impl Default for Throttling {
    fn default() -> Self {
        let pbi_wire::budgets::Limits {
            admin_budget,
            admin_per_hour,
            groups_as_admin_per_hour,
            groups_as_admin_per_minute,
            items_as_admin_per_hour,
            items_as_admin_per_minute,
            scanner_per_hour,
            scan_status_per_hour,
            modified_workspaces_per_hour,
            refresh_user_permissions_per_user_per_hour,
            standard_per_caller_per_minute,
        } = Default::default();
        Throttling {
            enabled: true,
            admin_budget,
            admin_per_hour,
            groups_as_admin_per_hour,
            groups_as_admin_per_minute,
            items_as_admin_per_hour,
            items_as_admin_per_minute,
            scanner_per_hour,
            scan_status_per_hour,
            modified_workspaces_per_hour,
            refresh_user_permissions_per_user_per_hour,
            standard_per_caller_per_minute,
        }
    }
}

/// The operator API. Without a token it does not exist (404).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Operator {
    /// Bearer token the operator API demands.
    pub token: Option<String>,
}

impl Tls {
    /// TLS is on when asked for, or when a certificate or key file is named.
    pub fn is_on(&self) -> bool {
        self.enabled || self.cert.is_some() || self.key.is_some()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            database: "sqlite://pbi-access.db".into(),
            public_url: None,
            log_format: LogFormat::Text,
            demo: true,
            limits: Limits::default(),
            tokens: Tokens::default(),
            tls: Tls::default(),
            licenses: Licenses::default(),
            throttling: Throttling::default(),
            operator: Operator::default(),
            faults: Vec::new(),
            audit: Audit::default(),
            server: Server::default(),
            sign_in: SignIn::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_principals_per_workspace: 1000, max_body_bytes: 1024 * 1024 }
    }
}

impl Default for Tokens {
    fn default() -> Self {
        Tokens { lifetime_secs: 3600, clock_skew_secs: 300 }
    }
}

/// Keys recognised in the environment (`PBI_ACCESS_LISTEN`, `PBI_ACCESS_LIMITS__MAX_BODY_BYTES`, …).
/// Other `PBI_ACCESS_*` variables (such as `PBI_ACCESS_TEST_POSTGRES`) are not configuration.
/// `faults` is a list of tables and has no environment spelling.
const ENV_KEYS: &[&str] = &[
    "listen",
    "database",
    "public_url",
    "log_format",
    "demo",
    "limits",
    "tokens",
    "tls",
    "licenses",
    "throttling",
    "operator",
    "audit",
    "server",
    "sign_in",
];

impl Config {
    /// Defaults < TOML file < `PBI_ACCESS_*` env < `overrides` (the flags that were given).
    pub fn load(file: Option<&Path>, overrides: &serde_json::Value) -> Result<Config, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(Box::new(figment::Error::from(format!("config file {} does not exist", file.display()))));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(Env::prefixed("PBI_ACCESS_").split("__").filter(|key| {
            // Keys arrive in the variable's case (`DATABASE`, `LIMITS.MAX_BODY_BYTES`).
            let key = key.as_str().to_ascii_lowercase();
            ENV_KEYS.iter().any(|k| key == *k || key.strip_prefix(k).is_some_and(|rest| rest.starts_with('.')))
        }));
        figment = figment.merge(Serialized::defaults(overrides));
        figment.extract().map_err(Box::new)
    }

    /// The configured public URL, or `http://{bound}` (`https://{bound}` when TLS is on).
    pub fn public_url(&self, bound: std::net::SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None if self.tls.is_on() => format!("https://{bound}"),
            None => format!("http://{bound}"),
        }
    }

    /// Where generated TLS files live: `tls.dir`, or `pbi-access-tls` beside the SQLite file.
    pub fn tls_dir(&self) -> std::path::PathBuf {
        if let Some(dir) = &self.tls.dir {
            return dir.into();
        }
        let sqlite_file = self
            .database
            .strip_prefix("sqlite://")
            .or_else(|| self.database.strip_prefix("sqlite:"))
            .map(|rest| rest.split('?').next().unwrap_or(""))
            .filter(|path| !path.is_empty() && !path.starts_with(':'));
        let parent = sqlite_file.and_then(|f| Path::new(f).parent()).filter(|p| !p.as_os_str().is_empty());
        parent.unwrap_or(Path::new(".")).join("pbi-access-tls")
    }
}

/// `[licenses]`: how the identity plane's license assignments reach the services.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Licenses {
    /// A license assignment counts for the services (effective licenses) only once it is this
    /// old, as Microsoft 365 takes minutes to propagate one. Read against the injected clock.
    pub propagation_delay_secs: u64,
}

impl Default for Licenses {
    fn default() -> Self {
        Licenses { propagation_delay_secs: 300 }
    }
}

impl Licenses {
    pub fn propagation_delay(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.propagation_delay_secs)
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail closures return figment::Error
mod tests {
    use super::*;

    #[test]
    fn file_env_and_flags_layer_in_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "c.toml",
                "listen = \"0.0.0.0:1\"\ndatabase = \"sqlite://file.db\"\n[limits]\nmax_principals_per_workspace = 7\n",
            )?;
            jail.set_env("PBI_ACCESS_DATABASE", "sqlite://env.db");
            jail.set_env("PBI_ACCESS_TEST_POSTGRES", "ignored, not configuration");
            jail.set_env("PBI_ACCESS_TOKENS__LIFETIME_SECS", "60");
            let overrides = serde_json::json!({ "listen": "127.0.0.1:9" });
            let config = Config::load(Some(Path::new("c.toml")), &overrides).map_err(|e| *e)?;
            assert_eq!(config.listen, "127.0.0.1:9");
            assert_eq!(config.database, "sqlite://env.db");
            assert_eq!(config.limits.max_principals_per_workspace, 7);
            assert_eq!(config.tokens, Tokens { lifetime_secs: 60, ..Tokens::default() }, "nested keys come through __");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's `Jail` closures return `figment::Error`
    fn tls_section_layers_and_refuses_unknown_keys() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "[tls]\nenabled = true\ndir = \"/srv/tls\"\n")?;
            jail.set_env("PBI_ACCESS_TLS__CERT", "/etc/cert.pem");
            let config =
                Config::load(Some(Path::new("c.toml")), &serde_json::json!({ "tls": { "key": "/etc/key.pem" } })).map_err(|e| *e)?;
            assert_eq!(
                config.tls,
                Tls { enabled: true, dir: Some("/srv/tls".into()), cert: Some("/etc/cert.pem".into()), key: Some("/etc/key.pem".into()) }
            );
            jail.create_file("bad.toml", "[tls]\nenable = true\n")?;
            let err = Config::load(Some(Path::new("bad.toml")), &serde_json::json!({})).unwrap_err();
            assert!(err.to_string().contains("enable"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn tls_changes_the_default_public_url_and_finds_its_directory() {
        let bound: std::net::SocketAddr = "127.0.0.1:8443".parse().unwrap();
        let mut config = Config::default();
        assert_eq!(config.public_url(bound), "http://127.0.0.1:8443");
        assert!(!config.tls.is_on());
        config.tls.enabled = true;
        assert_eq!(config.public_url(bound), "https://127.0.0.1:8443");
        assert_eq!(config.tls_dir(), Path::new("./pbi-access-tls"));
        config.database = "sqlite:///var/lib/pbi/data.db?mode=rwc".into();
        assert_eq!(config.tls_dir(), Path::new("/var/lib/pbi/pbi-access-tls"));
        config.database = "sqlite://state/x.db".into();
        assert_eq!(config.tls_dir(), Path::new("state/pbi-access-tls"));
        config.database = "postgres://u@h/db".into();
        assert_eq!(config.tls_dir(), Path::new("./pbi-access-tls"));
        config.tls.dir = Some("/tmp/t".into());
        assert_eq!(config.tls_dir(), Path::new("/tmp/t"));
        let with_key = Config { tls: Tls { key: Some("k.pem".into()), ..Tls::default() }, ..Config::default() };
        assert!(with_key.tls.is_on(), "naming a key turns TLS on");
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn throttling_operator_and_faults_sections() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "c.toml",
                "[throttling]\nadmin_per_hour = 20\n[operator]\ntoken = \"op\"\n\n[[faults]]\noperation = \"Groups_GetGroups\"\nprobability_503 = 0.5\nseed = 9\n\n[[faults]]\npath = \"/v1.0/myorg/admin/*\"\nlatency_ms = 10\n",
            )?;
            jail.set_env("PBI_ACCESS_THROTTLING__ENABLED", "false");
            let config = Config::load(Some(Path::new("c.toml")), &serde_json::json!({})).map_err(|e| *e)?;
            assert_eq!(config.throttling, Throttling { enabled: false, admin_per_hour: 20, ..Throttling::default() });
            assert_eq!(config.operator.token.as_deref(), Some("op"));
            assert_eq!(config.faults.len(), 2);
            assert_eq!(config.faults[0].probability_503, 0.5);
            assert_eq!(config.faults[1].path.as_deref(), Some("/v1.0/myorg/admin/*"));
            jail.create_file("bad.toml", "[[faults]]\noperation = \"x\"\nprobability = 1\n")?;
            let err = Config::load(Some(Path::new("bad.toml")), &serde_json::json!({})).unwrap_err();
            assert!(err.to_string().contains("probability"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "listne = \"typo\"\n")?;
            let err = Config::load(Some(Path::new("c.toml")), &serde_json::json!({})).unwrap_err();
            assert!(err.to_string().contains("listne"), "{err}");
            Ok(())
        });
    }
}
