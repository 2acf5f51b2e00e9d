//! The hardened HTTP edge every role's listener goes through.
//!
//! `axum::serve` accepts every connection, keeps it as long as the client likes and reads a
//! declared body's length only when the handler does. One client could therefore hold the
//! process's file handles with idle connections (every other caller then timed out), keep
//! thousands of half-sent headers open, and make the server wait for a body it announced but never
//! sent. [`serve`] runs the same axum [`Router`] behind its own accept loop:
//!
//! - **Connection caps**, in total and per client IP, checked at `accept` before anything is
//!   allocated for the connection: an excess connection is closed at once and counted
//!   (`…_http_connections_refused_total{reason="total"|"per_ip"}`). A client that fills its own
//!   share cannot take another IP's.
//! - **No buffers for silent connections**: a connection gets hyper's buffers only once its first
//!   byte arrives; one that sends nothing for [`EdgeLimits::idle_timeout`] is closed.
//! - **Header read timeout**: a request head must be complete [`EdgeLimits::header_read_timeout`]
//!   after the server starts waiting for it (the first byte of a new connection, or the end of
//!   the previous response on a kept-alive one, so it also bounds keep-alive idling). A slowloris
//!   client trickling a header is closed then.
//! - **Idle timeout** while a response is being written: no byte moved for
//!   [`EdgeLimits::idle_timeout`] and no handler running → closed (a client that stops reading).
//! - **413 at once** for a declared `Content-Length` over [`EdgeLimits::max_body_bytes`], before
//!   the router runs; bodies without a declared length are still capped by the router's
//!   `DefaultBodyLimit`, which callers should set to the same value.
//! - **Request timeout**: a handler (its body read included) running longer than
//!   [`EdgeLimits::request_timeout`] is answered 408 and its work dropped.
//! - **Graceful shutdown** on a [`CancellationToken`]: the listener closes (the port is free),
//!   idle connections close, in-flight requests finish, all within
//!   [`EdgeLimits::shutdown_grace`]; whatever is left then is closed.
//!
//! Handlers still see the client's address as `axum::extract::ConnectInfo<SocketAddr>`.
//!
//! [`ops_router`] gives the shared `GET /health`, `GET /ready` and `GET /metrics`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

use crate::health::{Health, Report};

/// The limits of one HTTP server. Every field is enforced by [`serve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeLimits {
    /// A request head must be complete within this long after the server starts waiting for it:
    /// the first byte of a new connection, or the end of the previous response on a kept-alive
    /// connection (so this is also the longest a kept-alive connection idles between requests).
    pub header_read_timeout: Duration,
    /// A new connection that sends nothing for this long is closed; so is a connection on which
    /// no byte moved in either direction for this long while no handler was running.
    pub idle_timeout: Duration,
    /// Longest time for one request, reading its body included: beyond it the answer is 408.
    pub request_timeout: Duration,
    /// Open connections at most, all clients together; more are closed at accept. Lowered at
    /// start when the process's file-handle limit cannot hold it (see [`serve`]).
    pub max_connections: usize,
    /// Open connections at most from one client IP; more are closed at accept.
    pub max_connections_per_ip: usize,
    /// A declared `Content-Length` above this is answered 413 before the router runs.
    pub max_body_bytes: usize,
    /// After the shutdown token fires, how long in-flight requests may take to finish before
    /// their connections are closed.
    pub shutdown_grace: Duration,
}

impl EdgeLimits {
    /// For a public API (the node's JSON-RPC port): callers are provers and proposers, a few
    /// connections each, small JSON bodies.
    ///
    /// - header 5 s, idle 15 s: an honest client sends its head in one packet; 5 s leaves room
    ///   for a slow link and closes a slowloris connection quickly;
    /// - request 10 s: an L1 read behind a call is bounded by 5 s;
    /// - 1,024 connections, 32 per IP: far above any honest deployment's need, far below the
    ///   file-handle limit once raised; one IP holds at most 1/32 of the total;
    /// - body 256 KiB: a batch of 100 quotes (~600 bytes each) with margin.
    pub fn public() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(15),
            request_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_connections_per_ip: 32,
            max_body_bytes: 256 * 1024,
            shutdown_grace: Duration::from_secs(10),
        }
    }

    /// For an operator-facing port (metrics, the pricing service): few callers, usually from
    /// one host (Prometheus, the local prover), tiny bodies.
    pub fn internal() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(15),
            request_timeout: Duration::from_secs(10),
            max_connections: 256,
            max_connections_per_ip: 64,
            max_body_bytes: 64 * 1024,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// The edge's counters, registered by the caller in its own registry (so they carry its role's
