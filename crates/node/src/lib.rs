//! The epoch-rfq node (SPEC §5): the quote pool, fed by gossip, JSON-RPC and local callers,
//! and served over HTTP JSON-RPC; plus [`NodeClient`], the typed client provers and proposers
//! use.
//!
//! * [`NodeService`] composes the [`QuotePool`](epoch_rfq_pool::QuotePool), the node's view of
//!   L1 ([`ChainView`], refreshed every [`NodeConfig::refresh_interval`], with eviction of stale
//!   epochs), an optional gossip handle (`epoch_rfq_p2p`), metrics and the HTTP server.
//! * Every quote goes through the pool crate's validation pipeline, whatever its path.
//!   Gossip verdicts: malformed / bad signature → `Reject` (the sender is penalised), any other
//!   refusal (stale, duplicate, not cheaper, wrong epoch…) → `Ignore`, stored → `Accept`.
//!   Quotes added over JSON-RPC or locally are stored, then published.
//! * The explorer (`GET /explorer`, JSON under `/explorer/api/`): the auction history this node
//!   saw (every quote with its path and outcome, and the market's L1 events), kept in SQLite in
//!   [`NodeConfig::history_dir`] for [`NodeConfig::history_epochs`] epochs.
//!
//! See the crate README for the API, error codes and operations.

mod chain;
mod client;
mod config;
mod explorer;
mod history;
mod http;
mod l1_view;
mod metrics;
mod ratelimit;
pub mod rpc;
mod service;
mod types;

pub use chain::{ChainView, ChainViewError};
pub use client::{ClientError, NodeClient};
pub use config::{DEFAULT_HISTORY_EPOCHS, DEFAULT_HTTP_PORT, NodeConfig};
pub use history::{HISTORY_DB_FILE, HistoryError, MarketEvent, MarketEventKind};
pub use l1_view::L1ChainView;
pub use metrics::IngestPath;
pub use service::{NodeError, NodeHandle, NodeService};
pub use types::{L1ContractAddresses, NodeInfo, PoolInfo};

// What implementors of `ChainView` build and return.
pub use epoch_rfq_pool::{ChainSnapshot, EpochContents, EpochView, PoolConfig, TimeParams};
pub use futures::future::BoxFuture;
