//! The activity log: one row per event, written in the same transaction as the change it
//! records. The row keeps the event as the PascalCase JSON object the activity events API
//! returns (`event_json`), plus the columns it is paged and filtered on.

use sqlx::{Any, Executor};
use uuid::Uuid;

use super::StoreResult;

/// One activity event. `item` holds the activity's own fields (`WorkspaceId`, `WorkSpaceName`,
/// …) as a JSON object; they are merged into the common fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityEvent {
    pub id: Uuid,
    /// Unix milliseconds.
    pub creation_time: i64,
    pub activity: String,
    pub operation: String,
    pub user_id: String,
    pub user_key: String,
    pub workspace_id: Option<Uuid>,
    pub item: serde_json::Value,
}

/// Insert `event` into the tenant's activity log.
pub async fn record_activity<'c, E: Executor<'c, Database = Any>>(e: E, tenant: Uuid, event: &ActivityEvent) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO activity_events (tenant_id, id, creation_time, activity, user_id, event_json) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(tenant.to_string())
    .bind(event.id.to_string())
    .bind(event.creation_time)
    .bind(&event.activity)
    .bind(&event.user_id)
    .bind(event_json(tenant, event))
    .execute(e)
    .await?;
    Ok(())
}

/// The event as the API returns it: the common audit fields (`Id`, `RecordType` 20 for Power BI,
/// `CreationTime` in UTC as the service writes it, `Operation`, `OrganizationId`, `UserType`,
/// `UserKey`, `Workload`, `UserId`, `Activity`, `IsSuccess`), then `WorkspaceId` and the keys of
/// `item`, which may override any of them.
pub fn event_json(tenant: Uuid, event: &ActivityEvent) -> String {
    let mut object = serde_json::Map::new();
    let time = chrono::DateTime::from_timestamp_millis(event.creation_time).unwrap_or_default();
    object.insert("Id".into(), event.id.to_string().into());
    object.insert("RecordType".into(), 20.into());
    object.insert("CreationTime".into(), time.format("%Y-%m-%dT%H:%M:%S").to_string().into());
    object.insert("Operation".into(), event.operation.clone().into());
    object.insert("OrganizationId".into(), tenant.to_string().into());
    object.insert("UserType".into(), 0.into());
    object.insert("UserKey".into(), event.user_key.clone().into());
    object.insert("Workload".into(), "PowerBI".into());
    object.insert("UserId".into(), event.user_id.clone().into());
    object.insert("Activity".into(), event.activity.clone().into());
    object.insert("IsSuccess".into(), true.into());
    if let Some(ws) = event.workspace_id {
        object.insert("WorkspaceId".into(), ws.to_string().into());
    }
    if let serde_json::Value::Object(item) = &event.item {
        for (k, v) in item {
            object.insert(k.clone(), v.clone());
        }
    }
    serde_json::Value::Object(object).to_string()
}
