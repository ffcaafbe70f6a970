//! Bulk inserts for generated tenants and test fixtures: whole tables written with multi-row
//! `INSERT … VALUES (…), (…)` statements inside the caller's transaction, so a million rows take
//! seconds rather than a million round trips. Nothing here checks the rows: the generator and
//! the tests make consistent data, and the schema's keys catch the rest.

use sqlx::AnyConnection;
use uuid::Uuid;

use super::activity::{event_json, ActivityEvent};
use super::StoreResult;
use crate::domain::audit::ArtifactKind;
use crate::domain::{DirectoryRole, PrincipalRef, Role};

/// Values bound per statement: under SQLite's 32,766 and PostgreSQL's 65,535.
const MAX_VALUES: usize = 30_000;

/// One bound value.
#[derive(Debug, Clone)]
pub enum Value {
    Text(String),
    Int(i64),
    /// A NULL text.
    Null,
    /// A NULL integer (PostgreSQL types a parameter by what is bound).
    NullInt,
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}
impl From<Uuid> for Value {
    fn from(v: Uuid) -> Value {
        Value::Text(v.to_string())
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Int(v as i64)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map(Into::into).unwrap_or(Value::Null)
    }
}

/// Insert `rows` (each with one value per column) into `table`, in as few statements as the
/// backends' parameter limits allow.
pub async fn insert_rows(conn: &mut AnyConnection, table: &str, columns: &[&str], rows: Vec<Vec<Value>>) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let per_statement = (MAX_VALUES / columns.len()).max(1);
    let head = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    // SQLite keeps the names of `$1` and `?1` parameters in a list that sqlx's binding scans
    // once per parameter, which is quadratic in a statement with thousands of them; anonymous
    // `?` parameters have no name and bind in order. PostgreSQL only knows `$1`.
    let numbered = !conn.backend_name().eq_ignore_ascii_case("sqlite");
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Value>> = rows.by_ref().take(per_statement).collect();
        let mut sql = String::with_capacity(head.len() + chunk.len() * columns.len() * 8);
        sql.push_str(&head);
        let mut n = 0;
        for (i, row) in chunk.iter().enumerate() {
            debug_assert_eq!(row.len(), columns.len(), "{table}: a row with the wrong number of values");
            sql.push_str(if i == 0 { "(" } else { ", (" });
            for j in 0..row.len() {
                n += 1;
                if j > 0 {
                    sql.push_str(", ");
                }
                if numbered {
                    sql.push('$');
                    sql.push_str(&n.to_string());
                } else {
                    sql.push('?');
                }
            }
            sql.push(')');
        }
        let mut query = sqlx::query(&sql);
        for row in chunk {
            for value in row {
                query = match value {
                    Value::Text(s) => query.bind(s),
                    Value::Int(i) => query.bind(i),
                    Value::Null => query.bind(None::<String>),
                    Value::NullInt => query.bind(None::<i64>),
                };
            }
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

macro_rules! row {
    ($($v:expr),* $(,)?) => { vec![$(Value::from($v)),*] };
}

pub async fn insert_role_members(conn: &mut AnyConnection, tenant: Uuid, role: DirectoryRole, principals: &[Uuid]) -> StoreResult<()> {
    let rows = principals.iter().map(|p| row![tenant, role.as_str(), *p]).collect();
    insert_rows(conn, "directory_role_members", &["tenant_id", "role", "principal_id"], rows).await
}

/// `(object id, application id, display name)`.
pub async fn insert_service_principals(conn: &mut AnyConnection, tenant: Uuid, sps: &[(Uuid, Uuid, String)], now: i64) -> StoreResult<()> {
    let rows = sps.iter().map(|(id, app, name)| row![tenant, *id, *app, name.as_str(), now]).collect();
    insert_rows(conn, "service_principals", &["tenant_id", "id", "app_id", "display_name", "created_at"], rows).await
}

#[derive(Debug, Clone)]
pub struct SeedCapacity {
    pub id: Uuid,
    pub name: String,
    pub sku: String,
    pub region: String,
}

pub async fn insert_capacities(conn: &mut AnyConnection, tenant: Uuid, caps: &[SeedCapacity], now: i64) -> StoreResult<()> {
    let rows = caps.iter().map(|c| row![c.id, tenant, c.name.as_str(), c.sku.as_str(), c.region.as_str(), now]).collect();
    insert_rows(conn, "capacities", &["id", "tenant_id", "display_name", "sku", "region", "created_at"], rows).await
}

/// `(capacity, principal, Admin or Assign)`.
pub async fn insert_capacity_users(conn: &mut AnyConnection, users: &[(Uuid, PrincipalRef, String)]) -> StoreResult<()> {
    let rows = users.iter().map(|(c, p, right)| row![*c, p.object_id, p.kind.as_str(), right.as_str()]).collect();
    insert_rows(conn, "capacity_users", &["capacity_id", "principal_id", "principal_type", "access_right"], rows).await
}

#[derive(Debug, Clone)]
pub struct SeedWorkspace {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    /// `Workspace`, `PersonalGroup`, …
    pub kind: String,
    /// `Active` or `Deleted`.
    pub state: String,
    pub capacity: Option<Uuid>,
    pub backing_group: Option<Uuid>,
    pub created_at: i64,
    pub modified_at: i64,
}

pub async fn insert_workspaces(conn: &mut AnyConnection, tenant: Uuid, workspaces: &[SeedWorkspace]) -> StoreResult<()> {
    let rows = workspaces
        .iter()
        .map(|w| {
            row![
                w.id,
                tenant,
                w.name.as_str(),
                w.name.to_lowercase(),
                w.description.clone(),
                w.kind.as_str(),
                w.state.as_str(),
                w.capacity,
                w.backing_group,
                w.created_at,
                w.modified_at,
            ]
        })
        .collect();
    insert_rows(
        conn,
        "workspaces",
        &[
            "id",
            "tenant_id",
            "name",
            "name_lower",
            "description",
            "kind",
            "state",
            "capacity_id",
            "backing_group_id",
            "created_at",
            "modified_at",
        ],
        rows,
    )
    .await
}

/// `(workspace, principal, role, added_at)`.
pub async fn insert_workspace_members(conn: &mut AnyConnection, members: &[(Uuid, PrincipalRef, Role, i64)]) -> StoreResult<()> {
    let rows = members.iter().map(|(w, p, role, at)| row![*w, p.object_id, "", p.kind.as_str(), role.as_str(), *at]).collect();
    insert_rows(conn, "workspace_members", &["workspace_id", "principal_id", "profile_id", "principal_type", "role", "added_at"], rows)
        .await
}

#[derive(Debug, Clone)]
pub struct SeedArtifact {
    pub id: Uuid,
    pub workspace: Uuid,
    pub kind: ArtifactKind,
    pub name: String,
    pub description: Option<String>,
    /// The dataset a report or workbook is built on.
    pub dataset: Option<Uuid>,
    /// UPN of whoever configured a dataset or dataflow.
    pub configured_by: Option<String>,
    pub created_at: i64,
    pub modified_at: i64,
}

pub async fn insert_artifacts(conn: &mut AnyConnection, tenant: Uuid, artifacts: &[SeedArtifact]) -> StoreResult<()> {
    let rows = artifacts
        .iter()
        .map(|a| {
            row![
                a.id,
                tenant,
                a.workspace,
                a.kind.as_str(),
                a.name.as_str(),
                a.description.clone(),
                a.dataset,
                a.configured_by.clone(),
                a.created_at,
                a.modified_at,
            ]
        })
        .collect();
    insert_rows(
        conn,
        "artifacts",
        &["id", "tenant_id", "workspace_id", "kind", "name", "description", "dataset_id", "configured_by", "created_at", "modified_at"],
        rows,
    )
    .await
}

/// `(artifact, principal, right in the artifact kind's enum, granted_at)`.
pub async fn insert_artifact_permissions(conn: &mut AnyConnection, grants: &[(Uuid, PrincipalRef, String, i64)]) -> StoreResult<()> {
    let rows = grants.iter().map(|(a, p, right, at)| row![*a, p.object_id, p.kind.as_str(), right.as_str(), *at]).collect();
    insert_rows(conn, "artifact_permissions", &["artifact_id", "principal_id", "principal_type", "access_right", "granted_at"], rows).await
}

#[derive(Debug, Clone)]
pub struct SeedSubscription {
    pub id: Uuid,
    pub artifact: Uuid,
    pub owner: Uuid,
    pub title: String,
    pub frequency: String,
    pub enabled: bool,
    pub start_date: i64,
    pub end_date: i64,
    pub attachment_format: String,
    /// The report page.
    pub sub_artifact: Option<String>,
    pub created_at: i64,
}

pub async fn insert_subscriptions(conn: &mut AnyConnection, tenant: Uuid, subs: &[SeedSubscription]) -> StoreResult<()> {
    let rows = subs
        .iter()
        .map(|s| {
            row![
                s.id,
                tenant,
                s.artifact,
                s.owner,
                s.title.as_str(),
                s.frequency.as_str(),
                s.enabled,
                s.start_date,
                s.end_date,
                s.attachment_format.as_str(),
                s.sub_artifact.clone(),
                s.created_at,
            ]
        })
        .collect();
    insert_rows(
        conn,
        "subscriptions",
        &[
            "id",
            "tenant_id",
            "artifact_id",
            "owner_id",
            "title",
            "frequency",
            "is_enabled",
            "start_date",
            "end_date",
            "attachment_format",
            "sub_artifact_name",
            "created_at",
        ],
        rows,
    )
    .await
}

/// Activity history, written as `record_activity` writes one event.
pub async fn insert_activity_events(conn: &mut AnyConnection, tenant: Uuid, events: &[ActivityEvent]) -> StoreResult<()> {
    let rows = events
        .iter()
        .map(|e| row![tenant, e.id, e.creation_time, e.activity.as_str(), e.user_id.as_str(), event_json(tenant, e)])
        .collect();
    insert_rows(conn, "activity_events", &["tenant_id", "id", "creation_time", "activity", "user_id", "event_json"], rows).await
}

/// Remove artifacts (with their permissions and subscriptions), for tests that change what a
/// user reaches between pages.
pub async fn delete_artifacts(conn: &mut AnyConnection, ids: &[Uuid]) -> StoreResult<()> {
    for id in ids {
        for sql in [
            "DELETE FROM artifact_permissions WHERE artifact_id = $1",
            "DELETE FROM subscriptions WHERE artifact_id = $1",
            "DELETE FROM artifacts WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id.to_string()).execute(&mut *conn).await?;
        }
    }
    Ok(())
}