/// prefix, e.g. `epoch_rfq_node_http_connections_refused_total`). Cheap to clone; clones share
/// the values.
#[derive(Debug, Clone, Default)]
pub struct EdgeMetrics {
    refused: Family<[(&'static str, &'static str); 1], Counter>,
    closed: Family<[(&'static str, &'static str); 1], Counter>,
    open: Gauge,
    body_too_large: Counter,
    request_timeouts: Counter,
}

/// Why the edge closed a connection at accept.
const REFUSED_TOTAL: &str = "total";
const REFUSED_PER_IP: &str = "per_ip";
/// Why the edge closed an accepted connection itself.
const CLOSED_HEADER_TIMEOUT: &str = "header_timeout";
const CLOSED_IDLE: &str = "idle_timeout";
const CLOSED_SHUTDOWN: &str = "shutdown_grace_over";

impl EdgeMetrics {
    /// Fresh counters at zero.
    pub fn new() -> Self {
        let m = Self::default();
        // Pre-create the series so dashboards see zeros, not gaps.
        for reason in [REFUSED_TOTAL, REFUSED_PER_IP] {
            let _ = m.refused.get_or_create(&[("reason", reason)]);
        }
        for reason in [CLOSED_HEADER_TIMEOUT, CLOSED_IDLE, CLOSED_SHUTDOWN] {
            let _ = m.closed.get_or_create(&[("reason", reason)]);
        }
        m
    }

    /// Registers the series under `registry`'s prefix.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "http_connections_refused",
            "TCP connections closed at accept by the connection caps, by cap (total, per_ip)",
            self.refused.clone(),
        );
        registry.register(
            "http_connections_closed",
            "Accepted connections the server closed itself, by reason (header_timeout, idle_timeout, shutdown_grace_over)",
            self.closed.clone(),
        );
        registry.register(
            "http_connections_open",
            "Open HTTP connections",
            self.open.clone(),
        );
        registry.register(
            "http_body_too_large",
            "Requests answered 413 from their declared Content-Length",
            self.body_too_large.clone(),
        );
        registry.register(
            "http_request_timeouts",
            "Requests answered 408 after the request timeout",
            self.request_timeouts.clone(),
        );
    }

    /// Connections refused at accept so far by the total cap and by the per-IP cap.
    pub fn refused(&self) -> (u64, u64) {
        (
            self.refused
                .get_or_create(&[("reason", REFUSED_TOTAL)])
                .get(),
            self.refused
                .get_or_create(&[("reason", REFUSED_PER_IP)])
                .get(),
        )
    }

    /// Connections closed so far for sending no complete head in time, and for idling.
    pub fn closed_by_timeouts(&self) -> (u64, u64) {
        (
            self.closed
                .get_or_create(&[("reason", CLOSED_HEADER_TIMEOUT)])
                .get(),
            self.closed.get_or_create(&[("reason", CLOSED_IDLE)]).get(),
        )
    }

    /// Connections open now.
    pub fn open_connections(&self) -> i64 {
        self.open.get()
    }

    fn close(&self, reason: &'static str) {
        self.closed.get_or_create(&[("reason", reason)]).inc();
    }
}

/// File handles left for everything that is not an HTTP connection (L1 and P2P sockets, the
/// database, logs, other listeners) when [`serve`] fits the connection cap under the limit.
const FD_RESERVE: u64 = 256;

/// The soft file-handle limit (`RLIMIT_NOFILE`) before and after [`raise_fd_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// Soft limit before (`None`: unlimited).
    pub before: Option<u64>,
    /// Soft limit now.
    pub after: Option<u64>,
}

