//! `/users`, `/directory/deletedItems`, `/subscribedSkus`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::error::GraphError;
use super::extract::{GraphBody, GraphCaller, GraphPath, GraphQuery};
use super::odata::{self, keyset_collection, select_suffix, with_context, Field, FieldKind, ListRequest};
use super::{base_url, created_at, directory_list, rfc3339};
use crate::api::powerbi::activity::Origin;
use crate::app::AppState;
use crate::auth::credentials::hash_password;
use crate::domain::identity::{DirUser, UserLicense};
use crate::domain::UserType;
use crate::store::DirError;

pub(super) const USER_PROPERTIES: &[&str] = &[
    "id",
    "userPrincipalName",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "mailNickname",
    "jobTitle",
    "department",
    "employeeId",
    "usageLocation",
    "accountEnabled",
    "userType",
    "createdDateTime",
    "deletedDateTime",
    "businessPhones",
    "assignedLicenses",
];

/// The properties `$filter` serves, each backed by an index (`store::directory::USER_COLUMNS`).
/// Others (`givenName`, `surname`, `employeeId`, `mailNickname`, …) are `Request_UnsupportedQuery`.
const USER_FILTER: &[Field] = &[
    ("id", "id", FieldKind::Text),
    ("userPrincipalName", "upn", FieldKind::Text),
    ("mail", "mail", FieldKind::Text),
    ("displayName", "displayName", FieldKind::Text),
    ("accountEnabled", "accountEnabled", FieldKind::Bool),
    ("userType", "userType", FieldKind::Text),
];

pub(super) fn user_json(u: &DirUser, licenses: &[UserLicense]) -> Map<String, Value> {
    let licenses: Vec<Value> = licenses.iter().map(|l| json!({"disabledPlans": [], "skuId": l.sku_id.to_string()})).collect();
    let mut m = json!({
        "id": u.id.to_string(),
        "userPrincipalName": u.upn,
        "displayName": u.display_name,
        "givenName": u.given_name,
        "surname": u.surname,
        "mail": u.mail,
        "mailNickname": u.extra.get("mailNickname").cloned().unwrap_or(Value::Null),
        "jobTitle": u.job_title,
        "department": u.department,
        "employeeId": u.employee_number,
        "usageLocation": u.usage_location,
        "accountEnabled": u.account_enabled,
        "userType": u.user_type.as_str(),
        "createdDateTime": rfc3339(u.created_at),
        "businessPhones": [],
        "assignedLicenses": licenses,
    })
    .as_object()
    .cloned()
    .unwrap_or_default();
    if let Some(at) = u.deleted_at {
        m.insert("deletedDateTime".into(), json!(rfc3339(at)));
    }
    m
}

/// A user named by object id or by UPN (case-insensitive), not deleted.
pub(super) async fn find_user(state: &AppState, tenant: Uuid, key: &str) -> Result<DirUser, GraphError> {
    let found = match Uuid::parse_str(key) {
        Ok(id) => state.store.get_user(tenant, id, false).await?,
        Err(_) if key.len() <= 1024 && !key.chars().any(char::is_control) => state.store.get_user_by_upn(tenant, key).await?,
        Err(_) => None,
    };
    found.ok_or_else(|| GraphError::not_found(key))
}

fn invalid(property: &str) -> GraphError {
    GraphError::bad_request(format!("Invalid value specified for property '{property}' of resource 'User'."))
}

fn text(body: &Map<String, Value>, property: &str) -> Result<Option<Option<String>>, GraphError> {
    match body.get(property) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(_) => Err(invalid(property)),
    }
}

const WRITABLE: &[&str] = &[
    "accountEnabled",
    "displayName",
    "givenName",
    "surname",
    "jobTitle",
    "department",
    "usageLocation",
    "mail",
    "mailNickname",
    "userPrincipalName",
    "userType",
    "employeeId",
    "passwordProfile",
];

