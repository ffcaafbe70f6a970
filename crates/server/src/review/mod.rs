//! Access reviews: a campaign freezes who holds what over a scope, reviewers decide on each
//! access (Keep, Revoke, Change to a lower role, Don't know), and every decision goes into an
//! append-only log hash-chained from the snapshot's hash, so an export proves that no decision
//! was changed afterwards.
//!
//! `model` is pure: flags, recommendations, default reviewers and the rules a decision must pass.
//! `evidence` is the chain and the export `pbi-access review verify` checks. The store keeps
//! campaigns in `store/review.rs` (schema v13).

pub mod evidence;
pub mod model;

pub use evidence::*;
pub use model::*;
