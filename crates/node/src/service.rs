//! The node: pool + L1 view + gossip + HTTP, and its handle.

use std::net::SocketAddr;
use std::sync::Arc;

use epoch_rfq_p2p::{IncomingMessage, P2pError, P2pHandle, Validation, ValidationPool};
use epoch_rfq_pool::{
    ChainSnapshot, InsertOutcome, QuotePool, RejectReason, check_verified, precheck_unverified,
};
use epoch_rfq_quote::{EpochProofQuote, VerifiedQuote};
use epoch_rfq_runtime::health::{Health, ServiceHealth};
use parking_lot::{Mutex, RwLock};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::chain::{ChainView, EscrowCache, KnownEscrow};
use crate::config::NodeConfig;
use crate::history::{History, HistoryError};
use crate::http;
use crate::metrics::{IngestPath, NodeMetrics};
use crate::types::{NodeInfo, PoolInfo};

/// Errors starting the node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Binding the HTTP listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The auction history (explorer) could not be opened.
    #[error(
        "cannot open the node's history (set NODE_EXPLORER_ENABLED=false to run without the explorer): {0}"
    )]
    History(#[from] HistoryError),
}

/// The node's state, shared by the HTTP handlers, the gossip task and the refresh task.
/// Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct NodeService {
    inner: Arc<Inner>,
}

struct Inner {
    config: NodeConfig,
    pool: Arc<QuotePool>,
    chain: Arc<dyn ChainView>,
    /// The last snapshot read from L1 (`None` until the first refresh succeeds). Swapped whole
    /// on each refresh; readers clone the `Arc`.
    snapshot: RwLock<Option<Arc<ChainSnapshot>>>,
    escrow: EscrowCache,
    p2p: Option<P2pHandle>,
    metrics: NodeMetrics,
    /// Successful refreshes so far (a caller can tell whether the view changed since it looked).
    generation: std::sync::atomic::AtomicU64,
    /// When a quote last made the node re-read L1 early; held while doing it, so that concurrent
    /// callers wait for that read instead of being refused (see `refresh_if_lagging`).
    lag_refresh: tokio::sync::Mutex<Option<std::time::Instant>>,
    /// `l1_view` and (with gossip) `p2p`, behind `GET /health` and `GET /ready`.
    health: Health,
    l1_health: ServiceHealth,
    p2p_health: Option<ServiceHealth>,
    /// When the last good snapshot was read and why the last read failed (if it did).
    l1_reads: Mutex<L1Reads>,
    started: std::time::Instant,
    /// The auction history the explorer shows (`None` when the explorer is off).
    history: Option<Arc<History>>,
}

#[derive(Default)]
struct L1Reads {
    last_ok: Option<std::time::Instant>,
    last_error: Option<String>,
}

impl std::fmt::Debug for NodeService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeService")
            .field("pool", &self.inner.pool)
            .field("p2p", &self.inner.p2p)
            .finish()
    }
}

impl NodeService {
    /// A node service without its tasks (see [`spawn`](Self::spawn)); useful to embed the pool
    /// logic in-process.
    pub fn new(config: NodeConfig, chain: Arc<dyn ChainView>, p2p: Option<P2pHandle>) -> Self {
        Self::with_history(config, chain, p2p, None)
    }

    fn with_history(
        config: NodeConfig,
        chain: Arc<dyn ChainView>,
        p2p: Option<P2pHandle>,
        history: Option<Arc<History>>,
    ) -> Self {
        let health = Health::new("node");
        let l1_health = health.register("l1_view", None);
        let p2p_health = p2p.as_ref().map(|_| health.register("p2p", None));
        let metrics = NodeMetrics::new(config.l1_metrics.as_ref(), &health);
        Self {
            inner: Arc::new(Inner {
                pool: Arc::new(QuotePool::new(config.pool)),
                config,
                chain,
                snapshot: RwLock::new(None),
                escrow: EscrowCache::default(),
                p2p,
                metrics,
                generation: std::sync::atomic::AtomicU64::new(0),
                lag_refresh: tokio::sync::Mutex::new(None),
                health,
                l1_health,
                p2p_health,
                l1_reads: Mutex::new(L1Reads::default()),
                started: std::time::Instant::now(),
                history,
            }),
        }
    }

