//! Five nodes on a real chain: anvil with the deployed contracts, each node reading L1 through
//! `L1ChainView`, gossiping over libp2p on 127.0.0.1 in a line n0 — n1 — n2 — n3 — n4.
//!
//! Every test gets its own anvil and its own five nodes. The chain: blocks proposed in slots
//! 1, 2, 3 of epoch 0 by the proposer account, then L1 time moved to slot 4, the first slot of
//! epoch 0's claim phase. Slots are 60 s long so that nothing expires while a test runs (L1
//! time only moves when a block is mined: anvil mines on each transaction, and keeps its clock
//! running from the last forced timestamp). Provers have real escrow deposits (minted,
//! approved, deposited through the L1 client); one account has none.
#![allow(clippy::unwrap_used)] // tests: a failure is a panic

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, U256};
use common::{bounded, post_json};
use epoch_rfq_l1::alloy::signers::SignerSync;
use epoch_rfq_l1::alloy::signers::local::PrivateKeySigner;
use epoch_rfq_l1::anvil::TestChain;
use epoch_rfq_l1::{DeployParams, EpochRange, L1Client, dev_proof};
use epoch_rfq_node::rpc::codes;
use epoch_rfq_node::*;
use epoch_rfq_p2p::{IncomingMessage, Keypair, P2pConfig, P2pError, P2pHandle, P2pService};
use epoch_rfq_quote::{EpochProofQuote, QuoteFields};
use epoch_rfq_testkit::{chain, wait_until};
use serde_json::json;
use tokio::sync::mpsc;

const NODES: usize = 5;
const SLOT_SECS: u64 = 60;
const EPOCH_SLOTS: u64 = 4;
const CLAIM_WINDOW: u64 = 2;
const MIN_BOND: u64 = 1_000;
const DEPOSIT: u64 = 100_000;
const BOND: u64 = 5_000;
/// Blocks of epoch 0: (slot, fees).
const BLOCKS: [(u64, u64); 3] = [(1, 1_001), (2, 2_003), (3, 3_007)];

/// Dev accounts.
const PROPOSER: usize = 1;
/// Provers with an escrow deposit of `DEPOSIT`.
const PROVERS: [usize; 3] = [2, 3, 4];
/// A prover without any deposit.
const NO_DEPOSIT: usize = 8;

/// How long a quote may take to reach every node before the test fails.
const PROPAGATION_DEADLINE: Duration = Duration::from_secs(15);

struct Net {
    chain: TestChain,
    proposer: L1Client,
    reader: L1Client,
    /// Epoch 0 as the chain has it.
    range: EpochRange,
    nodes: Vec<NodeHandle>,
    clients: Vec<NodeClient>,
}

async fn gossip_service(
    bootstrap: Option<&P2pHandle>,
) -> (P2pHandle, mpsc::Receiver<IncomingMessage>) {
    // Printed if a wait times out (the mesh waits have flaked under CI).
    epoch_rfq_testkit::capture_logs(epoch_rfq_testkit::logs::P2P_LOG);
    let mut config = P2pConfig::local(Keypair::generate_ed25519());
    // Faster mesh formation for the test.
    config.heartbeat_interval = Duration::from_millis(200);
    config.heartbeat_initial_delay = Duration::from_millis(50);
    if let Some(b) = bootstrap {
        let addr = b.listen_addrs().await.unwrap()[0].clone();
        config.bootstrap = vec![format!("{addr}/p2p/{}", b.local_peer_id()).parse().unwrap()];
    }
    P2pService::spawn(config).await.unwrap()
}

