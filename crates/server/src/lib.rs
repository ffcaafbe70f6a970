//! pbi-access server: a faithful, self-hosted implementation of the Power BI user-management API
//! and the identity plane it depends on.
//!
//! Code map: `app` assembles state and routers; `api` holds one module per API dialect (Power BI,
//! OAuth2); `auth` issues and verifies tokens; `domain` is the model and its rules; `store` is
//! persistence; `tenant` provisions tenants from specs (the demo tenant too); `tls` serves HTTPS.

pub mod api;
pub mod app;
pub mod auth;
pub mod banner;
pub mod cancel;
pub mod clock;
pub mod config;
pub mod domain;
pub mod faults;
pub mod hosts;
pub mod review;
pub mod seed;
pub mod serve;
pub mod store;
pub mod telemetry;
pub mod tenant;
pub mod tls;

#[cfg(test)]
mod proptests;

pub use app::{AppState, Application};
pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use config::Config;
pub use telemetry::init as init_telemetry;
