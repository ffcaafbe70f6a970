//! Microsoft Graph: the same call path (token, retries) over `Endpoints::graph`. Paths are
//! relative to the Graph base and start with the version: `/v1.0/users`. Lists follow
//! `@odata.nextLink`. The typed methods cover the directory subset pbi-access serves (users,
//! groups and their members, subscribed SKUs, license assignment and details) with the
//! `pbi_wire::graph` types; `get`/`list` take any `DeserializeOwned` for the rest.
//!
//! A user's groups come from `/users/{id}/transitiveMemberOf` and `memberOf`, and the nesting
//! from `/groups/{id}/memberOf` of those groups only ([`GraphClient::user_groups`]); a group's
//! users from `/groups/{id}/transitiveMembers` ([`GraphClient::group_tree`]): the cost follows
//! the user or the group, not the tenant. [`GraphClient::memberships`] still reads the whole
//! group graph, for the tenant snapshot.

use std::sync::Arc;

use std::collections::{BTreeMap, BTreeSet};

use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use pbi_wire::graph::{
    AssignLicense, AssignedLicense, DirectoryItem, DirectoryObject, Group, LicenseDetails, Reference, SubscribedSku, User,
};
use pbi_wire::paging::ODataPage;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::encode_segment;
use crate::error::Result;
use crate::paging::{next_link_pages, Query};
use crate::transport::{Call, Core};

/// Microsoft Graph returns only a default set of user properties (no `accountEnabled`,
/// `userType` or `assignedLicenses`) unless they are selected.
pub const USER_SELECT: &str =
    "id,userPrincipalName,displayName,mail,userType,accountEnabled,usageLocation,assignedLicenses,deletedDateTime";
/// The group properties the typed methods read.
pub const GROUP_SELECT: &str = "id,displayName,description,groupTypes,mail,mailEnabled,securityEnabled,assignedLicenses";

/// The properties read from the lists of what an object is in (`memberOf`, `transitiveMemberOf`:
/// groups, directory roles, administrative units).
pub const MEMBER_OF_SELECT: &str = "id,displayName,groupTypes";
/// The properties read from the lists of who is in a group (`members`, `transitiveMembers`,
/// `owners`: users, groups, service principals, …).
pub const MEMBERS_SELECT: &str = "id,displayName,userPrincipalName,groupTypes";
/// Graph's largest page for directory-object lists.
pub const MEMBERSHIP_PAGE: u32 = 999;
/// How many groups' `memberOf` or `members` are read at once.
const FAN_OUT: usize = 8;

#[derive(Debug, Clone)]
pub struct GraphClient {
    core: Arc<Core>,
}

impl GraphClient {
    pub(crate) fn from_core(core: Core) -> GraphClient {
        GraphClient { core: Arc::new(core) }
    }

    /// What this client's calls met on the wire (every Graph request answered, retries included).
    pub fn stats(&self) -> crate::stats::StatsSnapshot {
        self.core.stats.snapshot()
    }

    fn call(&self, method: Method, path: &str, query: &Query) -> Call {
        Call::new(method, query.append_to(&format!("{}{path}", self.core.base)), path.to_string())
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str, query: &Query) -> Result<T> {
        self.core.execute(&self.call(Method::GET, path, query)).await?.json()
    }

