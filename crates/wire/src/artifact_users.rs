//! Principals and their access rights on Power BI items other than workspaces: the Swagger's
//! `User`, the per-item `*User` types of the admin lists, the dataset-permission bodies, and the
//! deployment-pipeline and gateway-datasource users. Field names are the Swagger's.

use serde::{Deserialize, Serialize};

use crate::powerbi::{PrincipalType, ServicePrincipalProfile};

// The per-item user types and their access-right enums are the server's own (`crate::artifacts`),
// so client and server read and write one contract.
pub use crate::artifacts::{
    AppUser, AppUserAccessRight, CapacityUser, CapacityUserAccessRight, DashboardUser, DashboardUserAccessRight, DataflowUser,
    DataflowUserAccessRight, DatasetUser, DatasetUserAccess, DatasetUserAccessRight, ReportUser, ReportUserAccessRight,
};

/// The body of `POST …/datasets/{id}/users` has the shape of `DatasetUserAccess`; the server
/// accepts only the four `DatasetUserAccessRightEntry` values there.
pub type PostDatasetUserAccess = DatasetUserAccess;

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
    /// `PipelineUserAccessRight`.
    PipelineUserAccessRight { Admin }
}

extensible_enum! {
    /// `DatasourceUserAccessRight`.
    DatasourceUserAccessRight { None, Read, ReadOverrideEffectiveIdentity }
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
