//! `epoch-rfq`: prover coordination for an Aztec-style rollup. One binary, one subcommand per
//! role (SPEC §8).

mod keys;
mod quote_cmd;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "epoch-rfq",
    version,
    about = "Prover coordination for an Aztec-style rollup: signed epoch proof quotes, \
             the node that pools them, and the tools around them.",
    long_about = None,
    after_help = "Every option can also be set with the environment variable shown in its help.\n\
                  Keys are read from PROVER_PUBLISHER_PRIVATE_KEY or a keystore file, never from \
                  the command line."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sign, verify and decode epoch proof quotes.
    #[command(subcommand)]
    Quote(quote_cmd::QuoteCommand),
}

fn main() {
    let cli = Cli::parse();
    if let Err(err) = run(cli) {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Quote(command) => quote_cmd::run(command),
    }
}