    /// Starts the node: binds HTTP, reads a first snapshot (failure is logged, not fatal: the
    /// refresh task keeps trying and quotes are refused with `chain_unknown` meanwhile), and
    /// spawns the refresh task, the gossip task (when `p2p` is given) and the HTTP server.
    pub async fn spawn(
        config: NodeConfig,
        chain: Arc<dyn ChainView>,
        p2p: Option<(P2pHandle, mpsc::Receiver<IncomingMessage>)>,
    ) -> Result<NodeHandle, NodeError> {
        let addr = config.http_addr;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| NodeError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| NodeError::Bind { addr, source })?;
        let (handle, incoming) = match p2p {
            Some((h, rx)) => (Some(h), Some(rx)),
            None => (None, None),
        };
        let history = if config.explorer_enabled {
            Some(Arc::new(History::open(
                config.history_dir.as_deref(),
                config.history_epochs,
            )?))
        } else {
            None
        };
        let service = Self::with_history(config, chain, handle, history);
        service.refresh().await;

        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(service.clone().refresh_loop(stop_rx.clone())));
        tasks.push(tokio::spawn(service.clone().health_loop(stop_rx.clone())));
        if let Some(rx) = incoming {
            tasks.push(tokio::spawn(
                service.clone().gossip_loop(rx, stop_rx.clone()),
            ));
        }
        if let Some(history) = service.history() {
            let (for_snapshot, for_status) = (service.clone(), service.clone());
            tasks.push(tokio::spawn(history.clone().run(
                service.chain().clone(),
                move || for_snapshot.snapshot(),
                move || crate::explorer::status_value(&for_status),
                service.config().refresh_interval,
                service.config().l1_timeout,
                stop_rx.clone(),
            )));
        }
        let http_stop = CancellationToken::new();
        let server = tokio::spawn(http::serve(listener, service.clone(), http_stop.clone()));
        tracing::info!(%local_addr, "node HTTP JSON-RPC listening");
        Ok(NodeHandle {
            service,
            local_addr,
            stop: stop_tx,
            _http_stop_on_drop: http_stop.clone().drop_guard(),
            http_stop,
            tasks,
            server: Some(server),
        })
    }

    /// The pool.
    pub fn pool(&self) -> &Arc<QuotePool> {
        &self.inner.pool
    }

    /// The configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    /// The gossip handle, if gossip is enabled.
    pub fn p2p(&self) -> Option<&P2pHandle> {
        self.inner.p2p.as_ref()
    }

    /// The chain view.
    pub fn chain(&self) -> &Arc<dyn ChainView> {
        &self.inner.chain
    }

    /// The node's services' health (`l1_view`, and `p2p` with gossip): `GET /health` answers
    /// its liveness, `GET /ready` its readiness.
    pub fn health(&self) -> &Health {
        &self.inner.health
    }

    /// How long ago the last good L1 snapshot was read (`None`: never).
    pub fn l1_view_age(&self) -> Option<std::time::Duration> {
        self.inner.l1_reads.lock().last_ok.map(|t| t.elapsed())
    }

    /// Tells `l1_view`'s health from the age of the last good snapshot: ready while it is at
    /// most [`NodeConfig::l1_max_age`] old, not ready (naming the age and the last error) after.
    fn judge_l1_view(&self) {
        let reads = self.inner.l1_reads.lock();
        let max_age = self.inner.config.l1_max_age();
        let error = reads.last_error.as_deref();
        let health = &self.inner.l1_health;
        match reads.last_ok.map(|t| t.elapsed()) {
            // Still starting while no read has failed yet.
            None => {
                if let Some(e) = error {
                    health.degraded(format!("no view of L1 yet; last read: {e}"));
                }
            }
            Some(age) if age > max_age => health.degraded(format!(
                "L1 view is {:.1} s old (limit {:.1} s); last read: {}",
                age.as_secs_f64(),
                max_age.as_secs_f64(),
                error.unwrap_or("none failed yet (still reading)")
            )),
            Some(age) => {
                let block = self.snapshot().map_or(0, |s| s.l1_block_number);
                match error {
                    None => {
                        health.ok_with(format!("L1 block {block}, view {} ms old", age.as_millis()))
                    }
                    Some(e) => health.ok_with(format!(
                        "L1 block {block}, view {} ms old (limit {} ms); last read failed: {e}",
                        age.as_millis(),
                        max_age.as_millis()
                    )),
                }
            }
        }
    }

    /// Keeps `/ready` truthful while a refresh is stuck in a slow L1 read: judges the view's age
    /// every refresh interval, independently of the refresh task; reports gossip's peer count.
    async fn health_loop(self, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.inner.config.refresh_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => {
                    self.inner.l1_health.stopped();
                    return;
                }
            }
            self.judge_l1_view();
        }
    }

    /// The last L1 snapshot.
    pub fn snapshot(&self) -> Option<Arc<ChainSnapshot>> {
        self.inner.snapshot.read().clone()
    }

    /// Reads a fresh snapshot now, then evicts the epochs it makes stale. Returns whether the
    /// read succeeded (on failure the previous snapshot stays).
    pub async fn refresh(&self) -> bool {
        let read = tokio::time::timeout(self.inner.config.l1_timeout, self.inner.chain.snapshot());
        let snap = match read.await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                self.inner.metrics.refresh_error();
                tracing::warn!(error = %e, "L1 snapshot refresh failed; keeping the previous one");
                self.inner.l1_reads.lock().last_error = Some(e.to_string());
                self.judge_l1_view();
                return false;
            }
            Err(_) => {
                self.inner.metrics.refresh_error();
                tracing::warn!("L1 snapshot refresh timed out; keeping the previous one");
                self.inner.l1_reads.lock().last_error = Some(format!(
                    "timed out after {} ms",
                    self.inner.config.l1_timeout.as_millis()
                ));
                self.judge_l1_view();
                return false;
            }
        };
        let floor = snap.retain_floor();
        let current_slot = snap.current_slot;
        let snap = Arc::new(snap);
        *self.inner.snapshot.write() = Some(snap.clone());
        self.inner
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        *self.inner.l1_reads.lock() = L1Reads {
            last_ok: Some(std::time::Instant::now()),
            last_error: None,
        };
        self.judge_l1_view();
        // Escrow balances may have changed with the block.
        self.inner.escrow.clear();
        let removed = self.inner.pool.retain_from(floor);
        if removed > 0 {
            tracing::debug!(floor, removed, "evicted quotes of stale epochs");
        }
        let expired = self.inner.pool.remove_expired(current_slot);
        if expired > 0 {
            tracing::debug!(current_slot, expired, "evicted expired quotes");
        }
        // Revalidation against the new view: the chain-state checks a quote passed when it came
        // in (its epoch a complete candidate, its blocks and fees, unclaimed, in the claim
        // phase, not expired) are run again, so after a reorg changed the epoch's contents or
        // took its end back out, its quotes are no longer served (a claim would revert: the
        // quote is bound to the contents it priced). The signature and the escrow are not
        // checked again: the first cannot change, the second is checked at claim time by
        // `validateClaim` and would cost an L1 read per prover per refresh.
        let invalidated = self
            .inner
            .pool
            .retain_valid(|q| precheck_unverified(q.fields(), &snap).is_ok());
        if invalidated > 0 {
            tracing::info!(
                l1_block = snap.l1_block_number,
                invalidated,
                "removed quotes the new L1 view no longer matches (reorg?)"
            );
        }
        true
    }

    async fn refresh_loop(self, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.inner.config.refresh_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick is immediate; `spawn` already refreshed
        loop {
            tokio::select! {
                _ = tick.tick() => { self.refresh().await; }
                _ = stop.changed() => return,
            }
        }
    }

    async fn gossip_loop(
        self,
        mut rx: mpsc::Receiver<IncomingMessage>,
        mut stop: watch::Receiver<bool>,
    ) {
        let health = self.inner.p2p_health.clone();
        if let Some(h) = &health {
            h.ok();
        }
        let Some(p2p) = self.inner.p2p.clone() else {
            return;
        };
        // Validations run on every core, at most `validation_workers` at once; when all are busy
        // `submit` waits and the p2p service drops (Ignore, counted) what its queue cannot hold.
        let pool = ValidationPool::new(p2p);
        loop {
            let msg = tokio::select! {
                m = rx.recv() => match m {
                    Some(m) => m,
                    None => {
                        if let Some(h) = &health {
                            h.failed("the gossip service stopped: its message channel closed");
                        }
                        return;
                    }
                },
                _ = stop.changed() => {
                    if let Some(h) = &health {
                        h.stopped();
                    }
                    return;
                }
            };
            self.inner.metrics.gossip_received();
            let node = self.clone();
            let submitted = pool.submit(
                msg,
                move |msg| async move { node.judge(&msg.payload).await },
            );
            tokio::select! {
                () = submitted => {}
                _ = stop.changed() => {
                    if let Some(h) = &health {
                        h.stopped();
                    }
                    return;
                }
            }
        }
    }

    /// The gossip verdict on a received payload: `Accept` if stored, `Reject` for invalid input
    /// (penalises the sender), `Ignore` otherwise (stale, duplicate, not cheaper, caps).
    async fn judge(&self, payload: &[u8]) -> Validation {
        match self.ingest_wire(payload).await {
            Ok(o) if o.is_stored() => Validation::Accept,
            Ok(_) => Validation::Ignore,
            Err(r) if r.is_invalid_input() => Validation::Reject,
            Err(_) => Validation::Ignore,
        }
    }

    /// Gossip path: decode + validate + insert (no re-publish: gossipsub forwards on Accept).
    async fn ingest_wire(&self, payload: &[u8]) -> Result<InsertOutcome, RejectReason> {
        let path = IngestPath::Gossip;
        let quote = match EpochProofQuote::from_wire(payload) {
            Ok(q) => q,
            Err(e) => {
                let r = RejectReason::from_decode_error(e);
                self.inner.metrics.rejected(path, r.code());
                return Err(r);
            }
        };
        // Cheap checks before the signature recovery: useless but validly signed quotes are only
        // ignored (never penalised), so each must cost little (see `precheck_unverified`).
        let seen = self.generation();
        if let Some(snap) = self.snapshot()
            && let Err(r) = precheck_unverified(quote.fields(), &snap)
        {
            let fresh = if self.refresh_if_lagging(&r, seen).await {
                self.snapshot()
                    .map_or(Err(r), |s| precheck_unverified(quote.fields(), &s))
            } else {
                Err(r)
            };
            if let Err(r) = fresh {
                self.inner.metrics.rejected(path, r.code());
                if let Some(h) = &self.inner.history {
                    h.record_quote(quote.fields(), path, r.code(), false);
                }
                return Err(r);
            }
        }
        self.ingest(&quote, path).await
    }

    fn generation(&self) -> u64 {
        self.inner
            .generation
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// A quote refused as `epoch_not_complete` may be for an epoch that has just ended on L1
    /// while this node's view is still up to one refresh interval behind: a prover that saw the
    /// new L1 block first must not lose its quote (a gossiped quote is never sent twice).
    /// Returns whether the caller should check again: the view changed since the caller read it
    /// (`seen`, e.g. another quote's re-read that this call waited for), or this call re-read L1
    /// now. Re-reads happen at most once per 250 ms, so that quotes for the running epoch cannot
    /// make the node hammer L1.
    async fn refresh_if_lagging(&self, reason: &RejectReason, seen: u64) -> bool {
        if !matches!(reason, RejectReason::EpochNotComplete { .. }) {
            return false;
        }
        let mut last = self.inner.lag_refresh.lock().await;
        if self.generation() != seen {
            return true;
        }
        if last.is_some_and(|t| t.elapsed() < std::time::Duration::from_millis(250)) {
            return false;
        }
        *last = Some(std::time::Instant::now());
        self.refresh().await
    }

    /// Validates and stores a quote, counting the outcome. Does not publish.
    async fn ingest(
        &self,
        quote: &EpochProofQuote,
        path: IngestPath,
    ) -> Result<InsertOutcome, RejectReason> {
        let result = self.validate_and_insert(quote).await;
        let m = &self.inner.metrics;
        match &result {
            Ok(o) if o.is_stored() => m.accepted(path, o.code()),
            Ok(o) => m.rejected(path, o.code()),
            Err(r) => m.rejected(path, r.code()),
        }
        if let Some(h) = &self.inner.history {
            let (code, stored) = match &result {
                Ok(o) => (o.code(), o.is_stored()),
                Err(r) => (r.code(), false),
            };
            h.record_quote(quote.fields(), path, code, stored);
        }
        result
    }

    async fn validate_and_insert(
        &self,
        quote: &EpochProofQuote,
    ) -> Result<InsertOutcome, RejectReason> {
        let seen = self.generation();
        match self.validate_and_insert_once(quote).await {
            Err(r) if self.refresh_if_lagging(&r, seen).await => {
                self.validate_and_insert_once(quote).await
            }
            other => other,
        }
    }

    async fn validate_and_insert_once(
        &self,
        quote: &EpochProofQuote,
    ) -> Result<InsertOutcome, RejectReason> {
        let snap = self.snapshot().ok_or(RejectReason::ChainUnknown)?;
        let verified = quote
            .verify(snap.chain_id)
            .map_err(RejectReason::from_verify_error)?;
        let escrow = self.escrow_of(&verified).await;
        check_verified(&verified, &snap, &KnownEscrow(escrow))?;
        Ok(self.inner.pool.insert(verified))
    }

    /// The prover's bondable escrow, from the cache or L1 (`None`: unknown or not checked).
    async fn escrow_of(&self, quote: &VerifiedQuote) -> Option<alloy_primitives::U256> {
        if !self.inner.config.check_escrow {
            return None;
        }
        let prover = quote.fields().prover;
        if let Some(v) = self.inner.escrow.get(&prover) {
            return v;
        }
        let read = tokio::time::timeout(
            self.inner.config.l1_timeout,
            self.inner.chain.escrow_available(prover),
        );
        match read.await {
            Ok(Ok(v)) => {
                self.inner.escrow.put(prover, v);
                v
            }
            Ok(Err(e)) => {
                tracing::warn!(%prover, error = %e, "escrow lookup failed; check skipped");
                None
            }
            Err(_) => {
                tracing::warn!(%prover, "escrow lookup timed out; check skipped");
                None
            }
        }
    }

    /// Adds a quote from this process or from JSON-RPC: validate, insert, and publish on gossip
    /// when it was stored (best effort: no peers yet is not an error). Returns the pool's
    /// outcome; duplicates and not-cheaper quotes are `Ok` outcomes, not errors.
    pub async fn add_quote(
        &self,
        quote: &EpochProofQuote,
        path: IngestPath,
    ) -> Result<InsertOutcome, RejectReason> {
        let outcome = self.ingest(quote, path).await?;
        if outcome.is_stored()
            && let Some(p2p) = &self.inner.p2p
        {
            match p2p.publish(quote.to_wire().to_vec()).await {
                Ok(_) => {}
                Err(e) if e.is_benign_publish_outcome() => {
                    tracing::debug!(error = %e, "quote not gossiped");
                }
                Err(P2pError::Stopped) => tracing::debug!("gossip stopped; quote kept locally"),
                Err(e) => tracing::warn!(error = %e, "publishing quote on gossip failed"),
            }
        }
        Ok(outcome)
    }

    /// Quotes for `epoch`, best first.
    pub fn quotes(&self, epoch: u64) -> Vec<VerifiedQuote> {
        self.inner.pool.quotes(epoch)
    }

    /// `node_getNodeInfo`.
    pub async fn node_info(&self) -> NodeInfo {
        let snap = self.snapshot();
        let stats = self.inner.pool.stats();
        NodeInfo {
            version: concat!("epoch-rfq-node/", env!("CARGO_PKG_VERSION")).to_string(),
            chain_id: snap.as_ref().map(|s| s.chain_id),
            rollup_address: self.inner.chain.l1_contract_addresses().rollup_address,
            peer_id: self
                .inner
                .p2p
                .as_ref()
                .map(|p| p.local_peer_id().to_string()),
            peers: self.peers(),
            pool: PoolInfo {
                quotes: stats.quotes as u64,
                epochs: stats.epochs as u64,
                bytes: stats.bytes as u64,
            },
            current_slot: snap.as_ref().map(|s| s.current_slot),
            current_epoch: snap.as_ref().map(|s| s.current_epoch()),
            epoch_to_prove: snap
                .as_ref()
                .and_then(|s| s.epoch_to_prove.map(|v| v.epoch)),
            l1_block_number: snap.as_ref().map(|s| s.l1_block_number),
        }
    }

    /// The auction history, when the explorer is on.
    pub(crate) fn history(&self) -> Option<&Arc<History>> {
        self.inner.history.as_ref()
    }

    pub(crate) fn peers(&self) -> u64 {
        self.inner.p2p.as_ref().map_or(0, |p| p.metrics().peers)
    }

    pub(crate) fn metrics(&self) -> &NodeMetrics {
        &self.inner.metrics
    }

    /// Prometheus text exposition.
    pub fn render_metrics(&self) -> String {
        let snap = self.snapshot();
        let l1_view_age = self
            .l1_view_age()
            .unwrap_or_else(|| self.inner.started.elapsed());
        self.inner.metrics.render(
            &self.inner.pool.stats(),
            self.peers(),
            snap.map(|s| s.current_slot),
            l1_view_age,
            self.inner.p2p.as_ref(),
        )
    }
}

