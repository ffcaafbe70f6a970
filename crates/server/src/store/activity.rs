//! The activity log's write side: one row per event in `activity_events`, the event itself kept
//! as the PascalCase JSON object `GET /admin/activityevents` returns. Writers call
//! [`record_activity`] inside the transaction of the change they record, so an event exists
//! exactly when its change was committed.

use chrono::{TimeZone, Utc};
use serde_json::{Map, Value};
use sqlx::{Any, Executor};
use uuid::Uuid;

use super::StoreResult;
use crate::domain::identity::DirChange;

/// Turns a directory change (SCIM, Graph) into the activity event that records it. The API
/// layer implements it for the caller; the store calls it under its lock and writes the event
/// in the change's transaction.
pub trait DirAuditor: Sync {
    fn event(&self, now: i64, change: &DirChange<'_>) -> ActivityEvent;
}

/// One Power BI activity event.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityEvent {
    pub id: Uuid,
    /// Unix milliseconds (from the injected clock).
    pub creation_time: i64,
    /// The activity name, e.g. `ShareDataset`; `Operation` in Microsoft's events is the same.
    pub activity: String,
    pub operation: String,
    /// The caller: a UPN, or an application's client id.
    pub user_id: String,
    /// The caller's object id.
    pub user_key: String,
    pub workspace_id: Option<Uuid>,
    /// Activity-specific fields (`DatasetId`, `ArtifactName`, …), PascalCase, merged into the event.
    pub item: Value,
}

impl ActivityEvent {
    /// The event as the activity log returns it: `Id`, `RecordType` 20 (Power BI), `CreationTime`
    /// (ISO 8601, UTC, seconds, as Microsoft's events), `Operation`, `OrganizationId` (the tenant),
    /// `UserType` 0 (a regular user), `UserKey`, `Workload` `PowerBI`, `UserId`, `Activity`,
    /// `IsSuccess`, `WorkspaceId` when known, then every key of `item` (which may override
    /// `UserType`, e.g. for service principals).
    pub fn to_json(&self, tenant: Uuid) -> Value {
        let mut event = Map::new();
        event.insert("Id".into(), Value::String(self.id.to_string()));
        event.insert("RecordType".into(), Value::from(20));
        let time = Utc.timestamp_millis_opt(self.creation_time).single().unwrap_or_default();
        event.insert("CreationTime".into(), Value::String(time.format("%Y-%m-%dT%H:%M:%S").to_string()));
        event.insert("Operation".into(), Value::String(self.operation.clone()));
        event.insert("OrganizationId".into(), Value::String(tenant.to_string()));
        event.insert("UserType".into(), Value::from(0));
        event.insert("UserKey".into(), Value::String(self.user_key.clone()));
        event.insert("Workload".into(), Value::String("PowerBI".into()));
        event.insert("UserId".into(), Value::String(self.user_id.clone()));
        event.insert("Activity".into(), Value::String(self.activity.clone()));
        event.insert("IsSuccess".into(), Value::Bool(true));
        if let Some(ws) = self.workspace_id {
            event.insert("WorkspaceId".into(), Value::String(ws.to_string()));
        }
        if let Value::Object(item) = &self.item {
            for (k, v) in item {
                event.insert(k.clone(), v.clone());
            }
        }
        Value::Object(event)
    }
}

/// Append `event` to the tenant's activity log.
pub async fn record_activity<'c, E: Executor<'c, Database = Any>>(e: E, tenant: Uuid, event: &ActivityEvent) -> StoreResult<()> {
    let sql = insert_activity_sql(0);
    bind_activity(sqlx::query(&sql), tenant, event).execute(e).await?;
    Ok(())
}

/// The statement that records an event, its six parameters numbered after `base` (so a caller can
/// put it after a statement of its own: see `Store::change_member` on PostgreSQL).
pub(crate) fn insert_activity_sql(base: usize) -> String {
    let p = |i: usize| format!("${}", base + i);
    format!(
        "INSERT INTO activity_events (tenant_id, id, creation_time, activity, user_id, event_json) VALUES ({}, {}, {}, {}, {}, {})",
        p(1),
        p(2),
        p(3),
        p(4),
        p(5),
        p(6)
    )
}

/// Bind the parameters of `insert_activity_sql`, in order.
pub(crate) fn bind_activity<'q>(
    query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    tenant: Uuid,
    event: &ActivityEvent,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(tenant.to_string())
        .bind(event.id.to_string())
        .bind(event.creation_time)
        .bind(event.activity.clone())
        .bind(event.user_id.clone())
        .bind(event.to_json(tenant).to_string())
}

/// The stored form of an event (`activity_events.event_json`), for bulk writers such as the
/// tenant generator.
pub fn event_json(tenant: Uuid, event: &ActivityEvent) -> String {
    event.to_json(tenant).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_json_has_the_activity_log_shape() {
        let tenant = Uuid::from_u128(7);
        let event = ActivityEvent {
            id: Uuid::from_u128(1),
            creation_time: 1_565_682_915_000,
            activity: "ShareDataset".into(),
            operation: "ShareDataset".into(),
            user_id: "john@contoso.com".into(),
            user_key: "k".into(),
            workspace_id: Some(Uuid::from_u128(2)),
            item: serde_json::json!({"DatasetName": "Sales", "UserType": 6}),
        };
        let json = event.to_json(tenant);
        assert_eq!(json["CreationTime"], "2019-08-13T07:55:15");
        assert_eq!(json["RecordType"], 20);
        assert_eq!(json["Workload"], "PowerBI");
        assert_eq!(json["OrganizationId"], tenant.to_string());
        assert_eq!(json["WorkspaceId"], Uuid::from_u128(2).to_string());
        assert_eq!(json["DatasetName"], "Sales");
        assert_eq!(json["UserType"], 6, "item keys are merged last");
        assert_eq!(json["IsSuccess"], true);
    }
}