/// Apply the properties of a POST or PATCH body to `u`; returns a new password if one was given.
fn apply_properties(body: &Map<String, Value>, u: &mut DirUser, domain: &str) -> Result<Option<String>, GraphError> {
    for key in body.keys() {
        if !key.starts_with('@') && !WRITABLE.contains(&key.as_str()) {
            return Err(GraphError::bad_request(format!("Property '{key}' is not a writable property of resource 'User'.")));
        }
    }
    if let Some(v) = body.get("accountEnabled") {
        u.account_enabled = v.as_bool().ok_or_else(|| invalid("accountEnabled"))?;
    }
    if let Some(v) = text(body, "displayName")? {
        u.display_name = v.ok_or_else(|| invalid("displayName"))?;
    }
    if let Some(v) = text(body, "userPrincipalName")? {
        let upn = v.ok_or_else(|| invalid("userPrincipalName"))?;
        if !upn.contains('@') {
            return Err(invalid("userPrincipalName"));
        }
        if !crate::domain::identity::upn_in_domain(&upn, domain) {
            return Err(GraphError::bad_request(
                "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.",
            ));
        }
        u.upn = upn;
    }
    if let Some(v) = text(body, "givenName")? {
        u.given_name = v;
    }
    if let Some(v) = text(body, "surname")? {
        u.surname = v;
    }
    if let Some(v) = text(body, "jobTitle")? {
        u.job_title = v;
    }
    if let Some(v) = text(body, "department")? {
        u.department = v;
    }
    if let Some(v) = text(body, "employeeId")? {
        u.employee_number = v;
    }
    if let Some(v) = text(body, "mail")? {
        u.mail = v;
    }
    if let Some(v) = text(body, "usageLocation")? {
        u.usage_location = v.map(|c| c.to_ascii_uppercase());
    }
    if let Some(v) = text(body, "mailNickname")? {
        match v {
            Some(n) if n.chars().all(|c| c.is_ascii_graphic() && !"@()\\[]\";:<>,".contains(c)) => {
                u.extra.insert("mailNickname".into(), json!(n));
            }
            Some(_) => return Err(invalid("mailNickname")),
            None => {
                u.extra.remove("mailNickname");
            }
        }
    }
    if let Some(v) = text(body, "userType")? {
        u.user_type = match v.as_deref() {
            Some(t) if t.eq_ignore_ascii_case("member") => UserType::Member,
            Some(t) if t.eq_ignore_ascii_case("guest") => UserType::Guest,
            _ => return Err(invalid("userType")),
        };
    }
    let password =
        match body.get("passwordProfile") {
            None | Some(Value::Null) => None,
            Some(Value::Object(p)) => match p.get("password") {
                Some(Value::String(s)) if s.chars().count() >= 8 && s.len() <= 256 => Some(s.clone()),
                Some(Value::String(_)) => return Err(GraphError::bad_request(
                    "The specified password does not comply with password complexity requirements. Please provide a different password.",
                )),
                _ => return Err(invalid("passwordProfile")),
            },
            Some(_) => return Err(invalid("passwordProfile")),
        };
    u.validate().map_err(GraphError::bad_request)?;
    Ok(password)
}

pub(super) async fn tenant_domain(state: &AppState, tenant: Uuid) -> Result<String, GraphError> {
    Ok(state.store.find_tenant(&tenant.to_string()).await?.map(|t| t.domain).unwrap_or_default())
}

pub async fn list(
    State(state): State<AppState>,
    GraphCaller(caller): GraphCaller,
    headers: HeaderMap,
    query: GraphQuery,
) -> Result<Json<Value>, GraphError> {
    let tenant = caller.tenant_id;
    let request = ListRequest::parse(&query, &headers, USER_FILTER, USER_PROPERTIES, "user", "User")?;
    let mut users = state.store.list_users(tenant, request.filter.as_ref(), &request.page()).await?;
    let last = request.cut(&mut users, |u| u.id);
    let count = match request.count {
        true => Some(state.store.count_users(tenant, request.filter.as_ref()).await?),
        false => None,
    };
    let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
    let licenses = state.store.licenses_of_users(tenant, &ids).await?;
    let objects = users.iter().map(|u| user_json(u, licenses.get(&u.id).map(Vec::as_slice).unwrap_or_default())).collect();
    Ok(Json(directory_list(&state, "users", &query, &request, objects, count, last)))
}

