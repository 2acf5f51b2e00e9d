//! End to end on anvil (2 s slots): quotes that undercut the honest provers but cannot be claimed
//! (the prover's escrow does not cover the bond, the quote expired, the block range is wrong, the
//! signature does not match) never win; the proposer drops each with its reason, in its metrics
//! and events, and claims the cheapest valid quote. The node refuses the same quotes.

mod common;

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, U256};
use alloy_signer_local::PrivateKeySigner;
use epoch_rfq::sandbox::{QuotePath, Sandbox, SandboxEvent};
use epoch_rfq_l1::L1Client;
use epoch_rfq_node::NodeClient;
use epoch_rfq_proposer::{QuoteSource, ReceivedQuote, SourceError};
use epoch_rfq_quote::EpochProofQuote;
use futures::future::BoxFuture;

/// Signs the bad quotes for whichever epoch the proposer asks about, from the chain's real
/// contents, at 1 bps (cheaper than anyone honest).
struct BadQuotes {
    l1: L1Client,
    /// The first time the proposer asks about an epoch (before any claim), the same quotes are
    /// also offered to the node; its answers, by prover.
    node: NodeClient,
    node_answers: std::sync::Mutex<Vec<(Address, Option<String>)>>,
    underfunded: PrivateKeySigner,
    expired: PrivateKeySigner,
    wrong_range: PrivateKeySigner,
    forged: PrivateKeySigner,
}

impl BadQuotes {
    async fn make(&self, epoch: u64) -> Vec<EpochProofQuote> {
        let range = match self.l1.epoch_range(epoch).await {
            Ok(r) if !r.is_empty() => r,
            _ => return Vec::new(),
        };
        let time = *self.l1.time();
        let chain_id = self.l1.chain_id();
        let rollup = self.l1.rollup_address();
        let sign = |key: &PrivateKeySigner, edit: &dyn Fn(&mut epoch_rfq_quote::QuoteFields)| {
            let mut f = range.quote_fields(key.address(), rollup);
            f.basis_point_fee = 1;
            f.bond_amount = U256::from(1000);
            f.valid_until_slot = U256::from(time.claim_phase_last_slot(epoch));
            edit(&mut f);
            f.sign(key, chain_id).expect("signs")
        };
        let underfunded = sign(&self.underfunded, &|_| {});
        // Valid only until the epoch's own last slot: expired before its claim phase.
        let last_slot = time.claim_phase(epoch).start - 1;
        let expired = sign(&self.expired, &|f| {
            f.valid_until_slot = U256::from(last_slot)
        });
        let wrong_range = sign(&self.wrong_range, &|f| f.epoch_final_block += U256::from(1));
        // Signed at 1 bps, then the fee was changed: the signature recovers someone else.
        let signed = sign(&self.forged, &|_| {});
        let mut fields = *signed.fields();
        fields.basis_point_fee = 0;
        let forged = EpochProofQuote::from_parts(fields, *signed.signature()).expect("fee ok");
        vec![underfunded, expired, wrong_range, forged]
    }
}

