//! `pbi-access access UPN` and `pbi-access who ARTIFACT`: effective access with the path that
//! grants it (a direct role or permission, a workspace role, group X inside group Y, a Microsoft
//! 365 group backing the workspace).
//!
//! Sources: the admin artifact-access list of the user (followed to its last continuation
//! token), every workspace's direct roles (`GET /admin/groups?$expand=users`, one admin call per
//! 5,000 workspaces), the per-item admin user lists for `who`, and Graph: the user's own
//! `transitiveMemberOf` for `access`, each holding group's `transitiveMembers` for `who` (never
//! the tenant's whole group graph).
//! The Power BI API does not say which Microsoft 365 group backs a workspace: when the user's
//! role is stronger than every direct or group role explains, the Microsoft 365 groups the user
//! is in are named as the backing (see docs/fidelity.md).

use std::collections::BTreeMap;
use std::process::ExitCode;

use futures::TryStreamExt;
use pbi_client::Memberships;
use pbi_wire::admin::{AdminGroup, ArtifactAccessEntry, ArtifactType};
use pbi_wire::graph::User;
use pbi_wire::powerbi::{GroupUser, PrincipalType};
use uuid::Uuid;

use super::commands::{fail, render, Session};
use super::directory::{admin_groups, graph, ledger_calls, role_rank, workspaces, Workspace};
use super::exit;
use super::output::{Format, Rows};
use super::progress;
use pbi_client::GraphClient;

/// "group Inner inside group Outer": a chain from the group holding the principal directly up to
/// the group holding the access.
pub fn group_path(m: &Memberships, chain: &[Uuid]) -> String {
    chain.iter().map(|g| format!("group {}", m.group_name(*g))).collect::<Vec<_>>().join(" inside ")
}

fn is_user(u: &GroupUser, user: &User) -> bool {
    let upn = user.user_principal_name.as_deref().unwrap_or_default();
    u.principal_type == Some(PrincipalType::User)
        && (u.identifier.as_deref().is_some_and(|i| i.eq_ignore_ascii_case(upn) || i == user.id.to_string())
            || u.graph_id.as_deref() == Some(user.id.to_string().as_str()))
}

fn group_id(u: &GroupUser) -> Option<Uuid> {
    (u.principal_type == Some(PrincipalType::Group)).then(|| u.identifier.as_deref().and_then(|i| Uuid::parse_str(i).ok())).flatten()
}

/// The paths that give `user` a role in `ws`, with the role each gives.
pub fn workspace_paths(ws: &Workspace, user: &User, m: &Memberships, groups_of_user: &BTreeMap<Uuid, Vec<Uuid>>) -> Vec<(String, String)> {
    let mut paths = Vec::new();
    for u in &ws.users {
        let role = u.group_user_access_right.as_str().to_string();
        if is_user(u, user) {
            paths.push((role, "direct workspace role".to_string()));
        } else if let Some(chain) = group_id(u).and_then(|g| groups_of_user.get(&g)) {
            paths.push((role, format!("workspace role of {}", group_path(m, chain))));
        }
    }
    paths
}

