//! Cache coherence across instances on PostgreSQL: every write transaction through the store
//! queues a notification on the channel `pbi_access` (`pg_notify`, delivered only when the
//! transaction commits, in commit order), and each serving instance listens on its own
//! connection (`Store::start_listener`) and forgets the cached views each notification names.
//!
//! Invariant (live or fall back): the store serves workspace views and tenant settings from
//! memory on PostgreSQL only while its listener is connected and has heard from the database
//! within `STALE`. Every transition clears the caches (which moves the local generation, so a read
//! that started before cannot store what it read): going down, because notifications may have
//! been lost; coming up, after `LISTEN` has taken effect and before `live` is set, so nothing
//! cached predates a notification it could have missed. While down, reads fall back to checking
//! versions in the database (`Store::workspace_view`'s versioned path).
//!
//! Invariant (bounded staleness): every instance sends a `ping` every `PING`; a listener that
//! hears nothing (its own pings included) for `STALE` drops its connection and goes down. So a
//! live instance has heard every notification of the commits made before the last ping it heard,
//! sent at most `PING + STALE` ago; usually it hears a commit within milliseconds. The writing
//! instance invalidates its own caches when it commits (read-your-writes). Both intervals are
//! connection liveness timeouts in real time, like the pool's, not behaviour on the injected
//! clock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::AnyPool;
use tokio::sync::oneshot;
use tokio::time::Instant;
use uuid::Uuid;

use super::cache::ViewCache;
use super::generation::Forget;
use super::Store;

/// The channel every instance of a database listens on.
pub(crate) const CHANNEL: &str = "pbi_access";
/// How often each instance pings the channel.
const PING: Duration = Duration::from_secs(1);
/// Silence after which a listener counts as disconnected (several missed pings).
const STALE: Duration = Duration::from_secs(3);
/// Wait before connecting again after a failure.
const RETRY: Duration = Duration::from_millis(250);

/// The payload of a write's notification: `"{tenant} {what}"`, `what` a workspace id, `*`
/// (everything) or `-` (no view, but rendered pages: the local generation moves).
pub(crate) fn payload(tenant: Uuid, forget: Forget) -> String {
    match forget {
        Forget::Nothing => format!("{tenant} -"),
        Forget::Workspace(id) => format!("{tenant} {id}"),
        Forget::Everything => format!("{tenant} *"),
    }
}

/// The listener's state, shared by the clones of a store.
#[derive(Debug, Default)]
pub(crate) struct Listener {
    started: AtomicBool,
    /// The listener's backend process id while it is connected (0 otherwise): tests terminate it.
    pid: AtomicI32,
    barriers: Mutex<HashMap<Uuid, oneshot::Sender<()>>>,
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl Listener {
    fn release_barriers(&self) {
        if let Ok(mut barriers) = self.barriers.lock() {
            barriers.clear();
        }
    }

    pub(crate) fn stop(&self) {
        if let Ok(mut tasks) = self.tasks.lock() {
            for task in tasks.drain(..) {
                task.abort();
            }
        }
    }
}

/// Apply one notification to this instance's caches.
fn apply(cache: &ViewCache, listener: &Listener, payload: &str) {
    let mut parts = payload.splitn(2, ' ');
    match (parts.next(), parts.next()) {
        (Some("ping"), None) => {}
        (Some("barrier"), Some(id)) => {
            if let Ok(id) = Uuid::parse_str(id) {
                if let Some(waiter) = listener.barriers.lock().ok().and_then(|mut b| b.remove(&id)) {
                    let _ = waiter.send(());
                }
            }
        }
        (Some(_tenant), Some("-")) => cache.touch(),
        (Some(_tenant), Some("*")) => cache.clear(),
        (Some(_tenant), Some(what)) => match Uuid::parse_str(what) {
            Ok(workspace) => cache.invalidate(workspace),
            Err(_) => cache.clear(),
        },
        // Not ours to read (a newer version's payload?): forget everything, to be safe.
        _ => cache.clear(),
    }
}

/// One connection's life: listen, go live, apply notifications until the connection fails or
/// falls silent, then go down.
async fn listen_once(url: &str, cache: &ViewCache, listener: &Listener) -> Result<(), sqlx::Error> {
    let mut pg = PgListener::connect(url).await?;
    pg.eager_reconnect(false);
    pg.listen(CHANNEL).await?;
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut pg).await?;
    listener.pid.store(pid, Ordering::SeqCst);
    cache.set_live(true);
    tracing::debug!(pid, "cache listener live");
    let outcome = loop {
        // Dropping `pg` after a timeout discards the interrupted read with its connection.
        match tokio::time::timeout_at(Instant::now() + STALE, pg.try_recv()).await {
            Ok(Ok(Some(notification))) => apply(cache, listener, notification.payload()),
            Ok(Ok(None)) => break Ok(()),
            Ok(Err(e)) => break Err(e),
            Err(_) => {
                tracing::warn!("cache listener heard nothing for {STALE:?}: reconnecting");
                break Ok(());
            }
        }
    };
    cache.set_live(false);
    listener.pid.store(0, Ordering::SeqCst);
    listener.release_barriers();
    outcome
}

