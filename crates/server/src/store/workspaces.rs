//! Workspaces and the role assignments in them.

use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};
use uuid::Uuid;

use std::collections::HashMap;
use std::sync::Arc;

use super::access::{effective_role, MEMBERSHIPS_CTE, REACHED_CTE};
use super::activity::{record_activity, ActivityEvent};
use super::generation::{Forget, WriteScope};
use super::{parse_enum, parse_uuid, Backend, Store, StoreError, StoreResult};
use crate::domain::filter::{WorkspaceField, WorkspaceFilter};
use crate::domain::policy::{self, Authority, Change, Effect, Facts, Refusal};
use crate::domain::{Member, PrincipalKind, PrincipalRef, Role, UserType, Workspace};

/// On whose authority a membership change is attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A Fabric administrator calling an `/admin/` endpoint.
    TenantAdmin,
    /// A principal calling a workspace endpoint: its own role in the workspace decides.
    Principal(PrincipalRef),
}

#[derive(Debug, Clone, Copy)]
pub struct MemberChange {
    pub tenant_id: Uuid,
    pub workspace_id: Uuid,
    pub actor: Actor,
    pub target: PrincipalRef,
    pub profile_id: Option<Uuid>,
    pub change: Change,
    pub principal_limit: u32,
    pub now: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("workspace not found")]
    WorkspaceNotFound,
    #[error("refused: {0:?}")]
    Refused(Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ChangeError {
    fn from(e: sqlx::Error) -> Self {
        ChangeError::Store(e.into())
    }
}

/// A workspace's role assignments as one immutable value, shared by concurrent readers.
#[derive(Debug)]
pub struct WorkspaceView {
    pub tenant: Uuid,
    pub members: Vec<Member>,
    /// Direct (profile-less) role of each principal.
    pub roles: HashMap<Uuid, Role>,
    /// A rendering of `members` the API layer may compute once and keep (for example the JSON
    /// body of the unpaged user list); it dies with the view when the workspace changes.
    pub rendered: std::sync::OnceLock<bytes::Bytes>,
    /// The same for the admin rendering (the JSON array of admin `GroupUser`s).
    pub rendered_admin: std::sync::OnceLock<bytes::Bytes>,
}

#[derive(Debug, Clone)]
pub struct Page {
    pub top: Option<u32>,
    pub skip: u32,
}

const WORKSPACE_COLUMNS: &str = "w.id, w.tenant_id, w.name, w.description, w.kind, w.state, w.is_read_only, w.capacity_id";

pub(super) fn workspace_from_row(row: &AnyRow) -> StoreResult<Workspace> {
    Ok(Workspace {
        id: parse_uuid(&row.try_get::<String, _>("id")?)?,
        tenant_id: parse_uuid(&row.try_get::<String, _>("tenant_id")?)?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        kind: row.try_get("kind")?,
        state: row.try_get("state")?,
        is_read_only: row.try_get::<i64, _>("is_read_only")? != 0,
        capacity_id: row.try_get::<Option<String>, _>("capacity_id")?.as_deref().map(parse_uuid).transpose()?,
    })
}

pub(super) fn member_from_row(row: &AnyRow) -> StoreResult<Member> {
    let kind = parse_enum::<PrincipalKind>(&row.try_get::<String, _>("principal_type")?)?;
    let profile: String = row.try_get("profile_id")?;
    let display_name: Option<String> = match kind {
        PrincipalKind::User => row.try_get("user_name")?,
        PrincipalKind::Group => row.try_get("group_name")?,
        PrincipalKind::App => row.try_get("app_name")?,
    };
    Ok(Member {
        principal: PrincipalRef { kind, object_id: parse_uuid(&row.try_get::<String, _>("principal_id")?)? },
        role: parse_enum::<Role>(&row.try_get::<String, _>("role")?)?,
        profile_id: if profile.is_empty() { None } else { Some(parse_uuid(&profile)?) },
        upn: row.try_get("upn")?,
        mail: row.try_get("mail")?,
        display_name,
        user_type: row.try_get::<Option<String>, _>("user_type")?.as_deref().map(parse_enum::<UserType>).transpose()?,
        // Optional: the admin-audit queries share this mapping without the column.
        deleted_at: row.try_get::<Option<i64>, _>("deleted_at").ok().flatten(),
        app_id: row.try_get::<Option<String>, _>("app_id")?.as_deref().map(parse_uuid).transpose()?,
    })
}

/// A workspace's state as the admin sees it: `Orphaned` when it is active and nobody holds its
/// Admin role (no direct Admin, and no owner of a Microsoft 365 group backing it).
pub(super) const STATE_EXPR: &str = "(CASE WHEN w.state = 'Active' \
      AND NOT EXISTS (SELECT 1 FROM workspace_members am WHERE am.workspace_id = w.id AND am.role = 'Admin' AND am.profile_id = '') \
      AND NOT EXISTS (SELECT 1 FROM group_owners ao WHERE ao.tenant_id = w.tenant_id AND ao.group_id = w.backing_group_id) \
      THEN 'Orphaned' ELSE w.state END)";

/// Append the SQL of `filter` to `sql`, pushing its values onto `binds`; the query binds
/// `base` parameters of its own before them.
pub(super) fn filter_sql(filter: &WorkspaceFilter, sql: &mut String, binds: &mut Vec<String>, base: usize) {
    fn column(field: WorkspaceField) -> &'static str {
        match field {
            WorkspaceField::Name => "w.name_lower",
            WorkspaceField::Id | WorkspaceField::WorkspaceId => "w.id",
            WorkspaceField::State => STATE_EXPR,
            WorkspaceField::Type => "w.kind",
        }
    }
    filter_sql_on(filter, column, sql, binds, base)
}