/// `GET /users/$count`: the number of users matching `$filter`, as text (advanced query).
pub async fn count(
    State(state): State<AppState>,
    GraphCaller(caller): GraphCaller,
    headers: HeaderMap,
    query: GraphQuery,
) -> Result<Response, GraphError> {
    odata::require_eventual(&headers)?;
    let filter = query.get("$filter").map(|f| odata::parse_dir_filter(f, USER_FILTER, "User")).transpose()?;
    let n = state.store.count_users(caller.tenant_id, filter.as_ref()).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain;charset=utf-8")], n.to_string()).into_response())
}

pub async fn get(
    State(state): State<AppState>,
    GraphCaller(caller): GraphCaller,
    path: GraphPath,
    query: GraphQuery,
) -> Result<Json<Value>, GraphError> {
    let user = find_user(&state, caller.tenant_id, &path.get("id")).await?;
    let selected = odata::parse_select(&query, USER_PROPERTIES, "user")?;
    let licenses = state.store.user_licenses(caller.tenant_id, user.id).await?;
    let context = format!("{}/$metadata#users{}/$entity", base_url(&state), select_suffix(&selected));
    Ok(Json(with_context(context, odata::select(user_json(&user, &licenses), &selected))))
}

pub async fn create(
    State(state): State<AppState>,
    GraphCaller(caller): GraphCaller,
    GraphBody(body): GraphBody,
) -> Result<Response, GraphError> {
    let tenant = caller.tenant_id;
    for required in ["accountEnabled", "displayName", "mailNickname", "userPrincipalName", "passwordProfile"] {
        if body.get(required).is_none_or(Value::is_null) {
            return Err(invalid(required));
        }
    }
    let domain = tenant_domain(&state, tenant).await?;
    let mut user = DirUser::new(Uuid::new_v4(), String::new(), String::new());
    let password = apply_properties(&body, &mut user, &domain)?;
    let hash = password.as_deref().map(hash_password);
    let created = state.store.create_user(tenant, &user, hash.as_deref(), state.clock.now_millis()).await?;
    let base = base_url(&state);
    let body = with_context(format!("{base}/$metadata#users/$entity"), user_json(&created, &[]));
    Ok(created_at(body, &format!("{base}/users/{}", created.id)))
}

