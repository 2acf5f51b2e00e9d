//! `epoch-rfq quote sign|verify|decode`: make, check and read quotes by hand.

use std::io::Read;
use std::path::PathBuf;

use alloy_primitives::{Address, U256};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use epoch_rfq_quote::{EpochProofQuote, QuoteError, QuoteFields, WIRE_LEN};

use crate::keys::KeyArgs;

#[derive(Debug, Subcommand)]
pub enum QuoteCommand {
    /// Sign a quote with the prover's key and print it (JSON by default).
    ///
    /// Fields come from flags or from a JSON file in the quote's JSON form without `signature`.
    /// Example:
    ///   PROVER_PUBLISHER_PRIVATE_KEY=0x… epoch-rfq quote sign --rollup 0x… --epoch 7 \
    ///     --init-block 57 --final-block 64 --total-fees 123000 --fee-bps 250 \
    ///     --bond 1000000 --valid-until-slot 60 | epoch-rfq quote verify
    Sign(Box<SignArgs>),
    /// Check a quote's encoding and signature; prints the recovered signer and each check.
    ///
    /// Reads JSON, or wire bytes as hex or raw, from FILE or standard input. Exits non-zero when
    /// any check fails.
    Verify(VerifyArgs),
    /// Decode a quote's 302-byte wire form (hex or raw) into its JSON form.
    Decode(DecodeArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    /// The JSON form of the HTTP API.
    Json,
    /// The 302-byte wire form of the gossip protocol, as 0x-hex.
    Wire,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    #[command(flatten)]
    key: KeyArgs,
    /// L1 chain id (part of the EIP-712 domain).
    #[arg(long, env = "L1_CHAIN_ID", default_value_t = 31337)]
    chain_id: u64,
    /// JSON file with the unsigned fields ('-' for standard input); replaces the field flags.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["epoch", "init_block", "final_block", "total_fees", "rollup", "fee_bps", "bond", "valid_until_slot", "prover"])]
    fields: Option<PathBuf>,
    /// Prover address; defaults to the signing key's address.
    #[arg(long)]
    prover: Option<Address>,
    /// Rollup contract address (also the EIP-712 verifying contract).
    #[arg(
        long,
        env = "ROLLUP_CONTRACT_ADDRESS",
        required_unless_present = "fields"
    )]
    rollup: Option<Address>,
    /// Epoch number to prove.
    #[arg(long, required_unless_present = "fields")]
    epoch: Option<U256>,
    /// First L2 block of the epoch.
    #[arg(long, required_unless_present = "fields")]
    init_block: Option<U256>,
    /// Last L2 block of the epoch (inclusive).
    #[arg(long, required_unless_present = "fields")]
    final_block: Option<U256>,
    /// Sum of the epoch's block fees (wei of the fee token).
    #[arg(long, required_unless_present = "fields")]
    total_fees: Option<U256>,
    /// Prover's share of the fees in basis points (0..=10000).
    #[arg(
        long,
        env = "QUOTE_PROVIDER_BASIS_POINT_FEE",
        required_unless_present = "fields"
    )]
    fee_bps: Option<u32>,
    /// Bond staked from the prover's escrow deposit when claimed.
    #[arg(
        long,
        env = "QUOTE_PROVIDER_BOND_AMOUNT",
        required_unless_present = "fields"
    )]
    bond: Option<U256>,
    /// Last L2 slot (inclusive) in which a proposer may claim the quote.
    #[arg(long, required_unless_present = "fields")]
    valid_until_slot: Option<U256>,
    /// Output form.
    #[arg(long, value_enum, default_value_t = OutputFormat::Json)]
    output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The quote: a file with JSON, hex or raw wire bytes ('-' or nothing: standard input).
    #[arg(value_name = "FILE", default_value = "-")]
    input: PathBuf,
    /// L1 chain id the quote was signed for.
    #[arg(long, env = "L1_CHAIN_ID", default_value_t = 31337)]
    chain_id: u64,
}

#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// Wire bytes as 0x-hex on the command line.
    #[arg(long, value_name = "HEX", conflicts_with = "file")]
    hex: Option<String>,
    /// A file with the wire bytes, as hex or raw ('-' for standard input; the default).
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
}

pub fn run(command: QuoteCommand) -> Result<()> {
    match command {
        QuoteCommand::Sign(args) => sign(*args),
        QuoteCommand::Verify(args) => verify(args),
        QuoteCommand::Decode(args) => decode(args),
    }
}

fn sign(args: SignArgs) -> Result<()> {
    let signer = args.key.load()?;
    let fields = match &args.fields {
        Some(path) => {
            let text = String::from_utf8(read_input(path)?)
                .context("the fields file is not UTF-8 text")?;
            let mut fields = QuoteFields::from_json_str(&text)?;
            // An all-zero prover in a template means "the signing key's address".
            if fields.prover == Address::ZERO {
                fields.prover = signer.address();
            }
            fields
        }
        None => QuoteFields {
            prover: args.prover.unwrap_or(signer.address()),
            epoch_number: required(args.epoch, "--epoch")?,
            epoch_init_block: required(args.init_block, "--init-block")?,
            epoch_final_block: required(args.final_block, "--final-block")?,
            total_fees: required(args.total_fees, "--total-fees")?,
            rollup_address: required(args.rollup, "--rollup")?,
            basis_point_fee: required(args.fee_bps, "--fee-bps")?,
            bond_amount: required(args.bond, "--bond")?,
            valid_until_slot: required(args.valid_until_slot, "--valid-until-slot")?,
        },
    };
    let quote = fields.sign(&signer, args.chain_id)?;
    match args.output {
        OutputFormat::Json => println!("{}", quote.to_json_string()),
        OutputFormat::Wire => println!("0x{}", hex::encode(quote.to_wire())),
    }
    Ok(())
}

