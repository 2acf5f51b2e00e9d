//! Proposer settings. Every setting is an environment variable and a command-line flag
//! ([`ProposerArgs`], flattened into the CLI's `proposer` command); [`ProposerArgs::validate`]
//! turns them into [`ProposerSettings`] or refuses to start with a message that says what to
//! change.

use std::time::Duration;

use alloy_primitives::{Address, U256};
use clap::Args;
use epoch_rfq_l1::args::L1Args;

/// Upper bound of `max_txs`: the generator draws one fee per transaction, so this bounds the work
/// (and the content hash's input) per block.
pub const MAX_TXS_PER_BLOCK: u64 = 100_000;

/// Synthetic traffic (see [`crate::TrafficGenerator`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrafficConfig {
    /// Seed; the same seed gives the same block for the same slot.
    pub seed: u64,
    /// Fewest transactions per block.
    pub min_txs: u64,
    /// Most transactions per block (≤ [`MAX_TXS_PER_BLOCK`]).
    pub max_txs: u64,
    /// Lowest fee of one transaction (fee-token base units).
    pub fee_per_tx_min: U256,
    /// Highest fee of one transaction.
    pub fee_per_tx_max: U256,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            min_txs: 1,
            max_txs: 32,
            fee_per_tx_min: U256::from(100),
            fee_per_tx_max: U256::from(1_000),
        }
    }
}

impl TrafficConfig {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.min_txs > self.max_txs {
            return Err(ConfigError::TxRange {
                min: self.min_txs,
                max: self.max_txs,
            });
        }
        if self.max_txs > MAX_TXS_PER_BLOCK {
            return Err(ConfigError::TooManyTxs(self.max_txs));
        }
        if self.fee_per_tx_min > self.fee_per_tx_max {
            return Err(ConfigError::FeeRange {
                min: self.fee_per_tx_min,
                max: self.fee_per_tx_max,
            });
        }
        Ok(())
    }
}

/// How the proposer behaves (what [`crate::Proposer::new`] takes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposerConfig {
    /// Time between ticks of [`crate::Proposer::run`]; capped at one slot so that every slot is
    /// seen at least once.
    pub polling_interval: Duration,
    /// The blocks' synthetic traffic.
    pub traffic: TrafficConfig,
    /// When the Rollup's fee-token allowance is below a block's fees, approve enough for this many
    /// blocks at the maximum fee (one approval transaction per that many blocks, and a bounded
    /// allowance rather than an unlimited one).
    pub approval_blocks: u64,
    /// Claim attempts per tick (each a pre-checked quote whose claim reverted); bounds the time one
    /// tick can spend when many quotes fail late.
    pub max_claim_attempts: usize,
    /// Capacity of the event channel; a subscriber that falls further behind misses events.
    pub event_capacity: usize,
    /// How long after the claim phase opens the proposer keeps collecting quotes before it
    /// claims (it claims in the phase's last slot regardless). Without it the auction goes to
    /// the first quote to arrive, not the cheapest: provers quote on their first tick after the
    /// epoch ends, and a quote that takes one more gossip hop loses to a dearer one by
    /// milliseconds.
    pub quote_collection: Duration,
    /// The RFQ's own deadline for one query of the quote source. A query still unanswered after
    /// this long is abandoned (counted as a source error, the `rfq` service degraded) and asked
    /// again on the next tick. It runs beside block production, never in front of it: see
    /// [`quote_wait`](Self::quote_wait).
    pub quote_fetch_timeout: Duration,
    /// How long a tick in a claim phase waits for the quote source's answer before the slot's
    /// block goes out alone (the claim then follows in its own transaction once quotes arrive).
    /// Waiting a little lets one `proposeAndClaim` carry both; capped at a quarter of a slot.
    pub quote_wait: Duration,
    /// Safety margin on top of the expected time for a claim to be mined (the observed L1 block
    /// time): collection stops early enough that the claim of the best quote lands before that
    /// quote's `validUntilSlot` ends.
    pub claim_margin: Duration,
}

