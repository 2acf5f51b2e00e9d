//! The roles' lifecycle as `systemctl stop` / `docker stop` / Kubernetes meet it: the real
//! binary, SIGTERM, the exit code and the log lines.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use alloy_primitives::U256;
use epoch_rfq_l1::DeployParams;
use epoch_rfq_l1::anvil::TestChain;

const BIN: &str = env!("CARGO_BIN_EXE_epoch-rfq");

/// Spawns `epoch-rfq args` with `env`, its stderr (the logs) forwarded line by line.
fn spawn(args: &[&str], env: &[(&str, &str)]) -> (Child, mpsc::Receiver<String>) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("RUST_LOG", "info")
        .env("SHUTDOWN_TIMEOUT_MS", "10000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn epoch-rfq");
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Waits (bounded) for a log line containing `needle`.
fn wait_line(rx: &mpsc::Receiver<String>, needle: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no log line with {needle:?} within {limit:?}"));
        if line.contains(needle) {
            return;
        }
    }
}

fn terminate(child: &Child) {
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(kill.success());
}

fn wait_exit(child: &mut Child, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("epoch-rfq did not exit within {limit:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn pricing_server_stops_cleanly_on_sigterm() {
    let (mut child, rx) = spawn(&["pricing-server", "--listen", "127.0.0.1:0"], &[]);
    wait_line(&rx, "pricing server listening", Duration::from_secs(20));
    terminate(&child);
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "exit {status:?}");
    let rest: Vec<String> = rx.iter().collect();
    assert!(
        rest.iter()
            .any(|l| l.contains("SIGTERM: stopping gracefully")),
        "{rest:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prover_stops_cleanly_on_sigterm_and_keeps_its_jobs_resumable() {
    let chain = TestChain::start_and_deploy(DeployParams::default())
        .await
        .expect("anvil starts and the contracts deploy");
    let prover = chain.address(2).expect("account");
    chain
        .fund(&[prover], U256::from(1_000_000))
        .await
        .expect("fund the prover");
    let url = chain.url();
    let rollup = chain.deployment().expect("deployed").rollup.to_string();
    let key = chain.private_key_hex(2).expect("key");
    let dir = std::env::temp_dir().join(format!("epoch-rfq-lifecycle-{}", std::process::id()));
    let dir_str = dir.to_str().expect("utf-8 path").to_owned();
    let (status, rest) = tokio::task::spawn_blocking(move || {
        let (mut child, rx) = spawn(
            &["prover"],
            &[
                ("ETHEREUM_HOSTS", url.as_str()),
                ("ROLLUP_CONTRACT_ADDRESS", rollup.as_str()),
                ("PROVER_PUBLISHER_PRIVATE_KEY", key.as_str()),
                // Quotes go nowhere in this test; the node URL only selects the HTTP path.
                ("PROVER_COORDINATION_NODE_URL", "http://127.0.0.1:9/"),
                ("PROVER_MINIMUM_ESCROW_AMOUNT", "1000"),
                ("PROVER_TARGET_ESCROW_AMOUNT", "2000"),
                ("PROVER_NODE_POLLING_INTERVAL_MS", "200"),
                ("DATA_DIRECTORY", dir_str.as_str()),
            ],
        );
        wait_line(&rx, "prover node started", Duration::from_secs(30));
        // A few rounds of every service.
        std::thread::sleep(Duration::from_millis(600));
        terminate(&child);
        let status = wait_exit(&mut child, Duration::from_secs(15));
        (status, rx.iter().collect::<Vec<String>>())
    })
    .await
    .expect("the test thread");
    assert_eq!(status.code(), Some(0), "exit {status:?}\n{rest:#?}");
    for said in [
        "SIGTERM: stopping gracefully",
        "claim watcher stopped",
        "quoter stopped",
        "bond manager stopped",
        "prover stopped; unfinished jobs resume at the next start",
    ] {
        assert!(
            rest.iter().any(|l| l.contains(said)),
            "{said:?} missing in {rest:#?}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}
