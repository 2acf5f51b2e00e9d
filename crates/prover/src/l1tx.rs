//! L1 transactions that are recorded in the store *before* their outcome is awaited.
//!
//! `L1Client`'s own sending methods only return once the receipt is in: a crash (or a receipt
//! timeout) in between would leave the prover not knowing whether its deposit or proof landed,
//! and a naive retry could deposit twice. Here every hash of a transaction (the first and each
//! fee-bumped replacement, all with one nonce) is written to the store as soon as the node has
//! accepted it; [`resolve`] later settles it from the chain, following the node's own copy
//! (and replacing it if it is stuck).

use std::sync::Arc;
use std::time::Duration;

use epoch_rfq_l1::alloy::contract::SolCallBuilder;
use epoch_rfq_l1::alloy::primitives::B256;
use epoch_rfq_l1::alloy::providers::Provider;
use epoch_rfq_l1::alloy::rpc::types::TransactionReceipt;
use epoch_rfq_l1::alloy::sol_types::SolCall;
use epoch_rfq_l1::txsend::{Broadcast, Deadline, SendOptions, TxObserver};
use epoch_rfq_l1::{L1Client, L1Error};
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

/// Records every broadcast of one purpose (first and replacements) in the store before it is
/// waited on, and calls `on_sent` with each hash.
struct Recorder<'a, F> {
    store: &'a SharedStore,
    what: TxKind,
    on_sent: F,
    hashes: Mutex<Vec<B256>>,
    failed: Mutex<Option<StoreError>>,
}

impl<'a, F> Recorder<'a, F>
where
    F: Fn(&ProverStore, B256) -> Result<(), StoreError> + Send + Sync,
{
    fn new(store: &'a SharedStore, what: TxKind, on_sent: F) -> Self {
        Self {
            store,
            what,
            on_sent,
            hashes: Mutex::new(Vec::new()),
            failed: Mutex::new(None),
        }
    }

    /// Records the outcome: `mined`/`reverted` for the hash that was mined, `replaced` for every
    /// other broadcast of the purpose. Then reports a recording failure, if any.
    fn settle(&self, mined: Option<(B256, &str)>) -> Result<(), StoreError> {
        if let Some(err) = self.failed.lock().take() {
            return Err(err);
        }
        let Some((mined, outcome)) = mined else {
            return Ok(());
        };
        let db = self.store.lock();
        for hash in self.hashes.lock().iter() {
            let state = if *hash == mined { outcome } else { "replaced" };
            db.finish_tx(&hash.to_string(), state)?;
        }
        Ok(())
    }
}

impl<F> TxObserver for Recorder<'_, F>
where
    F: Fn(&ProverStore, B256) -> Result<(), StoreError> + Send + Sync,
{
    fn broadcast(&self, sent: &Broadcast) {
        self.hashes.lock().push(sent.tx_hash);
        let TxKind { call, kind, epoch } = self.what;
        let db = self.store.lock();
        let recorded = db
            .record_tx(&sent.tx_hash.to_string(), kind, epoch)
            .and_then(|()| (self.on_sent)(&db, sent.tx_hash));
        if let Err(err) = recorded {
            // The transaction is out and still followed; the failure is reported when it settles.
            tracing::error!(call, tx_hash = %sent.tx_hash, %err, "cannot record a sent L1 transaction");
            self.failed.lock().get_or_insert(err);
        }
    }
}

fn settled_by(result: &Result<TransactionReceipt, L1Error>) -> Option<(B256, &'static str)> {
    match result {
        Ok(receipt) if receipt.status() => Some((receipt.transaction_hash, "mined")),
        Ok(receipt) => Some((receipt.transaction_hash, "reverted")),
        Err(L1Error::Reverted {
            tx_hash: Some(hash),
            ..
        }) => Some((*hash, "reverted")),
        Err(_) => None,
    }
}

