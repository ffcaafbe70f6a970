//! Microsoft Graph v1.0 schemas of the directory subset pbi-access serves and the CLI reads:
//! `user`, `group`, the `directoryObject` items of a group's members, `subscribedSku`,
//! `licenseDetails` and the `assignLicense` body. Field names are Graph's (camelCase); fields a
//! `$select` may leave out are optional, and properties this crate does not name are ignored.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `assignedLicense`: a SKU assigned to a user or a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignedLicense {
    pub sku_id: Uuid,
    #[serde(default)]
    pub disabled_plans: Vec<Uuid>,
}

/// `microsoft.graph.user`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
    /// `Member` or `Guest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_enabled: Option<bool>,
    /// Two-letter country code; Entra refuses to assign a license without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_licenses: Option<Vec<AssignedLicense>>,
}

impl User {
    pub fn is_guest(&self) -> bool {
        self.user_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("Guest"))
    }
}

/// `microsoft.graph.group`. A Microsoft 365 group has `Unified` in `groupTypes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub group_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_licenses: Option<Vec<AssignedLicense>>,
}

impl Group {
    pub fn is_microsoft365(&self) -> bool {
        self.group_types.iter().any(|t| t.eq_ignore_ascii_case("Unified"))
    }
}

/// `microsoft.graph.servicePrincipal`, as a group member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    pub id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// An item of `/groups/{id}/members`: a `directoryObject` told apart by `@odata.type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "@odata.type")]
pub enum DirectoryObject {
    #[serde(rename = "#microsoft.graph.user")]
    User(User),
    #[serde(rename = "#microsoft.graph.group")]
    Group(Group),
    #[serde(rename = "#microsoft.graph.servicePrincipal")]
    ServicePrincipal(ServicePrincipal),
}

impl DirectoryObject {
    pub fn id(&self) -> Uuid {
        match self {
            DirectoryObject::User(u) => u.id,
            DirectoryObject::Group(g) => g.id,
            DirectoryObject::ServicePrincipal(s) => s.id,
        }
    }

    pub fn display_name(&self) -> Option<&str> {
        match self {
            DirectoryObject::User(u) => u.display_name.as_deref(),
            DirectoryObject::Group(g) => g.display_name.as_deref(),
            DirectoryObject::ServicePrincipal(s) => s.display_name.as_deref(),
        }
    }
}

/// A `directoryObject` of any type, as `memberOf`, `transitiveMemberOf`, `transitiveMembers` and
/// `owners` list them: groups and users, but also directory roles, administrative units, devices
/// or contacts, which the typed [`DirectoryObject`] does not name. Only the properties the
/// lifecycle commands read; the rest are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryItem {
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    pub id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_types: Vec<String>,
}

impl DirectoryItem {
    pub const GROUP: &'static str = "#microsoft.graph.group";
    pub const USER: &'static str = "#microsoft.graph.user";

    fn is(&self, odata_type: &str) -> bool {
        self.odata_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(odata_type))
    }

    pub fn is_group(&self) -> bool {
        self.is(Self::GROUP)
    }

    pub fn is_user(&self) -> bool {
        self.is(Self::USER)
    }

    /// The group's properties this item carries (`id`, `displayName`, `groupTypes`).
    pub fn as_group(&self) -> Group {
        Group {
            id: self.id,
            display_name: self.display_name.clone(),
            description: None,
            group_types: self.group_types.clone(),
            mail: None,
            mail_enabled: None,
            security_enabled: None,
            assigned_licenses: None,
        }
    }

    /// The user's properties this item carries (`id`, `displayName`, `userPrincipalName`).
    pub fn as_user(&self) -> User {
        User {
            id: self.id,
            user_principal_name: self.user_principal_name.clone(),
            display_name: self.display_name.clone(),
            mail: None,
            user_type: None,
            account_enabled: None,
            usage_location: None,
            deleted_date_time: None,
            assigned_licenses: None,
        }
    }
}

/// `licenseUnitsDetail` of a subscribed SKU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct LicenseUnits {
    #[serde(default)]
    pub enabled: i64,
    #[serde(default)]
    pub suspended: i64,
    #[serde(default)]
    pub warning: i64,
    #[serde(default)]
    pub locked_out: i64,
}

/// `microsoft.graph.subscribedSku`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribedSku {
    pub sku_id: Uuid,
    pub sku_part_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability_status: Option<String>,
    #[serde(default)]
    pub consumed_units: i64,
    #[serde(default)]
    pub prepaid_units: LicenseUnits,
}

/// `microsoft.graph.licenseDetails`: a license a user holds (directly or through a group).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseDetails {
    pub id: String,
    pub sku_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku_part_number: Option<String>,
}

/// The body of `POST /users/{id}/assignLicense` (and of groups).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignLicense {
    pub add_licenses: Vec<AssignedLicense>,
    pub remove_licenses: Vec<Uuid>,
}

/// The body of `POST /groups/{id}/members/$ref`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    #[serde(rename = "@odata.id")]
    pub odata_id: String,
}

/// Power BI SKU part numbers, as `subscribedSkus` names them.
pub mod sku {
    pub const PRO: &str = "POWER_BI_PRO";
    pub const PREMIUM_PER_USER: &str = "PBI_PREMIUM_PER_USER";
    pub const FREE: &str = "POWER_BI_STANDARD";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_told_apart_by_odata_type() {
        let items: Vec<DirectoryObject> = serde_json::from_value(serde_json::json!([
            {"@odata.type": "#microsoft.graph.user", "id": "6f1e3c1a-0000-4000-8000-000000000001", "userPrincipalName": "a@x.com",
             "accountEnabled": true, "userType": "Guest", "businessPhones": []},
            {"@odata.type": "#microsoft.graph.group", "id": "6f1e3c1a-0000-4000-8000-000000000002", "groupTypes": ["Unified"]},
            {"@odata.type": "#microsoft.graph.servicePrincipal", "id": "6f1e3c1a-0000-4000-8000-000000000003", "displayName": "app"}
        ]))
        .unwrap();
        assert!(matches!(&items[0], DirectoryObject::User(u) if u.is_guest() && u.account_enabled == Some(true)));
        assert!(matches!(&items[1], DirectoryObject::Group(g) if g.is_microsoft365()));
        assert_eq!(items[2].display_name(), Some("app"));
    }

    #[test]
    fn membership_items_of_any_type_are_read() {
        let items: Vec<DirectoryItem> = serde_json::from_value(serde_json::json!([
            {"@odata.type": "#microsoft.graph.group", "id": "6f1e3c1a-0000-4000-8000-000000000002", "displayName": "G",
             "groupTypes": ["Unified"], "securityEnabled": true},
            {"@odata.type": "#microsoft.graph.directoryRole", "id": "6f1e3c1a-0000-4000-8000-000000000004", "displayName": "Global Reader",
             "roleTemplateId": "f2ef992c-3afb-46b9-b7cf-a126ee74c451"},
            {"@odata.type": "#microsoft.graph.user", "id": "6f1e3c1a-0000-4000-8000-000000000001", "userPrincipalName": "a@x.com"}
        ]))
        .unwrap();
        assert!(items[0].is_group() && items[0].as_group().is_microsoft365());
        assert!(!items[1].is_group() && !items[1].is_user());
        assert_eq!(items[2].as_user().user_principal_name.as_deref(), Some("a@x.com"));
    }
}
