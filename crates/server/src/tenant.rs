//! Tenant provisioning from a declarative spec: one validated, atomic write of a whole tenant
//! (directory, service principals and their secrets, workspaces and roles). The demo tenant and
//! the test fixtures are made through this same path.

use std::collections::HashMap;

use rand::distributions::{Alphanumeric, DistString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::credentials::{hash_password, hash_secret, new_client_secret};
use crate::clock::Clock;
use crate::domain::{
    ClientSecret, DirectoryGroup, DirectoryRole, GroupKind, PrincipalKind, PrincipalRef, Role, ServicePrincipal, Tenant, UserType,
    Workspace,
};
use crate::store::{self, DemoCredentials, NewUser, Store, StoreError};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantSpec {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub name: String,
    /// Initial domain, e.g. `contoso.onmicrosoft.com`.
    pub domain: String,
    #[serde(default)]
    pub users: Vec<UserSpec>,
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
    #[serde(default)]
    pub service_principals: Vec<ServicePrincipalSpec>,
    #[serde(default)]
    pub workspaces: Vec<WorkspaceSpec>,
    /// Plain-text SCIM provisioning secret (the bearer token of `/{tenant}/scim/v2/`); hashed
    /// before it is stored. Without one, SCIM is closed for the tenant.
    #[serde(default)]
    pub scim_secret: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserSpec {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub upn: String,
    #[serde(default)]
    pub mail: Option<String>,
    pub display_name: String,
    #[serde(default)]
    pub guest: bool,
    #[serde(default = "yes")]
    pub account_enabled: bool,
    /// Plain-text password for the password grant; hashed before it is stored.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub fabric_admin: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupSpec {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub display_name: String,
    #[serde(default)]
    pub microsoft365: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServicePrincipalSpec {
    #[serde(default)]
    pub id: Option<Uuid>,
    #[serde(default)]
    pub app_id: Option<Uuid>,
    pub display_name: String,
    /// Plain-text client secrets, hashed before they are stored.
    #[serde(default)]
    pub secrets: Vec<SecretSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretSpec {
    pub value: String,
    /// Unix milliseconds; default two years after provisioning.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkspaceSpec {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub name: String,
    #[serde(default)]
    pub members: Vec<MemberSpec>,
}

/// A role in a workspace. `principal` names a user by UPN, a group by display name and a
/// service principal by display name (or any of them by object id).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemberSpec {
    pub principal: String,
    #[serde(default = "user_kind")]
    pub principal_type: String,
    pub role: String,
}

fn user_kind() -> String {
    "User".into()
}

/// Ids of what was provisioned, by the names the spec used.
#[derive(Debug, Clone)]
pub struct ProvisionedTenant {
    pub tenant: Tenant,
    pub users: HashMap<String, Uuid>,
    pub groups: HashMap<String, Uuid>,
    /// Display name → (object id, app id).
    pub service_principals: HashMap<String, (Uuid, Uuid)>,
    pub workspaces: HashMap<String, Uuid>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("invalid tenant spec: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ProvisionError {
    fn from(e: sqlx::Error) -> Self {
        ProvisionError::Store(e.into())
    }
}

/// Validate and write a whole tenant in one transaction: all of it lands, or none.
pub async fn provision(store: &Store, clock: &dyn Clock, spec: &TenantSpec) -> Result<ProvisionedTenant, ProvisionError> {
    let mut tx = store.begin().await?;
    let out = provision_in(&mut tx, clock, spec).await?;
    tx.commit().await?;
    store.invalidate_cache();
    Ok(out)
}

async fn provision_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    clock: &dyn Clock,
    spec: &TenantSpec,
) -> Result<ProvisionedTenant, ProvisionError> {
    let invalid = |m: String| ProvisionError::Invalid(m);
    if spec.name.trim().is_empty() || spec.domain.trim().is_empty() {
        return Err(invalid("a tenant needs a name and a domain".into()));
    }
    let now = clock.now_millis();
    let tenant = Tenant { id: spec.id.unwrap_or_else(Uuid::new_v4), name: spec.name.clone(), domain: spec.domain.clone() };
    let mut out = ProvisionedTenant {
        tenant: tenant.clone(),
        users: HashMap::new(),
        groups: HashMap::new(),
        service_principals: HashMap::new(),
        workspaces: HashMap::new(),
    };

    // Hash outside the transaction: Argon2 is deliberately slow.
    let hashed: Vec<Option<String>> = spec.users.iter().map(|u| u.password.as_deref().map(hash_password)).collect();

    store::insert_tenant(&mut **tx, &tenant, now).await?;
    if let Some(secret) = spec.scim_secret.as_deref() {
        if secret.len() < 16 {
            return Err(invalid("the SCIM secret must have at least 16 characters".into()));
        }
        store::set_scim_secret_hash(&mut **tx, tenant.id, Some(&hash_secret(secret))).await?;
    }
    let mut by_name: HashMap<(PrincipalKind, String), Uuid> = HashMap::new();
    for (user, hash) in spec.users.iter().zip(&hashed) {
        let id = user.id.unwrap_or_else(Uuid::new_v4);
        if user.upn.trim().is_empty() || !user.upn.contains('@') {
            return Err(invalid(format!("user '{}' needs a UPN of the form name@domain", user.display_name)));
        }
        if out.users.insert(user.upn.to_lowercase(), id).is_some() {
            return Err(invalid(format!("UPN '{}' appears twice", user.upn)));
        }
        let new = NewUser {
            id,
            upn: &user.upn,
            mail: user.mail.as_deref(),
            display_name: &user.display_name,
            user_type: if user.guest { UserType::Guest } else { UserType::Member },
            account_enabled: user.account_enabled,
            password_hash: hash.as_deref(),
        };
        store::insert_user(&mut **tx, tenant.id, &new, now).await?;
        if user.fabric_admin {
            store::insert_role_member(&mut **tx, tenant.id, DirectoryRole::FabricAdministrator, id).await?;
        }
        by_name.insert((PrincipalKind::User, user.upn.to_lowercase()), id);
    }
    for group in &spec.groups {
        let g = DirectoryGroup {
            id: group.id.unwrap_or_else(Uuid::new_v4),
            display_name: group.display_name.clone(),
            kind: if group.microsoft365 { GroupKind::Microsoft365 } else { GroupKind::Security },
        };
        store::insert_group(&mut **tx, tenant.id, &g, now).await?;
        out.groups.insert(group.display_name.clone(), g.id);
        by_name.insert((PrincipalKind::Group, group.display_name.to_lowercase()), g.id);
    }
    for sp in &spec.service_principals {
        let s = ServicePrincipal {
            id: sp.id.unwrap_or_else(Uuid::new_v4),
            app_id: sp.app_id.unwrap_or_else(Uuid::new_v4),
            display_name: sp.display_name.clone(),
        };
        store::insert_service_principal(&mut **tx, tenant.id, &s, now).await?;
        for secret in &sp.secrets {
            let row = ClientSecret {
                id: Uuid::new_v4(),
                secret_hash: hash_secret(&secret.value),
                expires_at: secret.expires_at.unwrap_or(now + 2 * 365 * 24 * 3600 * 1000),
            };
            let hint: String = secret.value.chars().take(3).collect();
            store::insert_client_secret(&mut **tx, tenant.id, s.id, &row, &hint, now).await?;
        }
        out.service_principals.insert(sp.display_name.clone(), (s.id, s.app_id));
        by_name.insert((PrincipalKind::App, sp.display_name.to_lowercase()), s.id);
    }
    for ws in &spec.workspaces {
        let w = Workspace {
            id: ws.id.unwrap_or_else(Uuid::new_v4),
            tenant_id: tenant.id,
            name: ws.name.clone(),
            description: None,
            kind: "Workspace".into(),
            state: "Active".into(),
            is_read_only: false,
            capacity_id: None,
        };
        store::insert_workspace(&mut **tx, &w, now).await?;
        for (i, m) in ws.members.iter().enumerate() {
            let kind: PrincipalKind = m.principal_type.parse().map_err(invalid)?;
            let role: Role = m.role.parse().map_err(invalid)?;
            let id = Uuid::parse_str(&m.principal)
                .ok()
                .or_else(|| by_name.get(&(kind, m.principal.to_lowercase())).copied())
                .ok_or_else(|| invalid(format!("workspace '{}' names unknown {} '{}'", ws.name, kind.as_str(), m.principal)))?;
            // Keep the spec's order as the members' order.
            store::insert_member(&mut **tx, w.id, PrincipalRef { kind, object_id: id }, None, role, now + i as i64).await?;
        }
        out.workspaces.insert(ws.name.clone(), w.id);
    }
    Ok(out)
}

/// The demo tenant of a first start: a Fabric administrator, members, a guest, a service
/// principal with a secret, groups, and two workspaces with members in every role.
pub async fn create_demo(store: &Store, clock: &dyn Clock) -> Result<DemoCredentials, ProvisionError> {
    let domain = "contoso.onmicrosoft.com";
    let password = Alphanumeric.sample_string(&mut rand::thread_rng(), 16);
    let secret = new_client_secret();
    let user = |local: &str, name: &str, admin: bool| UserSpec {
        id: None,
        upn: format!("{local}@{domain}"),
        mail: Some(format!("{local}@{domain}")),
        display_name: name.into(),
        guest: false,
        account_enabled: true,
        password: Some(password.clone()),
        fabric_admin: admin,
    };
    let member = |principal: &str, principal_type: &str, role: &str| MemberSpec {
        principal: principal.into(),
        principal_type: principal_type.into(),
        role: role.into(),
    };
    let upn = |local: &str| format!("{local}@{domain}");
    let sp_name = "pbi-access demo automation";
    let spec = TenantSpec {
        id: None,
        name: "Contoso (demo)".into(),
        domain: domain.into(),
        users: vec![
            user("admin", "Avery Admin", true),
            user("alice", "Alice Anders", false),
            user("bob", "Bob Berg", false),
            user("carol", "Carol Chen", false),
            user("dave", "Dave Diaz", false),
            UserSpec {
                id: None,
                upn: format!("gina_fabrikam.com#EXT#@{domain}"),
                mail: Some("gina@fabrikam.com".into()),
                display_name: "Gina (Fabrikam)".into(),
                guest: true,
                account_enabled: true,
                password: None,
                fabric_admin: false,
            },
        ],
        groups: vec![
            GroupSpec { id: None, display_name: "Sales Analysts".into(), microsoft365: false },
            GroupSpec { id: None, display_name: "Finance Team".into(), microsoft365: true },
        ],
        service_principals: vec![ServicePrincipalSpec {
            id: None,
            app_id: None,
            display_name: sp_name.into(),
            secrets: vec![SecretSpec { value: secret.clone(), expires_at: None }],
        }],
        workspaces: vec![
            WorkspaceSpec {
                id: None,
                name: "Sales Analytics".into(),
                members: vec![
                    member(&upn("admin"), "User", "Admin"),
                    member(sp_name, "App", "Admin"),
                    member(&upn("alice"), "User", "Member"),
                    member(&upn("bob"), "User", "Contributor"),
                    member(&upn("carol"), "User", "Viewer"),
                    member(&format!("gina_fabrikam.com#EXT#@{domain}"), "User", "Viewer"),
                    member("Sales Analysts", "Group", "Viewer"),
                ],
            },
            WorkspaceSpec {
                id: None,
                name: "Finance Reporting".into(),
                members: vec![
                    member(&upn("admin"), "User", "Admin"),
                    member(sp_name, "App", "Admin"),
                    member(&upn("dave"), "User", "Member"),
                    member(&upn("alice"), "User", "Contributor"),
                    member("Finance Team", "Group", "Viewer"),
                ],
            },
        ],
        scim_secret: None,
    };
    let mut tx = store.begin().await?;
    let provisioned = provision_in(&mut tx, clock, &spec).await?;
    let demo = DemoCredentials {
        tenant_id: provisioned.tenant.id,
        client_id: provisioned.service_principals[sp_name].1,
        client_secret: secret,
        admin_upn: upn("admin"),
        member_upn: upn("dave"),
        password,
    };
    store::insert_demo_credentials(&mut *tx, &demo).await?;
    tx.commit().await?;
    Ok(demo)
}