/// Raises the process's soft `RLIMIT_NOFILE` to its hard limit.
///
/// Why: many systems start processes with a soft limit of 1,024 handles while the hard limit
/// is far higher; the soft limit is only a default for programs that never need more. A
/// server at that default runs out of handles below its own connection cap, and then every
/// `accept`, L1 call and file open fails. Raising soft to hard needs no privilege. The
/// connection caps, not this, keep the server serving: [`serve`] also lowers its cap to fit
/// under whatever limit remains.
pub fn raise_fd_limit() -> std::io::Result<FdLimit> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let before = limit.current;
    if let (Some(current), Some(maximum)) = (limit.current, limit.maximum)
        && current < maximum
    {
        let mut raised = limit;
        raised.current = Some(maximum);
        setrlimit(Resource::Nofile, raised)?;
    }
    Ok(FdLimit {
        before,
        after: getrlimit(Resource::Nofile).current,
    })
}

/// Raises the limit once per process, logging what happened.
fn raise_fd_limit_once() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| match raise_fd_limit() {
        Ok(FdLimit { before, after }) if before != after => {
            tracing::info!(
                ?before,
                ?after,
                "raised the soft file-handle limit to the hard limit"
            );
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot raise the soft file-handle limit"),
    });
}

/// `limits` with `max_connections` lowered, if needed, to fit under the soft file-handle limit
/// with [`FD_RESERVE`] handles to spare.
fn fit_to_fd_limit(mut limits: EdgeLimits) -> EdgeLimits {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    if let Some(soft) = soft {
        let room = usize::try_from(soft.saturating_sub(FD_RESERVE).max(16)).unwrap_or(usize::MAX);
        if limits.max_connections > room {
            tracing::warn!(
                configured = limits.max_connections,
                lowered_to = room,
                fd_limit = soft,
                "HTTP connection cap lowered to fit the file-handle limit (raise `ulimit -n` to allow more)"
            );
            limits.max_connections = room;
        }
    }
    limits
}

/// Serves `app` on `listener` within `limits` until `shutdown` fires, then stops gracefully
/// (see the module docs). Raises the soft file-handle limit once per process (see
/// [`raise_fd_limit`]). Errors accepting one connection are logged and never end the server.
/// Dropping the future stops the open connections gracefully too.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: EdgeLimits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    serve_with_metrics(listener, app, limits, EdgeMetrics::new(), shutdown).await
}

/// [`serve`], counting into `metrics` (register them with [`EdgeMetrics::register`]).
pub async fn serve_with_metrics(
    listener: TcpListener,
    app: Router,
    limits: EdgeLimits,
    metrics: EdgeMetrics,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    raise_fd_limit_once();
    let limits = fit_to_fd_limit(limits);
    let table = Arc::new(ConnTable::default());
    let connections = TaskTracker::new();
    // Fired when the grace is over: connections still open then are closed.
    let force = CancellationToken::new();
    // Connections stop gracefully when `shutdown` fires, and also when this future is dropped
    // (a caller that aborts the serving task does not leave connections behind).
    let stop_connections = shutdown.child_token();
    let _stop_connections_on_drop = stop_connections.clone().drop_guard();
    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file handles (or kernel memory): wait a little instead of spinning;
                // the caps make this rare, connections closing make it pass.
                tracing::warn!(error = %e, "accepting an HTTP connection failed");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_millis(50)) => continue,
                }
            }
        };
        let slot = match table.admit(peer.ip(), &limits) {
            Ok(slot) => slot,
            Err(reason) => {
                metrics.refused.get_or_create(&[("reason", reason)]).inc();
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(connection(
            stream,
            peer,
            app.clone(),
            limits,
            metrics.clone(),
            stop_connections.clone(),
            force.clone(),
            slot,
        ));
    }
    // Stop accepting: the port is free from here on.
    drop(listener);
    connections.close();
    if tokio::time::timeout(limits.shutdown_grace, connections.wait())
        .await
        .is_err()
    {
        force.cancel();
        connections.wait().await;
    }
    Ok(())
}

/// Open connections, in total and per client IP.
#[derive(Debug, Default)]
struct ConnTable {
    inner: Mutex<ConnCounts>,
}

#[derive(Debug, Default)]
struct ConnCounts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// One admitted connection; gives its place back when dropped.
struct Slot {
    table: Arc<ConnTable>,
    ip: IpAddr,
}

impl ConnTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, ConnCounts> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn admit(self: &Arc<Self>, ip: IpAddr, limits: &EdgeLimits) -> Result<Slot, &'static str> {
        let mut counts = self.lock();
        if counts.total >= limits.max_connections.max(1) {
            return Err(REFUSED_TOTAL);
        }
        let of_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if of_ip >= limits.max_connections_per_ip.max(1) {
            return Err(REFUSED_PER_IP);
        }
        counts.per_ip.insert(ip, of_ip + 1);
        counts.total += 1;
        Ok(Slot {
            table: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.table.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&self.ip);
            }
        }
    }
}

