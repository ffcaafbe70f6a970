//! The directory an audit reads as it goes: only the users and groups that a batch of scanned
//! workspaces names, instead of every user and every group's members before the first scan.
//!
//! For each batch: the groups holding a role, with their nested groups, through each group's
//! direct `members` (users with the properties the audit reads, so a user reached through a
//! group costs no call of its own); then the users holding a role directly, 15 to a
//! `$filter=id in (…)` (Graph's limit). What was read is cached for the run, up to
//! [`CACHE_LIMIT`] objects, then forgotten: memory follows the batch, not the tenant.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use futures::{StreamExt, TryStreamExt};
use pbi_client::{ClientError, GraphClient, Memberships, Query};
use pbi_wire::graph::{DirectoryObject, Group, User};
use pbi_wire::powerbi::PrincipalType;
use uuid::Uuid;

use super::directory::Workspace;

/// Graph's limit of values in one `in (…)` clause.
const IN_VALUES: usize = 15;
/// Graph reads at once.
const READS_IN_FLIGHT: usize = 8;
/// Rounds of reads for one batch (each reads a level of nesting, or users).
const MAX_ROUNDS: usize = 32;
/// Objects (users, and member entries of groups) kept between batches.
const CACHE_LIMIT: usize = 200_000;
/// What a group's `members` list returns of each member: a user's audited properties, a
/// nested group's name and types.
const MEMBER_SELECT: &str =
    "id,userPrincipalName,displayName,mail,userType,accountEnabled,usageLocation,assignedLicenses,deletedDateTime,groupTypes";

/// The part of the directory a set of workspaces names: the users holding a role directly, and
/// the groups holding one with everything nested in them.
#[derive(Debug, Default)]
pub struct Named {
    pub users: BTreeMap<Uuid, User>,
    pub memberships: Memberships,
}

#[derive(Debug, Default)]
struct Cache {
    users: HashMap<Uuid, User>,
    /// Lower-case user principal names of the cached users.
    upns: HashMap<String, Uuid>,
    /// Ids and lower-case names Graph knows no user by.
    unknown: HashSet<String>,
    /// Names of the groups read (or nested in one read).
    groups: HashMap<Uuid, Group>,
    /// Direct members of each group read; a group Graph refused has none.
    members: HashMap<Uuid, Vec<DirectoryObject>>,
    /// Groups Graph does not find.
    gone: HashSet<Uuid>,
    objects: usize,
}

impl Cache {
    fn user(&self, key: &str) -> Option<&User> {
        match Uuid::parse_str(key) {
            Ok(id) => self.users.get(&id),
            Err(_) => self.upns.get(&key.to_lowercase()).and_then(|id| self.users.get(id)),
        }
    }

    fn knows(&self, key: &str) -> bool {
        self.user(key).is_some() || self.unknown.contains(&key.to_lowercase())
    }

    /// The groups of `tops` and nested in them whose members are not read yet.
    fn unread_groups(&self, tops: &[(Uuid, Option<String>)]) -> Vec<Uuid> {
        let mut unread = Vec::new();
        let mut seen = HashSet::new();
        let mut stack: Vec<Uuid> = tops.iter().map(|(g, _)| *g).collect();
        while let Some(g) = stack.pop() {
            if !seen.insert(g) {
                continue;
            }
            match self.members.get(&g) {
                Some(members) => stack.extend(members.iter().filter_map(|m| match m {
                    DirectoryObject::Group(nested) => Some(nested.id),
                    _ => None,
                })),
                None => unread.push(g),
            }
        }
        unread
    }

    /// What `tops` and `keys` name, from what is read.
    fn named(&self, tops: &[(Uuid, Option<String>)], keys: &[String]) -> Named {
        let mut named = Named::default();
        for key in keys {
            if let Some(u) = self.user(key) {
                named.users.entry(u.id).or_insert_with(|| u.clone());
            }
        }
        let m = &mut named.memberships;
        for (g, name) in tops {
            if !self.gone.contains(g) {
                m.groups.entry(*g).or_insert_with(|| self.groups.get(g).cloned().unwrap_or_else(|| named_group(*g, name.as_deref())));
            }
        }
        let mut stack: Vec<Uuid> = tops.iter().map(|(g, _)| *g).collect();
        while let Some(g) = stack.pop() {
            if m.members.contains_key(&g) {
                continue;
            }
            let Some(members) = self.members.get(&g) else { continue };
            for member in members {
                if let DirectoryObject::Group(nested) = member {
                    m.groups.entry(nested.id).or_insert_with(|| self.groups.get(&nested.id).cloned().unwrap_or_else(|| nested.clone()));
                    stack.push(nested.id);
                }
            }
            m.members.insert(g, members.clone());
        }
        named
    }

    fn add_user(&mut self, u: User) {
        if let Some(upn) = &u.user_principal_name {
            self.upns.insert(upn.to_lowercase(), u.id);
        }
        self.objects += 1;
        self.users.insert(u.id, u);
    }
}

/// Reads the directory lazily, batch by batch, for one run.
pub struct LazyDirectory {
    graph: GraphClient,
    cache: Mutex<Cache>,
}

