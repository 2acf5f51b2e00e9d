//! Anvil test harness (feature `test-harness`): a private anvil on 127.0.0.1, funded dev
//! accounts, a deployment with chosen time parameters, and control over L1 time.
//!
//! ```no_run
//! # async fn f() -> Result<(), epoch_rfq_l1::anvil::HarnessError> {
//! use epoch_rfq_l1::{DeployParams, anvil::TestChain};
//! let chain = TestChain::start_and_deploy(DeployParams { slot_duration: 12, ..Default::default() }).await?;
//! let proposer = chain.client(1).await?;
//! chain.advance_to_slot(3).await?;
//! assert_eq!(proposer.current_slot().await?, 3);
//! # Ok(()) }
//! ```
//!
//! The anvil binary is found in this order: `$ANVIL_BIN`, `<workspace>/toolchain/bin/anvil`
//! (installed by `scripts/setup`), `anvil` on `PATH`. anvil is killed when the [`TestChain`]
//! is dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{Address, B256, U256};
use alloy::providers::ext::AnvilApi;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;

use crate::client::L1Client;
use crate::deploy::{DeployParams, Deployment, deploy};
use crate::error::L1Error;

/// Harness failures.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// No anvil binary.
    #[error(
        "anvil not found (looked at $ANVIL_BIN, {workspace_anvil}, and PATH): run scripts/setup to install the pinned toolchain"
    )]
    AnvilNotFound {
        /// The workspace location that was tried.
        workspace_anvil: String,
    },
    /// anvil did not start.
    #[error("anvil ({path}) failed to start: {message}")]
    Spawn {
        /// The binary.
        path: String,
        /// Why.
        message: String,
    },
    /// An anvil RPC failed.
    #[error("anvil RPC {call} failed: {message}")]
    Rpc {
        /// The method.
        call: &'static str,
        /// The error.
        message: String,
    },
    /// A harness call needs a deployment but none was made.
    #[error("no contracts deployed on this test chain (use start_and_deploy or deploy)")]
    NotDeployed,
    /// Asked for a dev account that does not exist.
    #[error("dev account {0} does not exist")]
    NoSuchAccount(usize),
    /// Asked to move time backwards.
    #[error("cannot move L1 time back from {latest} to {target}")]
    TimeTravel {
        /// Latest block timestamp.
        latest: u64,
        /// Requested timestamp.
        target: u64,
    },
    /// An L1 client error.
    #[error(transparent)]
    L1(#[from] L1Error),
}

/// Harness result.
pub type HarnessResult<T> = Result<T, HarnessError>;

/// Options of [`TestChain::start`].
#[derive(Debug, Clone)]
pub struct ChainOptions {
    /// Number of funded dev accounts (10,000 ETH each).
    pub accounts: usize,
    /// Interval mining in seconds (`None`: mine on every transaction).
    pub block_time: Option<u64>,
}

impl Default for ChainOptions {
    fn default() -> Self {
        Self {
            accounts: 10,
            block_time: None,
        }
    }
}

/// Path of the pinned anvil: `$ANVIL_BIN`, else `<workspace>/toolchain/bin/anvil`, else `anvil`
/// on `PATH`.
pub fn find_anvil() -> HarnessResult<PathBuf> {
    if let Some(p) = std::env::var_os("ANVIL_BIN") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
    }
    let workspace = workspace_anvil();
    if workspace.is_file() {
        return Ok(workspace);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("anvil");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(HarnessError::AnvilNotFound {
        workspace_anvil: workspace.display().to_string(),
    })
}

fn workspace_anvil() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../toolchain/bin/anvil")
}

/// A private anvil with dev accounts, optionally a deployment, and time control.
#[derive(Debug)]
pub struct TestChain {
    // Dropping the instance stops anvil (SIGTERM, then kill).
    anvil: AnvilInstance,
    keys: Vec<PrivateKeySigner>,
    /// A provider without a wallet, for anvil's own RPCs and reads.
    provider: DynProvider,
    deployment: Option<Deployment>,
}

