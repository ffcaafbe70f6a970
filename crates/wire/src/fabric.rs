//! The Fabric REST API v1 (`https://api.fabric.microsoft.com/v1`): the workspace and
//! role-assignment schemas of `platform/swagger.json`, the admin ones of `admin/swagger.json`, and
//! the error body and paging fields of `common/definitions.json`, with their property names.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The Fabric API's resource (application ID URI). Entra issues tokens for it with the audience
/// of the Power BI service, whose second identifier URI it is.
pub const FABRIC_RESOURCE: &str = "https://api.fabric.microsoft.com";
/// `https://api.fabric.microsoft.com/.default`: the client-credentials scope of Fabric.
pub const FABRIC_DEFAULT_SCOPE: &str = "https://api.fabric.microsoft.com/.default";

extensible_enum! {
    /// `PrincipalType`: who holds a role. Additional types may be added over time.
    PrincipalType { User, ServicePrincipal, Group, ServicePrincipalProfile, EntireTenant }
}

extensible_enum! {
    /// `WorkspaceRole`.
    WorkspaceRole { Admin, Member, Contributor, Viewer }
}

extensible_enum! {
    /// `WorkspaceType`.
    WorkspaceType { Personal, Workspace, AdminWorkspace }
}

extensible_enum! {
    /// `GroupType` of a group principal's `groupDetails`.
    GroupType { Unknown, SecurityGroup, DistributionList }
}

/// `Principal` with the type's details (`UserPrincipal`, `GroupPrincipal`, …, flattened as the
/// discriminated schema puts them beside `id` and `type`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Principal {
    pub id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(rename = "type")]
    pub principal_type: PrincipalType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_details: Option<UserDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_details: Option<GroupDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_principal_details: Option<ServicePrincipalDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_principal_profile_details: Option<ServicePrincipalProfileDetails>,
}

impl Principal {
    /// A principal as a request body names it: id and type only.
    pub fn reference(id: Uuid, principal_type: PrincipalType) -> Principal {
        Principal {
            id,
            display_name: None,
            principal_type,
            user_details: None,
            group_details: None,
            service_principal_details: None,
            service_principal_profile_details: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_type: Option<GroupType>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipalDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad_app_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipalProfileDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_principal: Option<Box<Principal>>,
}

/// `WorkspaceRoleAssignment`: its `id` is the principal's id, as the service answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceRoleAssignment {
    pub id: Uuid,
    pub principal: Principal,
    pub role: WorkspaceRole,
}

/// `AddWorkspaceRoleAssignmentRequest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddWorkspaceRoleAssignmentRequest {
    pub principal: Principal,
    pub role: WorkspaceRole,
}

/// `UpdateWorkspaceRoleAssignmentRequest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateWorkspaceRoleAssignmentRequest {
    pub role: WorkspaceRole,
}

/// A page of a Fabric list: `value` plus `PaginatedResponse`'s `continuationToken` and
/// `continuationUri`, both absent on the last page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Paged<T> {
    pub value: Vec<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_uri: Option<String>,
}

/// `Workspace` (platform): what a caller with a role sees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Workspace {
    pub id: Uuid,
    pub display_name: String,
    pub description: String,
    #[serde(rename = "type")]
    pub workspace_type: WorkspaceType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_id: Option<Uuid>,
}

/// `Workspace` (admin): `Workspaces` pages carry them in `workspaces`, not `value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminWorkspace {
    pub id: Uuid,
    pub name: String,
    #[serde(rename = "type")]
    pub workspace_type: WorkspaceType,
    /// `Active` or `Deleted`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_id: Option<Uuid>,
}

/// `Workspaces` (admin).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminWorkspaces {
    pub workspaces: Vec<AdminWorkspace>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_uri: Option<String>,
}

/// `WorkspaceAccessDetailsResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceAccessDetailsResponse {
    pub access_details: Vec<WorkspaceAccessDetails>,
}

/// `WorkspaceAccessDetails`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceAccessDetails {
    pub principal: Principal,
    pub workspace_access_details: WorkspaceAccessDetail,
}

/// `WorkspaceAccessDetail`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceAccessDetail {
    #[serde(rename = "type")]
    pub workspace_type: WorkspaceType,
    pub workspace_role: WorkspaceRole,
}

/// `ItemAccessDetailsResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemAccessDetailsResponse {
    pub access_details: Vec<ItemAccessDetails>,
}

/// `AccessEntityResponse`: the items a user reaches (`GET /v1/admin/users/{userId}/access`),
/// paged like every Fabric list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessEntityResponse {
    pub access_entities: Vec<AccessEntity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_uri: Option<String>,
}

/// `AccessEntity`: one item and what the user may do with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessEntity {
    pub id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub item_access_details: ItemAccessDetail,
}

/// `ItemAccessDetails`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemAccessDetails {
    pub principal: Principal,
    pub item_access_details: ItemAccessDetail,
}

/// `ItemAccessDetail`: the item's type (`ItemType`), its `ItemPermissions`
/// (`Read`, `Write`, `Reshare`, `Explore`, `Execute`) and workload permissions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemAccessDetail {
    #[serde(rename = "type")]
    pub item_type: String,
    pub permissions: Vec<String>,
    #[serde(default)]
    pub additional_permissions: Vec<String>,
}

/// `ErrorResponse`: `errorCode`, `message`, `requestId`, `moreDetails`, `isRetriable`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    pub error_code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_details: Vec<ErrorResponseDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_retriable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related_resource: Option<ErrorRelatedResource>,
}

/// `ErrorResponseDetails`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponseDetails {
    pub error_code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related_resource: Option<ErrorRelatedResource>,
}

/// `ErrorRelatedResource`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorRelatedResource {
    pub resource_id: String,
    pub resource_type: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_assignment_has_the_swagger_names() {
        let ra = WorkspaceRoleAssignment {
            id: Uuid::nil(),
            principal: Principal {
                display_name: Some("Jacob".into()),
                user_details: Some(UserDetails { user_principal_name: Some("jacob@contoso.com".into()) }),
                ..Principal::reference(Uuid::nil(), PrincipalType::User)
            },
            role: WorkspaceRole::Member,
        };
        let json = serde_json::to_value(&ra).unwrap();
        assert_eq!(json["principal"]["type"], "User");
        assert_eq!(json["principal"]["displayName"], "Jacob");
        assert_eq!(json["principal"]["userDetails"]["userPrincipalName"], "jacob@contoso.com");
        assert_eq!(json["role"], "Member");
        assert!(json["principal"].get("groupDetails").is_none());
        let back: WorkspaceRoleAssignment = serde_json::from_value(json).unwrap();
        assert_eq!(back, ra);
    }

    #[test]
    fn an_error_has_fabric_fields_and_unknown_enums_survive() {
        let e = ErrorResponse {
            error_code: "WorkspaceNotFound".into(),
            message: "m".into(),
            request_id: Some("r".into()),
            more_details: vec![],
            is_retriable: None,
            related_resource: None,
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json, serde_json::json!({"errorCode": "WorkspaceNotFound", "message": "m", "requestId": "r"}));
        assert_eq!(serde_json::from_str::<WorkspaceRole>("\"Owner\"").unwrap(), WorkspaceRole::Other("Owner".into()));
    }
}
