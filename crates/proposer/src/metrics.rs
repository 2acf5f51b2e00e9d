//! The proposer's metrics (prometheus-client), registered under the `epoch_rfq_proposer` prefix of a
//! registry the CLI serves on `/metrics`.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// One label `(name, value)`.
type Labels = Vec<(&'static str, String)>;

/// Counters of one proposer. Cheap to clone (shared handles).
///
/// Quotes are counted once per epoch: a quote the RFQ sees again on a later tick is not counted
/// again, and a dropped quote is counted again only when its drop reason changes.
#[derive(Debug, Clone, Default)]
pub struct ProposerMetrics {
    quotes_considered: Counter,
    quotes_dropped: Family<Labels, Counter>,
    claims: Counter,
    claim_failures: Family<Labels, Counter>,
    epochs_unclaimed: Counter,
    blocks_unclaimed: Counter,
    quote_fetch_timeouts: Counter,
    blocks_proposed: Counter,
    prunes: Counter,
    source_errors: Counter,
    /// Per-endpoint L1 request metrics (`epoch_rfq_l1_…`), for the L1 client.
    pub l1: epoch_rfq_l1::L1Metrics,
}

impl ProposerMetrics {
    /// New metrics, registered in `registry` (the root one the role serves) under the prefix
    /// `epoch_rfq_proposer`, with `epoch_rfq_build_info{role="proposer"}`.
    pub fn new(registry: &mut Registry) -> Self {
        let m = Self::default();
        epoch_rfq_runtime::metrics::register_build_info(registry, "proposer");
        m.l1.register(registry);
        let r = registry.sub_registry_with_prefix("epoch_rfq_proposer");
        r.register(
            "quotes_considered",
            "Distinct quotes the RFQ received for the epoch to prove",
            m.quotes_considered.clone(),
        );
        r.register(
            "quotes_dropped",
            "Quotes not used, by reason (local checks, validateClaim, reverted claims)",
            m.quotes_dropped.clone(),
        );
        r.register(
            "claims",
            "Epoch proof rights claimed on L1",
            m.claims.clone(),
        );
        r.register(
            "claim_failures",
            "Claim transactions that reverted or failed, by reason",
            m.claim_failures.clone(),
        );
        r.register(
            "epochs_unclaimed",
            "Epochs whose claim phase ended without a claim",
            m.epochs_unclaimed.clone(),
        );
        r.register(
            "blocks_unclaimed",
            "Blocks in epochs whose claim phase ended without a claim (pruned, fees earned by no prover)",
            m.blocks_unclaimed.clone(),
        );
        r.register(
            "quote_fetch_timeouts",
            "Quote-source queries abandoned at the RFQ's deadline (PROPOSER_QUOTE_FETCH_TIMEOUT_MS)",
            m.quote_fetch_timeouts.clone(),
        );
        r.register(
            "blocks_proposed",
            "L2 blocks proposed (alone or with a claim)",
            m.blocks_proposed.clone(),
        );
        r.register("prunes", "prune() transactions sent", m.prunes.clone());
        r.register(
            "quote_source_errors",
            "Failed queries to the quote source",
            m.source_errors.clone(),
        );
        m
    }

    pub(crate) fn quote_considered(&self) {
        self.quotes_considered.inc();
    }

    pub(crate) fn quote_dropped(&self, reason: &str) {
        self.quotes_dropped
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc();
    }

    pub(crate) fn claimed(&self) {
        self.claims.inc();
    }

    pub(crate) fn claim_failed(&self, reason: &str) {
        self.claim_failures
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc();
    }

    pub(crate) fn epoch_unclaimed(&self, blocks: u64) {
        self.epochs_unclaimed.inc();
        self.blocks_unclaimed.inc_by(blocks);
    }

    pub(crate) fn quote_fetch_timed_out(&self) {
        self.quote_fetch_timeouts.inc();
    }

    pub(crate) fn block_proposed(&self) {
        self.blocks_proposed.inc();
    }

    pub(crate) fn pruned(&self) {
        self.prunes.inc();
    }

    pub(crate) fn source_error(&self) {
        self.source_errors.inc();
    }

    /// Distinct quotes considered so far.
    pub fn quotes_considered_count(&self) -> u64 {
        self.quotes_considered.get()
    }

    /// Quotes dropped for `reason` (a [`crate::DropReason::code`]).
    pub fn quotes_dropped_count(&self, reason: &str) -> u64 {
        self.quotes_dropped
            .get(&vec![("reason", reason.to_owned())])
            .map_or(0, |c| c.get())
    }

    /// Claims made.
    pub fn claims_count(&self) -> u64 {
        self.claims.get()
    }

    /// Failed claims for `reason` (a drop code, or `situation`, `rpc`).
    pub fn claim_failures_count(&self, reason: &str) -> u64 {
        self.claim_failures
            .get(&vec![("reason", reason.to_owned())])
            .map_or(0, |c| c.get())
    }

    /// Epochs that ended their claim phase unclaimed.
    pub fn epochs_unclaimed_count(&self) -> u64 {
        self.epochs_unclaimed.get()
    }

    /// Blocks in unclaimed epochs.
    pub fn blocks_unclaimed_count(&self) -> u64 {
        self.blocks_unclaimed.get()
    }

    /// Quote queries abandoned at the RFQ's deadline.
    pub fn quote_fetch_timeouts_count(&self) -> u64 {
        self.quote_fetch_timeouts.get()
    }

    /// Blocks proposed.
    pub fn blocks_proposed_count(&self) -> u64 {
        self.blocks_proposed.get()
    }

    /// Prunes sent.
    pub fn prunes_count(&self) -> u64 {
        self.prunes.get()
    }

    /// Failed quote-source queries.
    pub fn source_errors_count(&self) -> u64 {
        self.source_errors.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_and_encodes() {
        let mut registry = Registry::default();
        let m = ProposerMetrics::new(&mut registry);
        m.quote_considered();
        m.quote_dropped("expired");
        m.quote_dropped("expired");
        m.claimed();
        m.claim_failed("insufficient_escrow");
        m.epoch_unclaimed(3);
        m.quote_fetch_timed_out();
        m.block_proposed();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        for line in [
            "epoch_rfq_proposer_quotes_considered_total 1",
            r#"epoch_rfq_proposer_quotes_dropped_total{reason="expired"} 2"#,
            "epoch_rfq_proposer_claims_total 1",
            r#"epoch_rfq_proposer_claim_failures_total{reason="insufficient_escrow"} 1"#,
            "epoch_rfq_proposer_epochs_unclaimed_total 1",
            "epoch_rfq_proposer_blocks_proposed_total 1",
            concat!(
                "epoch_rfq_build_info{version=\"",
                env!("CARGO_PKG_VERSION"),
                "\",role=\"proposer\"} 1"
            ),
            "epoch_rfq_proposer_blocks_unclaimed_total 3",
            "epoch_rfq_proposer_quote_fetch_timeouts_total 1",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert_eq!(m.quotes_dropped_count("expired"), 2);
        assert_eq!(m.quotes_dropped_count("duplicate"), 0);
    }
}
