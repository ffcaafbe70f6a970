//! Exact caches of rendered admin reads (`GET /admin/groups`): whole pages, and each workspace's
//! users, each body kept with the generation it was rendered under.
//!
//! Invariant (exact, on both backends and across instances): a request reads its generations
//! first and is answered from a cache only when the entry was rendered under those same
//! generations. A page's generation is the tenant's write generation in the database (moved in
//! the write's own transaction on PostgreSQL, where other instances may cache, and by the
//! out-of-process writers on both backends: see `store::generation`) paired with this process's
//! local one (`Store::local_generation`, moved by every write through the store and every
//! `invalidate_cache`). A workspace's users are kept under its `version` (moved under its lock by
//! every role change) and the tenant's directory generation. So a committed write is never
//! hidden by a cached body; a rendering that raced a write is stored under generations read
//! before it, which the write has already moved past. Bounded by bytes; the least recently used
//! bodies go first.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use uuid::Uuid;

/// What a cache entry weighs against the cache's capacity.
pub trait Weight {
    fn weight(&self) -> usize;
}

impl Weight for Bytes {
    fn weight(&self) -> usize {
        self.len()
    }
}

/// A body kept as the pieces it was assembled from, so that pieces held elsewhere (a workspace's
/// rendered users) are shared, not copied: a 30 MB page is 10,000 reference counts, not a fresh
/// 30 MB buffer whose page faults alone cost more than the rest of the rendering.
#[derive(Debug, Clone)]
pub struct Chunks {
    parts: Arc<[Bytes]>,
    len: usize,
}

impl Chunks {
    pub fn new(parts: Vec<Bytes>) -> Chunks {
        let len = parts.iter().map(Bytes::len).sum();
        Chunks { parts: parts.into(), len }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The response body: the pieces in order, with their exact length (so `Content-Length`).
    pub fn into_body(self) -> axum::body::Body {
        axum::body::Body::new(ChunksBody { remaining: self.len, parts: self.parts, next: 0 })
    }
}

impl Weight for Chunks {
    fn weight(&self) -> usize {
        self.len
    }
}

impl From<Bytes> for Chunks {
    fn from(bytes: Bytes) -> Chunks {
        Chunks::new(vec![bytes])
    }
}

struct ChunksBody {
    parts: Arc<[Bytes]>,
    next: usize,
    remaining: usize,
}

impl http_body::Body for ChunksBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        while let Some(part) = self.parts.get(self.next).cloned() {
            self.next += 1;
            if !part.is_empty() {
                self.remaining -= part.len();
                return Poll::Ready(Some(Ok(Frame::data(part))));
            }
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining as u64)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey {
    pub tenant: Uuid,
    /// The page's query in a canonical form (the handler's choice; equal queries, equal text).
    pub query: String,
}

/// (tenant write generation in the database, this process's local generation).
pub type Generation = (i64, u64);

#[derive(Debug)]
struct Entry<G, V> {
    generation: G,
    body: V,
    used: u64,
}

#[derive(Debug)]
struct Inner<K, G, V> {
    entries: HashMap<K, Entry<G, V>>,
    bytes: usize,
    clock: u64,
}

/// Bodies by key, each served only under the generation it was rendered under; bounded by
/// bytes, least recently used first.
#[derive(Debug)]
pub struct ExactCache<K, G, V = Bytes> {
    capacity: usize,
    inner: Mutex<Inner<K, G, V>>,
}

/// Whole `GET /admin/groups` pages.
pub type PageCache = ExactCache<PageKey, Generation, Chunks>;

/// One workspace's users as the admin sees them (the JSON array of `$expand=users`), by (tenant,
/// workspace), kept with (the workspace's `version`, the tenant's directory generation) it was
/// rendered at. Used where the store keeps no views (PostgreSQL): a role change moves only its
/// workspace's version, so re-rendering a page after it reads one workspace's members, not all.
pub type UsersCache = ExactCache<(Uuid, Uuid), (i64, i64)>;

impl<K: std::hash::Hash + Eq + Clone, G: PartialEq, V: Weight + Clone> ExactCache<K, G, V> {
    /// A cache holding at most `capacity` bytes of bodies (0 turns it off).
    pub fn new(capacity: usize) -> ExactCache<K, G, V> {
        ExactCache { capacity, inner: Mutex::new(Inner { entries: HashMap::new(), bytes: 0, clock: 0 }) }
    }

