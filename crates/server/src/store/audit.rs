//! Reads of the admin audit surface: a user's artifact access and subscriptions, the activity
//! log, the admin workspace list and what the scanner reports. Every paged read is keyset-based:
//! it starts after the last key served, so a page costs the same however deep it is, and
//! writes between pages neither repeat nor skip the items that stay.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use super::packed::{fetch_packed, pack_sql};
use super::workspaces::{filter_sql, workspace_from_row, WorkspaceView, STATE_EXPR};
use super::{parse_enum, parse_uuid, Store, StoreResult};
use crate::domain::audit::{
    right_rank, AccessKind, AdminWorkspace, ArtifactAccess, ArtifactGrant, ArtifactKind, ArtifactRecord, ScanRecord, ShareType,
    SubscriptionRecord,
};
use crate::domain::filter::{ActivityCondition, WorkspaceFilter};
use crate::domain::Role;

/// Most values bound in one statement by the `IN (…)` reads (SQLite allows 32,766).
const IN_CHUNK: usize = 1000;
/// The same on PostgreSQL, where one statement's plan costs about the same for many more values
/// (its limit is 65,535 parameters).
const PG_IN_CHUNK: usize = 10_000;
/// Ids per name lookup: SQLite's `$N` parameters cost a scan of the names bound so far each,
/// so a page's names are read in a few short statements rather than one long one.
const NAME_CHUNK: usize = 250;

/// `$first, $first+1, …` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// `'A', 'B'` for kinds (our own enum spellings, never client text).
fn kind_list(kinds: &[ArtifactKind]) -> String {
    kinds.iter().map(|k| format!("'{}'", k.as_str())).collect::<Vec<_>>().join(", ")
}

/// Workspace columns with the state the admin sees (`STATE_EXPR`) as `state`.
const ADMIN_WORKSPACE_COLUMNS: &str =
    "w.id, w.tenant_id, w.name, w.description, w.kind, w.is_read_only, w.capacity_id, w.modified_at, w.version";

fn admin_workspace_from_row(row: &AnyRow) -> StoreResult<AdminWorkspace> {
    Ok(AdminWorkspace { workspace: workspace_from_row(row)?, modified_at: row.try_get("modified_at")?, version: row.try_get("version")? })
}

fn artifact_from_row(row: &AnyRow) -> StoreResult<ArtifactRecord> {
    Ok(ArtifactRecord {
        id: parse_uuid(&row.try_get::<String, _>("id")?)?,
        workspace_id: parse_uuid(&row.try_get::<String, _>("workspace_id")?)?,
        kind: parse_enum::<ArtifactKind>(&row.try_get::<String, _>("kind")?)?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        dataset_id: row.try_get::<Option<String>, _>("dataset_id")?.as_deref().map(parse_uuid).transpose()?,
        configured_by: row.try_get("configured_by")?,
        created_at: row.try_get("created_at")?,
        modified_at: row.try_get("modified_at")?,
    })
}

