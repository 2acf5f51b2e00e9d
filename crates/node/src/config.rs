//! Node configuration.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use epoch_rfq_pool::PoolConfig;
use epoch_rfq_runtime::edge::EdgeLimits;

/// Default HTTP port (SPEC §1: `http://HOST:8000`).
pub const DEFAULT_HTTP_PORT: u16 = 8000;

/// Epochs of auction history the node keeps by default.
pub const DEFAULT_HISTORY_EPOCHS: u64 = 1_000;

/// Everything the node needs besides its [`crate::ChainView`] and (optional) gossip handle.
/// `Default` gives the production defaults below.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// HTTP listen address. Default `0.0.0.0:8000` (`NODE_HTTP_ADDR`): the JSON-RPC API is
    /// public by design (SPEC §1: provers on other hosts post quotes, proposers read them), and
    /// the edge's caps below are what make that safe. Port 0 picks a free port (tests); the bound
    /// address is [`crate::NodeHandle::local_addr`].
    pub http_addr: SocketAddr,
    /// Largest HTTP request body in bytes; larger bodies get HTTP 413 with a JSON-RPC error.
    /// Default 256 KiB: a quote is ~600 bytes of JSON, so this allows a full batch
    /// ([`max_batch`](Self::max_batch) quotes) with margin, and no more.
    pub max_body_bytes: usize,
    /// Most calls in one JSON-RPC batch (default 100); larger batches are refused whole with
    /// -32600. Each call costs one rate-limit token.
    pub max_batch: usize,
    /// Time limit for a whole HTTP request, body read included (default 10 s); beyond it the
    /// server answers HTTP 408 and drops the work.
    pub request_timeout: Duration,
    /// A request head must be complete this long after the server starts waiting for it (the
    /// first byte, or the end of the previous response on a kept-alive connection); slow-header
    /// (slowloris) connections are closed then. Default 5 s.
    pub header_read_timeout: Duration,
    /// A connection that sends nothing, or on which nothing moves while no request is being
    /// handled, is closed after this long. Default 15 s.
    pub idle_timeout: Duration,
    /// Open HTTP connections at most, all clients together (default 1,024); more are closed at
    /// accept and counted in `epoch_rfq_node_http_connections_refused_total{reason="total"}`.
    pub max_connections: usize,
    /// Open HTTP connections at most per client IP (default 32); more are closed at accept
    /// (`…{reason="per_ip"}`). One client cannot take the node's connections from the others.
    pub max_connections_per_ip: usize,
    /// Per-client-IP token bucket: sustained calls per second (default 50). `0` disables rate
    /// limiting.
    pub rate_limit_per_sec: u32,
    /// Bucket size: calls a client may burst above the sustained rate (default 100).
    pub rate_limit_burst: u32,
    /// Distinct client IPs tracked by the rate limiter (default 10,000). When the table is full,
    /// idle clients are forgotten; if none is idle, new clients are answered 429 until one is.
    pub rate_limit_max_clients: usize,
    /// How often the node reads a fresh snapshot of L1 and evicts stale epochs (default 1 s,
    /// the sandbox's L1 block time).
    pub refresh_interval: Duration,
    /// The node is not ready (`GET /ready` 503, naming the age) when its last good L1 snapshot
    /// is older than this. `None` (default): three refresh intervals, and at least one refresh
    /// interval plus [`l1_timeout`](Self::l1_timeout), so that one read using its whole time
    /// limit does not flip readiness (defaults: 6 s).
    pub l1_max_age: Option<Duration>,
    /// Per-endpoint metrics of the L1 client behind the node's chain view, shown on its
    /// `/metrics` page (`epoch_rfq_l1_…`) when given.
    pub l1_metrics: Option<epoch_rfq_l1::L1Metrics>,
    /// Time limit for one L1 read (snapshot or escrow lookup), default 5 s.
    pub l1_timeout: Duration,
    /// Check that the prover's escrow covers the bond (one cached L1 read per prover per
    /// refresh). Default on.
    pub check_escrow: bool,
    /// Caps of the quote pool.
    pub pool: PoolConfig,
    /// Serve the explorer (`GET /explorer` and `/explorer/api/…`) and keep the auction history
    /// it shows. Default on.
    pub explorer_enabled: bool,
    /// Where the history database lives (`history.sqlite` in the node's data directory);
    /// `None` keeps it in memory (lost at exit). Default `None`.
    pub history_dir: Option<PathBuf>,
    /// Epochs of history kept: the current one and the `history_epochs - 1` before it
    /// (default [`DEFAULT_HISTORY_EPOCHS`]; at least 1).
    pub history_epochs: u64,
    /// Where the explorer links transaction hashes: a URL with `{tx}` where the hash goes (e.g.
    /// an L1 block explorer's `https://…/tx/{tx}`). `None` shows the hashes without links.
    pub explorer_tx_url: Option<String>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        let edge = EdgeLimits::public();
        Self {
            http_addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, DEFAULT_HTTP_PORT)),
            max_body_bytes: edge.max_body_bytes,
            max_batch: 100,
            request_timeout: edge.request_timeout,
            header_read_timeout: edge.header_read_timeout,
            idle_timeout: edge.idle_timeout,
            max_connections: edge.max_connections,
            max_connections_per_ip: edge.max_connections_per_ip,
            rate_limit_per_sec: 50,
            rate_limit_burst: 100,
            rate_limit_max_clients: 10_000,
            refresh_interval: Duration::from_secs(1),
            l1_max_age: None,
            l1_metrics: None,
            l1_timeout: Duration::from_secs(5),
            check_escrow: true,
            pool: PoolConfig::default(),
            explorer_enabled: true,
            history_dir: None,
            history_epochs: DEFAULT_HISTORY_EPOCHS,
            explorer_tx_url: None,
        }
    }
}

impl NodeConfig {
    /// Defaults, listening on `127.0.0.1` with an OS-chosen port (tests, benches).
    pub fn local() -> Self {
        Self {
            http_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            ..Self::default()
        }
    }

    /// The HTTP edge's limits from this configuration.
    pub fn edge_limits(&self) -> EdgeLimits {
        EdgeLimits {
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            request_timeout: self.request_timeout,
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
            max_body_bytes: self.max_body_bytes,
            ..EdgeLimits::public()
        }
    }

    /// How old the L1 view may get before the node is not ready (see [`Self::l1_max_age`]).
    pub fn l1_max_age(&self) -> Duration {
        self.l1_max_age.unwrap_or_else(|| {
            (self.refresh_interval * 3).max(self.refresh_interval + self.l1_timeout)
        })
    }
}
