//! Logs kept in memory and shown only when a wait fails.
//!
//! A network test that times out ("waiting for: mesh") says nothing of why. [`capture_logs`]
//! installs a process-wide `tracing` subscriber that keeps the last lines in a ring buffer;
//! [`crate::wait_until`] prints them (to the test's captured output, so a passing test prints
//! nothing) when its condition is not met in time. The filter is `EPOCH_RFQ_TEST_LOG` when set
//! (an `EnvFilter` string), else the one the test passes.

use std::{
    collections::VecDeque,
    io,
    sync::{Mutex, OnceLock},
    time::Instant,
};

use tracing_subscriber::{EnvFilter, fmt::MakeWriter};

/// The filter of the network tests (p2p and the node's gossip): gossipsub, the swarm
/// (connections, dials) and our p2p service, at debug.
pub const P2P_LOG: &str = "libp2p_gossipsub=debug,libp2p_swarm=debug,epoch_rfq_p2p=debug";

/// Lines kept: the last few seconds of a busy two-node test at debug level.
const KEPT_LINES: usize = 20_000;
/// Lines printed when a wait fails (the newest ones).
pub const PRINTED_LINES: usize = 4_000;

struct Ring {
    lines: VecDeque<String>,
    partial: String,
}

static RING: OnceLock<Mutex<Ring>> = OnceLock::new();
static START: OnceLock<Instant> = OnceLock::new();

/// Keeps the logs matching `default_filter` (or `EPOCH_RFQ_TEST_LOG`) in memory for
/// [`dump_captured_logs`]. Idempotent; if another subscriber is already installed, nothing is
/// captured.
pub fn capture_logs(default_filter: &str) {
    if RING.get().is_some() {
        return;
    }
    let filter = std::env::var("EPOCH_RFQ_TEST_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(default_filter));
    let _ = RING.set(Mutex::new(Ring {
        lines: VecDeque::with_capacity(KEPT_LINES),
        partial: String::new(),
    }));
    START.get_or_init(Instant::now);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RingWriter)
        .with_ansi(false)
        .with_thread_names(true)
        .try_init();
}

/// The newest captured lines (at most `max`), oldest first; empty if nothing is captured.
pub fn captured_lines(max: usize) -> Vec<String> {
    let Some(ring) = RING.get() else {
        return Vec::new();
    };
    let ring = ring.lock().unwrap_or_else(|p| p.into_inner());
    let skip = ring.lines.len().saturating_sub(max);
    ring.lines.iter().skip(skip).cloned().collect()
}

/// Prints the newest captured lines to stderr (captured by the test harness with the rest of
/// the failing test's output).
pub fn dump_captured_logs() {
    let lines = captured_lines(PRINTED_LINES);
    if lines.is_empty() {
        return;
    }
    let since = START
        .get()
        .map(|s| s.elapsed().as_secs_f64())
        .unwrap_or(0.0);
    eprintln!(
        "---- last {} captured log lines (process up {since:.1} s) ----",
        lines.len()
    );
    for line in lines {
        eprintln!("{line}");
    }
    eprintln!("---- end of captured logs ----");
}

#[derive(Clone, Copy)]
struct RingWriter;

impl io::Write for RingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(ring) = RING.get() else {
            return Ok(buf.len());
        };
        let mut ring = ring.lock().unwrap_or_else(|p| p.into_inner());
        ring.partial.push_str(&String::from_utf8_lossy(buf));
        while let Some(end) = ring.partial.find('\n') {
            let line: String = ring.partial.drain(..=end).collect();
            if ring.lines.len() == KEPT_LINES {
                ring.lines.pop_front();
            }
            ring.lines.push_back(line.trim_end().to_string());
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for RingWriter {
    type Writer = RingWriter;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_lines_keep_the_newest_and_only_matching_targets() {
        capture_logs("epoch_rfq_testkit=debug");
        tracing::debug!(target: "epoch_rfq_testkit::probe", n = 1, "first");
        tracing::debug!(target: "other_crate", "filtered out");
        tracing::debug!(target: "epoch_rfq_testkit::probe", n = 2, "second");
        let lines = captured_lines(2);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].contains("first") && lines[0].contains("n=1"),
            "{lines:?}"
        );
        assert!(lines[1].contains("second"), "{lines:?}");
        assert!(
            !captured_lines(100)
                .iter()
                .any(|l| l.contains("filtered out"))
        );
    }
}
