//! The proposer's timing on anvil: a node that stops answering (as one stopped with SIGSTOP
//! does: connections accepted, nothing answered) never costs a slot its block, and the quote
//! collection never lets the best quote expire.

mod common;

use std::time::Duration;

use alloy_primitives::U256;
use common::*;
use epoch_rfq_proposer::{Proposer, ProposerEvent};
use epoch_rfq_quote::QuoteFields;
use epoch_rfq_runtime::health::Health;
use tokio::sync::broadcast;
use tokio::time::Instant;

#[tokio::test]
async fn a_frozen_node_never_holds_up_the_slots_block() {
    bounded(60, async {
        let health = Health::new("proposer");
        let mut w = world(
            WorldOptions {
                health: Some(health.clone()),
                ..WorldOptions::default()
            },
            &[(3, DEPOSIT)],
        )
        .await;
        w.tick_slots(1..=3).await;
        let range = w.range(0).await;
        w.push_at(w.sign(w.fields(&range, 3, 100, 1_000), 3), 1);

        // Slot 4 opens epoch 0's claim phase; the node is frozen.
        w.node.freeze();
        w.chain.advance_to_slot(4).await.expect("advance");
        let started = Instant::now();
        let r = w.proposer.tick().await.expect("tick");
        let took = started.elapsed();
        assert!(r.proposed.is_some(), "the slot's block went out: {r:?}");
        assert_eq!(r.claimed, None);
        assert!(
            took < Duration::from_secs(2),
            "the tick waited {took:?} for a node that does not answer"
        );
        assert_eq!(w.node.queries(), 1);
        // The query stays out: the next tick neither waits for it nor asks again.
        let r = w.proposer.tick().await.expect("tick");
        assert_eq!((r.proposed, r.claimed), (None, None));
        assert_eq!(w.node.queries(), 1);
        assert!(health.liveness().ok, "{}", health.liveness().body);

        // Thawed: the answer arrives and the claim goes alone (the slot's block is out).
        w.node.thaw();
        let mut claimed = None;
        for _ in 0..3 {
            let r = w.proposer.tick().await.expect("tick");
            assert_eq!(r.proposed, None);
            if r.claimed.is_some() {
                claimed = r.claimed;
                break;
            }
        }
        assert_eq!(claimed, Some((0, w.address(3))));
        let claim = w.reader.claim(0).await.expect("read").expect("claimed");
        assert_eq!(claim.bond_provider, w.address(3));
        let ready = health.readiness();
        assert!(ready.ok, "{}", ready.body);
    })
    .await;
}

/// Runs the proposer's loop in a task until `stop` is sent.
fn spawn_run(
    mut proposer: Proposer,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Proposer>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        proposer
            .run(async {
                let _ = stopped.await;
            })
            .await;
        proposer
    });
    (stop, task)
}

/// Events until `deadline`.
async fn events_until(
    events: &mut broadcast::Receiver<ProposerEvent>,
    deadline: Instant,
) -> Vec<ProposerEvent> {
    let mut out = Vec::new();
    while let Ok(Ok(e)) = tokio::time::timeout_at(deadline, events.recv()).await {
        out.push(e);
    }
    out
}

#[tokio::test]
async fn every_slot_gets_its_block_while_the_node_is_frozen_for_20_s() {
    bounded(90, async {
        // Real time: 3-s slots, an L1 block every second (three chances per slot, so that a
        // loaded test machine's hiccup does not cost a slot); 4-slot epochs with a 2-slot claim
        // phase, no quotes, so the RFQ asks the node in half the slots.
        let health = Health::new("proposer");
        let w = world(
            WorldOptions {
                slot_duration: 3,
                epoch_duration: 4,
                claim_window: 2,
                polling_interval: Duration::from_millis(200),
                block_time: Some(1),
                health: Some(health.clone()),
                ..WorldOptions::default()
            },
            &[],
        )
        .await;
        let time = w.chain.deployment().expect("deployed").time();
        let World {
            chain,
            proposer,
            mut events,
            node,
            reader,
            ..
        } = w;
        let metrics = proposer.metrics().clone();
        let (stop, task) = spawn_run(proposer);
        // Running: a first block.
        loop {
            if let ProposerEvent::BlockProposed { .. } = events.recv().await.expect("event") {
                break;
            }
        }

        node.freeze();
        let queries_before = node.queries();
        let (_, ts) = reader.latest_l1_block().await.expect("L1");
        let first_slot = time.slot_at(ts).expect("after genesis") + 1;
        let during = events_until(&mut events, Instant::now() + Duration::from_secs(20)).await;
        let (_, ts) = reader.latest_l1_block().await.expect("L1");
        let last_slot = time.slot_at(ts).expect("after genesis") - 1;
        let ready = health.readiness();
        let live = health.liveness();
        node.thaw();
        stop.send(()).expect("loop running");
        task.await.expect("loop ends");

        let proposed: Vec<u64> = during
            .iter()
            .filter_map(|e| match e {
                ProposerEvent::BlockProposed { block, .. } => Some(block.slot),
                _ => None,
            })
            .collect();
        assert!(last_slot >= first_slot + 5, "{first_slot}..={last_slot}");
        for slot in first_slot..=last_slot {
            assert!(
                proposed.contains(&slot),
                "slot {slot} got no block while the node was frozen (blocks: {proposed:?})"
            );
        }
        // The RFQ did ask the frozen node, and gave up at its own deadline.
        assert!(node.queries() > queries_before, "the RFQ never ran");
        assert!(metrics.quote_fetch_timeouts_count() >= 1);
        assert!(!ready.ok, "{}", ready.body);
        assert!(
            ready.body.contains("\"rfq\":{\"state\":\"degraded\"")
                && ready.body.contains("did not answer within 2000 ms"),
            "{}",
            ready.body
        );
        assert!(live.ok, "{}", live.body);
        assert!(
            live.body.contains("\"block_producer\":{\"state\":\"ok\""),
            "{}",
            live.body
        );
        drop(chain);
    })
    .await;
}