impl QuoteSource for BadQuotes {
    fn quotes_for_epoch(
        &self,
        epoch: u64,
    ) -> BoxFuture<'_, Result<Vec<ReceivedQuote>, SourceError>> {
        Box::pin(async move {
            let quotes = self.make(epoch).await;
            let first = self.node_answers.lock().expect("lock").is_empty();
            if first && !quotes.is_empty() {
                let mut answers = Vec::new();
                for q in &quotes {
                    let answer = self.node.add_epoch_proof_quote(q).await;
                    answers.push((
                        q.fields().prover,
                        answer
                            .err()
                            .map(|e| e.reason().unwrap_or("none").to_owned()),
                    ));
                }
                *self.node_answers.lock().expect("lock") = answers;
            }
            Ok(quotes.into_iter().map(ReceivedQuote::now).collect())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invalid_quotes_never_win_and_the_proposer_says_why() {
    let mut opts = common::fast("drops");
    opts.provers = vec![
        common::fixed("alice", QuotePath::Http, 150, 1000),
        common::fixed("bob", QuotePath::P2p, 200, 1000),
    ];
    let data_dir = opts.data_dir.clone();
    // The source needs the deployment, which exists only once the sandbox started: hand it a
    // slot that is filled right after.
    let slot: Arc<tokio::sync::OnceCell<BadQuotes>> = Arc::new(tokio::sync::OnceCell::new());
    opts.extra_source = Some(Arc::new(Lazy(slot.clone())));
    let sandbox = Sandbox::start(opts).await.unwrap();
    let chain = sandbox.chain();
    let bad = BadQuotes {
        l1: sandbox.reader().clone(),
        node: NodeClient::new(sandbox.node_url().unwrap()).unwrap(),
        node_answers: std::sync::Mutex::new(Vec::new()),
        underfunded: chain.signer(6).unwrap(),
        expired: chain.signer(7).unwrap(),
        wrong_range: chain.signer(8).unwrap(),
        forged: chain.signer(5).unwrap(),
    };
    let bad_addresses: Vec<Address> = [
        &bad.underfunded,
        &bad.expired,
        &bad.wrong_range,
        &bad.forged,
    ]
    .iter()
    .map(|k| k.address())
    .collect();
    assert!(slot.set(bad).is_ok());
    let alice = sandbox.prover_address("alice").unwrap();

    let claimed = sandbox
        .wait_for(Duration::from_secs(60), |e| {
            matches!(e, SandboxEvent::Claimed { .. })
        })
        .await
        .unwrap();
    let SandboxEvent::Claimed { epoch, prover, .. } = claimed else {
        unreachable!()
    };
    assert_eq!(prover, alice, "the cheapest valid quote wins");

    // Each bad quote was dropped for its reason: in the metrics and in the events.
    let m = sandbox.proposer_metrics();
    for reason in [
        "insufficient_escrow",
        "expired",
        "wrong_block_range",
        "invalid_signature",
    ] {
        assert!(
            m.quotes_dropped_count(reason) >= 1,
            "no drop counted for {reason}"
        );
    }
    let history = sandbox.history();
    let drops: Vec<(Address, String)> = history
        .iter()
        .filter_map(|e| match e {
            SandboxEvent::QuoteDropped {
                epoch: e2,
                prover,
                reason,
                ..
            } if *e2 == epoch => Some((*prover, reason.clone())),
            _ => None,
        })
        .collect();
    for (who, reason) in [
        (bad_addresses[0], "insufficient_escrow"),
        (bad_addresses[1], "expired"),
        (bad_addresses[2], "wrong_block_range"),
    ] {
        assert!(
            drops.contains(&(who, reason.to_owned())),
            "{who} not dropped as {reason}: {drops:?}"
        );
    }
    assert!(drops.iter().any(|(_, r)| r == "invalid_signature"));
    // None of them ever won, then or later.
    let proven = sandbox
        .wait_for(
            Duration::from_secs(30),
            |e| matches!(e, SandboxEvent::EpochProven { epoch: e2, .. } if *e2 == epoch),
        )
        .await
        .unwrap();
    assert!(matches!(proven, SandboxEvent::EpochProven { prover, .. } if prover == alice));
    for e in sandbox.history() {
        if let SandboxEvent::Claimed { prover, .. } = e {
            assert!(!bad_addresses.contains(&prover));
        }
    }

    // The node's own checks refused the same quotes (none of them would have reached a proposer
    // through a node), each with a reason code.
    let answers = slot.get().unwrap().node_answers.lock().unwrap().clone();
    eprintln!("node answers: {answers:?}");
    assert_eq!(answers.len(), 4);
    for (who, reason) in &answers {
        assert!(reason.is_some(), "the node accepted the bad quote of {who}");
    }
    assert_eq!(answers[3].1.as_deref(), Some("bad_signature"));
    sandbox.shutdown().await;
    let _ = std::fs::remove_dir_all(data_dir);
}

/// A source that answers nothing until its inner source is set.
struct Lazy(Arc<tokio::sync::OnceCell<BadQuotes>>);

impl QuoteSource for Lazy {
    fn quotes_for_epoch(
        &self,
        epoch: u64,
    ) -> BoxFuture<'_, Result<Vec<ReceivedQuote>, SourceError>> {
        match self.0.get() {
            Some(inner) => inner.quotes_for_epoch(epoch),
            None => Box::pin(std::future::ready(Ok(Vec::new()))),
        }
    }
}
