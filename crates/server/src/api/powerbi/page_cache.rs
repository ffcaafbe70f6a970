//! An exact cache of rendered admin pages (`GET /admin/groups`): whole bodies, each kept with the
//! generation it was rendered under.
//!
//! Invariant (exact, on both backends and across instances): a request reads its generation
//! first and is answered from the cache only when the entry was rendered under that same
//! generation. A page's generation is the tenant's write generation in the database (moved in
//! the write's own transaction on PostgreSQL, where other instances may cache, and by the
//! out-of-process writers on both backends: see `store::generation`) paired with this process's
//! local one (`Store::local_generation`, moved by every `WriteTx` commit, bulk writes
//! included). So a committed write is never hidden by a cached body; a rendering that
//! raced a write is stored under the generation read before it, which the write has already moved
//! past. Bounded by bytes; the least recently used bodies go first.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use uuid::Uuid;

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
struct Entry {
    generation: Generation,
    body: Chunks,
    used: u64,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<PageKey, Entry>,
    bytes: usize,
    clock: u64,
}

/// Rendered pages by tenant and query, each served only under the generation it was rendered
/// under; bounded by bytes, least recently used first.
#[derive(Debug)]
pub struct PageCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl PageCache {
    /// A cache holding at most `capacity` bytes of bodies (0 turns it off).
    pub fn new(capacity: usize) -> PageCache {
        PageCache { capacity, inner: Mutex::new(Inner::default()) }
    }

    /// The body rendered for `key` under exactly `generation`, if kept.
    pub fn get(&self, key: &PageKey, generation: Generation) -> Option<Chunks> {
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
    pub fn put(&self, key: PageKey, generation: Generation, body: Chunks) {
        let weight = body.len();
        if weight > self.capacity {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = inner.entries.remove(&key) {
            inner.bytes -= old.body.len();
        }
        while inner.bytes + weight > self.capacity {
            let Some(oldest) = inner.entries.iter().min_by_key(|(_, e)| e.used).map(|(k, _)| k.clone()) else { break };
            if let Some(gone) = inner.entries.remove(&oldest) {
                inner.bytes -= gone.body.len();
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

    /// A kept body's bytes, in one piece.
    fn text(body: Option<Chunks>) -> Option<Vec<u8>> {
        body.map(|b| b.parts.iter().flat_map(|p| p.iter().copied()).collect())
    }

    #[test]
    fn served_only_under_the_generation_it_was_rendered_under() {
        let cache = PageCache::new(1000);
        cache.put(key("a"), (3, 1), Bytes::from_static(b"three").into());
        assert_eq!(text(cache.get(&key("a"), (3, 1))).as_deref(), Some(&b"three"[..]));
        assert_eq!(text(cache.get(&key("a"), (4, 1))), None, "a write in the database");
        assert_eq!(text(cache.get(&key("a"), (3, 2))), None, "an invalidation in this process");
        assert_eq!(text(cache.get(&key("b"), (3, 1))), None);
        cache.put(key("a"), (5, 1), Bytes::from_static(b"five").into());
        assert_eq!(text(cache.get(&key("a"), (5, 1))).as_deref(), Some(&b"five"[..]));
        assert_eq!(text(cache.get(&key("a"), (3, 1))), None);
    }

    #[test]
    fn bounded_by_bytes_least_recently_used_first() {
        let cache = PageCache::new(10);
        cache.put(key("a"), (1, 0), Bytes::from_static(b"aaaa").into());
        cache.put(key("b"), (1, 0), Bytes::from_static(b"bbbb").into());
        assert!(cache.get(&key("a"), (1, 0)).is_some());
        cache.put(key("c"), (1, 0), Bytes::from_static(b"cccc").into());
        assert!(cache.get(&key("b"), (1, 0)).is_none(), "b was the least recently used");
        assert!(cache.get(&key("a"), (1, 0)).is_some());
        assert!(cache.get(&key("c"), (1, 0)).is_some());
        cache.put(key("big"), (1, 0), Bytes::from(vec![0u8; 11]).into());
        assert!(cache.get(&key("big"), (1, 0)).is_none(), "larger than the whole cache: not kept");
        let off = PageCache::new(0);
        off.put(key("a"), (1, 0), Bytes::new().into());
        assert!(off.get(&key("a"), (1, 0)).is_none());
    }
}
