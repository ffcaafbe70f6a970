//! Principals and their access rights on Power BI items other than workspaces: the Swagger's
//! `User`, the per-item `*User` types of the admin lists, the dataset-permission bodies, and the
//! deployment-pipeline and gateway-datasource users. Field names are the Swagger's.

use serde::{Deserialize, Serialize};

use crate::powerbi::{PrincipalType, ServicePrincipalProfile};

/// The Swagger's `User`: the principal part shared by every `*User` type. `identifier` and
/// `principalType` are required by the Swagger; they are optional here so that a client reading
/// an odd entry does not lose the whole page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_type: Option<PrincipalType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Object id in Microsoft Graph. Admin APIs only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<ServicePrincipalProfile>,
}

extensible_enum! {
    /// `ReportUserAccessRight`.
    ReportUserAccessRight { None, Read, ReadWrite, ReadReshare, ReadCopy, Owner }
}

extensible_enum! {
    /// `DashboardUserAccessRight`.
    DashboardUserAccessRight { None, Read, ReadWrite, ReadReshare, ReadCopy, Owner }
}

extensible_enum! {
    /// `DatasetUserAccessRight`.
    DatasetUserAccessRight {
        None, Read, ReadWrite, ReadReshare, ReadWriteReshare, ReadExplore, ReadReshareExplore, ReadWriteExplore, ReadWriteReshareExplore,
    }
}

extensible_enum! {
    /// `DatasetUserAccessRightEntry`: the rights `POST …/datasets/{id}/users` may grant.
    DatasetUserAccessRightEntry { Read, ReadReshare, ReadExplore, ReadReshareExplore }
}

extensible_enum! {
    /// `DataflowUserAccessRight`.
    DataflowUserAccessRight { None, Read, ReadWrite, ReadReshare, Owner }
}

extensible_enum! {
    /// `capacityUserAccessRight`.
    CapacityUserAccessRight { None, Assign, Admin }
}

extensible_enum! {
    /// `AppUserAccessRight`.
    AppUserAccessRight {
        None, Read, ReadWrite, ReadReshare, ReadWriteReshare, ReadExplore, ReadCopy, ReadExploreCopy, ReadReshareExplore,
        ReadReshareExploreCopy, ReadWriteExplore, ReadWriteReshareExplore, ReadWriteExploreCopy, ReadReshareCopy, All,
    }
}

extensible_enum! {
    /// `PipelineUserAccessRight`.
    PipelineUserAccessRight { Admin }
}

extensible_enum! {
    /// `DatasourceUserAccessRight`.
    DatasourceUserAccessRight { None, Read, ReadOverrideEffectiveIdentity }
}

/// `ReportUser` (`GET /admin/reports/{id}/users`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportUser {
    #[serde(flatten)]
    pub user: User,
    pub report_user_access_right: ReportUserAccessRight,
}

/// `DashboardUser` (`GET /admin/dashboards/{id}/users`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DashboardUser {
    #[serde(flatten)]
    pub user: User,
    pub dashboard_user_access_right: DashboardUserAccessRight,
}

/// `DatasetUser` (`GET /admin/datasets/{id}/users`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetUser {
    #[serde(flatten)]
    pub user: User,
    pub dataset_user_access_right: DatasetUserAccessRight,
}

/// `DataflowUser` (`GET /admin/dataflows/{id}/users`). The Swagger declares the property as
/// `DataflowUserAccessRight` but requires and shows `dataflowUserAccessRight`: both are read,
/// the camelCase one is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataflowUser {
    #[serde(flatten)]
    pub user: User,
    #[serde(rename = "dataflowUserAccessRight", alias = "DataflowUserAccessRight")]
    pub dataflow_user_access_right: DataflowUserAccessRight,
}

/// `CapacityUser` (`GET /admin/capacities/{id}/users`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapacityUser {
    #[serde(flatten)]
    pub user: User,
    pub capacity_user_access_right: CapacityUserAccessRight,
}

/// `AppUser` (`GET /admin/apps/{id}/users`). The Swagger redeclares the `User` fields rather than
/// extending it; the shape on the wire is the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppUser {
    #[serde(flatten)]
    pub user: User,
    pub app_user_access_right: AppUserAccessRight,
}

/// `DatasetUserAccess`: an item of `GET …/datasets/{id}/users`, and the body of `PUT` there
/// (`None` removes every right).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetUserAccess {
    pub identifier: String,
    pub principal_type: PrincipalType,
    pub dataset_user_access_right: DatasetUserAccessRight,
}

/// `PostDatasetUserAccess`: the body of `POST …/datasets/{id}/users`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostDatasetUserAccess {
    pub identifier: String,
    pub principal_type: PrincipalType,
    pub dataset_user_access_right: DatasetUserAccessRightEntry,
}

/// `PipelineUser`: an item of the pipeline user lists, and the body that adds or updates one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineUser {
    pub identifier: String,
    pub principal_type: PrincipalType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_right: Option<PipelineUserAccessRight>,
}

/// `DatasourceUser`: a principal allowed to use a gateway data source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasourceUser {
    pub datasource_access_right: DatasourceUserAccessRight,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_type: Option<PrincipalType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<ServicePrincipalProfile>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_access_rights_are_kept_not_refused() {
        let u: ReportUser =
            serde_json::from_str(r#"{"identifier":"a@b.c","principalType":"User","reportUserAccessRight":"ReadShiny"}"#).unwrap();
        assert_eq!(u.report_user_access_right, ReportUserAccessRight::Other("ReadShiny".into()));
        assert_eq!(serde_json::to_value(&u).unwrap()["reportUserAccessRight"], "ReadShiny");
        assert_eq!(u.user.identifier.as_deref(), Some("a@b.c"));
    }

    #[test]
    fn dataflow_users_read_both_spellings_and_write_camel_case() {
        for key in ["dataflowUserAccessRight", "DataflowUserAccessRight"] {
            let u: DataflowUser =
                serde_json::from_str(&format!(r#"{{"identifier":"x","principalType":"Group","{key}":"Owner"}}"#)).unwrap();
            assert_eq!(u.dataflow_user_access_right, DataflowUserAccessRight::Owner);
            assert!(serde_json::to_string(&u).unwrap().contains("\"dataflowUserAccessRight\":\"Owner\""));
        }
    }
}