/// Anvil, contracts, epoch 0 proposed and in its claim phase, five nodes meshed in a line.
async fn network() -> Net {
    let t0 = Instant::now();
    let chain = TestChain::start_and_deploy(DeployParams {
        slot_duration: SLOT_SECS,
        epoch_duration: EPOCH_SLOTS,
        claim_window: CLAIM_WINDOW,
        min_bond: U256::from(MIN_BOND),
        ..DeployParams::default()
    })
    .await
    .expect("anvil + deployment (run scripts/setup to install anvil)");
    let proposer = chain.client(PROPOSER).await.unwrap();
    let reader = chain.reader().unwrap();

    // The proposer pays the blocks' fees to the Rollup.
    let fees: u64 = BLOCKS.iter().map(|(_, f)| f).sum();
    chain
        .fund(&[proposer.sender().unwrap()], U256::from(fees))
        .await
        .unwrap();
    // Provers: mint, approve the escrow, deposit.
    for i in PROVERS {
        chain::fund_and_deposit(&chain, i, DEPOSIT).await;
        assert_eq!(
            reader
                .available_for_bond(chain.address(i).unwrap())
                .await
                .unwrap(),
            U256::from(DEPOSIT)
        );
    }
    let blocks: Vec<_> = BLOCKS.iter().map(|&(slot, fees)| (slot, 3, fees)).collect();
    chain::propose_blocks(&chain, PROPOSER, &blocks).await;
    // Epoch 0 is complete and in its claim phase (slots 4 and 5).
    chain.advance_to_slot(EPOCH_SLOTS).await.unwrap();
    let range = reader.epoch_to_prove_range().await.unwrap().unwrap();
    assert_eq!((range.epoch, range.from_block, range.to_block), (0, 1, 3));
    assert_eq!(range.total_fees, U256::from(fees));
    let l1_ready = t0.elapsed();

    let mut nodes: Vec<NodeHandle> = Vec::new();
    for i in 0..NODES {
        let bootstrap = nodes.last().map(|n| n.service().p2p().unwrap().clone());
        let gossip = gossip_service(bootstrap.as_ref()).await;
        let config = NodeConfig {
            refresh_interval: Duration::from_millis(250),
            // The test polls every node from 127.0.0.1 every 25 ms (rate limiting has its own
            // tests in tests/rpc.rs).
            rate_limit_per_sec: 0,
            ..NodeConfig::local()
        };
        let view = Arc::new(L1ChainView::new(chain.reader().unwrap()));
        let node = NodeService::spawn(config, view, Some(gossip))
            .await
            .unwrap();
        let snap = node
            .service()
            .snapshot()
            .unwrap_or_else(|| panic!("node {i} has no L1 view"));
        assert_eq!(snap.current_slot, EPOCH_SLOTS);
        let to_prove = snap.epoch_to_prove.unwrap();
        assert_eq!(to_prove.epoch, 0);
        assert!(to_prove.contents.is_some() && !to_prove.claimed);
        nodes.push(node);
    }
    // A line: the ends have one mesh peer, the others two.
    wait_until("line meshes", Duration::from_secs(15), async || {
        for (i, n) in nodes.iter().enumerate() {
            let want = if i == 0 || i == NODES - 1 { 1 } else { 2 };
            let p2p = n.service().p2p().unwrap();
            if p2p.mesh_peers().await.unwrap().len() != want {
                return false;
            }
        }
        true
    })
    .await;
    eprintln!(
        "network ready: L1 set up in {:?}, nodes meshed after {:?}",
        l1_ready,
        t0.elapsed()
    );
    let clients = nodes
        .iter()
        .map(|n| NodeClient::new(n.url()).unwrap())
        .collect();
    Net {
        chain,
        proposer,
        reader,
        range,
        nodes,
        clients,
    }
}

impl Net {
    fn key(&self, account: usize) -> PrivateKeySigner {
        self.chain.signer(account).unwrap()
    }

    /// Good fields for epoch 0 by `account`, valid to the end of the claim phase.
    fn fields(&self, account: usize, bps: u32) -> QuoteFields {
        let prover = self.key(account).address();
        chain::claim_fields(&self.reader, &self.range, prover, bps, BOND)
    }

    fn sign(&self, account: usize, f: QuoteFields) -> EpochProofQuote {
        f.sign(&self.key(account), self.chain.chain_id()).unwrap()
    }

    fn quote(&self, account: usize, bps: u32) -> EpochProofQuote {
        self.sign(account, self.fields(account, bps))
    }

