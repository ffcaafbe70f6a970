//! Access rights on artifacts as sets of capabilities (read, write, reshare, explore, copy), and
//! each artifact kind's own vocabulary for them (`DatasetUserAccessRight`, `ReportUserAccessRight`,
//! …). Keeping the capabilities apart from the names lets rights from several sources (a workspace
//! role, a direct share, a group's share) be combined before they are named.

use std::fmt;

use super::{ArtifactKind, Role};

/// A set of capabilities on one artifact.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rights(u8);

impl Rights {
    pub const NONE: Rights = Rights(0);
    pub const READ: Rights = Rights(1);
    pub const WRITE: Rights = Rights(2);
    pub const RESHARE: Rights = Rights(4);
    /// "Build" in the portal: create content from the dataset.
    pub const EXPLORE: Rights = Rights(8);
    pub const COPY: Rights = Rights(16);

    pub const fn union(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }

    pub const fn contains(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub const fn without(self, other: Rights) -> Rights {
        Rights(self.0 & !other.0)
    }

    fn count(self) -> u32 {
        self.0.count_ones()
    }
}

impl std::ops::BitOr for Rights {
    type Output = Rights;
    fn bitor(self, other: Rights) -> Rights {
        self.union(other)
    }
}

impl fmt::Debug for Rights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("None");
        }
        let names = [
            (Rights::READ, "Read"),
            (Rights::WRITE, "Write"),
            (Rights::RESHARE, "Reshare"),
            (Rights::EXPLORE, "Explore"),
            (Rights::COPY, "Copy"),
        ];
        let parts: Vec<&str> = names.iter().filter(|(r, _)| self.contains(*r)).map(|(_, n)| *n).collect();
        f.write_str(&parts.join("|"))
    }
}

const R: Rights = Rights::READ;
const W: Rights = Rights::WRITE;
const RE: Rights = Rights::RESHARE;
const E: Rights = Rights::EXPLORE;
const C: Rights = Rights::COPY;

const fn set(parts: &[Rights]) -> Rights {
    let mut out = 0;
    let mut i = 0;
    while i < parts.len() {
        out |= parts[i].0;
        i += 1;
    }
    Rights(out)
}

/// `DatasetUserAccessRight` (without `None`, which is the empty set).
const DATASET: &[(&str, Rights)] = &[
    ("Read", R),
    ("ReadWrite", set(&[R, W])),
    ("ReadReshare", set(&[R, RE])),
    ("ReadWriteReshare", set(&[R, W, RE])),
    ("ReadExplore", set(&[R, E])),
    ("ReadReshareExplore", set(&[R, RE, E])),
    ("ReadWriteExplore", set(&[R, W, E])),
    ("ReadWriteReshareExplore", set(&[R, W, RE, E])),
];

/// `ReportUserAccessRight` and `DashboardUserAccessRight` (the same values). `Owner` is
/// "Read, Write and Reshare" in the Swagger.
const REPORT: &[(&str, Rights)] =
    &[("Read", R), ("ReadWrite", set(&[R, W])), ("ReadReshare", set(&[R, RE])), ("ReadCopy", set(&[R, C])), ("Owner", set(&[R, W, RE]))];

/// `DataflowUserAccessRight`.
const DATAFLOW: &[(&str, Rights)] =
    &[("Read", R), ("ReadWrite", set(&[R, W])), ("ReadReshare", set(&[R, RE])), ("Owner", set(&[R, W, RE]))];

/// `AppUserAccessRight`. `All` is "Read, Write, Explore, Reshare and Copy".
const APP: &[(&str, Rights)] = &[
    ("Read", R),
    ("ReadWrite", set(&[R, W])),
    ("ReadReshare", set(&[R, RE])),
    ("ReadWriteReshare", set(&[R, W, RE])),
    ("ReadExplore", set(&[R, E])),
    ("ReadCopy", set(&[R, C])),
    ("ReadExploreCopy", set(&[R, E, C])),
    ("ReadReshareExplore", set(&[R, RE, E])),
    ("ReadReshareExploreCopy", set(&[R, RE, E, C])),
    ("ReadWriteExplore", set(&[R, W, E])),
    ("ReadWriteReshareExplore", set(&[R, W, RE, E])),
    ("ReadWriteExploreCopy", set(&[R, W, E, C])),
    ("ReadReshareCopy", set(&[R, RE, C])),
    ("All", set(&[R, W, RE, E, C])),
];

