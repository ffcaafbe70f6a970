//! The admin audit surface (Swagger definitions, Swagger field names): workspaces as the admin
//! sees them, a user's artifact access and subscriptions, the activity log, and the scanner
//! (WorkspaceInfo) API. One set of types for the server (which writes them) and the client
//! (which reads them from pbi-access or from the real service): every type serializes and
//! deserializes. Reading is lenient where the service's own examples disagree with the Swagger's
//! schema (non-GUID subscription ids, `lastResultSet`), strings the service may omit default to
//! empty, and the expandable items keep the fields pbi-access does not name in `extra`.

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

/// `AdminGroup`: a workspace in `GET /admin/groups`. The expandable lists are present only when
/// `$expand` names them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminGroup {
    pub id: Uuid,
    #[serde(default)]
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
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<GroupType>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataflow_storage_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_analytics_workspace: Option<AzureResource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_id: Option<Uuid>,
    /// In the Swagger's examples (`Migrated`), not in its schema; pbi-access does not send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_migration_status: Option<String>,
}

/// `AdminReport`: the fields pbi-access knows, and the rest of the service's in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminReport {
    pub id: Uuid,
    #[serde(default)]
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
    /// Fields of the service's `AdminReport` that pbi-access does not name (`webUrl`, `users`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `AdminDashboard`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminDashboard {
    pub id: Uuid,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub is_read_only: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<Uuid>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminDataset {
    pub id: String,
    #[serde(default)]
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
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `AdminDataflow`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminDataflow {
    pub object_id: Uuid,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configured_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<Uuid>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `Workbook`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Workbook {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_id: Option<String>,
}

/// A page of a per-user admin list: its entities, under the list's own name (`E` holds them), and
/// the way to the next page. On the last page both continuation fields are absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContinuedPage<E> {
    #[serde(rename = "@odata.context", default, skip_serializing_if = "Option::is_none")]
    pub odata_context: Option<String>,
    #[serde(flatten)]
    pub entities: E,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_uri: Option<String>,
    /// Percent-encoded, as the service sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
}

/// `ArtifactAccessResponse` of `GET /admin/users/{userId}/artifactAccess`.
pub type ArtifactAccessResponse = ContinuedPage<ArtifactAccessEntities>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactAccessEntities {
    #[serde(default)]
    pub artifact_access_entities: Vec<ArtifactAccessEntry>,
}

/// `ArtifactAccessEntry`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactAccessEntry {
    pub artifact_id: String,
    pub display_name: String,
    /// pbi-access also lists `Workbook` and `Datamart` (kept as `ArtifactType::Other`).
    pub artifact_type: ArtifactType,
    /// In the artifact's own access-right enum (`ReportUserAccessRight`, `DatasetUserAccessRight`, …).
    pub access_right: String,
    /// How the access is held: `Workspace` (a workspace role), `Direct` or `Group` (a permission).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_type: Option<String>,
    /// Who shared the item (the service's widely-shared lists); pbi-access does not send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharer: Option<User>,
}

/// `SubscriptionsByUserResponse`.
pub type SubscriptionsByUserResponse = ContinuedPage<SubscriptionEntities>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionEntities {
    #[serde(default)]
    pub subscription_entities: Vec<Subscription>,
}

/// `Subscription`. Dates use the service's `M/d/yyyy h:mm:ss AM` form, as its examples do. The
/// Swagger types `id` and `artifactId` as GUIDs, but its own example has a non-hex id, so they
/// are strings.
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
    pub users: Vec<User>,
}

/// `ActivityEventResponse`, with the documented `lastResultSet` (in the docs' example, not in the
/// Swagger; pbi-access always sends it). The continuation fields are `null` on the last page.
/// Events are free-form objects with PascalCase keys (`Id`, `CreationTime`, `Activity`, …).
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
    #[serde(default)]
    pub created_date_time: String,
    /// `NotStarted`, `Running`, `Succeeded`, `Failed`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<PowerBiApiErrorResponseDetail>,
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