impl TestChain {
    /// Starts anvil on 127.0.0.1 with a free port.
    pub async fn start(opts: ChainOptions) -> HarnessResult<Self> {
        Self::start_on("127.0.0.1", opts).await
    }

    /// Starts anvil listening on `host` (e.g. `0.0.0.0` inside a network namespace of its own,
    /// where the testbed's hosts reach it) with a free port; this process still talks to it
    /// over localhost.
    pub async fn start_on(host: &str, opts: ChainOptions) -> HarnessResult<Self> {
        let path = find_anvil()?;
        let mut builder = Anvil::at(&path)
            .host(host)
            .arg("--accounts")
            .arg(opts.accounts.to_string())
            .keep_stdout()
            .timeout(20_000);
        if let Some(bt) = opts.block_time {
            builder = builder.block_time(bt);
        }
        // try_spawn reads anvil's start-up banner synchronously.
        let mut anvil = tokio::task::spawn_blocking(move || builder.try_spawn())
            .await
            .map_err(|e| HarnessError::Spawn {
                path: path.display().to_string(),
                message: e.to_string(),
            })?
            .map_err(|e| HarnessError::Spawn {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        // Drain anvil's log so it never blocks on (or fails writing to) a full pipe.
        if let Some(stdout) = anvil.child_mut().stdout.take() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stdout);
                let mut line = String::new();
                while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                    line.clear();
                }
            });
        }
        let keys = anvil
            .keys()
            .iter()
            .map(|k| {
                PrivateKeySigner::from_bytes(&B256::from_slice(&k.to_bytes())).map_err(|e| {
                    HarnessError::Spawn {
                        path: "anvil".into(),
                        message: format!("bad dev key: {e}"),
                    }
                })
            })
            .collect::<HarnessResult<Vec<_>>>()?;
        let provider = ProviderBuilder::new()
            .connect_http(anvil.endpoint_url())
            .erased();
        Ok(Self {
            anvil,
            keys,
            provider,
            deployment: None,
        })
    }

    /// Starts anvil and deploys with account 0 (the FeeToken owner, and the slash recipient
    /// unless `params` names one).
    pub async fn start_and_deploy(params: DeployParams) -> HarnessResult<Self> {
        let mut chain = Self::start(ChainOptions::default()).await?;
        chain.deploy(params).await?;
        Ok(chain)
    }

    /// Deploys a (new) set with account 0 and makes it the chain's deployment.
    pub async fn deploy(&mut self, params: DeployParams) -> HarnessResult<Deployment> {
        let provider = self.wallet_provider(0)?;
        let deployer = self.address(0)?;
        let d = deploy(&provider, deployer, &params).await?;
        self.deployment = Some(d.clone());
        Ok(d)
    }

    /// The deployment.
    pub fn deployment(&self) -> HarnessResult<&Deployment> {
        self.deployment.as_ref().ok_or(HarnessError::NotDeployed)
    }

    /// HTTP endpoint (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        self.anvil.endpoint_url().to_string()
    }

    /// WebSocket endpoint.
    pub fn ws_url(&self) -> String {
        self.anvil.ws_endpoint_url().to_string()
    }

    /// Chain id (31337).
    pub fn chain_id(&self) -> u64 {
        self.anvil.chain_id()
    }

    /// The dev key of account `i`.
    pub fn signer(&self, i: usize) -> HarnessResult<PrivateKeySigner> {
        self.keys
            .get(i)
            .cloned()
            .ok_or(HarnessError::NoSuchAccount(i))
    }

    /// The dev keys.
    pub fn signers(&self) -> &[PrivateKeySigner] {
        &self.keys
    }

    /// The address of account `i`.
    pub fn address(&self, i: usize) -> HarnessResult<Address> {
        Ok(self.signer(i)?.address())
    }

    /// The hex private key of account `i` (for child processes' env).
    pub fn private_key_hex(&self, i: usize) -> HarnessResult<String> {
        Ok(format!(
            "0x{}",
            alloy::hex::encode(self.signer(i)?.to_bytes())
        ))
    }

    /// A provider signing with account `i`.
    pub fn wallet_provider(&self, i: usize) -> HarnessResult<DynProvider> {
        let signer = self.signer(i)?;
        Ok(signing_provider_builder!(signer)
            .connect_http(self.anvil.endpoint_url())
            .erased())
    }

    /// A provider without wallet.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// An [`L1Client`] of the deployment signing with account `i`.
    pub async fn client(&self, i: usize) -> HarnessResult<L1Client> {
        let d = self.deployment()?;
        Ok(L1Client::from_info(
            self.wallet_provider(i)?,
            d.info(),
            Some(self.address(i)?),
        ))
    }

    /// A read-only [`L1Client`] of the deployment.
    pub fn reader(&self) -> HarnessResult<L1Client> {
        Ok(L1Client::from_info(
            self.provider.clone(),
            self.deployment()?.info(),
            None,
        ))
    }

    /// Mints `amount` FeeToken to each of `accounts` (as the deployer, the token owner).
    pub async fn fund(&self, accounts: &[Address], amount: U256) -> HarnessResult<()> {
        let owner = self.client(0).await?;
        for a in accounts {
            owner.mint(*a, amount).await?;
        }
        Ok(())
    }

    // ------------------------------------------------------------------ time

    /// Latest L1 block's number and timestamp.
    pub async fn latest_block(&self) -> HarnessResult<(u64, u64)> {
        let b = self
            .provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .map_err(|e| rpc("eth_getBlockByNumber", e))?
            .ok_or(HarnessError::Rpc {
                call: "eth_getBlockByNumber",
                message: "no latest block".into(),
            })?;
        Ok((b.header.number, b.header.timestamp))
    }

    /// Mines one block.
    pub async fn mine(&self) -> HarnessResult<()> {
        self.provider
            .evm_mine(None)
            .await
            .map_err(|e| rpc("evm_mine", e))?;
        Ok(())
    }

    /// Mines a block with timestamp exactly `timestamp` (must not be before the latest block).
    /// Transactions sent afterwards land at `timestamp + 1` or later (anvil keeps the clock
    /// running from there).
    pub async fn mine_at(&self, timestamp: u64) -> HarnessResult<()> {
        let (_, latest) = self.latest_block().await?;
        if timestamp < latest {
            return Err(HarnessError::TimeTravel {
                latest,
                target: timestamp,
            });
        }
        if timestamp > latest {
            self.provider
                .anvil_set_next_block_timestamp(timestamp)
                .await
                .map_err(|e| rpc("anvil_setNextBlockTimestamp", e))?;
        }
        self.mine().await
    }

    /// Moves time forward by `seconds` and mines a block.
    pub async fn increase_time(&self, seconds: u64) -> HarnessResult<()> {
        self.provider
            .anvil_increase_time(seconds)
            .await
            .map_err(|e| rpc("evm_increaseTime", e))?;
        self.mine().await
    }

    /// Mines a block at the start of `slot` of the deployment (no-op when the latest block is
    /// already in that slot; an error when it is past it).
    pub async fn advance_to_slot(&self, slot: u64) -> HarnessResult<()> {
        let time = self.deployment()?.time();
        let target = time.slot_start(slot);
        let (_, latest) = self.latest_block().await?;
        if time.slot_at(latest) == Some(slot) {
            return Ok(());
        }
        self.mine_at(target).await
    }

    /// Mines a block at the start of the first slot of `epoch`.
    pub async fn advance_to_epoch(&self, epoch: u64) -> HarnessResult<()> {
        let time = self.deployment()?.time();
        self.advance_to_slot(time.epoch_start_slot(epoch)).await
    }

    /// Turns automatic mining on or off (off: transactions wait for [`mine`](Self::mine)).
    pub async fn set_automine(&self, on: bool) -> HarnessResult<()> {
        self.provider
            .anvil_set_auto_mine(on)
            .await
            .map_err(|e| rpc("evm_setAutomine", e))
    }
}

fn rpc(call: &'static str, e: impl std::fmt::Display) -> HarnessError {
    HarnessError::Rpc {
        call,
        message: e.to_string(),
    }
}
