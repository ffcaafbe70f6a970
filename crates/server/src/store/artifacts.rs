//! Artifacts in workspaces, their direct permissions, capacities and subscriptions.
//!
//! Invariant (serialised permission writes): a dataset-permission change first takes the
//! dataset's row lock (`UPDATE artifacts SET modified_at = …`), like membership changes take the
//! workspace's, then reads every fact the rules need and applies the decision in the same
//! transaction, with its activity event. Concurrent grants to one dataset therefore add up
//! instead of overwriting each other.

use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Executor, Row};
use uuid::Uuid;

use super::access::{effective_role, MEMBERSHIPS_CTE, REACHED_CTE};
use super::activity::{record_activity, ActivityEvent};
use super::generation::{Forget, WriteScope};
use super::workspaces::filter_sql_on;
use super::{parse_enum, parse_uuid, Store, StoreError, StoreResult};
use crate::domain::dataset_policy::{self, Effect, Facts, Refusal};
use crate::domain::filter::{WorkspaceField, WorkspaceFilter};
use crate::domain::rights::{self, Rights};
use crate::domain::{
    Artifact, ArtifactKind, ArtifactUser, Capacity, CapacityRight, CapacityUser, PrincipalKind, PrincipalRef, Role, Subscription, UserType,
};

const ARTIFACT_COLUMNS: &str =
    "a.id, a.tenant_id, a.workspace_id, a.kind, a.name, a.description, a.dataset_id, a.configured_by, a.created_at";

/// Joins a principal column `p.principal_id`/`p.principal_type` with the directory of tenant `$2`.
pub(super) const DIRECTORY_JOIN: &str = "LEFT JOIN users u ON p.principal_type = 'User' AND u.tenant_id = $2 AND u.id = p.principal_id \
     LEFT JOIN directory_groups g ON p.principal_type = 'Group' AND g.tenant_id = $2 AND g.id = p.principal_id \
     LEFT JOIN service_principals s ON p.principal_type = 'App' AND s.tenant_id = $2 AND s.id = p.principal_id";
pub(super) const DIRECTORY_COLUMNS: &str = "p.principal_id, p.principal_type, u.upn, u.mail, u.user_type, \
     u.display_name AS user_name, g.display_name AS group_name, s.display_name AS app_name";

fn artifact_from_row(row: &AnyRow) -> StoreResult<Artifact> {
    Ok(Artifact {
        id: parse_uuid(&row.try_get::<String, _>("id")?)?,
        tenant_id: parse_uuid(&row.try_get::<String, _>("tenant_id")?)?,
        workspace_id: parse_uuid(&row.try_get::<String, _>("workspace_id")?)?,
        kind: parse_enum::<ArtifactKind>(&row.try_get::<String, _>("kind")?)?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        dataset_id: row.try_get::<Option<String>, _>("dataset_id")?.as_deref().map(parse_uuid).transpose()?,
        configured_by: row.try_get("configured_by")?,
        created_at: row.try_get("created_at")?,
    })
}

fn capacity_from_row(row: &AnyRow) -> StoreResult<Capacity> {
    Ok(Capacity {
        id: parse_uuid(&row.try_get::<String, _>("id")?)?,
        tenant_id: parse_uuid(&row.try_get::<String, _>("tenant_id")?)?,
        display_name: row.try_get("display_name")?,
        sku: row.try_get("sku")?,
        region: row.try_get("region")?,
        state: row.try_get("state")?,
    })
}

/// The principal and directory columns of `DIRECTORY_COLUMNS`.
pub(super) struct DirectoryEntry {
    pub principal: PrincipalRef,
    pub upn: Option<String>,
    pub mail: Option<String>,
    pub display_name: Option<String>,
    pub user_type: Option<UserType>,
}

