//! `epoch-rfq deploy`: deploy FeeToken, the dev verifier and the Rollup (which creates its
//! escrow) and print the deployment as JSON (also written to `--out`).

use std::path::PathBuf;

use alloy_primitives::{Address, U256};
use anyhow::{Context, Result};
use clap::Args;
use epoch_rfq_l1::alloy::providers::Provider;
use epoch_rfq_l1::args::{L1Args, L1ArgsError};
use epoch_rfq_l1::{DeployParams, L1Client, connect_provider, deploy};

use crate::keys::KeyArgs;

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// ETHEREUM_HOSTS and L1_CHAIN_ID (checked before anything is sent); ROLLUP_CONTRACT_ADDRESS
    /// is not used (the Rollup is what this deploys).
    #[command(flatten)]
    pub l1: L1Args,

    #[command(flatten)]
    pub key: KeyArgs,

    /// Seconds per L2 slot.
    #[arg(long, default_value_t = 4)]
    pub slot_duration: u64,

    /// L2 slots per epoch.
    #[arg(long, default_value_t = 8)]
    pub epoch_duration: u64,

    /// Slots at the start of the next epoch in which the epoch to prove can be claimed
    /// (1 ..= epoch duration − 1).
    #[arg(long, default_value_t = 4)]
    pub claim_window: u64,

    /// Minimum bond of a claim, in FeeToken base units.
    #[arg(long, default_value_t = U256::from(1000))]
    pub min_bond: U256,

    /// Seconds between `escrow start-withdraw` and `escrow execute-withdraw`. Default: three
    /// epochs (longer than a claim's lifetime, so a prover cannot quote and leave).
    #[arg(long)]
    pub withdraw_delay: Option<u64>,

    /// Where slashed bonds go (default: the deployer).
    #[arg(long)]
    pub slash_recipient: Option<Address>,

    /// Proposer set, round-robin by slot (repeat the flag or separate with commas). Default:
    /// empty, anyone may propose.
    #[arg(long = "validator", value_delimiter = ',')]
    pub validators: Vec<Address>,

    /// Use this verifier contract instead of deploying the dev verifier.
    #[arg(long)]
    pub verifier: Option<Address>,

    /// Mint FeeToken after deploying, as ADDRESS=AMOUNT (repeatable; the deployer owns the
    /// token).
    #[arg(long = "mint", value_name = "ADDRESS=AMOUNT", value_parser = parse_mint)]
    pub mint: Vec<(Address, U256)>,

    /// Also write the deployment JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

fn parse_mint(s: &str) -> Result<(Address, U256), String> {
    let (a, v) = s
        .split_once('=')
        .ok_or_else(|| format!("expected ADDRESS=AMOUNT, got {s:?}"))?;
    let address = a
        .trim()
        .parse::<Address>()
        .map_err(|e| format!("bad address {a:?}: {e}"))?;
    let amount = v
        .trim()
        .parse::<U256>()
        .map_err(|e| format!("bad amount {v:?}: {e}"))?;
    Ok((address, amount))
}

pub fn run(args: DeployArgs) -> Result<()> {
    let signer = args.key.load()?;
    let url = args.l1.url()?.to_owned();
    let params = DeployParams {
        slot_duration: args.slot_duration,
        epoch_duration: args.epoch_duration,
        claim_window: args.claim_window,
        min_bond: args.min_bond,
        withdraw_delay: args.withdraw_delay.unwrap_or_else(|| {
            3u64.saturating_mul(args.epoch_duration)
                .saturating_mul(args.slot_duration)
        }),
        slash_recipient: args.slash_recipient.unwrap_or(Address::ZERO),
        validators: args.validators,
        token_owner: Address::ZERO,
        verifier: args.verifier,
    };
    let runtime = crate::runtime()?;
    let deployment = runtime.block_on(async {
        let deployer = signer.address();
        let provider = connect_provider(&url, Some(signer))
            .await
            .with_context(|| format!("cannot reach the L1 at {url} (ETHEREUM_HOSTS)"))?;
        let actual = provider
            .get_chain_id()
            .await
            .with_context(|| format!("reading the chain id of {url} (ETHEREUM_HOSTS)"))?;
        if actual != args.l1.l1_chain_id {
            return Err(L1ArgsError::ChainIdMismatch {
                configured: args.l1.l1_chain_id,
                actual,
                url: url.clone(),
            }
            .into());
        }
        let deployment = deploy(&provider, deployer, &params)
            .await
            .with_context(|| format!("deploying to {url}"))?;
        let client = L1Client::from_info(provider, deployment.info(), Some(deployer));
        for (to, amount) in &args.mint {
            client
                .mint(*to, *amount)
                .await
                .with_context(|| format!("minting {amount} FeeToken to {to}"))?;
            eprintln!("minted {amount} FeeToken to {to}");
        }
        anyhow::Ok(deployment)
    })?;
    let json = deployment.to_json();
    if let Some(path) = &args.out {
        std::fs::write(path, format!("{json}\n"))
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("deployment written to {}", path.display());
    }
    println!("{json}");
    Ok(())
}