pub async fn access(s: &Session, upn: &str, format: Format) -> ExitCode {
    let before = ledger_calls(&s.profile).await;
    let graph = match graph(&s.profile) {
        Ok(g) => g,
        Err(e) => return fail(exit::USAGE, e),
    };
    let user = match graph.get_user(upn).await {
        Ok(u) => u,
        Err(e) => return fail(exit::FAILURE, format!("no account '{upn}' in the directory: {e}")),
    };
    let show = progress::visible(format);
    let spinner = progress::spinner(format!("reading the groups of {upn} (transitiveMemberOf)"), show);
    let m = match graph.user_groups(user.id).await {
        Ok(m) => m,
        Err(e) => return fail(exit::FAILURE, e),
    };
    let mine = m.transitive_member_of(user.id);
    spinner.set_message("reading the workspaces and their roles (admin/groups)");
    let spaces = match workspaces(s).await {
        Ok(w) => w,
        Err(e) => return fail(exit::FAILURE, e),
    };
    spinner.set_message(format!("reading what {upn} can reach (artifactAccess)"));
    let entries: Vec<ArtifactAccessEntry> = match s.client.user_artifact_access(&user.id.to_string(), &[]).try_collect().await {
        Ok(e) => e,
        Err(e) => return fail(exit::FAILURE, e),
    };
    spinner.finish_and_clear();
    let mut rows = Rows::new(&["artifactType", "name", "access", "path"]);
    // Workspaces: every path, and the Microsoft 365 backing when no role explains the access.
    for ws in &spaces {
        let paths = workspace_paths(ws, &user, &m, &mine);
        let effective =
            entries.iter().find(|e| e.artifact_type.as_str() == "Workspace" && e.artifact_id.eq_ignore_ascii_case(&ws.id.to_string()));
        let explained = paths.iter().map(|(r, _)| role_rank(r)).max().unwrap_or(0);
        for (role, path) in &paths {
            rows.push(vec!["Workspace".into(), ws.name.clone(), role.clone(), path.clone()]);
        }
        if let Some(e) = effective.filter(|e| role_rank(&e.access_right) > explained) {
            let m365: Vec<&Uuid> = mine.keys().filter(|g| m365_of(&m, **g)).collect();
            let path = match m365.as_slice() {
                [] => "a Microsoft 365 group backing the workspace (one the user owns)".to_string(),
                groups => {
                    let names: Vec<String> = groups.iter().map(|g| group_path(&m, &mine[*g])).collect();
                    format!("Microsoft 365 {} backing the workspace", names.join(" or "))
                }
            };
            rows.push(vec!["Workspace".into(), ws.name.clone(), e.access_right.clone(), path]);
        }
    }
    // Items: direct and group permissions; items reached through a role are covered above.
    let by_group = entries.iter().filter(|e| e.artifact_type.as_str() != "Workspace" && e.share_type.as_deref() == Some("Group")).count();
    let bar = progress::bar(by_group as u64, show && by_group > 0);
    bar.set_message("finding the group behind each permission shared with a group");
    for e in entries.iter().filter(|e| e.artifact_type.as_str() != "Workspace") {
        let path = match e.share_type.as_deref() {
            Some("Direct") => "direct permission".to_string(),
            Some("Group") => {
                bar.inc(1);
                group_grant_path(s, e, &m, &mine).await
            }
            _ => "through a workspace role".to_string(),
        };
        rows.push(vec![e.artifact_type.as_str().to_string(), e.display_name.clone(), e.access_right.clone(), path]);
    }
    bar.finish_and_clear();
    let code = render(&rows, format);
    eprintln!("{} admin call(s) spent, {} Graph call(s)", ledger_calls(&s.profile).await.saturating_sub(before), graph.stats().requests);
    code
}

/// One principal's right on the asked item, before groups are expanded.
struct Holder {
    identifier: String,
    principal_type: PrincipalType,
    display_name: Option<String>,
    right: String,
}

fn holders_of_workspace(ws: &Workspace) -> Vec<Holder> {
    ws.users
        .iter()
        .map(|u| Holder {
            identifier: u.identifier.clone().unwrap_or_default(),
            principal_type: u.principal_type.unwrap_or(PrincipalType::None),
            display_name: u.display_name.clone(),
            right: u.group_user_access_right.as_str().to_string(),
        })
        .collect()
}

/// An item of a workspace, found by name or id among reports, datasets and dashboards.
struct Item {
    kind: &'static str,
    id: Uuid,
    name: String,
    workspace: Uuid,
}

fn find_items(groups: &[AdminGroup], key: &str) -> Vec<Item> {
    let mut out = Vec::new();
    for g in groups {
        let reports = g.reports.iter().flatten().map(|r| ("Report", r.id, r.name.as_str()));
        let datasets = g.datasets.iter().flatten().filter_map(|d| Uuid::parse_str(&d.id).ok().map(|id| ("Dataset", id, d.name.as_str())));
        let dashboards = g.dashboards.iter().flatten().map(|d| ("Dashboard", d.id, d.display_name.as_str()));
        for (kind, id, name) in reports.chain(datasets).chain(dashboards) {
            if id.to_string().eq_ignore_ascii_case(key) || name.eq_ignore_ascii_case(key) {
                out.push(Item { kind, id, name: name.to_string(), workspace: g.id });
            }
        }
    }
    out
}