impl Default for ProposerConfig {
    fn default() -> Self {
        Self {
            polling_interval: Duration::from_millis(1_000),
            traffic: TrafficConfig::default(),
            approval_blocks: 100,
            max_claim_attempts: 5,
            event_capacity: 1_024,
            quote_collection: Duration::from_millis(2_000),
            quote_fetch_timeout: Duration::from_millis(2_000),
            quote_wait: Duration::from_millis(200),
            claim_margin: Duration::from_millis(1_000),
        }
    }
}

impl ProposerConfig {
    /// Checks every setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.traffic.validate()?;
        if self.polling_interval.is_zero() {
            return Err(ConfigError::ZeroPollingInterval);
        }
        if self.approval_blocks == 0 {
            return Err(ConfigError::Zero("approval_blocks"));
        }
        if self.max_claim_attempts == 0 {
            return Err(ConfigError::Zero("max_claim_attempts"));
        }
        if self.event_capacity == 0 {
            return Err(ConfigError::Zero("event_capacity"));
        }
        if self.quote_fetch_timeout.is_zero() {
            return Err(ConfigError::Zero("PROPOSER_QUOTE_FETCH_TIMEOUT_MS"));
        }
        if self.quote_wait > self.quote_fetch_timeout {
            return Err(ConfigError::QuoteWaitAboveFetchTimeout {
                wait_ms: self.quote_wait.as_millis() as u64,
                timeout_ms: self.quote_fetch_timeout.as_millis() as u64,
            });
        }
        Ok(())
    }
}

/// A setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// No Rollup address.
    #[error("ROLLUP_CONTRACT_ADDRESS (--rollup) is required")]
    MissingRollup,
    /// `ETHEREUM_HOSTS` holds no URL.
    #[error("ETHEREUM_HOSTS (--l1-rpc-url) is empty")]
    MissingL1Url,
    /// The polling interval is zero.
    #[error("PROPOSER_POLLING_INTERVAL_MS must be at least 1")]
    ZeroPollingInterval,
    /// A count that must be positive is zero.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    /// `min_txs > max_txs`.
    #[error("PROPOSER_MIN_TXS_PER_BLOCK ({min}) is above PROPOSER_MAX_TXS_PER_BLOCK ({max})")]
    TxRange {
        /// Minimum.
        min: u64,
        /// Maximum.
        max: u64,
    },
    /// `max_txs` above [`MAX_TXS_PER_BLOCK`].
    #[error("PROPOSER_MAX_TXS_PER_BLOCK ({0}) is above the limit of {MAX_TXS_PER_BLOCK}")]
    TooManyTxs(u64),
    /// The block would wait for quotes longer than a quote query may take.
    #[error(
        "PROPOSER_QUOTE_WAIT_MS ({wait_ms}) is above PROPOSER_QUOTE_FETCH_TIMEOUT_MS ({timeout_ms}); \
         lower the wait or raise the timeout"
    )]
    QuoteWaitAboveFetchTimeout {
        /// The wait.
        wait_ms: u64,
        /// The fetch timeout.
        timeout_ms: u64,
    },
    /// `fee_per_tx_min > fee_per_tx_max`.
    #[error("PROPOSER_FEE_PER_TX_MIN ({min}) is above PROPOSER_FEE_PER_TX_MAX ({max})")]
    FeeRange {
        /// Minimum.
        min: U256,
        /// Maximum.
        max: U256,
    },
}

/// The proposer's settings as given (flags or env). Flatten into a clap command.
#[derive(Debug, Clone, Args)]
pub struct ProposerArgs {
    /// ETHEREUM_HOSTS, L1_CHAIN_ID, ROLLUP_CONTRACT_ADDRESS.
    #[command(flatten)]
    pub l1: L1Args,

    /// URL of the node whose quote pool the proposer reads (e.g. http://127.0.0.1:8000).
    #[arg(long = "coordination-node-url", env = "PROPOSER_COORDINATION_NODE_URL")]
    pub proposer_coordination_node_url: Option<String>,