    /// POST a JSON body and read the answer as `T`. For answers without a body (`204 No
    /// Content`, e.g. adding a member `$ref`), use [`GraphClient::send`].
    pub async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        self.core.execute(&self.call(Method::POST, path, &Query::new()).json(body)?).await?.json()
    }

    /// Any method, answer body ignored.
    pub async fn send<B: Serialize>(&self, method: Method, path: &str, body: Option<&B>) -> Result<()> {
        let mut call = self.call(method, path, &Query::new());
        if let Some(b) = body {
            call = call.json(b)?;
        }
        self.core.execute(&call).await.map(drop)
    }

    /// The pages of a list, following `@odata.nextLink`.
    pub fn pages<T: DeserializeOwned + Send + 'static>(&self, path: &str, query: &Query) -> BoxStream<'static, Result<ODataPage<T>>> {
        next_link_pages(self.core.clone(), query.append_to(&format!("{}{path}", self.core.base)))
    }

    /// The items of a list, across pages.
    pub fn list<T: DeserializeOwned + Send + 'static>(&self, path: &str, query: &Query) -> BoxStream<'static, Result<T>> {
        self.pages::<T>(path, query).map_ok(|p| futures::stream::iter(p.value.into_iter().map(Ok))).try_flatten().boxed()
    }

    /// A user by object id or user principal name (a guest's `#EXT#` is encoded).
    pub async fn get_user(&self, id_or_upn: &str) -> Result<User> {
        self.get(&format!("/v1.0/users/{}", encode_segment(id_or_upn)), &Query::new().push("$select", USER_SELECT)).await
    }

    /// `PATCH /users/{id}` with the properties to change (e.g. `{"usageLocation": "NL"}`).
    pub async fn update_user(&self, id_or_upn: &str, changes: &serde_json::Value) -> Result<()> {
        self.send(reqwest::Method::PATCH, &format!("/v1.0/users/{}", encode_segment(id_or_upn)), Some(changes)).await
    }

    /// The tenant's users, across `@odata.nextLink` pages of `page_size` (Graph's `$top`).
    pub fn users(&self, filter: Option<&str>, page_size: Option<u32>) -> BoxStream<'static, Result<User>> {
        self.list("/v1.0/users", &Query::new().opt("$filter", filter).opt("$top", page_size).push("$select", USER_SELECT))
    }

    /// Users deleted within the last 30 days (`/directory/deletedItems/microsoft.graph.user`).
    pub fn deleted_users(&self) -> BoxStream<'static, Result<User>> {
        self.list("/v1.0/directory/deletedItems/microsoft.graph.user", &Query::new().push("$select", USER_SELECT))
    }

    pub async fn get_group(&self, id: uuid::Uuid) -> Result<Group> {
        self.get(&format!("/v1.0/groups/{id}"), &Query::new().push("$select", GROUP_SELECT)).await
    }

    /// Every group of the tenant, across pages.
    pub fn groups(&self, filter: Option<&str>) -> BoxStream<'static, Result<Group>> {
        self.list("/v1.0/groups", &Query::new().opt("$filter", filter).push("$select", GROUP_SELECT))
    }

    /// A group's direct members: users, groups (nested) and service principals.
    pub fn group_members(&self, id: uuid::Uuid) -> BoxStream<'static, Result<DirectoryObject>> {
        self.list(&format!("/v1.0/groups/{id}/members"), &Query::new())
    }

    /// Add a user, group or service principal to a group (`POST …/members/$ref`).
    pub async fn add_group_member(&self, group: uuid::Uuid, member: uuid::Uuid) -> Result<()> {
        let body = Reference { odata_id: format!("{}/v1.0/directoryObjects/{member}", self.core.base) };
        self.send(reqwest::Method::POST, &format!("/v1.0/groups/{group}/members/$ref"), Some(&body)).await
    }

    pub async fn subscribed_skus(&self) -> Result<Vec<SubscribedSku>> {
        Ok(self.get::<ODataPage<SubscribedSku>>("/v1.0/subscribedSkus", &Query::new()).await?.value)
    }

    /// Assign and remove licenses of a user; answers the user as it now is.
    pub async fn assign_license(&self, user: &str, add: &[uuid::Uuid], remove: &[uuid::Uuid]) -> Result<User> {
        let body = AssignLicense {
            add_licenses: add.iter().map(|&sku_id| AssignedLicense { sku_id, disabled_plans: Vec::new() }).collect(),
            remove_licenses: remove.to_vec(),
        };
        self.post(&format!("/v1.0/users/{}/assignLicense", encode_segment(user)), &body).await
    }

    /// The licenses a user holds now (direct and group-based, once they have taken effect).
    pub async fn license_details(&self, user: &str) -> Result<Vec<LicenseDetails>> {
        let path = format!("/v1.0/users/{}/licenseDetails", encode_segment(user));
        Ok(self.get::<ODataPage<LicenseDetails>>(&path, &Query::new()).await?.value)
    }

    fn memberships_list(&self, path: String, select: &str) -> BoxStream<'static, Result<DirectoryItem>> {
        self.list(&path, &Query::new().push("$top", MEMBERSHIP_PAGE).push("$select", select))
    }

    /// The groups (and directory roles, administrative units) that directly contain a user
    /// (`GET /users/{id}/memberOf`).
    pub fn member_of(&self, user: &str) -> BoxStream<'static, Result<DirectoryItem>> {
        self.memberships_list(format!("/v1.0/users/{}/memberOf", encode_segment(user)), MEMBER_OF_SELECT)
    }

    /// Every group that contains a user, directly or through nesting (`GET
    /// /users/{id}/transitiveMemberOf`, one paged list).
    pub fn transitive_member_of(&self, user: &str) -> BoxStream<'static, Result<DirectoryItem>> {
        self.memberships_list(format!("/v1.0/users/{}/transitiveMemberOf", encode_segment(user)), MEMBER_OF_SELECT)
    }

    /// The groups that directly contain a group (`GET /groups/{id}/memberOf`).
    pub fn group_member_of(&self, group: uuid::Uuid) -> BoxStream<'static, Result<DirectoryItem>> {
        self.memberships_list(format!("/v1.0/groups/{group}/memberOf"), MEMBER_OF_SELECT)
    }

    /// Every member of a group, nested groups' members included, and the nested groups
    /// themselves (`GET /groups/{id}/transitiveMembers`).
    pub fn group_transitive_members(&self, group: uuid::Uuid) -> BoxStream<'static, Result<DirectoryItem>> {
        self.memberships_list(format!("/v1.0/groups/{group}/transitiveMembers"), MEMBERS_SELECT)
    }

    /// A group's owners (`GET /groups/{id}/owners`).
    pub fn group_owners(&self, group: uuid::Uuid) -> BoxStream<'static, Result<DirectoryItem>> {
        self.memberships_list(format!("/v1.0/groups/{group}/owners"), MEMBERS_SELECT)
    }

    /// The groups of one user, with the nesting that leads to each: `transitiveMemberOf` and
    /// `memberOf` (a paged call each), and only when some group is reached through another, the
    /// `memberOf` of each of the user's groups. Directory roles are left out. The answer's
    /// `transitive_member_of(user)` gives each group with its chain.
    pub async fn user_groups(&self, user: uuid::Uuid) -> Result<Memberships> {
        let id = user.to_string();
        let transitive: Vec<DirectoryItem> =
            self.transitive_member_of(&id).try_filter(|i| futures::future::ready(i.is_group())).try_collect().await?;
        let direct: Vec<DirectoryItem> = self.member_of(&id).try_filter(|i| futures::future::ready(i.is_group())).try_collect().await?;
        let direct_ids: BTreeSet<uuid::Uuid> = direct.iter().map(|g| g.id).collect();
        let nested = transitive.iter().any(|g| !direct_ids.contains(&g.id));
        let mut parents = BTreeMap::new();
        if nested {
            let found: Vec<(uuid::Uuid, Vec<uuid::Uuid>)> = futures::stream::iter(transitive.iter().map(|g| g.id))
                .map(|g| async move {
                    let up: Vec<uuid::Uuid> =
                        self.group_member_of(g).try_filter(|i| futures::future::ready(i.is_group())).map_ok(|i| i.id).try_collect().await?;
                    Ok::<_, crate::error::ClientError>((g, up))
                })
                .buffer_unordered(FAN_OUT)
                .try_collect()
                .await?;
            parents.extend(found);
        }
        Ok(Memberships::of_user(user, transitive, direct, parents))
    }

    /// The users inside one group, with the nested groups that hold them: `transitiveMembers`
    /// (one paged call), and only when it lists nested groups, the direct `members` of the group
    /// and of each nested one. `name` names the group when known (else one `GET /groups/{id}`).
    /// The answer's `transitive_users(group)` gives each user with its chain.
    pub async fn group_tree(&self, group: uuid::Uuid, name: Option<&str>) -> Result<Memberships> {
        let all: Vec<DirectoryItem> = match self.group_transitive_members(group).try_collect().await {
            Ok(all) => all,
            // A service without `transitiveMembers` (older pbi-access servers answer 400 for the
            // unknown segment): walk the group's own members down instead.
            Err(e) if e.status().is_some_and(|s| s.as_u16() == 400) => return self.group_tree_by_members(group, name).await,
            Err(e) => return Err(e),
        };
        let mut m = Memberships::default();
        let top = match name {
            Some(n) => DirectoryItem {
                odata_type: Some(DirectoryItem::GROUP.into()),
                id: group,
                display_name: Some(n.to_string()),
                user_principal_name: None,
                group_types: Vec::new(),
            }
            .as_group(),
            None => self.get_group(group).await?,
        };
        m.groups.insert(group, top);
        let nested: Vec<uuid::Uuid> = all.iter().filter(|i| i.is_group() && i.id != group).map(|i| i.id).collect();
        for item in all.iter().filter(|i| i.is_group()) {
            m.groups.entry(item.id).or_insert_with(|| item.as_group());
        }
        let direct: Vec<(uuid::Uuid, Vec<DirectoryItem>)> = if nested.is_empty() {
            vec![(group, all)]
        } else {
            futures::stream::iter(std::iter::once(group).chain(nested))
                .map(|g| async move {
                    let path = format!("/v1.0/groups/{g}/members");
                    Ok::<_, crate::error::ClientError>((g, self.memberships_list(path, MEMBERS_SELECT).try_collect::<Vec<_>>().await?))
                })
                .buffer_unordered(FAN_OUT)
                .try_collect()
                .await?
        };
        for (g, items) in direct {
            for item in items {
                let object = if item.is_user() {
                    let u = item.as_user();
                    m.users.insert(u.id, u.clone());
                    DirectoryObject::User(u)
                } else if item.is_group() {
                    DirectoryObject::Group(m.groups.get(&item.id).cloned().unwrap_or_else(|| item.as_group()))
                } else {
                    continue;
                };
                m.parents.entry(item.id).or_default().push(g);
                m.members.entry(g).or_default().push(object);
            }
        }
        Ok(m)
    }

    /// [`GraphClient::group_tree`] from direct `members` lists only: the group's, then each nested
    /// group's, level by level (cycles cut). The calls follow the group's own subtree.
    async fn group_tree_by_members(&self, group: uuid::Uuid, name: Option<&str>) -> Result<Memberships> {
        let mut m = Memberships::default();
        let top = match name {
            Some(n) => Group { display_name: Some(n.to_string()), ..self.placeholder_group(group) },
            None => self.get_group(group).await?,
        };
        m.groups.insert(group, top);
        let mut frontier = vec![group];
        let mut seen = BTreeSet::from([group]);
        while !frontier.is_empty() {
            let lists: Vec<(uuid::Uuid, Vec<DirectoryItem>)> = futures::stream::iter(frontier)
                .map(|g| async move {
                    let path = format!("/v1.0/groups/{g}/members");
                    Ok::<_, crate::error::ClientError>((g, self.memberships_list(path, MEMBERS_SELECT).try_collect::<Vec<_>>().await?))
                })
                .buffer_unordered(FAN_OUT)
                .try_collect()
                .await?;
            frontier = Vec::new();
            for (g, items) in lists {
                for item in items {
                    let object = if item.is_user() {
                        let u = item.as_user();
                        m.users.insert(u.id, u.clone());
                        DirectoryObject::User(u)
                    } else if item.is_group() {
                        if seen.insert(item.id) {
                            frontier.push(item.id);
                        }
                        let nested = m.groups.entry(item.id).or_insert_with(|| item.as_group()).clone();
                        DirectoryObject::Group(nested)
                    } else {
                        continue;
                    };
                    m.parents.entry(item.id).or_default().push(g);
                    m.members.entry(g).or_default().push(object);
                }
            }
        }
        Ok(m)
    }

    fn placeholder_group(&self, id: uuid::Uuid) -> Group {
        DirectoryItem {
            odata_type: Some(DirectoryItem::GROUP.into()),
            id,
            display_name: None,
            user_principal_name: None,
            group_types: Vec::new(),
        }
        .as_group()
    }

    /// The whole group graph: every group, and for each member object the groups that contain it
    /// directly. One `GET /groups` walk plus one members list per group.
    pub async fn memberships(&self) -> Result<Memberships> {
        let groups: Vec<Group> = self.groups(None).try_collect().await?;
        let mut m = Memberships::default();
        // Each group's members are one paged read; several run at once, in the groups' order.
        let mut reads = futures::stream::iter(groups)
            .map(|g| async move {
                let members: Vec<DirectoryObject> = self.group_members(g.id).try_collect().await?;
                Ok::<_, crate::error::ClientError>((g, members))
            })
            .buffered(MEMBER_READS_IN_FLIGHT);
        while let Some((g, members)) = reads.try_next().await? {
            for member in members {
                m.parents.entry(member.id()).or_default().push(g.id);
                if let DirectoryObject::User(u) = &member {
                    m.users.insert(u.id, u.clone());
                }
                m.members.entry(g.id).or_default().push(member);
            }
            m.groups.insert(g.id, g);
        }
        Ok(m)
    }
}

