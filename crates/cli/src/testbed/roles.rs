//! The role processes of the testbed: the real `epoch-rfq` binary, one process per role, each
//! started inside its host's namespace with `ip netns exec` and configured only through its
//! environment, as an operator would run it. Their output goes to a log file per process.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::process::{Child, Command};

/// How to start one process (kept to restart it with the same data directory).
#[derive(Debug, Clone)]
pub struct Spawn {
    /// e.g. `node@h03`.
    pub name: String,
    pub ns: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub log: PathBuf,
}

/// A started process.
pub struct Proc {
    pub spawn: Spawn,
    child: Option<Child>,
}

/// The binary that runs the roles: this one.
fn binary() -> Result<PathBuf> {
    std::env::current_exe().context("locating the epoch-rfq binary")
}

/// Whether `setpriv --pdeathsig` is there: with it a role dies with the orchestrator even when
/// the orchestrator is killed with SIGKILL (nothing else could clean up then).
fn have_setpriv() -> bool {
    std::process::Command::new("setpriv")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Spawn {
    /// Starts the process (log appended to, so a restart keeps the first life's lines).
    pub fn start(&self) -> Result<Proc> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let err = log.try_clone().context("log file handle")?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns]);
        if have_setpriv() {
            cmd.args(["setpriv", "--pdeathsig", "KILL", "--"]);
        }
        cmd.arg(binary()?)
            .args(&self.args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {} in {}", self.name, self.ns))?;
        Ok(Proc {
            spawn: self.clone(),
            child: Some(child),
        })
    }
}

impl Proc {
    /// SIGKILL, as a crash would (the churn scenario), and waits for it to be gone.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        }
    }

    /// SIGTERM (a graceful stop), SIGKILL after `grace`.
    pub async fn stop(&mut self, grace: Duration) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            if tokio::time::timeout(grace, child.wait()).await.is_err() {
                let _ = child.start_kill();
                let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            }
        }
    }

    /// Starts it again with the same settings and data directory.
    pub fn restart(&mut self) -> Result<()> {
        let fresh = self.spawn.start()?;
        self.child = fresh.child;
        Ok(())
    }

    /// `Some(status)` when it has exited on its own.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }
}