/// `filter_sql` over other columns: `column` names the (lower-case) SQL of each field.
pub(super) fn filter_sql_on(
    filter: &WorkspaceFilter,
    column: fn(WorkspaceField) -> &'static str,
    sql: &mut String,
    binds: &mut Vec<String>,
    base: usize,
) {
    // Names compare case-insensitively (like the service's SQL collation); ids are lowercase.
    fn normalise(field: WorkspaceField, value: &str) -> String {
        match field {
            WorkspaceField::Name | WorkspaceField::Id | WorkspaceField::WorkspaceId => value.to_lowercase(),
            WorkspaceField::State | WorkspaceField::Type => value.to_string(),
        }
    }
    fn escape_like(value: &str) -> String {
        value.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
    }
    let mut param = |sql: &mut String, value: String| {
        binds.push(value);
        sql.push_str(&format!("${}", binds.len() + base));
    };
    match filter {
        WorkspaceFilter::Eq(f, v) | WorkspaceFilter::Ne(f, v) => {
            sql.push_str(column(*f));
            sql.push_str(if matches!(filter, WorkspaceFilter::Eq(..)) { " = " } else { " <> " });
            param(sql, normalise(*f, v));
        }
        WorkspaceFilter::Contains(f, v) | WorkspaceFilter::StartsWith(f, v) | WorkspaceFilter::EndsWith(f, v) => {
            let v = escape_like(&normalise(*f, v));
            let pattern = match filter {
                WorkspaceFilter::Contains(..) => format!("%{v}%"),
                WorkspaceFilter::StartsWith(..) => format!("{v}%"),
                _ => format!("%{v}"),
            };
            sql.push_str(column(*f));
            sql.push_str(" LIKE ");
            param(sql, pattern);
            sql.push_str(" ESCAPE '\\'");
        }
        WorkspaceFilter::And(a, b) | WorkspaceFilter::Or(a, b) => {
            sql.push('(');
            filter_sql_on(a, column, sql, binds, base);
            sql.push_str(if matches!(filter, WorkspaceFilter::And(..)) { " AND " } else { " OR " });
            filter_sql_on(b, column, sql, binds, base);
            sql.push(')');
        }
        WorkspaceFilter::Not(a) => {
            sql.push_str("NOT (");
            filter_sql_on(a, column, sql, binds, base);
            sql.push(')');
        }
        WorkspaceFilter::AnyUser(role) => {
            sql.push_str("EXISTS (SELECT 1 FROM workspace_members um WHERE um.workspace_id = w.id AND um.profile_id = ''");
            if let Some(role) = role {
                // An enum's own spelling, not client text.
                sql.push_str(&format!(" AND um.role = '{}'", role.as_str()));
            }
            sql.push(')');
        }
    }
}

