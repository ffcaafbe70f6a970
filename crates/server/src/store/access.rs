//! Effective workspace access: a principal's own role, the roles of every group it belongs to
//! (nested groups included, soft-deleted groups ignored), and a Microsoft 365 group backing the
//! workspace (members → Member, owners → Admin). The highest wins.
//!
//! Invariant (group membership is not workspace membership): nothing here writes a workspace
//! entry. Changing a plain security group's members changes who reaches the workspaces the group
//! holds roles in, and nothing else.

use sqlx::{Any, Executor, Row};
use uuid::Uuid;

use super::{parse_enum, Store, StoreResult};
use crate::domain::Role;

/// `memberships(group_id)`: every live group `$3` (a principal in tenant `$1`) belongs to,
/// transitively. `UNION` (not `UNION ALL`) ends the recursion even if groups form a cycle.
/// The `CROSS JOIN`s fix SQLite's join order: from the member (or the groups found so far) into
/// `group_members` by member, then to the group; without statistics SQLite would otherwise start
/// from every group or membership of the tenant at each step. PostgreSQL reads them as joins.
pub(super) const MEMBERSHIPS_CTE: &str = "WITH RECURSIVE memberships(group_id) AS ( \
       SELECT gm.group_id FROM group_members gm CROSS JOIN directory_groups g \
        WHERE gm.tenant_id = $1 AND gm.member_id = $3 \
          AND g.tenant_id = gm.tenant_id AND g.id = gm.group_id AND g.deleted_at IS NULL \
       UNION \
       SELECT gm.group_id FROM memberships ms CROSS JOIN group_members gm CROSS JOIN directory_groups g \
        WHERE gm.tenant_id = $1 AND gm.member_id = ms.group_id \
          AND g.tenant_id = gm.tenant_id AND g.id = gm.group_id AND g.deleted_at IS NULL) ";

/// `reached(workspace_id)`: every workspace principal `$3` of tenant `$1` reaches (a role of its
/// own or of one of its groups, or the backing group it belongs to or owns), for use right after
/// `MEMBERSHIPS_CTE` (it continues its `WITH` list). Read from the principal's side through the
/// `workspace_members_principal`, `workspaces_backing_group` and `group_owners_owner` indexes, so
/// its cost follows what the principal reaches, not the tenant's workspaces. Deleted workspaces
/// are left to the caller; the paths are those of `effective_role`.
pub(super) const REACHED_CTE: &str = ", reached(workspace_id) AS ( \
       SELECT m.workspace_id FROM workspace_members m WHERE m.principal_id = $3 AND m.profile_id = '' \
       UNION \
       SELECT m.workspace_id FROM memberships ms CROSS JOIN workspace_members m \
        WHERE m.principal_id = ms.group_id AND m.profile_id = '' \
       UNION \
       SELECT w.id FROM memberships ms CROSS JOIN workspaces w WHERE w.backing_group_id = ms.group_id \
       UNION \
       SELECT w.id FROM group_owners o CROSS JOIN workspaces w \
        WHERE o.tenant_id = $1 AND o.owner_id = $3 AND w.backing_group_id = o.group_id) ";

/// The effective role of `principal` in an active workspace, through any path.
pub(super) async fn effective_role<'c, E: Executor<'c, Database = Any>>(
    e: E,
    tenant: Uuid,
    workspace: Uuid,
    principal: Uuid,
) -> StoreResult<Option<Role>> {
    let sql = format!(
        "{MEMBERSHIPS_CTE} \
         SELECT m.role AS role FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id \
          WHERE m.workspace_id = $2 AND w.tenant_id = $1 AND w.state <> 'Deleted' AND m.profile_id = '' \
            AND (m.principal_id = $3 OR m.principal_id IN (SELECT group_id FROM memberships)) \
         UNION ALL \
         SELECT CASE WHEN EXISTS (SELECT 1 FROM group_owners o WHERE o.tenant_id = $1 AND o.group_id = w.backing_group_id AND o.owner_id = $3) \
                     THEN 'Admin' ELSE 'Member' END AS role \
           FROM workspaces w WHERE w.id = $2 AND w.tenant_id = $1 AND w.state <> 'Deleted' AND w.backing_group_id IS NOT NULL \
            AND (w.backing_group_id IN (SELECT group_id FROM memberships) \
                 OR EXISTS (SELECT 1 FROM group_owners o WHERE o.tenant_id = $1 AND o.group_id = w.backing_group_id AND o.owner_id = $3))"
    );
    let rows = sqlx::query(&sql).bind(tenant.to_string()).bind(workspace.to_string()).bind(principal.to_string()).fetch_all(e).await?;
    let mut best = None;
    for row in rows {
        let role = parse_enum::<Role>(&row.try_get::<String, _>("role")?)?;
        best = best.max(Some(role));
    }
    Ok(best)
}

impl Store {
    /// Whether `principal` is a member of `group`, directly or through nested groups.
    pub async fn is_member_of(&self, tenant: Uuid, principal: Uuid, group: Uuid) -> StoreResult<bool> {
        let sql = format!("{MEMBERSHIPS_CTE} SELECT COUNT(*) AS n FROM memberships WHERE group_id = $2");
        let row =
            sqlx::query(&sql).bind(tenant.to_string()).bind(group.to_string()).bind(principal.to_string()).fetch_one(&self.read).await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// The groups `principal` belongs to, transitively.
    pub async fn memberships(&self, tenant: Uuid, principal: Uuid) -> StoreResult<Vec<Uuid>> {
        let sql = format!("{MEMBERSHIPS_CTE} SELECT group_id FROM memberships WHERE $2 = $2 ORDER BY group_id");
        let rows = sqlx::query(&sql).bind(tenant.to_string()).bind(String::new()).bind(principal.to_string()).fetch_all(&self.read).await?;
        rows.iter().map(|r| super::parse_uuid(&r.try_get::<String, _>("group_id")?)).collect()
    }
}
