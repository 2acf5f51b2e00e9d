//! `epoch-rfq sandbox` (SPEC §8): the whole system in one process on a private anvil chain.
//!
//! [`Sandbox::start`] starts the pinned anvil (interval mining, 1 s blocks), deploys the
//! contracts, mints fee tokens to the proposer and the provers, then runs in-process:
//!
//! * the example pricing service (127.0.0.1, any free port);
//! * one node: L1-backed chain view, JSON-RPC on 127.0.0.1 (`--node-port`, default 8000), gossip
//!   on 127.0.0.1 (any free port);
//! * the provers (by default three: `alice` posts to the node over HTTP at a fixed fee, `bob`
//!   and `carol` gossip over P2P bootstrapped to the node, `bob` at a fixed fee and `carol` priced
//!   by the pricing service), each with its own dev account, data directory and metrics;
//! * a proposer reading quotes straight from the node's pool ([`LocalPoolSource`]).
//!
//! Everything that happens is a [`SandboxEvent`] (kept in a history, broadcast, and printed as
//! one line each when [`SandboxOptions::print`] is set): blocks, quotes reaching the node, drops,
//! the claim, proving, `EpochProven` with the payouts, `BondSlashed`, `PrunedPending`.
//! [`Sandbox::shutdown`] stops every role; dropping the sandbox kills anvil.

use epoch_rfq_l1::args::L1Args;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, U256};
use anyhow::{Context, Result, bail};
use clap::Args;
use epoch_rfq_l1::anvil::{ChainOptions, TestChain};
use epoch_rfq_l1::{DeployParams, Deployment, L1Client};
use epoch_rfq_node::{L1ChainView, NodeClient, NodeConfig, NodeHandle, NodeService};
use epoch_rfq_p2p::{P2pHandle, P2pService};
use epoch_rfq_proposer::{
    Proposer, ProposerConfig, ProposerEvent, ProposerMetrics, QuoteSource, ReceivedQuote,
    SourceError, TrafficConfig,
};
use epoch_rfq_prover::pricing_service::{self, PricingPolicy};
use epoch_rfq_prover::{
    JobState, ProverArgs, ProverEvent, ProverHandle, ProverMetrics, ProverType, QuoteSink,
};
use futures::future::BoxFuture;
use prometheus_client::registry::Registry;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::keys::KeyArgs;
use crate::p2p_args::P2pArgs;
use crate::prover_cmd::{self, ProverCommand};
use crate::wiring::{GossipSink, LocalPoolSource, NodeApiSink, ignore_incoming_gossip};

/// Dev account of the proposer (account 0 deploys and owns the fee token).
const PROPOSER_ACCOUNT: usize = 1;
/// Dev account of the first prover; the others follow.
const FIRST_PROVER_ACCOUNT: usize = 2;
/// Dev account that receives slashed bonds (distinct from everyone else, so a slash shows as a
/// clean balance change).
const SLASH_RECIPIENT_ACCOUNT: usize = 9;

/// `epoch-rfq sandbox` options.
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Port of the node's JSON-RPC API on 127.0.0.1 (0: any free port).
    #[arg(long, env = "SANDBOX_NODE_PORT", default_value_t = 8000)]
    pub node_port: u16,

    /// Seconds per L2 slot.
    #[arg(long, default_value_t = 4)]
    pub slot_duration: u64,

    /// L2 slots per epoch.
    #[arg(long, default_value_t = 8)]
    pub epoch_duration: u64,

    /// Slots at the start of the next epoch in which an epoch can be claimed.
    #[arg(long, default_value_t = 4)]
    pub claim_window: u64,

    /// Make one prover (alice) undercut the others and never prove: its claimed epoch is pruned
    /// at the proof deadline and its bond slashed. Its escrow backs a single bond, so after the
    /// slash it can no longer quote and the others take over.
    #[arg(long)]
    pub unreliable_prover: bool,

    /// Stop (exit 0) after this many proven epochs.
    #[arg(long, value_name = "N")]
    pub exit_after_proven: Option<u64>,

    /// Stop after this many seconds (exit 1 if --exit-after-proven was not reached by then).
    #[arg(long, value_name = "SECS")]
    pub timeout_secs: Option<u64>,

    /// Where the node and provers keep their data (one folder per role, recreated at each start:
    /// the chain they refer to lives only as long as the sandbox).
    #[arg(long, env = "SANDBOX_DATA_DIR", default_value = ".sandbox")]
    pub data_dir: PathBuf,
}

/// How a prover sends its quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotePath {
    /// `node_addEpochProofQuote` on the node's JSON-RPC API.
    Http,
    /// Gossip, bootstrapped to the node.
    P2p,
}

impl QuotePath {
    /// `http` / `p2p` (the provers' sink names).
    pub fn name(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::P2p => "p2p",
        }
    }
}

/// How a prover prices its quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProverPricing {
    /// The same terms every epoch (`SimpleQuoteProvider`).
    Fixed {
        /// Fee in basis points.
        basis_point_fee: u32,
        /// Bond.
        bond: U256,
    },
    /// Ask the sandbox's pricing service (`HttpQuoteProvider`).
    Service,
    /// Price from costs (`CostQuoteProvider`, the cost file [`SANDBOX_COST_FILE`]).
    CostModel,
}

/// The cost file of a sandbox prover on the cost model: gas at the chain's price (1 ETH = 10^6
/// fee-token units), proving 300 per epoch + 4 per tx, 5 % a year on the bond, 10 % margin.
pub const SANDBOX_COST_FILE: &str = r#"bond_amount = "1500"
margin = 0.10
[l1]
proof_submission_gas = 300000
[price]
fee_token_per_eth = 1.0e6
[proving]
cost_per_epoch = 300
cost_per_tx = 4
[capital]
annual_rate = 0.05
[load]
surcharge_at_full = 0.5
"#;

