//! Tenant write generations (`tenant_generations`, schema v7 and v9): the counters that keep
//! caches of rendered admin reads exact on both backends and across instances.
//!
//! - `generation` moves with every write that changes what an admin read shows.
//! - `directory_generation` moves only with writes not tied to one workspace's `version`: the
//!   directory, and bulk replacements (import, seed). A workspace's rendered users stay valid
//!   while its `version` (moved under its lock by every role change) and this counter hold.
//!
//! Invariant (generation last, inside the write): a write that must move a counter in the
//! database bumps it as its last statement before `COMMIT`, so the bump becomes visible exactly
//! when the write does, and a reader that reads the counters before its data can only store what
//! it read under counters no newer than the data. On PostgreSQL the bump takes the row's lock
//! only while the transaction commits, so it cannot take part in a deadlock.
//!
//! Invariant (who bumps in the database): writes through the store's methods end with
//! `WriteTx::commit`. On PostgreSQL it queues the write's notification (`store::sync`), which
//! tells every listening instance, and bumps the database counters only for directory-scope
//! writes: an instance whose listener is down reads a workspace view again when the workspace's
//! `version` or the directory generation moved, and serves no cached page. Workspace-scope writes
//! move their workspace's `version` under its lock already, so they skip the tenant's row (a hot
//! row every write of the tenant would queue on). On SQLite one process serves the file and its
//! local generation (`Store::local_generation`, moved by every commit) already tells its caches;
//! skipping the bump there kept a role change at one statement fewer (the write benchmark lost
//! half its throughput to it). Writers that may run in another process than the server (tenant
//! import, seed) commit through `Store::bulk_write`, which bumps on both backends; on PostgreSQL
//! it notifies the instances too.

use sqlx::{Any, Row};
use uuid::Uuid;

use super::sync::{notify_in, payload};
use super::{Backend, Store, StoreResult};

/// What a write changed, which decides the counters it moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteScope {
    /// Workspaces, role assignments, artifacts: a role change also moves its workspace's
    /// `version`, under the workspace's lock.
    Workspaces,
    /// The directory, or the whole tenant (import, seed): every rendering may have changed.
    Directory,
}

/// Bump `tenant`'s write generations in the database and, on PostgreSQL, tell every instance to
/// forget what it cached (sent on commit). Call it last in the write's transaction.
pub async fn bump_generation<C>(mut conn: C, tenant: Uuid, scope: WriteScope) -> StoreResult<()>
where
    C: std::ops::DerefMut<Target = sqlx::AnyConnection>,
{
    let conn: &mut sqlx::AnyConnection = &mut conn;
    if conn.backend_name().eq_ignore_ascii_case("postgresql") {
        notify_in(conn, &payload(tenant, Forget::Everything)).await?;
    }
    let directory = match scope {
        WriteScope::Workspaces => 0,
        WriteScope::Directory => 1,
    };
    sqlx::query(
        "INSERT INTO tenant_generations (tenant_id, generation, directory_generation) VALUES ($1, 1, $2) \
         ON CONFLICT (tenant_id) DO UPDATE SET generation = tenant_generations.generation + 1, \
         directory_generation = tenant_generations.directory_generation + $2",
    )
    .bind(tenant.to_string())
    .bind(directory)
    .execute(conn)
    .await?;
    Ok(())
}

/// The cached views a committed write made stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forget {
    /// None (a new workspace, an artifact permission): only the local generation moves.
    Nothing,
    Workspace(Uuid),
    Everything,
}

/// A tenant's write generations as committed at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TenantGenerations {
    pub generation: i64,
    pub directory: i64,
}

/// What a rendering cached above the store (the admin page cache) is kept under, read before any
/// of its data: the tenant's generations in the database paired with this process's local one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStamp {
    pub generations: TenantGenerations,
    pub local: u64,
    /// Whether a rendering may be kept under this stamp. Not on PostgreSQL while the listener is
    /// down: workspace writes do not move the database generation there (see the module doc).
    pub cacheable: bool,
}

impl Store {
    /// The stamp of `tenant`'s cached renderings as of now. SQLite: the database generations (out
    /// of process writers move them) and the local one. PostgreSQL with a live listener: the local
    /// generation alone, which every instance's notification moves (no database read). PostgreSQL
    /// otherwise: the database generations, for the versioned views, and not cacheable.
    pub async fn cache_stamp(&self, tenant: Uuid) -> StoreResult<CacheStamp> {
        let local = self.cache.generation();
        Ok(match self.backend {
            Backend::Sqlite => CacheStamp { generations: self.tenant_generations(tenant).await?, local, cacheable: true },
            Backend::Postgres if self.cache.live() => CacheStamp { generations: TenantGenerations::default(), local, cacheable: true },
            Backend::Postgres => CacheStamp { generations: self.tenant_generations(tenant).await?, local, cacheable: false },
        })
    }

