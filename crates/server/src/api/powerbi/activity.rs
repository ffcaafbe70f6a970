//! The activity events the server records for the changes it makes, in the shape of the
//! service's activity log: who (`UserId`, `UserKey`, `UserType`), what (`Activity`,
//! `Operation`), where (`WorkspaceId`, `WorkSpaceName`), and the activity's own fields.
//!
//! Activity names come from the service's operation list: `AddGroupMembers`,
//! `UpdateWorkspaceAccess` and `DeleteGroupMembers` for the workspace endpoints,
//! `AddWorkspaceRoleViaAdminApi`, `UpdateWorkspaceRoleViaAdminApi` and
//! `DeleteWorkspaceRoleViaAdminApi` for the admin ones, `CreateFolder` and `DeleteFolder` for
//! workspaces (see docs/fidelity.md).
//!
//! Directory changes made through SCIM and Graph that change who reaches Power BI are recorded
//! too ([`Origin`] is the store's [`DirAuditor`]), under Entra ID's audit activity names
//! (`Add member to group`, `Remove member from group`, `Delete group`, `Update user`,
//! `Delete user`, `Restore user`, `Change user license`, `Set group license`) with
//! `Workload` `AzureActiveDirectory`: see docs/fidelity.md, "Directory changes in the activity log".

use axum::http::HeaderMap;
use serde_json::json;
use uuid::Uuid;

use crate::domain::identity::DirChange;
use crate::domain::policy::Effect;
use crate::domain::{Caller, CallerKind, PrincipalKind, PrincipalRef};
use crate::store::{ActivityEvent, DirAuditor};
use crate::telemetry::REQUEST_ID;

/// Who made a change, and the request it came in.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The UPN of a user; the object id of a service principal.
    pub user_id: String,
    /// The caller's object id.
    pub user_key: String,
    /// The audit schema's `UserType`: 0 (Regular) for users, 6 (ServicePrincipal) for apps.
    pub user_type: i64,
    pub request_id: Option<String>,
    pub user_agent: Option<String>,
}

impl Origin {
    pub fn new(caller: &Caller, headers: &HeaderMap) -> Origin {
        let header = |name: &axum::http::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (user_id, user_type) = match &caller.kind {
            CallerKind::User { upn } => (upn.clone(), 0),
            CallerKind::App { .. } => (caller.object_id.to_string(), 6),
        };
        Origin {
            user_id,
            user_key: caller.object_id.to_string(),
            user_type,
            request_id: header(&REQUEST_ID),
            user_agent: header(&axum::http::header::USER_AGENT),
        }
    }

    /// The tenant's SCIM provisioning client, which has no object id of its own: `UserId`
    /// `ScimProvisioning`, `UserKey` the tenant id, `UserType` 6 (an application).
    pub fn provisioning(tenant: Uuid, headers: &HeaderMap) -> Origin {
        let header = |name: &axum::http::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        Origin {
            user_id: SCIM_USER_ID.to_string(),
            user_key: tenant.to_string(),
            user_type: 6,
            request_id: header(&REQUEST_ID),
            user_agent: header(&axum::http::header::USER_AGENT),
        }
    }

    fn event(
        &self,
        activity: &str,
        now: i64,
        workspace: Option<Uuid>,
        mut item: serde_json::Map<String, serde_json::Value>,
    ) -> ActivityEvent {
        item.insert("UserType".into(), self.user_type.into());
        if let Some(id) = &self.request_id {
            item.insert("RequestId".into(), id.clone().into());
        }
        if let Some(agent) = &self.user_agent {
            item.insert("UserAgent".into(), agent.clone().into());
        }
        ActivityEvent {
            id: Uuid::new_v4(),
            creation_time: now,
            activity: activity.to_string(),
            operation: activity.to_string(),
            user_id: self.user_id.clone(),
            user_key: self.user_key.clone(),
            workspace_id: workspace,
            item: serde_json::Value::Object(item),
        }
    }

    /// A workspace created (`CreateFolder`) or deleted (`DeleteFolder`).
    pub fn workspace_event(&self, activity: &str, now: i64, workspace: Uuid, name: &str) -> ActivityEvent {
        let item = json!({
            "FolderObjectId": workspace.to_string(),
            "FolderDisplayName": name,
            "WorkSpaceName": name,
            "ObjectId": workspace.to_string(),
            "ItemName": name,
        });
        self.event(activity, now, Some(workspace), into_map(item))
    }

