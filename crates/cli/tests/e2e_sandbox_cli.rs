//! `epoch-rfq sandbox` as a newcomer runs it: the real binary, its console output, its exit.
//! (2 s slots to keep CI fast; everything else is the default sandbox: four provers, the pricing
//! service, the node, the proposer.)

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_epoch-rfq");

/// One sandbox at a time (CI has 2 cores).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[path = "common/child.rs"]
mod child;
use child::{forward_lines, wait_exit};
use epoch_rfq_testkit::TempDir;

fn sandbox(data_dir: &std::path::Path, extra: &[&str]) -> Child {
    Command::new(BIN)
        .args([
            "sandbox",
            "--node-port",
            "0",
            "--slot-duration",
            "2",
            "--epoch-duration",
            "4",
            "--claim-window",
            "3",
            "--data-dir",
        ])
        .arg(data_dir)
        .args(extra)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn epoch-rfq sandbox")
}

/// Forwards the child's stdout lines to a channel (and to the test's output).
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    forward_lines(child.stdout.take().expect("stdout piped"))
}

/// The anvil URL's `host:port` from the banner line `  L1        anvil http://127.0.0.1:PORT/ …`.
fn anvil_addr(line: &str) -> Option<String> {
    let url = line.split_whitespace().find(|w| w.starts_with("http://"))?;
    Some(
        url.trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned(),
    )
}

#[test]
fn sandbox_proves_two_epochs_and_exits() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("e2e-cli-exit");
    let started = Instant::now();
    let mut child = sandbox(&dir, &["--exit-after-proven", "2", "--timeout-secs", "80"]);
    let rx = lines(&mut child);
    let status = wait_exit(&mut child, Duration::from_secs(90));
    // The pipe closes with the process: this reads to the end.
    let output: Vec<String> = rx.iter().collect();
    assert!(status.success(), "exit {status:?}");
    let proven: Vec<&String> = output
        .iter()
        .filter(|l| l.contains("PROVEN epoch"))
        .collect();
    assert!(proven.len() >= 2, "{output:#?}");
    for needle in [
        "WINNER epoch",
        "quote  epoch",
        "block #",
        "prover reward",
        "/explorer (open it in a browser)",
    ] {
        assert!(
            output.iter().any(|l| l.contains(needle)),
            "no {needle:?} in {output:#?}"
        );
    }
    // The three provers quoted (over both paths).
    for name in ["alice (http)", "bob (p2p)", "carol (p2p)"] {
        assert!(
            output
                .iter()
                .any(|l| l.contains("quote  epoch") && l.contains(name)),
            "{name} never quoted"
        );
    }
    // anvil is gone with the sandbox.
    let addr = output
        .iter()
        .find(|l| l.contains("anvil http://"))
        .and_then(|l| anvil_addr(l));
    let addr = addr.expect("banner names anvil");
    assert!(
        TcpStream::connect(&addr).is_err(),
        "anvil still listening on {addr}"
    );
    eprintln!("two proven epochs in {:?}", started.elapsed());
}

#[test]
fn ctrl_c_stops_everything() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("e2e-cli-sigint");
    let mut child = sandbox(&dir, &["--timeout-secs", "60"]);
    let rx = lines(&mut child);
    // Wait until the sandbox is running (first block proposed), then interrupt it like Ctrl-C.
    let deadline = Instant::now() + Duration::from_secs(45);
    let mut anvil = None;
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("sandbox output");
        if line.contains("anvil http://") {
            anvil = anvil_addr(&line);
        }
        if line.contains("block #") {
            break;
        }
    }
    let anvil = anvil.expect("banner names anvil");
    assert!(TcpStream::connect(&anvil).is_ok(), "anvil is running");
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(kill.success());
    let status = wait_exit(&mut child, Duration::from_secs(20));
    assert!(status.success(), "exit {status:?}");
    let rest: Vec<String> = rx.iter().collect();
    assert!(
        rest.iter().any(|l| l.contains("sandbox stopped")),
        "{rest:#?}"
    );
    assert!(
        TcpStream::connect(&anvil).is_err(),
        "anvil still listening on {anvil}"
    );
}
