//! The activity events the server records for the changes it makes, in the shape of the
//! service's activity log: who (`UserId`, `UserKey`, `UserType`), what (`Activity`,
//! `Operation`), where (`WorkspaceId`, `WorkSpaceName`), and the activity's own fields.
//!
//! Activity names come from the service's operation list: `AddGroupMembers`,
//! `UpdateWorkspaceAccess` and `DeleteGroupMembers` for the workspace endpoints,
//! `AddWorkspaceRoleViaAdminApi`, `UpdateWorkspaceRoleViaAdminApi` and
//! `DeleteWorkspaceRoleViaAdminApi` for the admin ones, `CreateFolder` and `DeleteFolder` for
//! workspaces (see docs/fidelity.md).

use axum::http::HeaderMap;
use serde_json::json;
use uuid::Uuid;

use crate::domain::policy::Effect;
use crate::domain::{Caller, CallerKind, PrincipalKind, PrincipalRef};
use crate::store::ActivityEvent;
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

    fn event(&self, activity: &str, now: i64, workspace: Uuid, mut item: serde_json::Map<String, serde_json::Value>) -> ActivityEvent {
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
            workspace_id: Some(workspace),
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
        self.event(activity, now, workspace, into_map(item))
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
        Some(self.event(activity, now, change.workspace, into_map(item)))
    }
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
