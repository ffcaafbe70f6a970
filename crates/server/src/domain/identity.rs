//! The identity plane as the SCIM and Graph dialects see it: full directory users and groups
//! (with the attributes SCIM and Graph carry, a `version` for ETags and soft deletion), the
//! license catalogue, and the pure seat-allocation rule of group-based licensing.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use serde_json::{Map, Value};
use uuid::Uuid;

use super::{GroupKind, PrincipalKind, UserType};

/// How long a soft-deleted user or group stays restorable (Entra's recycle bin).
pub const RESTORE_WINDOW_MILLIS: i64 = 30 * 24 * 3600 * 1000;

/// A directory user with every attribute pbi-access keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct DirUser {
    pub id: Uuid,
    pub upn: String,
    pub mail: Option<String>,
    pub display_name: String,
    pub user_type: UserType,
    pub account_enabled: bool,
    pub external_id: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub job_title: Option<String>,
    pub department: Option<String>,
    /// SCIM `employeeNumber`, Graph `employeeId`.
    pub employee_number: Option<String>,
    /// Two-letter country code; Graph requires it before a license can be assigned directly.
    pub usage_location: Option<String>,
    /// Attributes with no column of their own (SCIM `nickName`, `phoneNumbers`, `addresses`,
    /// the rest of `name` and of the enterprise extension, Graph's `mailNickname`).
    pub extra: Map<String, Value>,
    /// Bumped on every change; SCIM renders it as the ETag `W/"<version>"`.
    pub version: i64,
    pub created_at: i64,
    pub modified_at: i64,
    pub deleted_at: Option<i64>,
}

impl DirUser {
    /// A new, enabled member user with only the required attributes set.
    pub fn new(id: Uuid, upn: impl Into<String>, display_name: impl Into<String>) -> DirUser {
        DirUser {
            id,
            upn: upn.into(),
            mail: None,
            display_name: display_name.into(),
            user_type: UserType::Member,
            account_enabled: true,
            external_id: None,
            given_name: None,
            surname: None,
            job_title: None,
            department: None,
            employee_number: None,
            usage_location: None,
            extra: Map::new(),
            version: 1,
            created_at: 0,
            modified_at: 0,
            deleted_at: None,
        }
    }

    pub fn last_modified(&self) -> i64 {
        self.modified_at.max(self.created_at)
    }

    /// The parts of the record a write may change (everything but identity and bookkeeping).
    pub fn same_content(&self, other: &DirUser) -> bool {
        DirUser { version: 0, created_at: 0, modified_at: 0, deleted_at: None, ..self.clone() }
            == DirUser { version: 0, created_at: 0, modified_at: 0, deleted_at: None, ..other.clone() }
    }

    /// Whether the UPN's domain (after its last `@`) is the tenant's domain, case-insensitively,
    /// as Entra ID demands of a member's UPN (a guest's `…#EXT#@tenant` UPN is in it too).
    /// Graph and SCIM both refuse a UPN this says no to, each with its own error.
    pub fn upn_in_domain(&self, tenant_domain: &str) -> bool {
        upn_in_domain(&self.upn, tenant_domain)
    }

    /// Check what every write must satisfy; returns a message naming the bad attribute.
    pub fn validate(&self) -> Result<(), String> {
        let upn = self.upn.trim();
        if upn.is_empty() || !upn.contains('@') || upn.starts_with('@') || upn.ends_with('@') {
            return Err(format!("userPrincipalName '{}' is not of the form name@domain", self.upn));
        }
        if self.display_name.trim().is_empty() {
            return Err("displayName must not be empty".into());
        }
        if let Some(loc) = &self.usage_location {
            if loc.len() != 2 || !loc.chars().all(|c| c.is_ascii_alphabetic()) {
                return Err(format!("usageLocation '{loc}' is not a two-letter country code"));
            }
        }
        let texts = [Some(&self.upn), self.mail.as_ref(), Some(&self.display_name), self.external_id.as_ref()];
        if texts.iter().flatten().any(|t| t.len() > 1024 || t.chars().any(char::is_control)) {
            return Err("an attribute is longer than 1024 characters or contains control characters".into());
        }
        Ok(())
    }
}

/// Whether `upn`'s domain (after its last `@`) is `tenant_domain`, case-insensitively.
pub fn upn_in_domain(upn: &str, tenant_domain: &str) -> bool {
    upn.rsplit_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.eq_ignore_ascii_case(tenant_domain))
}

