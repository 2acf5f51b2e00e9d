//! The L1 settings every role shares (`ETHEREUM_HOSTS`, `L1_CHAIN_ID`,
//! `ROLLUP_CONTRACT_ADDRESS`), as clap arguments to flatten into a command, and the one way to
//! turn them into a connected [`L1Client`]: connect, then refuse a chain other than the one
//! configured (a quote's EIP-712 domain includes the chain id, so a node, prover or proposer on
//! the wrong chain would only produce or accept quotes nobody else can use).
//!
//! Every URL of `ETHEREUM_HOSTS` is used (see [`crate::endpoints`]): a role starts when at least
//! one answers `L1_CHAIN_ID`, and logs a WARN for each one that does not.

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;

use crate::endpoints::{EndpointsError, connect_endpoints};
use crate::txsend::{DEFAULT_MAX_FEE_PER_GAS, DEFAULT_REPLACE_AFTER_BLOCKS, TxPolicy, parse_gwei};
use crate::{L1Client, L1Error, L1Metrics};

/// `ETHEREUM_HOSTS`, `L1_CHAIN_ID`, `ROLLUP_CONTRACT_ADDRESS`.
#[derive(Debug, Clone, clap::Args)]
pub struct L1Args {
    /// L1 JSON-RPC URL(s), comma-separated (http, https, ws, wss): all are used, ranked by
    /// health and latency, with fallback and retries. A ws:// URL also enables event
    /// subscriptions (faster claim detection).
    #[arg(
        long = "l1-rpc-url",
        env = "ETHEREUM_HOSTS",
        default_value = "http://127.0.0.1:8545"
    )]
    pub ethereum_hosts: String,

    /// L1 chain id; must match the chain behind ETHEREUM_HOSTS (checked at start).
    #[arg(long, env = "L1_CHAIN_ID", default_value_t = 31337)]
    pub l1_chain_id: u64,

    /// Address of the Rollup contract (`epoch-rfq deploy` prints it).
    #[arg(long = "rollup", env = "ROLLUP_CONTRACT_ADDRESS")]
    pub rollup_contract_address: Option<Address>,

    /// Cap on any transaction's maxFeePerGas, in gwei (decimals allowed). Fees come from the
    /// chain's fee history; a stuck transaction is replaced with higher fees up to this cap.
    #[arg(
        long = "l1-max-fee-per-gas-gwei",
        env = "L1_MAX_FEE_PER_GAS_GWEI",
        default_value = "200",
        value_parser = parse_gwei_arg
    )]
    pub max_fee_per_gas: u128,

    /// Blocks a transaction may wait unmined before it is replaced with higher fees (every
    /// block once its deadline is near).
    #[arg(
        long = "l1-tx-replace-after-blocks",
        env = "L1_TX_REPLACE_AFTER_BLOCKS",
        default_value_t = DEFAULT_REPLACE_AFTER_BLOCKS,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub replace_after_blocks: u64,

    /// Blocks on top of an L1 block before its events and transactions count (an epoch is
    /// quoted, a claim or proof is done). Default: 0 on a dev chain id (31337, 1337), else 2.
    #[arg(long = "l1-confirmations", env = "L1_CONFIRMATIONS")]
    pub confirmations: Option<u64>,
}

fn parse_gwei_arg(text: &str) -> Result<u128, String> {
    let wei = parse_gwei(text)?;
    if wei == 0 {
        return Err("a fee cap of 0 gwei would never get a transaction mined".into());
    }
    Ok(wei)
}

/// Why the L1 settings cannot be used; each message names the setting.
#[derive(Debug, thiserror::Error)]
pub enum L1ArgsError {
    /// `ETHEREUM_HOSTS` holds no URL.
    #[error("ETHEREUM_HOSTS is empty: give the L1 JSON-RPC URL, e.g. http://127.0.0.1:8545")]
    MissingUrl,
    /// `ROLLUP_CONTRACT_ADDRESS` is not set.
    #[error(
        "ROLLUP_CONTRACT_ADDRESS is not set: give the Rollup contract's address (epoch-rfq deploy prints it)"
    )]
    MissingRollup,
    /// No URL of `ETHEREUM_HOSTS` is usable (malformed, unreachable, another chain).
    #[error(transparent)]
    Endpoints(#[from] EndpointsError),
    /// The L1 or the Rollup cannot be reached.
    #[error("cannot reach the Rollup {rollup} on the L1 at {url} (ETHEREUM_HOSTS): {source}")]
    Connect {
        /// The endpoints in use (`scheme://host:port`, comma-separated).
        url: String,
        /// The Rollup.
        rollup: Address,
        /// What failed.
        source: Box<L1Error>,
    },
    /// `L1_MAX_FEE_PER_GAS_GWEI` is below the chain's base fee.
    #[error(transparent)]
    FeeCap(Box<L1Error>),
    /// The chain is not the configured one.
    #[error(
        "L1_CHAIN_ID is {configured} but {url} is chain {actual}: fix L1_CHAIN_ID or ETHEREUM_HOSTS"
    )]
    ChainIdMismatch {
        /// `L1_CHAIN_ID`.
        configured: u64,
        /// The chain's id.
        actual: u64,
        /// The URL used.
        url: String,
    },
}

