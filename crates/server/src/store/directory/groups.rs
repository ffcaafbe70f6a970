//! Groups: create, read, update and replace with optimistic versions, soft delete; the
//! filtered keyset pages and counts of Graph's `GET /groups` through [`GROUP_COLUMNS`].

use super::query::{adjust_kept, order_by, Column, Columns, Kept, ListSql, Scope};
use super::*;
use crate::domain::dirquery::{DirFilter, Page};
use crate::store::StoreResult;

pub(crate) const GROUP_FULL: &str =
    "id, display_name, group_kind, description, mail, mail_nickname, external_id, version, created_at, modified_at, deleted_at";

/// Groups' filterable attributes and the columns they are compared through, each covered by a
/// schema v11 index ending in `id` (`directory_groups_name`, `_mail`, `_nickname`; `id` is the
/// primary key's). `group_kind` (Graph's `mailEnabled`/`securityEnabled`) has no index.
pub const GROUP_COLUMNS: Columns = &[
    ("id", Column::Id("id")),
    ("displayName", Column::LowerExpr("display_name")),
    ("mail", Column::LowerExpr("mail")),
    ("mailNickname", Column::LowerExpr("mail_nickname")),
];

fn group_scope(tenant: &str) -> Scope<'_> {
    Scope { table: "directory_groups", key: "id", tenant, columns: GROUP_COLUMNS }
}