    /// A role granted, changed or removed, through the workspace endpoints (`admin` false) or
    /// the admin ones. `None` when nothing changed.
    pub fn membership_event(&self, admin: bool, now: i64, change: &MembershipChange<'_>, effect: Effect) -> Option<ActivityEvent> {
        let (activity, right) = match (admin, effect) {
            (_, Effect::Nothing) => return None,
            (false, Effect::Insert(role)) => ("AddGroupMembers", role.as_str()),
            (false, Effect::SetRole(role)) => ("UpdateWorkspaceAccess", role.as_str()),
            (false, Effect::Delete) => ("DeleteGroupMembers", "None"),
            (true, Effect::Insert(role)) => ("AddWorkspaceRoleViaAdminApi", role.as_str()),
            (true, Effect::SetRole(role)) => ("UpdateWorkspaceRoleViaAdminApi", role.as_str()),
            (true, Effect::Delete) => ("DeleteWorkspaceRoleViaAdminApi", "None"),
        };
        let mut access = json!({
            "UserId": change.target.object_id.to_string(),
            "GroupUserAccessRight": right,
            "UserType": change.target.kind.as_str(),
        });
        if change.target.kind == PrincipalKind::User {
            access["UserEmail"] = change.identifier.into();
        }
        if let Some(profile) = change.profile {
            access["ProfileId"] = profile.to_string().into();
        }
        let item = json!({
            "WorkSpaceName": change.workspace_name,
            "ObjectId": change.workspace.to_string(),
            "ItemName": change.workspace_name,
            "MembershipInformation": [{ "MemberEmail": change.identifier }],
            "WorkspaceAccessList": [{ "WorkspaceId": change.workspace.to_string(), "UserAccessList": [access] }],
        });
        Some(self.event(activity, now, Some(change.workspace), into_map(item)))
    }
}

/// The activities of directory (Entra ID audit) events, which `GET /admin/activityevents`
/// returns only with `audit.entra_events_in_activity_log`.
pub const DIRECTORY_ACTIVITIES: &[&str] = &[
    "Add member to group",
    "Remove member from group",
    "Delete group",
    "Update user",
    "Delete user",
    "Restore user",
    "Change user license",
    "Set group license",
];

/// The `UserId` of changes made through SCIM.
pub const SCIM_USER_ID: &str = "ScimProvisioning";

impl DirAuditor for Origin {
    /// Entra ID's audit activity name and fields (`ObjectId`, `Target`, `ModifiedProperties` with
    /// JSON-array string values, `ResultStatus`), `Workload` `AzureActiveDirectory`, `RecordType` 8.
    fn event(&self, now: i64, change: &DirChange<'_>) -> ActivityEvent {
        let property = |name: &str, old: serde_json::Value, new: serde_json::Value| json!({ "Name": name, "OldValue": old.to_string(), "NewValue": new.to_string() });
        let user_target = |id: Uuid, upn: &str| json!([{ "ID": id.to_string(), "Type": "User" }, { "ID": upn, "Type": "UPN" }]);
        let group_target = |id: Uuid| json!([{ "ID": id.to_string(), "Type": "Group" }]);
        let (activity, object, target, properties) = match change {
            DirChange::MemberAdded { group, member, kind, label } | DirChange::MemberRemoved { group, member, kind, label } => {
                let added = matches!(change, DirChange::MemberAdded { .. });
                let wrap = |v: String| if added { (json!([]), json!([v])) } else { (json!([v]), json!([])) };
                let (old_id, new_id) = wrap(group.id.to_string());
                let (old_name, new_name) = wrap(group.display_name.clone());
                let member_type = if *kind == PrincipalKind::App { "ServicePrincipal" } else { kind.as_str() };
                (
                    if added { "Add member to group" } else { "Remove member from group" },
                    label.clone(),
                    json!([{ "ID": member.to_string(), "Type": member_type }]),
                    vec![property("Group.ObjectID", old_id, new_id), property("Group.DisplayName", old_name, new_name)],
                )
            }
            DirChange::GroupDeleted { group } => ("Delete group", group.id.to_string(), group_target(group.id), vec![]),
            DirChange::AccountEnabled { user, enabled } => (
                "Update user",
                user.upn.clone(),
                user_target(user.id, &user.upn),
                vec![property("AccountEnabled", json!([!enabled]), json!([enabled]))],
            ),
            DirChange::UserDeleted { user } => ("Delete user", user.upn.clone(), user_target(user.id, &user.upn), vec![]),
            DirChange::UserRestored { user } => ("Restore user", user.upn.clone(), user_target(user.id, &user.upn), vec![]),
            DirChange::UserLicenses { user, before, after } => (
                "Change user license",
                user.upn.clone(),
                user_target(user.id, &user.upn),
                vec![property("AssignedLicense", sku_list(before), sku_list(after))],
            ),
            DirChange::GroupLicenses { group, before, after } => (
                "Set group license",
                group.id.to_string(),
                group_target(group.id),
                vec![property("AssignedLicense", sku_list(before), sku_list(after))],
            ),
        };
        let item = json!({
            "RecordType": 8,
            "Workload": "AzureActiveDirectory",
            "ResultStatus": "Success",
            "ObjectId": object,
            "Target": target,
            "ModifiedProperties": properties,
        });
        self.event(activity, now, None, into_map(item))
    }
}

fn sku_list(skus: &[Uuid]) -> serde_json::Value {
    serde_json::Value::Array(skus.iter().map(|s| s.to_string().into()).collect())
}

/// The membership change an event describes.
#[derive(Debug, Clone)]
pub struct MembershipChange<'a> {
    pub workspace: Uuid,
    pub workspace_name: &'a str,
    pub target: PrincipalRef,
    /// How the request named the principal (UPN or mail of a user, object id otherwise).
    pub identifier: &'a str,
    pub profile: Option<Uuid>,
}

fn into_map(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}
