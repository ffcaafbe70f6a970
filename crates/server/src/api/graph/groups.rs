//! `/groups`, their members (`$ref`), and group-based licensing.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::error::GraphError;
use super::extract::{GraphBody, GraphCaller, GraphPath, GraphQuery};
use super::odata::{self, Field, FieldKind, ListRequest};
use super::users::{parse_assign, tenant_domain};
use super::{base_url, created_at, directory_list, rfc3339};
use crate::api::powerbi::activity::Origin;
use crate::app::AppState;
use crate::domain::identity::DirGroup;
use crate::domain::GroupKind;

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

/// The properties `$filter` serves, each backed by an index (`store::directory::GROUP_COLUMNS`).
/// `mailEnabled`, `securityEnabled` and the rest are `Request_UnsupportedQuery` naming them.
const GROUP_FILTER: &[Field] = &[
    ("id", "id", FieldKind::Text),
    ("displayName", "displayName", FieldKind::Text),
    ("mail", "mail", FieldKind::Text),
    ("mailNickname", "mailNickname", FieldKind::Text),
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
    state.store.get_group(tenant, id, false).await?.ok_or_else(|| GraphError::not_found(key))
}

/// `GET /groups`: one keyset page of the groups matching `$filter`, read from its index, with
/// the page's licences (only when `assignedLicenses` is shown) in one statement.
pub async fn list(
    State(state): State<AppState>,
    GraphCaller(caller): GraphCaller,
    headers: HeaderMap,
    query: GraphQuery,
) -> Result<Json<Value>, GraphError> {
    let tenant = caller.tenant_id;
    let request = ListRequest::parse(&query, &headers, GROUP_FILTER, GROUP_PROPERTIES, "group", "Group")?;
    let mut groups = state.store.list_groups(tenant, request.filter.as_ref(), &request.page()).await?;
    let last = request.cut(&mut groups, |g| g.id);
    let count = match request.count {
        true => Some(state.store.count_groups(tenant, request.filter.as_ref()).await?),
        false => None,
    };
    let wants_licences = request.selected.as_ref().is_none_or(|s| s.contains(&"assignedLicenses"));
    let skus = match wants_licences && !groups.is_empty() {
        true => state.store.list_group_license_skus(tenant, &groups.iter().map(|g| g.id).collect::<Vec<_>>()).await?,
        false => HashMap::new(),
    };
    let objects = groups.iter().map(|g| group_json(g, skus.get(&g.id).map(Vec::as_slice).unwrap_or_default())).collect();
    Ok(Json(directory_list(&state, "groups", &query, &request, objects, count, last)))
}

/// `GET /groups/$count`: the number of groups matching `$filter`, as text (advanced query).
pub async fn count(
    State(state): State<AppState>,
    GraphCaller(caller): GraphCaller,
    headers: HeaderMap,
    query: GraphQuery,
) -> Result<Response, GraphError> {
    odata::require_eventual(&headers)?;
    let filter = query.get("$filter").map(|f| odata::parse_dir_filter(f, GROUP_FILTER, "Group")).transpose()?;
    let n = state.store.count_groups(caller.tenant_id, filter.as_ref()).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain;charset=utf-8")], n.to_string()).into_response())
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
    let created = state.store.create_group(tenant, &group, state.clock.now_millis()).await?;
    Ok(created_at(entity(&state, group_json(&created, &[])), &format!("{}/groups/{}", base_url(&state), created.id)))
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
        .create_group_member(caller.tenant_id, group.id, member, state.clock.now_millis(), &Origin::new(&caller, &headers))
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
        .delete_group_member(caller.tenant_id, group.id, member, state.clock.now_millis(), &Origin::new(&caller, &headers))
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
    // The `location` of Microsoft's example: the group as a directory object of the tenant, on
    // Graph's internal `v2` path (under this server's Graph origin).
    let location =
        format!("{}/graph/v2/{}/directoryObjects/{}/Microsoft.DirectoryServices.Group", state.public_url, caller.tenant_id, group.id);
    Ok((StatusCode::ACCEPTED, [(axum::http::header::LOCATION, location)], Json(entity(&state, group_json(&updated, &skus))))
        .into_response())
}
