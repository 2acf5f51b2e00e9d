//! Transactions under a fee market: EIP-1559 fees from the chain's fee history under a cap, a
//! stuck transaction replaced with the same nonce, a dropped one re-broadcast, a mined one
//! counted as done only at the configured depth, and one that can no longer land before its
//! deadline abandoned (its nonce freed by a zero-value self-transfer).
//!
//! Every [`crate::L1Client`] transaction goes through [`crate::L1Client::send_tx`]. One purpose
//! is one nonce: each replacement re-signs the same call with the same nonce and higher fees, so
//! at most one of them can ever be mined ("never two different transactions for one purpose").
//! A [`TxObserver`] hears of every hash before it is waited on, so a caller that must survive a
//! restart (the prover) records them and reconciles from the chain afterwards.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use alloy::contract::SolCallBuilder;
use alloy::eips::{BlockId, BlockNumberOrTag};
use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::sol_types::SolCall;

use crate::error::{L1Error, Result, from_contract_error, from_transport_error};
use crate::metrics::{L1Metrics, TxEvent};
use crate::{L1Client, Revert};

/// Default cap on `maxFeePerGas`: 200 gwei (see `docs/DECISIONS.md`).
pub const DEFAULT_MAX_FEE_PER_GAS: u128 = 200_000_000_000;
/// Default number of blocks a transaction may wait unmined before it is replaced.
pub const DEFAULT_REPLACE_AFTER_BLOCKS: u64 = 3;
/// Default confirmation depth on a chain that is not a dev chain.
pub const DEFAULT_CONFIRMATIONS: u64 = 2;
/// Chain ids treated as dev chains (anvil, hardhat, geth --dev): instant, final blocks.
pub const DEV_CHAIN_IDS: [u64; 2] = [31337, 1337];

/// A replacement raises both fee fields by at least this much (percent). geth and reth refuse a
/// replacement below +10% on either field (`--txpool.pricebump`), some pools below +12.5%; 20%
/// clears both with room for rounding.
pub const BUMP_PERCENT: u128 = 20;
/// The bump once the deadline is near (see [`TxPolicy::urgent_within_blocks`]).
pub const URGENT_BUMP_PERCENT: u128 = 50;
/// The smallest raise any pool accepts as a replacement: +12.5%.
const MIN_ACCEPTED_BUMP_PER_MILLE: u128 = 125;

/// At most this many nonces are filled per check below one flight (a larger gap means
/// something else is wrong; the next block's check goes on).
const MAX_GAP_FILL: usize = 8;

/// How transactions are priced, replaced and confirmed (`L1_MAX_FEE_PER_GAS_GWEI`,
/// `L1_TX_REPLACE_AFTER_BLOCKS`, `L1_CONFIRMATIONS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxPolicy {
    /// Cap on `maxFeePerGas` in wei; no transaction is ever signed above it.
    pub max_fee_per_gas: u128,
    /// Blocks a transaction may stay unmined before it is replaced with higher fees.
    pub replace_after_blocks: u64,
    /// Blocks on top of a transaction's block before it counts as done.
    pub confirmations: u64,
    /// How often the chain is polled while a transaction is in flight.
    pub poll_interval: Duration,
}

impl Default for TxPolicy {
    fn default() -> Self {
        Self {
            max_fee_per_gas: DEFAULT_MAX_FEE_PER_GAS,
            replace_after_blocks: DEFAULT_REPLACE_AFTER_BLOCKS,
            confirmations: 0,
            poll_interval: Duration::from_millis(200),
        }
    }
}

impl TxPolicy {
    /// The default confirmation depth for `chain_id`: 0 on a dev chain, else
    /// [`DEFAULT_CONFIRMATIONS`].
    pub fn default_confirmations(chain_id: u64) -> u64 {
        if DEV_CHAIN_IDS.contains(&chain_id) {
            0
        } else {
            DEFAULT_CONFIRMATIONS
        }
    }

    /// With this many blocks or fewer left before the deadline, a transaction is replaced after
    /// every block and with [`URGENT_BUMP_PERCENT`].
    pub fn urgent_within_blocks(&self) -> u64 {
        2 * self.replace_after_blocks.max(1)
    }
}

/// The two EIP-1559 fee fields of one signed transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fees {
    /// `maxFeePerGas` (wei).
    pub max_fee_per_gas: u128,
    /// `maxPriorityFeePerGas` (wei).
    pub max_priority_fee_per_gas: u128,
}

impl Fees {
    /// The estimate capped at `cap` (the tip never above the max fee).
    pub fn capped(self, cap: u128) -> Self {
        let max_fee_per_gas = self.max_fee_per_gas.min(cap);
        Self {
            max_fee_per_gas,
            max_priority_fee_per_gas: self.max_priority_fee_per_gas.min(max_fee_per_gas),
        }
    }

