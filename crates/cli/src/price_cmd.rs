//! `epoch-rfq price --epoch N`: a dry run of the prover's quoting decision for one epoch,
//! against the live chain and the prover's own state (its database and cost file), signing and
//! sending nothing.
//!
//! It prints whether the prover would quote, the fee and bond, every cost term (with the cost
//! model) and the ledger figures behind them, or the reason for no quote; `--json` prints the
//! same as one JSON object.

use std::sync::Arc;

use alloy_primitives::{Address, U256};
use anyhow::{Context, Result};
use clap::Args;
use epoch_rfq_prover::config::Pricing;
use epoch_rfq_prover::cost::{ChainGasPrice, CostQuoteProvider, PricedEpoch};
use epoch_rfq_prover::ledger::{Figures, Ledger, LedgerSettings, Snapshot};
use epoch_rfq_prover::market::{LEDGER_KEY, Market, MarketMetrics, shared_ledger};
use epoch_rfq_prover::{
    EpochSummary, HttpQuoteProvider, ProverArgs, ProverStore, QuoteProvider, QuoteTerms,
    SimpleQuoteProvider,
};
use serde::Serialize;

use crate::keys::KeyArgs;

/// `epoch-rfq price` options: the prover's own settings, plus the epoch.
#[derive(Debug, Args)]
pub struct PriceArgs {
    /// The epoch to price.
    #[arg(long)]
    pub epoch: u64,

    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,

    /// The prover's address (whose escrow backs the bond). Unset: the address of the key.
    #[arg(long, value_name = "ADDRESS")]
    pub prover_address: Option<Address>,

    #[command(flatten)]
    pub prover: ProverArgs,

    #[command(flatten)]
    pub key: KeyArgs,
}

/// The dry run's findings.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRun {
    /// The epoch.
    pub epoch: u64,
    /// Whether the prover would sign and send a quote now.
    pub would_quote: bool,
    /// Why not (a stable code, as in the `no_quote` metric).
    pub reason_code: Option<String>,
    /// Why not, in words.
    pub reason: Option<String>,
    /// The pricing method.
    pub pricing: &'static str,
    /// The current slot on L1.
    pub current_slot: u64,
    /// The epoch's claim phase (first and last slot).
    pub claim_phase: (u64, u64),
    /// The epoch's proof deadline slot.
    pub proof_deadline_slot: u64,
    /// Transactions in the epoch.
    pub tx_count: String,
    /// The epoch's fees.
    pub total_fees: String,
    /// The fee, when terms were found.
    pub basis_point_fee: Option<u32>,
    /// The bond, when terms were found.
    pub bond_amount: Option<String>,
    /// The quote's last claimable slot.
    pub valid_until_slot: Option<u64>,
    /// The cost model's terms (QUOTE_PROVIDER_COST_FILE).
    pub cost: Option<PricedEpoch>,
    /// Free escrow minus pending withdrawal, on L1.
    pub available_for_bond: String,
    /// The ledger's figures.
    pub ledger: Figures,
}

impl DryRun {
    fn refuse(&mut self, code: &str, reason: String) {
        if self.reason_code.is_none() {
            self.would_quote = false;
            self.reason_code = Some(code.to_owned());
            self.reason = Some(reason);
        }
    }
}

