//! P2P settings shared by every role that gossips (the node, and provers with P2P_ENABLED=true).

use std::path::Path;

use anyhow::{Context, Result};
use clap::Args;
use epoch_rfq_p2p::{P2pConfig, load_or_create_keypair, parse_bootstrap_nodes};

/// The `P2P_*` settings.
#[derive(Debug, Clone, Args)]
pub struct P2pArgs {
    /// TCP port for libp2p.
    #[arg(long, env = "P2P_PORT", default_value_t = 40400)]
    pub p2p_port: u16,

    /// IP address libp2p listens on.
    #[arg(long, env = "P2P_LISTEN_ADDR", default_value = "0.0.0.0")]
    pub p2p_listen_addr: std::net::IpAddr,

    /// Peers to join at start: comma-separated multiaddrs ending in /p2p/<peer id>, e.g.
    /// /ip4/10.0.0.5/tcp/40400/p2p/12D3KooW… (a node prints its own at start).
    #[arg(long, env = "P2P_BOOTSTRAP_NODES", default_value = "")]
    pub p2p_bootstrap_nodes: String,
}

impl P2pArgs {
    /// The gossip configuration, with the peer key kept in `data_dir/p2p-key` so the peer id
    /// survives restarts (bootstrap lists name it).
    pub fn to_config(&self, data_dir: &Path) -> Result<P2pConfig> {
        let key_path = data_dir.join("p2p-key");
        let keypair = load_or_create_keypair(&key_path)
            .with_context(|| format!("P2P identity key {}", key_path.display()))?;
        let mut config = P2pConfig::new(keypair).with_port(self.p2p_port);
        let ip = match self.p2p_listen_addr {
            std::net::IpAddr::V4(v4) => format!("/ip4/{v4}/tcp/{}", self.p2p_port),
            std::net::IpAddr::V6(v6) => format!("/ip6/{v6}/tcp/{}", self.p2p_port),
        };
        config.listen = vec![
            ip.parse()
                .context("P2P_LISTEN_ADDR/P2P_PORT do not form a multiaddr")?,
        ];
        config.bootstrap =
            parse_bootstrap_nodes(&self.p2p_bootstrap_nodes).context("P2P_BOOTSTRAP_NODES")?;
        Ok(config)
    }
}
