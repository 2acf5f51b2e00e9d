//! The job runner: one task per proving job (Claimed → Proving → Proven → Submitted →
//! Completed, every move a guarded store transition, so a restarted node resumes where the
//! store says). Jobs run beside the claim watcher and the quoter, never behind them.
//!
//! On stop, a job that is waiting for its proof transaction to settle is let finish (the
//! process's grace bounds it); any other job is stopped where it is. Either way the store
//! holds its state and any sent transaction, and the next start resumes it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use epoch_rfq_l1::alloy::primitives::{Bytes, U256};
use epoch_rfq_l1::txsend::Deadline;
use epoch_rfq_l1::{L1Error, Revert, RollupError, TimeParams};
use parking_lot::Mutex;
use tokio::task::JoinHandle;

use super::{JobError, ProverEvent, Shared};
use crate::epoch_prover::EpochData;
use crate::l1tx::{self, Settled, TxError};
use crate::store::JobState;

/// The running job tasks, by epoch.
#[derive(Debug, Default)]
pub(super) struct Jobs {
    running: Mutex<HashMap<u64, JobTask>>,
}

#[derive(Debug)]
struct JobTask {
    handle: JoinHandle<()>,
    /// Set while the job waits for an L1 transaction it sent: stopping then would leave the
    /// outcome to the next start, so a graceful stop lets it settle.
    settling: Arc<AtomicBool>,
}

impl Jobs {
    /// Starts the job for `epoch` unless it is already running.
    pub(super) fn start(&self, shared: &Arc<Shared>, epoch: u64, resumed: bool) {
        let mut running = self.running.lock();
        if running.get(&epoch).is_some_and(|t| !t.handle.is_finished()) {
            return;
        }
        let settling = Arc::new(AtomicBool::new(false));
        let handle = tokio::spawn(run_job(shared.clone(), epoch, resumed, settling.clone()));
        running.insert(epoch, JobTask { handle, settling });
    }

    /// Whether the job for `epoch` is running.
    pub(super) fn is_running(&self, epoch: u64) -> bool {
        self.running
            .lock()
            .get(&epoch)
            .is_some_and(|t| !t.handle.is_finished())
    }

    /// Jobs running now.
    pub(super) fn busy(&self) -> usize {
        let mut running = self.running.lock();
        running.retain(|_, t| !t.handle.is_finished());
        running.len()
    }

    /// Stops the job for `epoch` where it is.
    pub(super) fn cancel(&self, epoch: u64) {
        if let Some(task) = self.running.lock().remove(&epoch) {
            task.handle.abort();
        }
    }

    /// Stops every job: those settling a transaction are awaited (they return once it settles,
    /// the caller's grace bounds the wait), the others are stopped at once.
    pub(super) async fn stop(&self) {
        let tasks: Vec<(u64, JobTask)> = self.running.lock().drain().collect();
        for (epoch, task) in tasks {
            if task.settling.load(Ordering::SeqCst) && !task.handle.is_finished() {
                tracing::info!(epoch, "letting the proof transaction in flight settle");
                let _ = task.handle.await;
            } else {
                task.handle.abort();
            }
        }
    }

    /// Stops every job at once (the handle was dropped).
    pub(super) fn abort_all(&self) {
        for (_, task) in self.running.lock().drain() {
            task.handle.abort();
        }
    }
}

/// Marks a job as settling a transaction while alive.
struct SettlingGuard<'a>(&'a AtomicBool);

impl<'a> SettlingGuard<'a> {
    fn new(flag: &'a AtomicBool) -> Self {
        flag.store(true, Ordering::SeqCst);
        Self(flag)
    }
}

impl Drop for SettlingGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Attempts at proving an epoch before its job fails (each only while the deadline allows).
const MAX_PROVE_ATTEMPTS: u32 = 3;

/// Runs the job for `epoch` from wherever the store says it is, to a terminal state. L1 errors
/// are retried after a pause; the job only fails for a reason that retrying cannot fix (the
/// prover failed, the proof was refused, the deadline passed).
async fn run_job(shared: Arc<Shared>, epoch: u64, resumed: bool, settling: Arc<AtomicBool>) {
    let mut started = false;
    let mut prove_failures = 0;
    loop {
        let driven = drive_job(
            &shared,
            epoch,
            resumed,
            &mut started,
            &mut prove_failures,
            &settling,
        )
        .await;
        match driven {
            Ok(()) => {
                shared.services.job_runner.ok();
                return;
            }
            Err(err) => {
                tracing::warn!(epoch, %err, "proving job hit an error; retrying");
                shared
                    .services
                    .job_runner
                    .degraded(format!("job for epoch {epoch}: {err}; retrying"));
                tokio::select! {
                    () = tokio::time::sleep(shared.settings.submit_retry_interval) => {}
                    () = shared.stop.cancelled() => return,
                }
            }
        }
    }
}

