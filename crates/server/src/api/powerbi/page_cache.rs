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
use std::sync::Mutex;

use bytes::Bytes;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey {
    pub tenant: Uuid,
    /// The page's query in a canonical form (the handler's choice; equal queries, equal text).
    pub query: String,
}

/// (tenant write generation in the database, this process's local generation).
pub type Generation = (i64, u64);

#[derive(Debug)]
struct Entry<G> {
    generation: G,
    body: Bytes,
    used: u64,
}

#[derive(Debug)]
struct Inner<K, G> {
    entries: HashMap<K, Entry<G>>,
    bytes: usize,
    clock: u64,
}

/// Bodies by key, each served only under the generation it was rendered under; bounded by
/// bytes, least recently used first.
#[derive(Debug)]
pub struct ExactCache<K, G> {
    capacity: usize,
    inner: Mutex<Inner<K, G>>,
}

/// Whole `GET /admin/groups` pages.
pub type PageCache = ExactCache<PageKey, Generation>;

/// One workspace's users as the admin sees them (the JSON array of `$expand=users`), by (tenant,
/// workspace), kept with (the workspace's `version`, the tenant's directory generation) it was
/// rendered at. Used where the store keeps no views (PostgreSQL): a role change moves only its
/// workspace's version, so re-rendering a page after it reads one workspace's members, not all.
pub type UsersCache = ExactCache<(Uuid, Uuid), (i64, i64)>;

impl<K: std::hash::Hash + Eq + Clone, G: PartialEq> ExactCache<K, G> {
    /// A cache holding at most `capacity` bytes of bodies (0 turns it off).
    pub fn new(capacity: usize) -> ExactCache<K, G> {
        ExactCache { capacity, inner: Mutex::new(Inner { entries: HashMap::new(), bytes: 0, clock: 0 }) }
    }

    /// The body rendered for `key` under exactly `generation`, if kept.
    pub fn get(&self, key: &K, generation: G) -> Option<Bytes> {
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
    pub fn put(&self, key: K, generation: G, body: Bytes) {
        if body.len() > self.capacity {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = inner.entries.remove(&key) {
            inner.bytes -= old.body.len();
        }
        while inner.bytes + body.len() > self.capacity {
            let Some(oldest) = inner.entries.iter().min_by_key(|(_, e)| e.used).map(|(k, _)| k.clone()) else { break };
            if let Some(gone) = inner.entries.remove(&oldest) {
                inner.bytes -= gone.body.len();
            }
        }
        inner.clock += 1;
        let used = inner.clock;
        inner.bytes += body.len();
        inner.entries.insert(key, Entry { generation, body, used });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(query: &str) -> PageKey {
        PageKey { tenant: Uuid::nil(), query: query.into() }
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
