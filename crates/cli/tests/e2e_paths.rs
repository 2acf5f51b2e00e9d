//! End to end on anvil (2 s slots): both coordination paths deliver quotes that win. Two short
//! sandbox runs: first the HTTP prover is the cheapest, then the P2P prover; each time it wins the
//! claim and proves, and the node counts its quote on the expected entry path.

mod common;

use std::time::Duration;

use epoch_rfq::sandbox::{QuotePath, Sandbox, SandboxEvent};

/// Sum of the node's `quotes_accepted` counters for `path` (`rpc` or `gossip`).
fn accepted_on(metrics: &str, path: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| {
            !l.starts_with('#')
                && l.contains("quotes_accepted")
                && l.contains(&format!("path=\"{path}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

async fn winner_is(cheap: QuotePath) {
    let (http_bps, p2p_bps) = match cheap {
        QuotePath::Http => (120, 240),
        QuotePath::P2p => (240, 120),
    };
    let mut opts = common::fast(&format!("paths-{}", cheap.name()));
    opts.provers = vec![
        common::fixed("alice", QuotePath::Http, http_bps, 1000),
        common::fixed("bob", QuotePath::P2p, p2p_bps, 1000),
    ];
    let data_dir = opts.data_dir.clone();
    let sandbox = Sandbox::start(opts).await.expect("sandbox starts");
    let expected = match cheap {
        QuotePath::Http => sandbox.prover_address("alice").expect("alice runs"),
        QuotePath::P2p => sandbox.prover_address("bob").expect("bob runs"),
    };
    let proven = sandbox
        .wait_for(Duration::from_secs(60), |e| {
            matches!(e, SandboxEvent::EpochProven { claim: Some(_), .. })
        })
        .await
        .expect("an epoch is proven");
    let SandboxEvent::EpochProven { epoch, prover, .. } = proven else {
        unreachable!()
    };
    assert_eq!(prover, expected, "{} prover should win", cheap.name());
    let history = sandbox.history();
    assert_eq!(
        common::claim_of(&history, epoch).map(|c| (c.0, c.1)),
        Some((expected, 120))
    );
    // Both quotes reached the node, each by its path.
    let quoted = common::quoted(&history, epoch);
    assert!(quoted.len() >= 2, "{quoted:?}");
    let metrics = sandbox
        .node()
        .expect("node runs")
        .service()
        .render_metrics();
    assert!(accepted_on(&metrics, "rpc") >= 1, "{metrics}");
    assert!(accepted_on(&metrics, "gossip") >= 1, "{metrics}");
    sandbox.shutdown().await;
    let _ = std::fs::remove_dir_all(data_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn http_and_p2p_quotes_both_win_when_cheapest() {
    winner_is(QuotePath::Http).await;
    winner_is(QuotePath::P2p).await;
}
