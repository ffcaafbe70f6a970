//! Groups: create, read, update and replace with optimistic versions, soft delete.

use super::*;

pub(super) const GROUP_FULL: &str =
    "id, display_name, group_kind, description, mail, mail_nickname, external_id, version, created_at, modified_at, deleted_at";

pub(super) fn dir_group_from_row(row: &AnyRow) -> Result<DirGroup, StoreError> {
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
    Ok(row.as_ref().map(dir_group_from_row).transpose()?)
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

impl Store {
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
}
