//! The seed's `BondManager` (SPEC §6.2): keeps enough of the prover's escrow deposit free to back
//! its quotes' bonds.
//!
//! `ensure_bond(amount)`: when the deposit available for a bond (free minus a pending withdrawal)
//! is below `max(minimum, amount)`, approve the escrow if needed and deposit up to
//! `max(target, amount)`. Each approval and deposit is recorded in the store before its outcome is
//! awaited; before anything new is sent, recorded transactions are settled from the chain and
//! the deposit is re-read, so a retry or a restart never deposits twice.

use std::time::Duration;

use epoch_rfq_l1::alloy::primitives::{Address, U256};
use epoch_rfq_l1::{L1Client, L1Error};

use crate::l1tx::{self, Settled, SharedStore, TxError};
use crate::metrics::ProverMetrics;
use crate::store::StoreError;

/// How often the pool is checked while transactions of ours wait in it.
const POOL_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Store `kind`s of the bond manager's transactions.
const KIND_APPROVE: &str = "approve";
const KIND_DEPOSIT: &str = "deposit";

/// Why the bond could not be ensured.
#[derive(Debug, thiserror::Error)]
pub enum BondError {
    /// The wallet does not hold enough fee token for the top-up.
    #[error(
        "cannot top up the escrow deposit of {prover}: it has {available} available for bonds, \
         needs {required} (topping up to {goal} means depositing {top_up}), but the wallet holds \
         only {balance} fee token: {missing} missing. Fund {prover} with at least {missing} more, \
         or lower PROVER_MINIMUM_ESCROW_AMOUNT / PROVER_TARGET_ESCROW_AMOUNT / the bond",
        prover = .0.prover, available = .0.available, required = .0.required, goal = .0.goal,
        top_up = .0.top_up, balance = .0.balance, missing = .0.missing
    )]
    InsufficientFunds(Box<Shortfall>),
    /// An earlier deposit or approval is still waiting to be mined: sending another could
    /// deposit twice.
    #[error(
        "an earlier escrow transaction {tx_hash} is still pending on L1; not sending another \
         (it is checked again on the next attempt)"
    )]
    TxPending {
        /// The pending transaction.
        tx_hash: String,
    },
    /// Transactions of the prover wait in the L1 node's pool: one may be a deposit a reorg took
    /// out and the node put back, so no top-up is sent until they are mined.
    #[error(
        "transactions of {prover} wait in the L1 node's pool (mined nonce {mined}, pending \
         {pending}); not topping up the escrow until they are mined (checked again on the next \
         attempt)"
    )]
    QueuedInPool {
        /// The prover.
        prover: Address,
        /// Its transaction count at the latest block.
        mined: u64,
        /// Its transaction count including the pool.
        pending: u64,
    },
    /// The deposit did not reach the required amount after the top-up (e.g. a withdrawal was
    /// requested concurrently).
    #[error("escrow deposit is {available} after the top-up, {required} required")]
    StillShort {
        /// Available after the top-up.
        available: U256,
        /// Required.
        required: U256,
    },
    /// L1 failed.
    #[error("escrow top-up: {0}")]
    L1(#[from] L1Error),
    /// The store failed.
    #[error("escrow top-up: {0}")]
    Store(#[from] StoreError),
}

impl From<TxError> for BondError {
    fn from(e: TxError) -> Self {
        match e {
            TxError::L1(e) => Self::L1(e),
            TxError::Store(e) => Self::Store(e),
        }
    }
}

/// The numbers of a top-up the wallet cannot cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shortfall {
    /// The prover.
    pub prover: Address,
    /// Currently available for a bond.
    pub available: U256,
    /// `max(minimum, amount)`.
    pub required: U256,
    /// `max(target, amount)`.
    pub goal: U256,
    /// `goal - available`.
    pub top_up: U256,
    /// Wallet balance.
    pub balance: U256,
    /// `top_up - balance`.
    pub missing: U256,
}

/// What `ensure_bond` found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BondStatus {
    /// Available for a bond afterwards.
    pub available: U256,
    /// Deposited by this call (0: nothing was needed).
    pub deposited: U256,
}

/// Keeps the escrow deposit topped up. Calls are serialised: two concurrent callers cannot both
/// decide to deposit.
#[derive(Debug)]
pub struct BondManager {
    l1: L1Client,
    store: SharedStore,
    minimum: U256,
    target: U256,
    metrics: ProverMetrics,
    receipt_timeout: Duration,
    lock: tokio::sync::Mutex<()>,
}

