//! `/groups`, their members (`$ref`), and group-based licensing.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::error::GraphError;
use super::extract::{GraphBody, GraphCaller, GraphPath, GraphQuery};
use super::odata::{self, FieldKind};
use super::users::{parse_assign, tenant_domain, user_json};
use super::{base_url, created_at, rfc3339};
use crate::api::powerbi::activity::Origin;
use crate::app::AppState;
use crate::domain::identity::DirGroup;
use crate::domain::{GroupKind, PrincipalKind};

pub(super) const GROUP_PROPERTIES: &[&str] = &[
    "id",
    "displayName",
    "description",
    "groupTypes",
    "mail",
    "mailEnabled",
    "mailNickname",
    "securityEnabled",
    "createdDateTime",
    "deletedDateTime",
    "assignedLicenses",
];

const GROUP_FILTER: &[(&str, FieldKind)] = &[
    ("id", FieldKind::Text),
    ("displayName", FieldKind::Text),
    ("mail", FieldKind::Text),
    ("mailNickname", FieldKind::Text),
    ("mailEnabled", FieldKind::Bool),
    ("securityEnabled", FieldKind::Bool),
];

pub(super) fn group_json(g: &DirGroup, skus: &[Uuid]) -> Map<String, Value> {
    let unified = g.kind == GroupKind::Microsoft365;
    let mut m = json!({
        "id": g.id.to_string(),
        "displayName": g.display_name,
        "description": g.description,
        "groupTypes": if unified { json!(["Unified"]) } else { json!([]) },
        "mail": g.mail,
        "mailEnabled": unified,
        "mailNickname": g.mail_nickname,
        "securityEnabled": !unified,
        "createdDateTime": rfc3339(g.created_at),
        "assignedLicenses": skus.iter().map(|s| json!({"disabledPlans": [], "skuId": s.to_string()})).collect::<Vec<_>>(),
    })
    .as_object()
    .cloned()
    .unwrap_or_default();
    if let Some(at) = g.deleted_at {
        m.insert("deletedDateTime".into(), json!(rfc3339(at)));
    }
    m
}

fn entity(state: &AppState, object: Map<String, Value>) -> Value {
    odata::with_context(format!("{}/$metadata#groups/$entity", base_url(state)), object)
}

pub(super) async fn find_group(state: &AppState, tenant: Uuid, key: &str) -> Result<DirGroup, GraphError> {
    let id = Uuid::parse_str(key).map_err(|_| GraphError::not_found(key))?;
    state.store.dir_group(tenant, id, false).await?.ok_or_else(|| GraphError::not_found(key))
}

pub async fn list(State(state): State<AppState>, GraphCaller(caller): GraphCaller, query: GraphQuery) -> Result<Json<Value>, GraphError> {
    let tenant = caller.tenant_id;
    let filter = query.get("$filter").map(|f| odata::parse_filter(f, GROUP_FILTER, "Group")).transpose()?;
    let selected = odata::parse_select(&query, GROUP_PROPERTIES, "group")?;
    let (top, skip) = odata::paging(&query)?;
    let mut matching = Vec::new();
    for g in state.store.list_dir_groups(tenant).await? {
        let j = group_json(&g, &state.store.group_license_skus(tenant, g.id).await?);
        if filter.as_ref().is_none_or(|f| odata::matches(f, &j)) {
            matching.push(j);
        }
    }
    let total = matching.len();
    let page = odata::select_page(matching, &selected, top, skip);
    let base = base_url(&state);
    let context = format!("{base}/$metadata#groups{}", odata::select_suffix(&selected));
    Ok(Json(odata::collection(context, page, &format!("{base}/groups"), &query, top, skip, total)))
}

pub async fn get(
    State(state): State<AppState>,
    GraphCaller(caller): GraphCaller,
    path: GraphPath,
    query: GraphQuery,
) -> Result<Json<Value>, GraphError> {
    let group = find_group(&state, caller.tenant_id, &path.get("id")).await?;
    let selected = odata::parse_select(&query, GROUP_PROPERTIES, "group")?;
    let skus = state.store.group_license_skus(caller.tenant_id, group.id).await?;
    Ok(Json(entity(&state, odata::select(group_json(&group, &skus), &selected))))
}

