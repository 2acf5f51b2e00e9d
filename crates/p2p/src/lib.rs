//! Gossip layer of epoch-rfq: rust-libp2p gossipsub over TCP + noise + yamux, generic over payload
//! bytes.
//!
//! The crate knows nothing about quotes. It publishes payloads (snappy-compressed on the wire,
//! content-addressed message ids), hands received payloads to the application as
//! [`IncomingMessage`]s, and forwards or drops them according to the application's
//! [`Validation`] report; rejected messages lower the sender's gossipsub score until it is
//! graylisted, disconnected and banned. See the crate README for the design and the numbers.
//!
//! ```no_run
//! # async fn demo() -> Result<(), epoch_rfq_p2p::P2pError> {
//! use epoch_rfq_p2p::{P2pConfig, P2pService, Validation, load_or_create_keypair, parse_bootstrap_nodes};
//! let mut config = P2pConfig::new(load_or_create_keypair("data/p2p.key")?);
//! config.bootstrap = parse_bootstrap_nodes(&std::env::var("P2P_BOOTSTRAP_NODES").unwrap_or_default())?;
//! let (handle, mut incoming) = P2pService::spawn(config).await?;
//! while let Some(msg) = incoming.recv().await {
//!     let verdict = if msg.payload.len() == 302 { Validation::Accept } else { Validation::Reject };
//!     handle.report(msg.id, msg.source, verdict)?;
//! }
//! # Ok(()) }
//! ```

mod codec;
mod config;
mod discovery;
mod error;
mod metrics;
mod service;
mod setup;
mod validation;

pub use codec::{DecompressError, MESSAGE_ID_LEN, compress, decompress, message_id};
pub use config::{DEFAULT_MAX_PEERS, DEFAULT_PORT, DEFAULT_TOPIC, P2pConfig, ScoringConfig};
pub use discovery::{parse_announce_addresses, without_peer_id};
pub use error::P2pError;
pub use libp2p::{Multiaddr, PeerId, gossipsub::MessageId, identity::Keypair};
pub use metrics::P2pMetrics;
pub use service::{IncomingMessage, KAD_PROTOCOL, P2pHandle, P2pService, Validation};
pub use setup::{
    LEGACY_KEY_FILE, load_or_create_keypair, load_or_create_role_keypair, parse_bootstrap_nodes,
    peer_id_of, role_key_path,
};
pub use validation::ValidationPool;
