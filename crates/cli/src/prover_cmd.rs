//! `epoch-rfq prover`: runs a prover node (SPEC §6): keeps its escrow deposit topped up, quotes
//! each completed epoch, proves the epochs it wins and submits the proofs.
//!
//! Every setting is an env var (the seed's names) and a flag; see `epoch-rfq prover --help`.
//! SIGINT/SIGTERM stop it gracefully (see [`run_with_sink`]); an unfinished proving job resumes
//! at the next start.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use epoch_rfq_node::NodeClient;
use epoch_rfq_p2p::P2pService;
use epoch_rfq_prover::config::Pricing;
use epoch_rfq_prover::cost::{ChainGasPrice, CostQuoteProvider};
use epoch_rfq_prover::{
    Coordination, HttpQuoteProvider, NodeSettings, ProverArgs, ProverMetrics, ProverNode,
    ProverStore, QuoteProvider, QuoteSink, SimpleQuoteProvider, prover_from_config,
};
use epoch_rfq_runtime::lifecycle::Lifecycle;
use prometheus_client::registry::Registry;

use crate::p2p_args::P2pArgs;
use crate::wiring::{GossipSink, NodeApiSink, ignore_incoming_gossip};

use crate::keys::KeyArgs;

/// `epoch-rfq prover` options.
#[derive(Debug, Args)]
pub struct ProverCommand {
    #[command(flatten)]
    pub prover: ProverArgs,

    #[command(flatten)]
    pub key: KeyArgs,

    /// Serve Prometheus metrics on http://ADDR/metrics (e.g. 127.0.0.1:9464). Unset: not served.
    #[arg(long, env = "PROVER_METRICS_ADDR", value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    #[command(flatten)]
    pub p2p: P2pArgs,

    /// Timeout of one request to the node (PROVER_COORDINATION_NODE_URL).
    #[arg(long, env = "PROVER_NODE_REQUEST_TIMEOUT_MS", default_value_t = 5_000)]
    pub node_request_timeout_ms: u64,
}

/// Runs the prover until SIGINT/SIGTERM. Quotes go to the node's JSON-RPC API when
/// PROVER_COORDINATION_NODE_URL is set; the P2P path needs a gossip sink from the caller (see
/// [`run_with_sink`]).
pub async fn run(args: ProverCommand) -> Result<()> {
    let config = args.prover.validate()?;
    let sink: Arc<dyn QuoteSink> = match &config.coordination {
        Coordination::Http { url } => {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_millis(args.node_request_timeout_ms.max(1)))
                .build()
                .context("building the HTTP client")?;
            let client = NodeClient::with_client(http, url.clone());
            Arc::new(NodeApiSink(client))
        }
        Coordination::P2p => {
            let p2p_config = args.p2p.to_config(&config.data_directory, "prover")?;
            let (handle, incoming) = P2pService::spawn(p2p_config)
                .await
                .context("starting P2P")?;
            tracing::info!(peer_id = %handle.local_peer_id(), "gossiping quotes over P2P");
            ignore_incoming_gossip(handle.clone(), incoming);
            Arc::new(GossipSink(handle))
        }
    };
    run_with_sink(args, sink).await
}

/// Runs the prover with `sink` as its quote path (the caller builds the P2P or HTTP sink), its
/// metrics, `/health` and `/ready` served on `--metrics-addr` when given, until SIGINT/SIGTERM.
///
/// On a signal the prover stops gracefully within `SHUTDOWN_TIMEOUT_MS`: no new quote; a
/// deposit or proof transaction in flight is let settle (past the grace it stays recorded in
/// the store and is settled at the next start); every job stays resumable. A service that ends
/// on its own stops the process with a non-zero exit naming it.
pub async fn run_with_sink(args: ProverCommand, sink: Arc<dyn QuoteSink>) -> Result<()> {
    let life = Lifecycle::from_env()?;
    let mut registry = Registry::default();
    let metrics = ProverMetrics::new(&mut registry);
    let node = build(&args, sink, metrics).await?;
    epoch_rfq_runtime::metrics::register_ready(&mut registry, node.health());
    if let Some(addr) = args.metrics_addr {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} for metrics"))?;
        tracing::info!(%addr, "serving /metrics, /health and /ready");
        let registry = Arc::new(registry);
        let health = node.health();
        let token = life.token();
        life.spawn_critical("metrics_server", async move {
            tokio::select! {
                served = epoch_rfq_prover::metrics::serve_metrics(listener, registry, Some(health)) => served,
                () = token.cancelled() => Ok(()),
            }
        });
    }
    let mut handle = node.start().await?;
    let token = life.token();
    life.spawn_critical("prover", async move {
        tokio::select! {
            () = token.cancelled() => {
                handle.stop().await;
                Ok(())
            }
            ended = handle.service_ended() => Err(ended),
        }
    });
    life.run().await?;
    Ok(())
}

/// Validates the settings, loads the key, connects to L1 (checking the chain id) and opens the
/// store: a prover node ready to [`ProverNode::start`]. For callers that run several roles in one
/// process (the sandbox) with their own metrics registry and shutdown.
pub async fn build(
    args: &ProverCommand,
    sink: Arc<dyn QuoteSink>,
    metrics: ProverMetrics,
) -> Result<ProverNode> {
    let config = args.prover.validate()?;
    let signer = args.key.load()?;
    let l1 = args
        .prover
        .l1
        .connect_with_metrics(Some(signer.clone()), &metrics.l1)
        .await?;
    let store = ProverStore::open(&config.data_directory).with_context(|| {
        format!(
            "cannot open the prover database in {}",
            config.data_directory.display()
        )
    })?;
    let ledger = epoch_rfq_prover::market::default_ledger(config.max_pending_jobs);
    let quote_provider: Arc<dyn QuoteProvider> = match &config.pricing {
        Pricing::Fixed {
            basis_point_fee,
            bond_amount,
        } => Arc::new(SimpleQuoteProvider::new(*basis_point_fee, *bond_amount)),
        Pricing::Service {
            url,
            timeout,
            retries,
        } => Arc::new(HttpQuoteProvider::new(url.clone(), *timeout, *retries)),
        Pricing::Cost { path } => {
            let cost = CostQuoteProvider::open(
                path,
                *l1.time(),
                Arc::new(ChainGasPrice(l1.provider().clone())),
                ledger.clone(),
            )
            .with_context(|| format!("QUOTE_PROVIDER_COST_FILE={}", path.display()))?;
            Arc::new(cost)
        }
    };
    Ok(ProverNode::new(
        NodeSettings::from_config(&config),
        l1,
        signer,
        quote_provider,
        prover_from_config(&config.prover),
        sink,
        store,
        metrics,
    )?
    .with_ledger(ledger))
}