/// `DatamartUserAccessRight`: the dataset values, plus `Write`, `Reshare` and `Explore` alone.
const DATAMART: &[(&str, Rights)] = &[
    ("Read", R),
    ("Write", W),
    ("Reshare", RE),
    ("Explore", E),
    ("ReadWrite", set(&[R, W])),
    ("ReadReshare", set(&[R, RE])),
    ("ReadWriteReshare", set(&[R, W, RE])),
    ("ReadExplore", set(&[R, E])),
    ("ReadReshareExplore", set(&[R, RE, E])),
    ("ReadWriteExplore", set(&[R, W, E])),
    ("ReadWriteReshareExplore", set(&[R, W, RE, E])),
];

fn vocabulary(kind: ArtifactKind) -> &'static [(&'static str, Rights)] {
    match kind {
        ArtifactKind::Dataset => DATASET,
        // Workbooks have no access-right enum in the API; what artifact access and the scanner
        // report for them is named as for reports.
        ArtifactKind::Report | ArtifactKind::PaginatedReport | ArtifactKind::Dashboard | ArtifactKind::Workbook => REPORT,
        ArtifactKind::Dataflow => DATAFLOW,
        ArtifactKind::App => APP,
        ArtifactKind::Datamart => DATAMART,
    }
}

/// The values of the kind's enum, without `None`, in the Swagger's order.
pub fn names(kind: ArtifactKind) -> impl Iterator<Item = &'static str> {
    vocabulary(kind).iter().map(|(n, _)| *n)
}

/// The rights a value of the kind's access-right enum stands for (`None` is the empty set).
pub fn parse(kind: ArtifactKind, name: &str) -> Option<Rights> {
    if name == "None" && !vocabulary(kind).is_empty() {
        return Some(Rights::NONE);
    }
    vocabulary(kind).iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
}

/// The kind's name for exactly these rights, if it has one (`None` for the empty set).
pub fn name(kind: ArtifactKind, rights: Rights) -> Option<&'static str> {
    if rights.is_empty() {
        return (!vocabulary(kind).is_empty()).then_some("None");
    }
    vocabulary(kind).iter().find(|(_, r)| *r == rights).map(|(n, _)| *n)
}

/// What a workspace role gives on every artifact of the workspace. For datasets the Swagger says
/// so (Admin/Member → ReadWriteReshareExplore, Contributor → ReadWriteExplore, Viewer → Read); the
/// other kinds follow the workspace-roles table: Admins and Members edit and reshare (on reports,
/// dashboards, dataflows and workbooks that is `Owner`, "Read, Write and Reshare"), Contributors
/// edit, Viewers read.
pub fn inherited(kind: ArtifactKind, role: Role) -> Rights {
    let editor = match kind {
        ArtifactKind::Dataset | ArtifactKind::Datamart => set(&[R, W, E]),
        ArtifactKind::App => set(&[R, W, E]),
        _ => set(&[R, W]),
    };
    let manager = match kind {
        ArtifactKind::Dataset | ArtifactKind::Datamart => set(&[R, W, RE, E]),
        ArtifactKind::App => set(&[R, W, RE, E, C]),
        _ => set(&[R, W, RE]),
    };
    match role {
        Role::Admin | Role::Member => manager,
        Role::Contributor => editor,
        Role::Viewer => R,
    }
}

