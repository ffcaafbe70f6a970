//! Users: create, read, update with optimistic versions, soft delete and restore.
//!
//! Soft-deleted users keep their row (and `upn`), but their `upn_lower` lookup key becomes
//! `{upn_lower}#deleted#{id}`, so the unique index on `(tenant_id, upn_lower)` only constrains
//! users that are not deleted: a new user may take the UPN of a deleted one, and restoring
//! fails with a conflict while someone else holds it.

use super::query::{adjust_kept, order_by, Column, Columns, Kept, ListSql, Scope};
use super::*;
use crate::domain::dirquery::{DirFilter, Page};
use crate::store::StoreResult;

pub(crate) const USER_FULL: &str = "id, upn, mail, display_name, user_type, account_enabled, external_id, given_name, surname, job_title, \
     department, employee_number, usage_location, extra_json, version, created_at, modified_at, deleted_at";

/// Users' filterable attributes (dialect-neutral names, see `domain::dirquery`) and the indexed
/// columns they are compared through (schema v12 indexes each with `id` last).
pub const USER_COLUMNS: Columns = &[
    ("id", Column::Id("id")),
    ("upn", Column::Lowered("upn_lower")),
    ("mail", Column::Lowered("mail_lower")),
    ("displayName", Column::LowerExpr("display_name")),
    ("externalId", Column::Exact("external_id")),
    ("accountEnabled", Column::Bool("account_enabled")),
    ("userType", Column::LowerExpr("user_type")),
];

fn user_scope(tenant: &str) -> Scope<'_> {
    Scope { table: "users", key: "id", tenant, columns: USER_COLUMNS }
}

pub(super) fn tombstone(upn: &str, id: Uuid) -> String {
    format!("{}#deleted#{id}", upn.to_lowercase())
}

pub(crate) fn user_from_full_row(row: &AnyRow) -> Result<DirUser, StoreError> {
    let extra: Option<String> = row.try_get("extra_json")?;
    let extra = match extra.as_deref() {
        None | Some("") => serde_json::Map::new(),
        Some(text) => serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("users.extra_json: {e}")))?,
    };
    Ok(DirUser {
        id: parse_uuid(&row.try_get::<String, _>("id")?)?,
        upn: row.try_get("upn")?,
        mail: row.try_get("mail")?,
        display_name: row.try_get("display_name")?,
        user_type: parse_enum::<UserType>(&row.try_get::<String, _>("user_type")?)?,
        account_enabled: row.try_get::<i64, _>("account_enabled")? != 0,
        external_id: row.try_get("external_id")?,
        given_name: row.try_get("given_name")?,
        surname: row.try_get("surname")?,
        job_title: row.try_get("job_title")?,
        department: row.try_get("department")?,
        employee_number: row.try_get("employee_number")?,
        usage_location: row.try_get("usage_location")?,
        extra,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        modified_at: row.try_get("modified_at")?,
        deleted_at: row.try_get("deleted_at")?,
    })
}

pub(super) fn extra_text(user: &DirUser) -> Option<String> {
    if user.extra.is_empty() {
        None
    } else {
        Some(serde_json::Value::Object(user.extra.clone()).to_string())
    }
}

pub(super) async fn load_user(conn: &mut AnyConnection, tenant: Uuid, id: Uuid) -> DirResult<Option<DirUser>> {
    let sql = format!("SELECT {USER_FULL} FROM users WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(&sql).bind(tenant.to_string()).bind(id.to_string()).fetch_optional(&mut *conn).await?;
    Ok(row.as_ref().map(user_from_full_row).transpose()?)
}

pub(super) async fn upn_taken(conn: &mut AnyConnection, tenant: Uuid, upn: &str, except: Uuid) -> DirResult<bool> {
    let row = sqlx::query("SELECT id FROM users WHERE tenant_id = $1 AND upn_lower = $2 AND deleted_at IS NULL AND id <> $3")
        .bind(tenant.to_string())
        .bind(upn.to_lowercase())
        .bind(except.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.is_some())
}

/// Graph's wording; SCIM shows it as the 409's detail.
pub(super) fn upn_conflict(_upn: &str) -> DirError {
    DirError::Conflict("Another object with the same value for property userPrincipalName already exists.".into())
}

/// The outcome of a write that sets a user's `upn_lower`: a unique violation is someone else
/// holding the UPN (a race the `upn_taken` check before it lost).
pub(super) fn upn_write_result<T>(result: Result<T, sqlx::Error>, upn: &str) -> DirResult<T> {
    result.map_err(|e| {
        let e = StoreError::from(e);
        if e.is_unique_violation() {
            upn_conflict(upn)
        } else {
            e.into()
        }
    })
}

/// A user to write as a new row, with its password hash: what `create_user`, `tenant import`
/// and the seed generator write.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub user: DirUser,
    pub password_hash: Option<String>,
}

