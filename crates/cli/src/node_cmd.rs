//! `epoch-rfq node`: the quote pool, gossip and JSON-RPC API (SPEC §5).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use epoch_rfq_l1::args::L1Args;
use epoch_rfq_node::{L1ChainView, NodeConfig, NodeHandle, NodeService};
use epoch_rfq_p2p::P2pService;
use epoch_rfq_runtime::lifecycle::Lifecycle;

use crate::p2p_args::P2pArgs;

/// Settings of `epoch-rfq node`.
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// ETHEREUM_HOSTS, L1_CHAIN_ID, ROLLUP_CONTRACT_ADDRESS (the Rollup whose quotes this node
    /// pools).
    #[command(flatten)]
    pub l1: L1Args,

    /// Address of the JSON-RPC API (POST /, GET /health, GET /ready, GET /metrics). All
    /// interfaces by default: the API is public by design (provers on other hosts post quotes);
    /// the connection caps and timeouts below keep it serving.
    #[arg(long, env = "NODE_HTTP_ADDR", default_value = "0.0.0.0:8000")]
    pub http_addr: SocketAddr,

    /// Connection caps and timeouts of the JSON-RPC port.
    #[command(flatten)]
    pub http_limits: NodeHttpLimitArgs,

    /// Gossip quotes with other nodes and provers over libp2p.
    #[arg(long, env = "P2P_ENABLED", default_value_t = false,
          value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub p2p_enabled: bool,

    #[command(flatten)]
    pub p2p: P2pArgs,

    /// Where the node keeps its P2P identity key and its auction history.
    #[arg(
        long = "data-dir",
        env = "DATA_DIRECTORY",
        default_value = "./data/node"
    )]
    pub data_directory: PathBuf,

    /// JSON-RPC requests per second allowed per client IP (0: no limit).
    #[arg(long, env = "NODE_RATE_LIMIT_PER_SEC", default_value_t = 50)]
    pub rate_limit_per_sec: u32,

    /// How often the node re-reads L1 (epoch to prove, its blocks, claims).
    #[arg(long, env = "NODE_L1_REFRESH_MS", default_value_t = 1000)]
    pub l1_refresh_ms: u64,

    /// The node is not ready (GET /ready 503) when its L1 view is older than this. 0: three
    /// refresh intervals, at least one interval plus the 5 s L1 read limit (6 s by default).
    #[arg(long, env = "NODE_L1_MAX_AGE_MS", default_value_t = 0)]
    pub l1_max_age_ms: u64,

    /// Serve the explorer at GET /explorer (and its JSON under /explorer/api/) and keep the
    /// auction history it shows in DATA_DIRECTORY/history.sqlite.
    #[arg(long, env = "NODE_EXPLORER_ENABLED", default_value_t = true,
          value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub explorer_enabled: bool,

    /// Epochs of auction history kept (the current one and those before it).
    #[arg(long, env = "NODE_HISTORY_EPOCHS", default_value_t = epoch_rfq_node::DEFAULT_HISTORY_EPOCHS)]
    pub history_epochs: u64,

    /// Link the explorer's transaction hashes to this URL, `{tx}` replaced by the hash (e.g. an
    /// L1 block explorer's `https://…/tx/{tx}`).
    #[arg(long, env = "NODE_EXPLORER_TX_URL")]
    pub explorer_tx_url: Option<String>,
}

/// The JSON-RPC port's edge limits (defaults: `NodeConfig::default()`).
#[derive(Debug, Clone, Args)]
pub struct NodeHttpLimitArgs {
    /// Open HTTP connections at most, all clients together; more are closed at accept.
    #[arg(long, env = "NODE_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,

    /// Open HTTP connections at most per client IP; more are closed at accept.
    #[arg(long, env = "NODE_MAX_CONNECTIONS_PER_IP", default_value_t = 32)]
    pub max_connections_per_ip: usize,

    /// A request head must be complete within this many ms (slow-header clients are closed).
    #[arg(long, env = "NODE_HEADER_READ_TIMEOUT_MS", default_value_t = 5_000)]
    pub header_read_timeout_ms: u64,

    /// A connection that sends nothing, or idles between requests, is closed after this many ms.
    #[arg(long, env = "NODE_IDLE_TIMEOUT_MS", default_value_t = 15_000)]
    pub idle_timeout_ms: u64,

    /// A request (body read included) taking longer than this many ms is answered 408.
    #[arg(long, env = "NODE_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub request_timeout_ms: u64,

    /// Largest request body in bytes; a larger declared Content-Length is answered 413 at once.
    #[arg(long, env = "NODE_MAX_BODY_BYTES", default_value_t = 256 * 1024)]
    pub max_body_bytes: usize,
}

