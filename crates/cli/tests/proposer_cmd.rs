//! `epoch-rfq proposer`'s glue (`proposer_cmd`): argument parsing, key handling, the chain-id
//! check, and `build` + `run` against anvil until shutdown.

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::U256;
use clap::Parser;
use epoch_rfq::keys::KeyRole;
use epoch_rfq::proposer_cmd::{self, ProposerCmdArgs};
use epoch_rfq_l1::DeployParams;
use epoch_rfq_l1::anvil::{ChainOptions, TestChain};
use epoch_rfq_proposer::{MemoryQuoteSource, ProposerMetrics};
use epoch_rfq_testkit::bounded;

/// The dev account the proposer signs with.
const PROPOSER: usize = 1;
/// Fee tokens minted to it.
const FUNDS: u64 = 1_000_000_000;

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    args: ProposerCmdArgs,
}

fn parse(argv: &[&str]) -> ProposerCmdArgs {
    let mut full = vec!["proposer"];
    full.extend_from_slice(argv);
    Cli::try_parse_from(full).expect("parses").args
}

#[test]
fn keys_are_checked_and_never_echoed() {
    let args = parse(&["--coordination-node-url", " http://127.0.0.1:8000 "]);
    assert_eq!(args.node_url(), Some("http://127.0.0.1:8000"));
    let err = args
        .key
        .load_with_env(KeyRole::Proposer, |_| None)
        .expect_err("no key")
        .to_string();
    assert!(err.contains("PROPOSER_PUBLISHER_PRIVATE_KEY"), "{err}");
    let secret = "zz".repeat(32);
    let err = args
        .key
        .load_with_env(KeyRole::Proposer, |_| Some(secret.clone()))
        .expect_err("bad key")
        .to_string();
    assert!(!err.contains(&secret), "{err}");
    let key = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    let signer = args
        .key
        .load_with_env(KeyRole::Proposer, |name| {
            (name == "PROPOSER_PUBLISHER_PRIVATE_KEY").then(|| format!("0x{key}\n"))
        })
        .expect("valid");
    assert_eq!(
        signer.address().to_string(),
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    );
    // A key on the command line is not an option at all.
    let err = Cli::try_parse_from(["proposer", "--private-key", key])
        .expect_err("unknown argument")
        .to_string();
    assert!(err.contains("unexpected argument '--private-key'"), "{err}");
    assert!(!err.contains(key), "{err}");
}

#[tokio::test]
async fn runs_against_anvil_until_shutdown() {
    bounded(60, async {
        let mut chain = TestChain::start(ChainOptions {
            block_time: Some(1),
            ..ChainOptions::default()
        })
        .await
        .expect("anvil");
        let d = chain
            .deploy(DeployParams {
                slot_duration: 2,
                epoch_duration: 32,
                claim_window: 4,
                ..DeployParams::default()
            })
            .await
            .expect("deploys");
        chain
            .fund(
                &[chain.address(PROPOSER).expect("account")],
                U256::from(FUNDS),
            )
            .await
            .expect("funds");
        let url = chain.url();
        let rollup = d.info().contracts.rollup.to_string();
        let key = chain.private_key_hex(PROPOSER).expect("key");
        let base = [
            "--l1-rpc-url",
            url.as_str(),
            "--rollup",
            rollup.as_str(),
            "--polling-interval-ms",
            "200",
        ];
        // The sandbox's way of handing over a key in process; the binary reads
        // PROPOSER_PUBLISHER_PRIVATE_KEY.
        let parse = |argv: &[&str]| {
            let mut args = parse(argv);
            args.key.private_key = Some(key.clone());
            args
        };

        // The wrong chain id is refused before anything is sent.
        let mut wrong = base.to_vec();
        wrong.extend_from_slice(&["--l1-chain-id", "1"]);
        let err = proposer_cmd::build(
            parse(&wrong),
            Arc::new(MemoryQuoteSource::new()),
            ProposerMetrics::default(),
        )
        .await
        .expect_err("chain id mismatch")
        .to_string();
        assert!(err.contains("L1_CHAIN_ID is 1"), "{err}");

        let proposer = proposer_cmd::build(
            parse(&base),
            Arc::new(MemoryQuoteSource::new()),
            ProposerMetrics::default(),
        )
        .await
        .expect("builds");
        assert_eq!(
            proposer.address(),
            chain.address(PROPOSER).expect("account")
        );
        assert_eq!(proposer.tick_interval(), Duration::from_millis(200));
        let metrics = proposer.metrics().clone();
        drop(proposer);

        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(proposer_cmd::run(
            parse(&base),
            Arc::new(MemoryQuoteSource::new()),
            metrics.clone(),
            async {
                let _ = stopped.await;
            },
        ));
        while metrics.blocks_proposed_count() < 2 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stop.send(()).expect("running");
        task.await.expect("joins").expect("runs cleanly");
        let reader = chain.reader().expect("reader");
        assert!(reader.pending_block_number().await.expect("read") >= 2);
    })
    .await;
}

