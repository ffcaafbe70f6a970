//! The workspace access rules, as one pure function over facts read inside the store's
//! transaction. Keeping the decision pure makes every rule unit-testable and keeps SQL free of
//! policy; the store guarantees the facts are current (the workspace row is locked).

use super::Role;

/// On whose authority a change is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authority {
    /// A Fabric administrator through `/admin/...`: workspace roles are not consulted.
    TenantAdmin,
    /// A caller through the workspace endpoints, with the role it holds there (if any).
    Workspace(Option<Role>),
}

/// The requested change to one principal's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// `POST .../users`: grant a role to a principal that has none.
    Add(Role),
    /// `POST /admin/groups/{id}/users`: grant, or replace an existing role.
    Upsert(Role),
    /// `PUT .../users`: replace the role of an existing member.
    Update(Role),
    /// `DELETE .../users/{user}`.
    Remove,
}

/// What the store knows, under lock, when it asks for a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    pub authority: Authority,
    pub target_role: Option<Role>,
    /// Principals holding the Admin role now.
    pub admins: u32,
    /// Principals (users, groups, apps) holding any role now.
    pub principals: u32,
    pub principal_limit: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Insert(Role),
    SetRole(Role),
    Delete,
    Nothing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The caller has no role: the workspace is invisible to it (404, as Power BI answers).
    WorkspaceNotVisible,
    /// The caller's role does not allow the change.
    NotAuthorized {
        role: Role,
        reason: &'static str,
    },
    AlreadyMember {
        role: Role,
    },
    NotMember,
    LastAdmin,
    PrincipalLimit {
        limit: u32,
    },
}

pub fn decide(facts: &Facts, change: Change) -> Result<Effect, Refusal> {
    authorize(facts.authority, change)?;
    match change {
        Change::Add(role) => match facts.target_role {
            Some(existing) => Err(Refusal::AlreadyMember { role: existing }),
            None => insert(facts, role),
        },
        Change::Upsert(role) => match facts.target_role {
            Some(_) => set_role(facts, role),
            None => insert(facts, role),
        },
        Change::Update(role) => set_role(facts, role),
        Change::Remove => match facts.target_role {
            None => Err(Refusal::NotMember),
            Some(Role::Admin) if facts.admins <= 1 => Err(Refusal::LastAdmin),
            Some(_) => Ok(Effect::Delete),
        },
    }
}

fn authorize(authority: Authority, change: Change) -> Result<(), Refusal> {
    let role = match authority {
        Authority::TenantAdmin => return Ok(()),
        Authority::Workspace(None) => return Err(Refusal::WorkspaceNotVisible),
        Authority::Workspace(Some(role)) => role,
    };
    match (role, change) {
        (Role::Admin, _) => Ok(()),
        (Role::Member, Change::Add(Role::Admin)) => {
            Err(Refusal::NotAuthorized { role, reason: "a Member can add principals as Member, Contributor or Viewer, not as Admin" })
        }
        (Role::Member, Change::Add(_)) => Ok(()),
        (Role::Member, _) => Err(Refusal::NotAuthorized { role, reason: "only a workspace Admin can change a role or remove a principal" }),
        (Role::Contributor | Role::Viewer, _) => {
            Err(Refusal::NotAuthorized { role, reason: "Contributors and Viewers cannot manage workspace access" })
        }
    }
}

fn insert(facts: &Facts, role: Role) -> Result<Effect, Refusal> {
    if facts.principals >= facts.principal_limit {
        return Err(Refusal::PrincipalLimit { limit: facts.principal_limit });
    }
    Ok(Effect::Insert(role))
}

