//! Fixtures shared by the workspace's tests and benches (a dev-dependency only, never published).
//!
//! Always available, built on no workspace crate:
//! * [`wait`]: [`bounded`] test bodies, [`wait_until`] a condition holds, the next broadcast
//!   event a test is waiting for ([`next_event`]).
//! * [`fs`]: [`TempDir`], a fresh directory removed when dropped.
//! * [`net`]: [`free_port`] on 127.0.0.1.
//! * [`logs`]: logs kept in memory ([`capture_logs`]) and printed when a wait times out.
//! * [`keys`]: anvil's well-known dev keys and many deterministic non-anvil keys.
//! * [`measure`]: latency percentiles and resident memory, as the bench binaries print them.
//! * [`sample`]: the numbers of one fixed epoch to quote for (chain id, Rollup, blocks…).
//!
//! Behind features, each built on one workspace crate (a crate's tests enable only features of
//! crates below it, so the types they see are the ones of the crate under test):
//! * `quotes` → `sample::{fields, sign, quote}`: good quotes for the sample epoch.
//! * `pool` → `sample::snapshot`: the pool's view of the chain matching that epoch.
//! * `anvil` → [`chain`]: deposits, proposed blocks and claim-ready quote fields on a
//!   `TestChain` (the harness itself lives in `epoch_rfq_l1::anvil`, the sandbox runs it too).

#[cfg(feature = "anvil")]
pub mod chain;
pub mod fs;
pub mod keys;
pub mod logs;
pub mod measure;
pub mod net;
pub mod sample;
pub mod wait;

pub use fs::TempDir;
pub use logs::capture_logs;
pub use net::free_port;
pub use wait::{bounded, next_event, wait_until};