/// `WorkspaceInfoResponse`, the result of a scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceInfoResponse {
    #[serde(default)]
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
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<GroupType>,
    #[serde(default)]
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
    /// Fields of the service's `WorkspaceInfo` that pbi-access does not name (`dataRetrievalState`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
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
    pub users: Option<Vec<Value>>,
    /// The kind's other fields (`sensitivityLabel`, `tables`, `endorsementDetails`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `ModifiedWorkspace`, an item of the bare array `GET /admin/workspaces/modified` returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModifiedWorkspace {
    pub id: Uuid,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde::de::DeserializeOwned;
    use serde_json::json;

    use super::*;
    use crate::powerbi::{GroupUserAccessRight, PrincipalType};

    /// Serialize, check every key is a property of the Swagger definition (`allowed`, copied
    /// from `powerbi-swagger.json`, plus the documented extras), and read it back unchanged.
    #[track_caller]
    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T, allowed: &[&str]) -> Value {
        let json = serde_json::to_value(value).unwrap();
        let keys: BTreeSet<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        let unknown: Vec<&&str> = keys.iter().filter(|k| !allowed.contains(k)).collect();
        assert!(unknown.is_empty(), "not Swagger field names: {unknown:?} in {json}");
        let back: T = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(&back, value);
        json
    }

    const ADMIN_GROUP: &[&str] = &[
        "capacityId",
        "dashboards",
        "dataflowStorageId",
        "dataflows",
        "datasets",
        "defaultDatasetStorageFormat",
        "description",
        "hasWorkspaceLevelSettings",
        "id",
        "isOnDedicatedCapacity",
        "isReadOnly",
        "logAnalyticsWorkspace",
        "name",
        "pipelineId",
        "reports",
        "state",
        "type",
        "users",
        "workbooks",
        // In the Swagger's examples only.
        "capacityMigrationStatus",
    ];
    const ADMIN_REPORT: &[&str] = &[
        "appId",
        "createdBy",
        "createdDateTime",
        "datasetId",
        "description",
        "embedUrl",
        "id",
        "isOwnedByMe",
        "modifiedBy",
        "modifiedDateTime",
        "name",
        "originalReportId",
        "reportType",
        "subscriptions",
        "users",
        "webUrl",
        "workspaceId",
    ];
    // The schema spells `CreatedDate`; the service and the Swagger's examples write `createdDate`.
    const ADMIN_DATASET: &[&str] = &[
        "configuredBy",
        "createdDate",
        "description",
        "id",
        "name",
        "targetStorageMode",
        "upstreamDataflows",
        "users",
        "webUrl",
        "workspaceId",
    ];
    const ARTIFACT_ACCESS_ENTRY: &[&str] = &["accessRight", "artifactId", "artifactType", "displayName", "shareType", "sharer"];
    const ARTIFACT_ACCESS_RESPONSE: &[&str] = &["artifactAccessEntities", "continuationToken", "continuationUri", "@odata.context"];
    const SUBSCRIPTION: &[&str] = &[
        "artifactDisplayName",
        "artifactId",
        "artifactType",
        "attachmentFormat",
        "endDate",
        "frequency",
        "id",
        "isEnabled",
        "linkToContent",
        "previewImage",
        "startDate",
        "subArtifactDisplayName",
        "title",
        "users",
    ];
    // `lastResultSet` is the docs' addition.
    const ACTIVITY: &[&str] = &["activityEventEntities", "continuationToken", "continuationUri", "lastResultSet"];
    const SCAN_REQUEST: &[&str] = &["createdDateTime", "error", "id", "status"];
    const WORKSPACE_INFO_RESPONSE: &[&str] = &["datasourceInstances", "misconfiguredDatasourceInstances", "workspaces"];
    const WORKSPACE_INFO: &[&str] = &[
        "capacityId",
        "dashboards",
        "dataRetrievalState",
        "dataflows",
        "datamarts",
        "datasets",
        "defaultDatasetStorageFormat",
        "description",
        "id",
        "isOnDedicatedCapacity",
        "name",
        "reports",
        "state",
        "type",
        "users",
    ];

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn admin_group_round_trips_with_swagger_names() {
        let report = AdminReport {
            id: id(2),
            name: "Sales".into(),
            report_type: Some("PowerBIReport".into()),
            dataset_id: Some(id(3).to_string()),
            description: None,
            created_date_time: Some("2024-01-01T00:00:00.000Z".into()),
            modified_date_time: None,
            workspace_id: Some(id(1)),
            extra: Map::new(),
        };
        let dataset = AdminDataset {
            id: id(3).to_string(),
            name: "Model".into(),
            configured_by: Some("a@contoso.com".into()),
            description: None,
            created_date: Some("2024-01-01T00:00:00.000Z".into()),
            target_storage_mode: Some("Abf".into()),
            workspace_id: Some(id(1)),
            extra: Map::new(),
        };
        let group = AdminGroup {
            id: id(1),
            name: "Team".into(),
            is_read_only: false,
            is_on_dedicated_capacity: true,
            capacity_id: Some(id(9)),
            default_dataset_storage_format: Some("Small".into()),
            description: Some("d".into()),
            kind: Some(GroupType::Workspace),
            state: Some("Active".into()),
            has_workspace_level_settings: false,
            users: Some(vec![GroupUser::email("a@contoso.com", GroupUserAccessRight::Admin)]),
            reports: Some(vec![report.clone()]),
            dashboards: Some(vec![]),
            datasets: Some(vec![dataset.clone()]),
            dataflows: None,
            workbooks: Some(vec![Workbook { name: "b.xlsx".into(), dataset_id: None }]),
            dataflow_storage_id: None,
            log_analytics_workspace: None,
            pipeline_id: None,
            capacity_migration_status: None,
        };
        let json = round_trip(&group, ADMIN_GROUP);
        assert_eq!(json["type"], "Workspace");
        round_trip(&report, ADMIN_REPORT);
        round_trip(&dataset, ADMIN_DATASET);
    }

    #[test]
    fn audit_reads_round_trip_with_swagger_names() {
        let entry = ArtifactAccessEntry {
            artifact_id: id(4).to_string(),
            display_name: "Sales".into(),
            artifact_type: ArtifactType::Report,
            access_right: "ReadWrite".into(),
            share_type: Some("Direct".into()),
            sharer: None,
        };
        round_trip(&entry, ARTIFACT_ACCESS_ENTRY);
        let page = ArtifactAccessResponse {
            odata_context: None,
            entities: ArtifactAccessEntities { artifact_access_entities: vec![entry] },
            continuation_uri: Some("https://x/artifactAccess?continuationToken='a'".into()),
            continuation_token: Some("a".into()),
        };
        round_trip(&page, ARTIFACT_ACCESS_RESPONSE);
        let subscription = Subscription {
            id: id(5).to_string(),
            title: Some("Daily".into()),
            artifact_id: Some(id(4).to_string()),
            artifact_display_name: Some("Sales".into()),
            sub_artifact_display_name: None,
            artifact_type: Some("Report".into()),
            is_enabled: true,
            frequency: Some("Daily".into()),
            start_date: Some("8/10/2021 12:00:00 AM".into()),
            end_date: Some("8/10/2022 12:00:00 AM".into()),
            link_to_content: true,
            preview_image: true,
            attachment_format: Some("PNG".into()),
            users: vec![],
        };
        round_trip(&subscription, SUBSCRIPTION);
        let events = ActivityEventResponse {
            activity_event_entities: vec![json!({"Id": "x", "Activity": "ViewReport"}).as_object().unwrap().clone()],
            continuation_uri: None,
            continuation_token: None,
            last_result_set: Some(true),
        };
        let json = round_trip(&events, ACTIVITY);
        assert!(json["continuationUri"].is_null() && json["continuationToken"].is_null(), "null on the last page: {json}");
    }

    #[test]
    fn scanner_types_round_trip_with_swagger_names() {
        let scan =
            ScanRequest { id: id(6), created_date_time: "2020-06-15T16:46:28.0487687Z".into(), status: "NotStarted".into(), error: None };
        round_trip(&scan, SCAN_REQUEST);
        let mut user = GroupUser::email("a@contoso.com", GroupUserAccessRight::Viewer);
        user.principal_type = Some(PrincipalType::User);
        let info = WorkspaceInfo {
            id: id(1),
            name: "Team".into(),
            description: None,
            kind: Some(GroupType::Workspace),
            state: "Active".into(),
            is_on_dedicated_capacity: false,
            capacity_id: None,
            default_dataset_storage_format: None,
            reports: vec![ScanArtifact {
                id: Some(id(2)),
                object_id: None,
                name: Some("Sales".into()),
                display_name: None,
                description: None,
                report_type: Some("PowerBIReport".into()),
                dataset_id: None,
                configured_by: None,
                created_date_time: None,
                modified_date_time: None,
                users: Some(vec![json!({"reportUserAccessRight": "Read", "identifier": "a@contoso.com"})]),
                extra: Map::new(),
            }],
            dashboards: vec![],
            datasets: vec![],
            dataflows: vec![],
            datamarts: vec![],
            users: Some(vec![user]),
            extra: Map::new(),
        };
        round_trip(&info, WORKSPACE_INFO);
        let result =
            WorkspaceInfoResponse { workspaces: vec![info], datasource_instances: vec![], misconfigured_datasource_instances: vec![] };
        let json = round_trip(&result, WORKSPACE_INFO_RESPONSE);
        assert_eq!(json["datasourceInstances"], json!([]), "always sent");
        round_trip(&RequiredWorkspaces { workspaces: vec![id(1)] }, &["workspaces"]);
        round_trip(&ModifiedWorkspace { id: id(1) }, &["id"]);
    }

    #[test]
    fn the_services_own_examples_parse() {
        let access: ArtifactAccessResponse = serde_json::from_str(
            r#"{"artifactAccessEntities":[{"artifactId":"41ce06d1-d81b-4ea0-bc6d-2ce3dd2f8e87","displayName":"test report",
            "artifactType":"Report","accessRight":"ReadWrite"}],
            "continuationUri":"https://api.powerbi.com/v1.0/myorg/admin/users/f089354e-8366-4e18-aea3-4cb4a3a50b48/artifactAccess?continuationToken='LDEsMTAwMDAwLDA%3D'",
            "continuationToken":"LDEsMTAwMDAwLDA%3D"}"#,
        )
        .unwrap();
        assert_eq!(access.entities.artifact_access_entities[0].artifact_type, ArtifactType::Report);
        assert_eq!(access.continuation_token.as_deref(), Some("LDEsMTAwMDAwLDA%3D"));

        let subs: SubscriptionsByUserResponse = serde_json::from_str(
            r#"{"subscriptionEntities":[{"id":"9225d0bc-9f5e-4819-a637-799c0c4fh3f1","title":"Team Scorecard-test",
            "artifactId":"0b50f0bf-b22b-4685-83b9-b6d17f7f4e46","artifactType":"Report","isEnabled":false,"frequency":"Daily",
            "startDate":"8/10/2021 12:00:00 AM","endDate":"8/10/2022 12:00:00 AM","users":[]}]}"#,
        )
        .unwrap();
        assert_eq!(subs.entities.subscription_entities[0].id, "9225d0bc-9f5e-4819-a637-799c0c4fh3f1");
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
            "reports":[{"id":"5b218778-e7a5-4d73-8187-f10824047715","name":"SalesMarketing","webUrl":"https://app.powerbi.com/x"}]}"#,
        )
        .unwrap();
        assert_eq!(group.kind, Some(GroupType::Workspace));
        assert_eq!(group.users.unwrap()[0].email_address.as_deref(), Some("john@contoso.com"));
        let report = &group.reports.unwrap()[0];
        assert_eq!(report.extra["webUrl"], "https://app.powerbi.com/x", "fields pbi-access does not name are kept");
    }
}
