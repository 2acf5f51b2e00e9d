//! The proposer (SPEC §7).
//!
//! * Each slot it owns (`proposer_at(slot)` is this account, or anyone), it proposes one L2 block
//!   whose traffic comes from a seeded [`TrafficGenerator`] (approving the fee token to the
//!   Rollup as needed).
//! * In the claim phase of the epoch to prove, if unclaimed and it owns the slot (only the current
//!   proposer may claim), it runs the RFQ: quotes from a [`QuoteSource`], local checks
//!   ([`rfq::local_check`]) with a [`DropReason`] each, then in price order
//!   ([`rfq::rank`]: lowest basisPointFee, earliest received, larger bond) a `validateClaim`
//!   pre-check and the claim (`proposeAndClaim` when it also proposes in the slot,
//!   `claimEpochProofRight` otherwise); a claim that reverts falls back to the next best.
//! * It prunes when `isPruneDue`, and says loudly (`warn!`, a counter, an event) when an epoch ends
//!   its claim phase unclaimed.
//!
//! Everything it does is visible as [`ProposerEvent`]s (a broadcast channel), Prometheus metrics
//! ([`ProposerMetrics`]) and `tracing` logs.
//!
//! [`Proposer::tick`] is one step of the loop; [`Proposer::run`] ticks at least once per slot
//! until shut down. Tests drive `tick` directly with the chain's time under their control.

mod config;
mod events;
mod metrics;
mod proposer;
pub mod rfq;
mod source;
mod traffic;

pub use config::{ConfigError, ProposerArgs, ProposerConfig, ProposerSettings, TrafficConfig};
pub use events::ProposerEvent;
pub use metrics::ProposerMetrics;
pub use proposer::{Proposer, ProposerError, TickReport};
pub use rfq::DropReason;
pub use source::{MemoryQuoteSource, QuoteSource, ReceivedQuote, SourceError};
pub use traffic::{SyntheticBlock, TrafficGenerator};
