//! Artifacts inside workspaces (datasets, reports, dashboards, dataflows, workbooks, apps), the
//! capacities workspaces run on, the direct permissions on them and subscriptions.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use super::rights::{self, Rights};
use super::{PrincipalKind, PrincipalRef, Role, UserType};

/// The kinds of item a workspace holds, as stored in `artifacts.kind`. The names are the
/// Swagger's `ArtifactType` values where it has one (`Workbook` and `Datamart` extend it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ArtifactKind {
    Report,
    PaginatedReport,
    Dashboard,
    /// A semantic model.
    Dataset,
    Dataflow,
    Workbook,
    App,
    Datamart,
}

impl ArtifactKind {
    /// Every kind, in the order artifact types are documented.
    pub const ALL: [ArtifactKind; 8] = [
        ArtifactKind::Report,
        ArtifactKind::PaginatedReport,
        ArtifactKind::Dashboard,
        ArtifactKind::Dataset,
        ArtifactKind::Dataflow,
        ArtifactKind::Workbook,
        ArtifactKind::App,
        ArtifactKind::Datamart,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::Report => "Report",
            ArtifactKind::PaginatedReport => "PaginatedReport",
            ArtifactKind::Dashboard => "Dashboard",
            ArtifactKind::Dataset => "Dataset",
            ArtifactKind::Dataflow => "Dataflow",
            ArtifactKind::Workbook => "Workbook",
            ArtifactKind::App => "App",
            ArtifactKind::Datamart => "Datamart",
        }
    }

    /// Whether the API has a user list for the kind, so direct permissions can be granted on it
    /// (workbooks have none).
    pub fn has_permissions(self) -> bool {
        self != ArtifactKind::Workbook
    }

    /// The name of the right a workspace role gives on an item of this kind, in the kind's own
    /// enum: see [`rights::inherited`].
    pub fn right_from_role(self, role: Role) -> &'static str {
        rights::name(self, rights::inherited(self, role)).unwrap_or("None")
    }

    /// The values of the kind's access-right enum, without `None`, weakest first.
    pub fn rights(self) -> Vec<&'static str> {
        rights::names(self).collect()
    }
}

impl FromStr for ArtifactKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ArtifactKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            format!("unknown artifact kind '{s}' (one of Report, PaginatedReport, Dashboard, Dataset, Dataflow, Workbook, App, Datamart)")
        })
    }
}

impl fmt::Display for ArtifactKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub workspace_id: Uuid,
    pub kind: ArtifactKind,
    pub name: String,
    pub description: Option<String>,
    /// The dataset a report is bound to.
    pub dataset_id: Option<Uuid>,
    /// The owner (`configuredBy`), a UPN.
    pub configured_by: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
}

impl Artifact {
    /// Whether `upn` is the artifact's owner (`configuredBy`), ignoring case as UPNs do.
    pub fn is_owned_by(&self, upn: &str) -> bool {
        self.configured_by.as_deref().is_some_and(|o| o.eq_ignore_ascii_case(upn))
    }
}

/// A direct permission on an artifact, with what the directory says about its principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactUser {
    pub principal: PrincipalRef,
    pub rights: Rights,
    /// UPN for users.
    pub upn: Option<String>,
    pub mail: Option<String>,
    pub display_name: Option<String>,
    pub user_type: Option<UserType>,
}

impl ArtifactUser {
    /// The `identifier` Power BI shows: the UPN of a user, the object id of a group or app.
    pub fn identifier(&self) -> String {
        match (self.principal.kind, &self.upn) {
            (PrincipalKind::User, Some(upn)) => upn.clone(),
            _ => self.principal.object_id.to_string(),
        }
    }
}

