//! Principals and roles between the store's model and Fabric's wire types.

use pbi_wire::fabric::{
    GroupDetails, GroupType, Principal, PrincipalType, ServicePrincipalDetails, UserDetails, WorkspaceRole, WorkspaceRoleAssignment,
};
use uuid::Uuid;

use super::error::FabricError;
use crate::app::AppState;
use crate::domain::{Member, PrincipalKind, PrincipalRef, Role};

pub fn role_json(role: Role) -> WorkspaceRole {
    match role {
        Role::Admin => WorkspaceRole::Admin,
        Role::Member => WorkspaceRole::Member,
        Role::Contributor => WorkspaceRole::Contributor,
        Role::Viewer => WorkspaceRole::Viewer,
    }
}

pub fn role_from_json(role: &WorkspaceRole) -> Result<Role, FabricError> {
    match role {
        WorkspaceRole::Admin => Ok(Role::Admin),
        WorkspaceRole::Member => Ok(Role::Member),
        WorkspaceRole::Contributor => Ok(Role::Contributor),
        WorkspaceRole::Viewer => Ok(Role::Viewer),
        WorkspaceRole::Other(other) => {
            Err(FabricError::invalid_input(format!("role '{other}' is not a workspace role: use Admin, Member, Contributor or Viewer")))
        }
    }
}

/// A role holder as Fabric shows it: id, `displayName`, `type` and the type's details.
pub fn principal_json(m: &Member) -> Principal {
    let (principal_type, user_details, group_details, service_principal_details) = match m.principal.kind {
        PrincipalKind::User => (PrincipalType::User, Some(UserDetails { user_principal_name: m.upn.clone() }), None, None),
        PrincipalKind::Group => (PrincipalType::Group, None, Some(GroupDetails { group_type: Some(GroupType::SecurityGroup) }), None),
        PrincipalKind::App => (PrincipalType::ServicePrincipal, None, None, Some(ServicePrincipalDetails { aad_app_id: m.app_id })),
    };
    Principal {
        id: m.principal.object_id,
        display_name: m.display_name.clone(),
        principal_type,
        user_details,
        group_details,
        service_principal_details,
        service_principal_profile_details: None,
    }
}

/// A workspace role assignment: its id is the principal's object id.
pub fn assignment_json(m: &Member) -> WorkspaceRoleAssignment {
    WorkspaceRoleAssignment { id: m.principal.object_id, principal: principal_json(m), role: role_json(m.role) }
}

/// The principal a request body names, looked up in the tenant's directory by object id and type.
pub async fn resolve(state: &AppState, tenant: Uuid, principal: &Principal) -> Result<PrincipalRef, FabricError> {
    let kind = match &principal.principal_type {
        PrincipalType::User => PrincipalKind::User,
        PrincipalType::Group => PrincipalKind::Group,
        PrincipalType::ServicePrincipal => PrincipalKind::App,
        PrincipalType::ServicePrincipalProfile => {
            return Err(FabricError::invalid_input(
                "principal type ServicePrincipalProfile: service principal profiles are not modelled by pbi-access (see docs/fidelity.md)",
            ))
        }
        PrincipalType::EntireTenant => return Err(FabricError::invalid_input("principal type EntireTenant cannot hold a workspace role")),
        PrincipalType::Other(other) => return Err(FabricError::invalid_input(format!("principal type '{other}' is not known"))),
    };
    state
        .store
        .resolve_principal(tenant, kind, &principal.id.to_string())
        .await?
        .filter(|p| p.kind == kind && p.object_id == principal.id)
        .ok_or_else(|| FabricError::principal_not_found(principal.id))
}
