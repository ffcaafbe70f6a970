//! The store: one schema, two backends (SQLite in WAL mode by default, PostgreSQL when several
//! instances share tenants), reached through sqlx's `Any` driver with portable SQL.
//!
//! Vocabulary: `create_*` (one object, with its checks), `get_*` (one by key: `Option`),
//! `list_*` (a page or a set), `update_*` (read-change-write of one object), `delete_*`,
//! `count_*`, and the bulk `insert_*` (rows written as given inside a bulk write, for tenant
//! import, seed and tests). Each directory resource's writes live in its own file under
//! `store/directory/`.
//!
//! Invariant (caches exact by construction): every write that changes what a cached view shows
//! runs in a [`WriteTx`] (`Store::write_tx`, `Store::dir_write`, `Store::bulk_write`), whose only
//! way out is `WriteTx::commit`: it moves the tenant's generations, commits, and forgets the stale
//! views; dropping it rolls back. See `store::generation`.
//!
//! Invariant (serialised writers): every write transaction that depends on what it reads first
//! bumps the `version` of the row it changes (`UPDATE workspaces SET version = version + 1`).
//! On PostgreSQL that takes the row lock; on SQLite the single writer connection serialises
//! writes anyway. So the last-Admin and principal-limit checks read facts nobody else can change
//! before the commit.

mod access;
pub mod activity;
mod artifacts;
mod audit;
mod batch;
mod cache;
mod cancel;
mod directory;
mod entra_audit;
mod generation;
mod keys;
mod migrations;
mod packed;
mod review;
mod settings;
mod shared_items;
mod signin;
mod snapshot;
mod sync;
mod throttle;

pub use snapshot::TenantRows;
pub mod seed;
mod workspaces;

