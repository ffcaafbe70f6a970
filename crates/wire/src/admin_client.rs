//! Admin API shapes (`/v1.0/myorg/admin/...`) beyond workspace users: `GetGroupsAsAdmin`, the
//! per-user artifact-access and subscription lists, the activity log, and the scanner
//! (WorkspaceInfo) APIs. Field names are the Swagger's; where the Swagger's examples disagree
//! with its schema (non-GUID ids, `lastResultSet`), the types accept what the examples show.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::artifact_users::User;
use crate::powerbi::GroupUser;

extensible_enum! {
    /// `ArtifactType`.
    ArtifactType { Report, PaginatedReport, Dashboard, Dataset, Dataflow, PersonalGroup, Group, Workspace, Capacity, App }
}

extensible_enum! {
    /// `GroupType`: the workspace kind.
    GroupType { PersonalGroup, Personal, Group, Workspace }
}

/// `AzureResource`: the Log Analytics workspace of a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AzureResource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    pub subscription_id: Uuid,
    pub resource_group: String,
    pub resource_name: String,
}

/// `Workbook`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Workbook {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_id: Option<String>,
}

/// `AdminGroup`: a workspace as `GET /admin/groups` returns it. The expanded artifacts are kept as
/// JSON objects (`AdminReport`, `AdminDashboard`, … have dozens of optional fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminGroup {
    pub id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_read_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_on_dedicated_capacity: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataflow_storage_id: Option<Uuid>,
    /// `Small` or `Large`; only on dedicated capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_dataset_storage_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_analytics_workspace: Option<AzureResource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub group_type: Option<GroupType>,
    /// `Active`, `Orphaned`, `Deleted`, `Removing`, `Not found` (a free string in the Swagger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// With `$expand=users`. Deprecated by the Swagger; may be empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<GroupUser>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reports: Option<Vec<Map<String, Value>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboards: Option<Vec<Map<String, Value>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datasets: Option<Vec<Map<String, Value>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataflows: Option<Vec<Map<String, Value>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workbooks: Option<Vec<Workbook>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_workspace_level_settings: Option<bool>,
    /// In the Swagger's examples (`Migrated`), not in its schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_migration_status: Option<String>,
}

/// `ArtifactAccessEntry`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactAccessEntry {
    pub artifact_id: String,
    pub display_name: String,
    pub artifact_type: ArtifactType,
    /// A free string: the item's own access-right value (`ReadWrite`, `Owner`, …).
    pub access_right: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharer: Option<User>,
}

/// `ArtifactAccessResponse` (`GET /admin/users/{userId}/artifactAccess`), paged by continuation token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactAccessResponse {
    #[serde(rename = "@odata.context", default, skip_serializing_if = "Option::is_none")]
    pub odata_context: Option<String>,
    #[serde(default)]
    pub artifact_access_entities: Vec<ArtifactAccessEntry>,
    /// `…/artifactAccess?continuationToken='<token>'`; absent or null on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_uri: Option<String>,
    /// Already percent-encoded, sent back as `?continuationToken='<token>'`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
}

/// `Subscription`: an e-mail subscription. The Swagger types `id` and `artifactId` as GUIDs and
/// the dates as date-times, but its own example has a non-hex id and `8/10/2021 12:00:00 AM`
/// dates, so they are kept as strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_artifact_display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_to_content: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_image: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment_format: Option<String>,
    /// Always `[]` from `GetUserSubscriptionsAsAdmin` (deprecated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<User>>,
}

/// `SubscriptionsByUserResponse` (`GET /admin/users/{userId}/subscriptions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionsByUserResponse {
    #[serde(rename = "@odata.context", default, skip_serializing_if = "Option::is_none")]
    pub odata_context: Option<String>,
    #[serde(default)]
    pub subscription_entities: Vec<Subscription>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
}

/// `ActivityEventResponse` (`GET /admin/activityevents`). Events are free-form objects with
/// PascalCase keys (`Id`, `CreationTime`, `Activity`, `UserId`, …). `lastResultSet` is in the
/// docs' example, not in the Swagger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityEventResponse {
    #[serde(default)]
    pub activity_event_entities: Vec<Map<String, Value>>,
    #[serde(default)]
    pub continuation_uri: Option<String>,
    #[serde(default)]
    pub continuation_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_result_set: Option<bool>,
}