/// A running node. Call [`shutdown`](Self::shutdown) to stop it and wait; dropping the handle
/// also stops the HTTP server and the node's tasks (their stop signal closes), without waiting
/// and without stopping the gossip service.
pub struct NodeHandle {
    service: NodeService,
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    /// Stops the HTTP server; the guard stops it too when the handle is dropped.
    http_stop: CancellationToken,
    _http_stop_on_drop: DropGuard,
    tasks: Vec<JoinHandle<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl std::fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeHandle")
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

impl NodeHandle {
    /// The bound HTTP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://<local_addr>/`, for clients (an unspecified bind address becomes 127.0.0.1).
    pub fn url(&self) -> String {
        let mut a = self.local_addr;
        if a.ip().is_unspecified() {
            a.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{a}/")
    }

    /// The node's service (pool, add/get, refresh).
    pub fn service(&self) -> &NodeService {
        &self.service
    }

    /// Stops the HTTP server (in-flight requests finish), the refresh and gossip tasks, and the
    /// gossip service if any. Waits for them to end.
    pub async fn shutdown(mut self) {
        self.http_stop.cancel();
        let _ = self.stop.send(true);
        if let Some(server) = self.server.take() {
            match server.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "HTTP server ended with an error"),
                Err(e) => tracing::warn!(error = %e, "HTTP server task failed"),
            }
        }
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        if let Some(p2p) = self.service.p2p() {
            p2p.shutdown().await;
        }
    }
}