async fn drive_job(
    shared: &Shared,
    epoch: u64,
    resumed: bool,
    started: &mut bool,
    prove_failures: &mut u32,
    settling: &AtomicBool,
) -> Result<(), JobError> {
    loop {
        if shared.stop.is_cancelled() {
            // Stopping: the store holds where the job is; the next start resumes it.
            return Ok(());
        }
        let Some(job) = shared.store.lock().job(epoch)? else {
            return Ok(());
        };
        match job.state {
            JobState::Completed | JobState::Failed | JobState::Cancelled => return Ok(()),
            JobState::Proving => {
                // Interrupted mid-proof (restart): prove again from the start.
                shared.transition(
                    epoch,
                    JobState::Proving,
                    JobState::Claimed,
                    "resumed: proving restarts",
                )?;
            }
            JobState::Claimed => {
                let data = epoch_data(shared, epoch).await?;
                shared.transition(epoch, JobState::Claimed, JobState::Proving, "proving")?;
                shared.market.on_proving(&shared.store.lock(), epoch);
                // Measured to learn the proving speed the ledger and the cost model use.
                let proving_since = std::time::Instant::now();
                if !*started {
                    *started = true;
                    tracing::info!(
                        epoch,
                        resumed,
                        prover = shared.prover.name(),
                        "proving job started"
                    );
                    shared.emit(ProverEvent::JobStarted { epoch, resumed });
                }
                match shared.prover.prove(&data).await {
                    Ok(proof) => {
                        shared.store.lock().store_proof(epoch, &proof)?;
                        let txs = data.blocks.iter().map(|b| b.tx_count).sum::<U256>();
                        shared.market.on_proven(
                            &shared.store.lock(),
                            u64::try_from(txs).unwrap_or(u64::MAX),
                            proving_since.elapsed(),
                        );
                        shared
                            .metrics
                            .job_moved(Some(JobState::Proving), JobState::Proven);
                        tracing::info!(epoch, bytes = proof.len(), "epoch proven");
                    }
                    Err(err) => {
                        // A failed proof is retried while the deadline allows (an operator's
                        // prover can die of a transient fault: OOM, a lost GPU); giving up at once
                        // would let the bond be slashed with most of the proving window left.
                        *prove_failures += 1;
                        let slot = shared.l1.current_slot().await?;
                        let deadline = shared.l1.time().proof_deadline_slot(epoch);
                        if *prove_failures < MAX_PROVE_ATTEMPTS && slot < deadline {
                            tracing::warn!(
                                epoch, %err, attempt = *prove_failures,
                                "proving failed; retrying before the deadline (slot {deadline})"
                            );
                            shared.transition(
                                epoch,
                                JobState::Proving,
                                JobState::Claimed,
                                &format!("proving failed, retrying: {err}"),
                            )?;
                            tokio::select! {
                                () = tokio::time::sleep(shared.settings.submit_retry_interval) => {}
                                () = shared.stop.cancelled() => return Ok(()),
                            }
                            continue;
                        }
                        tracing::error!(epoch, %err, attempts = *prove_failures, "proving failed");
                        shared.transition(
                            epoch,
                            JobState::Proving,
                            JobState::Failed,
                            &err.to_string(),
                        )?;
                        return Ok(());
                    }
                }
            }
            JobState::Submitted => {
                let tx_hash = job.tx_hash.unwrap_or_default();
                let _settling = SettlingGuard::new(settling);
                let settled = l1tx::resolve(
                    &shared.l1,
                    &shared.store,
                    proof_tx(epoch),
                    &tx_hash,
                    shared.settings.receipt_timeout,
                    Some(proof_deadline(shared.l1.time(), epoch)),
                    |db, hash| db.mark_submitted(epoch, &hash.to_string()),
                )
                .await?;
                match settled {
                    Settled::Mined => {
                        shared.metrics.proof_submission("mined");
                        shared.transition(
                            epoch,
                            JobState::Submitted,
                            JobState::Completed,
                            &tx_hash,
                        )?;
                        return Ok(());
                    }
                    Settled::StillPending => continue,
                    Settled::Reverted | Settled::Dropped => {
                        shared.metrics.proof_submission("reverted");
                        shared.transition(
                            epoch,
                            JobState::Submitted,
                            JobState::Proven,
                            &format!("proof transaction {tx_hash} {settled:?}; resubmitting"),
                        )?;
                    }
                }
            }
            JobState::Proven => {
                let done = {
                    let _settling = SettlingGuard::new(settling);
                    submit_proof(shared, epoch, job.proof.unwrap_or_default().into()).await?
                };
                if done {
                    return Ok(());
                }
                tokio::select! {
                    () = tokio::time::sleep(shared.settings.submit_retry_interval) => {}
                    () = shared.stop.cancelled() => return Ok(()),
                }
            }
        }
    }
}

