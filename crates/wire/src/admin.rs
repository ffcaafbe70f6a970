//! The admin audit surface (Swagger definitions, Swagger field names): workspaces as the admin
//! sees them, a user's artifact access and subscriptions, the activity log, and the scanner
//! (WorkspaceInfo) API.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::powerbi::GroupUser;

/// `AdminGroup`: a workspace in `GET /admin/groups`. The expandable lists are present only when
/// `$expand` names them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminGroup {
    pub id: Uuid,
    pub name: String,
    #[serde(default)]
    pub is_read_only: bool,
    #[serde(default)]
    pub is_on_dedicated_capacity: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_id: Option<Uuid>,
    /// `Small` or `Large`; only on dedicated capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_dataset_storage_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `GroupType`: `Workspace`, `PersonalGroup`, `Personal` or `Group`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `Active`, `Orphaned` (no Admin), `Deleted`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default)]
    pub has_workspace_level_settings: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<GroupUser>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reports: Option<Vec<AdminReport>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboards: Option<Vec<AdminDashboard>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datasets: Option<Vec<AdminDataset>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataflows: Option<Vec<AdminDataflow>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workbooks: Option<Vec<Workbook>>,
}

/// `AdminReport` (the fields pbi-access knows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminReport {
    pub id: Uuid,
    pub name: String,
    /// `PowerBIReport` or `PaginatedReport`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminDashboard {
    pub id: Uuid,
    pub display_name: String,
    #[serde(default)]
    pub is_read_only: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminDataset {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configured_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The Swagger's examples write it in camelCase, as here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_storage_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminDataflow {
    pub object_id: Uuid,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configured_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Workbook {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_id: Option<String>,
}

/// `ArtifactAccessResponse` of `GET /admin/users/{userId}/artifactAccess`. On the last page both
/// continuation fields are absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactAccessResponse {
    #[serde(rename = "@odata.context", default, skip_serializing_if = "Option::is_none")]
    pub odata_context: Option<String>,
    pub artifact_access_entities: Vec<ArtifactAccessEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_uri: Option<String>,
    /// Percent-encoded, as the service sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
}

/// `ArtifactAccessEntry`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactAccessEntry {
    pub artifact_id: String,
    pub display_name: String,
    /// `ArtifactType`: `Report`, `PaginatedReport`, `Dashboard`, `Dataset`, `Dataflow`, `Workspace`, `Capacity`, `App`, …
    pub artifact_type: String,
    /// In the artifact's own access-right enum (`ReportUserAccessRight`, `DatasetUserAccessRight`, …).
    pub access_right: String,
    /// How the access is held: `Workspace` (a workspace role), `Direct` or `Group` (a permission).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_type: Option<String>,
}

/// `SubscriptionsByUserResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionsByUserResponse {
    #[serde(rename = "@odata.context", default, skip_serializing_if = "Option::is_none")]
    pub odata_context: Option<String>,
    pub subscription_entities: Vec<Subscription>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
}

/// `Subscription`. Dates use the service's `M/d/yyyy h:mm:ss AM` form, as its examples do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_artifact_display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default)]
    pub is_enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    #[serde(default)]
    pub link_to_content: bool,
    #[serde(default)]
    pub preview_image: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment_format: Option<String>,
    /// Always empty from this API (the field is deprecated).
    #[serde(default)]
    pub users: Vec<serde_json::Value>,
}

/// `ActivityEventResponse`, with the documented `lastResultSet`. The continuation fields are
/// `null` on the last page. Events are free-form PascalCase objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityEventResponse<E = serde_json::Value> {
    pub activity_event_entities: Vec<E>,
    pub continuation_uri: Option<String>,
    pub continuation_token: Option<String>,
    pub last_result_set: bool,
}

/// `RequiredWorkspaces`, the body of `POST /admin/workspaces/getInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequiredWorkspaces {
    pub workspaces: Vec<Uuid>,
}

/// `ScanRequest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanRequest {
    pub id: Uuid,
    pub created_date_time: String,
    /// `NotStarted`, `Running`, `Succeeded`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ApiErrorDetail>,
}

/// `PowerBIApiErrorResponseDetail`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiErrorDetail {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// `WorkspaceInfoResponse`, the result of a scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceInfoResponse {
    pub workspaces: Vec<WorkspaceInfo>,
    #[serde(default)]
    pub datasource_instances: Vec<serde_json::Value>,
    #[serde(default)]
    pub misconfigured_datasource_instances: Vec<serde_json::Value>,
}

/// `WorkspaceInfo`. `users` is present only when the scan asked for `getArtifactUsers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceInfo {
    pub id: Uuid,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub state: String,
    #[serde(default)]
    pub is_on_dedicated_capacity: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_dataset_storage_format: Option<String>,
    #[serde(default)]
    pub reports: Vec<ScanArtifact>,
    #[serde(default)]
    pub dashboards: Vec<ScanArtifact>,
    #[serde(default)]
    pub datasets: Vec<ScanArtifact>,
    #[serde(default)]
    pub dataflows: Vec<ScanArtifact>,
    #[serde(default)]
    pub datamarts: Vec<ScanArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<GroupUser>>,
}

/// An artifact in a scan result (`WorkspaceInfoReport`, `…Dashboard`, `…Dataset`, `…Dataflow`,
/// `…Datamart`). Dashboards carry `displayName` instead of `name`, dataflows `objectId` instead
/// of `id`; `users` carries each principal with the kind's own access-right field
/// (`reportUserAccessRight`, `datasetUserAccessRight`, …), which is why it is free-form here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanArtifact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configured_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<serde_json::Value>>,
}

/// `ModifiedWorkspace`, an item of the bare array `GET /admin/workspaces/modified` returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModifiedWorkspace {
    pub id: Uuid,
}
