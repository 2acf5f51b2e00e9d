//! Prover node settings (SPEC §6.1). Every setting is an environment variable (the seed's names,
//! verbatim) and a command-line flag; [`ProverArgs::validate`] turns them into a [`ProverConfig`]
//! or refuses to start with an error that says what to change.

use std::path::PathBuf;
use std::time::Duration;

use alloy_primitives::{Address, U256};
use clap::Args;
use epoch_rfq_l1::args::L1Args;
use epoch_rfq_quote::MAX_BASIS_POINT_FEE;

/// The prover's settings as given (flags or env). Flatten into a clap command.
#[derive(Debug, Clone, Args)]
pub struct ProverArgs {
    /// ETHEREUM_HOSTS, L1_CHAIN_ID, ROLLUP_CONTRACT_ADDRESS.
    #[command(flatten)]
    pub l1: L1Args,

    /// Gossip quotes over P2P. Takes effect only when PROVER_COORDINATION_NODE_URL is unset.
    #[arg(long, env = "P2P_ENABLED", default_value_t = false,
          value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub p2p_enabled: bool,

    /// URL of a node's JSON-RPC API (e.g. http://aztec-node:8000). When set, quotes are sent
    /// there over HTTP instead of gossiped.
    #[arg(long = "coordination-node-url", env = "PROVER_COORDINATION_NODE_URL")]
    pub prover_coordination_node_url: Option<String>,

    /// Escrow deposit below which the prover tops up (fee-token base units).
    #[arg(
        long = "minimum-escrow",
        env = "PROVER_MINIMUM_ESCROW_AMOUNT",
        default_value = "100000"
    )]
    pub prover_minimum_escrow_amount: U256,

    /// Escrow deposit the prover tops up to. Default: twice the minimum.
    #[arg(long = "target-escrow", env = "PROVER_TARGET_ESCROW_AMOUNT")]
    pub prover_target_escrow_amount: Option<U256>,

    /// URL of a pricing service (POST, JSON). Unset: fixed terms from the two settings below.
    #[arg(long = "quote-provider-url", env = "QUOTE_PROVIDER_URL")]
    pub quote_provider_url: Option<String>,

    /// Fixed fee in basis points of the epoch's fees (0..=10000), when no QUOTE_PROVIDER_URL.
    #[arg(
        long = "basis-point-fee",
        env = "QUOTE_PROVIDER_BASIS_POINT_FEE",
        default_value_t = 100
    )]
    pub quote_provider_basis_point_fee: u32,

    /// Fixed bond amount (fee-token base units), when no QUOTE_PROVIDER_URL.
    #[arg(
        long = "bond-amount",
        env = "QUOTE_PROVIDER_BOND_AMOUNT",
        default_value = "1000"
    )]
    pub quote_provider_bond_amount: U256,

    /// A cost-model file (TOML; see the prover's README): each fee covers the proof's L1 gas,
    /// proving, the bond's capital cost, load and a margin. Reloaded when it changes. Excludes
    /// QUOTE_PROVIDER_URL and the fixed QUOTE_PROVIDER_BASIS_POINT_FEE / _BOND_AMOUNT.
    #[arg(
        long = "quote-provider-cost-file",
        env = "QUOTE_PROVIDER_COST_FILE",
        conflicts_with_all = ["quote_provider_basis_point_fee", "quote_provider_bond_amount"]
    )]
    pub quote_provider_cost_file: Option<PathBuf>,

    /// How long one request to the pricing service may take.
    #[arg(long, env = "QUOTE_PROVIDER_TIMEOUT_MS", default_value_t = 2_000)]
    pub quote_provider_timeout_ms: u64,

    /// How many times a failed pricing request (connection error, timeout, HTTP 5xx) is retried.
    #[arg(long, env = "QUOTE_PROVIDER_RETRIES", default_value_t = 2)]
    pub quote_provider_retries: u32,

    /// How often the prover checks L1 for completed epochs and claims (at least once per slot).
    #[arg(
        long = "polling-interval-ms",
        env = "PROVER_NODE_POLLING_INTERVAL_MS",
        default_value_t = 1_000
    )]
    pub prover_node_polling_interval_ms: u64,

    /// Proving jobs that may run at once; the node does not quote when it could not take a job.
    #[arg(
        long = "max-pending-jobs",
        env = "PROVER_NODE_MAX_PENDING_JOBS",
        default_value_t = 1
    )]
    pub prover_node_max_pending_jobs: usize,

    /// Where the prover keeps its database (quotes sent, claims, jobs).
    #[arg(
        long = "data-dir",
        env = "DATA_DIRECTORY",
        default_value = "./data/prover"
    )]
    pub data_directory: PathBuf,

    /// Which prover computes epoch proofs: `dev` (the dev proof system's proof) or `command`
    /// (an operator's program, see PROVER_COMMAND).
    #[arg(long = "prover-type", env = "PROVER_TYPE", value_enum, default_value_t = ProverType::Dev)]
    pub prover_type: ProverType,

    /// With PROVER_TYPE=command: the program to run, as a `sh -c` command line. It gets the
    /// epoch's data as JSON on stdin and prints the proof as 0x-hex on stdout.
    #[arg(long = "prover-command", env = "PROVER_COMMAND")]
    pub prover_command: Option<String>,

    /// With PROVER_TYPE=command: how long one run may take before it is killed.
    #[arg(long, env = "PROVER_COMMAND_TIMEOUT_MS", default_value_t = 600_000)]
    pub prover_command_timeout_ms: u64,

    /// With PROVER_TYPE=dev: simulated proving time.
    #[arg(long, env = "PROVER_DEV_PROOF_DELAY_MS", default_value_t = 0)]
    pub prover_dev_proof_delay_ms: u64,
}

