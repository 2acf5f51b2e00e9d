//! Deploys the whole set (FeeToken, DevEpochProofVerifier unless another verifier is given, the
//! Rollup, which creates its escrow) and describes it as a [`Deployment`] that serialises to the
//! JSON file the CLI writes and other processes read.

use alloy::contract::RawCallBuilder;
use alloy::primitives::{Address, U256};
use alloy::providers::DynProvider;
use alloy::signers::local::PrivateKeySigner;
use serde::{Deserialize, Serialize};

use crate::TimeParams;
use crate::bindings::{DevEpochProofVerifier, FeeToken, Rollup};
use crate::client::{L1Client, RollupInfo, connect_provider, to_u64};
use crate::error::{L1Error, Result, from_contract_error};
use crate::types::ContractAddresses;

/// What to deploy. [`Default`] is the sandbox of SPEC §3: slot 4 s, epoch 8 slots, claim window
/// 4 slots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeployParams {
    /// Seconds per slot (> 0).
    pub slot_duration: u64,
    /// Slots per epoch.
    pub epoch_duration: u64,
    /// Slots of the claim phase (0 < claim window < epoch duration).
    pub claim_window: u64,
    /// Minimum bond of a claim.
    #[serde(with = "crate::serde_util::u256_dec")]
    pub min_bond: U256,
    /// Seconds between `startWithdraw` and `executeWithdraw`. Should exceed a claim's lifetime
    /// (quote → proof deadline, about two epochs) so a prover cannot quote and leave.
    pub withdraw_delay: u64,
    /// Where slashed bonds go; the zero address means "the deployer" (the contract rejects zero).
    #[serde(with = "crate::serde_util::address")]
    pub slash_recipient: Address,
    /// Round-robin proposer set; empty = anyone may propose.
    #[serde(with = "crate::serde_util::addresses", default)]
    pub validators: Vec<Address>,
    /// Owner of the FeeToken (may mint); zero means the deployer.
    #[serde(with = "crate::serde_util::address")]
    pub token_owner: Address,
    /// An existing verifier to plug in; `None` deploys the dev verifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verifier: Option<Address>,
}

impl Default for DeployParams {
    fn default() -> Self {
        Self {
            slot_duration: 4,
            epoch_duration: 8,
            claim_window: 4,
            min_bond: U256::from(1000),
            // Three epochs: longer than a claim's lifetime (claim phase + proof window).
            withdraw_delay: 3 * 8 * 4,
            slash_recipient: Address::ZERO,
            validators: Vec::new(),
            token_owner: Address::ZERO,
            verifier: None,
        }
    }
}

impl DeployParams {
    /// Checks what the Rollup constructor checks, with a readable message.
    pub fn validate(&self) -> Result<()> {
        if self.slot_duration == 0 {
            return Err(L1Error::InvalidArgument(
                "slot duration must be > 0 s".into(),
            ));
        }
        if self.claim_window == 0 || self.claim_window >= self.epoch_duration {
            return Err(L1Error::InvalidArgument(format!(
                "claim window must be between 1 and epoch duration − 1 slots (got claim window {}, epoch duration {})",
                self.claim_window, self.epoch_duration
            )));
        }
        if self.validators.contains(&Address::ZERO) {
            return Err(L1Error::InvalidArgument(
                "the validator set contains the zero address".into(),
            ));
        }
        Ok(())
    }
}

/// A deployed set, as written to the deployment JSON file (addresses EIP-55, amounts decimal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// L1 chain id.
    pub chain_id: u64,
    /// The deployed contracts (flat keys in the file).
    #[serde(flatten)]
    pub contracts: ContractAddresses,
    /// Who deployed (FeeToken owner unless `params.token_owner` says otherwise).
    #[serde(with = "crate::serde_util::address")]
    pub deployer: Address,
    /// Unix time of slot 0.
    pub genesis: u64,
    /// L1 block of the Rollup's deployment (start of event queries).
    pub deploy_block: u64,
    /// The parameters, with the defaults (deployer) resolved.
    pub params: DeployParams,
}

impl Deployment {
    /// The time parameters.
    pub fn time(&self) -> TimeParams {
        TimeParams {
            genesis: self.genesis,
            slot_duration: self.params.slot_duration,
            epoch_duration: self.params.epoch_duration,
            claim_window: self.params.claim_window,
        }
    }

