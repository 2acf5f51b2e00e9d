//! The quoter (the seed's EpochMonitor): every polling interval, for the epoch to prove, once
//! complete, in its claim phase and unclaimed: if we already have a quote for it that is still
//! valid, make sure it was delivered (after a restart the stored quote is resent, never a second
//! different one); otherwise (at most once per slot) read its blocks, skip an empty epoch, skip
//! when `max_pending_jobs` are busy, ask the [`QuoteProvider`](crate::QuoteProvider),
//! `ensure_bond(bond)`, [`sign_quote`], record, send through the [`QuoteSink`](crate::QuoteSink).
//!
//! A slow pricing service or a slow escrow top-up delays only this task: claims and proofs run
//! in their own.

use std::collections::HashSet;
use std::sync::Arc;

use epoch_rfq_l1::alloy::primitives::U256;
use epoch_rfq_l1::{Claim, EpochRange};
use epoch_rfq_quote::EpochProofQuote;

use super::{NodeError, ProverEvent, Shared, unix_now};
use crate::market::Market;
use crate::quote_provider::{EpochSummary, QuoteTerms};
use crate::store::SentQuote;

/// The quoter's state between rounds.
pub(super) struct Quoter {
    shared: Arc<Shared>,
    /// Quote ids handed to the sink by this process.
    delivered: HashSet<String>,
    /// (epoch, slot) of the last pricing attempt: at most one per slot.
    last_attempt: Option<(u64, u64)>,
}

/// Signs our quote for `range` on `terms`: the one place a quote's terms become a signature.
pub(super) fn sign_quote(
    shared: &Shared,
    range: &EpochRange,
    terms: &QuoteTerms,
    valid_until: u64,
) -> Result<EpochProofQuote, epoch_rfq_quote::QuoteError> {
    let l1 = &shared.l1;
    let mut fields = range.quote_fields(shared.me, l1.rollup_address());
    fields.basis_point_fee = terms.basis_point_fee;
    fields.bond_amount = terms.bond_amount;
    fields.valid_until_slot = U256::from(valid_until);
    fields.sign(&shared.signer, l1.chain_id())
}

