//! The explorer's JSON API and page on one node (127.0.0.1, port 0) with a fake L1 view that
//! also serves market events: what it records, how it answers bad requests, its retention, its
//! live stream, its security headers, and that its history survives a restart.
#![allow(clippy::unwrap_used)] // tests: a failure is a panic

mod common;

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, B256, U256};
use common::*;
use epoch_rfq_node::*;
use epoch_rfq_quote::QuoteFields;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::Value;

/// [`FakeChain`] plus an event log the test appends to.
struct EventChain {
    chain: Arc<FakeChain>,
    events: Mutex<Vec<MarketEvent>>,
    /// `(from, to)` of every event read.
    reads: Mutex<Vec<(u64, u64)>>,
}

impl EventChain {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            chain: FakeChain::new(),
            events: Mutex::new(Vec::new()),
            reads: Mutex::new(Vec::new()),
        })
    }
}

impl ChainView for EventChain {
    fn snapshot(&self) -> BoxFuture<'_, Result<ChainSnapshot, ChainViewError>> {
        self.chain.snapshot()
    }
    fn escrow_available(
        &self,
        prover: Address,
    ) -> BoxFuture<'_, Result<Option<U256>, ChainViewError>> {
        self.chain.escrow_available(prover)
    }
    fn l1_contract_addresses(&self) -> L1ContractAddresses {
        self.chain.l1_contract_addresses()
    }
    fn market_events(
        &self,
        from: u64,
        to: u64,
    ) -> BoxFuture<'_, Result<Vec<MarketEvent>, ChainViewError>> {
        self.reads.lock().push((from, to));
        let found: Vec<MarketEvent> = self
            .events
            .lock()
            .iter()
            .filter(|e| (from..=to).contains(&e.l1_block))
            .copied()
            .collect();
        Box::pin(async move { Ok(found) })
    }
}

fn event(kind: MarketEventKind, epoch: u64, l1_block: u64, tx: u8) -> MarketEvent {
    MarketEvent {
        kind,
        epoch,
        prover: None,
        amount: None,
        basis_point_fee: None,
        proposer: None,
        blocks: None,
        through_epoch: None,
        tx_hash: B256::repeat_byte(tx),
        l1_block,
        log_index: 0,
    }
}

fn config(dir: Option<&std::path::Path>, epochs: u64) -> NodeConfig {
    NodeConfig {
        refresh_interval: Duration::from_millis(50),
        history_dir: dir.map(|d| d.to_path_buf()),
        history_epochs: epochs,
        ..NodeConfig::local()
    }
}

async fn get(url: &str) -> (u16, Value, reqwest::header::HeaderMap) {
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        headers,
    )
}

/// Polls `url` until `done` holds for its JSON (5 s at most).
async fn wait_for(url: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let (s, v, _) = get(url).await;
        if s == 200 && done(&v) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{url} never reached the expected state; last: {}",
        get(url).await.1
    );
}

