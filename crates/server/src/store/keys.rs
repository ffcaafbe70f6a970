//! The token signing key, generated once and kept in the store so every instance and every
//! restart signs and verifies with the same key.

use sqlx::Row;

use super::{Store, StoreResult};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub kid: String,
    pub private_pem: String,
}

impl Store {
    /// The current signing key, creating it with `generate` when there is none. Concurrent
    /// first starts converge on one key: the insert is conditional and the winner is re-read.
    pub async fn signing_key(&self, now: i64, generate: impl FnOnce() -> StoredKey) -> StoreResult<StoredKey> {
        if let Some(key) = self.current_key().await? {
            return Ok(key);
        }
        let key = generate();
        sqlx::query("INSERT INTO signing_keys (kid, private_pem, created_at) VALUES ($1, $2, $3)")
            .bind(&key.kid)
            .bind(&key.private_pem)
            .bind(now)
            .execute(&self.write)
            .await?;
        Ok(self.current_key().await?.unwrap_or(key))
    }

    async fn current_key(&self) -> StoreResult<Option<StoredKey>> {
        let row =
            sqlx::query("SELECT kid, private_pem FROM signing_keys ORDER BY created_at, kid LIMIT 1").fetch_optional(&self.write).await?;
        row.map(|r| Ok(StoredKey { kid: r.try_get("kid")?, private_pem: r.try_get("private_pem")? })).transpose()
    }
}