impl Store {
    /// Up to `limit` items `user` reaches whose id sorts after `after` ('' for the first page),
    /// in id order, each once with its strongest right.
    ///
    /// Cost: the user's groups (transitively, one small recursive query), then every page reads
    /// the user's reachable items after `after` (a few thousand index entries for a heavy user,
    /// fewer the deeper the page), then the names of its own items by primary key. The
    /// `CROSS JOIN`s fix SQLite's join order (from the user's principals outwards, never from
    /// every workspace or artifact of the tenant), and the `CASE` keeps it on the artifacts'
    /// primary key; PostgreSQL plans them as ordinary joins and filters.
    ///
    /// Items reach a user through a workspace role (its own, a group's, nested groups included,
    /// or a Microsoft 365 group backing the workspace) or through a permission on the item (its
    /// own or a group's). Deleted workspaces and their items are left out.
    pub async fn artifact_access_page(
        &self,
        tenant: Uuid,
        user: Uuid,
        after: &str,
        kinds: &[AccessKind],
        limit: u32,
    ) -> StoreResult<Vec<ArtifactAccess>> {
        let stored: Vec<ArtifactKind> = kinds.iter().filter_map(|k| k.item()).collect();
        let mut branches = Vec::new();
        if !stored.is_empty() {
            let kinds = kind_list(&stored);
            branches.push(format!(
                "SELECT a.id AS id, a.kind AS kind, 'Workspace' AS src, r.role AS access \
                   FROM ws_roles r CROSS JOIN artifacts a \
                  WHERE a.workspace_id = r.workspace_id AND a.id > $2 AND a.kind IN ({kinds})"
            ));
            branches.push(format!(
                "SELECT a.id AS id, a.kind AS kind, CASE WHEN p.principal_id = $3 THEN 'Direct' ELSE 'Group' END AS src, \
                        p.access_right AS access \
                   FROM principals pr CROSS JOIN artifact_permissions p CROSS JOIN artifacts a CROSS JOIN workspaces w \
                  WHERE p.principal_id = pr.pid AND p.artifact_id > $2 AND a.id = p.artifact_id AND a.tenant_id = $1 \
                    AND (CASE WHEN a.kind IN ({kinds}) THEN 1 ELSE 0 END) = 1 AND w.id = a.workspace_id AND w.state <> 'Deleted'"
            ));
        }
        if kinds.contains(&AccessKind::Workspace) {
            branches.push(
                "SELECT w.id AS id, 'Workspace' AS kind, r.via AS src, r.role AS access \
                   FROM ws_roles r CROSS JOIN workspaces w WHERE w.id = r.workspace_id AND w.id > $2"
                    .to_string(),
            );
        }
        if kinds.contains(&AccessKind::Capacity) {
            branches.push(
                "SELECT c.id AS id, 'Capacity' AS kind, CASE WHEN cu.principal_id = $3 THEN 'Direct' ELSE 'Group' END AS src, \
                        cu.access_right AS access \
                   FROM principals pr CROSS JOIN capacity_users cu CROSS JOIN capacities c \
                  WHERE cu.principal_id = pr.pid AND c.id = cu.capacity_id AND c.tenant_id = $1 AND c.id > $2"
                    .to_string(),
            );
        }
        if branches.is_empty() {
            return Ok(Vec::new());
        }
        // The user's groups first, in their own small query: as a list of values in the main
        // query, PostgreSQL knows how few principals there are (it cannot estimate a recursive
        // CTE, guessed hundreds, and then hashed every artifact of the tenant).
        let groups = self.memberships(tenant, user).await?;
        let principals: String = std::iter::once("SELECT CAST($3 AS TEXT) AS pid".to_string())
            .chain((0..groups.len()).map(|i| format!("SELECT CAST(${} AS TEXT)", i + 4)))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let sql = format!(
            "WITH principals(pid) AS ({principals}), \
             memberships(group_id) AS (SELECT pid FROM principals WHERE pid <> $3), \
             ws_roles(workspace_id, role, via) AS ( \
               SELECT m.workspace_id, m.role, CASE WHEN m.principal_id = $3 THEN 'Direct' ELSE 'Group' END \
                 FROM principals pr CROSS JOIN workspace_members m CROSS JOIN workspaces w \
                WHERE m.principal_id = pr.pid AND m.profile_id = '' AND w.id = m.workspace_id AND w.tenant_id = $1 AND w.state <> 'Deleted' \
               UNION ALL \
               SELECT w.id, CASE WHEN EXISTS (SELECT 1 FROM group_owners o WHERE o.tenant_id = $1 AND o.group_id = w.backing_group_id AND o.owner_id = $3) \
                                 THEN 'Admin' ELSE 'Member' END, 'Group' \
                 FROM (SELECT group_id FROM memberships UNION SELECT group_id FROM group_owners WHERE tenant_id = $1 AND owner_id = $3) bg \
                      CROSS JOIN workspaces w \
                WHERE w.backing_group_id = bg.group_id AND w.tenant_id = $1 AND w.state <> 'Deleted'), \
             reach(id, kind, src, access) AS ({branches}), \
             page(id) AS (SELECT id FROM reach GROUP BY id ORDER BY id LIMIT {limit}) \
             {packed}",
            branches = branches.join(" UNION ALL "),
            packed = pack_sql(
                self.backend,
                "SELECT id, kind, src, access FROM reach WHERE id IN (SELECT id FROM page) ORDER BY id",
                &["id", "kind", "src", "access"],
                "id"
            ),
        );
        let mut query = sqlx::query(&sql).bind(tenant.to_string()).bind(after.to_string()).bind(user.to_string());
        for group in &groups {
            query = query.bind(group.to_string());
        }
        let rows: Vec<(String, String, String, String)> = fetch_packed(&self.read, query).await?;
        let mut out: Vec<ArtifactAccess> = Vec::new();
        for (id, kind, src, access) in rows {
            let id = parse_uuid(&id)?;
            let kind = parse_enum::<AccessKind>(&kind)?;
            let (right, share) = match (src.as_str(), kind.item()) {
                ("Workspace", Some(item)) => (item.right_from_role(parse_enum::<Role>(&access)?).to_string(), ShareType::Workspace),
                ("Direct", _) => (access, ShareType::Direct),
                _ => (access, ShareType::Group),
            };
            match out.last_mut() {
                Some(last) if last.id == id => {
                    if right_rank(&right) > right_rank(&last.right) {
                        last.right = right;
                        last.share = share;
                    }
                }
                _ => out.push(ArtifactAccess { id, kind, name: String::new(), right, share }),
            }
        }
        self.name_items(&mut out).await?;
        Ok(out)
    }

