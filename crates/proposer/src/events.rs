//! What the proposer did, as a stream (the sandbox prints it; tests wait on it).

use alloy_primitives::{Address, B256, U256};
use epoch_rfq_l1::BlockRecord;
use epoch_rfq_quote::QuoteId;

use crate::rfq::DropReason;

/// One thing the proposer did or saw. Sent on a `tokio::sync::broadcast` channel
/// ([`crate::Proposer::subscribe`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProposerEvent {
    /// A block was proposed (alone, or in a `proposeAndClaim` with `with_claim`).
    BlockProposed {
        /// The block as recorded by the Rollup.
        block: BlockRecord,
        /// The transaction.
        tx: B256,
        /// Whether the same transaction claimed the epoch to prove.
        with_claim: bool,
    },
    /// New quotes arrived for the epoch being auctioned; `n` is how many the source returned.
    QuotesConsidered {
        /// The epoch to prove.
        epoch: u64,
        /// Quotes in the source's answer.
        n: usize,
    },
    /// A quote was not used (once per quote and reason).
    QuoteDropped {
        /// The epoch to prove.
        epoch: u64,
        /// The quote's `prover` (unverified when the reason is a bad signature).
        prover: Address,
        /// The quote's EIP-712 digest for this chain.
        id: QuoteId,
        /// Why.
        reason: DropReason,
    },
    /// A claim transaction for a pre-checked quote failed; the RFQ tries the next best quote.
    ClaimFailed {
        /// The epoch to prove.
        epoch: u64,
        /// The quote's prover.
        prover: Address,
        /// The L1 error.
        error: String,
    },
    /// The epoch's proof right was claimed with this proposer's chosen quote.
    Claimed {
        /// The epoch.
        epoch: u64,
        /// The winning prover.
        prover: Address,
        /// Its fee in basis points.
        fee: u32,
        /// The bond staked.
        bond: U256,
        /// The transaction.
        tx: B256,
    },
    /// The epoch's claim phase ended without a claim (its blocks will be pruned).
    EpochUnclaimed {
        /// The epoch.
        epoch: u64,
        /// Distinct quotes this proposer saw for it.
        quotes_seen: usize,
        /// Its blocks, lost at the prune.
        blocks: u64,
        /// Its fees (paid by the blocks' proposers), earned by no prover.
        total_fees: U256,
    },
    /// `prune()` removed the unproven blocks.
    Pruned {
        /// The epoch to prove before the prune.
        epoch: Option<u64>,
        /// The transaction.
        tx: B256,
    },
}

/// One line per event, for the sandbox's console and logs.
impl std::fmt::Display for ProposerEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BlockProposed {
                block,
                tx,
                with_claim,
            } => write!(
                f,
                "block {} proposed in slot {} ({} txs, fees {}){} tx {tx}",
                block.number,
                block.slot,
                block.tx_count,
                block.total_fees,
                if *with_claim { " with the claim," } else { "," }
            ),
            Self::QuotesConsidered { epoch, n } => {
                write!(f, "epoch {epoch}: {n} quote(s) in the auction")
            }
            Self::QuoteDropped {
                epoch,
                prover,
                reason,
                ..
            } => write!(
                f,
                "epoch {epoch}: quote of {prover} dropped [{}]: {reason}",
                reason.code()
            ),
            Self::ClaimFailed {
                epoch,
                prover,
                error,
            } => write!(
                f,
                "epoch {epoch}: claim with the quote of {prover} failed: {error}"
            ),
            Self::Claimed {
                epoch,
                prover,
                fee,
                bond,
                tx,
            } => write!(
                f,
                "epoch {epoch}: claimed for prover {prover} at {fee} bps, bond {bond}, tx {tx}"
            ),
            Self::EpochUnclaimed {
                epoch,
                quotes_seen,
                blocks,
                total_fees,
            } => write!(
                f,
                "epoch {epoch}: claim phase ended UNCLAIMED: {blocks} block(s) and fees \
                 {total_fees} at stake ({quotes_seen} quote(s) seen)"
            ),
            Self::Pruned { epoch, tx } => match epoch {
                Some(e) => write!(f, "pruned the unproven blocks from epoch {e}, tx {tx}"),
                None => write!(f, "pruned the unproven blocks, tx {tx}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_one_line() {
        let e = ProposerEvent::QuoteDropped {
            epoch: 3,
            prover: Address::repeat_byte(1),
            id: QuoteId::default(),
            reason: DropReason::Expired {
                valid_until_slot: U256::from(4),
                current_slot: 5,
            },
        };
        let s = e.to_string();
        assert!(s.starts_with("epoch 3: quote of 0x0101"), "{s}");
        assert!(s.contains("[expired]"), "{s}");
        let s = ProposerEvent::EpochUnclaimed {
            epoch: 2,
            quotes_seen: 0,
            blocks: 3,
            total_fees: U256::from(1_234),
        }
        .to_string();
        assert!(s.contains("UNCLAIMED") && !s.contains('\n'), "{s}");
        assert!(s.contains("3 block(s)") && s.contains("fees 1234"), "{s}");
    }
}