/// The principal of a row's `principal_type` and `principal_id` columns.
fn principal_from_row(row: &AnyRow) -> StoreResult<PrincipalRef> {
    let kind = parse_enum::<PrincipalKind>(&row.try_get::<String, _>("principal_type")?)?;
    Ok(PrincipalRef { kind, object_id: parse_uuid(&row.try_get::<String, _>("principal_id")?)? })
}

pub(super) fn directory_from_row(row: &AnyRow) -> StoreResult<DirectoryEntry> {
    let principal = principal_from_row(row)?;
    let kind = principal.kind;
    Ok(DirectoryEntry {
        principal,
        upn: row.try_get("upn")?,
        mail: row.try_get("mail")?,
        display_name: match kind {
            PrincipalKind::User => row.try_get("user_name")?,
            PrincipalKind::Group => row.try_get("group_name")?,
            PrincipalKind::App => row.try_get("app_name")?,
        },
        user_type: row.try_get::<Option<String>, _>("user_type")?.as_deref().map(parse_enum::<UserType>).transpose()?,
    })
}

fn parse_rights(kind: ArtifactKind, name: &str) -> StoreResult<Rights> {
    rights::parse(kind, name).ok_or_else(|| StoreError::Corrupt(format!("'{name}' is not a {kind} access right")))
}

/// A principal's right on an item, in the shape every per-item user table shares
/// (`capacity_users`, `artifact_permissions`, `pipeline_users`, `gateway_users`,
/// `datasource_users`): the item, `principal_id`, `principal_type`, `access_right`, and the
/// columns only some tables keep. One insert serves them all.
pub(super) struct GrantRow<'a> {
    pub table: &'static str,
    pub item_column: &'static str,
    pub item: Uuid,
    pub principal: PrincipalRef,
    pub right: &'a str,
    /// `profile_id` for tables keyed by service-principal profile too (`None`: no such column;
    /// `Some(None)`: no profile, stored as '').
    pub profile: Option<Option<Uuid>>,
    /// The time column and when the right was given, for tables that keep it.
    pub given: Option<(&'static str, i64)>,
}

impl GrantRow<'_> {
    pub(super) async fn insert<'c, E: Executor<'c, Database = Any>>(self, e: E) -> StoreResult<()> {
        let mut columns = vec![self.item_column, "principal_id", "principal_type", "access_right"];
        columns.extend(self.profile.map(|_| "profile_id"));
        columns.extend(self.given.map(|(column, _)| column));
        let values: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
        let sql = format!("INSERT INTO {} ({}) VALUES ({})", self.table, columns.join(", "), values.join(", "));
        let mut query = sqlx::query(&sql)
            .bind(self.item.to_string())
            .bind(self.principal.object_id.to_string())
            .bind(self.principal.kind.as_str())
            .bind(self.right);
        if let Some(profile) = self.profile {
            query = query.bind(profile.map(|p| p.to_string()).unwrap_or_default());
        }
        if let Some((_, at)) = self.given {
            query = query.bind(at);
        }
        query.execute(e).await?;
        Ok(())
    }
}

pub async fn insert_capacity<'c, E: Executor<'c, Database = Any>>(e: E, capacity: &Capacity, now: i64) -> StoreResult<()> {
    sqlx::query("INSERT INTO capacities (id, tenant_id, display_name, sku, region, state, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(capacity.id.to_string())
        .bind(capacity.tenant_id.to_string())
        .bind(&capacity.display_name)
        .bind(&capacity.sku)
        .bind(&capacity.region)
        .bind(&capacity.state)
        .bind(now)
        .execute(e)
        .await?;
    Ok(())
}

pub async fn insert_capacity_user<'c, E: Executor<'c, Database = Any>>(
    e: E,
    capacity: Uuid,
    principal: PrincipalRef,
    right: CapacityRight,
) -> StoreResult<()> {
    GrantRow {
        table: "capacity_users",
        item_column: "capacity_id",
        item: capacity,
        principal,
        right: right.as_str(),
        profile: None,
        given: None,
    }
    .insert(e)
    .await
}

pub async fn insert_artifact<'c, E: Executor<'c, Database = Any>>(e: E, artifact: &Artifact) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO artifacts (id, tenant_id, workspace_id, kind, name, description, dataset_id, configured_by, created_at, modified_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
    )
    .bind(artifact.id.to_string())
    .bind(artifact.tenant_id.to_string())
    .bind(artifact.workspace_id.to_string())
    .bind(artifact.kind.as_str())
    .bind(&artifact.name)
    .bind(&artifact.description)
    .bind(artifact.dataset_id.map(|d| d.to_string()))
    .bind(&artifact.configured_by)
    .bind(artifact.created_at)
    .execute(e)
    .await?;
    Ok(())
}