/// The users' one write path for new rows: `users` in as few multi-row statements as the
/// backends' parameter limits allow, at version 1, created and modified at `now`, with the
/// tenant's kept count of active users moved by the active ones, all inside the caller's
/// transaction. A deleted user gets its tombstoned lookup key. Nothing here checks the rows
/// beyond the schema's keys (a taken UPN is a unique violation): callers validate.
pub async fn insert_users(conn: &mut AnyConnection, tenant: Uuid, users: &[NewUser], now: i64) -> StoreResult<()> {
    use crate::store::seed::{insert_rows, Value};
    if users.is_empty() {
        return Ok(());
    }
    let text = |v: &Option<String>| Value::from(v.clone());
    let rows = users
        .iter()
        .map(|NewUser { user: u, password_hash }| {
            let upn_lower = match u.deleted_at {
                Some(_) => tombstone(&u.upn, u.id),
                None => u.upn.to_lowercase(),
            };
            vec![
                Value::from(tenant),
                Value::from(u.id),
                Value::from(u.upn.as_str()),
                Value::from(upn_lower),
                text(&u.mail),
                Value::from(u.mail.as_deref().map(str::to_lowercase)),
                Value::from(u.display_name.as_str()),
                Value::from(u.user_type.as_str()),
                Value::from(u.account_enabled),
                text(password_hash),
                Value::from(now),
                text(&u.external_id),
                text(&u.given_name),
                text(&u.surname),
                text(&u.job_title),
                text(&u.department),
                text(&u.employee_number),
                text(&u.usage_location),
                Value::from(extra_text(u)),
                Value::from(1i64),
                Value::from(now),
                u.deleted_at.map_or(Value::NullInt, Value::Int),
            ]
        })
        .collect();
    let columns = [
        "tenant_id",
        "id",
        "upn",
        "upn_lower",
        "mail",
        "mail_lower",
        "display_name",
        "user_type",
        "account_enabled",
        "password_hash",
        "created_at",
        "external_id",
        "given_name",
        "surname",
        "job_title",
        "department",
        "employee_number",
        "usage_location",
        "extra_json",
        "version",
        "modified_at",
        "deleted_at",
    ];
    insert_rows(conn, "users", &columns, rows).await?;
    let active = users.iter().filter(|n| n.user.deleted_at.is_none()).count() as i64;
    adjust_kept(conn, tenant, Kept::Users, active).await
}

impl Store {
    // ----- users -----

    /// Create a user. `user.id`, attributes and `account_enabled` are taken as given; the
    /// version starts at 1. A UPN held by another user that is not deleted is a conflict.
    pub async fn create_user(&self, tenant: Uuid, user: &DirUser, password_hash: Option<&str>, now: i64) -> DirResult<DirUser> {
        user.validate().map_err(DirError::Invalid)?;
        let mut tx = self.dir_write(tenant).await?;
        if upn_taken(&mut tx, tenant, &user.upn, user.id).await? {
            return Err(upn_conflict(&user.upn));
        }
        let new = NewUser { user: user.clone(), password_hash: password_hash.map(str::to_string) };
        match insert_users(&mut tx, tenant, std::slice::from_ref(&new), now).await {
            Err(e) if e.is_unique_violation() => return Err(upn_conflict(&user.upn)),
            other => other?,
        }
        let created = load_user(&mut tx, tenant, user.id).await?.ok_or(DirError::NotFound)?;
        tx.commit().await?;
        Ok(created)
    }