impl L1Args {
    /// Settings for `ethereum_hosts` on `l1_chain_id` with every other option at its default.
    pub fn new(
        ethereum_hosts: impl Into<String>,
        l1_chain_id: u64,
        rollup_contract_address: Option<Address>,
    ) -> Self {
        Self {
            ethereum_hosts: ethereum_hosts.into(),
            l1_chain_id,
            rollup_contract_address,
            max_fee_per_gas: DEFAULT_MAX_FEE_PER_GAS,
            replace_after_blocks: DEFAULT_REPLACE_AFTER_BLOCKS,
            confirmations: None,
        }
    }

    /// The URL to use: the first non-empty entry of `ETHEREUM_HOSTS`.
    pub fn url(&self) -> Result<&str, L1ArgsError> {
        self.ethereum_hosts
            .split(',')
            .map(str::trim)
            .find(|s| !s.is_empty())
            .ok_or(L1ArgsError::MissingUrl)
    }

    /// The transaction policy these settings give on `chain_id`.
    pub fn tx_policy(&self, chain_id: u64) -> TxPolicy {
        TxPolicy {
            max_fee_per_gas: self.max_fee_per_gas,
            replace_after_blocks: self.replace_after_blocks,
            confirmations: self
                .confirmations
                .unwrap_or_else(|| TxPolicy::default_confirmations(chain_id)),
            ..TxPolicy::default()
        }
    }

    /// The Rollup's address.
    pub fn rollup(&self) -> Result<Address, L1ArgsError> {
        self.rollup_contract_address
            .ok_or(L1ArgsError::MissingRollup)
    }

    /// Connects (sending as `signer` when given) over every usable URL of `ETHEREUM_HOSTS`:
    /// those answering `L1_CHAIN_ID` (see [`connect_endpoints`]).
    pub async fn connect(&self, signer: Option<PrivateKeySigner>) -> Result<L1Client, L1ArgsError> {
        self.connect_inner(signer, None).await
    }

    /// [`Self::connect`], counting every request per endpoint in `metrics`.
    pub async fn connect_with_metrics(
        &self,
        signer: Option<PrivateKeySigner>,
        metrics: &L1Metrics,
    ) -> Result<L1Client, L1ArgsError> {
        self.connect_inner(signer, Some(metrics)).await
    }

    async fn connect_inner(
        &self,
        signer: Option<PrivateKeySigner>,
        metrics: Option<&L1Metrics>,
    ) -> Result<L1Client, L1ArgsError> {
        let rollup = self.rollup()?;
        let sender = signer.as_ref().map(|s| s.address());
        let connected =
            connect_endpoints(&self.ethereum_hosts, self.l1_chain_id, signer, metrics).await?;
        let in_use = connected
            .endpoints
            .iter()
            .filter(|r| r.in_use)
            .map(|r| r.endpoint.label.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let client = L1Client::new(connected.provider, rollup, sender)
            .await
            .map_err(|source| L1ArgsError::Connect {
                url: in_use.clone(),
                rollup,
                source: Box::new(source),
            })?;
        // Every endpoint in use answered L1_CHAIN_ID at the probe; this guards the client's
        // own reading.
        if client.chain_id() != self.l1_chain_id {
            return Err(L1ArgsError::ChainIdMismatch {
                configured: self.l1_chain_id,
                actual: client.chain_id(),
                url: in_use,
            });
        }
        let client = client.with_tx_policy(self.tx_policy(self.l1_chain_id));
        let client = match metrics {
            Some(m) => client.with_metrics(m.clone()),
            None => client,
        };
        if sender.is_some() {
            client
                .check_fee_cap()
                .await
                .map_err(|source| match source {
                    L1Error::FeeCapTooLow { .. } => L1ArgsError::FeeCap(Box::new(source)),
                    source => L1ArgsError::Connect {
                        url: in_use.clone(),
                        rollup,
                        source: Box::new(source),
                    },
                })?;
        }
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        l1: L1Args,
    }

    #[test]
    fn fee_and_confirmation_settings() {
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(cli.l1.tx_policy(31337).confirmations, 0);
        assert_eq!(cli.l1.tx_policy(1).confirmations, 2);
        assert_eq!(cli.l1.tx_policy(1).max_fee_per_gas, 200_000_000_000);
        let cli = Cli::try_parse_from([
            "x",
            "--l1-max-fee-per-gas-gwei",
            "2.5",
            "--l1-confirmations",
            "5",
            "--l1-tx-replace-after-blocks",
            "1",
        ])
        .unwrap();
        let policy = cli.l1.tx_policy(31337);
        assert_eq!(policy.max_fee_per_gas, 2_500_000_000);
        assert_eq!(policy.confirmations, 5);
        assert_eq!(policy.replace_after_blocks, 1);
        for bad in [
            ["x", "--l1-max-fee-per-gas-gwei", "0"],
            ["x", "--l1-max-fee-per-gas-gwei", "lots"],
            ["x", "--l1-tx-replace-after-blocks", "0"],
        ] {
            let err = Cli::try_parse_from(bad).err().expect("refused").to_string();
            assert!(err.contains(bad[1]), "{err}");
        }
    }

    #[test]
    fn first_url_and_missing_settings() {
        let cli = Cli::try_parse_from(["x", "--l1-rpc-url", " , ws://a:1, http://b:2"]).unwrap();
        assert_eq!(cli.l1.url().unwrap(), "ws://a:1");
        assert!(matches!(cli.l1.rollup(), Err(L1ArgsError::MissingRollup)));
        let empty = Cli::try_parse_from(["x", "--l1-rpc-url", " , "]).unwrap();
        let err = empty.l1.url().unwrap_err();
        assert!(
            err.to_string().starts_with("ETHEREUM_HOSTS is empty"),
            "{err}"
        );
    }
}
