//! Dataset permissions: `GET`/`POST`/`PUT /datasets/{datasetId}/users` and their `…InGroup`
//! variants, plus the `DELETE /datasets/{datasetId}/users/{user}` that offboarding guides call
//! (not in the Swagger). The rules are `domain::dataset_policy`; the store applies them under
//! the dataset's lock and records the activity event in the same transaction.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use pbi_wire::artifacts::{DatasetUserAccess, DatasetUserAccessRight};
use pbi_wire::powerbi::PrincipalType;
use pbi_wire::ODataList;
use serde_json::json;
use uuid::Uuid;

use super::artifacts::{caller_upn, principal_type, visible_artifact};
use super::error::PbiError;
use super::extract::{Authenticated, PbiJson, PbiPath};
use super::groups::{entity_context, plain_text, target_of_path};
use crate::app::AppState;
use crate::domain::dataset_policy::{self, Change, Effect};
use crate::domain::rights::{self, Rights};
use crate::domain::{access_list, Artifact, ArtifactKind, Caller, CallerKind, PrincipalKind, PrincipalRef};
use crate::store::{ActivityEvent, DatasetPermissionChange};

const DATASETS: &[ArtifactKind] = &[ArtifactKind::Dataset];

/// The activity of a grant or a changed right: "Shared Power BI semantic model" in Microsoft's
/// operation list.
pub const SHARE_ACTIVITY: &str = "ShareDataset";
/// The activity of a removal. Microsoft's operation list names none; see docs/fidelity.md.
pub const REMOVE_ACTIVITY: &str = "DeleteDatasetPermissions";

fn rights_of(right: DatasetUserAccessRight) -> Rights {
    // Every value of the wire enum is a name of the dataset vocabulary.
    rights::parse(ArtifactKind::Dataset, right.as_str()).unwrap_or_default()
}

fn right_json(r: Rights) -> DatasetUserAccessRight {
    rights::name(ArtifactKind::Dataset, r).and_then(|n| n.parse().ok()).unwrap_or(DatasetUserAccessRight::None)
}

async fn list(
    state: &AppState,
    caller: &Caller,
    group: Option<Uuid>,
    dataset: &str,
) -> Result<Json<ODataList<DatasetUserAccess>>, PbiError> {
    let (dataset, held) = visible_artifact(state, caller, group, dataset, DATASETS).await?;
    dataset_policy::may_list(held).map_err(PbiError::from)?;
    let members = state.store.members(caller.tenant_id, dataset.workspace_id).await?;
    let direct = state.store.artifact_users(&dataset).await?;
    let value = access_list(ArtifactKind::Dataset, &members, &direct)
        .iter()
        .map(|u| DatasetUserAccess {
            identifier: u.identifier(),
            principal_type: principal_type(u.principal.kind),
            dataset_user_access_right: right_json(u.rights),
        })
        .collect();
    Ok(Json(ODataList::new(entity_context(state, "datasetUsers"), value)))
}

/// The principal a body names: a user by UPN or mail, a group or app by object id.
async fn body_target(state: &AppState, tenant: Uuid, body: &DatasetUserAccess) -> Result<PrincipalRef, PbiError> {
    let identifier = plain_text(body.identifier.trim(), "identifier")?;
    if identifier.is_empty() {
        return Err(PbiError::invalid_request("The identifier is empty: give a user's UPN, or a group's or app's object id"));
    }
    let kind = match body.principal_type {
        PrincipalType::User => PrincipalKind::User,
        PrincipalType::Group => PrincipalKind::Group,
        PrincipalType::App => PrincipalKind::App,
        PrincipalType::None => {
            return Err(PbiError::invalid_request("principalType 'None' (whole organisation) cannot hold dataset permissions"))
        }
    };
    if kind != PrincipalKind::User && Uuid::parse_str(identifier).is_err() {
        return Err(PbiError::invalid_request(format!(
            "The identifier of a {} principal must be its object id (a GUID), not '{identifier}'",
            kind.as_str()
        )));
    }
    state.store.resolve_principal(tenant, kind, identifier).await?.ok_or_else(|| {
        PbiError::new(
            StatusCode::BAD_REQUEST,
            "PrincipalNotFound",
            format!("No {} '{identifier}' exists in the tenant's directory", kind.as_str()),
        )
    })
}

