//! Domain types: what a workspace role, a principal and a caller are, independent of JSON and SQL.
//! Conversions to wire types live in `api`, to rows in `store`.

pub mod artifacts;
pub mod audit;
pub mod dataset_policy;
pub mod directory;
pub mod dirquery;
pub mod filter;
pub mod identity;
pub mod policy;
pub mod rights;
pub mod shared_items;
pub mod signin;
pub mod throttle;

pub use artifacts::*;
pub use directory::*;

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// A workspace role. `None` of the wire enum is not a role: it is the absence of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Contributor,
    Member,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "Admin",
            Role::Member => "Member",
            Role::Contributor => "Contributor",
            Role::Viewer => "Viewer",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "Admin" => Ok(Role::Admin),
            "Member" => Ok(Role::Member),
            "Contributor" => Ok(Role::Contributor),
            "Viewer" => Ok(Role::Viewer),
            other => Err(format!("unknown role '{other}'")),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of directory object that can hold a workspace role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    User,
    Group,
    App,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "User",
            PrincipalKind::Group => "Group",
            PrincipalKind::App => "App",
        }
    }
}

impl FromStr for PrincipalKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "User" => Ok(PrincipalKind::User),
            "Group" => Ok(PrincipalKind::Group),
            "App" => Ok(PrincipalKind::App),
            other => Err(format!("unknown principal kind '{other}'")),
        }
    }
}

/// A resolved directory object: its kind and Entra object id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PrincipalRef {
    pub kind: PrincipalKind,
    pub object_id: Uuid,
}

/// Directory roles that matter to Power BI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DirectoryRole {
    FabricAdministrator,
    GlobalAdministrator,
}

impl DirectoryRole {
    pub fn as_str(self) -> &'static str {
        match self {
            DirectoryRole::FabricAdministrator => "FabricAdministrator",
            DirectoryRole::GlobalAdministrator => "GlobalAdministrator",
        }
    }

    /// The role template id Entra puts in a token's `wids` claim.
    pub fn template_id(self) -> &'static str {
        match self {
            DirectoryRole::FabricAdministrator => "a9ea8996-122f-4c74-9520-8edcd192826c",
            DirectoryRole::GlobalAdministrator => "62e90394-69f5-4237-9190-012177145e10",
        }
    }
}

/// Who is calling, as established from a verified access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant_id: Uuid,
    pub object_id: Uuid,
    pub kind: CallerKind,
    /// Delegated scopes (`scp`), empty for application tokens.
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerKind {
    User { upn: String },
    App { app_id: Uuid },
}

impl Caller {
    pub fn principal(&self) -> PrincipalRef {
        let kind = match self.kind {
            CallerKind::User { .. } => PrincipalKind::User,
            CallerKind::App { .. } => PrincipalKind::App,
        };
        PrincipalRef { kind, object_id: self.object_id }
    }

    pub fn is_app(&self) -> bool {
        matches!(self.kind, CallerKind::App { .. })
    }
}
