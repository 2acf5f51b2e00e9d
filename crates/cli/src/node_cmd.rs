//! `epoch-rfq node`: the quote pool, gossip and JSON-RPC API (SPEC §5).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::Address;
use anyhow::{Context, Result, bail};
use clap::Args;
use epoch_rfq_l1::L1Client;
use epoch_rfq_node::{L1ChainView, NodeConfig, NodeHandle, NodeService};
use epoch_rfq_p2p::P2pService;

use crate::p2p_args::P2pArgs;

/// Settings of `epoch-rfq node`.
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// L1 JSON-RPC URL.
    #[arg(
        long = "l1-rpc-url",
        env = "ETHEREUM_HOSTS",
        default_value = "http://127.0.0.1:8545"
    )]
    pub ethereum_hosts: String,

    /// Expected L1 chain id; the node refuses to start against another chain.
    #[arg(long, env = "L1_CHAIN_ID")]
    pub l1_chain_id: Option<u64>,

    /// The Rollup contract whose quotes this node pools.
    #[arg(long = "rollup", env = "ROLLUP_CONTRACT_ADDRESS")]
    pub rollup: Address,

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
    let client = L1Client::connect(&args.ethereum_hosts, args.rollup, None)
        .await
        .with_context(|| {
            format!(
                "connecting to L1 at {} (ETHEREUM_HOSTS) for Rollup {}",
                args.ethereum_hosts, args.rollup
            )
        })?;
    if let Some(expected) = args.l1_chain_id
        && expected != client.chain_id()
    {
        bail!(
            "L1_CHAIN_ID is {expected} but {} is chain {}: point ETHEREUM_HOSTS at the right chain or fix L1_CHAIN_ID",
            args.ethereum_hosts,
            client.chain_id()
        );
    }
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
    tracing::info!(url = %node.url(), rollup = %args.rollup, "node JSON-RPC listening");
    if let Some(peer) = peer {
        tracing::info!(
            peer_id = %peer,
            "P2P enabled; others can bootstrap from /ip4/<this host>/tcp/{}/p2p/{peer}",
            args.p2p.p2p_port
        );
    }
    Ok(node)
}

/// `epoch-rfq node`: runs until Ctrl-C.
pub async fn run(args: NodeArgs) -> Result<()> {
    let node = start(&args).await?;
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    tracing::info!("shutting down");
    node.shutdown().await;
    Ok(())
}