/// Serves one connection until it ends, times out, or the shutdown grace is over.
#[allow(clippy::too_many_arguments)]
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: EdgeLimits,
    metrics: EdgeMetrics,
    shutdown: CancellationToken,
    force: CancellationToken,
    slot: Slot,
) {
    let _slot = slot;
    metrics.open.inc();
    let _open = OnDrop(|| {
        metrics.open.dec();
    });
    // Nothing is allocated for a connection that has not sent anything yet: wait for its first
    // byte (peeked into a one-byte buffer on the stack; readiness alone can be spurious).
    let mut first = [0u8; 1];
    tokio::select! {
        peeked = tokio::time::timeout(limits.idle_timeout, stream.peek(&mut first)) => match peeked {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) => return, // closed by the client, or failed
            Err(_) => {
                metrics.close(CLOSED_IDLE);
                return;
            }
        },
        () = shutdown.cancelled() => return,
    }

    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(CountingIo {
        stream,
        activity: activity.clone(),
    });
    let service = EdgeService {
        app,
        peer,
        limits,
        metrics: metrics.clone(),
        activity: activity.clone(),
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        let idle_deadline = activity.idle_deadline(limits.idle_timeout);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    if e.is_timeout() {
                        metrics.close(CLOSED_HEADER_TIMEOUT);
                    } else {
                        tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
                    }
                }
                return;
            }
            () = shutdown.cancelled(), if !draining => {
                // Idle connections close now; a request in flight finishes first.
                conn.as_mut().graceful_shutdown();
                draining = true;
            }
            () = force.cancelled() => {
                metrics.close(CLOSED_SHUTDOWN);
                return;
            }
            () = tokio::time::sleep_until(idle_deadline.into()) => {
                if activity.is_idle_for(limits.idle_timeout) {
                    metrics.close(CLOSED_IDLE);
                    return;
                }
            }
        }
    }
}

struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// When a connection last moved a byte, and how many of its requests are being handled.
struct Activity {
    start: Instant,
    /// Milliseconds after `start` of the last byte read or written.
    last_io_ms: AtomicU64,
    handlers_running: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_io_ms: AtomicU64::new(0),
            handlers_running: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_io_ms.store(ms, Ordering::Relaxed);
    }

    fn last_io(&self) -> Instant {
        self.start + Duration::from_millis(self.last_io_ms.load(Ordering::Relaxed))
    }

    /// When the connection becomes idle if nothing happens: `idle` after the last byte, or
    /// `idle` from now while a handler runs (the request timeout bounds handlers).
    fn idle_deadline(&self, idle: Duration) -> Instant {
        if self.handlers_running.load(Ordering::Relaxed) > 0 {
            Instant::now() + idle
        } else {
            self.last_io() + idle
        }
    }

    fn is_idle_for(&self, idle: Duration) -> bool {
        self.handlers_running.load(Ordering::Relaxed) == 0 && self.last_io().elapsed() >= idle
    }
}

/// The TCP stream, noting each byte moved in [`Activity`].
struct CountingIo {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for CountingIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for CountingIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// What hyper calls for each request: the early checks, then the router under the timeout.
#[derive(Clone)]
struct EdgeService {
    app: Router,
    peer: SocketAddr,
    limits: EdgeLimits,
    metrics: EdgeMetrics,
    activity: Arc<Activity>,
}

impl hyper::service::Service<Request<Incoming>> for EdgeService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.handle(request).await) })
    }
}