pub use activity::{record_activity, ActivityEvent, DirAuditor};
pub use artifacts::*;
pub use directory::*;
pub use entra_audit::{EntraAuditEvent, EntraAuditQuery};
pub use generation::{bump_generation, CacheStamp, Forget, TenantGenerations, WriteScope, WriteTx};
pub use keys::*;
pub use review::ActivityDays;
pub use shared_items::*;
pub use signin::*;
pub use workspaces::*;
/// The schema version this build migrates to.
pub const SCHEMA_VERSION: i64 = migrations::LATEST;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Migration(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("unsupported database URL '{0}': use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    /// A queued write that did not run, or whose batch failed (`store::batch`).
    #[error("write not completed: {0}")]
    Unfinished(String),
}

impl StoreError {
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Handle on the database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    /// Writes. On SQLite a single connection: one writer at a time, queued fairly by the pool
    /// instead of spinning on `SQLITE_BUSY`.
    write: AnyPool,
    /// Reads. On SQLite several connections reading WAL snapshots; on PostgreSQL the same pool.
    read: AnyPool,
    backend: Backend,
    /// Read-through cache of workspace views and tenant settings. On SQLite this process is the
    /// database's one writer, so invalidating on its own commits keeps the cache exact. On
    /// PostgreSQL other instances write too: the cache serves only while the listener is live
    /// (`store::sync`), and reads check versions in the database otherwise.
    cache: std::sync::Arc<cache::ViewCache>,
    /// Which request each connection serves, to stop a cancelled request's statements.
    bindings: std::sync::Arc<cancel::Bindings>,
    /// PostgreSQL: where the listener connects (`Store::start_listener`).
    listen_url: Option<String>,
    listener: std::sync::Arc<sync::Listener>,
    /// PostgreSQL: the role changes queued on each workspace's group commit.
    batches: std::sync::Arc<batch::Batches>,
}

impl Store {
    /// Connect, create the SQLite file if needed, and migrate to the newest schema.
    pub async fn connect(url: &str) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let store = if url.starts_with("sqlite:") {
            let url = if url.contains("mode=") {
                url.to_string()
            } else if url.contains('?') {
                format!("{url}&mode=rwc")
            } else {
                format!("{url}?mode=rwc")
            };
            cancel::install_sqlite_hooks();
            let options = logged(AnyConnectOptions::from_str(&url)?);
            let bindings = std::sync::Arc::new(cancel::Bindings::default());
            let pool = |max: u32| {
                let (on_connect, on_acquire) = (bindings.clone(), bindings.clone());
                AnyPoolOptions::new()
                    .max_connections(max)
                    .min_connections(1)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(move |conn, _| {
                        let bindings = on_connect.clone();
                        Box::pin(async move {
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            cancel::bind(conn, Backend::Sqlite, &bindings).await.map(drop)
                        })
                    })
                    .test_before_acquire(false)
                    .before_acquire(move |conn, _| {
                        let bindings = on_acquire.clone();
                        Box::pin(async move { cancel::bind(conn, Backend::Sqlite, &bindings).await })
                    })
            };
            let write = pool(1).connect_with(options.clone()).await?;
            let read = pool(8).connect_with(options).await?;
            Store {
                write,
                read,
                backend: Backend::Sqlite,
                cache: std::sync::Arc::new(cache::ViewCache::new(true)),
                bindings,
                listen_url: None,
                listener: Default::default(),
                batches: Default::default(),
            }
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let bindings = std::sync::Arc::new(cancel::Bindings::postgres(url)?);
            let (on_connect, on_acquire) = (bindings.clone(), bindings.clone());
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(30))
                .after_connect(move |conn, _| {
                    let bindings = on_connect.clone();
                    Box::pin(async move { cancel::bind(conn, Backend::Postgres, &bindings).await.map(drop) })
                })
                .test_before_acquire(false)
                .before_acquire(move |conn, _| {
                    let bindings = on_acquire.clone();
                    Box::pin(async move { cancel::bind(conn, Backend::Postgres, &bindings).await })
                })
                .connect_with(logged(AnyConnectOptions::from_str(url)?))
                .await?;
            Store {
                write: pool.clone(),
                read: pool,
                backend: Backend::Postgres,
                cache: std::sync::Arc::new(cache::ViewCache::new(false)),
                bindings,
                listen_url: Some(url.to_string()),
                listener: Default::default(),
                batches: Default::default(),
            }
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        migrations::migrate(&store).await?;
        store.build_missing_licences().await?;
        Ok(store)
    }

    /// Compute the licence state of tenants that have none yet (databases from before schema
    /// v12), each in its own transaction; a tenant another instance built meanwhile is skipped.
    async fn build_missing_licences(&self) -> StoreResult<()> {
        let rows = sqlx::query("SELECT id FROM tenants WHERE licences_built = 0").fetch_all(&self.read).await?;
        for r in rows {
            let tenant = parse_uuid(&sqlx::Row::try_get::<String, _>(&r, "id")?)?;
            let mut tx = self.write.begin().await?;
            let n = sqlx::query("UPDATE tenants SET licences_built = 1 WHERE id = $1 AND licences_built = 0")
                .bind(tenant.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 1 {
                directory::rebuild_licences(&mut tx, tenant).await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The schema version recorded in the database.
    pub async fn schema_version(&self) -> StoreResult<i64> {
        migrations::current_version(&self.read).await
    }

    /// This process's local generation: moves on every invalidation of its caches (every
    /// `WriteTx` commit). Caches above the
    /// store pair it with the tenant's write generation (see `api::powerbi::page_cache`).
    pub fn local_generation(&self) -> u64 {
        self.cache.generation()
    }

    /// After a bulk load (seed): on PostgreSQL, `VACUUM ANALYZE`, so that the planner knows the
    /// new rows and index-only scans work at once, rather than after autovacuum gets to them.
    /// SQLite's plans are fixed by the statements themselves (see `store::audit`); nothing to do.
    pub async fn refresh_statistics(&self) -> StoreResult<()> {
        if self.backend == Backend::Postgres {
            sqlx::query(
                "VACUUM ANALYZE users, directory_groups, group_members, group_owners, license_assignments, user_licenses, workspaces, \
                 workspace_members, capacities, capacity_users, artifacts, artifact_permissions, subscriptions, activity_events",
            )
            .execute(&self.write)
            .await?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        self.stop_listener();
        self.write.close().await;
        self.read.close().await;
    }
}

/// Statements are logged at debug, and any taking a second or more at warn with its text and
/// duration (sqlx's slow-statement log, on both backends).
fn logged(options: AnyConnectOptions) -> AnyConnectOptions {
    use sqlx::ConnectOptions;
    options.log_statements(log::LevelFilter::Debug).log_slow_statements(log::LevelFilter::Warn, Duration::from_secs(1))
}

pub(crate) fn parse_uuid(s: &str) -> StoreResult<uuid::Uuid> {
    uuid::Uuid::parse_str(s).map_err(|_| StoreError::Corrupt(format!("'{s}' is not a UUID")))
}

pub(crate) fn parse_enum<T: FromStr<Err = String>>(s: &str) -> StoreResult<T> {
    s.parse().map_err(StoreError::Corrupt)
}