/// The principals of an item's admin user list (one admin call).
async fn holders_of_item(s: &Session, kind: &str, id: Uuid) -> Result<Vec<Holder>, pbi_client::ClientError> {
    macro_rules! holders {
        ($list:expr, $field:ident) => {
            $list
                .into_iter()
                .map(|u| Holder {
                    identifier: u.identifier,
                    principal_type: u.principal_type,
                    display_name: u.display_name,
                    right: u.$field.as_str().to_string(),
                })
                .collect()
        };
    }
    Ok(match kind {
        "Report" | "PaginatedReport" => holders!(s.client.get_report_users_as_admin(id).await?, report_user_access_right),
        "Dataset" => holders!(s.client.get_dataset_users_as_admin(id).await?, dataset_user_access_right),
        "Dashboard" => holders!(s.client.get_dashboard_users_as_admin(id).await?, dashboard_user_access_right),
        "Dataflow" => holders!(s.client.get_dataflow_users_as_admin(id).await?, dataflow_user_access_right),
        "App" => holders!(s.client.get_app_users_as_admin(id).await?, app_user_access_right),
        _ => Vec::new(),
    })
}

/// Which of the user's groups holds the permission on an item shared with a group: the item's
/// admin user list (one admin call per such item), matched against the user's transitive groups.
async fn group_grant_path(s: &Session, e: &ArtifactAccessEntry, m: &Memberships, mine: &BTreeMap<Uuid, Vec<Uuid>>) -> String {
    let fallback = "permission of a group the user is in".to_string();
    let Ok(id) = Uuid::parse_str(&e.artifact_id) else { return fallback };
    let Ok(holders) = holders_of_item(s, e.artifact_type.as_str(), id).await else { return fallback };
    let paths: Vec<String> = holders
        .iter()
        .filter(|h| h.principal_type == PrincipalType::Group)
        .filter_map(|h| Uuid::parse_str(&h.identifier).ok().and_then(|g| mine.get(&g)))
        .map(|chain| format!("permission of {}", group_path(m, chain)))
        .collect();
    if paths.is_empty() {
        fallback
    } else {
        paths.join("; ")
    }
}

/// A row for every user inside `group` (nested groups included), with the chain that holds them.
fn push_members(rows: &mut Rows, m: &Memberships, group: Uuid, right: &str, own_path: &str) {
    for (user, chain) in m.transitive_users(group) {
        // The chain runs from the holding group down; "inner inside outer" reads upwards.
        let up: Vec<Uuid> = chain.iter().rev().copied().collect();
        rows.push(vec![
            user.user_principal_name.clone().unwrap_or_else(|| user.id.to_string()),
            "User".into(),
            right.to_string(),
            format!("member of {} ({own_path})", group_path(m, &up)),
        ]);
    }
}

/// At most this many Microsoft 365 groups are checked for backing a workspace (an admin call each).
const BACKING_CHECKS: usize = 20;

/// The Microsoft 365 groups that back these workspaces, with the role they give, by workspace.
/// The API does not say, so for each Microsoft 365 group one member whose only Microsoft 365
/// group it is has its workspace access read (`artifactAccess?artifactTypes=Workspace`, one admin
/// call per group): a role stronger than every direct or group role explains comes from the backing.
pub async fn backings(s: &Session, spaces: &[Workspace], m: &Memberships) -> BTreeMap<Uuid, Vec<(Uuid, String)>> {
    let m365: Vec<Uuid> = m.groups.values().filter(|g| g.is_microsoft365()).map(|g| g.id).collect();
    let mut out: BTreeMap<Uuid, Vec<(Uuid, String)>> = BTreeMap::new();
    if m365.len() > BACKING_CHECKS {
        eprintln!("pbi-access: {} Microsoft 365 groups: Microsoft 365 backing not checked (it would take an admin call each)", m365.len());
        return out;
    }
    for g in m365 {
        let only_in_g = |u: &pbi_wire::graph::User| m.transitive_member_of(u.id).keys().filter(|k| m365_of(m, **k)).count() == 1;
        let Some((user, _)) = m.transitive_users(g).into_iter().find(|(u, _)| only_in_g(u)) else { continue };
        let mine = m.transitive_member_of(user.id);
        let entries: Vec<ArtifactAccessEntry> =
            match s.client.user_artifact_access(&user.id.to_string(), &[ArtifactType::Workspace]).try_collect().await {
                Ok(e) => e,
                Err(_) => continue,
            };
        for ws in spaces {
            let explained = workspace_paths(ws, &user, m, &mine).iter().map(|(r, _)| role_rank(r)).max().unwrap_or(0);
            let effective = entries.iter().find(|e| e.artifact_id.eq_ignore_ascii_case(&ws.id.to_string()));
            if let Some(e) = effective.filter(|e| role_rank(&e.access_right) > explained) {
                out.entry(ws.id).or_default().push((g, e.access_right.clone()));
            }
        }
    }
    out
}