/// Parameters bound before the filter's own in `workspaces_of`.
const BASE_PARAMS: usize = 3;

const MEMBER_SELECT: &str = "SELECT m.principal_id, m.principal_type, m.role, m.profile_id, \
       u.upn, u.mail, u.display_name AS user_name, u.user_type, COALESCE(u.deleted_at, g.deleted_at) AS deleted_at, g.display_name AS group_name, s.display_name AS app_name, s.app_id \
     FROM workspace_members m \
     LEFT JOIN users u ON m.principal_type = 'User' AND u.tenant_id = $2 AND u.id = m.principal_id \
     LEFT JOIN directory_groups g ON m.principal_type = 'Group' AND g.tenant_id = $2 AND g.id = m.principal_id \
     LEFT JOIN service_principals s ON m.principal_type = 'App' AND s.tenant_id = $2 AND s.id = m.principal_id \
     WHERE m.workspace_id = $1 \
     ORDER BY m.added_at, m.principal_id, m.profile_id";

pub async fn insert_workspace<'c, E: Executor<'c, Database = Any>>(e: E, ws: &Workspace, now: i64) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO workspaces (id, tenant_id, name, name_lower, description, kind, state, is_read_only, capacity_id, created_at, modified_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(ws.id.to_string())
    .bind(ws.tenant_id.to_string())
    .bind(&ws.name)
    .bind(ws.name.to_lowercase())
    .bind(&ws.description)
    .bind(&ws.kind)
    .bind(&ws.state)
    .bind(ws.is_read_only as i64)
    .bind(ws.capacity_id.map(|c| c.to_string()))
    .bind(now)
    .execute(e)
    .await?;
    Ok(())
}

const INSERT_MEMBER: &str =
    "INSERT INTO workspace_members (workspace_id, principal_id, profile_id, principal_type, role, added_at) VALUES ($1, $2, $3, $4, $5, $6)";
const SET_ROLE: &str = "UPDATE workspace_members SET role = $4 WHERE workspace_id = $1 AND principal_id = $2 AND profile_id = $3";
const DELETE_MEMBER: &str = "DELETE FROM workspace_members WHERE workspace_id = $1 AND principal_id = $2 AND profile_id = $3";

pub async fn insert_member<'c, E: Executor<'c, Database = Any>>(
    e: E,
    workspace: Uuid,
    principal: PrincipalRef,
    profile: Option<Uuid>,
    role: Role,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(INSERT_MEMBER)
        .bind(workspace.to_string())
        .bind(principal.object_id.to_string())
        .bind(profile.map(|p| p.to_string()).unwrap_or_default())
        .bind(principal.kind.as_str())
        .bind(role.as_str())
        .bind(now)
        .execute(e)
        .await?;
    Ok(())
}

/// Provisioning: a Microsoft 365 group backs the workspace.
pub async fn insert_backing_group<'c, E: Executor<'c, Database = Any>>(e: E, workspace: Uuid, group: Uuid) -> StoreResult<()> {
    sqlx::query("UPDATE workspaces SET backing_group_id = $2 WHERE id = $1")
        .bind(workspace.to_string())
        .bind(group.to_string())
        .execute(e)
        .await?;
    Ok(())
}

impl Store {
    /// An active workspace of the tenant.
    pub async fn get_workspace(&self, tenant: Uuid, id: Uuid) -> StoreResult<Option<Workspace>> {
        let sql = format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces w WHERE w.id = $1 AND w.tenant_id = $2 AND w.state <> 'Deleted'");
        let row = sqlx::query(&sql).bind(id.to_string()).bind(tenant.to_string()).fetch_optional(&self.read).await?;
        row.as_ref().map(workspace_from_row).transpose()
    }

    /// The effective role of `principal` in the workspace (own role, groups, Microsoft 365
    /// backing), if the workspace is active.
    pub async fn role_in_workspace(&self, tenant: Uuid, workspace: Uuid, principal: Uuid) -> StoreResult<Option<Role>> {
        super::access::effective_role(&self.read, tenant, workspace, principal).await
    }