pub(crate) fn group_from_row(row: &AnyRow) -> Result<DirGroup, StoreError> {
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

pub(super) async fn load_group(conn: &mut AnyConnection, tenant: Uuid, id: Uuid) -> DirResult<Option<DirGroup>> {
    let sql = format!("SELECT {GROUP_FULL} FROM directory_groups WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(&sql).bind(tenant.to_string()).bind(id.to_string()).fetch_optional(&mut *conn).await?;
    Ok(row.as_ref().map(group_from_row).transpose()?)
}

/// Lock an active group's row (PostgreSQL), so what is read is what the edit replaces, and
/// read it; the caller's `If-Match` (`if_version`) must name its version.
pub(super) async fn lock_group_for_edit(conn: &mut AnyConnection, tenant: Uuid, id: Uuid, if_version: Option<i64>) -> DirResult<DirGroup> {
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
pub(super) async fn touch_group(conn: &mut AnyConnection, tenant: Uuid, group: Uuid, now: i64) -> DirResult<DirGroup> {
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

/// The groups' one write path for new rows: `groups` in as few multi-row statements as the
/// backends' parameter limits allow, at version 1, created and modified at `now`, with the
/// tenant's kept count of active groups moved by the active ones, inside the caller's
/// transaction (`create_group`, `tenant import`, the seed generator). Callers validate.
pub async fn insert_groups(conn: &mut AnyConnection, tenant: Uuid, groups: &[DirGroup], now: i64) -> StoreResult<()> {
    use crate::store::seed::{insert_rows, Value};
    if groups.is_empty() {
        return Ok(());
    }
    let text = |v: &Option<String>| Value::from(v.clone());
    let rows = groups
        .iter()
        .map(|g| {
            vec![
                Value::from(tenant),
                Value::from(g.id),
                Value::from(g.display_name.as_str()),
                text(&g.mail),
                Value::from(g.kind.as_str()),
                Value::from(now),
                text(&g.description),
                text(&g.mail_nickname),
                text(&g.external_id),
                Value::from(1i64),
                Value::from(now),
                g.deleted_at.map_or(Value::NullInt, Value::Int),
            ]
        })
        .collect();
    let columns = [
        "tenant_id",
        "id",
        "display_name",
        "mail",
        "group_kind",
        "created_at",
        "description",
        "mail_nickname",
        "external_id",
        "version",
        "modified_at",
        "deleted_at",
    ];
    insert_rows(conn, "directory_groups", &columns, rows).await?;
    let active = groups.iter().filter(|g| g.deleted_at.is_none()).count() as i64;
    adjust_kept(conn, tenant, Kept::Groups, active).await
}

impl Store {
    // ----- groups -----

    pub async fn create_group(&self, tenant: Uuid, group: &DirGroup, now: i64) -> DirResult<DirGroup> {
        group.validate().map_err(DirError::Invalid)?;
        let mut tx = self.dir_write(tenant).await?;
        insert_groups(&mut tx, tenant, std::slice::from_ref(group), now).await.map_err(|e| {
            if e.is_unique_violation() {
                DirError::Conflict(format!("An object with id '{}' already exists.", group.id))
            } else {
                e.into()
            }
        })?;
        let created = load_group(&mut tx, tenant, group.id).await?.ok_or(DirError::NotFound)?;
        tx.commit().await?;
        Ok(created)
    }

    pub async fn get_group(&self, tenant: Uuid, id: Uuid, include_deleted: bool) -> StoreResult<Option<DirGroup>> {
        let sql = format!("SELECT {GROUP_FULL} FROM directory_groups WHERE tenant_id = $1 AND id = $2");
        let row = sqlx::query(&sql).bind(tenant.to_string()).bind(id.to_string()).fetch_optional(&self.read).await?;
        Ok(row.as_ref().map(group_from_row).transpose()?.filter(|g| include_deleted || g.deleted_at.is_none()))
    }

    /// One page of the tenant's active groups that match `filter`, in `id` order, after the key
    /// `page.after` (or from `page.offset`), at most `page.limit`: reads only the page's rows.
    pub async fn list_groups(&self, tenant: Uuid, filter: Option<&DirFilter>, page: &Page) -> DirResult<Vec<DirGroup>> {
        let (sql, q) = groups_page_sql(tenant, filter, page)?;
        let rows = q.query(&sql).fetch_all(&self.read).await?;
        Ok(rows.iter().map(group_from_row).collect::<Result<_, _>>()?)
    }

    /// How many active groups match `filter` (from the filter's indexes, or the tenant's).
    pub async fn count_groups(&self, tenant: Uuid, filter: Option<&DirFilter>) -> DirResult<i64> {
        super::query::count_active(&self.read, tenant, filter, group_scope, Kept::Groups).await
    }

    pub(super) async fn write_group(
        tx: &mut AnyConnection,
        tenant: Uuid,
        current: &DirGroup,
        next: &DirGroup,
        now: i64,
    ) -> DirResult<DirGroup> {
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
    pub async fn update_group(
        &self,
        tenant: Uuid,
        id: Uuid,
        if_version: Option<i64>,
        now: i64,
        audit: &dyn DirAuditor,
        change: impl FnOnce(&mut DirGroup, &[GroupMemberRef]) -> DirResult<Vec<Uuid>>,
    ) -> DirResult<DirGroup> {
        let mut tx = self.dir_write(tenant).await?;
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
        for (_, member, kind) in &record {
            on_membership_change(&mut tx, tenant, *member, *kind, now).await?;
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
        tx.commit().await?;
        Ok(updated)
    }

    /// Soft-delete a group.
    pub async fn delete_group(&self, tenant: Uuid, id: Uuid, if_version: Option<i64>, now: i64, audit: &dyn DirAuditor) -> DirResult<()> {
        let mut tx = self.dir_write(tenant).await?;
        let current = load_group(&mut tx, tenant, id).await?.filter(|g| g.deleted_at.is_none()).ok_or(DirError::NotFound)?;
        check_if_match(current.version, if_version)?;
        // Whether it reached Power BI is read before it is deleted (deleted groups reach nothing).
        if group_reaches_powerbi(&mut tx, tenant, id).await? {
            audit_change(&mut tx, tenant, audit, now, DirChange::GroupDeleted { group: &current }).await?;
        }
        let n = sqlx::query(
            "UPDATE directory_groups SET deleted_at = $3, version = version + 1, modified_at = $3 \
             WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(DirError::NotFound);
        }
        adjust_kept(&mut tx, tenant, Kept::Groups, -1).await?;
        on_membership_change(&mut tx, tenant, id, PrincipalKind::Group, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The statement of a [`Store::list_groups`] page and its parameters.
fn groups_page_sql(tenant: Uuid, filter: Option<&DirFilter>, page: &Page) -> DirResult<(String, ListSql)> {
    let mut q = ListSql::default();
    let t = q.text(tenant.to_string());
    let mut sql = format!("SELECT {GROUP_FULL} FROM directory_groups WHERE tenant_id = {t} AND deleted_at IS NULL");
    if let Some(f) = filter {
        sql += &format!(" AND {}", q.condition(f, group_scope(&t))?);
    }
    // The keyset condition compares the same expression the page is ordered by.
    let order = order_by("id", filter, GROUP_COLUMNS);
    if let Some(after) = &page.after {
        sql += &format!(" AND {order} > {}", q.text(after.to_lowercase()));
    }
    sql += &format!(" ORDER BY {order} LIMIT {} OFFSET {}", q.int(page.limit as i64), q.int(page.offset as i64));
    Ok((sql, q))
}

/// The groups a list asks for, each served from an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKey<'a> {
    All,
    /// `displayName`, without regard to case.
    DisplayName(&'a str),
    ExternalId(&'a str),
    Id(Uuid),
}

impl Store {
    /// The active groups `key` names, in id order: `limit` of them from `offset`, and how many
    /// there are. A key reads only the rows it matches (through its index); `All` reads the page
    /// and the tenant's kept count.
    pub async fn list_groups_by_key(
        &self,
        tenant: Uuid,
        key: GroupKey<'_>,
        offset: usize,
        limit: usize,
    ) -> DirResult<(Vec<DirGroup>, i64)> {
        let limit = limit.min(10_000);
        let (condition, value) = match key {
            GroupKey::All => {
                let page_sql = format!(
                    "SELECT {GROUP_FULL} FROM directory_groups WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY id LIMIT $2 OFFSET $3"
                );
                let mut conn = self.read.acquire().await?;
                let rows = sqlx::query(&page_sql)
                    .bind(tenant.to_string())
                    .bind(limit as i64)
                    .bind(offset.min(i64::MAX as usize) as i64)
                    .fetch_all(&mut *conn)
                    .await?;
                let total = super::query::kept_count(&self.read, tenant, Kept::Groups).await?;
                return Ok((rows.iter().map(group_from_row).collect::<Result<_, _>>()?, total));
            }
            GroupKey::DisplayName(name) => ("lower(display_name) = lower($2)", name.to_string()),
            GroupKey::ExternalId(external) => ("external_id = $2", external.to_string()),
            GroupKey::Id(id) => ("id = $2", id.to_string()),
        };
        // The matches of one key are few: sorted and cut here, so the plan is the key's index.
        let sql = format!("SELECT {GROUP_FULL} FROM directory_groups WHERE tenant_id = $1 AND {condition} AND deleted_at IS NULL");
        let rows = sqlx::query(&sql).bind(tenant.to_string()).bind(value).fetch_all(&self.read).await?;
        let mut groups: Vec<DirGroup> = rows.iter().map(group_from_row).collect::<Result<_, _>>()?;
        groups.sort_by_key(|g| g.id);
        let total = groups.len() as i64;
        Ok((groups.into_iter().skip(offset).take(limit).collect(), total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::dirquery::Lit;

    /// Every filter Graph's `GET /groups` serves is answered from an index on SQLite: the
    /// plan searches `directory_groups` by more than the tenant (never scans it).
    #[tokio::test]
    async fn group_pages_search_an_index_for_every_filter() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite:{}", dir.path().join("plan.db").display())).await.unwrap();
        let text = |s: &str| Lit::Text(s.into());
        let filters = [
            None,
            Some(DirFilter::Eq("id", text("00000000-0000-0000-0000-000000000001"))),
            Some(DirFilter::Eq("displayName", text("Sales"))),
            Some(DirFilter::In("mail", vec![text("a@x.com"), text("b@x.com")])),
            Some(DirFilter::StartsWith("mailNickname", "sal".into())),
            Some(DirFilter::Or(
                Box::new(DirFilter::StartsWith("displayName", "s".into())),
                Box::new(DirFilter::Eq("mail", text("a@x.com"))),
            )),
            Some(DirFilter::And(
                Box::new(DirFilter::StartsWith("displayName", "s".into())),
                Box::new(DirFilter::Eq("mailNickname", text("sales"))),
            )),
        ];
        for filter in &filters {
            let page = Page { after: Some("00000000-0000-0000-0000-000000000000".into()), offset: 0, limit: 101 };
            let (sql, q) = groups_page_sql(Uuid::new_v4(), filter.as_ref(), &page).unwrap();
            let explain = format!("EXPLAIN QUERY PLAN {sql}");
            let rows = q.query(&explain).fetch_all(&store.read).await.unwrap();
            let plan: Vec<String> = rows.iter().map(|r| r.try_get::<String, _>("detail").unwrap()).collect();
            let on_groups: Vec<&String> = plan.iter().filter(|d| d.contains("directory_groups")).collect();
            assert!(!on_groups.is_empty(), "{filter:?}: {plan:?}");
            for step in on_groups {
                // A search on the tenant alone would read every group of the tenant.
                let narrow = step.starts_with("SEARCH") && step.contains("INDEX") && !step.ends_with("(tenant_id=?)");
                assert!(narrow, "{filter:?} reads only its rows through an index: {plan:?}");
            }
        }
    }
}
