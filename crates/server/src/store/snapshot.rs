//! Whole-tenant reads for `tenant export` (the snapshot that `tenant import` takes back).

use sqlx::Row;
use uuid::Uuid;

use super::directory::{group_from_row, user_from_full_row, GROUP_FULL, USER_FULL};
use super::{parse_enum, parse_uuid, Store, StoreResult};
use crate::domain::identity::{DirGroup, DirUser};
use crate::domain::{ClientCertificate, ClientSecret, PrincipalKind, PrincipalRef, ServicePrincipal, Workspace};

/// Everything a tenant holds, as rows of the store, for a snapshot.
#[derive(Debug, Clone)]
pub struct TenantRows {
    /// Live users with their password hash and whether they are Fabric administrators.
    pub users: Vec<(DirUser, Option<String>, bool)>,
    pub groups: Vec<DirGroup>,
    pub group_members: Vec<(Uuid, PrincipalRef)>,
    pub group_owners: Vec<(Uuid, Uuid)>,
    pub service_principals: Vec<ServicePrincipal>,
    pub secrets: Vec<(Uuid, ClientSecret)>,
    /// Certificate credentials, by service principal, oldest first.
    pub certificates: Vec<(Uuid, ClientCertificate)>,
    /// Active workspaces with their Microsoft 365 backing group.
    pub workspaces: Vec<(Workspace, Option<Uuid>)>,
    /// Subscribed SKUs: part number and seats.
    pub skus: Vec<(String, i64)>,
    /// License assignments: a user (direct) or a group (group-based), and the SKU id.
    pub licenses: Vec<(PrincipalRef, Uuid)>,
}

impl Store {
    pub async fn tenant_rows(&self, tenant: Uuid) -> StoreResult<TenantRows> {
        let t = tenant.to_string();
        let uuid = |row: &sqlx::any::AnyRow, col: &str| -> StoreResult<Uuid> { parse_uuid(&row.try_get::<String, _>(col)?) };
        let mut users = Vec::new();
        let columns = USER_FULL.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT {columns}, u.password_hash, \
                    (SELECT COUNT(*) FROM directory_role_members r WHERE r.tenant_id = u.tenant_id AND r.principal_id = u.id AND r.role = 'FabricAdministrator') AS admin \
             FROM users u WHERE u.tenant_id = $1 AND u.deleted_at IS NULL ORDER BY u.created_at, u.upn_lower"
        );
        for row in sqlx::query(&sql).bind(&t).fetch_all(&self.read).await? {
            let user = user_from_full_row(&row)?;
            users.push((user, row.try_get("password_hash")?, row.try_get::<i64, _>("admin")? > 0));
        }
        let sql = format!("SELECT {GROUP_FULL} FROM directory_groups WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY created_at, id");
        let groups = sqlx::query(&sql).bind(&t).fetch_all(&self.read).await?.iter().map(group_from_row).collect::<StoreResult<Vec<_>>>()?;
        let mut group_members = Vec::new();
        for row in sqlx::query(
            "SELECT group_id, member_id, member_type FROM group_members WHERE tenant_id = $1 ORDER BY added_at, group_id, member_id",
        )
        .bind(&t)
        .fetch_all(&self.read)
        .await?
        {
            let kind = parse_enum::<PrincipalKind>(&row.try_get::<String, _>("member_type")?)?;
            group_members.push((uuid(&row, "group_id")?, PrincipalRef { kind, object_id: uuid(&row, "member_id")? }));
        }
        let mut group_owners = Vec::new();
        for row in sqlx::query("SELECT group_id, owner_id FROM group_owners WHERE tenant_id = $1 ORDER BY added_at, group_id, owner_id")
            .bind(&t)
            .fetch_all(&self.read)
            .await?
        {
            group_owners.push((uuid(&row, "group_id")?, uuid(&row, "owner_id")?));
        }
        let mut service_principals = Vec::new();
        for row in sqlx::query("SELECT id, app_id, display_name FROM service_principals WHERE tenant_id = $1 ORDER BY created_at, id")
            .bind(&t)
            .fetch_all(&self.read)
            .await?
        {
            service_principals.push(ServicePrincipal {
                id: uuid(&row, "id")?,
                app_id: uuid(&row, "app_id")?,
                display_name: row.try_get("display_name")?,
            });
        }
        let mut secrets = Vec::new();
        for row in sqlx::query("SELECT sp_id, id, secret_hash, expires_at FROM client_secrets WHERE tenant_id = $1 ORDER BY created_at, id")
            .bind(&t)
            .fetch_all(&self.read)
            .await?
        {
            secrets.push((
                uuid(&row, "sp_id")?,
                ClientSecret { id: uuid(&row, "id")?, secret_hash: row.try_get("secret_hash")?, expires_at: row.try_get("expires_at")? },
            ));
        }
        let mut certificates = Vec::new();
        let sql = format!(
            "SELECT sp_id, {} FROM client_certificates WHERE tenant_id = $1 ORDER BY created_at, id",
            super::directory::CERTIFICATE_COLUMNS
        );
        for row in sqlx::query(&sql).bind(&t).fetch_all(&self.read).await? {
            certificates.push((uuid(&row, "sp_id")?, super::directory::client_certificate_row(&row)?));
        }
        let mut workspaces = Vec::new();
        for row in sqlx::query(
            "SELECT id, tenant_id, name, description, kind, state, is_read_only, capacity_id, backing_group_id FROM workspaces \
             WHERE tenant_id = $1 AND state <> 'Deleted' ORDER BY created_at, id",
        )
        .bind(&t)
        .fetch_all(&self.read)
        .await?
        {
            let backing = row.try_get::<Option<String>, _>("backing_group_id")?.as_deref().map(parse_uuid).transpose()?;
            workspaces.push((super::workspaces::workspace_from_row(&row)?, backing));
        }
        let mut skus = Vec::new();
        for row in sqlx::query("SELECT sku_part_number, prepaid_enabled FROM subscribed_skus WHERE tenant_id = $1 ORDER BY sku_part_number")
            .bind(&t)
            .fetch_all(&self.read)
            .await?
        {
            skus.push((row.try_get("sku_part_number")?, row.try_get("prepaid_enabled")?));
        }
        let mut licenses = Vec::new();
        for row in sqlx::query(
            "SELECT 'User' AS kind, user_id AS principal, sku_id, assigned_at FROM license_assignments WHERE tenant_id = $1 \
             UNION ALL SELECT 'Group' AS kind, group_id AS principal, sku_id, assigned_at FROM group_licenses WHERE tenant_id = $1 \
             ORDER BY assigned_at, principal, sku_id",
        )
        .bind(&t)
        .fetch_all(&self.read)
        .await?
        {
            let kind = parse_enum::<PrincipalKind>(&row.try_get::<String, _>("kind")?)?;
            licenses.push((PrincipalRef { kind, object_id: uuid(&row, "principal")? }, uuid(&row, "sku_id")?));
        }
        Ok(TenantRows { users, groups, group_members, group_owners, service_principals, secrets, certificates, workspaces, skus, licenses })
    }
}
