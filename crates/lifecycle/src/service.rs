//! The offboarding's calls to the service through `pbi-client`: discovery that spends the least
//! admin budget, and the [`OffboardTarget`] that runs each step through the endpoint the plan
//! chose. Shared by the `pbi-access offboard` command and the offboarding benchmark.

use std::collections::{BTreeMap, HashSet};

use futures::{StreamExt, TryStreamExt};
use pbi_client::{AddOutcome, AdminGroupsQuery, ClientError, GraphClient, Memberships, PowerBiClient};
use pbi_wire::admin::ArtifactAccessEntry;
use pbi_wire::powerbi::{GroupUser, GroupUserAccessRight, PrincipalType};
use uuid::Uuid;

use crate::apply::TargetError;
use crate::offboard::{Discovery, ItemReach, OffboardAction, OffboardStep, OffboardTarget, Share, StepOutcome, WorkspaceReach};
use crate::plan::Endpoint;
use crate::state::{PrincipalKey, PrincipalKind, Role};

/// A client error as the executor sees it: a spent budget stops the run, an ambiguous answer is
/// in doubt, anything else fails the step.
pub fn target_error(e: ClientError) -> TargetError {
    match e {
        ClientError::BudgetExhausted { retry_after, .. } | ClientError::Throttled { retry_after, .. } => {
            TargetError::BudgetExhausted { retry_after_secs: retry_after.as_secs() }
        }
        ClientError::Ambiguous { cause, .. } => TargetError::Ambiguous(cause),
        other => TargetError::Failed(other.to_string()),
    }
}

pub fn role_of(right: GroupUserAccessRight) -> Option<Role> {
    match right {
        GroupUserAccessRight::Admin => Some(Role::Admin),
        GroupUserAccessRight::Member => Some(Role::Member),
        GroupUserAccessRight::Contributor => Some(Role::Contributor),
        GroupUserAccessRight::Viewer => Some(Role::Viewer),
        GroupUserAccessRight::None => None,
    }
}

fn role_named(text: &str) -> Option<Role> {
    match text.to_ascii_lowercase().as_str() {
        "admin" => Some(Role::Admin),
        "member" => Some(Role::Member),
        "contributor" => Some(Role::Contributor),
        "viewer" => Some(Role::Viewer),
        _ => None,
    }
}

/// Whether a listed member is this principal (users by UPN or mail; no profiles).
fn is(member: &GroupUser, who: &PrincipalKey) -> bool {
    let kind = match member.principal_type {
        Some(PrincipalType::User) | None => PrincipalKind::User,
        Some(PrincipalType::Group) => PrincipalKind::Group,
        Some(PrincipalType::App) => PrincipalKind::App,
        Some(PrincipalType::None) => return false,
    };
    let eq = |v: &Option<String>| v.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(&who.identifier));
    kind == who.kind && member.profile.is_none() && (eq(&member.identifier) || (kind == PrincipalKind::User && eq(&member.email_address)))
}

fn role_in(members: &[GroupUser], who: &PrincipalKey) -> Option<Role> {
    members.iter().find(|m| is(m, who)).and_then(|m| role_of(m.group_user_access_right))
}

/// Free member lists read at once.
const FAN_OUT: usize = 8;
/// Up to this many workspaces outside the caller's are read one admin call each; more, through
/// the tenant's workspace list with users.
const ONE_BY_ONE: usize = 2;

/// Admin calls discovery spent, so reports can show them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiscoveryCost {
    pub admin_calls: u32,
}

/// Find everything `upn` reaches, spending as little admin budget as possible:
/// Graph resolves the user (and names the groups that give access); one `artifactAccess` walk
/// (admin, one call a page) lists every workspace and item; the member lists of workspaces the
/// caller holds a role in are free (`GET /groups/{id}/users`), and only the others are read
/// through the admin endpoint, and only when the plan needs their facts (an Admin role whose
/// removal may leave the workspace without one, or access through a group that may hide a
/// direct role). The groups are named from the user's own `transitiveMemberOf`
/// ([`GraphClient::user_groups`]): the Graph calls follow the user's groups, not the tenant's.
pub async fn discover(
    client: &PowerBiClient,
    graph: Option<&GraphClient>,
    upn: &str,
    caller: &PrincipalKey,
) -> Result<(Discovery, DiscoveryCost), ClientError> {
    discover_reporting(client, graph, upn, caller, &|_| {}).await
}

