//! A peer whose messages are all rejected is graylisted, disconnected and banned, while an
//! honest peer's messages keep arriving.

// Test code: panicking on an unexpected error is the point (see clippy.toml).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use epoch_rfq_p2p::Validation;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_peer_is_scored_down_and_disconnected_honest_peer_unaffected() {
    bounded(async {
        let mut victim = spawn_node(vec![]).await;
        let bad = spawn_node(vec![victim.addr.clone()]).await;
        let honest = spawn_node(vec![victim.addr.clone()]).await;
        wait_linked(&victim, &bad).await;
        wait_linked(&victim, &honest).await;

        let mut scores = Vec::new();
        let mut rejects = 0;
        for i in 0..8u8 {
            if !victim
                .handle
                .connected_peers()
                .await
                .unwrap()
                .contains(&bad.id())
            {
                break;
            }
            if bad.handle.publish(vec![0xBA, 0xD0, i]).await.is_err() {
                break; // the victim disconnected us meanwhile
            }
            let Some(msg) = victim.recv_within(Duration::from_millis(500)).await else {
                break; // graylisted: gossipsub no longer hands its messages to us
            };
            assert_eq!(msg.source, bad.id());
            victim
                .handle
                .report(msg.id, msg.source, Validation::Reject)
                .unwrap();
            rejects += 1;
            // Wait for the report to be applied, then read the score.
            let expected = -4.0 * f64::from(rejects * rejects);
            wait_until("score drops", Duration::from_secs(10), || async {
                let score = victim.handle.peer_score(bad.id()).await.unwrap();
                score.is_some_and(|s| s < expected)
            })
            .await;
            let score = victim.handle.peer_score(bad.id()).await.unwrap();
            scores.push(score.unwrap_or_default());
        }
        eprintln!("scores after each reject: {scores:?}");
        assert!(scores[0] < 0.0, "score after one reject: {scores:?}");
        assert!(
            scores.windows(2).all(|w| w[1] < w[0]),
            "scores not decreasing: {scores:?}"
        );
        assert!(
            (4..=5).contains(&rejects),
            "graylisted after {rejects} rejects: {scores:?}"
        );

        wait_until("bad peer disconnected", Duration::from_secs(3), || async {
            !victim
                .handle
                .connected_peers()
                .await
                .unwrap()
                .contains(&bad.id())
        })
        .await;
        assert_eq!(victim.handle.metrics().graylist_disconnects, 1);
        assert_eq!(victim.handle.metrics().rejected, rejects as u64);

        // It stays out: its bootstrap re-dials are refused while banned.
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(
            !victim
                .handle
                .connected_peers()
                .await
                .unwrap()
                .contains(&bad.id())
        );

        // The honest peer still gets through, with a non-negative score.
        let p = b"honest quote".to_vec();
        let id = honest
            .handle
            .publish(p.clone())
            .await
            .expect("honest publish");
        let msg = victim
            .recv_within(Duration::from_secs(3))
            .await
            .expect("honest message arrives");
        assert_eq!((msg.id.clone(), msg.payload.clone()), (id, p));
        victim
            .handle
            .report(msg.id, msg.source, Validation::Accept)
            .unwrap();
        let score = victim
            .handle
            .peer_score(honest.id())
            .await
            .unwrap()
            .unwrap_or_default();
        assert!(score >= 0.0, "honest score {score}");
        assert!(
            victim
                .handle
                .connected_peers()
                .await
                .unwrap()
                .contains(&honest.id())
        );
    })
    .await;
}