impl BondManager {
    /// A manager for the prover `l1` signs for, topping up below `minimum` to `target`.
    pub fn new(
        l1: L1Client,
        store: SharedStore,
        minimum: U256,
        target: U256,
        metrics: ProverMetrics,
    ) -> Self {
        Self {
            l1,
            store,
            minimum,
            target: target.max(minimum),
            metrics,
            receipt_timeout: Duration::from_secs(60),
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// How long to wait for a deposit's receipt before reporting it pending (default 60 s).
    pub fn with_receipt_timeout(mut self, timeout: Duration) -> Self {
        self.receipt_timeout = timeout;
        self
    }

    /// The minimum deposit.
    pub fn minimum(&self) -> U256 {
        self.minimum
    }

    /// The seed's `ensureBond(amount)`.
    pub async fn ensure_bond(&self, amount: U256) -> Result<BondStatus, BondError> {
        let _serialised = self.lock.lock().await;
        let prover = self
            .l1
            .sender()
            .ok_or(L1Error::NoSigner { call: "deposit" })?;
        self.settle_recorded().await?;
        let mut available = self.l1.available_for_bond(prover).await?;
        let required = self.minimum.max(amount);
        if available < required && self.wait_for_own_pool_txs(prover).await? {
            available = self.l1.available_for_bond(prover).await?;
        }
        self.metrics.set_bond_available(available);
        if available >= required {
            return Ok(BondStatus {
                available,
                deposited: U256::ZERO,
            });
        }
        let goal = self.target.max(amount);
        let top_up = goal - available;
        let balance = self.l1.balance_of(prover).await?;
        if balance < top_up {
            return Err(BondError::InsufficientFunds(Box::new(Shortfall {
                prover,
                available,
                required,
                goal,
                top_up,
                balance,
                missing: top_up - balance,
            })));
        }
        let escrow = self.l1.escrow_address();
        if self.l1.allowance(prover, escrow).await? < top_up {
            let token = self.l1.fee_token();
            l1tx::send_recorded(
                &self.l1,
                &self.store,
                l1tx::TxKind::new("approve", KIND_APPROVE, None),
                token.approve(escrow, top_up),
                self.receipt_timeout,
                None,
                |_, _| Ok(()),
            )
            .await?;
        }
        let escrow_contract = self.l1.escrow();
        let receipt = l1tx::send_recorded(
            &self.l1,
            &self.store,
            l1tx::TxKind::new("deposit", KIND_DEPOSIT, None),
            escrow_contract.deposit(top_up),
            self.receipt_timeout,
            None,
            |_, _| Ok(()),
        )
        .await?;
        self.metrics.deposit_made();
        let available = self.l1.available_for_bond(prover).await?;
        self.metrics.set_bond_available(available);
        tracing::info!(
            %prover, deposited = %top_up, %available, tx = %receipt.transaction_hash,
            "escrow deposit topped up"
        );
        if available < required {
            return Err(BondError::StillShort {
                available,
                required,
            });
        }
        Ok(BondStatus {
            available,
            deposited: top_up,
        })
    }

    /// Waits (up to the receipt timeout) until no transaction of `prover` waits in the L1
    /// node's pool; `Ok(true)` when it had to wait, so the deposit is read again.
    ///
    /// A deposit that a reorg took out after it counted as done is no longer followed, and a
    /// node may put it back in its pool. A top-up decided from the balance without it would be
    /// a second deposit for one shortfall once both are mined (the new one takes the next
    /// nonce). So no top-up is sent while the account has transactions in the pool.
    async fn wait_for_own_pool_txs(&self, prover: Address) -> Result<bool, BondError> {
        let since = std::time::Instant::now();
        let mut waited = false;
        loop {
            let (mined, pending) = self.l1.nonces(prover).await?;
            if pending <= mined {
                return Ok(waited);
            }
            if since.elapsed() >= self.receipt_timeout {
                return Err(BondError::QueuedInPool {
                    prover,
                    mined,
                    pending,
                });
            }
            if !waited {
                tracing::info!(
                    %prover, mined, pending,
                    "transactions of ours wait in the L1 node's pool; the escrow top-up waits for them"
                );
            }
            waited = true;
            tokio::time::sleep(POOL_POLL_INTERVAL).await;
        }
    }

    /// Settles recorded approvals and deposits whose outcome is unknown (a crash or a receipt
    /// timeout after sending). A deposit still pending stops the top-up: the deposit is re-read
    /// only once it is settled.
    async fn settle_recorded(&self) -> Result<(), BondError> {
        let pending = self.store.lock().pending_txs()?;
        for (tx_hash, kind, _) in pending {
            if kind != KIND_APPROVE && kind != KIND_DEPOSIT {
                continue;
            }
            let what = if kind == KIND_APPROVE {
                l1tx::TxKind::new("approve", KIND_APPROVE, None)
            } else {
                l1tx::TxKind::new("deposit", KIND_DEPOSIT, None)
            };
            let settled = l1tx::resolve(
                &self.l1,
                &self.store,
                what,
                &tx_hash,
                self.receipt_timeout,
                None,
                |_, _| Ok(()),
            )
            .await?;
            tracing::info!(%tx_hash, kind, ?settled, "settled an escrow transaction recorded earlier");
            if settled == Settled::StillPending {
                return Err(BondError::TxPending { tx_hash });
            }
        }
        Ok(())
    }
}
