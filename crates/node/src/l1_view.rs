//! The node's real view of L1: a [`ChainView`] backed by the Rollup and escrow contracts through
//! `epoch_rfq_l1::L1Client`.

use alloy_primitives::{Address, B256, U256};
use epoch_rfq_l1::{EpochRange, L1Client};
use epoch_rfq_pool::{ChainSnapshot, EpochView};
use futures::future::BoxFuture;

use crate::chain::{ChainView, ChainViewError};
use crate::history::{MarketEvent, MarketEventKind};
use crate::types::L1ContractAddresses;

/// Reads the snapshot the pool validates against from the Rollup contract.
#[derive(Clone)]
pub struct L1ChainView {
    client: L1Client,
}

impl std::fmt::Debug for L1ChainView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("L1ChainView")
            .field("rollup", &self.client.rollup_address())
            .finish()
    }
}

impl L1ChainView {
    /// A view over `client` (a read-only client is enough).
    pub fn new(client: L1Client) -> Self {
        Self { client }
    }

    async fn read_snapshot(&self) -> Result<ChainSnapshot, epoch_rfq_l1::L1Error> {
        let info = self.client.info();
        let time = info.time;
        let (l1_block_number, l1_timestamp) = self.client.latest_l1_block().await?;
        // Before genesis there is no slot yet; slot 0 is the closest honest answer and quotes for
        // epochs that cannot exist fail the epoch check anyway.
        let current_slot = time.slot_at(l1_timestamp).unwrap_or(0);
        let current_epoch = time.epoch_of_slot(current_slot);
        let complete = |epoch: u64| current_epoch > epoch;

        let epoch_to_prove = match self.client.epoch_to_prove_range().await? {
            Some(range) => Some(self.view(range, complete(range.epoch)).await?),
            None => None,
        };
        // The epoch that just ended, when it is unproven but not yet the epoch to prove (an older
        // epoch still is): provers may quote it ahead of its claim phase (SPEC §5.1).
        let just_completed_epoch = match (current_epoch.checked_sub(1), &epoch_to_prove) {
            (Some(previous), Some(oldest)) if previous > oldest.epoch => {
                let range = self.client.epoch_range(previous).await?;
                if range.is_empty() {
                    None
                } else {
                    Some(self.view(range, true).await?)
                }
            }
            _ => None,
        };
        Ok(ChainSnapshot {
            chain_id: info.chain_id,
            rollup_address: info.contracts.rollup,
            l1_block_number,
            l1_timestamp,
            current_slot,
            time,
            epoch_to_prove,
            just_completed_epoch,
            min_bond: info.min_bond,
        })
    }

    /// An epoch's view: its contents only once it is complete (until then its block range and
    /// fees still grow, and a quote cannot be checked against them).
    async fn view(
        &self,
        range: EpochRange,
        complete: bool,
    ) -> Result<EpochView, epoch_rfq_l1::L1Error> {
        let mut view = EpochView::new(range.epoch);
        if complete && !range.is_empty() {
            view = view.with_contents(range.from_block, range.to_block, range.total_fees);
        }
        view.claimed = self.client.claim(range.epoch).await?.is_some();
        Ok(view)
    }

    /// The timestamp of L1 block `number` (`None` if the node does not know the block).
    async fn block_timestamp(&self, number: u64) -> Result<Option<u64>, epoch_rfq_l1::L1Error> {
        use epoch_rfq_l1::alloy::eips::BlockNumberOrTag;
        use epoch_rfq_l1::alloy::providers::Provider;
        let block = self
            .client
            .provider()
            .get_block_by_number(BlockNumberOrTag::Number(number))
            .await
            .map_err(|e| epoch_rfq_l1::L1Error::Rpc {
                call: "eth_getBlockByNumber",
                message: e.to_string(),
            })?;
        Ok(block.map(|b| b.header.timestamp))
    }

    /// The four market events of L1 blocks `from..=to`, in chain order.
    async fn read_market_events(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Vec<MarketEvent>, epoch_rfq_l1::L1Error> {
        let c = &self.client;
        let base = |kind, epoch, at: epoch_rfq_l1::LogPosition| MarketEvent {
            kind,
            epoch,
            prover: None,
            amount: None,
            basis_point_fee: None,
            proposer: None,
            blocks: None,
            through_epoch: None,
            tx_hash: at.tx_hash,
            l1_block: at.l1_block,
            log_index: at.log_index,
        };
        let mut out = Vec::new();
        for e in c.proof_right_claimed_events(from, Some(to)).await? {
            out.push(MarketEvent {
                prover: Some(e.prover),
                amount: Some(e.bond_amount),
                basis_point_fee: Some(e.basis_point_fee),
                proposer: Some(e.proposer),
                ..base(MarketEventKind::Claimed, e.epoch, e.at)
            });
        }
        for e in c.epoch_proven_events(from, Some(to)).await? {
            out.push(MarketEvent {
                prover: Some(e.prover),
                amount: Some(e.prover_reward),
                blocks: Some((e.from_block, e.to_block)),
                ..base(MarketEventKind::Proven, e.epoch, e.at)
            });
        }
        for e in c.bond_slashed_events(from, Some(to)).await? {
            out.push(MarketEvent {
                prover: Some(e.prover),
                amount: Some(e.amount),
                ..base(MarketEventKind::Slashed, e.epoch, e.at)
            });
        }
        for e in c.pruned_events(from, Some(to)).await? {
            // A prune removes every unproven block: those of each epoch from the epoch to prove
            // up to the last complete one at the prune's time.
            let through = self
                .block_timestamp(e.at.l1_block)
                .await?
                .and_then(|ts| c.info().time.epoch_at(ts))
                .map(|current| current.saturating_sub(1).max(e.epoch));
            out.push(MarketEvent {
                blocks: Some((e.from_block, e.to_block)),
                through_epoch: through,
                ..base(MarketEventKind::Pruned, e.epoch, e.at)
            });
        }
        out.sort_by_key(|e| (e.l1_block, e.log_index));
        Ok(out)
    }
}

impl ChainView for L1ChainView {
    fn snapshot(&self) -> BoxFuture<'_, Result<ChainSnapshot, ChainViewError>> {
        Box::pin(async move {
            self.read_snapshot()
                .await
                .map_err(|e| ChainViewError(Box::new(e)))
        })
    }

    fn escrow_available(
        &self,
        prover: Address,
    ) -> BoxFuture<'_, Result<Option<U256>, ChainViewError>> {
        Box::pin(async move {
            self.client
                .available_for_bond(prover)
                .await
                .map(Some)
                .map_err(|e| ChainViewError(Box::new(e)))
        })
    }

    fn market_events(
        &self,
        from_l1_block: u64,
        to_l1_block: u64,
    ) -> BoxFuture<'_, Result<Vec<MarketEvent>, ChainViewError>> {
        Box::pin(async move {
            self.read_market_events(from_l1_block, to_l1_block)
                .await
                .map_err(|e| ChainViewError(Box::new(e)))
        })
    }

    fn block_hash(&self, number: u64) -> BoxFuture<'_, Result<Option<B256>, ChainViewError>> {
        Box::pin(async move {
            self.client
                .block_hash(number)
                .await
                .map_err(|e| ChainViewError(Box::new(e)))
        })
    }

    fn l1_contract_addresses(&self) -> L1ContractAddresses {
        L1ContractAddresses::from(self.client.contracts())
    }
}