/// One prover of the sandbox.
#[derive(Debug, Clone)]
pub struct ProverSpec {
    /// Display name (also its data folder).
    pub name: String,
    /// Quote path.
    pub path: QuotePath,
    /// Pricing.
    pub pricing: ProverPricing,
    /// Fails every proving job (a `command` prover that exits 1).
    pub never_proves: bool,
    /// Fee tokens minted to the prover's wallet at start.
    pub funds: U256,
    /// PROVER_MINIMUM_ESCROW_AMOUNT.
    pub minimum_escrow: U256,
    /// PROVER_TARGET_ESCROW_AMOUNT.
    pub target_escrow: U256,
}

impl ProverSpec {
    /// A reliable prover with a comfortable escrow (minimum 100000, target 200000, 10^9 tokens).
    pub fn new(name: &str, path: QuotePath, pricing: ProverPricing) -> Self {
        Self {
            name: name.to_owned(),
            path,
            pricing,
            never_proves: false,
            funds: U256::from(1_000_000_000u64),
            minimum_escrow: U256::from(100_000u64),
            target_escrow: U256::from(200_000u64),
        }
    }

    /// A prover that wins with a low fee, never proves, and whose wallet and escrow back exactly
    /// one `bond`: after its first slash it cannot quote any more.
    pub fn unreliable(name: &str, path: QuotePath, basis_point_fee: u32, bond: U256) -> Self {
        Self {
            never_proves: true,
            funds: bond,
            minimum_escrow: bond,
            target_escrow: bond,
            ..Self::new(
                name,
                path,
                ProverPricing::Fixed {
                    basis_point_fee,
                    bond,
                },
            )
        }
    }

    fn describe(&self, policy: &PricingPolicy) -> String {
        let price = match &self.pricing {
            ProverPricing::Fixed {
                basis_point_fee,
                bond,
            } => format!("fixed {basis_point_fee} bps, bond {bond}"),
            ProverPricing::Service => format!(
                "pricing service ({} bps + {} bps/tx, +{} %), bond {}",
                policy.base_bps, policy.bps_per_tx, policy.margin_percent, policy.bond_amount
            ),
            ProverPricing::CostModel => {
                "cost model (gas + 300/epoch + 4/tx proving + capital + load, +10 %), bond 1500"
                    .to_owned()
            }
        };
        let unreliable = if self.never_proves {
            format!(", NEVER PROVES (escrow for one bond: {})", self.funds)
        } else {
            String::new()
        };
        format!("{:<4} {price}{unreliable}", self.path.name())
    }
}

/// Everything the sandbox can be told.
#[derive(Clone)]
pub struct SandboxOptions {
    /// Deployment parameters (time, minimum bond).
    pub slot_duration: u64,
    /// Slots per epoch.
    pub epoch_duration: u64,
    /// Claim window in slots.
    pub claim_window: u64,
    /// Minimum bond.
    pub min_bond: U256,
    /// Node JSON-RPC port on 127.0.0.1 (0: any).
    pub node_port: u16,
    /// Check the prover's escrow in the node's pool (SPEC §5.1, optional there).
    pub node_check_escrow: bool,
    /// The pricing service's policy.
    pub pricing: PricingPolicy,
    /// The provers.
    pub provers: Vec<ProverSpec>,
    /// Polling interval of the proposer and the provers.
    pub polling_interval: Duration,
    /// The proposer's synthetic traffic.
    pub traffic: TrafficConfig,
    /// Fee tokens minted to the proposer (it pays every block's fees).
    pub proposer_funds: U256,
    /// Data folder (one sub-folder per role, recreated).
    pub data_dir: PathBuf,
    /// Quotes the proposer sees besides the node's pool (tests: quotes no node would accept).
    pub extra_source: Option<Arc<dyn QuoteSource>>,
    /// Print each event as one line on stdout.
    pub print: bool,
}

impl fmt::Debug for SandboxOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxOptions")
            .field("slot_duration", &self.slot_duration)
            .field("epoch_duration", &self.epoch_duration)
            .field("claim_window", &self.claim_window)
            .field("node_port", &self.node_port)
            .field("provers", &self.provers)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl SandboxOptions {
    /// The sandbox of SPEC §3/§8: 4 s slots, 8-slot epochs, claim window 4, node on port 8000,
    /// three provers (alice over HTTP at 195 bps; bob over P2P at 205 bps; carol over P2P priced
    /// by the pricing service, ~150–250 bps depending on the epoch's transactions, so that the
    /// winner changes with the traffic: carol in quiet epochs, alice in busy ones).
    pub fn standard(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            slot_duration: 4,
            epoch_duration: 8,
            claim_window: 4,
            min_bond: U256::from(1000),
            node_port: epoch_rfq_node::DEFAULT_HTTP_PORT,
            node_check_escrow: true,
            pricing: PricingPolicy {
                base_bps: 50,
                bps_per_tx: 1,
                margin_percent: 10,
                bond_amount: U256::from(1500),
            },
            provers: vec![
                ProverSpec::new(
                    "alice",
                    QuotePath::Http,
                    ProverPricing::Fixed {
                        basis_point_fee: 195,
                        bond: U256::from(2000),
                    },
                ),
                ProverSpec::new(
                    "bob",
                    QuotePath::P2p,
                    ProverPricing::Fixed {
                        basis_point_fee: 205,
                        bond: U256::from(1000),
                    },
                ),
                ProverSpec::new("carol", QuotePath::P2p, ProverPricing::Service),
            ],
            polling_interval: Duration::from_millis(1000),
            traffic: TrafficConfig::default(),
            proposer_funds: U256::from(10u64).pow(U256::from(15)),
            data_dir: data_dir.into(),
            extra_source: None,
            print: true,
        }
    }

    /// The options of `epoch-rfq sandbox` with these arguments.
    pub fn from_args(args: &SandboxArgs) -> Self {
        let mut opts = Self::standard(&args.data_dir);
        opts.slot_duration = args.slot_duration;
        opts.epoch_duration = args.epoch_duration;
        opts.claim_window = args.claim_window;
        opts.node_port = args.node_port;
        // A fourth prover priced by the cost model; its cost terms are logged once per epoch.
        opts.provers.push(ProverSpec::new(
            "dave",
            QuotePath::Http,
            ProverPricing::CostModel,
        ));
        if args.unreliable_prover {
            opts.provers[0] =
                ProverSpec::unreliable("alice", QuotePath::Http, 100, U256::from(50_000));
        }
        // Poll at least twice per slot so short slots keep up.
        let half_slot = Duration::from_millis(args.slot_duration.saturating_mul(500).max(250));
        opts.polling_interval = opts.polling_interval.min(half_slot);
        opts
    }
}

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
struct Names(HashMap<Address, String>);