    /// The immutable facts as [`L1Client`] keeps them.
    pub fn info(&self) -> RollupInfo {
        RollupInfo {
            chain_id: self.chain_id,
            contracts: self.contracts,
            time: self.time(),
            min_bond: self.params.min_bond,
            withdraw_delay: self.params.withdraw_delay,
            slash_recipient: self.params.slash_recipient,
        }
    }

    /// JSON (pretty).
    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Parses the JSON written by [`to_json`](Self::to_json).
    pub fn from_json(s: &str) -> Result<Self> {
        serde_json::from_str(s)
            .map_err(|e| L1Error::InvalidArgument(format!("deployment JSON: {e}")))
    }

    /// Reads a deployment file.
    pub fn read(path: &std::path::Path) -> Result<Self> {
        let s = std::fs::read_to_string(path).map_err(|e| {
            L1Error::InvalidArgument(format!("cannot read {}: {e}", path.display()))
        })?;
        Self::from_json(&s)
    }
}

/// Deploys with `provider`, whose wallet signs for `deployer`.
pub async fn deploy(
    provider: &DynProvider,
    deployer: Address,
    params: &DeployParams,
) -> Result<Deployment> {
    params.validate()?;
    let mut params = params.clone();
    if params.slash_recipient == Address::ZERO {
        params.slash_recipient = deployer;
    }
    if params.token_owner == Address::ZERO {
        params.token_owner = deployer;
    }

    let (fee_token, _) = send_deploy(
        "deploy FeeToken",
        FeeToken::deploy_builder(provider, params.token_owner).from(deployer),
    )
    .await?;
    let verifier = match params.verifier {
        Some(v) => v,
        None => {
            send_deploy(
                "deploy DevEpochProofVerifier",
                DevEpochProofVerifier::deploy_builder(provider).from(deployer),
            )
            .await?
            .0
        }
    };
    let (rollup, deploy_block) = send_deploy(
        "deploy Rollup",
        Rollup::deploy_builder(
            provider,
            fee_token,
            verifier,
            U256::from(params.slot_duration),
            U256::from(params.epoch_duration),
            U256::from(params.claim_window),
            params.min_bond,
            U256::from(params.withdraw_delay),
            params.slash_recipient,
            params.validators.clone(),
        )
        .from(deployer),
    )
    .await?;

    let r = Rollup::new(rollup, provider);
    let escrow = r
        .escrow()
        .call()
        .await
        .map_err(|e| from_contract_error("escrow", e))?;
    let genesis = r
        .genesisTime()
        .call()
        .await
        .map_err(|e| from_contract_error("genesisTime", e))?;
    let chain_id = alloy::providers::Provider::get_chain_id(provider)
        .await
        .map_err(|e| crate::error::from_transport_error("eth_chainId", &e))?;
    params.verifier = Some(verifier);
    Ok(Deployment {
        chain_id,
        contracts: ContractAddresses {
            rollup,
            escrow,
            fee_token,
            verifier,
        },
        deployer,
        genesis: to_u64("genesisTime", genesis)?,
        deploy_block,
        params,
    })
}

/// Connects to `url`, deploys with `signer`, and returns the deployment and a client signing
/// with the same key.
pub async fn deploy_with_signer(
    url: &str,
    signer: PrivateKeySigner,
    params: &DeployParams,
) -> Result<(Deployment, L1Client)> {
    let deployer = signer.address();
    let provider = connect_provider(url, Some(signer)).await?;
    let deployment = deploy(&provider, deployer, params).await?;
    let client = L1Client::from_info(provider, deployment.info(), Some(deployer));
    Ok((deployment, client))
}

/// Sends a creation transaction; returns the contract address and the L1 block.
async fn send_deploy(
    call: &'static str,
    builder: RawCallBuilder<&DynProvider>,
) -> Result<(Address, u64)> {
    // Gas estimation runs the constructor: a revert (e.g. InvalidTimeParameters) is decoded here.
    let pending = builder
        .send()
        .await
        .map_err(|e| from_contract_error(call, e))?;
    let receipt = pending
        .with_timeout(Some(crate::client::DEFAULT_RECEIPT_TIMEOUT))
        .get_receipt()
        .await
        .map_err(|e| L1Error::Rpc {
            call,
            message: e.to_string(),
        })?;
    if !receipt.status() {
        return Err(L1Error::Deploy(format!(
            "{call}: transaction {} reverted",
            receipt.transaction_hash
        )));
    }
    let address = receipt
        .contract_address
        .ok_or_else(|| L1Error::Deploy(format!("{call}: receipt has no contract address")))?;
    Ok((address, receipt.block_number.unwrap_or_default()))
}
