//! `epoch-rfq escrow deposit|start-withdraw|execute-withdraw|status`: a prover's
//! ProofCommitmentEscrow position by hand.

use std::path::PathBuf;

use alloy_primitives::{Address, U256};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use epoch_rfq_l1::{Deployment, EscrowStatus, L1Client};

use crate::deploy_cmd::first_l1_url;
use crate::keys::KeyArgs;

#[derive(Debug, Args)]
pub struct EscrowArgs {
    #[command(subcommand)]
    pub command: EscrowCommand,

    #[command(flatten)]
    pub target: Target,
}

/// Which chain and Rollup.
#[derive(Debug, Args)]
pub struct Target {
    /// L1 JSON-RPC URL (http(s):// or ws(s)://). A comma-separated list uses the first.
    #[arg(
        long = "l1-url",
        env = "ETHEREUM_HOSTS",
        default_value = "http://127.0.0.1:8545",
        global = true
    )]
    pub l1_url: String,

    /// The Rollup contract (its escrow and token are read from it).
    #[arg(long, env = "ROLLUP_CONTRACT_ADDRESS", global = true)]
    pub rollup: Option<Address>,

    /// A deployment file written by `epoch-rfq deploy --out` (instead of --rollup).
    #[arg(long, value_name = "FILE", conflicts_with = "rollup", global = true)]
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

fn has_key(key: &KeyArgs) -> bool {
    key.private_key.is_some() || key.keystore.is_some()
}

impl Target {
    fn rollup(&self) -> Result<Address> {
        match (&self.deployment, self.rollup) {
            (Some(path), _) => Ok(Deployment::read(path)?.rollup),
            (None, Some(rollup)) => Ok(rollup),
            (None, None) => bail!(
                "which Rollup? set ROLLUP_CONTRACT_ADDRESS (or --rollup), or pass --deployment FILE"
            ),
        }
    }

    async fn client(&self, key: Option<&KeyArgs>) -> Result<L1Client> {
        let url = first_l1_url(&self.l1_url)?;
        let rollup = self.rollup()?;
        let signer = key.map(KeyArgs::load).transpose()?;
        L1Client::connect(&url, rollup, signer)
            .await
            .with_context(|| format!("connecting to the Rollup {rollup} at {url}"))
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
            let with_key = has_key(&key);
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
