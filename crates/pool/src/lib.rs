//! The node's quote pool (SPEC §5.1).
//!
//! * [`ChainSnapshot`]: the node's view of L1 (plain data, refreshed each block).
//! * The validation pipeline, shared by every entry path (gossip, JSON-RPC, local):
//!   [`validate_wire`] → [`validate_quote`] → [`check_verified`], each rejection a
//!   [`RejectReason`] with a stable [`code`](RejectReason::code). Escrow coverage is checked
//!   through the [`EscrowView`] trait when the node knows it.
//! * [`QuotePool`]: per (epoch, prover) the prover's cheapest quote, ranked per epoch, with hard
//!   caps ([`PoolConfig`]), O(1) [`best`](QuotePool::best), and epoch eviction.
//!
//! ```
//! # use epoch_rfq_pool::*;
//! let pool = QuotePool::new(PoolConfig::default());
//! assert!(pool.best(7).is_none());
//! ```

mod snapshot;
mod store;
mod validate;

pub use snapshot::{ChainSnapshot, EpochContents, EpochView, TimeParams};
pub use store::{
    CapacityReject, InsertOutcome, PoolConfig, PoolStats, QuotePool, STORED_QUOTE_BYTES,
};
pub use validate::{
    EscrowView, NoEscrow, RejectReason, check_verified, precheck_unverified, validate_quote,
    validate_wire,
};