fn invalid(property: &str) -> GraphError {
    GraphError::bad_request(format!("Invalid value specified for property '{property}' of resource 'Group'."))
}

pub async fn create(
    State(state): State<AppState>,
    GraphCaller(caller): GraphCaller,
    GraphBody(body): GraphBody,
) -> Result<Response, GraphError> {
    const WRITABLE: &[&str] = &["displayName", "description", "mailEnabled", "mailNickname", "securityEnabled", "groupTypes"];
    if let Some(key) = body.keys().find(|k| !k.starts_with('@') && !WRITABLE.contains(&k.as_str())) {
        return Err(GraphError::bad_request(format!("Property '{key}' is not a writable property of resource 'Group'.")));
    }
    let tenant = caller.tenant_id;
    let display_name =
        body.get("displayName").and_then(Value::as_str).filter(|s| !s.trim().is_empty()).ok_or_else(|| invalid("displayName"))?;
    let nickname = body.get("mailNickname").and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or_else(|| invalid("mailNickname"))?;
    if nickname.len() > 64 || !nickname.chars().all(|c| c.is_ascii_graphic() && !"@()\\[]\";:<>,".contains(c)) {
        return Err(invalid("mailNickname"));
    }
    let mail_enabled = body.get("mailEnabled").and_then(Value::as_bool).ok_or_else(|| invalid("mailEnabled"))?;
    let security_enabled = body.get("securityEnabled").and_then(Value::as_bool).ok_or_else(|| invalid("securityEnabled"))?;
    let types: Vec<String> = match body.get("groupTypes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => {
            a.iter().map(|t| t.as_str().map(str::to_string).ok_or_else(|| invalid("groupTypes"))).collect::<Result<_, _>>()?
        }
        Some(_) => return Err(invalid("groupTypes")),
    };
    let unified = types.iter().any(|t| t.eq_ignore_ascii_case("Unified"));
    if types.iter().any(|t| !t.eq_ignore_ascii_case("Unified")) {
        return Err(GraphError::bad_request("Only the 'Unified' group type is supported; dynamic membership is not."));
    }
    let description = match body.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(invalid("description")),
    };
    let mut group = DirGroup::new(Uuid::new_v4(), display_name, if unified { GroupKind::Microsoft365 } else { GroupKind::Security });
    group.description = description;
    group.mail_nickname = Some(nickname.to_string());
    if unified {
        if !mail_enabled {
            return Err(GraphError::bad_request("A Microsoft 365 group ('Unified') must be mail-enabled."));
        }
        let domain = tenant_domain(&state, tenant).await?;
        group.mail = Some(format!("{nickname}@{domain}"));
    } else {
        if mail_enabled {
            return Err(GraphError::bad_request(
                "The service does not currently support writes of mail-enabled groups. Please ensure that the mail-enablement property is unset or is set to false.",
            ));
        }
        if !security_enabled {
            return Err(invalid("securityEnabled"));
        }
    }
    let created = state.store.create_dir_group(tenant, &group, state.clock.now_millis()).await?;
    Ok(created_at(entity(&state, group_json(&created, &[])), &format!("{}/groups/{}", base_url(&state), created.id)))
}

