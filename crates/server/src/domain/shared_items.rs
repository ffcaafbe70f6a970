//! Deployment pipelines and gateway data sources: items outside workspaces whose access is a
//! list of principals with a right each, managed through their own user endpoints.

use std::str::FromStr;

use uuid::Uuid;

use super::{PrincipalKind, PrincipalRef, UserType};

/// A deployment pipeline (`/pipelines/{pipelineId}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub display_name: String,
    pub description: Option<String>,
}

/// An on-premises data gateway (the primary gateway of its cluster).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
}

/// A data source of a gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datasource {
    pub id: Uuid,
    pub gateway_id: Uuid,
    pub name: String,
    /// `Sql`, `AnalysisServices`, `Web`, …
    pub datasource_type: String,
}

macro_rules! right_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident),* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),* }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => stringify!($variant)),* }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $(stringify!($variant) => Ok($name::$variant),)*
                    other => Err(format!("'{other}' is not a {}", stringify!($name))),
                }
            }
        }
    };
}

right_enum! {
    /// A principal's right on a deployment pipeline (`PipelineUserAccessRight`: Admin only).
    PipelineRight { Admin }
}

right_enum! {
    /// A principal's right on a gateway. Only an Admin manages its data sources' users.
    GatewayRight { Admin, ConnectionCreator, ConnectionCreatorWithReshare }
}

right_enum! {
    /// A principal's right on a gateway data source (`DatasourceUserAccessRight` without `None`,
    /// which the service accepts on updates only and which removes the right).
    DatasourceRight { Read, ReadOverrideEffectiveIdentity }
}

/// One principal on a pipeline, gateway or data source, with what the directory says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemUser<R> {
    pub principal: PrincipalRef,
    pub right: R,
    /// Set for a service principal profile's entry.
    pub profile_id: Option<Uuid>,
    pub upn: Option<String>,
    pub mail: Option<String>,
    pub display_name: Option<String>,
    pub user_type: Option<UserType>,
}

impl<R> ItemUser<R> {
    /// The `identifier` Power BI shows: a user's UPN, a group's or app's object id.
    pub fn identifier(&self) -> String {
        match (self.principal.kind, &self.upn) {
            (PrincipalKind::User, Some(upn)) => upn.clone(),
            _ => self.principal.object_id.to_string(),
        }
    }
}

/// What a change of one principal's right on a shared item does, once the caller may make it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemEffect {
    Insert,
    SetRight,
    Delete,
    Nothing,
}

/// Why a pipeline or data source change is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemRefusal {
    /// The item does not exist, or the caller may not manage it: the service tells neither apart.
    NotFound,
    /// The principal to remove holds no right on the item.
    NotAUser,
    /// The change would leave a pipeline without an Admin.
    LastAdmin,
}

/// Decide a pipeline change: `grant` (true) adds or keeps the principal as Admin, else removes it.
/// `holds` is whether the target is on the pipeline now, `admins` how many principals are.
pub fn decide_pipeline(caller_is_admin: bool, grant: bool, holds: bool, admins: u32) -> Result<ItemEffect, ItemRefusal> {
    if !caller_is_admin {
        return Err(ItemRefusal::NotFound);
    }
    match (grant, holds) {
        (true, true) => Ok(ItemEffect::Nothing),
        (true, false) => Ok(ItemEffect::Insert),
        (false, false) => Err(ItemRefusal::NotAUser),
        (false, true) if admins <= 1 => Err(ItemRefusal::LastAdmin),
        (false, true) => Ok(ItemEffect::Delete),
    }
}

/// Decide a data source change: `right` to grant (or `None` to remove), the target's current one.
pub fn decide_datasource(
    caller_is_gateway_admin: bool,
    right: Option<DatasourceRight>,
    current: Option<DatasourceRight>,
) -> Result<ItemEffect, ItemRefusal> {
    if !caller_is_gateway_admin {
        return Err(ItemRefusal::NotFound);
    }
    match (right, current) {
        (Some(r), Some(c)) if r == c => Ok(ItemEffect::Nothing),
        (Some(_), Some(_)) => Ok(ItemEffect::SetRight),
        (Some(_), None) => Ok(ItemEffect::Insert),
        (None, Some(_)) => Ok(ItemEffect::Delete),
        (None, None) => Err(ItemRefusal::NotAUser),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipeline_keeps_one_admin_and_outsiders_see_nothing() {
        assert_eq!(decide_pipeline(false, true, false, 1), Err(ItemRefusal::NotFound));
        assert_eq!(decide_pipeline(true, true, false, 1), Ok(ItemEffect::Insert));
        assert_eq!(decide_pipeline(true, true, true, 1), Ok(ItemEffect::Nothing));
        assert_eq!(decide_pipeline(true, false, true, 1), Err(ItemRefusal::LastAdmin));
        assert_eq!(decide_pipeline(true, false, true, 2), Ok(ItemEffect::Delete));
        assert_eq!(decide_pipeline(true, false, false, 2), Err(ItemRefusal::NotAUser));
    }

    #[test]
    fn a_datasource_right_is_set_changed_or_removed() {
        use DatasourceRight::*;
        assert_eq!(decide_datasource(false, Some(Read), None), Err(ItemRefusal::NotFound));
        assert_eq!(decide_datasource(true, Some(Read), None), Ok(ItemEffect::Insert));
        assert_eq!(decide_datasource(true, Some(Read), Some(Read)), Ok(ItemEffect::Nothing));
        assert_eq!(decide_datasource(true, Some(ReadOverrideEffectiveIdentity), Some(Read)), Ok(ItemEffect::SetRight));
        assert_eq!(decide_datasource(true, None, Some(Read)), Ok(ItemEffect::Delete));
        assert_eq!(decide_datasource(true, None, None), Err(ItemRefusal::NotAUser));
        assert_eq!("Read".parse::<DatasourceRight>(), Ok(Read));
        assert!("None".parse::<DatasourceRight>().is_err());
    }
}
