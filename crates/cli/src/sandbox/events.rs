//! What happened in the sandbox ([`SandboxEvent`]), rendered as one line each, and the hub
//! that records, broadcasts and prints it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use alloy_primitives::{Address, B256, U256};
use epoch_rfq_prover::JobState;
use tokio::sync::broadcast;

/// One thing that happened in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxEvent {
    /// The proposer proposed a block.
    BlockProposed {
        /// L2 block number.
        number: u64,
        /// Its slot.
        slot: u64,
        /// Its epoch.
        epoch: u64,
        /// Transactions.
        tx_count: U256,
        /// Fees.
        fees: U256,
        /// Proposed together with the claim (`proposeAndClaim`).
        with_claim: bool,
    },
    /// An epoch ended (L1 time passed its last slot).
    EpochComplete {
        /// The epoch.
        epoch: u64,
        /// Its blocks (`None`: it has none).
        blocks: Option<(u64, u64)>,
        /// Its fees.
        fees: U256,
        /// Its claim phase (slots).
        claim_phase: (u64, u64),
    },
    /// A quote reached the node's pool.
    QuoteReceived {
        /// The epoch quoted.
        epoch: u64,
        /// Who.
        prover: Address,
        /// Fee.
        basis_point_fee: u32,
        /// Bond.
        bond: U256,
        /// Last slot it may be claimed in.
        valid_until_slot: U256,
    },
    /// A prover decided not to quote an epoch.
    NoQuote {
        /// Who.
        prover: Address,
        /// The epoch.
        epoch: u64,
        /// Reason code.
        reason: String,
        /// In words.
        detail: String,
    },
    /// The proposer dropped a quote.
    QuoteDropped {
        /// The epoch.
        epoch: u64,
        /// The quote's prover field.
        prover: Address,
        /// Reason code.
        reason: String,
        /// In words.
        detail: String,
    },
    /// A claim transaction failed (the proposer tries the next quote).
    ClaimFailed {
        /// The epoch.
        epoch: u64,
        /// The quote's prover.
        prover: Address,
        /// The error.
        error: String,
    },
    /// `ProofRightClaimed` on L1: the proposer claimed the epoch with a prover's quote.
    Claimed {
        /// The epoch.
        epoch: u64,
        /// The winner.
        prover: Address,
        /// Its fee.
        basis_point_fee: u32,
        /// Its bond (staked).
        bond: U256,
        /// The transaction.
        tx: B256,
    },
    /// An epoch's claim phase ended without a claim.
    EpochUnclaimed {
        /// The epoch.
        epoch: u64,
        /// Quotes the proposer saw.
        quotes_seen: usize,
    },
    /// A prover started proving.
    ProvingStarted {
        /// Who.
        prover: Address,
        /// The epoch.
        epoch: u64,
    },
    /// A prover's job ended.
    JobFinished {
        /// Who.
        prover: Address,
        /// The epoch.
        epoch: u64,
        /// Completed, Failed or Cancelled.
        state: JobState,
        /// The proof transaction or the reason.
        note: String,
    },
    /// `EpochProven` on L1.
    EpochProven {
        /// The epoch.
        epoch: u64,
        /// First block.
        from_block: u64,
        /// Last block.
        to_block: u64,
        /// The prover paid.
        prover: Address,
        /// Its fee share.
        prover_reward: U256,
        /// The epoch's fees (the coinbases got `total_fees − prover_reward`).
        total_fees: U256,
        /// The claim's fee and bond (returned to the prover's deposit), if it was claimed.
        claim: Option<(u32, U256)>,
        /// The proof transaction.
        tx: B256,
        /// Its L1 block.
        l1_block: u64,
    },
    /// `BondSlashed` on L1.
    BondSlashed {
        /// The epoch.
        epoch: u64,
        /// The prover that did not prove.
        prover: Address,
        /// The bond.
        amount: U256,
        /// Where it went.
        recipient: Address,
        /// The transaction.
        tx: B256,
        /// Its L1 block.
        l1_block: u64,
    },
    /// `PrunedPending` on L1.
    Pruned {
        /// The epoch to prove at the time.
        epoch: u64,
        /// First block removed.
        from_block: u64,
        /// Last block removed.
        to_block: u64,
        /// The transaction.
        tx: B256,
    },
}

/// Who is who, for display.
#[derive(Debug, Clone, Default)]
pub(super) struct Names(pub(super) HashMap<Address, String>);

impl Names {
    fn of(&self, a: &Address) -> String {
        self.0.get(a).cloned().unwrap_or_else(|| short_addr(a))
    }
}

pub(super) fn short_addr(a: &Address) -> String {
    let s = a.to_string();
    format!("{}…{}", &s[..6], &s[s.len() - 4..])
}

/// The first `max` characters of `s` (with an ellipsis when cut).
pub(super) fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

pub(super) fn short_hash(h: &B256) -> String {
    let s = h.to_string();
    format!("{}…{}", &s[..10], &s[s.len() - 6..])
}