/// PROVER_TYPE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProverType {
    /// The dev proof (`epoch_rfq_l1::proof`).
    Dev,
    /// An operator's program.
    Command,
}

/// Which prover the node runs, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProverKind {
    /// The dev proof, after `delay`.
    Dev {
        /// Simulated proving time.
        delay: Duration,
    },
    /// `sh -c command`, killed after `timeout`.
    Command {
        /// The command line.
        command: String,
        /// Per-run limit.
        timeout: Duration,
    },
}

/// Where quotes go (SPEC §6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coordination {
    /// Gossip over libp2p (P2P_ENABLED=true, no PROVER_COORDINATION_NODE_URL).
    P2p,
    /// POST to a node's JSON-RPC API.
    Http {
        /// The node's URL.
        url: String,
    },
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct ProverConfig {
    /// L1 JSON-RPC URL.
    pub l1_rpc_url: String,
    /// L1 chain id.
    pub l1_chain_id: u64,
    /// The Rollup contract.
    pub rollup: Address,
    /// Where quotes go.
    pub coordination: Coordination,
    /// Top up when the free deposit falls below this.
    pub minimum_escrow: U256,
    /// Top up to this.
    pub target_escrow: U256,
    /// Pricing: a service URL, or fixed terms.
    pub pricing: Pricing,
    /// Main-loop period.
    pub polling_interval: Duration,
    /// Concurrent proving jobs.
    pub max_pending_jobs: usize,
    /// Database directory.
    pub data_directory: PathBuf,
    /// How epochs are proven.
    pub prover: ProverKind,
}

/// How quotes are priced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pricing {
    /// `SimpleQuoteProvider`: the same terms for every epoch.
    Fixed {
        /// QUOTE_PROVIDER_BASIS_POINT_FEE.
        basis_point_fee: u32,
        /// QUOTE_PROVIDER_BOND_AMOUNT.
        bond_amount: U256,
    },
    /// `HttpQuoteProvider`: ask a pricing service for each epoch.
    Service {
        /// QUOTE_PROVIDER_URL.
        url: String,
        /// Per-request timeout.
        timeout: Duration,
        /// Retries after the first attempt.
        retries: u32,
    },
    /// `CostQuoteProvider`: price each epoch from its costs (QUOTE_PROVIDER_COST_FILE).
    Cost {
        /// The cost file, checked at startup.
        path: PathBuf,
    },
}

