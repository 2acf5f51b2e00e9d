//! `epoch-rfq sandbox` as a command: start, print, stop on a signal, a count or a timeout.

use std::time::Duration;

use anyhow::Result;
use tokio::sync::broadcast;

use super::{Sandbox, SandboxArgs, SandboxEvent, SandboxOptions};

/// `epoch-rfq sandbox`: runs until Ctrl-C (or SIGTERM), `--exit-after-proven N` proven epochs, or
/// `--timeout-secs`.
///
/// The stop is bounded like every role's: `SHUTDOWN_TIMEOUT_MS` (default 30 s), and a second
/// signal during it stops at once (anvil is killed either way).
pub async fn run(args: SandboxArgs) -> Result<()> {
    let grace = epoch_rfq_runtime::lifecycle::shutdown_timeout_from_env()?;
    let options = SandboxOptions::from_args(&args);
    println!("epoch-rfq sandbox: starting anvil, deploying, funding the provers…");
    // Interruptible start-up: dropping the half-started sandbox kills anvil.
    let sandbox = tokio::select! {
        started = Sandbox::start(options) => started?,
        () = shutdown_signal() => {
            println!("interrupted during start-up; stopped.");
            return Ok(());
        }
    };
    print!("{}", sandbox.banner());
    println!("Ctrl-C stops everything.\n");
    let mut events = sandbox.subscribe();
    let deadline = args
        .timeout_secs
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let mut proven = 0u64;
    let outcome: Result<()> = loop {
        if let Some(n) = args.exit_after_proven
            && proven >= n
        {
            println!("\n{proven} epoch(s) proven: stopping (--exit-after-proven {n}).");
            break Ok(());
        }
        tokio::select! {
            _ = shutdown_signal() => {
                println!("\nstopping…");
                break Ok(());
            }
            () = sleep_until(deadline) => {
                break match args.exit_after_proven {
                    Some(n) => Err(anyhow::anyhow!(
                        "timeout after {} s with {proven} of {n} epochs proven",
                        args.timeout_secs.unwrap_or(0)
                    )),
                    None => {
                        println!("\n--timeout-secs reached: stopping.");
                        Ok(())
                    }
                };
            }
            event = events.recv() => match event {
                Ok(SandboxEvent::EpochProven { .. }) => proven += 1,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break Err(anyhow::anyhow!("sandbox stopped")),
            },
        }
    };
    // Dropping the sandbox (a cut-short stop) still kills anvil.
    tokio::select! {
        () = sandbox.shutdown() => {
            println!("sandbox stopped (anvil, node, proposer, provers, pricing service).");
            outcome
        }
        () = tokio::time::sleep(grace) => {
            println!("the stop took longer than {} ms (SHUTDOWN_TIMEOUT_MS): stopped anyway.", grace.as_millis());
            outcome.and(Err(anyhow::anyhow!("the sandbox did not stop within SHUTDOWN_TIMEOUT_MS")))
        }
        () = shutdown_signal() => {
            println!("second signal: stopped at once.");
            outcome
        }
    }
}

pub(super) async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Ctrl-C, or SIGTERM on Unix.
pub(super) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