    /// The invalid quotes every path must refuse: (quote, reason code, field named in the
    /// message). `account` signs those that need a signature.
    fn invalid_quotes(&self, account: usize) -> Vec<(EpochProofQuote, &'static str, &'static str)> {
        let f = self.fields(account, 500);
        let other = self.quote(NO_DEPOSIT, 500);
        let forged = EpochProofQuote::from_parts(f, *other.signature()).unwrap();
        vec![
            (forged, "bad_signature", "signature"),
            (
                self.sign(
                    account,
                    QuoteFields {
                        epoch_number: U256::from(1),
                        ..f
                    },
                ),
                "wrong_epoch",
                "epochNumber",
            ),
            (
                self.sign(
                    account,
                    QuoteFields {
                        rollup_address: Address::repeat_byte(0x11),
                        ..f
                    },
                ),
                "wrong_rollup",
                "rollupAddress",
            ),
            (
                self.sign(
                    account,
                    QuoteFields {
                        valid_until_slot: U256::from(EPOCH_SLOTS - 1),
                        ..f
                    },
                ),
                "expired",
                "validUntilSlot",
            ),
            (
                self.sign(
                    account,
                    QuoteFields {
                        epoch_init_block: U256::from(2),
                        ..f
                    },
                ),
                "init_block_mismatch",
                "epochInitBlock",
            ),
            (
                self.sign(
                    account,
                    QuoteFields {
                        epoch_final_block: U256::from(4),
                        ..f
                    },
                ),
                "final_block_mismatch",
                "epochFinalBlock",
            ),
            (
                self.sign(
                    account,
                    QuoteFields {
                        total_fees: f.total_fees + U256::from(1),
                        ..f
                    },
                ),
                "total_fees_mismatch",
                "totalFees",
            ),
            (
                self.quote(NO_DEPOSIT, 500),
                "insufficient_escrow",
                "bondAmount",
            ),
        ]
    }

    /// The 302-byte wire form of a quote by `account` with fee 10001, correctly signed over
    /// those fields (the quote crate refuses to build it, so it is assembled by hand).
    fn fee_too_high_wire(&self, account: usize) -> Vec<u8> {
        let f = QuoteFields {
            basis_point_fee: 10_001,
            ..self.fields(account, 0)
        };
        let sig = self
            .key(account)
            .sign_hash_sync(&f.digest(self.chain.chain_id()))
            .unwrap()
            .normalized_s();
        let mut wire = self.quote(account, 0).to_wire().to_vec();
        const O_BPS: usize = 1 + 20 + 4 * 32 + 20;
        const O_SIG: usize = O_BPS + 4 + 2 * 32;
        wire[O_BPS..O_BPS + 4].copy_from_slice(&10_001u32.to_be_bytes());
        wire[O_SIG..O_SIG + 32].copy_from_slice(&sig.r().to_be_bytes::<32>());
        wire[O_SIG + 32..O_SIG + 64].copy_from_slice(&sig.s().to_be_bytes::<32>());
        wire[O_SIG + 64] = 27 + u8::from(sig.v());
        assert_eq!(wire.len(), 302);
        assert!(matches!(
            EpochProofQuote::from_wire(&wire),
            Err(epoch_rfq_quote::QuoteError::FeeTooHigh { fee: 10_001 })
        ));
        wire
    }

    fn p2p(&self, i: usize) -> &P2pHandle {
        self.nodes[i].service().p2p().unwrap()
    }

    /// Waits until every node serves exactly `expected` (best first) for epoch 0, polling
    /// `node_getEpochProofQuotes`; returns how long it took.
    async fn all_serve(&self, what: &str, expected: &[EpochProofQuote]) -> Duration {
        let start = Instant::now();
        wait_until(what, PROPAGATION_DEADLINE, async || {
            for c in &self.clients {
                if c.get_epoch_proof_quotes(0).await.unwrap() != expected {
                    return false;
                }
            }
            true
        })
        .await;
        start.elapsed()
    }

    /// Gossip messages each node's application has received so far.
    fn received(&self) -> Vec<u64> {
        (0..NODES).map(|i| self.p2p(i).metrics().received).collect()
    }

    /// No node has a quote of `prover` other than `allowed`.
    async fn assert_nowhere(&self, prover: Address, allowed: Option<&EpochProofQuote>) {
        for (i, c) in self.clients.iter().enumerate() {
            for q in c.get_epoch_proof_quotes(0).await.unwrap() {
                if q.fields().prover == prover {
                    assert_eq!(Some(&q), allowed, "node {i} holds an unexpected quote");
                }
            }
        }
    }

