//! `epoch-rfq escrow deposit|start-withdraw|execute-withdraw|status`: a prover's
//! ProofCommitmentEscrow position by hand.

use std::path::PathBuf;

use alloy_primitives::{Address, U256};
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use epoch_rfq_l1::args::L1Args;
use epoch_rfq_l1::{Deployment, EscrowStatus, L1Client};

use crate::keys::{KeyArgs, KeyRole};

#[derive(Debug, Args)]
pub struct EscrowArgs {
    #[command(subcommand)]
    pub command: EscrowCommand,

    #[command(flatten)]
    pub target: Target,
}

/// Which chain and Rollup: the shared L1 settings (ETHEREUM_HOSTS, L1_CHAIN_ID checked against
/// the chain, ROLLUP_CONTRACT_ADDRESS), or a deployment file for the Rollup.
#[derive(Debug, Args)]
// Global, as the seed's options were: they may follow the escrow subcommand.
#[command(
    mut_arg("ethereum_hosts", |a| a.global(true)),
    mut_arg("l1_chain_id", |a| a.global(true)),
    mut_arg("rollup_contract_address", |a| a.global(true))
)]
pub struct Target {
    #[command(flatten)]
    pub l1: L1Args,

    /// A deployment file written by `epoch-rfq deploy --out` (instead of --rollup).
    #[arg(long, value_name = "FILE", global = true)]
    pub deployment: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum EscrowCommand {
    /// Deposit AMOUNT FeeToken into the escrow (approves the escrow first when needed).
    Deposit {
        /// Amount in base units (decimal or 0x-hex).
        amount: U256,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Request a withdrawal of AMOUNT, executable after the withdraw delay. Replaces an earlier
    /// request; 0 cancels it. Until executed, the amount no longer backs new bonds.
    #[command(visible_alias = "withdraw")]
    StartWithdraw {
        /// Amount in base units (decimal or 0x-hex).
        amount: U256,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Pay out the pending withdrawal once its delay has passed.
    ExecuteWithdraw {
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Show free deposit, pending withdrawal, staked bonds and wallet balance.
    Status {
        /// The account (default: the key's address; no key is needed with this flag).
        #[arg(long)]
        account: Option<Address>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        key: KeyArgs,
    },
}

impl Target {
    /// The L1 settings with the Rollup taken from `--deployment` when given.
    fn l1(&self) -> Result<L1Args> {
        let mut l1 = self.l1.clone();
        if let Some(path) = &self.deployment {
            if l1.rollup_contract_address.is_some() {
                bail!(
                    "both --deployment and ROLLUP_CONTRACT_ADDRESS (--rollup) name the Rollup: \
                     choose one"
                );
            }
            l1.rollup_contract_address = Some(Deployment::read(path)?.contracts.rollup);
        }
        if l1.rollup_contract_address.is_none() {
            bail!(
                "which Rollup? set ROLLUP_CONTRACT_ADDRESS (or --rollup), or pass --deployment FILE"
            );
        }
        Ok(l1)
    }

    async fn client(&self, key: Option<&KeyArgs>) -> Result<L1Client> {
        let l1 = self.l1()?;
        let signer = key.map(KeyArgs::load).transpose()?;
        Ok(l1.connect(signer).await?)
    }
}

pub fn run(args: EscrowArgs) -> Result<()> {
    let runtime = crate::runtime()?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: EscrowArgs) -> Result<()> {
    let t = &args.target;
    match args.command {
        EscrowCommand::Deposit { amount, key } => {
            let c = t.client(Some(&key)).await?;
            let tx = c.deposit_with_approval(amount).await?;
            let me = c.sender().unwrap_or_default();
            eprintln!("deposited {amount} (transaction {})", tx.tx_hash);
            print_status(&c.escrow_status(me).await?, &c, false);
        }
        EscrowCommand::StartWithdraw { amount, key } => {
            let c = t.client(Some(&key)).await?;
            let tx = c.start_withdraw(amount).await?;
            let me = c.sender().unwrap_or_default();
            if amount.is_zero() {
                eprintln!("withdrawal request cancelled (transaction {})", tx.tx_hash);
            } else {
                eprintln!(
                    "withdrawal of {amount} requested (transaction {})",
                    tx.tx_hash
                );
            }
            print_status(&c.escrow_status(me).await?, &c, false);
        }
        EscrowCommand::ExecuteWithdraw { key } => {
            let c = t.client(Some(&key)).await?;
            let me = c.sender().unwrap_or_default();
            let pending = c.pending_withdrawal(me).await?;
            let tx = c.execute_withdraw().await?;
            if let Some(p) = pending {
                eprintln!("withdrew {} (transaction {})", p.amount, tx.tx_hash);
            }
            print_status(&c.escrow_status(me).await?, &c, false);
        }
        EscrowCommand::Status { account, json, key } => {
            let with_key = key.is_configured(KeyRole::Prover);
            let c = t.client(with_key.then_some(&key)).await?;
            let account = match (account, c.sender()) {
                (Some(a), _) => a,
                (None, Some(me)) => me,
                (None, None) => bail!(
                    "whose status? pass --account ADDRESS, or set PROVER_PUBLISHER_PRIVATE_KEY"
                ),
            };
            print_status(&c.escrow_status(account).await?, &c, json);
        }
    }
    Ok(())
}

fn print_status(s: &EscrowStatus, c: &L1Client, json: bool) {
    if json {
        // Plain data: serialising cannot fail.
        println!("{}", serde_json::to_string_pretty(s).unwrap_or_default());
        return;
    }
    println!("account:            {}", s.account);
    println!("escrow:             {}", c.escrow_address());
    println!("free deposit:       {}", s.free);
    match &s.pending {
        Some(p) => println!(
            "pending withdrawal: {} (executable at unix time {})",
            p.amount, p.executable_at
        ),
        None => println!("pending withdrawal: 0"),
    }
    println!("available for bond: {}", s.available_for_bond);
    println!("staked in bonds:    {}", s.staked);
    println!("wallet balance:     {}", s.wallet_balance);
    println!("min bond:           {}", c.min_bond());
}
