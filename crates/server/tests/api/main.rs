//! Integration tests: each starts the real server on port 0 and speaks HTTP to it. Tests that
//! touch the store run on SQLite and on PostgreSQL (see `helpers::Backend`).

mod helpers;

mod activity;
mod admin;
mod audit;
mod compatibility;
mod concurrency;
mod errors;
mod group_users;
mod groups;
mod identity;
mod oidc;
mod scanner;
mod seed;
mod store;
mod tokens;
