//! The membership navigation calls: `memberOf` and `transitiveMemberOf` of a user or a group
//! (a recursive CTE upwards from the object), and a group's `members`, `transitiveMembers`
//! (downwards) and `owners`. Each page reads only the object's own links and the objects on
//! the page, keyset-paged by object id behind `$skiptoken`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::error::GraphError;
use super::extract::{GraphCaller, GraphPath, GraphQuery};
use super::groups::{find_group, group_json, GROUP_PROPERTIES};
use super::users::{find_user, user_json, USER_PROPERTIES};
use super::{base_url, odata};
use crate::app::AppState;
use crate::domain::identity::DirObject;
use crate::domain::DirectoryRole;
use crate::store::{GroupObjects, Reach};

/// Properties a directory role has beyond a group's (`$select` on a mixed collection).
const ROLE_PROPERTIES: &[&str] = &["roleTemplateId"];

/// A keyset page request: `$top` (1–999, default 100) and the id the previous page ended at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Keyset {
    pub top: usize,
    pub after: Option<Uuid>,
}

const KEYSET_PREFIX: &str = "pbi-access:after:";

pub(super) fn encode_after(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{KEYSET_PREFIX}{id}"))
}

fn decode_after(token: &str) -> Option<Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    Uuid::parse_str(text.strip_prefix(KEYSET_PREFIX)?).ok()
}

/// `$top` and the keyset `$skiptoken` of a navigation list.
pub(super) fn keyset(query: &GraphQuery) -> Result<Keyset, GraphError> {
    let top = match query.get("$top") {
        None => 100,
        Some(t) => match t.trim().parse::<usize>() {
            Ok(n) if (1..=999).contains(&n) => n,
            _ => return Err(GraphError::odata(format!("Invalid page size specified: '{t}'. Must be between 1 and 999 inclusive."))),
        },
    };
    let after = match query.get("$skiptoken") {
        None => None,
        Some(token) => Some(decode_after(token).ok_or_else(|| GraphError::odata("The $skiptoken is not valid."))?),
    };
    Ok(Keyset { top, after })
}

/// The `@odata.nextLink` of the page ending at `last`, keeping `$select`, `$top` and `$count`.
pub(super) fn keyset_next_link(base_url: &str, query: &GraphQuery, top: usize, last: Uuid) -> String {
    let mut parts: Vec<String> = Vec::new();
    for name in ["$filter", "$select", "$count"] {
        if let Some(v) = query.get(name) {
            parts.push(format!("{name}={}", percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)));
        }
    }
    parts.push(format!("$top={top}"));
    parts.push(format!("$skiptoken={}", encode_after(last)));
    format!("{base_url}?{}", parts.join("&"))
}

/// Whether `$count=true` asks for `@odata.count`. On directory objects Graph counts only in an
/// advanced query, so the `ConsistencyLevel: eventual` header must come with it.
pub(super) fn wants_count(query: &GraphQuery, headers: &HeaderMap) -> Result<bool, GraphError> {
    let wanted = match query.get("$count").map(str::trim) {
        None => return Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => return Err(GraphError::odata(format!("Invalid value '{v}' for $count; expected true or false."))),
    };
    let eventual = headers.get("consistencylevel").and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim().eq_ignore_ascii_case("eventual"));
    if wanted && !eventual {
        return Err(GraphError::bad_request("$count is not currently supported without the header 'ConsistencyLevel: eventual'."));
    }
    Ok(wanted)
}

/// A `$filter` on a navigation collection: the directory serves none from an index, so every
/// one is refused, naming the property where the clause names one.
pub(super) fn refuse_filter(query: &GraphQuery) -> Result<(), GraphError> {
    match query.get("$filter") {
        None => Ok(()),
        Some(f) => match odata::parse_filter(f, &[], "directoryObject") {
            Err(e) => Err(e),
            Ok(_) => Err(GraphError::unsupported_query("Unsupported Query.")),
        },
    }
}

fn role_name(role: DirectoryRole) -> (&'static str, &'static str) {
    match role {
        DirectoryRole::GlobalAdministrator => (
            "Global Administrator",
            "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities.",
        ),
        DirectoryRole::FabricAdministrator => ("Fabric Administrator", "Can manage all aspects of the Fabric and Power BI products."),
    }
}

/// A directory role as Graph lists it among memberships. Its `id` is its role template id.
fn role_json(role: DirectoryRole) -> Map<String, Value> {
    let (name, description) = role_name(role);
    json!({
        "@odata.type": "#microsoft.graph.directoryRole",
        "id": role.template_id(),
        "deletedDateTime": null,
        "description": description,
        "displayName": name,
        "roleTemplateId": role.template_id(),
    })
    .as_object()
    .cloned()
    .unwrap_or_default()
}