/// A direct permission; `right` is a value of the artifact kind's enum (not `None`).
pub async fn insert_artifact_permission<'c, E: Executor<'c, Database = Any>>(
    e: E,
    artifact: Uuid,
    principal: PrincipalRef,
    right: &str,
    now: i64,
) -> StoreResult<()> {
    let given = Some(("granted_at", now));
    GrantRow { table: "artifact_permissions", item_column: "artifact_id", item: artifact, principal, right, profile: None, given }
        .insert(e)
        .await
}

pub async fn insert_subscription<'c, E: Executor<'c, Database = Any>>(e: E, tenant: Uuid, sub: &Subscription, now: i64) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO subscriptions (id, tenant_id, artifact_id, owner_id, title, frequency, is_enabled, start_date, end_date, attachment_format, sub_artifact_name, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(sub.id.to_string())
    .bind(tenant.to_string())
    .bind(sub.artifact_id.to_string())
    .bind(sub.owner_id.to_string())
    .bind(&sub.title)
    .bind(&sub.frequency)
    .bind(sub.is_enabled as i64)
    .bind(sub.start_date)
    .bind(sub.end_date)
    .bind(&sub.attachment_format)
    .bind(&sub.sub_artifact_name)
    .bind(now)
    .execute(e)
    .await?;
    Ok(())
}

/// What `principal` holds on an artifact: its workspace role (through groups too), the direct
/// permissions it and its groups hold, and everything when `upn` owns the artifact. Empty when
/// the artifact is invisible to it.
async fn rights_of(conn: &mut AnyConnection, artifact: &Artifact, principal: Uuid, upn: Option<&str>) -> StoreResult<Rights> {
    let role = effective_role(&mut *conn, artifact.tenant_id, artifact.workspace_id, principal).await?;
    let mut held = role.map(|r| rights::inherited(artifact.kind, r)).unwrap_or_default();
    let sql = format!(
        "{MEMBERSHIPS_CTE} SELECT access_right FROM artifact_permissions \
         WHERE artifact_id = $2 AND (principal_id = $3 OR principal_id IN (SELECT group_id FROM memberships))"
    );
    let rows = sqlx::query(&sql)
        .bind(artifact.tenant_id.to_string())
        .bind(artifact.id.to_string())
        .bind(principal.to_string())
        .fetch_all(&mut *conn)
        .await?;
    for row in rows {
        held = rights::combine(artifact.kind, held, parse_rights(artifact.kind, &row.try_get::<String, _>("access_right")?)?);
    }
    if upn.is_some_and(|u| artifact.is_owned_by(u)) {
        // The owner (`configuredBy`) holds every right of the kind's vocabulary.
        held = rights::combine(artifact.kind, held, rights::inherited(artifact.kind, Role::Admin));
    }
    Ok(held)
}

