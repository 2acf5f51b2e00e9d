//! What a chaos run measures, read from the chain after the run (so reorged-out events do not
//! count), and the table it prints.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;

use anyhow::{Context, Result};
use epoch_rfq_l1::alloy::primitives::TxKind;
use epoch_rfq_l1::alloy::providers::Provider;
use epoch_rfq_l1::alloy::sol_types::SolCall;
use epoch_rfq_l1::bindings::Rollup;
use epoch_rfq_l1::metrics::TxEvent;

use super::Profile;
use crate::sandbox::{Sandbox, SandboxEvent};

/// One profile's outcome.
#[derive(Debug, Clone)]
pub struct Row {
    pub profile: Profile,
    /// Epochs measured.
    pub epochs: u64,
    /// Of those, epochs that had blocks (an empty epoch needs no proof).
    pub with_blocks: u64,
    /// Epochs for which at least one quote reached the node.
    pub quoted: u64,
    /// Epochs claimed on L1.
    pub claimed: u64,
    /// Epochs proven on L1.
    pub proven: u64,
    /// Epochs pruned.
    pub pruned: u64,
    /// Bonds slashed (every prover here is honest and able: each slash is our own fault).
    pub slashed: u64,
    /// Epochs that had a quote but no claim.
    pub unclaimed_with_quotes: u64,
    /// Claims or proofs mined more than once for one epoch (extra transactions).
    pub duplicates: u64,
    /// Fee-bumped replacements sent by every role.
    pub replacements: u64,
    /// Transactions given up at their deadline.
    pub abandoned: u64,
    /// Smallest time left before the proof deadline when a proof landed (seconds).
    pub worst_slack_s: Option<i64>,
}

impl Row {
    /// The column names, aligned like [`Self::line`].
    pub fn header() -> String {
        format!(
            "{:<26} {:>6} {:>6} {:>7} {:>7} {:>6} {:>6} {:>7} {:>10} {:>5} {:>8} {:>9} {:>8}",
            "profile",
            "epochs",
            "quoted",
            "claimed",
            "proven",
            "pruned",
            "slashed",
            "unclaim",
            "duplicates",
            "repl",
            "abandon",
            "slack(s)",
            "target"
        )
    }

    /// One aligned line.
    pub fn line(&self) -> String {
        format!(
            "{:<26} {:>6} {:>6} {:>7} {:>7} {:>6} {:>7} {:>7} {:>10} {:>5} {:>8} {:>9} {:>8}",
            self.profile.name(),
            self.epochs,
            self.quoted,
            self.claimed,
            self.proven,
            self.pruned,
            self.slashed,
            self.unclaimed_with_quotes,
            self.duplicates,
            self.replacements,
            self.abandoned,
            self.worst_slack_s
                .map_or_else(|| "-".to_owned(), |s| s.to_string()),
            if self.meets_target() { "met" } else { "MISSED" }
        )
    }

    /// 0 slashed and 0 duplicates when the fault is shorter than the proof margin, and every
    /// epoch that had a quote claimed.
    pub fn meets_target(&self) -> bool {
        let margin_ok =
            !self.profile.within_margin() || (self.slashed == 0 && self.duplicates == 0);
        margin_ok && self.unclaimed_with_quotes == 0
    }
}

/// Reads the outcome of `epochs` from the chain and the roles' counters.
pub async fn measure(
    profile: Profile,
    sandbox: &Sandbox,
    epochs: RangeInclusive<u64>,
) -> Result<Row> {
    let reader = sandbox.reader();
    let time = sandbox.deployment().time();
    let in_range = |e: &u64| epochs.contains(e);
    let claims = reader.proof_right_claimed_events(0, None).await?;
    let proofs = reader.epoch_proven_events(0, None).await?;
    let slashes = reader.bond_slashed_events(0, None).await?;
    let prunes = reader.pruned_events(0, None).await?;
    let claimed: BTreeSet<u64> = claims.iter().map(|c| c.epoch).filter(in_range).collect();
    let proven: BTreeSet<u64> = proofs.iter().map(|p| p.epoch).filter(in_range).collect();
    let slashed = slashes.iter().filter(|s| in_range(&s.epoch)).count() as u64;
    let pruned = prunes.iter().filter(|p| in_range(&p.epoch)).count() as u64;
    let mut quoted = BTreeSet::new();
    let mut with_blocks = BTreeSet::new();
    for event in sandbox.history() {
        match event {
            SandboxEvent::QuoteReceived { epoch, .. } if in_range(&epoch) => {
                quoted.insert(epoch);
            }
            SandboxEvent::EpochComplete {
                epoch,
                blocks: Some(_),
                ..
            } if in_range(&epoch) => {
                with_blocks.insert(epoch);
            }
            _ => {}
        }
    }
    let unclaimed_with_quotes = quoted.difference(&claimed).count() as u64;
    let mut worst_slack_s: Option<i64> = None;
    for proof in proofs.iter().filter(|p| in_range(&p.epoch)) {
        let block = reader
            .provider()
            .get_block_by_number(proof.at.l1_block.into())
            .await?
            .context("the proof's block")?;
        let deadline = time.slot_start(time.proof_deadline_slot(proof.epoch));
        let slack = deadline as i64 - block.header.timestamp as i64;
        worst_slack_s = Some(worst_slack_s.map_or(slack, |w| w.min(slack)));
    }
    let duplicates = duplicates(sandbox, &epochs).await?;
    let mut replacements = sandbox
        .proposer_metrics()
        .l1
        .transactions_total(TxEvent::replaced);
    let mut abandoned = sandbox
        .proposer_metrics()
        .l1
        .transactions_total(TxEvent::abandoned);
    for prover in sandbox.provers() {
        replacements += prover.l1_transactions(TxEvent::replaced).await?;
        abandoned += prover.l1_transactions(TxEvent::abandoned).await?;
    }
    Ok(Row {
        profile,
        epochs: epochs.end() - epochs.start() + 1,
        with_blocks: with_blocks.len() as u64,
        quoted: quoted.len() as u64,
        claimed: claimed.len() as u64,
        proven: proven.len() as u64,
        pruned,
        slashed,
        unclaimed_with_quotes,
        duplicates,
        replacements,
        abandoned,
        worst_slack_s,
    })
}

