//! Paged lists as `futures::Stream`s:
//!
//! - **continuation tokens** (artifact access, subscriptions, activity events): the token arrives
//!   percent-encoded and goes back as it is, in single quotes: `?continuationToken='<token>'`.
//!   reqwest's URL type follows the WHATWG URL rules, which write `'` in an http(s) query as
//!   `%27`, so the quotes travel as `%27…%27`: the same value once the service decodes the query;
//!   the token itself is neither decoded nor encoded again.
//!   Pages with zero items are normal (the activity log sends them); the stream ends when a page
//!   carries no token (or `lastResultSet: true`). The URL of the next page is built from the
//!   configured base, never taken from `continuationUri`, so a page cannot send the bearer token
//!   to another host; a token found only inside `continuationUri` is used.
//! - **`$top`/`$skip`**: pages of a fixed size until a short page.
//! - **`@odata.nextLink`** (Microsoft Graph): followed as given, after checking that it points at
//!   the configured Graph origin.

use std::sync::Arc;

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use pbi_wire::admin::{ActivityEventResponse, ArtifactAccessResponse, SubscriptionsByUserResponse};
use pbi_wire::paging::ODataPage;
use pbi_wire::ODataList;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::Method;
use serde::de::DeserializeOwned;

use crate::error::{ClientError, Result};
use crate::transport::{Call, Core};

/// Characters left as they are in query keys and values: unreserved, plus `$ ' ( ) , : @ ! * /`
/// which OData expressions use and RFC 3986 allows in a query. Space becomes `%20`, `+` `%2B`.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'$')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b',')
    .remove(b':')
    .remove(b'@')
    .remove(b'!')
    .remove(b'*')
    .remove(b'/');

/// A continuation token is already percent-encoded: `%` stays, and only what would break the
/// query (space, `&`, `#`, `'`, `+`, non-ASCII, controls) is encoded.
const TOKEN: &AsciiSet = &QUERY.remove(b'%').remove(b'=').remove(b';').remove(b'?').add(b'\'');

/// Query parameters in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn new() -> Query {
        Query::default()
    }

    pub fn push(mut self, key: &str, value: impl ToString) -> Query {
        self.0.push((key.to_string(), value.to_string()));
        self
    }

    pub fn opt(self, key: &str, value: Option<impl ToString>) -> Query {
        match value {
            Some(v) => self.push(key, v),
            None => self,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `k=v&k=v`, encoded.
    pub fn encode(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{}={}", utf8_percent_encode(k, QUERY), utf8_percent_encode(v, QUERY)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Append to a URL that has no query yet.
    pub fn append_to(&self, url: &str) -> String {
        if self.0.is_empty() {
            url.to_string()
        } else {
            format!("{url}?{}", self.encode())
        }
    }
}

/// `continuationToken='<token>'`, with the token sent back as received.
pub fn continuation_query(token: &str) -> String {
    format!("continuationToken='{}'", utf8_percent_encode(token, TOKEN))
}

/// The token inside a `continuationUri` (`…?continuationToken='<token>'&…`), quotes removed.
pub fn token_from_uri(uri: &str) -> Option<String> {
    let query = uri.split_once('?')?.1;
    let value = query.split('&').find_map(|kv| kv.strip_prefix("continuationToken="))?;
    let value = value.strip_prefix("%27").or_else(|| value.strip_prefix('\'')).unwrap_or(value);
    let value = value.strip_suffix("%27").or_else(|| value.strip_suffix('\'')).unwrap_or(value);
    (!value.is_empty()).then(|| value.to_string())
}

/// One page of a continuation-token list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The token of the *next* page (`None` on the last). Keep it to resume a stopped job.
    pub continuation_token: Option<String>,
}

/// A response paged by continuation token.
pub trait ContinuationPage: DeserializeOwned + Send + 'static {
    type Item: Send + 'static;
    /// Items, the next token, the next URI, and whether the service said this is the last page.
    fn into_parts(self) -> (Vec<Self::Item>, Option<String>, Option<String>, bool);
}

impl ContinuationPage for ArtifactAccessResponse {
    type Item = pbi_wire::admin::ArtifactAccessEntry;
    fn into_parts(self) -> (Vec<Self::Item>, Option<String>, Option<String>, bool) {
        (self.entities.artifact_access_entities, self.continuation_token, self.continuation_uri, false)
    }
}

impl ContinuationPage for SubscriptionsByUserResponse {
    type Item = pbi_wire::admin::Subscription;
    fn into_parts(self) -> (Vec<Self::Item>, Option<String>, Option<String>, bool) {
        (self.entities.subscription_entities, self.continuation_token, self.continuation_uri, false)
    }
}

impl ContinuationPage for ActivityEventResponse {
    type Item = serde_json::Map<String, serde_json::Value>;
    fn into_parts(self) -> (Vec<Self::Item>, Option<String>, Option<String>, bool) {
        (self.activity_event_entities, self.continuation_token, self.continuation_uri, self.last_result_set == Some(true))
    }
}

/// What a continuation list asks for.
#[derive(Debug, Clone)]
pub struct ContinuationRequest {
    /// The path, without query (`/v1.0/myorg/admin/activityevents`).
    pub path: String,
    /// The first page's query.
    pub first: Query,
    /// Parameters repeated on every later page (the activity log's `$filter`).
    pub sticky: Query,
    /// Start from this token instead of the first page (resuming a job).
    pub resume_from: Option<String>,
}

enum Cursor {
    First,
    Next(String),
    Done,
}

