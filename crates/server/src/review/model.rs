//! The review model, pure: what a snapshot row is, its flags and recommendation, who reviews it,
//! and whether a decision is allowed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::Role;

/// One access as the audit read it: a principal holding a role on a workspace, and the path that
/// grants it. These are the facts the snapshot hash covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessRow {
    pub workspace_id: Uuid,
    pub workspace: String,
    /// A user's UPN, a group's or an app's name.
    pub principal: String,
    /// `User`, `Group` or `App`.
    pub principal_type: String,
    pub role: String,
    /// `direct`, or the group path (`group Finance inside group Staff`).
    pub via: String,
    pub license_type: String,
    pub user_type: String,
    /// `enabled`, `disabled`, `deleted`, `unknown`; empty for groups and apps.
    pub account: String,
    /// Last activity seen in the activity log (Unix ms), if any.
    pub last_activity: Option<i64>,
}

impl AccessRow {
    fn is_user(&self) -> bool {
        self.principal_type.eq_ignore_ascii_case("User")
    }
    fn is_direct(&self) -> bool {
        self.via == "direct"
    }
    /// What identifies the same access in another campaign over the same scope.
    pub fn access_key(&self) -> String {
        access_key(self.workspace_id, &self.principal, &self.role, &self.via)
    }
}

/// What identifies one access across campaigns: workspace, principal (any case), role and path.
pub fn access_key(workspace_id: Uuid, principal: &str, role: &str, via: &str) -> String {
    format!("{workspace_id}\u{1f}{}\u{1f}{role}\u{1f}{via}", principal.to_lowercase())
}

fn role_of(text: &str) -> Option<Role> {
    text.parse().ok()
}

fn writes(role: &str) -> bool {
    role_of(role).is_some_and(|r| r >= Role::Contributor)
}

/// What needs a look on a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flag {
    GuestWithWriteRole,
    FreeWithWriteRole,
    DisabledAccount,
    DeletedAccount,
    NoActivity,
    SoleAdmin,
    GroupOnly,
    ServicePrincipal,
}

impl Flag {
    pub const ALL: [Flag; 8] = [
        Flag::GuestWithWriteRole,
        Flag::FreeWithWriteRole,
        Flag::DisabledAccount,
        Flag::DeletedAccount,
        Flag::NoActivity,
        Flag::SoleAdmin,
        Flag::GroupOnly,
        Flag::ServicePrincipal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Flag::GuestWithWriteRole => "guest-with-write-role",
            Flag::FreeWithWriteRole => "free-with-write-role",
            Flag::DisabledAccount => "disabled-account",
            Flag::DeletedAccount => "deleted-account",
            Flag::NoActivity => "no-activity",
            Flag::SoleAdmin => "sole-admin",
            Flag::GroupOnly => "group-only",
            Flag::ServicePrincipal => "service-principal",
        }
    }

    /// The words a person reads.
    pub fn label(self) -> &'static str {
        match self {
            Flag::GuestWithWriteRole => "guest with write role",
            Flag::FreeWithWriteRole => "Free with write role",
            Flag::DisabledAccount => "disabled account",
            Flag::DeletedAccount => "deleted account",
            Flag::NoActivity => "no activity in the lookback",
            Flag::SoleAdmin => "sole Admin of the workspace",
            Flag::GroupOnly => "access only through a group",
            Flag::ServicePrincipal => "service principal",
        }
    }
}

impl FromStr for Flag {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Flag::ALL.into_iter().find(|f| f.as_str() == s).ok_or_else(|| format!("unknown flag '{s}'"))
    }
}

/// What the review suggests for a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recommendation {
    Keep,
    Revoke,
    Downgrade(Role),
}

impl fmt::Display for Recommendation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recommendation::Keep => f.write_str("Keep"),
            Recommendation::Revoke => f.write_str("Revoke"),
            Recommendation::Downgrade(r) => write!(f, "Downgrade:{r}"),
        }
    }
}

impl FromStr for Recommendation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "Keep" => Ok(Recommendation::Keep),
            "Revoke" => Ok(Recommendation::Revoke),
            other => other
                .strip_prefix("Downgrade:")
                .and_then(role_of)
                .map(Recommendation::Downgrade)
                .ok_or_else(|| format!("unknown recommendation '{other}'")),
        }
    }
}

/// A reviewer's decision on a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Decision {
    Keep,
    Revoke,
    /// Change the role to a lower one.
    Change,
    DontKnow,
}

