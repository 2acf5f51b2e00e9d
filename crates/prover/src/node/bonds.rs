//! The bond manager's service: keeps the escrow deposit at or above the minimum, every polling
//! interval and at once after a won claim staked part of it. A top-up waits for its receipt
//! here (up to the receipt timeout), never in the claim watcher or a job.
//!
//! Money at risk is never silent: a deposit the wallet cannot top up to the minimum is a WARN
//! line with the amounts, a [`ProverEvent::EscrowBelowMinimum`] (once per episode) and the
//! `escrow_below_minimum` gauge at 1.

use std::sync::Arc;

use super::{ProverEvent, Shared};
use crate::bond::BondError;

/// Runs until the node stops. A deposit in flight is not interrupted by the stop: it is
/// recorded in the store, and the process's grace bounds the wait (a deposit still pending then
/// is settled at the next start).
pub(super) async fn run(shared: Arc<Shared>) {
    let health = &shared.services.bond_manager;
    let mut interval = tokio::time::interval(shared.settings.polling_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut below = false;
    loop {
        tokio::select! {
            () = shared.stop.cancelled() => break,
            _ = interval.tick() => {}
            () = shared.bond_wake.notified() => {}
        }
        match shared.bond.ensure_bond(shared.bond.minimum()).await {
            Ok(status) => {
                if below {
                    tracing::info!(available = %status.available, "escrow deposit back at or above the minimum");
                }
                below = false;
                shared.metrics.set_escrow_below_minimum(false);
                health.ok_with(format!("{} available for bonds", status.available));
            }
            Err(BondError::InsufficientFunds(short)) => {
                shared.metrics.set_escrow_below_minimum(true);
                health.degraded(format!(
                    "escrow deposit {} is below the minimum {} and the wallet holds only {}",
                    short.available, short.required, short.balance
                ));
                if !below {
                    tracing::warn!(
                        prover = %short.prover, available = %short.available,
                        minimum = %short.required, wallet = %short.balance, missing = %short.missing,
                        "escrow deposit below the minimum and the wallet cannot top it up: \
                         quotes needing more bond are not sent; fund the prover"
                    );
                    shared.emit(ProverEvent::EscrowBelowMinimum {
                        available: short.available,
                        minimum: short.required,
                        wallet: short.balance,
                    });
                }
                below = true;
            }
            Err(err @ (BondError::TxPending { .. } | BondError::QueuedInPool { .. })) => {
                health.degraded(err.to_string())
            }
            Err(err) => {
                tracing::warn!(%err, "escrow top-up failed; retrying next interval");
                health.degraded(err.to_string());
            }
        }
    }
    health.stopped();
    tracing::info!("bond manager stopped");
}
