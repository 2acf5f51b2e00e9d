//! Following L1 and the node's pool for the sandbox's story.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use alloy_primitives::{Address, B256};
use anyhow::Result;
use epoch_rfq_l1::L1Client;
use epoch_rfq_node::{NodeClient, NodeService};
use epoch_rfq_quote::EpochProofQuote;
use tokio::sync::watch;

use super::events::{Hub, SandboxEvent};

/// Where the watcher reads the node's pool.
pub(super) enum PoolView {
    /// The node runs in this process.
    Local(NodeService),
    /// The node is a child process: `node_getEpochProofQuotes` (it may be frozen, so each read
    /// is short and a failed one is tried again next round).
    Remote(NodeClient),
}

/// Follows L1 (the slot for the console, completed epochs, the Rollup's `ProofRightClaimed`,
/// `EpochProven`, `BondSlashed` and `PrunedPending` events) and the node's pool (each quote once, when it
/// arrives), in one loop so that an epoch's completion is shown before its quotes.
pub(super) async fn watch(
    l1: L1Client,
    node: PoolView,
    slash_recipient: Address,
    hub: Arc<Hub>,
    mut stopped: watch::Receiver<bool>,
) {
    let time = *l1.time();
    let mut next_block = 0u64;
    let mut last_epoch: Option<u64> = None;
    let mut seen_quotes = HashSet::new();
    loop {
        if let Err(e) = watch_l1_once(
            &l1,
            &time,
            slash_recipient,
            &hub,
            &mut next_block,
            &mut last_epoch,
        )
        .await
        {
            tracing::debug!(error = %e, "sandbox L1 watcher: read failed; retrying");
        }
        let chain_id = l1.chain_id();
        match &node {
            PoolView::Local(node) => watch_pool_once(node, &hub, &mut seen_quotes),
            PoolView::Remote(client) => {
                // The quotes of the epochs in (or just past) their claim phase.
                let current = last_epoch.unwrap_or_default();
                for epoch in [current.saturating_sub(1), current.saturating_sub(2)] {
                    let read = tokio::time::timeout(
                        Duration::from_millis(500),
                        client.get_epoch_proof_quotes(epoch),
                    )
                    .await;
                    if let Ok(Ok(quotes)) = read {
                        for q in &quotes {
                            show_quote(epoch, q, chain_id, &hub, &mut seen_quotes);
                        }
                    }
                }
            }
        }
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => return,
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

pub(super) async fn watch_l1_once(
    l1: &L1Client,
    time: &epoch_rfq_l1::TimeParams,
    slash_recipient: Address,
    hub: &Hub,
    next_block: &mut u64,
    last_epoch: &mut Option<u64>,
) -> Result<()> {
    let (latest, ts) = l1.latest_l1_block().await?;
    if let Some(slot) = time.slot_at(ts) {
        hub.slot.store(slot, Ordering::Relaxed);
        let epoch = time.epoch_of_slot(slot);
        if let Some(previous) = *last_epoch
            && epoch > previous
        {
            for done in previous..epoch {
                let range = l1.epoch_range(done).await?;
                let claim = time.claim_phase(done);
                hub.emit(SandboxEvent::EpochComplete {
                    epoch: done,
                    blocks: (!range.is_empty()).then_some((range.from_block, range.to_block)),
                    fees: range.total_fees,
                    claim_phase: (claim.start, claim.end.saturating_sub(1)),
                });
            }
        }
        *last_epoch = Some(epoch);
    }
    if latest < *next_block {
        return Ok(());
    }
    let from = *next_block;
    // One list of the four kinds, in chain order.
    let mut found: Vec<((u64, u64), SandboxEvent)> = Vec::new();
    for e in l1.proof_right_claimed_events(from, Some(latest)).await? {
        found.push((
            (e.at.l1_block, e.at.log_index),
            SandboxEvent::Claimed {
                epoch: e.epoch,
                prover: e.prover,
                basis_point_fee: e.basis_point_fee,
                bond: e.bond_amount,
                tx: e.at.tx_hash,
            },
        ));
    }
    for e in l1.bond_slashed_events(from, Some(latest)).await? {
        found.push((
            (e.at.l1_block, e.at.log_index),
            SandboxEvent::BondSlashed {
                epoch: e.epoch,
                prover: e.prover,
                amount: e.amount,
                recipient: slash_recipient,
                tx: e.at.tx_hash,
                l1_block: e.at.l1_block,
            },
        ));
    }
    for e in l1.pruned_events(from, Some(latest)).await? {
        found.push((
            (e.at.l1_block, e.at.log_index),
            SandboxEvent::Pruned {
                epoch: e.epoch,
                from_block: e.from_block,
                to_block: e.to_block,
                tx: e.at.tx_hash,
            },
        ));
    }
    for e in l1.epoch_proven_events(from, Some(latest)).await? {
        let range = l1.epoch_range(e.epoch).await?;
        let claim = l1
            .claim(e.epoch)
            .await?
            .map(|c| (c.basis_point_fee, c.bond_amount));
        found.push((
            (e.at.l1_block, e.at.log_index),
            SandboxEvent::EpochProven {
                epoch: e.epoch,
                from_block: e.from_block,
                to_block: e.to_block,
                prover: e.prover,
                prover_reward: e.prover_reward,
                total_fees: range.total_fees,
                claim,
                tx: e.at.tx_hash,
                l1_block: e.at.l1_block,
            },
        ));
    }
    found.sort_by_key(|(at, _)| *at);
    for (_, e) in found {
        hub.emit(e);
    }
    *next_block = latest + 1;
    Ok(())
}

/// Shows each quote once when it reaches the node's pool.
pub(super) fn watch_pool_once(node: &NodeService, hub: &Hub, seen: &mut HashSet<B256>) {
    let Some(snapshot) = node.snapshot() else {
        return;
    };
    let epochs = [
        snapshot.epoch_to_prove.as_ref().map(|e| e.epoch),
        snapshot.just_completed_epoch.as_ref().map(|e| e.epoch),
    ];
    for epoch in epochs.into_iter().flatten() {
        for q in node.quotes(epoch) {
            show_quote(epoch, q.quote(), q.chain_id(), hub, seen);
        }
    }
}

/// Emits `QuoteReceived` for `quote` the first time it is seen.
fn show_quote(
    epoch: u64,
    quote: &EpochProofQuote,
    chain_id: u64,
    hub: &Hub,
    seen: &mut HashSet<B256>,
) {
    if seen.insert(quote.digest(chain_id)) {
        let f = quote.fields();
        hub.emit(SandboxEvent::QuoteReceived {
            epoch,
            prover: f.prover,
            basis_point_fee: f.basis_point_fee,
            bond: f.bond_amount,
            valid_until_slot: f.valid_until_slot,
        });
    }
}
