//! The prover node against a real chain (anvil + the contracts): bond top-ups, quoting, claims,
//! proving jobs, restarts, pricing failures and a failing command prover.
//!
//! Time is driven by the test (`advance_to_slot`; slots are 30 s so nothing moves on its own).
//! Every test is bounded by a timeout.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use common::*;
use epoch_rfq_l1::alloy::primitives::U256;
use epoch_rfq_l1::alloy::providers::Provider;
use epoch_rfq_prover::{
    BondError, CommandProver, DevProver, EpochData, EpochProver, EpochSummary, HttpQuoteProvider,
    JobState, NoQuote, NodeError, ProveError, ProverEvent, QuoteProvider, QuoteTerms,
    SimpleQuoteProvider,
};
use futures::future::BoxFuture;

fn simple() -> Arc<SimpleQuoteProvider> {
    Arc::new(SimpleQuoteProvider::new(100, U256::from(1_000)))
}

fn dev() -> Arc<DevProver> {
    Arc::new(DevProver::new(Duration::ZERO))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_tops_up_to_target_and_refuses_an_unfunded_wallet() {
    bounded(async {
        let chain = chain().await;
        fund(&chain, PROVER, WALLET).await;
        let reader = chain.reader().expect("reader");
        let me = address(&chain, PROVER).await;
        assert_eq!(reader.deposits(me).await.unwrap(), U256::ZERO);

        let dir = TempDir::new("topup");
        let parts = node(&chain, PROVER, &dir, simple(), dev()).await;
        let handle = parts.node.start().await.expect("start tops up");
        assert_eq!(reader.deposits(me).await.unwrap(), U256::from(TARGET));
        assert_eq!(
            reader.balance_of(me).await.unwrap(),
            U256::from(WALLET - TARGET)
        );
        assert_eq!(parts.metrics.deposits_count(), 1);
        handle.stop().await;

        // A restart with the deposit in place deposits nothing.
        let parts = node(&chain, PROVER, &dir, simple(), dev()).await;
        let handle = parts.node.start().await.expect("restart");
        assert_eq!(reader.deposits(me).await.unwrap(), U256::from(TARGET));
        assert_eq!(parts.metrics.deposits_count(), 0);
        handle.stop().await;

        // A wallet that cannot cover the top-up: the start fails and says how much is missing.
        fund(&chain, OTHER_PROVER, 50_000).await;
        let dir_poor = TempDir::new("poor");
        let parts = node(&chain, OTHER_PROVER, &dir_poor, simple(), dev()).await;
        let err = parts.node.start().await.expect_err("cannot top up");
        assert!(
            matches!(
                err,
                NodeError::Bond(BondError::InsufficientFunds(ref short))
                    if short.missing == U256::from(150_000)
            ),
            "{err}"
        );
        assert!(err.to_string().contains("150000 missing"), "{err}");
        assert_eq!(
            reader
                .deposits(address(&chain, OTHER_PROVER).await)
                .await
                .unwrap(),
            U256::ZERO
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_deposit_is_settled_not_repeated() {
    bounded(async {
        let chain = chain().await;
        fund(&chain, PROVER, WALLET).await;
        let me = address(&chain, PROVER).await;
        let client = chain.client(PROVER).await.unwrap();
        // A deposit sent by an earlier run that crashed before learning its outcome.
        let outcome = client
            .deposit_with_approval(U256::from(TARGET))
            .await
            .unwrap();
        let dir = TempDir::new("recorded");
        {
            let store = epoch_rfq_prover::ProverStore::open(&dir).unwrap();
            store
                .record_tx(&outcome.tx_hash.to_string(), "deposit", None)
                .unwrap();
        }
        let parts = node(&chain, PROVER, &dir, simple(), dev()).await;
        let handle = parts.node.start().await.expect("start");
        assert_eq!(
            client.deposits(me).await.unwrap(),
            U256::from(TARGET),
            "no second deposit"
        );
        assert_eq!(parts.metrics.deposits_count(), 0);
        assert!(handle.with_store(|s| s.pending_txs().unwrap()).is_empty());
        handle.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotes_a_completed_epoch_once_then_proves_the_claim_and_gets_paid() {
    bounded(async {
        let chain = chain().await;
        fund(&chain, PROVER, WALLET).await;
        let me = address(&chain, PROVER).await;
        let reader = chain.reader().unwrap();
        let blocks = propose_epoch0(&chain).await;

        let dir = TempDir::new("happy");
        let mut parts = node(&chain, PROVER, &dir, simple(), dev()).await;
        let handle = parts.node.start().await.expect("start");
        // Epoch 0 is not complete yet: no quote.
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(parts.sink.quotes().is_empty());

        let epoch_end = Instant::now();
        chain.advance_to_epoch(1).await.unwrap();
        let quotes = wait_quotes(&parts.sink, 1, 10).await;
        let quote_latency = epoch_end.elapsed();
        let quote = quotes[0].clone();
        let verified = quote.verify(chain.chain_id()).expect("the quote verifies");
        assert_eq!(verified.signer(), me);
        let f = quote.fields();
        assert_eq!(f.epoch_number, U256::ZERO);
        assert_eq!(f.epoch_init_block, U256::from(blocks[0].number));
        assert_eq!(f.epoch_final_block, U256::from(blocks[2].number));
        assert_eq!(f.total_fees, U256::from(10_000 + 25_000 + 7));
        assert_eq!(f.basis_point_fee, 100);
        assert_eq!(f.bond_amount, U256::from(1_000));
        assert_eq!(f.rollup_address, reader.rollup_address());
        // Default expiry: the last slot of the claim phase (slots 4–5).
        assert_eq!(f.valid_until_slot, U256::from(5));
        // More ticks in the same and the next slot: still exactly one quote.
        tokio::time::sleep(Duration::from_millis(500)).await;
        chain.advance_to_slot(5).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(parts.sink.quotes().len(), 1, "exactly one quote");
        assert_eq!(parts.metrics.quotes_sent_count("http"), 1);

        let balance_before = reader.balance_of(me).await.unwrap();
        let proposer = chain.client(PROPOSER).await.unwrap();
        let claim_sent = Instant::now();
        proposer
            .claim_epoch_proof_right(&quote)
            .await
            .expect("claim");
        let claimed = Instant::now();
        let resumed = next_event(&mut parts.events, 10, "job start", |e| match e {
            ProverEvent::JobStarted { epoch: 0, resumed } => Some(*resumed),
            _ => None,
        })
        .await;
        let claim_latency = claimed.elapsed();
        let claim_latency_upper = claim_sent.elapsed();
        assert!(!resumed);
        let (state, note) = job_end(&mut parts.events, 0, 20).await;
        assert_eq!(state, JobState::Completed, "{note}");
        println!(
            "LATENCY (polling 100 ms) epoch end -> quote sent: {} ms; claim receipt -> job \
             started: {} ms (claim sent -> job started: {} ms)",
            quote_latency.as_millis(),
            claim_latency.as_millis(),
            claim_latency_upper.as_millis()
        );

        let proven = reader.epoch_proven_events(0, None).await.unwrap();
        assert_eq!(proven.len(), 1);
        let expected_reward = reward(&blocks, 100);
        assert_eq!(expected_reward, U256::from(100 + 250));
        assert_eq!(proven[0].prover, me);
        assert_eq!(proven[0].prover_reward, expected_reward);
        assert_eq!(
            reader.balance_of(me).await.unwrap(),
            balance_before + expected_reward,
            "fee share received, to the wei"
        );
        assert_eq!(
            reader.deposits(me).await.unwrap(),
            U256::from(TARGET),
            "bond back in the deposit"
        );
        assert_eq!(reader.staked_bonds(me).await.unwrap(), U256::ZERO);
        assert_eq!(parts.metrics.claims_won_count(), 1);
        assert_eq!(parts.metrics.job_outcome_count(JobState::Completed), 1);
        let job = handle.with_store(|s| s.job(0).unwrap().unwrap());
        assert_eq!(job.state, JobState::Completed);
        assert_eq!(job.attempts, 1);
        handle.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pricing_service_zero_fee_quotes_and_garbage_or_timeout_does_not() {
    bounded(async {
        let chain = chain().await;
        for account in [2, 3, 4] {
            fund(&chain, account, WALLET).await;
        }
        propose_epoch0(&chain).await;

        let zero = spawn(Router::new().route(
            "/",
            post(|| async { r#"{"basisPointFee":0,"bondAmount":"1000"}"# }),
        ))
        .await;
        let garbage = spawn(Router::new().route("/", post(|| async { "<html>no</html>" }))).await;
        let slow = spawn(Router::new().route(
            "/",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                r#"{"basisPointFee":1,"bondAmount":"1000"}"#
            }),
        ))
        .await;
        let provider =
            |url: String| Arc::new(HttpQuoteProvider::new(url, Duration::from_millis(200), 0));
        let dir_zero = TempDir::new("zero");
        let zero_node = node(&chain, 2, &dir_zero, provider(zero), dev()).await;
        let dir_garbage = TempDir::new("garbage");
        let garbage_node = node(&chain, 3, &dir_garbage, provider(garbage), dev()).await;
        let dir_slow = TempDir::new("slow");
        let slow_node = node(&chain, 4, &dir_slow, provider(slow), dev()).await;
        let handles = [
            zero_node.node.start().await.unwrap(),
            garbage_node.node.start().await.unwrap(),
            slow_node.node.start().await.unwrap(),
        ];
        chain.advance_to_epoch(1).await.unwrap();

        let quotes = wait_quotes(&zero_node.sink, 1, 10).await;
        assert_eq!(quotes[0].fields().basis_point_fee, 0);
        quotes[0].verify(chain.chain_id()).unwrap();

        let mut garbage_events = garbage_node.events;
        let reason = next_event(&mut garbage_events, 10, "garbage no-quote", |e| match e {
            ProverEvent::NoQuote {
                epoch: 0, reason, ..
            } => Some(*reason),
            _ => None,
        })
        .await;
        assert_eq!(reason, "not_json");
        let mut slow_events = slow_node.events;
        let reason = next_event(&mut slow_events, 10, "timeout no-quote", |e| match e {
            ProverEvent::NoQuote {
                epoch: 0, reason, ..
            } => Some(*reason),
            _ => None,
        })
        .await;
        assert_eq!(reason, "timeout");
        assert!(garbage_node.metrics.no_quote_count("not_json") >= 1);
        assert!(slow_node.metrics.no_quote_count("timeout") >= 1);
        assert!(garbage_node.sink.quotes().is_empty());
        assert!(slow_node.sink.quotes().is_empty());
        for handle in handles {
            handle.stop().await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_job_resumes_and_completes_once() {
    bounded(async {
        let chain = chain().await;
        fund(&chain, PROVER, WALLET).await;
        let me = address(&chain, PROVER).await;
        let reader = chain.reader().unwrap();
        let blocks = propose_epoch0(&chain).await;
        let dir = TempDir::new("restart");

        // First run: a slow prover, stopped while the job is proving.
        let slow = Arc::new(DevProver::new(Duration::from_secs(30)));
        let mut first = node(&chain, PROVER, &dir, simple(), slow).await;
        let handle = first.node.start().await.unwrap();
        chain.advance_to_epoch(1).await.unwrap();
        let quote = wait_quotes(&first.sink, 1, 10).await.remove(0);
        let balance_before = reader.balance_of(me).await.unwrap();
        claim_as_proposer(&chain, &quote).await;
        next_event(&mut first.events, 10, "job start", |e| {
            matches!(e, ProverEvent::JobStarted { epoch: 0, .. }).then_some(())
        })
        .await;
        assert_eq!(
            handle.with_store(|s| s.job(0).unwrap().unwrap().state),
            JobState::Proving
        );
        drop(handle);

        // Second run on the same data directory.
        let mut second = node(&chain, PROVER, &dir, simple(), dev()).await;
        let handle = second.node.start().await.unwrap();
        let resumed = next_event(&mut second.events, 10, "job resume", |e| match e {
            ProverEvent::JobStarted { epoch: 0, resumed } => Some(*resumed),
            _ => None,
        })
        .await;
        assert!(resumed);
        let (state, _) = job_end(&mut second.events, 0, 20).await;
        assert_eq!(state, JobState::Completed);
        // A few more ticks: nothing else happens.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(reader.epoch_proven_events(0, None).await.unwrap().len(), 1);
        let history = handle.with_store(|s| s.history(0).unwrap());
        assert_eq!(
            history.iter().filter(|t| t.to == "completed").count(),
            1,
            "{history:?}"
        );
        assert_eq!(history.iter().filter(|t| t.to == "claimed").count(), 2);
        assert!(second.sink.quotes().is_empty(), "no second quote");
        assert_eq!(
            reader.balance_of(me).await.unwrap(),
            balance_before + reward(&blocks, 100)
        );
        handle.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_for_another_prover_starts_nothing() {
    bounded(async {
        let chain = chain().await;
        fund(&chain, PROVER, WALLET).await;
        fund(&chain, OTHER_PROVER, WALLET).await;
        propose_epoch0(&chain).await;
        let dir_ours = TempDir::new("ours");
        let mut ours = node(&chain, PROVER, &dir_ours, simple(), dev()).await;
        // Their proof takes a while, so the claim stays the current one for a few polls.
        let their_prover = Arc::new(DevProver::new(Duration::from_millis(1_500)));
        let dir_theirs = TempDir::new("theirs");
        let mut theirs = node(&chain, OTHER_PROVER, &dir_theirs, simple(), their_prover).await;
        let our_handle = ours.node.start().await.unwrap();
        let their_handle = theirs.node.start().await.unwrap();
        chain.advance_to_epoch(1).await.unwrap();
        let quote = wait_quotes(&theirs.sink, 1, 10).await.remove(0);
        wait_quotes(&ours.sink, 1, 10).await;
        claim_as_proposer(&chain, &quote).await;
        let ours_flag = next_event(&mut ours.events, 10, "claim seen", |e| match e {
            ProverEvent::ClaimSeen { ours, .. } => Some(*ours),
            _ => None,
        })
        .await;
        assert!(!ours_flag);
        next_event(&mut theirs.events, 20, "their job end", |e| {
            matches!(
                e,
                ProverEvent::JobFinished {
                    epoch: 0,
                    state: JobState::Completed,
                    ..
                }
            )
            .then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(our_handle.with_store(|s| s.job(0).unwrap()).is_none());
        assert_eq!(ours.metrics.claims_won_count(), 0);
        our_handle.stop().await;
        their_handle.stop().await;
    })
    .await;
}

/// A prover that fails its first attempt (a transient fault), then proves for real.
struct FailsOnce {
    failed: std::sync::atomic::AtomicBool,
    inner: DevProver,
}

impl EpochProver for FailsOnce {
    fn name(&self) -> &'static str {
        "fails-once"
    }

    fn prove<'a>(
        &'a self,
        epoch: &'a EpochData,
    ) -> BoxFuture<'a, Result<epoch_rfq_l1::alloy::primitives::Bytes, ProveError>> {
        if !self.failed.swap(true, Ordering::SeqCst) {
            return Box::pin(async { Err(ProveError::Other("out of memory".into())) });
        }
        self.inner.prove(epoch)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_proving_failure_is_retried_and_the_job_completes() {
    bounded(async {
        let chain = chain().await;
        fund(&chain, PROVER, WALLET).await;
        propose_epoch0(&chain).await;
        let prover = Arc::new(FailsOnce {
            failed: std::sync::atomic::AtomicBool::new(false),
            inner: DevProver::new(Duration::ZERO),
        });
        let dir = TempDir::new("fails-once");
        let mut parts = node(&chain, PROVER, &dir, simple(), prover).await;
        let handle = parts.node.start().await.unwrap();
        chain.advance_to_epoch(1).await.unwrap();
        let quote = wait_quotes(&parts.sink, 1, 10).await.remove(0);
        claim_as_proposer(&chain, &quote).await;
        let (state, _) = job_end(&mut parts.events, 0, 30).await;
        assert_eq!(state, JobState::Completed);
        let history = handle.with_store(|s| s.history(0).unwrap());
        assert!(
            history.iter().any(|t| t
                .note
                .as_deref()
                .is_some_and(|n| n.contains("retrying: proving failed: out of memory"))),
            "{history:?}"
        );
        handle.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_command_prover_fails_the_job_with_its_stderr() {
    bounded(async {
        let chain = chain().await;
        fund(&chain, PROVER, WALLET).await;
        propose_epoch0(&chain).await;
        let prover = Arc::new(CommandProver::new(
            "echo boom >&2; exit 3",
            Duration::from_secs(10),
        ));
        let dir_command = TempDir::new("command");
        let mut parts = node(&chain, PROVER, &dir_command, simple(), prover).await;
        let handle = parts.node.start().await.unwrap();
        chain.advance_to_epoch(1).await.unwrap();
        let quote = wait_quotes(&parts.sink, 1, 10).await.remove(0);
        claim_as_proposer(&chain, &quote).await;
        let (state, note) = job_end(&mut parts.events, 0, 20).await;
        assert_eq!(state, JobState::Failed);
        assert!(note.contains("boom"), "{note}");
        let job = handle.with_store(|s| s.job(0).unwrap().unwrap());
        assert_eq!(job.state, JobState::Failed);
        assert!(job.error.unwrap_or_default().contains("boom"));
        assert_eq!(parts.metrics.job_outcome_count(JobState::Failed), 1);
        // Money at risk is counted for alerting.
        assert_eq!(parts.metrics.jobs_failed_count(), 1);
        handle.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_that_vanishes_cancels_the_job() {
    bounded(async {
        let chain = chain().await;
        fund(&chain, PROVER, WALLET).await;
        propose_epoch0(&chain).await;
        // A prover that would take far longer than the test.
        let slow = Arc::new(DevProver::new(Duration::from_secs(300)));
        let dir_cancel = TempDir::new("cancel");
        let mut parts = node(&chain, PROVER, &dir_cancel, simple(), slow).await;
        let handle = parts.node.start().await.unwrap();
        chain.advance_to_epoch(1).await.unwrap();
        let quote = wait_quotes(&parts.sink, 1, 10).await.remove(0);
        claim_as_proposer(&chain, &quote).await;
        next_event(&mut parts.events, 10, "job start", |e| {
            matches!(e, ProverEvent::JobStarted { epoch: 0, .. }).then_some(())
        })
        .await;
        // The deadline passes and anyone prunes: the claim (and the blocks) are gone.
        chain.advance_to_epoch(2).await.unwrap();
        chain.client(0).await.unwrap().prune().await.expect("prune");
        let (state, _) = job_end(&mut parts.events, 0, 10).await;
        assert_eq!(state, JobState::Cancelled);
        let job = handle.with_store(|s| s.job(0).unwrap().unwrap());
        assert!(job.error.unwrap_or_default().contains("vanished"));
        handle.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_that_disappears_in_a_reorg_and_comes_back_keeps_the_job() {
    bounded(async {
        let chain = chain().await;
        fund(&chain, PROVER, WALLET).await;
        propose_epoch0(&chain).await;
        let slow = Arc::new(DevProver::new(Duration::from_secs(300)));
        let dir = TempDir::new("reorg");
        let mut parts = node(&chain, PROVER, &dir, simple(), slow).await;
        let handle = parts.node.start().await.unwrap();
        chain.advance_to_epoch(1).await.unwrap();
        let quote = wait_quotes(&parts.sink, 1, 10).await.remove(0);
        let provider = chain.provider();
        let before_claim: U256 = provider
            .raw_request("evm_snapshot".into(), ())
            .await
            .unwrap();
        let proposer = chain.client(PROPOSER).await.unwrap();
        proposer.claim_epoch_proof_right(&quote).await.unwrap();
        next_event(&mut parts.events, 10, "job start", |e| {
            matches!(e, ProverEvent::JobStarted { epoch: 0, .. }).then_some(())
        })
        .await;
        // A reorg drops the claim's block: for a while L1 shows no claim for epoch 0.
        let reverted: bool = provider
            .raw_request("evm_revert".into(), (before_claim,))
            .await
            .unwrap();
        assert!(reverted);
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let state = handle.with_store(|s| s.job(0).unwrap().unwrap().state);
        assert_eq!(
            state,
            JobState::Proving,
            "a claim missing while the epoch has blocks must not cancel the job"
        );
        // The claim is mined again: the same job serves it.
        proposer.claim_epoch_proof_right(&quote).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let state = handle.with_store(|s| s.job(0).unwrap().unwrap().state);
        assert_eq!(state, JobState::Proving);
        handle.stop().await;
    })
    .await;
}

/// With a ws:// L1 URL the node subscribes to `ProofRightClaimed`: the claim is picked up long
/// before the next poll (the polling interval here is 30 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ws_subscription_detects_the_claim_without_waiting_for_a_poll() {
    bounded(async {
        let chain = chain().await;
        fund(&chain, PROVER, WALLET).await;
        let blocks = propose_epoch0(&chain).await;
        let signer = chain.signer(PROVER).unwrap();
        let rollup = chain.deployment().unwrap().contracts.rollup;
        let l1 = epoch_rfq_l1::L1Client::connect(&chain.ws_url(), rollup, Some(signer.clone()))
            .await
            .expect("ws client");
        let mut settings = settings();
        settings.polling_interval = Duration::from_secs(30);
        settings.subscribe_claims = true;
        let dir_ws = TempDir::new("ws");
        let mut parts = node_with(&chain, l1, settings, PROVER, &dir_ws, simple(), dev());
        let handle = parts.node.start().await.unwrap();
        // Let the first (immediate) tick pass; the next poll is 30 s away.
        tokio::time::sleep(Duration::from_millis(300)).await;
        chain.advance_to_epoch(1).await.unwrap();
        // The prover's quote, signed here with its key (the node would only quote on a poll).
        let reader = chain.reader().unwrap();
        let range = reader.epoch_range(0).await.unwrap();
        let mut fields = range.quote_fields(signer.address(), rollup);
        fields.basis_point_fee = 100;
        fields.bond_amount = U256::from(1_000);
        fields.valid_until_slot = U256::from(5);
        let quote = fields.sign(&signer, chain.chain_id()).unwrap();
        let proposer = chain.client(PROPOSER).await.unwrap();
        let claim_sent = Instant::now();
        proposer.claim_epoch_proof_right(&quote).await.unwrap();
        let claimed = Instant::now();
        next_event(&mut parts.events, 5, "job start", |e| {
            matches!(e, ProverEvent::JobStarted { epoch: 0, .. }).then_some(())
        })
        .await;
        let latency = claimed.elapsed();
        println!(
            "LATENCY (ws) claim receipt -> job started: {} ms (claim sent -> job started: {} ms)",
            latency.as_millis(),
            claim_sent.elapsed().as_millis()
        );
        assert!(latency < Duration::from_secs(5));
        let (state, _) = job_end(&mut parts.events, 0, 20).await;
        assert_eq!(state, JobState::Completed);
        let proven = reader.epoch_proven_events(0, None).await.unwrap();
        assert_eq!(proven[0].prover_reward, reward(&blocks, 100));
        handle.stop().await;
    })
    .await;
}

/// Fixed terms whose first quote expires at slot 4 (the first slot of epoch 0's claim phase);
/// later ones take the default expiry. Counts calls.
#[derive(Default)]
struct Expiring {
    calls: AtomicU32,
    first_expires: bool,
}

impl QuoteProvider for Expiring {
    fn get_quote<'a>(
        &'a self,
        _epoch: &'a EpochSummary,
    ) -> BoxFuture<'a, Result<QuoteTerms, NoQuote>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            Ok(QuoteTerms {
                basis_point_fee: 100 + n,
                bond_amount: U256::from(1_000),
                valid_until_slot: (self.first_expires && n == 0).then(|| U256::from(4)),
            })
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_quote_is_replaced_while_the_epoch_is_claimable() {
    bounded(async {
        let chain = chain().await;
        fund(&chain, PROVER, WALLET).await;
        propose_epoch0(&chain).await;
        let pricing = Arc::new(Expiring {
            first_expires: true,
            ..Expiring::default()
        });
        let dir_expiring = TempDir::new("expiring");
        let parts = node(&chain, PROVER, &dir_expiring, pricing.clone(), dev()).await;
        let handle = parts.node.start().await.unwrap();
        chain.advance_to_epoch(1).await.unwrap();
        let first = wait_quotes(&parts.sink, 1, 10).await.remove(0);
        assert_eq!(first.fields().valid_until_slot, U256::from(4));
        // Still valid in slot 4: no second quote.
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(parts.sink.quotes().len(), 1);
        // Slot 5: the first expired, the epoch is still claimable: a new quote.
        chain.advance_to_slot(5).await.unwrap();
        let quotes = wait_quotes(&parts.sink, 2, 10).await;
        let second = &quotes[1];
        assert_ne!(second, &first);
        assert_eq!(second.fields().valid_until_slot, U256::from(5));
        assert_eq!(second.fields().basis_point_fee, 101);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(parts.sink.quotes().len(), 2);
        assert_eq!(pricing.calls.load(Ordering::SeqCst), 2);
        handle.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_resends_its_stored_quote_not_a_new_one() {
    bounded(async {
        let chain = chain().await;
        fund(&chain, PROVER, WALLET).await;
        propose_epoch0(&chain).await;
        let dir = TempDir::new("resend");
        let first = node(&chain, PROVER, &dir, simple(), dev()).await;
        let handle = first.node.start().await.unwrap();
        chain.advance_to_epoch(1).await.unwrap();
        let quote = wait_quotes(&first.sink, 1, 10).await.remove(0);
        handle.stop().await;

        // The restarted node would price differently; it must not: it resends the stored quote.
        let pricing = Arc::new(Expiring::default());
        let mut second = node(&chain, PROVER, &dir, pricing.clone(), dev()).await;
        let handle = second.node.start().await.unwrap();
        let resend = next_event(&mut second.events, 10, "quote resent", |e| match e {
            ProverEvent::QuoteSent {
                epoch: 0, resend, ..
            } => Some(*resend),
            _ => None,
        })
        .await;
        assert!(resend);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(second.sink.quotes(), vec![quote]);
        assert_eq!(pricing.calls.load(Ordering::SeqCst), 0, "no new pricing");
        handle.stop().await;
    })
    .await;
}

/// Real time instead of manual time: slots of 2 s, an empty L1 block mined every 250 ms (so L1
/// time follows the wall clock), polling every 200 ms. Measures the epoch end → quote latency
/// as an operator sees it (epoch end by the L1 clock, i.e. the wall clock here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_real_time_an_epoch_is_quoted_claimed_and_proven() {
    use epoch_rfq_l1::alloy::providers::ext::AnvilApi;
    bounded(async {
        let mut chain = epoch_rfq_l1::anvil::TestChain::start(Default::default())
            .await
            .expect("anvil");
        let deployment = chain
            .deploy(epoch_rfq_l1::DeployParams {
                slot_duration: 2,
                epoch_duration: 3,
                claim_window: 2,
                min_bond: U256::from(1_000),
                ..epoch_rfq_l1::DeployParams::default()
            })
            .await
            .expect("deploy");
        let miner = {
            let provider = chain.provider().clone();
            tokio::spawn(async move {
                loop {
                    let _ = provider.evm_mine(None).await;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            })
        };
        let time = deployment.time();
        fund(&chain, PROPOSER, 1_000_000).await;
        fund(&chain, PROVER, WALLET).await;
        let proposer = chain.client(PROPOSER).await.unwrap();
        proposer
            .approve(proposer.rollup_address(), U256::MAX)
            .await
            .unwrap();
        // In the last second of a slot the sender refuses to propose (the next block, by a dev
        // chain's assumed 1-s interval, would be in the next slot) before anything is sent: the
        // next slot is then tried.
        let block = loop {
            match proposer
                .propose(U256::from(4), U256::from(50_000), [9u8; 32].into())
                .await
            {
                Ok(proposed) => break proposed.block,
                Err(epoch_rfq_l1::L1Error::TooLate { .. }) => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => panic!("propose in epoch 0: {e}"),
            }
        };
        assert_eq!(time.epoch_of_slot(block.slot), 0);

        let mut settings = settings();
        settings.polling_interval = Duration::from_millis(200);
        let l1 = chain.client(PROVER).await.unwrap();
        let dir_realtime = TempDir::new("realtime");
        let mut parts = node_with(&chain, l1, settings, PROVER, &dir_realtime, simple(), dev());
        let handle = parts.node.start().await.unwrap();
        let quote = wait_quotes(&parts.sink, 1, 20).await.remove(0);
        let epoch_end = time.slot_start(time.epoch_start_slot(1));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        println!(
            "LATENCY (real time, L1 block every 250 ms, polling 200 ms) epoch end -> quote sent: \
             {} ms",
            ((now - epoch_end as f64) * 1000.0) as i64
        );
        assert_eq!(quote.fields().valid_until_slot, U256::from(4));
        proposer
            .claim_epoch_proof_right(&quote)
            .await
            .expect("claim");
        let (state, _) = job_end(&mut parts.events, 0, 20).await;
        assert_eq!(state, JobState::Completed);
        let proven = chain
            .reader()
            .unwrap()
            .epoch_proven_events(0, None)
            .await
            .unwrap();
        assert_eq!(proven[0].prover_reward, U256::from(500));
        handle.stop().await;
        miner.abort();
    })
    .await;
}

async fn spawn(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}/")
}

/// With `L1_CONFIRMATIONS=2` an epoch is quoted only once the first L1 block past its end has
/// two blocks on top: before that, a reorg could still change the blocks a quote would cover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_confirmations_an_epoch_is_quoted_only_once_its_end_is_deep() {
    bounded(async {
        let chain = chain().await;
        fund(&chain, PROVER, WALLET).await;
        propose_epoch0(&chain).await;
        // Funded up front: a top-up at start would wait for blocks nobody mines here.
        chain
            .client(PROVER)
            .await
            .unwrap()
            .deposit_with_approval(U256::from(TARGET))
            .await
            .unwrap();
        let l1 =
            chain
                .client(PROVER)
                .await
                .unwrap()
                .with_tx_policy(epoch_rfq_l1::txsend::TxPolicy {
                    confirmations: 2,
                    ..Default::default()
                });
        let dir = TempDir::new("confirmations");
        let parts = node_with(&chain, l1, settings(), PROVER, &dir, simple(), dev());
        let handle = parts.node.start().await.expect("start");
        chain.advance_to_epoch(1).await.unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(parts.sink.quotes().is_empty(), "the epoch's end is 0 deep");
        chain.mine().await.unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(parts.sink.quotes().is_empty(), "the epoch's end is 1 deep");
        chain.mine().await.unwrap();
        let quotes = wait_quotes(&parts.sink, 1, 10).await;
        assert_eq!(quotes[0].fields().epoch_number, U256::ZERO);
        handle.stop().await;
    })
    .await;
}

/// A transaction recorded before a crash whose nonce then went to a replacement (same nonce,
/// higher fees: recorded under its own hash, or lost with the crash) is settled as superseded at
/// the next start: the bond manager goes on instead of failing on it forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_transaction_superseded_by_its_replacement_is_settled_at_start() {
    use epoch_rfq_l1::bindings::FeeToken;
    bounded(async {
        let chain = chain().await;
        fund(&chain, PROVER, WALLET).await;
        let client = chain.client(PROVER).await.unwrap();
        let me = client.sender().unwrap();
        let escrow = client.escrow_address();
        let wallet = chain.wallet_provider(PROVER).unwrap();
        let token = FeeToken::new(client.fee_token_address(), &wallet);
        let nonce = chain.provider().get_transaction_count(me).await.unwrap();
        chain.set_automine(false).await.unwrap();
        let gwei = 1_000_000_000u128;
        let first = *token
            .approve(escrow, U256::from(1))
            .nonce(nonce)
            .gas(100_000)
            .max_fee_per_gas(20 * gwei)
            .max_priority_fee_per_gas(gwei)
            .send()
            .await
            .unwrap()
            .tx_hash();
        let replacement = *token
            .approve(escrow, U256::from(2))
            .nonce(nonce)
            .gas(100_000)
            .max_fee_per_gas(40 * gwei)
            .max_priority_fee_per_gas(2 * gwei)
            .send()
            .await
            .unwrap()
            .tx_hash();
        chain.mine().await.unwrap();
        chain.set_automine(true).await.unwrap();
        let provider = chain.provider();
        assert!(
            provider
                .get_transaction_receipt(replacement)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            provider
                .get_transaction_receipt(first)
                .await
                .unwrap()
                .is_none()
        );
        let dir = TempDir::new("superseded");
        {
            let store = epoch_rfq_prover::ProverStore::open(&dir).unwrap();
            store
                .record_tx(&first.to_string(), "approve", None)
                .unwrap();
        }
        let parts = node(&chain, PROVER, &dir, simple(), dev()).await;
        let handle = parts
            .node
            .start()
            .await
            .expect("start despite the superseded record");
        assert!(handle.with_store(|s| s.pending_txs().unwrap()).is_empty());
        assert!(
            client.deposits(me).await.unwrap() >= U256::from(MINIMUM),
            "topped up"
        );
        handle.stop().await;
    })
    .await;
}
