//! [`L1Client`]: one typed client for the Rollup, its escrow and the fee token.
//!
//! Construction reads everything immutable once (chain id, the escrow/token/verifier addresses,
//! the time parameters, the minimum bond…) into [`RollupInfo`], so that chain-time arithmetic
//! needs no round trip. Methods are split by contract over `rollup.rs`, `escrow.rs`, `token.rs`.
//!
//! Every transaction goes through [`L1Client::send_tx`] (in [`crate::txsend`]): simulate with
//! `eth_call` (so a revert is reported with its decoded custom error before anything is signed),
//! sign with fees from the fee history under a cap and a nonce of its own, follow it (replaced
//! when stuck, re-broadcast when dropped, confirmed at depth, abandoned at its deadline), and if
//! it reverted anyway (state changed in between, e.g. a competing claim in the same block),
//! replay the call at the block it was mined in to recover and decode the reason.

use std::sync::Arc;
use std::time::Duration;

use alloy::contract::SolCallBuilder;
use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionReceipt;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use serde::{Deserialize, Serialize};

use crate::TimeParams;
use crate::bindings::{FeeToken, ProofCommitmentEscrow, Rollup};
use crate::error::{L1Error, Result, from_contract_error, from_transport_error};
use crate::metrics::L1Metrics;
use crate::txsend::{NoncesInFlight, SendOptions, TxPolicy};
use crate::types::{ContractAddresses, TxOutcome};

/// How long to wait for a sent transaction's receipt before giving up.
pub const DEFAULT_RECEIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// The immutable facts of a Rollup deployment, read once at connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollupInfo {
    /// L1 chain id (part of the quotes' EIP-712 domain).
    pub chain_id: u64,
    /// The Rollup, its escrow, the FeeToken and the verifier (flat keys in JSON).
    #[serde(flatten)]
    pub contracts: ContractAddresses,
    /// Slots, epochs, claim window, genesis.
    pub time: TimeParams,
    /// Minimum bond of a claim.
    #[serde(with = "crate::serde_util::u256_dec")]
    pub min_bond: U256,
    /// Escrow withdrawal delay in seconds.
    pub withdraw_delay: u64,
    /// Where slashed bonds go.
    #[serde(with = "crate::serde_util::address")]
    pub slash_recipient: Address,
}

/// A typed client of one Rollup deployment (and its escrow and token) on one L1.
///
/// Cheap to clone (the provider and the info are shared). Without a signer it can read but every
/// sending method fails with [`L1Error::NoSigner`].
#[derive(Clone, Debug)]
pub struct L1Client {
    pub(crate) provider: DynProvider,
    pub(crate) sender: Option<Address>,
    pub(crate) info: Arc<RollupInfo>,
    pub(crate) receipt_timeout: Duration,
    pub(crate) gas_limit: Option<u64>,
    /// Held from reading the pending nonce until the node has the transaction.
    pub(crate) send_lock: Arc<tokio::sync::Mutex<()>>,
    /// Nonces of this account's transactions being followed (see [`crate::txsend`]).
    pub(crate) nonces: Arc<NoncesInFlight>,
    /// Fees, replacement and confirmation depth of every transaction.
    pub(crate) tx_policy: Arc<TxPolicy>,
    /// Where transaction events are counted, if anywhere.
    pub(crate) metrics: Option<L1Metrics>,
}

/// Builds a provider over `url`, a URL or a comma-separated list of them (`http(s)://`,
/// `ws(s)://`): ranked fallback between them, retries of transient failures, every request
/// bounded by [`L1_REQUEST_TIMEOUT`] (see [`crate::endpoints`]); gas estimation and the chain id
/// filled in, and, when given, a wallet that signs with `signer`. No endpoint is probed (an
/// http one is first contacted by the first request); [`crate::connect_endpoints`] probes them
/// and checks the chain id.
///
/// The nonce of each transaction is read from the node (its pending count) rather than from a
/// local cache: with a cache, a transaction that fails after its nonce was reserved but before it
/// reached the node (e.g. gas estimation reverting because the slot moved on since the
/// simulation) leaves the cache one ahead of the chain, and every later transaction of that
/// account waits forever behind the gap. Sends of one client are serialised by
/// [`L1Client::send_lock`], so two of them never read the same pending count.
pub async fn connect_provider(url: &str, signer: Option<PrivateKeySigner>) -> Result<DynProvider> {
    crate::endpoints::connect_unprobed(url, signer)
        .await
        .map_err(|e| L1Error::Rpc {
            call: "connect",
            message: e.to_string(),
        })
}

/// Longest a single L1 JSON-RPC request to one endpoint may take before it fails (an endpoint
/// that accepts the connection and never answers would otherwise stall the caller forever).
pub const L1_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

