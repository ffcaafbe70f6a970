//! `/Groups`: list, create, get, replace, patch (members too), delete. SCIM creates security groups.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use uuid::Uuid;

use super::error::ScimError;
use super::extract::{if_match, ScimBody, ScimCaller, ScimQuery};
use super::filter::{parse_attr_path, CompareOp, Filter, CORE_GROUP};
use super::patch::apply_patch;
use super::resources::{apply_group_json, group_to_scim};
use super::{base_url, list_filter, list_response, not_found, paging, project_for, refuse, replace_document, resource_id, scim_response};
use crate::api::powerbi::activity::Origin;
use crate::app::AppState;
use crate::domain::identity::DirGroup;
use crate::domain::GroupKind;
use crate::store::GroupKey;

/// Whether a request's projection leaves `members` out (Entra ID asks for that on every list).
fn members_excluded(query: &ScimQuery) -> bool {
    let named = |list: Option<&str>| {
        list.unwrap_or_default()
            .split(',')
            .filter_map(|a| parse_attr_path(a.trim()).ok())
            .any(|p| p.uri.is_none() && p.attr.eq_ignore_ascii_case("members"))
    };
    let attributes = query.get("attributes").filter(|a| !a.trim().is_empty());
    named(query.get("excludedAttributes")) || attributes.is_some_and(|a| !named(Some(a)))
}

/// The index a list's filter is served from: none, or one `eq` on `displayName`, `externalId`
/// or `id`. Any other filter would be a scan of the tenant's groups, so it is refused.
fn group_key(filter: Option<&Filter>) -> Result<Option<GroupKey<'_>>, ScimError> {
    let Some(filter) = filter else { return Ok(Some(GroupKey::All)) };
    let refused = |attr: &str| {
        ScimError::bad_request(
            "invalidFilter",
            format!("Filtering Groups on '{attr}' is not supported; filter with 'eq' on displayName, externalId or id."),
        )
    };
    match filter {
        Filter::Compare(path, CompareOp::Eq, Value::String(v))
            if path.sub.is_none() && path.uri.as_deref().is_none_or(|u| u == CORE_GROUP) =>
        {
            match path.attr.to_ascii_lowercase().as_str() {
                "displayname" => Ok(Some(GroupKey::DisplayName(v))),
                "externalid" => Ok(Some(GroupKey::ExternalId(v))),
                // `id` is case-exact; a value that is no (lowercase) UUID names no group.
                "id" => Ok(Uuid::parse_str(v).ok().filter(|id| id.to_string() == *v).map(GroupKey::Id)),
                other => Err(refused(other)),
            }
        }
        Filter::Compare(path, _, _) | Filter::Present(path) | Filter::ValuePath(path, _) => Err(refused(&path.attr)),
        Filter::And(..) | Filter::Or(..) | Filter::Not(..) => Err(refused("and/or/not")),
    }
}

pub async fn list(State(state): State<AppState>, caller: ScimCaller, query: ScimQuery) -> Result<Response, ScimError> {
    let filter = list_filter(&query)?;
    let (start, count) = paging(&query)?;
    let tenant = caller.tenant.id;
    let base = base_url(&state, tenant);
    let (groups, total) = match group_key(filter.as_ref())? {
        Some(key) => state.store.list_groups_by_key(tenant, key, start - 1, count).await?,
        None => (Vec::new(), 0),
    };
    // Members are loaded only when shown: each group's own rows.
    let mut page = Vec::with_capacity(groups.len());
    for g in &groups {
        let members = if members_excluded(&query) { None } else { Some(state.store.list_group_members(tenant, g.id).await?) };
        page.push(project_for(&query, group_to_scim(g, members.as_deref(), &base))?);
    }
    Ok(list_response(page, total.max(0) as usize, start))
}

pub async fn create(
    State(state): State<AppState>,
    caller: ScimCaller,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let tenant = caller.tenant.id;
    let origin = Origin::provisioning(tenant, &headers);
    let mut group = DirGroup::new(Uuid::new_v4(), String::new(), GroupKind::Security);
    let members = apply_group_json(&body, &mut group)?;
    let now = state.clock.now_millis();
    let created = state.store.create_group(tenant, &group, now).await?;
    let created = if members.is_empty() {
        created
    } else {
        // Members are added in a second step; a bad member leaves no half-made group behind.
        match state.store.update_group(tenant, created.id, None, now, &origin, |_, _| Ok(members.clone())).await {
            Ok(g) => g,
            Err(e) => {
                let _ = state.store.delete_group(tenant, created.id, None, now, &origin).await;
                return Err(e.into());
            }
        }
    };
    let members = state.store.list_group_members(tenant, created.id).await?;
    Ok(scim_response(StatusCode::CREATED, &group_to_scim(&created, Some(&members), &base_url(&state, tenant))))
}

pub async fn get(State(state): State<AppState>, caller: ScimCaller, query: ScimQuery) -> Result<Response, ScimError> {
    let id = resource_id(&caller)?;
    let tenant = caller.tenant.id;
    let group = state.store.get_group(tenant, id, false).await?.ok_or_else(|| ScimError::not_found("Resource", &id.to_string()))?;
    let members = if members_excluded(&query) { None } else { Some(state.store.list_group_members(tenant, id).await?) };
    let r = group_to_scim(&group, members.as_deref(), &base_url(&state, tenant));
    Ok(scim_response(StatusCode::OK, &project_for(&query, r)?))
}

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
    let result = state
        .store
        .update_group(tenant, id, if_match(headers), state.clock.now_millis(), &Origin::provisioning(tenant, headers), |g, members| {
            let mut doc = group_to_scim(g, Some(members), &base);
            match edit(&mut doc).and_then(|()| apply_group_json(&doc, g)) {
                Ok(ids) => Ok(ids),
                Err(e) => Err(refuse(&mut failure, e)),
            }
        })
        .await;
    if let Some(e) = failure {
        return Err(e);
    }
    let updated = result.map_err(not_found(id))?;
    let members = state.store.list_group_members(tenant, id).await?;
    Ok(scim_response(StatusCode::OK, &group_to_scim(&updated, Some(&members), &base)))
}

pub async fn replace(
    State(state): State<AppState>,
    caller: ScimCaller,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
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
    state.store.delete_group(caller.tenant.id, id, if_match(&headers), state.clock.now_millis(), &origin).await.map_err(not_found(id))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