/// Whose memberships: a user (by id or UPN) or a group.
#[derive(Clone, Copy)]
enum Subject {
    User,
    Group,
}

async fn member_of(
    state: AppState,
    caller: crate::domain::Caller,
    headers: HeaderMap,
    path: GraphPath,
    query: GraphQuery,
    subject: Subject,
    reach: Reach,
) -> Result<Json<Value>, GraphError> {
    let tenant = caller.tenant_id;
    let key = path.get("id");
    let (id, collection) = match subject {
        Subject::User => (find_user(&state, tenant, &key).await?.id, "users"),
        Subject::Group => (find_group(&state, tenant, &key).await?.id, "groups"),
    };
    refuse_filter(&query)?;
    let properties: Vec<&'static str> = GROUP_PROPERTIES.iter().chain(ROLE_PROPERTIES).copied().collect();
    let selected = odata::parse_select(&query, &properties, "directoryObject")?;
    let page = keyset(&query)?;
    let count = wants_count(&query, &headers)?;

    let groups = state.store.list_member_of(tenant, id, reach, page.after, page.top + 1).await?;
    let roles = state.store.list_roles_of(tenant, id, reach).await?;
    let skus = state.store.list_group_license_skus(tenant, &groups.iter().map(|g| g.id).collect::<Vec<_>>()).await?;
    // One sequence by object id: the groups after the key, and the (few) roles after it.
    let mut objects: Vec<(Uuid, Map<String, Value>)> = Vec::with_capacity(groups.len() + roles.len());
    for g in &groups {
        let mut object = Map::new();
        object.insert("@odata.type".into(), json!("#microsoft.graph.group"));
        object.extend(group_json(g, skus.get(&g.id).map(Vec::as_slice).unwrap_or_default()));
        objects.push((g.id, object));
    }
    for role in &roles {
        let id = Uuid::parse_str(role.template_id()).expect("role template ids are UUIDs");
        if page.after.is_none_or(|a| id > a) {
            objects.push((id, role_json(*role)));
        }
    }
    objects.sort_by_key(|(id, _)| *id);
    let more = objects.len() > page.top;
    objects.truncate(page.top);

    let base = base_url(&state);
    let segment = match reach {
        Reach::Direct => "memberOf",
        Reach::Transitive => "transitiveMemberOf",
    };
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(format!("{base}/$metadata#directoryObjects{}", odata::select_suffix(&selected))));
    if count {
        let total = state.store.count_member_of(tenant, id, reach).await? + roles.len() as i64;
        body.insert("@odata.count".into(), json!(total));
    }
    if more {
        if let Some((last, _)) = objects.last() {
            let link_base = format!("{base}/{collection}/{id}/{segment}");
            body.insert("@odata.nextLink".into(), json!(keyset_next_link(&link_base, &query, page.top, *last)));
        }
    }
    let value: Vec<Value> = objects.into_iter().map(|(_, o)| Value::Object(odata::select(o, &selected))).collect();
    body.insert("value".into(), Value::Array(value));
    Ok(Json(Value::Object(body)))
}

pub async fn user_member_of(
    State(state): State<AppState>,
    GraphCaller(caller): GraphCaller,
    headers: HeaderMap,
    path: GraphPath,
    query: GraphQuery,
) -> Result<Json<Value>, GraphError> {
    member_of(state, caller, headers, path, query, Subject::User, Reach::Direct).await
}

pub async fn user_transitive_member_of(
    State(state): State<AppState>,
    GraphCaller(caller): GraphCaller,
    headers: HeaderMap,
    path: GraphPath,
    query: GraphQuery,
) -> Result<Json<Value>, GraphError> {
    member_of(state, caller, headers, path, query, Subject::User, Reach::Transitive).await
}

pub async fn group_member_of(
    State(state): State<AppState>,
    GraphCaller(caller): GraphCaller,
    headers: HeaderMap,
    path: GraphPath,
    query: GraphQuery,
) -> Result<Json<Value>, GraphError> {
    member_of(state, caller, headers, path, query, Subject::Group, Reach::Direct).await
}

pub async fn group_transitive_member_of(
    State(state): State<AppState>,
    GraphCaller(caller): GraphCaller,
    headers: HeaderMap,
    path: GraphPath,
    query: GraphQuery,
) -> Result<Json<Value>, GraphError> {
    member_of(state, caller, headers, path, query, Subject::Group, Reach::Transitive).await
}

