//! `epoch-rfq proposer`: runs a proposer (SPEC §7) until Ctrl-C: a block in every slot it owns,
//! the RFQ for the epoch to prove in its claim phase, the claim of the cheapest valid quote.
//!
//! Settings are [`ProposerArgs`] (every one an env var and a flag) plus the signing key
//! ([`KeyArgs`]): `PROPOSER_PUBLISHER_PRIVATE_KEY`, or a keystore (`--keystore`/`PROPOSER_KEYSTORE`
//! with `--password-file`/`PROPOSER_KEYSTORE_PASSWORD_FILE`); never a flag value (it would show in
//! `ps` and shell history). Where quotes come from is the caller's choice ([`QuoteSource`]): `main` builds
//! the node-URL source from `PROPOSER_COORDINATION_NODE_URL` ([`ProposerCmdArgs::node_url`]), the
//! sandbox passes its own.
//!
//! With `PROPOSER_METRICS_ADDR` (`--metrics-addr`), [`run_with_ops`] serves `GET /metrics`
//! (Prometheus text), `GET /health` (liveness) and `GET /ready` (readiness) from the proposer's
//! services `block_producer` and `rfq` ([`epoch_rfq_runtime::health`]).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use epoch_rfq_proposer::{Proposer, ProposerArgs, ProposerMetrics, QuoteSource};
use epoch_rfq_runtime::health::Health;
use prometheus_client::registry::Registry;

use crate::keys::{KeyArgs, KeyRole};

/// `epoch-rfq proposer` options.
#[derive(Debug, Clone, Args)]
pub struct ProposerCmdArgs {
    #[command(flatten)]
    pub proposer: ProposerArgs,

    #[command(flatten)]
    pub key: KeyArgs,

    /// Serve GET /metrics, /health and /ready on this address (e.g. 127.0.0.1:9465). Unset: not
    /// served.
    #[arg(long = "metrics-addr", env = "PROPOSER_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
}

impl ProposerCmdArgs {
    /// `PROPOSER_COORDINATION_NODE_URL`, if set (trimmed, non-empty).
    pub fn node_url(&self) -> Option<&str> {
        self.proposer
            .proposer_coordination_node_url
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
}

/// Validates the settings, connects to L1 (checking `L1_CHAIN_ID` against the node) and builds
/// the proposer, without starting it (the sandbox subscribes to its events first).
pub async fn build(
    args: ProposerCmdArgs,
    source: Arc<dyn QuoteSource>,
    metrics: ProposerMetrics,
) -> Result<Proposer> {
    let settings = args.proposer.validate()?;
    let key = args.key.load_for(KeyRole::Proposer)?;
    let l1 = args
        .proposer
        .l1
        .connect_with_metrics(Some(key), &metrics.l1)
        .await?;
    let proposer = Proposer::new(l1, source, settings.config)?.with_metrics(metrics);
    tracing::info!(
        proposer = %proposer.address(),
        rollup = %settings.rollup,
        node = settings.node_url.as_deref().unwrap_or("-"),
        "proposer configured"
    );
    Ok(proposer)
}

/// [`build`], then run until `shutdown` completes.
pub async fn run(
    args: ProposerCmdArgs,
    source: Arc<dyn QuoteSource>,
    metrics: ProposerMetrics,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let mut proposer = build(args, source, metrics).await?;
    proposer.run(shutdown).await;
    Ok(())
}

/// What the proposer's ops endpoints serve: its metrics in their registry, and its health.
#[derive(Debug, Clone)]
pub struct ProposerOps {
    /// The registry behind `/metrics`.
    pub registry: Arc<Registry>,
    /// The proposer's metrics, registered in `registry`.
    pub metrics: ProposerMetrics,
    /// The role `proposer`'s health, behind `/health` and `/ready`.
    pub health: Health,
}

impl ProposerOps {
    /// A registry with the proposer's metrics, and an empty health for the role `proposer`.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let metrics = ProposerMetrics::new(&mut registry);
        let health = Health::new("proposer");
        epoch_rfq_runtime::metrics::register_ready(&mut registry, health.clone());
        Self {
            registry: Arc::new(registry),
            metrics,
            health,
        }
    }
}

impl Default for ProposerOps {
    fn default() -> Self {
        Self::new()
    }
}

/// Listens on `addr` and serves [`serve_ops`] in a task; returns the bound address (`addr` may
/// ask for port 0).
pub async fn start_ops_server(
    addr: SocketAddr,
    ops: &ProposerOps,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on PROPOSER_METRICS_ADDR={addr}"))?;
    let bound = listener.local_addr()?;
    let (registry, health) = (ops.registry.clone(), ops.health.clone());
    let task = tokio::spawn(async move {
        if let Err(err) = serve_ops(listener, registry, health).await {
            tracing::error!(%err, "the proposer's metrics server stopped");
        }
    });
    tracing::info!(addr = %bound, "serving /metrics, /health and /ready");
    Ok((bound, task))
}

/// Serves `GET /metrics` (the registry, OpenMetrics text), `GET /health` (liveness) and
/// `GET /ready` (readiness), both 200 or 503 with the JSON of [`Health`], through the hardened
/// HTTP edge with internal limits.
pub async fn serve_ops(
    listener: tokio::net::TcpListener,
    registry: Arc<Registry>,
    health: Health,
) -> std::io::Result<()> {
    epoch_rfq_runtime::edge::serve_ops(listener, registry, health).await
}

/// [`build`] with `ops`' metrics and health, serving them on `--metrics-addr` when given, then
/// run until `shutdown` completes.
pub async fn run_with_ops(
    args: ProposerCmdArgs,
    source: Arc<dyn QuoteSource>,
    ops: ProposerOps,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let server = match args.metrics_addr {
        Some(addr) => Some(start_ops_server(addr, &ops).await?.1),
        None => None,
    };
    let mut proposer = build(args, source, ops.metrics.clone())
        .await?
        .with_health(&ops.health);
    proposer.run(shutdown).await;
    if let Some(server) = server {
        server.abort();
    }
    Ok(())
}

/// Completes on Ctrl-C (SIGINT). If the handler cannot be installed, never completes (the process
/// is then stopped by a signal's default action) rather than stopping the proposer at once.
pub async fn ctrl_c() {
    if let Err(e) = tokio::signal::ctrl_c().await {
        tracing::warn!(error = %e, "cannot listen for Ctrl-C");
        std::future::pending::<()>().await;
    }
}