/// Why the prover refuses to start. Each message names the setting and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Neither coordination path is configured.
    #[error(
        "no way to send quotes: set P2P_ENABLED=true (and leave PROVER_COORDINATION_NODE_URL \
         unset) to gossip them, or set PROVER_COORDINATION_NODE_URL=http://<node>:8000 to post \
         them to a node"
    )]
    NoCoordination,
    /// The rollup address is missing.
    #[error(
        "ROLLUP_CONTRACT_ADDRESS is not set: give the Rollup contract's address (epoch-rfq deploy prints it)"
    )]
    MissingRollup,
    /// A URL setting is not a usable http(s)/ws(s) URL.
    #[error("{setting}={value:?} is not a valid URL: {reason}")]
    BadUrl {
        /// The setting's env name.
        setting: &'static str,
        /// What was given.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// Minimum above target.
    #[error(
        "PROVER_MINIMUM_ESCROW_AMOUNT ({minimum}) is above PROVER_TARGET_ESCROW_AMOUNT ({target}): \
         the target is what the prover tops up to, so it must be at least the minimum"
    )]
    MinimumAboveTarget {
        /// The minimum.
        minimum: U256,
        /// The target.
        target: U256,
    },
    /// Fee above 100 %.
    #[error("QUOTE_PROVIDER_BASIS_POINT_FEE={0} is above 10000 (100 % of the epoch's fees)")]
    FeeTooHigh(u32),
    /// A duration or count of zero.
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
    /// Two pricing methods at once.
    #[error(
        "QUOTE_PROVIDER_URL and QUOTE_PROVIDER_COST_FILE are both set: choose one way to price \
         quotes (a pricing service, or the cost model), and unset the other"
    )]
    TwoPricings,
    /// The cost file is missing or invalid.
    #[error("QUOTE_PROVIDER_COST_FILE: {0}")]
    CostFile(String),
    /// PROVER_TYPE=command without a command.
    #[error(
        "PROVER_TYPE=command needs PROVER_COMMAND (the program that reads the epoch as JSON on \
         stdin and prints the proof as 0x-hex on stdout)"
    )]
    MissingProverCommand,
}

impl ProverArgs {
    /// Checks every setting and resolves defaults.
    pub fn validate(&self) -> Result<ProverConfig, ConfigError> {
        let l1_rpc_url = self.l1.url().unwrap_or_default().to_owned();
        check_url("ETHEREUM_HOSTS", &l1_rpc_url, &["http", "ws"])?;
        let rollup = self.l1.rollup().map_err(|_| ConfigError::MissingRollup)?;
        let coordination = match (&self.prover_coordination_node_url, self.p2p_enabled) {
            (Some(url), _) => {
                check_url("PROVER_COORDINATION_NODE_URL", url, &["http"])?;
                Coordination::Http { url: url.clone() }
            }
            (None, true) => Coordination::P2p,
            (None, false) => return Err(ConfigError::NoCoordination),
        };
        let minimum = self.prover_minimum_escrow_amount;
        let target = self
            .prover_target_escrow_amount
            .unwrap_or_else(|| minimum.saturating_mul(U256::from(2)));
        if minimum > target {
            return Err(ConfigError::MinimumAboveTarget { minimum, target });
        }
        let pricing = match (&self.quote_provider_url, &self.quote_provider_cost_file) {
            (Some(_), Some(_)) => return Err(ConfigError::TwoPricings),
            (None, Some(path)) => {
                crate::cost_config::CostConfig::load(path)
                    .map_err(|e| ConfigError::CostFile(e.to_string()))?;
                Pricing::Cost { path: path.clone() }
            }
            (Some(url), None) => {
                check_url("QUOTE_PROVIDER_URL", url, &["http"])?;
                if self.quote_provider_timeout_ms == 0 {
                    return Err(ConfigError::Zero("QUOTE_PROVIDER_TIMEOUT_MS"));
                }
                Pricing::Service {
                    url: url.clone(),
                    timeout: Duration::from_millis(self.quote_provider_timeout_ms),
                    retries: self.quote_provider_retries,
                }
            }
            (None, None) => {
                if self.quote_provider_basis_point_fee > MAX_BASIS_POINT_FEE {
                    return Err(ConfigError::FeeTooHigh(self.quote_provider_basis_point_fee));
                }
                Pricing::Fixed {
                    basis_point_fee: self.quote_provider_basis_point_fee,
                    bond_amount: self.quote_provider_bond_amount,
                }
            }
        };
        if self.prover_node_polling_interval_ms == 0 {
            return Err(ConfigError::Zero("PROVER_NODE_POLLING_INTERVAL_MS"));
        }
        if self.prover_node_max_pending_jobs == 0 {
            return Err(ConfigError::Zero("PROVER_NODE_MAX_PENDING_JOBS"));
        }
        let prover = match self.prover_type {
            ProverType::Dev => ProverKind::Dev {
                delay: Duration::from_millis(self.prover_dev_proof_delay_ms),
            },
            ProverType::Command => {
                let command = self
                    .prover_command
                    .as_deref()
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .ok_or(ConfigError::MissingProverCommand)?;
                if self.prover_command_timeout_ms == 0 {
                    return Err(ConfigError::Zero("PROVER_COMMAND_TIMEOUT_MS"));
                }
                ProverKind::Command {
                    command: command.to_owned(),
                    timeout: Duration::from_millis(self.prover_command_timeout_ms),
                }
            }
        };
        Ok(ProverConfig {
            l1_rpc_url,
            l1_chain_id: self.l1.l1_chain_id,
            rollup,
            coordination,
            minimum_escrow: minimum,
            target_escrow: target,
            pricing,
            polling_interval: Duration::from_millis(self.prover_node_polling_interval_ms),
            max_pending_jobs: self.prover_node_max_pending_jobs,
            data_directory: self.data_directory.clone(),
            prover,
        })
    }
}