impl Decision {
    pub const ALL: [Decision; 4] = [Decision::Keep, Decision::Revoke, Decision::Change, Decision::DontKnow];
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Keep => "Keep",
            Decision::Revoke => "Revoke",
            Decision::Change => "Change",
            Decision::DontKnow => "DontKnow",
        }
    }
    /// Revoke and Change remove access, so they need a reason.
    pub fn needs_justification(self) -> bool {
        matches!(self, Decision::Revoke | Decision::Change)
    }
}

impl FromStr for Decision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Decision::ALL.into_iter().find(|d| d.as_str() == s).ok_or_else(|| format!("unknown decision '{s}'"))
    }
}

/// A row of a campaign: the access, what the review made of it, and the current decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewRow {
    pub row_no: i64,
    pub access: AccessRow,
    pub flags: Vec<Flag>,
    pub recommendation: Recommendation,
    pub reason: String,
    /// The decision on the same access in the previous campaign over the same scope.
    pub previous_decision: Option<String>,
    /// Not in the previous campaign over the same scope (false when there was none).
    pub is_new: bool,
    pub current: Option<CurrentDecision>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentDecision {
    pub decision: Decision,
    pub new_role: Option<Role>,
    pub by: String,
    pub at: i64,
    pub justification: String,
}

/// What a reviewer saw when deciding, recorded in the log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Seen {
    pub workspace: String,
    pub principal: String,
    pub principal_type: String,
    pub role: String,
    pub via: String,
    pub flags: Vec<String>,
    pub recommendation: String,
    pub reason: String,
    pub previous_decision: Option<String>,
}

impl ReviewRow {
    pub fn seen(&self) -> Seen {
        Seen {
            workspace: self.access.workspace.clone(),
            principal: self.access.principal.clone(),
            principal_type: self.access.principal_type.clone(),
            role: self.access.role.clone(),
            via: self.access.via.clone(),
            flags: self.flags.iter().map(|f| f.as_str().to_string()).collect(),
            recommendation: self.recommendation.to_string(),
            reason: self.reason.clone(),
            previous_decision: self.previous_decision.clone(),
        }
    }

    /// The decision that accepts this row's recommendation.
    pub fn accept_recommendation(&self) -> DecisionRequest {
        let (decision, new_role) = match self.recommendation {
            Recommendation::Keep => (Decision::Keep, None),
            Recommendation::Revoke => (Decision::Revoke, None),
            Recommendation::Downgrade(r) => (Decision::Change, Some(r)),
        };
        DecisionRequest { row_no: self.row_no, decision, new_role, justification: format!("Accepted the recommendation: {}", self.reason) }
    }
}

/// A frozen snapshot: rows in a stable order, their hash, and the default reviewers.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub rows: Vec<ReviewRow>,
    pub hash: String,
    /// Workspace → reviewers (lower-case UPNs).
    pub reviewers: BTreeMap<Uuid, BTreeSet<String>>,
}