pub async fn members(
    State(state): State<AppState>,
    GraphCaller(caller): GraphCaller,
    path: GraphPath,
    query: GraphQuery,
) -> Result<Json<Value>, GraphError> {
    let tenant = caller.tenant_id;
    let key = path.get("id");
    let group = find_group(&state, tenant, &key).await?;
    let (top, skip) = odata::paging(&query)?;
    let members = state.store.dir_group_members(tenant, group.id).await.map_err(|e| GraphError::from_dir(e, &key))?;
    let total = members.len();
    let mut value = Vec::new();
    for m in members.iter().skip(skip).take(top) {
        let mut object = Map::new();
        match m.kind {
            PrincipalKind::User => {
                object.insert("@odata.type".into(), json!("#microsoft.graph.user"));
                match state.store.dir_user(tenant, m.id, false).await? {
                    Some(u) => object.extend(user_json(&u, &state.store.user_licenses(tenant, u.id).await?)),
                    None => continue,
                }
            }
            PrincipalKind::Group => {
                object.insert("@odata.type".into(), json!("#microsoft.graph.group"));
                match state.store.dir_group(tenant, m.id, false).await? {
                    Some(g) => object.extend(group_json(&g, &state.store.group_license_skus(tenant, g.id).await?)),
                    None => continue,
                }
            }
            PrincipalKind::App => {
                object.insert("@odata.type".into(), json!("#microsoft.graph.servicePrincipal"));
                object.insert("id".into(), json!(m.id.to_string()));
                object.insert("displayName".into(), json!(m.display_name));
            }
        }
        value.push(Value::Object(object));
    }
    let base = base_url(&state);
    let members_url = format!("{base}/groups/{}/members", group.id);
    Ok(Json(odata::collection(format!("{base}/$metadata#directoryObjects"), value, &members_url, &query, top, skip, total)))
}

/// The object id in `{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/{id}"}`.
fn reference(body: &Map<String, Value>) -> Result<Uuid, GraphError> {
    let url = body
        .get("@odata.id")
        .and_then(Value::as_str)
        .ok_or_else(|| GraphError::bad_request("The request must name the object in '@odata.id'."))?;
    let mut segments = url.trim_end_matches('/').rsplit('/');
    let id = segments.next().unwrap_or_default();
    let collection = segments.next().unwrap_or_default();
    let known = ["directoryObjects", "users", "groups", "servicePrincipals"].iter().any(|c| c.eq_ignore_ascii_case(collection));
    match Uuid::parse_str(id) {
        Ok(id) if known => Ok(id),
        _ => Err(GraphError::bad_request(format!("Invalid object identifier '{url}'."))),
    }
}

pub async fn add_member(
    State(state): State<AppState>,
    GraphCaller(caller): GraphCaller,
    headers: HeaderMap,
    path: GraphPath,
    GraphBody(body): GraphBody,
) -> Result<StatusCode, GraphError> {
    let key = path.get("id");
    let group = find_group(&state, caller.tenant_id, &key).await?;
    let member = reference(&body)?;
    state
        .store
        .add_dir_group_member(caller.tenant_id, group.id, member, state.clock.now_millis(), &Origin::new(&caller, &headers))
        .await
        .map_err(|e| GraphError::from_dir(e, &key))?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn remove_member(
    State(state): State<AppState>,
    GraphCaller(caller): GraphCaller,
    headers: HeaderMap,
    path: GraphPath,
) -> Result<StatusCode, GraphError> {
    let key = path.get("id");
    let member_key = path.get("member");
    let group = find_group(&state, caller.tenant_id, &key).await?;
    let member = Uuid::parse_str(&member_key).map_err(|_| GraphError::not_found(&member_key))?;
    state
        .store
        .remove_dir_group_member(caller.tenant_id, group.id, member, state.clock.now_millis(), &Origin::new(&caller, &headers))
        .await
        .map_err(|e| GraphError::from_dir(e, &member_key))?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn assign_license(
    State(state): State<AppState>,
    GraphCaller(caller): GraphCaller,
    headers: HeaderMap,
    path: GraphPath,
    GraphBody(body): GraphBody,
) -> Result<Response, GraphError> {
    let key = path.get("id");
    let group = find_group(&state, caller.tenant_id, &key).await?;
    let (add, remove) = parse_assign(&body)?;
    let updated = state
        .store
        .assign_group_licenses(caller.tenant_id, group.id, &add, &remove, state.clock.now_millis(), &Origin::new(&caller, &headers))
        .await
        .map_err(|e| GraphError::from_dir(e, &key))?;
    let skus = state.store.group_license_skus(caller.tenant_id, group.id).await?;
    Ok((StatusCode::ACCEPTED, Json(entity(&state, group_json(&updated, &skus)))).into_response())
}