impl Names {
    fn of(&self, a: &Address) -> String {
        self.0.get(a).cloned().unwrap_or_else(|| short_addr(a))
    }
}

fn short_addr(a: &Address) -> String {
    let s = a.to_string();
    format!("{}…{}", &s[..6], &s[s.len() - 4..])
}

/// The first `max` characters of `s` (with an ellipsis when cut).
fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

fn short_hash(h: &B256) -> String {
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
struct Hub {
    history: Mutex<Vec<SandboxEvent>>,
    events: broadcast::Sender<SandboxEvent>,
    names: Names,
    print: bool,
    started: Instant,
    slot: AtomicU64,
}

impl Hub {
    fn emit(&self, event: SandboxEvent) {
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

/// A running prover of the sandbox.
pub struct SandboxProver {
    /// Its spec.
    pub spec: ProverSpec,
    /// Its address (dev account).
    pub address: Address,
    /// Its metrics (registered in its own registry).
    pub metrics: ProverMetrics,
    /// Its metrics registry.
    pub registry: Arc<Registry>,
    /// Where its metrics are served (`http://ADDR/metrics`).
    pub metrics_addr: SocketAddr,
    handle: Option<ProverHandle>,
    p2p: Option<P2pHandle>,
}

impl fmt::Debug for SandboxProver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxProver")
            .field("name", &self.spec.name)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// The running sandbox. See the [module docs](self).
pub struct Sandbox {
    chain: TestChain,
    deployment: Deployment,
    reader: L1Client,
    node: Option<NodeHandle>,
    node_p2p_addr: String,
    pricing_url: String,
    proposer_address: Address,
    proposer_metrics: ProposerMetrics,
    proposer_metrics_addr: SocketAddr,
    provers: Vec<SandboxProver>,
    hub: Arc<Hub>,
    stop: watch::Sender<bool>,
    proposer_task: Option<JoinHandle<()>>,
    tasks: Vec<JoinHandle<()>>,
    options: SandboxOptions,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("l1", &self.chain.url())
            .field("rollup", &self.deployment.rollup)
            .field("provers", &self.provers)
            .finish_non_exhaustive()
    }
}

/// Combines the node's pool with extra quotes (tests).
struct Combined(LocalPoolSource, Arc<dyn QuoteSource>);

impl QuoteSource for Combined {
    fn quotes_for_epoch(
        &self,
        epoch: u64,
    ) -> BoxFuture<'_, Result<Vec<ReceivedQuote>, SourceError>> {
        Box::pin(async move {
            let mut quotes = self.1.quotes_for_epoch(epoch).await?;
            quotes.extend(self.0.quotes_for_epoch(epoch).await?);
            Ok(quotes)
        })
    }
}

/// Removes and recreates `dir/name` (only the role folders the sandbox owns).
fn fresh_dir(root: &Path, name: &str) -> Result<PathBuf> {
    let dir = root.join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot clear the old sandbox data in {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

impl Sandbox {
    /// Starts everything (see the module docs). Takes ~5–10 s (deployment, funding, deposits:
    /// one L1 block per second).
    pub async fn start(options: SandboxOptions) -> Result<Self> {
        if options.provers.len() + FIRST_PROVER_ACCOUNT >= SLASH_RECIPIENT_ACCOUNT {
            bail!(
                "at most {} provers",
                SLASH_RECIPIENT_ACCOUNT - FIRST_PROVER_ACCOUNT
            );
        }
        std::fs::create_dir_all(&options.data_dir).with_context(|| {
            format!(
                "cannot create the sandbox data folder {}",
                options.data_dir.display()
            )
        })?;
        let started = Instant::now();

        // L1: anvil with 1 s blocks, the contracts, the tokens.
        let mut chain = TestChain::start(ChainOptions {
            accounts: 10,
            block_time: Some(1),
        })
        .await
        .context("starting anvil")?;
        let slash_recipient = chain.address(SLASH_RECIPIENT_ACCOUNT)?;
        let params = DeployParams {
            slot_duration: options.slot_duration,
            epoch_duration: options.epoch_duration,
            claim_window: options.claim_window,
            min_bond: options.min_bond,
            withdraw_delay: 3u64
                .saturating_mul(options.epoch_duration)
                .saturating_mul(options.slot_duration),
            slash_recipient,
            ..DeployParams::default()
        };
        let deployment = chain.deploy(params).await.context("deploying")?;
        let reader = chain.reader()?;
        let proposer_signer = chain.signer(PROPOSER_ACCOUNT)?;
        let mut funding = vec![(proposer_signer.address(), options.proposer_funds)];
        let mut prover_keys = Vec::new();
        for (i, spec) in options.provers.iter().enumerate() {
            let signer = chain.signer(FIRST_PROVER_ACCOUNT + i)?;
            funding.push((signer.address(), spec.funds));
            prover_keys.push(chain.private_key_hex(FIRST_PROVER_ACCOUNT + i)?);
        }
        mint_all(&chain, &deployment, &funding).await?;

        let mut names = Names::default();
        names
            .0
            .insert(proposer_signer.address(), "proposer".to_owned());
        names.0.insert(
            slash_recipient,
            format!("slash recipient {}", short_addr(&slash_recipient)),
        );
        let mut addresses = Vec::new();
        for (i, spec) in options.provers.iter().enumerate() {
            let a = chain.address(FIRST_PROVER_ACCOUNT + i)?;
            names
                .0
                .insert(a, format!("{} ({})", spec.name, spec.path.name()));
            addresses.push(a);
        }
        let (events, _) = broadcast::channel(4096);
        let hub = Arc::new(Hub {
            history: Mutex::new(Vec::new()),
            events,
            names,
            print: options.print,
            started,
            slot: AtomicU64::new(0),
        });
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();

        // The pricing service.
        let (pricing_addr, pricing_server) =
            pricing_service::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), options.pricing)
                .await
                .context("starting the pricing service")?;
        tasks.push(tokio::spawn(async move {
            if let Err(e) = pricing_server.await {
                tracing::warn!(error = %e, "pricing service stopped");
            }
        }));
        let pricing_url = format!("http://{pricing_addr}/");

        // The node, with gossip on 127.0.0.1.
        let node_dir = fresh_dir(&options.data_dir, "node")?;
        let node_p2p = P2pArgs {
            p2p_port: 0,
            p2p_listen_addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            p2p_bootstrap_nodes: String::new(),
        }
        .to_config(&node_dir)?;
        let (node_gossip, node_incoming) = P2pService::spawn(node_p2p)
            .await
            .context("starting the node's P2P")?;
        let node_p2p_addr = node_multiaddr(&node_gossip).await?;
        let node_config = NodeConfig {
            http_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, options.node_port)),
            check_escrow: options.node_check_escrow,
            ..NodeConfig::default()
        };
        let node = NodeService::spawn(
            node_config,
            Arc::new(L1ChainView::new(reader.clone())),
            Some((node_gossip, node_incoming)),
        )
        .await
        .with_context(|| {
            format!(
                "starting the node on 127.0.0.1:{} (another sandbox or node running? try --node-port)",
                options.node_port
            )
        })?;
        let node_url = node.url();

        // The provers, started together (each deposits into its escrow first).
        let l1_ws = chain.ws_url();
        let mut starting = Vec::new();
        for ((spec, key), address) in options.provers.iter().zip(&prover_keys).zip(&addresses) {
            starting.push(start_prover(
                spec.clone(),
                key.clone(),
                *address,
                &options,
                &l1_ws,
                deployment.rollup,
                &node_url,
                &node_p2p_addr,
                &pricing_url,
                hub.clone(),
                stopped.clone(),
            ));
        }
        let mut provers = Vec::new();
        for result in futures::future::join_all(starting).await {
            let (prover, prover_tasks) = result?;
            provers.push(prover);
            tasks.extend(prover_tasks);
        }

        // The proposer, reading the node's pool.
        let proposer_l1 =
            L1Client::from_deployment(&chain.url(), &deployment, Some(proposer_signer.clone()))
                .await
                .context("connecting the proposer to L1")?;
        let pool = LocalPoolSource(node.service().clone());
        let source: Arc<dyn QuoteSource> = match &options.extra_source {
            Some(extra) => Arc::new(Combined(pool, extra.clone())),
            None => Arc::new(pool),
        };
        let mut registry = Registry::default();
        let proposer_metrics = ProposerMetrics::new(&mut registry);
        let (proposer_metrics_addr, metrics_task) = serve_metrics(Arc::new(registry)).await?;
        tasks.push(metrics_task);
        let mut proposer = Proposer::new(
            proposer_l1,
            source,
            ProposerConfig {
                polling_interval: options.polling_interval,
                traffic: options.traffic,
                ..ProposerConfig::default()
            },
        )?
        .with_metrics(proposer_metrics.clone());
        tasks.push(forward_proposer_events(
            proposer.subscribe(),
            options.epoch_duration,
            hub.clone(),
        ));
        let mut proposer_stop = stopped.clone();
        let proposer_task = tokio::spawn(async move {
            proposer
                .run(async move {
                    let _ = proposer_stop.wait_for(|s| *s).await;
                })
                .await;
        });

        // The watcher: L1 events and the node's pool.
        tasks.push(tokio::spawn(watch(
            reader.clone(),
            node.service().clone(),
            slash_recipient,
            hub.clone(),
            stopped.clone(),
        )));

        Ok(Self {
            chain,
            deployment,
            reader,
            node: Some(node),
            node_p2p_addr,
            pricing_url,
            proposer_address: proposer_signer.address(),
            proposer_metrics,
            proposer_metrics_addr,
            provers,
            hub,
            stop,
            proposer_task: Some(proposer_task),
            tasks,
            options,
        })
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SandboxEvent> {
        self.hub.events.subscribe()
    }

    /// Every event so far.
    pub fn history(&self) -> Vec<SandboxEvent> {
        self.hub
            .history
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Waits until an event in the history (past or future) matches `pred`; returns it.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&SandboxEvent) -> bool,
    ) -> Result<SandboxEvent> {
        let mut rx = self.subscribe();
        if let Some(e) = self.history().into_iter().find(|e| pred(e)) {
            return Ok(e);
        }
        tokio::time::timeout(timeout, async {
            loop {
                match rx.recv().await {
                    Ok(e) if pred(&e) => return Ok(e),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if let Some(e) = self.history().into_iter().find(|e| pred(e)) {
                            return Ok(e);
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => bail!("sandbox stopped"),
                }
            }
        })
        .await
        .map_err(|_| anyhow::anyhow!("no matching sandbox event within {timeout:?}"))?
    }

    /// The anvil chain (its dev keys, time control, URLs).
    pub fn chain(&self) -> &TestChain {
        &self.chain
    }

    /// The deployment.
    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    /// A read-only L1 client of the deployment.
    pub fn reader(&self) -> &L1Client {
        &self.reader
    }

    /// The node's JSON-RPC URL.
    pub fn node_url(&self) -> Option<String> {
        self.node.as_ref().map(NodeHandle::url)
    }

    /// The node (pool, metrics).
    pub fn node(&self) -> Option<&NodeHandle> {
        self.node.as_ref()
    }

    /// The proposer's address (the coinbase of every block).
    pub fn proposer_address(&self) -> Address {
        self.proposer_address
    }

    /// The proposer's metrics (drop reasons, claims).
    pub fn proposer_metrics(&self) -> &ProposerMetrics {
        &self.proposer_metrics
    }

    /// The provers.
    pub fn provers(&self) -> &[SandboxProver] {
        &self.provers
    }

    /// The address of the prover named `name`.
    pub fn prover_address(&self, name: &str) -> Option<Address> {
        self.provers
            .iter()
            .find(|p| p.spec.name == name)
            .map(|p| p.address)
    }

    /// Where slashed bonds go.
    pub fn slash_recipient(&self) -> Address {
        self.deployment.info().slash_recipient
    }

    /// What is running where, for the console.
    pub fn banner(&self) -> String {
        let d = &self.deployment;
        let p = &d.params;
        let mut s = String::new();
        let mut line = |l: String| {
            s.push_str(&l);
            s.push('\n');
        };
        line("epoch-rfq sandbox".to_owned());
        line(format!(
            "  L1        anvil {} (chain {}, 1 s blocks, ws {})",
            self.chain.url(),
            d.chain_id,
            self.chain.ws_url()
        ));
        line(format!(
            "  contracts Rollup {}  escrow {}  FeeToken {}",
            d.rollup, d.escrow, d.fee_token
        ));
        line(format!(
            "  time      slot {} s, epoch {} slots ({} s), claim window {} slots, min bond {}",
            p.slot_duration,
            p.epoch_duration,
            p.slot_duration * p.epoch_duration,
            p.claim_window,
            p.min_bond
        ));
        if let Some(url) = self.node_url() {
            line(format!("  node      {url} (JSON-RPC, /health, /metrics)"));
        }
        line(format!("  gossip    {}", self.node_p2p_addr));
        let policy = &self.options.pricing;
        line(format!(
            "  pricing   {} (fee = ({} + {}/tx) bps + {} %, bond {})",
            self.pricing_url,
            policy.base_bps,
            policy.bps_per_tx,
            policy.margin_percent,
            policy.bond_amount
        ));
        line(format!(
            "  proposer  {} (coinbase of every block), metrics http://{}/metrics",
            self.proposer_address, self.proposer_metrics_addr
        ));
        for prover in &self.provers {
            line(format!(
                "  prover    {:<6} {}  {}",
                prover.spec.name,
                prover.address,
                prover.spec.describe(policy)
            ));
        }
        let metrics: Vec<String> = self
            .provers
            .iter()
            .map(|p| format!("{} http://{}/metrics", p.spec.name, p.metrics_addr))
            .collect();
        line(format!("  metrics   {}", metrics.join("  ")));
        line(format!(
            "  slashing  bonds go to {}",
            self.slash_recipient()
        ));
        line(format!("  data      {}", self.options.data_dir.display()));
        s
    }

    /// Stops the proposer, the provers, the node, the pricing service and the watchers, then
    /// anvil. Every role stops between two steps: nothing is left running.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.proposer_task.take() {
            // It stops between two ticks; a tick stuck on L1 is cut short.
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        for prover in &mut self.provers {
            if let Some(handle) = prover.handle.take() {
                let _ = tokio::time::timeout(Duration::from_secs(5), handle.stop()).await;
            }
            if let Some(p2p) = prover.p2p.take() {
                p2p.shutdown().await;
            }
        }
        if let Some(node) = self.node.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), node.shutdown()).await;
        }
        for task in self.tasks.drain(..) {
            task.abort();
            let _ = task.await;
        }
        // Dropping `self.chain` kills anvil.
    }
}

