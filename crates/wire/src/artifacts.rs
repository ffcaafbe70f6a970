//! Power BI REST v1.0 schemas of artifacts (datasets, reports, dashboards, dataflows), capacities,
//! the per-artifact user lists and their access-right enums, with the Swagger's field names.
//!
//! Where the Swagger's definitions and its own examples disagree on a property's case
//! (`IsRefreshable` in `DatasetMiscProperties`, `isRefreshable` in the examples), the examples'
//! camelCase is used: it is what the service sends. `DataflowUser` declares
//! `DataflowUserAccessRight` with a capital D, but its `required` list and example use
//! `dataflowUserAccessRight`, which is what is sent here.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::powerbi::PrincipalType;

macro_rules! access_right {
    ($(#[$doc:meta])* $name:ident { $($variant:ident),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($variant),*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => stringify!($variant)),*
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $(stringify!($variant) => Ok($name::$variant),)*
                    other => Err(format!("'{other}' is not a {}", stringify!($name))),
                }
            }
        }
    };
}

access_right! {
    /// `DatasetUserAccessRight`. `None` removes (PUT); POST takes only the four values of
    /// `DatasetUserAccessRightEntry`: `Read`, `ReadReshare`, `ReadExplore`, `ReadReshareExplore`.
    DatasetUserAccessRight { None, Read, ReadWrite, ReadReshare, ReadWriteReshare, ReadExplore, ReadReshareExplore, ReadWriteExplore, ReadWriteReshareExplore }
}

access_right! {
    /// `ReportUserAccessRight`. `Owner` is Read, Write and Reshare.
    ReportUserAccessRight { None, Read, ReadWrite, ReadReshare, ReadCopy, Owner }
}

access_right! {
    /// `DashboardUserAccessRight`.
    DashboardUserAccessRight { None, Read, ReadWrite, ReadReshare, ReadCopy, Owner }
}

access_right! {
    /// `DataflowUserAccessRight`.
    DataflowUserAccessRight { None, Read, ReadWrite, ReadReshare, Owner }
}

access_right! {
    /// `AppUserAccessRight`. `All` is Read, Write, Explore, Reshare and Copy.
    AppUserAccessRight {
        None, Read, ReadWrite, ReadReshare, ReadWriteReshare, ReadExplore, ReadCopy, ReadExploreCopy, ReadReshareExplore,
        ReadReshareExploreCopy, ReadWriteExplore, ReadWriteReshareExplore, ReadWriteExploreCopy, ReadReshareCopy, All,
    }
}

access_right! {
    /// `capacityUserAccessRight`.
    CapacityUserAccessRight { None, Assign, Admin }
}

/// `Principal` + `datasetUserAccessRight`: the body of `POST`/`PUT …/datasets/{id}/users`
/// (`PostDatasetUserAccess`, `DatasetUserAccess`) and the item of their `GET` (`DatasetUsersAccess`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetUserAccess {
    /// The UPN of a user, the object id of a group or app.
    pub identifier: String,
    pub principal_type: PrincipalType,
    pub dataset_user_access_right: DatasetUserAccessRight,
}

macro_rules! artifact_user {
    ($(#[$doc:meta])* $name:ident, $field:ident: $right:ty, $json:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            pub identifier: String,
            pub principal_type: PrincipalType,
            #[serde(rename = $json)]
            pub $field: $right,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub email_address: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub display_name: Option<String>,
            /// Object id in Microsoft Graph (admin APIs).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub graph_id: Option<String>,
            /// `Member` or `Guest`, for users.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub user_type: Option<String>,
        }
    };
}

artifact_user!(
    /// `ReportUser`, the item of `GET /admin/reports/{reportId}/users`.
    ReportUser, report_user_access_right: ReportUserAccessRight, "reportUserAccessRight"
);
artifact_user!(
    /// `DashboardUser`, the item of `GET /admin/dashboards/{dashboardId}/users`.
    DashboardUser, dashboard_user_access_right: DashboardUserAccessRight, "dashboardUserAccessRight"
);
artifact_user!(
    /// `DatasetUser`, the item of `GET /admin/datasets/{datasetId}/users`.
    DatasetUser, dataset_user_access_right: DatasetUserAccessRight, "datasetUserAccessRight"
);
artifact_user!(
    /// `DataflowUser`, the item of `GET /admin/dataflows/{dataflowId}/users`.
    DataflowUser, dataflow_user_access_right: DataflowUserAccessRight, "dataflowUserAccessRight"
);
artifact_user!(
    /// `AppUser`, the item of `GET /admin/apps/{appId}/users` (the Swagger gives it no `userType`,
    /// and none is sent).
    AppUser, app_user_access_right: AppUserAccessRight, "appUserAccessRight"
);
artifact_user!(
    /// `CapacityUser`, the item of `GET /admin/capacities/{capacityId}/users`.
    CapacityUser, capacity_user_access_right: CapacityUserAccessRight, "capacityUserAccessRight"
);