/// Rights from two sources together, as one value of the kind's enum: their union when the enum
/// names it, else the larger of the two (for example a Contributor's `ReadWrite` report right and
/// a direct `ReadCopy` share: the enum has no ReadWriteCopy, so `ReadWrite`).
pub fn combine(kind: ArtifactKind, a: Rights, b: Rights) -> Rights {
    let union = a | b;
    if name(kind, union).is_some() {
        union
    } else if b.count() > a.count() {
        b
    } else {
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dataset_name_round_trips() {
        for (n, r) in DATASET {
            assert_eq!(parse(ArtifactKind::Dataset, n), Some(*r));
            assert_eq!(name(ArtifactKind::Dataset, *r), Some(*n));
        }
        assert_eq!(parse(ArtifactKind::Dataset, "None"), Some(Rights::NONE));
        assert_eq!(name(ArtifactKind::Dataset, Rights::NONE), Some("None"));
        assert_eq!(parse(ArtifactKind::Dataset, "Owner"), None);
        assert_eq!(parse(ArtifactKind::Dataset, "read"), None, "enum values are case-sensitive");
    }

    #[test]
    fn every_dataset_right_includes_read_and_any_set_with_read_has_a_name() {
        for bits in 0..16u8 {
            let r = Rights(bits);
            assert_eq!(name(ArtifactKind::Dataset, r).is_some(), r.is_empty() || r.contains(Rights::READ), "{r:?}");
        }
    }

    #[test]
    fn kinds_have_their_own_vocabulary() {
        assert_eq!(parse(ArtifactKind::Report, "Owner"), Some(set(&[R, W, RE])));
        assert_eq!(parse(ArtifactKind::Dashboard, "ReadCopy"), Some(set(&[R, C])));
        assert_eq!(parse(ArtifactKind::Dataflow, "ReadCopy"), None);
        assert_eq!(parse(ArtifactKind::App, "All"), Some(set(&[R, W, RE, E, C])));
        assert_eq!(parse(ArtifactKind::Workbook, "Owner"), parse(ArtifactKind::Report, "Owner"));
        assert_eq!(parse(ArtifactKind::Datamart, "Explore"), Some(E));
        assert_eq!(parse(ArtifactKind::Dataset, "Explore"), None);
    }

    #[test]
    fn workspace_roles_map_to_the_swagger_dataset_rights() {
        let n = |role| name(ArtifactKind::Dataset, inherited(ArtifactKind::Dataset, role)).unwrap();
        assert_eq!(n(Role::Admin), "ReadWriteReshareExplore");
        assert_eq!(n(Role::Member), "ReadWriteReshareExplore");
        assert_eq!(n(Role::Contributor), "ReadWriteExplore");
        assert_eq!(n(Role::Viewer), "Read");
        for kind in ArtifactKind::ALL {
            for role in [Role::Admin, Role::Member, Role::Contributor, Role::Viewer] {
                assert!(name(kind, inherited(kind, role)).is_some(), "{kind:?} {role:?}");
            }
        }
        for kind in
            [ArtifactKind::Report, ArtifactKind::PaginatedReport, ArtifactKind::Dashboard, ArtifactKind::Dataflow, ArtifactKind::Workbook]
        {
            assert_eq!(name(kind, inherited(kind, Role::Member)), Some("Owner"), "{kind:?}: Members reshare");
            assert_eq!(name(kind, inherited(kind, Role::Contributor)), Some("ReadWrite"), "{kind:?}");
        }
        assert_eq!(name(ArtifactKind::App, inherited(ArtifactKind::App, Role::Admin)), Some("All"));
    }

    #[test]
    fn combining_takes_the_union_when_it_has_a_name() {
        let k = ArtifactKind::Report;
        assert_eq!(combine(k, set(&[R, W]), set(&[R, RE])), set(&[R, W, RE]), "ReadWrite + ReadReshare = Owner");
        assert_eq!(combine(k, set(&[R, W]), set(&[R, C])), set(&[R, W]), "no ReadWriteCopy: the larger one");
        assert_eq!(combine(ArtifactKind::Dataset, R, set(&[R, E])), set(&[R, E]));
        assert_eq!(combine(ArtifactKind::Dataset, Rights::NONE, set(&[R, RE])), set(&[R, RE]));
    }
}