    /// A write transaction for `tenant` whose commit moves the generations of `scope` and
    /// forgets what `forget` names (see [`WriteTx`]).
    pub(crate) async fn write_tx(&self, tenant: Uuid, scope: WriteScope, forget: Forget) -> StoreResult<WriteTx<'_>> {
        Ok(WriteTx { store: self, tx: self.write.begin().await?, tenant: Some(tenant), ending: Ending::Scoped(scope), forget })
    }

    /// A directory write of `tenant`: every rendering may change, so its commit forgets everything.
    pub(crate) async fn dir_write(&self, tenant: Uuid) -> StoreResult<WriteTx<'_>> {
        self.write_tx(tenant, WriteScope::Directory, Forget::Everything).await
    }

    /// A transaction as another process would write it: no generation moves and nothing cached
    /// here is forgotten. Only for tests and tools that stand for an out-of-process writer
    /// (with `bump_generation`) or write state no cached view shows (the throttle ledger).
    pub async fn external_write(&self) -> StoreResult<sqlx::Transaction<'static, Any>> {
        Ok(self.write.begin().await?)
    }

    /// A bulk write (tenant import, seed, tools): rows go in through the resources' `insert_*`;
    /// the commit rebuilds the tenant's derived state (licences, kept counts), bumps its
    /// generations in the database on both backends (the writer may be another process than the
    /// server), commits, and forgets everything. Name the tenant with [`WriteTx::set_tenant`].
    pub async fn bulk_write(&self) -> StoreResult<WriteTx<'_>> {
        Ok(WriteTx { store: self, tx: self.write.begin().await?, tenant: None, ending: Ending::Bulk, forget: Forget::Everything })
    }

    /// `tenant`'s write generations as committed now (0 before its first write). Read them
    /// before the data a cached rendering is made from.
    pub async fn tenant_generations(&self, tenant: Uuid) -> StoreResult<TenantGenerations> {
        let row = sqlx::query("SELECT generation, directory_generation FROM tenant_generations WHERE tenant_id = $1")
            .bind(tenant.to_string())
            .fetch_optional(&self.read)
            .await?;
        Ok(match row {
            Some(row) => TenantGenerations { generation: row.try_get("generation")?, directory: row.try_get("directory_generation")? },
            None => TenantGenerations::default(),
        })
    }
}

/// How a [`WriteTx`] ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// PostgreSQL: queue the write's notification and (directory scope) bump the database
    /// generations; SQLite: nothing in the database (this process is the file's one writer).
    Scoped(WriteScope),
    /// The write queued its notification itself (PostgreSQL) or needs none (SQLite).
    Notified,
    /// Nothing another instance shows changed (a lock's version bump): forget here only.
    Local,
    /// Rebuild derived state, bump in the database on both backends, notify.
    Bulk,
}

/// A write transaction of the store.
///
/// Invariant (caches exact by construction): the only way to make a `WriteTx`'s changes durable
/// is [`WriteTx::commit`], which moves the tenant's write generations as the transaction's last
/// statements (and, on PostgreSQL, queues the notification every instance listens for), commits,
/// and forgets this process's cached views that the write made stale — even when the commit is
/// dropped midway (the client went away). Dropping a `WriteTx` without committing rolls it back,
/// so a write can neither land without its invalidation nor invalidate without landing. Store
/// writers open one with `Store::write_tx`, `Store::dir_write` or `Store::bulk_write`; the write
/// pool is otherwise used only for state no cached view shows (migrations, throttle ledger,
/// scans, signing keys).
#[must_use = "a write transaction is rolled back unless committed"]
pub struct WriteTx<'s> {
    store: &'s Store,
    tx: sqlx::Transaction<'static, Any>,
    tenant: Option<Uuid>,
    ending: Ending,
    forget: Forget,
}

impl WriteTx<'_> {
    /// The tenant a bulk write fills (known once its tenant row is written).
    pub fn set_tenant(&mut self, tenant: Uuid) {
        self.tenant = Some(tenant);
    }

    /// The write queued its notification itself (a workspace write on PostgreSQL).
    pub(crate) fn notified(&mut self) {
        self.ending = Ending::Notified;
    }

    /// Only a version moved under a lock: nothing any reader shows changed elsewhere.
    pub(crate) fn local_only(&mut self) {
        self.ending = Ending::Local;
    }

    /// Move the generations, commit, forget the stale views (see the type's invariant).
    pub async fn commit(self) -> StoreResult<()> {
        let WriteTx { store, mut tx, tenant, ending, forget } = self;
        match (ending, tenant) {
            (Ending::Scoped(scope), Some(tenant)) if store.backend == Backend::Postgres => match scope {
                WriteScope::Directory => bump_generation(&mut *tx, tenant, scope).await?,
                WriteScope::Workspaces => notify_in(&mut tx, &payload(tenant, forget)).await?,
            },
            (Ending::Bulk, Some(tenant)) => {
                super::directory::rebuild_derived(&mut tx, tenant).await?;
                bump_generation(&mut *tx, tenant, WriteScope::Directory).await?;
            }
            _ => {}
        }
        // Forget even when this future is dropped mid-commit (the client went away): the commit
        // may have landed, and forgetting what did not change costs only a read.
        let _forget = ForgetOnExit { cache: &store.cache, forget };
        tx.commit().await?;
        Ok(())
    }
}

impl std::ops::Deref for WriteTx<'_> {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &sqlx::AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx<'_> {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
}

/// Applies a write's `Forget` when dropped: after its commit, its error, or its cancellation.
struct ForgetOnExit<'a> {
    cache: &'a super::cache::ViewCache,
    forget: Forget,
}

impl Drop for ForgetOnExit<'_> {
    fn drop(&mut self) {
        match self.forget {
            Forget::Nothing => self.cache.touch(),
            Forget::Workspace(id) => self.cache.invalidate(id),
            Forget::Everything => self.cache.clear(),
        }
    }
}
