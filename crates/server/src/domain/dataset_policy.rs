//! The dataset-permission rules of `POST`/`PUT /datasets/{id}/users` (and the `DELETE` the
//! offboarding guides call), as one pure function over facts the store reads under the dataset's
//! lock. Rights are [`Rights`] sets; the API maps them from and to `DatasetUserAccessRight`.
//!
//! From the Swagger: the caller needs ReadReshare to grant (POST) and ReadWriteReshare to list or
//! replace (GET, PUT); POST grants only Read, ReadReshare, ReadExplore or ReadReshareExplore;
//! neither POST nor PUT accepts App principals; PUT replaces, `None` removes, it cannot add or
//! remove Write, and it cannot strip what the principal's workspace role gives.

use super::rights::Rights;
use super::PrincipalKind;

/// What the store knows, under the dataset's lock, when it asks for a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// The caller's effective rights: its workspace role's, its own and its groups' direct
    /// permissions, and everything when it owns the dataset. Empty: the dataset is invisible.
    pub caller: Rights,
    pub target_kind: PrincipalKind,
    /// The target's own direct permission, if it has one.
    pub target_direct: Option<Rights>,
    /// What the target's workspace role gives (empty without a role).
    pub target_inherited: Rights,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// `POST`: add these rights to what the principal holds directly.
    Grant(Rights),
    /// `PUT`: the principal's direct rights become these; the empty set (`None`) removes them.
    Replace(Rights),
    /// `DELETE /datasets/{id}/users/{user}` (not in the Swagger): the same as `PUT` with `None`.
    Remove,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Store this direct permission (insert or replace).
    Set(Rights),
    /// Delete the direct permission.
    Delete,
    /// Nothing changes.
    Nothing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The caller has no right at all on the dataset: it cannot see it (404).
    NotVisible,
    /// The caller lacks `needed`.
    NotAuthorized { needed: Rights, held: Rights },
    /// Permissions of service principals cannot be granted or changed through these endpoints.
    AppPrincipal,
    /// POST grants only Read, ReadReshare, ReadExplore and ReadReshareExplore.
    NotGrantable(Rights),
    /// A caller cannot hand out a right it does not hold itself.
    ExceedsCaller { requested: Rights, held: Rights },
    /// PUT cannot give or take away Write.
    WriteChange { adding: bool },
    /// PUT cannot take away what the workspace role gives.
    StripsInherited { inherited: Rights },
    /// PUT or DELETE for a principal with no permission on the dataset.
    NoPermission,
}

/// The rights GET and PUT need: ReadWriteReshare.
pub const MANAGE: Rights = Rights::READ.union(Rights::WRITE).union(Rights::RESHARE);
/// The rights POST needs: ReadReshare.
pub const SHARE: Rights = Rights::READ.union(Rights::RESHARE);

/// Whether the caller may list the dataset's users (GET): `Err` says why not.
pub fn may_list(caller: Rights) -> Result<(), Refusal> {
    require(caller, MANAGE)
}

fn require(caller: Rights, needed: Rights) -> Result<(), Refusal> {
    if caller.is_empty() {
        Err(Refusal::NotVisible)
    } else if caller.contains(needed) {
        Ok(())
    } else {
        Err(Refusal::NotAuthorized { needed, held: caller })
    }
}

pub fn decide(facts: &Facts, change: Change) -> Result<Effect, Refusal> {
    match change {
        Change::Grant(rights) => grant(facts, rights),
        Change::Replace(rights) => replace(facts, rights),
        Change::Remove => replace(facts, Rights::NONE),
    }
}

fn grant(facts: &Facts, requested: Rights) -> Result<Effect, Refusal> {
    require(facts.caller, SHARE)?;
    if facts.target_kind == PrincipalKind::App {
        return Err(Refusal::AppPrincipal);
    }
    if requested.is_empty() || !requested.contains(Rights::READ) || requested.contains(Rights::WRITE) || requested.contains(Rights::COPY) {
        return Err(Refusal::NotGrantable(requested));
    }
    if !facts.caller.contains(requested) {
        return Err(Refusal::ExceedsCaller { requested, held: facts.caller });
    }
    let current = facts.target_direct.unwrap_or_default();
    if current.contains(requested) {
        return Ok(Effect::Nothing);
    }
    Ok(Effect::Set(current | requested))
}

