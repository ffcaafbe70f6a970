//! `ClientBuilder`: one place to say where the APIs are, how to authenticate, how to retry and
//! which admin-budget ledger to count against.

use std::sync::Arc;
use std::time::Duration;

use pbi_wire::oauth::POWERBI_DEFAULT_SCOPE;

use crate::auth::{Auth, ClientCertificate, Credential, TokenClient, TokenSource, GRAPH_DEFAULT_SCOPE};
use crate::error::{ClientError, Result};
use crate::graph::GraphClient;
use crate::ledger::Ledger;
use crate::powerbi::PowerBiClient;
use crate::retry::RetryPolicy;
use crate::stats::CallStats;
use crate::time::{SharedClock, SystemClock};
use crate::transport::Core;
use crate::Endpoints;
use pbi_wire::budgets::AdminBudgetModel;

#[derive(Debug, Clone)]
enum AuthSpec {
    /// A credential that could not be read; `build` reports it.
    Invalid(String),
    Static(String),
    Credential(Credential),
    Source(Arc<TokenSource>),
}

/// Builds a [`PowerBiClient`] or a [`GraphClient`]. Defaults: Microsoft's endpoints as given,
/// [`RetryPolicy::default`], the system clock, no ledger.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    endpoints: Endpoints,
    http: Option<reqwest::Client>,
    auth: Option<AuthSpec>,
    retry: RetryPolicy,
    clock: SharedClock,
    ledger: Option<Arc<Ledger>>,
    ledger_tenant: Option<String>,
    budget_model: Option<AdminBudgetModel>,
    refresh_before: Duration,
    stats: Arc<CallStats>,
}

impl ClientBuilder {
    pub fn new(endpoints: Endpoints) -> ClientBuilder {
        ClientBuilder {
            endpoints,
            http: None,
            auth: None,
            retry: RetryPolicy::default(),
            clock: Arc::new(SystemClock),
            ledger: None,
            ledger_tenant: None,
            budget_model: None,
            refresh_before: Duration::from_secs(300),
            stats: Arc::default(),
        }
    }

    /// The HTTP client (default: connect timeout 10 s, request timeout 120 s).
    pub fn http(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// A bearer token used as it is (no refresh).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.auth = Some(AuthSpec::Static(token.into()));
        self
    }

    pub fn credential(mut self, credential: Credential) -> Self {
        self.auth = Some(AuthSpec::Credential(credential));
        self
    }

    /// Client credentials with a secret.
    pub fn client_secret(self, tenant: impl Into<String>, client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.credential(Credential::ClientSecret { tenant: tenant.into(), client_id: client_id.into(), secret: secret.into() })
    }

    /// Client credentials with a certificate: the public certificate and its RSA private key,
    /// both PEM. Every token request sends a freshly signed assertion (`x5t` from the
    /// certificate); tokens are cached and renewed as with a secret. A certificate or key that
    /// cannot be read makes `build` fail.
    pub fn client_certificate(mut self, tenant: impl Into<String>, client_id: impl Into<String>, cert_pem: &str, key_pem: &str) -> Self {
        match ClientCertificate::from_pem(cert_pem, key_pem) {
            Ok(certificate) => {
                self.credential(Credential::ClientCertificate { tenant: tenant.into(), client_id: client_id.into(), certificate })
            }
            Err(e) => {
                let message = match e {
                    ClientError::Invalid(m) => m,
                    other => other.to_string(),
                };
                self.auth = Some(AuthSpec::Invalid(message));
                self
            }
        }
    }

    /// A user's password (public client: no client secret).
    pub fn password(
        self,
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.credential(Credential::Password {
            tenant: tenant.into(),
            client_id: client_id.into(),
            client_secret: None,
            username: username.into(),
            password: password.into(),
        })
    }

    /// Share one token cache between several clients (it must be for the right resource).
    pub fn token_source(mut self, source: Arc<TokenSource>) -> Self {
        self.auth = Some(AuthSpec::Source(source));
        self
    }

    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The clock for token expiry, backoff and the ledger (tests: `ManualClock`).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// How long before expiry a cached token is replaced (default 5 minutes, at most half the lifetime).
    pub fn refresh_before(mut self, d: Duration) -> Self {
        self.refresh_before = d;
        self
    }

    /// Count admin calls against this ledger, under the credential's tenant (or `ledger_tenant`).
    pub fn admin_ledger(mut self, ledger: Arc<Ledger>) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// How the admin operations share the admin budget (`shared`, the default, or
    /// `per_operation`), when not the ledger's: the client paces to the model the service counts by.
    pub fn admin_budget(mut self, model: AdminBudgetModel) -> Self {
        self.budget_model = Some(model);
        self
    }

    /// The tenant key of the ledger. Give the same string (the tenant id is best) in every job
    /// that shares the ledger file.
    pub fn ledger_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.ledger_tenant = Some(tenant.into());
        self
    }

    /// Count this client's calls in `stats` (clients built from one builder share its counters).
    pub fn stats(mut self, stats: Arc<CallStats>) -> Self {
        self.stats = stats;
        self
    }

    fn http_client(&self) -> Result<reqwest::Client> {
        match &self.http {
            Some(h) => Ok(h.clone()),
            None => reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .timeout(Duration::from_secs(120))
                .build()
                .map_err(ClientError::Http),
        }
    }

    fn core(&self, base: &str, scope: &str) -> Result<Core> {
        let http = self.http_client()?;
        let (auth, tenant) = match self.auth.clone() {
            None => return Err(ClientError::Invalid("no credential or token given".into())),
            Some(AuthSpec::Invalid(e)) => return Err(ClientError::Invalid(e)),
            Some(AuthSpec::Static(t)) => (Auth::Static(t), None),
            Some(AuthSpec::Source(s)) => {
                let tenant = s.credential().tenant().to_string();
                (Auth::Source(s), Some(tenant))
            }
            Some(AuthSpec::Credential(c)) => {
                let tenant = c.tenant().to_string();
                let source = TokenSource::with_refresh_before(
                    TokenClient::new(http.clone(), &self.endpoints),
                    c,
                    scope,
                    self.clock.clone(),
                    self.refresh_before,
                );
                (Auth::Source(source), Some(tenant))
            }
        };
        let ledger = match &self.ledger {
            None => None,
            Some(l) => {
                let key = self.ledger_tenant.clone().or(tenant).ok_or_else(|| {
                    ClientError::Invalid("an admin ledger needs a tenant: give a credential or call ledger_tenant".into())
                })?;
                Some((l.clone(), key))
            }
        };
        Ok(Core {
            http,
            base: base.trim_end_matches('/').to_string(),
            auth,
            retry: self.retry.clone(),
            clock: self.clock.clone(),
            ledger,
            budget_model: self.budget_model,
            stats: self.stats.clone(),
        })
    }

    pub fn build(self) -> Result<PowerBiClient> {
        Ok(PowerBiClient::from_core(self.core(&self.endpoints.powerbi, POWERBI_DEFAULT_SCOPE)?))
    }

    /// A Graph client (tokens for `https://graph.microsoft.com/.default`).
    pub fn build_graph(self) -> Result<GraphClient> {
        Ok(GraphClient::from_core(self.core(&self.endpoints.graph, GRAPH_DEFAULT_SCOPE)?))
    }
}