fn set_role(facts: &Facts, role: Role) -> Result<Effect, Refusal> {
    match facts.target_role {
        None => Err(Refusal::NotMember),
        Some(existing) if existing == role => Ok(Effect::Nothing),
        Some(Role::Admin) if facts.admins <= 1 => Err(Refusal::LastAdmin),
        Some(_) => Ok(Effect::SetRole(role)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(authority: Authority, target: Option<Role>) -> Facts {
        Facts { authority, target_role: target, admins: 2, principals: 5, principal_limit: 1000 }
    }
    const ADMIN: Authority = Authority::Workspace(Some(Role::Admin));
    const MEMBER: Authority = Authority::Workspace(Some(Role::Member));

    #[test]
    fn member_may_add_below_admin_only() {
        for role in [Role::Member, Role::Contributor, Role::Viewer] {
            assert_eq!(decide(&facts(MEMBER, None), Change::Add(role)), Ok(Effect::Insert(role)));
        }
        assert!(matches!(decide(&facts(MEMBER, None), Change::Add(Role::Admin)), Err(Refusal::NotAuthorized { .. })));
    }

    #[test]
    fn member_may_not_change_or_remove() {
        let f = facts(MEMBER, Some(Role::Viewer));
        assert!(matches!(decide(&f, Change::Update(Role::Contributor)), Err(Refusal::NotAuthorized { .. })));
        assert!(matches!(decide(&f, Change::Remove), Err(Refusal::NotAuthorized { .. })));
    }

    #[test]
    fn contributors_and_viewers_manage_nothing() {
        for role in [Role::Contributor, Role::Viewer] {
            let a = Authority::Workspace(Some(role));
            for change in [Change::Add(Role::Viewer), Change::Update(Role::Viewer), Change::Remove] {
                assert!(matches!(decide(&facts(a, Some(Role::Viewer)), change), Err(Refusal::NotAuthorized { .. })));
            }
        }
    }

    #[test]
    fn no_role_means_invisible() {
        assert_eq!(decide(&facts(Authority::Workspace(None), None), Change::Add(Role::Viewer)), Err(Refusal::WorkspaceNotVisible));
    }

    #[test]
    fn last_admin_cannot_be_removed_or_demoted() {
        let mut f = facts(ADMIN, Some(Role::Admin));
        f.admins = 1;
        assert_eq!(decide(&f, Change::Remove), Err(Refusal::LastAdmin));
        assert_eq!(decide(&f, Change::Update(Role::Member)), Err(Refusal::LastAdmin));
        f.authority = Authority::TenantAdmin;
        assert_eq!(decide(&f, Change::Remove), Err(Refusal::LastAdmin));
        assert_eq!(decide(&f, Change::Upsert(Role::Viewer)), Err(Refusal::LastAdmin));
        f.admins = 2;
        assert_eq!(decide(&f, Change::Remove), Ok(Effect::Delete));
    }

    #[test]
    fn principal_limit_applies_to_new_principals_only() {
        let mut f = facts(ADMIN, None);
        f.principals = 1000;
        assert_eq!(decide(&f, Change::Add(Role::Viewer)), Err(Refusal::PrincipalLimit { limit: 1000 }));
        f.target_role = Some(Role::Viewer);
        assert_eq!(decide(&f, Change::Update(Role::Member)), Ok(Effect::SetRole(Role::Member)));
    }

    #[test]
    fn add_existing_is_refused_put_missing_is_refused() {
        assert_eq!(
            decide(&facts(ADMIN, Some(Role::Viewer)), Change::Add(Role::Viewer)),
            Err(Refusal::AlreadyMember { role: Role::Viewer })
        );
        assert_eq!(decide(&facts(ADMIN, None), Change::Update(Role::Viewer)), Err(Refusal::NotMember));
        assert_eq!(decide(&facts(ADMIN, Some(Role::Viewer)), Change::Update(Role::Viewer)), Ok(Effect::Nothing));
    }

    #[test]
    fn admin_upsert_inserts_or_replaces() {
        let t = Authority::TenantAdmin;
        assert_eq!(decide(&facts(t, None), Change::Upsert(Role::Admin)), Ok(Effect::Insert(Role::Admin)));
        assert_eq!(decide(&facts(t, Some(Role::Viewer)), Change::Upsert(Role::Admin)), Ok(Effect::SetRole(Role::Admin)));
    }
}
