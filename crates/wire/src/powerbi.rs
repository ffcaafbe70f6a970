//! Power BI REST v1.0 schemas (Swagger definitions), with the Swagger's exact field names.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `GroupUserAccessRight`: the role a principal holds in a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GroupUserAccessRight {
    None,
    Member,
    Admin,
    Contributor,
    Viewer,
}

impl GroupUserAccessRight {
    pub const ALL: [GroupUserAccessRight; 5] = [Self::None, Self::Member, Self::Admin, Self::Contributor, Self::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "None",
            Self::Member => "Member",
            Self::Admin => "Admin",
            Self::Contributor => "Contributor",
            Self::Viewer => "Viewer",
        }
    }
}

/// `PrincipalType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PrincipalType {
    /// Whole-organisation access.
    None,
    User,
    /// Security group, Microsoft 365 group or distribution list.
    Group,
    /// Service principal.
    App,
}

impl PrincipalType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "None",
            Self::User => "User",
            Self::Group => "Group",
            Self::App => "App",
        }
    }
}

/// `ServicePrincipalProfile` (Power BI Embedded multi-tenancy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipalProfile {
    pub id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// `GroupUser`: one principal's role in a workspace. Used as the request body of Add/Update Group
/// User (both body forms of the Swagger: `identifier` + `principalType`, or `emailAddress` alone)
/// and as the item of `GroupUsers` lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_type: Option<PrincipalType>,
    pub group_user_access_right: GroupUserAccessRight,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Object id in Microsoft Graph. Admin APIs only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_id: Option<String>,
    /// `Member` or `Guest`. Admin APIs only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<ServicePrincipalProfile>,
    /// When the principal was (soft-)deleted from the directory. pbi-access adds it to admin
    /// lists so a deleted account's lingering roles are visible; see docs/fidelity.md.
    #[serde(rename = "deletedDateTime", default, skip_serializing_if = "Option::is_none")]
    pub deleted_date_time: Option<String>,
    /// `Free`, `Pro` or `PremiumPerUser`: the user's effective Power BI license. Admin lists only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_type: Option<String>,
}

impl GroupUser {
    /// The `identifier` + `principalType` request form.
    pub fn principal(identifier: impl Into<String>, principal_type: PrincipalType, right: GroupUserAccessRight) -> Self {
        Self {
            identifier: Some(identifier.into()),
            principal_type: Some(principal_type),
            group_user_access_right: right,
            email_address: None,
            display_name: None,
            graph_id: None,
            user_type: None,
            profile: None,
            deleted_date_time: None,
            license_type: None,
        }
    }

    /// The `emailAddress`-only request form of the Swagger's examples.
    pub fn email(email: impl Into<String>, right: GroupUserAccessRight) -> Self {
        Self {
            identifier: None,
            principal_type: None,
            email_address: Some(email.into()),
            ..Self::principal("", PrincipalType::User, right)
        }
    }
}

/// `Group`: a workspace as `GET /groups` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: Uuid,
    pub name: String,
    #[serde(default)]
    pub is_read_only: bool,
    #[serde(default)]
    pub is_on_dedicated_capacity: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_dataset_storage_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataflow_storage_id: Option<Uuid>,
}

/// `GroupCreationRequest`, the body of `POST /groups`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupCreationRequest {
    pub name: String,
}

/// `UpdateGroupRequest`, the body of `PATCH /groups/{groupId}`: only the fields given change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateGroupRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `Small` or `Large`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_dataset_storage_format: Option<String>,
}

/// The Power BI error envelope: `{"error":{"code":…,"message":…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerBiErrorBody {
    pub error: PowerBiError,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerBiError {
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