impl NodeHttpLimitArgs {
    /// Sets these limits (and the L1 view's age limit) on `config`, refusing zeros.
    pub fn apply(&self, args: &NodeArgs, config: &mut NodeConfig) -> Result<()> {
        let positive = |value: u64, name: &str| {
            if value == 0 {
                bail!("{name} must be greater than zero");
            }
            Ok(Duration::from_millis(value))
        };
        if self.max_connections == 0 || self.max_connections_per_ip == 0 {
            bail!("NODE_MAX_CONNECTIONS and NODE_MAX_CONNECTIONS_PER_IP must be greater than zero");
        }
        config.max_connections = self.max_connections;
        config.max_connections_per_ip = self.max_connections_per_ip;
        config.header_read_timeout =
            positive(self.header_read_timeout_ms, "NODE_HEADER_READ_TIMEOUT_MS")?;
        config.idle_timeout = positive(self.idle_timeout_ms, "NODE_IDLE_TIMEOUT_MS")?;
        config.request_timeout = positive(self.request_timeout_ms, "NODE_REQUEST_TIMEOUT_MS")?;
        config.max_body_bytes = self.max_body_bytes.max(1);
        config.l1_max_age =
            (args.l1_max_age_ms > 0).then(|| Duration::from_millis(args.l1_max_age_ms));
        Ok(())
    }
}

/// Starts a node and returns its handle (the caller decides how long it runs).
pub async fn start(args: &NodeArgs) -> Result<NodeHandle> {
    let l1_metrics = epoch_rfq_l1::L1Metrics::new();
    let client = args.l1.connect_with_metrics(None, &l1_metrics).await?;
    let client_rollup = client.rollup_address();
    if args.l1_refresh_ms == 0 {
        bail!("NODE_L1_REFRESH_MS must be greater than zero");
    }
    let mut config = NodeConfig {
        http_addr: args.http_addr,
        l1_metrics: Some(l1_metrics),
        ..NodeConfig::default()
    };
    config.rate_limit_per_sec = args.rate_limit_per_sec;
    config.refresh_interval = Duration::from_millis(args.l1_refresh_ms);
    args.http_limits.apply(args, &mut config)?;
    if args.history_epochs == 0 {
        bail!("NODE_HISTORY_EPOCHS must be at least 1");
    }
    if let Some(url) = &args.explorer_tx_url
        && !(url.contains("{tx}") && (url.starts_with("https://") || url.starts_with("http://")))
    {
        bail!("NODE_EXPLORER_TX_URL must be an http(s) URL containing {{tx}}, got {url:?}");
    }
    config.explorer_enabled = args.explorer_enabled;
    config.history_dir = Some(args.data_directory.clone());
    config.history_epochs = args.history_epochs;
    config.explorer_tx_url = args.explorer_tx_url.clone();
    let p2p = if args.p2p_enabled {
        let p2p_config = args.p2p.to_config(&args.data_directory, "node")?;
        Some(
            P2pService::spawn(p2p_config)
                .await
                .context("starting P2P")?,
        )
    } else {
        None
    };
    let peer = p2p.as_ref().map(|(handle, _)| handle.local_peer_id());
    let node = NodeService::spawn(config, Arc::new(L1ChainView::new(client)), p2p)
        .await
        .context("starting the node")?;
    tracing::info!(url = %node.url(), rollup = %client_rollup, "node JSON-RPC listening");
    if args.explorer_enabled {
        tracing::info!(url = %format!("{}explorer", node.url()), "explorer");
    }
    if let Some(peer) = peer {
        let announced = epoch_rfq_p2p::parse_announce_addresses(&args.p2p.p2p_announce_addresses)
            .unwrap_or_default();
        match announced.first() {
            Some(addr) => tracing::info!(
                peer_id = %peer,
                "P2P enabled; others can bootstrap from {}/p2p/{peer}",
                epoch_rfq_p2p::without_peer_id(addr)
            ),
            None => tracing::info!(
                peer_id = %peer,
                "P2P enabled; others can bootstrap from /ip4/<this host>/tcp/{}/p2p/{peer} \
                 (set P2P_ANNOUNCE_ADDRESSES behind NAT or in a container)",
                args.p2p.p2p_port
            ),
        }
    }
    Ok(node)
}

/// `epoch-rfq node`: runs until SIGINT/SIGTERM, then stops gracefully within
/// `SHUTDOWN_TIMEOUT_MS` (the HTTP server finishes its in-flight requests, the refresh and gossip
/// tasks and the P2P service stop).
pub async fn run(args: NodeArgs) -> Result<()> {
    let life = Lifecycle::from_env()?;
    let node = start(&args).await?;
    let token = life.token();
    life.spawn_critical("node", async move {
        token.cancelled().await;
        node.shutdown().await;
        Ok::<(), std::convert::Infallible>(())
    });
    life.run().await?;
    Ok(())
}