/// A directory group with every attribute pbi-access keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct DirGroup {
    pub id: Uuid,
    pub display_name: String,
    pub kind: GroupKind,
    pub description: Option<String>,
    pub mail_nickname: Option<String>,
    pub mail: Option<String>,
    pub external_id: Option<String>,
    pub version: i64,
    pub created_at: i64,
    pub modified_at: i64,
    pub deleted_at: Option<i64>,
}

impl DirGroup {
    pub fn new(id: Uuid, display_name: impl Into<String>, kind: GroupKind) -> DirGroup {
        DirGroup {
            id,
            display_name: display_name.into(),
            kind,
            description: None,
            mail_nickname: None,
            mail: None,
            external_id: None,
            version: 1,
            created_at: 0,
            modified_at: 0,
            deleted_at: None,
        }
    }

    pub fn last_modified(&self) -> i64 {
        self.modified_at.max(self.created_at)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.display_name.trim().is_empty() {
            return Err("displayName must not be empty".into());
        }
        let texts = [Some(&self.display_name), self.description.as_ref(), self.external_id.as_ref(), self.mail_nickname.as_ref()];
        if texts.iter().flatten().any(|t| t.len() > 1024 || t.chars().any(char::is_control)) {
            return Err("an attribute is longer than 1024 characters or contains control characters".into());
        }
        Ok(())
    }
}

/// A directory object as a member or owner list shows it: a user, a group or an application.
#[derive(Debug, Clone, PartialEq)]
pub enum DirObject {
    User(DirUser),
    Group(DirGroup),
    App { id: Uuid, display_name: String },
}

impl DirObject {
    pub fn id(&self) -> Uuid {
        match self {
            DirObject::User(u) => u.id,
            DirObject::Group(g) => g.id,
            DirObject::App { id, .. } => *id,
        }
    }
}

/// A direct member (or owner) of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMemberRef {
    pub id: Uuid,
    pub kind: PrincipalKind,
    pub display_name: String,
    pub added_at: i64,
}

/// A license product: the SKU ids Microsoft uses everywhere (Graph, admin center, billing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkuInfo {
    pub sku_id: Uuid,
    pub part_number: &'static str,
    pub display_name: &'static str,
}

/// The Power BI license products. Ids and part numbers are Microsoft's ("Product names and
/// service plan identifiers for licensing").
pub const POWER_BI_SKUS: &[SkuInfo] = &[
    SkuInfo {
        sku_id: uuid_const(0xa403ebcc_fae0_4ca2_8c8c_7a907fd6c235),
        part_number: "POWER_BI_STANDARD",
        display_name: "Microsoft Fabric (Free)",
    },
    SkuInfo { sku_id: uuid_const(0xf8a1db68_be16_40ed_86d5_cb42ce701560), part_number: "POWER_BI_PRO", display_name: "Power BI Pro" },
    SkuInfo {
        sku_id: uuid_const(0xc1d032e0_5619_4761_9b5c_75b6831e1711),
        part_number: "PBI_PREMIUM_PER_USER",
        display_name: "Power BI Premium Per User",
    },
];

const fn uuid_const(v: u128) -> Uuid {
    Uuid::from_u128(v)
}

pub fn sku_by_part_number(part: &str) -> Option<SkuInfo> {
    POWER_BI_SKUS.iter().copied().find(|s| s.part_number.eq_ignore_ascii_case(part))
}

/// A SKU the tenant has bought, with the seats in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribedSku {
    pub sku_id: Uuid,
    pub part_number: String,
    pub prepaid_enabled: i64,
    pub capability_status: String,
    pub consumed_units: i64,
}

/// A license a user holds (a seat is allocated to it), and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserLicense {
    pub sku_id: Uuid,
    pub part_number: String,
    /// Assigned to the user directly.
    pub direct: bool,
    /// Groups (directly licensed) through which the user holds it.
    pub via_groups: Vec<Uuid>,
    /// When the user started holding it (the earliest of its assignments), Unix millis.
    pub since: i64,
}

/// Everything the seat rule reads, loaded in one go from the store.
#[derive(Debug, Clone, Default)]
pub struct LicenseFacts {
    /// sku id → (part number, seats bought).
    pub skus: BTreeMap<Uuid, (String, i64)>,
    /// Active (not deleted) users.
    pub active_users: HashSet<Uuid>,
    /// (user, sku, assigned_at).
    pub direct: Vec<(Uuid, Uuid, i64)>,
    /// (group, sku, assigned_at); only groups that are not deleted.
    pub group_licenses: Vec<(Uuid, Uuid, i64)>,
    /// group → [(member, member kind, added_at)]; only groups that are not deleted.
    pub members: HashMap<Uuid, Vec<(Uuid, PrincipalKind, i64)>>,
}