    /// The fees of a replacement of a transaction sent with `self`: each field raised by
    /// `percent` or to the fresh estimate, whichever is higher, then capped. `None` when the cap
    /// leaves less than the +12.5% any pool requires of a replacement.
    pub fn bumped(self, percent: u128, fresh: Fees, cap: u128) -> Option<Self> {
        let raise = |v: u128| v.saturating_mul(100 + percent).div_ceil(100).max(v + 1);
        let next = Fees {
            max_fee_per_gas: raise(self.max_fee_per_gas).max(fresh.max_fee_per_gas),
            max_priority_fee_per_gas: raise(self.max_priority_fee_per_gas)
                .max(fresh.max_priority_fee_per_gas),
        }
        .capped(cap);
        let accepted = |old: u128, new: u128| {
            new.saturating_mul(1000) >= old.saturating_mul(1000 + MIN_ACCEPTED_BUMP_PER_MILLE)
                && new > old
        };
        (accepted(self.max_fee_per_gas, next.max_fee_per_gas)
            && accepted(self.max_priority_fee_per_gas, next.max_priority_fee_per_gas))
        .then_some(next)
    }
}

/// When a transaction stops being useful: it must be in a block whose timestamp is below
/// `timestamp` (e.g. the end of the claim phase, the proof deadline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    /// First L1 timestamp at which the transaction is too late.
    pub timestamp: u64,
    /// What the deadline is, for the error ("end of the claim phase", "proof deadline").
    pub what: &'static str,
}

/// One broadcast of a transaction (the first, a replacement or a re-broadcast).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Broadcast {
    /// The contract function.
    pub call: &'static str,
    /// The hash sent.
    pub tx_hash: B256,
    /// The account nonce every broadcast of this purpose shares.
    pub nonce: u64,
    /// 0 for the first, then 1, 2… for replacements.
    pub attempt: u32,
    /// The fees it was signed with.
    pub fees: Fees,
}

/// Hears of every hash of a transaction before it is waited on (e.g. to record it for
/// reconciliation after a restart). Called on the sending task; keep it short.
pub trait TxObserver: Send + Sync {
    /// A transaction (first or replacement) was accepted by the L1 node.
    fn broadcast(&self, sent: &Broadcast);
}

/// Options of one [`crate::L1Client::send_tx`].
#[derive(Clone, Copy, Default)]
pub struct SendOptions<'a> {
    /// When the transaction stops being useful; `None`: it never does (deposits, withdrawals).
    pub deadline: Option<Deadline>,
    /// Told of every hash.
    pub observer: Option<&'a dyn TxObserver>,
}

impl std::fmt::Debug for SendOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendOptions")
            .field("deadline", &self.deadline)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

/// A zero-value transfer from `from` to itself: what takes a nonce when its own transaction is
/// given up (a cancel) or missing (a gap fill).
fn self_transfer(from: Address) -> TransactionRequest {
    TransactionRequest::default()
        .from(from)
        .to(from)
        .value(U256::ZERO)
        .with_gas_limit(21_000)
}

/// Whether a node refused a transaction because its max fee is below the base fee (geth, reth
/// and anvil word it "max fee per gas less than block base fee"; some say "fee cap").
fn below_base_fee(err: &L1Error) -> bool {
    let text = err.to_string().to_ascii_lowercase();
    text.contains("less than block base fee") || text.contains("fee cap less than")
}

/// Parses a gwei amount (`"200"`, `"1.5"`) into wei.
pub fn parse_gwei(text: &str) -> Result<u128, String> {
    let text = text.trim();
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
        || frac.len() > 9
    {
        return Err(format!(
            "{text:?} is not an amount of gwei (digits, at most 9 decimals, e.g. 200 or 1.5)"
        ));
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole
            .parse()
            .map_err(|_| format!("{text:?} gwei is too large"))?
    };
    let frac: u128 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}")
            .parse()
            .map_err(|_| format!("{text:?} is not an amount of gwei"))?
    };
    whole
        .checked_mul(1_000_000_000)
        .and_then(|w| w.checked_add(frac))
        .ok_or_else(|| format!("{text:?} gwei is too large"))
}

/// Wei as gwei for messages (`12.5 gwei`).
pub fn format_gwei(wei: u128) -> String {
    let whole = wei / 1_000_000_000;
    let frac = wei % 1_000_000_000;
    if frac == 0 {
        format!("{whole} gwei")
    } else {
        let frac = format!("{frac:09}");
        format!("{whole}.{} gwei", frac.trim_end_matches('0'))
    }
}

/// The nonces of this account's transactions being followed right now. A new transaction takes
/// the node's pending count, or the nonce after the highest one in flight if that is higher: a
/// transaction of ours that a node dropped from its pool (and that we are about to re-broadcast)
/// never has its nonce taken by another purpose. Once a flight ends its nonce is forgotten, so
/// after a reorg that un-mines a finished transaction the node's count is the truth again.
#[derive(Debug, Default)]
pub(crate) struct NoncesInFlight(std::sync::Mutex<BTreeSet<u64>>);