    /// Fill in the names of a page of items, by primary key (one small query per table).
    async fn name_items(&self, items: &mut [ArtifactAccess]) -> StoreResult<()> {
        let mut names: HashMap<String, String> = HashMap::with_capacity(items.len());
        for (table, column, of) in [
            ("artifacts", "name", (|k: AccessKind| k.item().is_some()) as fn(AccessKind) -> bool),
            ("workspaces", "name", |k| k == AccessKind::Workspace),
            ("capacities", "display_name", |k| k == AccessKind::Capacity),
        ] {
            let ids: Vec<String> = items.iter().filter(|i| of(i.kind)).map(|i| i.id.to_string()).collect();
            for chunk in ids.chunks(NAME_CHUNK) {
                // By primary key alone: the ids came from this tenant's query, and a tenant
                // condition tempts SQLite into scanning the tenant's index instead.
                let inner = format!("SELECT id, {column} AS name FROM {table} WHERE id IN ({}) ORDER BY id", placeholders(1, chunk.len()));
                let sql = pack_sql(self.backend, &inner, &["id", "name"], "id");
                let mut query = sqlx::query(&sql);
                for id in chunk {
                    query = query.bind(id.clone());
                }
                let rows: Vec<(String, String)> = fetch_packed(&self.read, query).await?;
                names.extend(rows);
            }
        }
        for item in items {
            item.name = names.remove(&item.id.to_string()).unwrap_or_default();
        }
        Ok(())
    }

    /// Up to `limit` subscriptions owned by `owner` with an id after `after`, in id order.
    pub async fn subscriptions_page(&self, tenant: Uuid, owner: Uuid, after: &str, limit: u32) -> StoreResult<Vec<SubscriptionRecord>> {
        let sql = format!(
            "SELECT s.id, s.title, s.artifact_id, a.name AS artifact_name, a.kind AS artifact_kind, s.sub_artifact_name, s.frequency, \
                    s.is_enabled, s.start_date, s.end_date, s.attachment_format \
               FROM subscriptions s JOIN artifacts a ON a.id = s.artifact_id \
              WHERE s.tenant_id = $1 AND s.owner_id = $2 AND s.id > $3 ORDER BY s.id LIMIT {limit}"
        );
        let rows = sqlx::query(&sql).bind(tenant.to_string()).bind(owner.to_string()).bind(after.to_string()).fetch_all(&self.read).await?;
        rows.iter()
            .map(|row| {
                Ok(SubscriptionRecord {
                    id: parse_uuid(&row.try_get::<String, _>("id")?)?,
                    title: row.try_get("title")?,
                    artifact_id: parse_uuid(&row.try_get::<String, _>("artifact_id")?)?,
                    artifact_name: row.try_get("artifact_name")?,
                    artifact_kind: parse_enum::<ArtifactKind>(&row.try_get::<String, _>("artifact_kind")?)?,
                    sub_artifact_name: row.try_get("sub_artifact_name")?,
                    frequency: row.try_get("frequency")?,
                    is_enabled: row.try_get::<i64, _>("is_enabled")? != 0,
                    start_date: row.try_get("start_date")?,
                    end_date: row.try_get("end_date")?,
                    attachment_format: row.try_get("attachment_format")?,
                })
            })
            .collect()
    }

