//! The claim watcher (the seed's claims watcher and `handleClaim`): every polling interval, and
//! at once when the ws subscription reports a `ProofRightClaimed`, read `getProofClaim()`; a
//! claim whose bond provider is us creates the proving job (the store's primary key makes it
//! exactly once, across restarts and duplicate signals) and starts it. Then cancel jobs whose
//! claim is gone for good, and report our slashed bonds.
//!
//! Reorgs: a claim of ours that L1 no longer shows pauses its job's proof submission (the job
//! checks the claim before sending) and cancels the job only once the claim can no longer come
//! back. The slash scan's cursor holds the hash of the last block read and reads the last
//! [`SLASH_REWIND_BLOCKS`] blocks again when that block was replaced.
//!
//! It never waits for the escrow top-up or the pricing service: after a won claim it only asks
//! the bond manager for a top-up.

use std::collections::BTreeSet;
use std::sync::Arc;

use epoch_rfq_l1::alloy::primitives::B256;
use epoch_rfq_l1::alloy::providers::Provider;
use epoch_rfq_l1::alloy::rpc::types::Filter;
use epoch_rfq_l1::alloy::sol_types::SolEvent;
use epoch_rfq_l1::bindings::Rollup;
use epoch_rfq_l1::{Claim, L1Client, L1Error};
use tokio::sync::{Notify, broadcast};
use tokio::task::AbortHandle;

use super::{NodeError, ProverEvent, Shared, unix_now};
use crate::store::{JobState, SeenClaim};

/// Blocks scanned again for `BondSlashed` when the block under the slash cursor was replaced:
/// the node's history cursor rewinds as far (deeper than any Ethereum reorg since the merge,
/// short of finality).
pub(super) const SLASH_REWIND_BLOCKS: u64 = 64;

/// Epochs whose slash was reported that are remembered, so that blocks read again after a reorg
/// do not report a slash twice (one claim per epoch: at most one slash per epoch).
const REPORTED_SLASHES_KEPT: usize = 64;

/// The last L1 block scanned for `BondSlashed`: its number and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SlashCursor {
    number: u64,
    hash: B256,
}

/// The claim watcher's state between rounds.
pub(super) struct ClaimWatcher {
    shared: Arc<Shared>,
    /// The last L1 block scanned for `BondSlashed`.
    slash_cursor: Option<SlashCursor>,
    /// Epochs whose slash was reported (the newest [`REPORTED_SLASHES_KEPT`]).
    reported_slashes: BTreeSet<u64>,
}