/// Who holds which SKU after seats are allocated.
#[derive(Debug, Clone, Default)]
pub struct LicenseAllocation {
    /// (user, sku) → the license held.
    pub held: HashMap<(Uuid, Uuid), UserLicense>,
    /// sku → seats in use.
    pub consumed: HashMap<Uuid, i64>,
    /// (user, sku) pairs a licensed group would give but no seat was left for (Entra's
    /// `CountViolation` state of group-based licensing).
    pub count_violations: Vec<(Uuid, Uuid)>,
}

impl LicenseFacts {
    /// Transitive user members of `group`, each with the time it became one: the latest
    /// `added_at` along the earliest path (nested groups count; cycles cannot occur but are
    /// tolerated).
    pub fn transitive_users(&self, group: Uuid) -> Vec<(Uuid, i64)> {
        let mut since: HashMap<Uuid, i64> = HashMap::new();
        let mut seen_groups: HashSet<Uuid> = HashSet::from([group]);
        let mut queue: VecDeque<(Uuid, i64)> = VecDeque::from([(group, i64::MIN)]);
        while let Some((g, at)) = queue.pop_front() {
            for (member, kind, added) in self.members.get(&g).into_iter().flatten() {
                let t = at.max(*added);
                match kind {
                    PrincipalKind::User => {
                        let e = since.entry(*member).or_insert(t);
                        *e = (*e).min(t);
                    }
                    PrincipalKind::Group => {
                        if seen_groups.insert(*member) {
                            queue.push_back((*member, t));
                        }
                    }
                    PrincipalKind::App => {}
                }
            }
        }
        let mut out: Vec<(Uuid, i64)> = since.into_iter().collect();
        out.sort_by_key(|(u, t)| (*t, *u));
        out
    }

    /// Allocate seats: direct assignments always hold theirs (they were checked when made);
    /// group-based ones take what is left, earliest first.
    pub fn allocate(&self) -> LicenseAllocation {
        let mut out = LicenseAllocation::default();
        let part = |sku: &Uuid| self.skus.get(sku).map(|(p, _)| p.clone()).unwrap_or_default();
        for (user, sku, at) in &self.direct {
            if !self.active_users.contains(user) || !self.skus.contains_key(sku) {
                continue;
            }
            out.held.insert(
                (*user, *sku),
                UserLicense { sku_id: *sku, part_number: part(sku), direct: true, via_groups: Vec::new(), since: *at },
            );
            *out.consumed.entry(*sku).or_default() += 1;
        }
        // Candidates from groups: (since, user, sku, group).
        let mut candidates: Vec<(i64, Uuid, Uuid, Uuid)> = Vec::new();
        for (group, sku, assigned) in &self.group_licenses {
            if !self.skus.contains_key(sku) {
                continue;
            }
            for (user, joined) in self.transitive_users(*group) {
                if self.active_users.contains(&user) {
                    candidates.push(((*assigned).max(joined), user, *sku, *group));
                }
            }
        }
        candidates.sort();
        for (since, user, sku, group) in candidates {
            if let Some(held) = out.held.get_mut(&(user, sku)) {
                if !held.via_groups.contains(&group) {
                    held.via_groups.push(group);
                }
                held.since = held.since.min(since);
                continue;
            }
            let seats = self.skus.get(&sku).map(|(_, n)| *n).unwrap_or(0);
            let used = out.consumed.entry(sku).or_default();
            if *used >= seats {
                if !out.count_violations.contains(&(user, sku)) {
                    out.count_violations.push((user, sku));
                }
                continue;
            }
            *used += 1;
            out.held
                .insert((user, sku), UserLicense { sku_id: sku, part_number: part(&sku), direct: false, via_groups: vec![group], since });
        }
        out
    }
}

impl LicenseAllocation {
    pub fn of_user(&self, user: Uuid) -> Vec<UserLicense> {
        let mut v: Vec<UserLicense> = self.held.iter().filter(|((u, _), _)| *u == user).map(|(_, l)| l.clone()).collect();
        v.sort_by(|a, b| a.part_number.cmp(&b.part_number).then(a.sku_id.cmp(&b.sku_id)));
        v
    }
}

