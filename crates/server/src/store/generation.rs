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
//! `Store::commit_write`, which bumps the database counters only on PostgreSQL, where other
//! instances may hold caches; on SQLite one process serves the file and its local generation
//! (`Store::local_generation`, moved by `commit_write`) already tells its caches. Writers that may
//! run in another process than the server (tenant import, seed) call `bump_generation` themselves,
//! on both backends. Skipping the bump on SQLite keeps a role change at one statement fewer: the
//! write benchmark lost half its throughput to it.

use sqlx::{Any, Executor, Row};
use uuid::Uuid;

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

/// Bump `tenant`'s write generations in the database. Call it last in the write's transaction.
pub async fn bump_generation<'c, E: Executor<'c, Database = Any>>(e: E, tenant: Uuid, scope: WriteScope) -> StoreResult<()> {
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
    .execute(e)
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

impl Store {
    /// End a write made through the store's methods: bump the database generations where other
    /// instances may cache (PostgreSQL), commit, and move this process's local generation.
    /// `forget` names the cached views the write made stale; whatever it names, the local
    /// generation moves.
    pub(crate) async fn commit_write(
        &self,
        mut tx: sqlx::Transaction<'static, Any>,
        tenant: Uuid,
        scope: WriteScope,
        forget: Forget,
    ) -> StoreResult<()> {
        // Forget even when this future is dropped mid-commit (the client went away): the commit
        // may have landed, and forgetting what did not change costs only a read.
        let _forget = ForgetOnExit { cache: &self.cache, forget };
        if self.backend == Backend::Postgres {
            bump_generation(&mut *tx, tenant, scope).await?;
        }
        tx.commit().await?;
        Ok(())
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
