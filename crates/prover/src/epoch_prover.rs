//! Proving (SPEC §6.7): the [`EpochProver`] trait and its two built-ins, [`DevProver`] (the dev
//! proof system's proof, optionally after a simulated delay) and [`CommandProver`] (an operator's
//! program: the epoch as JSON on stdin, the proof as 0x-hex on stdout).

use std::process::Stdio;
use std::time::Duration;

use epoch_rfq_l1::BlockRecord;
use epoch_rfq_l1::alloy::primitives::{Address, B256, Bytes};
use futures::future::BoxFuture;
use serde::Serialize;
use tokio::io::AsyncWriteExt;

/// Everything a prover needs to prove one epoch: what the Rollup's verifier checks the proof
/// against (chain, rollup, epoch, block range, the blocks' content hashes, prover id) and the
/// public-inputs hash the Rollup computes from them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EpochData {
    /// L1 chain id.
    pub chain_id: u64,
    /// The Rollup contract.
    pub rollup: Address,
    /// The epoch.
    pub epoch: u64,
    /// First block (inclusive).
    pub from_block: u64,
    /// Last block (inclusive).
    pub to_block: u64,
    /// The epoch's blocks, in order.
    pub blocks: Vec<BlockRecord>,
    /// The prover id bound into the proof (the claim's bond provider: us).
    pub prover_id: Address,
    /// `computePublicInputsHash(epoch, proverId)`.
    pub public_inputs_hash: B256,
}

/// Why proving failed; the job is recorded as failed with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProveError {
    /// The prover program could not be started.
    #[error("cannot start the prover command `{command}`: {reason}")]
    Spawn {
        /// The command line.
        command: String,
        /// The OS error.
        reason: String,
    },
    /// The program exited with a failure status.
    #[error("prover command exited with {status}; stderr: {stderr_tail}")]
    Exit {
        /// The exit status as shown by the OS (`exit status: 3`, `signal: 9`).
        status: String,
        /// The end of its stderr.
        stderr_tail: String,
    },
    /// The program ran longer than allowed and was killed.
    #[error("prover command timed out after {timeout_ms} ms and was killed")]
    Timeout {
        /// The limit.
        timeout_ms: u64,
    },
    /// The program's stdout is not a 0x-hex proof.
    #[error("prover command printed no usable proof ({reason}); stderr: {stderr_tail}")]
    BadOutput {
        /// What is wrong with stdout.
        reason: String,
        /// The end of its stderr.
        stderr_tail: String,
    },
    /// Any other failure (I/O while talking to the program, an internal error).
    #[error("proving failed: {0}")]
    Other(String),
}

/// A proof system. Object-safe so the node can hold any implementation.
pub trait EpochProver: Send + Sync {
    /// A short name for logs (`dev`, `command`).
    fn name(&self) -> &'static str;

    /// Proves `epoch`: the proof bytes the Rollup's verifier accepts.
    fn prove<'a>(&'a self, epoch: &'a EpochData) -> BoxFuture<'a, Result<Bytes, ProveError>>;
}

/// The dev proof system's prover: `keccak256("epoch-rfq dev proof" ‖ publicInputsHash)`.
#[derive(Debug, Clone, Default)]
pub struct DevProver {
    delay: Duration,
}

impl DevProver {
    /// A dev prover that takes `delay` per epoch (PROVER_DEV_PROOF_DELAY_MS), to simulate a real
    /// prover's latency in tests and the sandbox.
    pub fn new(delay: Duration) -> Self {
        Self { delay }
    }
}

impl EpochProver for DevProver {
    fn name(&self) -> &'static str {
        "dev"
    }

    fn prove<'a>(&'a self, epoch: &'a EpochData) -> BoxFuture<'a, Result<Bytes, ProveError>> {
        Box::pin(async move {
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            Ok(epoch_rfq_l1::dev_proof_for_hash(epoch.public_inputs_hash))
        })
    }
}

/// How much of a failed program's stderr is kept (its end: where the error usually is).
const STDERR_TAIL_BYTES: usize = 2048;
/// Longest proof accepted on stdout (hex), so a runaway program cannot exhaust memory.
const MAX_STDOUT_BYTES: usize = 16 * 1024 * 1024;

/// Runs an operator's prover: `sh -c <command>` with [`EpochData`] as JSON on stdin; stdout must
/// be the proof as 0x-hex (surrounding whitespace ignored). A non-zero exit, a timeout (the child
/// is killed) or unusable output is a [`ProveError`] carrying the end of stderr.
#[derive(Debug, Clone)]
pub struct CommandProver {
    command: String,
    timeout: Duration,
}

impl CommandProver {
    /// A prover running `command` through `sh -c` (so operators can pass arguments, pipes and
    /// env assignments as one setting), killed after `timeout`.
    pub fn new(command: impl Into<String>, timeout: Duration) -> Self {
        Self {
            command: command.into(),
            timeout,
        }
    }

