//! Layered configuration: built-in defaults, then a TOML file, then `PBI_ACCESS_*` environment
//! variables, then command-line flags. The result is passed down explicitly; nothing deeper in
//! the server reads the environment.

use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
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
    #[serde(default)]
    pub licenses: Licenses,
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
            licenses: Licenses::default(),
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
const ENV_KEYS: &[&str] = &["listen", "database", "public_url", "log_format", "demo", "limits", "tokens", "licenses"];

impl Config {
    /// Defaults < TOML file < `PBI_ACCESS_*` env < `overrides` (the flags that were given).
    pub fn load(file: Option<&Path>, overrides: &serde_json::Value) -> Result<Config, figment::Error> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(figment::Error::from(format!("config file {} does not exist", file.display())));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(Env::prefixed("PBI_ACCESS_").split("__").filter(|key| {
            // Keys arrive in the variable's case (`DATABASE`, `LIMITS.MAX_BODY_BYTES`).
            let key = key.as_str().to_ascii_lowercase();
            ENV_KEYS.iter().any(|k| key == *k || key.strip_prefix(k).is_some_and(|rest| rest.starts_with('.')))
        }));
        figment = figment.merge(Serialized::defaults(overrides));
        figment.extract()
    }

    pub fn public_url(&self, bound: std::net::SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{bound}"),
        }
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
            let config = Config::load(Some(Path::new("c.toml")), &overrides)?;
            assert_eq!(config.listen, "127.0.0.1:9");
            assert_eq!(config.database, "sqlite://env.db");
            assert_eq!(config.limits.max_principals_per_workspace, 7);
            assert_eq!(config.tokens, Tokens { lifetime_secs: 60, ..Tokens::default() }, "nested keys come through __");
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