fn replace(facts: &Facts, requested: Rights) -> Result<Effect, Refusal> {
    require(facts.caller, MANAGE)?;
    if facts.target_kind == PrincipalKind::App {
        return Err(Refusal::AppPrincipal);
    }
    let inherited = facts.target_inherited;
    let direct = facts.target_direct;
    if direct.is_none() && inherited.is_empty() {
        return Err(Refusal::NoPermission);
    }
    if requested.contains(Rights::COPY) || (!requested.is_empty() && !requested.contains(Rights::READ)) {
        return Err(Refusal::NotGrantable(requested));
    }
    // Removing everything when only the role gives access, or replacing with less than the role
    // gives, would strip inherited rights.
    if (requested.is_empty() && direct.is_none()) || (!requested.is_empty() && !requested.contains(inherited)) {
        return Err(Refusal::StripsInherited { inherited });
    }
    let before = direct.unwrap_or_default() | inherited;
    let after = requested | inherited;
    if before.contains(Rights::WRITE) != after.contains(Rights::WRITE) {
        return Err(Refusal::WriteChange { adding: after.contains(Rights::WRITE) });
    }
    Ok(match (requested.is_empty(), direct) {
        (true, Some(_)) => Effect::Delete,
        (true, None) => Effect::Nothing,
        (false, Some(d)) if d == requested => Effect::Nothing,
        (false, _) => Effect::Set(requested),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rights::{inherited, parse};
    use crate::domain::{ArtifactKind, Role};

    fn r(name: &str) -> Rights {
        parse(ArtifactKind::Dataset, name).unwrap()
    }

    fn facts(caller: &str, direct: Option<&str>, role: Option<Role>) -> Facts {
        Facts {
            caller: r(caller),
            target_kind: PrincipalKind::User,
            target_direct: direct.map(r),
            target_inherited: role.map(|role| inherited(ArtifactKind::Dataset, role)).unwrap_or_default(),
        }
    }

    const OWNER: &str = "ReadWriteReshareExplore";

    #[test]
    fn post_grants_only_the_four_entry_rights() {
        for ok in ["Read", "ReadReshare", "ReadExplore", "ReadReshareExplore"] {
            assert_eq!(decide(&facts(OWNER, None, None), Change::Grant(r(ok))), Ok(Effect::Set(r(ok))), "{ok}");
        }
        for bad in ["ReadWrite", "ReadWriteReshare", "ReadWriteExplore", "ReadWriteReshareExplore", "None"] {
            assert_eq!(decide(&facts(OWNER, None, None), Change::Grant(r(bad))), Err(Refusal::NotGrantable(r(bad))), "{bad}");
        }
    }

    #[test]
    fn post_adds_to_what_is_held_directly() {
        assert_eq!(
            decide(&facts(OWNER, Some("ReadReshare"), None), Change::Grant(r("ReadExplore"))),
            Ok(Effect::Set(r("ReadReshareExplore")))
        );
        assert_eq!(decide(&facts(OWNER, Some("ReadReshare"), None), Change::Grant(r("Read"))), Ok(Effect::Nothing));
        // A direct Write given by the operator survives a grant.
        assert_eq!(decide(&facts(OWNER, Some("ReadWrite"), None), Change::Grant(r("ReadReshare"))), Ok(Effect::Set(r("ReadWriteReshare"))));
    }

    #[test]
    fn post_needs_reshare_and_cannot_exceed_the_caller() {
        assert_eq!(
            decide(&facts("ReadExplore", None, None), Change::Grant(r("Read"))),
            Err(Refusal::NotAuthorized { needed: SHARE, held: r("ReadExplore") })
        );
        assert_eq!(decide(&facts("ReadReshare", None, None), Change::Grant(r("ReadReshare"))), Ok(Effect::Set(r("ReadReshare"))));
        assert_eq!(
            decide(&facts("ReadReshare", None, None), Change::Grant(r("ReadExplore"))),
            Err(Refusal::ExceedsCaller { requested: r("ReadExplore"), held: r("ReadReshare") })
        );
        assert_eq!(decide(&facts("None", None, None), Change::Grant(r("Read"))), Err(Refusal::NotVisible));
    }

    #[test]
    fn apps_are_refused_by_post_put_and_delete() {
        let mut f = facts(OWNER, Some("Read"), None);
        f.target_kind = PrincipalKind::App;
        for change in [Change::Grant(r("Read")), Change::Replace(r("ReadReshare")), Change::Remove] {
            assert_eq!(decide(&f, change), Err(Refusal::AppPrincipal), "{change:?}");
        }
        f.target_kind = PrincipalKind::Group;
        assert_eq!(decide(&f, Change::Grant(r("ReadReshare"))), Ok(Effect::Set(r("ReadReshare"))));
    }

    #[test]
    fn put_needs_read_write_reshare() {
        for weak in ["ReadReshareExplore", "ReadWriteExplore", "Read"] {
            assert!(
                matches!(decide(&facts(weak, Some("Read"), None), Change::Replace(r("ReadReshare"))), Err(Refusal::NotAuthorized { .. })),
                "{weak}"
            );
        }
        assert_eq!(
            decide(&facts("ReadWriteReshare", Some("Read"), None), Change::Replace(r("ReadReshare"))),
            Ok(Effect::Set(r("ReadReshare")))
        );
        assert_eq!(may_list(r("ReadWriteReshare")), Ok(()));
        assert!(matches!(may_list(r("ReadWriteExplore")), Err(Refusal::NotAuthorized { .. })));
        assert_eq!(may_list(Rights::NONE), Err(Refusal::NotVisible));
    }

    #[test]
    fn put_replaces_and_none_removes() {
        assert_eq!(decide(&facts(OWNER, Some("ReadReshareExplore"), None), Change::Replace(r("Read"))), Ok(Effect::Set(r("Read"))));
        assert_eq!(decide(&facts(OWNER, Some("Read"), None), Change::Replace(r("Read"))), Ok(Effect::Nothing));
        assert_eq!(decide(&facts(OWNER, Some("ReadReshare"), None), Change::Replace(Rights::NONE)), Ok(Effect::Delete));
        assert_eq!(decide(&facts(OWNER, Some("ReadReshare"), None), Change::Remove), Ok(Effect::Delete));
        assert_eq!(decide(&facts(OWNER, None, None), Change::Replace(r("Read"))), Err(Refusal::NoPermission));
        assert_eq!(decide(&facts(OWNER, None, None), Change::Remove), Err(Refusal::NoPermission));
    }

    #[test]
    fn put_cannot_add_or_remove_write() {
        assert_eq!(decide(&facts(OWNER, Some("Read"), None), Change::Replace(r("ReadWrite"))), Err(Refusal::WriteChange { adding: true }));
        assert_eq!(decide(&facts(OWNER, Some("ReadWrite"), None), Change::Replace(r("Read"))), Err(Refusal::WriteChange { adding: false }));
        assert_eq!(decide(&facts(OWNER, Some("ReadWrite"), None), Change::Remove), Err(Refusal::WriteChange { adding: false }));
        // Keeping Write is fine.
        assert_eq!(
            decide(&facts(OWNER, Some("ReadWrite"), None), Change::Replace(r("ReadWriteReshare"))),
            Ok(Effect::Set(r("ReadWriteReshare")))
        );
    }

    #[test]
    fn put_cannot_strip_what_the_workspace_role_gives() {
        // Viewer → Read: more is fine, less is not, and None when Read is all there is.
        assert_eq!(decide(&facts(OWNER, None, Some(Role::Viewer)), Change::Replace(r("ReadReshare"))), Ok(Effect::Set(r("ReadReshare"))));
        assert_eq!(decide(&facts(OWNER, None, Some(Role::Viewer)), Change::Remove), Err(Refusal::StripsInherited { inherited: r("Read") }));
        // A direct extra on top of the role can be removed; the role's Read stays.
        assert_eq!(decide(&facts(OWNER, Some("ReadReshare"), Some(Role::Viewer)), Change::Remove), Ok(Effect::Delete));
        // Member → ReadWriteReshareExplore: anything less strips it.
        assert_eq!(
            decide(&facts(OWNER, None, Some(Role::Member)), Change::Replace(r("ReadReshare"))),
            Err(Refusal::StripsInherited { inherited: r(OWNER) })
        );
        // Contributor → ReadWriteExplore: adding Reshare keeps everything.
        assert_eq!(decide(&facts(OWNER, None, Some(Role::Contributor)), Change::Replace(r(OWNER))), Ok(Effect::Set(r(OWNER))));
        // Write that comes with the role is neither added nor removed by a direct record.
        assert_eq!(decide(&facts(OWNER, Some(OWNER), Some(Role::Contributor)), Change::Remove), Ok(Effect::Delete));
    }
}