    async fn run(&self, epoch: &EpochData) -> Result<Bytes, ProveError> {
        let input = serde_json::to_vec(epoch).map_err(|e| ProveError::Other(e.to_string()))?;
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&self.command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A timed-out or abandoned run (job cancelled, node stopping) must not keep proving.
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| ProveError::Spawn {
                command: self.command.clone(),
                reason: e.to_string(),
            })?;
        let stdin = child.stdin.take();
        // Write stdin concurrently with reading stdout/stderr: a program that prints before it
        // has read all of its input would otherwise deadlock on a full pipe.
        let feeder = async move {
            if let Some(mut stdin) = stdin {
                // A program that exits without reading its input closes the pipe; its exit
                // status tells what happened, so a write error here is not the failure.
                let _ = stdin.write_all(&input).await;
                let _ = stdin.shutdown().await;
            }
        };
        let run = async {
            let ((), output) = tokio::join!(feeder, child.wait_with_output());
            output
        };
        let timeout_ms = u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX);
        // On timeout the future (and with it the child, kill_on_drop) is dropped: killed.
        let output = tokio::time::timeout(self.timeout, run)
            .await
            .map_err(|_| ProveError::Timeout { timeout_ms })?
            .map_err(|e| ProveError::Other(format!("waiting for the prover command: {e}")))?;
        let stderr_tail = tail(&output.stderr);
        if !output.status.success() {
            return Err(ProveError::Exit {
                status: output.status.to_string(),
                stderr_tail,
            });
        }
        if output.stdout.len() > MAX_STDOUT_BYTES {
            return Err(ProveError::BadOutput {
                reason: format!("{} bytes of output is too large", output.stdout.len()),
                stderr_tail,
            });
        }
        parse_proof(&output.stdout).map_err(|reason| ProveError::BadOutput {
            reason,
            stderr_tail,
        })
    }
}

impl EpochProver for CommandProver {
    fn name(&self) -> &'static str {
        "command"
    }

    fn prove<'a>(&'a self, epoch: &'a EpochData) -> BoxFuture<'a, Result<Bytes, ProveError>> {
        Box::pin(self.run(epoch))
    }
}

/// The last [`STDERR_TAIL_BYTES`] of `stderr`, as text, trimmed.
fn tail(stderr: &[u8]) -> String {
    let start = stderr.len().saturating_sub(STDERR_TAIL_BYTES);
    String::from_utf8_lossy(&stderr[start..]).trim().to_owned()
}

/// Reads `0x<hex>` (whitespace around it ignored).
fn parse_proof(stdout: &[u8]) -> Result<Bytes, String> {
    let text = std::str::from_utf8(stdout).map_err(|_| "stdout is not UTF-8".to_owned())?;
    let text = text.trim();
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .ok_or_else(|| {
            if text.is_empty() {
                "stdout is empty".to_owned()
            } else {
                format!("expected 0x-hex, got {:?}", excerpt(text))
            }
        })?;
    if digits.is_empty() {
        return Err("the proof is empty".into());
    }
    hex::decode(digits)
        .map(Bytes::from)
        .map_err(|e| format!("not hex ({e}): {:?}", excerpt(text)))
}

fn excerpt(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> EpochData {
        EpochData {
            chain_id: 31337,
            rollup: Address::repeat_byte(1),
            epoch: 3,
            from_block: 5,
            to_block: 6,
            blocks: Vec::new(),
            prover_id: Address::repeat_byte(2),
            public_inputs_hash: B256::repeat_byte(7),
        }
    }

    async fn run(command: &str, timeout_ms: u64) -> Result<Bytes, ProveError> {
        CommandProver::new(command, Duration::from_millis(timeout_ms))
            .prove(&data())
            .await
    }

    #[tokio::test]
    async fn dev_prover_gives_the_dev_proof() {
        let proof = DevProver::new(Duration::ZERO).prove(&data()).await.unwrap();
        assert_eq!(
            proof,
            epoch_rfq_l1::dev_proof_for_hash(B256::repeat_byte(7))
        );
    }

    #[tokio::test]
    async fn command_reads_json_and_prints_hex() {
        // The program sees the epoch data on stdin.
        let proof = run(
            r#"grep -q '"publicInputsHash":"0x0707' && echo ' 0xDEADbeef '"#,
            5_000,
        )
        .await
        .unwrap();
        assert_eq!(proof.as_ref(), [0xde, 0xad, 0xbe, 0xef]);
    }

    #[tokio::test]
    async fn command_failures_carry_stderr() {
        let err = run("echo boom >&2; exit 3", 5_000).await.unwrap_err();
        assert!(matches!(err, ProveError::Exit { .. }), "{err}");
        assert!(err.to_string().contains("boom"), "{err}");
        assert!(err.to_string().contains('3'), "{err}");

        let err = run("cat >/dev/null; echo 'not a proof'; echo why >&2", 5_000)
            .await
            .unwrap_err();
        assert!(matches!(err, ProveError::BadOutput { .. }), "{err}");
        assert!(err.to_string().contains("why"), "{err}");
        let err = run("echo 0xzz", 5_000).await.unwrap_err();
        assert!(err.to_string().contains("not hex"), "{err}");
        let err = run("true", 5_000).await.unwrap_err();
        assert!(err.to_string().contains("stdout is empty"), "{err}");
    }

    #[tokio::test]
    async fn command_timeout_kills_the_child() {
        let started = std::time::Instant::now();
        let err = run("sleep 30", 300).await.unwrap_err();
        assert_eq!(err, ProveError::Timeout { timeout_ms: 300 });
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