/// Accepts `scheme://host[:port][/path]` for the allowed scheme families (`http` allows http and
/// https; `ws` allows ws and wss).
fn check_url(setting: &'static str, value: &str, families: &[&str]) -> Result<(), ConfigError> {
    let bad = |reason: String| ConfigError::BadUrl {
        setting,
        value: value.to_owned(),
        reason,
    };
    let Some((scheme, rest)) = value.split_once("://") else {
        return Err(bad(
            "expected scheme://host:port, e.g. http://127.0.0.1:8000".into(),
        ));
    };
    let family = match scheme {
        "http" | "https" => "http",
        "ws" | "wss" => "ws",
        other => other,
    };
    if !families.contains(&family) {
        let allowed: Vec<String> = families.iter().map(|f| format!("{f}(s)")).collect();
        return Err(bad(format!(
            "unsupported scheme {scheme:?}; expected {}",
            allowed.join(" or ")
        )));
    }
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    if host.is_empty() {
        return Err(bad("the host is missing".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ProverArgs,
    }

    const ROLLUP: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";

    fn parse(extra: &[&str]) -> Result<ProverConfig, ConfigError> {
        let mut argv = vec!["prover", "--rollup", ROLLUP];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv)
            .expect("flags parse")
            .args
            .validate()
    }

    #[test]
    fn refuses_to_start_without_a_coordination_path() {
        let err = parse(&[]).unwrap_err();
        assert_eq!(err, ConfigError::NoCoordination);
        assert!(err.to_string().contains("P2P_ENABLED=true"));
        assert!(err.to_string().contains("PROVER_COORDINATION_NODE_URL"));
    }

    #[test]
    fn chooses_the_path_as_the_seed_says() {
        assert_eq!(
            parse(&["--p2p-enabled", "true"]).unwrap().coordination,
            Coordination::P2p
        );
        let url = "http://127.0.0.1:8000";
        for p2p in ["true", "false"] {
            let cfg = parse(&["--p2p-enabled", p2p, "--coordination-node-url", url]).unwrap();
            assert_eq!(cfg.coordination, Coordination::Http { url: url.into() });
        }
    }

    #[test]
    fn defaults_follow_the_spec() {
        let cfg = parse(&["--p2p-enabled", "1"]).unwrap();
        assert_eq!(cfg.minimum_escrow, U256::from(100_000));
        assert_eq!(cfg.target_escrow, U256::from(200_000));
        assert_eq!(
            cfg.pricing,
            Pricing::Fixed {
                basis_point_fee: 100,
                bond_amount: U256::from(1000)
            }
        );
        assert_eq!(cfg.polling_interval, Duration::from_millis(1000));
        assert_eq!(cfg.l1_rpc_url, "http://127.0.0.1:8545");
        let cfg = parse(&[
            "--p2p-enabled",
            "1",
            "--l1-rpc-url",
            "ws://a:8546, http://b:8545",
        ])
        .unwrap();
        assert_eq!(cfg.l1_rpc_url, "ws://a:8546");
    }

    #[test]
    fn rejects_bad_values_with_the_setting_named() {
        let err = parse(&[
            "--p2p-enabled",
            "true",
            "--minimum-escrow",
            "10",
            "--target-escrow",
            "9",
        ])
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("PROVER_MINIMUM_ESCROW_AMOUNT (10)"),
            "{err}"
        );
        let err = parse(&["--p2p-enabled", "true", "--basis-point-fee", "10001"]).unwrap_err();
        assert_eq!(err, ConfigError::FeeTooHigh(10001));
        let err = parse(&["--coordination-node-url", "node:8000"]).unwrap_err();
        assert!(
            err.to_string().contains("PROVER_COORDINATION_NODE_URL"),
            "{err}"
        );
        let tls = parse(&["--coordination-node-url", "https://node:8000"]).unwrap();
        assert_eq!(
            tls.coordination,
            Coordination::Http {
                url: "https://node:8000".into()
            }
        );
        let err = parse(&["--p2p-enabled", "true", "--quote-provider-url", "ftp://x"]).unwrap_err();
        assert!(err.to_string().contains("QUOTE_PROVIDER_URL"), "{err}");
        let err = parse(&["--p2p-enabled", "true", "--polling-interval-ms", "0"]).unwrap_err();
        assert_eq!(err, ConfigError::Zero("PROVER_NODE_POLLING_INTERVAL_MS"));
        let missing = Cli::try_parse_from(["prover", "--p2p-enabled", "true"])
            .unwrap()
            .args;
        let mut missing = missing;
        missing.l1.rollup_contract_address = None;
        assert_eq!(missing.validate().unwrap_err(), ConfigError::MissingRollup);
    }

    #[test]
    fn prover_type_settings() {
        let cfg = parse(&["--p2p-enabled", "true"]).unwrap();
        assert_eq!(
            cfg.prover,
            ProverKind::Dev {
                delay: Duration::ZERO
            }
        );
        let err = parse(&["--p2p-enabled", "true", "--prover-type", "command"]).unwrap_err();
        assert_eq!(err, ConfigError::MissingProverCommand);
        let cfg = parse(&[
            "--p2p-enabled",
            "true",
            "--prover-type",
            "command",
            "--prover-command",
            "./prove.sh",
            "--prover-command-timeout-ms",
            "5000",
        ])
        .unwrap();
        assert_eq!(
            cfg.prover,
            ProverKind::Command {
                command: "./prove.sh".into(),
                timeout: Duration::from_millis(5000)
            }
        );
    }

    #[test]
    fn amounts_accept_hex_and_reject_garbage() {
        let cfg = parse(&["--p2p-enabled", "true", "--minimum-escrow", "0x10"]).unwrap();
        assert_eq!(cfg.minimum_escrow, U256::from(16));
        assert!(
            Cli::try_parse_from(["prover", "--minimum-escrow", "ten"]).is_err(),
            "a non-number amount must not parse"
        );
    }

    #[test]
    fn the_cost_file_is_checked_and_excludes_the_other_pricings() {
        let dir = std::env::temp_dir().join(format!("prover-config-cost-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("cost.toml");
        std::fs::write(
            &path,
            "bond_amount = \"5\"\n[l1]\nproof_submission_gas = 1\n[price]\nfee_token_per_eth = 1.0\n\
             [proving]\ncost_per_epoch = 1\ncost_per_tx = 0\n",
        )
        .expect("write");
        let file = path.to_str().expect("utf-8 path");
        let config =
            parse(&["--p2p-enabled", "true", "--quote-provider-cost-file", file]).expect("valid");
        assert_eq!(config.pricing, Pricing::Cost { path: path.clone() });
        let err = parse(&[
            "--p2p-enabled",
            "true",
            "--quote-provider-cost-file",
            file,
            "--quote-provider-url",
            "http://127.0.0.1:1",
        ])
        .unwrap_err();
        assert_eq!(err, ConfigError::TwoPricings);
        let clash = Cli::try_parse_from([
            "prover",
            "--rollup",
            ROLLUP,
            "--quote-provider-cost-file",
            file,
            "--basis-point-fee",
            "5",
        ]);
        assert!(
            clash.is_err(),
            "a fixed fee beside the cost file is refused"
        );
        std::fs::write(&path, "bond_amount = \"5\"\nmargin = 3\n").expect("write");
        let err =
            parse(&["--p2p-enabled", "true", "--quote-provider-cost-file", file]).unwrap_err();
        assert!(
            err.to_string().contains("QUOTE_PROVIDER_COST_FILE"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
