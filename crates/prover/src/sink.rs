//! Where signed quotes leave the prover (SPEC §6.1): a node's JSON-RPC API over HTTP, or gossip.
//! The real sinks (a node's JSON-RPC client, gossip) are joined to this trait in the CLI
//! (`crates/cli/src/wiring.rs`); the runtime only needs the trait.

use epoch_rfq_quote::EpochProofQuote;
use futures::future::BoxFuture;

/// Why a quote could not be handed over. The runtime keeps the quote (it is already recorded)
/// and sends the same quote again on a later tick.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// The path is down (connection refused, no peers, timeout): worth retrying.
    #[error("quote path unavailable: {0}")]
    Unavailable(String),
    /// The receiver refused the quote (e.g. a node's JSON-RPC error): retrying may not help.
    #[error("quote rejected: {0}")]
    Rejected(String),
}

/// A quote path. Object-safe so the node can hold any implementation.
pub trait QuoteSink: Send + Sync {
    /// The path's name for metrics and the store: `http` or `p2p`.
    fn name(&self) -> &'static str;

    /// Hands `quote` to the path (a node's `node_addEpochProofQuote`, or gossip).
    fn send<'a>(&'a self, quote: &'a EpochProofQuote) -> BoxFuture<'a, Result<(), SinkError>>;
}