/// Mints every `(account, amount)` in one go (one L1 block instead of one per mint).
async fn mint_all(
    chain: &TestChain,
    deployment: &Deployment,
    funding: &[(Address, U256)],
) -> Result<()> {
    let provider = chain.wallet_provider(0)?;
    let token = epoch_rfq_l1::bindings::FeeToken::new(deployment.fee_token, provider);
    let mut pending = Vec::new();
    for (to, amount) in funding {
        let tx = token
            .mint(*to, *amount)
            .send()
            .await
            .with_context(|| format!("minting {amount} FeeToken to {to}"))?;
        pending.push(tx);
    }
    for tx in pending {
        let receipt = tx
            .with_timeout(Some(Duration::from_secs(30)))
            .get_receipt()
            .await
            .context("waiting for a mint")?;
        if !receipt.status() {
            bail!("a mint transaction reverted");
        }
    }
    Ok(())
}

/// Serves `registry` on `http://127.0.0.1:<free port>/metrics` (until the task is aborted).
async fn serve_metrics(registry: Arc<Registry>) -> Result<(SocketAddr, JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .context("binding a metrics port")?;
    let addr = listener.local_addr().context("metrics address")?;
    let task = tokio::spawn(async move {
        if let Err(e) = epoch_rfq_prover::metrics::serve_metrics(listener, registry, None).await {
            tracing::warn!(error = %e, "metrics server stopped");
        }
    });
    Ok((addr, task))
}