/// The tenant's Microsoft 365 groups: `$filter=groupTypes/any(c:c eq 'Unified')` (Graph's
/// documented filter), or, where the service refuses the filter, every group's `groupTypes`
/// (one list, 999 groups a page; never the members).
async fn microsoft365_groups(graph: &GraphClient) -> Result<Vec<pbi_wire::graph::Group>, pbi_client::ClientError> {
    match graph.groups(Some("groupTypes/any(c:c eq 'Unified')")).try_collect::<Vec<_>>().await {
        Ok(found) => Ok(found),
        Err(e) if e.status().is_some_and(|s| s.as_u16() == 400) => {
            let query =
                pbi_client::Query::new().push("$top", pbi_client::graph::MEMBERSHIP_PAGE).push("$select", pbi_client::graph::GROUP_SELECT);
            let all = graph.list::<pbi_wire::graph::Group>("/v1.0/groups", &query);
            Ok(all.try_filter(|g| futures::future::ready(g.is_microsoft365())).try_collect().await?)
        }
        Err(e) => Err(e),
    }
}

/// Candidates read per Microsoft 365 group when looking for a member in no other one.
const BACKING_CANDIDATES: usize = 5;

/// The Microsoft 365 groups that back one workspace, each with the role it gives and its members
/// (as `group_tree` reads them). Like [`backings`], but reading only the Microsoft 365 groups and,
/// per group, its members and a few members' `transitiveMemberOf` (one call each): a member whose
/// only Microsoft 365 group it is has its workspace access read (one admin call per group).
async fn backing_of(s: &Session, graph: &GraphClient, ws: &Workspace) -> Vec<(Uuid, String, Memberships)> {
    let mut out = Vec::new();
    let m365 = match microsoft365_groups(graph).await {
        Ok(g) => g,
        Err(e) => {
            eprintln!("pbi-access: Microsoft 365 backing not checked: {e}");
            return out;
        }
    };
    if m365.len() > BACKING_CHECKS {
        eprintln!("pbi-access: {} Microsoft 365 groups: Microsoft 365 backing not checked (it would take an admin call each)", m365.len());
        return out;
    }
    for g in &m365 {
        let Ok(tree) = graph.group_tree(g.id, g.display_name.as_deref()).await else { continue };
        let mut chosen = None;
        for (user, _) in tree.transitive_users(g.id).into_iter().take(BACKING_CANDIDATES) {
            // Which groups, not through which chain: the user's transitiveMemberOf alone.
            let Ok(all) = graph.transitive_member_of(&user.id.to_string()).try_collect::<Vec<_>>().await else { continue };
            let groups = Memberships::of_user(user.id, all.clone(), all, BTreeMap::new());
            let mine = groups.transitive_member_of(user.id);
            if mine.keys().filter(|k| m365.iter().any(|x| x.id == **k)).count() == 1 {
                chosen = Some((user, groups, mine));
                break;
            }
        }
        let Some((user, groups, mine)) = chosen else { continue };
        let entries: Vec<ArtifactAccessEntry> =
            match s.client.user_artifact_access(&user.id.to_string(), &[ArtifactType::Workspace]).try_collect().await {
                Ok(e) => e,
                Err(_) => continue,
            };
        let explained = workspace_paths(ws, &user, &groups, &mine).iter().map(|(r, _)| role_rank(r)).max().unwrap_or(0);
        let effective = entries.iter().find(|e| e.artifact_id.eq_ignore_ascii_case(&ws.id.to_string()));
        if let Some(e) = effective.filter(|e| role_rank(&e.access_right) > explained) {
            out.push((g.id, e.access_right.clone(), tree));
        }
    }
    out
}