impl Quoter {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            delivered: HashSet::new(),
            last_attempt: None,
        }
    }

    /// Runs until the node stops (checked between rounds).
    pub(super) async fn run(mut self) {
        let shared = self.shared.clone();
        let mut interval = tokio::time::interval(shared.settings.polling_interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shared.stop.cancelled() => break,
                _ = interval.tick() => {}
            }
            // A round in progress finishes (a top-up it started settles, a signed quote is
            // sent); the process's grace bounds it.
            match self.round().await {
                Ok(()) => shared.services.quoter.ok(),
                Err(err) => {
                    tracing::warn!(%err, "quoter round failed; retrying next interval");
                    shared.services.quoter.degraded(err.to_string());
                }
            }
        }
        shared.services.quoter.stopped();
        tracing::info!("quoter stopped");
    }

    async fn round(&mut self) -> Result<(), NodeError> {
        let l1 = &self.shared.l1;
        let slot = l1.current_slot().await?;
        let confirmed_slot = l1.confirmed_slot().await?;
        let claim = l1.proof_claim().await?;
        self.monitor(slot, confirmed_slot, claim).await
    }

    /// The seed's EpochMonitor. `confirmed_slot` is the slot of the newest L1 block that is
    /// `L1_CONFIRMATIONS` deep: an epoch is quoted only once it is complete there, so a reorg of
    /// the last blocks cannot change the blocks a quote was priced and signed for.
    async fn monitor(
        &mut self,
        slot: u64,
        confirmed_slot: u64,
        claim: Option<Claim>,
    ) -> Result<(), NodeError> {
        let shared = self.shared.clone();
        let l1 = &shared.l1;
        let time = *l1.time();
        // The ledger learns L1 time; our quotes past their last claimable slot leave it.
        shared.market.tick(&shared.store.lock(), slot);
        let Some(epoch) = l1.epoch_to_prove().await? else {
            return Ok(());
        };
        if !time.is_epoch_complete(epoch, confirmed_slot) || !time.in_claim_phase(epoch, slot) {
            return Ok(());
        }
        if claim.is_some_and(|c| c.epoch == epoch) {
            return Ok(());
        }
        let stored = shared.store.lock().latest_quote(epoch)?;
        if let Some(sent) = stored
            && sent.valid_until_slot >= slot
        {
            // Already quoted and still claimable: never a second, different quote. Deliver the
            // stored one if this process has not (restart, or an earlier send failed).
            if !self.delivered.contains(&sent.quote_id) {
                match EpochProofQuote::from_json_str(&sent.quote_json) {
                    Ok(quote) => self.deliver(&quote, epoch, &sent.quote_id, true).await,
                    Err(err) => {
                        tracing::error!(epoch, %err, "stored quote is unreadable; not resending")
                    }
                }
            }
            return Ok(());
        }
        if self.last_attempt == Some((epoch, slot)) {
            return Ok(());
        }
        self.last_attempt = Some((epoch, slot));
        let range = l1.epoch_range(epoch).await?;
        if range.is_empty() {
            self.no_quote(epoch, "empty_epoch", "the epoch has no blocks".into());
            return Ok(());
        }
        let busy = shared.jobs.busy();
        if busy >= shared.settings.max_pending_jobs {
            self.no_quote(
                epoch,
                "busy",
                format!(
                    "{busy} proving job(s) running, PROVER_NODE_MAX_PENDING_JOBS={}",
                    shared.settings.max_pending_jobs
                ),
            );
            return Ok(());
        }
        let blocks = l1.epoch_blocks(epoch).await?;
        let summary = EpochSummary::from_l1(&range, &blocks);
        let terms = match shared.quote_provider.get_quote(&summary).await {
            Ok(terms) => terms,
            Err(why) => {
                self.no_quote(epoch, why.reason_code(), why.to_string());
                return Ok(());
            }
        };
        // Always finite, never past the claim phase.
        let valid_until = Market::valid_until_slot(&time, epoch, terms.valid_until_slot);
        if valid_until < slot {
            self.no_quote(
                epoch,
                "expired_terms",
                format!("validUntilSlot {valid_until} is before the current slot {slot}"),
            );
            return Ok(());
        }
        if terms.bond_amount < l1.min_bond() {
            self.no_quote(
                epoch,
                "bond_below_minimum",
                format!(
                    "bond {} is below the Rollup's minimum bond {}: no proposer could claim it",
                    terms.bond_amount,
                    l1.min_bond()
                ),
            );
            return Ok(());
        }
        if let Err(err) = shared.bond.ensure_bond(terms.bond_amount).await {
            self.no_quote(epoch, "bond", err.to_string());
            return Ok(());
        }
        // The ledger refuses what would over-commit the escrow or the proving capacity.
        let available = (shared.market)
            .top_up_and_read_available(&shared.bond, l1, shared.me, terms.bond_amount)
            .await?;
        let proposal = match (shared.market).admit(
            epoch,
            summary.tx_count,
            terms.bond_amount,
            valid_until,
            available,
        ) {
            Ok(proposal) => proposal,
            Err(refusal) => {
                self.no_quote(epoch, refusal.code(), refusal.to_string());
                return Ok(());
            }
        };
        let quote = match sign_quote(&shared, &range, &terms, valid_until) {
            Ok(quote) => quote,
            Err(err) => {
                self.no_quote(epoch, "signing", err.to_string());
                return Ok(());
            }
        };
        let quote_id = quote.digest(l1.chain_id()).to_string();
        // Recorded before it leaves: a crash after sending must not lead to a second quote.
        shared.store.lock().record_quote_sent(&SentQuote {
            quote_id: quote_id.clone(),
            epoch,
            valid_until_slot: valid_until,
            basis_point_fee: terms.basis_point_fee,
            bond_amount: terms.bond_amount.to_string(),
            path: shared.sink.name().to_owned(),
            quote_json: quote.to_json_string(),
        })?;
        // Now committed: its bond and work count until it expires, is lost or becomes a job.
        shared.market.record_quote(&shared.store.lock(), &proposal);
        shared.quoted_epochs.lock().insert(epoch);
        self.deliver(&quote, epoch, &quote_id, false).await;
        Ok(())
    }

    fn no_quote(&self, epoch: u64, reason: &'static str, detail: String) {
        tracing::warn!(epoch, reason, %detail, "no quote for the epoch");
        self.shared.metrics.no_quote(reason);
        self.shared.emit(ProverEvent::NoQuote {
            epoch,
            reason,
            detail,
        });
    }

    async fn deliver(&mut self, quote: &EpochProofQuote, epoch: u64, quote_id: &str, resend: bool) {
        let shared = &self.shared;
        let path = shared.sink.name();
        match shared.sink.send(quote).await {
            Ok(()) => {
                self.delivered.insert(quote_id.to_owned());
                shared.quoted_epochs.lock().insert(epoch);
                shared.metrics.quote_sent(path);
                let time = shared.l1.time();
                let epoch_end = time.slot_start(time.epoch_start_slot(epoch.saturating_add(1)));
                let latency = (unix_now() - epoch_end as f64).max(0.0);
                if !resend {
                    shared.metrics.observe_epoch_end_to_quote(latency);
                }
                let fields = quote.fields();
                tracing::info!(
                    epoch, quote_id, path, resend,
                    fee = fields.basis_point_fee, bond = %fields.bond_amount,
                    valid_until_slot = %fields.valid_until_slot,
                    from_block = %fields.epoch_init_block, to_block = %fields.epoch_final_block,
                    "quote sent"
                );
                shared.emit(ProverEvent::QuoteSent {
                    epoch,
                    quote_id: quote_id.parse().unwrap_or_default(),
                    path,
                    basis_point_fee: fields.basis_point_fee,
                    resend,
                });
            }
            Err(err) => {
                shared.metrics.quote_send_failed(path);
                tracing::warn!(epoch, quote_id, path, %err, "quote path failed; resending next tick");
            }
        }
    }
}
