//! Rollup methods of [`L1Client`]: time, epochs, blocks, claims, proposing, claiming, proofs,
//! pruning, events.

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{DynProvider, Provider};
use epoch_rfq_quote::{EpochProofQuote, QuoteFields};

use crate::bindings::Rollup;
use crate::client::{L1Client, outcome, to_u64};
use crate::error::{L1Error, Result, from_contract_error, from_transport_error};
use crate::txsend::{Deadline, SendOptions};
use crate::types::{
    BlockProposed, BlockRecord, BondSlashed, Claim, EpochProven, EpochRange, LogPosition,
    ProofRightClaimed, PrunedPending, TxOutcome, sat, signed_quote, sol_quote,
};

/// Result of `propose` / `proposeAndClaim`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proposed {
    /// The transaction.
    pub tx: TxOutcome,
    /// The new L2 block.
    pub block: BlockRecord,
}

impl L1Client {
    // ------------------------------------------------------------------ time

    /// The current slot, from the latest L1 block's timestamp (what `getCurrentSlot` returns in
    /// an `eth_call` against that block).
    pub async fn current_slot(&self) -> Result<u64> {
        let (_, ts) = self.latest_l1_block().await?;
        self.info.time.slot_at(ts).ok_or(L1Error::OutOfRange {
            what: "latest block timestamp (before genesis)",
            value: U256::from(ts),
        })
    }

    /// The slot of the newest L1 block that is [`TxPolicy::confirmations`] deep (the latest
    /// block's slot when that is 0). An epoch complete at this slot has every block it will ever
    /// have proposed in L1 blocks at least that deep: its proposals all precede this block.
    ///
    /// [`TxPolicy::confirmations`]: crate::txsend::TxPolicy::confirmations
    pub async fn confirmed_slot(&self) -> Result<u64> {
        let depth = self.tx_policy.confirmations;
        if depth == 0 {
            return self.current_slot().await;
        }
        let head = self
            .provider
            .get_block_number()
            .await
            .map_err(|e| from_transport_error("eth_blockNumber", &e))?;
        let number = head.saturating_sub(depth);
        let block = self
            .provider
            .get_block_by_number(number.into())
            .await
            .map_err(|e| from_transport_error("eth_getBlockByNumber", &e))?
            .ok_or_else(|| L1Error::Rpc {
                call: "eth_getBlockByNumber",
                message: format!("the node returned no block {number}"),
            })?;
        let ts = block.header.timestamp;
        self.info.time.slot_at(ts).ok_or(L1Error::OutOfRange {
            what: "confirmed block timestamp (before genesis)",
            value: U256::from(ts),
        })
    }

    /// The current epoch (see [`current_slot`](Self::current_slot)).
    pub async fn current_epoch(&self) -> Result<u64> {
        Ok(self.info.time.epoch_of_slot(self.current_slot().await?))
    }

    /// `getCurrentSlot()` as the contract computes it in an `eth_call`.
    pub async fn contract_current_slot(&self) -> Result<u64> {
        let r = self.rollup();
        let v = self.view("getCurrentSlot", r.getCurrentSlot()).await?;
        to_u64("getCurrentSlot", v)
    }

    // ------------------------------------------------------------------ proposers

    /// The validator set (empty: anyone may propose).
    pub async fn validators(&self) -> Result<Vec<Address>> {
        let r = self.rollup();
        self.view("getValidators", r.getValidators()).await
    }

    /// The proposer of `slot`; `None` when anyone may propose.
    pub async fn proposer_at(&self, slot: u64) -> Result<Option<Address>> {
        let r = self.rollup();
        let a = self
            .view("getProposerAt", r.getProposerAt(U256::from(slot)))
            .await?;
        Ok((a != Address::ZERO).then_some(a))
    }

    // ------------------------------------------------------------------ blocks and epochs

    /// The latest L2 block number (0: none).
    pub async fn pending_block_number(&self) -> Result<u64> {
        let r = self.rollup();
        let v = self
            .view("pendingBlockNumber", r.pendingBlockNumber())
            .await?;
        to_u64("pendingBlockNumber", v)
    }