impl EdgeService {
    async fn handle(self, mut request: Request<Incoming>) -> Response<Body> {
        let max = self.limits.max_body_bytes;
        if let Some(declared) = declared_body_len(&request)
            && declared > max as u64
        {
            self.metrics.body_too_large.inc();
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                -32600,
                &format!(
                    "invalid request: body exceeds the limit of {max} bytes (Content-Length: {declared}); send a smaller body"
                ),
                true,
            );
        }
        request.extensions_mut().insert(ConnectInfo(self.peer));
        self.activity
            .handlers_running
            .fetch_add(1, Ordering::Relaxed);
        let _running = OnDrop(|| {
            self.activity
                .handlers_running
                .fetch_sub(1, Ordering::Relaxed);
        });
        let routed = self.app.clone().oneshot(request.map(Body::new));
        match tokio::time::timeout(self.limits.request_timeout, routed).await {
            Ok(Ok(response)) => response,
            Ok(Err(never)) => match never {},
            Err(_) => {
                self.metrics.request_timeouts.inc();
                error_response(
                    StatusCode::REQUEST_TIMEOUT,
                    -32603,
                    &format!(
                        "request not completed within {} ms (body sent too slowly, or the server is overloaded); retry",
                        self.limits.request_timeout.as_millis()
                    ),
                    true,
                )
            }
        }
    }
}

/// The declared body length; an all-digit value too large for `u64` counts as `u64::MAX`
/// (hyper itself refuses malformed values with 400 before this runs).
fn declared_body_len<B>(request: &Request<B>) -> Option<u64> {
    let value = request
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?;
    let value = value.trim();
    match value.parse::<u64>() {
        Ok(n) => Some(n),
        Err(_) if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => Some(u64::MAX),
        Err(_) => None,
    }
}