/// Group member lists [`GraphClient::memberships`] reads at once.
const MEMBER_READS_IN_FLIGHT: usize = 8;

/// The directory's groups and who is in them, read once; answers `memberOf`,
/// `transitiveMemberOf` (with the nesting path) and transitive members.
#[derive(Debug, Clone, Default)]
pub struct Memberships {
    pub groups: BTreeMap<uuid::Uuid, Group>,
    /// Direct members of each group.
    pub members: BTreeMap<uuid::Uuid, Vec<DirectoryObject>>,
    /// The groups that directly contain each object.
    pub parents: BTreeMap<uuid::Uuid, Vec<uuid::Uuid>>,
    /// Every user seen as a member.
    pub users: BTreeMap<uuid::Uuid, User>,
}

impl Memberships {
    /// One user's part of the graph: its groups (`transitiveMemberOf` items; other object types
    /// are skipped), the `direct` ones (`memberOf`) as its parents, and the parents of each group
    /// as `/groups/{id}/memberOf` listed them, kept within the user's groups. A group of the
    /// transitive set that no parent list holds is taken as direct (the answers disagree only
    /// while the directory changes).
    pub fn of_user(
        user: uuid::Uuid,
        transitive: impl IntoIterator<Item = DirectoryItem>,
        direct: impl IntoIterator<Item = DirectoryItem>,
        parents: BTreeMap<uuid::Uuid, Vec<uuid::Uuid>>,
    ) -> Memberships {
        let mut m = Memberships::default();
        for item in transitive.into_iter().filter(DirectoryItem::is_group) {
            m.groups.insert(item.id, item.as_group());
        }
        let mut mine: BTreeSet<uuid::Uuid> = BTreeSet::new();
        for item in direct.into_iter().filter(DirectoryItem::is_group) {
            mine.insert(item.id);
            m.groups.entry(item.id).or_insert_with(|| item.as_group());
        }
        for (g, up) in parents {
            let up: Vec<uuid::Uuid> = up.into_iter().filter(|p| m.groups.contains_key(p) && *p != g).collect();
            if !up.is_empty() && m.groups.contains_key(&g) {
                m.parents.insert(g, up);
            }
        }
        let held: BTreeSet<uuid::Uuid> = m.parents.values().flatten().copied().collect();
        mine.extend(m.groups.keys().filter(|g| !held.contains(g)));
        m.parents.insert(user, mine.into_iter().collect());
        m
    }