/// The hash of a snapshot's facts, in row order; also the first `prev` of the decision chain.
pub fn snapshot_hash(rows: &[AccessRow]) -> String {
    let mut h = Sha256::new();
    h.update(b"pbi-access review snapshot v1\n");
    for r in rows {
        h.update(serde_json::to_vec(r).expect("rows serialise"));
        h.update(b"\n");
    }
    hex(&h.finalize())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Freeze `rows` read at `snapshot_at` into a snapshot: sort, flag, recommend, compare with the
/// previous campaign's decisions (`previous`: access key → decision; `None` when there was no
/// previous campaign) and choose reviewers (`named`, or each workspace's enabled Admin users).
/// `lookback_days` 0 means the activity log was not read: no row is flagged for inactivity.
pub fn freeze(
    mut rows: Vec<AccessRow>,
    snapshot_at: i64,
    lookback_days: i64,
    previous: Option<&HashMap<String, String>>,
    named: &[String],
) -> Snapshot {
    rows.sort_by(|a, b| {
        (&a.workspace, a.workspace_id, a.principal.to_lowercase(), &a.role, &a.via).cmp(&(
            &b.workspace,
            b.workspace_id,
            b.principal.to_lowercase(),
            &b.role,
            &b.via,
        ))
    });
    rows.dedup();
    let hash = snapshot_hash(&rows);
    let mut direct_admins: HashMap<Uuid, usize> = HashMap::new();
    let mut direct_users: BTreeSet<(Uuid, String)> = BTreeSet::new();
    for r in &rows {
        if r.is_direct() && r.role == "Admin" {
            *direct_admins.entry(r.workspace_id).or_default() += 1;
        }
        if r.is_direct() && r.is_user() {
            direct_users.insert((r.workspace_id, r.principal.to_lowercase()));
        }
    }
    let mut reviewers: BTreeMap<Uuid, BTreeSet<String>> = BTreeMap::new();
    let named: BTreeSet<String> = named.iter().map(|n| n.trim().to_lowercase()).filter(|n| !n.is_empty()).collect();
    for r in &rows {
        let entry = reviewers.entry(r.workspace_id).or_default();
        if !named.is_empty() {
            entry.extend(named.iter().cloned());
        } else if r.is_user() && r.role == "Admin" && r.account == "enabled" {
            entry.insert(r.principal.to_lowercase());
        }
    }
    let since = snapshot_at - lookback_days * 86_400_000;
    let rows = rows
        .into_iter()
        .enumerate()
        .map(|(i, access)| {
            let mut flags = Vec::new();
            let user = access.is_user();
            if user {
                if access.account == "deleted" {
                    flags.push(Flag::DeletedAccount);
                } else {
                    if writes(&access.role) && access.user_type.eq_ignore_ascii_case("Guest") {
                        flags.push(Flag::GuestWithWriteRole);
                    }
                    if writes(&access.role) && access.license_type == "Free" {
                        flags.push(Flag::FreeWithWriteRole);
                    }
                    if access.account == "disabled" {
                        flags.push(Flag::DisabledAccount);
                    }
                    if lookback_days > 0 && access.last_activity.is_none_or(|t| t < since) {
                        flags.push(Flag::NoActivity);
                    }
                }
                if !access.is_direct() && !direct_users.contains(&(access.workspace_id, access.principal.to_lowercase())) {
                    flags.push(Flag::GroupOnly);
                }
            } else if access.principal_type.eq_ignore_ascii_case("App") {
                flags.push(Flag::ServicePrincipal);
            }
            if access.is_direct() && access.role == "Admin" && direct_admins.get(&access.workspace_id) == Some(&1) {
                flags.push(Flag::SoleAdmin);
            }
            let (recommendation, reason) = recommend(&access, &flags, lookback_days);
            let previous_decision = previous.and_then(|p| p.get(&access.access_key()).cloned());
            let is_new = previous.is_some_and(|p| !p.contains_key(&access.access_key()));
            ReviewRow { row_no: i as i64 + 1, access, flags, recommendation, reason, previous_decision, is_new, current: None }
        })
        .collect();
    Snapshot { rows, hash, reviewers }
}

fn recommend(access: &AccessRow, flags: &[Flag], lookback_days: i64) -> (Recommendation, String) {
    let has = |f: Flag| flags.contains(&f);
    if has(Flag::DeletedAccount) || has(Flag::DisabledAccount) {
        (Recommendation::Revoke, "The account cannot sign in.".into())
    } else if has(Flag::SoleAdmin) {
        (Recommendation::Keep, "The only Admin of the workspace: revoking it leaves the workspace without one.".into())
    } else if has(Flag::GroupOnly) {
        (Recommendation::Keep, format!("Granted through a group ({}): the group's membership is changed in Entra ID.", access.via))
    } else if has(Flag::GuestWithWriteRole) {
        (Recommendation::Downgrade(Role::Viewer), "A guest with a write role.".into())
    } else if has(Flag::FreeWithWriteRole) {
        (Recommendation::Downgrade(Role::Viewer), "A Free licence with a write role: writing needs Pro or Premium Per User.".into())
    } else if has(Flag::NoActivity) {
        (Recommendation::Revoke, format!("No activity in the last {lookback_days} days."))
    } else if has(Flag::ServicePrincipal) {
        (Recommendation::Keep, "An application: keep it while the automation it runs is still needed.".into())
    } else {
        (Recommendation::Keep, "Nothing to flag.".into())
    }
}

/// A decision as a reviewer submits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionRequest {
    pub row_no: i64,
    pub decision: Decision,
    /// The lower role, for `Change`.
    pub new_role: Option<Role>,
    pub justification: String,
}

