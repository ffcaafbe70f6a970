//! What the admin audit surface reads: the items, workspaces and capacities a user reaches, how
//! to compare access rights of one kind, artifact and subscription records, scans.

use std::str::FromStr;

use uuid::Uuid;

// The one artifact kind; seeding names it by this path too.
pub use super::artifacts::ArtifactKind;

/// What artifact access lists: items of every kind, and the workspaces and capacities themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccessKind {
    Item(ArtifactKind),
    /// A workspace, listed with the user's role as its access right.
    Workspace,
    /// A capacity, listed with the user's capacity right (`Admin`, `Assign`).
    Capacity,
}

impl AccessKind {
    /// Every kind, in the order artifact types are documented.
    pub const ALL: [AccessKind; 10] = [
        AccessKind::Item(ArtifactKind::Report),
        AccessKind::Item(ArtifactKind::PaginatedReport),
        AccessKind::Item(ArtifactKind::Dashboard),
        AccessKind::Item(ArtifactKind::Dataset),
        AccessKind::Item(ArtifactKind::Dataflow),
        AccessKind::Item(ArtifactKind::Workbook),
        AccessKind::Item(ArtifactKind::App),
        AccessKind::Item(ArtifactKind::Datamart),
        AccessKind::Workspace,
        AccessKind::Capacity,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccessKind::Item(kind) => kind.as_str(),
            AccessKind::Workspace => "Workspace",
            AccessKind::Capacity => "Capacity",
        }
    }

    pub fn item(self) -> Option<ArtifactKind> {
        match self {
            AccessKind::Item(kind) => Some(kind),
            _ => None,
        }
    }
}

impl FromStr for AccessKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AccessKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| format!("unknown artifact kind '{s}'"))
    }
}

/// A total order on access rights of one kind: the owner-like rights first, then by how many
/// capabilities a right names (Read, Write, Reshare, Explore, Copy), then by their weight.
pub fn right_rank(right: &str) -> u32 {
    match right {
        "Owner" | "All" | "Admin" => return 1000,
        "Member" => return 900,
        "Contributor" => return 800,
        "Viewer" => return 700,
        "Assign" => return 100,
        _ => {}
    }
    let mut rank = 0;
    for (word, weight) in [("Write", 16), ("Reshare", 8), ("Explore", 4), ("Copy", 2), ("Read", 1)] {
        if right.contains(word) {
            rank += 100 + weight;
        }
    }
    rank
}

/// How a principal holds access to an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShareType {
    /// Through a workspace role (its own, a group's, or a Microsoft 365 backing group's).
    Workspace,
    /// A permission on the item granted to the principal itself.
    Direct,
    /// A permission granted to a group the principal belongs to.
    Group,
}

impl ShareType {
    pub fn as_str(self) -> &'static str {
        match self {
            ShareType::Workspace => "Workspace",
            ShareType::Direct => "Direct",
            ShareType::Group => "Group",
        }
    }
}

/// One item a user reaches, with the strongest right among the paths that reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactAccess {
    pub id: Uuid,
    pub kind: AccessKind,
    pub name: String,
    pub right: String,
    pub share: ShareType,
}

/// An artifact row as the admin reads show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRecord {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub kind: ArtifactKind,
    pub name: String,
    pub description: Option<String>,
    pub dataset_id: Option<Uuid>,
    pub configured_by: Option<String>,
    pub created_at: i64,
    pub modified_at: i64,
}

/// A principal's direct permission on an artifact, with what the directory says about the
/// principal. `member` is the principal as a workspace list shows it; its `role` means nothing
/// here (`right` is what the permission grants).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactGrant {
    pub artifact_id: Uuid,
    pub member: super::Member,
    pub right: String,
}

/// A subscription with the artifact it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRecord {
    pub id: Uuid,
    pub title: String,
    pub artifact_id: Uuid,
    pub artifact_name: String,
    pub artifact_kind: ArtifactKind,
    pub sub_artifact_name: Option<String>,
    pub frequency: String,
    pub is_enabled: bool,
    pub start_date: i64,
    pub end_date: i64,
    pub attachment_format: String,
}

/// A workspace as the admin sees it: deleted ones included, and `Orphaned` when no Admin holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminWorkspace {
    pub workspace: super::Workspace,
    pub modified_at: i64,
    /// The row's `version`, moved by every role change under the workspace's lock: a rendering
    /// of its users made at this version is exact while the directory generation holds too.
    pub version: i64,
}

/// A stored scan of the scanner API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanRecord {
    pub id: Uuid,
    pub created_at: i64,
    /// When it counts as `Succeeded`.
    pub ready_at: i64,
    /// The `WorkspaceInfoResponse`, computed when the scan was requested.
    pub result_json: String,
}

impl ScanRecord {
    /// `NotStarted` for the first half of the scan's duration, `Running` for the second, then
    /// `Succeeded`.
    pub fn status(&self, now: i64) -> &'static str {
        if now >= self.ready_at {
            "Succeeded"
        } else if now >= self.created_at + (self.ready_at - self.created_at) / 2 {
            "Running"
        } else {
            "NotStarted"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    #[test]
    fn ranks_order_rights_within_each_kind() {
        for kind in ArtifactKind::ALL {
            for role in [Role::Viewer, Role::Contributor, Role::Member, Role::Admin] {
                let right = kind.right_from_role(role);
                assert!(kind.rights().contains(&right), "{kind:?} {role:?} gives {right}, not in its enum");
            }
        }
        assert!(right_rank("ReadWriteReshareExplore") > right_rank("ReadWriteExplore"));
        assert!(right_rank("ReadWriteExplore") > right_rank("ReadReshare"));
        assert!(right_rank("ReadReshare") > right_rank("Read"));
        assert!(right_rank("Owner") > right_rank("ReadWrite"));
        assert!(right_rank("Admin") > right_rank("Member"));
        assert!(right_rank("Admin") > right_rank("Assign"));
    }
}