    /// Up to `limit` events with `from <= creation_time < until`, after `(time, id)` when given,
    /// in (time, id) order, as (time, id, event JSON). Conditions compare without regard to case.
    pub async fn activity_page(
        &self,
        tenant: Uuid,
        from: i64,
        until: i64,
        after: Option<(i64, &str)>,
        conditions: &[ActivityCondition],
        limit: u32,
    ) -> StoreResult<Vec<(i64, String, String)>> {
        let (after_time, after_id) = after.unwrap_or((from, ""));
        let mut sql = String::from(
            "SELECT creation_time, id, event_json FROM activity_events \
              WHERE tenant_id = $1 AND creation_time >= $2 AND creation_time < $3 AND creation_time >= $4 \
                AND (creation_time > $4 OR id > $5)",
        );
        let mut binds = Vec::new();
        for c in conditions {
            let (column, value) = match c {
                ActivityCondition::Activity(v) => ("activity", v),
                ActivityCondition::UserId(v) => ("user_id", v),
                ActivityCondition::NotActivity(names) => {
                    let mut placeholders = Vec::new();
                    for name in names {
                        binds.push(name.to_lowercase());
                        placeholders.push(format!("${}", 5 + binds.len()));
                    }
                    if !placeholders.is_empty() {
                        sql.push_str(&format!(" AND LOWER(activity) NOT IN ({})", placeholders.join(", ")));
                    }
                    continue;
                }
            };
            binds.push(value.to_lowercase());
            sql.push_str(&format!(" AND LOWER({column}) = ${}", 5 + binds.len()));
        }
        sql.push_str(&format!(" ORDER BY creation_time, id LIMIT {limit}"));
        let mut query = sqlx::query(&sql).bind(tenant.to_string()).bind(from).bind(until).bind(after_time).bind(after_id.to_string());
        for b in binds {
            query = query.bind(b);
        }
        let rows = query.fetch_all(&self.read).await?;
        rows.iter().map(|r| Ok((r.try_get("creation_time")?, r.try_get("id")?, r.try_get("event_json")?))).collect()
    }

    /// Delete the tenant's events older than `before`; returns how many went.
    pub async fn purge_activity(&self, tenant: Uuid, before: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM activity_events WHERE tenant_id = $1 AND creation_time < $2")
            .bind(tenant.to_string())
            .bind(before)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }

    /// Every workspace of the tenant, deleted ones included, filtered and paged by name, with
    /// the state the admin sees (`Orphaned` when nobody holds its Admin role).
    pub async fn admin_workspaces(
        &self,
        tenant: Uuid,
        filter: Option<&WorkspaceFilter>,
        top: u32,
        skip: u32,
    ) -> StoreResult<Vec<AdminWorkspace>> {
        let mut sql = format!(
            "SELECT w.id AS id, w.tenant_id AS tenant_id, w.name AS name, w.description AS description, w.kind AS kind, \
                    w.is_read_only AS is_read_only, w.capacity_id AS capacity_id, w.modified_at AS modified_at, {STATE_EXPR} AS state, \
                    w.name_lower AS name_lower, w.version AS version \
               FROM workspaces w WHERE w.tenant_id = $1"
        );
        let mut binds = Vec::new();
        if let Some(filter) = filter {
            sql.push_str(" AND ");
            filter_sql(filter, &mut sql, &mut binds, 1);
        }
        // Both integers are ours, not client text.
        sql.push_str(&format!(" ORDER BY w.name_lower, w.id LIMIT {top} OFFSET {skip}"));
        let columns = ["id", "tenant_id", "name", "description", "kind", "is_read_only", "capacity_id", "modified_at", "state", "version"];
        let sql = pack_sql(self.backend, &sql, &columns, "name_lower, id");
        let mut query = sqlx::query(&sql).bind(tenant.to_string());
        for b in binds {
            query = query.bind(b);
        }
        type Packed = (String, String, String, Option<String>, String, i64, Option<String>, i64, String, i64);
        let rows: Vec<Packed> = fetch_packed(&self.read, query).await?;
        rows.into_iter()
            .map(|(id, tenant_id, name, description, kind, is_read_only, capacity_id, modified_at, state, version)| {
                Ok(AdminWorkspace {
                    workspace: crate::domain::Workspace {
                        id: parse_uuid(&id)?,
                        tenant_id: parse_uuid(&tenant_id)?,
                        name,
                        description,
                        kind,
                        state,
                        is_read_only: is_read_only != 0,
                        capacity_id: capacity_id.as_deref().map(parse_uuid).transpose()?,
                    },
                    modified_at,
                    version,
                })
            })
            .collect()
    }

