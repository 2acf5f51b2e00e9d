//! Validation of received gossip on every core: a bounded pool of tokio tasks.
//!
//! The service hands each received message to the application through a bounded queue
//! (`incoming_capacity`); the application submits it to a [`ValidationPool`], which runs at most
//! `validation_workers` validations at once on the runtime's worker threads and reports each
//! verdict to gossipsub when it is done. When every worker is busy, [`ValidationPool::submit`]
//! waits, the queue fills, and the service drops further messages with an `Ignore` report,
//! counted as `dropped`: memory stays bounded (queue + workers), nobody is penalised, and the
//! network is never blocked.
//!
//! Validations finish in any order. A verdict is reported for its own message id, so the order
//! does not matter to gossipsub; the application's state (the quote pool) must give the same
//! result in any order (see the node's tests).

use std::{future::Future, sync::Arc};

use tokio::sync::Semaphore;

use crate::{IncomingMessage, P2pHandle, Validation};

/// Runs the application's validation of [`IncomingMessage`]s on a bounded set of tasks.
#[derive(Clone, Debug)]
pub struct ValidationPool {
    handle: P2pHandle,
    permits: Arc<Semaphore>,
    workers: usize,
}

impl ValidationPool {
    /// A pool of `handle.validation_workers()` workers (`P2pConfig::validation_workers`, one per
    /// core by default) reporting to `handle`.
    pub fn new(handle: P2pHandle) -> Self {
        let workers = handle.validation_workers().max(1);
        Self::with_workers(handle, workers)
    }

    /// A pool of `workers` (at least 1) workers.
    pub fn with_workers(handle: P2pHandle, workers: usize) -> Self {
        let workers = workers.max(1);
        Self {
            handle,
            permits: Arc::new(Semaphore::new(workers)),
            workers,
        }
    }

    /// How many validations run at once.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Waits for a free worker (back-pressure), then validates `message` with `validate` on a
    /// new tokio task and reports the verdict for it.
    pub async fn submit<F, Fut>(&self, message: IncomingMessage, validate: F)
    where
        F: FnOnce(IncomingMessage) -> Fut + Send + 'static,
        Fut: Future<Output = Validation> + Send + 'static,
    {
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return; // the semaphore is never closed
        };
        let handle = self.handle.clone();
        handle.counters().validation_in_flight.inc();
        tokio::spawn(async move {
            let (id, source) = (message.id.clone(), message.source);
            let verdict = validate(message).await;
            handle.counters().validation_in_flight.dec();
            drop(permit);
            if let Err(e) = handle.report(id, source, verdict) {
                tracing::debug!(error = %e, "validation report failed (service stopping?)");
            }
        });
    }

    /// Waits until every submitted validation has finished.
    pub async fn idle(&self) {
        let n = u32::try_from(self.workers).unwrap_or(u32::MAX);
        if let Ok(all) = self.permits.acquire_many(n).await {
            drop(all);
        }
    }
}
