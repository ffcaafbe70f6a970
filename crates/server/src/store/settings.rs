//! Tenant settings, cached like workspace views (on SQLite, and on PostgreSQL while the listener
//! is live) because every service-principal request reads them.

use sqlx::Row;
use uuid::Uuid;

use super::{parse_uuid, Store, StoreResult};
use crate::domain::TenantSettings;

impl Store {
    pub async fn get_tenant_settings(&self, tenant: Uuid) -> StoreResult<Option<TenantSettings>> {
        if let Some(settings) = self.cache.settings(tenant) {
            return Ok(Some(settings));
        }
        let generation = self.cache.generation();
        let row =
            sqlx::query("SELECT sp_api_enabled, sp_api_group_id, sp_admin_api_enabled, sp_admin_api_group_id FROM tenants WHERE id = $1")
                .bind(tenant.to_string())
                .fetch_optional(&self.read)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let group =
            |col: &str| -> StoreResult<Option<Uuid>> { row.try_get::<Option<String>, _>(col)?.as_deref().map(parse_uuid).transpose() };
        let settings = TenantSettings {
            sp_api_enabled: row.try_get::<i64, _>("sp_api_enabled")? != 0,
            sp_api_group: group("sp_api_group_id")?,
            sp_admin_api_enabled: row.try_get::<i64, _>("sp_admin_api_enabled")? != 0,
            sp_admin_api_group: group("sp_admin_api_group_id")?,
        };
        self.cache.put_settings(tenant, settings, generation);
        Ok(Some(settings))
    }

    pub async fn update_tenant_settings(&self, tenant: Uuid, settings: &TenantSettings) -> StoreResult<()> {
        let mut tx = self.dir_write(tenant).await?;
        super::update_tenant_settings(&mut *tx, tenant, settings).await?;
        tx.commit().await
    }
}