/// Runs the dry run and prints it.
pub async fn run(args: PriceArgs) -> Result<()> {
    let report = dry_run(&args).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

/// The dry run's findings for `args.epoch`.
pub async fn dry_run(args: &PriceArgs) -> Result<DryRun> {
    let config = args.prover.validate()?;
    let me = match args.prover_address {
        Some(address) => address,
        None => args
            .key
            .load()
            .context("the dry run needs the prover's address: give --prover-address or its key")?
            .address(),
    };
    let l1 = args.prover.l1.connect(None).await?;
    let time = *l1.time();
    let store = ProverStore::open(&config.data_directory).with_context(|| {
        format!(
            "cannot open the prover database in {}",
            config.data_directory.display()
        )
    })?;
    // The ledger as the running prover persisted it (read only: nothing is written back).
    let mut ledger = Ledger::new(LedgerSettings {
        workers: config.max_pending_jobs,
        ..LedgerSettings::default()
    });
    if let Some(json) = store.market_state(LEDGER_KEY)? {
        let snapshot: Snapshot =
            serde_json::from_str(&json).context("the stored commitment ledger is unreadable")?;
        ledger = Ledger::restore(*ledger.settings(), snapshot);
    }
    let ledger = shared_ledger(ledger);
    let market = Market::new(ledger.clone(), MarketMetrics::default(), time);

    let epoch = args.epoch;
    let slot = l1.current_slot().await?;
    let now = time.slot_start(slot);
    ledger.lock().expire(now);
    let range = l1.epoch_range(epoch).await?;
    let blocks = l1.epoch_blocks(epoch).await?;
    let summary = EpochSummary::from_l1(&range, &blocks);
    let available = l1.available_for_bond(me).await?;
    let mut cost_provider = None;
    let (pricing, provider): (&'static str, Arc<dyn QuoteProvider>) = match &config.pricing {
        Pricing::Fixed {
            basis_point_fee,
            bond_amount,
        } => (
            "fixed",
            Arc::new(SimpleQuoteProvider::new(*basis_point_fee, *bond_amount)),
        ),
        Pricing::Service {
            url,
            timeout,
            retries,
        } => (
            "service",
            Arc::new(HttpQuoteProvider::new(url.clone(), *timeout, *retries)),
        ),
        Pricing::Cost { path } => {
            let provider = Arc::new(
                CostQuoteProvider::open(
                    path,
                    time,
                    Arc::new(ChainGasPrice(l1.provider().clone())),
                    ledger.clone(),
                )
                .with_context(|| format!("QUOTE_PROVIDER_COST_FILE={}", path.display()))?,
            );
            cost_provider = Some(provider.clone());
            ("cost", provider as Arc<dyn QuoteProvider>)
        }
    };
    let phase = time.claim_phase(epoch);
    let mut report = DryRun {
        epoch,
        would_quote: true,
        reason_code: None,
        reason: None,
        pricing,
        current_slot: slot,
        claim_phase: (phase.start, phase.end.saturating_sub(1)),
        proof_deadline_slot: time.proof_deadline_slot(epoch),
        tx_count: summary.tx_count.to_string(),
        total_fees: summary.total_fees.to_string(),
        basis_point_fee: None,
        bond_amount: None,
        valid_until_slot: None,
        cost: None,
        available_for_bond: available.to_string(),
        ledger: ledger.lock().figures(now),
    };
    // The node's conditions, in its order (what `epoch-rfq prover` checks before pricing).
    if !time.is_epoch_complete(epoch, slot) {
        report.refuse(
            "not_complete",
            format!("epoch {epoch} is not complete at slot {slot}"),
        );
    } else if !time.in_claim_phase(epoch, slot) {
        report.refuse(
            "outside_claim_phase",
            format!(
                "slot {slot} is outside the claim phase of epoch {epoch} (slots {}..={})",
                report.claim_phase.0, report.claim_phase.1
            ),
        );
    }
    if let Some(claim) = l1.claim(epoch).await? {
        report.refuse(
            "claimed",
            format!(
                "epoch {epoch} is already claimed by {} at {} bps",
                claim.bond_provider, claim.basis_point_fee
            ),
        );
    }
    if range.is_empty() {
        report.refuse("empty_epoch", "the epoch has no blocks".into());
    }
    // Priced even when a condition above already says no: the figures are the point.
    let quoted = match &cost_provider {
        Some(cost) => {
            let priced = cost.price_epoch(&summary).await;
            let terms = priced.decision.clone().map(|bps| QuoteTerms {
                basis_point_fee: bps,
                bond_amount: priced
                    .breakdown
                    .as_ref()
                    .map_or(U256::ZERO, |b| b.bond_amount),
                valid_until_slot: None,
            });
            report.cost = Some(priced);
            terms
        }
        None => provider.get_quote(&summary).await,
    };
    let terms = match quoted {
        Ok(terms) => Some(terms),
        Err(why) => {
            report.refuse(why.reason_code(), why.to_string());
            None
        }
    };
    if let Some(terms) = terms {
        let valid_until = Market::valid_until_slot(&time, epoch, terms.valid_until_slot);
        report.basis_point_fee = Some(terms.basis_point_fee);
        report.bond_amount = Some(terms.bond_amount.to_string());
        report.valid_until_slot = Some(valid_until);
        if terms.bond_amount < l1.min_bond() {
            report.refuse(
                "bond_below_minimum",
                format!(
                    "bond {} is below the Rollup's minimum bond {}",
                    terms.bond_amount,
                    l1.min_bond()
                ),
            );
        }
        // The ledger as the node asks it (with the escrow as it is now: the node would top up
        // to PROVER_TARGET_ESCROW_AMOUNT first when the wallet allows).
        let proposal = market.proposal(epoch, summary.tx_count, terms.bond_amount, valid_until);
        if let Err(refusal) = ledger.lock().check(&proposal, available, now) {
            report.refuse(refusal.code(), refusal.to_string());
        }
    }
    Ok(report)
}

/// The text form.
pub fn render(r: &DryRun) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let verdict = if r.would_quote {
        "WOULD QUOTE".to_owned()
    } else {
        format!(
            "NO QUOTE ({}): {}",
            r.reason_code.as_deref().unwrap_or("?"),
            r.reason.as_deref().unwrap_or("")
        )
    };
    let _ = writeln!(out, "epoch {}: {verdict}", r.epoch);
    let _ = writeln!(
        out,
        "  chain      slot {} · claim phase {}..={} · proof deadline slot {}",
        r.current_slot, r.claim_phase.0, r.claim_phase.1, r.proof_deadline_slot
    );
    let _ = writeln!(
        out,
        "  epoch      {} tx · fees {}",
        r.tx_count, r.total_fees
    );
    let _ = writeln!(
        out,
        "  terms      pricing {} · fee {} bps · bond {} · valid until slot {}",
        r.pricing,
        r.basis_point_fee.map_or("-".into(), |b| b.to_string()),
        r.bond_amount.as_deref().unwrap_or("-"),
        r.valid_until_slot.map_or("-".into(), |s| s.to_string()),
    );
    if let Some(cost) = &r.cost {
        if let Some(b) = &cost.breakdown {
            let _ = writeln!(
                out,
                "  cost       l1 gas {:.2} · proving {:.2} · capital {:.2} · load {:.2} · margin {:.2} = {}",
                b.l1_gas, b.proving, b.capital, b.load_surcharge, b.margin, b.total_cost
            );
            let _ = writeln!(
                out,
                "  inputs     gas price {} wei · {} fee-token/ETH ({}) · speed ×{:.3} · utilization {:.3} · bond at risk {} s",
                b.inputs.gas_price_wei,
                b.inputs.fee_token_per_eth,
                cost.price_origin
                    .map_or("-".to_owned(), |o| format!("{o:?}").to_lowercase()),
                b.inputs.speed_scale,
                b.inputs.utilization,
                b.inputs.bond_at_risk_seconds
            );
            let _ = writeln!(
                out,
                "  fee        needs {} bps → receives {}",
                b.basis_point_fee.map_or("-".into(), |v| v.to_string()),
                b.fee_received.map_or("-".into(), |v| v.to_string())
            );
        }
        for note in &cost.notes {
            let _ = writeln!(out, "  note       {note}");
        }
    }
    let l = &r.ledger;
    let _ = writeln!(
        out,
        "  ledger     available for bonds {} · {} claimable quote(s) bonding {} · {} claimed · {} proving · {:.1} s work · utilization {:.3} · speed ×{:.3}",
        r.available_for_bond,
        l.claimable_quotes,
        l.claimable_bonds,
        l.claimed,
        l.proving,
        l.committed_work_seconds,
        l.utilization,
        l.speed_scale
    );
    out
}
