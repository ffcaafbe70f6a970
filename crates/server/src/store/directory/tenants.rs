//! Tenants, applications (service principals, secrets, certificates) and directory roles.

use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};
use uuid::Uuid;

use super::users::{user_from_full_row, USER_FULL};
use crate::domain::identity::DirUser;
use crate::domain::{
    ClientCertificate, ClientSecret, DirectoryRole, PrincipalKind, PrincipalRef, ServicePrincipal, Tenant, TenantSettings,
};
use crate::store::{parse_uuid, Store, StoreResult};

/// Credentials kept for the demo tenant, so `serve` can print them on every start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoCredentials {
    pub tenant_id: Uuid,
    pub client_id: Uuid,
    pub client_secret: String,
    pub admin_upn: String,
    pub member_upn: String,
    pub password: String,
}

fn tenant_from_row(row: &AnyRow) -> StoreResult<Tenant> {
    Ok(Tenant { id: parse_uuid(&row.try_get::<String, _>("id")?)?, name: row.try_get("name")?, domain: row.try_get("domain")? })
}

/// Names no directory object can have (PostgreSQL also refuses NUL in text): looked up as absent.
fn is_plain(name: &str) -> bool {
    !name.chars().any(char::is_control) && name.len() <= 1024
}

pub async fn insert_tenant<'c, E: Executor<'c, Database = Any>>(e: E, tenant: &Tenant, now: i64) -> StoreResult<()> {
    sqlx::query("INSERT INTO tenants (id, name, domain, domain_lower, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(tenant.id.to_string())
        .bind(&tenant.name)
        .bind(&tenant.domain)
        .bind(tenant.domain.to_lowercase())
        .bind(now)
        .execute(e)
        .await?;
    Ok(())
}

pub async fn insert_service_principal<'c, E: Executor<'c, Database = Any>>(
    e: E,
    tenant: Uuid,
    sp: &ServicePrincipal,
    now: i64,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO service_principals (tenant_id, id, app_id, display_name, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(tenant.to_string())
        .bind(sp.id.to_string())
        .bind(sp.app_id.to_string())
        .bind(&sp.display_name)
        .bind(now)
        .execute(e)
        .await?;
    Ok(())
}

pub async fn insert_client_secret<'c, E: Executor<'c, Database = Any>>(
    e: E,
    tenant: Uuid,
    sp_id: Uuid,
    secret: &ClientSecret,
    hint: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO client_secrets (tenant_id, sp_id, id, secret_hash, hint, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(tenant.to_string())
    .bind(sp_id.to_string())
    .bind(secret.id.to_string())
    .bind(&secret.secret_hash)
    .bind(hint)
    .bind(secret.expires_at)
    .bind(now)
    .execute(e)
    .await?;
    Ok(())
}

pub async fn insert_client_certificate<'c, E: Executor<'c, Database = Any>>(
    e: E,
    tenant: Uuid,
    sp_id: Uuid,
    cert: &ClientCertificate,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO client_certificates (tenant_id, sp_id, id, thumbprint_sha1, thumbprint_sha256, certificate_pem, starts_at, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(tenant.to_string())
    .bind(sp_id.to_string())
    .bind(cert.id.to_string())
    .bind(&cert.thumbprint_sha1)
    .bind(&cert.thumbprint_sha256)
    .bind(&cert.certificate_pem)
    .bind(cert.starts_at)
    .bind(cert.expires_at)
    .bind(now)
    .execute(e)
    .await?;
    Ok(())
}

/// The columns `client_certificate_row` reads.
pub(crate) const CERTIFICATE_COLUMNS: &str = "id, thumbprint_sha1, thumbprint_sha256, certificate_pem, starts_at, expires_at";

pub(crate) fn client_certificate_row(row: &AnyRow) -> StoreResult<ClientCertificate> {
    Ok(ClientCertificate {
        id: parse_uuid(&row.try_get::<String, _>("id")?)?,
        thumbprint_sha1: row.try_get("thumbprint_sha1")?,
        thumbprint_sha256: row.try_get("thumbprint_sha256")?,
        certificate_pem: row.try_get("certificate_pem")?,
        starts_at: row.try_get("starts_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

pub async fn insert_role_member<'c, E: Executor<'c, Database = Any>>(
    e: E,
    tenant: Uuid,
    role: DirectoryRole,
    principal: Uuid,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO directory_role_members (tenant_id, role, principal_id) VALUES ($1, $2, $3)")
        .bind(tenant.to_string())
        .bind(role.as_str())
        .bind(principal.to_string())
        .execute(e)
        .await?;
    Ok(())
}

pub async fn insert_demo_credentials<'c, E: Executor<'c, Database = Any>>(e: E, demo: &DemoCredentials) -> StoreResult<()> {
    sqlx::query("INSERT INTO demo_credentials (tenant_id, client_id, client_secret, admin_upn, member_upn, password) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(demo.tenant_id.to_string())
        .bind(demo.client_id.to_string())
        .bind(&demo.client_secret)
        .bind(&demo.admin_upn)
        .bind(&demo.member_upn)
        .bind(&demo.password)
        .execute(e)
        .await?;
    Ok(())
}

/// Provisioning: `member` joins `group` (a user, a nested group or an app).
pub async fn update_tenant_settings<'c, E: Executor<'c, Database = Any>>(e: E, tenant: Uuid, settings: &TenantSettings) -> StoreResult<()> {
    sqlx::query(
        "UPDATE tenants SET sp_api_enabled = $2, sp_api_group_id = $3, sp_admin_api_enabled = $4, sp_admin_api_group_id = $5 WHERE id = $1",
    )
    .bind(tenant.to_string())
    .bind(settings.sp_api_enabled as i64)
    .bind(settings.sp_api_group.map(|g| g.to_string()))
    .bind(settings.sp_admin_api_enabled as i64)
    .bind(settings.sp_admin_api_group.map(|g| g.to_string()))
    .execute(e)
    .await?;
    Ok(())
}

impl Store {
    pub async fn count_tenants(&self) -> StoreResult<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM tenants").fetch_one(&self.read).await?.try_get("n")?)
    }

    /// A tenant by id or by its domain, as the authority URL may name either.
    pub async fn find_tenant(&self, id_or_domain: &str) -> StoreResult<Option<Tenant>> {
        if !is_plain(id_or_domain) {
            return Ok(None);
        }
        let row = match Uuid::parse_str(id_or_domain) {
            Ok(id) => {
                sqlx::query("SELECT id, name, domain FROM tenants WHERE id = $1").bind(id.to_string()).fetch_optional(&self.read).await?
            }
            Err(_) => {
                sqlx::query("SELECT id, name, domain FROM tenants WHERE domain_lower = $1")
                    .bind(id_or_domain.to_lowercase())
                    .fetch_optional(&self.read)
                    .await?
            }
        };
        row.as_ref().map(tenant_from_row).transpose()
    }

    pub async fn list_tenants(&self) -> StoreResult<Vec<Tenant>> {
        let rows = sqlx::query("SELECT id, name, domain FROM tenants ORDER BY created_at, id").fetch_all(&self.read).await?;
        rows.iter().map(tenant_from_row).collect()
    }

    /// An active user by UPN or mail, case-insensitively.
    pub async fn get_user_by_name(&self, tenant: Uuid, upn_or_mail: &str) -> StoreResult<Option<DirUser>> {
        // Two indexed lookups (UPN first) rather than `upn_lower = $2 OR mail_lower = $2`, which
        // SQLite answers with a scan of the tenant's users.
        let sql = format!(
            "SELECT * FROM (SELECT 0 AS rank, {USER_FULL} FROM users WHERE tenant_id = $1 AND upn_lower = $2 AND deleted_at IS NULL \
             UNION ALL SELECT 1 AS rank, {USER_FULL} FROM users WHERE tenant_id = $1 AND mail_lower = $2 AND deleted_at IS NULL) AS found \
             ORDER BY rank LIMIT 1"
        );
        let row = sqlx::query(&sql).bind(tenant.to_string()).bind(upn_or_mail.to_lowercase()).fetch_optional(&self.read).await?;
        row.as_ref().map(user_from_full_row).transpose()
    }

    /// The user and its password hash, for the password grant.
    pub async fn get_user_credentials(&self, tenant: Uuid, upn: &str) -> StoreResult<Option<(DirUser, Option<String>)>> {
        if !is_plain(upn) {
            return Ok(None);
        }
        let sql = format!("SELECT {USER_FULL}, password_hash FROM users WHERE tenant_id = $1 AND upn_lower = $2 AND deleted_at IS NULL");
        let row = sqlx::query(&sql).bind(tenant.to_string()).bind(upn.to_lowercase()).fetch_optional(&self.read).await?;
        match row {
            Some(row) => Ok(Some((user_from_full_row(&row)?, row.try_get("password_hash")?))),
            None => Ok(None),
        }
    }

    /// A service principal by its object id or, when `by_app_id`, by its application (client) id.
    pub async fn get_service_principal(&self, tenant: Uuid, id: Uuid, by_app_id: bool) -> StoreResult<Option<ServicePrincipal>> {
        let sql = if by_app_id {
            "SELECT id, app_id, display_name FROM service_principals WHERE tenant_id = $1 AND app_id = $2"
        } else {
            "SELECT id, app_id, display_name FROM service_principals WHERE tenant_id = $1 AND id = $2"
        };
        let row = sqlx::query(sql).bind(tenant.to_string()).bind(id.to_string()).fetch_optional(&self.read).await?;
        row.map(|row| {
            Ok(ServicePrincipal {
                id: parse_uuid(&row.try_get::<String, _>("id")?)?,
                app_id: parse_uuid(&row.try_get::<String, _>("app_id")?)?,
                display_name: row.try_get("display_name")?,
            })
        })
        .transpose()
    }

    pub async fn client_secrets(&self, tenant: Uuid, sp_id: Uuid) -> StoreResult<Vec<ClientSecret>> {
        let rows = sqlx::query("SELECT id, secret_hash, expires_at FROM client_secrets WHERE tenant_id = $1 AND sp_id = $2")
            .bind(tenant.to_string())
            .bind(sp_id.to_string())
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(ClientSecret {
                    id: parse_uuid(&row.try_get::<String, _>("id")?)?,
                    secret_hash: row.try_get("secret_hash")?,
                    expires_at: row.try_get("expires_at")?,
                })
            })
            .collect()
    }

    /// The certificate credentials of a service principal, oldest first.
    pub async fn client_certificates(&self, tenant: Uuid, sp_id: Uuid) -> StoreResult<Vec<ClientCertificate>> {
        let sql =
            format!("SELECT {CERTIFICATE_COLUMNS} FROM client_certificates WHERE tenant_id = $1 AND sp_id = $2 ORDER BY created_at, id");
        let rows = sqlx::query(&sql).bind(tenant.to_string()).bind(sp_id.to_string()).fetch_all(&self.read).await?;
        rows.iter().map(client_certificate_row).collect()
    }

    pub async fn directory_roles(&self, tenant: Uuid, principal: Uuid) -> StoreResult<Vec<DirectoryRole>> {
        let rows = sqlx::query("SELECT role FROM directory_role_members WHERE tenant_id = $1 AND principal_id = $2")
            .bind(tenant.to_string())
            .bind(principal.to_string())
            .fetch_all(&self.read)
            .await?;
        let mut roles = Vec::with_capacity(rows.len());
        for row in rows {
            match row.try_get::<String, _>("role")?.as_str() {
                "FabricAdministrator" => roles.push(DirectoryRole::FabricAdministrator),
                "GlobalAdministrator" => roles.push(DirectoryRole::GlobalAdministrator),
                _ => {}
            }
        }
        Ok(roles)
    }

    /// Resolve a principal named in a request: a user by UPN or mail, a group or app by object id.
    pub async fn resolve_principal(&self, tenant: Uuid, kind: PrincipalKind, identifier: &str) -> StoreResult<Option<PrincipalRef>> {
        let found = match kind {
            PrincipalKind::User => match self.get_user_by_name(tenant, identifier).await? {
                Some(user) => Some(user.id),
                // Admin APIs accept a user's object id too.
                None => match Uuid::parse_str(identifier) {
                    Ok(id) => self.get_user(tenant, id, false).await?.map(|u| u.id),
                    Err(_) => None,
                },
            },
            PrincipalKind::Group => match Uuid::parse_str(identifier) {
                Ok(id) => self.get_group(tenant, id, false).await?.map(|g| g.id),
                Err(_) => None,
            },
            PrincipalKind::App => match Uuid::parse_str(identifier) {
                Ok(id) => self.get_service_principal(tenant, id, false).await?.map(|s| s.id),
                Err(_) => None,
            },
        };
        Ok(found.map(|object_id| PrincipalRef { kind, object_id }))
    }

    pub async fn demo_credentials(&self) -> StoreResult<Option<DemoCredentials>> {
        let row = sqlx::query("SELECT tenant_id, client_id, client_secret, admin_upn, member_upn, password FROM demo_credentials LIMIT 1")
            .fetch_optional(&self.read)
            .await?;
        row.map(|row| {
            Ok(DemoCredentials {
                tenant_id: parse_uuid(&row.try_get::<String, _>("tenant_id")?)?,
                client_id: parse_uuid(&row.try_get::<String, _>("client_id")?)?,
                client_secret: row.try_get("client_secret")?,
                admin_upn: row.try_get("admin_upn")?,
                member_upn: row.try_get("member_upn")?,
                password: row.try_get("password")?,
            })
        })
        .transpose()
    }
}