/// A JSON-RPC 2.0 error object (the node's clients read it as such; others read `error.message`).
fn error_response(status: StatusCode, code: i64, message: &str, close: bool) -> Response<Body> {
    let body = format!(
        "{{\"jsonrpc\":\"2.0\",\"error\":{{\"code\":{code},\"message\":{}}},\"id\":null}}",
        crate::health::json_string(message)
    );
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if close {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Serves a role's ops port until the future is dropped: [`ops_router`] over `registry` and
/// `health`, with [`EdgeLimits::internal`] (the prover's and proposer's metrics addresses).
pub async fn serve_ops(
    listener: TcpListener,
    registry: Arc<Registry>,
    health: Health,
) -> std::io::Result<()> {
    let render = crate::metrics::renderer(registry);
    serve(
        listener,
        ops_router(health, render),
        EdgeLimits::internal(),
        CancellationToken::new(),
    )
    .await
}

/// `GET /health` ([`Health::liveness`]), `GET /ready` ([`Health::readiness`]) and
/// `GET /metrics` (`render_metrics()`, OpenMetrics text). Merge it into a role's router.
pub fn ops_router(health: Health, render_metrics: Arc<dyn Fn() -> String + Send + Sync>) -> Router {
    let live = health.clone();
    Router::new()
        .route(
            "/health",
            get(move || {
                let report = live.liveness();
                async move { health_response(report) }
            }),
        )
        .route(
            "/ready",
            get(move || {
                let report = health.readiness();
                async move { health_response(report) }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let text = render_metrics();
                async move {
                    (
                        StatusCode::OK,
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        text,
                    )
                }
            }),
        )
}

fn health_response(report: Report) -> axum::response::Response {
    let status = if report.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        report.body,
    )
        .into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn limits() -> EdgeLimits {
        EdgeLimits {
            header_read_timeout: Duration::from_millis(300),
            idle_timeout: Duration::from_millis(600),
            request_timeout: Duration::from_millis(400),
            max_connections: 8,
            max_connections_per_ip: 3,
            max_body_bytes: 1000,
            shutdown_grace: Duration::from_millis(500),
        }
    }

    fn app() -> Router {
        Router::new()
            .route(
                "/",
                get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
                    peer.ip().to_string()
                }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    "done"
                }),
            )
            .route(
                "/stuck",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    "never"
                }),
            )
    }

    async fn start(
        limits: EdgeLimits,
    ) -> (
        SocketAddr,
        EdgeMetrics,
        CancellationToken,
        tokio::task::JoinHandle<std::io::Result<()>>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics = EdgeMetrics::new();
        let token = CancellationToken::new();
        let server = tokio::spawn(serve_with_metrics(
            listener,
            app(),
            limits,
            metrics.clone(),
            token.clone(),
        ));
        (addr, metrics, token, server)
    }

    /// Sends `request`, returns what the server answered until it closed (or 2 s passed).
    async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(request).await.unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    async fn fetch(addr: SocketAddr, path: &str) -> String {
        let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        exchange(addr, request.as_bytes()).await
    }

    /// Whether the server closed `s` (EOF or reset) within `within`.
    async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
        let mut buf = [0u8; 256];
        loop {
            match tokio::time::timeout(within, s.read(&mut buf)).await {
                Err(_) => return false,
                Ok(Ok(0) | Err(_)) => return true,
                Ok(Ok(_)) => continue,
            }
        }
    }

    #[tokio::test]
    async fn declared_oversized_body_is_413_at_once_and_handlers_see_the_peer() {
        let (addr, metrics, token, server) = start(limits()).await;
        let started = Instant::now();
        let answer = exchange(
            addr,
            b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 10000000000\r\n\r\n",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("Content-Length: 10000000000"), "{answer}");
        assert!(started.elapsed() < Duration::from_millis(300));
        assert_eq!(metrics.body_too_large.get(), 1);
        let answer = exchange(
            addr,
            b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("127.0.0.1"), "{answer}");
        token.cancel();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn slow_handler_is_408_after_the_request_timeout() {
        let (addr, metrics, token, server) = start(limits()).await;
        let answer = exchange(addr, b"GET /stuck HTTP/1.1\r\nhost: x\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert_eq!(metrics.request_timeouts.get(), 1);
        token.cancel();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn caps_per_ip_and_in_total_close_excess_connections_at_accept() {
        let (addr, metrics, token, server) = start(limits()).await;
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(TcpStream::connect(addr).await.unwrap());
        }
        let mut excess = TcpStream::connect(addr).await.unwrap();
        assert!(closed_within(&mut excess, Duration::from_secs(1)).await);
        assert_eq!(metrics.refused(), (0, 1));
        // Another loopback address is another client: served while 127.0.0.1 is at its cap.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let mut other = socket.connect(addr).await.unwrap();
        other
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        other.read_to_string(&mut out).await.unwrap();
        assert!(out.ends_with("127.0.0.2"), "{out}");
        // A closed connection gives its place back.
        drop(held.pop());
        tokio::time::sleep(Duration::from_millis(50)).await;
        let answer = exchange(
            addr,
            b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        token.cancel();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn silent_and_slowloris_connections_are_closed() {
        let (addr, metrics, token, server) = start(EdgeLimits {
            max_connections_per_ip: 8,
            ..limits()
        })
        .await;
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nhost").await.unwrap();
        let started = Instant::now();
        // One more byte every 100 ms does not keep it open past the header timeout.
        let trickle = async {
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if slow.write_all(b"x").await.is_err() {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_millis(600), trickle).await;
        assert!(closed_within(&mut slow, Duration::from_secs(1)).await);
        assert!(started.elapsed() < Duration::from_millis(1500));
        assert!(closed_within(&mut silent, Duration::from_secs(2)).await);
        assert_eq!(metrics.closed_by_timeouts(), (1, 1));
        assert_eq!(metrics.open_connections(), 0);
        token.cancel();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn shutdown_lets_in_flight_requests_finish_and_frees_the_port() {
        let (addr, _metrics, token, server) = start(limits()).await;
        let in_flight = tokio::spawn(exchange(addr, b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n"));
        let mut idle = TcpStream::connect(addr).await.unwrap();
        idle.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        token.cancel();
        let answer = in_flight.await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("done"), "{answer}");
        assert!(closed_within(&mut idle, Duration::from_secs(1)).await);
        tokio::time::timeout(Duration::from_secs(2), server)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        TcpListener::bind(addr).await.unwrap();
    }

    #[tokio::test]
    async fn ops_router_answers_health_ready_and_metrics() {
        let health = Health::new("test");
        let service = health.register("worker", None);
        let app = ops_router(health, Arc::new(|| "metric 1\n".to_owned()));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let token = CancellationToken::new();
        let server = tokio::spawn(serve(listener, app, limits(), token.clone()));
        assert!(fetch(addr, "/health").await.starts_with("HTTP/1.1 200"));
        let ready = fetch(addr, "/ready").await;
        assert!(ready.starts_with("HTTP/1.1 503"), "{ready}");
        assert!(
            ready.contains("\"worker\":{\"state\":\"starting\""),
            "{ready}"
        );
        service.ok();
        assert!(fetch(addr, "/ready").await.starts_with("HTTP/1.1 200"));
        assert!(fetch(addr, "/metrics").await.ends_with("metric 1\n"));
        token.cancel();
        server.await.unwrap().unwrap();
    }
}
