//! `GET /operator/v1/tenants`, `POST /operator/v1/tenants` (import a snapshot or spec) and
//! `GET /operator/v1/tenants/{tenant}` (export): the `pbi-access tenant` commands over HTTP.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::Operator;
use crate::api::powerbi::error::PbiError;
use crate::api::powerbi::extract::PbiJson;
use crate::app::AppState;
use crate::tenant::{self, ProvisionError, TenantSpec};

pub async fn list_tenants(_: Operator, State(state): State<AppState>) -> Result<Json<Value>, PbiError> {
    let tenants = state.store.list_tenants().await?;
    Ok(Json(json!({ "value": tenants.iter().map(|t| json!({ "id": t.id, "name": t.name, "domain": t.domain })).collect::<Vec<_>>() })))
}

/// Validated and atomic, as `pbi-access tenant import`: all of it, or nothing.
pub async fn import_tenant(
    _: Operator,
    State(state): State<AppState>,
    PbiJson(spec): PbiJson<TenantSpec>,
) -> Result<(StatusCode, Json<Value>), PbiError> {
    match tenant::provision(&state.store, &*state.clock, &spec).await {
        Ok(made) => {
            Ok((StatusCode::CREATED, Json(json!({ "id": made.tenant.id, "name": made.tenant.name, "domain": made.tenant.domain }))))
        }
        Err(ProvisionError::Invalid(message)) => Err(PbiError::invalid_request(format!("The tenant was not imported: {message}"))),
        Err(ProvisionError::Store(e)) => Err(e.into()),
    }
}

pub async fn export_tenant(
    _: Operator,
    State(state): State<AppState>,
    Path(tenant_key): Path<String>,
) -> Result<Json<TenantSpec>, PbiError> {
    let found =
        state.store.find_tenant(&tenant_key).await?.ok_or_else(|| PbiError::entity_not_found(format!("No tenant '{tenant_key}'")))?;
    let spec =
        tenant::export(&state.store, found.id).await?.ok_or_else(|| PbiError::entity_not_found(format!("No tenant '{tenant_key}'")))?;
    Ok(Json(spec))
}