/// Apply a change and record it as `ShareDataset` (grant or new right) or
/// `DeleteDatasetPermissions` (removal), with the caller as the actor.
async fn apply(
    state: &AppState,
    caller: &Caller,
    dataset: &Artifact,
    group: Option<Uuid>,
    target: PrincipalRef,
    change: Change,
) -> Result<StatusCode, PbiError> {
    let now = state.clock.now_millis();
    let recipient = match target.kind {
        PrincipalKind::User => state.store.get_user(caller.tenant_id, target.object_id, true).await?.map(|u| u.mail.unwrap_or(u.upn)),
        _ => None,
    };
    let req = DatasetPermissionChange {
        tenant_id: caller.tenant_id,
        dataset_id: dataset.id,
        workspace_id: group,
        caller: caller.object_id,
        caller_upn: caller_upn(caller).map(str::to_string),
        target,
        change,
        now,
    };
    let (user_id, user_type) = match &caller.kind {
        CallerKind::User { upn } => (upn.clone(), None),
        // Office 365 audit records give service principals UserType 6.
        CallerKind::App { .. } => (caller.object_id.to_string(), Some(6)),
    };
    let effect = state
        .store
        .change_dataset_permission(&req, |dataset, effect| {
            let (activity, right) = match effect {
                Effect::Set(r) => (SHARE_ACTIVITY, right_json(r)),
                _ => (REMOVE_ACTIVITY, DatasetUserAccessRight::None),
            };
            let mut sharing = json!({
                "ObjectId": target.object_id.to_string(),
                "RecipientPrincipalType": target.kind.as_str(),
                "ResharePermission": right.as_str(),
            });
            if let Some(email) = &recipient {
                sharing["RecipientEmail"] = json!(email);
            }
            let mut item = json!({
                "DatasetId": dataset.id.to_string(),
                "DatasetName": dataset.name,
                "ArtifactId": dataset.id.to_string(),
                "ArtifactName": dataset.name,
                "ArtifactKind": "Dataset",
                "SharingInformation": [sharing],
            });
            if let Some(t) = user_type {
                item["UserType"] = json!(t);
            }
            ActivityEvent {
                id: Uuid::new_v4(),
                creation_time: now,
                activity: activity.into(),
                operation: activity.into(),
                user_id,
                user_key: caller.object_id.to_string(),
                workspace_id: Some(dataset.workspace_id),
                item,
            }
        })
        .await?;
    tracing::info!(dataset = %dataset.id, principal = %target.object_id, ?change, ?effect, "dataset permission changed");
    Ok(StatusCode::OK)
}

async fn grant_or_replace(
    state: &AppState,
    caller: &Caller,
    group: Option<Uuid>,
    dataset: &str,
    body: &DatasetUserAccess,
    post: bool,
) -> Result<StatusCode, PbiError> {
    // Visibility first, so an outsider learns nothing about the directory.
    let (dataset, _) = visible_artifact(state, caller, group, dataset, DATASETS).await?;
    let target = body_target(state, caller.tenant_id, body).await?;
    let requested = rights_of(body.dataset_user_access_right);
    let change = if post { Change::Grant(requested) } else { Change::Replace(requested) };
    apply(state, caller, &dataset, group, target, change).await
}

pub async fn get_dataset_users(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath(dataset): PbiPath<String>,
) -> Result<Json<ODataList<DatasetUserAccess>>, PbiError> {
    list(&state, &caller, None, &dataset).await
}

pub async fn get_dataset_users_in_group(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath((group, dataset)): PbiPath<(Uuid, String)>,
) -> Result<Json<ODataList<DatasetUserAccess>>, PbiError> {
    list(&state, &caller, Some(group), &dataset).await
}

pub async fn post_dataset_user(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath(dataset): PbiPath<String>,
    PbiJson(body): PbiJson<DatasetUserAccess>,
) -> Result<StatusCode, PbiError> {
    grant_or_replace(&state, &caller, None, &dataset, &body, true).await
}

pub async fn post_dataset_user_in_group(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath((group, dataset)): PbiPath<(Uuid, String)>,
    PbiJson(body): PbiJson<DatasetUserAccess>,
) -> Result<StatusCode, PbiError> {
    grant_or_replace(&state, &caller, Some(group), &dataset, &body, true).await
}

pub async fn put_dataset_user(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath(dataset): PbiPath<String>,
    PbiJson(body): PbiJson<DatasetUserAccess>,
) -> Result<StatusCode, PbiError> {
    grant_or_replace(&state, &caller, None, &dataset, &body, false).await
}

pub async fn put_dataset_user_in_group(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath((group, dataset)): PbiPath<(Uuid, String)>,
    PbiJson(body): PbiJson<DatasetUserAccess>,
) -> Result<StatusCode, PbiError> {
    grant_or_replace(&state, &caller, Some(group), &dataset, &body, false).await
}

/// `DELETE /datasets/{datasetId}/users/{user}`: `{user}` is a UPN or mail, or an object id.
/// The same rules as `PUT` with `None`.
pub async fn delete_dataset_user(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PbiPath((dataset, user)): PbiPath<(String, String)>,
) -> Result<StatusCode, PbiError> {
    let (dataset, _) = visible_artifact(&state, &caller, None, &dataset, DATASETS).await?;
    let target = target_of_path(&state, caller.tenant_id, &user, false).await?;
    apply(&state, &caller, &dataset, None, target, Change::Remove).await
}