/// Claims and proof submissions mined (succeeded or reverted) more than once for one epoch:
/// one purpose, two transactions.
async fn duplicates(sandbox: &Sandbox, epochs: &RangeInclusive<u64>) -> Result<u64> {
    let provider = sandbox.reader().provider();
    let rollup = sandbox.deployment().contracts.rollup;
    let head = provider.get_block_number().await?;
    let mut mined: BTreeMap<(&'static str, u64), u64> = BTreeMap::new();
    for number in 0..=head {
        let Some(block) = provider.get_block_by_number(number.into()).full().await? else {
            continue;
        };
        for tx in block.transactions.txns() {
            let request = tx.clone().into_request();
            if request.to != Some(TxKind::Call(rollup)) {
                continue;
            }
            let Some(input) = request.input.input() else {
                continue;
            };
            let purpose = if let Ok(call) = Rollup::claimEpochProofRightCall::abi_decode(input) {
                Some(("claim", call.signedQuote.quote.epochNumber))
            } else if let Ok(call) = Rollup::submitEpochProofCall::abi_decode(input) {
                Some(("proof", call.epoch))
            } else {
                None
            };
            if let Some((kind, epoch)) = purpose {
                let epoch = u64::try_from(epoch).unwrap_or(u64::MAX);
                if epochs.contains(&epoch) {
                    *mined.entry((kind, epoch)).or_default() += 1;
                }
            }
        }
    }
    Ok(mined.values().map(|n| n.saturating_sub(1)).sum())
}

/// The markdown report: what was run and the table.
pub fn markdown(rows: &[Row], epochs: u64, quick: bool) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "# Chaos run ({}, {epochs} epochs per profile)\n\n",
        if quick { "quick" } else { "full" }
    ));
    out.push_str(
        "| profile | fault | epochs | with blocks | quoted | claimed | proven | pruned | slashed (our fault) | quoted, unclaimed | duplicate txs | replacement txs | abandoned txs | worst proof slack (s) | target |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.profile.name(),
            r.profile.describe(),
            r.epochs,
            r.with_blocks,
            r.quoted,
            r.claimed,
            r.proven,
            r.pruned,
            r.slashed,
            r.unclaimed_with_quotes,
            r.duplicates,
            r.replacements,
            r.abandoned,
            r.worst_slack_s
                .map_or_else(|| "-".to_owned(), |s| s.to_string()),
            if r.meets_target() { "met" } else { "missed" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        Row {
            profile: Profile::RateLimited,
            epochs: 2,
            with_blocks: 2,
            quoted: 2,
            claimed: 2,
            proven: 2,
            pruned: 0,
            slashed: 0,
            unclaimed_with_quotes: 0,
            duplicates: 0,
            replacements: 3,
            abandoned: 1,
            worst_slack_s: Some(12),
        }
    }

    #[test]
    fn the_target_is_no_slash_no_duplicate_and_every_quoted_epoch_claimed() {
        assert!(row().meets_target());
        for missed in [
            Row {
                slashed: 1,
                ..row()
            },
            Row {
                duplicates: 1,
                ..row()
            },
            Row {
                unclaimed_with_quotes: 1,
                ..row()
            },
        ] {
            assert!(!missed.meets_target(), "{missed:?}");
            assert!(missed.line().ends_with("MISSED"), "{}", missed.line());
        }
        let table = markdown(&[row()], 2, true);
        assert!(
            table.contains("| rate-limited-30pct | 30% of L1 requests answered HTTP 429 | 2 |")
        );
        assert!(table.contains("| met |"), "{table}");
    }
}