    async fn shutdown(self) {
        for n in self.nodes {
            n.shutdown().await;
        }
    }
}

fn metric_line(node: &NodeHandle, series: &str) -> Option<String> {
    node.service()
        .render_metrics()
        .lines()
        .find(|l| l.starts_with(series))
        .map(str::to_string)
}

/// HTTP at one node → every node; a duplicate is a no-op that is not re-gossiped; a cheaper
/// quote of the same prover replaces the dearer one everywhere; once the epoch is claimed and
/// proven on L1 every node evicts its quotes and refuses new ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_quote_reaches_every_node_is_replaced_by_a_cheaper_one_and_evicted_after_the_proof() {
    bounded(60, async {
        let net = network().await;
        let [a, b, c] = PROVERS;

        // A quote posted at one end reaches the other end, four hops away.
        let qa = net.quote(a, 2_500);
        net.clients[0].add_epoch_proof_quote(&qa).await.unwrap();
        let took = net
            .all_serve(
                "quote over HTTP at n0 on every node",
                std::slice::from_ref(&qa),
            )
            .await;
        eprintln!("HTTP quote at n0 served by all 5 nodes after {took:?}");

        // Re-sending it to the far end is accepted (null) and ignored: not stored twice, not
        // gossiped again.
        let received = net.received();
        net.clients[4].add_epoch_proof_quote(&qa).await.unwrap();
        assert_eq!(
            metric_line(
                &net.nodes[4],
                "epoch_rfq_node_quotes_rejected_total{path=\"rpc\",reason=\"duplicate\"}"
            )
            .as_deref(),
            Some("epoch_rfq_node_quotes_rejected_total{path=\"rpc\",reason=\"duplicate\"} 1")
        );
        // Another prover's quote, posted in the middle, is the marker: once it is everywhere,
        // anything n4 had gossiped before it would have arrived too.
        let qb = net.quote(b, 3_000);
        net.clients[2].add_epoch_proof_quote(&qb).await.unwrap();
        net.all_serve("second prover's quote", &[qa.clone(), qb.clone()])
            .await;
        let after = net.received();
        for i in 0..NODES {
            let expected = if i == 2 { 0 } else { 1 };
            assert_eq!(
                after[i] - received[i],
                expected,
                "node {i}: only the marker was gossiped"
            );
        }
        for n in &net.nodes {
            assert_eq!(n.service().pool().len(), 2);
        }

        // A cheaper quote of prover a, posted at the far end, replaces the dearer one everywhere.
        let qa_cheap = net.quote(a, 1_000);
        net.clients[4]
            .add_epoch_proof_quote(&qa_cheap)
            .await
            .unwrap();
        let took = net
            .all_serve(
                "cheaper quote replaces dearer",
                &[qa_cheap.clone(), qb.clone()],
            )
            .await;
        eprintln!("cheaper quote at n4 replaced the dearer on all nodes after {took:?}");
        net.assert_nowhere(qa.fields().prover, Some(&qa_cheap))
            .await;
        // The dearer one again is refused.
        let e = net.clients[1]
            .add_epoch_proof_quote(&net.quote(a, 2_000))
            .await
            .unwrap_err();
        assert_eq!(e.reason(), Some("not_cheaper"), "{e}");

        // The proposer claims with the best quote: every node evicts the epoch's quotes (it is
        // no longer claimable) and refuses new ones.
        let best = net.clients[3].get_epoch_proof_quotes(0).await.unwrap();
        assert_eq!(best[0], qa_cheap);
        net.proposer
            .claim_epoch_proof_right(&best[0])
            .await
            .unwrap();
        assert!(net.reader.claim(0).await.unwrap().is_some());
        net.all_serve("eviction after the claim", &[]).await;
        let e = net.clients[2]
            .add_epoch_proof_quote(&net.quote(c, 100))
            .await
            .unwrap_err();
        assert_eq!(e.reason(), Some("epoch_claimed"), "{e}");

        // The epoch is proven (the dev proof for the claim's prover): nothing to prove any more,
        // the pools stay empty and quotes for epoch 0 are refused as the wrong epoch.
        let blocks = net.reader.epoch_blocks(0).await.unwrap();
        let proof = dev_proof(
            net.chain.chain_id(),
            net.reader.rollup_address(),
            0,
            &blocks,
            qa_cheap.fields().prover,
        );
        net.proposer.submit_epoch_proof(0, proof).await.unwrap();
        assert_eq!(net.reader.proven_block_number().await.unwrap(), 3);
        for c in &net.clients {
            wait_until("nodes see the proof", Duration::from_secs(10), async || {
                c.get_node_info().await.unwrap().epoch_to_prove.is_none()
            })
            .await;
            let info = c.get_node_info().await.unwrap();
            assert_eq!((info.pool.quotes, info.pool.epochs), (0, 0));
            assert!(c.get_epoch_proof_quotes(0).await.unwrap().is_empty());
        }
        let e = net.clients[0]
            .add_epoch_proof_quote(&net.quote(c, 100))
            .await
            .unwrap_err();
        assert_eq!(e.reason(), Some("wrong_epoch"), "{e}");
        for n in &net.nodes {
            assert!(n.service().pool().is_empty());
        }
        net.shutdown().await;
    })
    .await;
}

