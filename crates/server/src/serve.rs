//! The accept loop and each connection's limits (`[server]` config), so that slow or idle
//! clients cannot hold the process's file descriptors:
//!
//! - a cap on open connections (`max_connections`); past it, a few more (`overflow_connections`)
//!   are answered `503` with `Connection: close` on every path but `/healthz`, which still
//!   answers, and any further one is closed at once, with a log line;
//! - hyper's header read timeout (`header_read_timeout_ms`): a request head must arrive whole
//!   within it, from the first byte the server waits for;
//! - an idle keep-alive timeout (`idle_timeout_ms`): a connection with no request in flight and
//!   no byte read or written for this long is closed;
//! - a body read timeout (`body_read_timeout_ms`, in [`guard_body`]): a request body must arrive
//!   whole within it.
//!
//! [`guard_body`] also answers `Connection: close` to a request whose body was not read to its
//! end (refused before the handler read it: 401, 413, 429…), so a keep-alive client knows not to
//! send its next request on that connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::Listener;
use axum::Router;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

use crate::api::powerbi::error::PbiError;
use crate::config::Server;

/// Serve `router` on `listener` under the `[server]` limits until `shutdown` resolves, then
/// stop accepting, let every connection finish its request in flight, and return.
pub async fn serve<L>(
    mut listener: L,
    router: Router,
    limits: Server,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: Listener,
    L::Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let max = effective_max_connections(limits.max_connections);
    let open = Arc::new(Semaphore::new(max));
    let overflow = Arc::new(Semaphore::new(limits.overflow_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let refused = Arc::new(AtomicU64::new(0));
    tokio::pin!(shutdown);
    loop {
        let (io, _addr) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        if let Ok(permit) = open.clone().try_acquire_owned() {
            tokio::spawn(connection(io, router.clone(), limits.clone(), false, stop_rx.clone(), done_tx.clone(), permit));
            continue;
        }
        let n = refused.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            tracing::warn!(max_connections = max, refused = n, "connection cap reached: refusing new connections");
        }
        match overflow.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(connection(io, router.clone(), limits.clone(), true, stop_rx.clone(), done_tx.clone(), permit));
            }
            Err(_) => drop(io),
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(done_tx);
    // Every connection task holds a sender: this returns when the last one has finished.
    let _ = done_rx.recv().await;
    Ok(())
}

/// The configured cap, or (0) one below the process's open-file limit: a quarter of the
/// descriptors stay free for the database, the listener and the log.
pub fn effective_max_connections(configured: usize) -> usize {
    let fd_limit = open_file_limit();
    let room = fd_limit.map(|n| n.saturating_sub(n / 4).max(16));
    match (configured, room) {
        (0, Some(room)) => room,
        (0, None) => 1024,
        (n, Some(room)) if n > room => {
            tracing::warn!(configured = n, open_file_limit = fd_limit, "server.max_connections is above the open-file limit; using {room}");
            room
        }
        (n, _) => n,
    }
}

#[cfg(unix)]
fn open_file_limit() -> Option<usize> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct it is given and reads nothing else.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (rc == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur as usize)
}

#[cfg(not(unix))]
fn open_file_limit() -> Option<usize> {
    None
}

/// What a connection past the cap gets for anything but `/healthz`: the service's 503
/// `ServiceUnavailable`, with `Retry-After` (and `Connection: close`, as keep-alive is off).
fn overloaded() -> Response {
    let mut response = PbiError::service_unavailable().into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// When the connection last read or wrote a byte, and how many requests it has in flight.
struct Activity {
    base: Instant,
    last_nanos: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Activity {
        Activity { base: Instant::now(), last_nanos: AtomicU64::new(0), in_flight: AtomicUsize::new(0) }
    }

    fn touch(&self) {
        self.last_nanos.store(self.base.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        self.base.elapsed().saturating_sub(Duration::from_nanos(self.last_nanos.load(Ordering::Relaxed)))
    }
}

struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: &Arc<Activity>) -> InFlight {
        activity.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.touch();
    }
}

/// The connection's socket, noting each byte read or written in its [`Activity`].
struct Tracked<I> {
    io: I,
    activity: Arc<Activity>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Tracked<I> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        result
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Tracked<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.io).poll_write(cx, data);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[std::io::IoSlice<'_>]) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// One connection: HTTP/1.1 with the header read timeout, closed when idle or at shutdown. An
/// `overflow` connection (past the cap) answers one request: `/healthz`, or [`overloaded`].
/// `_done` and `_permit` are held until it ends (the shutdown wait, the connection cap).
async fn connection<I>(
    io: I,
    router: Router,
    limits: Server,
    overflow: bool,
    mut stop: watch::Receiver<bool>,
    _done: mpsc::Sender<()>,
    _permit: OwnedSemaphorePermit,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    activity.touch();
    let io = TokioIo::new(Tracked { io, activity: activity.clone() });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let in_flight = InFlight::start(&activity);
            let refuse = overflow && request.uri().path() != "/healthz";
            let call = router.clone().oneshot(request.map(Body::new));
            async move {
                let response = if refuse { Ok(overloaded()) } else { call.await };
                drop(in_flight);
                response
            }
        })
    };
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms)).keep_alive(!overflow);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let idle = Duration::from_millis(limits.idle_timeout_ms);
    let mut closing = false;
    loop {
        let wait = idle.saturating_sub(activity.idle_for()).max(Duration::from_millis(10));
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = stop.changed(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            () = tokio::time::sleep(wait), if !closing && limits.idle_timeout_ms > 0 => {
                if activity.in_flight.load(Ordering::SeqCst) == 0 && activity.idle_for() >= idle {
                    tracing::debug!(idle_ms = limits.idle_timeout_ms, "closing an idle connection");
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// The outermost middleware: a request body must arrive whole within `body_read_timeout_ms`, and
/// a response to a request whose body was not read to its end says `Connection: close`.
pub async fn guard_body(State(limits): State<Server>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let finished = Arc::new(AtomicBool::new(body.is_end_stream()));
    let deadline =
        (limits.body_read_timeout_ms > 0).then(|| Box::pin(tokio::time::sleep(Duration::from_millis(limits.body_read_timeout_ms))));
    let body = Body::new(GuardedBody { inner: body, deadline, finished: finished.clone() });
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if !finished.load(Ordering::SeqCst) {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

struct GuardedBody {
    inner: Body,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    finished: Arc<AtomicBool>,
}

impl HttpBody for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                this.finished.store(true, Ordering::SeqCst);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                if this.inner.is_end_stream() {
                    this.finished.store(true, Ordering::SeqCst);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Pending => match this.deadline.as_mut().map(|d| d.as_mut().poll(cx)) {
                Some(Poll::Ready(())) => {
                    this.deadline = None;
                    Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut))))
                }
                _ => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[derive(Debug)]
struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive within server.body_read_timeout_ms")
    }
}

impl std::error::Error for BodyTimedOut {}
