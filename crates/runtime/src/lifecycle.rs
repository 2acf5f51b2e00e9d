//! One lifecycle for every long-running role.
//!
//! - **Signals.** SIGINT (Ctrl-C) and SIGTERM (`systemctl stop`, `docker stop`, Kubernetes)
//!   start a graceful stop: the [`CancellationToken`] every service watches is cancelled, and
//!   the process waits for its tracked tasks for at most the grace (`SHUTDOWN_TIMEOUT_MS`,
//!   default 30 000). A second signal during the grace stops at once.
//! - **Critical tasks.** A role names the tasks it cannot live without
//!   ([`Lifecycle::spawn_critical`]). When one ends before a stop was asked for — returns, fails
//!   or panics — the process logs which one and why, stops the others (same grace) and exits
//!   non-zero. Restarting is the supervisor's job (systemd, Kubernetes): a role half alive is
//!   worse than one that is restarted.
//!
//! [`Lifecycle::run`] returns how the process ended ([`Stopped`] or a [`LifecycleError`]); the
//! binary maps `Ok` to exit code 0 and an error to 1.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The environment variable holding the grace, in milliseconds.
pub const SHUTDOWN_TIMEOUT_ENV: &str = "SHUTDOWN_TIMEOUT_MS";
/// The grace when [`SHUTDOWN_TIMEOUT_ENV`] is unset.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(30_000);

/// Why the process did not stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// A critical task ended (returned, failed or panicked) while no stop was asked for.
    #[error("critical task `{name}` {how}")]
    CriticalTaskEnded {
        /// The task's name.
        name: &'static str,
        /// What happened: "ended", "failed: <error>", "panicked: <message>".
        how: String,
    },
    /// Tasks were still running when the grace ran out.
    #[error(
        "{running} task(s) still running after the {grace_ms} ms grace ({SHUTDOWN_TIMEOUT_ENV}); stopped anyway"
    )]
    GraceElapsed {
        /// Tasks still running.
        running: usize,
        /// The grace.
        grace_ms: u128,
    },
    /// A second signal arrived during the grace.
    #[error("a second signal during the graceful stop: stopped at once")]
    Forced,
    /// `SHUTDOWN_TIMEOUT_MS` is not a number of milliseconds.
    #[error("{SHUTDOWN_TIMEOUT_ENV}={value:?} is not a number of milliseconds (e.g. 30000)")]
    BadTimeout {
        /// The value found.
        value: String,
    },
    /// The signal handlers could not be installed.
    #[error("cannot listen for SIGINT/SIGTERM: {0}")]
    Signals(std::io::Error),
}

/// A clean stop: what asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// SIGINT or SIGTERM (the name).
    Signal(&'static str),
    /// The role asked for it ([`Lifecycle::token`] cancelled by the role itself, e.g. a
    /// `--timeout-secs`).
    Requested,
}

/// The grace from `SHUTDOWN_TIMEOUT_MS` (default 30 s).
pub fn shutdown_timeout_from_env() -> Result<Duration, LifecycleError> {
    match std::env::var(SHUTDOWN_TIMEOUT_ENV) {
        Err(_) => Ok(DEFAULT_SHUTDOWN_TIMEOUT),
        Ok(value) => value
            .trim()
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| LifecycleError::BadTimeout { value }),
    }
}

/// How a critical task ended.
#[derive(Debug)]
struct CriticalExit {
    name: &'static str,
    how: String,
}

/// The lifecycle of one process: a cancellation token for a graceful stop, a tracker of the
/// tasks to wait for, and the named critical tasks. Cheap to clone; clones share state.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    token: CancellationToken,
    tracker: TaskTracker,
    grace: Duration,
    exits: mpsc::UnboundedSender<CriticalExit>,
    exits_rx: std::sync::Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<CriticalExit>>>,
    /// Installed at creation, so that a signal arriving before [`Lifecycle::run`] is not the
    /// default action (an abrupt kill) but a graceful stop.
    signals: std::sync::Arc<std::sync::Mutex<Option<std::io::Result<Signals>>>>,
}

impl Lifecycle {
    /// A lifecycle with `grace` for the graceful stop. Installs the SIGINT/SIGTERM handlers at
    /// once (call it first, inside the Tokio runtime).
    pub fn new(grace: Duration) -> Self {
        let (exits, exits_rx) = mpsc::unbounded_channel();
        Self {
            signals: std::sync::Arc::new(std::sync::Mutex::new(Some(Signals::new()))),
            token: CancellationToken::new(),
            tracker: TaskTracker::new(),
            grace,
            exits,
            exits_rx: std::sync::Arc::new(tokio::sync::Mutex::new(exits_rx)),
        }
    }

    /// A lifecycle with the grace from `SHUTDOWN_TIMEOUT_MS`.
    pub fn from_env() -> Result<Self, LifecycleError> {
        Ok(Self::new(shutdown_timeout_from_env()?))
    }

    /// The grace.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// Cancelled when the process starts stopping; every service watches it (or a child).
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Asks for a graceful stop (as a signal would).
    pub fn stop(&self) {
        self.token.cancel();
    }

