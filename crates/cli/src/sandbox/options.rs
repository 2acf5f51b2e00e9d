//! What the sandbox can be told: the CLI arguments, the provers, [`SandboxOptions`].

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::U256;
use clap::Args;
use epoch_rfq_proposer::{QuoteSource, TrafficConfig};
use epoch_rfq_prover::pricing_service::PricingPolicy;

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
    /// PROVER_DEV_PROOF_DELAY_MS: how long its (dev) proving takes.
    pub proof_delay_ms: u64,
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
            proof_delay_ms: 0,
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

    pub(super) fn describe(&self, policy: &PricingPolicy) -> String {
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
    /// L1-fault proxies between every role and anvil (0: the roles talk to anvil directly).
    /// With N, every role's `ETHEREUM_HOSTS` lists the N proxies (http, or ws with
    /// [`Self::l1_fault_proxies_ws`]).
    pub l1_fault_proxies: usize,
    /// List the proxies by their `ws://` URLs instead (the proxy relays both on one port).
    pub l1_fault_proxies_ws: bool,
    /// `L1_CONFIRMATIONS` of every role (`None`: the default, 0 on anvil).
    pub l1_confirmations: Option<u64>,
    /// Roles run as child processes instead of in this process.
    pub processes: RoleProcesses,
}

/// Which roles the sandbox runs as child processes of the `epoch-rfq` binary (so that one can be
/// frozen or killed alone); the others run in the sandbox's process.
#[derive(Debug, Clone, Default)]
pub struct RoleProcesses {
    /// The node (the proposer then reads its quotes over JSON-RPC, like `epoch-rfq proposer`).
    pub node: bool,
    /// The provers of these names.
    pub provers: Vec<String>,
    /// The `epoch-rfq` binary (default: the running executable).
    pub binary: Option<PathBuf>,
}

impl RoleProcesses {
    /// Whether any role runs as a child process.
    pub fn any(&self) -> bool {
        self.node || !self.provers.is_empty()
    }

    /// Whether the prover `name` runs as a child process.
    pub fn prover(&self, name: &str) -> bool {
        self.provers.iter().any(|p| p == name)
    }

    /// The binary to start.
    pub fn binary(&self) -> anyhow::Result<PathBuf> {
        match &self.binary {
            Some(path) => Ok(path.clone()),
            None => std::env::current_exe()
                .map_err(|e| anyhow::anyhow!("cannot find the epoch-rfq binary to start: {e}")),
        }
    }
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
            l1_fault_proxies: 0,
            l1_fault_proxies_ws: false,
            l1_confirmations: None,
            processes: RoleProcesses::default(),
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
}
