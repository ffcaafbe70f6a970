//! The directory write API used by SCIM and Graph: users and groups (create, read, update with
//! optimistic versions, soft delete, restore), group members (users, nested groups, apps; no
//! cycles) and owners, and licenses (subscribed SKUs with seats, direct and group-based
//! assignments, and the effective licenses after the propagation delay).
//!
//! Tenant isolation: every statement filters by `tenant_id`.
//!
//! Soft-deleted users keep their row (and `upn`), but their `upn_lower` lookup key becomes
//! `{upn_lower}#deleted#{id}`, so the unique index on `(tenant_id, upn_lower)` only constrains
//! users that are not deleted: a new user may take the UPN of a deleted one, and restoring
//! fails with a conflict while someone else holds it.
//!
//! Every write calls `Store::invalidate_cache()`: names, UPNs and deletions show in workspace
//! member lists.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Row};
use uuid::Uuid;

use super::access::MEMBERSHIPS_CTE;
use super::activity::{record_activity, DirAuditor};
use super::generation::{Forget, WriteScope};
use super::{parse_enum, parse_uuid, Store, StoreError};
use crate::domain::identity::{
    DirChange, DirGroup, DirUser, GroupMemberRef, LicenseAllocation, LicenseFacts, SubscribedSku, UserLicense, RESTORE_WINDOW_MILLIS,
};
use crate::domain::{GroupKind, PrincipalKind, UserType};

/// Why a directory write (or a read of one object) did not happen.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    /// The object named by the request does not exist in the tenant (or is deleted).
    #[error("the object does not exist")]
    NotFound,
    /// An object a request refers to (a member, an owner) does not exist.
    #[error("the referenced object '{0}' does not exist")]
    ReferenceNotFound(Uuid),
    /// Another object already has this unique value (a UPN).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    /// `If-Match` named another version.
    #[error("the object is at version {current}")]
    VersionMismatch { current: i64 },
    #[error("the object is already a member")]
    AlreadyMember,
    #[error("the object is not a member")]
    NotMember,
    #[error("adding this member would make a group a member of itself")]
    Cycle,
    #[error("subscription {0} does not have any available licenses")]
    NoSeats(Uuid),
    #[error("license {0} is not a SKU the tenant subscribes to")]
    UnknownSku(Uuid),
    #[error("the user does not hold license {0}")]
    NotAssigned(Uuid),
    #[error("licenses cannot be assigned to a user without a usage location")]
    NoUsageLocation,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for DirError {
    fn from(e: sqlx::Error) -> Self {
        DirError::Store(e.into())
    }
}

pub type DirResult<T> = Result<T, DirError>;

const USER_FULL: &str = "id, upn, mail, display_name, user_type, account_enabled, external_id, given_name, surname, job_title, \
     department, employee_number, usage_location, extra_json, version, created_at, modified_at, deleted_at";

const GROUP_FULL: &str =
    "id, display_name, group_kind, description, mail, mail_nickname, external_id, version, created_at, modified_at, deleted_at";

fn tombstone(upn: &str, id: Uuid) -> String {
    format!("{}#deleted#{id}", upn.to_lowercase())
}