/// [`discover`], saying what it is doing as it goes (`report` gets a short line per step, for a
/// spinner).
pub async fn discover_reporting(
    client: &PowerBiClient,
    graph: Option<&GraphClient>,
    upn: &str,
    caller: &PrincipalKey,
    report: &(dyn Fn(String) + Sync),
) -> Result<(Discovery, DiscoveryCost), ClientError> {
    let mut cost = DiscoveryCost::default();
    let (upn, object_id, graph) = resolve_user(graph, upn).await?;
    let user_key = PrincipalKey::new(PrincipalKind::User, &upn);
    let who = object_id.map(|o| o.to_string()).unwrap_or_else(|| upn.clone());
    report(format!("reading what {upn} can reach (artifactAccess)"));
    let seen = std::sync::atomic::AtomicUsize::new(0);
    let pages: Vec<_> = client
        .user_artifact_access_pages(&who, &[], None)
        .inspect_ok(|p| {
            let so_far = seen.fetch_add(p.items.len(), std::sync::atomic::Ordering::Relaxed) + p.items.len();
            report(format!("reading what {upn} can reach (artifactAccess): {so_far} item(s)"))
        })
        .try_collect()
        .await?;
    cost.admin_calls += pages.len() as u32;
    let (wanted, items) = sort_entries(pages.into_iter().flat_map(|p| p.items));
    let mine: HashSet<Uuid> = client
        .groups_stream(None, 5000)
        .map_ok(|page| page.into_iter().map(|g| g.id))
        .try_collect::<Vec<_>>()
        .await?
        .into_iter()
        .flatten()
        .collect();
    let members_of = member_lists(client, &wanted, &mine, report, &mut cost).await?;

    // The user's groups, direct and nested (read once, when some access comes through a group):
    // its own transitiveMemberOf and memberOf, never the tenant's group graph.
    let mut groups_of_user: Option<(Memberships, BTreeMap<Uuid, Vec<Uuid>>)> = None;
    let mut workspaces = Vec::new();
    for w in wanted {
        let members = members_of.get(&w.id);
        let mut reach = WorkspaceReach {
            id: w.id.to_string(),
            name: w.name,
            direct_role: if w.share == Share::Direct { w.listed_role } else { None },
            through_group: w.share == Share::Group,
            groups: Vec::new(),
            direct_admins: 0,
            caller_role: None,
        };
        if let Some(members) = members {
            reach.direct_role = role_in(members, &user_key);
            reach.direct_admins = members.iter().filter(|m| m.group_user_access_right == GroupUserAccessRight::Admin).count() as u32;
            reach.caller_role = role_in(members, caller);
            if let (true, Some(graph), Some(oid)) = (reach.through_group, graph, object_id) {
                if groups_of_user.is_none() {
                    report(format!("reading the groups of {upn} (transitiveMemberOf)"));
                    let all = graph.user_groups(oid).await?;
                    let mine = all.transitive_member_of(oid);
                    groups_of_user = Some((all, mine));
                }
                if let Some((all, mine)) = &groups_of_user {
                    reach.groups = group_names(members, all, mine);
                }
            }
        }
        workspaces.push(reach);
    }
    Ok((Discovery { upn, object_id: object_id.map(|o| o.to_string()), workspaces, items }, cost))
}

/// The user as Graph knows it: its canonical UPN (lower case) and object id. Without a Graph
/// token, or when Graph refuses it, discovery goes on without Graph (`None`: the groups that give
/// access are then not named).
async fn resolve_user<'g>(
    graph: Option<&'g GraphClient>,
    upn: &str,
) -> Result<(String, Option<Uuid>, Option<&'g GraphClient>), ClientError> {
    let mut upn = upn.trim().to_lowercase();
    let Some(g) = graph else { return Ok((upn, None, None)) };
    match g.get_user(&upn).await {
        Ok(user) => {
            if let Some(canonical) = user.user_principal_name {
                upn = canonical.to_lowercase();
            }
            Ok((upn, Some(user.id), graph))
        }
        Err(e) if matches!(e, ClientError::OAuth { .. }) || e.status().is_some_and(|s| s.as_u16() == 401 || s.as_u16() == 403) => {
            tracing::warn!(error = %e, "Graph is not available: the groups that give access will not be named");
            Ok((upn, None, None))
        }
        Err(e) => Err(e),
    }
}

/// A workspace the user reaches, as `artifactAccess` lists it.
struct Wanted {
    id: Uuid,
    name: String,
    share: Share,
    listed_role: Option<Role>,
    /// The plan needs its member list: an Admin role (maybe the last) or access through a group
    /// (which may hide a weaker direct role).
    needs_facts: bool,
}