/// Why a decision is refused. `field` names the form field the message goes next to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionRefusal {
    #[error("There is no such campaign.")]
    NoSuchCampaign,
    #[error("This campaign is {0}: decisions are closed.")]
    CampaignNotOpen(String),
    #[error("This campaign was due on {0}: decisions are closed.")]
    CampaignExpired(String),
    #[error("There is no row {0} in this campaign.")]
    NoSuchRow(i64),
    #[error("You are not a reviewer of the workspace {0}.")]
    NotReviewer(String),
    #[error("You cannot review your own access.")]
    SelfReview,
    #[error("A justification is required for {0}.")]
    JustificationRequired(&'static str),
    #[error("Choose the lower role to change to.")]
    NewRoleRequired,
    #[error("{requested} is not lower than the current role {current}.")]
    RoleNotLower { current: String, requested: String },
}

impl DecisionRefusal {
    pub fn field(&self) -> &'static str {
        match self {
            DecisionRefusal::JustificationRequired(_) => "justification",
            DecisionRefusal::NewRoleRequired | DecisionRefusal::RoleNotLower { .. } => "newRole",
            _ => "decision",
        }
    }
}

/// The state of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CampaignState {
    Open,
    Closed,
    Applied,
}

impl CampaignState {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignState::Open => "open",
            CampaignState::Closed => "closed",
            CampaignState::Applied => "applied",
        }
    }
}

impl FromStr for CampaignState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(CampaignState::Open),
            "closed" => Ok(CampaignState::Closed),
            "applied" => Ok(CampaignState::Applied),
            other => Err(format!("unknown campaign state '{other}'")),
        }
    }
}

