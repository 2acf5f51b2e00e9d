//! An L1-fault proxy for tests (feature `test-harness`): an HTTP and WebSocket JSON-RPC relay on
//! 127.0.0.1 between a client and an upstream node (anvil), with faults switchable at run time.
//!
//! ```no_run
//! # async fn f(anvil_url: &str) -> std::io::Result<()> {
//! use std::time::Duration;
//! use epoch_rfq_l1::fault_proxy::{FaultProxy, Faults};
//! let proxy = FaultProxy::start(anvil_url, 7).await?;      // seed 7: the same faults every run
//! proxy.set_faults(Faults { rate_limited: 0.3, retry_after: Some(0), ..Faults::default() });
//! proxy.set_faults(Faults { latency: Duration::from_millis(500), ..Faults::default() });
//! proxy.set_down(true);                                      // connections refused
//! proxy.set_down(false);                                     // listening again, same port
//! proxy.drop_connections();                                  // open ones closed, still listening
//! let ws = proxy.ws_url();                                   // the same port, for ws clients
//! # Ok(()) }
//! ```
//!
//! Faults, per request, in this order: `latency` (added before anything else), `hang` (never
//! answer), the next `rate_limit_next` requests answered 429, then one random draw (seeded, so
//! a run is reproducible) against `rate_limited` (429 with `Retry-After` when set),
//! `server_errors` (`server_error_status`), `resets` (connection closed without an answer);
//! otherwise the request is relayed, with `eth_chainId` / `eth_blockNumber` answered by the
//! proxy when `chain_id` / `block_number` is set (a node on another chain, behind, or lying).
//! `set_down(true)` closes the listening socket (connections are refused) and every open
//! connection; `set_down(false)` listens again on the same port.
//!
//! HTTP/1.1 with `Content-Length` bodies and keep-alive, which is what alloy's reqwest
//! transport sends.
//!
//! **WebSocket**: a request with `Upgrade: websocket` (alloy's ws transport connecting) goes
//! through the same faults as any request (latency, hang, 429, 5xx, reset: the upgrade is
//! refused the way a provider refuses one); otherwise the proxy opens a TCP connection to the
//! upstream's host and port (anvil serves ws on its http port), hands it the handshake, passes
//! the answer back, and from then on relays frames both ways unchanged (RFC 6455 framing is read
//! only to tell frames apart). Each frame from the upstream (an answer or a subscription
//! notification) is delayed by `latency` as it stands when the frame arrives, order kept, so a
//! call costs one `latency` as over http; with `hang` set, frames from the upstream are
//! swallowed. `set_down(true)` and [`FaultProxy::drop_connections`] close ws connections like
//! any other: the client sees the connection drop (no close frame).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

/// The faults applied to each request (see the module docs). `Faults::default()` is none.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Added before each answer.
    pub latency: Duration,
    /// Accept requests and never answer them.
    pub hang: bool,
    /// Answer this many next requests with 429 (counts down), before any random draw.
    pub rate_limit_next: u64,
    /// Fraction (0 to 1) of requests answered 429 Too Many Requests.
    pub rate_limited: f64,
    /// `Retry-After` (seconds) sent with 429s; none when `None`.
    pub retry_after: Option<u64>,
    /// Fraction of requests answered with `server_error_status`.
    pub server_errors: f64,
    /// The 5xx status of those answers.
    pub server_error_status: u16,
    /// Fraction of requests whose connection is closed without an answer.
    pub resets: f64,
    /// Answer `eth_chainId` with this chain id instead of relaying it.
    pub chain_id: Option<u64>,
    /// Answer `eth_blockNumber` with this number instead of relaying it (a node behind, or
    /// lying).
    pub block_number: Option<u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            hang: false,
            rate_limit_next: 0,
            rate_limited: 0.0,
            retry_after: None,
            server_errors: 0.0,
            server_error_status: 503,
            resets: 0.0,
            chain_id: None,
            block_number: None,
        }
    }
}

/// What the proxy did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Requests received.
    pub requests: u64,
    /// Relayed to the upstream (and answered from it).
    pub relayed: u64,
    /// Answered 429.
    pub rate_limited: u64,
    /// Answered 5xx.
    pub server_errors: u64,
    /// Closed without an answer.
    pub resets: u64,
    /// `eth_chainId` or `eth_blockNumber` answered by the proxy itself.
    pub own_answers: u64,
    /// WebSocket connections relayed (handshakes passed to the upstream).
    pub ws_connections: u64,
    /// WebSocket frames relayed from the upstream to a client.
    pub ws_frames: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Up,
    Down,
    Closed,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    relayed: AtomicU64,
    rate_limited: AtomicU64,
    server_errors: AtomicU64,
    resets: AtomicU64,
    own_answers: AtomicU64,
    ws_connections: AtomicU64,
    ws_frames: AtomicU64,
}

