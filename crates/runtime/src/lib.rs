//! The process runtime shared by every long-running role (node, prover, proposer,
//! pricing-server, sandbox):
//!
//! - [`lifecycle`]: SIGINT/SIGTERM start a graceful stop with a bounded grace; named critical
//!   tasks whose end or panic stops the process with a non-zero exit, naming the task.
//! - [`health`]: per-service state behind `GET /health` (liveness) and `GET /ready` (readiness).
//! - [`edge`]: the hardened HTTP server every role's listener goes through (header and idle
//!   timeouts, connection caps in total and per client IP, early 413 for declared over-limit
//!   bodies).
//! - [`metrics`]: the `epoch_rfq_` namespace and `epoch_rfq_build_info`.

pub mod edge;
pub mod health;
pub mod lifecycle;
pub mod metrics;