/// `/ip4/127.0.0.1/tcp/PORT/p2p/PEER` of the node's gossip (waits for the listener).
async fn node_multiaddr(handle: &P2pHandle) -> Result<String> {
    for _ in 0..50 {
        let addrs = handle
            .listen_addrs()
            .await
            .context("node P2P listen address")?;
        if let Some(a) = addrs.first() {
            return Ok(format!("{a}/p2p/{}", handle.local_peer_id()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the node's P2P service did not start listening")
}

/// Builds and starts one prover; returns it, the task forwarding its events and its metrics
/// server.
#[allow(clippy::too_many_arguments)]
async fn start_prover(
    spec: ProverSpec,
    key: String,
    address: Address,
    options: &SandboxOptions,
    l1_ws: &str,
    rollup: Address,
    node_url: &str,
    node_p2p_addr: &str,
    pricing_url: &str,
    hub: Arc<Hub>,
    stopped: watch::Receiver<bool>,
) -> Result<(SandboxProver, [JoinHandle<()>; 2])> {
    let data_dir = fresh_dir(&options.data_dir, &spec.name)?;
    let (basis_point_fee, bond) = match &spec.pricing {
        ProverPricing::Fixed {
            basis_point_fee,
            bond,
        } => (*basis_point_fee, *bond),
        ProverPricing::Service | ProverPricing::CostModel => (0, U256::ZERO),
    };
    let cost_file = match spec.pricing {
        ProverPricing::CostModel => {
            let path = data_dir.join("cost.toml");
            std::fs::write(&path, SANDBOX_COST_FILE)
                .with_context(|| format!("writing {}", path.display()))?;
            Some(path)
        }
        _ => None,
    };
    let command = ProverCommand {
        prover: ProverArgs {
            l1: L1Args {
                ethereum_hosts: l1_ws.to_owned(),
                l1_chain_id: 31337,
                rollup_contract_address: Some(rollup),
            },
            p2p_enabled: spec.path == QuotePath::P2p,
            prover_coordination_node_url: match spec.path {
                QuotePath::Http => Some(node_url.to_owned()),
                QuotePath::P2p => None,
            },
            prover_minimum_escrow_amount: spec.minimum_escrow,
            prover_target_escrow_amount: Some(spec.target_escrow),
            quote_provider_url: match spec.pricing {
                ProverPricing::Service => Some(pricing_url.to_owned()),
                ProverPricing::Fixed { .. } | ProverPricing::CostModel => None,
            },
            quote_provider_basis_point_fee: basis_point_fee,
            quote_provider_bond_amount: bond,
            quote_provider_cost_file: cost_file,
            quote_provider_timeout_ms: 2_000,
            quote_provider_retries: 2,
            prover_node_polling_interval_ms: u64::try_from(options.polling_interval.as_millis())
                .unwrap_or(1000)
                .max(1),
            prover_node_max_pending_jobs: 1,
            data_directory: data_dir.clone(),
            prover_type: if spec.never_proves {
                ProverType::Command
            } else {
                ProverType::Dev
            },
            prover_command: spec
                .never_proves
                .then(|| "echo 'sandbox: this prover never proves' >&2; exit 1".to_owned()),
            prover_command_timeout_ms: 10_000,
            prover_dev_proof_delay_ms: 0,
        },
        key: KeyArgs {
            private_key: Some(key),
            keystore: None,
            password_file: None,
        },
        metrics_addr: None,
        p2p: P2pArgs {
            p2p_port: 0,
            p2p_listen_addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            p2p_bootstrap_nodes: node_p2p_addr.to_owned(),
        },
        node_request_timeout_ms: 5_000,
    };
    let mut p2p = None;
    let sink: Arc<dyn QuoteSink> = match spec.path {
        QuotePath::Http => Arc::new(NodeApiSink(NodeClient::new(node_url).context("node URL")?)),
        QuotePath::P2p => {
            let config = command.p2p.to_config(&data_dir)?;
            let (handle, incoming) = P2pService::spawn(config)
                .await
                .with_context(|| format!("starting {}'s P2P", spec.name))?;
            ignore_incoming_gossip(handle.clone(), incoming);
            p2p = Some(handle.clone());
            Arc::new(GossipSink(handle))
        }
    };
    let mut registry = Registry::default();
    let metrics = ProverMetrics::new(&mut registry);
    let registry = Arc::new(registry);
    let (metrics_addr, metrics_task) = serve_metrics(registry.clone()).await?;
    let node = prover_cmd::build(&command, sink, metrics.clone())
        .await
        .with_context(|| format!("building prover {}", spec.name))?;
    let events = node.subscribe();
    let handle = node
        .start()
        .await
        .with_context(|| format!("starting prover {}", spec.name))?;
    let forward = tokio::spawn(forward_prover_events(address, events, hub, stopped));
    Ok((
        SandboxProver {
            spec,
            address,
            metrics,
            registry,
            metrics_addr,
            handle: Some(handle),
            p2p,
        },
        [forward, metrics_task],
    ))
}

async fn forward_prover_events(
    prover: Address,
    mut events: broadcast::Receiver<ProverEvent>,
    hub: Arc<Hub>,
    mut stopped: watch::Receiver<bool>,
) {
    // A prover that cannot quote says so on every tick: show each (epoch, reason) once.
    let mut seen_no_quote = HashSet::new();
    loop {
        let event = tokio::select! {
            _ = stopped.wait_for(|s| *s) => return,
            e = events.recv() => e,
        };
        let event = match event {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        match event {
            ProverEvent::NoQuote {
                epoch,
                reason,
                detail,
            } => {
                if seen_no_quote.insert((epoch, reason)) {
                    hub.emit(SandboxEvent::NoQuote {
                        prover,
                        epoch,
                        reason: reason.to_owned(),
                        detail,
                    });
                }
            }
            ProverEvent::JobStarted { epoch, .. } => {
                hub.emit(SandboxEvent::ProvingStarted { prover, epoch });
            }
            ProverEvent::JobFinished { epoch, state, note } => {
                hub.emit(SandboxEvent::JobFinished {
                    prover,
                    epoch,
                    state,
                    note,
                });
            }
            // Quotes are shown when they reach the node; claims come from the proposer.
            ProverEvent::QuoteSent { .. } | ProverEvent::ClaimSeen { .. } => {}
        }
    }
}

fn forward_proposer_events(
    mut events: broadcast::Receiver<ProposerEvent>,
    epoch_duration: u64,
    hub: Arc<Hub>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let event = match events.recv().await {
                Ok(e) => e,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let out = match event {
                ProposerEvent::BlockProposed {
                    block, with_claim, ..
                } => Some(SandboxEvent::BlockProposed {
                    number: block.number,
                    slot: block.slot,
                    epoch: block.slot / epoch_duration.max(1),
                    tx_count: block.tx_count,
                    fees: block.total_fees,
                    with_claim,
                }),
                ProposerEvent::QuoteDropped {
                    epoch,
                    prover,
                    reason,
                    ..
                } => Some(SandboxEvent::QuoteDropped {
                    epoch,
                    prover,
                    reason: reason.code().to_owned(),
                    detail: reason.to_string(),
                }),
                ProposerEvent::ClaimFailed {
                    epoch,
                    prover,
                    error,
                } => Some(SandboxEvent::ClaimFailed {
                    epoch,
                    prover,
                    error,
                }),
                ProposerEvent::EpochUnclaimed { epoch, quotes_seen } => {
                    Some(SandboxEvent::EpochUnclaimed { epoch, quotes_seen })
                }
                // Claims and prunes are shown from L1, in chain order with the proofs and
                // slashes (a proposal can prune too).
                ProposerEvent::QuotesConsidered { .. }
                | ProposerEvent::Claimed { .. }
                | ProposerEvent::Pruned { .. } => None,
            };
            if let Some(e) = out {
                hub.emit(e);
            }
        }
    })
}

/// Follows L1 (the slot for the console, completed epochs, the Rollup's `ProofRightClaimed`,
/// `EpochProven`, `BondSlashed` and `PrunedPending` events) and the node's pool (each quote once, when it
/// arrives), in one loop so that an epoch's completion is shown before its quotes.
async fn watch(
    l1: L1Client,
    node: NodeService,
    slash_recipient: Address,
    hub: Arc<Hub>,
    mut stopped: watch::Receiver<bool>,
) {
    let time = *l1.time();
    let mut next_block = 0u64;
    let mut last_epoch: Option<u64> = None;
    let mut seen_quotes = HashSet::new();
    loop {
        if let Err(e) = watch_l1_once(
            &l1,
            &time,
            slash_recipient,
            &hub,
            &mut next_block,
            &mut last_epoch,
        )
        .await
        {
            tracing::debug!(error = %e, "sandbox L1 watcher: read failed; retrying");
        }
        watch_pool_once(&node, &hub, &mut seen_quotes);
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => return,
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

async fn watch_l1_once(
    l1: &L1Client,
    time: &epoch_rfq_l1::TimeParams,
    slash_recipient: Address,
    hub: &Hub,
    next_block: &mut u64,
    last_epoch: &mut Option<u64>,
) -> Result<()> {
    let (latest, ts) = l1.latest_l1_block().await?;
    if let Some(slot) = time.slot_at(ts) {
        hub.slot.store(slot, Ordering::Relaxed);
        let epoch = time.epoch_of_slot(slot);
        if let Some(previous) = *last_epoch
            && epoch > previous
        {
            for done in previous..epoch {
                let range = l1.epoch_range(done).await?;
                let claim = time.claim_phase(done);
                hub.emit(SandboxEvent::EpochComplete {
                    epoch: done,
                    blocks: (!range.is_empty()).then_some((range.from_block, range.to_block)),
                    fees: range.total_fees,
                    claim_phase: (claim.start, claim.end.saturating_sub(1)),
                });
            }
        }
        *last_epoch = Some(epoch);
    }
    if latest < *next_block {
        return Ok(());
    }
    let from = *next_block;
    // One list of the four kinds, in chain order.
    let mut found: Vec<((u64, u64), SandboxEvent)> = Vec::new();
    for e in l1.proof_right_claimed_events(from, Some(latest)).await? {
        found.push((
            (e.at.l1_block, e.at.log_index),
            SandboxEvent::Claimed {
                epoch: e.epoch,
                prover: e.prover,
                basis_point_fee: e.basis_point_fee,
                bond: e.bond_amount,
                tx: e.at.tx_hash,
            },
        ));
    }
    for e in l1.bond_slashed_events(from, Some(latest)).await? {
        found.push((
            (e.at.l1_block, e.at.log_index),
            SandboxEvent::BondSlashed {
                epoch: e.epoch,
                prover: e.prover,
                amount: e.amount,
                recipient: slash_recipient,
                tx: e.at.tx_hash,
                l1_block: e.at.l1_block,
            },
        ));
    }
    for e in l1.pruned_events(from, Some(latest)).await? {
        found.push((
            (e.at.l1_block, e.at.log_index),
            SandboxEvent::Pruned {
                epoch: e.epoch,
                from_block: e.from_block,
                to_block: e.to_block,
                tx: e.at.tx_hash,
            },
        ));
    }
    for e in l1.epoch_proven_events(from, Some(latest)).await? {
        let range = l1.epoch_range(e.epoch).await?;
        let claim = l1
            .claim(e.epoch)
            .await?
            .map(|c| (c.basis_point_fee, c.bond_amount));
        found.push((
            (e.at.l1_block, e.at.log_index),
            SandboxEvent::EpochProven {
                epoch: e.epoch,
                from_block: e.from_block,
                to_block: e.to_block,
                prover: e.prover,
                prover_reward: e.prover_reward,
                total_fees: range.total_fees,
                claim,
                tx: e.at.tx_hash,
                l1_block: e.at.l1_block,
            },
        ));
    }
    found.sort_by_key(|(at, _)| *at);
    for (_, e) in found {
        hub.emit(e);
    }
    *next_block = latest + 1;
    Ok(())
}

/// Shows each quote once when it reaches the node's pool.
fn watch_pool_once(node: &NodeService, hub: &Hub, seen: &mut HashSet<epoch_rfq_quote::QuoteId>) {
    let Some(snapshot) = node.snapshot() else {
        return;
    };
    let epochs = [
        snapshot.epoch_to_prove.as_ref().map(|e| e.epoch),
        snapshot.just_completed_epoch.as_ref().map(|e| e.epoch),
    ];
    for epoch in epochs.into_iter().flatten() {
        for q in node.quotes(epoch) {
            if seen.insert(q.id()) {
                let f = q.fields();
                hub.emit(SandboxEvent::QuoteReceived {
                    epoch,
                    prover: f.prover,
                    basis_point_fee: f.basis_point_fee,
                    bond: f.bond_amount,
                    valid_until_slot: f.valid_until_slot,
                });
            }
        }
    }
}

/// `epoch-rfq sandbox`: runs until Ctrl-C (or SIGTERM), `--exit-after-proven N` proven epochs, or
/// `--timeout-secs`.
pub async fn run(args: SandboxArgs) -> Result<()> {
    let options = SandboxOptions::from_args(&args);
    println!("epoch-rfq sandbox: starting anvil, deploying, funding the provers…");
    // Interruptible start-up: dropping the half-started sandbox kills anvil.
    let sandbox = tokio::select! {
        started = Sandbox::start(options) => started?,
        () = shutdown_signal() => {
            println!("interrupted during start-up; stopped.");
            return Ok(());
        }
    };
    print!("{}", sandbox.banner());
    println!("Ctrl-C stops everything.\n");
    let mut events = sandbox.subscribe();
    let deadline = args
        .timeout_secs
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let mut proven = 0u64;
    let outcome: Result<()> = loop {
        if let Some(n) = args.exit_after_proven
            && proven >= n
        {
            println!("\n{proven} epoch(s) proven: stopping (--exit-after-proven {n}).");
            break Ok(());
        }
        tokio::select! {
            _ = shutdown_signal() => {
                println!("\nstopping…");
                break Ok(());
            }
            () = sleep_until(deadline) => {
                break match args.exit_after_proven {
                    Some(n) => Err(anyhow::anyhow!(
                        "timeout after {} s with {proven} of {n} epochs proven",
                        args.timeout_secs.unwrap_or(0)
                    )),
                    None => {
                        println!("\n--timeout-secs reached: stopping.");
                        Ok(())
                    }
                };
            }
            event = events.recv() => match event {
                Ok(SandboxEvent::EpochProven { .. }) => proven += 1,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break Err(anyhow::anyhow!("sandbox stopped")),
            },
        }
    };
    sandbox.shutdown().await;
    println!("sandbox stopped (anvil, node, proposer, provers, pricing service).");
    outcome
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: SandboxArgs,
    }

    fn args(argv: &[&str]) -> SandboxArgs {
        let mut full = vec!["sandbox"];
        full.extend_from_slice(argv);
        Cli::try_parse_from(full).unwrap().args
    }

    #[test]
    fn defaults_are_the_spec_sandbox() {
        let o = SandboxOptions::from_args(&args(&[]));
        assert_eq!(
            (o.slot_duration, o.epoch_duration, o.claim_window),
            (4, 8, 4)
        );
        assert_eq!(o.node_port, 8000);
        assert_eq!(o.polling_interval, Duration::from_secs(1));
        let paths: Vec<_> = o.provers.iter().map(|p| p.path).collect();
        assert_eq!(
            paths,
            [
                QuotePath::Http,
                QuotePath::P2p,
                QuotePath::P2p,
                QuotePath::Http
            ]
        );
        assert_eq!(o.provers[2].pricing, ProverPricing::Service);
        assert_eq!(o.provers[3].pricing, ProverPricing::CostModel);
        assert!(o.provers.iter().all(|p| !p.never_proves));
        assert_eq!(o.data_dir, PathBuf::from(".sandbox"));
    }

    #[test]
    fn unreliable_prover_undercuts_and_backs_one_bond() {
        let o = SandboxOptions::from_args(&args(&["--unreliable-prover", "--slot-duration", "1"]));
        let alice = &o.provers[0];
        assert!(alice.never_proves);
        let ProverPricing::Fixed {
            basis_point_fee,
            bond,
        } = alice.pricing
        else {
            panic!("fixed price");
        };
        assert!(o.provers[1..].iter().all(|p| match p.pricing {
            ProverPricing::Fixed {
                basis_point_fee: other,
                ..
            } => other > basis_point_fee,
            ProverPricing::Service | ProverPricing::CostModel => true,
        }));
        assert_eq!((alice.funds, alice.target_escrow), (bond, bond));
        // Short slots: poll twice per slot.
        assert_eq!(o.polling_interval, Duration::from_millis(500));
    }

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
