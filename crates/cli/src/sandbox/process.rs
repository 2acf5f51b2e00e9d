//! Roles run as child processes of the `epoch-rfq` binary instead of in the sandbox's process,
//! so that one of them can be frozen (SIGSTOP) or killed (SIGKILL) alone, as an operator's
//! machine would do to it. A child gets the flags of the same settings struct the in-process role
//! is built from ([`crate::role_flags`]), its key in the environment, and nothing else of the
//! sandbox's environment but `PATH`, `HOME` and `RUST_LOG`; its stdout and stderr go to
//! `<its data dir>/<role>.log` (appended across restarts).

use std::fs::OpenOptions;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

/// One role running as a child process. Dropping it kills the process.
#[derive(Debug)]
pub struct RoleProcess {
    name: String,
    binary: PathBuf,
    flags: Vec<String>,
    env: Vec<(String, String)>,
    log: PathBuf,
    /// The URL answering once the role is up (`/metrics` of a prover, `/health` of a node).
    probe_url: String,
    child: Mutex<Option<Child>>,
}

impl RoleProcess {
    /// Starts `binary flags…` and waits until `probe_url` answers (at most 60 s: a prover
    /// deposits into its escrow before it serves).
    pub(super) async fn start(
        name: &str,
        binary: &Path,
        flags: Vec<String>,
        env: Vec<(String, String)>,
        log: PathBuf,
        probe_url: String,
    ) -> Result<Self> {
        let process = Self {
            name: name.to_owned(),
            binary: binary.to_owned(),
            flags,
            env,
            log,
            probe_url,
            child: Mutex::new(None),
        };
        process.spawn().await?;
        Ok(process)
    }

    /// The role's name (`node`, `alice`, …).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where its output goes.
    pub fn log(&self) -> &Path {
        &self.log
    }

    async fn spawn(&self) -> Result<()> {
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let err = out
            .try_clone()
            .with_context(|| format!("opening {}", self.log.display()))?;
        let mut command = Command::new(&self.binary);
        command.args(&self.flags).env_clear();
        for name in ["PATH", "HOME", "RUST_LOG"] {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        command
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        let child = command.spawn().with_context(|| {
            format!(
                "starting the {} as `{} {}`",
                self.name,
                self.binary.display(),
                self.flags.first().map(String::as_str).unwrap_or_default()
            )
        })?;
        *self.child.lock().await = Some(child);
        self.wait_until_up().await
    }

    async fn wait_until_up(&self) -> Result<()> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .context("building an HTTP client")?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = self.child.lock().await.as_mut()
                && let Some(status) = child.try_wait().context("checking a child process")?
            {
                bail!(
                    "the {} exited at start ({status}); its output is in {}",
                    self.name,
                    self.log.display()
                );
            }
            if let Ok(r) = http.get(&self.probe_url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "the {} did not answer {} within 60 s; its output is in {}",
                    self.name,
                    self.probe_url,
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn signal(&self, signal: Signal) -> Result<()> {
        let guard = self.child.lock().await;
        let pid = guard
            .as_ref()
            .and_then(Child::id)
            .with_context(|| format!("the {} is not running", self.name))?;
        let pid = Pid::from_raw(i32::try_from(pid).context("process id")?);
        kill(pid, signal).with_context(|| format!("sending {signal} to the {}", self.name))
    }

    /// SIGSTOP: the process keeps its sockets and memory but runs no instruction; connections
    /// to it are accepted by the kernel and never answered.
    pub async fn freeze(&self) -> Result<()> {
        self.signal(Signal::SIGSTOP).await
    }

    /// SIGCONT after [`Self::freeze`].
    pub async fn thaw(&self) -> Result<()> {
        self.signal(Signal::SIGCONT).await
    }

    /// SIGKILL, then reaps the process: nothing of it runs any more, nothing was flushed.
    pub async fn kill(&self) -> Result<()> {
        let mut guard = self.child.lock().await;
        let Some(mut child) = guard.take() else {
            bail!("the {} is not running", self.name);
        };
        child
            .start_kill()
            .with_context(|| format!("killing the {}", self.name))?;
        child.wait().await.context("reaping a killed process")?;
        Ok(())
    }

    /// Starts the process again with the same flags and data directory.
    pub async fn restart(&self) -> Result<()> {
        if self.child.lock().await.is_some() {
            bail!("the {} is still running", self.name);
        }
        self.spawn().await
    }

    /// Asks the process to stop (SIGCONT in case it is frozen, then SIGTERM), waits for it up to
    /// `grace`, then kills it.
    pub async fn stop(&self, grace: Duration) {
        let _ = self.signal(Signal::SIGCONT).await;
        let _ = self.signal(Signal::SIGTERM).await;
        let mut guard = self.child.lock().await;
        if let Some(mut child) = guard.take()
            && tokio::time::timeout(grace, child.wait()).await.is_err()
        {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }
}

/// A free TCP port on 127.0.0.1 for a child to listen on (it is free when asked; a child binds it
/// a moment later).
pub(super) fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .context("finding a free port on 127.0.0.1")?;
    Ok(listener.local_addr().context("a bound port")?.port())
}
