//! Deployment pipelines and gateway data sources with their users.
//!
//! Invariant (serialised user writes): a change of a pipeline's or a data source's users first
//! bumps the item's `version` (its row lock), then reads the facts `domain::shared_items` decides
//! on and applies the decision in the same transaction, as workspace role changes do.

use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};
use uuid::Uuid;

use super::access::MEMBERSHIPS_CTE;
use super::artifacts::{directory_from_row, GrantRow, DIRECTORY_COLUMNS, DIRECTORY_JOIN};
use super::generation::{Forget, WriteScope};
use super::{parse_enum, parse_uuid, Store, StoreError, StoreResult};
use crate::domain::shared_items::{
    decide_datasource, decide_pipeline, Datasource, DatasourceRight, Gateway, GatewayRight, ItemEffect, ItemRefusal, ItemUser, Pipeline,
    PipelineRight,
};
use crate::domain::PrincipalRef;

#[derive(Debug, thiserror::Error)]
pub enum ItemChangeError {
    #[error("refused: {0:?}")]
    Refused(ItemRefusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ItemChangeError {
    fn from(e: sqlx::Error) -> Self {
        ItemChangeError::Store(e.into())
    }
}

/// Who changes an item's users: a Fabric administrator through `/admin/`, or a principal whose
/// own right on the item (direct or through its groups) decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemActor {
    TenantAdmin,
    Principal(Uuid),
}

pub async fn insert_pipeline<'c, E: Executor<'c, Database = Any>>(e: E, pipeline: &Pipeline, now: i64) -> StoreResult<()> {
    sqlx::query("INSERT INTO pipelines (id, tenant_id, display_name, description, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(pipeline.id.to_string())
        .bind(pipeline.tenant_id.to_string())
        .bind(&pipeline.display_name)
        .bind(&pipeline.description)
        .bind(now)
        .execute(e)
        .await?;
    Ok(())
}

pub async fn insert_pipeline_user<'c, E: Executor<'c, Database = Any>>(
    e: E,
    pipeline: Uuid,
    principal: PrincipalRef,
    right: PipelineRight,
    now: i64,
) -> StoreResult<()> {
    let (right, given) = (right.as_str(), Some(("added_at", now)));
    GrantRow { table: "pipeline_users", item_column: "pipeline_id", item: pipeline, principal, right, profile: None, given }.insert(e).await
}

pub async fn insert_gateway<'c, E: Executor<'c, Database = Any>>(e: E, gateway: &Gateway, now: i64) -> StoreResult<()> {
    sqlx::query("INSERT INTO gateways (id, tenant_id, name, created_at) VALUES ($1, $2, $3, $4)")
        .bind(gateway.id.to_string())
        .bind(gateway.tenant_id.to_string())
        .bind(&gateway.name)
        .bind(now)
        .execute(e)
        .await?;
    Ok(())
}

pub async fn insert_gateway_user<'c, E: Executor<'c, Database = Any>>(
    e: E,
    gateway: Uuid,
    principal: PrincipalRef,
    right: GatewayRight,
) -> StoreResult<()> {
    GrantRow {
        table: "gateway_users",
        item_column: "gateway_id",
        item: gateway,
        principal,
        right: right.as_str(),
        profile: None,
        given: None,
    }
    .insert(e)
    .await
}

pub async fn insert_datasource<'c, E: Executor<'c, Database = Any>>(e: E, tenant: Uuid, ds: &Datasource, now: i64) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO gateway_datasources (id, gateway_id, tenant_id, name, datasource_type, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(ds.id.to_string())
    .bind(ds.gateway_id.to_string())
    .bind(tenant.to_string())
    .bind(&ds.name)
    .bind(&ds.datasource_type)
    .bind(now)
    .execute(e)
    .await?;
    Ok(())
}

pub async fn insert_datasource_user<'c, E: Executor<'c, Database = Any>>(
    e: E,
    datasource: Uuid,
    principal: PrincipalRef,
    profile: Option<Uuid>,
    right: DatasourceRight,
    now: i64,
) -> StoreResult<()> {
    let (right, profile, given) = (right.as_str(), Some(profile), Some(("added_at", now)));
    GrantRow { table: "datasource_users", item_column: "datasource_id", item: datasource, principal, right, profile, given }.insert(e).await
}

fn item_user<R: std::str::FromStr<Err = String>>(row: &AnyRow) -> StoreResult<ItemUser<R>> {
    let d = directory_from_row(row)?;
    let profile: String = row.try_get("profile_id")?;
    Ok(ItemUser {
        principal: d.principal,
        right: parse_enum::<R>(&row.try_get::<String, _>("access_right")?)?,
        profile_id: if profile.is_empty() { None } else { Some(parse_uuid(&profile)?) },
        upn: d.upn,
        mail: d.mail,
        display_name: d.display_name,
        user_type: d.user_type,
    })
}

/// "Principal `$3` of tenant `$1` is on `<table>` row `$2` with `<right>`", directly or through a group.
fn holds_sql(table: &str, item_column: &str, right: &str) -> String {
    format!(
        "{MEMBERSHIPS_CTE} SELECT COUNT(*) AS n FROM {table} p WHERE p.{item_column} = $2 AND p.access_right = '{right}' \
           AND (p.principal_id = $3 OR p.principal_id IN (SELECT group_id FROM memberships))"
    )
}

async fn holds<'c, E: Executor<'c, Database = Any>>(e: E, sql: &str, tenant: Uuid, item: Uuid, principal: Uuid) -> StoreResult<bool> {
    let row = sqlx::query(sql).bind(tenant.to_string()).bind(item.to_string()).bind(principal.to_string()).fetch_one(e).await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}

impl Store {
    pub async fn get_pipeline(&self, tenant: Uuid, id: Uuid) -> StoreResult<Option<Pipeline>> {
        let row = sqlx::query("SELECT id, tenant_id, display_name, description FROM pipelines WHERE id = $1 AND tenant_id = $2")
            .bind(id.to_string())
            .bind(tenant.to_string())
            .fetch_optional(&self.read)
            .await?;
        row.map(|row| {
            Ok(Pipeline {
                id: parse_uuid(&row.try_get::<String, _>("id")?)?,
                tenant_id: parse_uuid(&row.try_get::<String, _>("tenant_id")?)?,
                display_name: row.try_get("display_name")?,
                description: row.try_get("description")?,
            })
        })
        .transpose()
    }

    /// Every pipeline of the tenant, oldest first (for export).
    pub async fn list_pipelines(&self, tenant: Uuid) -> StoreResult<Vec<Pipeline>> {
        let rows = sqlx::query("SELECT id, display_name, description FROM pipelines WHERE tenant_id = $1 ORDER BY created_at, id")
            .bind(tenant.to_string())
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Pipeline {
                    id: parse_uuid(&row.try_get::<String, _>("id")?)?,
                    tenant_id: tenant,
                    display_name: row.try_get("display_name")?,
                    description: row.try_get("description")?,
                })
            })
            .collect()
    }

    /// A pipeline's users, oldest first.
    pub async fn list_pipeline_users(&self, tenant: Uuid, pipeline: Uuid) -> StoreResult<Vec<ItemUser<PipelineRight>>> {
        let sql = format!(
            "SELECT {DIRECTORY_COLUMNS}, p.access_right, '' AS profile_id FROM pipeline_users p {DIRECTORY_JOIN} \
             WHERE p.pipeline_id = $1 ORDER BY p.added_at, p.principal_id"
        );
        let rows = sqlx::query(&sql).bind(pipeline.to_string()).bind(tenant.to_string()).fetch_all(&self.read).await?;
        rows.iter().map(item_user).collect()
    }

    /// Whether `principal` is an Admin of the pipeline, directly or through a group.
    pub async fn is_pipeline_admin(&self, tenant: Uuid, pipeline: Uuid, principal: Uuid) -> StoreResult<bool> {
        holds(&self.read, &holds_sql("pipeline_users", "pipeline_id", "Admin"), tenant, pipeline, principal).await
    }

    /// Add `target` as an Admin of the pipeline (`grant`), or remove it, under the pipeline's lock.
    pub async fn update_pipeline_user(
        &self,
        tenant: Uuid,
        pipeline: Uuid,
        actor: ItemActor,
        target: PrincipalRef,
        grant: bool,
        now: i64,
    ) -> Result<ItemEffect, ItemChangeError> {
        let mut tx = self.write_tx(tenant, WriteScope::Workspaces, Forget::Nothing).await?;
        let locked = sqlx::query("UPDATE pipelines SET version = version + 1 WHERE id = $1 AND tenant_id = $2")
            .bind(pipeline.to_string())
            .bind(tenant.to_string())
            .execute(&mut *tx)
            .await?;
        if locked.rows_affected() == 0 {
            return Err(ItemChangeError::Refused(ItemRefusal::NotFound));
        }
        let caller_is_admin = match actor {
            ItemActor::TenantAdmin => true,
            ItemActor::Principal(p) => holds(&mut *tx, &holds_sql("pipeline_users", "pipeline_id", "Admin"), tenant, pipeline, p).await?,
        };
        let row = sqlx::query(
            "SELECT COUNT(*) AS admins, COALESCE(SUM(CASE WHEN principal_id = $2 THEN 1 ELSE 0 END), 0) AS holds \
             FROM pipeline_users WHERE pipeline_id = $1",
        )
        .bind(pipeline.to_string())
        .bind(target.object_id.to_string())
        .fetch_one(&mut *tx)
        .await?;
        let admins = row.try_get::<i64, _>("admins")? as u32;
        let target_holds = row.try_get::<i64, _>("holds")? > 0;
        let effect = decide_pipeline(caller_is_admin, grant, target_holds, admins).map_err(ItemChangeError::Refused)?;
        match effect {
            ItemEffect::Insert => insert_pipeline_user(&mut *tx, pipeline, target, PipelineRight::Admin, now).await?,
            ItemEffect::Delete => {
                sqlx::query("DELETE FROM pipeline_users WHERE pipeline_id = $1 AND principal_id = $2")
                    .bind(pipeline.to_string())
                    .bind(target.object_id.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
            ItemEffect::SetRight | ItemEffect::Nothing => {}
        }
        tx.commit().await?;
        Ok(effect)
    }

    /// Every gateway of the tenant with its users, and its data sources (for export).
    pub async fn list_gateways(&self, tenant: Uuid) -> StoreResult<Vec<Gateway>> {
        let rows = sqlx::query("SELECT id, name FROM gateways WHERE tenant_id = $1 ORDER BY created_at, id")
            .bind(tenant.to_string())
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|row| Ok(Gateway { id: parse_uuid(&row.try_get::<String, _>("id")?)?, tenant_id: tenant, name: row.try_get("name")? }))
            .collect()
    }

    /// A gateway's users (admins and connection creators), for export.
    pub async fn list_gateway_users(&self, tenant: Uuid, gateway: Uuid) -> StoreResult<Vec<ItemUser<GatewayRight>>> {
        let sql = format!(
            "SELECT {DIRECTORY_COLUMNS}, p.access_right, '' AS profile_id FROM gateway_users p {DIRECTORY_JOIN} \
             WHERE p.gateway_id = $1 ORDER BY p.principal_id"
        );
        let rows = sqlx::query(&sql).bind(gateway.to_string()).bind(tenant.to_string()).fetch_all(&self.read).await?;
        rows.iter().map(item_user).collect()
    }

    /// A gateway's data sources, oldest first.
    pub async fn list_datasources(&self, tenant: Uuid, gateway: Uuid) -> StoreResult<Vec<Datasource>> {
        let rows = sqlx::query(
            "SELECT id, gateway_id, name, datasource_type FROM gateway_datasources WHERE gateway_id = $1 AND tenant_id = $2 ORDER BY created_at, id",
        )
        .bind(gateway.to_string())
        .bind(tenant.to_string())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(datasource_from_row).collect()
    }

    /// The data source `id` of gateway `gateway` in the tenant.
    pub async fn get_datasource(&self, tenant: Uuid, gateway: Uuid, id: Uuid) -> StoreResult<Option<Datasource>> {
        let row = sqlx::query(
            "SELECT id, gateway_id, name, datasource_type FROM gateway_datasources WHERE id = $1 AND gateway_id = $2 AND tenant_id = $3",
        )
        .bind(id.to_string())
        .bind(gateway.to_string())
        .bind(tenant.to_string())
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(datasource_from_row).transpose()
    }

    /// Whether `principal` is an Admin of the gateway, directly or through a group.
    pub async fn is_gateway_admin(&self, tenant: Uuid, gateway: Uuid, principal: Uuid) -> StoreResult<bool> {
        holds(&self.read, &holds_sql("gateway_users", "gateway_id", "Admin"), tenant, gateway, principal).await
    }

    /// A data source's users, oldest first.
    pub async fn list_datasource_users(&self, tenant: Uuid, datasource: Uuid) -> StoreResult<Vec<ItemUser<DatasourceRight>>> {
        let sql = format!(
            "SELECT {DIRECTORY_COLUMNS}, p.access_right, p.profile_id FROM datasource_users p {DIRECTORY_JOIN} \
             WHERE p.datasource_id = $1 ORDER BY p.added_at, p.principal_id, p.profile_id"
        );
        let rows = sqlx::query(&sql).bind(datasource.to_string()).bind(tenant.to_string()).fetch_all(&self.read).await?;
        rows.iter().map(item_user).collect()
    }

    /// Grant `right` on a data source to `target` (and `profile`), or remove it (`None`), when the
    /// caller administers the gateway; under the data source's lock.
    #[allow(clippy::too_many_arguments)]
    pub async fn update_datasource_user(
        &self,
        tenant: Uuid,
        gateway: Uuid,
        datasource: Uuid,
        actor: Uuid,
        target: PrincipalRef,
        profile: Option<Uuid>,
        right: Option<DatasourceRight>,
        now: i64,
    ) -> Result<ItemEffect, ItemChangeError> {
        let mut tx = self.write_tx(tenant, WriteScope::Workspaces, Forget::Nothing).await?;
        let locked =
            sqlx::query("UPDATE gateway_datasources SET version = version + 1 WHERE id = $1 AND gateway_id = $2 AND tenant_id = $3")
                .bind(datasource.to_string())
                .bind(gateway.to_string())
                .bind(tenant.to_string())
                .execute(&mut *tx)
                .await?;
        if locked.rows_affected() == 0 {
            return Err(ItemChangeError::Refused(ItemRefusal::NotFound));
        }
        let is_admin = holds(&mut *tx, &holds_sql("gateway_users", "gateway_id", "Admin"), tenant, gateway, actor).await?;
        let profile_id = profile.map(|p| p.to_string()).unwrap_or_default();
        let current =
            sqlx::query("SELECT access_right FROM datasource_users WHERE datasource_id = $1 AND principal_id = $2 AND profile_id = $3")
                .bind(datasource.to_string())
                .bind(target.object_id.to_string())
                .bind(&profile_id)
                .fetch_optional(&mut *tx)
                .await?
                .map(|row| parse_enum::<DatasourceRight>(&row.try_get::<String, _>("access_right")?))
                .transpose()?;
        let effect = decide_datasource(is_admin, right, current).map_err(ItemChangeError::Refused)?;
        match (effect, right) {
            (ItemEffect::Insert, Some(r)) => insert_datasource_user(&mut *tx, datasource, target, profile, r, now).await?,
            (ItemEffect::SetRight, Some(r)) => {
                sqlx::query(
                    "UPDATE datasource_users SET access_right = $4 WHERE datasource_id = $1 AND principal_id = $2 AND profile_id = $3",
                )
                .bind(datasource.to_string())
                .bind(target.object_id.to_string())
                .bind(&profile_id)
                .bind(r.as_str())
                .execute(&mut *tx)
                .await?;
            }
            (ItemEffect::Delete, _) => {
                sqlx::query("DELETE FROM datasource_users WHERE datasource_id = $1 AND principal_id = $2 AND profile_id = $3")
                    .bind(datasource.to_string())
                    .bind(target.object_id.to_string())
                    .bind(&profile_id)
                    .execute(&mut *tx)
                    .await?;
            }
            _ => {}
        }
        tx.commit().await?;
        Ok(effect)
    }
}

fn datasource_from_row(row: &AnyRow) -> StoreResult<Datasource> {
    Ok(Datasource {
        id: parse_uuid(&row.try_get::<String, _>("id")?)?,
        gateway_id: parse_uuid(&row.try_get::<String, _>("gateway_id")?)?,
        name: row.try_get("name")?,
        datasource_type: row.try_get("datasource_type")?,
    })
}