    /// The tenant's workspaces among `ids` (deleted ones included), as the admin sees them.
    pub async fn admin_workspaces_by_id(&self, tenant: Uuid, ids: &[Uuid]) -> StoreResult<Vec<AdminWorkspace>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT {ADMIN_WORKSPACE_COLUMNS}, {STATE_EXPR} AS state FROM workspaces w WHERE w.tenant_id = $1 AND w.id IN ({})",
                placeholders(2, chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(tenant.to_string());
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&self.read).await? {
                out.push(admin_workspace_from_row(&row)?);
            }
        }
        Ok(out)
    }

    /// `workspace_views` of workspaces whose `version` the caller read, with the tenant's
    /// `directory` generation read before them (both before any member). Where the store keeps
    /// no views between commits (PostgreSQL), views are kept under those versions (as
    /// `workspace_view` keeps them), so only workspaces changed since are read again.
    pub async fn workspace_views_at(
        &self,
        tenant: Uuid,
        at: &[(Uuid, i64)],
        directory: i64,
    ) -> StoreResult<HashMap<Uuid, Arc<WorkspaceView>>> {
        if self.cache.enabled() {
            let ids: Vec<Uuid> = at.iter().map(|(id, _)| *id).collect();
            return self.workspace_views(tenant, &ids).await;
        }
        let mut out = HashMap::with_capacity(at.len());
        let mut missing = Vec::new();
        for &(id, version) in at {
            match self.cache.get_versioned(id, (version, directory)) {
                Some(view) if view.tenant == tenant => {
                    out.insert(id, view);
                }
                _ => missing.push(id),
            }
        }
        let read = self.workspace_views(tenant, &missing).await?;
        for &(id, version) in at {
            if let Some(view) = read.get(&id) {
                self.cache.put_versioned(id, (version, directory), view.clone());
            }
        }
        out.extend(read);
        Ok(out)
    }

    /// The role assignments of several active workspaces of the tenant: from the view cache
    /// where it has them, the rest in a few statements (and then cached).
    pub async fn workspace_views(&self, tenant: Uuid, ids: &[Uuid]) -> StoreResult<HashMap<Uuid, Arc<WorkspaceView>>> {
        let mut out = HashMap::with_capacity(ids.len());
        let mut missing = Vec::new();
        for id in ids {
            match self.cache.get(*id) {
                Some(view) if view.tenant == tenant => {
                    out.insert(*id, view);
                }
                Some(_) => {}
                None => missing.push(*id),
            }
        }
        // PostgreSQL plans a page's members as one pass over the tables (hash joins), which costs
        // the same for 1,000 workspaces as for 5,000: one statement for them all. SQLite probes
        // the indexes per workspace, and pays for each `$N` bound, so it takes them 1,000 at a time.
        let chunk_size = match self.backend {
            super::Backend::Postgres => PG_IN_CHUNK,
            super::Backend::Sqlite => IN_CHUNK,
        };
        for chunk in missing.chunks(chunk_size) {
            let generation = self.cache.generation();
            let inner = format!(
                "SELECT m.workspace_id AS workspace_id, m.principal_id AS principal_id, m.principal_type AS principal_type, m.role AS role, \
                        m.profile_id AS profile_id, u.upn AS upn, u.mail AS mail, u.display_name AS user_name, u.user_type AS user_type, \
                        g.display_name AS group_name, s.display_name AS app_name, s.app_id AS app_id, m.added_at AS added_at \
                   FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id \
                   LEFT JOIN users u ON m.principal_type = 'User' AND u.tenant_id = $1 AND u.id = m.principal_id \
                   LEFT JOIN directory_groups g ON m.principal_type = 'Group' AND g.tenant_id = $1 AND g.id = m.principal_id \
                   LEFT JOIN service_principals s ON m.principal_type = 'App' AND s.tenant_id = $1 AND s.id = m.principal_id \
                  WHERE w.tenant_id = $1 AND w.state <> 'Deleted' AND m.workspace_id IN ({}) \
                  ORDER BY m.workspace_id, m.added_at, m.principal_id, m.profile_id",
                placeholders(2, chunk.len())
            );
            let columns = [
                "workspace_id",
                "principal_id",
                "principal_type",
                "role",
                "profile_id",
                "upn",
                "mail",
                "user_name",
                "user_type",
                "group_name",
                "app_name",
                "app_id",
            ];
            let sql = pack_sql(self.backend, &inner, &columns, "workspace_id, added_at, principal_id, profile_id");
            let mut query = sqlx::query(&sql).bind(tenant.to_string());
            for id in chunk {
                query = query.bind(id.to_string());
            }
            let mut members: HashMap<Uuid, Vec<crate::domain::Member>> = HashMap::new();
            for row in fetch_packed::<PackedMember, _>(&self.read, query).await? {
                let workspace = parse_uuid(&row.0)?;
                members.entry(workspace).or_default().push(member_from_packed(row)?);
            }
            // A workspace with no member rows still gets its (empty) view when it is active. Only
            // the ids: the admin's state (`STATE_EXPR`, two probes a workspace) is not needed here.
            let sql = format!(
                "SELECT w.id FROM workspaces w WHERE w.tenant_id = $1 AND w.state <> 'Deleted' AND w.id IN ({})",
                placeholders(2, chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(tenant.to_string());
            for id in chunk {
                query = query.bind(id.to_string());
            }
            let active = query
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(|r| parse_uuid(&r.try_get::<String, _>("id")?))
                .collect::<StoreResult<Vec<Uuid>>>()?;
            for id in active {
                let view = Arc::new(WorkspaceView::new(tenant, members.remove(&id).unwrap_or_default()));
                self.cache.put(id, view.clone(), generation);
                out.insert(id, view);
            }
        }
        Ok(out)
    }

    /// The artifacts of `kinds` in the given workspaces, in workspace then name order.
    pub async fn artifacts_in(&self, tenant: Uuid, workspaces: &[Uuid], kinds: &[ArtifactKind]) -> StoreResult<Vec<ArtifactRecord>> {
        let mut out = Vec::new();
        if kinds.is_empty() {
            return Ok(out);
        }
        for chunk in workspaces.chunks(IN_CHUNK) {
            // By the workspaces' index: the `CASE` keeps SQLite off the tenant's (tenant, kind)
            // index, which read every artifact of the tenant for each scan of 100 workspaces.
            let sql = format!(
                "SELECT id, workspace_id, kind, name, description, dataset_id, configured_by, created_at, modified_at FROM artifacts \
                  WHERE (CASE WHEN tenant_id = $1 THEN 1 ELSE 0 END) = 1 AND kind IN ({}) AND workspace_id IN ({}) \
                  ORDER BY workspace_id, name, id",
                kind_list(kinds),
                placeholders(2, chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(tenant.to_string());
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&self.read).await? {
                out.push(artifact_from_row(&row)?);
            }
        }
        Ok(out)
    }

    /// The direct permissions on the artifacts of the given workspaces, with what the directory
    /// says of each principal: the workspaces' ids are bound (a scan's hundred), not their
    /// thousands of artifacts, and every step is an index lookup.
    pub async fn artifact_grants(&self, tenant: Uuid, workspaces: &[Uuid]) -> StoreResult<Vec<ArtifactGrant>> {
        let mut out = Vec::new();
        for chunk in workspaces.chunks(NAME_CHUNK) {
            // Workspaces by their key (the `CASE` keeps SQLite off the tenant's index, which
            // would walk every workspace of the tenant), their artifacts from the covering
            // (workspace, kind, id) index, each artifact's permissions by their key.
            let sql = format!(
                "SELECT p.artifact_id, p.principal_id, p.principal_type, p.access_right, \
                        u.upn, u.mail, u.display_name AS user_name, u.user_type, g.display_name AS group_name, s.display_name AS app_name, s.app_id \
                   FROM workspaces w CROSS JOIN artifacts a CROSS JOIN artifact_permissions p \
                   LEFT JOIN users u ON p.principal_type = 'User' AND u.tenant_id = $1 AND u.id = p.principal_id \
                   LEFT JOIN directory_groups g ON p.principal_type = 'Group' AND g.tenant_id = $1 AND g.id = p.principal_id \
                   LEFT JOIN service_principals s ON p.principal_type = 'App' AND s.tenant_id = $1 AND s.id = p.principal_id \
                  WHERE w.id IN ({}) AND (CASE WHEN w.tenant_id = $1 THEN 1 ELSE 0 END) = 1 AND a.workspace_id = w.id AND p.artifact_id = a.id \
                  ORDER BY p.artifact_id, p.granted_at, p.principal_id",
                placeholders(2, chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(tenant.to_string());
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&self.read).await? {
                out.push(ArtifactGrant {
                    artifact_id: parse_uuid(&row.try_get::<String, _>("artifact_id")?)?,
                    member: grant_member_from_row(&row)?,
                    right: row.try_get("access_right")?,
                });
            }
        }
        Ok(out)
    }

    /// Scans of the tenant that have not succeeded yet at `now`, and when the first of them will.
    pub async fn pending_scans(&self, tenant: Uuid, now: i64) -> StoreResult<(u32, Option<i64>)> {
        let row = sqlx::query("SELECT COUNT(*) AS n, MIN(ready_at) AS first FROM scans WHERE tenant_id = $1 AND ready_at > $2")
            .bind(tenant.to_string())
            .bind(now)
            .fetch_one(&self.read)
            .await?;
        Ok((row.try_get::<i64, _>("n")? as u32, row.try_get("first")?))
    }

    /// Store a scan unless the tenant already has `max_pending` scans not yet succeeded at
    /// `scan.created_at`; the check and the insert hold the tenant row's lock, so concurrent
    /// requests cannot overshoot. Returns whether it was stored. Scans whose results expired
    /// before `expired_before` are deleted on the way.
    pub async fn insert_scan(
        &self,
        tenant: Uuid,
        scan: &ScanRecord,
        requested_by: Uuid,
        request_json: &str,
        max_pending: u32,
        expired_before: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.write.begin().await?;
        sqlx::query("UPDATE tenants SET created_at = created_at WHERE id = $1").bind(tenant.to_string()).execute(&mut *tx).await?;
        let row = sqlx::query("SELECT COUNT(*) AS n FROM scans WHERE tenant_id = $1 AND ready_at > $2")
            .bind(tenant.to_string())
            .bind(scan.created_at)
            .fetch_one(&mut *tx)
            .await?;
        if row.try_get::<i64, _>("n")? >= max_pending as i64 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("DELETE FROM scans WHERE tenant_id = $1 AND ready_at < $2")
            .bind(tenant.to_string())
            .bind(expired_before)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO scans (tenant_id, id, requested_by, created_at, ready_at, request_json, result_json) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(tenant.to_string())
        .bind(scan.id.to_string())
        .bind(requested_by.to_string())
        .bind(scan.created_at)
        .bind(scan.ready_at)
        .bind(request_json)
        .bind(&scan.result_json)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn get_scan(&self, tenant: Uuid, id: Uuid) -> StoreResult<Option<ScanRecord>> {
        let row = sqlx::query("SELECT id, created_at, ready_at, result_json FROM scans WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| {
            Ok(ScanRecord {
                id: parse_uuid(&r.try_get::<String, _>("id")?)?,
                created_at: r.try_get("created_at")?,
                ready_at: r.try_get("ready_at")?,
                result_json: r.try_get("result_json")?,
            })
        })
        .transpose()
    }

    /// Ids of the tenant's workspaces modified after `since` (all of them without it), in id
    /// order; personal workspaces and inactive (deleted) ones left out on request.
    pub async fn modified_workspaces(
        &self,
        tenant: Uuid,
        since: Option<i64>,
        exclude_personal: bool,
        exclude_inactive: bool,
    ) -> StoreResult<Vec<Uuid>> {
        let mut sql = String::from("SELECT w.id FROM workspaces w WHERE w.tenant_id = $1 AND w.modified_at > $2");
        if exclude_personal {
            sql.push_str(" AND w.kind NOT IN ('PersonalGroup', 'Personal')");
        }
        if exclude_inactive {
            sql.push_str(" AND w.state = 'Active'");
        }
        sql.push_str(" ORDER BY w.id");
        let rows = sqlx::query(&sql).bind(tenant.to_string()).bind(since.unwrap_or(i64::MIN)).fetch_all(&self.read).await?;
        rows.iter().map(|r| parse_uuid(&r.try_get::<String, _>("id")?)).collect()
    }
}

/// A member row of `workspace_views`, packed (see `packed`): workspace, principal id and type,
/// role, profile, then what the directory says (upn, mail, user name, user type, group name, app
/// name, app id).
type PackedMember = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn member_from_packed(row: PackedMember) -> StoreResult<crate::domain::Member> {
    let (_, principal_id, principal_type, role, profile, upn, mail, user_name, user_type, group_name, app_name, app_id) = row;
    let kind = parse_enum::<crate::domain::PrincipalKind>(&principal_type)?;
    let display_name = match kind {
        crate::domain::PrincipalKind::User => user_name,
        crate::domain::PrincipalKind::Group => group_name,
        crate::domain::PrincipalKind::App => app_name,
    };
    Ok(crate::domain::Member {
        principal: crate::domain::PrincipalRef { kind, object_id: parse_uuid(&principal_id)? },
        role: parse_enum::<Role>(&role)?,
        profile_id: if profile.is_empty() { None } else { Some(parse_uuid(&profile)?) },
        upn,
        mail,
        display_name,
        user_type: user_type.as_deref().map(parse_enum::<crate::domain::UserType>).transpose()?,
        deleted_at: None,
        app_id: app_id.as_deref().map(parse_uuid).transpose()?,
    })
}

/// A permission holder as a `Member` (see `ArtifactGrant`: its `role` means nothing).
fn grant_member_from_row(row: &AnyRow) -> StoreResult<crate::domain::Member> {
    let kind = parse_enum::<crate::domain::PrincipalKind>(&row.try_get::<String, _>("principal_type")?)?;
    let display_name: Option<String> = match kind {
        crate::domain::PrincipalKind::User => row.try_get("user_name")?,
        crate::domain::PrincipalKind::Group => row.try_get("group_name")?,
        crate::domain::PrincipalKind::App => row.try_get("app_name")?,
    };
    Ok(crate::domain::Member {
        principal: crate::domain::PrincipalRef { kind, object_id: parse_uuid(&row.try_get::<String, _>("principal_id")?)? },
        role: Role::Viewer,
        profile_id: None,
        upn: row.try_get("upn")?,
        mail: row.try_get("mail")?,
        display_name,
        user_type: row.try_get::<Option<String>, _>("user_type")?.as_deref().map(parse_enum::<crate::domain::UserType>).transpose()?,
        deleted_at: None,
        app_id: row.try_get::<Option<String>, _>("app_id")?.as_deref().map(parse_uuid).transpose()?,
    })
}
