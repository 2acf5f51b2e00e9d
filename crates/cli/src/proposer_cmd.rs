//! `epoch-rfq proposer`: runs a proposer (SPEC §7) until Ctrl-C: a block in every slot it owns,
//! the RFQ for the epoch to prove in its claim phase, the claim of the cheapest valid quote.
//!
//! Settings are [`ProposerArgs`] (every one an env var and a flag) plus the signing key
//! ([`KeyArgs`]): `PROPOSER_PUBLISHER_PRIVATE_KEY`, or a keystore (`--keystore`/`PROPOSER_KEYSTORE`
//! with `--password-file`/`PROPOSER_KEYSTORE_PASSWORD_FILE`); never a flag value (it would show in
//! `ps` and shell history). Where quotes come from is the caller's choice ([`QuoteSource`]): `main` builds
//! the node-URL source from `PROPOSER_COORDINATION_NODE_URL` ([`ProposerCmdArgs::node_url`]), the
//! sandbox passes its own.

use std::future::Future;
use std::sync::Arc;

use anyhow::Result;
use clap::Args;
use epoch_rfq_proposer::{Proposer, ProposerArgs, ProposerMetrics, QuoteSource};

use crate::keys::{KeyArgs, KeyRole};

/// `epoch-rfq proposer` options.
#[derive(Debug, Clone, Args)]
pub struct ProposerCmdArgs {
    #[command(flatten)]
    pub proposer: ProposerArgs,

    #[command(flatten)]
    pub key: KeyArgs,
}

impl ProposerCmdArgs {
    /// `PROPOSER_COORDINATION_NODE_URL`, if set (trimmed, non-empty).
    pub fn node_url(&self) -> Option<&str> {
        self.proposer
            .proposer_coordination_node_url
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
}

/// Validates the settings, connects to L1 (checking `L1_CHAIN_ID` against the node) and builds
/// the proposer, without starting it (the sandbox subscribes to its events first).
pub async fn build(
    args: ProposerCmdArgs,
    source: Arc<dyn QuoteSource>,
    metrics: ProposerMetrics,
) -> Result<Proposer> {
    let settings = args.proposer.validate()?;
    let key = args.key.load_for(KeyRole::Proposer)?;
    let l1 = args.proposer.l1.connect(Some(key)).await?;
    let proposer = Proposer::new(l1, source, settings.config)?.with_metrics(metrics);
    tracing::info!(
        proposer = %proposer.address(),
        rollup = %settings.rollup,
        node = settings.node_url.as_deref().unwrap_or("-"),
        "proposer configured"
    );
    Ok(proposer)
}

/// [`build`], then run until `shutdown` completes.
pub async fn run(
    args: ProposerCmdArgs,
    source: Arc<dyn QuoteSource>,
    metrics: ProposerMetrics,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let mut proposer = build(args, source, metrics).await?;
    proposer.run(shutdown).await;
    Ok(())
}

/// Completes on Ctrl-C (SIGINT). If the handler cannot be installed, never completes (the process
/// is then stopped by a signal's default action) rather than stopping the proposer at once.
pub async fn ctrl_c() {
    if let Err(e) = tokio::signal::ctrl_c().await {
        tracing::warn!(error = %e, "cannot listen for Ctrl-C");
        std::future::pending::<()>().await;
    }
}