/// A dataset-permission change, decided by `dataset_policy::decide` under the dataset's lock.
#[derive(Debug, Clone)]
pub struct DatasetPermissionChange {
    pub tenant_id: Uuid,
    pub dataset_id: Uuid,
    /// The workspace named in the path (the `…InGroup` operations): the dataset must be in it.
    pub workspace_id: Option<Uuid>,
    pub caller: Uuid,
    /// The caller's UPN (users), to recognise the dataset's owner.
    pub caller_upn: Option<String>,
    pub target: PrincipalRef,
    pub change: dataset_policy::Change,
    pub now: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ArtifactChangeError {
    #[error("artifact not found")]
    NotFound,
    #[error("refused: {0:?}")]
    Refused(Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ArtifactChangeError {
    fn from(e: sqlx::Error) -> Self {
        ArtifactChangeError::Store(e.into())
    }
}

/// Which items `Store::list_artifacts_reached` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemReach {
    /// Those of the principal's "My workspace" (a `PersonalGroup` workspace it is Admin of).
    MyWorkspace,
    /// Those, and the items shared with it or one of its groups, or that it owns (`configuredBy`).
    MyWorkspaceAndShared,
    /// Those shared or owned, and every item of a workspace it holds a role in (any path).
    Everything,
}

/// Everything a tenant holds beyond its directory and workspaces, for a snapshot.
#[derive(Debug, Clone, Default)]
pub struct ArtifactRows {
    pub capacities: Vec<Capacity>,
    /// (capacity, principal, right)
    pub capacity_users: Vec<(Uuid, PrincipalRef, CapacityRight)>,
    /// Artifacts of active workspaces, oldest first.
    pub artifacts: Vec<Artifact>,
    /// (artifact, principal, access right as the kind's enum names it)
    pub permissions: Vec<(Uuid, PrincipalRef, String)>,
    pub subscriptions: Vec<Subscription>,
}

impl Store {
    /// An artifact of an active workspace of the tenant.
    pub async fn artifact(&self, tenant: Uuid, id: Uuid) -> StoreResult<Option<Artifact>> {
        let sql = format!(
            "SELECT {ARTIFACT_COLUMNS} FROM artifacts a JOIN workspaces w ON w.id = a.workspace_id \
             WHERE a.id = $1 AND a.tenant_id = $2 AND w.state <> 'Deleted'"
        );
        let row = sqlx::query(&sql).bind(id.to_string()).bind(tenant.to_string()).fetch_optional(&self.read).await?;
        row.as_ref().map(artifact_from_row).transpose()
    }

    /// The artifacts of the given kinds in an active workspace, oldest first.
    pub async fn artifacts_in_workspace(&self, tenant: Uuid, workspace: Uuid, kinds: &[ArtifactKind]) -> StoreResult<Vec<Artifact>> {
        let sql = format!(
            "SELECT {ARTIFACT_COLUMNS} FROM artifacts a JOIN workspaces w ON w.id = a.workspace_id \
             WHERE a.workspace_id = $1 AND a.tenant_id = $2 AND w.state <> 'Deleted' ORDER BY a.created_at, a.name, a.id"
        );
        let rows = sqlx::query(&sql).bind(workspace.to_string()).bind(tenant.to_string()).fetch_all(&self.read).await?;
        let all = rows.iter().map(artifact_from_row).collect::<StoreResult<Vec<_>>>()?;
        Ok(all.into_iter().filter(|a| kinds.contains(&a.kind)).collect())
    }

    /// A page of the tenant's items of `kinds` in active workspaces, for the admin item lists:
    /// filtered (`name`, `id`, `workspaceId`), in (kind, id) order, `top` from `skip`. Read along
    /// the `artifacts_tenant` index, so a page costs its own rows (and the skipped index
    /// entries), not the tenant's items.
    pub async fn list_artifacts_as_admin(
        &self,
        tenant: Uuid,
        kinds: &[ArtifactKind],
        filter: Option<&WorkspaceFilter>,
        top: u32,
        skip: u32,
    ) -> StoreResult<Vec<Artifact>> {
        fn column(field: WorkspaceField) -> &'static str {
            match field {
                WorkspaceField::Name => "LOWER(a.name)",
                WorkspaceField::Id => "a.id",
                WorkspaceField::WorkspaceId => "a.workspace_id",
                // Not among the item lists' fields; never parsed for them.
                WorkspaceField::State | WorkspaceField::Type => "a.kind",
            }
        }
        let kinds = kinds.iter().map(|k| format!("'{}'", k.as_str())).collect::<Vec<_>>().join(", ");
        let mut sql = format!(
            "SELECT {ARTIFACT_COLUMNS} FROM artifacts a CROSS JOIN workspaces w \
             WHERE a.tenant_id = $1 AND a.kind IN ({kinds}) AND w.id = a.workspace_id AND w.state <> 'Deleted'"
        );
        let mut binds = Vec::new();
        if let Some(filter) = filter {
            sql.push_str(" AND ");
            filter_sql_on(filter, column, &mut sql, &mut binds, 1);
        }
        // Both integers are ours, not client text.
        sql.push_str(&format!(" ORDER BY a.kind, a.id LIMIT {top} OFFSET {skip}"));
        let mut query = sqlx::query(&sql).bind(tenant.to_string());
        for b in binds {
            query = query.bind(b);
        }
        let rows = query.fetch_all(&self.read).await?;
        rows.iter().map(artifact_from_row).collect()
    }

    /// The items of `kinds` in active workspaces that `principal` reaches as `reach` says,
    /// oldest first.
    pub async fn list_artifacts_reached(
        &self,
        tenant: Uuid,
        principal: Uuid,
        upn: Option<&str>,
        kinds: &[ArtifactKind],
        reach: ItemReach,
    ) -> StoreResult<Vec<Artifact>> {
        let kinds = kinds.iter().map(|k| format!("'{}'", k.as_str())).collect::<Vec<_>>().join(", ");
        let personal = "a.workspace_id IN (SELECT m.workspace_id FROM workspace_members m CROSS JOIN workspaces pw \
                WHERE m.principal_id = $3 AND m.profile_id = '' AND m.role = 'Admin' AND pw.id = m.workspace_id AND pw.kind = 'PersonalGroup')";
        let shared = "a.id IN (SELECT p.artifact_id FROM artifact_permissions p \
                              WHERE p.principal_id = $3 OR p.principal_id IN (SELECT group_id FROM memberships)) \
                      OR ($2 <> '' AND LOWER(a.configured_by) = $2)";
        let reached = match reach {
            ItemReach::MyWorkspace => personal.to_string(),
            ItemReach::MyWorkspaceAndShared => format!("{personal} OR {shared}"),
            ItemReach::Everything => format!("a.workspace_id IN (SELECT workspace_id FROM reached) OR {shared}"),
        };
        let sql = format!(
            "{MEMBERSHIPS_CTE}{REACHED_CTE} SELECT {ARTIFACT_COLUMNS} FROM artifacts a CROSS JOIN workspaces w \
             WHERE a.tenant_id = $1 AND a.kind IN ({kinds}) AND w.id = a.workspace_id AND w.state <> 'Deleted' \
               AND ({reached}) \
             ORDER BY a.created_at, a.name, a.id"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(upn.map(str::to_lowercase).unwrap_or_default())
            .bind(principal.to_string())
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(artifact_from_row).collect()
    }

    /// What `principal` holds on the artifact (see `rights_of`); empty when it cannot see it.
    pub async fn rights_on(&self, artifact: &Artifact, principal: Uuid, upn: Option<&str>) -> StoreResult<Rights> {
        let mut conn = self.read.acquire().await?;
        rights_of(&mut conn, artifact, principal, upn).await
    }

    /// The artifacts of a workspace that `principal` (or a group it belongs to) holds a direct
    /// permission on, or owns.
    pub async fn artifacts_shared_with(&self, tenant: Uuid, workspace: Uuid, principal: Uuid, upn: Option<&str>) -> StoreResult<Vec<Uuid>> {
        let sql = format!(
            "{MEMBERSHIPS_CTE} SELECT a.id FROM artifacts a JOIN workspaces w ON w.id = a.workspace_id \
             WHERE a.workspace_id = $2 AND a.tenant_id = $1 AND w.state <> 'Deleted' \
               AND (EXISTS (SELECT 1 FROM artifact_permissions p WHERE p.artifact_id = a.id \
                             AND (p.principal_id = $3 OR p.principal_id IN (SELECT group_id FROM memberships))) \
                    OR LOWER(a.configured_by) = $4)"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(workspace.to_string())
            .bind(principal.to_string())
            .bind(upn.map(str::to_lowercase).unwrap_or_default())
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(|r| parse_uuid(&r.try_get::<String, _>("id")?)).collect()
    }

    /// The direct permissions on an artifact, oldest first, joined with the directory.
    pub async fn artifact_users(&self, artifact: &Artifact) -> StoreResult<Vec<ArtifactUser>> {
        let sql = format!(
            "SELECT {DIRECTORY_COLUMNS}, p.access_right FROM artifact_permissions p {DIRECTORY_JOIN} \
             WHERE p.artifact_id = $1 ORDER BY p.granted_at, p.principal_id"
        );
        let rows = sqlx::query(&sql).bind(artifact.id.to_string()).bind(artifact.tenant_id.to_string()).fetch_all(&self.read).await?;
        rows.iter()
            .map(|row| {
                let d = directory_from_row(row)?;
                Ok(ArtifactUser {
                    principal: d.principal,
                    rights: parse_rights(artifact.kind, &row.try_get::<String, _>("access_right")?)?,
                    upn: d.upn,
                    mail: d.mail,
                    display_name: d.display_name,
                    user_type: d.user_type,
                })
            })
            .collect()
    }

    pub async fn capacity(&self, tenant: Uuid, id: Uuid) -> StoreResult<Option<Capacity>> {
        let row = sqlx::query("SELECT id, tenant_id, display_name, sku, region, state FROM capacities WHERE id = $1 AND tenant_id = $2")
            .bind(id.to_string())
            .bind(tenant.to_string())
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(capacity_from_row).transpose()
    }

    /// Who holds a right on the capacity, joined with the directory.
    pub async fn capacity_users(&self, capacity: &Capacity) -> StoreResult<Vec<CapacityUser>> {
        let sql = format!(
            "SELECT {DIRECTORY_COLUMNS}, p.access_right FROM capacity_users p {DIRECTORY_JOIN} \
             WHERE p.capacity_id = $1 ORDER BY p.access_right, p.principal_id"
        );
        let rows = sqlx::query(&sql).bind(capacity.id.to_string()).bind(capacity.tenant_id.to_string()).fetch_all(&self.read).await?;
        rows.iter()
            .map(|row| {
                let d = directory_from_row(row)?;
                Ok(CapacityUser {
                    principal: d.principal,
                    right: parse_enum::<CapacityRight>(&row.try_get::<String, _>("access_right")?)?,
                    upn: d.upn,
                    mail: d.mail,
                    display_name: d.display_name,
                    user_type: d.user_type,
                })
            })
            .collect()
    }

    /// The capacities `principal` (or a group it belongs to) holds a right on, with the highest
    /// such right, ordered by name.
    pub async fn capacities_of(&self, tenant: Uuid, principal: Uuid) -> StoreResult<Vec<(Capacity, CapacityRight)>> {
        let sql = format!(
            "{MEMBERSHIPS_CTE} SELECT c.id, c.tenant_id, c.display_name, c.sku, c.region, c.state, cu.access_right \
             FROM capacities c JOIN capacity_users cu ON cu.capacity_id = c.id \
             WHERE c.tenant_id = $1 AND $2 = $2 AND (cu.principal_id = $3 OR cu.principal_id IN (SELECT group_id FROM memberships)) \
             ORDER BY c.display_name, c.id"
        );
        let rows = sqlx::query(&sql).bind(tenant.to_string()).bind(String::new()).bind(principal.to_string()).fetch_all(&self.read).await?;
        let mut out: Vec<(Capacity, CapacityRight)> = Vec::new();
        for row in &rows {
            let capacity = capacity_from_row(row)?;
            let right = parse_enum::<CapacityRight>(&row.try_get::<String, _>("access_right")?)?;
            match out.iter_mut().find(|(c, _)| c.id == capacity.id) {
                Some((_, held)) => *held = (*held).max(right),
                None => out.push((capacity, right)),
            }
        }
        Ok(out)
    }

    /// Apply one dataset-permission change under the dataset's lock, after
    /// `dataset_policy::decide` allows it. When something changes, `describe` names the activity
    /// event, which is written in the same transaction.
    pub async fn change_dataset_permission(
        &self,
        req: &DatasetPermissionChange,
        describe: impl FnOnce(&Artifact, Effect) -> ActivityEvent,
    ) -> Result<Effect, ArtifactChangeError> {
        let mut tx = self.write_tx(req.tenant_id, WriteScope::Workspaces, Forget::Nothing).await?;
        let locked = sqlx::query(
            "UPDATE artifacts SET modified_at = $3 WHERE id = $1 AND tenant_id = $2 AND kind = 'Dataset' \
               AND workspace_id IN (SELECT id FROM workspaces WHERE tenant_id = $2 AND state <> 'Deleted')",
        )
        .bind(req.dataset_id.to_string())
        .bind(req.tenant_id.to_string())
        .bind(req.now)
        .execute(&mut *tx)
        .await?;
        if locked.rows_affected() == 0 {
            return Err(ArtifactChangeError::NotFound);
        }
        let sql = format!("SELECT {ARTIFACT_COLUMNS} FROM artifacts a WHERE a.id = $1");
        let dataset = artifact_from_row(&sqlx::query(&sql).bind(req.dataset_id.to_string()).fetch_one(&mut *tx).await?)?;
        if req.workspace_id.is_some_and(|ws| ws != dataset.workspace_id) {
            return Err(ArtifactChangeError::NotFound);
        }
        let caller = rights_of(&mut tx, &dataset, req.caller, req.caller_upn.as_deref()).await?;
        let direct = sqlx::query("SELECT access_right FROM artifact_permissions WHERE artifact_id = $1 AND principal_id = $2")
            .bind(dataset.id.to_string())
            .bind(req.target.object_id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| parse_rights(ArtifactKind::Dataset, &row.try_get::<String, _>("access_right")?))
            .transpose()?;
        let role = effective_role(&mut *tx, dataset.tenant_id, dataset.workspace_id, req.target.object_id).await?;
        let facts = Facts {
            caller,
            target_kind: req.target.kind,
            target_direct: direct,
            target_inherited: role.map(|r| rights::inherited(ArtifactKind::Dataset, r)).unwrap_or_default(),
        };
        let effect = dataset_policy::decide(&facts, req.change).map_err(|refusal| match refusal {
            Refusal::NotVisible => ArtifactChangeError::NotFound,
            other => ArtifactChangeError::Refused(other),
        })?;
        let (id, principal) = (dataset.id.to_string(), req.target.object_id.to_string());
        match effect {
            Effect::Set(rights) => {
                let name = rights::name(ArtifactKind::Dataset, rights)
                    .ok_or_else(|| StoreError::Corrupt(format!("no dataset right {rights:?}")))?;
                if direct.is_some() {
                    sqlx::query("UPDATE artifact_permissions SET access_right = $3 WHERE artifact_id = $1 AND principal_id = $2")
                        .bind(&id)
                        .bind(&principal)
                        .bind(name)
                        .execute(&mut *tx)
                        .await?;
                } else {
                    insert_artifact_permission(&mut *tx, dataset.id, req.target, name, req.now).await?;
                }
            }
            Effect::Delete => {
                sqlx::query("DELETE FROM artifact_permissions WHERE artifact_id = $1 AND principal_id = $2")
                    .bind(&id)
                    .bind(&principal)
                    .execute(&mut *tx)
                    .await?;
            }
            Effect::Nothing => {}
        }
        if effect != Effect::Nothing {
            record_activity(&mut *tx, req.tenant_id, &describe(&dataset, effect)).await?;
        } else {
            // Only the dataset's lock (`modified_at`) moved.
            tx.local_only();
        }
        tx.commit().await?;
        Ok(effect)
    }

    /// Capacities, artifacts of active workspaces, their permissions and subscriptions, for
    /// `tenant export`.
    pub async fn artifact_rows(&self, tenant: Uuid) -> StoreResult<ArtifactRows> {
        let t = tenant.to_string();
        let uuid = |row: &AnyRow, col: &str| -> StoreResult<Uuid> { parse_uuid(&row.try_get::<String, _>(col)?) };
        let mut out = ArtifactRows::default();
        for row in sqlx::query(
            "SELECT id, tenant_id, display_name, sku, region, state FROM capacities WHERE tenant_id = $1 ORDER BY created_at, id",
        )
        .bind(&t)
        .fetch_all(&self.read)
        .await?
        {
            out.capacities.push(capacity_from_row(&row)?);
        }
        for row in sqlx::query(
            "SELECT cu.capacity_id, cu.principal_id, cu.principal_type, cu.access_right FROM capacity_users cu \
             JOIN capacities c ON c.id = cu.capacity_id WHERE c.tenant_id = $1 ORDER BY c.created_at, cu.capacity_id, cu.principal_id",
        )
        .bind(&t)
        .fetch_all(&self.read)
        .await?
        {
            out.capacity_users.push((
                uuid(&row, "capacity_id")?,
                principal_from_row(&row)?,
                parse_enum::<CapacityRight>(&row.try_get::<String, _>("access_right")?)?,
            ));
        }
        let sql = format!(
            "SELECT {ARTIFACT_COLUMNS} FROM artifacts a JOIN workspaces w ON w.id = a.workspace_id \
             WHERE a.tenant_id = $1 AND w.state <> 'Deleted' ORDER BY a.created_at, a.id"
        );
        for row in sqlx::query(&sql).bind(&t).fetch_all(&self.read).await? {
            out.artifacts.push(artifact_from_row(&row)?);
        }
        for row in sqlx::query(
            "SELECT p.artifact_id, p.principal_id, p.principal_type, p.access_right FROM artifact_permissions p \
             JOIN artifacts a ON a.id = p.artifact_id WHERE a.tenant_id = $1 ORDER BY p.granted_at, p.artifact_id, p.principal_id",
        )
        .bind(&t)
        .fetch_all(&self.read)
        .await?
        {
            out.permissions.push((uuid(&row, "artifact_id")?, principal_from_row(&row)?, row.try_get("access_right")?));
        }
        for row in sqlx::query(
            "SELECT id, artifact_id, owner_id, title, frequency, is_enabled, start_date, end_date, attachment_format, sub_artifact_name \
             FROM subscriptions WHERE tenant_id = $1 ORDER BY created_at, id",
        )
        .bind(&t)
        .fetch_all(&self.read)
        .await?
        {
            out.subscriptions.push(Subscription {
                id: uuid(&row, "id")?,
                artifact_id: uuid(&row, "artifact_id")?,
                owner_id: uuid(&row, "owner_id")?,
                title: row.try_get("title")?,
                frequency: row.try_get("frequency")?,
                is_enabled: row.try_get::<i64, _>("is_enabled")? != 0,
                start_date: row.try_get("start_date")?,
                end_date: row.try_get("end_date")?,
                attachment_format: row.try_get("attachment_format")?,
                sub_artifact_name: row.try_get("sub_artifact_name")?,
            });
        }
        Ok(out)
    }
}