    /// The latest proven L2 block number (0: none).
    pub async fn proven_block_number(&self) -> Result<u64> {
        let r = self.rollup();
        let v = self
            .view("provenBlockNumber", r.provenBlockNumber())
            .await?;
        to_u64("provenBlockNumber", v)
    }

    /// L2 block `number` (`BlockNotFound` when it does not exist).
    pub async fn block(&self, number: u64) -> Result<BlockRecord> {
        let r = self.rollup();
        let b = self
            .view("getBlock", r.getBlock(U256::from(number)))
            .await?;
        Ok(BlockRecord {
            number,
            slot: to_u64("block slot", b.slot)?,
            tx_count: b.txCount,
            total_fees: b.totalFees,
            content_hash: b.contentHash,
            coinbase: b.coinbase,
        })
    }

    /// The block range and fees of `epoch` (empty when it has no blocks).
    pub async fn epoch_range(&self, epoch: u64) -> Result<EpochRange> {
        let r = self.rollup();
        let v = self
            .view("getEpochBlocks", r.getEpochBlocks(U256::from(epoch)))
            .await?;
        Ok(EpochRange {
            epoch,
            from_block: to_u64("fromBlock", v.fromBlock)?,
            to_block: to_u64("toBlock", v.toBlock)?,
            total_fees: v.totalFees,
        })
    }

    /// The blocks of `epoch`, in order.
    pub async fn epoch_blocks(&self, epoch: u64) -> Result<Vec<BlockRecord>> {
        let range = self.epoch_range(epoch).await?;
        let mut blocks = Vec::with_capacity(usize::try_from(range.block_count()).unwrap_or(0));
        for n in range.blocks() {
            blocks.push(self.block(n).await?);
        }
        Ok(blocks)
    }

    /// The epoch to prove (the epoch of the oldest unproven block), if any block is unproven.
    pub async fn epoch_to_prove(&self) -> Result<Option<u64>> {
        let r = self.rollup();
        let v = self.view("getEpochToProve", r.getEpochToProve()).await?;
        if !v.exists {
            return Ok(None);
        }
        Ok(Some(to_u64("epoch to prove", v.epoch)?))
    }

    /// The epoch to prove with its block range and fees.
    pub async fn epoch_to_prove_range(&self) -> Result<Option<EpochRange>> {
        match self.epoch_to_prove().await? {
            Some(e) => Ok(Some(self.epoch_range(e).await?)),
            None => Ok(None),
        }
    }

    // ------------------------------------------------------------------ claims

    /// The claim on the epoch to prove (`getProofClaim`), `None` when unclaimed.
    pub async fn proof_claim(&self) -> Result<Option<Claim>> {
        let r = self.rollup();
        let c = self.view("getProofClaim", r.getProofClaim()).await?;
        Ok(Claim::from_sol(&c))
    }

    /// The claim recorded for `epoch` (`getClaim`; kept after the proof, deleted by a prune).
    pub async fn claim(&self, epoch: u64) -> Result<Option<Claim>> {
        let r = self.rollup();
        let c = self.view("getClaim", r.getClaim(U256::from(epoch))).await?;
        Ok(Claim::from_sol(&c))
    }

    /// The Rollup's `quoteToDigest` (must equal [`QuoteFields::digest`] for this chain).
    pub async fn quote_digest(&self, fields: &QuoteFields) -> Result<B256> {
        let r = self.rollup();
        self.view("quoteToDigest", r.quoteToDigest(sol_quote(fields)))
            .await
    }

    /// `validateClaim`: the claim checks as if `proposer` sent the claim in a block at
    /// `timestamp`. Returns the epoch; a failed check is [`crate::ClaimRejected`].
    pub async fn validate_claim(
        &self,
        quote: &EpochProofQuote,
        proposer: Address,
        timestamp: u64,
    ) -> Result<u64> {
        self.validate_signed_claim(signed_quote(quote), proposer, timestamp)
            .await
    }