fn dir_user_from_row(row: &AnyRow) -> Result<DirUser, StoreError> {
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

fn dir_group_from_row(row: &AnyRow) -> Result<DirGroup, StoreError> {
    Ok(DirGroup {
        id: parse_uuid(&row.try_get::<String, _>("id")?)?,
        display_name: row.try_get("display_name")?,
        kind: parse_enum::<GroupKind>(&row.try_get::<String, _>("group_kind")?)?,
        description: row.try_get("description")?,
        mail: row.try_get("mail")?,
        mail_nickname: row.try_get("mail_nickname")?,
        external_id: row.try_get("external_id")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        modified_at: row.try_get("modified_at")?,
        deleted_at: row.try_get("deleted_at")?,
    })
}

fn extra_text(user: &DirUser) -> Option<String> {
    if user.extra.is_empty() {
        None
    } else {
        Some(serde_json::Value::Object(user.extra.clone()).to_string())
    }
}

fn check_if_match(current: i64, if_version: Option<i64>) -> DirResult<()> {
    match if_version {
        Some(v) if v != current => Err(DirError::VersionMismatch { current }),
        _ => Ok(()),
    }
}

async fn load_user(conn: &mut AnyConnection, tenant: Uuid, id: Uuid) -> DirResult<Option<DirUser>> {
    let sql = format!("SELECT {USER_FULL} FROM users WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(&sql).bind(tenant.to_string()).bind(id.to_string()).fetch_optional(&mut *conn).await?;
    Ok(row.as_ref().map(dir_user_from_row).transpose()?)
}

async fn load_group(conn: &mut AnyConnection, tenant: Uuid, id: Uuid) -> DirResult<Option<DirGroup>> {
    let sql = format!("SELECT {GROUP_FULL} FROM directory_groups WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(&sql).bind(tenant.to_string()).bind(id.to_string()).fetch_optional(&mut *conn).await?;
    Ok(row.as_ref().map(dir_group_from_row).transpose()?)
}

async fn upn_taken(conn: &mut AnyConnection, tenant: Uuid, upn: &str, except: Uuid) -> DirResult<bool> {
    let row = sqlx::query("SELECT id FROM users WHERE tenant_id = $1 AND upn_lower = $2 AND deleted_at IS NULL AND id <> $3")
        .bind(tenant.to_string())
        .bind(upn.to_lowercase())
        .bind(except.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.is_some())
}

/// Graph's wording; SCIM shows it as the 409's detail.
fn upn_conflict(_upn: &str) -> DirError {
    DirError::Conflict("Another object with the same value for property userPrincipalName already exists.".into())
}

/// The outcome of a write that sets a user's `upn_lower`: a unique violation is someone else
/// holding the UPN (a race the `upn_taken` check before it lost).
fn upn_write_result<T>(result: Result<T, sqlx::Error>, upn: &str) -> DirResult<T> {
    result.map_err(|e| {
        let e = StoreError::from(e);
        if e.is_unique_violation() {
            upn_conflict(upn)
        } else {
            e.into()
        }
    })
}

/// The kind of an active directory object, if it exists.
async fn object_kind(conn: &mut AnyConnection, tenant: Uuid, id: Uuid) -> DirResult<Option<PrincipalKind>> {
    let row = sqlx::query(
        "SELECT 'User' AS kind FROM users WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL \
         UNION ALL SELECT 'Group' AS kind FROM directory_groups WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL \
         UNION ALL SELECT 'App' AS kind FROM service_principals WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant.to_string())
    .bind(id.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| r.try_get::<String, _>("kind")).transpose()?.map(|k| parse_enum::<PrincipalKind>(&k)).transpose()?)
}

/// Would making `member` a member of `group` close a cycle? (`member` contains `group`.)
async fn creates_cycle(conn: &mut AnyConnection, tenant: Uuid, group: Uuid, member: Uuid) -> DirResult<bool> {
    if group == member {
        return Ok(true);
    }
    let rows = sqlx::query("SELECT group_id, member_id FROM group_members WHERE tenant_id = $1 AND member_type = 'Group'")
        .bind(tenant.to_string())
        .fetch_all(&mut *conn)
        .await?;
    let mut edges: HashMap<String, Vec<String>> = HashMap::new();
    for r in rows {
        edges.entry(r.try_get("group_id")?).or_default().push(r.try_get("member_id")?);
    }
    let target = group.to_string();
    let mut stack = vec![member.to_string()];
    let mut seen = HashSet::new();
    while let Some(g) = stack.pop() {
        if g == target {
            return Ok(true);
        }
        if seen.insert(g.clone()) {
            stack.extend(edges.get(&g).cloned().unwrap_or_default());
        }
    }
    Ok(false)
}

/// `sql` with `$1` bound to the tenant and `$2`, `$3` to the two ends of a link (a group and its
/// member or owner, a holder and its SKU), the parameters of every link lookup and delete.
fn link_query(sql: &str, tenant: Uuid, from: Uuid, to: Uuid) -> Query<'_, Any, AnyArguments<'_>> {
    sqlx::query(sql).bind(tenant.to_string()).bind(from.to_string()).bind(to.to_string())
}

/// Lock an active group's row (PostgreSQL), so what is read is what the edit replaces, and
/// read it; the caller's `If-Match` (`if_version`) must name its version.
async fn lock_group_for_edit(conn: &mut AnyConnection, tenant: Uuid, id: Uuid, if_version: Option<i64>) -> DirResult<DirGroup> {
    sqlx::query("UPDATE directory_groups SET version = version WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.to_string())
        .bind(id.to_string())
        .execute(&mut *conn)
        .await?;
    let current = load_group(conn, tenant, id).await?.filter(|g| g.deleted_at.is_none()).ok_or(DirError::NotFound)?;
    check_if_match(current.version, if_version)?;
    Ok(current)
}

/// Bump a group's version (it changes when its members do) and lock its row.
async fn touch_group(conn: &mut AnyConnection, tenant: Uuid, group: Uuid, now: i64) -> DirResult<DirGroup> {
    let n = sqlx::query(
        "UPDATE directory_groups SET version = version + 1, modified_at = $3 WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL",
    )
    .bind(tenant.to_string())
    .bind(group.to_string())
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(DirError::NotFound);
    }
    load_group(conn, tenant, group).await?.ok_or(DirError::NotFound)
}

async fn load_license_facts(conn: &mut AnyConnection, tenant: Uuid) -> DirResult<LicenseFacts> {
    let t = tenant.to_string();
    let mut facts = LicenseFacts::default();
    for r in sqlx::query("SELECT sku_id, sku_part_number, prepaid_enabled FROM subscribed_skus WHERE tenant_id = $1")
        .bind(&t)
        .fetch_all(&mut *conn)
        .await?
    {
        facts.skus.insert(parse_uuid(&r.try_get::<String, _>("sku_id")?)?, (r.try_get("sku_part_number")?, r.try_get("prepaid_enabled")?));
    }
    for r in sqlx::query("SELECT id FROM users WHERE tenant_id = $1 AND deleted_at IS NULL").bind(&t).fetch_all(&mut *conn).await? {
        facts.active_users.insert(parse_uuid(&r.try_get::<String, _>("id")?)?);
    }
    for r in sqlx::query("SELECT user_id, sku_id, assigned_at FROM license_assignments WHERE tenant_id = $1")
        .bind(&t)
        .fetch_all(&mut *conn)
        .await?
    {
        facts.direct.push((
            parse_uuid(&r.try_get::<String, _>("user_id")?)?,
            parse_uuid(&r.try_get::<String, _>("sku_id")?)?,
            r.try_get("assigned_at")?,
        ));
    }
    for r in sqlx::query(
        "SELECT l.group_id, l.sku_id, l.assigned_at FROM group_licenses l JOIN directory_groups g ON g.tenant_id = l.tenant_id \
         AND g.id = l.group_id WHERE l.tenant_id = $1 AND g.deleted_at IS NULL",
    )
    .bind(&t)
    .fetch_all(&mut *conn)
    .await?
    {
        facts.group_licenses.push((
            parse_uuid(&r.try_get::<String, _>("group_id")?)?,
            parse_uuid(&r.try_get::<String, _>("sku_id")?)?,
            r.try_get("assigned_at")?,
        ));
    }
    for r in sqlx::query(
        "SELECT m.group_id, m.member_id, m.member_type, m.added_at FROM group_members m JOIN directory_groups g \
         ON g.tenant_id = m.tenant_id AND g.id = m.group_id WHERE m.tenant_id = $1 AND g.deleted_at IS NULL",
    )
    .bind(&t)
    .fetch_all(&mut *conn)
    .await?
    {
        facts.members.entry(parse_uuid(&r.try_get::<String, _>("group_id")?)?).or_default().push((
            parse_uuid(&r.try_get::<String, _>("member_id")?)?,
            parse_enum::<PrincipalKind>(&r.try_get::<String, _>("member_type")?)?,
            r.try_get("added_at")?,
        ));
    }
    Ok(facts)
}

/// Whether membership of `group` is access to Power BI: the group, or a group it belongs to
/// (transitively), holds a role in a live workspace, backs one (Microsoft 365), or holds a
/// permission on an item.
async fn group_reaches_powerbi(conn: &mut AnyConnection, tenant: Uuid, group: Uuid) -> DirResult<bool> {
    // `reach`: the group ($2) and every group it belongs to; each test is an indexed IN.
    let sql = format!(
        "{MEMBERSHIPS_CTE}, reach(group_id) AS (SELECT group_id FROM memberships UNION SELECT $2) \
         SELECT CASE WHEN \
           EXISTS (SELECT 1 FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id \
                    WHERE m.principal_id IN (SELECT group_id FROM reach) AND w.tenant_id = $1 AND w.state <> 'Deleted') \
        OR EXISTS (SELECT 1 FROM workspaces w \
                    WHERE w.backing_group_id IN (SELECT group_id FROM reach) AND w.tenant_id = $1 AND w.state <> 'Deleted') \
        OR EXISTS (SELECT 1 FROM artifact_permissions p JOIN artifacts a ON a.id = p.artifact_id \
                    WHERE p.principal_id IN (SELECT group_id FROM reach) AND a.tenant_id = $1) \
        THEN 1 ELSE 0 END AS n"
    );
    let id = group.to_string();
    let row = sqlx::query(&sql).bind(tenant.to_string()).bind(&id).bind(&id).fetch_one(&mut *conn).await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}

/// How an event names a group member: a user's UPN, a group's or an app's display name.
async fn principal_label(conn: &mut AnyConnection, tenant: Uuid, id: Uuid, kind: PrincipalKind) -> DirResult<String> {
    let sql = match kind {
        PrincipalKind::User => "SELECT upn AS label FROM users WHERE tenant_id = $1 AND id = $2",
        PrincipalKind::Group => "SELECT display_name AS label FROM directory_groups WHERE tenant_id = $1 AND id = $2",
        PrincipalKind::App => "SELECT display_name AS label FROM service_principals WHERE tenant_id = $1 AND id = $2",
    };
    let row = sqlx::query(sql).bind(tenant.to_string()).bind(id.to_string()).fetch_optional(&mut *conn).await?;
    Ok(match row {
        Some(r) => r.try_get("label")?,
        None => id.to_string(),
    })
}

/// Write the event `audit` makes of `change` on the change's own connection (transaction).
async fn audit_change(conn: &mut AnyConnection, tenant: Uuid, audit: &dyn DirAuditor, now: i64, change: DirChange<'_>) -> DirResult<()> {
    record_activity(&mut *conn, tenant, &audit.event(now, &change)).await?;
    Ok(())
}

/// Take the tenant's license lock: on PostgreSQL the tenant row's lock serialises every license
/// assignment of the tenant (one row, so no lock-order deadlocks), so the seat check reads
/// counts nobody else can change before the commit. On SQLite the single writer does it.
async fn lock_licenses(conn: &mut AnyConnection, tenant: Uuid) -> DirResult<()> {
    sqlx::query("UPDATE tenants SET name = name WHERE id = $1").bind(tenant.to_string()).execute(&mut *conn).await?;
    Ok(())
}

/// The SKUs held before and after removing `remove` and adding `add`, each sorted.
fn license_sets(held: &HashSet<Uuid>, add: &[Uuid], remove: &[Uuid]) -> (Vec<Uuid>, Vec<Uuid>) {
    let mut before: Vec<Uuid> = held.iter().copied().collect();
    before.sort();
    let mut after: Vec<Uuid> =
        held.iter().filter(|s| !remove.contains(s)).chain(add.iter()).copied().collect::<HashSet<_>>().into_iter().collect();
    after.sort();
    (before, after)
}

/// Who holds directly assigned SKUs: a user (`license_assignments`) or a group (`group_licenses`).
#[derive(Clone, Copy)]
enum LicenseHolder {
    User(Uuid),
    Group(Uuid),
}

impl LicenseHolder {
    fn id(self) -> Uuid {
        match self {
            Self::User(id) | Self::Group(id) => id,
        }
    }

    /// The statements that delete and insert one of the holder's SKUs.
    fn delete_and_insert_sql(self) -> (&'static str, &'static str) {
        match self {
            Self::User(_) => (
                "DELETE FROM license_assignments WHERE tenant_id = $1 AND user_id = $2 AND sku_id = $3",
                "INSERT INTO license_assignments (tenant_id, user_id, sku_id, assigned_at) VALUES ($1, $2, $3, $4)",
            ),
            Self::Group(_) => (
                "DELETE FROM group_licenses WHERE tenant_id = $1 AND group_id = $2 AND sku_id = $3",
                "INSERT INTO group_licenses (tenant_id, group_id, sku_id, assigned_at) VALUES ($1, $2, $3, $4)",
            ),
        }
    }
}

/// A removed SKU must be held directly (`held`).
fn check_removals(held: &HashSet<Uuid>, remove: &[Uuid]) -> DirResult<()> {
    match remove.iter().find(|sku| !held.contains(sku)) {
        Some(sku) => Err(DirError::NotAssigned(*sku)),
        None => Ok(()),
    }
}

/// An added SKU must be one the tenant subscribes to.
fn check_subscribed(facts: &LicenseFacts, add: &[Uuid]) -> DirResult<()> {
    match add.iter().find(|sku| !facts.skus.contains_key(sku)) {
        Some(sku) => Err(DirError::UnknownSku(*sku)),
        None => Ok(()),
    }
}

/// Write a checked license change: delete the removed SKUs, insert the added ones the holder
/// does not keep (one removed and added again gets a new `assigned_at`).
async fn write_license_rows(
    conn: &mut AnyConnection,
    tenant: Uuid,
    holder: LicenseHolder,
    held: &HashSet<Uuid>,
    add: &[Uuid],
    remove: &[Uuid],
    now: i64,
) -> DirResult<()> {
    let (delete, insert) = holder.delete_and_insert_sql();
    for sku in remove {
        link_query(delete, tenant, holder.id(), *sku).execute(&mut *conn).await?;
    }
    for sku in add {
        if held.contains(sku) && !remove.contains(sku) {
            continue;
        }
        sqlx::query(insert)
            .bind(tenant.to_string())
            .bind(holder.id().to_string())
            .bind(sku.to_string())
            .bind(now)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

impl Store {
    /// The end of every directory write: move the tenant's write generations (see
    /// `store::generation`), commit, and forget this process's cached views.
    async fn commit_dir_write(&self, tx: sqlx::Transaction<'static, sqlx::Any>, tenant: Uuid) -> DirResult<()> {
        Ok(self.commit_write(tx, tenant, WriteScope::Directory, Forget::Everything).await?)
    }

    // ----- users -----

    /// Create a user. `user.id`, attributes and `account_enabled` are taken as given; the
    /// version starts at 1. A UPN held by another user that is not deleted is a conflict.
    pub async fn create_dir_user(&self, tenant: Uuid, user: &DirUser, password_hash: Option<&str>, now: i64) -> DirResult<DirUser> {
        user.validate().map_err(DirError::Invalid)?;
        let mut tx = self.write.begin().await?;
        if upn_taken(&mut tx, tenant, &user.upn, user.id).await? {
            return Err(upn_conflict(&user.upn));
        }
        let result = sqlx::query(
            "INSERT INTO users (tenant_id, id, upn, upn_lower, mail, mail_lower, display_name, user_type, account_enabled, password_hash, \
             created_at, external_id, given_name, surname, job_title, department, employee_number, usage_location, extra_json, version, modified_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, 1, $11)",
        )
        .bind(tenant.to_string())
        .bind(user.id.to_string())
        .bind(&user.upn)
        .bind(user.upn.to_lowercase())
        .bind(&user.mail)
        .bind(user.mail.as_deref().map(str::to_lowercase))
        .bind(&user.display_name)
        .bind(user.user_type.as_str())
        .bind(user.account_enabled as i64)
        .bind(password_hash)
        .bind(now)
        .bind(&user.external_id)
        .bind(&user.given_name)
        .bind(&user.surname)
        .bind(&user.job_title)
        .bind(&user.department)
        .bind(&user.employee_number)
        .bind(&user.usage_location)
        .bind(extra_text(user))
        .execute(&mut *tx)
        .await;
        upn_write_result(result, &user.upn)?;
        let created = load_user(&mut tx, tenant, user.id).await?.ok_or(DirError::NotFound)?;
        self.commit_dir_write(tx, tenant).await?;
        Ok(created)
    }

    /// A user by object id; soft-deleted users only when `include_deleted`.
    pub async fn dir_user(&self, tenant: Uuid, id: Uuid, include_deleted: bool) -> DirResult<Option<DirUser>> {
        let mut conn = self.read.acquire().await?;
        Ok(load_user(&mut conn, tenant, id).await?.filter(|u| include_deleted || u.deleted_at.is_none()))
    }

    /// An active user by UPN (case-insensitive).
    pub async fn dir_user_by_upn(&self, tenant: Uuid, upn: &str) -> DirResult<Option<DirUser>> {
        let sql = format!("SELECT {USER_FULL} FROM users WHERE tenant_id = $1 AND upn_lower = $2 AND deleted_at IS NULL");
        let row = sqlx::query(&sql).bind(tenant.to_string()).bind(upn.to_lowercase()).fetch_optional(&self.read).await?;
        Ok(row.as_ref().map(dir_user_from_row).transpose()?)
    }

    /// The tenant's active users, ordered by creation then id (a stable order for paging).
    pub async fn list_dir_users(&self, tenant: Uuid) -> DirResult<Vec<DirUser>> {
        let sql = format!("SELECT {USER_FULL} FROM users WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY created_at, id");
        let rows = sqlx::query(&sql).bind(tenant.to_string()).fetch_all(&self.read).await?;
        Ok(rows.iter().map(dir_user_from_row).collect::<Result<_, _>>()?)
    }

    /// Users deleted less than 30 days before `now`, most recently deleted first.
    pub async fn list_deleted_users(&self, tenant: Uuid, now: i64) -> DirResult<Vec<DirUser>> {
        let sql = format!(
            "SELECT {USER_FULL} FROM users WHERE tenant_id = $1 AND deleted_at IS NOT NULL AND deleted_at > $2 ORDER BY deleted_at DESC, id"
        );
        let rows = sqlx::query(&sql).bind(tenant.to_string()).bind(now - RESTORE_WINDOW_MILLIS).fetch_all(&self.read).await?;
        Ok(rows.iter().map(dir_user_from_row).collect::<Result<_, _>>()?)
    }

    /// Read, change and write an active user in one transaction. `change` edits a copy; if it
    /// changed anything the version is bumped. `if_version` is the caller's `If-Match`.
    pub async fn update_dir_user(
        &self,
        tenant: Uuid,
        id: Uuid,
        if_version: Option<i64>,
        now: i64,
        audit: &dyn DirAuditor,
        change: impl FnOnce(&mut DirUser) -> DirResult<()>,
    ) -> DirResult<DirUser> {
        let mut tx = self.write.begin().await?;
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
        self.commit_dir_write(tx, tenant).await?;
        Ok(updated)
    }

    /// Set (or clear) a user's password hash, for Graph's `passwordProfile`.
    pub async fn set_user_password_hash(&self, tenant: Uuid, id: Uuid, hash: Option<&str>) -> DirResult<()> {
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
    pub async fn delete_dir_user(
        &self,
        tenant: Uuid,
        id: Uuid,
        if_version: Option<i64>,
        now: i64,
        audit: &dyn DirAuditor,
    ) -> DirResult<()> {
        let mut tx = self.write.begin().await?;
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
        audit_change(&mut tx, tenant, audit, now, DirChange::UserDeleted { user: &current }).await?;
        self.commit_dir_write(tx, tenant).await?;
        Ok(())
    }

    /// Restore a user deleted less than 30 days ago. Fails with a conflict when another user
    /// has taken its UPN meanwhile.
    pub async fn restore_dir_user(&self, tenant: Uuid, id: Uuid, now: i64, audit: &dyn DirAuditor) -> DirResult<DirUser> {
        let mut tx = self.write.begin().await?;
        let current = load_user(&mut tx, tenant, id).await?.ok_or(DirError::NotFound)?;
        match current.deleted_at {
            Some(at) if at > now - RESTORE_WINDOW_MILLIS => {}
            _ => return Err(DirError::NotFound),
        }
        if upn_taken(&mut tx, tenant, &current.upn, id).await? {
            return Err(upn_conflict(&current.upn));
        }
        let result = sqlx::query(
            "UPDATE users SET deleted_at = NULL, upn_lower = $3, version = version + 1, modified_at = $4 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(current.upn.to_lowercase())
        .bind(now)
        .execute(&mut *tx)
        .await;
        upn_write_result(result, &current.upn)?;
        let restored = load_user(&mut tx, tenant, id).await?.ok_or(DirError::NotFound)?;
        audit_change(&mut tx, tenant, audit, now, DirChange::UserRestored { user: &restored }).await?;
        self.commit_dir_write(tx, tenant).await?;
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

    /// member id → its direct (active) groups, for the whole tenant (list responses).
    pub async fn group_memberships(&self, tenant: Uuid) -> DirResult<HashMap<Uuid, Vec<(Uuid, String)>>> {
        let rows = sqlx::query(
            "SELECT m.member_id, g.id, g.display_name FROM group_members m JOIN directory_groups g ON g.tenant_id = m.tenant_id \
             AND g.id = m.group_id WHERE m.tenant_id = $1 AND g.deleted_at IS NULL ORDER BY g.display_name, g.id",
        )
        .bind(tenant.to_string())
        .fetch_all(&self.read)
        .await?;
        let mut out: HashMap<Uuid, Vec<(Uuid, String)>> = HashMap::new();
        for r in rows {
            out.entry(parse_uuid(&r.try_get::<String, _>("member_id")?)?)
                .or_default()
                .push((parse_uuid(&r.try_get::<String, _>("id")?)?, r.try_get("display_name")?));
        }
        Ok(out)
    }

    // ----- groups -----

    pub async fn create_dir_group(&self, tenant: Uuid, group: &DirGroup, now: i64) -> DirResult<DirGroup> {
        group.validate().map_err(DirError::Invalid)?;
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO directory_groups (tenant_id, id, display_name, mail, group_kind, created_at, description, mail_nickname, external_id, \
             version, modified_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $6)",
        )
        .bind(tenant.to_string())
        .bind(group.id.to_string())
        .bind(&group.display_name)
        .bind(&group.mail)
        .bind(group.kind.as_str())
        .bind(now)
        .bind(&group.description)
        .bind(&group.mail_nickname)
        .bind(&group.external_id)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            let e = StoreError::from(e);
            if e.is_unique_violation() {
                DirError::Conflict(format!("An object with id '{}' already exists.", group.id))
            } else {
                e.into()
            }
        })?;
        let created = load_group(&mut tx, tenant, group.id).await?.ok_or(DirError::NotFound)?;
        self.commit_dir_write(tx, tenant).await?;
        Ok(created)
    }

    pub async fn dir_group(&self, tenant: Uuid, id: Uuid, include_deleted: bool) -> DirResult<Option<DirGroup>> {
        let mut conn = self.read.acquire().await?;
        Ok(load_group(&mut conn, tenant, id).await?.filter(|g| include_deleted || g.deleted_at.is_none()))
    }

    /// The tenant's active groups, ordered by creation then id.
    pub async fn list_dir_groups(&self, tenant: Uuid) -> DirResult<Vec<DirGroup>> {
        let sql = format!("SELECT {GROUP_FULL} FROM directory_groups WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY created_at, id");
        let rows = sqlx::query(&sql).bind(tenant.to_string()).fetch_all(&self.read).await?;
        Ok(rows.iter().map(dir_group_from_row).collect::<Result<_, _>>()?)
    }

    /// Read, change and write an active group's attributes (not its members) in one transaction.
    pub async fn update_dir_group(
        &self,
        tenant: Uuid,
        id: Uuid,
        if_version: Option<i64>,
        now: i64,
        change: impl FnOnce(&mut DirGroup) -> DirResult<()>,
    ) -> DirResult<DirGroup> {
        let mut tx = self.write.begin().await?;
        let current = lock_group_for_edit(&mut tx, tenant, id, if_version).await?;
        let mut next = current.clone();
        change(&mut next)?;
        let updated = Self::write_group(&mut tx, tenant, &current, &next, now).await?;
        self.commit_dir_write(tx, tenant).await?;
        Ok(updated)
    }

    async fn write_group(tx: &mut AnyConnection, tenant: Uuid, current: &DirGroup, next: &DirGroup, now: i64) -> DirResult<DirGroup> {
        let same = DirGroup { version: 0, modified_at: 0, ..next.clone() } == DirGroup { version: 0, modified_at: 0, ..current.clone() };
        if same {
            return Ok(current.clone());
        }
        next.validate().map_err(DirError::Invalid)?;
        sqlx::query(
            "UPDATE directory_groups SET display_name = $3, description = $4, mail = $5, mail_nickname = $6, external_id = $7, \
             version = version + 1, modified_at = $8 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.to_string())
        .bind(current.id.to_string())
        .bind(&next.display_name)
        .bind(&next.description)
        .bind(&next.mail)
        .bind(&next.mail_nickname)
        .bind(&next.external_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        load_group(tx, tenant, current.id).await?.ok_or(DirError::NotFound)
    }

    /// Read, change and write a group's attributes and its whole member list at once (SCIM PUT
    /// and PATCH of a Group): `change` gets a copy of the group and its current members and
    /// returns the member ids it should have. Each new member must exist; nesting may not
    /// create a cycle. One version bump.
    pub async fn replace_dir_group(
        &self,
        tenant: Uuid,
        id: Uuid,
        if_version: Option<i64>,
        now: i64,
        audit: &dyn DirAuditor,
        change: impl FnOnce(&mut DirGroup, &[GroupMemberRef]) -> DirResult<Vec<Uuid>>,
    ) -> DirResult<DirGroup> {
        let mut tx = self.write.begin().await?;
        let current = lock_group_for_edit(&mut tx, tenant, id, if_version).await?;
        let existing_members = Self::members_in(&mut tx, tenant, id).await?;
        let mut next = current.clone();
        let members = change(&mut next, &existing_members)?;
        next.id = current.id;
        next.kind = current.kind;
        next.version = current.version;
        next.created_at = current.created_at;
        next.modified_at = current.modified_at;
        next.deleted_at = None;
        let mut updated = Self::write_group(&mut tx, tenant, &current, &next, now).await?;
        let existing: HashSet<Uuid> = existing_members.iter().map(|m| m.id).collect();
        let wanted: HashSet<Uuid> = members.iter().copied().collect();
        let mut removed: Vec<&GroupMemberRef> = existing_members.iter().filter(|m| !wanted.contains(&m.id)).collect();
        removed.sort_by_key(|m| m.id);
        let mut added: Vec<Uuid> = wanted.difference(&existing).copied().collect();
        added.sort();
        let changed = !removed.is_empty() || !added.is_empty();
        let mut record = Vec::new();
        for gone in removed {
            link_query("DELETE FROM group_members WHERE tenant_id = $1 AND group_id = $2 AND member_id = $3", tenant, id, gone.id)
                .execute(&mut *tx)
                .await?;
            record.push((false, gone.id, gone.kind));
        }
        for new in added {
            let kind = Self::insert_member_in(&mut tx, tenant, id, new, now).await?;
            record.push((true, new, kind));
        }
        if changed && updated.version == current.version {
            updated = touch_group(&mut tx, tenant, id, now).await?;
        }
        if changed && group_reaches_powerbi(&mut tx, tenant, id).await? {
            for (joined, member, kind) in record {
                let label = principal_label(&mut tx, tenant, member, kind).await?;
                let change = if joined {
                    DirChange::MemberAdded { group: &updated, member, kind, label }
                } else {
                    DirChange::MemberRemoved { group: &updated, member, kind, label }
                };
                audit_change(&mut tx, tenant, audit, now, change).await?;
            }
        }
        self.commit_dir_write(tx, tenant).await?;
        Ok(updated)
    }

    /// Soft-delete a group.
    pub async fn delete_dir_group(
        &self,
        tenant: Uuid,
        id: Uuid,
        if_version: Option<i64>,
        now: i64,
        audit: &dyn DirAuditor,
    ) -> DirResult<()> {
        let mut tx = self.write.begin().await?;
        let current = load_group(&mut tx, tenant, id).await?.filter(|g| g.deleted_at.is_none()).ok_or(DirError::NotFound)?;
        check_if_match(current.version, if_version)?;
        // Whether it reached Power BI is read before it is deleted (deleted groups reach nothing).
        if group_reaches_powerbi(&mut tx, tenant, id).await? {
            audit_change(&mut tx, tenant, audit, now, DirChange::GroupDeleted { group: &current }).await?;
        }
        sqlx::query(
            "UPDATE directory_groups SET deleted_at = $3, version = version + 1, modified_at = $3 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        self.commit_dir_write(tx, tenant).await?;
        Ok(())
    }

    // ----- members and owners -----

    async fn members_in(conn: &mut AnyConnection, tenant: Uuid, group: Uuid) -> DirResult<Vec<GroupMemberRef>> {
        let rows = sqlx::query(
            "SELECT m.member_id, m.member_type, m.added_at, u.display_name AS user_name, u.deleted_at AS user_deleted, \
             g.display_name AS group_name, g.deleted_at AS group_deleted, s.display_name AS app_name \
             FROM group_members m \
             LEFT JOIN users u ON m.member_type = 'User' AND u.tenant_id = m.tenant_id AND u.id = m.member_id \
             LEFT JOIN directory_groups g ON m.member_type = 'Group' AND g.tenant_id = m.tenant_id AND g.id = m.member_id \
             LEFT JOIN service_principals s ON m.member_type = 'App' AND s.tenant_id = m.tenant_id AND s.id = m.member_id \
             WHERE m.tenant_id = $1 AND m.group_id = $2 ORDER BY m.added_at, m.member_id",
        )
        .bind(tenant.to_string())
        .bind(group.to_string())
        .fetch_all(&mut *conn)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let kind = parse_enum::<PrincipalKind>(&r.try_get::<String, _>("member_type")?)?;
            let (name, deleted): (Option<String>, Option<i64>) = match kind {
                PrincipalKind::User => (r.try_get("user_name")?, r.try_get("user_deleted")?),
                PrincipalKind::Group => (r.try_get("group_name")?, r.try_get("group_deleted")?),
                PrincipalKind::App => (r.try_get("app_name")?, None),
            };
            // Deleted members are hidden (and come back with a restore); vanished ones too.
            let Some(name) = name else { continue };
            if deleted.is_some() {
                continue;
            }
            out.push(GroupMemberRef {
                id: parse_uuid(&r.try_get::<String, _>("member_id")?)?,
                kind,
                display_name: name,
                added_at: r.try_get("added_at")?,
            });
        }
        Ok(out)
    }

    async fn insert_member_in(conn: &mut AnyConnection, tenant: Uuid, group: Uuid, member: Uuid, now: i64) -> DirResult<PrincipalKind> {
        let kind = object_kind(conn, tenant, member).await?.ok_or(DirError::ReferenceNotFound(member))?;
        if kind == PrincipalKind::Group && creates_cycle(conn, tenant, group, member).await? {
            return Err(DirError::Cycle);
        }
        let exists = link_query(
            "SELECT 1 AS one FROM group_members WHERE tenant_id = $1 AND group_id = $2 AND member_id = $3",
            tenant,
            group,
            member,
        )
        .fetch_optional(&mut *conn)
        .await?;
        if exists.is_some() {
            return Err(DirError::AlreadyMember);
        }
        sqlx::query("INSERT INTO group_members (tenant_id, group_id, member_id, member_type, added_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(tenant.to_string())
            .bind(group.to_string())
            .bind(member.to_string())
            .bind(kind.as_str())
            .bind(now)
            .execute(&mut *conn)
            .await?;
        Ok(kind)
    }

    /// Direct members of an active group (members that are deleted are left out).
    pub async fn dir_group_members(&self, tenant: Uuid, group: Uuid) -> DirResult<Vec<GroupMemberRef>> {
        let mut conn = self.read.acquire().await?;
        if load_group(&mut conn, tenant, group).await?.filter(|g| g.deleted_at.is_none()).is_none() {
            return Err(DirError::NotFound);
        }
        Self::members_in(&mut conn, tenant, group).await
    }

    /// Add a user, group (nesting) or app to a group.
    pub async fn add_dir_group_member(
        &self,
        tenant: Uuid,
        group: Uuid,
        member: Uuid,
        now: i64,
        audit: &dyn DirAuditor,
    ) -> DirResult<PrincipalKind> {
        let mut tx = self.write.begin().await?;
        let touched = touch_group(&mut tx, tenant, group, now).await?;
        let kind = Self::insert_member_in(&mut tx, tenant, group, member, now).await?;
        if group_reaches_powerbi(&mut tx, tenant, group).await? {
            let label = principal_label(&mut tx, tenant, member, kind).await?;
            audit_change(&mut tx, tenant, audit, now, DirChange::MemberAdded { group: &touched, member, kind, label }).await?;
        }
        self.commit_dir_write(tx, tenant).await?;
        Ok(kind)
    }

    pub async fn remove_dir_group_member(
        &self,
        tenant: Uuid,
        group: Uuid,
        member: Uuid,
        now: i64,
        audit: &dyn DirAuditor,
    ) -> DirResult<()> {
        let mut tx = self.write.begin().await?;
        let touched = touch_group(&mut tx, tenant, group, now).await?;
        let row = link_query(
            "SELECT member_type FROM group_members WHERE tenant_id = $1 AND group_id = $2 AND member_id = $3",
            tenant,
            group,
            member,
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(DirError::NotMember);
        };
        let kind = parse_enum::<PrincipalKind>(&row.try_get::<String, _>("member_type")?)?;
        link_query("DELETE FROM group_members WHERE tenant_id = $1 AND group_id = $2 AND member_id = $3", tenant, group, member)
            .execute(&mut *tx)
            .await?;
        if group_reaches_powerbi(&mut tx, tenant, group).await? {
            let label = principal_label(&mut tx, tenant, member, kind).await?;
            audit_change(&mut tx, tenant, audit, now, DirChange::MemberRemoved { group: &touched, member, kind, label }).await?;
        }
        self.commit_dir_write(tx, tenant).await?;
        Ok(())
    }

    /// Owners of a group (users or apps).
    pub async fn dir_group_owners(&self, tenant: Uuid, group: Uuid) -> DirResult<Vec<GroupMemberRef>> {
        let rows = sqlx::query(
            "SELECT o.owner_id, o.added_at, u.display_name AS user_name, s.display_name AS app_name FROM group_owners o \
             LEFT JOIN users u ON u.tenant_id = o.tenant_id AND u.id = o.owner_id AND u.deleted_at IS NULL \
             LEFT JOIN service_principals s ON s.tenant_id = o.tenant_id AND s.id = o.owner_id \
             WHERE o.tenant_id = $1 AND o.group_id = $2 ORDER BY o.added_at, o.owner_id",
        )
        .bind(tenant.to_string())
        .bind(group.to_string())
        .fetch_all(&self.read)
        .await?;
        let mut out = Vec::new();
        for r in rows {
            let user: Option<String> = r.try_get("user_name")?;
            let app: Option<String> = r.try_get("app_name")?;
            let (kind, name) = match (user, app) {
                (Some(n), _) => (PrincipalKind::User, n),
                (None, Some(n)) => (PrincipalKind::App, n),
                (None, None) => continue,
            };
            out.push(GroupMemberRef {
                id: parse_uuid(&r.try_get::<String, _>("owner_id")?)?,
                kind,
                display_name: name,
                added_at: r.try_get("added_at")?,
            });
        }
        Ok(out)
    }

    /// Make a user or app an owner of a group.
    pub async fn add_dir_group_owner(&self, tenant: Uuid, group: Uuid, owner: Uuid, now: i64) -> DirResult<()> {
        let mut tx = self.write.begin().await?;
        touch_group(&mut tx, tenant, group, now).await?;
        match object_kind(&mut tx, tenant, owner).await? {
            Some(PrincipalKind::User | PrincipalKind::App) => {}
            Some(PrincipalKind::Group) => return Err(DirError::Invalid("a group cannot own a group".into())),
            None => return Err(DirError::ReferenceNotFound(owner)),
        }
        let exists =
            link_query("SELECT 1 AS one FROM group_owners WHERE tenant_id = $1 AND group_id = $2 AND owner_id = $3", tenant, group, owner)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_some() {
            return Err(DirError::AlreadyMember);
        }
        sqlx::query("INSERT INTO group_owners (tenant_id, group_id, owner_id, added_at) VALUES ($1, $2, $3, $4)")
            .bind(tenant.to_string())
            .bind(group.to_string())
            .bind(owner.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        self.commit_dir_write(tx, tenant).await?;
        Ok(())
    }

    pub async fn remove_dir_group_owner(&self, tenant: Uuid, group: Uuid, owner: Uuid, now: i64) -> DirResult<()> {
        let mut tx = self.write.begin().await?;
        touch_group(&mut tx, tenant, group, now).await?;
        let n = link_query("DELETE FROM group_owners WHERE tenant_id = $1 AND group_id = $2 AND owner_id = $3", tenant, group, owner)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(DirError::NotMember);
        }
        self.commit_dir_write(tx, tenant).await?;
        Ok(())
    }

    // ----- licenses -----

    /// Add a subscribed SKU to the tenant or change its seat count.
    pub async fn upsert_subscribed_sku(&self, tenant: Uuid, sku_id: Uuid, part_number: &str, prepaid_enabled: i64) -> DirResult<()> {
        if prepaid_enabled < 0 {
            return Err(DirError::Invalid("prepaid units cannot be negative".into()));
        }
        let mut tx = self.write.begin().await?;
        let n = sqlx::query("UPDATE subscribed_skus SET sku_part_number = $3, prepaid_enabled = $4 WHERE tenant_id = $1 AND sku_id = $2")
            .bind(tenant.to_string())
            .bind(sku_id.to_string())
            .bind(part_number)
            .bind(prepaid_enabled)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            sqlx::query("INSERT INTO subscribed_skus (tenant_id, sku_id, sku_part_number, prepaid_enabled) VALUES ($1, $2, $3, $4)")
                .bind(tenant.to_string())
                .bind(sku_id.to_string())
                .bind(part_number)
                .bind(prepaid_enabled)
                .execute(&mut *tx)
                .await?;
        }
        self.commit_dir_write(tx, tenant).await?;
        Ok(())
    }

    /// The tenant's SKUs with the seats in use.
    pub async fn subscribed_skus(&self, tenant: Uuid) -> DirResult<Vec<SubscribedSku>> {
        let mut conn = self.read.acquire().await?;
        let facts = load_license_facts(&mut conn, tenant).await?;
        let alloc = facts.allocate();
        let rows = sqlx::query(
            "SELECT sku_id, sku_part_number, prepaid_enabled, capability_status FROM subscribed_skus WHERE tenant_id = $1 \
             ORDER BY sku_part_number, sku_id",
        )
        .bind(tenant.to_string())
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|r| {
                let sku_id = parse_uuid(&r.try_get::<String, _>("sku_id")?)?;
                Ok(SubscribedSku {
                    sku_id,
                    part_number: r.try_get("sku_part_number")?,
                    prepaid_enabled: r.try_get("prepaid_enabled")?,
                    capability_status: r.try_get("capability_status")?,
                    consumed_units: alloc.consumed.get(&sku_id).copied().unwrap_or(0),
                })
            })
            .collect()
    }

    /// The license allocation of the whole tenant (who holds which SKU, and seat use).
    pub async fn license_allocation(&self, tenant: Uuid) -> DirResult<LicenseAllocation> {
        let mut conn = self.read.acquire().await?;
        Ok(load_license_facts(&mut conn, tenant).await?.allocate())
    }

    /// Licenses a user holds now, directly or through groups, whether or not they have
    /// propagated yet (what Graph's `assignedLicenses` and `licenseDetails` show).
    pub async fn user_licenses(&self, tenant: Uuid, user: Uuid) -> DirResult<Vec<UserLicense>> {
        Ok(self.license_allocation(tenant).await?.of_user(user))
    }

    /// SKUs the services see for `user` at `now`: assignments older than `propagation_delay`.
    pub async fn effective_licenses(&self, tenant: Uuid, user: Uuid, now: i64, propagation_delay: Duration) -> DirResult<Vec<UserLicense>> {
        let cutoff = now - propagation_delay.as_millis() as i64;
        Ok(self.user_licenses(tenant, user).await?.into_iter().filter(|l| l.since <= cutoff).collect())
    }

    /// Graph's `assignLicense` for a user: add and remove direct assignments atomically. An
    /// added SKU must be subscribed and have a free seat (unless the user already holds one).
    pub async fn assign_user_licenses(
        &self,
        tenant: Uuid,
        user: Uuid,
        add: &[Uuid],
        remove: &[Uuid],
        now: i64,
        audit: &dyn DirAuditor,
    ) -> DirResult<DirUser> {
        let mut tx = self.write.begin().await?;
        lock_licenses(&mut tx, tenant).await?;
        let current = load_user(&mut tx, tenant, user).await?.filter(|u| u.deleted_at.is_none()).ok_or(DirError::NotFound)?;
        let facts = load_license_facts(&mut tx, tenant).await?;
        let direct: HashSet<Uuid> = facts.direct.iter().filter(|(u, _, _)| *u == user).map(|(_, s, _)| *s).collect();
        check_removals(&direct, remove)?;
        if !add.is_empty() && current.usage_location.is_none() {
            return Err(DirError::NoUsageLocation);
        }
        check_subscribed(&facts, add)?;
        // Check seats against the allocation after the removals.
        let mut after = facts.clone();
        after.direct.retain(|(u, s, _)| !(*u == user && remove.contains(s)));
        for sku in add {
            if after.direct.iter().any(|(u, s, _)| *u == user && s == sku) {
                continue;
            }
            let alloc = after.allocate();
            let holds = alloc.held.contains_key(&(user, *sku));
            let used = alloc.consumed.get(sku).copied().unwrap_or(0);
            let seats = facts.skus.get(sku).map(|(_, n)| *n).unwrap_or(0);
            if !holds && used >= seats {
                return Err(DirError::NoSeats(*sku));
            }
            after.direct.push((user, *sku, now));
        }
        write_license_rows(&mut tx, tenant, LicenseHolder::User(user), &direct, add, remove, now).await?;
        sqlx::query("UPDATE users SET version = version + 1, modified_at = $3 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(user.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let updated = load_user(&mut tx, tenant, user).await?.ok_or(DirError::NotFound)?;
        let (before, after) = license_sets(&direct, add, remove);
        if before != after {
            audit_change(&mut tx, tenant, audit, now, DirChange::UserLicenses { user: &updated, before, after }).await?;
        }
        self.commit_dir_write(tx, tenant).await?;
        Ok(updated)
    }

    /// Group-based licensing: add and remove SKUs on a group. Members beyond the free seats
    /// get no seat (Entra's `CountViolation`), which is not an error of this call.
    pub async fn assign_group_licenses(
        &self,
        tenant: Uuid,
        group: Uuid,
        add: &[Uuid],
        remove: &[Uuid],
        now: i64,
        audit: &dyn DirAuditor,
    ) -> DirResult<DirGroup> {
        let mut tx = self.write.begin().await?;
        lock_licenses(&mut tx, tenant).await?;
        let updated = touch_group(&mut tx, tenant, group, now).await?;
        let facts = load_license_facts(&mut tx, tenant).await?;
        let has: HashSet<Uuid> = facts.group_licenses.iter().filter(|(g, _, _)| *g == group).map(|(_, s, _)| *s).collect();
        check_removals(&has, remove)?;
        check_subscribed(&facts, add)?;
        write_license_rows(&mut tx, tenant, LicenseHolder::Group(group), &has, add, remove, now).await?;
        let (before, after) = license_sets(&has, add, remove);
        if before != after {
            audit_change(&mut tx, tenant, audit, now, DirChange::GroupLicenses { group: &updated, before, after }).await?;
        }
        self.commit_dir_write(tx, tenant).await?;
        Ok(updated)
    }

    /// SKUs assigned to a group directly.
    pub async fn group_license_skus(&self, tenant: Uuid, group: Uuid) -> DirResult<Vec<Uuid>> {
        let rows = sqlx::query("SELECT sku_id FROM group_licenses WHERE tenant_id = $1 AND group_id = $2 ORDER BY sku_id")
            .bind(tenant.to_string())
            .bind(group.to_string())
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(|r| Ok(parse_uuid(&r.try_get::<String, _>("sku_id")?)?)).collect()
    }

    // ----- SCIM provisioning secret -----

    /// Set (or, with `None`, remove) the tenant's SCIM provisioning secret; only its hash is kept.
    pub async fn set_scim_secret(&self, tenant: Uuid, secret: Option<&str>) -> DirResult<()> {
        let n = set_scim_secret_hash(&self.write, tenant, secret.map(crate::auth::credentials::hash_secret).as_deref()).await?;
        if n == 0 {
            return Err(DirError::NotFound);
        }
        Ok(())
    }

    /// The hash of the tenant's SCIM secret, if one is set.
    pub async fn scim_secret_hash(&self, tenant: Uuid) -> DirResult<Option<String>> {
        let row =
            sqlx::query("SELECT scim_secret_hash FROM tenants WHERE id = $1").bind(tenant.to_string()).fetch_optional(&self.read).await?;
        Ok(row.map(|r| r.try_get::<Option<String>, _>("scim_secret_hash")).transpose()?.flatten())
    }
}

/// Store a SCIM secret hash for a tenant (inside a provisioning transaction too).
pub async fn set_scim_secret_hash<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    tenant: Uuid,
    hash: Option<&str>,
) -> Result<u64, StoreError> {
    Ok(sqlx::query("UPDATE tenants SET scim_secret_hash = $2 WHERE id = $1")
        .bind(tenant.to_string())
        .bind(hash)
        .execute(e)
        .await?
        .rows_affected())
}