impl Store {
    /// On PostgreSQL, start this instance's listener and pinger (once per store and its clones):
    /// from the moment the listener is live, views are served from memory. Does nothing on SQLite.
    pub fn start_listener(&self) {
        let Some(url) = self.listen_url.clone() else { return };
        if self.listener.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let (cache, listener) = (self.cache.clone(), self.listener.clone());
        let listen = tokio::spawn(async move {
            loop {
                if let Err(e) = listen_once(&url, &cache, &listener).await {
                    tracing::warn!(error = %e, "cache listener disconnected: serving from the database until it reconnects");
                }
                tokio::time::sleep(RETRY).await;
            }
        });
        let pool = self.write.clone();
        let ping = tokio::spawn(async move {
            let mut tick = tokio::time::interval(PING);
            loop {
                tick.tick().await;
                if let Err(e) = notify(&pool, "ping").await {
                    tracing::debug!(error = %e, "cache ping");
                }
            }
        });
        if let Ok(mut tasks) = self.listener.tasks.lock() {
            tasks.push(listen.abort_handle());
            tasks.push(ping.abort_handle());
        }
    }

    /// Stop listening for good (shutdown; tests): from now on this store reads versions from the
    /// database, as while the listener is down.
    pub fn stop_listener(&self) {
        self.listener.started.store(true, Ordering::SeqCst);
        self.listener.stop();
        self.cache.set_live(false);
        self.listener.pid.store(0, Ordering::SeqCst);
        self.listener.release_barriers();
    }

    /// Whether views are served from memory on PostgreSQL (the listener is live). Always false
    /// on SQLite, whose cache does not depend on a listener.
    pub fn listener_live(&self) -> bool {
        self.listen_url.is_some() && self.cache.live()
    }

    /// The backend process id of the live listener connection, if any.
    pub fn listener_pid(&self) -> Option<i32> {
        Some(self.listener.pid.load(Ordering::SeqCst)).filter(|pid| *pid != 0)
    }

    /// Wait until this instance has applied the notifications of every commit made before the
    /// call (a barrier through the channel, which delivers in commit order). Returns at once when
    /// the listener is not live: then nothing is served from memory. Returns false if the
    /// listener went down while waiting (then, too, nothing stale is served).
    pub async fn caught_up(&self) -> bool {
        if !self.listener_live() {
            return true;
        }
        let id = Uuid::new_v4();
        let (tx, rx) = oneshot::channel();
        if let Ok(mut barriers) = self.listener.barriers.lock() {
            barriers.insert(id, tx);
        }
        if notify(&self.write, &format!("barrier {id}")).await.is_err() {
            return false;
        }
        rx.await.is_ok()
    }
}

async fn notify(pool: &AnyPool, payload: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1 AS sent FROM (SELECT pg_notify($1, $2)) n").bind(CHANNEL).bind(payload).execute(pool).await?;
    Ok(())
}

/// Queue `payload` on the channel inside the caller's transaction (sent when it commits).
pub(crate) async fn notify_in(conn: &mut sqlx::AnyConnection, payload: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1 AS sent FROM (SELECT pg_notify($1, $2)) n").bind(CHANNEL).bind(payload).execute(conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_what_to_forget() {
        let cache = ViewCache::new(false);
        let listener = Listener::default();
        let tenant = Uuid::new_v4();
        let before = cache.generation();
        apply(&cache, &listener, &payload(tenant, Forget::Nothing));
        apply(&cache, &listener, &payload(tenant, Forget::Workspace(Uuid::new_v4())));
        apply(&cache, &listener, &payload(tenant, Forget::Everything));
        apply(&cache, &listener, "something new");
        assert_eq!(cache.generation(), before + 4, "every write notification moves the local generation");
        apply(&cache, &listener, "ping");
        assert_eq!(cache.generation(), before + 4, "a ping does not");
    }
}
