//! One module per API dialect. Each owns its routing table, its extractors and its error type,
//! so a malformed request still gets an answer in the dialect of the API it hit.

pub mod charge;
pub mod fabric;
pub mod graph;
pub mod oauth;
pub mod operator;
pub mod powerbi;
pub mod query;
pub mod routing;
pub mod scim;
pub mod witnesses;
