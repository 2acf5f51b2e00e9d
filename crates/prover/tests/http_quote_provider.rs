//! `HttpQuoteProvider` against real HTTP servers on 127.0.0.1: the example pricing service, and
//! misbehaving ones (garbage, slow, failing, absent).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use alloy_primitives::U256;
use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use epoch_rfq_prover::pricing_service::{self, PricingPolicy};
use epoch_rfq_prover::{EpochSummary, HttpQuoteProvider, NoQuote, QuoteProvider};

fn epoch() -> EpochSummary {
    EpochSummary {
        epoch_number: U256::from(7),
        from_block: U256::from(57),
        end_block: U256::from(64),
        tx_count: U256::from(40),
        total_fees: U256::from(123_000),
    }
}

async fn spawn(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

fn provider(addr: SocketAddr, timeout_ms: u64, retries: u32) -> HttpQuoteProvider {
    HttpQuoteProvider::new(
        format!("http://{addr}/"),
        Duration::from_millis(timeout_ms),
        retries,
    )
}

async fn quote(p: &HttpQuoteProvider) -> Result<epoch_rfq_prover::QuoteTerms, NoQuote> {
    tokio::time::timeout(Duration::from_secs(10), p.get_quote(&epoch()))
        .await
        .expect("bounded")
}

#[tokio::test]
async fn prices_from_the_example_service() {
    let policy = PricingPolicy {
        base_bps: 100,
        bps_per_tx: 5,
        margin_percent: 20,
        bond_amount: U256::from(2_000),
    };
    let (addr, server) = pricing_service::bind("127.0.0.1:0".parse().unwrap(), policy)
        .await
        .unwrap();
    tokio::spawn(server);
    let terms = quote(&provider(addr, 1_000, 0)).await.unwrap();
    // (100 + 5 × 40) × 1.2 = 360
    assert_eq!(terms.basis_point_fee, 360);
    assert_eq!(terms.bond_amount, U256::from(2_000));
    assert_eq!(terms.valid_until_slot, None);

    // The service answers liveness, readiness and metrics beside its pricing route.
    let http = reqwest::Client::new();
    for path in ["health", "ready"] {
        let response = http
            .get(format!("http://{addr}/{path}"))
            .send()
            .await
            .expect("GET health");
        assert_eq!(response.status(), 200, "/{path}");
        let body = response.text().await.expect("body");
        assert!(
            body.contains("\"role\":\"pricing-server\"") && body.contains("\"status\":\"ok\""),
            "/{path}: {body}"
        );
    }
    let metrics = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("body");
    assert!(
        metrics.contains("epoch_rfq_ready{role=\"pricing-server\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn zero_fee_is_a_quote() {
    let addr = spawn(Router::new().route(
        "/",
        post(|| async { r#"{"basisPointFee":0,"bondAmount":"0","validUntilSlot":"12"}"# }),
    ))
    .await;
    let terms = quote(&provider(addr, 1_000, 0)).await.unwrap();
    assert_eq!(terms.basis_point_fee, 0);
    assert_eq!(terms.valid_until_slot, Some(U256::from(12)));
}

#[tokio::test]
async fn the_request_carries_the_seed_fields_as_decimal_strings() {
    let seen = Arc::new(std::sync::Mutex::new(None));
    let sink = seen.clone();
    let addr = spawn(Router::new().route(
        "/",
        post(move |body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                *sink.lock().unwrap() =
                    Some(serde_json::from_slice::<serde_json::Value>(&body).unwrap());
                r#"{"basisPointFee":1,"bondAmount":1}"#
            }
        }),
    ))
    .await;
    quote(&provider(addr, 1_000, 0)).await.unwrap();
    let body = seen.lock().unwrap().clone().unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "epochNumber": "7", "fromBlock": "57", "endBlock": "64", "txCount": "40", "totalFees": "123000"
        })
    );
}

#[tokio::test]
async fn garbage_is_no_quote_and_not_retried() {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let addr = spawn(Router::new().route(
        "/",
        post(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { "<html>oops</html>" }
        }),
    ))
    .await;
    let err = quote(&provider(addr, 1_000, 3)).await.unwrap_err();
    assert!(matches!(err, NoQuote::NotJson(_)), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "a bad reply is final");
}

#[tokio::test]
async fn timeouts_are_retried_then_give_no_quote() {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let addr = spawn(Router::new().route(
        "/",
        post(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                r#"{"basisPointFee":1,"bondAmount":1}"#
            }
        }),
    ))
    .await;
    let err = quote(&provider(addr, 150, 2)).await.unwrap_err();
    assert_eq!(
        err,
        NoQuote::Timeout {
            attempts: 3,
            timeout_ms: 150
        }
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn server_errors_are_retried_and_a_recovery_gives_a_quote() {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let addr = spawn(Router::new().route(
        "/",
        post(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    (StatusCode::SERVICE_UNAVAILABLE, "restarting").into_response()
                } else {
                    (StatusCode::OK, r#"{"basisPointFee":7,"bondAmount":9}"#).into_response()
                }
            }
        }),
    ))
    .await;
    let terms = quote(&provider(addr, 1_000, 1)).await.unwrap();
    assert_eq!(terms.basis_point_fee, 7);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn client_errors_are_final_and_reported() {
    let addr = spawn(Router::new().route(
        "/",
        post(|| async { (StatusCode::BAD_REQUEST, "no such epoch") }),
    ))
    .await;
    let err = quote(&provider(addr, 1_000, 3)).await.unwrap_err();
    assert_eq!(
        err,
        NoQuote::HttpStatus {
            status: 400,
            body: "no such epoch".into()
        }
    );
}

#[tokio::test]
async fn an_absent_service_is_unreachable() {
    // Bind then drop: the port is free and nothing listens on it.
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let err = quote(&provider(addr, 500, 1)).await.unwrap_err();
    assert!(
        matches!(err, NoQuote::Unreachable { attempts: 2, .. }),
        "{err}"
    );
    assert_eq!(err.reason_code(), "unreachable");
}