/// Who has access to an artifact and with which rights: the workspace's role assignments (their
/// rights derived from the role) and the direct permissions, one entry per principal, workspace
/// roles first in the order they were granted, then principals with direct permissions only.
pub fn access_list(kind: ArtifactKind, members: &[super::Member], direct: &[ArtifactUser]) -> Vec<ArtifactUser> {
    let mut out: Vec<ArtifactUser> = Vec::with_capacity(members.len() + direct.len());
    for m in members.iter().filter(|m| m.profile_id.is_none()) {
        let own = direct.iter().find(|d| d.principal.object_id == m.principal.object_id).map(|d| d.rights).unwrap_or_default();
        out.push(ArtifactUser {
            principal: m.principal,
            rights: rights::combine(kind, rights::inherited(kind, m.role), own),
            upn: m.upn.clone(),
            mail: m.mail.clone(),
            display_name: m.display_name.clone(),
            user_type: m.user_type,
        });
    }
    for d in direct {
        if !out.iter().any(|o| o.principal.object_id == d.principal.object_id) {
            out.push(d.clone());
        }
    }
    out
}

/// `capacityUserAccessRight` without `None`: Assign < Admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CapacityRight {
    Assign,
    Admin,
}

impl CapacityRight {
    pub fn as_str(self) -> &'static str {
        match self {
            CapacityRight::Assign => "Assign",
            CapacityRight::Admin => "Admin",
        }
    }
}

impl FromStr for CapacityRight {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "Assign" => Ok(CapacityRight::Assign),
            "Admin" => Ok(CapacityRight::Admin),
            other => Err(format!("unknown capacity access right '{other}' (Admin or Assign)")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capacity {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub display_name: String,
    pub sku: String,
    pub region: String,
    /// `CapacityState`: `Active`, `Suspended`, …
    pub state: String,
}

/// A principal's right on a capacity, with what the directory says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapacityUser {
    pub principal: PrincipalRef,
    pub right: CapacityRight,
    pub upn: Option<String>,
    pub mail: Option<String>,
    pub display_name: Option<String>,
    pub user_type: Option<UserType>,
}

impl CapacityUser {
    pub fn identifier(&self) -> String {
        match (self.principal.kind, &self.upn) {
            (PrincipalKind::User, Some(upn)) => upn.clone(),
            _ => self.principal.object_id.to_string(),
        }
    }
}

/// An email subscription to a report or dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: Uuid,
    pub artifact_id: Uuid,
    pub owner_id: Uuid,
    pub title: String,
    pub frequency: String,
    pub is_enabled: bool,
    /// Unix milliseconds.
    pub start_date: i64,
    pub end_date: i64,
    pub attachment_format: String,
    /// The report page.
    pub sub_artifact_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Member;

    fn member(id: u128, role: Role) -> Member {
        Member {
            principal: PrincipalRef { kind: PrincipalKind::User, object_id: Uuid::from_u128(id) },
            role,
            profile_id: None,
            upn: Some(format!("u{id}@x.test")),
            mail: None,
            display_name: None,
            user_type: None,
            deleted_at: None,
            app_id: None,
        }
    }

    fn direct(id: u128, kind: ArtifactKind, right: &str) -> ArtifactUser {
        ArtifactUser {
            principal: PrincipalRef { kind: PrincipalKind::User, object_id: Uuid::from_u128(id) },
            rights: rights::parse(kind, right).unwrap(),
            upn: Some(format!("u{id}@x.test")),
            mail: None,
            display_name: None,
            user_type: None,
        }
    }

    #[test]
    fn access_list_merges_roles_and_direct_permissions_once_per_principal() {
        let k = ArtifactKind::Dataset;
        let list = access_list(k, &[member(1, Role::Viewer), member(2, Role::Admin)], &[direct(1, k, "ReadExplore"), direct(3, k, "Read")]);
        let names: Vec<(u128, &str)> = list.iter().map(|u| (u.principal.object_id.as_u128(), rights::name(k, u.rights).unwrap())).collect();
        assert_eq!(names, vec![(1, "ReadExplore"), (2, "ReadWriteReshareExplore"), (3, "Read")]);
    }

    #[test]
    fn kinds_parse_and_print() {
        for k in ArtifactKind::ALL {
            assert_eq!(k.as_str().parse::<ArtifactKind>(), Ok(k));
        }
        assert!("Notebook".parse::<ArtifactKind>().is_err());
        assert!("Workspace".parse::<ArtifactKind>().is_err(), "a workspace is not an item");
    }
}