/// A page of a group's members or owners, each with its `@odata.type`. Users' licenses are
/// read only when `assignedLicenses` is selected.
async fn group_objects(
    state: AppState,
    caller: crate::domain::Caller,
    headers: HeaderMap,
    path: GraphPath,
    query: GraphQuery,
    list: GroupObjects,
) -> Result<Json<Value>, GraphError> {
    let tenant = caller.tenant_id;
    let key = path.get("id");
    let group = find_group(&state, tenant, &key).await?;
    refuse_filter(&query)?;
    let mut properties: Vec<&'static str> = USER_PROPERTIES.to_vec();
    properties.extend(GROUP_PROPERTIES.iter().filter(|p| !USER_PROPERTIES.contains(p)));
    properties.push("appId");
    let selected = odata::parse_select(&query, &properties, "directoryObject")?;
    let page = keyset(&query)?;
    let count = wants_count(&query, &headers)?;
    let mut objects = state
        .store
        .list_group_objects(tenant, group.id, list, page.after, page.top + 1)
        .await
        .map_err(|e| GraphError::from_dir(e, &key))?;
    let more = objects.len() > page.top;
    objects.truncate(page.top);

    let wants_licenses = selected.as_ref().is_none_or(|s| s.contains(&"assignedLicenses"));
    let (users, groups): (Vec<Uuid>, Vec<Uuid>) = if wants_licenses {
        let users = objects.iter().filter_map(|o| if let DirObject::User(u) = o { Some(u.id) } else { None }).collect();
        let groups = objects.iter().filter_map(|o| if let DirObject::Group(g) = o { Some(g.id) } else { None }).collect();
        (users, groups)
    } else {
        (Vec::new(), Vec::new())
    };
    let user_licenses = state.store.licenses_of_users(tenant, &users).await?;
    let group_skus = state.store.list_group_license_skus(tenant, &groups).await?;
    let last = objects.last().map(DirObject::id);
    let value: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut object = Map::new();
            match o {
                DirObject::User(u) => {
                    object.insert("@odata.type".into(), json!("#microsoft.graph.user"));
                    object.extend(user_json(u, user_licenses.get(&u.id).map(Vec::as_slice).unwrap_or_default()));
                }
                DirObject::Group(g) => {
                    object.insert("@odata.type".into(), json!("#microsoft.graph.group"));
                    object.extend(group_json(g, group_skus.get(&g.id).map(Vec::as_slice).unwrap_or_default()));
                }
                DirObject::App { id, display_name } => {
                    object.insert("@odata.type".into(), json!("#microsoft.graph.servicePrincipal"));
                    object.insert("id".into(), json!(id.to_string()));
                    object.insert("displayName".into(), json!(display_name));
                }
            }
            Value::Object(odata::select(object, &selected))
        })
        .collect();

    let base = base_url(&state);
    let segment = match list {
        GroupObjects::Members(Reach::Direct) => "members",
        GroupObjects::Members(Reach::Transitive) => "transitiveMembers",
        GroupObjects::Owners => "owners",
    };
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(format!("{base}/$metadata#directoryObjects{}", odata::select_suffix(&selected))));
    if count {
        body.insert("@odata.count".into(), json!(state.store.count_group_objects(tenant, group.id, list).await?));
    }
    if let (true, Some(last)) = (more, last) {
        let link_base = format!("{base}/groups/{}/{segment}", group.id);
        body.insert("@odata.nextLink".into(), json!(keyset_next_link(&link_base, &query, page.top, last)));
    }
    body.insert("value".into(), Value::Array(value));
    Ok(Json(Value::Object(body)))
}

pub async fn group_members(
    State(state): State<AppState>,
    GraphCaller(caller): GraphCaller,
    headers: HeaderMap,
    path: GraphPath,
    query: GraphQuery,
) -> Result<Json<Value>, GraphError> {
    group_objects(state, caller, headers, path, query, GroupObjects::Members(Reach::Direct)).await
}

pub async fn group_transitive_members(
    State(state): State<AppState>,
    GraphCaller(caller): GraphCaller,
    headers: HeaderMap,
    path: GraphPath,
    query: GraphQuery,
) -> Result<Json<Value>, GraphError> {
    group_objects(state, caller, headers, path, query, GroupObjects::Members(Reach::Transitive)).await
}

pub async fn group_owners(
    State(state): State<AppState>,
    GraphCaller(caller): GraphCaller,
    headers: HeaderMap,
    path: GraphPath,
    query: GraphQuery,
) -> Result<Json<Value>, GraphError> {
    group_objects(state, caller, headers, path, query, GroupObjects::Owners).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyset_tokens_round_trip_and_reject_garbage() {
        let id = Uuid::new_v4();
        assert_eq!(decode_after(&encode_after(id)), Some(id));
        assert_eq!(decode_after("garbage!"), None);
        assert_eq!(decode_after(&URL_SAFE_NO_PAD.encode("pbi-access:after:not-a-uuid")), None);
    }
}
