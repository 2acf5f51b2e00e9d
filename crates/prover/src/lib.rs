//! The prover node (SPEC §6; the seed's "Prover Node" section).
//!
//! This crate holds the parts of a prover node that decide *what* to quote and *how* it is set
//! up: [`config`] (every setting, validated before anything starts) and [`quote_provider`] (the
//! seed's `QuoteProvider`: fixed terms or a pricing service over HTTP), plus [`pricing_service`],
//! a small example pricing service that operators can run or copy.
//!
//! The runtime: [`node::ProverNode`] runs four services (claim watcher, quoter, bond manager, proving
//! jobs) over [`bond::BondManager`], an [`epoch_prover::EpochProver`], a
//! [`quote_provider::QuoteProvider`] and a [`sink::QuoteSink`], with its state in
//! [`store::ProverStore`] and its metrics in [`metrics::ProverMetrics`].

pub mod bond;
pub mod config;
pub mod cost;
pub mod cost_config;
pub mod epoch_prover;
mod l1tx;
pub mod ledger;
pub mod market;
pub mod metrics;
pub mod node;
pub mod pricing_service;
pub mod quote_provider;
pub mod sink;
pub mod store;

pub use bond::{BondError, BondManager, BondStatus, Shortfall};
pub use config::{ConfigError, Coordination, ProverArgs, ProverConfig, ProverKind, ProverType};
pub use epoch_prover::{CommandProver, DevProver, EpochData, EpochProver, ProveError};
pub use l1tx::SharedStore;
pub use metrics::ProverMetrics;
pub use node::{
    NodeError, NodeSettings, ProverEvent, ProverHandle, ProverNode, prover_from_config,
};
pub use quote_provider::{
    EpochSummary, HttpQuoteProvider, NoQuote, QuoteProvider, QuoteTerms, SimpleQuoteProvider,
};
pub use sink::{QuoteSink, SinkError};
pub use store::{JobState, ProverStore};