    /// How often the proposer checks L1 (capped at one slot: every slot is seen at least once).
    #[arg(
        long = "polling-interval-ms",
        env = "PROPOSER_POLLING_INTERVAL_MS",
        default_value_t = 1_000
    )]
    pub proposer_polling_interval_ms: u64,

    /// How long after the claim phase opens quotes are collected before claiming the cheapest
    /// (the phase's last slot claims regardless).
    #[arg(
        long = "quote-collection-ms",
        env = "PROPOSER_QUOTE_COLLECTION_MS",
        default_value_t = 2_000
    )]
    pub proposer_quote_collection_ms: u64,

    /// The RFQ's deadline for one query of the node's quote pool; an unanswered query is
    /// abandoned and asked again on the next tick (block production never waits on it).
    #[arg(
        long = "quote-fetch-timeout-ms",
        env = "PROPOSER_QUOTE_FETCH_TIMEOUT_MS",
        default_value_t = 2_000
    )]
    pub proposer_quote_fetch_timeout_ms: u64,

    /// How long a slot's block may wait for the quotes so that one proposeAndClaim carries both
    /// (capped at a quarter of a slot); past it the block goes alone, the claim follows.
    #[arg(
        long = "quote-wait-ms",
        env = "PROPOSER_QUOTE_WAIT_MS",
        default_value_t = 200
    )]
    pub proposer_quote_wait_ms: u64,

    /// Margin added to the observed L1 block time when deciding that the best quote's validity
    /// ends too soon to keep collecting: its claim must be mined before `validUntilSlot` ends.
    #[arg(
        long = "claim-margin-ms",
        env = "PROPOSER_CLAIM_MARGIN_MS",
        default_value_t = 1_000
    )]
    pub proposer_claim_margin_ms: u64,

    /// Seed of the synthetic L2 traffic (same seed, same blocks).
    #[arg(
        long = "traffic-seed",
        env = "PROPOSER_TRAFFIC_SEED",
        default_value_t = 1
    )]
    pub proposer_traffic_seed: u64,

    /// Fewest transactions per block.
    #[arg(
        long = "min-txs",
        env = "PROPOSER_MIN_TXS_PER_BLOCK",
        default_value_t = 1
    )]
    pub proposer_min_txs_per_block: u64,

    /// Most transactions per block.
    #[arg(
        long = "max-txs",
        env = "PROPOSER_MAX_TXS_PER_BLOCK",
        default_value_t = 32
    )]
    pub proposer_max_txs_per_block: u64,

    /// Lowest fee of one synthetic transaction (fee-token base units).
    #[arg(
        long = "fee-per-tx-min",
        env = "PROPOSER_FEE_PER_TX_MIN",
        default_value = "100"
    )]
    pub proposer_fee_per_tx_min: U256,

    /// Highest fee of one synthetic transaction (fee-token base units).
    #[arg(
        long = "fee-per-tx-max",
        env = "PROPOSER_FEE_PER_TX_MAX",
        default_value = "1000"
    )]
    pub proposer_fee_per_tx_max: U256,
}

/// Validated settings: where to connect, and the [`ProposerConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposerSettings {
    /// The L1 URL (the first of `ETHEREUM_HOSTS`).
    pub l1_url: String,
    /// The Rollup.
    pub rollup: Address,
    /// The node to read quotes from, if any.
    pub node_url: Option<String>,
    /// Behaviour.
    pub config: ProposerConfig,
}