/// Every invalid quote posted over HTTP gets -32001 naming its reason (and the field), and is
/// neither stored nor gossiped; the prover without escrow is accepted once it has deposited; an
/// epoch whose claim phase ends unclaimed is evicted everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_quotes_over_http_are_rejected_with_their_reason_and_not_forwarded() {
    bounded(60, async {
        let net = network().await;
        let [a, b, _] = PROVERS;
        let received = net.received();

        for (q, reason, field) in net.invalid_quotes(a) {
            let e = net.clients[2].add_epoch_proof_quote(&q).await.unwrap_err();
            assert_eq!(e.rpc_code(), Some(codes::QUOTE_REJECTED), "{reason}: {e}");
            assert_eq!(e.reason(), Some(reason), "{e}");
            assert!(e.to_string().contains(field), "{reason}: {e}");
        }
        // Fee > 10000 cannot be signed by the quote crate: the JSON is edited by hand.
        let mut j = serde_json::to_value(net.quote(a, 500)).unwrap();
        j["basisPointFee"] = json!(10_001);
        let body =
            json!({"jsonrpc": "2.0", "id": 1, "method": "node_addEpochProofQuote", "params": [j]});
        let (status, v) = post_json(&net.nodes[2].url(), &body).await;
        assert_eq!(status, 200);
        assert_eq!(v["error"]["code"], codes::QUOTE_REJECTED, "{v}");
        assert_eq!(v["error"]["data"]["reason"], "fee_too_high", "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("basisPointFee")
        );

        // A valid marker posted at the same node afterwards reaches everyone; nothing else was
        // gossiped.
        let marker = net.quote(b, 700);
        net.clients[2].add_epoch_proof_quote(&marker).await.unwrap();
        net.all_serve(
            "marker after the invalid quotes",
            std::slice::from_ref(&marker),
        )
        .await;
        let after = net.received();
        for i in 0..NODES {
            let expected = if i == 2 { 0 } else { 1 };
            assert_eq!(after[i] - received[i], expected, "node {i}");
        }
        for i in 0..NODES {
            assert_eq!(net.nodes[i].service().pool().len(), 1, "node {i}");
        }
        net.assert_nowhere(net.key(a).address(), None).await;
        net.assert_nowhere(net.key(NO_DEPOSIT).address(), None)
            .await;

        // The prover without escrow deposits (on L1, through the client): after the nodes'
        // next refresh (which drops their escrow cache) the same quote is accepted and spreads.
        let poor = net.quote(NO_DEPOSIT, 500);
        chain::fund_and_deposit(&net.chain, NO_DEPOSIT, BOND).await;
        wait_until(
            "quote accepted after the deposit",
            Duration::from_secs(10),
            async || net.clients[2].add_epoch_proof_quote(&poor).await.is_ok(),
        )
        .await;
        net.all_serve("quote after the deposit", &[poor.clone(), marker.clone()])
            .await;

        // The claim phase ends unclaimed: every node evicts epoch 0 and refuses new quotes for
        // it.
        net.chain
            .advance_to_slot(EPOCH_SLOTS + CLAIM_WINDOW)
            .await
            .unwrap();
        net.all_serve("eviction after the claim phase", &[]).await;
        let e = net.clients[0]
            .add_epoch_proof_quote(&net.quote(b, 10))
            .await
            .unwrap_err();
        assert_eq!(e.reason(), Some("claim_phase_over"), "{e}");
        for n in &net.nodes {
            assert!(n.service().pool().is_empty());
        }
        net.shutdown().await;
    })
    .await;
}