/// The pages of a continuation-token list.
pub fn continuation_pages<P: ContinuationPage>(core: Arc<Core>, req: ContinuationRequest) -> BoxStream<'static, Result<Page<P::Item>>> {
    let start = match req.resume_from.clone() {
        Some(t) => Cursor::Next(t),
        None => Cursor::First,
    };
    stream::unfold((start, core, req), |(cursor, core, req)| async move {
        let url = match &cursor {
            Cursor::Done => return None,
            Cursor::First => req.first.append_to(&format!("{}{}", core.base, req.path)),
            Cursor::Next(token) => {
                let mut url = format!("{}{}?{}", core.base, req.path, continuation_query(token));
                if !req.sticky.is_empty() {
                    url.push('&');
                    url.push_str(&req.sticky.encode());
                }
                url
            }
        };
        let result = async {
            let answer = core.execute(&Call::new(Method::GET, url, req.path.clone())).await?;
            let page: P = answer.json()?;
            let (items, token, uri, last) = page.into_parts();
            let token = token.filter(|t| !t.is_empty()).or_else(|| uri.as_deref().and_then(token_from_uri));
            let next = if last { None } else { token };
            Ok::<_, ClientError>(Page { items, continuation_token: next })
        }
        .await;
        match result {
            Ok(page) => {
                let cursor = match &page.continuation_token {
                    Some(t) => Cursor::Next(t.clone()),
                    None => Cursor::Done,
                };
                Some((Ok(page), (cursor, core, req)))
            }
            Err(e) => Some((Err(e), (Cursor::Done, core, req))),
        }
    })
    .boxed()
}

/// Flatten pages into items.
pub fn items<T: Send + 'static>(pages: BoxStream<'static, Result<Page<T>>>) -> BoxStream<'static, Result<T>> {
    pages.map_ok(|p| stream::iter(p.items.into_iter().map(Ok))).try_flatten().boxed()
}

/// `$top`/`$skip` pages of `page_size` over an OData list, starting at `skip`, until a short page.
pub fn top_skip_pages<T: DeserializeOwned + Send + 'static>(
    core: Arc<Core>,
    path: String,
    query: Query,
    page_size: u32,
    skip: u32,
) -> BoxStream<'static, Result<Vec<T>>> {
    let page_size = page_size.max(1);
    stream::unfold(Some(skip), move |state| {
        let (core, path, query) = (core.clone(), path.clone(), query.clone());
        async move {
            let skip = state?;
            let url = query.push("$top", page_size).push("$skip", skip).append_to(&format!("{}{}", core.base, path));
            let result = async {
                let answer = core.execute(&Call::new(Method::GET, url, path)).await?;
                Ok::<_, ClientError>(answer.json::<ODataList<T>>()?.value)
            }
            .await;
            match result {
                Ok(items) => {
                    let next = (items.len() as u32 >= page_size).then(|| skip.saturating_add(page_size));
                    Some((Ok(items), next))
                }
                Err(e) => Some((Err(e), None)),
            }
        }
    })
    .boxed()
}

fn origin(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    Some(format!("{}://{}:{}", u.scheme(), u.host_str()?, u.port_or_known_default()?))
}

/// Pages of an OData v4 list that links to its next page (`@odata.nextLink`), from `first_url`.
pub fn next_link_pages<T: DeserializeOwned + Send + 'static>(
    core: Arc<Core>,
    first_url: String,
) -> BoxStream<'static, Result<ODataPage<T>>> {
    stream::unfold(Some(first_url), move |state| {
        let core = core.clone();
        async move {
            let url = state?;
            let result = async {
                if origin(&url) != origin(&core.base) {
                    return Err(ClientError::Invalid(format!("next page {url} is not on {}", core.base)));
                }
                let path = reqwest::Url::parse(&url).map(|u| u.path().to_string()).unwrap_or_default();
                let answer = core.execute(&Call::new(Method::GET, url, path)).await?;
                answer.json::<ODataPage<T>>()
            }
            .await;
            match result {
                Ok(page) => {
                    let next = page.next_link.clone().filter(|l| !l.is_empty());
                    Some((Ok(page), next))
                }
                Err(e) => Some((Err(e), None)),
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_go_back_as_received() {
        assert_eq!(continuation_query("LDEsMTAwMDAwLDA%3D"), "continuationToken='LDEsMTAwMDAwLDA%3D'");
        assert_eq!(
            continuation_query("%2BRID%3A244SAKlHY7YGAAAAAAAAAA%3D%3D%23RT%3A1"),
            "continuationToken='%2BRID%3A244SAKlHY7YGAAAAAAAAAA%3D%3D%23RT%3A1'"
        );
        // Characters that would end the literal or the parameter are encoded, nothing else.
        assert_eq!(continuation_query("a'b&c d#e+f"), "continuationToken='a%27b%26c%20d%23e%2Bf'");
    }

    #[test]
    fn token_inside_a_continuation_uri() {
        let uri =
            "https://api.powerbi.com/v1.0/myorg/admin/activityevents?continuationToken='%2BRID%3A24%3D%3D'&$filter=Activity%20eq%20'x'";
        assert_eq!(token_from_uri(uri).as_deref(), Some("%2BRID%3A24%3D%3D"));
        assert_eq!(token_from_uri("https://x/y?continuationToken=%27abc%27").as_deref(), Some("abc"));
        assert_eq!(token_from_uri("https://x/y?continuationToken=''"), None);
        assert_eq!(token_from_uri("https://x/y"), None);
    }

    #[test]
    fn query_encoding_keeps_odata_readable() {
        let q = Query::new().push("$filter", "Activity eq 'viewreport' and UserId eq 'a+b@c.com'").push("$top", 5);
        assert_eq!(q.encode(), "$filter=Activity%20eq%20'viewreport'%20and%20UserId%20eq%20'a%2Bb@c.com'&$top=5");
        assert_eq!(Query::new().append_to("http://x/p"), "http://x/p");
    }
}
