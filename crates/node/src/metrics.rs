//! Prometheus metrics of the node (`GET /metrics`).

use std::sync::atomic::AtomicU64;

use epoch_rfq_pool::{PoolStats, RejectReason};
use epoch_rfq_runtime::edge::EdgeMetrics;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Where a quote entered the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IngestPath {
    /// `node_addEpochProofQuote` over HTTP.
    Rpc,
    /// Received from a gossip peer.
    Gossip,
    /// [`crate::NodeService::add_quote`] from the same process (e.g. an in-process prover).
    Local,
}

impl IngestPath {
    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Rpc => "rpc",
            Self::Gossip => "gossip",
            Self::Local => "local",
        }
    }
}

type Labels2 = [(&'static str, &'static str); 2];
type Labels1 = [(&'static str, &'static str); 1];

/// The node's metrics and their registry.
pub(crate) struct NodeMetrics {
    registry: Registry,
    /// Quotes stored, by path and outcome (added, replaced, …).
    accepted: Family<Labels2, Counter>,
    /// Quotes refused, by path and reason code (validation reasons, caps, duplicate,
    /// not_cheaper).
    rejected: Family<Labels2, Counter>,
    /// Gossip messages received.
    gossip_received: Counter,
    /// JSON-RPC calls by method (unknown methods are counted as "unknown").
    rpc_calls: Family<Labels1, Counter>,
    /// HTTP requests refused by the rate limiter.
    rate_limited: Counter,
    /// Failed L1 refreshes.
    refresh_errors: Counter,
    pool_quotes: Gauge,
    pool_epochs: Gauge,
    pool_bytes: Gauge,
    pool_evicted: Gauge,
    peers: Gauge,
    current_slot: Gauge,
    /// Seconds since the last good L1 snapshot (since start while there is none).
    l1_view_age: Gauge<f64, AtomicU64>,
    /// The HTTP edge's counters (connections refused, closed, open; early 413s; 408s).
    edge: EdgeMetrics,
}

impl NodeMetrics {
    pub(crate) fn new(
        l1: Option<&epoch_rfq_l1::L1Metrics>,
        health: &epoch_rfq_runtime::health::Health,
    ) -> Self {
        let accepted = Family::<Labels2, Counter>::default();
        let rejected = Family::<Labels2, Counter>::default();
        let gossip_received = Counter::default();
        let rpc_calls = Family::<Labels1, Counter>::default();
        let rate_limited = Counter::default();
        let refresh_errors = Counter::default();
        let (pool_quotes, pool_epochs, pool_bytes, pool_evicted, peers, current_slot) = (
            Gauge::default(),
            Gauge::default(),
            Gauge::default(),
            Gauge::default(),
            Gauge::default(),
            Gauge::default(),
        );
        // Metrics are `Arc`s inside: the registry and `Self` share them.
        let mut root = Registry::default();
        epoch_rfq_runtime::metrics::register_build_info(&mut root, "node");
        epoch_rfq_runtime::metrics::register_ready(&mut root, health.clone());
        if let Some(l1) = l1 {
            l1.register(&mut root);
        }
        let r = root.sub_registry_with_prefix("epoch_rfq_node");
        r.register(
            "quotes_accepted",
            "Quotes stored in the pool, by entry path and outcome",
            accepted.clone(),
        );
        r.register(
            "quotes_rejected",
            "Quotes not stored, by entry path and reason code",
            rejected.clone(),
        );
        r.register(
            "gossip_received",
            "Quote messages received from gossip peers",
            gossip_received.clone(),
        );
        r.register("rpc_calls", "JSON-RPC calls by method", rpc_calls.clone());
        r.register(
            "http_rate_limited",
            "HTTP requests refused by the per-client rate limit",
            rate_limited.clone(),
        );
        r.register(
            "l1_refresh_errors",
            "Failed reads of the L1 snapshot",
            refresh_errors.clone(),
        );
        r.register("pool_quotes", "Quotes in the pool", pool_quotes.clone());
        r.register("pool_epochs", "Epochs in the pool", pool_epochs.clone());
        r.register(
            "pool_bytes",
            "Bytes charged against the pool's byte cap",
            pool_bytes.clone(),
        );
        r.register(
            "pool_evicted_quotes",
            "Quotes evicted from the pool (room or stale epochs) since start",
            pool_evicted.clone(),
        );
        r.register(
            "current_slot",
            "Current L2 slot (last snapshot)",
            current_slot.clone(),
        );
        let l1_view_age = Gauge::<f64, AtomicU64>::default();
        r.register(
            "l1_view_age_seconds",
            "Seconds since the node's last good L1 snapshot (since start while it has none)",
            l1_view_age.clone(),
        );
        let edge = EdgeMetrics::new();
        edge.register(r);
        root.sub_registry_with_prefix("epoch_rfq_p2p").register(
            "peers",
            "Connected gossip peers",
            peers.clone(),
        );
        // Pre-create the rejection series so dashboards see zeros rather than gaps.
        for path in [IngestPath::Rpc, IngestPath::Gossip, IngestPath::Local] {
            for code in RejectReason::CODES {
                let _ = rejected.get_or_create(&[("path", path.label()), ("reason", code)]);
            }
        }
        Self {
            registry: root,
            accepted,
            rejected,
            gossip_received,
            rpc_calls,
            rate_limited,
            refresh_errors,
            pool_quotes,
            pool_epochs,
            pool_bytes,
            pool_evicted,
            peers,
            current_slot,
            l1_view_age,
            edge,
        }
    }

    pub(crate) fn edge(&self) -> &EdgeMetrics {
        &self.edge
    }

    pub(crate) fn accepted(&self, path: IngestPath, outcome: &'static str) {
        self.accepted
            .get_or_create(&[("path", path.label()), ("outcome", outcome)])
            .inc();
    }

    pub(crate) fn rejected(&self, path: IngestPath, reason: &'static str) {
        self.rejected
            .get_or_create(&[("path", path.label()), ("reason", reason)])
            .inc();
    }

    pub(crate) fn gossip_received(&self) {
        self.gossip_received.inc();
    }

    pub(crate) fn rpc_call(&self, method: &'static str) {
        self.rpc_calls.get_or_create(&[("method", method)]).inc();
    }

    pub(crate) fn rate_limited(&self) {
        self.rate_limited.inc();
    }

    pub(crate) fn refresh_error(&self) {
        self.refresh_errors.inc();
    }

    /// Text exposition after updating the gauges.
    /// With `p2p`, the gossip service's own metrics follow the node's.
    pub(crate) fn render(
        &self,
        pool: &PoolStats,
        peers: u64,
        current_slot: Option<u64>,
        l1_view_age: std::time::Duration,
        p2p: Option<&epoch_rfq_p2p::P2pHandle>,
    ) -> String {
        self.l1_view_age.set(l1_view_age.as_secs_f64());
        let g = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.pool_quotes.set(g(pool.quotes as u64));
        self.pool_epochs.set(g(pool.epochs as u64));
        self.pool_bytes.set(g(pool.bytes as u64));
        self.pool_evicted.set(g(pool.evicted_epochs
            + pool.evicted_for_room
            + pool.invalidated));
        self.peers.set(g(peers));
        if let Some(s) = current_slot {
            self.current_slot.set(g(s));
        }
        let mut out = String::with_capacity(8 * 1024);
        // Writing into a String cannot fail.
        let _ = encode_registry(&mut out, &self.registry);
        if let Some(p2p) = p2p {
            let _ = p2p.encode_metrics(&mut out);
        }
        let _ = encode_eof(&mut out);
        out
    }
}