/// A prover on gossip only (a raw P2P peer attached to the middle node): its valid quote reaches
/// all five nodes; its invalid quotes are dropped by the first node (never forwarded), the
/// malformed and forged ones lower its score; a re-publish is a duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossiped_quotes_reach_every_node_and_invalid_ones_stop_at_the_first() {
    bounded(60, async {
        let net = network().await;
        let [a, b, c] = PROVERS;
        let (prover, _prover_rx) = gossip_service(Some(net.p2p(2))).await;
        let prover_id = prover.local_peer_id();
        wait_until(
            "prover peer meshed with n2",
            Duration::from_secs(15),
            async || {
                !prover.mesh_peers().await.unwrap().is_empty()
                    && net.p2p(2).mesh_peers().await.unwrap().contains(&prover_id)
            },
        )
        .await;

        let qa = net.quote(a, 1_500);
        prover.publish(qa.to_wire().to_vec()).await.unwrap();
        let took = net
            .all_serve("gossiped quote on every node", std::slice::from_ref(&qa))
            .await;
        eprintln!("quote gossiped at n2 served by all 5 nodes after {took:?}");
        // Publishing the same bytes again is a duplicate: nothing new anywhere.
        assert!(matches!(
            prover.publish(qa.to_wire().to_vec()).await,
            Err(P2pError::Duplicate)
        ));

        let score_before = net.p2p(2).peer_score(prover_id).await.unwrap().unwrap();
        assert!(score_before >= 0.0, "{score_before}");
        let received = net.received();
        let invalid = net.invalid_quotes(c);
        for (q, _, _) in &invalid {
            prover.publish(q.to_wire().to_vec()).await.unwrap();
        }
        prover.publish(net.fee_too_high_wire(c)).await.unwrap();
        // The marker: once it is everywhere, n2 has judged everything sent before it.
        let marker = net.quote(b, 1_200);
        prover.publish(marker.to_wire().to_vec()).await.unwrap();
        net.all_serve(
            "marker after the invalid quotes",
            &[marker.clone(), qa.clone()],
        )
        .await;
        let after = net.received();
        assert_eq!(
            after[2] - received[2],
            invalid.len() as u64 + 2,
            "n2 got them all"
        );
        for i in [0, 1, 3, 4] {
            assert_eq!(after[i] - received[i], 1, "node {i} only got the marker");
        }
        net.assert_nowhere(net.key(c).address(), None).await;
        net.assert_nowhere(net.key(NO_DEPOSIT).address(), None)
            .await;

        // n2 judged each with its reason: forged and fee > 10000 rejected (the sender is
        // penalised), the others ignored (they depend on n2's view of L1).
        let n2 = &net.nodes[2];
        let mut reasons: Vec<&str> = invalid.iter().map(|(_, r, _)| *r).collect();
        reasons.push("fee_too_high");
        for reason in reasons {
            let series = format!(
                "epoch_rfq_node_quotes_rejected_total{{path=\"gossip\",reason=\"{reason}\"}}"
            );
            assert_eq!(
                metric_line(n2, &series),
                Some(format!("{series} 1")),
                "{reason}"
            );
        }
        let m = net.p2p(2).metrics();
        assert_eq!(m.rejected, 2, "{m:?}");
        assert_eq!(m.ignored, invalid.len() as u64 - 1, "{m:?}");
        let score_after = net.p2p(2).peer_score(prover_id).await.unwrap().unwrap();
        eprintln!("prover peer's score at n2: {score_before:.2} -> {score_after:.2}");
        assert!(
            score_after < score_before && score_after < -10.0,
            "score {score_before} -> {score_after}"
        );
        // Two rejects are not enough to be disconnected.
        assert!(
            net.p2p(2)
                .connected_peers()
                .await
                .unwrap()
                .contains(&prover_id)
        );

        prover.shutdown().await;
        net.shutdown().await;
    })
    .await;
}