    /// The body rendered for `key` under exactly `generation`, if kept.
    pub fn get(&self, key: &K, generation: G) -> Option<V> {
        if self.capacity == 0 {
            return None;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.clock += 1;
        let now = inner.clock;
        let entry = inner.entries.get_mut(key)?;
        if entry.generation != generation {
            return None;
        }
        entry.used = now;
        Some(entry.body.clone())
    }

    /// Keep `body`, rendered from data read after `generation` was read. (Replacing an entry of a
    /// newer generation costs a miss later, never a stale answer.)
    pub fn put(&self, key: K, generation: G, body: V) {
        let weight = body.weight();
        if weight > self.capacity {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = inner.entries.remove(&key) {
            inner.bytes -= old.body.weight();
        }
        while inner.bytes + weight > self.capacity {
            let Some(oldest) = inner.entries.iter().min_by_key(|(_, e)| e.used).map(|(k, _)| k.clone()) else { break };
            if let Some(gone) = inner.entries.remove(&oldest) {
                inner.bytes -= gone.body.weight();
            }
        }
        inner.clock += 1;
        let used = inner.clock;
        inner.bytes += weight;
        inner.entries.insert(key, Entry { generation, body, used });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cache logic, with plain bodies.
    type PageCache = ExactCache<PageKey, Generation>;

    fn key(query: &str) -> PageKey {
        PageKey { tenant: Uuid::nil(), query: query.into() }
    }

    #[tokio::test]
    async fn chunks_are_sent_in_order_with_their_exact_length() {
        let parts = vec![Bytes::from_static(b"{\"a\":"), Bytes::new(), Bytes::from_static(b"[1,2]"), Bytes::from_static(b"}")];
        let chunks = Chunks::new(parts);
        assert_eq!(chunks.len(), 11);
        let body = chunks.clone().into_body();
        assert_eq!(http_body::Body::size_hint(&body).exact(), Some(11));
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        assert_eq!(&bytes[..], b"{\"a\":[1,2]}");
        let empty = Chunks::new(vec![Bytes::new()]);
        assert!(empty.is_empty());
        assert!(http_body::Body::is_end_stream(&empty.into_body()));
    }

    #[test]
    fn served_only_under_the_generation_it_was_rendered_under() {
        let cache = PageCache::new(1000);
        cache.put(key("a"), (3, 1), Bytes::from_static(b"three"));
        assert_eq!(cache.get(&key("a"), (3, 1)).as_deref(), Some(&b"three"[..]));
        assert_eq!(cache.get(&key("a"), (4, 1)), None, "a write in the database");
        assert_eq!(cache.get(&key("a"), (3, 2)), None, "an invalidation in this process");
        assert_eq!(cache.get(&key("b"), (3, 1)), None);
        cache.put(key("a"), (5, 1), Bytes::from_static(b"five"));
        assert_eq!(cache.get(&key("a"), (5, 1)).as_deref(), Some(&b"five"[..]));
        assert_eq!(cache.get(&key("a"), (3, 1)), None);
    }

    #[test]
    fn bounded_by_bytes_least_recently_used_first() {
        let cache = PageCache::new(10);
        cache.put(key("a"), (1, 0), Bytes::from_static(b"aaaa"));
        cache.put(key("b"), (1, 0), Bytes::from_static(b"bbbb"));
        assert!(cache.get(&key("a"), (1, 0)).is_some());
        cache.put(key("c"), (1, 0), Bytes::from_static(b"cccc"));
        assert!(cache.get(&key("b"), (1, 0)).is_none(), "b was the least recently used");
        assert!(cache.get(&key("a"), (1, 0)).is_some());
        assert!(cache.get(&key("c"), (1, 0)).is_some());
        cache.put(key("big"), (1, 0), Bytes::from(vec![0u8; 11]));
        assert!(cache.get(&key("big"), (1, 0)).is_none(), "larger than the whole cache: not kept");
        let off = PageCache::new(0);
        off.put(key("a"), (1, 0), Bytes::new());
        assert!(off.get(&key("a"), (1, 0)).is_none());
    }
}
