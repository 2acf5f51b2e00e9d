//! L1 transactions that are recorded in the store *before* their outcome is awaited.
//!
//! `L1Client`'s own sending methods only return once the receipt is in: a crash (or a receipt
//! timeout) in between would leave the prover not knowing whether its deposit or proof landed,
//! and a naive retry could deposit twice. Here the hash is written to the store as soon as the
//! node has accepted the transaction; [`resolve`] later settles it from the chain.

use std::sync::Arc;
use std::time::Duration;

use epoch_rfq_l1::alloy::contract::SolCallBuilder;
use epoch_rfq_l1::alloy::primitives::B256;
use epoch_rfq_l1::alloy::providers::Provider;
use epoch_rfq_l1::alloy::rpc::types::TransactionReceipt;
use epoch_rfq_l1::alloy::sol_types::SolCall;
use epoch_rfq_l1::alloy::transports::TransportError;
use epoch_rfq_l1::{L1Client, L1Error, Revert, decode_revert};
use parking_lot::Mutex;

use crate::store::{ProverStore, StoreError};

/// The store shared by the prover's services and its jobs. Never locked across an
/// `.await` (every store call is a short synchronous SQLite transaction).
pub type SharedStore = Arc<Mutex<ProverStore>>;

/// A transaction failure: L1 or the store.
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    /// L1 refused or failed.
    #[error(transparent)]
    L1(#[from] L1Error),
    /// The store failed (the transaction may have been sent; it is not recorded).
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn transport(call: &'static str, err: &TransportError) -> L1Error {
    if let Some(data) = err.as_error_resp().and_then(|r| r.as_revert_data()) {
        return L1Error::Reverted {
            call,
            revert: Box::new(decode_revert(&data)),
            tx_hash: None,
        };
    }
    L1Error::Rpc {
        call,
        message: err.to_string(),
    }
}

fn contract(call: &'static str, err: epoch_rfq_l1::alloy::contract::Error) -> L1Error {
    if let Some(data) = err.as_revert_data() {
        return L1Error::Reverted {
            call,
            revert: Box::new(decode_revert(&data)),
            tx_hash: None,
        };
    }
    L1Error::Rpc {
        call,
        message: err.to_string(),
    }
}

/// What a recorded transaction is: the contract function (for errors) and the store's `kind`
/// and `epoch`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TxKind {
    call: &'static str,
    kind: &'static str,
    epoch: Option<u64>,
}

impl TxKind {
    pub(crate) fn new(call: &'static str, kind: &'static str, epoch: Option<u64>) -> Self {
        Self { call, kind, epoch }
    }
}

/// Simulates `builder` (a revert is reported decoded, before anything is signed), sends it,
/// records the hash under `kind`/`epoch` and calls `on_sent` (both before waiting), then waits
/// up to `receipt_timeout` for the receipt and records the outcome.
pub(crate) async fn send_recorded<P, C>(
    l1: &L1Client,
    store: &SharedStore,
    what: TxKind,
    builder: SolCallBuilder<P, C>,
    receipt_timeout: Duration,
    on_sent: impl FnOnce(&ProverStore, B256) -> Result<(), StoreError>,
) -> Result<TransactionReceipt, TxError>
where
    P: Provider,
    C: SolCall,
{
    let TxKind { call, kind, epoch } = what;
    let from = l1.sender().ok_or(L1Error::NoSigner { call })?;
    let builder = builder.from(from);
    builder.call_raw().await.map_err(|e| contract(call, e))?;
    let pending = {
        // One nonce at a time for this account (see `L1Client::send_lock`).
        let _sending = l1.send_lock().await;
        builder.send().await.map_err(|e| contract(call, e))?
    };
    let tx_hash = *pending.tx_hash();
    {
        let db = store.lock();
        db.record_tx(&tx_hash.to_string(), kind, epoch)?;
        on_sent(&db, tx_hash)?;
    }
    tracing::debug!(%tx_hash, call, "transaction sent");
    let receipt = wait_receipt(l1, tx_hash, receipt_timeout)
        .await?
        .ok_or_else(|| L1Error::Rpc {
            call,
            message: format!(
                "no receipt for {tx_hash} after {} s (recorded; checked again before any resend)",
                receipt_timeout.as_secs()
            ),
        })?;
    let outcome = if receipt.status() {
        "mined"
    } else {
        "reverted"
    };
    store.lock().finish_tx(&tx_hash.to_string(), outcome)?;
    if !receipt.status() {
        // Replaying at the mined block to decode the reason is what L1Client does; callers here
        // re-read the state they care about instead, so the reason stays unknown.
        return Err(L1Error::Reverted {
            call,
            revert: Box::new(Revert::Unknown(Default::default())),
            tx_hash: Some(tx_hash),
        }
        .into());
    }
    Ok(receipt)
}

/// Polls for `tx_hash`'s receipt for up to `timeout`.
pub(crate) async fn wait_receipt(
    l1: &L1Client,
    tx_hash: B256,
    timeout: Duration,
) -> Result<Option<TransactionReceipt>, L1Error> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let receipt = l1
            .provider()
            .get_transaction_receipt(tx_hash)
            .await
            .map_err(|e| transport("eth_getTransactionReceipt", &e))?;
        if receipt.is_some() || tokio::time::Instant::now() >= deadline {
            return Ok(receipt);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What happened to a recorded transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Mined and succeeded.
    Mined,
    /// Mined and reverted.
    Reverted,
    /// Unknown to the node: it will never be mined (as sent).
    Dropped,
    /// Still waiting in the node's pool after `timeout`.
    StillPending,
}

/// Settles a recorded transaction from the chain (receipt, else whether the node still knows
/// it, waiting up to `timeout` for a pending one) and records the outcome.
pub(crate) async fn resolve(
    l1: &L1Client,
    store: &SharedStore,
    tx_hash: &str,
    timeout: Duration,
) -> Result<Settled, TxError> {
    let hash: B256 = tx_hash.parse().map_err(|_| StoreError::Corrupt {
        column: "l1_txs.tx_hash",
        value: tx_hash.to_owned(),
    })?;
    let mut receipt = wait_receipt(l1, hash, Duration::ZERO).await?;
    if receipt.is_none() {
        let known = l1
            .provider()
            .get_transaction_by_hash(hash)
            .await
            .map_err(|e| transport("eth_getTransactionByHash", &e))?
            .is_some();
        if !known {
            store.lock().finish_tx(tx_hash, "dropped")?;
            return Ok(Settled::Dropped);
        }
        receipt = wait_receipt(l1, hash, timeout).await?;
    }
    let Some(receipt) = receipt else {
        return Ok(Settled::StillPending);
    };
    let settled = if receipt.status() {
        Settled::Mined
    } else {
        Settled::Reverted
    };
    let outcome = if receipt.status() {
        "mined"
    } else {
        "reverted"
    };
    store.lock().finish_tx(tx_hash, outcome)?;
    Ok(settled)
}
