//! `/Users`: list (filter, paging, projection), create, get, replace, patch, delete.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::error::ScimError;
use super::extract::{if_match, parse_etag, ScimBody, ScimCaller, ScimQuery};
use super::filter::{to_dir_filter, IndexedAttr};
use super::patch::apply_patch;
use super::resources::{apply_user_json, user_to_scim};
use super::{base_url, list_filter, list_response, not_found, paging, project_for, refuse, replace_document, resource_id, scim_response};
use crate::api::powerbi::activity::Origin;
use crate::app::AppState;
use crate::auth::credentials::hash_password;
use crate::domain::dirquery::Page;
use crate::domain::identity::DirUser;

/// The attributes `filter` serves on `/Users`, each backed by an index.
const USER_FILTER: &[IndexedAttr] = &[
    ("id", "id", false),
    ("userName", "upn", false),
    ("externalId", "externalId", false),
    ("displayName", "displayName", false),
    ("active", "accountEnabled", true),
    ("userType", "userType", false),
];

/// `GET /Users`: `filter` and the `startIndex`/`count` page in SQL, `totalResults` from an
/// indexed count; `count=0` reads only the count.
pub async fn list(State(state): State<AppState>, caller: ScimCaller, query: ScimQuery) -> Result<Response, ScimError> {
    let filter = list_filter(&query)?.map(|f| to_dir_filter(&f, USER_FILTER)).transpose()?;
    let (start, count) = paging(&query)?;
    let tenant = caller.tenant.id;
    let base = base_url(&state, tenant);
    let total = state.store.count_users(tenant, filter.as_ref()).await?;
    let users = match count {
        0 => Vec::new(),
        _ => state.store.list_users(tenant, filter.as_ref(), &Page { after: None, offset: start - 1, limit: count }).await?,
    };
    let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
    let memberships = state.store.groups_of_members(tenant, &ids).await?;
    let page = users
        .iter()
        .map(|u| project_for(&query, user_to_scim(u, memberships.get(&u.id).map(Vec::as_slice).unwrap_or_default(), &base)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(list_response(page, total as usize, start))
}

pub async fn create(State(state): State<AppState>, caller: ScimCaller, ScimBody(body): ScimBody) -> Result<Response, ScimError> {
    let tenant = caller.tenant.id;
    let mut user = DirUser::new(Uuid::new_v4(), String::new(), String::new());
    let password = apply_user_json(&body, &mut user)?;
    check_domain(&user, &caller)?;
    let hash = password.as_deref().map(hash_password);
    let now = state.clock.now_millis();
    let created = state.store.create_user(tenant, &user, hash.as_deref(), now).await?;
    Ok(scim_response(StatusCode::CREATED, &user_to_scim(&created, &[], &base_url(&state, tenant))))
}

/// A user's `userName` must be in the tenant's domain, as Graph demands of `userPrincipalName`
/// (another tenant's domain would let one tenant's provisioning create names in another's).
fn check_domain(user: &DirUser, caller: &ScimCaller) -> Result<(), ScimError> {
    if user.upn_in_domain(&caller.tenant.domain) {
        return Ok(());
    }
    Err(ScimError::invalid_value(format!(
        "'userName' '{}' is not in a verified domain of this tenant: its domain must be {}",
        user.upn, caller.tenant.domain
    )))
}

pub async fn get(State(state): State<AppState>, caller: ScimCaller, query: ScimQuery, headers: HeaderMap) -> Result<Response, ScimError> {
    let id = resource_id(&caller)?;
    let tenant = caller.tenant.id;
    let user = state.store.get_user(tenant, id, false).await?.ok_or_else(|| ScimError::not_found("Resource", &id.to_string()))?;
    if let Some(v) = headers.get(axum::http::header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).and_then(parse_etag) {
        if v == user.version {
            return Ok(StatusCode::NOT_MODIFIED.into_response());
        }
    }
    let groups = state.store.groups_of_user(tenant, id).await?;
    let r = user_to_scim(&user, &groups, &base_url(&state, tenant));
    Ok(scim_response(StatusCode::OK, &project_for(&query, r)?))
}

/// Run `edit` on the user's SCIM JSON inside the store's transaction and write the result.
async fn edit(
    state: &AppState,
    caller: &ScimCaller,
    headers: &HeaderMap,
    edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>) -> Result<(), ScimError>,
) -> Result<Response, ScimError> {
    let id = resource_id(caller)?;
    let tenant = caller.tenant.id;
    let base = base_url(state, tenant);
    let mut failure: Option<ScimError> = None;
    let mut password: Option<String> = None;
    let result = state
        .store
        .update_user(tenant, id, if_match(headers), state.clock.now_millis(), &Origin::provisioning(tenant, headers), |u| {
            let mut doc = user_to_scim(u, &[], &base);
            let outcome = edit(&mut doc).and_then(|()| apply_user_json(&doc, u)).and_then(|p| check_domain(u, caller).map(|()| p));
            match outcome {
                Ok(p) => {
                    password = p;
                    Ok(())
                }
                Err(e) => Err(refuse(&mut failure, e)),
            }
        })
        .await;
    if let Some(e) = failure {
        return Err(e);
    }
    let updated = result.map_err(not_found(id))?;
    if let Some(p) = password {
        state.store.update_user_password_hash(tenant, id, Some(&hash_password(&p))).await?;
    }
    let groups = state.store.groups_of_user(tenant, id).await?;
    Ok(scim_response(StatusCode::OK, &user_to_scim(&updated, &groups, &base)))
}

pub async fn replace(
    State(state): State<AppState>,
    caller: ScimCaller,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let id = resource_id(&caller)?;
    if let Some(given) = body.get("id").and_then(|v| v.as_str()) {
        if !given.eq_ignore_ascii_case(&id.to_string()) {
            return Err(ScimError::bad_request("mutability", "'id' cannot be changed"));
        }
    }
    edit(&state, &caller, &headers, |doc| {
        replace_document(doc, body);
        Ok(())
    })
    .await
}

pub async fn patch(
    State(state): State<AppState>,
    caller: ScimCaller,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    edit(&state, &caller, &headers, |doc| apply_patch(doc, &body)).await
}

pub async fn delete(State(state): State<AppState>, caller: ScimCaller, headers: HeaderMap) -> Result<Response, ScimError> {
    let id = resource_id(&caller)?;
    let origin = Origin::provisioning(caller.tenant.id, &headers);
    state.store.delete_user(caller.tenant.id, id, if_match(&headers), state.clock.now_millis(), &origin).await.map_err(not_found(id))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
