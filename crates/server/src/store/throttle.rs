//! Request budgets in the store, so that they hold across restarts and are shared by every
//! instance on one database. See `migrations/0004_throttling.sql` and `domain::throttle`.

use sqlx::Row;
use uuid::Uuid;

use super::{Store, StoreResult};
use crate::domain::throttle::{retry_after_secs, Admission, Budget};

impl Store {
    /// Count one call at `now` against every budget, or, when any of them is spent, against
    /// none. Atomic under concurrency on both backends: each budget's row is locked first (by
    /// bumping its version, in key order so two calls never wait on each other crosswise), and
    /// only then are its calls counted and the new one recorded.
    pub async fn admit(&self, tenant: Uuid, budgets: &[Budget], now: i64) -> StoreResult<Admission> {
        let call = Uuid::new_v4();
        if budgets.is_empty() {
            return Ok(Admission::Admitted { call });
        }
        let mut ordered: Vec<&Budget> = budgets.iter().collect();
        ordered.sort_by(|a, b| a.key.cmp(&b.key));
        ordered.dedup_by(|a, b| a.key == b.key);
        let tenant = tenant.to_string();
        let mut tx = self.write.begin().await?;
        for budget in &ordered {
            sqlx::query(
                "INSERT INTO throttle_budgets (tenant_id, budget, version) VALUES ($1, $2, 1) \
                 ON CONFLICT (tenant_id, budget) DO UPDATE SET version = throttle_budgets.version + 1",
            )
            .bind(&tenant)
            .bind(&budget.key)
            .execute(&mut *tx)
            .await?;
        }
        let mut wait = 0;
        for budget in &ordered {
            sqlx::query("DELETE FROM throttle_calls WHERE tenant_id = $1 AND budget = $2 AND called_at <= $3")
                .bind(&tenant)
                .bind(&budget.key)
                .bind(now - budget.window_ms)
                .execute(&mut *tx)
                .await?;
            // The limit-th most recent call: when it exists the budget is spent until it leaves.
            // The offset is a number from the config, not client text.
            let blocking = sqlx::query(&format!(
                "SELECT called_at FROM throttle_calls WHERE tenant_id = $1 AND budget = $2 ORDER BY called_at DESC LIMIT 1 OFFSET {}",
                budget.limit.saturating_sub(1)
            ))
            .bind(&tenant)
            .bind(&budget.key)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = blocking {
                wait = wait.max(retry_after_secs(row.try_get("called_at")?, budget.window_ms, now));
            }
        }
        if wait > 0 {
            tx.rollback().await?;
            return Ok(Admission::Throttled { retry_after_secs: wait });
        }
        for budget in &ordered {
            sqlx::query("INSERT INTO throttle_calls (tenant_id, budget, called_at, id) VALUES ($1, $2, $3, $4)")
                .bind(&tenant)
                .bind(&budget.key)
                .bind(now)
                .bind(call.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Admission::Admitted { call })
    }

    /// Take back a call `admit` counted at `now` as `call`: the service does not charge a call it
    /// failed (5xx) or an operation it does not implement (501).
    pub async fn refund(&self, tenant: Uuid, budgets: &[Budget], now: i64, call: Uuid) -> StoreResult<()> {
        if budgets.is_empty() {
            return Ok(());
        }
        let tenant = tenant.to_string();
        let mut tx = self.write.begin().await?;
        for budget in budgets {
            sqlx::query("DELETE FROM throttle_calls WHERE tenant_id = $1 AND budget = $2 AND called_at = $3 AND id = $4")
                .bind(&tenant)
                .bind(&budget.key)
                .bind(now)
                .bind(call.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