struct Shared {
    upstream: reqwest::Url,
    http: reqwest::Client,
    faults: Mutex<Faults>,
    rng: Mutex<u64>,
    counters: Counters,
    /// Bumped by [`FaultProxy::drop_connections`]: every open connection closes.
    drops: watch::Sender<u64>,
}

impl Shared {
    /// A uniform draw in [0, 1) from splitmix64 (deterministic for a seed and request order).
    fn draw(&self) -> f64 {
        let mut state = self.rng.lock();
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A running proxy; stopped (and its port released) when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    mode: watch::Sender<Mode>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.shared.upstream.as_str())
            .finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 (a free port) relaying to `upstream` (an http URL), with no
    /// faults; `seed` makes the random faults reproducible.
    pub async fn start(upstream: &str, seed: u64) -> std::io::Result<Self> {
        let upstream: reqwest::Url = upstream.parse().map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("upstream {upstream:?}: {e}"),
            )
        })?;
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            http: reqwest::Client::new(),
            faults: Mutex::new(Faults::default()),
            rng: Mutex::new(seed),
            counters: Counters::default(),
            drops: watch::channel(0).0,
        });
        let (mode, mode_rx) = watch::channel(Mode::Up);
        tokio::spawn(accept_loop(listener, addr, shared.clone(), mode_rx));
        Ok(Self { addr, shared, mode })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://127.0.0.1:<port>`: the same port, for WebSocket clients.
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Closes every open connection (http keep-alive and ws alike) without answering, and keeps
    /// listening: a provider dropping its connections, clients reconnect at once.
    pub fn drop_connections(&self) {
        self.shared.drops.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the faults (takes effect from the next request).
    pub fn set_faults(&self, faults: Faults) {
        *self.shared.faults.lock() = faults;
    }

    /// The current faults.
    pub fn faults(&self) -> Faults {
        self.shared.faults.lock().clone()
    }

    /// Down: the port refuses connections and open ones are closed. Up: listening again.
    pub fn set_down(&self, down: bool) {
        self.mode
            .send_replace(if down { Mode::Down } else { Mode::Up });
    }

    /// What happened so far.
    pub fn stats(&self) -> ProxyStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ProxyStats {
            requests: get(&c.requests),
            relayed: get(&c.relayed),
            rate_limited: get(&c.rate_limited),
            server_errors: get(&c.server_errors),
            resets: get(&c.resets),
            own_answers: get(&c.own_answers),
            ws_connections: get(&c.ws_connections),
            ws_frames: get(&c.ws_frames),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.mode.send_replace(Mode::Closed);
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    // Listening again on the same port right after closing it (set_down(false)).
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(128)
}

/// Resolves when the mode leaves `Up` (or the proxy is gone).
async fn left_up(mode: &mut watch::Receiver<Mode>) {
    loop {
        if *mode.borrow_and_update() != Mode::Up {
            return;
        }
        if mode.changed().await.is_err() {
            return;
        }
    }
}

async fn accept_loop(
    first: TcpListener,
    addr: SocketAddr,
    shared: Arc<Shared>,
    mut mode: watch::Receiver<Mode>,
) {
    let mut listener = Some(first);
    loop {
        // Wait until up.
        loop {
            match *mode.borrow_and_update() {
                Mode::Up => break,
                Mode::Closed => return,
                // Not even the first listener may stay open while down.
                Mode::Down => listener = None,
            }
            if mode.changed().await.is_err() {
                return;
            }
        }
        let current = match listener.take() {
            Some(l) => l,
            None => match bind(addr) {
                Ok(l) => l,
                Err(err) => {
                    tracing::warn!(%addr, %err, "fault proxy cannot listen again; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let mut watching = mode.clone();
        loop {
            tokio::select! {
                accepted = current.accept() => {
                    if let Ok((stream, _)) = accepted {
                        tokio::spawn(serve(stream, shared.clone(), mode.clone()));
                    }
                }
                () = left_up(&mut watching) => break,
            }
        }
        // `current` is dropped here: the port refuses connections until up again.
    }
}

async fn serve(mut stream: TcpStream, shared: Arc<Shared>, mut mode: watch::Receiver<Mode>) {
    let mut buf = Vec::new();
    let mut drops = shared.drops.subscribe();
    drops.borrow_and_update();
    loop {
        let handled = tokio::select! {
            () = left_up(&mut mode) => return,
            _ = drops.changed() => return,
            keep = handle_one(&mut stream, &mut buf, &shared) => keep,
        };
        if !handled {
            return;
        }
    }
}

/// Reads one request and answers it (or relays the ws connection it opens until it ends);
/// `false` when the connection is to be closed.
async fn handle_one(stream: &mut TcpStream, buf: &mut Vec<u8>, shared: &Shared) -> bool {
    let Some((head, body)) = read_request(stream, buf).await else {
        return false;
    };
    let counters = &shared.counters;
    counters.requests.fetch_add(1, Ordering::Relaxed);
    let faults = shared.faults.lock().clone();
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    if faults.hang {
        std::future::pending::<()>().await;
    }
    let forced_429 = {
        let mut f = shared.faults.lock();
        if f.rate_limit_next > 0 {
            f.rate_limit_next -= 1;
            true
        } else {
            false
        }
    };
    let draw = shared.draw();
    if forced_429 || draw < faults.rate_limited {
        counters.rate_limited.fetch_add(1, Ordering::Relaxed);
        let retry_after = faults
            .retry_after
            .map(|s| format!("Retry-After: {s}\r\n"))
            .unwrap_or_default();
        return write_response(
            stream,
            429,
            &retry_after,
            b"rate limited by the fault proxy",
        )
        .await;
    }
    if draw < faults.rate_limited + faults.server_errors {
        counters.server_errors.fetch_add(1, Ordering::Relaxed);
        return write_response(
            stream,
            faults.server_error_status,
            "",
            b"server error from the fault proxy",
        )
        .await;
    }
    if draw < faults.rate_limited + faults.server_errors + faults.resets {
        counters.resets.fetch_add(1, Ordering::Relaxed);
        return false;
    }
    if is_ws_upgrade(&head) {
        relay_ws(stream, &head, std::mem::take(buf), shared).await;
        return false;
    }
    if let Some(answer) = own_answer(&body, &faults) {
        counters.own_answers.fetch_add(1, Ordering::Relaxed);
        return write_response(stream, 200, "", answer.as_bytes()).await;
    }
    let relayed = shared
        .http
        .post(shared.upstream.clone())
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    let (status, answer) = match relayed {
        Ok(r) => {
            let status = r.status().as_u16();
            match r.bytes().await {
                Ok(b) => (status, b.to_vec()),
                Err(e) => (502, format!("upstream body: {e}").into_bytes()),
            }
        }
        Err(e) => (502, format!("upstream: {e}").into_bytes()),
    };
    counters.relayed.fetch_add(1, Ordering::Relaxed);
    write_response(stream, status, "", &answer).await
}

/// The proxy's own answer to a single `eth_chainId` / `eth_blockNumber` request, when the
/// faults say so.
fn own_answer(body: &[u8], faults: &Faults) -> Option<String> {
    if faults.chain_id.is_none() && faults.block_number.is_none() {
        return None;
    }
    let request: serde_json::Value = serde_json::from_slice(body).ok()?;
    let value = match request.get("method")?.as_str()? {
        "eth_chainId" => faults.chain_id?,
        "eth_blockNumber" => faults.block_number?,
        _ => return None,
    };
    let id = request.get("id")?;
    Some(format!(
        r#"{{"jsonrpc":"2.0","id":{id},"result":"0x{value:x}"}}"#
    ))
}

/// Whether a request head asks for a WebSocket (`Upgrade: websocket`).
fn is_ws_upgrade(head: &[u8]) -> bool {
    std::str::from_utf8(head).is_ok_and(|head| {
        head.lines()
            .filter_map(|line| line.split_once(':'))
            .any(|(name, value)| {
                name.trim().eq_ignore_ascii_case("upgrade")
                    && value.trim().eq_ignore_ascii_case("websocket")
            })
    })
}

/// Frames larger than this close the connection (no JSON-RPC answer comes near it).
const MAX_WS_FRAME: usize = 256 * 1024 * 1024;

/// Relays one WebSocket connection: `head` (and whatever the client sent after it, `early`) to
/// the upstream, its handshake answer back, then frames both ways until either side closes.
async fn relay_ws(client: &mut TcpStream, head: &[u8], early: Vec<u8>, shared: &Shared) {
    let counters = &shared.counters;
    let Some(host) = shared.upstream.host_str() else {
        return;
    };
    let port = shared.upstream.port_or_known_default().unwrap_or(80);
    let Ok(mut upstream) = TcpStream::connect((host, port)).await else {
        let _ = write_response(client, 502, "", b"upstream refused the ws connection").await;
        return;
    };
    if upstream.write_all(head).await.is_err() || upstream.write_all(&early).await.is_err() {
        return;
    }
    // The handshake answer (101 Switching Protocols, or a refusal) goes back as it is.
    let mut from_upstream = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let answer_end = loop {
        if let Some(end) = from_upstream.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        match upstream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => from_upstream.extend_from_slice(&chunk[..n]),
        }
    };
    let answer: Vec<u8> = from_upstream.drain(..answer_end).collect();
    if client.write_all(&answer).await.is_err() || !answer.starts_with(b"HTTP/1.1 101") {
        return;
    }
    counters.ws_connections.fetch_add(1, Ordering::Relaxed);
    let (mut client_read, mut client_write) = client.split();
    let (mut upstream_read, mut upstream_write) = upstream.split();
    // Client to upstream: bytes as they come.
    let up = tokio::io::copy(&mut client_read, &mut upstream_write);
    // Upstream to client: frame by frame, each due `latency` after it arrived.
    let (due_tx, mut due_rx) = tokio::sync::mpsc::unbounded_channel();
    let read_frames = async move {
        let mut buf = from_upstream;
        while let Some(frame) = read_frame(&mut upstream_read, &mut buf).await {
            let faults = shared.faults.lock().clone();
            if faults.hang {
                continue;
            }
            let due = tokio::time::Instant::now() + faults.latency;
            if due_tx.send((due, frame)).is_err() {
                return;
            }
        }
    };
    let write_frames = async move {
        while let Some((due, frame)) = due_rx.recv().await {
            tokio::time::sleep_until(due).await;
            if client_write.write_all(&frame).await.is_err() {
                return;
            }
            counters.ws_frames.fetch_add(1, Ordering::Relaxed);
        }
    };
    // Whichever way ends first ends the connection; the frames still due are dropped with it.
    tokio::select! {
        _ = up => {}
        () = async { tokio::join!(read_frames, write_frames); } => {}
    }
}

/// Reads one WebSocket frame (RFC 6455 §5.2: two header bytes, an extended length of 2 or 8
/// bytes, a 4-byte mask key when masked, the payload) and returns its bytes unchanged; `None` at
/// EOF or for a frame over [`MAX_WS_FRAME`].
async fn read_frame<R: AsyncRead + Unpin>(stream: &mut R, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(length) = frame_length(buf) {
            if length > MAX_WS_FRAME {
                return None;
            }
            if buf.len() >= length {
                return Some(buf.drain(..length).collect());
            }
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The length of the frame at the start of `buf`, header included, once its header is in
/// (`usize::MAX` when it would not fit in memory anyway).
fn frame_length(buf: &[u8]) -> Option<usize> {
    let second = *buf.get(1)?;
    let (payload, header) = match second & 0x7f {
        126 => (
            u64::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?])),
            4,
        ),
        127 => (u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?), 10),
        short => (u64::from(short), 2),
    };
    let mask = if second & 0x80 != 0 { 4 } else { 0 };
    Some(
        usize::try_from(payload)
            .ok()
            .and_then(|p| p.checked_add(header + mask))
            .unwrap_or(usize::MAX),
    )
}

/// Reads one HTTP/1.1 request with a `Content-Length` body: its head (request line and headers,
/// up to and including the blank line) and its body; `None` at EOF or on a malformed one.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).ok()?;
            let length = head
                .lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
                .map_or(Some(0), |(_, value)| value.trim().parse::<usize>().ok())?;
            let total = end + 4 + length;
            while buf.len() < total {
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let head = buf[..end + 4].to_vec();
            let body = buf[end + 4..total].to_vec();
            buf.drain(..total);
            return Some((head, body));
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn write_response(stream: &mut TcpStream, status: u16, extra: &str, body: &[u8]) -> bool {
    let reason = match status {
        200 => "OK",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.is_ok()
        && stream.write_all(body).await.is_ok()
        && stream.flush().await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_lengths_follow_rfc_6455() {
        // Not enough header yet.
        assert_eq!(frame_length(&[]), None);
        assert_eq!(frame_length(&[0x81]), None);
        assert_eq!(frame_length(&[0x81, 126, 0x01]), None);
        // 7-bit length, unmasked (server to client) and masked (client to server).
        assert_eq!(frame_length(&[0x81, 5]), Some(2 + 5));
        assert_eq!(frame_length(&[0x81, 0x80 | 5]), Some(2 + 4 + 5));
        // 16-bit and 64-bit extended lengths.
        assert_eq!(frame_length(&[0x81, 126, 0x01, 0x00]), Some(4 + 256));
        let mut long = vec![0x82, 127];
        long.extend_from_slice(&70_000u64.to_be_bytes());
        assert_eq!(frame_length(&long), Some(10 + 70_000));
        // A length that cannot be held is reported as too large, not wrapped.
        let mut huge = vec![0x82, 0x80 | 127];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert!(frame_length(&huge).is_some_and(|n| n > MAX_WS_FRAME));
    }

    #[test]
    fn only_websocket_upgrades_are_relayed_as_ws() {
        let ws = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n\r\n";
        assert!(is_ws_upgrade(ws));
        let post = b"POST / HTTP/1.1\r\ncontent-length: 2\r\n\r\n";
        assert!(!is_ws_upgrade(post));
        let h2c = b"GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n";
        assert!(!is_ws_upgrade(h2c));
    }
}
