//! Group members (users, nested groups, apps; no cycles) and owners.

use super::*;
use crate::domain::PrincipalRef;
use crate::store::StoreResult;

/// The kind of an active directory object, if it exists.
pub(super) async fn object_kind(conn: &mut AnyConnection, tenant: Uuid, id: Uuid) -> DirResult<Option<PrincipalKind>> {
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
pub(super) async fn creates_cycle(conn: &mut AnyConnection, tenant: Uuid, group: Uuid, member: Uuid) -> DirResult<bool> {
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
pub(super) fn link_query(sql: &str, tenant: Uuid, from: Uuid, to: Uuid) -> Query<'_, Any, AnyArguments<'_>> {
    sqlx::query(sql).bind(tenant.to_string()).bind(from.to_string()).bind(to.to_string())
}

/// Whether membership of `group` is access to Power BI: the group, or a group it belongs to
/// (transitively), holds a role in a live workspace, backs one (Microsoft 365), or holds a
/// permission on an item.
pub(super) async fn group_reaches_powerbi(conn: &mut AnyConnection, tenant: Uuid, group: Uuid) -> DirResult<bool> {
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
pub(super) async fn principal_label(conn: &mut AnyConnection, tenant: Uuid, id: Uuid, kind: PrincipalKind) -> DirResult<String> {
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

/// Group memberships' one write path for new rows: `(group, member)` pairs (users, nested
/// groups or apps) in as few statements as the backends allow, inside the caller's transaction
/// (a member add, `tenant import`, the seed generator). Callers check references and cycles.
pub async fn insert_group_members(conn: &mut AnyConnection, tenant: Uuid, members: &[(Uuid, PrincipalRef)], now: i64) -> StoreResult<()> {
    use crate::store::seed::{insert_rows, Value};
    let rows = members
        .iter()
        .map(|(g, m)| vec![Value::from(tenant), Value::from(*g), Value::from(m.object_id), Value::from(m.kind.as_str()), Value::from(now)])
        .collect();
    insert_rows(conn, "group_members", &["tenant_id", "group_id", "member_id", "member_type", "added_at"], rows).await
}

/// Group owners' one write path for new rows: `(group, owner)` pairs, as [`insert_group_members`].
pub async fn insert_group_owners(conn: &mut AnyConnection, tenant: Uuid, owners: &[(Uuid, Uuid)], now: i64) -> StoreResult<()> {
    use crate::store::seed::{insert_rows, Value};
    let rows = owners.iter().map(|(g, o)| vec![Value::from(tenant), Value::from(*g), Value::from(*o), Value::from(now)]).collect();
    insert_rows(conn, "group_owners", &["tenant_id", "group_id", "owner_id", "added_at"], rows).await
}

impl Store {
    // ----- members and owners -----

    pub(super) async fn members_in(conn: &mut AnyConnection, tenant: Uuid, group: Uuid) -> DirResult<Vec<GroupMemberRef>> {
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

    pub(super) async fn insert_member_in(
        conn: &mut AnyConnection,
        tenant: Uuid,
        group: Uuid,
        member: Uuid,
        now: i64,
    ) -> DirResult<PrincipalKind> {
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
        insert_group_members(conn, tenant, &[(group, PrincipalRef { kind, object_id: member })], now).await?;
        Ok(kind)
    }

    /// Direct members of an active group (members that are deleted are left out).
    pub async fn list_group_members(&self, tenant: Uuid, group: Uuid) -> DirResult<Vec<GroupMemberRef>> {
        let mut conn = self.read.acquire().await?;
        if load_group(&mut conn, tenant, group).await?.filter(|g| g.deleted_at.is_none()).is_none() {
            return Err(DirError::NotFound);
        }
        Self::members_in(&mut conn, tenant, group).await
    }

    /// Add a user, group (nesting) or app to a group.
    pub async fn create_group_member(
        &self,
        tenant: Uuid,
        group: Uuid,
        member: Uuid,
        now: i64,
        audit: &dyn DirAuditor,
    ) -> DirResult<PrincipalKind> {
        let mut tx = self.dir_write(tenant).await?;
        let touched = touch_group(&mut tx, tenant, group, now).await?;
        let kind = Self::insert_member_in(&mut tx, tenant, group, member, now).await?;
        on_membership_change(&mut tx, tenant, member, kind, now).await?;
        if group_reaches_powerbi(&mut tx, tenant, group).await? {
            let label = principal_label(&mut tx, tenant, member, kind).await?;
            audit_change(&mut tx, tenant, audit, now, DirChange::MemberAdded { group: &touched, member, kind, label }).await?;
        }
        tx.commit().await?;
        Ok(kind)
    }

    pub async fn delete_group_member(&self, tenant: Uuid, group: Uuid, member: Uuid, now: i64, audit: &dyn DirAuditor) -> DirResult<()> {
        let mut tx = self.dir_write(tenant).await?;
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
        on_membership_change(&mut tx, tenant, member, kind, now).await?;
        if group_reaches_powerbi(&mut tx, tenant, group).await? {
            let label = principal_label(&mut tx, tenant, member, kind).await?;
            audit_change(&mut tx, tenant, audit, now, DirChange::MemberRemoved { group: &touched, member, kind, label }).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Owners of a group (users or apps).
    pub async fn list_group_owners(&self, tenant: Uuid, group: Uuid) -> DirResult<Vec<GroupMemberRef>> {
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
    pub async fn create_group_owner(&self, tenant: Uuid, group: Uuid, owner: Uuid, now: i64) -> DirResult<()> {
        let mut tx = self.dir_write(tenant).await?;
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
        insert_group_owners(&mut tx, tenant, &[(group, owner)], now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_group_owner(&self, tenant: Uuid, group: Uuid, owner: Uuid, now: i64) -> DirResult<()> {
        let mut tx = self.dir_write(tenant).await?;
        touch_group(&mut tx, tenant, group, now).await?;
        let n = link_query("DELETE FROM group_owners WHERE tenant_id = $1 AND group_id = $2 AND owner_id = $3", tenant, group, owner)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(DirError::NotMember);
        }
        tx.commit().await?;
        Ok(())
    }
}

/// How far `memberOf` reaches: the groups an object is a direct member of, or those and every
/// group they belong to in turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    Direct,
    Transitive,
}

/// `up(group_id)`: the active groups object `$2` belongs to, directly and through nesting (a
/// deleted group neither appears nor passes its memberships on). It reads only the object's own
/// chain of memberships, through `group_members_member_group`.
const UP_CTE: &str = "WITH RECURSIVE up(group_id) AS ( \
       SELECT gm.group_id FROM group_members gm CROSS JOIN directory_groups g \
        WHERE gm.tenant_id = $1 AND gm.member_id = $2 \
          AND g.tenant_id = gm.tenant_id AND g.id = gm.group_id AND g.deleted_at IS NULL \
       UNION \
       SELECT gm.group_id FROM up CROSS JOIN group_members gm CROSS JOIN directory_groups g \
        WHERE gm.tenant_id = $1 AND gm.member_id = up.group_id \
          AND g.tenant_id = gm.tenant_id AND g.id = gm.group_id AND g.deleted_at IS NULL) ";

/// The groups `$2` is a direct member of, as `up(group_id)` (same shape as [`UP_CTE`]).
const DIRECT_UP_CTE: &str = "WITH up(group_id) AS ( \
       SELECT gm.group_id FROM group_members gm CROSS JOIN directory_groups g \
        WHERE gm.tenant_id = $1 AND gm.member_id = $2 \
          AND g.tenant_id = gm.tenant_id AND g.id = gm.group_id AND g.deleted_at IS NULL) ";

fn up_cte(reach: Reach) -> &'static str {
    match reach {
        Reach::Direct => DIRECT_UP_CTE,
        Reach::Transitive => UP_CTE,
    }
}

fn parse_role(name: &str) -> Option<DirectoryRole> {
    match name {
        "FabricAdministrator" => Some(DirectoryRole::FabricAdministrator),
        "GlobalAdministrator" => Some(DirectoryRole::GlobalAdministrator),
        _ => None,
    }
}

impl Store {
    /// A page of the groups `object` (a user, group or app) belongs to, by group id: those
    /// after `after`, at most `limit`. Reads only the object's memberships and those groups.
    pub async fn list_member_of(
        &self,
        tenant: Uuid,
        object: Uuid,
        reach: Reach,
        after: Option<Uuid>,
        limit: usize,
    ) -> DirResult<Vec<DirGroup>> {
        let columns = GROUP_FULL.split(", ").map(|c| format!("g.{c}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "{} SELECT {columns} FROM up CROSS JOIN directory_groups g \
              WHERE g.tenant_id = $1 AND g.id = up.group_id AND up.group_id > $3 ORDER BY up.group_id LIMIT $4",
            up_cte(reach)
        );
        let rows = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(object.to_string())
            .bind(after.map(|a| a.to_string()).unwrap_or_default())
            .bind(limit.min(10_000) as i64)
            .fetch_all(&self.read)
            .await?;
        Ok(rows.iter().map(group_from_row).collect::<Result<_, _>>()?)
    }

    /// How many groups `object` belongs to (`$count`).
    pub async fn count_member_of(&self, tenant: Uuid, object: Uuid, reach: Reach) -> DirResult<i64> {
        let sql = format!("{} SELECT COUNT(*) AS n FROM up", up_cte(reach));
        let row = sqlx::query(&sql).bind(tenant.to_string()).bind(object.to_string()).fetch_one(&self.read).await?;
        Ok(row.try_get("n")?)
    }

    /// The directory roles `object` holds: its own, and (transitively) those of its groups.
    pub async fn list_roles_of(&self, tenant: Uuid, object: Uuid, reach: Reach) -> DirResult<Vec<DirectoryRole>> {
        let sql = match reach {
            Reach::Direct => {
                "SELECT DISTINCT role FROM directory_role_members WHERE tenant_id = $1 AND principal_id = $2 ORDER BY role".to_string()
            }
            Reach::Transitive => format!(
                "{UP_CTE} SELECT role FROM directory_role_members WHERE tenant_id = $1 AND principal_id = $2 \
                 UNION SELECT r.role FROM up CROSS JOIN directory_role_members r WHERE r.tenant_id = $1 AND r.principal_id = up.group_id \
                 ORDER BY role"
            ),
        };
        let rows = sqlx::query(&sql).bind(tenant.to_string()).bind(object.to_string()).fetch_all(&self.read).await?;
        let mut roles = Vec::new();
        for row in rows {
            roles.extend(parse_role(&row.try_get::<String, _>("role")?));
        }
        Ok(roles)
    }

    /// SKUs assigned directly to each of `groups` (one statement, by primary key).
    pub async fn list_group_license_skus(&self, tenant: Uuid, groups: &[Uuid]) -> DirResult<HashMap<Uuid, Vec<Uuid>>> {
        let mut out: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        // A Graph page (up to 999 groups) in one statement.
        for chunk in groups.chunks(1000) {
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT group_id, sku_id FROM group_licenses WHERE tenant_id = $1 AND group_id IN ({}) ORDER BY group_id, sku_id",
                marks.join(", ")
            );
            let mut q = sqlx::query(&sql).bind(tenant.to_string());
            for g in chunk {
                q = q.bind(g.to_string());
            }
            for r in q.fetch_all(&self.read).await? {
                out.entry(parse_uuid(&r.try_get::<String, _>("group_id")?)?)
                    .or_default()
                    .push(parse_uuid(&r.try_get::<String, _>("sku_id")?)?);
            }
        }
        Ok(out)
    }
}

/// `down(member_id, member_type)`: the members of group `$2`, directly or also through nested
/// groups that are not deleted (each once). Reads only that group's tree, by primary key.
fn down_cte(reach: Reach) -> &'static str {
    match reach {
        Reach::Direct => {
            "WITH down(member_id, member_type) AS ( \
               SELECT gm.member_id, gm.member_type FROM group_members gm WHERE gm.tenant_id = $1 AND gm.group_id = $2) "
        }
        Reach::Transitive => {
            "WITH RECURSIVE down(member_id, member_type) AS ( \
               SELECT gm.member_id, gm.member_type FROM group_members gm WHERE gm.tenant_id = $1 AND gm.group_id = $2 \
               UNION \
               SELECT gm.member_id, gm.member_type FROM down CROSS JOIN directory_groups g CROSS JOIN group_members gm \
                WHERE down.member_type = 'Group' AND g.tenant_id = $1 AND g.id = down.member_id AND g.deleted_at IS NULL \
                  AND gm.tenant_id = $1 AND gm.group_id = down.member_id) "
        }
    }
}

/// The condition "the object `d.member_id` of kind `d.member_type` exists and is not deleted".
const LIVE_MEMBER: &str = "((d.member_type = 'User' AND EXISTS (SELECT 1 FROM users u WHERE u.tenant_id = $1 AND u.id = d.member_id AND u.deleted_at IS NULL)) \
     OR (d.member_type = 'Group' AND EXISTS (SELECT 1 FROM directory_groups g WHERE g.tenant_id = $1 AND g.id = d.member_id AND g.deleted_at IS NULL)) \
     OR (d.member_type = 'App' AND EXISTS (SELECT 1 FROM service_principals s WHERE s.tenant_id = $1 AND s.id = d.member_id)))";

/// `d(member_id, member_type)`: the owners of group `$2` that exist (users not deleted, apps).
const OWNERS: &str = "(SELECT o.owner_id AS member_id, \
       CASE WHEN EXISTS (SELECT 1 FROM users u WHERE u.tenant_id = $1 AND u.id = o.owner_id AND u.deleted_at IS NULL) THEN 'User' \
            WHEN EXISTS (SELECT 1 FROM service_principals s WHERE s.tenant_id = $1 AND s.id = o.owner_id) THEN 'App' END AS member_type \
       FROM group_owners o WHERE o.tenant_id = $1 AND o.group_id = $2) d";

/// Which list of a group's objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupObjects {
    Members(Reach),
    Owners,
}

/// `sql` with `IN ($2, $3, …)` filled for `ids`, `$1` the tenant.
async fn rows_by_ids(conn: &mut AnyConnection, sql_prefix: &str, tenant: Uuid, ids: &[Uuid]) -> DirResult<Vec<AnyRow>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!("{sql_prefix} ({})", marks.join(", "));
        let mut q = sqlx::query(&sql).bind(tenant.to_string());
        for id in chunk {
            q = q.bind(id.to_string());
        }
        out.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(out)
}

impl Store {
    /// A page of a group's members (direct or transitive) or owners, by object id: those after
    /// `after`, at most `limit`, deleted objects left out. Reads the group's own links and the
    /// objects on the page only. `NotFound` if the group is not active.
    pub async fn list_group_objects(
        &self,
        tenant: Uuid,
        group: Uuid,
        list: GroupObjects,
        after: Option<Uuid>,
        limit: usize,
    ) -> DirResult<Vec<DirObject>> {
        let mut conn = self.read.acquire().await?;
        if load_group(&mut conn, tenant, group).await?.filter(|g| g.deleted_at.is_none()).is_none() {
            return Err(DirError::NotFound);
        }
        let sql = match list {
            GroupObjects::Members(reach) => format!(
                "{} SELECT d.member_id, d.member_type FROM down d WHERE d.member_id > $3 AND {LIVE_MEMBER} ORDER BY d.member_id LIMIT $4",
                down_cte(reach)
            ),
            GroupObjects::Owners => format!(
                "SELECT d.member_id, d.member_type FROM {OWNERS} WHERE d.member_id > $3 AND d.member_type IS NOT NULL \
                 ORDER BY d.member_id LIMIT $4"
            ),
        };
        let rows = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(group.to_string())
            .bind(after.map(|a| a.to_string()).unwrap_or_default())
            .bind(limit.min(10_000) as i64)
            .fetch_all(&mut *conn)
            .await?;
        let mut refs = Vec::with_capacity(rows.len());
        for r in rows {
            let id = parse_uuid(&r.try_get::<String, _>("member_id")?)?;
            refs.push((id, parse_enum::<PrincipalKind>(&r.try_get::<String, _>("member_type")?)?));
        }
        let of = |kind: PrincipalKind| refs.iter().filter(|(_, k)| *k == kind).map(|(id, _)| *id).collect::<Vec<_>>();
        let mut found: HashMap<Uuid, DirObject> = HashMap::with_capacity(refs.len());
        let users = format!("SELECT {USER_FULL} FROM users WHERE tenant_id = $1 AND id IN");
        for r in rows_by_ids(&mut conn, &users, tenant, &of(PrincipalKind::User)).await? {
            let u = user_from_full_row(&r)?;
            found.insert(u.id, DirObject::User(u));
        }
        let groups = format!("SELECT {GROUP_FULL} FROM directory_groups WHERE tenant_id = $1 AND id IN");
        for r in rows_by_ids(&mut conn, &groups, tenant, &of(PrincipalKind::Group)).await? {
            let g = group_from_row(&r)?;
            found.insert(g.id, DirObject::Group(g));
        }
        let apps = "SELECT id, display_name FROM service_principals WHERE tenant_id = $1 AND id IN";
        for r in rows_by_ids(&mut conn, apps, tenant, &of(PrincipalKind::App)).await? {
            let id = parse_uuid(&r.try_get::<String, _>("id")?)?;
            found.insert(id, DirObject::App { id, display_name: r.try_get("display_name")? });
        }
        Ok(refs.iter().filter_map(|(id, _)| found.remove(id)).collect())
    }

    /// How many objects a group's list holds (`$count`).
    pub async fn count_group_objects(&self, tenant: Uuid, group: Uuid, list: GroupObjects) -> DirResult<i64> {
        let sql = match list {
            GroupObjects::Members(reach) => format!("{} SELECT COUNT(*) AS n FROM down d WHERE {LIVE_MEMBER}", down_cte(reach)),
            GroupObjects::Owners => format!("SELECT COUNT(*) AS n FROM {OWNERS} WHERE d.member_type IS NOT NULL"),
        };
        let row = sqlx::query(&sql).bind(tenant.to_string()).bind(group.to_string()).fetch_one(&self.read).await?;
        Ok(row.try_get("n")?)
    }
}
