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

    /// Address of the JSON-RPC API (POST /, GET /health, GET /metrics).
    #[arg(long, env = "NODE_HTTP_ADDR", default_value = "0.0.0.0:8000")]
    pub http_addr: SocketAddr,

    /// Gossip quotes with other nodes and provers over libp2p.
    #[arg(long, env = "P2P_ENABLED", default_value_t = false,
          value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub p2p_enabled: bool,

    #[command(flatten)]
    pub p2p: P2pArgs,

    /// Where the node keeps its P2P identity key.
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
}

/// Starts a node and returns its handle (the caller decides how long it runs).
pub async fn start(args: &NodeArgs) -> Result<NodeHandle> {
    let client = args.l1.connect(None).await?;
    let client_rollup = client.rollup_address();
    if args.l1_refresh_ms == 0 {
        bail!("NODE_L1_REFRESH_MS must be greater than zero");
    }
    let mut config = NodeConfig {
        http_addr: args.http_addr,
        ..NodeConfig::default()
    };
    config.rate_limit_per_sec = args.rate_limit_per_sec;
    config.refresh_interval = Duration::from_millis(args.l1_refresh_ms);
    let p2p = if args.p2p_enabled {
        let p2p_config = args.p2p.to_config(&args.data_directory)?;
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
    if let Some(peer) = peer {
        tracing::info!(
            peer_id = %peer,
            "P2P enabled; others can bootstrap from /ip4/<this host>/tcp/{}/p2p/{peer}",
            args.p2p.p2p_port
        );
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