/// Sends `builder` through [`L1Client::send_tx`] (fees under the cap, replacement when stuck,
/// confirmation depth, abandoned at `deadline`), recording every hash under `kind`/`epoch` and
/// calling `on_sent` with each (both before waiting), then records the outcome. Waits at most
/// `receipt_timeout`; a transaction still pending then stays recorded for [`resolve`].
pub(crate) async fn send_recorded<P, C>(
    l1: &L1Client,
    store: &SharedStore,
    what: TxKind,
    builder: SolCallBuilder<P, C>,
    receipt_timeout: Duration,
    deadline: Option<Deadline>,
    on_sent: impl Fn(&ProverStore, B256) -> Result<(), StoreError> + Send + Sync,
) -> Result<TransactionReceipt, TxError>
where
    P: Provider + Clone,
    C: SolCall,
{
    let recorder = Recorder::new(store, what, on_sent);
    let l1 = l1.clone().with_receipt_timeout(receipt_timeout);
    let opts = SendOptions {
        deadline,
        observer: Some(&recorder),
    };
    let result = l1.send_tx(what.call, builder, opts).await;
    recorder.settle(settled_by(&result))?;
    Ok(result?)
}

/// What happened to a recorded transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Mined and succeeded.
    Mined,
    /// Mined and reverted.
    Reverted,
    /// Unknown to the node, its nonce used by another transaction, or abandoned at its
    /// deadline: it will never be mined (as sent).
    Dropped,
    /// Still waiting in the node's pool after `timeout`.
    StillPending,
}

/// Settles a transaction recorded earlier (before a restart, or after a receipt timeout) from
/// the chain: the node's own copy of it is followed again (replaced when stuck, abandoned at
/// `deadline`) for up to `timeout`, and the outcome recorded. A hash the node does not know is
/// `Dropped`.
pub(crate) async fn resolve(
    l1: &L1Client,
    store: &SharedStore,
    what: TxKind,
    tx_hash: &str,
    timeout: Duration,
    deadline: Option<Deadline>,
    on_sent: impl Fn(&ProverStore, B256) -> Result<(), StoreError> + Send + Sync,
) -> Result<Settled, TxError> {
    let hash: B256 = tx_hash.parse().map_err(|_| StoreError::Corrupt {
        column: "l1_txs.tx_hash",
        value: tx_hash.to_owned(),
    })?;
    let recorder = Recorder::new(store, what, on_sent);
    recorder.hashes.lock().push(hash);
    let l1 = l1.clone().with_receipt_timeout(timeout);
    let opts = SendOptions {
        deadline,
        observer: Some(&recorder),
    };
    let followed = match l1.follow_sent(what.call, hash, opts).await {
        Ok(Some(receipt)) => Ok(receipt),
        Ok(None) => {
            recorder.settle(None)?;
            store.lock().finish_tx(tx_hash, "dropped")?;
            return Ok(Settled::Dropped);
        }
        Err(L1Error::StillPending { .. }) => {
            recorder.settle(None)?;
            return Ok(Settled::StillPending);
        }
        // The nonce went to another transaction (a replacement of this one recorded under its
        // own hash, or a transaction of another process): this hash will never be mined. Or it
        // can no longer land in time. Either way the caller reads the chain and decides anew.
        Err(err @ (L1Error::NonceTaken { .. } | L1Error::Abandoned { .. })) => {
            recorder.settle(None)?;
            let outcome = if matches!(err, L1Error::NonceTaken { .. }) {
                "superseded"
            } else {
                "abandoned"
            };
            tracing::info!(%tx_hash, %err, "a recorded transaction will not be mined");
            store.lock().finish_tx(tx_hash, outcome)?;
            return Ok(Settled::Dropped);
        }
        Err(err) => Err(err),
    };
    recorder.settle(settled_by(&followed))?;
    let receipt = followed?;
    Ok(if receipt.status() {
        Settled::Mined
    } else {
        Settled::Reverted
    })
}
