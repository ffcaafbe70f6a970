//! Where a command connects: a named profile from `profiles.toml`, under `PBI_ACCESS_*`
//! variables. The defaults are Microsoft's real endpoints, so pointing the binary at production
//! or at a pbi-access server is configuration alone.

use std::path::PathBuf;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use pbi_client::{AdminBudgetModel, ClientCertificate, Credential, Limits, Pacing};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Profile {
    pub tenant: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// A certificate credential instead of the secret: the public certificate (PEM file) the
    /// app registration has, and its private key (PEM file, PKCS#8 or PKCS#1 RSA).
    pub client_certificate: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// A user to sign in as (password grant with `client_id`), instead of the application: the
    /// admin endpoints that change access (used by `offboard`) are open to Fabric administrators only.
    pub username: Option<String>,
    pub password: Option<String>,
    /// `https://api.powerbi.com`, or a pbi-access server's URL.
    pub powerbi_url: String,
    /// `https://login.microsoftonline.com`, or a pbi-access server's URL.
    pub authority_url: String,
    /// `https://graph.microsoft.com`, or `{pbi-access}/graph`.
    pub graph_url: String,
    /// The tenant's admin API budget per sliding hour (shared, or each admin operation's).
    pub admin_budget_per_hour: u32,
    /// How the service counts the admin budget (`[NAME.throttling]`, `PBI_ACCESS_ADMIN_BUDGET`):
    /// the ledger paces to the same model as the server's `[throttling] admin_budget`.
    pub throttling: Throttling,
    /// The longest a job waits for admin budget before it saves its journal and stops.
    pub max_wait_secs: u64,
    /// The shared budget ledger of this machine.
    pub ledger: Option<PathBuf>,
    /// Test-only pacing (`PBI_ACCESS_APPLY_STEP_DELAY_MS`): `apply` waits this long before each
    /// step's call, so an end-to-end test can interrupt it half-way. 0 (the default) in real use.
    pub apply_step_delay_ms: u64,
}

/// The profile's `throttling` table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Throttling {
    /// `shared` (one 200/hour budget for all admin operations, the default) or `per_operation`.
    pub admin_budget: AdminBudgetModel,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            tenant: None,
            client_id: None,
            client_secret: None,
            client_certificate: None,
            client_key: None,
            username: None,
            password: None,
            powerbi_url: "https://api.powerbi.com".into(),
            authority_url: "https://login.microsoftonline.com".into(),
            graph_url: "https://graph.microsoft.com".into(),
            admin_budget_per_hour: 200,
            throttling: Throttling::default(),
            max_wait_secs: 120,
            ledger: None,
            apply_step_delay_ms: 0,
        }
    }
}

const ENV_KEYS: &[&str] = &[
    "tenant",
    "client_id",
    "client_secret",
    "client_certificate",
    "client_key",
    "username",
    "password",
    "powerbi_url",
    "authority_url",
    "graph_url",
    "admin_budget_per_hour",
    "admin_budget",
    "max_wait_secs",
    "ledger",
    "apply_step_delay_ms",
];

impl Profile {
    /// What the budget ledger paces to: the budget table with this profile's admin figures.
    pub fn pacing(&self) -> Pacing {
        Pacing {
            limits: Limits { admin_budget: self.throttling.admin_budget, admin_per_hour: self.admin_budget_per_hour, ..Limits::default() },
            max_wait: std::time::Duration::from_secs(self.max_wait_secs),
        }
    }

    /// The app's credential for client credentials: the certificate and key when
    /// `client_certificate` is set (it wins over a secret from another layer), else the secret.
    pub fn app_credential(&self) -> Result<Credential, String> {
        let need = |v: &Option<String>, name: &str| {
            v.clone().ok_or_else(|| format!("no {name}: set it in the profile or PBI_ACCESS_{}", name.to_uppercase()))
        };
        let tenant = need(&self.tenant, "tenant")?;
        let client_id = need(&self.client_id, "client_id")?;
        match (&self.client_certificate, &self.client_key) {
            (Some(cert), Some(key)) => {
                let read = |p: &PathBuf, what: &str| std::fs::read_to_string(p).map_err(|e| format!("{what} {}: {e}", p.display()));
                let certificate = ClientCertificate::from_pem(&read(cert, "client_certificate")?, &read(key, "client_key")?)
                    .map_err(|e| format!("client_certificate {}: {e}", cert.display()))?;
                Ok(Credential::ClientCertificate { tenant, client_id, certificate })
            }
            (Some(_), None) => Err("client_certificate is set but client_key is not: set PBI_ACCESS_CLIENT_KEY to its private key".into()),
            (None, Some(_)) => Err("client_key is set but client_certificate is not: set PBI_ACCESS_CLIENT_CERTIFICATE".into()),
            (None, None) => Ok(Credential::ClientSecret {
                tenant,
                client_id,
                secret: need(&self.client_secret, "client_secret").map_err(|e| format!("{e} (or client_certificate and client_key)"))?,
            }),
        }
    }
}

/// `$PBI_ACCESS_PROFILES`, else `$XDG_CONFIG_HOME/pbi-access/profiles.toml`, else `~/.config/…`.
pub fn profiles_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PBI_ACCESS_PROFILES") {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("pbi-access").join("profiles.toml"))
}

/// Defaults < `[NAME]` of the profiles file (when it exists) < `PBI_ACCESS_*`.
pub fn load(name: &str, file: Option<PathBuf>) -> Result<Profile, Box<figment::Error>> {
    let mut figment = Figment::from(Serialized::defaults(Profile::default()));
    if let Some(file) = file.or_else(profiles_path).filter(|f| f.exists()) {
        figment = figment.merge(Figment::from(Toml::file(file)).focus(name));
    }
    figment = figment.merge(Env::prefixed("PBI_ACCESS_").only(ENV_KEYS).map(|k| {
        if k == "admin_budget" {
            "throttling.admin_budget".into()
        } else {
            k.into()
        }
    }));
    figment.extract().map_err(Box::new)
}

#[cfg(test)]
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn profiles_layer_under_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("p.toml", "[twin]\ntenant = \"t1\"\npowerbi_url = \"http://127.0.0.1:8080\"\n[prod]\ntenant = \"t2\"\n")?;
            jail.set_env("PBI_ACCESS_CLIENT_ID", "c1");
            let twin = load("twin", Some("p.toml".into())).map_err(|e| *e)?;
            assert_eq!((twin.tenant.as_deref(), twin.client_id.as_deref()), (Some("t1"), Some("c1")));
            assert_eq!(twin.powerbi_url, "http://127.0.0.1:8080");
            assert_eq!(twin.authority_url, "https://login.microsoftonline.com");
            let prod = load("prod", Some("p.toml".into())).map_err(|e| *e)?;
            assert_eq!(prod.powerbi_url, "https://api.powerbi.com");
            assert_eq!(prod.throttling.admin_budget, AdminBudgetModel::Shared);
            jail.set_env("PBI_ACCESS_ADMIN_BUDGET", "per_operation");
            let per_op = load("prod", Some("p.toml".into())).map_err(|e| *e)?;
            assert_eq!(per_op.pacing().limits.admin_budget, AdminBudgetModel::PerOperation);
            Ok(())
        });
    }
}
