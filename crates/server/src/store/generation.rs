//! Tenant write generations (`tenant_generations`, schema v7): the counter that keeps caches of
//! rendered admin reads exact on both backends and across instances.
//!
//! Invariant (generation last, inside the write): every write transaction that changes what an
//! admin read shows calls `bump_generation` as its last statement before `COMMIT`. So the bump
//! becomes visible exactly when the write does, and a reader that reads the generation before
//! its data can only store what it read under a generation no newer than the data. On
//! PostgreSQL the bump takes the row's lock only while the transaction commits (it waits for
//! nothing after it), so it cannot take part in a deadlock; on SQLite the one writer serialises
//! writes anyway.

use sqlx::{Any, Executor, Row};
use uuid::Uuid;

use super::{Store, StoreResult};

/// Bump `tenant`'s write generation. Call it last in the write's transaction.
pub async fn bump_generation<'c, E: Executor<'c, Database = Any>>(e: E, tenant: Uuid) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO tenant_generations (tenant_id, generation) VALUES ($1, 1) \
         ON CONFLICT (tenant_id) DO UPDATE SET generation = tenant_generations.generation + 1",
    )
    .bind(tenant.to_string())
    .execute(e)
    .await?;
    Ok(())
}

impl Store {
    /// `tenant`'s write generation as committed now (0 before its first write). Read it before
    /// the data a cached rendering is made from.
    pub async fn tenant_generation(&self, tenant: Uuid) -> StoreResult<i64> {
        let row = sqlx::query("SELECT generation FROM tenant_generations WHERE tenant_id = $1")
            .bind(tenant.to_string())
            .fetch_optional(&self.read)
            .await?;
        Ok(match row {
            Some(row) => row.try_get("generation")?,
            None => 0,
        })
    }
}
