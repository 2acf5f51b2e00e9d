//! End to end on anvil with roles as child processes of the real binary: the node runs as
//! `epoch-rfq node` (the proposer reads its quotes over JSON-RPC) and the cheapest prover as
//! `epoch-rfq prover`. The prover is killed with SIGKILL as soon as its claim is mined and
//! restarted on its data a second later; it finds the claim on the chain, proves the epoch, and
//! nothing is slashed or sent twice. Then the node is frozen with SIGSTOP for a few seconds and
//! the proposer's blocks go on.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use alloy_primitives::U256;
use epoch_rfq::sandbox::{QuotePath, RoleProcesses, Sandbox, SandboxEvent};
use epoch_rfq_l1::alloy::providers::Provider;
use epoch_rfq_l1::alloy::sol_types::SolCall;
use epoch_rfq_l1::bindings::Rollup;

#[tokio::test]
async fn a_killed_prover_process_proves_after_its_restart_and_a_frozen_node_stops_no_block() {
    let mut opts = common::fast("processes");
    // 16 s epochs: the kill, the restart and the proof fit well before the proof deadline.
    opts.epoch_duration = 8;
    opts.provers = vec![
        common::fixed("alice", QuotePath::Http, 120, 1000),
        common::fixed("bob", QuotePath::P2p, 240, 1000),
    ];
    opts.provers[0].proof_delay_ms = 2_000;
    opts.processes = RoleProcesses {
        node: true,
        provers: vec!["alice".to_owned()],
        binary: Some(PathBuf::from(env!("CARGO_BIN_EXE_epoch-rfq"))),
    };
    let sandbox = Sandbox::start(opts).await.expect("sandbox starts");
    assert!(sandbox.node().is_none() && sandbox.node_process().is_some());
    let alice = sandbox
        .provers()
        .iter()
        .find(|p| p.spec.name == "alice")
        .expect("alice runs");
    let process = alice.process().expect("alice is a child process");

    // Her quote reaches the node (read over JSON-RPC) and wins.
    let claimed = sandbox
        .wait_for(
            Duration::from_secs(90),
            |e| matches!(e, SandboxEvent::Claimed { prover, .. } if *prover == alice.address),
        )
        .await
        .expect("alice's quote is claimed");
    let SandboxEvent::Claimed { epoch, .. } = claimed else {
        unreachable!()
    };
    alice
        .kill_and_restart(Duration::from_secs(1))
        .await
        .expect("killed and started again");

    let proven = sandbox
        .wait_for(
            Duration::from_secs(60),
            |e| matches!(e, SandboxEvent::EpochProven { epoch: e, .. } if *e == epoch),
        )
        .await
        .expect("the epoch is proven after the restart");
    let SandboxEvent::EpochProven { prover, .. } = proven else {
        unreachable!()
    };
    assert_eq!(prover, alice.address);
    let log = std::fs::read_to_string(process.log()).expect("alice's log");
    assert_eq!(
        log.matches("prover node started").count(),
        2,
        "one start and one restart"
    );
    let slashed = sandbox
        .history()
        .iter()
        .filter(|e| matches!(e, SandboxEvent::BondSlashed { .. }))
        .count();
    assert_eq!(slashed, 0);
    // One proof transaction for the epoch on the chain: the restarted prover sent no second one.
    let provider = sandbox.reader().provider();
    let head = provider.get_block_number().await.expect("head");
    let mut submitted = 0;
    for number in 0..=head {
        let block = provider
            .get_block_by_number(number.into())
            .full()
            .await
            .expect("block")
            .expect("block exists");
        for tx in block.transactions.txns() {
            let request = tx.clone().into_request();
            if let Some(input) = request.input.input()
                && let Ok(call) = Rollup::submitEpochProofCall::abi_decode(input)
                && call.epoch == U256::from(epoch)
            {
                submitted += 1;
            }
        }
    }
    assert_eq!(submitted, 1);

    // The node frozen for 5 s: every slot still gets its block.
    let node = sandbox.node_process().expect("node process");
    let blocks = |events: &[SandboxEvent]| {
        events
            .iter()
            .filter(|e| matches!(e, SandboxEvent::BlockProposed { .. }))
            .count()
    };
    let before = blocks(&sandbox.history());
    node.freeze().await.expect("SIGSTOP");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let during = blocks(&sandbox.history()) - before;
    node.thaw().await.expect("SIGCONT");
    assert!(
        during >= 2,
        "{during} blocks in 5 s of 2 s slots while the node was frozen"
    );
    sandbox.shutdown().await;
}
