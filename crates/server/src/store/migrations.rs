//! Versioned, forward-only migrations. The schema version is visible in `schema_migrations`;
//! a database newer than this binary is refused rather than silently misread.
//!
//! Several instances may start together on one database: PostgreSQL migrates under an advisory
//! lock; SQLite migrates inside one `BEGIN IMMEDIATE` transaction (the database's write lock), and
//! both read the current version only once they hold the lock.

use sqlx::AnyConnection;
use sqlx::{AnyPool, Executor, Row};

use super::{Backend, Store, StoreError, StoreResult};

/// (version, SQL). Append only; never edit a released migration.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/0001_foundation.sql")),
    (2, include_str!("../../migrations/0002_identity_plane.sql")),
    (3, include_str!("../../migrations/0003_artifacts_and_audit.sql")),
    (4, include_str!("../../migrations/0004_throttling.sql")),
    (6, include_str!("../../migrations/0006_audit_extra.sql")),
    (7, include_str!("../../migrations/0007_tenant_generations.sql")),
    (8, include_str!("../../migrations/0008_certificate_credentials.sql")),
    (9, include_str!("../../migrations/0009_directory_generation.sql")),
    (11, include_str!("../../migrations/0011_directory_group_indexes.sql")),
    (12, include_str!("../../migrations/0012_directory_scale.sql")),
    (13, include_str!("../../migrations/0013_access_reviews.sql")),
    (14, include_str!("../../migrations/0014_directory_counts.sql")),
    (15, include_str!("../../migrations/0015_pipelines_gateways.sql")),
    (16, include_str!("../../migrations/0016_sign_in_flows.sql")),
    (17, include_str!("../../migrations/0017_app_roles.sql")),
    (18, include_str!("../../migrations/0018_review_app_state.sql")),
];

pub const LATEST: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

pub(super) async fn current_version(pool: &AnyPool) -> StoreResult<i64> {
    let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations").fetch_one(pool).await?;
    Ok(row.try_get::<i64, _>("v")?)
}

pub(super) async fn migrate(store: &Store) -> StoreResult<()> {
    let mut conn = store.write.acquire().await?;
    let (lock, unlock_ok, unlock_err) = match store.backend {
        Backend::Postgres => ("SELECT pg_advisory_lock(727274)", "SELECT pg_advisory_unlock(727274)", "SELECT pg_advisory_unlock(727274)"),
        Backend::Sqlite => ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"),
    };
    conn.execute(lock).await?;
    let result = apply_pending(&mut conn, store.backend).await;
    conn.execute(if result.is_ok() { unlock_ok } else { unlock_err }).await?;
    result
}

async fn apply_pending(conn: &mut AnyConnection, backend: Backend) -> StoreResult<()> {
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)").await?;
    let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations").fetch_one(&mut *conn).await?;
    let current: i64 = row.try_get("v")?;
    if current > LATEST {
        return Err(StoreError::Migration(format!(
            "the database is at schema version {current}, newer than this pbi-access supports ({LATEST}); refusing to downgrade"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        // PostgreSQL: one transaction per migration. SQLite: already inside BEGIN IMMEDIATE.
        if backend == Backend::Postgres {
            conn.execute("BEGIN").await?;
        }
        let applied = async {
            for statement in statements(sql) {
                conn.execute(statement.as_str()).await.map_err(|e| StoreError::Migration(format!("migration {version} failed: {e}")))?;
            }
            sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(*version)
                .bind(chrono::Utc::now().timestamp_millis())
                .execute(&mut *conn)
                .await?;
            Ok::<(), StoreError>(())
        }
        .await;
        if backend == Backend::Postgres {
            conn.execute(if applied.is_ok() { "COMMIT" } else { "ROLLBACK" }).await?;
        }
        applied?;
        tracing::info!(version, "applied schema migration");
    }
    Ok(())
}

/// The statements of a migration file: `--` comment lines dropped first (so a `;` in a comment
/// cannot split a statement), then split on `;`.
fn statements(sql: &str) -> Vec<String> {
    let code: String = sql.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
    code.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn comments_never_split_statements() {
        let sql = "-- a; b\nCREATE TABLE t (a TEXT);\n-- c;\nCREATE INDEX i ON t (a)\n";
        assert_eq!(super::statements(sql), vec!["CREATE TABLE t (a TEXT)", "CREATE INDEX i ON t (a)"]);
    }
}
