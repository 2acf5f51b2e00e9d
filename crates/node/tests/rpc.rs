//! The HTTP JSON-RPC API of one node, on 127.0.0.1 with port 0, with a fake L1 view.
#![allow(clippy::unwrap_used)] // tests: a failure is a panic

mod common;

use std::time::Duration;

use alloy_primitives::{Address, U256};
use common::*;
use epoch_rfq_node::rpc::codes;
use epoch_rfq_node::*;
use epoch_rfq_quote::{EpochProofQuote, QuoteFields};
use serde_json::{Value, json};

fn rpc(method: &str, params: Value, id: u64) -> Value {
    json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id})
}

#[tokio::test]
async fn quote_posted_over_http_is_stored_and_fetched_back_identical() {
    bounded(30, async {
        let chain = FakeChain::new();
        let node = start(NodeConfig::local(), chain).await;
        let client = NodeClient::new(node.url()).unwrap();
        let q = valid(0);
        client.add_epoch_proof_quote(&q).await.unwrap();
        // Idempotent.
        client.add_epoch_proof_quote(&q).await.unwrap();
        assert_eq!(node.service().pool().len(), 1);
        let got = client.get_epoch_proof_quotes(7).await.unwrap();
        assert_eq!(got, vec![q.clone()]);
        assert!(client.get_epoch_proof_quotes(8).await.unwrap().is_empty());
        // Epoch as decimal and hex strings.
        for epoch in [json!("7"), json!("0x7"), json!(7)] {
            let (s, v) = post_json(
                &node.url(),
                &rpc("node_getEpochProofQuotes", json!([epoch]), 1),
            )
            .await;
            assert_eq!(s, 200);
            let got: Vec<EpochProofQuote> = serde_json::from_value(v["result"].clone()).unwrap();
            assert_eq!(got, vec![q.clone()]);
        }
        // A cheaper quote of another prover comes first.
        let cheap = sign(
            1,
            QuoteFields {
                basis_point_fee: 100,
                ..fields(1)
            },
        );
        client.add_epoch_proof_quote(&cheap).await.unwrap();
        assert_eq!(
            client.get_epoch_proof_quotes(7).await.unwrap(),
            vec![cheap, q]
        );
        node.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn invalid_quotes_get_errors_naming_the_reason() {
    bounded(30, async {
        let chain = FakeChain::new();
        chain.escrow.lock().insert(key(9).address(), U256::from(5));
        let node = start(NodeConfig::local(), chain).await;
        let client = NodeClient::new(node.url()).unwrap();
        let forged = EpochProofQuote::from_parts(fields(0), *valid(1).signature()).unwrap();
        let cases: Vec<(EpochProofQuote, &str, &str)> = vec![
            (forged, "bad_signature", "signature"),
            (
                sign(
                    0,
                    QuoteFields {
                        epoch_number: U256::from(9),
                        ..fields(0)
                    },
                ),
                "wrong_epoch",
                "epochNumber",
            ),
            (
                sign(
                    0,
                    QuoteFields {
                        rollup_address: Address::repeat_byte(1),
                        ..fields(0)
                    },
                ),
                "wrong_rollup",
                "rollupAddress",
            ),
            (
                sign(
                    0,
                    QuoteFields {
                        valid_until_slot: U256::from(60),
                        ..fields(0)
                    },
                ),
                "expired",
                "validUntilSlot",
            ),
            (
                sign(
                    0,
                    QuoteFields {
                        epoch_init_block: U256::from(50),
                        ..fields(0)
                    },
                ),
                "init_block_mismatch",
                "epochInitBlock",
            ),
            (
                sign(
                    0,
                    QuoteFields {
                        epoch_final_block: U256::from(70),
                        ..fields(0)
                    },
                ),
                "final_block_mismatch",
                "epochFinalBlock",
            ),
            (
                sign(
                    0,
                    QuoteFields {
                        total_fees: U256::from(1),
                        ..fields(0)
                    },
                ),
                "total_fees_mismatch",
                "totalFees",
            ),
            (
                sign(
                    0,
                    QuoteFields {
                        bond_amount: U256::from(10),
                        ..fields(0)
                    },
                ),
                "bond_too_low",
                "bondAmount",
            ),
            (valid(9), "insufficient_escrow", "bondAmount"),
        ];
        for (q, reason, field) in cases {
            let e = client.add_epoch_proof_quote(&q).await.unwrap_err();
            assert_eq!(e.rpc_code(), Some(codes::QUOTE_REJECTED), "{reason}: {e}");
            assert_eq!(e.reason(), Some(reason), "{e}");
            assert!(e.to_string().contains(field), "{reason}: {e}");
        }
        // Fee > 10000 cannot even be signed: send the JSON by hand.
        let mut j = serde_json::to_value(valid(0)).unwrap();
        j["basisPointFee"] = json!(10_001);
        let (_, v) = post_json(&node.url(), &rpc("node_addEpochProofQuote", json!([j]), 5)).await;
        assert_eq!(v["error"]["code"], codes::QUOTE_REJECTED);
        assert_eq!(v["error"]["data"]["reason"], "fee_too_high");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("basisPointFee")
        );
        // A dearer quote of a prover already in the pool.
        client.add_epoch_proof_quote(&valid(0)).await.unwrap();
        let dear = sign(
            0,
            QuoteFields {
                basis_point_fee: 900,
                ..fields(0)
            },
        );
        let e = client.add_epoch_proof_quote(&dear).await.unwrap_err();
        assert_eq!(e.reason(), Some("not_cheaper"));
        assert_eq!(node.service().pool().len(), 1);
        node.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn malformed_bodies_get_proper_errors() {
    bounded(30, async {
        let node = start(NodeConfig::local(), FakeChain::new()).await;
        let url = node.url();
        // Not JSON.
        let (s, t) = post_raw(&url, "{not json").await;
        let v: Value = serde_json::from_str(&t).unwrap();
        assert_eq!((s, v["error"]["code"].as_i64()), (200, Some(codes::PARSE_ERROR)));
        assert_eq!(v["id"], Value::Null);
        let (_, t) = post_raw(&url, vec![0xffu8, 0xfe]).await;
        assert!(t.contains("-32700"), "{t}");
        // Not a request object.
        let (_, v) = post_json(&url, &json!(42)).await;
        assert_eq!(v["error"]["code"], codes::INVALID_REQUEST);
        // Wrong jsonrpc version; id echoed.
        let (_, v) = post_json(&url, &json!({"jsonrpc": "1.0", "method": "node_getNodeInfo", "id": 3})).await;
        assert_eq!(v["error"]["code"], codes::INVALID_REQUEST);
        assert_eq!(v["id"], 3);
        // Missing method, bad id type.
        let (_, v) = post_json(&url, &json!({"jsonrpc": "2.0", "id": 4})).await;
        assert_eq!(v["error"]["code"], codes::INVALID_REQUEST);
        let (_, v) = post_json(&url, &json!({"jsonrpc": "2.0", "method": "node_getNodeInfo", "id": [1]})).await;
        assert_eq!(v["error"]["code"], codes::INVALID_REQUEST);
        // Unknown method.
        let (_, v) = post_json(&url, &rpc("node_nope", json!([]), 5)).await;
        assert_eq!(v["error"]["code"], codes::METHOD_NOT_FOUND);
        // Wrong params shapes.
        for params in [json!({"epoch": 7}), json!([]), json!([7, 8]), json!(["seven"]), json!([-1]), json!([1.5]), json!(["0x"])] {
            let (_, v) = post_json(&url, &rpc("node_getEpochProofQuotes", params.clone(), 6)).await;
            assert_eq!(v["error"]["code"], codes::INVALID_PARAMS, "{params}: {v}");
            assert!(v["error"]["message"].as_str().unwrap().contains("params"), "{v}");
        }
        let (_, v) = post_json(&url, &rpc("node_getNodeInfo", json!([1]), 7)).await;
        assert_eq!(v["error"]["code"], codes::INVALID_PARAMS);
        // A quote with a bad field: the field is named.
        let mut j = serde_json::to_value(valid(0)).unwrap();
        j["totalFees"] = json!("12x");
        let (_, v) = post_json(&url, &rpc("node_addEpochProofQuote", json!([j]), 8)).await;
        assert_eq!(v["error"]["code"], codes::INVALID_PARAMS);
        assert!(v["error"]["message"].as_str().unwrap().contains("params[0].totalFees"), "{v}");
        let mut j = serde_json::to_value(valid(0)).unwrap();
        j["extra"] = json!(1);
        let (_, v) = post_json(&url, &rpc("node_addEpochProofQuote", json!([j]), 9)).await;
        assert_eq!(v["error"]["code"], codes::INVALID_PARAMS, "{v}");
        let (_, v) = post_json(&url, &rpc("node_addEpochProofQuote", json!(["quote"]), 10)).await;
        assert_eq!(v["error"]["code"], codes::INVALID_PARAMS, "{v}");
        // Huge body: 413 with a JSON-RPC error.
        let huge = format!("[{}]", "1,".repeat(200_000) + "1");
        let (s, t) = post_raw(&url, huge).await;
        assert_eq!(s, 413, "{t}");
        assert!(t.contains("-32600") && t.contains("exceeds"), "{t}");
        // Deep nesting: parse error, no crash.
        let deep = "[".repeat(10_000);
        let (s, t) = post_raw(&url, deep).await;
        assert_eq!(s, 200);
        assert!(t.contains("-32700"), "{t}");
        // Empty batch.
        let (_, v) = post_json(&url, &json!([])).await;
        assert_eq!(v["error"]["code"], codes::INVALID_REQUEST);
        // Batch over the limit.
        let big: Vec<Value> = (0..101).map(|i| rpc("node_getNodeInfo", json!([]), i)).collect();
        let (_, v) = post_json(&url, &Value::Array(big)).await;
        assert_eq!(v["error"]["code"], codes::INVALID_REQUEST);
        // Mixed batch: one answer per request (not per notification), ids kept.
        let batch = json!([
            rpc("node_addEpochProofQuote", json!([valid(0)]), 1),
            rpc("node_getEpochProofQuotes", json!(["x"]), 2),
            {"jsonrpc": "2.0", "method": "node_getNodeInfo"},
            17,
            rpc("node_addEpochProofQuote", json!([sign(1, QuoteFields { epoch_number: U256::from(2), ..fields(1) })]), 3),
            {"jsonrpc": "2.0", "method": "node_getNodeInfo", "id": "s"},
        ]);
        let (s, v) = post_json(&url, &batch).await;
        assert_eq!(s, 200);
        let arr = v.as_array().unwrap();
        assert_eq!(arr.len(), 5, "{v}");
        assert_eq!(arr[0]["id"], 1);
        assert_eq!(arr[0]["result"], Value::Null);
        assert!(arr[0].get("error").is_none());
        assert_eq!(arr[1]["error"]["code"], codes::INVALID_PARAMS);
        assert_eq!(arr[2]["error"]["code"], codes::INVALID_REQUEST);
        assert_eq!(arr[3]["error"]["data"]["reason"], "wrong_epoch");
        assert_eq!(arr[4]["id"], "s");
        assert_eq!(arr[4]["result"]["chainId"], CHAIN_ID);
        // Only notifications: 204, nothing executed visibly but no error.
        let (s, t) = post_raw(&url, json!({"jsonrpc": "2.0", "method": "node_getNodeInfo"}).to_string()).await;
        assert_eq!((s, t.as_str()), (204, ""));
        // The node is still fine.
        let client = NodeClient::new(&url).unwrap();
        assert_eq!(client.get_node_info().await.unwrap().pool.quotes, 1);
        node.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn node_info_addresses_and_health() {
    bounded(30, async {
        let node = start(NodeConfig::local(), FakeChain::new()).await;
        let client = NodeClient::new(node.url()).unwrap();
        let info = client.get_node_info().await.unwrap();
        assert_eq!(info.chain_id, Some(CHAIN_ID));
        assert_eq!(info.rollup_address, ROLLUP);
        assert_eq!(info.current_slot, Some(65));
        assert_eq!(info.current_epoch, Some(8));
        assert_eq!(info.epoch_to_prove, Some(7));
        assert_eq!(info.peer_id, None);
        assert!(info.version.starts_with("epoch-rfq-node/"));
        let a = client.get_l1_contract_addresses().await.unwrap();
        assert_eq!(a.rollup_address, ROLLUP);
        assert_eq!(a.proof_commitment_escrow_address, Some(ESCROW));
        let r = reqwest::get(format!("{}health", node.url())).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.unwrap()["status"], "ok");
        // GET on the RPC endpoint leads to the explorer (a 405 when the explorer is off, see
        // tests/explorer_api.rs).
        let no_redirect = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = no_redirect.get(node.url()).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/explorer");
        node.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn without_a_view_of_l1_quotes_are_refused_and_the_node_is_not_ready() {
    bounded(30, async {
        let chain = FakeChain::new();
        *chain.snap.lock() = None;
        let config = NodeConfig {
            refresh_interval: Duration::from_millis(50),
            ..NodeConfig::local()
        };
        let node = start(config, chain.clone()).await;
        let client = NodeClient::new(node.url()).unwrap();
        let e = client.add_epoch_proof_quote(&valid(0)).await.unwrap_err();
        assert_eq!(e.reason(), Some("chain_unknown"));
        // Live (the process works), not ready (no view of L1), and saying why.
        let r = reqwest::get(format!("{}health", node.url())).await.unwrap();
        assert_eq!(r.status(), 200);
        let r = reqwest::get(format!("{}ready", node.url())).await.unwrap();
        assert_eq!(r.status(), 503);
        let body = r.text().await.unwrap();
        assert!(body.contains("no view of L1 yet"), "{body}");
        // L1 comes back: the refresh task picks it up.
        chain.set(snapshot());
        while node.service().snapshot().is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        client.add_epoch_proof_quote(&valid(0)).await.unwrap();
        node.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn refresh_evicts_stale_epochs_and_escrow_is_cached() {
    bounded(30, async {
        let chain = FakeChain::new();
        let config = NodeConfig {
            refresh_interval: Duration::from_secs(3600),
            ..NodeConfig::local()
        };
        let node = start(config, chain.clone()).await;
        let svc = node.service();
        for i in 0..3 {
            svc.add_quote(&valid(i), IngestPath::Local).await.unwrap();
        }
        // One escrow read per prover per refresh.
        assert_eq!(
            chain
                .escrow_calls
                .load(std::sync::atomic::Ordering::Relaxed),
            3
        );
        svc.add_quote(&valid(0), IngestPath::Local).await.unwrap();
        assert_eq!(
            chain
                .escrow_calls
                .load(std::sync::atomic::Ordering::Relaxed),
            3
        );
        assert_eq!(svc.pool().epoch_len(7), 3);
        // Epoch 7 gets claimed: its quotes go at the next refresh.
        let mut s = snapshot();
        s.epoch_to_prove = s.epoch_to_prove.map(|v| EpochView { claimed: true, ..v });
        chain.set(s);
        assert!(svc.refresh().await);
        assert_eq!(svc.pool().len(), 0);
        // L1 errors keep the previous snapshot.
        *chain.snap.lock() = None;
        assert!(!svc.refresh().await);
        assert!(svc.snapshot().is_some());
        node.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn rate_limit_kicks_in() {
    bounded(30, async {
        let config = NodeConfig {
            rate_limit_per_sec: 1,
            rate_limit_burst: 3,
            ..NodeConfig::local()
        };
        let node = start(config, FakeChain::new()).await;
        let client = NodeClient::new(node.url()).unwrap();
        for _ in 0..3 {
            client.get_node_info().await.unwrap();
        }
        let e = client.get_node_info().await.unwrap_err();
        assert_eq!(e.rpc_code(), Some(codes::RATE_LIMITED), "{e}");
        let (s, v) = post_json(&node.url(), &rpc("node_getNodeInfo", json!([]), 1)).await;
        assert_eq!(s, 429);
        assert_eq!(v["error"]["code"], codes::RATE_LIMITED);
        // /metrics and /health are not limited, and count the refusals.
        let m = reqwest::get(format!("{}metrics", node.url()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            m.contains("epoch_rfq_node_http_rate_limited_total 2"),
            "{m}"
        );
        node.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn batch_costs_one_token_per_call() {
    bounded(30, async {
        let config = NodeConfig {
            rate_limit_per_sec: 1,
            rate_limit_burst: 5,
            ..NodeConfig::local()
        };
        let node = start(config, FakeChain::new()).await;
        let batch: Vec<Value> = (0..6)
            .map(|i| rpc("node_getNodeInfo", json!([]), i))
            .collect();
        let (s, _) = post_json(&node.url(), &Value::Array(batch)).await;
        assert_eq!(s, 429);
        node.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn metrics_count_by_path_and_reason() {
    bounded(30, async {
        let node = start(NodeConfig::local(), FakeChain::new()).await;
        let client = NodeClient::new(node.url()).unwrap();
        client.add_epoch_proof_quote(&valid(0)).await.unwrap();
        client.add_epoch_proof_quote(&valid(0)).await.unwrap();
        let stale = sign(
            1,
            QuoteFields {
                valid_until_slot: U256::from(1),
                ..fields(1)
            },
        );
        client.add_epoch_proof_quote(&stale).await.unwrap_err();
        node.service()
            .add_quote(&valid(2), IngestPath::Local)
            .await
            .unwrap();
        let m = reqwest::get(format!("{}metrics", node.url()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for line in [
            "epoch_rfq_node_quotes_accepted_total{path=\"rpc\",outcome=\"added\"} 1",
            "epoch_rfq_node_quotes_accepted_total{path=\"local\",outcome=\"added\"} 1",
            "epoch_rfq_node_quotes_rejected_total{path=\"rpc\",reason=\"duplicate\"} 1",
            "epoch_rfq_node_quotes_rejected_total{path=\"rpc\",reason=\"expired\"} 1",
            "epoch_rfq_node_quotes_rejected_total{path=\"gossip\",reason=\"bad_signature\"} 0",
            "epoch_rfq_node_pool_quotes 2",
            "epoch_rfq_node_rpc_calls_total{method=\"node_addEpochProofQuote\"} 3",
            "epoch_rfq_node_current_slot 65",
            "epoch_rfq_p2p_peers 0",
        ] {
            assert!(m.contains(line), "missing {line}\n{m}");
        }
        let build_info = format!(
            "epoch_rfq_build_info{{version=\"{}\",role=\"node\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        assert!(m.contains(&build_info), "missing {build_info}\n{m}");
        node.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn shutdown_frees_the_port() {
    bounded(30, async {
        let node = start(NodeConfig::local(), FakeChain::new()).await;
        let addr = node.local_addr();
        node.shutdown().await;
        // The same port can be bound again.
        let config = NodeConfig {
            http_addr: addr,
            ..NodeConfig::local()
        };
        let node = start(config, FakeChain::new()).await;
        assert_eq!(node.local_addr(), addr);
        node.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn slow_request_times_out_with_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    bounded(30, async {
        let config = NodeConfig {
            request_timeout: Duration::from_millis(300),
            ..NodeConfig::local()
        };
        let node = start(config, FakeChain::new()).await;
        let mut s = tokio::net::TcpStream::connect(node.local_addr())
            .await
            .unwrap();
        // Announce 100 bytes, send 10, stall.
        s.write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{\"jsonrpc\"")
            .await
            .unwrap();
        let mut buf = vec![0u8; 1024];
        let n = s.read(&mut buf).await.unwrap();
        let head = String::from_utf8_lossy(&buf[..n]);
        assert!(head.starts_with("HTTP/1.1 408"), "{head}");
        node.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn duplicate_quote_fields_are_refused() {
    bounded(30, async {
        let node = start(NodeConfig::local(), FakeChain::new()).await;
        let q = valid(0).to_json_string();
        // Same key twice inside the quote object: the strict quote codec sees the raw text.
        let dup = q.replacen("\"totalFees\"", "\"totalFees\":\"1\",\"totalFees\"", 1);
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"node_addEpochProofQuote","params":[{dup}]}}"#
        );
        let (_, t) = post_raw(&node.url(), body).await;
        let v: Value = serde_json::from_str(&t).unwrap();
        assert_eq!(v["error"]["code"], codes::INVALID_PARAMS, "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("totalFees"),
            "{v}"
        );
        assert_eq!(node.service().pool().len(), 0);
        node.shutdown().await;
    })
    .await;
}
