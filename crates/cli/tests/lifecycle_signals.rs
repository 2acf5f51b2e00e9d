//! The roles' lifecycle as `systemctl stop` / `docker stop` / Kubernetes meet it: the real
//! binary, SIGTERM, the exit code and the log lines.

use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use alloy_primitives::U256;
use epoch_rfq_l1::DeployParams;
use epoch_rfq_l1::anvil::TestChain;

#[path = "common/child.rs"]
mod child;
use child::{forward_lines, wait_exit};
use epoch_rfq_testkit::{TempDir, free_port};

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
    let rx = forward_lines(child.stderr.take().expect("stderr piped"));
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

/// `GET path` on 127.0.0.1:`port`: (status, body).
fn http_get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

fn terminate(child: &Child) {
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(kill.success());
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
    let rollup = chain
        .deployment()
        .expect("deployed")
        .contracts
        .rollup
        .to_string();
    let key = chain.private_key_hex(2).expect("key");
    let dir = TempDir::new("lifecycle-prover");
    let dir_str = dir.to_str().expect("utf-8 path").to_owned();
    let metrics_port = free_port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let (status, rest, ready) = tokio::task::spawn_blocking(move || {
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
                ("PROVER_METRICS_ADDR", metrics_addr.as_str()),
            ],
        );
        wait_line(&rx, "prover node started", Duration::from_secs(30));
        // A few rounds of every service, then every one has said it is fine.
        std::thread::sleep(Duration::from_millis(600));
        let ready = http_get(metrics_port, "/ready");
        terminate(&child);
        let status = wait_exit(&mut child, Duration::from_secs(15));
        (status, rx.iter().collect::<Vec<String>>(), ready)
    })
    .await
    .expect("the test thread");
    assert_eq!(status.code(), Some(0), "exit {status:?}\n{rest:#?}");
    let (ready_status, ready_body) = ready;
    assert_eq!(ready_status, 200, "{ready_body}");
    for service in ["claim_watcher", "quoter", "bond_manager", "job_runner"] {
        assert!(
            ready_body.contains(&format!(r#""{service}":{{"state":"ok""#)),
            "{service} not ok in {ready_body}"
        );
    }
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
}

/// Starts `epoch-rfq args`, waits for `started`, sends SIGTERM: the exit status and the logs.
fn stop_with_sigterm(
    args: &'static [&'static str],
    env: Vec<(&'static str, String)>,
    started: &'static str,
) -> (ExitStatus, Vec<String>) {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (mut child, rx) = spawn(args, &env);
    wait_line(&rx, started, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(300));
    terminate(&child);
    let status = wait_exit(&mut child, Duration::from_secs(15));
    (status, rx.iter().collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_and_proposer_stop_cleanly_on_sigterm() {
    let chain = TestChain::start_and_deploy(DeployParams::default())
        .await
        .expect("anvil starts and the contracts deploy");
    let url = chain.url();
    let rollup = chain
        .deployment()
        .expect("deployed")
        .contracts
        .rollup
        .to_string();
    let dir = TempDir::new("lifecycle-node");
    let node_env = vec![
        ("ETHEREUM_HOSTS", url.clone()),
        ("ROLLUP_CONTRACT_ADDRESS", rollup.clone()),
        ("NODE_HTTP_ADDR", "127.0.0.1:0".to_owned()),
        (
            "DATA_DIRECTORY",
            dir.to_str().expect("utf-8 path").to_owned(),
        ),
    ];
    let proposer_env = vec![
        ("ETHEREUM_HOSTS", url),
        ("ROLLUP_CONTRACT_ADDRESS", rollup),
        (
            "PROPOSER_PUBLISHER_PRIVATE_KEY",
            chain.private_key_hex(1).expect("key"),
        ),
        // No node runs there: the proposer's ticks log the failure and go on.
        (
            "PROPOSER_COORDINATION_NODE_URL",
            "http://127.0.0.1:9/".to_owned(),
        ),
    ];
    let ((node_status, node_logs), (proposer_status, proposer_logs)) =
        tokio::task::spawn_blocking(move || {
            (
                stop_with_sigterm(&["node"], node_env, "node JSON-RPC listening"),
                stop_with_sigterm(&["proposer"], proposer_env, "proposer started"),
            )
        })
        .await
        .expect("the test thread");
    for (role, status, logs) in [
        ("node", node_status, node_logs),
        ("proposer", proposer_status, proposer_logs),
    ] {
        assert_eq!(status.code(), Some(0), "{role}: exit {status:?}\n{logs:#?}");
        assert!(
            logs.iter()
                .any(|l| l.contains("SIGTERM: stopping gracefully")),
            "{role}: {logs:#?}"
        );
    }
}