    /// [`validate_claim`](Self::validate_claim) for a hand-built contract struct.
    pub async fn validate_signed_claim(
        &self,
        quote: Rollup::SignedEpochProofQuote,
        proposer: Address,
        timestamp: u64,
    ) -> Result<u64> {
        let r = self.rollup();
        let v = self
            .view(
                "validateClaim",
                r.validateClaim(quote, proposer, U256::from(timestamp)),
            )
            .await?;
        to_u64("validateClaim epoch", v)
    }

    /// Claims the epoch to prove with `quote` (the sender must be the slot's proposer).
    pub async fn claim_epoch_proof_right(&self, quote: &EpochProofQuote) -> Result<TxOutcome> {
        self.claim_signed(signed_quote(quote)).await
    }

    /// [`claim_epoch_proof_right`](Self::claim_epoch_proof_right) with a contract struct (tests
    /// and tools that need quotes the quote crate refuses to build, e.g. a fee above 10000).
    pub async fn claim_signed(&self, quote: Rollup::SignedEpochProofQuote) -> Result<TxOutcome> {
        let deadline = self.claim_deadline(&quote);
        let r = self.rollup();
        let opts = SendOptions {
            deadline: Some(deadline),
            ..SendOptions::default()
        };
        let receipt = self
            .send_tx("claimEpochProofRight", r.claimEpochProofRight(quote), opts)
            .await?;
        Ok(outcome(&receipt))
    }

    /// A claim must be mined in the claim phase and while its quote is valid.
    fn claim_deadline(&self, quote: &Rollup::SignedEpochProofQuote) -> Deadline {
        let time = &self.info.time;
        let epoch = u64::try_from(quote.quote.epochNumber).unwrap_or(u64::MAX);
        let phase_end = time.slot_start(time.claim_phase(epoch).end);
        let valid_until = u64::try_from(quote.quote.validUntilSlot).unwrap_or(u64::MAX);
        let quote_end = time.slot_start(valid_until.saturating_add(1));
        if quote_end < phase_end {
            Deadline {
                timestamp: quote_end,
                what: "end of the quote's validity",
            }
        } else {
            Deadline {
                timestamp: phase_end,
                what: "end of the claim phase",
            }
        }
    }

    /// A block proposal must be mined in the slot it is for.
    async fn slot_deadline(&self) -> Result<Deadline> {
        let slot = self.current_slot().await?;
        Ok(Deadline {
            timestamp: self.info.time.slot_start(slot.saturating_add(1)),
            what: "end of the slot",
        })
    }

    // ------------------------------------------------------------------ proposing

    /// Proposes the block of the current slot (approve `total_fees` of FeeToken to the Rollup
    /// first, see [`approve`](Self::approve)).
    pub async fn propose(
        &self,
        tx_count: U256,
        total_fees: U256,
        content_hash: B256,
    ) -> Result<Proposed> {
        let opts = SendOptions {
            deadline: Some(self.slot_deadline().await?),
            ..SendOptions::default()
        };
        let r = self.rollup();
        let receipt = self
            .send_tx(
                "propose",
                r.propose(tx_count, total_fees, content_hash),
                opts,
            )
            .await?;
        proposed(&receipt)
    }

    /// Proposes and claims in one transaction.
    pub async fn propose_and_claim(
        &self,
        tx_count: U256,
        total_fees: U256,
        content_hash: B256,
        quote: &EpochProofQuote,
    ) -> Result<Proposed> {
        let opts = SendOptions {
            deadline: Some(self.slot_deadline().await?),
            ..SendOptions::default()
        };
        let r = self.rollup();
        let receipt = self
            .send_tx(
                "proposeAndClaim",
                r.proposeAndClaim(tx_count, total_fees, content_hash, signed_quote(quote)),
                opts,
            )
            .await?;
        proposed(&receipt)
    }

    // ------------------------------------------------------------------ proofs and pruning