impl SandboxEvent {
    /// One line, with names for known addresses.
    fn render(&self, names: &Names) -> String {
        match self {
            Self::BlockProposed {
                number,
                slot,
                epoch,
                tx_count,
                fees,
                with_claim,
            } => format!(
                "block #{number:<3} epoch {epoch} slot {slot}: {tx_count} txs, fees {fees}{}",
                if *with_claim { " (+ claim)" } else { "" }
            ),
            Self::EpochComplete {
                epoch,
                blocks,
                fees,
                claim_phase,
            } => match blocks {
                Some((from, to)) => format!(
                    "══ epoch {epoch} complete: blocks #{from}–#{to}, fees {fees}; auction in slots {}–{}",
                    claim_phase.0, claim_phase.1
                ),
                None => format!("══ epoch {epoch} complete: no blocks, nothing to prove"),
            },
            Self::QuoteReceived {
                epoch,
                prover,
                basis_point_fee,
                bond,
                valid_until_slot,
            } => format!(
                "   quote  epoch {epoch} from {:<14} {basis_point_fee:>5} bps  bond {bond:<6} valid to slot {valid_until_slot}",
                names.of(prover)
            ),
            Self::NoQuote {
                prover,
                epoch,
                reason,
                detail,
            } => format!(
                "   {} sends no quote for epoch {epoch} [{reason}]: {}",
                names.of(prover),
                clip(detail, 100)
            ),
            Self::QuoteDropped {
                epoch,
                prover,
                reason,
                detail,
            } => format!(
                "   drop   epoch {epoch} quote of {} [{reason}]: {detail}",
                names.of(prover)
            ),
            Self::ClaimFailed {
                epoch,
                prover,
                error,
            } => format!(
                "   claim with {}'s quote for epoch {epoch} failed: {error}",
                names.of(prover)
            ),
            Self::Claimed {
                epoch,
                prover,
                basis_point_fee,
                bond,
                tx,
            } => format!(
                "▶ WINNER epoch {epoch}: {} at {basis_point_fee} bps, bond {bond} staked; claim tx {}",
                names.of(prover),
                short_hash(tx)
            ),
            Self::EpochUnclaimed { epoch, quotes_seen } => format!(
                "!! epoch {epoch} ended its claim phase UNCLAIMED ({quotes_seen} quotes seen): it will be pruned"
            ),
            Self::ProvingStarted { prover, epoch } => {
                format!("   {} is proving epoch {epoch}", names.of(prover))
            }
            Self::JobFinished {
                prover,
                epoch,
                state,
                note,
            } => match state {
                JobState::Completed => format!(
                    "   {} submitted the proof of epoch {epoch}",
                    names.of(prover)
                ),
                _ => format!(
                    "!! {}'s job for epoch {epoch} ended {state:?}: {note}",
                    names.of(prover)
                ),
            },
            Self::EpochProven {
                epoch,
                from_block,
                to_block,
                prover,
                prover_reward,
                total_fees,
                claim,
                tx,
                ..
            } => {
                let coinbase = total_fees.saturating_sub(*prover_reward);
                let terms = match claim {
                    Some((bps, bond)) => {
                        format!(" ({bps} bps of {total_fees}); bond {bond} back in escrow")
                    }
                    None => format!(" (unclaimed, of {total_fees})"),
                };
                format!(
                    "✔ PROVEN epoch {epoch} (blocks #{from_block}–#{to_block}) by {}, tx {}: \
                     prover reward {prover_reward}, coinbase {coinbase}{terms}",
                    names.of(prover),
                    short_hash(tx)
                )
            }
            Self::BondSlashed {
                epoch,
                prover,
                amount,
                recipient,
                tx,
                ..
            } => format!(
                "✘ SLASHED epoch {epoch}: {}'s bond {amount} → {}, tx {}",
                names.of(prover),
                names.of(recipient),
                short_hash(tx)
            ),
            Self::Pruned {
                epoch,
                from_block,
                to_block,
                tx,
            } => format!(
                "✘ PRUNED epoch {epoch}: blocks #{from_block}–#{to_block} removed, fees refunded to coinbases, tx {}",
                short_hash(tx)
            ),
        }
    }
}

/// Where events go: history, subscribers, the console.
pub(super) struct Hub {
    pub(super) history: Mutex<Vec<SandboxEvent>>,
    pub(super) events: broadcast::Sender<SandboxEvent>,
    pub(super) names: Names,
    pub(super) print: bool,
    pub(super) started: Instant,
    pub(super) slot: AtomicU64,
}

impl Hub {
    pub(super) fn emit(&self, event: SandboxEvent) {
        if self.print {
            let secs = self.started.elapsed().as_secs();
            println!(
                "[{:>2}:{:02} slot {:>3}] {}",
                secs / 60,
                secs % 60,
                self.slot.load(Ordering::Relaxed),
                event.render(&self.names)
            );
        }
        self.history
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(event.clone());
        let _ = self.events.send(event);
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::{Address, B256, U256};

    use super::*;

    #[test]
    fn lines_are_short_and_name_the_provers() {
        let alice = Address::repeat_byte(0xaa);
        let mut names = Names::default();
        names.0.insert(alice, "alice (http)".into());
        let proven = SandboxEvent::EpochProven {
            epoch: 3,
            from_block: 9,
            to_block: 12,
            prover: alice,
            prover_reward: U256::from(150),
            total_fees: U256::from(10_000),
            claim: Some((150, U256::from(1000))),
            tx: B256::repeat_byte(0x11),
            l1_block: 40,
        }
        .render(&names);
        assert!(proven.contains("by alice (http)"), "{proven}");
        assert!(
            proven.contains("prover reward 150, coinbase 9850"),
            "{proven}"
        );
        assert!(proven.contains("bond 1000 back"), "{proven}");
        assert!(!proven.contains('\n'));
        let unknown = SandboxEvent::QuoteDropped {
            epoch: 1,
            prover: Address::repeat_byte(0xbb),
            reason: "expired".into(),
            detail: "x".into(),
        }
        .render(&names);
        assert!(unknown.contains("0xbBbB…BBbB [expired]"), "{unknown}");
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip("ab", 3), "ab");
    }
}
