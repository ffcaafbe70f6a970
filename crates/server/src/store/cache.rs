//! The workspace view cache (see `Store::cache`). A generation counter makes a read that raced a
//! write unable to store what it read: it saw the generation before the write and cannot insert.
//!
//! On PostgreSQL (other instances write too) the cache is on only while the store's listener is
//! live (`store::sync`): other instances' commits then reach it as notifications. While it is
//! down, views are kept instead under the versions they were read at: the workspace's `version`
//! and the tenant's directory generation, both read from the database before the members
//! (`Store::workspace_view`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use uuid::Uuid;

use super::WorkspaceView;
use crate::domain::TenantSettings;

/// (workspace `version`, tenant directory generation) a view was read at.
pub(crate) type Versions = (i64, i64);

/// Bound on cached workspaces; past it the cache starts over (simple, and views are cheap to rebuild).
const CAPACITY: usize = 20_000;

#[derive(Debug)]
pub(crate) struct ViewCache {
    /// This process is the database's one writer (SQLite): its own commits are every commit.
    exact: bool,
    /// PostgreSQL: the listener is live, so other instances' commits reach this cache.
    live: AtomicBool,
    generation: AtomicU64,
    views: RwLock<HashMap<Uuid, Arc<WorkspaceView>>>,
    settings: RwLock<HashMap<Uuid, TenantSettings>>,
    /// Views by workspace with (workspace version, directory generation), where `enabled` is off.
    versioned: RwLock<HashMap<Uuid, (Versions, Arc<WorkspaceView>)>>,
}

impl ViewCache {
    pub(crate) fn new(exact: bool) -> ViewCache {
        ViewCache {
            exact,
            live: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            views: RwLock::new(HashMap::new()),
            settings: RwLock::new(HashMap::new()),
            versioned: RwLock::new(HashMap::new()),
        }
    }

    /// The view of `workspace` read at exactly `versions`, if kept.
    pub(crate) fn get_versioned(&self, workspace: Uuid, versions: Versions) -> Option<Arc<WorkspaceView>> {
        let versioned = self.versioned.read().ok()?;
        let (at, view) = versioned.get(&workspace)?;
        (*at == versions).then(|| view.clone())
    }

    /// Keep `view`, read after `versions` were.
    pub(crate) fn put_versioned(&self, workspace: Uuid, versions: Versions, view: Arc<WorkspaceView>) {
        if let Ok(mut versioned) = self.versioned.write() {
            if versioned.len() >= CAPACITY {
                versioned.clear();
            }
            versioned.insert(workspace, (versions, view));
        }
    }

    pub(crate) fn get(&self, workspace: Uuid) -> Option<Arc<WorkspaceView>> {
        if !self.enabled() {
            return None;
        }
        self.views.read().ok()?.get(&workspace).cloned()
    }

    /// Whether views are served from (and kept in) memory.
    pub(crate) fn enabled(&self) -> bool {
        self.exact || self.live.load(Ordering::SeqCst)
    }

    pub(crate) fn live(&self) -> bool {
        self.live.load(Ordering::SeqCst)
    }

    /// The listener came up (after `LISTEN` took effect) or went down: forget everything either
    /// way (see `store::sync`). Up: clear first, then serve; down: stop serving, then clear.
    pub(crate) fn set_live(&self, live: bool) {
        if live {
            self.clear();
            self.live.store(true, Ordering::SeqCst);
        } else {
            self.live.store(false, Ordering::SeqCst);
            self.clear();
        }
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Keep `view` unless a write happened since `generation` was read.
    pub(crate) fn put(&self, workspace: Uuid, view: Arc<WorkspaceView>, generation: u64) {
        if !self.enabled() {
            return;
        }
        if let Ok(mut views) = self.views.write() {
            if self.generation.load(Ordering::SeqCst) != generation {
                return;
            }
            if views.len() >= CAPACITY {
                views.clear();
            }
            views.insert(workspace, view);
        }
    }

    /// Move the generation without forgetting a view (a write no view shows).
    pub(crate) fn touch(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn invalidate(&self, workspace: Uuid) {
        if let Ok(mut views) = self.views.write() {
            self.generation.fetch_add(1, Ordering::SeqCst);
            views.remove(&workspace);
        }
    }

    pub(crate) fn clear(&self) {
        if let (Ok(mut views), Ok(mut settings)) = (self.views.write(), self.settings.write()) {
            self.generation.fetch_add(1, Ordering::SeqCst);
            views.clear();
            settings.clear();
        }
    }

    pub(crate) fn settings(&self, tenant: Uuid) -> Option<TenantSettings> {
        if !self.enabled() {
            return None;
        }
        self.settings.read().ok()?.get(&tenant).copied()
    }

    pub(crate) fn put_settings(&self, tenant: Uuid, value: TenantSettings, generation: u64) {
        if !self.enabled() {
            return;
        }
        if let Ok(mut settings) = self.settings.write() {
            if self.generation.load(Ordering::SeqCst) == generation {
                settings.insert(tenant, value);
            }
        }
    }
}
