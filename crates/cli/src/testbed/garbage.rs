//! The garbage host: a gossip peer that publishes invalid messages (random bytes of a quote's
//! size) on the quote topic at a steady rate, like `benches/flood.rs`'s attacker but as its own
//! process on its own host. Honest delivery must not suffer; its peers are expected to score it
//! down and ban it.

use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::{Context, Result};
use epoch_rfq_p2p::{Keypair, P2pConfig, P2pService, parse_bootstrap_nodes};

use super::router::SplitMix;

/// Port of the garbage publisher's libp2p listener.
pub const GARBAGE_P2P_PORT: u16 = 40402;

/// Publishes `per_second` garbage messages a second until killed.
pub async fn publish(listen: Ipv4Addr, bootstrap: &str, per_second: u32) -> Result<()> {
    let mut config = P2pConfig::new(Keypair::generate_ed25519()).with_port(GARBAGE_P2P_PORT);
    config.listen = vec![
        format!("/ip4/{listen}/tcp/{GARBAGE_P2P_PORT}")
            .parse()
            .context("listen multiaddr")?,
    ];
    config.bootstrap = parse_bootstrap_nodes(bootstrap).context("bootstrap nodes")?;
    config.allow_private_addresses = true;
    let (handle, incoming) = P2pService::spawn(config)
        .await
        .context("starting the garbage publisher's P2P")?;
    crate::wiring::ignore_incoming_gossip(handle.clone(), incoming);
    let mut rng = SplitMix(u64::from(u32::from(listen)));
    let mut tick = tokio::time::interval(Duration::from_secs(1) / per_second.max(1));
    let (mut published, mut refused) = (0u64, 0u64);
    let mut last_error = String::new();
    loop {
        tick.tick().await;
        // A quote's wire size (302 bytes), random content: fails decoding at every receiver.
        let payload: Vec<u8> = (0..302).map(|_| rng.next_u64() as u8).collect();
        match handle.publish(payload).await {
            Ok(_) => published += 1,
            Err(e) => {
                refused += 1;
                last_error = e.to_string();
            }
        }
        if (published + refused) % 250 == 0 {
            let connected = handle.connected_peers().await.map_or(0, |p| p.len());
            let mesh = handle.mesh_peers().await.map_or(0, |p| p.len());
            eprintln!(
                "garbage: {published} published, {refused} refused (last: {last_error}); \
                 {connected} peers connected, {mesh} in its mesh"
            );
        }
    }
}