impl ClaimWatcher {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            slash_cursor: None,
            reported_slashes: BTreeSet::new(),
        }
    }

    /// Runs until the node stops.
    pub(super) async fn run(mut self, wake: Arc<Notify>) {
        let shared = self.shared.clone();
        let mut interval = tokio::time::interval(shared.settings.polling_interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shared.stop.cancelled() => break,
                _ = interval.tick() => {}
                () = wake.notified() => {}
            }
            match self.round().await {
                Ok(()) => {
                    shared.metrics.mark_tick_ok();
                    shared.services.claim_watcher.ok();
                }
                Err(err) => {
                    tracing::warn!(%err, "claim watcher round failed; retrying next interval");
                    shared.services.claim_watcher.degraded(err.to_string());
                }
            }
        }
        shared.services.claim_watcher.stopped();
        tracing::info!("claim watcher stopped");
    }

    async fn round(&mut self) -> Result<(), NodeError> {
        if let Some(claim) = self.shared.l1.proof_claim().await? {
            self.on_claim(claim).await?;
        }
        self.settle_quoted_epochs().await?;
        self.check_cancellations().await?;
        self.check_slashes().await
    }

    /// Reads the claims of the epochs we quoted that `getProofClaim()` may no longer show: a
    /// winner that proves within one polling interval moves the epoch to prove on before our
    /// next read, and the auction's outcome (won, or lost and at what fee) would go unrecorded.
    /// `getClaim(epoch)` keeps a claim after its proof. An epoch leaves the set once its claim
    /// was handled, or once its claim phase ended without one.
    async fn settle_quoted_epochs(&mut self) -> Result<(), NodeError> {
        let epochs: Vec<u64> = self.shared.quoted_epochs.lock().iter().copied().collect();
        if epochs.is_empty() {
            return Ok(());
        }
        let l1 = self.shared.l1.clone();
        let slot = l1.current_slot().await?;
        let time = *l1.time();
        for epoch in epochs {
            match l1.claim(epoch).await? {
                Some(claim) => {
                    self.on_claim(claim).await?;
                    self.shared.quoted_epochs.lock().remove(&epoch);
                }
                None if slot > time.claim_phase_last_slot(epoch) => {
                    self.shared.quoted_epochs.lock().remove(&epoch);
                }
                None => {}
            }
        }
        Ok(())
    }

    /// The seed's `handleClaim`.
    async fn on_claim(&mut self, claim: Claim) -> Result<(), NodeError> {
        let shared = self.shared.clone();
        let ours = claim.bond_provider == shared.me;
        let new = shared.store.lock().record_claim(&SeenClaim {
            epoch: claim.epoch,
            bond_provider: claim.bond_provider.to_string(),
            proposer: claim.proposer_claimant.to_string(),
            bond_amount: claim.bond_amount.to_string(),
            basis_point_fee: claim.basis_point_fee,
        })?;
        if new {
            tracing::info!(
                epoch = claim.epoch, prover = %claim.bond_provider, proposer = %claim.proposer_claimant,
                fee = claim.basis_point_fee, bond = %claim.bond_amount, ours, "claim seen on L1"
            );
            // The ledger moves our quote to a claimed epoch; the auction's outcome is recorded.
            shared.market.on_claim(&shared.store.lock(), &claim, ours);
            shared.emit(ProverEvent::ClaimSeen { claim, ours });
            if !ours && shared.quoted_epochs.lock().contains(&claim.epoch) {
                shared.metrics.claim_lost();
            }
        }
        if !ours {
            return Ok(());
        }
        let created = shared.store.lock().create_job(claim.epoch)?;
        if created {
            shared.metrics.claim_won();
            shared.metrics.job_moved(None, JobState::Claimed);
            shared.jobs.start(&shared, claim.epoch, false);
            // The stake lowered the free deposit (SPEC §6.2): the bond manager tops it up in its
            // own task, so a slow deposit never holds up the next claim or a proof.
            shared.bond_wake.notify_one();
            // The metric's start is the claim's L1 block time (what an operator can check on
            // chain); best effort, seconds resolution.
            match claim_block_time(&shared.l1, claim.epoch).await {
                Ok(Some(ts)) => shared
                    .metrics
                    .observe_claim_to_job_start((unix_now() - ts as f64).max(0.0)),
                Ok(None) => {}
                Err(err) => tracing::debug!(%err, "cannot read the claim's L1 block time"),
            }
            return Ok(());
        }
        // Bound first: the store lock must not be held while the job is started.
        let job = shared.store.lock().job(claim.epoch)?;
        if let Some(job) = job
            && !job.state.is_terminal()
            && !shared.jobs.is_running(claim.epoch)
        {
            // A duplicate signal for a job whose task ended without finishing (an L1 error):
            // pick it up again.
            shared.jobs.start(&shared, claim.epoch, true);
        }
        Ok(())
    }

    /// Cancels unfinished jobs whose claim is gone for good.
    ///
    /// A claim of ours that is missing (or replaced by another prover's) is not gone for good
    /// while it can still come back: a reorg in flight (the claim transaction is usually mined
    /// again a block later) or an L1 endpoint a block behind. Cancelling then would be final, and
    /// the bond, staked again when the claim comes back, would be slashed for a proof we stopped
    /// making. Meanwhile the job may prove but does not submit (see `jobs::submit_proof`): a
    /// proof of an unclaimed epoch would pay its fees to nobody and shut our claim out. The claim
    /// is gone for good once the epoch's blocks were pruned, or once the newest block that is
    /// `L1_CONFIRMATIONS` deep is past the claim phase: every block of the claim phase is then at
    /// least that deep, and none of them holds our claim.
    async fn check_cancellations(&mut self) -> Result<(), NodeError> {
        let shared = &self.shared;
        let unfinished = shared.store.lock().unfinished_jobs()?;
        for job in unfinished {
            let claim = shared.l1.claim(job.epoch).await?;
            let reason = match claim {
                Some(claim) if claim.bond_provider == shared.me => continue,
                _ if shared.l1.epoch_range(job.epoch).await?.is_empty() => {
                    "the claim vanished from L1 (the epoch was pruned) before the proof landed"
                        .to_string()
                }
                claim => {
                    let confirmed = shared.l1.confirmed_slot().await?;
                    let last_claim_slot = shared.l1.time().claim_phase_last_slot(job.epoch);
                    if confirmed <= last_claim_slot {
                        tracing::warn!(
                            epoch = job.epoch,
                            other_prover = ?claim.map(|c| c.bond_provider),
                            "our claim is not on L1 while the epoch can still be claimed (reorg \
                             or a lagging endpoint?); the job holds its proof until the claim \
                             is back"
                        );
                        continue;
                    }
                    match claim {
                        Some(other) => format!(
                            "the claim was reorged out and the epoch was claimed for prover {} \
                             instead",
                            other.bond_provider
                        ),
                        None => format!(
                            "the claim was reorged out and not mined again before the claim \
                             phase ended (slot {last_claim_slot})"
                        ),
                    }
                }
            };
            shared.jobs.cancel(job.epoch);
            // Re-read: the task may have moved it before it was stopped.
            let Some(current) = shared.store.lock().job(job.epoch)? else {
                continue;
            };
            if current.state.is_terminal() {
                continue;
            }
            tracing::warn!(epoch = job.epoch, state = %current.state, %reason, "our claim is gone from L1; cancelling the job");
            shared.store.lock().forget_claim(job.epoch)?;
            shared.transition(job.epoch, current.state, JobState::Cancelled, &reason)?;
        }
        Ok(())
    }

    /// Reports each `BondSlashed` of ours since the last round (from the block this process
    /// started at: a slash while the prover was down shows in its job's `Failed` state).
    ///
    /// The cursor holds the hash of the last block read: when that block was replaced (a reorg),
    /// the last [`SLASH_REWIND_BLOCKS`] blocks are read again, so a slash mined in a block that
    /// replaced one already read is still reported (each epoch's slash once).
    async fn check_slashes(&mut self) -> Result<(), NodeError> {
        let l1 = self.shared.l1.clone();
        let (latest, _) = l1.latest_l1_block().await?;
        let from = match self.slash_cursor {
            None => latest,
            Some(cursor) => {
                if l1.block_hash(cursor.number).await? != Some(cursor.hash) {
                    // (Never past the head: a chain that lost more blocks than the rewind.)
                    let from = cursor
                        .number
                        .saturating_sub(SLASH_REWIND_BLOCKS - 1)
                        .min(latest);
                    tracing::info!(
                        block = cursor.number,
                        rewind_to = from,
                        "L1 reorg under the slash cursor; reading the last blocks again"
                    );
                    from
                } else if cursor.number >= latest {
                    return Ok(());
                } else {
                    cursor.number + 1
                }
            }
        };
        // The hash is read before the logs and checked after them: logs read across a reorg of
        // their last block are not trusted, and the next round reads them again.
        let Some(hash) = l1.block_hash(latest).await? else {
            return Ok(());
        };
        let slashes = l1.bond_slashed_events(from, Some(latest)).await?;
        if l1.block_hash(latest).await? != Some(hash) {
            return Ok(());
        }
        for slash in slashes {
            if slash.prover != self.shared.me || !self.reported_slashes.insert(slash.epoch) {
                continue;
            }
            if self.reported_slashes.len() > REPORTED_SLASHES_KEPT {
                self.reported_slashes.pop_first();
            }
            self.shared.metrics.bond_slashed(slash.amount);
            tracing::error!(
                epoch = slash.epoch, amount = %slash.amount, l1_block = slash.at.l1_block,
                "our bond was slashed: the epoch was not proven by its deadline"
            );
            self.shared.emit(ProverEvent::BondSlashed {
                epoch: slash.epoch,
                amount: slash.amount,
            });
        }
        self.slash_cursor = Some(SlashCursor {
            number: latest,
            hash,
        });
        Ok(())
    }
}