/// The keys a direct user role names: the Graph id when the scan gives it, else the identifier
/// (an id or a user principal name).
fn user_keys(ws: &Workspace) -> impl Iterator<Item = String> + '_ {
    ws.users.iter().filter(|u| u.principal_type == Some(PrincipalType::User)).flat_map(|u| {
        let id = u
            .graph_id
            .as_deref()
            .filter(|g| Uuid::parse_str(g).is_ok())
            .or_else(|| u.identifier.as_deref().filter(|i| Uuid::parse_str(i).is_ok()));
        // The identifier too: where Graph knows no user by the id, the name still finds it.
        id.map(str::to_string).into_iter().chain(u.identifier.clone().filter(|i| Uuid::parse_str(i).is_err()))
    })
}

fn named_group(id: Uuid, name: Option<&str>) -> Group {
    Group {
        id,
        display_name: name.map(str::to_string),
        description: None,
        group_types: Vec::new(),
        mail: None,
        mail_enabled: None,
        security_enabled: None,
        assigned_licenses: None,
    }
}

impl LazyDirectory {
    pub fn new(graph: GraphClient) -> LazyDirectory {
        LazyDirectory { graph, cache: Mutex::new(Cache::default()) }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What `spaces` name, read from Graph where the run has not read it yet. Batches resolve
    /// at once and share the cache: what is missing is worked out again after each read, and
    /// the answer is taken in the same look at the cache that finds nothing missing.
    pub async fn named(&self, spaces: &[Workspace]) -> Result<Named, ClientError> {
        {
            let mut cache = self.cache();
            if cache.objects > CACHE_LIMIT {
                *cache = Cache::default();
            }
        }
        let tops: Vec<(Uuid, Option<String>)> = spaces
            .iter()
            .flat_map(|ws| ws.users.iter())
            .filter(|u| u.principal_type == Some(PrincipalType::Group))
            .filter_map(|u| Some((Uuid::parse_str(u.identifier.as_deref()?).ok()?, u.display_name.clone())))
            .collect();
        let keys: Vec<String> = spaces.iter().flat_map(user_keys).collect();
        let (ids, names): (Vec<&String>, Vec<&String>) = keys.iter().partition(|k| Uuid::parse_str(k).is_ok());
        // Each round reads one level of nesting (or the users); a bound keeps a directory that
        // changes under the run from holding it forever.
        for _ in 0..MAX_ROUNDS {
            let (groups, ids, names) = {
                let cache = self.cache();
                let groups = cache.unread_groups(&tops);
                let unknown = |keys: &[&String]| -> Vec<String> {
                    let mut seen = HashSet::new();
                    keys.iter().filter(|k| !cache.knows(k) && seen.insert(k.to_lowercase())).map(|k| k.to_string()).collect()
                };
                let ids = unknown(&ids);
                // Names only once every id is read: the users read by id carry their names.
                let names = if ids.is_empty() { unknown(&names) } else { Vec::new() };
                if groups.is_empty() && ids.is_empty() && names.is_empty() {
                    return Ok(cache.named(&tops, &keys));
                }
                (groups, ids, names)
            };
            self.read_groups(groups).await?;
            self.read_users("id", &ids).await?;
            self.read_users("userPrincipalName", &names).await?;
        }
        Ok(self.cache().named(&tops, &keys))
    }

    /// The direct members of `groups`; a group Graph does not find (deleted since it got its
    /// role) has none and is named by its id, as a directory read in full would.
    async fn read_groups(&self, groups: Vec<Uuid>) -> Result<(), ClientError> {
        let read: Vec<(Uuid, Option<Vec<DirectoryObject>>)> = futures::stream::iter(groups)
            .map(|g| async move {
                let query = Query::new().push("$top", 999).push("$select", MEMBER_SELECT);
                match self.graph.list::<DirectoryObject>(&format!("/v1.0/groups/{g}/members"), &query).try_collect().await {
                    Ok(members) => Ok((g, Some(members))),
                    Err(e) if e.status().is_some_and(|s| s.as_u16() == 404) => Ok((g, None)),
                    Err(e) => Err(e),
                }
            })
            .buffer_unordered(READS_IN_FLIGHT)
            .try_collect()
            .await?;
        let mut cache = self.cache();
        for (g, members) in read {
            let Some(members) = members else {
                cache.gone.insert(g);
                cache.members.insert(g, Vec::new());
                continue;
            };
            for member in &members {
                if let DirectoryObject::Group(nested) = member {
                    cache.groups.entry(nested.id).or_insert_with(|| nested.clone());
                }
            }
            cache.objects += members.len() + 1;
            cache.members.insert(g, members);
        }
        Ok(())
    }

    /// The users `keys` name by `property` (`id` or `userPrincipalName`): `GET
    /// /users?$filter={property} in (…)`, 15 a call. A key no user answers is remembered as unknown.
    async fn read_users(&self, property: &str, todo: &[String]) -> Result<(), ClientError> {
        let found: Vec<(&[String], Vec<User>)> = futures::stream::iter(todo.chunks(IN_VALUES))
            .map(|chunk| async move {
                let quoted: Vec<String> = chunk.iter().map(|k| format!("'{}'", k.replace('\'', "''"))).collect();
                let filter = format!("{property} in ({})", quoted.join(","));
                let users: Vec<User> = self.graph.users(Some(&filter), Some(999)).try_collect().await?;
                Ok::<_, ClientError>((chunk, users))
            })
            .buffer_unordered(READS_IN_FLIGHT)
            .try_collect()
            .await?;
        let mut cache = self.cache();
        for (chunk, users) in found {
            for u in users {
                cache.add_user(u);
            }
            for key in chunk {
                if cache.user(key).is_none() {
                    cache.unknown.insert(key.to_lowercase());
                }
            }
        }
        Ok(())
    }
}