/// A directory change that changes who reaches Power BI, as the store saw it under its lock.
/// The store hands it to a [`crate::store::DirAuditor`], which turns it into the activity event
/// written in the same transaction (see docs/fidelity.md, "Directory changes in the activity log").
#[derive(Debug, Clone, PartialEq)]
pub enum DirChange<'a> {
    /// A member joined a group that reaches a workspace or an item (directly or through nesting).
    MemberAdded {
        group: &'a DirGroup,
        member: Uuid,
        kind: PrincipalKind,
        label: String,
    },
    /// A member left such a group.
    MemberRemoved {
        group: &'a DirGroup,
        member: Uuid,
        kind: PrincipalKind,
        label: String,
    },
    /// Such a group was deleted.
    GroupDeleted {
        group: &'a DirGroup,
    },
    /// `accountEnabled` changed.
    AccountEnabled {
        user: &'a DirUser,
        enabled: bool,
    },
    UserDeleted {
        user: &'a DirUser,
    },
    UserRestored {
        user: &'a DirUser,
    },
    /// The user's direct licenses went from `before` to `after` (SKU ids, sorted).
    UserLicenses {
        user: &'a DirUser,
        before: Vec<Uuid>,
        after: Vec<Uuid>,
    },
    /// The group's licenses went from `before` to `after`.
    GroupLicenses {
        group: &'a DirGroup,
        before: Vec<Uuid>,
        after: Vec<Uuid>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(seats: i64) -> (LicenseFacts, Uuid, Uuid, Uuid, Uuid, Uuid) {
        let sku = POWER_BI_SKUS[1].sku_id;
        let (a, b, c, g, inner) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3), Uuid::from_u128(10), Uuid::from_u128(11));
        let mut f = LicenseFacts::default();
        f.skus.insert(sku, ("POWER_BI_PRO".into(), seats));
        f.active_users.extend([a, b, c]);
        f.members.insert(g, vec![(b, PrincipalKind::User, 20), (inner, PrincipalKind::Group, 5)]);
        f.members.insert(inner, vec![(c, PrincipalKind::User, 30)]);
        (f, sku, a, b, c, g)
    }

    #[test]
    fn nested_members_inherit_group_licenses_with_the_latest_join_time() {
        let (mut f, sku, a, b, c, g) = facts(10);
        f.direct.push((a, sku, 1));
        f.group_licenses.push((g, sku, 10));
        let alloc = f.allocate();
        assert_eq!(alloc.consumed[&sku], 3);
        assert!(alloc.held[&(a, sku)].direct);
        assert_eq!(alloc.held[&(b, sku)].since, 20);
        assert_eq!(alloc.held[&(c, sku)].since, 30, "nested: the later of group-in-group (5) and user-in-inner (30)");
        assert_eq!(alloc.held[&(c, sku)].via_groups, vec![g]);
    }

    #[test]
    fn group_licenses_stop_at_the_seat_count_earliest_first() {
        let (mut f, sku, a, b, c, g) = facts(2);
        f.direct.push((a, sku, 1));
        f.group_licenses.push((g, sku, 10));
        let alloc = f.allocate();
        assert_eq!(alloc.consumed[&sku], 2);
        assert!(alloc.held.contains_key(&(b, sku)));
        assert!(!alloc.held.contains_key(&(c, sku)));
        assert_eq!(alloc.count_violations, vec![(c, sku)]);
    }

    #[test]
    fn a_user_licensed_twice_takes_one_seat_and_deleted_users_none() {
        let (mut f, sku, _a, b, c, g) = facts(10);
        f.direct.push((b, sku, 1));
        f.group_licenses.push((g, sku, 10));
        f.active_users.remove(&c);
        let alloc = f.allocate();
        assert_eq!(alloc.consumed[&sku], 1);
        assert_eq!(alloc.held[&(b, sku)].via_groups, vec![g]);
        assert!(alloc.held[&(b, sku)].direct);
    }

    #[test]
    fn catalogue_has_microsofts_ids() {
        assert_eq!(sku_by_part_number("power_bi_pro").unwrap().sku_id.to_string(), "f8a1db68-be16-40ed-86d5-cb42ce701560");
        assert_eq!(sku_by_part_number("PBI_PREMIUM_PER_USER").unwrap().sku_id.to_string(), "c1d032e0-5619-4761-9b5c-75b6831e1711");
        assert_eq!(sku_by_part_number("POWER_BI_STANDARD").unwrap().sku_id.to_string(), "a403ebcc-fae0-4ca2-8c8c-7a907fd6c235");
    }
}