    /// The groups that directly contain `object` (Graph's `memberOf`).
    pub fn member_of(&self, object: uuid::Uuid) -> &[uuid::Uuid] {
        self.parents.get(&object).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every group that contains `object`, directly or through nesting, each with the chain that
    /// leads to it: `[direct parent, …, the group]` (Graph's `transitiveMemberOf`, plus the path).
    /// Shortest chain first; cycles are cut.
    pub fn transitive_member_of(&self, object: uuid::Uuid) -> BTreeMap<uuid::Uuid, Vec<uuid::Uuid>> {
        let mut found: BTreeMap<uuid::Uuid, Vec<uuid::Uuid>> = BTreeMap::new();
        let mut frontier: Vec<Vec<uuid::Uuid>> = self.member_of(object).iter().map(|g| vec![*g]).collect();
        while !frontier.is_empty() {
            let mut next = Vec::new();
            for chain in frontier {
                let Some(&last) = chain.last() else { continue };
                if found.contains_key(&last) {
                    continue;
                }
                for parent in self.member_of(last) {
                    if !chain.contains(parent) {
                        let mut longer = chain.clone();
                        longer.push(*parent);
                        next.push(longer);
                    }
                }
                found.insert(last, chain);
            }
            frontier = next;
        }
        found
    }

    /// Every user inside `group`, directly or through nested groups, with the chain of groups
    /// from `group` down to the one that holds the user directly.
    pub fn transitive_users(&self, group: uuid::Uuid) -> Vec<(User, Vec<uuid::Uuid>)> {
        let mut out: Vec<(User, Vec<uuid::Uuid>)> = Vec::new();
        let mut stack = vec![vec![group]];
        while let Some(chain) = stack.pop() {
            let Some(&last) = chain.last() else { continue };
            for m in self.members.get(&last).map(Vec::as_slice).unwrap_or(&[]) {
                match m {
                    DirectoryObject::User(u) if !out.iter().any(|(seen, _)| seen.id == u.id) => out.push((u.clone(), chain.clone())),
                    DirectoryObject::Group(g) if !chain.contains(&g.id) => {
                        let mut longer = chain.clone();
                        longer.push(g.id);
                        stack.push(longer);
                    }
                    _ => {}
                }
            }
        }
        out
    }

    pub fn group_name(&self, id: uuid::Uuid) -> String {
        self.groups.get(&id).and_then(|g| g.display_name.clone()).unwrap_or_else(|| id.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(id: uuid::Uuid, name: &str) -> Group {
        serde_json::from_value(serde_json::json!({"id": id, "displayName": name})).unwrap()
    }

    #[test]
    fn nesting_paths_are_shortest_first_and_cycles_are_cut() {
        let [a, b, c, user] = [0u8; 4].map(|_| uuid::Uuid::new_v4());
        let mut m = Memberships::default();
        for (id, name) in [(a, "A"), (b, "B"), (c, "C")] {
            m.groups.insert(id, group(id, name));
        }
        let u: User = serde_json::from_value(serde_json::json!({"id": user, "userPrincipalName": "u@x.com"})).unwrap();
        // user in A; A in B; B in C; C in A (a cycle); user also directly in C.
        for (child, parent) in [(user, a), (a, b), (b, c), (c, a), (user, c)] {
            m.parents.entry(child).or_default().push(parent);
            let member = if child == user { DirectoryObject::User(u.clone()) } else { DirectoryObject::Group(m.groups[&child].clone()) };
            m.members.entry(parent).or_default().push(member);
        }
        let up = m.transitive_member_of(user);
        assert_eq!(up.len(), 3);
        assert_eq!(up[&a], vec![a]);
        assert_eq!(up[&b], vec![a, b]);
        assert_eq!(up[&c], vec![c], "the direct membership is the shortest path");
        let down = m.transitive_users(b);
        assert_eq!(down.len(), 1, "each user once, though reachable twice: {down:?}");
        assert_eq!(down[0].0.id, user);
        assert_eq!(m.group_name(c), "C");
    }

    fn item(id: uuid::Uuid, odata_type: &str, name: &str) -> DirectoryItem {
        serde_json::from_value(serde_json::json!({"@odata.type": odata_type, "id": id, "displayName": name})).unwrap()
    }

    #[test]
    fn a_users_chains_come_from_its_groups_member_of_answers() {
        let [a, b, c, d, role, outside, user] = [0u8; 7].map(|_| uuid::Uuid::new_v4());
        let group = |id, name| item(id, DirectoryItem::GROUP, name);
        // user in A and D; A in B; B in C; D in C too; a directory role is listed and skipped.
        let transitive =
            vec![group(a, "A"), group(b, "B"), group(c, "C"), group(d, "D"), item(role, "#microsoft.graph.directoryRole", "R")];
        let direct = vec![group(a, "A"), group(d, "D")];
        // memberOf of each group: outside groups (not the user's) are dropped; a self-loop too.
        let parents = BTreeMap::from([(a, vec![b]), (b, vec![c, b]), (c, vec![]), (d, vec![c, outside])]);
        let m = Memberships::of_user(user, transitive, direct, parents);
        assert!(!m.groups.contains_key(&role), "directory roles are not groups");
        let up = m.transitive_member_of(user);
        assert_eq!(up.len(), 4);
        assert_eq!(up[&a], vec![a]);
        assert_eq!(up[&b], vec![a, b]);
        assert_eq!(up[&c], vec![d, c], "the shortest chain");
        assert_eq!(up[&d], vec![d]);
        assert_eq!(m.group_name(b), "B");

        // No nesting: no parent lists were read, and every group is direct.
        let flat = Memberships::of_user(user, vec![group(a, "A"), group(b, "B")], vec![group(a, "A"), group(b, "B")], BTreeMap::new());
        assert_eq!(flat.transitive_member_of(user), BTreeMap::from([(a, vec![a]), (b, vec![b])]));
        // The answers disagree (B listed as transitive, no chain to it): B counts as direct.
        let odd = Memberships::of_user(user, vec![group(a, "A"), group(b, "B")], vec![group(a, "A")], BTreeMap::from([(a, vec![])]));
        assert_eq!(odd.transitive_member_of(user)[&b], vec![b]);
    }
}
