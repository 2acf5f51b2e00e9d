//! The prover's services run independently: a claim is acted on while the bond manager waits
//! for an escrow deposit's receipt, and health tells which service is waiting.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use epoch_rfq_l1::alloy::primitives::U256;
use epoch_rfq_l1::alloy::providers::Provider;
use epoch_rfq_prover::{DevProver, ProverEvent, SimpleQuoteProvider};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_during_a_slow_escrow_top_up_starts_its_job_within_a_polling_interval() {
    bounded(async {
        let chain = chain().await;
        fund(&chain, PROVER, WALLET).await;
        let me = address(&chain, PROVER).await;
        propose_epoch0(&chain).await;

        let dir = TempDir::new("slow-top-up");
        let mut settings = settings();
        // The wait the brief of this test is about: a deposit receipt that takes 30 s.
        settings.receipt_timeout = Duration::from_secs(30);
        let polling = settings.polling_interval;
        let l1 = chain.client(PROVER).await.expect("client");
        let mut parts = node_with(
            &chain,
            l1,
            settings,
            PROVER,
            &dir,
            Arc::new(SimpleQuoteProvider::new(100, U256::from(1_000))),
            Arc::new(DevProver::new(Duration::ZERO)),
        );
        let health = parts.node.health();
        let handle = parts.node.start().await.expect("start");
        chain.advance_to_epoch(1).await.expect("advance");
        let quote = wait_quotes(&parts.sink, 1, 10).await[0].clone();

        // A real escrow deposit from the prover that stays pending: its nonce is one ahead, so
        // anvil queues it. Recorded as the bond manager's, as after a crash mid-top-up: every
        // top-up now first waits (up to 30 s) for its receipt.
        let wallet = chain.wallet_provider(PROVER).expect("wallet");
        let escrow = epoch_rfq_l1::bindings::ProofCommitmentEscrow::new(
            chain.reader().expect("reader").escrow_address(),
            wallet.clone(),
        );
        let nonce = wallet.get_transaction_count(me).await.expect("nonce");
        let pending = escrow
            .deposit(U256::from(1))
            .nonce(nonce + 1)
            .gas(200_000)
            .send()
            .await
            .expect("the gapped deposit is accepted into the pool");
        let pending_hash = pending.tx_hash().to_string();
        handle
            .with_store(|s| s.record_tx(&pending_hash, "deposit", None))
            .expect("record");
        // Let the bond manager enter its wait (it runs every polling interval).
        tokio::time::sleep(polling * 5).await;

        let claimed_at = {
            claim_as_proposer(&chain, &quote).await;
            Instant::now()
        };
        next_event(&mut parts.events, 10, "job start", |e| match e {
            ProverEvent::JobStarted { epoch: 0, .. } => Some(()),
            _ => None,
        })
        .await;
        let latency = claimed_at.elapsed();
        // The top-up is still waiting for its receipt...
        let still_pending = handle.with_store(|s| {
            s.pending_txs()
                .expect("pending")
                .iter()
                .any(|(hash, _, _)| *hash == pending_hash)
        });
        assert!(
            still_pending,
            "the deposit was settled: the test did not test a wait"
        );
        // ...and the job started within a polling interval of the claim (plus the job's own
        // two L1 reads), not after it.
        println!(
            "LATENCY claim receipt -> job started while a top-up waits: {} ms (polling {} ms)",
            latency.as_millis(),
            polling.as_millis()
        );
        assert!(
            latency < polling * 2 + Duration::from_millis(500),
            "job started {latency:?} after the claim"
        );
        // Health says who waits: the claim watcher and the job runner are fine.
        let live = health.liveness();
        assert!(live.ok, "{}", live.body);
        assert!(
            live.body.contains(r#""claim_watcher":{"state":"ok""#),
            "{}",
            live.body
        );
        drop(handle);
    })
    .await;
}

/// A pricing plug-in with a bug: it panics.
struct PanickingProvider;

impl epoch_rfq_prover::QuoteProvider for PanickingProvider {
    fn get_quote<'a>(
        &'a self,
        _epoch: &'a epoch_rfq_prover::EpochSummary,
    ) -> futures::future::BoxFuture<
        'a,
        Result<epoch_rfq_prover::QuoteTerms, epoch_rfq_prover::NoQuote>,
    > {
        Box::pin(async { panic!("pricing bug") })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_dies_stops_the_process_naming_it() {
    bounded(async {
        let chain = chain().await;
        fund(&chain, PROVER, WALLET).await;
        propose_epoch0(&chain).await;
        let dir = TempDir::new("service-dies");
        let parts = node(
            &chain,
            PROVER,
            &dir,
            Arc::new(PanickingProvider),
            Arc::new(DevProver::new(Duration::ZERO)),
        )
        .await;
        let mut handle = parts.node.start().await.expect("start");
        // The process's supervision, as `epoch-rfq prover` wires it.
        let life = epoch_rfq_runtime::lifecycle::Lifecycle::new(Duration::from_secs(5));
        let token = life.token();
        life.spawn_critical("prover", async move {
            tokio::select! {
                () = token.cancelled() => {
                    handle.stop().await;
                    Ok(())
                }
                ended = handle.service_ended() => Err(ended),
            }
        });
        // The epoch completes: the quoter prices it and the plug-in panics.
        chain.advance_to_epoch(1).await.expect("advance");
        let err = life.run().await.expect_err("the process stops");
        let text = err.to_string();
        assert!(
            text.contains("critical task `prover` failed: service `quoter` panicked"),
            "{text}"
        );
    })
    .await;
}
