//! The prover node (SPEC §6; the seed's "Prover Node" section).
//!
//! This crate holds the parts of a prover node that decide *what* to quote and *how* it is set
//! up: [`config`] (every setting, validated before anything starts) and [`quote_provider`] (the
//! seed's `QuoteProvider`: fixed terms or a pricing service over HTTP), plus [`pricing_service`],
//! a small example pricing service that operators can run or copy.

pub mod config;
pub mod pricing_service;
pub mod quote_provider;
pub mod store;

pub use config::{ConfigError, Coordination, ProverArgs, ProverConfig};
pub use quote_provider::{
    EpochSummary, HttpQuoteProvider, NoQuote, QuoteProvider, QuoteTerms, SimpleQuoteProvider,
};