/// `RequiredWorkspaces`: the body of `POST /admin/workspaces/getInfo` (1 to 100 ids).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequiredWorkspaces {
    pub workspaces: Vec<Uuid>,
}

/// `PowerBIApiErrorResponseDetail`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerBiApiErrorResponseDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// `ScanRequest`: the answer of `getInfo` (202) and of `scanStatus`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanRequest {
    pub id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    /// `NotStarted`, `Running`, `Succeeded`, `Failed`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<PowerBiApiErrorResponseDetail>,
}

/// `WorkspaceInfo`: one workspace of a scan result. Artifacts stay JSON objects; fields this
/// type does not name are kept in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceInfo {
    pub id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub workspace_type: Option<GroupType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_on_dedicated_capacity: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_id: Option<Uuid>,
    /// With `getArtifactUsers=true` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<GroupUser>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dashboards: Vec<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub datasets: Vec<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dataflows: Vec<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub datamarts: Vec<Map<String, Value>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `WorkspaceInfoResponse`: the answer of `scanResult`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceInfoResponse {
    #[serde(default)]
    pub workspaces: Vec<WorkspaceInfo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub datasource_instances: Vec<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub misconfigured_datasource_instances: Vec<Map<String, Value>>,
}

/// `ModifiedWorkspace`: an item of the bare array `GET /admin/workspaces/modified` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModifiedWorkspace {
    pub id: Uuid,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swagger_examples_parse() {
        let access: ArtifactAccessResponse = serde_json::from_str(
            r#"{"artifactAccessEntities":[{"artifactId":"41ce06d1-d81b-4ea0-bc6d-2ce3dd2f8e87","displayName":"test report",
            "artifactType":"Report","accessRight":"ReadWrite"}],
            "continuationUri":"https://api.powerbi.com/v1.0/myorg/admin/users/f089354e-8366-4e18-aea3-4cb4a3a50b48/artifactAccess?continuationToken='LDEsMTAwMDAwLDA%3D'",
            "continuationToken":"LDEsMTAwMDAwLDA%3D"}"#,
        )
        .unwrap();
        assert_eq!(access.artifact_access_entities[0].artifact_type, ArtifactType::Report);
        assert_eq!(access.continuation_token.as_deref(), Some("LDEsMTAwMDAwLDA%3D"));

        let subs: SubscriptionsByUserResponse = serde_json::from_str(
            r#"{"subscriptionEntities":[{"id":"9225d0bc-9f5e-4819-a637-799c0c4fh3f1","title":"Team Scorecard-test",
            "artifactId":"0b50f0bf-b22b-4685-83b9-b6d17f7f4e46","artifactType":"Report","isEnabled":false,"frequency":"Daily",
            "startDate":"8/10/2021 12:00:00 AM","endDate":"8/10/2022 12:00:00 AM","users":[]}]}"#,
        )
        .unwrap();
        assert_eq!(subs.subscription_entities[0].id, "9225d0bc-9f5e-4819-a637-799c0c4fh3f1");
        assert!(subs.continuation_token.is_none());

        let events: ActivityEventResponse = serde_json::from_str(
            r#"{"activityEventEntities":[{"Id":"x","Activity":"ViewReport","CapacityId":"zy5bad4z"}],
            "continuationUri":null,"continuationToken":null,"lastResultSet":true}"#,
        )
        .unwrap();
        assert_eq!(events.activity_event_entities[0]["Activity"], "ViewReport");
        assert_eq!(events.last_result_set, Some(true));

        let group: AdminGroup = serde_json::from_str(
            r#"{"id":"EC1EE11F-845D-495E-82A3-9DAC2072305A","isReadOnly":false,"capacityMigrationStatus":"Migrated",
            "type":"Workspace","state":"Active","name":"WSv2Test12","users":[{"emailAddress":"john@contoso.com","groupUserAccessRight":"Admin"}],
            "reports":[]}"#,
        )
        .unwrap();
        assert_eq!(group.group_type, Some(GroupType::Workspace));
        assert_eq!(group.users.unwrap()[0].email_address.as_deref(), Some("john@contoso.com"));
    }
}
