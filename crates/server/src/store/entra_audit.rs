//! The read side of the directory (Entra ID audit) events for Graph's `auditLogs/directoryAudits`:
//! the directory changes the activity log records (see `api::powerbi::activity`), newest first,
//! keyset-paged on (time, id) over the `activity_events_time` index.

use serde_json::Value;
use sqlx::Row;
use uuid::Uuid;

use super::{Store, StoreResult};

/// One directory change as the audit log tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct EntraAuditEvent {
    pub id: Uuid,
    /// Unix milliseconds.
    pub time: i64,
    /// Entra's activity name (`Add member to group`).
    pub activity: String,
    /// Who: a UPN, an object id or `ScimProvisioning` (`UserId`), and an object id (`UserKey`).
    pub user_id: String,
    pub user_key: String,
    /// 0 a person, 6 an application.
    pub user_type: i64,
    /// `(id, type)` of each target (`User`, `Group`, `ServicePrincipal`, `UPN`).
    pub targets: Vec<(String, String)>,
    /// `(name, old, new)` of each modified property, values as JSON-array strings.
    pub modified: Vec<(String, String, String)>,
    pub request_id: Option<String>,
    pub user_agent: Option<String>,
}

/// What a directory audit read asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct EntraAuditQuery<'a> {
    /// `from <= time <= to`, Unix milliseconds.
    pub from: i64,
    pub to: i64,
    /// The activity names to read (any case).
    pub activities: &'a [String],
    /// Resume before this (time, id): the last event of the previous page.
    pub before: Option<(i64, String)>,
    pub limit: u32,
}

impl Store {
    /// The tenant's events of `query.activities`, newest first.
    pub async fn list_entra_audit_events(&self, tenant: Uuid, query: &EntraAuditQuery<'_>) -> StoreResult<Vec<EntraAuditEvent>> {
        if query.activities.is_empty() {
            return Ok(Vec::new());
        }
        let (before_time, before_id) = query.before.clone().unwrap_or((i64::MAX, String::new()));
        let placeholders: Vec<String> = (0..query.activities.len()).map(|i| format!("${}", 6 + i)).collect();
        let sql = format!(
            "SELECT id, creation_time, activity, user_id, event_json FROM activity_events \
              WHERE tenant_id = $1 AND creation_time >= $2 AND creation_time <= $3 \
                AND (creation_time < $4 OR (creation_time = $4 AND id < $5)) \
                AND LOWER(activity) IN ({}) \
              ORDER BY creation_time DESC, id DESC LIMIT {}",
            placeholders.join(", "),
            query.limit
        );
        let mut q = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(query.from)
            .bind(query.to)
            .bind(if query.before.is_some() { before_time } else { i64::MAX })
            .bind(if query.before.is_some() { before_id } else { String::new() });
        for a in query.activities {
            q = q.bind(a.to_lowercase());
        }
        let rows = q.fetch_all(&self.read).await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                let json: String = r.try_get("event_json")?;
                let event: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
                let text = |k: &str| event.get(k).and_then(Value::as_str).map(str::to_string);
                let list = |k: &str| event.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
                Ok(EntraAuditEvent {
                    id: Uuid::parse_str(&id).unwrap_or_default(),
                    time: r.try_get("creation_time")?,
                    activity: r.try_get("activity")?,
                    user_id: r.try_get("user_id")?,
                    user_key: text("UserKey").unwrap_or_default(),
                    user_type: event.get("UserType").and_then(Value::as_i64).unwrap_or(0),
                    targets: list("Target").iter().map(|t| (str_of(t, "ID"), str_of(t, "Type"))).collect(),
                    modified: list("ModifiedProperties")
                        .iter()
                        .map(|p| (str_of(p, "Name"), str_of(p, "OldValue"), str_of(p, "NewValue")))
                        .collect(),
                    request_id: text("RequestId"),
                    user_agent: text("UserAgent"),
                })
            })
            .collect()
    }
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}