fn m365_of(m: &Memberships, group: Uuid) -> bool {
    m.groups.get(&group).is_some_and(|g| g.is_microsoft365())
}

pub async fn who(s: &Session, artifact: &str, format: Format) -> ExitCode {
    let before = ledger_calls(&s.profile).await;
    let graph = match graph(&s.profile) {
        Ok(g) => g,
        Err(e) => return fail(exit::USAGE, e),
    };
    let show = progress::visible(format);
    let spinner = progress::spinner("reading the workspaces, their roles and items (admin/groups)", show);
    let groups = admin_groups(s, "users,reports,datasets,dashboards").await;
    spinner.finish_and_clear();
    let groups = match groups {
        Ok(g) => g,
        Err(e) => return fail(exit::FAILURE, e),
    };
    let spaces: Vec<Workspace> = groups.iter().map(|g| Workspace::new(g.id, g.name.clone(), g.users.clone())).collect();
    let ws_match: Vec<&Workspace> =
        spaces.iter().filter(|w| w.id.to_string().eq_ignore_ascii_case(artifact) || w.name.eq_ignore_ascii_case(artifact)).collect();
    let items = find_items(&groups, artifact);
    let (holders, workspace) = match (ws_match.as_slice(), items.as_slice()) {
        ([ws], []) => (holders_of_workspace(ws), Some(*ws)),
        ([], [item]) => match holders_of_item(s, item.kind, item.id).await {
            Ok(h) => (h, spaces.iter().find(|w| w.id == item.workspace)),
            Err(e) => return fail(exit::FAILURE, e),
        },
        ([], []) => return fail(exit::FAILURE, format!("no workspace, report, dataset or dashboard '{artifact}'")),
        _ => return fail(exit::USAGE, format!("several items are named '{artifact}': use the id")),
    };
    match (workspace, items.first()) {
        (_, Some(item)) => eprintln!("{} '{}' ({})", item.kind, item.name, item.id),
        (Some(ws), None) => eprintln!("Workspace '{}' ({})", ws.name, ws.id),
        _ => {}
    }
    let groups = holders.iter().filter(|h| h.principal_type == PrincipalType::Group).count();
    let bar = progress::bar(groups as u64, show && groups > 0);
    bar.set_message("expanding the groups that hold access (transitiveMembers)");
    let mut rows = Rows::new(&["principal", "principalType", "access", "path"]);
    for h in &holders {
        let role_in_workspace = workspace.and_then(|w| w.users.iter().find(|u| u.identifier.as_deref() == Some(h.identifier.as_str())));
        let own_path = match (items.is_empty(), role_in_workspace) {
            (true, _) => "direct workspace role".to_string(),
            (false, Some(u)) => format!("workspace role {}", u.group_user_access_right.as_str()),
            (false, None) => "direct permission".to_string(),
        };
        let name = match h.principal_type {
            PrincipalType::Group => h.display_name.clone().unwrap_or_else(|| h.identifier.clone()),
            _ => h.identifier.clone(),
        };
        rows.push(vec![name, h.principal_type.as_str().into(), h.right.clone(), own_path.clone()]);
        if let Some(group) = (h.principal_type == PrincipalType::Group).then(|| Uuid::parse_str(&h.identifier).ok()).flatten() {
            bar.inc(1);
            let tree = match graph.group_tree(group, h.display_name.as_deref()).await {
                Ok(t) => t,
                Err(e) => return fail(exit::FAILURE, format!("the members of group {}: {e}", h.identifier)),
            };
            push_members(&mut rows, &tree, group, &h.right, &own_path);
        }
    }
    bar.finish_and_clear();
    if let (Some(ws), true) = (workspace, items.is_empty()) {
        let spinner = progress::spinner("looking for a Microsoft 365 group backing the workspace", show);
        let found = backing_of(s, &graph, ws).await;
        spinner.finish_and_clear();
        for (group, role, tree) in found {
            let path = "Microsoft 365 group backing the workspace".to_string();
            rows.push(vec![tree.group_name(group), "Group".into(), role.clone(), path.clone()]);
            push_members(&mut rows, &tree, group, &role, &path);
        }
    }
    let code = render(&rows, format);
    eprintln!("{} admin call(s) spent, {} Graph call(s)", ledger_calls(&s.profile).await.saturating_sub(before), graph.stats().requests);
    code
}