/// Reads the epoch's blocks and the public-inputs hash the Rollup will check.
async fn epoch_data(shared: &Shared, epoch: u64) -> Result<EpochData, JobError> {
    let l1 = &shared.l1;
    let blocks = l1.epoch_blocks(epoch).await?;
    let public_inputs_hash = l1.public_inputs_hash(epoch, shared.me).await?;
    let local = epoch_rfq_l1::public_inputs_hash(
        l1.chain_id(),
        l1.rollup_address(),
        epoch,
        &blocks,
        shared.me,
    );
    if local != public_inputs_hash {
        // The blocks changed between the two reads (a prune); the next attempt reads again.
        return Err(L1Error::InvalidArgument(format!(
            "public inputs of epoch {epoch} changed while reading them"
        ))
        .into());
    }
    Ok(EpochData {
        chain_id: l1.chain_id(),
        rollup: l1.rollup_address(),
        epoch,
        from_block: blocks.first().map_or(0, |b| b.number),
        to_block: blocks.last().map_or(0, |b| b.number),
        blocks,
        prover_id: shared.me,
        public_inputs_hash,
    })
}

fn proof_tx(epoch: u64) -> l1tx::TxKind {
    l1tx::TxKind::new("submitEpochProof", "proof", Some(epoch))
}

/// A proof must be in a block before the first slot past the proof deadline.
fn proof_deadline(time: &TimeParams, epoch: u64) -> Deadline {
    Deadline {
        timestamp: time.slot_start(time.proof_deadline_slot(epoch)),
        what: "proof deadline",
    }
}

/// One submission attempt from `Proven`. `Ok(true)`: the job reached a terminal state;
/// `Ok(false)`: back in `Proven`, retry after a pause.
async fn submit_proof(shared: &Shared, epoch: u64, proof: Bytes) -> Result<bool, JobError> {
    let l1 = &shared.l1;
    let time = *l1.time();
    let slot = l1.current_slot().await?;
    let range = l1.epoch_range(epoch).await?;
    if !range.is_empty() && l1.proven_block_number().await? >= range.to_block {
        // Landed already (a submission whose record was lost in a crash, or another sender:
        // anyone may submit, and the fee share still goes to the claim's prover).
        shared.transition(
            epoch,
            JobState::Proven,
            JobState::Completed,
            "the epoch is proven on L1",
        )?;
        return Ok(true);
    }
    let deadline = time.proof_deadline_slot(epoch);
    if slot >= deadline {
        shared.transition(
            epoch,
            JobState::Proven,
            JobState::Failed,
            &format!("proof deadline passed: slot {slot}, deadline slot {deadline}"),
        )?;
        return Ok(true);
    }
    // The proof goes out only while our claim is on L1. With the claim reorged out, a proof
    // would prove the epoch as unclaimed (fee share zero, the fees to the block proposers) and
    // the claim could never land again; the job waits, and the claim watcher cancels it once
    // the claim cannot come back.
    match l1.claim(epoch).await? {
        Some(claim) if claim.bond_provider == shared.me => {}
        claim => {
            tracing::debug!(
                epoch,
                other_prover = ?claim.map(|c| c.bond_provider),
                "our claim is not on L1 (reorg?); the proof waits for it"
            );
            return Ok(false);
        }
    }
    let rollup = l1.rollup();
    let sent = l1tx::send_recorded(
        l1,
        &shared.store,
        proof_tx(epoch),
        rollup.submitEpochProof(U256::from(epoch), proof),
        shared.settings.receipt_timeout,
        Some(proof_deadline(&time, epoch)),
        |db, tx_hash| db.mark_submitted(epoch, &tx_hash.to_string()),
    )
    .await;
    match sent {
        Ok(receipt) => {
            shared
                .metrics
                .job_moved(Some(JobState::Proven), JobState::Submitted);
            shared.metrics.proof_submission("mined");
            let tx = receipt.transaction_hash.to_string();
            tracing::info!(epoch, %tx, "proof accepted on L1");
            shared.transition(epoch, JobState::Submitted, JobState::Completed, &tx)?;
            Ok(true)
        }
        Err(TxError::L1(err)) => {
            shared.metrics.proof_submission("error");
            let submitted = shared
                .store
                .lock()
                .job(epoch)?
                .is_some_and(|j| j.state == JobState::Submitted);
            if submitted {
                shared
                    .metrics
                    .job_moved(Some(JobState::Proven), JobState::Submitted);
                if !matches!(
                    err,
                    L1Error::Reverted {
                        tx_hash: Some(_),
                        ..
                    }
                ) {
                    // Sent, outcome unknown (receipt timeout): the Submitted state settles it.
                    tracing::warn!(epoch, %err, "proof transaction outcome unknown; checking it");
                    return Ok(false);
                }
                // Mined and reverted: back to Proven for the next attempt.
                shared.transition(
                    epoch,
                    JobState::Submitted,
                    JobState::Proven,
                    &err.to_string(),
                )?;
            }
            if let Some(Revert::Rollup(RollupError::InvalidProof { .. })) = err.revert() {
                // Retrying the same proof cannot help.
                shared.transition(epoch, JobState::Proven, JobState::Failed, &err.to_string())?;
                return Ok(true);
            }
            tracing::warn!(epoch, %err, "proof submission failed; retrying before the deadline");
            Ok(false)
        }
        Err(TxError::Store(err)) => Err(err.into()),
    }
}
