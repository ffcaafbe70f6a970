//! Integration tests: each starts the real server on port 0 and speaks HTTP to it. Tests that
//! touch the store run on SQLite and on PostgreSQL (see `helpers::Backend`).

mod helpers;

mod activity;
mod admin;
mod artifacts;
mod audit;
mod authflows;
mod cancel;
mod certificates;
mod compatibility;
mod concurrency;
mod dataset_users;
mod directory_activity;
mod directory_counts;
mod errors;
mod fabric;
mod faults;
mod fuzz;
mod graph;
mod group_users;
mod groups;
mod hardening;
mod identity;
mod instances;
mod items;
mod oidc;
mod page_cache;
mod review;
mod scanner;
mod scim;
mod seed;
mod shared_items;
mod store;
mod swagger_users;
mod throttling;
mod tokens;
