//! The routing-table pieces the Graph, SCIM and operator dialects share: a row is an [`Op`]
//! (method, path template, name) and its handler, so the table that routes is also the one the
//! compatibility matrix lists.

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;
use pbi_wire::ops::Op;

use crate::app::AppState;

/// Declare a dialect's operations, one `pub const NAME: Op` a row:
/// `NAME = "METHOD" "/path/{id}" "name";`.
macro_rules! dialect_ops {
    ($($name:ident = $method:literal $path:literal $id:literal;)*) => {
        $(pub const $name: pbi_wire::ops::Op = pbi_wire::ops::Op { id: $id, method: $method, path: $path };)*
    };
}
pub(crate) use dialect_ops;

/// One row of a routing table.
pub struct Route {
    pub op: Op,
    pub handler: MethodRouter<AppState>,
}

/// The row that routes `op`'s method and path to `handler`.
pub fn route<H, T>(op: Op, handler: H) -> Route
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let method = Method::from_bytes(op.method.as_bytes()).expect("operation table methods are valid");
    Route { op, handler: on(MethodFilter::try_from(method).expect("routable method"), handler) }
}

/// A router with one entry a path: the handlers of its rows merged, and `method_not_allowed`
/// (the dialect's 405) for any other method.
pub fn by_path<H, T>(routes: Vec<Route>, method_not_allowed: H) -> Router<AppState>
where
    H: Handler<T, AppState> + Clone,
    T: 'static,
{
    let mut by_path: Vec<(&'static str, MethodRouter<AppState>)> = Vec::new();
    for r in routes {
        match by_path.iter_mut().find(|(p, _)| *p == r.op.path) {
            Some((_, mr)) => *mr = std::mem::take(mr).merge(r.handler),
            None => by_path.push((r.op.path, r.handler)),
        }
    }
    by_path.into_iter().fold(Router::new(), |router, (path, mr)| router.route(path, mr.fallback(method_not_allowed.clone())))
}