fn required<T>(value: Option<T>, flag: &str) -> Result<T> {
    value.with_context(|| format!("{flag} is required (or give every field with --fields FILE)"))
}

/// One line of `quote verify`'s report.
struct Check {
    name: &'static str,
    outcome: Outcome,
}

enum Outcome {
    Passed,
    Failed(String),
    NotReached,
}

fn verify(args: VerifyArgs) -> Result<()> {
    let bytes = read_input(&args.input)?;
    let mut checks = Vec::new();
    let decoded = parse_any(&bytes);
    let quote = match decoded {
        Ok((quote, form)) => {
            checks.push(Check {
                name: form,
                outcome: Outcome::Passed,
            });
            quote
        }
        Err(err) => {
            checks.push(Check {
                name: "decode",
                outcome: Outcome::Failed(err.to_string()),
            });
            print_checks(&checks);
            bail!("the quote could not be decoded: {err}");
        }
    };
    let fields = quote.fields();
    println!("prover:        {}", fields.prover);
    println!("rollup:        {}", fields.rollup_address);
    println!(
        "epoch:         {} (blocks {}..={})",
        fields.epoch_number, fields.epoch_init_block, fields.epoch_final_block
    );
    println!("total fees:    {}", fields.total_fees);
    println!("fee:           {} bps", fields.basis_point_fee);
    println!("bond:          {}", fields.bond_amount);
    println!("valid until:   slot {}", fields.valid_until_slot);
    println!("chain id:      {}", args.chain_id);
    println!("digest (id):   {}", quote.digest(args.chain_id));

    // `verify` runs the checks in the contract's order and stops at the first failure; map that
    // failure onto the list so the operator sees which ones passed and which were not reached.
    const FORM: &str = "signature form (v in {27,28}, r,s non-zero, low-s)";
    const SIGNER: &str = "recovered signer == prover";
    checks.push(Check {
        name: "basisPointFee <= 10000",
        outcome: Outcome::Passed,
    });
    match quote.verify(args.chain_id) {
        Ok(verified) => {
            println!("signer:        {}", verified.signer());
            checks.push(Check {
                name: FORM,
                outcome: Outcome::Passed,
            });
            checks.push(Check {
                name: SIGNER,
                outcome: Outcome::Passed,
            });
            print_checks(&checks);
            Ok(())
        }
        Err(err) => {
            let signer_failed = matches!(
                err,
                QuoteError::SignerMismatch { .. } | QuoteError::Recovery(_)
            );
            if let QuoteError::SignerMismatch { recovered, .. } = &err {
                println!("signer:        {recovered}");
            }
            if signer_failed {
                checks.push(Check {
                    name: FORM,
                    outcome: Outcome::Passed,
                });
                checks.push(Check {
                    name: SIGNER,
                    outcome: Outcome::Failed(err.to_string()),
                });
            } else {
                checks.push(Check {
                    name: FORM,
                    outcome: Outcome::Failed(err.to_string()),
                });
                checks.push(Check {
                    name: SIGNER,
                    outcome: Outcome::NotReached,
                });
            }
            print_checks(&checks);
            bail!("the quote is not valid: {err}");
        }
    }
}

fn print_checks(checks: &[Check]) {
    for check in checks {
        match &check.outcome {
            Outcome::Passed => println!("  ok      {}", check.name),
            Outcome::Failed(why) => println!("  FAILED  {}: {why}", check.name),
            Outcome::NotReached => println!("  -       {} (not reached)", check.name),
        }
    }
}

fn decode(args: DecodeArgs) -> Result<()> {
    let bytes = match (&args.hex, &args.file) {
        (Some(text), _) => decode_hex(text.as_bytes())?,
        (None, Some(path)) => wire_bytes(read_input(path)?)?,
        (None, None) => wire_bytes(read_input(&PathBuf::from("-"))?)?,
    };
    let quote = EpochProofQuote::from_wire(&bytes)?;
    let pretty = serde_json::to_string_pretty(&quote).context("serialising the quote")?;
    println!("{pretty}");
    Ok(())
}

/// Raw wire bytes are taken as they are; anything else must be hex.
fn wire_bytes(bytes: Vec<u8>) -> Result<Vec<u8>> {
    if bytes.len() == WIRE_LEN && bytes.first() == Some(&epoch_rfq_quote::WIRE_VERSION) {
        return Ok(bytes);
    }
    decode_hex(&bytes)
}

fn decode_hex(text: &[u8]) -> Result<Vec<u8>> {
    let text = std::str::from_utf8(text).context("input is neither raw wire bytes nor hex text")?;
    let trimmed = text.trim();
    let digits = trimmed.strip_prefix("0x").unwrap_or(trimmed);
    hex::decode(digits).map_err(|err| anyhow::anyhow!("input is not valid hex: {err}"))
}

/// Reads a quote in any of its forms, saying which one it was.
fn parse_any(bytes: &[u8]) -> Result<(EpochProofQuote, &'static str)> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') {
        let text = std::str::from_utf8(bytes).context("JSON input is not UTF-8")?;
        return Ok((EpochProofQuote::from_json_str(text)?, "decode (JSON form)"));
    }
    let wire = wire_bytes(bytes.to_vec())?;
    Ok((
        EpochProofQuote::from_wire(&wire)?,
        "decode (wire form, 302 bytes, version 1)",
    ))
}

fn read_input(path: &PathBuf) -> Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading standard input")?;
        Ok(buf)
    } else {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    }
}