/// Split `artifactAccess` entries into the workspaces (with what each needs) and the items.
fn sort_entries(entries: impl Iterator<Item = ArtifactAccessEntry>) -> (Vec<Wanted>, Vec<ItemReach>) {
    let mut wanted = Vec::new();
    let mut items = Vec::new();
    for entry in entries {
        let kind = entry.artifact_type.as_str().to_string();
        let share = match entry.share_type.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("direct") => Share::Direct,
            Some("group") => Share::Group,
            _ => Share::Workspace,
        };
        if !matches!(kind.as_str(), "Workspace" | "Group") {
            items.push(ItemReach { id: entry.artifact_id, name: entry.display_name, kind, access_right: entry.access_right, share });
            continue;
        }
        let Ok(id) = entry.artifact_id.parse::<Uuid>() else { continue };
        let listed_role = role_named(&entry.access_right);
        let needs_facts = share == Share::Group || listed_role == Some(Role::Admin);
        wanted.push(Wanted { id, name: entry.display_name, share, listed_role, needs_facts });
    }
    (wanted, items)
}

/// The member lists discovery needs: the caller's own workspaces (`mine`) through the free
/// endpoint (a few at a time), the others only where the plan needs facts, through the admin
/// endpoint: one call each when they are few, else the tenant's workspace list with its users
/// (5,000 workspaces an admin call), so the admin calls never follow the number of workspaces
/// the user reaches.
async fn member_lists(
    client: &PowerBiClient,
    wanted: &[Wanted],
    mine: &HashSet<Uuid>,
    report: &(dyn Fn(String) + Sync),
    cost: &mut DiscoveryCost,
) -> Result<BTreeMap<Uuid, Vec<GroupUser>>, ClientError> {
    let free: Vec<Uuid> = wanted.iter().filter(|w| mine.contains(&w.id)).map(|w| w.id).collect();
    let admin: HashSet<Uuid> = wanted.iter().filter(|w| !mine.contains(&w.id) && w.needs_facts).map(|w| w.id).collect();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let total = free.len();
    let mut members_of: BTreeMap<Uuid, Vec<GroupUser>> = futures::stream::iter(free)
        .map(|id| {
            let done = &done;
            async move {
                let members = client.get_group_users(id).await?;
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                report(format!("member lists of the caller's workspaces: {n}/{total}"));
                Ok::<_, ClientError>((id, members))
            }
        })
        .buffer_unordered(FAN_OUT)
        .try_collect()
        .await?;
    if admin.len() <= ONE_BY_ONE {
        for id in &admin {
            report(format!("member list of workspace {id} (admin)"));
            cost.admin_calls += 1;
            members_of.insert(*id, client.get_group_users_as_admin(*id).await?);
        }
        return Ok(members_of);
    }
    report(format!("member lists of {} workspaces (admin/groups, 5,000 a call)", admin.len()));
    let q = AdminGroupsQuery { expand: Some("users".into()), filter: Some("state eq 'Active'".into()) };
    let mut pages = client.groups_as_admin_stream(5000, &q);
    let mut found = 0;
    while let Some(page) = pages.try_next().await? {
        cost.admin_calls += 1;
        for g in page.into_iter().filter(|g| admin.contains(&g.id)) {
            members_of.insert(g.id, g.users.unwrap_or_default());
            found += 1;
        }
        if found == admin.len() {
            break;
        }
    }
    Ok(members_of)
}

/// The groups holding a role in a workspace that contain the user, by name, with the nesting
/// when the user is in a group inside them (`Sales (through Analysts)`).
fn group_names(members: &[GroupUser], all: &Memberships, mine: &BTreeMap<Uuid, Vec<Uuid>>) -> Vec<String> {
    members
        .iter()
        .filter(|m| m.principal_type == Some(PrincipalType::Group))
        .filter_map(|m| m.identifier.as_deref()?.parse::<Uuid>().ok())
        .filter_map(|g| {
            let chain = mine.get(&g)?;
            let inner: Vec<String> = chain[..chain.len().saturating_sub(1)].iter().map(|id| all.group_name(*id)).collect();
            Some(if inner.is_empty() { all.group_name(g) } else { format!("{} (through {})", all.group_name(g), inner.join(", ")) })
        })
        .collect()
}

/// Runs offboarding steps through the client.
pub struct ClientOffboardTarget<'a> {
    pub client: &'a PowerBiClient,
}

/// A refusal the service will repeat (4xx other than 404 and 429): not worth retrying.
fn refusal(e: &ClientError) -> Option<String> {
    match e {
        ClientError::Api { status, code, message, .. } if status.is_client_error() && status.as_u16() != 429 => {
            Some(format!("{status} {code}: {message}"))
        }
        _ => None,
    }
}

fn removal(result: Result<(), ClientError>) -> Result<StepOutcome, TargetError> {
    match result {
        Ok(()) => Ok(StepOutcome::Done),
        Err(e) if e.status().is_some_and(|s| s.as_u16() == 404) => Ok(StepOutcome::AlreadyGone),
        Err(e) => match refusal(&e) {
            Some(why) => Ok(StepOutcome::Refused(why)),
            None => Err(target_error(e)),
        },
    }
}

