//! `epoch-rfq chaos`: the whole network on anvil (blocks every second, slots of two blocks or
//! more) with an L1-fault proxy between every role and anvil, run through one fault profile after
//! another, each for several epochs. For each profile it reads the outcome from the chain and
//! prints (and writes as markdown) one row: epochs, claimed, proven, pruned, bonds slashed by
//! our own fault, duplicate transactions, replacement transactions, worst deadline slack.
//!
//! Files: `profiles` (the faults and how each is driven), `report` (what is measured and the
//! table).

mod profiles;
mod report;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::sandbox::{Sandbox, SandboxOptions};
pub use profiles::Profile;
pub use report::Row;

/// `epoch-rfq chaos` arguments.
#[derive(Debug, Clone, Args)]
pub struct ChaosArgs {
    /// Run the short profile set with short epochs (what the test suite runs, 5-9 minutes).
    #[arg(long)]
    pub quick: bool,

    /// Run only these profiles (repeatable; see the list with --list).
    #[arg(long = "profile", value_name = "NAME", value_parser = Profile::parse)]
    pub profiles: Vec<Profile>,

    /// List the profiles and exit.
    #[arg(long)]
    pub list: bool,

    /// Epochs measured per profile (default 4, 2 with --quick).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=50))]
    pub epochs: Option<u64>,

    /// Where to write the markdown table.
    #[arg(long, value_name = "FILE", default_value = "target/chaos/report.md")]
    pub report: PathBuf,

    /// Data folder of the roles (one sub-folder per profile, recreated).
    #[arg(long, value_name = "DIR", default_value = "target/chaos/data")]
    pub data_dir: PathBuf,
}

/// Runs the selected profiles and prints the table. Fails when a profile misses its target
/// (0 slashed and 0 duplicates for faults shorter than the proof margin; every epoch that had a
/// quote claimed).
pub async fn run(args: ChaosArgs) -> Result<()> {
    if args.list {
        for p in Profile::ALL {
            println!("{:<26} {}", p.name(), p.describe());
        }
        return Ok(());
    }
    let profiles = if !args.profiles.is_empty() {
        args.profiles.clone()
    } else if args.quick {
        Profile::QUICK.to_vec()
    } else {
        Profile::ALL.to_vec()
    };
    let epochs = args.epochs.unwrap_or(if args.quick { 2 } else { 4 });
    let mut rows = Vec::new();
    println!("{}", Row::header());
    for profile in profiles {
        let row = run_profile(profile, epochs, args.quick, &args.data_dir)
            .await
            .with_context(|| format!("profile {}", profile.name()))?;
        println!("{}", row.line());
        rows.push(row);
    }
    let table = report::markdown(&rows, epochs, args.quick);
    if let Some(dir) = args.report.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&args.report, &table)
        .with_context(|| format!("writing {}", args.report.display()))?;
    println!("\nreport: {}", args.report.display());
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| !r.meets_target())
        .map(|r| r.profile.name())
        .collect();
    if !failed.is_empty() {
        bail!("target missed by: {}", failed.join(", "));
    }
    Ok(())
}

/// One profile: start the network, run the fault through `epochs` epochs, wait until their proof
/// deadlines passed, measure, stop.
async fn run_profile(
    profile: Profile,
    epochs: u64,
    quick: bool,
    data_root: &std::path::Path,
) -> Result<Row> {
    let timing = profile.timing(quick);
    let mut options = SandboxOptions::standard(data_root.join(profile.name()));
    options.slot_duration = timing.slot_duration;
    options.epoch_duration = timing.epoch_duration;
    options.claim_window = timing.claim_window;
    options.node_port = 0;
    options.print = false;
    options.polling_interval = Duration::from_millis(500);
    options.l1_fault_proxies = profile.proxies();
    options.l1_fault_proxies_ws = profile.ws();
    options.l1_confirmations = profile.confirmations();
    profile.configure(&mut options);
    let sandbox = Sandbox::start(options).await?;
    let time = sandbox.deployment().time();
    let (_, now) = sandbox.chain().latest_block().await?;
    let current = time
        .slot_at(now)
        .map(|s| time.epoch_of_slot(s))
        .unwrap_or_default();
    let first = current + 1;
    let last = first + epochs - 1;
    // The fault runs from the first measured epoch's start to the end of the last one's claim
    // phase, where its proof is due at the latest.
    let fault_from = time.slot_start(time.epoch_start_slot(first));
    let fault_until = time.slot_start(time.proof_deadline_slot(last));
    let stop = CancellationToken::new();
    let driver = {
        let stop = stop.clone();
        let ctx = profiles::Ctx::new(&sandbox, fault_from, fault_until);
        async move { profile.drive(&ctx, stop).await }
    };
    let settle = async {
        // One slot past the last proof deadline, so a proof or a prune due there is in.
        let end = fault_until + 2 * time.slot_duration;
        loop {
            let (_, ts) = sandbox.chain().latest_block().await?;
            if ts >= end {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        stop.cancel();
        anyhow::Ok(())
    };
    let (driven, settled) = tokio::join!(driver, settle);
    settled?;
    driven.with_context(|| format!("driving the fault of {}", profile.name()))?;
    let row = report::measure(profile, &sandbox, first..=last).await?;
    sandbox.shutdown().await;
    Ok(row)
}