pub async fn update(
    State(state): State<AppState>,
    GraphCaller(caller): GraphCaller,
    headers: HeaderMap,
    path: GraphPath,
    GraphBody(body): GraphBody,
) -> Result<StatusCode, GraphError> {
    let tenant = caller.tenant_id;
    let key = path.get("id");
    let user = find_user(&state, tenant, &key).await?;
    let domain = tenant_domain(&state, tenant).await?;
    let mut failure = None;
    let mut password = None;
    let result = state
        .store
        .update_user(tenant, user.id, None, state.clock.now_millis(), &Origin::new(&caller, &headers), |u| {
            match apply_properties(&body, u, &domain) {
                Ok(p) => {
                    password = p;
                    Ok(())
                }
                Err(e) => {
                    failure = Some(e);
                    Err(DirError::Invalid("refused".into()))
                }
            }
        })
        .await;
    if let Some(e) = failure {
        return Err(e);
    }
    result.map_err(|e| GraphError::from_dir(e, &key))?;
    if let Some(p) = password {
        state.store.update_user_password_hash(tenant, user.id, Some(&hash_password(&p))).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn delete(
    State(state): State<AppState>,
    GraphCaller(caller): GraphCaller,
    headers: HeaderMap,
    path: GraphPath,
) -> Result<StatusCode, GraphError> {
    let key = path.get("id");
    let user = find_user(&state, caller.tenant_id, &key).await?;
    state
        .store
        .delete_user(caller.tenant_id, user.id, None, state.clock.now_millis(), &Origin::new(&caller, &headers))
        .await
        .map_err(|e| GraphError::from_dir(e, &key))?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_deleted(
    State(state): State<AppState>,
    GraphCaller(caller): GraphCaller,
    headers: HeaderMap,
    query: GraphQuery,
) -> Result<Json<Value>, GraphError> {
    let request = ListRequest::parse(&query, &headers, &[], USER_PROPERTIES, "user", "User")?;
    let bad = || GraphError::odata("The $skiptoken is not valid.");
    let after = match &request.after {
        None => None,
        Some(key) => {
            let (at, id) = key.split_once('_').ok_or_else(bad)?;
            Some((at.parse::<i64>().map_err(|_| bad())?, Uuid::parse_str(id).map_err(|_| bad())?))
        }
    };
    let now = state.clock.now_millis();
    let mut users = state.store.list_deleted_users(caller.tenant_id, now, after, request.top + 1).await?;
    let more = users.len() > request.top;
    users.truncate(request.top);
    let count = match request.count {
        true => Some(state.store.count_deleted_users(caller.tenant_id, now).await?),
        false => None,
    };
    let last = users.last().filter(|_| more).map(|u| format!("{}_{}", u.deleted_at.unwrap_or_default(), u.id));
    let objects = users.iter().map(|u| user_json(u, &[])).collect();
    let base = base_url(&state);
    let context = format!("{base}/$metadata#directory/deletedItems/microsoft.graph.user{}", select_suffix(&request.selected));
    let link = format!("{base}/directory/deletedItems/microsoft.graph.user");
    Ok(Json(keyset_collection(context, objects, &link, &query, &request, count, last)))
}

pub async fn restore(
    State(state): State<AppState>,
    GraphCaller(caller): GraphCaller,
    headers: HeaderMap,
    path: GraphPath,
) -> Result<Json<Value>, GraphError> {
    let key = path.get("id");
    let id = Uuid::parse_str(&key).map_err(|_| GraphError::not_found(&key))?;
    let origin = Origin::new(&caller, &headers);
    let user = state
        .store
        .restore_user(caller.tenant_id, id, state.clock.now_millis(), &origin)
        .await
        .map_err(|e| GraphError::from_dir(e, &key))?;
    let licenses = state.store.user_licenses(caller.tenant_id, id).await?;
    let mut object = Map::new();
    object.insert("@odata.type".into(), json!("#microsoft.graph.user"));
    object.extend(user_json(&user, &licenses));
    Ok(Json(with_context(format!("{}/$metadata#directoryObjects/$entity", base_url(&state)), object)))
}

/// `{addLicenses:[{skuId, disabledPlans}], removeLicenses:[skuId]}`; both are required.
pub(super) fn parse_assign(body: &Map<String, Value>) -> Result<(Vec<Uuid>, Vec<Uuid>), GraphError> {
    let bad = |p: &str| GraphError::bad_request(format!("Invalid value specified for property '{p}' of resource 'assignLicense'."));
    let add = match body.get("addLicenses") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                let o = i.as_object().ok_or_else(|| bad("addLicenses"))?;
                if let Some(plans) = o.get("disabledPlans") {
                    let ok = plans.is_null()
                        || plans.as_array().is_some_and(|a| a.iter().all(|p| p.as_str().is_some_and(|s| Uuid::parse_str(s).is_ok())));
                    if !ok {
                        return Err(bad("disabledPlans"));
                    }
                }
                o.get("skuId").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok()).ok_or_else(|| bad("skuId"))
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(bad("addLicenses")),
    };
    let remove = match body.get("removeLicenses") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().and_then(|s| Uuid::parse_str(s).ok()).ok_or_else(|| bad("removeLicenses")))
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(bad("removeLicenses")),
    };
    if add.iter().any(|a| remove.contains(a)) {
        return Err(GraphError::bad_request("A license cannot be added and removed in the same request."));
    }
    Ok((add, remove))
}

