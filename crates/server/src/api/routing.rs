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

/// One row of a routing table: the operation, what the dialect checks before its handler (`A`:
/// nothing for Graph, SCIM and the operator API; scopes and admin access for Power BI), and the
/// handler, `None` for an operation listed but not built yet.
pub struct Route<A = ()> {
    pub op: Op,
    pub access: A,
    pub handler: Option<MethodRouter<AppState>>,
}

/// The row that routes `op`'s method and path to `handler`.
pub fn route<H, T>(op: Op, handler: H) -> Route
where
    H: Handler<T, AppState>,
    T: 'static,
{
    Route { op, access: (), handler: Some(on(method_filter(op), handler)) }
}

/// The method filter of `op`'s method.
pub fn method_filter(op: Op) -> MethodFilter {
    let method = Method::from_bytes(op.method.as_bytes()).expect("operation table methods are valid");
    MethodFilter::try_from(method).expect("operation table methods are routable")
}

/// A router with one entry a path: the handlers of its rows merged, and `method_not_allowed`
/// (the dialect's 405) for any other method.
pub fn by_path<H, T>(routes: Vec<Route>, method_not_allowed: H) -> Router<AppState>
where
    H: Handler<T, AppState> + Clone,
    T: 'static,
{
    let mut by_path: Vec<(&'static str, MethodRouter<AppState>)> = Vec::new();
    for (path, handler) in routes.into_iter().filter_map(|r| Some((r.op.path, r.handler?))) {
        match by_path.iter_mut().find(|(p, _)| *p == path) {
            Some((_, mr)) => *mr = std::mem::take(mr).merge(handler),
            None => by_path.push((path, handler)),
        }
    }
    by_path.into_iter().fold(Router::new(), |router, (path, mr)| router.route(path, mr.fallback(method_not_allowed.clone())))
}