    /// Active workspaces in which `principal` holds a role, filtered and paged, ordered by name.
    pub async fn workspaces_of(
        &self,
        tenant: Uuid,
        principal: Uuid,
        filter: Option<&WorkspaceFilter>,
        page: &Page,
    ) -> StoreResult<Vec<Workspace>> {
        let mut sql = format!(
            "{MEMBERSHIPS_CTE}{REACHED_CTE} SELECT {WORKSPACE_COLUMNS} FROM reached r CROSS JOIN workspaces w \
              WHERE w.id = r.workspace_id AND w.tenant_id = $1 AND $2 = $2 AND w.state <> 'Deleted'"
        );
        let mut binds = Vec::new();
        if let Some(filter) = filter {
            sql.push_str(" AND ");
            filter_sql(filter, &mut sql, &mut binds, BASE_PARAMS);
        }
        sql.push_str(" ORDER BY w.name_lower, w.id");
        push_page(&mut sql, page);
        let mut query = sqlx::query(&sql).bind(tenant.to_string()).bind(String::new()).bind(principal.to_string());
        for b in binds {
            query = query.bind(b);
        }
        query.fetch_all(&self.read).await?.iter().map(workspace_from_row).collect()
    }

    /// An active workspace's role assignments and who holds which role directly, served from
    /// the read cache when it has them (SQLite), else read in one statement.
    pub async fn workspace_view(&self, tenant: Uuid, workspace: Uuid) -> StoreResult<Option<Arc<WorkspaceView>>> {
        if !self.cache.enabled() {
            return self.versioned_view(tenant, workspace).await;
        }
        if let Some(view) = self.cache.get(workspace) {
            return Ok((view.tenant == tenant).then_some(view));
        }
        let generation = self.cache.generation();
        let Some(ws) = self.get_workspace(tenant, workspace).await? else { return Ok(None) };
        let members = self.members(tenant, workspace).await?;
        let view = Arc::new(WorkspaceView::new(ws.tenant_id, members));
        self.cache.put(workspace, view.clone(), generation);
        Ok(Some(view))
    }

    /// `workspace_view` where other processes write too (PostgreSQL): the workspace's `version`
    /// and the tenant's directory generation first, in one primary-key read, then the members
    /// only when no view was kept at exactly those versions. Exact across instances: every role
    /// change moves the version under the workspace's lock, every directory or bulk write the
    /// directory generation (`store::generation`).
    async fn versioned_view(&self, tenant: Uuid, workspace: Uuid) -> StoreResult<Option<Arc<WorkspaceView>>> {
        let row = sqlx::query(
            "SELECT w.version AS version, COALESCE(g.directory_generation, 0) AS directory \
               FROM workspaces w LEFT JOIN tenant_generations g ON g.tenant_id = w.tenant_id \
              WHERE w.id = $1 AND w.tenant_id = $2 AND w.state <> 'Deleted'",
        )
        .bind(workspace.to_string())
        .bind(tenant.to_string())
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let versions: (i64, i64) = (row.try_get("version")?, row.try_get("directory")?);
        if let Some(view) = self.cache.get_versioned(workspace, versions) {
            return Ok(Some(view));
        }
        let view = Arc::new(WorkspaceView::new(tenant, self.members(tenant, workspace).await?));
        self.cache.put_versioned(workspace, versions, view.clone());
        Ok(Some(view))
    }

    /// Every role assignment of a workspace, oldest first, joined with the directory.
    pub async fn members(&self, tenant: Uuid, workspace: Uuid) -> StoreResult<Vec<Member>> {
        let rows = sqlx::query(MEMBER_SELECT).bind(workspace.to_string()).bind(tenant.to_string()).fetch_all(&self.read).await?;
        rows.iter().map(member_from_row).collect()
    }

