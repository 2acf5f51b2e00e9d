//! `JsonRpcSink` against small JSON-RPC servers on 127.0.0.1.

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::U256;
use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use epoch_rfq_l1::alloy::signers::local::PrivateKeySigner;
use epoch_rfq_prover::{JsonRpcSink, QuoteSink, SinkError};
use epoch_rfq_quote::{EpochProofQuote, QuoteFields};

fn quote() -> EpochProofQuote {
    let signer = PrivateKeySigner::random();
    QuoteFields {
        prover: signer.address(),
        epoch_number: U256::from(3),
        epoch_init_block: U256::from(1),
        epoch_final_block: U256::from(4),
        total_fees: U256::from(99),
        basis_point_fee: 250,
        bond_amount: U256::from(1000),
        valid_until_slot: U256::from(9),
        ..QuoteFields::default()
    }
    .sign(&signer, 31337)
    .expect("signs")
}

async fn spawn(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}/")
}

#[tokio::test]
async fn posts_node_add_epoch_proof_quote() {
    let seen = Arc::new(parking_lot::Mutex::new(None));
    let store = seen.clone();
    let url = spawn(Router::new().route(
        "/",
        post(move |body: axum::body::Bytes| {
            let store = store.clone();
            async move {
                *store.lock() = Some(serde_json::from_slice::<serde_json::Value>(&body).unwrap());
                r#"{"jsonrpc":"2.0","id":1,"result":null}"#
            }
        }),
    ))
    .await;
    let q = quote();
    JsonRpcSink::new(url, Duration::from_secs(2))
        .send(&q)
        .await
        .unwrap();
    let body = seen.lock().clone().unwrap();
    assert_eq!(body["method"], "node_addEpochProofQuote");
    let sent = EpochProofQuote::from_json_str(&body["params"][0].to_string()).unwrap();
    assert_eq!(sent, q);
}

#[tokio::test]
async fn errors_are_classified() {
    let refused = spawn(Router::new().route(
        "/",
        post(|| async {
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"quote expired","data":{"reason":"expired"}}}"#
        }),
    ))
    .await;
    let err = JsonRpcSink::new(refused, Duration::from_secs(2))
        .send(&quote())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SinkError::Rejected(m) if m.contains("quote expired")),
        "{err}"
    );

    let down = spawn(Router::new().route(
        "/",
        post(|| async { (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response() }),
    ))
    .await;
    let err = JsonRpcSink::new(down, Duration::from_secs(2))
        .send(&quote())
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::Unavailable(_)), "{err}");

    let nothing = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let err = JsonRpcSink::new(format!("http://{nothing}/"), Duration::from_secs(2))
        .send(&quote())
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::Unavailable(_)), "{err}");
}
