//! `GET`, `PUT` and `DELETE /operator/v1/faults`: read, replace or clear the fault-injection
//! rules of this instance (see `crate::faults`). Changes last until restart; the config's
//! `[[faults]]` are the rules at start.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use pbi_wire::operator::FaultRules;

use super::Operator;
use crate::api::powerbi::error::PbiError;
use crate::api::powerbi::extract::PbiJson;
use crate::app::AppState;

pub async fn get_faults(_: Operator, State(state): State<AppState>) -> Json<FaultRules> {
    Json(FaultRules { rules: state.faults.rules() })
}

/// Replace every rule; each rule's generator starts again from its seed.
pub async fn put_faults(
    _: Operator,
    State(state): State<AppState>,
    PbiJson(body): PbiJson<FaultRules>,
) -> Result<Json<FaultRules>, PbiError> {
    state.faults.replace(&body.rules).map_err(|e| PbiError::invalid_request(format!("Invalid fault rules: {e}")))?;
    tracing::info!(rules = body.rules.len(), "fault rules replaced through the operator API");
    Ok(Json(FaultRules { rules: state.faults.rules() }))
}

pub async fn delete_faults(_: Operator, State(state): State<AppState>) -> StatusCode {
    state.faults.replace(&[]).expect("an empty list is valid");
    tracing::info!("fault rules cleared through the operator API");
    StatusCode::NO_CONTENT
}