    /// Runs `task` to completion, waited for (within the grace) on stop; its end is not an
    /// error. For work that must finish once started (settling a transaction, flushing).
    pub fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(task)
    }

    /// Runs a critical task named `name`. It should return when [`token`](Self::token) is
    /// cancelled. If it returns, fails or panics while no stop was asked for, the process stops
    /// and [`run`](Self::run) returns [`LifecycleError::CriticalTaskEnded`] naming it.
    pub fn spawn_critical<F, E>(&self, name: &'static str, task: F)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        let inner = tokio::spawn(task);
        let token = self.token.clone();
        let exits = self.exits.clone();
        self.tracker.spawn(async move {
            let how = match inner.await {
                Ok(Ok(())) if token.is_cancelled() => return,
                Ok(Ok(())) => "ended".to_owned(),
                Ok(Err(err)) => format!("failed: {err}"),
                Err(join) if join.is_panic() => {
                    format!("panicked: {}", panic_message(join.into_panic()))
                }
                Err(_) => "was cancelled".to_owned(),
            };
            if token.is_cancelled() {
                tracing::warn!(task = name, how, "critical task ended during the stop");
                return;
            }
            tracing::error!(
                task = name,
                how,
                "critical task ended: stopping the process"
            );
            let _ = exits.send(CriticalExit { name, how });
        });
    }

    /// Waits for SIGINT/SIGTERM, a critical task's end, or [`stop`](Self::stop); then cancels
    /// the token and waits for the tracked tasks for at most the grace (a second signal: at
    /// once).
    pub async fn run(self) -> Result<Stopped, LifecycleError> {
        let installed = self
            .signals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let mut signals = match installed {
            Some(signals) => signals.map_err(LifecycleError::Signals)?,
            // A clone already ran: listen afresh.
            None => Signals::new().map_err(LifecycleError::Signals)?,
        };
        let mut exits = self.exits_rx.lock().await;
        let outcome = tokio::select! {
            name = signals.next() => {
                tracing::info!(
                    signal = name,
                    grace_ms = self.grace.as_millis() as u64,
                    "{name}: stopping gracefully (a second signal stops at once)"
                );
                Ok(Stopped::Signal(name))
            }
            () = self.token.cancelled() => {
                tracing::info!(grace_ms = self.grace.as_millis() as u64, "stopping gracefully");
                Ok(Stopped::Requested)
            }
            Some(exit) = exits.recv() => Err(LifecycleError::CriticalTaskEnded {
                name: exit.name,
                how: exit.how,
            }),
        };
        self.token.cancel();
        self.tracker.close();
        tokio::select! {
            () = self.tracker.wait() => {
                tracing::info!("stopped");
                outcome
            }
            () = tokio::time::sleep(self.grace) => {
                let err = LifecycleError::GraceElapsed {
                    running: self.tracker.len(),
                    grace_ms: self.grace.as_millis(),
                };
                tracing::error!(%err, "graceful stop took too long");
                // The first cause (a task's end) is the more useful message.
                outcome.and(Err(err))
            }
            name = signals.next() => {
                tracing::warn!(signal = name, "second signal during the graceful stop: stopping at once");
                outcome.and(Err(LifecycleError::Forced))
            }
        }
    }
}

/// The message of a panic payload.
fn panic_message(payload: Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_owned()
    }
}

/// SIGINT and SIGTERM (Ctrl-C only off Unix).
#[derive(Debug)]
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// The next signal's name.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_critical_task_ending_stops_the_process_naming_it() {
        let life = Lifecycle::new(Duration::from_secs(5));
        let token = life.token();
        life.spawn_critical("watcher", async move {
            token.cancelled().await;
            Ok::<(), String>(())
        });
        life.spawn_critical("quoter", async {
            Err::<(), _>("L1 unreachable".to_owned())
        });
        let err = life.run().await.expect_err("a critical task ended");
        let text = err.to_string();
        assert!(text.contains("`quoter` failed: L1 unreachable"), "{text}");
    }

    #[tokio::test]
    async fn a_panic_is_reported_with_its_message() {
        let life = Lifecycle::new(Duration::from_secs(5));
        life.spawn_critical("job_runner", async {
            if std::hint::black_box(true) {
                panic!("boom");
            }
            Ok::<(), String>(())
        });
        let err = life.run().await.expect_err("panicked");
        assert!(
            err.to_string().contains("`job_runner` panicked: boom"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_requested_stop_waits_for_tasks_and_is_clean() {
        let life = Lifecycle::new(Duration::from_secs(5));
        let token = life.token();
        let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = finished.clone();
        life.spawn_critical("settler", async move {
            token.cancelled().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok::<(), String>(())
        });
        life.stop();
        assert_eq!(life.run().await.expect("clean"), Stopped::Requested);
        assert!(finished.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test]
    async fn the_grace_bounds_the_stop() {
        let life = Lifecycle::new(Duration::from_millis(50));
        life.spawn(std::future::pending::<()>());
        life.stop();
        let err = life.run().await.expect_err("grace elapsed");
        assert!(
            matches!(err, LifecycleError::GraceElapsed { running: 1, .. }),
            "{err}"
        );
    }
}