impl L1Client {
    /// Connects to the L1 at `url` and to the Rollup at `rollup`; with `signer`, transactions are
    /// signed by it.
    pub async fn connect(
        url: &str,
        rollup: Address,
        signer: Option<PrivateKeySigner>,
    ) -> Result<Self> {
        let sender = signer.as_ref().map(|s| s.address());
        let provider = connect_provider(url, signer).await?;
        Self::new(provider, rollup, sender).await
    }

    /// A client over an existing provider. `sender` is the address the provider's wallet signs
    /// for (`None` for a read-only client).
    pub async fn new(
        provider: DynProvider,
        rollup: Address,
        sender: Option<Address>,
    ) -> Result<Self> {
        let info = read_info(&provider, rollup).await?;
        Ok(Self {
            provider,
            sender,
            info: Arc::new(info),
            receipt_timeout: DEFAULT_RECEIPT_TIMEOUT,
            gas_limit: None,
            send_lock: Arc::default(),
            nonces: Arc::default(),
            tx_policy: Arc::default(),
            metrics: None,
        })
    }

    /// A client from already known facts (no RPC): for processes that got a
    /// [`crate::Deployment`] file and want to avoid the start-up reads.
    pub fn from_info(provider: DynProvider, info: RollupInfo, sender: Option<Address>) -> Self {
        Self {
            provider,
            sender,
            info: Arc::new(info),
            receipt_timeout: DEFAULT_RECEIPT_TIMEOUT,
            gas_limit: None,
            send_lock: Arc::default(),
            nonces: Arc::default(),
            tx_policy: Arc::default(),
            metrics: None,
        }
    }

    /// Connects to `url` for a known [`crate::Deployment`] (no start-up reads).
    pub async fn from_deployment(
        url: &str,
        deployment: &crate::Deployment,
        signer: Option<PrivateKeySigner>,
    ) -> Result<Self> {
        let sender = signer.as_ref().map(|s| s.address());
        let provider = connect_provider(url, signer).await?;
        Ok(Self::from_info(provider, deployment.info(), sender))
    }

    /// The same client signing with another wallet's provider (e.g. a second proposer in tests).
    pub fn with_provider(&self, provider: DynProvider, sender: Option<Address>) -> Self {
        Self {
            provider,
            sender,
            info: self.info.clone(),
            receipt_timeout: self.receipt_timeout,
            gas_limit: self.gas_limit,
            // Another provider may be another account: its own sequence of nonces.
            send_lock: Arc::default(),
            nonces: Arc::default(),
            tx_policy: self.tx_policy.clone(),
            metrics: self.metrics.clone(),
        }
    }

    /// Sets how long to wait for receipts (default [`DEFAULT_RECEIPT_TIMEOUT`]).
    pub fn with_receipt_timeout(mut self, timeout: Duration) -> Self {
        self.receipt_timeout = timeout;
        self
    }

    /// Sends every transaction with this gas limit instead of estimating it. Estimation runs
    /// against the node's pending state, so a transaction racing another one already in the
    /// mempool (two proposers claiming in the same block) fails there, before being sent; a fixed
    /// limit sends it anyway and lets the chain decide (its revert is then decoded by replay).
    pub fn with_gas_limit(mut self, gas: u64) -> Self {
        self.gas_limit = Some(gas);
        self
    }

    /// The underlying provider (for subscriptions and anything not wrapped here).
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// The address transactions are sent from, if the client can sign.
    pub fn sender(&self) -> Option<Address> {
        self.sender
    }

    /// The deployment's immutable facts.
    pub fn info(&self) -> &RollupInfo {
        &self.info
    }

    /// L1 chain id.
    pub fn chain_id(&self) -> u64 {
        self.info.chain_id
    }

    /// The deployment's contract addresses.
    pub fn contracts(&self) -> &ContractAddresses {
        &self.info.contracts
    }

    /// The Rollup address.
    pub fn rollup_address(&self) -> Address {
        self.info.contracts.rollup
    }

    /// The escrow address.
    pub fn escrow_address(&self) -> Address {
        self.info.contracts.escrow
    }

    /// The fee token address.
    pub fn fee_token_address(&self) -> Address {
        self.info.contracts.fee_token
    }

    /// The time parameters.
    pub fn time(&self) -> &TimeParams {
        &self.info.time
    }

    /// The minimum bond.
    pub fn min_bond(&self) -> U256 {
        self.info.min_bond
    }

    /// The Rollup bindings over this client's provider.
    pub fn rollup(&self) -> Rollup::RollupInstance<DynProvider> {
        Rollup::new(self.info.contracts.rollup, self.provider.clone())
    }