impl ProposerArgs {
    /// Validates the settings.
    pub fn validate(&self) -> Result<ProposerSettings, ConfigError> {
        let l1_url = self
            .l1
            .url()
            .map_err(|_| ConfigError::MissingL1Url)?
            .to_owned();
        let rollup = self.l1.rollup().map_err(|_| ConfigError::MissingRollup)?;
        let config = ProposerConfig {
            polling_interval: Duration::from_millis(self.proposer_polling_interval_ms),
            quote_collection: Duration::from_millis(self.proposer_quote_collection_ms),
            quote_fetch_timeout: Duration::from_millis(self.proposer_quote_fetch_timeout_ms),
            quote_wait: Duration::from_millis(self.proposer_quote_wait_ms),
            claim_margin: Duration::from_millis(self.proposer_claim_margin_ms),
            traffic: TrafficConfig {
                seed: self.proposer_traffic_seed,
                min_txs: self.proposer_min_txs_per_block,
                max_txs: self.proposer_max_txs_per_block,
                fee_per_tx_min: self.proposer_fee_per_tx_min,
                fee_per_tx_max: self.proposer_fee_per_tx_max,
            },
            ..ProposerConfig::default()
        };
        config.validate()?;
        let node_url = self
            .proposer_coordination_node_url
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        Ok(ProposerSettings {
            l1_url,
            rollup,
            node_url,
            config,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: ProposerArgs,
    }

    fn parse(argv: &[&str]) -> ProposerArgs {
        let mut full = vec!["proposer"];
        full.extend_from_slice(argv);
        Cli::try_parse_from(full).expect("parses").args
    }

    #[test]
    fn defaults_and_flags() {
        let a = parse(&[
            "--rollup",
            "0x00000000000000000000000000000000000000aa",
            "--l1-rpc-url",
            " http://a:1 , http://b:2",
            "--traffic-seed",
            "9",
            "--min-txs",
            "3",
            "--max-txs",
            "3",
            "--fee-per-tx-min",
            "0x10",
            "--fee-per-tx-max",
            "16",
        ]);
        let s = a.validate().expect("valid");
        assert_eq!(s.l1_url, "http://a:1");
        assert_eq!(s.node_url, None);
        assert_eq!(s.config.polling_interval, Duration::from_secs(1));
        assert_eq!(s.config.traffic.seed, 9);
        assert_eq!(s.config.traffic.fee_per_tx_min, U256::from(16));
        assert_eq!(s.config.quote_fetch_timeout, Duration::from_secs(2));
        assert_eq!(s.config.quote_wait, Duration::from_millis(200));
        assert_eq!(s.config.claim_margin, Duration::from_secs(1));
    }

    #[test]
    fn refuses_bad_settings() {
        assert_eq!(parse(&[]).validate(), Err(ConfigError::MissingRollup));
        let base = ["--rollup", "0x00000000000000000000000000000000000000aa"];
        let with = |extra: &[&str]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            parse(&v).validate()
        };
        assert_eq!(
            with(&["--polling-interval-ms", "0"]),
            Err(ConfigError::ZeroPollingInterval)
        );
        assert_eq!(
            with(&["--min-txs", "5", "--max-txs", "4"]),
            Err(ConfigError::TxRange { min: 5, max: 4 })
        );
        assert_eq!(
            with(&["--max-txs", "100001"]),
            Err(ConfigError::TooManyTxs(100_001))
        );
        assert!(matches!(
            with(&["--fee-per-tx-min", "10", "--fee-per-tx-max", "9"]),
            Err(ConfigError::FeeRange { .. })
        ));
        assert_eq!(
            with(&["--quote-fetch-timeout-ms", "0"]),
            Err(ConfigError::Zero("PROPOSER_QUOTE_FETCH_TIMEOUT_MS"))
        );
        assert_eq!(
            with(&["--quote-fetch-timeout-ms", "100", "--quote-wait-ms", "101"]),
            Err(ConfigError::QuoteWaitAboveFetchTimeout {
                wait_ms: 101,
                timeout_ms: 100
            })
        );
        assert_eq!(
            with(&["--l1-rpc-url", " , "]),
            Err(ConfigError::MissingL1Url)
        );
        assert_eq!(
            with(&["--coordination-node-url", "http://n:8000"])
                .expect("valid")
                .node_url
                .as_deref(),
            Some("http://n:8000")
        );
    }
}