    /// A user by object id; soft-deleted users only when `include_deleted`.
    pub async fn get_user(&self, tenant: Uuid, id: Uuid, include_deleted: bool) -> StoreResult<Option<DirUser>> {
        let sql = format!("SELECT {USER_FULL} FROM users WHERE tenant_id = $1 AND id = $2");
        let row = sqlx::query(&sql).bind(tenant.to_string()).bind(id.to_string()).fetch_optional(&self.read).await?;
        Ok(row.as_ref().map(user_from_full_row).transpose()?.filter(|u| include_deleted || u.deleted_at.is_none()))
    }

    /// An active user by UPN (case-insensitive).
    pub async fn get_user_by_upn(&self, tenant: Uuid, upn: &str) -> StoreResult<Option<DirUser>> {
        let sql = format!("SELECT {USER_FULL} FROM users WHERE tenant_id = $1 AND upn_lower = $2 AND deleted_at IS NULL");
        let row = sqlx::query(&sql).bind(tenant.to_string()).bind(upn.to_lowercase()).fetch_optional(&self.read).await?;
        row.as_ref().map(user_from_full_row).transpose()
    }

    /// One page of the tenant's active users that match `filter`, in `id` order: after the key
    /// `page.after` (Graph) or from position `page.offset` (SCIM), at most `page.limit`.
    pub async fn list_users(&self, tenant: Uuid, filter: Option<&DirFilter>, page: &Page) -> DirResult<Vec<DirUser>> {
        let mut q = ListSql::default();
        let t = q.text(tenant.to_string());
        let mut sql = format!("SELECT {USER_FULL} FROM users WHERE tenant_id = {t} AND deleted_at IS NULL");
        if let Some(f) = filter {
            sql += &format!(" AND {}", q.condition(f, user_scope(&t))?);
        }
        // The keyset condition compares the same expression the page is ordered by.
        let order = order_by("id", filter, USER_COLUMNS);
        if let Some(after) = &page.after {
            sql += &format!(" AND {order} > {}", q.text(after.to_lowercase()));
        }
        sql += &format!(" ORDER BY {order} LIMIT {} OFFSET {}", q.int(page.limit as i64), q.int(page.offset as i64));
        let rows = q.query(&sql).fetch_all(&self.read).await?;
        Ok(rows.iter().map(user_from_full_row).collect::<Result<_, _>>()?)
    }

    /// How many active users match `filter`.
    pub async fn count_users(&self, tenant: Uuid, filter: Option<&DirFilter>) -> DirResult<i64> {
        super::query::count_active(&self.read, tenant, filter, user_scope, Kept::Users).await
    }

    /// How many users were deleted less than 30 days before `now`.
    pub async fn count_deleted_users(&self, tenant: Uuid, now: i64) -> DirResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users WHERE tenant_id = $1 AND deleted_at IS NOT NULL AND deleted_at > $2")
            .bind(tenant.to_string())
            .bind(now - RESTORE_WINDOW_MILLIS)
            .fetch_one(&self.read)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// One page of the users deleted less than 30 days before `now`, most recently deleted
    /// first (then by id, descending: the order of the partial index
    /// `users_deleted`): after the key `(deleted_at, id)` of the last one served, at most `limit`.
    pub async fn list_deleted_users(&self, tenant: Uuid, now: i64, after: Option<(i64, Uuid)>, limit: usize) -> DirResult<Vec<DirUser>> {
        let mut q = ListSql::default();
        let mut sql = format!(
            "SELECT {USER_FULL} FROM users WHERE tenant_id = {} AND deleted_at IS NOT NULL AND deleted_at > {}",
            q.text(tenant.to_string()),
            q.int(now - RESTORE_WINDOW_MILLIS)
        );
        if let Some((at, id)) = after {
            let (at, id) = (q.int(at), q.text(id.to_string()));
            sql += &format!(" AND (deleted_at < {at} OR (deleted_at = {at} AND id < {id}))");
        }
        sql += &format!(" ORDER BY deleted_at DESC, id DESC LIMIT {}", q.int(limit as i64));
        let rows = q.query(&sql).fetch_all(&self.read).await?;
        Ok(rows.iter().map(user_from_full_row).collect::<Result<_, _>>()?)
    }