/// A node stopped with SIGSTOP: the kernel still accepts connections, nothing ever answers.
async fn hung_node() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listens");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (url, task)
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.expect("GET");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

#[tokio::test]
async fn a_hung_node_costs_no_block_and_shows_on_ready() {
    bounded(60, async {
        let mut chain = TestChain::start(ChainOptions {
            block_time: Some(1),
            ..ChainOptions::default()
        })
        .await
        .expect("anvil");
        let d = chain
            .deploy(DeployParams {
                // Three 1-s blocks per slot: a hiccup of the loaded test machine must not cost a slot.
                slot_duration: 3,
                epoch_duration: 4,
                claim_window: 2,
                ..DeployParams::default()
            })
            .await
            .expect("deploys");
        chain
            .fund(
                &[chain.address(PROPOSER).expect("account")],
                U256::from(FUNDS),
            )
            .await
            .expect("funds");
        let (node_url, node) = hung_node().await;
        let client = epoch_rfq_node::NodeClient::new(node_url.as_str()).expect("client");
        let source = Arc::new(epoch_rfq::wiring::NodeApiSource(client));
        // A free port for the ops server.
        let ops_addr = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("port")
            .local_addr()
            .expect("addr");
        let url = chain.url();
        let rollup = d.info().contracts.rollup.to_string();
        let key = chain.private_key_hex(PROPOSER).expect("key");
        let ops_arg = ops_addr.to_string();
        let args = parse(&[
            "--l1-rpc-url",
            url.as_str(),
            "--rollup",
            rollup.as_str(),
            "--polling-interval-ms",
            "200",
            "--quote-fetch-timeout-ms",
            "1000",
            "--metrics-addr",
            ops_arg.as_str(),
        ]);
        // Handed over in process, as the sandbox does; the binary reads
        // PROPOSER_PUBLISHER_PRIVATE_KEY (no key flag exists).
        let mut args = args;
        args.key.private_key = Some(key);
        let ops = proposer_cmd::ProposerOps::new();
        let metrics = ops.metrics.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(proposer_cmd::run_with_ops(args, source, ops, async {
            let _ = stopped.await;
        }));
        let reader = chain.reader().expect("reader");
        let time = d.time();
        while metrics.blocks_proposed_count() == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (_, ts) = reader.latest_l1_block().await.expect("L1");
        let first = time.slot_at(ts).expect("after genesis");
        // The RFQ asks the hung node in the first claim phase and gives up at its deadline.
        while metrics.quote_fetch_timeouts_count() == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (_, ts) = reader.latest_l1_block().await.expect("L1");
        let last = time.slot_at(ts).expect("after genesis");
        assert!(
            metrics.blocks_proposed_count() >= last - first,
            "{} blocks in slots {first}..={last}",
            metrics.blocks_proposed_count()
        );

        let base = format!("http://{ops_addr}");
        let (status, body) = get(&format!("{base}/ready")).await;
        assert_eq!(status, 503, "{body}");
        assert!(
            body.contains("\"rfq\":{\"state\":\"degraded\"")
                && body.contains("did not answer within 1000 ms"),
            "{body}"
        );
        let (status, body) = get(&format!("{base}/health")).await;
        assert_eq!(status, 200, "{body}");
        assert!(
            body.contains("\"block_producer\":{\"state\":\"ok\""),
            "{body}"
        );
        let (status, text) = get(&format!("{base}/metrics")).await;
        assert_eq!(status, 200);
        for name in [
            "proposer_quote_fetch_timeouts_total",
            "proposer_blocks_proposed_total",
            "proposer_epochs_unclaimed_total",
            "proposer_blocks_unclaimed_total",
        ] {
            assert!(text.contains(name), "{name} missing from\n{text}");
        }

        stop.send(()).expect("running");
        task.await.expect("joins").expect("runs cleanly");
        // Stopped: the ops server goes with the proposer.
        let mut gone = false;
        for _ in 0..40 {
            if reqwest::get(format!("{base}/health")).await.is_err() {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(gone, "the ops server outlived the proposer");
        node.abort();
    })
    .await;
}