/// Whether `reviewer` may record `request` on `row` now. `reviews_workspace`: the reviewer is one
/// of the row's workspace's reviewers.
pub fn check_decision(
    state: CampaignState,
    due_at: i64,
    now: i64,
    row: &ReviewRow,
    reviewer: &str,
    reviews_workspace: bool,
    request: &DecisionRequest,
) -> Result<(), DecisionRefusal> {
    if state != CampaignState::Open {
        return Err(DecisionRefusal::CampaignNotOpen(state.as_str().into()));
    }
    if now > due_at {
        let due = chrono::DateTime::from_timestamp_millis(due_at).map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default();
        return Err(DecisionRefusal::CampaignExpired(due));
    }
    if row.access.is_user() && row.access.principal.eq_ignore_ascii_case(reviewer.trim()) {
        return Err(DecisionRefusal::SelfReview);
    }
    if !reviews_workspace {
        return Err(DecisionRefusal::NotReviewer(row.access.workspace.clone()));
    }
    if request.decision == Decision::Change {
        let Some(requested) = request.new_role else {
            return Err(DecisionRefusal::NewRoleRequired);
        };
        match role_of(&row.access.role) {
            Some(current) if requested < current => {}
            _ => return Err(DecisionRefusal::RoleNotLower { current: row.access.role.clone(), requested: requested.to_string() }),
        }
    }
    if request.decision.needs_justification() && request.justification.trim().is_empty() {
        return Err(DecisionRefusal::JustificationRequired(if request.decision == Decision::Revoke { "Revoke" } else { "Change role" }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ws: Uuid, principal: &str, kind: &str, role: &str, via: &str) -> AccessRow {
        AccessRow {
            workspace_id: ws,
            workspace: "Finance".into(),
            principal: principal.into(),
            principal_type: kind.into(),
            role: role.into(),
            via: via.into(),
            license_type: "Pro".into(),
            user_type: "Member".into(),
            account: if kind == "User" { "enabled".into() } else { String::new() },
            last_activity: Some(1_000),
        }
    }

    fn snapshot() -> Snapshot {
        let ws = Uuid::from_u128(1);
        let mut guest = row(ws, "gina_ext#EXT#@contoso.com", "User", "Contributor", "direct");
        guest.user_type = "Guest".into();
        let mut free = row(ws, "fred@contoso.com", "User", "Member", "direct");
        free.license_type = "Free".into();
        let mut off = row(ws, "olga@contoso.com", "User", "Viewer", "direct");
        off.account = "disabled".into();
        let mut idle = row(ws, "ivan@contoso.com", "User", "Viewer", "direct");
        idle.last_activity = None;
        let rows = vec![
            row(ws, "dave@contoso.com", "User", "Admin", "direct"),
            guest,
            free,
            off,
            idle,
            row(ws, "Finance Team", "Group", "Viewer", "direct"),
            row(ws, "bob@contoso.com", "User", "Viewer", "group Finance Team"),
            row(ws, "automation", "App", "Member", "direct"),
        ];
        freeze(rows, 2_000, 30, None, &[])
    }

    fn find<'a>(s: &'a Snapshot, p: &str) -> &'a ReviewRow {
        s.rows.iter().find(|r| r.access.principal == p).unwrap()
    }

    #[test]
    fn flags_and_recommendations_follow_the_findings() {
        let s = snapshot();
        assert_eq!(find(&s, "dave@contoso.com").flags, vec![Flag::SoleAdmin]);
        assert_eq!(find(&s, "dave@contoso.com").recommendation, Recommendation::Keep);
        assert_eq!(find(&s, "gina_ext#EXT#@contoso.com").flags, vec![Flag::GuestWithWriteRole]);
        assert_eq!(find(&s, "gina_ext#EXT#@contoso.com").recommendation, Recommendation::Downgrade(Role::Viewer));
        assert_eq!(find(&s, "fred@contoso.com").flags, vec![Flag::FreeWithWriteRole]);
        assert_eq!(find(&s, "olga@contoso.com").recommendation, Recommendation::Revoke);
        assert_eq!(find(&s, "ivan@contoso.com").flags, vec![Flag::NoActivity]);
        assert_eq!(find(&s, "bob@contoso.com").flags, vec![Flag::GroupOnly]);
        assert_eq!(find(&s, "bob@contoso.com").recommendation, Recommendation::Keep);
        assert_eq!(find(&s, "automation").flags, vec![Flag::ServicePrincipal]);
        assert!(find(&s, "automation").reason.starts_with("An application"), "a flagged row says why");
        assert!(find(&s, "Finance Team").flags.is_empty());
        let facts: Vec<AccessRow> = s.rows.iter().map(|r| r.access.clone()).collect();
        let unread = freeze(facts, 2_000, 0, None, &[]);
        assert!(find(&unread, "ivan@contoso.com").flags.is_empty(), "activity not read: nothing flagged for it");
        // The workspace's enabled Admin reviews it by default.
        assert_eq!(s.reviewers[&Uuid::from_u128(1)], BTreeSet::from(["dave@contoso.com".to_string()]));
    }

    #[test]
    fn the_hash_covers_the_facts_in_any_input_order() {
        let s = snapshot();
        let mut facts: Vec<AccessRow> = s.rows.iter().map(|r| r.access.clone()).collect();
        facts.reverse();
        let again = freeze(facts.clone(), 2_000, 30, None, &[]);
        assert_eq!(again.hash, s.hash);
        facts[0].role = "Admin".into();
        assert_ne!(freeze(facts, 2_000, 30, None, &[]).hash, s.hash);
    }

    #[test]
    fn delta_marks_new_access_and_carries_the_previous_decision() {
        let s = snapshot();
        let dave = find(&s, "dave@contoso.com");
        let previous = HashMap::from([(dave.access.access_key(), "Keep".to_string())]);
        let facts: Vec<AccessRow> = s.rows.iter().map(|r| r.access.clone()).collect();
        let next = freeze(facts, 3_000, 30, Some(&previous), &[]);
        assert_eq!(find(&next, "dave@contoso.com").previous_decision.as_deref(), Some("Keep"));
        assert!(!find(&next, "dave@contoso.com").is_new);
        assert!(find(&next, "bob@contoso.com").is_new);
        assert!(!find(&s, "bob@contoso.com").is_new, "no previous campaign: nothing is new");
    }

    #[test]
    fn decisions_are_checked() {
        let s = snapshot();
        let gina = find(&s, "gina_ext#EXT#@contoso.com");
        let req = |decision, new_role, j: &str| DecisionRequest { row_no: gina.row_no, decision, new_role, justification: j.into() };
        let check = |r: &DecisionRequest, who: &str| check_decision(CampaignState::Open, 10_000, 5_000, gina, who, true, r);
        assert_eq!(check(&req(Decision::Keep, None, ""), "dave@contoso.com"), Ok(()));
        assert_eq!(check(&req(Decision::DontKnow, None, ""), "dave@contoso.com"), Ok(()));
        let missing = check(&req(Decision::Revoke, None, "  "), "dave@contoso.com").unwrap_err();
        assert_eq!(missing.field(), "justification");
        assert_eq!(check(&req(Decision::Change, Some(Role::Viewer), ""), "dave@contoso.com").unwrap_err().field(), "justification");
        assert_eq!(check(&req(Decision::Change, Some(Role::Viewer), "guest"), "dave@contoso.com"), Ok(()));
        let higher = check(&req(Decision::Change, Some(Role::Member), "x"), "dave@contoso.com").unwrap_err();
        assert!(matches!(higher, DecisionRefusal::RoleNotLower { .. }), "{higher:?}");
        assert_eq!(check(&req(Decision::Change, Some(Role::Contributor), "x"), "dave@contoso.com").unwrap_err().field(), "newRole");
        assert_eq!(check(&req(Decision::Change, None, "x"), "dave@contoso.com"), Err(DecisionRefusal::NewRoleRequired));
        assert_eq!(check(&req(Decision::Keep, None, ""), "GINA_EXT#EXT#@contoso.com"), Err(DecisionRefusal::SelfReview));
        let r = req(Decision::Keep, None, "");
        assert!(matches!(
            check_decision(CampaignState::Open, 10_000, 5_000, gina, "erin@contoso.com", false, &r),
            Err(DecisionRefusal::NotReviewer(_))
        ));
        assert!(matches!(
            check_decision(CampaignState::Open, 4_000, 5_000, gina, "dave@contoso.com", true, &r),
            Err(DecisionRefusal::CampaignExpired(_))
        ));
        assert!(matches!(
            check_decision(CampaignState::Closed, 10_000, 5_000, gina, "dave@contoso.com", true, &r),
            Err(DecisionRefusal::CampaignNotOpen(_))
        ));
    }

    #[test]
    fn accepting_a_recommendation_passes_the_checks() {
        let s = snapshot();
        for r in &s.rows {
            let req = r.accept_recommendation();
            assert_eq!(check_decision(CampaignState::Open, 10_000, 5_000, r, "someone@contoso.com", true, &req), Ok(()), "{r:?}");
        }
    }
}