    /// `computePublicInputsHash(epoch, prover)` as the Rollup computes it now.
    pub async fn public_inputs_hash(&self, epoch: u64, prover_id: Address) -> Result<B256> {
        let r = self.rollup();
        self.view(
            "computePublicInputsHash",
            r.computePublicInputsHash(U256::from(epoch), prover_id),
        )
        .await
    }

    /// Submits the proof of `epoch`.
    pub async fn submit_epoch_proof(&self, epoch: u64, proof: Bytes) -> Result<TxOutcome> {
        let r = self.rollup();
        let receipt = self
            .send_call(
                "submitEpochProof",
                r.submitEpochProof(U256::from(epoch), proof),
            )
            .await?;
        Ok(outcome(&receipt))
    }

    /// Whether `prune()` would succeed now.
    pub async fn is_prune_due(&self) -> Result<bool> {
        let r = self.rollup();
        self.view("isPruneDue", r.isPruneDue()).await
    }

    /// Prunes the unproven blocks (`NothingToPrune` when not due).
    pub async fn prune(&self) -> Result<TxOutcome> {
        let r = self.rollup();
        let receipt = self.send_call("prune", r.prune()).await?;
        Ok(outcome(&receipt))
    }

    // ------------------------------------------------------------------ events

    /// Queries one event's logs in L1 blocks `from..=to` and maps each to a domain type.
    async fn logs<E: alloy::sol_types::SolEvent, T>(
        &self,
        what: &'static str,
        filter: alloy::contract::Event<&DynProvider, E>,
        from: u64,
        to: Option<u64>,
        map: impl Fn(&E, &alloy::rpc::types::Log) -> T,
    ) -> Result<Vec<T>> {
        let logs = filter
            .from_block(from)
            .to_block(to_tag(to))
            .query()
            .await
            .map_err(|e| from_contract_error(what, e))?;
        Ok(logs.iter().map(|(e, log)| map(e, log)).collect())
    }

    /// `ProofRightClaimed` events in L1 blocks `from..=to` (`to = None`: up to the latest).
    pub async fn proof_right_claimed_events(
        &self,
        from: u64,
        to: Option<u64>,
    ) -> Result<Vec<ProofRightClaimed>> {
        let r = self.rollup();
        let filter = r.ProofRightClaimed_filter();
        self.logs("ProofRightClaimed logs", filter, from, to, |e, log| {
            ProofRightClaimed {
                epoch: sat(e.epoch),
                prover: e.prover,
                proposer: e.proposer,
                bond_amount: e.bondAmount,
                basis_point_fee: u32::try_from(e.basisPointFee).unwrap_or(u32::MAX),
                slot: sat(e.slot),
                at: LogPosition::of(log),
            }
        })
        .await
    }

    /// `EpochProven` events in L1 blocks `from..=to`.
    pub async fn epoch_proven_events(
        &self,
        from: u64,
        to: Option<u64>,
    ) -> Result<Vec<EpochProven>> {
        let r = self.rollup();
        let filter = r.EpochProven_filter();
        self.logs("EpochProven logs", filter, from, to, |e, log| EpochProven {
            epoch: sat(e.epoch),
            from_block: sat(e.fromBlock),
            to_block: sat(e.toBlock),
            prover: e.prover,
            prover_reward: e.proverReward,
            at: LogPosition::of(log),
        })
        .await
    }

    /// `BondSlashed` events in L1 blocks `from..=to`.
    pub async fn bond_slashed_events(
        &self,
        from: u64,
        to: Option<u64>,
    ) -> Result<Vec<BondSlashed>> {
        let r = self.rollup();
        let filter = r.BondSlashed_filter();
        self.logs("BondSlashed logs", filter, from, to, |e, log| BondSlashed {
            epoch: sat(e.epoch),
            prover: e.prover,
            amount: e.amount,
            at: LogPosition::of(log),
        })
        .await
    }