#[tokio::test]
async fn a_quote_valid_only_in_the_first_claim_slot_is_claimed_in_it() {
    bounded(90, async {
        // 2-s slots, an L1 block every second, the default 2-s collection window: collecting
        // for the whole window would reach the second claim slot, where the quote is expired.
        let w = world(
            WorldOptions {
                slot_duration: 2,
                epoch_duration: 4,
                claim_window: 2,
                polling_interval: Duration::from_millis(200),
                block_time: Some(1),
                quote_collection: Duration::from_millis(2_000),
                ..WorldOptions::default()
            },
            &[(3, DEPOSIT)],
        )
        .await;
        let time = w.chain.deployment().expect("deployed").time();
        let World {
            chain,
            proposer,
            mut events,
            source,
            reader,
            ..
        } = w;
        let metrics = proposer.metrics().clone();
        let (stop, task) = spawn_run(proposer);

        // Wait for the last block of an epoch that is the epoch to prove.
        let epoch = loop {
            if let ProposerEvent::BlockProposed { block, .. } = events.recv().await.expect("event")
                && block.slot % 4 == 3
                && reader.epoch_to_prove().await.expect("read") == Some(block.slot / 4)
            {
                break block.slot / 4;
            }
        };
        let range = reader.epoch_range(epoch).await.expect("range");
        let first_claim_slot = time.claim_phase(epoch).start;
        assert_eq!(first_claim_slot, (epoch + 1) * 4);
        let key = chain.signer(3).expect("account");
        let quote = QuoteFields {
            basis_point_fee: 100,
            bond_amount: U256::from(1_000),
            valid_until_slot: U256::from(first_claim_slot),
            ..range.quote_fields(key.address(), reader.rollup_address())
        }
        .sign(&key, chain.chain_id())
        .expect("signs");
        source.push(quote);

        let deadline = Instant::now() + Duration::from_secs(12);
        let mut seen = Vec::new();
        let outcome = loop {
            let e = tokio::time::timeout_at(deadline, events.recv())
                .await
                .expect("a claim or an unclaimed epoch in time")
                .expect("event");
            seen.push(e.clone());
            match e {
                ProposerEvent::Claimed { epoch: e, .. } if e == epoch => break true,
                ProposerEvent::EpochUnclaimed { epoch: e, .. } if e == epoch => break false,
                _ => {}
            }
        };
        stop.send(()).expect("loop running");
        task.await.expect("loop ends");
        assert!(outcome, "epoch {epoch} went unclaimed: {seen:?}");
        assert!(
            !seen
                .iter()
                .any(|e| matches!(e, ProposerEvent::QuoteDropped { .. })),
            "{seen:?}"
        );
        let claim = reader.claim(epoch).await.expect("read").expect("claimed");
        assert_eq!(claim.bond_provider, key.address());
        // Claimed in the first claim slot, together with that slot's block.
        assert!(
            seen.iter().any(|e| matches!(e,
                ProposerEvent::BlockProposed { block, with_claim: true, .. }
                    if block.slot == first_claim_slot)),
            "{seen:?}"
        );
        assert_eq!(metrics.claims_count(), 1);
        drop(chain);
    })
    .await;
}
