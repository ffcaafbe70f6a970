//! Directory and workspace records as the rest of the server sees them.

use uuid::Uuid;

use super::{PrincipalKind, PrincipalRef, Role};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    /// The initial domain, e.g. `contoso.onmicrosoft.com`. Token URLs accept it in place of the id.
    pub domain: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserType {
    Member,
    Guest,
}

impl UserType {
    pub fn as_str(self) -> &'static str {
        match self {
            UserType::Member => "Member",
            UserType::Guest => "Guest",
        }
    }
}

impl std::str::FromStr for UserType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "Member" => Ok(UserType::Member),
            "Guest" => Ok(UserType::Guest),
            other => Err(format!("unknown userType '{other}'")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    Security,
    Microsoft365,
}

impl GroupKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupKind::Security => "Security",
            GroupKind::Microsoft365 => "Microsoft365",
        }
    }
}

impl std::str::FromStr for GroupKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "Security" => Ok(GroupKind::Security),
            "Microsoft365" => Ok(GroupKind::Microsoft365),
            other => Err(format!("unknown group kind '{other}'")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePrincipal {
    pub id: Uuid,
    pub app_id: Uuid,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSecret {
    pub id: Uuid,
    pub secret_hash: String,
    pub expires_at: i64,
}

/// A certificate credential of a service principal: the public certificate only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    pub id: Uuid,
    /// Upper-case hex SHA-1 of the DER (the portal's "thumbprint"; `x5t` in an assertion).
    pub thumbprint_sha1: String,
    /// Upper-case hex SHA-256 of the DER (`x5t#S256`).
    pub thumbprint_sha256: String,
    pub certificate_pem: String,
    /// The certificate's validity, Unix milliseconds.
    pub starts_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub kind: String,
    pub state: String,
    pub is_read_only: bool,
    pub capacity_id: Option<Uuid>,
}

/// One role assignment in a workspace, with what the directory says about its principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub principal: PrincipalRef,
    pub role: Role,
    pub profile_id: Option<Uuid>,
    /// UPN for users; `None` for groups and apps.
    pub upn: Option<String>,
    pub mail: Option<String>,
    pub display_name: Option<String>,
    pub user_type: Option<UserType>,
    /// Set when the principal is soft-deleted in the directory (Unix milliseconds).
    pub deleted_at: Option<i64>,
    /// The application id of an App principal.
    pub app_id: Option<Uuid>,
}

impl Member {
    /// The `identifier` Power BI shows: the UPN of a user, the object id of a group or app.
    pub fn identifier(&self) -> String {
        match (self.principal.kind, &self.upn) {
            (PrincipalKind::User, Some(upn)) => upn.clone(),
            _ => self.principal.object_id.to_string(),
        }
    }
}

/// Tenant settings of the Fabric admin portal's developer section that gate service principals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantSettings {
    /// "Service principals can use Fabric APIs".
    pub sp_api_enabled: bool,
    /// …limited to the members of this security group, when set.
    pub sp_api_group: Option<Uuid>,
    /// "Service principals can access read-only admin APIs".
    pub sp_admin_api_enabled: bool,
    pub sp_admin_api_group: Option<Uuid>,
}

impl Default for TenantSettings {
    fn default() -> Self {
        TenantSettings { sp_api_enabled: true, sp_api_group: None, sp_admin_api_enabled: true, sp_admin_api_group: None }
    }
}
