//! A typed client for the Power BI REST API, the Entra ID token endpoint and Microsoft Graph.
//!
//! The same code talks to Microsoft (`Endpoints::default()`: api.powerbi.com,
//! login.microsoftonline.com, graph.microsoft.com) or to a pbi-access server
//! (`Endpoints::local(url)`), by configuration alone. URLs come from the shared operation table
//! in `pbi-wire`.
//!
//! - [`PowerBiClient`]: typed methods per operation over one generic call path.
//! - [`auth`]: client credentials, password and refresh-token flows; cached tokens refreshed
//!   before expiry; one in-flight token request shared by concurrent callers.
//! - [`paging`]: continuation tokens, `$top`/`$skip` and `@odata.nextLink` as `futures::Stream`s.
//! - [`retry`]: exponential backoff with full jitter, `Retry-After`, and no blind repeats of
//!   non-idempotent calls ([`ClientError::Ambiguous`]).
//! - [`ledger`]: the service's request budgets (`pbi_wire::budgets`: the tenant's admin budget,
//!   200 per sliding hour, the scanner's own), paced and shared between processes.
//! - [`time`]: the injected clock and sleeper.
//!
//! ```no_run
//! # async fn example(tenant: &str, client_id: &str, secret: &str) -> pbi_client::Result<()> {
//! use std::sync::Arc;
//! use futures::TryStreamExt;
//! use pbi_client::{AddOutcome, AdminBudget, Endpoints, Ledger, PowerBiClient, SystemClock};
//! use pbi_wire::powerbi::{GroupUser, GroupUserAccessRight};
//!
//! // Microsoft's services, or `Endpoints::local("http://127.0.0.1:8080")` for pbi-access.
//! let endpoints = Endpoints::default();
//! let ledger = Ledger::file("/var/lib/pbi-jobs/admin-ledger.json", AdminBudget::default(), Arc::new(SystemClock))?;
//! let client = PowerBiClient::builder(endpoints).client_secret(tenant, client_id, secret).admin_ledger(ledger).build()?;
//!
//! let ws = client.create_group("Scratch").await?;
//! let dave = GroupUser::email("dave@contoso.com", GroupUserAccessRight::Viewer);
//! assert_ne!(client.add_group_user_verified(ws.id, &dave).await?, AddOutcome::PresentWithOtherRole(GroupUserAccessRight::Admin));
//! let events: Vec<_> = client.activity_events("2024-05-01T00:00:00Z", "2024-05-01T23:59:59Z", None).try_collect().await?;
//! # let _ = events;
//! # Ok(())
//! # }
//! ```

pub mod auth;
pub mod builder;
pub mod error;
pub mod graph;
pub mod ledger;
pub mod paging;
pub mod powerbi;
pub mod retry;
pub mod stats;
pub mod time;
pub mod transport;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

pub use auth::{ClientCertificate, Credential, TokenClient, TokenSource};
pub use builder::ClientBuilder;
pub use error::{ClientError, Result};
pub use graph::{GraphClient, Memberships};
pub use ledger::{AdminBudget, BudgetWait, Ledger, Pacing, WaitObserver};
pub use paging::{Page, Query};
pub use pbi_wire::budgets::{AdminBudgetModel, Limits};
pub use powerbi::{AddOutcome, AdminGroupsQuery, PowerBiClient, Receipt, ScanOptions, WorkspaceUsers, WorkspaceUsersResponse};
pub use retry::RetryPolicy;
pub use stats::{CallStats, StatsSnapshot};
pub use time::{Clock, ManualClock, SharedClock, SystemClock};

/// Characters left as they are in a path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

pub fn encode_segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// Where the APIs live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// `https://api.powerbi.com`
    pub powerbi: String,
    /// `https://login.microsoftonline.com`
    pub authority: String,
    /// `https://graph.microsoft.com` (paths start with `/v1.0`).
    pub graph: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            powerbi: "https://api.powerbi.com".into(),
            authority: "https://login.microsoftonline.com".into(),
            graph: "https://graph.microsoft.com".into(),
        }
    }
}

impl Endpoints {
    /// A pbi-access server: Power BI and the authority at its base URL, Graph under `/graph`.
    pub fn local(base: &str) -> Endpoints {
        let base = base.trim_end_matches('/').to_string();
        Endpoints { powerbi: base.clone(), authority: base.clone(), graph: format!("{base}/graph") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let local = Endpoints::local("http://127.0.0.1:8080/");
        assert_eq!(local.powerbi, "http://127.0.0.1:8080");
        assert_eq!(local.authority, "http://127.0.0.1:8080");
        assert_eq!(local.graph, "http://127.0.0.1:8080/graph");
        assert_eq!(Endpoints::default().graph, "https://graph.microsoft.com");
    }
}