pub async fn assign_license(
    State(state): State<AppState>,
    GraphCaller(caller): GraphCaller,
    headers: HeaderMap,
    path: GraphPath,
    GraphBody(body): GraphBody,
) -> Result<Json<Value>, GraphError> {
    let key = path.get("id");
    let user = find_user(&state, caller.tenant_id, &key).await?;
    let (add, remove) = parse_assign(&body)?;
    let updated = state
        .store
        .assign_user_licenses(caller.tenant_id, user.id, &add, &remove, state.clock.now_millis(), &Origin::new(&caller, &headers))
        .await
        .map_err(|e| GraphError::from_dir(e, &key))?;
    let licenses = state.store.user_licenses(caller.tenant_id, user.id).await?;
    Ok(Json(with_context(format!("{}/$metadata#users/$entity", base_url(&state)), user_json(&updated, &licenses))))
}

/// `POST /users/{id}/reprocessLicenseAssignment`: the user with the licenses it holds after.
pub async fn reprocess_licenses(
    State(state): State<AppState>,
    GraphCaller(caller): GraphCaller,
    path: GraphPath,
) -> Result<Json<Value>, GraphError> {
    let key = path.get("id");
    let user = find_user(&state, caller.tenant_id, &key).await?;
    let user = state
        .store
        .reprocess_user_licenses(caller.tenant_id, user.id, state.clock.now_millis())
        .await
        .map_err(|e| GraphError::from_dir(e, &key))?;
    let licenses = state.store.user_licenses(caller.tenant_id, user.id).await?;
    Ok(Json(with_context(format!("{}/$metadata#users/$entity", base_url(&state)), user_json(&user, &licenses))))
}

pub async fn license_details(
    State(state): State<AppState>,
    GraphCaller(caller): GraphCaller,
    path: GraphPath,
) -> Result<Json<Value>, GraphError> {
    let key = path.get("id");
    let user = find_user(&state, caller.tenant_id, &key).await?;
    let licenses = state.store.user_licenses(caller.tenant_id, user.id).await?;
    let value: Vec<Value> = licenses
        .iter()
        .map(|l| {
            use base64::Engine;
            let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}{}", user.id.simple(), l.sku_id.simple()));
            json!({"id": id, "skuId": l.sku_id.to_string(), "skuPartNumber": l.part_number, "servicePlans": []})
        })
        .collect();
    Ok(Json(json!({ "@odata.context": format!("{}/$metadata#users('{}')/licenseDetails", base_url(&state), user.id), "value": value })))
}

pub async fn subscribed_skus(State(state): State<AppState>, GraphCaller(caller): GraphCaller) -> Result<Json<Value>, GraphError> {
    let tenant = caller.tenant_id;
    let value: Vec<Value> = state
        .store
        .subscribed_skus(tenant)
        .await?
        .iter()
        .map(|s| {
            json!({
                "accountId": tenant.to_string(),
                "appliesTo": "User",
                "capabilityStatus": s.capability_status,
                "consumedUnits": s.consumed_units,
                "id": format!("{tenant}_{}", s.sku_id),
                "prepaidUnits": {"enabled": s.prepaid_enabled, "suspended": 0, "warning": 0, "lockedOut": 0},
                "servicePlans": [],
                "skuId": s.sku_id.to_string(),
                "skuPartNumber": s.part_number,
                "subscriptionIds": [],
            })
        })
        .collect();
    Ok(Json(json!({ "@odata.context": format!("{}/$metadata#subscribedSkus", base_url(&state)), "value": value })))
}
