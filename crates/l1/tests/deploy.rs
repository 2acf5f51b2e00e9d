//! Deployment, the deployment file, connecting by URL, and the harness itself.

// Helpers outside #[test] fns unwrap too: this is a test crate.
#![allow(clippy::unwrap_used)]

mod common;

use alloy::primitives::{Address, U256};
use common::*;
use epoch_rfq_l1::alloy;
use epoch_rfq_l1::anvil::{HarnessError, TestChain};
use epoch_rfq_l1::{DeployParams, Deployment, L1Client, L1Error, TimeParams, deploy_with_signer};

#[tokio::test]
async fn deploy_describe_and_reconnect() {
    bounded(60, async {
        let chain = TestChain::start(Default::default()).await.unwrap();
        let key = chain.signer(0).unwrap();
        let (d, client) = deploy_with_signer(&chain.url(), key.clone(), &DeployParams::default())
            .await
            .unwrap();
        assert_eq!(d.chain_id, 31337);
        assert_eq!(d.deployer, key.address());
        assert_eq!(
            d.params.slash_recipient,
            key.address(),
            "zero means the deployer"
        );
        assert_eq!(d.params.token_owner, key.address());
        let (_, ts) = chain.latest_block().await.unwrap();
        assert!(d.genesis <= ts);

        // The file form: EIP-55 addresses, decimal amounts, round trip.
        let json = d.to_json();
        assert!(
            json.contains(&d.contracts.rollup.to_checksum(None)),
            "{json}"
        );
        assert!(json.contains("\"minBond\": \"1000\""), "{json}");
        assert_eq!(Deployment::from_json(&json).unwrap(), d);

        // A client connecting by URL reads the same facts from the chain.
        let reader = L1Client::connect(&chain.url(), d.contracts.rollup, None)
            .await
            .unwrap();
        assert_eq!(reader.info(), &d.info());
        assert_eq!(reader.info(), client.info());
        assert_eq!(
            *reader.time(),
            TimeParams {
                genesis: d.genesis,
                slot_duration: 4,
                epoch_duration: 8,
                claim_window: 4
            }
        );
        // Over ws too.
        let ws = L1Client::connect(&chain.ws_url(), d.contracts.rollup, None)
            .await
            .unwrap();
        assert_eq!(
            ws.current_slot().await.unwrap(),
            reader.current_slot().await.unwrap()
        );

        // Not a rollup.
        let err = L1Client::connect(&chain.url(), Address::repeat_byte(0x42), None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, L1Error::NoContract { what: "Rollup", .. }),
            "{err}"
        );
    })
    .await
}

#[tokio::test]
async fn invalid_params_are_refused_before_and_by_the_contract() {
    bounded(60, async {
        let mut chain = TestChain::start(Default::default()).await.unwrap();
        let bad = DeployParams {
            claim_window: 8,
            ..DeployParams::default()
        };
        let err = chain.deploy(bad).await.unwrap_err();
        assert!(err.to_string().contains("claim window"), "{err}");

        // Bypass the Rust check: the constructor's custom error is decoded.
        let provider = chain.wallet_provider(0).unwrap();
        let token = epoch_rfq_l1::bindings::FeeToken::deploy(&provider, chain.address(0).unwrap())
            .await
            .unwrap();
        let err = epoch_rfq_l1::bindings::Rollup::deploy(
            &provider,
            *token.address(),
            *token.address(),
            U256::from(4),
            U256::from(8),
            U256::ZERO,
            U256::ZERO,
            U256::ZERO,
            chain.address(0).unwrap(),
            vec![],
        )
        .await
        .unwrap_err();
        let decoded = epoch_rfq_l1::decode_revert(&err.as_revert_data().unwrap());
        assert_eq!(
            decoded,
            epoch_rfq_l1::Revert::Rollup(epoch_rfq_l1::RollupError::InvalidTimeParameters {
                slot_duration: U256::from(4),
                epoch_duration: U256::from(8),
                claim_window: U256::ZERO
            })
        );
    })
    .await
}

#[tokio::test]
async fn harness_time_control() {
    bounded(60, async {
        let w = world(false, 0).await;
        let time = w.chain.deployment().unwrap().time();
        w.chain.advance_to_slot(5).await.unwrap();
        let (_, ts) = w.chain.latest_block().await.unwrap();
        assert_eq!(ts, time.slot_start(5));
        assert_eq!(w.a.current_epoch().await.unwrap(), 1);
        // Already in slot 5: no-op; going back is an error.
        w.chain.advance_to_slot(5).await.unwrap();
        assert!(matches!(
            w.chain.advance_to_slot(2).await.unwrap_err(),
            HarnessError::TimeTravel { .. }
        ));
        w.chain.increase_time(30).await.unwrap();
        assert!(w.a.current_slot().await.unwrap() >= 7);
        w.chain.advance_to_epoch(3).await.unwrap();
        assert_eq!(w.a.current_slot().await.unwrap(), 12);
        assert_eq!(w.a.proposer_at(12).await.unwrap(), None, "no validator set");
    })
    .await
}

#[test]
fn missing_anvil_says_run_setup() {
    let err = HarnessError::AnvilNotFound {
        workspace_anvil: "x".into(),
    };
    assert!(err.to_string().contains("run scripts/setup"), "{err}");
}
