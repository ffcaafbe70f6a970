//! Integration tests of `pbi-client`: against a real pbi-access server started in-process
//! (`server`, and its Graph directory in `graph`), and against small axum mock servers for failure sequences (`resilience`), paging
//! (`paging`) and the admin budget shared by two jobs (`budget`). Sleeping goes through a
//! `ManualClock`, so hours of backoff and pacing take milliseconds.

mod common;

mod budget;
mod certificate;
mod graph;
mod paging;
mod resilience;
mod server;
