//! What the service shows: workspaces and who holds which role, with a fingerprint that
//! changes whenever any of it does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    Viewer,
    Contributor,
    Member,
    Admin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PrincipalKind {
    User,
    Group,
    App,
}

/// A principal as the service names it: UPN (lowercased) for users, object id for groups/apps.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PrincipalKey {
    pub kind: PrincipalKind,
    pub identifier: String,
}

impl PrincipalKey {
    pub fn new(kind: PrincipalKind, identifier: &str) -> PrincipalKey {
        PrincipalKey { kind, identifier: identifier.trim().to_lowercase() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceState {
    pub id: String,
    pub name: String,
    /// Direct role assignments (a list in JSON: map keys must be strings there).
    #[serde(with = "members_as_list")]
    pub members: BTreeMap<PrincipalKey, Role>,
}

mod members_as_list {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{PrincipalKey, Role};

    #[derive(Serialize, Deserialize)]
    struct Entry {
        #[serde(flatten)]
        principal: PrincipalKey,
        role: Role,
    }

    pub fn serialize<S: Serializer>(map: &BTreeMap<PrincipalKey, Role>, s: S) -> Result<S::Ok, S::Error> {
        map.iter().map(|(p, r)| Entry { principal: p.clone(), role: *r }).collect::<Vec<_>>().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<PrincipalKey, Role>, D::Error> {
        Ok(Vec::<Entry>::deserialize(d)?.into_iter().map(|e| (e.principal, e.role)).collect())
    }
}

/// The observed state of the workspaces a plan touches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedState {
    pub workspaces: BTreeMap<String, WorkspaceState>,
}

impl ObservedState {
    /// SHA-256 over a canonical form (sorted maps, lowercase identifiers).
    pub fn fingerprint(&self) -> String {
        let canonical =
            serde_json::to_vec(&self.workspaces.values().map(|w| (&w.id, w.members.iter().collect::<Vec<_>>())).collect::<Vec<_>>())
                .unwrap_or_default();
        Sha256::digest(canonical).iter().map(|b| format!("{b:02x}")).collect()
    }
}
