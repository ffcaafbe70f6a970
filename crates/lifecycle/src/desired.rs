//! The desired state, as people write it.
//!
//! ```yaml
//! workspaces:
//!   - workspace: Sales Analytics          # name or id
//!     exclusive: true                     # remove principals not listed (default)
//!     members:
//!       - { principal: alice@contoso.com, role: Member }
//!       - { principal: "group:Sales Analysts", role: Viewer }
//!       - { principal: "app:3f1c…", role: Admin }
//! ```

use serde::{Deserialize, Serialize};

use crate::state::{PrincipalKind, Role};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesiredState {
    pub workspaces: Vec<DesiredWorkspace>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesiredWorkspace {
    /// Name or id.
    pub workspace: String,
    /// Remove principals that hold a role but are not listed.
    #[serde(default = "yes")]
    pub exclusive: bool,
    #[serde(default)]
    pub members: Vec<DesiredMember>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesiredMember {
    /// A UPN, `group:<name or object id>` or `app:<name or object id>`.
    pub principal: String,
    pub role: Role,
}

/// A principal as written, before it is looked up.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PrincipalName {
    pub kind: PrincipalKind,
    pub name: String,
}

impl PrincipalName {
    pub fn parse(text: &str) -> Result<PrincipalName, DesiredError> {
        let text = text.trim();
        let (kind, name) = match text.split_once(':') {
            Some(("group", rest)) => (PrincipalKind::Group, rest),
            Some(("app", rest)) => (PrincipalKind::App, rest),
            Some(("user", rest)) => (PrincipalKind::User, rest),
            _ => (PrincipalKind::User, text),
        };
        let name = name.trim();
        if name.is_empty() || (kind == PrincipalKind::User && !name.contains('@')) {
            return Err(DesiredError::Principal(text.to_string()));
        }
        Ok(PrincipalName { kind, name: name.to_string() })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DesiredError {
    #[error("the desired state is not valid YAML for pbi-access: {0}")]
    Yaml(String),
    #[error("'{0}' is not a principal: write a UPN, group:<name or id> or app:<name or id>")]
    Principal(String),
    #[error("workspace '{0}' is listed twice")]
    DuplicateWorkspace(String),
    #[error("principal '{principal}' is listed twice in workspace '{workspace}'")]
    DuplicateMember { workspace: String, principal: String },
    #[error("workspace '{0}' would have no Admin")]
    NoAdmin(String),
}

impl DesiredState {
    /// Parse and check: principals well formed, nothing listed twice, an Admin in every
    /// exclusive workspace (the service refuses to remove the last one).
    pub fn from_yaml(text: &str) -> Result<DesiredState, DesiredError> {
        let state: DesiredState = yaml_serde::from_str(text).map_err(|e| DesiredError::Yaml(e.to_string()))?;
        let mut workspaces = std::collections::HashSet::new();
        for ws in &state.workspaces {
            if !workspaces.insert(ws.workspace.to_lowercase()) {
                return Err(DesiredError::DuplicateWorkspace(ws.workspace.clone()));
            }
            let mut seen = std::collections::HashSet::new();
            for m in &ws.members {
                let p = PrincipalName::parse(&m.principal)?;
                if !seen.insert((p.kind, p.name.to_lowercase())) {
                    return Err(DesiredError::DuplicateMember { workspace: ws.workspace.clone(), principal: m.principal.clone() });
                }
            }
            if ws.exclusive && !ws.members.iter().any(|m| m.role == Role::Admin) {
                return Err(DesiredError::NoAdmin(ws.workspace.clone()));
            }
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_principals_of_every_kind() {
        assert_eq!(
            PrincipalName::parse("Alice@Contoso.com").unwrap(),
            PrincipalName { kind: PrincipalKind::User, name: "Alice@Contoso.com".into() }
        );
        assert_eq!(PrincipalName::parse("group:Sales Analysts").unwrap().kind, PrincipalKind::Group);
        assert_eq!(PrincipalName::parse("app: 3f1c").unwrap(), PrincipalName { kind: PrincipalKind::App, name: "3f1c".into() });
        assert!(PrincipalName::parse("alice").is_err());
        assert!(PrincipalName::parse("group:").is_err());
    }

    #[test]
    fn checks_the_document() {
        let ok = "workspaces:\n  - workspace: Sales\n    members:\n      - { principal: a@x.com, role: Admin }\n      - { principal: 'group:G', role: Viewer }\n";
        assert_eq!(DesiredState::from_yaml(ok).unwrap().workspaces[0].members.len(), 2);
        let dup = "workspaces:\n  - workspace: S\n    members:\n      - { principal: a@x.com, role: Admin }\n      - { principal: A@X.com, role: Viewer }\n";
        assert!(matches!(DesiredState::from_yaml(dup), Err(DesiredError::DuplicateMember { .. })));
        let no_admin = "workspaces:\n  - workspace: S\n    members:\n      - { principal: a@x.com, role: Member }\n";
        assert!(matches!(DesiredState::from_yaml(no_admin), Err(DesiredError::NoAdmin(_))));
        let bad_role = "workspaces:\n  - workspace: S\n    members:\n      - { principal: a@x.com, role: Owner }\n";
        assert!(matches!(DesiredState::from_yaml(bad_role), Err(DesiredError::Yaml(_))));
        assert!(matches!(DesiredState::from_yaml("workspaces: 3"), Err(DesiredError::Yaml(_))));
    }
}