#[tokio::test]
async fn auction_history_shows_quotes_outcomes_and_l1_events_and_survives_a_restart() {
    bounded(60, async {
        let dir = epoch_rfq_testkit::TempDir::new("explorer-restart");
        let chain = EventChain::new();
        let node = NodeService::spawn(config(Some(&dir), 100), chain.clone(), None)
            .await
            .unwrap();
        let api = format!("{}explorer/api", node.url());
        let client = NodeClient::new(node.url()).unwrap();
        // Bob quotes 250 bps; alice 100 bps twice (the second is a duplicate); a quote with the
        // wrong block range is refused.
        client.add_epoch_proof_quote(&valid(1)).await.unwrap();
        let alice = sign(
            0,
            QuoteFields {
                basis_point_fee: 100,
                ..fields(0)
            },
        );
        client.add_epoch_proof_quote(&alice).await.unwrap();
        client.add_epoch_proof_quote(&alice).await.unwrap();
        let wrong = sign(
            2,
            QuoteFields {
                epoch_init_block: U256::from(58),
                ..fields(2)
            },
        );
        assert!(client.add_epoch_proof_quote(&wrong).await.is_err());

        let v = wait_for(&format!("{api}/epochs/7"), |v| {
            v["quotes"].as_array().is_some_and(|q| q.len() == 4)
        })
        .await;
        assert_eq!(v["state"], "claim_phase", "{v}");
        assert_eq!(v["fromBlock"], 57);
        assert_eq!(v["toBlock"], 64);
        assert_eq!(v["totalFees"], "123000");
        assert_eq!(v["claimPhase"], serde_json::json!([64, 67]));
        let outcomes: Vec<(String, String, bool)> = v["quotes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| {
                (
                    q["prover"].as_str().unwrap().to_string(),
                    q["outcome"].as_str().unwrap().to_string(),
                    q["accepted"].as_bool().unwrap(),
                )
            })
            .collect();
        let hex = |i: usize| format!("{:#x}", key(i).address());
        assert_eq!(
            outcomes,
            vec![
                (hex(1), "added".to_string(), true),
                (hex(0), "added".to_string(), true),
                (hex(0), "duplicate".to_string(), false),
                (hex(2), "init_block_mismatch".to_string(), false),
            ]
        );
        assert!(
            v["quotes"]
                .as_array()
                .unwrap()
                .iter()
                .all(|q| q["path"] == "http")
        );
        assert!(v["winner"].is_null());

        // Alice's quote is claimed, then proven: the L1 events show up with their transactions.
        let alice_addr = key(0).address();
        chain.events.lock().push(MarketEvent {
            prover: Some(alice_addr),
            amount: Some(U256::from(1_000_000)),
            basis_point_fee: Some(100),
            proposer: Some(Address::repeat_byte(9)),
            ..event(MarketEventKind::Claimed, 7, 305, 0xc1)
        });
        chain.events.lock().push(MarketEvent {
            prover: Some(alice_addr),
            amount: Some(U256::from(1_230)),
            blocks: Some((57, 64)),
            ..event(MarketEventKind::Proven, 7, 308, 0xb2)
        });
        // The node sees them once L1 moves on.
        let mut later = snapshot();
        later.l1_block_number = 310;
        chain.chain.set(later);
        let v = wait_for(&format!("{api}/epochs/7"), |v| v["state"] == "proven").await;
        assert_eq!(v["winner"], hex(0));
        assert_eq!(v["winningFeeBps"], 100);
        assert_eq!(v["bond"], "1000000");
        assert_eq!(v["proverReward"], "1230");
        let winners: Vec<&Value> = v["quotes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|q| q["winner"] == true)
            .collect();
        assert_eq!(winners.len(), 1, "{v}");
        assert_eq!(winners[0]["prover"], hex(0));
        assert_eq!(winners[0]["outcome"], "added");
        let events = v["events"].as_array().unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0]["kind"], "claimed");
        assert_eq!(
            events[0]["txHash"],
            format!("{:#x}", B256::repeat_byte(0xc1))
        );
        assert_eq!(events[1]["kind"], "proven");
        assert_eq!(events[1]["l1Block"], 308);

        let (s, p, _) = get(&format!("{api}/provers")).await;
        assert_eq!(s, 200);
        let rows = p["provers"].as_array().unwrap();
        assert_eq!(rows[0]["prover"], hex(0));
        assert_eq!(rows[0]["quotes"], 2);
        assert_eq!(rows[0]["quotesAccepted"], 1);
        assert_eq!(rows[0]["wins"], 1);
        assert_eq!(rows[0]["winRate"], 1.0);
        assert_eq!(rows[0]["averageWinningFeeBps"], 100.0);
        assert_eq!(rows[0]["rewards"], "1230");
        assert_eq!(rows[0]["bondsStaked"], "0");
        let bob = rows.iter().find(|r| r["prover"] == hex(1)).unwrap();
        assert_eq!(
            (bob["wins"].clone(), bob["winRate"].clone()),
            (0.into(), 0.0.into())
        );

        let (s, list, _) = get(&format!("{api}/epochs")).await;
        assert_eq!(s, 200);
        let first = &list["epochs"][0];
        assert_eq!(first["epoch"], 8, "newest first: the current epoch");
        assert_eq!(list["epochs"][1]["state"], "proven");
        node.shutdown().await;

        // A new node on the same data directory shows the same auction without re-reading old
        // L1 blocks: the event cursor was stored with the events.
        chain.reads.lock().clear();
        let node = NodeService::spawn(config(Some(&dir), 100), chain.clone(), None)
            .await
            .unwrap();
        let api = format!("{}explorer/api", node.url());
        let (s, again, _) = get(&format!("{api}/epochs/7")).await;
        assert_eq!(s, 200);
        assert_eq!(again["quotes"], v["quotes"]);
        assert_eq!(again["events"], v["events"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            chain.reads.lock().iter().all(|(from, _)| *from > 310),
            "re-read old blocks: {:?}",
            chain.reads.lock()
        );
        node.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn bad_parameters_get_clear_400s_and_epochs_outside_the_retention_404() {
    bounded(30, async {
        let chain = EventChain::new();
        // Current epoch 8; 3 epochs kept: 6, 7, 8.
        let node = NodeService::spawn(config(None, 3), chain.clone(), None)
            .await
            .unwrap();
        let api = format!("{}explorer/api", node.url());
        let client = NodeClient::new(node.url()).unwrap();
        client.add_epoch_proof_quote(&valid(0)).await.unwrap();
        wait_for(&format!("{api}/epochs/7"), |v| {
            v["quotes"].as_array().is_some_and(|q| q.len() == 1)
        })
        .await;

        for (path, status, words) in [
            ("/epochs/abc", 400, "epoch must be an integer"),
            ("/epochs/-1", 400, "epoch must be an integer"),
            (
                "/epochs/99999999999999999999",
                400,
                "epoch must be an integer",
            ),
            ("/epochs?limit=ten", 400, "limit must be an integer"),
            ("/epochs?limit=0", 400, "limit must be at least 1"),
            (
                "/epochs?limit=501",
                400,
                "limit must be an integer from 0 to 500",
            ),
            ("/epochs?before=x", 400, "before must be"),
            ("/epochs?limit=1&limit=2", 400, "given twice"),
            ("/epochs?sort=asc", 400, "unknown query parameter \"sort\""),
            ("/provers?x=1", 400, "unknown query parameter"),
            ("/epochs/7?verbose=1", 400, "unknown query parameter"),
            ("/epochs/5", 404, "past the node's retention"),
            ("/epochs/9", 404, "has not started"),
        ] {
            let (s, v, _) = get(&format!("{api}{path}")).await;
            assert_eq!(s, status, "{path}: {v}");
            let msg = v["error"].as_str().unwrap_or_default();
            assert!(msg.contains(words), "{path}: {msg:?} lacks {words:?}");
        }
        let (s, v, _) = get(&format!("{api}/epochs?limit=1")).await;
        assert_eq!(s, 200);
        assert_eq!(v["epochs"].as_array().unwrap().len(), 1);
        let (s, v, _) = get(&format!("{api}/epochs?before=8")).await;
        assert_eq!(s, 200);
        assert_eq!(v["epochs"][0]["epoch"], 7);

        // The chain moves to epoch 10: epoch 7 leaves the retention and its quotes are gone.
        let mut later = snapshot();
        later.current_slot = 81;
        later.l1_block_number = 400;
        later.epoch_to_prove = Some(EpochView::new(9).with_contents(70, 80, U256::from(5)));
        chain.chain.set(later);
        wait_for(&format!("{api}/epochs"), |v| {
            v["epochs"]
                .as_array()
                .is_some_and(|l| l.iter().all(|e| e["epoch"].as_u64() >= Some(8)))
        })
        .await;
        let (s, v, _) = get(&format!("{api}/epochs/7")).await;
        assert_eq!(s, 404, "{v}");
        node.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn page_and_assets_are_served_with_a_strict_csp_and_a_new_quote_is_streamed() {
    bounded(30, async {
        let chain = EventChain::new();
        let node = NodeService::spawn(config(None, 10), chain, None)
            .await
            .unwrap();
        let base = node.url();

        let (s, _, h) = get(&base).await;
        assert_eq!(s, 303, "GET / redirects to the explorer");
        assert_eq!(h["location"], "/explorer");
        let (s, page, h) = get(&format!("{base}explorer")).await;
        assert_eq!(s, 200);
        assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        let page = page.as_str().unwrap().to_string();
        assert!(page.contains("src=\"/explorer/explorer.js\""));
        assert!(!page.contains("<script>"), "no inline script");
        for asset in ["explorer.js", "explorer.css"] {
            let (s, body, h) = get(&format!("{base}explorer/{asset}")).await;
            assert_eq!(s, 200, "{asset}");
            assert!(h.contains_key("content-security-policy"));
            assert!(
                !body.as_str().unwrap().contains("innerHTML"),
                "{asset} never parses data as HTML"
            );
        }
        // No secrets or local paths in what the API tells.
        let (_, status, _) = get(&format!("{base}explorer/api/status")).await;
        assert_eq!(status["ready"], true);
        assert_eq!(status["currentEpoch"], 8);
        let text = status.to_string();
        assert!(
            !text.contains(std::env::temp_dir().to_str().unwrap()),
            "{text}"
        );

        // The live stream announces a new quote.
        let mut stream = reqwest::Client::new()
            .get(format!("{base}explorer/api/stream"))
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), 200);
        assert_eq!(stream.headers()["content-type"], "text/event-stream");
        let client = NodeClient::new(node.url()).unwrap();
        client.add_epoch_proof_quote(&valid(3)).await.unwrap();
        let mut seen = String::new();
        while !seen.contains(r#"data: {"epoch":7,"type":"quote"}"#) {
            let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
                .await
                .expect("stream went quiet")
                .unwrap()
                .expect("stream ended");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        assert!(seen.contains("event: change"));
        // An open stream does not hold the node's shutdown up: it ends.
        tokio::time::timeout(Duration::from_secs(5), node.shutdown())
            .await
            .expect("shutdown with a live stream open");
        let rest = tokio::time::timeout(Duration::from_secs(5), async {
            while let Ok(Some(_)) = stream.chunk().await {}
        })
        .await;
        assert!(rest.is_ok(), "the stream ended with the node");
    })
    .await;
}

#[tokio::test]
async fn explorer_can_be_turned_off() {
    bounded(30, async {
        let chain = EventChain::new();
        let config = NodeConfig {
            explorer_enabled: false,
            ..config(None, 10)
        };
        let node = NodeService::spawn(config, chain, None).await.unwrap();
        for path in ["explorer", "explorer/api/epochs", "explorer/api/stream"] {
            let (s, _, _) = get(&format!("{}{path}", node.url())).await;
            assert_eq!(s, 404, "{path}");
        }
        let no_redirect = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = no_redirect.get(node.url()).send().await.unwrap();
        assert_eq!(r.status(), 405, "GET / is JSON-RPC's, which wants POST");
        // JSON-RPC is unaffected.
        let client = NodeClient::new(node.url()).unwrap();
        client.add_epoch_proof_quote(&valid(0)).await.unwrap();
        node.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn explorer_requests_share_the_json_rpc_rate_limit_settings() {
    bounded(30, async {
        let chain = EventChain::new();
        let config = NodeConfig {
            rate_limit_per_sec: 1,
            rate_limit_burst: 3,
            ..config(None, 10)
        };
        let node = NodeService::spawn(config, chain, None).await.unwrap();
        let url = format!("{}explorer/api/status", node.url());
        let mut statuses = Vec::new();
        for _ in 0..5 {
            let (s, v, h) = get(&url).await;
            if s == 429 {
                assert!(v["error"].as_str().unwrap().contains("rate limited"), "{v}");
                assert!(h.contains_key("content-security-policy"));
            }
            statuses.push(s);
        }
        assert_eq!(&statuses[..3], &[200, 200, 200], "{statuses:?}");
        assert!(statuses[3..].contains(&429), "{statuses:?}");
        node.shutdown().await;
    })
    .await;
}