impl NoncesInFlight {
    fn set(&self) -> std::sync::MutexGuard<'_, BTreeSet<u64>> {
        // A panic while holding this lock leaves a consistent set (single inserts/removes).
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The nonce to use given the node's pending count, reserved until the guard drops.
    fn reserve(self: &Arc<Self>, pending: u64) -> InFlight {
        let mut set = self.set();
        let nonce = set.last().map_or(pending, |&high| pending.max(high + 1));
        set.insert(nonce);
        InFlight {
            nonces: self.clone(),
            nonce,
        }
    }

    fn hold(self: &Arc<Self>, nonce: u64) -> InFlight {
        self.set().insert(nonce);
        InFlight {
            nonces: self.clone(),
            nonce,
        }
    }
}

/// A nonce reserved while its transaction is followed.
struct InFlight {
    nonces: Arc<NoncesInFlight>,
    nonce: u64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.nonces.set().remove(&self.nonce);
    }
}

/// What [`L1Client::send_tx`] tracks about one purpose in flight.
struct Flight<'a> {
    call: &'static str,
    from: Address,
    request: TransactionRequest,
    nonce: u64,
    fees: Fees,
    hashes: Vec<B256>,
    opts: SendOptions<'a>,
}

impl Flight<'_> {
    fn latest_hash(&self) -> B256 {
        self.hashes.last().copied().unwrap_or_default()
    }
}

/// Where a mined transaction stands after waiting for its depth.
enum Confirmation {
    Done(Box<TransactionReceipt>),
    ReorgedOut,
}

impl L1Client {
    /// Sets how transactions are priced, replaced and confirmed (default [`TxPolicy::default`]).
    pub fn with_tx_policy(mut self, policy: TxPolicy) -> Self {
        self.tx_policy = Arc::new(policy);
        self
    }

    /// The transaction policy in use.
    pub fn tx_policy(&self) -> &TxPolicy {
        &self.tx_policy
    }

    /// `account`'s transaction count at the latest block and including the node's pool
    /// (`(mined, pending)`): `pending > mined` while transactions of the account wait in the
    /// pool, such as one a reorg took out and the node put back.
    pub async fn nonces(&self, account: Address) -> Result<(u64, u64)> {
        let mined = self
            .provider
            .get_transaction_count(account)
            .latest()
            .await
            .map_err(|e| from_transport_error("eth_getTransactionCount", &e))?;
        let pending = self
            .provider
            .get_transaction_count(account)
            .pending()
            .await
            .map_err(|e| from_transport_error("eth_getTransactionCount", &e))?;
        Ok((mined, pending))
    }

    /// Counts transaction events (`epoch_rfq_l1_transactions_total`) in `metrics`.
    pub fn with_metrics(mut self, metrics: L1Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The EIP-1559 fees a transaction would be signed with now: alloy's estimate from the last
    /// blocks' fee history (twice the base fee plus the median 20th-percentile tip), capped at
    /// [`TxPolicy::max_fee_per_gas`].
    pub async fn estimate_fees(&self) -> Result<Fees> {
        let estimate = self
            .provider
            .estimate_eip1559_fees()
            .await
            .map_err(|e| from_transport_error("eth_feeHistory", &e))?;
        let mut fees = Fees {
            max_fee_per_gas: estimate.max_fee_per_gas,
            max_priority_fee_per_gas: estimate.max_priority_fee_per_gas,
        };
        // The fee history ends at the latest block; the next block's base fee can already be
        // higher (a spike), and a node refuses a transaction whose max fee is below it.
        if let Ok(Some(pending)) = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Pending)
            .await
            && let Some(next_base) = pending.header.base_fee_per_gas
        {
            let floor = u128::from(next_base)
                .saturating_mul(2)
                .saturating_add(fees.max_priority_fee_per_gas);
            fees.max_fee_per_gas = fees.max_fee_per_gas.max(floor);
        }
        Ok(fees.capped(self.tx_policy.max_fee_per_gas))
    }

    /// Whether blocks come on demand or on a short timer (anvil, hardhat: a test moving time
    /// makes gaps between blocks that say nothing about when the next one comes).
    fn dev_chain(&self) -> bool {
        DEV_CHAIN_IDS.contains(&self.info.chain_id)
    }