/// A campaign about to start: who starts it, over what, and what its snapshot cost.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCampaign {
    pub id: Uuid,
    pub name: String,
    /// The scope as chosen: `{"all":true}`, `{"nameContains":"Fin"}`, `{"workspaces":[…]}`, `{"capacity":"…"}`.
    pub scope: serde_json::Value,
    pub owner: String,
    pub created_at: i64,
    pub due_at: i64,
    pub lookback_days: i64,
    pub snapshot_at: i64,
    /// Admin calls the snapshot spent.
    pub admin_calls: i64,
}

impl NewCampaign {
    /// The scope's canonical text: campaigns over the same scope share it (the delta's key).
    pub fn scope_key(&self) -> String {
        scope_key(&self.scope)
    }
}

pub fn scope_key(scope: &serde_json::Value) -> String {
    // serde_json's maps are sorted, so equal scopes print alike.
    scope.to_string()
}

/// A campaign as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    pub id: Uuid,
    pub name: String,
    pub scope: serde_json::Value,
    pub owner: String,
    pub created_at: i64,
    pub due_at: i64,
    pub lookback_days: i64,
    pub snapshot_at: i64,
    pub snapshot_hash: String,
    pub admin_calls: i64,
    pub row_count: i64,
    pub state: CampaignState,
    pub previous_id: Option<Uuid>,
    pub log_length: i64,
    pub log_head: String,
}

/// A decided/total count, for a reviewer or a workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub name: String,
    pub decided: i64,
    pub total: i64,
}

/// A campaign's progress.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Progress {
    /// Rows each reviewer may decide (their own access left out) and how many are decided.
    pub by_reviewer: Vec<Tally>,
    pub by_workspace: Vec<Tally>,
    /// Decision → rows; rows without one count under `open`.
    pub decisions: BTreeMap<String, i64>,
}

/// Which rows a page lists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RowQuery {
    /// Only rows of the workspaces this reviewer (lower-case UPN) reviews.
    pub reviewer: Option<String>,
    pub workspace_id: Option<Uuid>,
    pub flag: Option<Flag>,
    pub decision: Option<DecisionFilter>,
    /// Part of the principal's or the workspace's name, any case.
    pub search: Option<String>,
    /// Rows after this number (keyset).
    pub after: i64,
    pub limit: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionFilter {
    Open,
    Decided(Decision),
}

/// A person signed in to the review app, as every instance on the database sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    /// Lower-case UPN.
    pub upn: String,
    pub name: String,
    /// A Fabric administrator: creates, closes and applies campaigns.
    pub admin: bool,
    /// The session's CSRF token, carried by every form.
    pub csrf: String,
    pub expires_at: i64,
}

/// A sign-in under way: the PKCE verifier and nonce its `state` stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignIn {
    pub verifier: String,
    pub nonce: String,
    pub expires_at: i64,
}

/// What the store keys a session or sign-in by: the SHA-256 of the secret the browser holds,
/// so the database never holds a usable cookie or `state`.
pub fn secret_key(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}
