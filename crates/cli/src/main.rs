//! `epoch-rfq`: prover coordination for an Aztec-style rollup. One binary, one subcommand per
//! role (SPEC §8).

use epoch_rfq::{
    deploy_cmd, escrow_cmd, multi_thread, node_cmd, price_cmd, pricing_cmd, proposer_cmd,
    prover_cmd, quote_cmd, runtime, sandbox, wiring,
};

use std::sync::Arc;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "epoch-rfq",
    version,
    about = "Prover coordination for an Aztec-style rollup: signed epoch proof quotes, \
             the node that pools them, the prover and proposer that use them.",
    long_about = None,
    after_help = "Every option can also be set with the environment variable shown in its help.\n\
                  Keys are read from the environment or a keystore file, never from the command \
                  line. Logs go to stderr; RUST_LOG filters them (e.g. RUST_LOG=debug)."
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node: the quote pool, P2P gossip and the JSON-RPC API (default port 8000).
    Node(Box<node_cmd::NodeArgs>),
    /// Run a prover node: keep the escrow topped up, quote completed epochs, prove won epochs.
    Prover(Box<prover_cmd::ProverCommand>),
    /// Run a proposer: propose blocks in owned slots, run the RFQ, claim the cheapest quote.
    Proposer(Box<proposer_cmd::ProposerCmdArgs>),
    /// Dry run: would the prover quote this epoch now, at what fee and bond, and why.
    Price(Box<price_cmd::PriceArgs>),
    /// Run the example pricing service (what QUOTE_PROVIDER_URL points at).
    PricingServer(pricing_cmd::PricingArgs),
    /// Deploy the L1 contracts (FeeToken, dev verifier, Rollup + escrow) and print the
    /// deployment JSON.
    Deploy(Box<deploy_cmd::DeployArgs>),
    /// Manage a prover's escrow deposit: deposit, start-withdraw, execute-withdraw, status.
    Escrow(escrow_cmd::EscrowArgs),
    /// Run everything on a local anvil chain: node, proposer, pricing service and four provers
    /// (one on the cost model, whose terms are logged once per epoch),
    /// showing each epoch's auction, claim, proof, payouts and slashes as they happen.
    Sandbox(Box<sandbox::SandboxArgs>),
    /// Run the network on anvil through fault profiles (429s, latency, endpoints down over http
    /// or ws, reorgs, fee spikes, dropped transactions, paused mining, a frozen node, a killed
    /// prover) and print what each cost: epochs proven, bonds slashed, duplicate and replacement
    /// transactions.
    Chaos(Box<epoch_rfq::chaos::ChaosArgs>),
    /// Run the network across many hosts (Linux network namespaces, as root) with emulated
    /// latency, jitter and loss between them, through steady state, a partition, churn and a
    /// garbage-publishing host; report quote propagation and claims.
    Testbed(Box<epoch_rfq::testbed::TestbedArgs>),
    /// Sign, verify and decode epoch proof quotes.
    #[command(subcommand)]
    Quote(quote_cmd::QuoteCommand),
}

fn main() {
    // Like `Cli::parse()`, with the role's config file (--config / EPOCH_RFQ_CONFIG) applied
    // below env and flags, and --print-config answered.
    let cli: Cli = epoch_rfq::config_file::parse_or_exit();
    // The sandbox prints its own story on stdout; its roles' logs stay at warnings unless
    // RUST_LOG asks for more.
    let default_level = match cli.command {
        // market: the cost-model prover's terms, once per epoch.
        Command::Sandbox(_) => "warn,epoch_rfq_prover::cost=info",
        // The table is the output; the roles' errors under faults are expected.
        Command::Chaos(_) => "error",
        // Its own progress and figures are the output.
        Command::Testbed(_) => "error",
        _ => "info",
    };
    init_logging(cli.log_format, default_level);
    if let Err(err) = run(cli) {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

fn init_logging(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| default_level.into());
    // Colours only on a terminal: escape codes in a log file are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    // `try_init`: a second initialisation (tests) is not an error worth stopping for.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Node(args) => multi_thread()?.block_on(node_cmd::run(*args)),
        Command::Prover(args) => multi_thread()?.block_on(prover_cmd::run(*args)),
        Command::Proposer(args) => multi_thread()?.block_on(run_proposer(*args)),
        Command::Price(args) => runtime()?.block_on(price_cmd::run(*args)),
        Command::PricingServer(args) => runtime()?.block_on(pricing_cmd::run(args)),
        Command::Sandbox(args) => multi_thread()?.block_on(sandbox::run(*args)),
        Command::Chaos(args) => multi_thread()?.block_on(epoch_rfq::chaos::run(*args)),
        // Sets up namespaces before it builds its own runtime (inside one of them).
        Command::Testbed(args) => epoch_rfq::testbed::run(*args),
        Command::Quote(command) => quote_cmd::run(command),
        Command::Deploy(args) => deploy_cmd::run(*args),
        Command::Escrow(args) => escrow_cmd::run(args),
    }
}

async fn run_proposer(args: proposer_cmd::ProposerCmdArgs) -> Result<()> {
    let Some(url) = args.node_url() else {
        anyhow::bail!(
            "PROPOSER_COORDINATION_NODE_URL is not set: the proposer reads quotes from a node's \
             JSON-RPC API, e.g. PROPOSER_COORDINATION_NODE_URL=http://127.0.0.1:8000"
        );
    };
    let client = epoch_rfq_node::NodeClient::new(url)
        .map_err(|e| anyhow::anyhow!("PROPOSER_COORDINATION_NODE_URL={url:?}: {e}"))?;
    let source = Arc::new(wiring::NodeApiSource(client));
    let ops = proposer_cmd::ProposerOps::new();
    let life = epoch_rfq_runtime::lifecycle::Lifecycle::from_env()?;
    let server = match args.metrics_addr {
        Some(addr) => Some(proposer_cmd::start_ops_server(addr, &ops).await?.1),
        None => None,
    };
    let mut proposer = proposer_cmd::build(args, source, ops.metrics.clone())
        .await?
        .with_health(&ops.health);
    let token = life.token();
    // The proposer finishes its current tick (a claim transaction in flight settles) and
    // returns; returning before a stop was asked for is a failure the lifecycle reports.
    life.spawn_critical("proposer", async move {
        proposer.run(token.cancelled_owned()).await;
        Ok::<(), std::convert::Infallible>(())
    });
    life.run().await?;
    if let Some(server) = server {
        server.abort();
    }
    Ok(())
}
