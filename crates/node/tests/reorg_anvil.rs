//! The node's pool through an L1 reorg (anvil's `evm_snapshot`/`evm_revert`), on the real
//! contracts: a quote accepted for an epoch whose last block is then reorged out stops being
//! served as soon as the node's view shows the change, and the epoch's new contents take quotes
//! again.
//!
//! One node without gossip, reading L1 through `L1ChainView`. Slots are 60 s long so that
//! nothing expires while the test runs; L1 time moves only when the test mines.
#![allow(clippy::unwrap_used)] // tests: a failure is a panic

mod common;

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::U256;
use common::bounded;
use epoch_rfq_l1::DeployParams;
use epoch_rfq_l1::alloy::providers::Provider;
use epoch_rfq_l1::anvil::TestChain;
use epoch_rfq_node::*;
use epoch_rfq_quote::EpochProofQuote;
use epoch_rfq_testkit::{chain, wait_until};

const PROPOSER: usize = 1;
const PROVER: usize = 2;
const BOND: u64 = 5_000;

fn quote_for(chain: &TestChain, range: &epoch_rfq_l1::EpochRange) -> EpochProofQuote {
    let reader = chain.reader().unwrap();
    let key = chain.signer(PROVER).unwrap();
    chain::claim_fields(&reader, range, key.address(), 1_000, BOND)
        .sign(&key, chain.chain_id())
        .unwrap()
}

/// Waits until the node serves exactly `expected` for epoch 0.
async fn serves(client: &NodeClient, what: &str, expected: &[EpochProofQuote]) {
    wait_until(what, Duration::from_secs(15), async || {
        client.get_epoch_proof_quotes(0).await.unwrap() == expected
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quote_whose_epoch_end_is_reorged_out_is_no_longer_served() {
    bounded(60, async {
        let chain = TestChain::start_and_deploy(DeployParams {
            slot_duration: 60,
            epoch_duration: 4,
            claim_window: 2,
            min_bond: U256::from(1_000),
            ..DeployParams::default()
        })
        .await
        .expect("anvil + deployment (run scripts/setup to install anvil)");
        let proposer = chain.address(PROPOSER).unwrap();
        chain
            .fund(&[proposer], U256::from(1_000_000u64))
            .await
            .unwrap();
        chain::fund_and_deposit(&chain, PROVER, 100_000).await;
        chain::propose_blocks(&chain, PROPOSER, &[(1, 3, 1_001), (2, 3, 2_003)]).await;
        let before_last_block: U256 = chain
            .provider()
            .raw_request("evm_snapshot".into(), ())
            .await
            .unwrap();
        chain::propose_blocks(&chain, PROPOSER, &[(3, 3, 3_007)]).await;
        // Epoch 0 (blocks 1-3) is complete and in its claim phase (slots 4 and 5).
        chain.advance_to_slot(4).await.unwrap();
        let reader = chain.reader().unwrap();
        let first = reader.epoch_to_prove_range().await.unwrap().unwrap();
        assert_eq!((first.from_block, first.to_block), (1, 3));

        let config = NodeConfig {
            refresh_interval: Duration::from_millis(200),
            rate_limit_per_sec: 0,
            ..NodeConfig::local()
        };
        let view = Arc::new(L1ChainView::new(chain.reader().unwrap()));
        let node = NodeService::spawn(config, view, None).await.unwrap();
        let client = NodeClient::new(node.url()).unwrap();
        let q_first = quote_for(&chain, &first);
        client.add_epoch_proof_quote(&q_first).await.unwrap();
        assert_eq!(
            client.get_epoch_proof_quotes(0).await.unwrap(),
            vec![q_first.clone()]
        );

        // A reorg takes out the epoch's last block and the blocks after it: epoch 0 is not
        // complete on the new chain, and its quote is bound to contents it no longer has.
        let reverted: bool = chain
            .provider()
            .raw_request("evm_revert".into(), (before_last_block,))
            .await
            .unwrap();
        assert!(reverted);
        serves(&client, "the quote withdrawn after the reorg", &[]).await;

        // The new chain's slot 3 has another block (other fees): the epoch is complete again
        // with other contents. The old quote does not come back; one for the new contents is
        // taken and served.
        chain::propose_blocks(&chain, PROPOSER, &[(3, 2, 5_000)]).await;
        chain.advance_to_slot(4).await.unwrap();
        let second = reader.epoch_to_prove_range().await.unwrap().unwrap();
        assert_ne!(second.total_fees, first.total_fees);
        let q_second = quote_for(&chain, &second);
        wait_until(
            "the node's view shows the new contents",
            Duration::from_secs(15),
            async || {
                node.service()
                    .snapshot()
                    .and_then(|s| s.epoch_to_prove)
                    .and_then(|v| v.contents)
                    .is_some_and(|c| c.total_fees == second.total_fees)
            },
        )
        .await;
        let err = client.add_epoch_proof_quote(&q_first).await.unwrap_err();
        assert!(err.to_string().contains("fees"), "{err}");
        client.add_epoch_proof_quote(&q_second).await.unwrap();
        serves(
            &client,
            "the quote for the new contents",
            std::slice::from_ref(&q_second),
        )
        .await;
        assert!(node.service().pool().stats().invalidated >= 1);
        node.shutdown().await;
    })
    .await;
}