    /// Read, change and write an active user in one transaction. `change` edits a copy; if it
    /// changed anything the version is bumped. `if_version` is the caller's `If-Match`.
    pub async fn update_user(
        &self,
        tenant: Uuid,
        id: Uuid,
        if_version: Option<i64>,
        now: i64,
        audit: &dyn DirAuditor,
        change: impl FnOnce(&mut DirUser) -> DirResult<()>,
    ) -> DirResult<DirUser> {
        let mut tx = self.dir_write(tenant).await?;
        // Lock the row first (PostgreSQL), so the read below is what the write replaces.
        sqlx::query("UPDATE users SET version = version WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let current = load_user(&mut tx, tenant, id).await?.filter(|u| u.deleted_at.is_none()).ok_or(DirError::NotFound)?;
        check_if_match(current.version, if_version)?;
        let mut next = current.clone();
        change(&mut next)?;
        next.id = current.id;
        if next.same_content(&current) {
            return Ok(current);
        }
        next.validate().map_err(DirError::Invalid)?;
        if !next.upn.eq_ignore_ascii_case(&current.upn) && upn_taken(&mut tx, tenant, &next.upn, id).await? {
            return Err(upn_conflict(&next.upn));
        }
        let result = sqlx::query(
            "UPDATE users SET upn = $3, upn_lower = $4, mail = $5, mail_lower = $6, display_name = $7, user_type = $8, account_enabled = $9, \
             external_id = $10, given_name = $11, surname = $12, job_title = $13, department = $14, employee_number = $15, \
             usage_location = $16, extra_json = $17, version = version + 1, modified_at = $18 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(&next.upn)
        .bind(next.upn.to_lowercase())
        .bind(&next.mail)
        .bind(next.mail.as_deref().map(str::to_lowercase))
        .bind(&next.display_name)
        .bind(next.user_type.as_str())
        .bind(next.account_enabled as i64)
        .bind(&next.external_id)
        .bind(&next.given_name)
        .bind(&next.surname)
        .bind(&next.job_title)
        .bind(&next.department)
        .bind(&next.employee_number)
        .bind(&next.usage_location)
        .bind(extra_text(&next))
        .bind(now)
        .execute(&mut *tx)
        .await;
        upn_write_result(result, &next.upn)?;
        let updated = load_user(&mut tx, tenant, id).await?.ok_or(DirError::NotFound)?;
        if updated.account_enabled != current.account_enabled {
            let change = DirChange::AccountEnabled { user: &updated, enabled: updated.account_enabled };
            audit_change(&mut tx, tenant, audit, now, change).await?;
        }
        tx.commit().await?;
        Ok(updated)
    }

    /// Set (or clear) a user's password hash, for Graph's `passwordProfile`.
    pub async fn update_user_password_hash(&self, tenant: Uuid, id: Uuid, hash: Option<&str>) -> DirResult<()> {
        sqlx::query("UPDATE users SET password_hash = $3 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .bind(hash)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Soft-delete a user: restorable for 30 days. Its memberships, roles and licenses stay
    /// (as in Entra, they come back with a restore) but no longer count.
    pub async fn delete_user(&self, tenant: Uuid, id: Uuid, if_version: Option<i64>, now: i64, audit: &dyn DirAuditor) -> DirResult<()> {
        let mut tx = self.dir_write(tenant).await?;
        let current = load_user(&mut tx, tenant, id).await?.filter(|u| u.deleted_at.is_none()).ok_or(DirError::NotFound)?;
        check_if_match(current.version, if_version)?;
        let n = sqlx::query(
            "UPDATE users SET deleted_at = $3, upn_lower = $4, version = version + 1, modified_at = $3 \
             WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL AND version = $5",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(now)
        .bind(tombstone(&current.upn, id))
        .bind(current.version)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(DirError::NotFound);
        }
        adjust_kept(&mut tx, tenant, Kept::Users, -1).await?;
        reprocess_users(&mut tx, tenant, &[id], now).await?;
        audit_change(&mut tx, tenant, audit, now, DirChange::UserDeleted { user: &current }).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Restore a user deleted less than 30 days ago. Fails with a conflict when another user
    /// has taken its UPN meanwhile.
    pub async fn restore_user(&self, tenant: Uuid, id: Uuid, now: i64, audit: &dyn DirAuditor) -> DirResult<DirUser> {
        let mut tx = self.dir_write(tenant).await?;
        let current = load_user(&mut tx, tenant, id).await?.ok_or(DirError::NotFound)?;
        match current.deleted_at {
            Some(at) if at > now - RESTORE_WINDOW_MILLIS => {}
            _ => return Err(DirError::NotFound),
        }
        if upn_taken(&mut tx, tenant, &current.upn, id).await? {
            return Err(upn_conflict(&current.upn));
        }
        let result = sqlx::query(
            "UPDATE users SET deleted_at = NULL, upn_lower = $3, version = version + 1, modified_at = $4 \
             WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NOT NULL",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(current.upn.to_lowercase())
        .bind(now)
        .execute(&mut *tx)
        .await;
        if upn_write_result(result, &current.upn)?.rows_affected() == 0 {
            return Err(DirError::NotFound);
        }
        adjust_kept(&mut tx, tenant, Kept::Users, 1).await?;
        let restored = load_user(&mut tx, tenant, id).await?.ok_or(DirError::NotFound)?;
        reprocess_users(&mut tx, tenant, &[id], now).await?;
        audit_change(&mut tx, tenant, audit, now, DirChange::UserRestored { user: &restored }).await?;
        tx.commit().await?;
        Ok(restored)
    }

    /// Groups `user` is a direct member of (active groups only).
    pub async fn groups_of_user(&self, tenant: Uuid, user: Uuid) -> DirResult<Vec<(Uuid, String)>> {
        let rows = sqlx::query(
            "SELECT g.id, g.display_name FROM group_members m JOIN directory_groups g ON g.tenant_id = m.tenant_id AND g.id = m.group_id \
             WHERE m.tenant_id = $1 AND m.member_id = $2 AND g.deleted_at IS NULL ORDER BY g.display_name, g.id",
        )
        .bind(tenant.to_string())
        .bind(user.to_string())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(|r| Ok((parse_uuid(&r.try_get::<String, _>("id")?)?, r.try_get("display_name")?))).collect()
    }

    /// Each of `members` → its direct (active) groups, ordered by name (a page of a list).
    pub async fn groups_of_members(&self, tenant: Uuid, members: &[Uuid]) -> DirResult<HashMap<Uuid, Vec<(Uuid, String)>>> {
        let mut out: HashMap<Uuid, Vec<(Uuid, String)>> = HashMap::new();
        for chunk in members.chunks(500) {
            let mut q = ListSql::default();
            let t = q.text(tenant.to_string());
            let ids: Vec<String> = chunk.iter().map(|m| q.text(m.to_string())).collect();
            let sql = format!(
                "SELECT m.member_id, g.id, g.display_name FROM group_members m JOIN directory_groups g ON g.tenant_id = m.tenant_id \
                 AND g.id = m.group_id WHERE m.tenant_id = {t} AND m.member_id IN ({}) AND g.deleted_at IS NULL ORDER BY g.display_name, g.id",
                ids.join(", ")
            );
            for r in q.query(&sql).fetch_all(&self.read).await? {
                out.entry(parse_uuid(&r.try_get::<String, _>("member_id")?)?)
                    .or_default()
                    .push((parse_uuid(&r.try_get::<String, _>("id")?)?, r.try_get("display_name")?));
            }
        }
        Ok(out)
    }
}