    /// Create a workspace with `creator` as its Admin, atomically, with its activity event. A
    /// duplicate active name is a unique violation (see `StoreError::is_unique_violation`).
    pub async fn create_workspace(
        &self,
        ws: &Workspace,
        creator: PrincipalRef,
        now: i64,
        event: Option<&ActivityEvent>,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx(ws.tenant_id, WriteScope::Workspaces, Forget::Nothing).await?;
        insert_workspace(&mut *tx, ws, now).await?;
        insert_member(&mut *tx, ws.id, creator, None, Role::Admin, now).await?;
        if let Some(event) = event {
            record_activity(&mut *tx, ws.tenant_id, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Mark a workspace deleted, if `actor` may: a workspace Admin, or a tenant admin. `audit`
    /// gets the workspace's name and returns the activity event to record with the change.
    pub async fn delete_workspace(
        &self,
        tenant: Uuid,
        workspace: Uuid,
        actor: Actor,
        now: i64,
        audit: impl FnOnce(&str) -> Option<ActivityEvent>,
    ) -> Result<(), ChangeError> {
        let mut tx = self.write_tx(tenant, WriteScope::Workspaces, Forget::Workspace(workspace)).await?;
        let name = lock_workspace(&mut tx, tenant, workspace, now).await?;
        if let Actor::Principal(p) = actor {
            match effective_role(&mut *tx, tenant, workspace, p.object_id).await? {
                Some(Role::Admin) => {}
                None => return Err(ChangeError::WorkspaceNotFound),
                Some(role) => {
                    return Err(ChangeError::Refused(Refusal::NotAuthorized {
                        role,
                        reason: "only a workspace Admin can delete the workspace",
                    }))
                }
            }
        }
        sqlx::query("UPDATE workspaces SET state = 'Deleted', modified_at = $2 WHERE id = $1")
            .bind(workspace.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if let Some(event) = audit(&name) {
            record_activity(&mut *tx, tenant, &event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Rename a workspace, if `actor` may: a workspace Admin, or a tenant admin. A name another
    /// active workspace has is a unique violation (`ChangeError::Store`, see
    /// `StoreError::is_unique_violation`). `audit` gets the new name.
    pub async fn update_workspace(
        &self,
        tenant: Uuid,
        workspace: Uuid,
        actor: Actor,
        name: &str,
        now: i64,
        audit: impl FnOnce(&str) -> Option<ActivityEvent>,
    ) -> Result<(), ChangeError> {
        let mut tx = self.write_tx(tenant, WriteScope::Workspaces, Forget::Workspace(workspace)).await?;
        lock_workspace(&mut tx, tenant, workspace, now).await?;
        if let Actor::Principal(p) = actor {
            match effective_role(&mut *tx, tenant, workspace, p.object_id).await? {
                Some(Role::Admin) => {}
                None => return Err(ChangeError::WorkspaceNotFound),
                Some(role) => {
                    return Err(ChangeError::Refused(Refusal::NotAuthorized {
                        role,
                        reason: "only a workspace Admin can update the workspace",
                    }))
                }
            }
        }
        sqlx::query("UPDATE workspaces SET name = $2, name_lower = $3, modified_at = $4 WHERE id = $1")
            .bind(workspace.to_string())
            .bind(name)
            .bind(name.to_lowercase())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if let Some(event) = audit(name) {
            record_activity(&mut *tx, tenant, &event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Apply one membership change under the workspace lock, after `policy::decide` allows it.
    /// `audit` gets the workspace's name and the effect, and returns the activity event to record
    /// in the same transaction (none when nothing changed); it may be called again if the change
    /// is retried in another batch.
    ///
    /// SQLite runs the change in the caller's task (its one writer connection queues writers
    /// anyway). PostgreSQL queues it on the workspace's group commit (`store::batch`): changes
    /// queued while a batch commits go in the next one, one transaction and one WAL flush for all.
    /// Either way the answer comes after the commit, from [`Store::apply_member_changes`].
    pub async fn change_member(
        &self,
        req: &MemberChange,
        audit: impl Fn(&str, Effect) -> Option<ActivityEvent> + Send + Sync + 'static,
    ) -> Result<Effect, ChangeError> {
        let pending = PendingChange { req: *req, audit: Arc::new(audit), request: crate::cancel::current() };
        match self.backend {
            Backend::Sqlite => match self.apply_member_changes(std::slice::from_ref(&pending)).await {
                Ok(mut outcomes) => outcomes.pop().unwrap_or(Err(ChangeError::WorkspaceNotFound)),
                Err(BatchError::At(_, e) | BatchError::Whole(e)) => Err(e),
            },
            Backend::Postgres => self.batched_change(pending).await,
        }
    }

    /// The one write path of role changes: apply `changes` (all to one workspace of one tenant)
    /// in one transaction under the workspace's lock, each decided by `policy::decide` against
    /// the facts as the earlier changes of the batch left them, each with its activity event, then
    /// commit once. Returns each change's outcome (a refusal touches nothing), or which change's
    /// statements failed (the transaction is then rolled back whole).
    pub(super) async fn apply_member_changes(&self, changes: &[PendingChange]) -> Result<Vec<Result<Effect, ChangeError>>, BatchError> {
        let Some(first) = changes.first() else { return Ok(Vec::new()) };
        let (tenant, workspace) = (first.req.tenant_id, first.req.workspace_id);
        let mut tx =
            self.write_tx(tenant, WriteScope::Workspaces, Forget::Workspace(workspace)).await.map_err(|e| BatchError::Whole(e.into()))?;
        let mut outcomes = Vec::with_capacity(changes.len());
        // The workspace's name once locked, and (PostgreSQL) the backend serving the batch.
        let mut locked: Option<(String, Option<i32>)> = None;
        let mut changed = false;
        for (i, change) in changes.iter().enumerate() {
            if change.request.as_ref().is_some_and(|ctl| ctl.is_cancelled()) {
                outcomes.push(Err(ChangeError::Store(StoreError::Unfinished("the request was cancelled before its change ran".into()))));
                continue;
            }
            let outcome = self.apply_one(&mut tx, change, &mut locked).await;
            match outcome {
                Ok(effect) => {
                    changed |= effect != Effect::Nothing;
                    outcomes.push(Ok(effect));
                }
                // The lock found no active workspace: no change of the batch can apply.
                Err(ChangeError::WorkspaceNotFound) if locked.is_none() => return Err(BatchError::Whole(ChangeError::WorkspaceNotFound)),
                Err(refused @ (ChangeError::WorkspaceNotFound | ChangeError::Refused(_))) => outcomes.push(Err(refused)),
                Err(failed) => return Err(BatchError::At(i, failed)),
            }
        }
        let Some((_, pid)) = locked else { return Ok(outcomes) };
        if let Some(pid) = pid {
            // The commit serves every change of the batch: no one request's cancel may stop it.
            self.bind_backend(pid, None).await;
        }
        if changed {
            if self.backend == Backend::Postgres {
                // The lock statement queued the workspace's notification.
                tx.notified();
            }
        } else {
            // Only the workspace's version moved (`lock_workspace`): nothing a reader shows.
            tx.local_only();
        }
        tx.commit().await.map_err(|e| BatchError::Whole(e.into()))?;
        Ok(outcomes)
    }

    /// One change of a batch: lock the workspace if the batch has not yet, read the facts, decide,
    /// and write the effect with its event.
    async fn apply_one(
        &self,
        tx: &mut super::WriteTx<'_>,
        change: &PendingChange,
        locked: &mut Option<(String, Option<i32>)>,
    ) -> Result<Effect, ChangeError> {
        let req = &change.req;
        // Service-principal profiles share their principal's place: count principals once, and
        // only direct (profile-less) Admins keep a workspace administered.
        let actor_id = match req.actor {
            Actor::TenantAdmin => String::new(),
            Actor::Principal(p) => p.object_id.to_string(),
        };
        let target_id = req.target.object_id.to_string();
        let target_profile = req.profile_id.map(|p| p.to_string()).unwrap_or_default();
        let facts_sql = format!("SELECT {}", fact_columns("$1", "$2", "$3", "$4"));
        let facts_query = || {
            sqlx::query(&facts_sql)
                .bind(req.workspace_id.to_string())
                .bind(actor_id.clone())
                .bind(target_id.clone())
                .bind(target_profile.clone())
        };
        let row = match (self.backend, locked.as_ref()) {
            // Later changes of a batch: the lock is held, read the facts as the batch left them.
            (_, Some((_, pid))) => {
                if let Some(pid) = *pid {
                    self.bind_backend(pid, change.request.as_ref()).await;
                }
                facts_query().fetch_one(&mut **tx).await?
            }
            // The lock and every fact in one statement: one round trip fewer while the one
            // writer is held. SQLite's write lock is taken before the statement reads anything,
            // so its subqueries see every earlier commit.
            (Backend::Sqlite, None) => {
                let row = sqlx::query(&format!("{LOCK_WORKSPACE} RETURNING name, {}", fact_columns("$1", "$4", "$5", "$6")))
                    .bind(req.workspace_id.to_string())
                    .bind(req.tenant_id.to_string())
                    .bind(req.now)
                    .bind(actor_id.clone())
                    .bind(target_id.clone())
                    .bind(target_profile.clone())
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or(ChangeError::WorkspaceNotFound)?;
                *locked = Some((row.try_get::<String, _>("name")?, None));
                row
            }
            // PostgreSQL evaluates a `RETURNING` subquery in the snapshot taken before the
            // statement waited for the row lock, so the facts must come after it, in a statement
            // of their own (a new snapshot under READ COMMITTED). The lock statement queues the
            // write's notification (`store::sync`; sent only if the transaction commits) and
            // names the backend, so that this change's request can stop the statements run for it.
            (Backend::Postgres, None) => {
                let (name, pid) = lock_workspace_notifying(tx, req.tenant_id, req.workspace_id, req.now).await?;
                *locked = Some((name, Some(pid)));
                self.bind_backend(pid, change.request.as_ref()).await;
                facts_query().fetch_one(&mut **tx).await?
            }
        };
        let name = locked.as_ref().map(|(name, _)| name.as_str()).unwrap_or_default();
        let role = |column: &str| -> StoreResult<Option<Role>> {
            row.try_get::<Option<String>, _>(column)?.as_deref().map(parse_enum::<Role>).transpose()
        };
        let facts = Facts {
            authority: match req.actor {
                Actor::TenantAdmin => Authority::TenantAdmin,
                // A direct Admin needs no more reading; anyone else may reach further through groups.
                Actor::Principal(p) => match role("actor_role")? {
                    Some(Role::Admin) => Authority::Workspace(Some(Role::Admin)),
                    _ => Authority::Workspace(effective_role(&mut **tx, req.tenant_id, req.workspace_id, p.object_id).await?),
                },
            },
            target_role: role("target_role")?,
            admins: row.try_get::<i64, _>("admins")? as u32,
            principals: row.try_get::<i64, _>("principals")? as u32,
            principal_limit: req.principal_limit,
        };
        let effect = policy::decide(&facts, req.change).map_err(|refusal| match refusal {
            Refusal::WorkspaceNotVisible => ChangeError::WorkspaceNotFound,
            other => ChangeError::Refused(other),
        })?;
        let event = if effect != Effect::Nothing { (change.audit)(name, effect) } else { None };
        let (statement, params) = match effect {
            Effect::Insert(_) => (INSERT_MEMBER, 6),
            Effect::SetRole(_) => (SET_ROLE, 4),
            Effect::Delete => (DELETE_MEMBER, 3),
            Effect::Nothing => return Ok(effect),
        };
        // PostgreSQL: the change and its event in one statement (the event's insert after a
        // data-modifying CTE), one round trip fewer while the workspace is locked. SQLite has no
        // round trips to save and no data-modifying CTEs.
        let combined = match (&event, self.backend) {
            (Some(_), Backend::Postgres) => Some(format!("WITH change AS ({statement}) {}", super::activity::insert_activity_sql(params))),
            _ => None,
        };
        let sql = combined.as_deref().unwrap_or(statement);
        let mut query = sqlx::query(sql).bind(req.workspace_id.to_string()).bind(target_id).bind(target_profile);
        match effect {
            Effect::Insert(role) => query = query.bind(req.target.kind.as_str()).bind(role.as_str()).bind(req.now),
            Effect::SetRole(role) => query = query.bind(role.as_str()),
            Effect::Delete | Effect::Nothing => {}
        }
        if let (Some(event), true) = (&event, combined.is_some()) {
            query = super::activity::bind_activity(query, req.tenant_id, event);
        }
        query.execute(&mut **tx).await?;
        if let (Some(event), None) = (&event, &combined) {
            record_activity(&mut **tx, req.tenant_id, event).await?;
        }
        Ok(effect)
    }
}

/// Builds a role change's activity event from the workspace's name and the effect.
pub type Audit = Arc<dyn Fn(&str, Effect) -> Option<ActivityEvent> + Send + Sync>;

/// A role change on its way through [`Store::apply_member_changes`].
pub(super) struct PendingChange {
    pub req: MemberChange,
    pub audit: Audit,
    /// The request that asks, so that its client going away stops the statements run for it.
    pub request: Option<Arc<crate::cancel::RequestCtl>>,
}

/// Why a batch of role changes did not commit (it rolled back whole).
#[derive(Debug)]
pub(super) enum BatchError {
    /// The statements of the change at this index failed.
    At(usize, ChangeError),
    /// The batch failed as a whole (its transaction, lock or commit).
    Whole(ChangeError),
}

/// The workspace's write lock (see the module invariant): `$1` workspace, `$2` tenant, `$3` now.
const LOCK_WORKSPACE: &str =
    "UPDATE workspaces SET version = version + 1, modified_at = $3 WHERE id = $1 AND tenant_id = $2 AND state <> 'Deleted'";

/// `lock_workspace` on PostgreSQL, queueing the workspace's notification in the same statement;
/// returns the name and the backend's process id.
async fn lock_workspace_notifying(
    tx: &mut sqlx::AnyConnection,
    tenant: Uuid,
    workspace: Uuid,
    now: i64,
) -> Result<(String, i32), ChangeError> {
    let updated = sqlx::query(&format!(
        "{LOCK_WORKSPACE} RETURNING name, pg_backend_pid() AS pid, (SELECT 1 FROM (SELECT pg_notify($4, $5)) n) AS notified"
    ))
    .bind(workspace.to_string())
    .bind(tenant.to_string())
    .bind(now)
    .bind(super::sync::CHANNEL)
    .bind(super::sync::payload(tenant, Forget::Workspace(workspace)))
    .fetch_optional(&mut *tx)
    .await?;
    match updated {
        Some(row) => Ok((row.try_get("name")?, row.try_get("pid")?)),
        None => Err(ChangeError::WorkspaceNotFound),
    }
}

/// The facts of a role change, as columns, given the placeholders of the workspace, the actor
/// ('' for a tenant admin), the target and the target's profile ('' for none).
fn fact_columns(ws: &str, actor: &str, target: &str, profile: &str) -> String {
    format!(
        "(SELECT COUNT(DISTINCT principal_id) FROM workspace_members WHERE workspace_id = {ws}) AS principals, \
         (SELECT COUNT(*) FROM workspace_members WHERE workspace_id = {ws} AND role = 'Admin' AND profile_id = '') AS admins, \
         (SELECT role FROM workspace_members WHERE workspace_id = {ws} AND principal_id = {actor} AND profile_id = '') AS actor_role, \
         (SELECT role FROM workspace_members WHERE workspace_id = {ws} AND principal_id = {target} AND profile_id = {profile}) AS target_role"
    )
}

/// Take the workspace's write lock (see the module invariant), check it is active, and return
/// its name.
async fn lock_workspace(tx: &mut sqlx::AnyConnection, tenant: Uuid, workspace: Uuid, now: i64) -> Result<String, ChangeError> {
    let updated = sqlx::query(&format!("{LOCK_WORKSPACE} RETURNING name"))
        .bind(workspace.to_string())
        .bind(tenant.to_string())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
    match updated {
        Some(row) => Ok(row.try_get("name")?),
        None => Err(ChangeError::WorkspaceNotFound),
    }
}

impl WorkspaceView {
    pub(super) fn new(tenant: Uuid, members: Vec<Member>) -> WorkspaceView {
        let roles = members.iter().filter(|m| m.profile_id.is_none()).map(|m| (m.principal.object_id, m.role)).collect();
        WorkspaceView { tenant, members, roles, rendered: std::sync::OnceLock::new(), rendered_admin: std::sync::OnceLock::new() }
    }
}

fn push_page(sql: &mut String, page: &Page) {
    // Both values are integers we produced, not client text.
    match page.top {
        Some(top) => sql.push_str(&format!(" LIMIT {top} OFFSET {}", page.skip)),
        None if page.skip > 0 => sql.push_str(&format!(" LIMIT 1000000000 OFFSET {}", page.skip)),
        None => {}
    }
}
