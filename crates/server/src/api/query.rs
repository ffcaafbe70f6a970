//! Query parameters by name, the one extractor the dialects that read a query as a map (Graph,
//! SCIM) share; each answers a query string that does not parse in its own error.

use std::collections::HashMap;
use std::marker::PhantomData;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::response::IntoResponse;

use crate::app::AppState;

/// How a dialect refuses a query string that does not parse.
pub trait QueryRejection: IntoResponse + Send {
    fn bad_query(message: String) -> Self;
}

/// The query parameters, answered in the dialect of `E` when the query string does not parse.
pub struct QueryParams<E> {
    pub params: HashMap<String, String>,
    dialect: PhantomData<fn() -> E>,
}

impl<E: QueryRejection> FromRequestParts<AppState> for QueryParams<E> {
    type Rejection = E;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, E> {
        let Query(params) = Query::<HashMap<String, String>>::from_request_parts(parts, &())
            .await
            .map_err(|e| E::bad_query(format!("Invalid query string: {e}")))?;
        Ok(QueryParams { params, dialect: PhantomData })
    }
}
