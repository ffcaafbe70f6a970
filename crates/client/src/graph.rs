//! Microsoft Graph: the same call path (token, retries) over `Endpoints::graph`. Paths are
//! relative to the Graph base and start with the version: `/v1.0/users`. Lists follow
//! `@odata.nextLink`. Typed methods for the directory subset come with its wire types; until
//! then `get`/`list` take any `DeserializeOwned`.

use std::sync::Arc;

use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use pbi_wire::paging::ODataPage;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::Result;
use crate::paging::{next_link_pages, Query};
use crate::transport::{Call, Core};

#[derive(Debug, Clone)]
pub struct GraphClient {
    core: Arc<Core>,
}

impl GraphClient {
    pub(crate) fn from_core(core: Core) -> GraphClient {
        GraphClient { core: Arc::new(core) }
    }

    fn call(&self, method: Method, path: &str, query: &Query) -> Call {
        Call::new(method, query.append_to(&format!("{}{path}", self.core.base)), path.to_string())
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str, query: &Query) -> Result<T> {
        self.core.execute(&self.call(Method::GET, path, query)).await?.json()
    }

    /// POST a JSON body and read the answer as `T`. For answers without a body (`204 No
    /// Content`, e.g. adding a member `$ref`), use [`GraphClient::send`].
    pub async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        self.core.execute(&self.call(Method::POST, path, &Query::new()).json(body)?).await?.json()
    }

    /// Any method, answer body ignored.
    pub async fn send<B: Serialize>(&self, method: Method, path: &str, body: Option<&B>) -> Result<()> {
        let mut call = self.call(method, path, &Query::new());
        if let Some(b) = body {
            call = call.json(b)?;
        }
        self.core.execute(&call).await.map(drop)
    }

    /// The pages of a list, following `@odata.nextLink`.
    pub fn pages<T: DeserializeOwned + Send + 'static>(&self, path: &str, query: &Query) -> BoxStream<'static, Result<ODataPage<T>>> {
        next_link_pages(self.core.clone(), query.append_to(&format!("{}{path}", self.core.base)))
    }

    /// The items of a list, across pages.
    pub fn list<T: DeserializeOwned + Send + 'static>(&self, path: &str, query: &Query) -> BoxStream<'static, Result<T>> {
        self.pages::<T>(path, query).map_ok(|p| futures::stream::iter(p.value.into_iter().map(Ok))).try_flatten().boxed()
    }
}