impl ClientOffboardTarget<'_> {
    async fn members(&self, group: Uuid, endpoint: Endpoint) -> Result<Vec<GroupUser>, ClientError> {
        match endpoint {
            Endpoint::Workspace => self.client.get_group_users(group).await,
            Endpoint::Admin => self.client.get_group_users_as_admin(group).await,
        }
    }

    /// Make the successor an Admin: read first when an earlier run left the add in doubt (or on
    /// the free workspace endpoint, where an existing member must be updated, not added), and
    /// never send a POST again without reading back (`*_verified`).
    async fn hand_over(&self, group: Uuid, endpoint: Endpoint, successor: &str, in_doubt: bool) -> Result<StepOutcome, ClientError> {
        let key = PrincipalKey::new(PrincipalKind::User, successor);
        let body = GroupUser::principal(successor.to_string(), PrincipalType::User, GroupUserAccessRight::Admin);
        if in_doubt || endpoint == Endpoint::Workspace {
            match role_in(&self.members(group, endpoint).await?, &key) {
                Some(Role::Admin) => return Ok(StepOutcome::Done),
                Some(_) if endpoint == Endpoint::Workspace => {
                    self.client.update_group_user(group, &body).await?;
                    return Ok(StepOutcome::Done);
                }
                _ => {}
            }
        }
        let outcome = match endpoint {
            Endpoint::Workspace => self.client.add_group_user_verified(group, &body).await?,
            // The admin endpoint adds or updates.
            Endpoint::Admin => self.client.add_user_as_admin_verified(group, &body).await?,
        };
        Ok(match outcome {
            AddOutcome::Added | AddOutcome::ConfirmedAfterAmbiguity => StepOutcome::Done,
            AddOutcome::PresentWithOtherRole(r) => StepOutcome::Refused(format!("the successor holds {} and was not changed", r.as_str())),
        })
    }
}

impl OffboardTarget for ClientOffboardTarget<'_> {
    async fn run_step(&self, upn: &str, step: &OffboardStep, in_doubt: bool) -> Result<StepOutcome, TargetError> {
        match &step.action {
            OffboardAction::RemoveDatasetPermission { .. } => removal(self.client.delete_dataset_user(&step.target_id, upn).await),
            OffboardAction::RemoveWorkspaceRole { .. } => {
                let group: Uuid =
                    step.target_id.parse().map_err(|_| TargetError::Failed(format!("bad workspace id {}", step.target_id)))?;
                removal(match step.endpoint {
                    Endpoint::Workspace => self.client.delete_group_user(group, upn).await,
                    Endpoint::Admin => self.client.delete_user_as_admin(group, upn, false).await,
                })
            }
            OffboardAction::AddSuccessorAsAdmin { successor } => {
                let group: Uuid =
                    step.target_id.parse().map_err(|_| TargetError::Failed(format!("bad workspace id {}", step.target_id)))?;
                match self.hand_over(group, step.endpoint, successor, in_doubt).await {
                    Ok(outcome) => Ok(outcome),
                    Err(e) => match refusal(&e) {
                        Some(why) => Ok(StepOutcome::Refused(why)),
                        None => Err(target_error(e)),
                    },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_named_with_their_nesting() {
        let [outer, inner, other, user] = [0u8; 4].map(|_| Uuid::new_v4());
        let mut all = Memberships::default();
        for (id, name) in [(outer, "Leads"), (inner, "Analysts"), (other, "Others")] {
            all.groups.insert(id, serde_json::from_value(serde_json::json!({"id": id, "displayName": name})).unwrap());
        }
        all.parents.insert(user, vec![inner]);
        all.parents.insert(inner, vec![outer]);
        let mine = all.transitive_member_of(user);
        let member = |id: Uuid| GroupUser::principal(id.to_string(), PrincipalType::Group, GroupUserAccessRight::Viewer);
        let listed =
            [member(outer), member(other), member(inner), GroupUser::principal("x@y.z", PrincipalType::User, GroupUserAccessRight::Admin)];
        assert_eq!(group_names(&listed, &all, &mine), vec!["Leads (through Analysts)".to_string(), "Analysts".to_string()]);
    }

    #[test]
    fn members_match_by_upn_or_mail_and_kind() {
        let mut u = GroupUser::principal("Carol@X.com", PrincipalType::User, GroupUserAccessRight::Member);
        assert_eq!(role_in(std::slice::from_ref(&u), &PrincipalKey::new(PrincipalKind::User, "carol@x.com")), Some(Role::Member));
        assert_eq!(role_in(std::slice::from_ref(&u), &PrincipalKey::new(PrincipalKind::App, "carol@x.com")), None);
        u.identifier = Some("3f1c".into());
        u.email_address = Some("carol@x.com".into());
        assert_eq!(role_in(&[u], &PrincipalKey::new(PrincipalKind::User, "CAROL@x.com")), Some(Role::Member));
    }
}
