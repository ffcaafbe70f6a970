//! Desired-state access management for Power BI workspaces.
//!
//! `desired` parses what people write (YAML: workspaces by name or id, principals by UPN or
//! `group:`/`app:`); `state` is what the service shows; `plan` diffs the two into ordered steps
//! with their admin-budget cost and a time estimate; `journal` records each step as it lands;
//! `apply` runs a plan against any [`apply::Target`] (the real service through the client, or a
//! pbi-access twin), refusing a plan whose starting state has drifted and resuming after an
//! interruption without repeating or skipping a step. `offboard` plans and runs the removal of
//! one user's access (pure plan, journaled executor); `service` discovers through `pbi-client`
//! and runs the steps against the service.

pub mod apply;
pub mod desired;
pub mod journal;
pub mod offboard;
pub mod plan;
pub mod service;
pub mod state;
