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
    /// The URL to use: the first non-empty entry of `ETHEREUM_HOSTS`.
    pub fn url(&self) -> Result<&str, L1ArgsError> {
        self.ethereum_hosts
            .split(',')
            .map(str::trim)
            .find(|s| !s.is_empty())
            .ok_or(L1ArgsError::MissingUrl)
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