    /// Seconds between the latest two blocks (at least 1; 1 on a dev chain).
    async fn block_interval(&self, latest: u64, latest_time: u64) -> Result<u64> {
        if latest == 0 || self.dev_chain() {
            return Ok(1);
        }
        let parent = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Number(latest - 1))
            .await
            .map_err(|e| from_transport_error("eth_getBlockByNumber", &e))?;
        Ok(parent.map_or(1, |p| latest_time.saturating_sub(p.header.timestamp).max(1)))
    }

    /// Refuses to send when the next block would already be past `deadline` (the caller counts
    /// the abandon).
    async fn check_not_too_late(&self, call: &'static str, deadline: Deadline) -> Result<()> {
        let (latest, latest_time) = self.latest_l1_block().await?;
        let interval = self.block_interval(latest, latest_time).await?;
        if latest_time.saturating_add(interval) >= deadline.timestamp {
            return Err(L1Error::TooLate {
                call,
                what: deadline.what,
                deadline: deadline.timestamp,
                latest: latest_time,
                interval,
            });
        }
        Ok(())
    }

    /// The latest block's base fee (wei).
    pub async fn base_fee(&self) -> Result<u128> {
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await
            .map_err(|e| from_transport_error("eth_getBlockByNumber", &e))?
            .ok_or_else(|| L1Error::Rpc {
                call: "eth_getBlockByNumber",
                message: "the node returned no latest block".into(),
            })?;
        Ok(block.header.base_fee_per_gas.unwrap_or_default().into())
    }

    /// Refuses a fee cap below the chain's current base fee: no transaction could be mined
    /// until the base fee fell under it, and a claim or proof waiting for that misses its
    /// deadline. Call at start.
    pub async fn check_fee_cap(&self) -> Result<()> {
        let base_fee = self.base_fee().await?;
        let cap = self.tx_policy.max_fee_per_gas;
        if cap < base_fee {
            return Err(L1Error::FeeCapTooLow {
                cap: format_gwei(cap),
                base_fee: format_gwei(base_fee),
                suggested: format_gwei(base_fee.saturating_mul(4)),
            });
        }
        if cap < base_fee.saturating_mul(2) {
            tracing::warn!(
                cap = %format_gwei(cap),
                base_fee = %format_gwei(base_fee),
                "L1_MAX_FEE_PER_GAS_GWEI is less than twice the current base fee: a fee spike will stall claims and proofs"
            );
        }
        Ok(())
    }

    fn count(&self, call: &'static str, event: TxEvent) {
        if let Some(m) = &self.metrics {
            m.record_tx(call, event);
        }
    }

    /// Simulates `builder` (a revert is decoded before anything is signed), signs it with fees
    /// from the fee history under the cap and a nonce of its own, sends it, and follows it until
    /// it is mined and [`TxPolicy::confirmations`] deep: replaced with higher fees when it waits
    /// [`TxPolicy::replace_after_blocks`] blocks (every block once the deadline is near),
    /// re-broadcast when the node forgets it, followed again when a reorg takes it out, and
    /// abandoned with [`L1Error::Abandoned`] when the next block would be past
    /// `opts.deadline`. Gives up waiting after the client's receipt timeout.
    pub async fn send_tx<P, C>(
        &self,
        call: &'static str,
        builder: SolCallBuilder<P, C>,
        opts: SendOptions<'_>,
    ) -> Result<TransactionReceipt>
    where
        P: Provider + Clone,
        C: SolCall,
    {
        let from = self.signer_address(call)?;
        let builder = builder.from(from);
        // The simulation, the deadline check and the fee estimate go out together (a deadline
        // is often a slot's end: every round trip before the send counts).
        let simulate = async {
            // A revert here comes with its data, decoded before anything is signed.
            builder
                .call_raw()
                .await
                .map_err(|e| from_contract_error(call, e))
        };
        let in_time = async {
            match opts.deadline {
                Some(deadline) => self.check_not_too_late(call, deadline).await,
                None => Ok(()),
            }
        };
        let (simulated, in_time, fees) = tokio::join!(simulate, in_time, self.estimate_fees());
        // In this order: a revert says more than lateness, lateness more than a fee read.
        simulated?;
        if let Err(e) = in_time {
            if matches!(e, L1Error::TooLate { .. }) {
                self.count(call, TxEvent::abandoned);
            }
            return Err(e);
        }
        let mut fees = fees?;
        let gas = match self.gas_limit {
            Some(gas) => gas,
            // With the fees it will be sent with: a node checks them against the next block's
            // base fee, which the fee history cannot show (raised like in `send_first`).
            None => loop {
                let estimated = builder
                    .clone()
                    .max_fee_per_gas(fees.max_fee_per_gas)
                    .max_priority_fee_per_gas(fees.max_priority_fee_per_gas)
                    .estimate_gas()
                    .await
                    .map_err(|e| from_contract_error(call, e));
                match estimated {
                    Ok(gas) => break gas,
                    Err(err) => fees = self.raise_below_base_fee(call, fees, err)?,
                }
            },
        };
        let request = builder
            .clone()
            .into_transaction_request()
            .with_gas_limit(gas);
        let (reserved, tx_hash, fees) = {
            // Two sends never read the same pending count.
            let _sending = self.send_lock.lock().await;
            let pending = self
                .provider
                .get_transaction_count(from)
                .pending()
                .await
                .map_err(|e| from_transport_error("eth_getTransactionCount", &e))?;
            let reserved = self.nonces.reserve(pending);
            let (tx_hash, fees) = self
                .send_first(call, &request, reserved.nonce, fees)
                .await?;
            (reserved, tx_hash, fees)
        };
        let nonce = reserved.nonce;
        let mut flight = Flight {
            call,
            from,
            request,
            nonce,
            fees,
            hashes: vec![tx_hash],
            opts,
        };
        self.count(call, TxEvent::sent);
        self.tell(&flight, 0);
        tracing::debug!(%tx_hash, call, nonce, max_fee = %format_gwei(fees.max_fee_per_gas), "transaction sent");
        let receipt = self.follow(&mut flight).await?;
        if receipt.status() {
            self.count(call, TxEvent::mined);
            return Ok(receipt);
        }
        self.count(call, TxEvent::reverted);
        // Reverted on chain: replay at the block it was mined in. With one transaction per block
        // (anvil's automine) that state is the one it ran against; otherwise it is the best
        // available reconstruction, and an unknown reason is reported as such.
        let revert = match receipt.block_number {
            Some(n) => match builder.call_raw().block(BlockId::number(n)).await {
                Err(e) => match from_contract_error(call, e) {
                    L1Error::Reverted { revert, .. } => revert,
                    _ => Box::new(Revert::Unknown(Default::default())),
                },
                Ok(_) => Box::new(Revert::Unknown(Default::default())),
            },
            None => Box::new(Revert::Unknown(Default::default())),
        };
        Err(L1Error::Reverted {
            call,
            revert,
            tx_hash: Some(receipt.transaction_hash),
        })
    }

    /// Follows a transaction sent earlier (e.g. before a restart), rebuilt from the chain's own
    /// copy: replaced when stuck, re-broadcast when dropped, confirmed at depth, abandoned at
    /// `opts.deadline`, like [`Self::send_tx`]. `Ok(None)` when the node does not know the hash
    /// (dropped before the restart, or never sent). The receipt is returned whatever its status.
    pub async fn follow_sent(
        &self,
        call: &'static str,
        tx_hash: B256,
        opts: SendOptions<'_>,
    ) -> Result<Option<TransactionReceipt>> {
        let from = self.signer_address(call)?;
        let Some(tx) = self
            .provider
            .get_transaction_by_hash(tx_hash)
            .await
            .map_err(|e| from_transport_error("eth_getTransactionByHash", &e))?
        else {
            return Ok(None);
        };
        let sender = tx.inner.signer();
        if sender != from {
            return Err(L1Error::InvalidArgument(format!(
                "{tx_hash} was sent by {sender}, not by this client's account {from}"
            )));
        }
        let mut request = tx.into_request();
        request.from = Some(from);
        let nonce = request.nonce.take().unwrap_or_default();
        let fees = Fees {
            max_fee_per_gas: request
                .max_fee_per_gas
                .take()
                .or(request.gas_price.take())
                .unwrap_or_default(),
            max_priority_fee_per_gas: request.max_priority_fee_per_gas.take().unwrap_or_default(),
        };
        let _reserved = self.nonces.hold(nonce);
        let mut flight = Flight {
            call,
            from,
            request,
            nonce,
            fees,
            hashes: vec![tx_hash],
            opts,
        };
        self.follow(&mut flight).await.map(Some)
    }

    /// The first broadcast. A node that refuses it because its max fee is below the next
    /// block's base fee (the fee history ends at the latest block; a spike can already be set
    /// for the next one) gets it again with the max fee doubled, up to the cap.
    async fn send_first(
        &self,
        call: &'static str,
        request: &TransactionRequest,
        nonce: u64,
        mut fees: Fees,
    ) -> Result<(B256, Fees)> {
        loop {
            match self.sign_and_send(call, request, nonce, fees).await {
                Ok(hash) => return Ok((hash, fees)),
                Err(err) => fees = self.raise_below_base_fee(call, fees, err)?,
            }
        }
    }

    /// `err` when it is not a refusal for a max fee below the base fee, or the cap is reached;
    /// otherwise the fees with the max fee doubled (up to the cap).
    fn raise_below_base_fee(&self, call: &'static str, fees: Fees, err: L1Error) -> Result<Fees> {
        let cap = self.tx_policy.max_fee_per_gas;
        if !below_base_fee(&err) {
            return Err(err);
        }
        if fees.max_fee_per_gas >= cap {
            return Err(L1Error::Rpc {
                call,
                message: format!(
                    "{err}; the max fee is already at L1_MAX_FEE_PER_GAS_GWEI ({}): the base fee is above the cap",
                    format_gwei(cap)
                ),
            });
        }
        let doubled = fees.max_fee_per_gas.saturating_mul(2).min(cap);
        tracing::info!(
            call,
            from = %format_gwei(fees.max_fee_per_gas),
            to = %format_gwei(doubled),
            "the L1 node wants a higher max fee (base fee rising); raising it"
        );
        Ok(Fees {
            max_fee_per_gas: doubled,
            ..fees
        })
    }

    async fn sign_and_send(
        &self,
        call: &'static str,
        request: &TransactionRequest,
        nonce: u64,
        fees: Fees,
    ) -> Result<B256> {
        let request = request
            .clone()
            .with_nonce(nonce)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        let pending = self
            .provider
            .send_transaction(request)
            .await
            .map_err(|e| from_transport_error(call, &e))?;
        Ok(*pending.tx_hash())
    }

    fn tell(&self, flight: &Flight<'_>, attempt: u32) {
        if let Some(observer) = flight.opts.observer {
            observer.broadcast(&Broadcast {
                call: flight.call,
                tx_hash: flight.latest_hash(),
                nonce: flight.nonce,
                attempt,
                fees: flight.fees,
            });
        }
    }

    /// Follows `flight` until one of its hashes is mined and deep enough.
    async fn follow(&self, flight: &mut Flight<'_>) -> Result<TransactionReceipt> {
        let call = flight.call;
        let give_up = tokio::time::Instant::now() + self.receipt_timeout;
        let poll = self.tx_policy.poll_interval;
        let (mut last_head, mut last_time) = self.latest_l1_block().await?;
        let mut block_interval = 1u64;
        let mut unmined_blocks = 0u64;
        let mut consumed_polls = 0u32;
        let mut cap_warned = false;
        loop {
            if let Some(receipt) = self.mined_receipt(flight, &mut consumed_polls).await? {
                match self.confirm(flight, receipt, give_up).await? {
                    Confirmation::Done(receipt) => return Ok(*receipt),
                    Confirmation::ReorgedOut => {
                        self.count(call, TxEvent::reorged_out);
                        tracing::warn!(
                            call,
                            nonce = flight.nonce,
                            "transaction reorged out of L1; following it again"
                        );
                        unmined_blocks = 0;
                    }
                }
            }
            if tokio::time::Instant::now() >= give_up {
                return Err(L1Error::StillPending {
                    call,
                    tx_hash: flight.latest_hash(),
                    state: format!(
                        "not mined (nonce {}, {} broadcast(s))",
                        flight.nonce,
                        flight.hashes.len()
                    ),
                    waited_s: self.receipt_timeout.as_secs(),
                });
            }
            let head = self
                .provider
                .get_block_number()
                .await
                .map_err(|e| from_transport_error("eth_blockNumber", &e))?;
            if head > last_head {
                let (number, time) = self.latest_l1_block().await?;
                if number > last_head {
                    if !self.dev_chain() {
                        block_interval =
                            (time.saturating_sub(last_time) / (number - last_head)).max(1);
                    }
                    unmined_blocks += number - last_head;
                    (last_head, last_time) = (number, time);
                }
                let mut urgent = false;
                if let Some(deadline) = flight.opts.deadline {
                    if last_time + block_interval >= deadline.timestamp {
                        return Err(self.abandon(flight, deadline, last_time).await);
                    }
                    let blocks_left = (deadline.timestamp - last_time) / block_interval;
                    urgent = blocks_left <= self.tx_policy.urgent_within_blocks();
                }
                self.rebroadcast_if_forgotten(flight).await?;
                self.fill_nonce_gap(flight).await?;
                let threshold = if urgent {
                    1
                } else {
                    self.tx_policy.replace_after_blocks.max(1)
                };
                if unmined_blocks >= threshold {
                    let percent = if urgent {
                        URGENT_BUMP_PERCENT
                    } else {
                        BUMP_PERCENT
                    };
                    if self
                        .replace(flight, percent, unmined_blocks, &mut cap_warned)
                        .await
                    {
                        unmined_blocks = 0;
                    }
                }
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// The receipt of whichever of `flight`'s hashes was mined, once the account's mined nonce
    /// has passed the flight's.
    async fn mined_receipt(
        &self,
        flight: &Flight<'_>,
        consumed_polls: &mut u32,
    ) -> Result<Option<TransactionReceipt>> {
        let mined_nonce = self
            .provider
            .get_transaction_count(flight.from)
            .latest()
            .await
            .map_err(|e| from_transport_error("eth_getTransactionCount", &e))?;
        if mined_nonce <= flight.nonce {
            *consumed_polls = 0;
            return Ok(None);
        }
        for hash in flight.hashes.iter().rev() {
            if let Some(receipt) = self
                .provider
                .get_transaction_receipt(*hash)
                .await
                .map_err(|e| from_transport_error("eth_getTransactionReceipt", &e))?
            {
                return Ok(Some(receipt));
            }
        }
        // The nonce is used but by none of our hashes: a lagging endpoint (try a few more
        // polls) or another transaction of this key.
        *consumed_polls += 1;
        if *consumed_polls >= 10 {
            return Err(L1Error::NonceTaken {
                call: flight.call,
                nonce: flight.nonce,
                account: flight.from,
            });
        }
        Ok(None)
    }

    /// Waits until `receipt`'s block is [`TxPolicy::confirmations`] deep and checks the
    /// transaction is still there.
    async fn confirm(
        &self,
        flight: &Flight<'_>,
        mut receipt: TransactionReceipt,
        give_up: tokio::time::Instant,
    ) -> Result<Confirmation> {
        let depth = self.tx_policy.confirmations;
        if depth == 0 {
            return Ok(Confirmation::Done(Box::new(receipt)));
        }
        loop {
            let mined_at = receipt.block_number.unwrap_or_default();
            let head = self
                .provider
                .get_block_number()
                .await
                .map_err(|e| from_transport_error("eth_blockNumber", &e))?;
            if head >= mined_at + depth {
                let again = self
                    .provider
                    .get_transaction_receipt(receipt.transaction_hash)
                    .await
                    .map_err(|e| from_transport_error("eth_getTransactionReceipt", &e))?;
                match again {
                    None => return Ok(Confirmation::ReorgedOut),
                    Some(again) if again.block_hash == receipt.block_hash => {
                        return Ok(Confirmation::Done(Box::new(again)));
                    }
                    // Reorged into another block: count the depth from there.
                    Some(again) => receipt = again,
                }
                continue;
            }
            if tokio::time::Instant::now() >= give_up {
                return Err(L1Error::StillPending {
                    call: flight.call,
                    tx_hash: receipt.transaction_hash,
                    state: format!("mined in block {mined_at} but not {depth} blocks deep"),
                    waited_s: self.receipt_timeout.as_secs(),
                });
            }
            tokio::time::sleep(self.tx_policy.poll_interval).await;
        }
    }

    /// Sends the latest broadcast again (same nonce, fees and so the same hash) if the node no
    /// longer knows it: dropped from its pool, or reorged out and not re-added.
    async fn rebroadcast_if_forgotten(&self, flight: &Flight<'_>) -> Result<()> {
        let hash = flight.latest_hash();
        let known = self
            .provider
            .get_transaction_by_hash(hash)
            .await
            .map_err(|e| from_transport_error("eth_getTransactionByHash", &e))?
            .is_some();
        if known {
            return Ok(());
        }
        match self
            .sign_and_send(flight.call, &flight.request, flight.nonce, flight.fees)
            .await
        {
            Ok(again) => {
                self.count(flight.call, TxEvent::rebroadcast);
                tracing::warn!(call = flight.call, tx_hash = %again, nonce = flight.nonce, "the L1 node forgot the transaction; sent it again");
            }
            // Mined meanwhile ("nonce too low"), or known after all: the next poll sees it.
            Err(e) => tracing::debug!(call = flight.call, error = %e, "re-broadcast refused"),
        }
        Ok(())
    }

    /// Fills the nonces below the flight's that the node has no transaction for and that no
    /// other flight of ours holds, with zero-value self-transfers: without them the flight's
    /// transaction can never be mined. Such a gap is left by a transaction nobody follows any
    /// more (the cancel of an abandoned flight, or a finished one) that a reorg took out and
    /// the node forgot. The node's pending count stops at the first missing nonce, so a count
    /// below the flight's nonce is a gap.
    async fn fill_nonce_gap(&self, flight: &Flight<'_>) -> Result<()> {
        let pending = self
            .provider
            .get_transaction_count(flight.from)
            .pending()
            .await
            .map_err(|e| from_transport_error("eth_getTransactionCount", &e))?;
        if pending >= flight.nonce {
            return Ok(());
        }
        let missing: Vec<u64> = {
            let held = self.nonces.set();
            (pending..flight.nonce)
                .filter(|n| !held.contains(n))
                .take(MAX_GAP_FILL)
                .collect()
        };
        if missing.is_empty() {
            // Held by flights of ours: each re-broadcasts its own.
            return Ok(());
        }
        let fees = self.estimate_fees().await?;
        let request = self_transfer(flight.from);
        for nonce in missing {
            match self.sign_and_send("gap", &request, nonce, fees).await {
                Ok(hash) => {
                    self.count(flight.call, TxEvent::gap_filled);
                    tracing::warn!(
                        call = flight.call,
                        flight_nonce = flight.nonce,
                        nonce,
                        tx_hash = %hash,
                        "nonce gap below our transaction (a transaction of ours reorged out and \
                         forgotten): filled it with a zero-value self-transfer"
                    );
                }
                // Filled meanwhile ("nonce too low", "already known", underpriced against a
                // copy the node has after all): the next check sees.
                Err(e) => tracing::debug!(nonce, error = %e, "nonce gap fill refused"),
            }
        }
        Ok(())
    }

    /// Replaces the flight's transaction with fees raised by `percent`; false when the cap
    /// leaves no room or the node refused it.
    async fn replace(
        &self,
        flight: &mut Flight<'_>,
        percent: u128,
        waited_blocks: u64,
        cap_warned: &mut bool,
    ) -> bool {
        let fresh = self.estimate_fees().await.unwrap_or(Fees {
            max_fee_per_gas: 0,
            max_priority_fee_per_gas: 0,
        });
        let cap = self.tx_policy.max_fee_per_gas;
        let Some(next) = flight.fees.bumped(percent, fresh, cap) else {
            if !*cap_warned {
                *cap_warned = true;
                tracing::warn!(
                    call = flight.call,
                    nonce = flight.nonce,
                    max_fee = %format_gwei(flight.fees.max_fee_per_gas),
                    cap = %format_gwei(cap),
                    "transaction not mined and its fee is at L1_MAX_FEE_PER_GAS_GWEI: waiting for the base fee to fall"
                );
            }
            return false;
        };
        match self
            .sign_and_send(flight.call, &flight.request, flight.nonce, next)
            .await
        {
            Ok(hash) => {
                tracing::info!(
                    call = flight.call,
                    nonce = flight.nonce,
                    waited_blocks,
                    old_max_fee = %format_gwei(flight.fees.max_fee_per_gas),
                    new_max_fee = %format_gwei(next.max_fee_per_gas),
                    tx_hash = %hash,
                    "transaction not mined: replaced with higher fees"
                );
                flight.fees = next;
                flight.hashes.push(hash);
                self.count(flight.call, TxEvent::replaced);
                self.tell(flight, (flight.hashes.len() - 1) as u32);
                true
            }
            Err(e) => {
                // "nonce too low": one of the broadcasts was mined meanwhile (the next poll
                // finds it); anything else is worth a line.
                if e.to_string().contains("nonce too low") {
                    tracing::debug!(
                        call = flight.call,
                        nonce = flight.nonce,
                        "replacement not needed: already mined"
                    );
                } else {
                    tracing::warn!(call = flight.call, nonce = flight.nonce, error = %e, "replacement refused by the L1 node");
                }
                false
            }
        }
    }

    /// Gives the flight up: frees its nonce with a zero-value self-transfer at higher fees (so
    /// the account's later transactions are not stuck behind it) and says so. Without room under
    /// the cap for that, the original stays in the pool and the node's pending count skips it.
    async fn abandon(&self, flight: &Flight<'_>, deadline: Deadline, latest_time: u64) -> L1Error {
        self.count(flight.call, TxEvent::abandoned);
        let fresh = self.estimate_fees().await.unwrap_or(flight.fees);
        let cancel = flight
            .fees
            .bumped(URGENT_BUMP_PERCENT, fresh, self.tx_policy.max_fee_per_gas);
        let cancelled = match cancel {
            Some(fees) => self
                .sign_and_send("cancel", &self_transfer(flight.from), flight.nonce, fees)
                .await
                .is_ok(),
            None => false,
        };
        tracing::error!(
            call = flight.call,
            nonce = flight.nonce,
            tx_hash = %flight.latest_hash(),
            deadline = deadline.timestamp,
            latest_block_time = latest_time,
            max_fee = %format_gwei(flight.fees.max_fee_per_gas),
            cancelled,
            "transaction abandoned: it can no longer be mined before the {}", deadline.what
        );
        L1Error::Abandoned {
            call: flight.call,
            what: deadline.what,
            deadline: deadline.timestamp,
            tx_hash: flight.latest_hash(),
            broadcasts: flight.hashes.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fees(max: u128, tip: u128) -> Fees {
        Fees {
            max_fee_per_gas: max,
            max_priority_fee_per_gas: tip,
        }
    }

    #[test]
    fn bump_raises_both_fields_enough_for_every_pool() {
        let old = fees(10_000, 1_000);
        let next = old
            .bumped(BUMP_PERCENT, fees(0, 0), u128::MAX)
            .expect("room");
        assert_eq!(next, fees(12_000, 1_200));
        // A fresh estimate above the bump wins.
        let next = old
            .bumped(BUMP_PERCENT, fees(50_000, 900), u128::MAX)
            .expect("room");
        assert_eq!(next, fees(50_000, 1_200));
        // Tiny values still move (a 1-wei tip would otherwise stay 1).
        assert_eq!(
            fees(1, 1).bumped(BUMP_PERCENT, fees(0, 0), u128::MAX),
            Some(fees(2, 2))
        );
    }

    #[test]
    fn bump_refused_when_the_cap_leaves_less_than_twelve_and_a_half_percent() {
        let old = fees(10_000, 1_000);
        assert_eq!(old.bumped(BUMP_PERCENT, fees(0, 0), 11_000), None);
        // Exactly +12.5% is accepted.
        assert_eq!(
            old.bumped(BUMP_PERCENT, fees(0, 0), 11_250),
            Some(fees(11_250, 1_200))
        );
    }

    #[test]
    fn cap_applies_to_estimates_and_tip() {
        assert_eq!(fees(500, 400).capped(300), fees(300, 300));
        assert_eq!(fees(500, 40).capped(300), fees(300, 40));
    }

    #[test]
    fn gwei_parsing_and_formatting() {
        assert_eq!(parse_gwei("200"), Ok(200_000_000_000));
        assert_eq!(parse_gwei("1.5"), Ok(1_500_000_000));
        assert_eq!(parse_gwei("0.000000001"), Ok(1));
        for bad in ["", ".", "-1", "1e9", "1.0000000001", "abc"] {
            let err = parse_gwei(bad).expect_err(bad);
            assert!(err.contains("gwei"), "{err}");
        }
        assert_eq!(format_gwei(12_500_000_000), "12.5 gwei");
        assert_eq!(format_gwei(200_000_000_000), "200 gwei");
    }

    #[test]
    fn dev_chains_confirm_at_once() {
        assert_eq!(TxPolicy::default_confirmations(31337), 0);
        assert_eq!(TxPolicy::default_confirmations(1), DEFAULT_CONFIRMATIONS);
    }
}