    /// `L2BlockProposed` events in L1 blocks `from..=to`.
    pub async fn block_proposed_events(
        &self,
        from: u64,
        to: Option<u64>,
    ) -> Result<Vec<BlockProposed>> {
        let r = self.rollup();
        let filter = r.L2BlockProposed_filter();
        self.logs("L2BlockProposed logs", filter, from, to, |e, log| {
            BlockProposed {
                block: block_of_event(e),
                at: LogPosition::of(log),
            }
        })
        .await
    }

    /// `PrunedPending` events in L1 blocks `from..=to`.
    pub async fn pruned_events(&self, from: u64, to: Option<u64>) -> Result<Vec<PrunedPending>> {
        let r = self.rollup();
        let filter = r.PrunedPending_filter();
        self.logs("PrunedPending logs", filter, from, to, |e, log| {
            PrunedPending {
                epoch: sat(e.epoch),
                from_block: sat(e.fromBlock),
                to_block: sat(e.toBlock),
                at: LogPosition::of(log),
            }
        })
        .await
    }
}

impl L1Client {
    /// A live stream of `ProofRightClaimed` events from now on: an `eth_subscribe` subscription
    /// when the provider is a WebSocket one (lowest latency, SPEC §6.5), otherwise a polled log
    /// filter (at the provider's poll interval). Logs that fail to decode are skipped with a
    /// warning. The stream ends when the connection does; callers keep polling
    /// [`proof_claim`](Self::proof_claim) as the ground truth anyway.
    pub async fn watch_proof_right_claimed(
        &self,
    ) -> Result<std::pin::Pin<Box<dyn futures::Stream<Item = ProofRightClaimed> + Send>>> {
        use futures::StreamExt;
        fn convert(
            item: alloy::sol_types::Result<(Rollup::ProofRightClaimed, alloy::rpc::types::Log)>,
        ) -> Option<ProofRightClaimed> {
            match item {
                Ok((e, log)) => Some(ProofRightClaimed {
                    epoch: sat(e.epoch),
                    prover: e.prover,
                    proposer: e.proposer,
                    bond_amount: e.bondAmount,
                    basis_point_fee: u32::try_from(e.basisPointFee).unwrap_or(u32::MAX),
                    slot: sat(e.slot),
                    at: LogPosition::of(&log),
                }),
                Err(err) => {
                    tracing::warn!(%err, "undecodable ProofRightClaimed log skipped");
                    None
                }
            }
        }
        let r = self.rollup();
        let filter = r.ProofRightClaimed_filter();
        let pubsub = alloy::providers::Provider::client(&self.provider)
            .pubsub_frontend()
            .is_some();
        if pubsub {
            let sub = filter
                .subscribe()
                .await
                .map_err(|e| crate::error::from_transport_error("eth_subscribe logs", &e))?;
            Ok(Box::pin(
                sub.into_stream()
                    .filter_map(|i| futures::future::ready(convert(i))),
            ))
        } else {
            let poller = filter
                .watch()
                .await
                .map_err(|e| crate::error::from_transport_error("eth_newFilter", &e))?;
            Ok(Box::pin(
                poller
                    .into_stream()
                    .filter_map(|i| futures::future::ready(convert(i))),
            ))
        }
    }
}

fn to_tag(to: Option<u64>) -> BlockNumberOrTag {
    to.map_or(BlockNumberOrTag::Latest, BlockNumberOrTag::Number)
}

fn block_of_event(e: &Rollup::L2BlockProposed) -> BlockRecord {
    BlockRecord {
        number: sat(e.blockNumber),
        slot: sat(e.slot),
        tx_count: e.txCount,
        total_fees: e.totalFees,
        content_hash: e.contentHash,
        coinbase: e.proposer,
    }
}

fn proposed(receipt: &alloy::rpc::types::TransactionReceipt) -> Result<Proposed> {
    let log = receipt
        .decoded_log::<Rollup::L2BlockProposed>()
        .ok_or_else(|| L1Error::Rpc {
            call: "propose",
            message: format!(
                "receipt of {} has no L2BlockProposed event",
                receipt.transaction_hash
            ),
        })?;
    Ok(Proposed {
        tx: outcome(receipt),
        block: block_of_event(&log.data),
    })
}
