//! `GET /operator/v1/requests`: this instance's requests in flight and those cancelled because
//! their client went away, with the database statements stopped for them (see `crate::cancel`).

use axum::extract::State;
use axum::Json;
use pbi_wire::operator::RequestStats;

use super::Operator;
use crate::app::AppState;

pub async fn get_requests(_: Operator, State(state): State<AppState>) -> Json<RequestStats> {
    let stats = &state.requests;
    Json(RequestStats { in_flight: stats.in_flight(), cancelled: stats.cancelled(), statements_cancelled: stats.statements_cancelled() })
}
