//! Helpers of the p2p tests: loopback nodes on port 0, mesh waits (the generic waits are
//! `epoch_rfq_testkit`'s).
#![allow(dead_code)]

use std::{future::Future, time::Duration};

use epoch_rfq_p2p::{
    IncomingMessage, Keypair, Multiaddr, P2pConfig, P2pHandle, P2pService, PeerId,
};
use libp2p::multiaddr::Protocol;
use tokio::sync::mpsc;

pub use epoch_rfq_testkit::wait_until;

/// Upper bound of every test.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Node {
    pub handle: P2pHandle,
    pub rx: mpsc::Receiver<IncomingMessage>,
    pub addr: Multiaddr,
}

impl Node {
    pub fn id(&self) -> PeerId {
        self.handle.local_peer_id()
    }

    /// Next message, or `None` after `wait`.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<IncomingMessage> {
        tokio::time::timeout(wait, self.rx.recv())
            .await
            .ok()
            .flatten()
    }
}

pub fn test_config(bootstrap: Vec<Multiaddr>) -> P2pConfig {
    let mut config = P2pConfig::local(Keypair::generate_ed25519());
    config.bootstrap = bootstrap;
    config.score_check_interval = Duration::from_millis(100);
    config.redial_initial_backoff = Duration::from_millis(100);
    config.redial_max_backoff = Duration::from_millis(400);
    config
}

pub async fn spawn_with(config: P2pConfig) -> Node {
    epoch_rfq_testkit::capture_logs(epoch_rfq_testkit::logs::P2P_LOG);
    let (handle, rx) = P2pService::spawn(config).await.expect("spawn node");
    let addr = dial_addr(&handle).await;
    Node { handle, rx, addr }
}

pub async fn spawn_node(bootstrap: Vec<Multiaddr>) -> Node {
    spawn_with(test_config(bootstrap)).await
}

/// First listen address with `/p2p/<peer id>` appended.
pub async fn dial_addr(handle: &P2pHandle) -> Multiaddr {
    let addrs = handle.listen_addrs().await.expect("listen addrs");
    let addr = addrs.first().expect("at least one listen address").clone();
    addr.with(Protocol::P2p(handle.local_peer_id()))
}

/// Waits until `node` has `peer` in its mesh for the topic.
pub async fn wait_mesh(node: &P2pHandle, peer: PeerId) {
    wait_until("mesh", Duration::from_secs(15), || async {
        node.mesh_peers().await.unwrap_or_default().contains(&peer)
    })
    .await;
}

/// Waits until both sides have each other in the mesh.
pub async fn wait_linked(a: &Node, b: &Node) {
    wait_mesh(&a.handle, b.id()).await;
    wait_mesh(&b.handle, a.id()).await;
}

/// Runs a test body under [`TEST_TIMEOUT`].
pub async fn bounded<F: Future<Output = ()>>(body: F) {
    epoch_rfq_testkit::bounded(TEST_TIMEOUT.as_secs(), body).await;
}