/// The L1 timestamp of the block holding the `ProofRightClaimed` of `epoch` (recent blocks).
async fn claim_block_time(l1: &L1Client, epoch: u64) -> Result<Option<u64>, L1Error> {
    let (latest, _) = l1.latest_l1_block().await?;
    let events = l1
        .proof_right_claimed_events(latest.saturating_sub(1_000), None)
        .await?;
    let Some(event) = events.iter().rev().find(|e| e.epoch == epoch) else {
        return Ok(None);
    };
    let block = l1
        .provider()
        .get_block_by_number(event.at.l1_block.into())
        .await
        .map_err(|e| L1Error::Rpc {
            call: "eth_getBlockByNumber",
            message: e.to_string(),
        })?;
    Ok(block.map(|b| b.header.timestamp))
}

/// Subscribes to `ProofRightClaimed` and wakes the claim watcher on each; `None` when the
/// provider cannot subscribe (http), in which case polling alone detects claims.
pub(super) async fn spawn_claim_subscription(
    shared: &Arc<Shared>,
    wake: Arc<Notify>,
) -> Option<AbortHandle> {
    let filter = Filter::new()
        .address(shared.l1.rollup_address())
        .event_signature(Rollup::ProofRightClaimed::SIGNATURE_HASH);
    match shared.l1.provider().subscribe_logs(&filter).await {
        Ok(subscription) => {
            let task = tokio::spawn(async move {
                let mut subscription = subscription;
                loop {
                    match subscription.recv().await {
                        Ok(log) => {
                            tracing::debug!(tx = ?log.transaction_hash, "ProofRightClaimed notification");
                            wake.notify_one();
                        }
                        // Missed notifications: a round reads the claim anyway.
                        Err(broadcast::error::RecvError::Lagged(_)) => wake.notify_one(),
                        Err(broadcast::error::RecvError::Closed) => break,
                    }
                }
                tracing::warn!("ProofRightClaimed subscription ended; polling only");
            });
            Some(task.abort_handle())
        }
        Err(err) => {
            tracing::warn!(%err, "cannot subscribe to ProofRightClaimed; polling only");
            None
        }
    }
}
