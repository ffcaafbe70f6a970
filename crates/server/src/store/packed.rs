//! Packed reads: a large result read as ONE row holding a JSON array of row tuples, built by the
//! database (`json_group_array(json_array(…))` on SQLite, `json_agg(json_build_array(…))` on
//! PostgreSQL) and decoded here into typed tuples, then into domain types by the caller.
//!
//! Why: sqlx hands SQLite rows over one at a time from the connection's worker thread, which
//! costs tens of microseconds a row on a loaded machine: 115,000 member rows of one
//! `GET /admin/groups` page took seconds, the SQL itself a small part of it. One packed row
//! costs one hand-over and a fast JSON decode. This is a storage encoding (row tuples in the
//! select's column order), not a wire type: the store still never builds API JSON.

use serde::de::DeserializeOwned;
use sqlx::{Any, Executor, Row};

use super::{Backend, StoreError, StoreResult};

/// The statement that packs the rows of `inner` (a SELECT ending in `ORDER BY order`, perhaps
/// with a LIMIT, whose result has `columns`) into one row, in that order.
pub(super) fn pack_sql(backend: Backend, inner: &str, columns: &[&str], order: &str) -> String {
    let list = columns.join(", ");
    match backend {
        // SQLite aggregates in the order the ordered subquery yields its rows.
        Backend::Sqlite => format!("SELECT json_group_array(json_array({list})) AS packed FROM ({inner}) t"),
        Backend::Postgres => {
            format!("SELECT COALESCE(json_agg(json_build_array({list}) ORDER BY {order}), '[]')::text AS packed FROM ({inner}) t")
        }
    }
}

/// Run a packed statement (see `pack_sql`) and decode its rows as `T` (a tuple in column order).
pub(super) async fn fetch_packed<'q, 'c, T, E>(e: E, query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>) -> StoreResult<Vec<T>>
where
    T: DeserializeOwned,
    E: Executor<'c, Database = Any>,
{
    let row = query.fetch_one(e).await?;
    let packed: String = row.try_get("packed")?;
    serde_json::from_str(&packed).map_err(|e| StoreError::Corrupt(format!("a packed read did not decode: {e}")))
}