/// `Dataset` (a semantic model), as `GET /groups/{groupId}/datasets` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dataset {
    pub id: Uuid,
    pub name: String,
    #[serde(rename = "addRowsAPIEnabled", default)]
    pub add_rows_api_enabled: bool,
    /// The owner's UPN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configured_by: Option<String>,
    #[serde(default)]
    pub is_refreshable: bool,
    #[serde(default)]
    pub is_effective_identity_required: bool,
    #[serde(default)]
    pub is_effective_identity_roles_required: bool,
    #[serde(default)]
    pub is_on_prem_gateway_required: bool,
    /// `Abf` (small model format) or `PremiumFiles` (large).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_storage_mode: Option<String>,
    /// ISO 8601, UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `reportType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReportType {
    PowerBIReport,
    PaginatedReport,
}

/// `Report`, as `GET /groups/{groupId}/reports` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub id: Uuid,
    pub report_type: ReportType,
    pub name: String,
    /// The dataset the report is bound to; absent for paginated reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether the caller created the report.
    #[serde(default)]
    pub is_owned_by_me: bool,
}

/// `Dashboard`, as `GET /groups/{groupId}/dashboards` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dashboard {
    pub id: Uuid,
    pub display_name: String,
    #[serde(default)]
    pub is_read_only: bool,
}

/// `Dataflow` metadata, as `GET /groups/{groupId}/dataflows` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dataflow {
    pub object_id: Uuid,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configured_by: Option<String>,
}

/// `App`, as `GET /apps` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct App {
    pub id: Uuid,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// ISO 8601 date-time of the last publication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_by: Option<String>,
}

/// An item of an admin list (`AdminApp`, `AdminReport`, `AdminDataset`, `AdminDashboard`,
/// `AdminDataflow`): the item's own schema plus the `workspaceId` it is in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InWorkspace<T> {
    #[serde(flatten)]
    pub item: T,
    pub workspace_id: Uuid,
}

/// `Capacity`, as `GET /capacities` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capacity {
    pub id: Uuid,
    pub display_name: String,
    /// The UPNs of the capacity's admins.
    #[serde(default)]
    pub admins: Vec<String>,
    pub sku: String,
    /// `CapacityState`: `Active`, `Suspended`, … (an extensible enum).
    pub state: String,
    /// The caller's right on the capacity.
    pub capacity_user_access_right: CapacityUserAccessRight,
    pub region: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataflow_users_use_the_camel_case_field() {
        let user = DataflowUser {
            identifier: "a@b.c".into(),
            principal_type: PrincipalType::User,
            dataflow_user_access_right: DataflowUserAccessRight::Owner,
            email_address: None,
            display_name: None,
            graph_id: None,
            user_type: None,
        };
        let json = serde_json::to_value(&user).unwrap();
        assert_eq!(json["dataflowUserAccessRight"], "Owner");
        assert!(json.get("DataflowUserAccessRight").is_none());
    }

    #[test]
    fn access_rights_parse_their_own_names_only() {
        for right in DatasetUserAccessRight::ALL {
            assert_eq!(right.as_str().parse::<DatasetUserAccessRight>(), Ok(*right));
        }
        assert!("Owner".parse::<DatasetUserAccessRight>().is_err());
        assert_eq!(AppUserAccessRight::ALL.len(), 15);
    }

    #[test]
    fn dataset_uses_the_examples_field_names() {
        let json = serde_json::to_value(Dataset {
            id: Uuid::nil(),
            name: "Sales".into(),
            add_rows_api_enabled: false,
            configured_by: Some("john@contoso.com".into()),
            is_refreshable: true,
            is_effective_identity_required: false,
            is_effective_identity_roles_required: false,
            is_on_prem_gateway_required: false,
            target_storage_mode: None,
            created_date: None,
            description: None,
        })
        .unwrap();
        for key in [
            "addRowsAPIEnabled",
            "configuredBy",
            "isRefreshable",
            "isEffectiveIdentityRequired",
            "isEffectiveIdentityRolesRequired",
            "isOnPremGatewayRequired",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
    }
}