    /// The escrow bindings over this client's provider.
    pub fn escrow(&self) -> ProofCommitmentEscrow::ProofCommitmentEscrowInstance<DynProvider> {
        ProofCommitmentEscrow::new(self.info.contracts.escrow, self.provider.clone())
    }

    /// The fee token bindings over this client's provider.
    pub fn fee_token(&self) -> FeeToken::FeeTokenInstance<DynProvider> {
        FeeToken::new(self.info.contracts.fee_token, self.provider.clone())
    }

    pub(crate) fn signer_address(&self, call: &'static str) -> Result<Address> {
        self.sender.ok_or(L1Error::NoSigner { call })
    }

    /// The hash of L1 block `number` on the endpoint's canonical chain (`None` past the head).
    pub async fn block_hash(&self, number: u64) -> Result<Option<alloy::primitives::B256>> {
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Number(number))
            .await
            .map_err(|e| from_transport_error("eth_getBlockByNumber", &e))?;
        Ok(block.map(|b| b.header.hash))
    }

    /// The latest L1 block's number and timestamp.
    pub async fn latest_l1_block(&self) -> Result<(u64, u64)> {
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await
            .map_err(|e| from_transport_error("eth_getBlockByNumber", &e))?
            .ok_or_else(|| L1Error::Rpc {
                call: "eth_getBlockByNumber",
                message: "the node returned no latest block".into(),
            })?;
        Ok((block.header.number, block.header.timestamp))
    }

    /// Runs a view call and decodes a revert.
    pub(crate) async fn view<C>(
        &self,
        call: &'static str,
        builder: SolCallBuilder<&DynProvider, C>,
    ) -> Result<C::Return>
    where
        C: SolCall,
    {
        builder
            .call()
            .await
            .map_err(|e| from_contract_error(call, e))
    }

    /// Sends a transaction with no deadline; see [`Self::send_tx`].
    pub(crate) async fn send_call<C>(
        &self,
        call: &'static str,
        builder: SolCallBuilder<&DynProvider, C>,
    ) -> Result<TransactionReceipt>
    where
        C: SolCall,
    {
        self.send_tx(call, builder, SendOptions::default()).await
    }
}

pub(crate) fn outcome(receipt: &TransactionReceipt) -> TxOutcome {
    TxOutcome {
        tx_hash: receipt.transaction_hash,
        l1_block: receipt.block_number.unwrap_or_default(),
        gas_used: receipt.gas_used,
    }
}

pub(crate) fn to_u64(what: &'static str, value: U256) -> Result<u64> {
    u64::try_from(value).map_err(|_| L1Error::OutOfRange { what, value })
}

async fn read_info(provider: &DynProvider, rollup_addr: Address) -> Result<RollupInfo> {
    let code = provider
        .get_code_at(rollup_addr)
        .await
        .map_err(|e| from_transport_error("eth_getCode", &e))?;
    if code.is_empty() {
        return Err(L1Error::NoContract {
            what: "Rollup",
            address: rollup_addr,
        });
    }
    let chain_id = provider
        .get_chain_id()
        .await
        .map_err(|e| from_transport_error("eth_chainId", &e))?;
    let r = Rollup::new(rollup_addr, provider);
    let err = |c| move |e| from_contract_error(c, e);
    let escrow = r.escrow().call().await.map_err(err("escrow"))?;
    let fee_token = r.feeToken().call().await.map_err(err("feeToken"))?;
    let verifier = r.verifier().call().await.map_err(err("verifier"))?;
    let genesis = r.genesisTime().call().await.map_err(err("genesisTime"))?;
    let slot_duration = r.slotDuration().call().await.map_err(err("slotDuration"))?;
    let epoch_duration = r
        .epochDuration()
        .call()
        .await
        .map_err(err("epochDuration"))?;
    let claim_window = r.claimWindow().call().await.map_err(err("claimWindow"))?;
    let min_bond = r.minBond().call().await.map_err(err("minBond"))?;
    let withdraw_delay = r
        .withdrawDelay()
        .call()
        .await
        .map_err(err("withdrawDelay"))?;
    let slash_recipient = r
        .slashRecipient()
        .call()
        .await
        .map_err(err("slashRecipient"))?;
    Ok(RollupInfo {
        chain_id,
        contracts: ContractAddresses {
            rollup: rollup_addr,
            escrow,
            fee_token,
            verifier,
        },
        time: TimeParams {
            genesis: to_u64("genesisTime", genesis)?,
            slot_duration: to_u64("slotDuration", slot_duration)?,
            epoch_duration: to_u64("epochDuration", epoch_duration)?,
            claim_window: to_u64("claimWindow", claim_window)?,
        },
        min_bond,
        withdraw_delay: to_u64("withdrawDelay", withdraw_delay)?,
        slash_recipient,
    })
}
