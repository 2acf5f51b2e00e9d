//! P2P settings shared by every role that gossips (the node, and provers with P2P_ENABLED=true).

use std::path::Path;

use anyhow::{Context, Result};
use clap::Args;
use epoch_rfq_p2p::{
    DEFAULT_MAX_PEERS, P2pConfig, load_or_create_role_keypair, parse_announce_addresses,
    parse_bootstrap_nodes, role_key_path,
};

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

    /// Most peers connected at once (at most three quarters of them may have dialled us; the
    /// rest are kept for peers this node chose).
    #[arg(long, env = "P2P_MAX_PEERS", default_value_t = DEFAULT_MAX_PEERS)]
    pub p2p_max_peers: u32,

    /// Addresses other peers should dial to reach this node, for a node behind NAT or in a
    /// container: comma-separated multiaddrs /ip4|ip6/<address>/tcp/<port>, e.g.
    /// /ip4/203.0.113.7/tcp/40400. When set, only these are announced (not the listen address).
    #[arg(long, env = "P2P_ANNOUNCE_ADDRESSES", default_value = "", value_parser = announce_list)]
    pub p2p_announce_addresses: String,

    /// Find peers beyond the bootstrap list (Kademlia).
    #[arg(long, env = "P2P_DISCOVERY_ENABLED", default_value_t = true,
          value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub p2p_discovery_enabled: bool,

    /// Dial loopback/private/link-local addresses learned from peers (off: a peer could make
    /// this node dial into its local network). Needed when all nodes are on one host or LAN.
    /// The bootstrap list is always dialled.
    #[arg(long, env = "P2P_ALLOW_PRIVATE_ADDRESSES", default_value_t = false,
          value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub p2p_allow_private_addresses: bool,

    /// Gossip messages validated at once (0: two per CPU core).
    #[arg(long, env = "P2P_VALIDATION_WORKERS", default_value_t = 0)]
    pub p2p_validation_workers: usize,
}

/// Checks `P2P_ANNOUNCE_ADDRESSES` while parsing the settings, so a bad entry stops the role
/// before anything starts; the message names the entry and what to fix.
fn announce_list(input: &str) -> Result<String, String> {
    parse_announce_addresses(input)
        .map(|_| input.to_owned())
        .map_err(|e| e.to_string())
}

impl Default for P2pArgs {
    /// The defaults of the flags (listening on 0.0.0.0:40400, no bootstrap).
    fn default() -> Self {
        Self {
            p2p_port: epoch_rfq_p2p::DEFAULT_PORT,
            p2p_listen_addr: std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            p2p_bootstrap_nodes: String::new(),
            p2p_max_peers: DEFAULT_MAX_PEERS,
            p2p_announce_addresses: String::new(),
            p2p_discovery_enabled: true,
            p2p_allow_private_addresses: false,
            p2p_validation_workers: 0,
        }
    }
}

impl P2pArgs {
    /// The gossip configuration of `role` (`node`, `prover`), with its peer key kept in
    /// `data_dir/p2p-<role>.key` so the peer id survives restarts (bootstrap lists name it) and
    /// differs between roles sharing a data directory. A node's key from before per-role files
    /// (`data_dir/p2p-key`) is taken over by the node role.
    pub fn to_config(&self, data_dir: &Path, role: &str) -> Result<P2pConfig> {
        let keypair = load_or_create_role_keypair(data_dir, role).with_context(|| {
            format!(
                "P2P identity key {}",
                role_key_path(data_dir, role).display()
            )
        })?;
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
        if self.p2p_max_peers == 0 {
            anyhow::bail!("P2P_MAX_PEERS must be at least 1");
        }
        config.max_peers = self.p2p_max_peers;
        // The error names the bad entry and P2P_ANNOUNCE_ADDRESSES.
        config.announce = parse_announce_addresses(&self.p2p_announce_addresses)?;
        config.discovery = self.p2p_discovery_enabled;
        config.allow_private_addresses = self.p2p_allow_private_addresses;
        config.validation_workers = self.p2p_validation_workers;
        Ok(config)
    }
}
