//! Error type of the gossip layer.

use std::path::PathBuf;

/// Everything that can go wrong in `epoch-rfq-p2p`.
///
/// `NoPeers` and `Duplicate` are *outcomes* of a publish rather than failures: a caller that
/// only wants "best effort" gossip can ignore them (see [`P2pError::is_benign_publish_outcome`]).
#[derive(Debug, thiserror::Error)]
pub enum P2pError {
    /// No connected peer is subscribed to the topic (or all are below the publish threshold).
    #[error("no peers subscribed to the topic; message not published")]
    NoPeers,
    /// A message with the same content-based id was already published or received recently.
    #[error("duplicate message: already published or received")]
    Duplicate,
    /// The payload is larger than `max_payload_bytes`.
    #[error("payload of {len} bytes exceeds the limit of {max} bytes")]
    PayloadTooLarge { len: usize, max: usize },
    /// The compressed message is larger than the topic's `max_message_bytes`.
    #[error("compressed message exceeds the topic limit of {max} bytes")]
    MessageTooLarge { max: usize },
    /// Any other publish failure reported by gossipsub (signing, full queues, compression).
    #[error("publish failed: {0}")]
    Publish(String),
    /// The service task is no longer running.
    #[error("the p2p service has stopped")]
    Stopped,
    /// An entry of the bootstrap list is not a usable multiaddr.
    #[error("invalid bootstrap entry {entry:?}: {reason}")]
    InvalidBootstrap { entry: String, reason: String },
    /// An entry of the announce list (`P2P_ANNOUNCE_ADDRESSES`) cannot be announced.
    #[error("invalid announce address {entry:?} (P2P_ANNOUNCE_ADDRESSES): {reason}")]
    InvalidAnnounce { entry: String, reason: String },
    /// The configuration is inconsistent.
    #[error("invalid p2p configuration: {0}")]
    Config(String),
    /// Building the transport or a behaviour failed.
    #[error("failed to build the libp2p swarm: {0}")]
    Build(String),
    /// Dialling an address failed immediately.
    #[error("failed to dial {addr}: {reason}")]
    Dial { addr: String, reason: String },
    /// Listening on an address failed.
    #[error("failed to listen on {addr}: {reason}")]
    Listen { addr: String, reason: String },
    /// Reading, decoding or writing the node key file failed.
    #[error("node key file {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
}

impl P2pError {
    /// True for publish outcomes that a best-effort caller may ignore: nobody to send to yet, or
    /// the network already has the message.
    pub fn is_benign_publish_outcome(&self) -> bool {
        matches!(self, P2pError::NoPeers | P2pError::Duplicate)
    }
}
