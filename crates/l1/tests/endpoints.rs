//! Every URL of ETHEREUM_HOSTS, through the L1-fault proxy in front of anvil: a dead endpoint,
//! rate limits with and without Retry-After, everything down and back, another chain, bad URLs,
//! subscriptions over a ws URL in the list.

mod common;

use std::time::{Duration, Instant};

use alloy::primitives::U256;
use alloy::providers::Provider;
use common::bounded;
use epoch_rfq_l1::alloy;
use epoch_rfq_l1::anvil::TestChain;
use epoch_rfq_l1::args::{L1Args, L1ArgsError};
use epoch_rfq_l1::fault_proxy::{FaultProxy, Faults};
use epoch_rfq_l1::metrics::ErrorKind;
use epoch_rfq_l1::{
    DeployParams, EndpointStatus, EndpointsError, L1Client, L1Metrics, connect_endpoints,
};
use futures::StreamExt;

async fn chain() -> TestChain {
    TestChain::start_and_deploy(DeployParams::default())
        .await
        .expect("anvil starts and the contracts deploy (run scripts/setup)")
}

async fn proxy(chain: &TestChain, seed: u64) -> FaultProxy {
    FaultProxy::start(&chain.url(), seed)
        .await
        .expect("proxy listens on 127.0.0.1")
}

fn args(hosts: &[&str], chain: &TestChain) -> L1Args {
    L1Args::new(
        hosts.join(","),
        chain.chain_id(),
        Some(chain.deployment().expect("deployed").contracts.rollup),
    )
}

/// A few reads and one transaction (mint by the token owner), all of which must succeed.
async fn use_l1(client: &L1Client, rounds: usize) {
    let to = alloy::primitives::Address::repeat_byte(0x11);
    let before = client.balance_of(to).await.expect("balance read");
    for _ in 0..rounds {
        client.latest_l1_block().await.expect("latest block read");
        client.proof_claim().await.expect("proof claim read");
    }
    client
        .mint(to, U256::from(5))
        .await
        .expect("mint sent and mined");
    let after = client.balance_of(to).await.expect("balance read");
    assert_eq!(after, before + U256::from(5));
}

#[tokio::test]
async fn a_dead_endpoint_is_skipped_and_ranked_last() {
    bounded(60, async {
        let chain = chain().await;
        let (a, b) = (proxy(&chain, 1).await, proxy(&chain, 2).await);
        let metrics = L1Metrics::new();
        let client = args(&[&a.url(), &b.url()], &chain)
            .connect_with_metrics(Some(chain.signer(0).expect("dev key")), &metrics)
            .await
            .expect("both endpoints answer");
        // Kill whichever endpoint served the start-up reads: the ranked first one.
        let (first, second) = if metrics.requests(&a.url()) >= metrics.requests(&b.url()) {
            (&a, &b)
        } else {
            (&b, &a)
        };
        first.set_down(true);
        let served_before = metrics.requests(&second.url());
        use_l1(&client, 10).await;

        let failed = metrics.errors(&first.url(), ErrorKind::connection);
        assert!(failed >= 1, "the dead endpoint was tried first once");
        assert!(
            failed <= 2,
            "then ranked last instead of tried on every call ({failed} attempts)"
        );
        assert!(metrics.requests(&second.url()) >= served_before + 22);
        assert_eq!(metrics.errors(&second.url(), ErrorKind::connection), 0);
    })
    .await
}

#[tokio::test]
async fn thirty_percent_429s_are_retried_and_counted() {
    bounded(60, async {
        let chain = chain().await;
        let p = proxy(&chain, 42).await;
        let metrics = L1Metrics::new();
        let client = args(&[&p.url()], &chain)
            .connect_with_metrics(Some(chain.signer(0).expect("dev key")), &metrics)
            .await
            .expect("the endpoint answers");
        p.set_faults(Faults {
            rate_limited: 0.3,
            retry_after: Some(0),
            ..Faults::default()
        });
        use_l1(&client, 15).await;

        let stats = p.stats();
        assert!(
            stats.rate_limited >= 5,
            "about 30 % of ~40 requests answered 429: {stats:?}"
        );
        // Every attempt, including the 429s, is counted at the endpoint.
        assert_eq!(metrics.requests(&p.url()), stats.requests);
        assert_eq!(
            metrics.errors(&p.url(), ErrorKind::http_429),
            stats.rate_limited
        );
    })
    .await
}

#[tokio::test]
async fn server_errors_and_resets_are_retried() {
    bounded(60, async {
        let chain = chain().await;
        let p = proxy(&chain, 11).await;
        let metrics = L1Metrics::new();
        let client = args(&[&p.url()], &chain)
            .connect_with_metrics(Some(chain.signer(0).expect("dev key")), &metrics)
            .await
            .expect("the endpoint answers");
        p.set_faults(Faults {
            server_errors: 0.2,
            server_error_status: 502,
            resets: 0.1,
            ..Faults::default()
        });
        use_l1(&client, 15).await;

        let stats = p.stats();
        assert!(stats.server_errors >= 3 && stats.resets >= 1, "{stats:?}");
        assert_eq!(
            metrics.errors(&p.url(), ErrorKind::http_5xx),
            stats.server_errors
        );
        assert_eq!(
            metrics.errors(&p.url(), ErrorKind::connection),
            stats.resets
        );
    })
    .await
}

#[tokio::test]
async fn retry_after_is_honoured() {
    bounded(60, async {
        let chain = chain().await;
        let p = proxy(&chain, 3).await;
        let metrics = L1Metrics::new();
        let client = args(&[&p.url()], &chain)
            .connect_with_metrics(None, &metrics)
            .await
            .expect("the endpoint answers");
        p.set_faults(Faults {
            rate_limit_next: 2,
            retry_after: Some(1),
            ..Faults::default()
        });
        let started = Instant::now();
        client.latest_l1_block().await.expect("read after two 429s");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(2),
            "two Retry-After: 1 honoured, waited {waited:?}"
        );
        assert_eq!(metrics.errors(&p.url(), ErrorKind::http_429), 2);
    })
    .await
}

#[tokio::test]
async fn all_down_is_a_clear_error_then_recovers() {
    bounded(60, async {
        let chain = chain().await;
        let (a, b) = (proxy(&chain, 4).await, proxy(&chain, 5).await);
        let client = args(&[&a.url(), &b.url()], &chain)
            .connect(None)
            .await
            .expect("both endpoints answer");
        a.set_down(true);
        b.set_down(true);
        let err = client
            .latest_l1_block()
            .await
            .expect_err("no endpoint answers");
        let message = err.to_string();
        assert!(
            message.contains("connection failed")
                && (message.contains(&a.url()) || message.contains(&b.url())),
            "names the failure and an endpoint: {message}"
        );

        // One comes back: the next call succeeds.
        b.set_down(false);
        client.latest_l1_block().await.expect("b is back");

        // Both down again, one comes back while a call is being retried: that call succeeds.
        b.set_down(true);
        let back = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(700)).await;
            a.set_down(false);
            a
        });
        client
            .latest_l1_block()
            .await
            .expect("a came back within the retries");
        let _a = back.await.expect("task ran");
    })
    .await
}

#[tokio::test]
async fn an_endpoint_on_another_chain_is_left_out() {
    bounded(60, async {
        let chain = chain().await;
        let (good, other) = (proxy(&chain, 6).await, proxy(&chain, 7).await);
        other.set_faults(Faults {
            chain_id: Some(999),
            ..Faults::default()
        });
        let connected = connect_endpoints(
            &format!("{},{}", other.url(), good.url()),
            chain.chain_id(),
            None,
            None,
        )
        .await
        .expect("one endpoint answers the chain");
        let [r_other, r_good] = &connected.endpoints[..] else {
            panic!("one report per URL: {:?}", connected.endpoints)
        };
        assert_eq!(r_other.status, EndpointStatus::WrongChain { chain_id: 999 });
        assert!(!r_other.in_use);
        assert!(matches!(r_good.status, EndpointStatus::Healthy { .. }) && r_good.in_use);

        let probes = other.stats().requests;
        let client = L1Client::new(
            connected.provider,
            chain.deployment().expect("deployed").contracts.rollup,
            None,
        )
        .await
        .expect("client over the good endpoint");
        use_read_only(&client).await;
        assert_eq!(
            other.stats().requests,
            probes,
            "nothing but the probe went to the other chain"
        );

        // All on another chain: refused, naming each URL and what it said.
        good.set_faults(Faults {
            chain_id: Some(5),
            ..Faults::default()
        });
        let err = args(&[&other.url(), &good.url()], &chain)
            .connect(None)
            .await
            .expect_err("no endpoint on the configured chain");
        let message = err.to_string();
        assert!(matches!(
            err,
            L1ArgsError::Endpoints(EndpointsError::NoneUsable { .. })
        ));
        for needle in [
            format!("{} (ETHEREUM_HOSTS entry 1): is chain 999", other.url()),
            format!("{} (ETHEREUM_HOSTS entry 2): is chain 5", good.url()),
            format!("L1_CHAIN_ID is {} but no URL", chain.chain_id()),
        ] {
            assert!(message.contains(&needle), "{needle:?} in {message}");
        }
    })
    .await
}

#[tokio::test]
async fn an_endpoint_far_behind_is_ranked_after_the_others() {
    bounded(60, async {
        let chain = chain().await;
        for _ in 0..20 {
            chain.mine().await.expect("mined");
        }
        let (behind, good) = (proxy(&chain, 12).await, proxy(&chain, 13).await);
        behind.set_faults(Faults {
            block_number: Some(1),
            ..Faults::default()
        });
        let connected = connect_endpoints(
            &format!("{},{}", behind.url(), good.url()),
            chain.chain_id(),
            None,
            None,
        )
        .await
        .expect("both answer the chain");
        let (latest, _) = chain.latest_block().await.expect("latest");
        assert_eq!(
            connected.endpoints[0].status,
            EndpointStatus::Behind {
                head: 1,
                best: latest
            }
        );
        assert!(connected.endpoints[0].in_use, "kept as a last resort");
        assert!(
            matches!(connected.endpoints[1].status, EndpointStatus::Healthy { head, .. } if head == latest)
        );
        let probes = behind.stats().requests;
        for _ in 0..5 {
            connected
                .provider
                .get_block_number()
                .await
                .expect("read from the endpoint in sync");
        }
        assert_eq!(behind.stats().requests, probes, "the one behind was not asked");
    })
    .await
}

async fn use_read_only(client: &L1Client) {
    for _ in 0..5 {
        client.latest_l1_block().await.expect("latest block read");
    }
}

#[tokio::test]
async fn an_unreachable_endpoint_does_not_stop_the_start_but_none_does() {
    bounded(60, async {
        let chain = chain().await;
        let (up, down) = (proxy(&chain, 8).await, proxy(&chain, 9).await);
        down.set_down(true);
        let connected = connect_endpoints(
            &format!("{},{}", down.url(), up.url()),
            chain.chain_id(),
            None,
            None,
        )
        .await
        .expect("one endpoint answers");
        assert!(
            matches!(&connected.endpoints[0].status, EndpointStatus::Unreachable { reason } if reason.contains("connection failed")),
            "{:?}",
            connected.endpoints[0]
        );
        // Kept (it may come back), but ranked after the healthy one.
        assert!(connected.endpoints[0].in_use);
        connected
            .provider
            .get_block_number()
            .await
            .expect("served by the healthy endpoint");

        up.set_down(true);
        let err = connect_endpoints(
            &format!("{},{}", down.url(), up.url()),
            chain.chain_id(),
            None,
            None,
        )
        .await
        .expect_err("nothing answers");
        let message = err.to_string();
        for url in [down.url(), up.url()] {
            assert!(
                message.contains(&format!("{url} (ETHEREUM_HOSTS entry")),
                "{url} in {message}"
            );
        }
        assert!(message.contains("does not answer"), "{message}");
    })
    .await
}

#[tokio::test]
async fn malformed_urls_are_named() {
    for (hosts, position, entry) in [
        (
            "http://127.0.0.1:1, ftp://127.0.0.1:21",
            2,
            "ftp://127.0.0.1:21",
        ),
        ("127.0.0.1:8545", 1, "127.0.0.1:8545"),
        ("http://127.0.0.1:1,,http//oops", 2, "http//oops"),
    ] {
        let err = connect_endpoints(hosts, 31337, None, None)
            .await
            .expect_err("malformed");
        let EndpointsError::Malformed {
            position: p,
            entry: e,
            ..
        } = &err
        else {
            panic!("{hosts}: {err}")
        };
        assert_eq!((*p, e.as_str()), (position, entry), "{err}");
        assert!(err.to_string().contains(&format!("{entry:?}")), "{err}");
    }
    let err = connect_endpoints(" , ", 31337, None, None)
        .await
        .expect_err("empty");
    assert!(matches!(err, EndpointsError::Empty), "{err}");
}

#[tokio::test]
async fn subscriptions_go_to_the_ws_url_of_the_list() {
    bounded(60, async {
        let chain = chain().await;
        let p = proxy(&chain, 10).await;
        let metrics = L1Metrics::new();
        let ws = chain.ws_url();
        let client = args(&[&p.url(), &ws], &chain)
            .connect_with_metrics(None, &metrics)
            .await
            .expect("both endpoints answer");
        let mut blocks = client
            .provider()
            .subscribe_blocks()
            .await
            .expect("eth_subscribe over the ws endpoint")
            .into_stream();
        chain.mine().await.expect("mined");
        let header = tokio::time::timeout(Duration::from_secs(10), blocks.next())
            .await
            .expect("new head in time")
            .expect("stream open");
        let (latest, _) = chain.latest_block().await.expect("latest");
        assert_eq!(header.number, latest);
        let ws_label = ws.trim_end_matches('/').to_owned();
        assert!(metrics.requests(&ws_label) >= 2, "probe and eth_subscribe");

        // Requests still fail over while the http endpoint is down.
        p.set_down(true);
        client.latest_l1_block().await.expect("served over ws");
    })
    .await
}

/// Waits (at most 30 s) until `done` holds.
async fn until(mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "condition not met within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_ws_subscription_through_the_proxy_resubscribes_after_its_connection_is_dropped() {
    bounded(90, async {
        let chain = chain().await;
        let p = proxy(&chain, 11).await;
        let client = args(&[&p.ws_url()], &chain)
            .connect_with_metrics(None, &L1Metrics::new())
            .await
            .expect("anvil's ws endpoint answers through the proxy");
        let mut blocks = client
            .provider()
            .subscribe_blocks()
            .await
            .expect("eth_subscribe through the proxy")
            .into_stream();
        chain.mine().await.expect("mined");
        let first = tokio::time::timeout(Duration::from_secs(10), blocks.next())
            .await
            .expect("new head in time")
            .expect("stream open");
        let (latest, _) = chain.latest_block().await.expect("latest");
        assert_eq!(first.number, latest);
        let stats = p.stats();
        assert_eq!(stats.ws_connections, 1);
        assert!(
            stats.ws_frames >= 3,
            "answers and a notification: {stats:?}"
        );

        // The proxy drops the connection (no close frame): alloy's ws backend connects again
        // through it and re-subscribes, and the same stream goes on.
        p.drop_connections();
        until(|| p.stats().ws_connections >= 2).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        let next = loop {
            assert!(
                Instant::now() < deadline,
                "no new head within 30 s of the reconnection"
            );
            chain.mine().await.expect("mined");
            if let Ok(Some(header)) =
                tokio::time::timeout(Duration::from_secs(2), blocks.next()).await
            {
                break header;
            }
        };
        assert!(
            next.number > first.number,
            "{} then {}",
            first.number,
            next.number
        );
        client
            .latest_l1_block()
            .await
            .expect("requests go over the new connection");
    })
    .await
}

#[tokio::test]
async fn ws_faults_delay_each_message_and_down_refuses_the_connection() {
    bounded(90, async {
        let chain = chain().await;
        let p = proxy(&chain, 12).await;
        let client = args(&[&p.ws_url()], &chain)
            .connect_with_metrics(None, &L1Metrics::new())
            .await
            .expect("anvil's ws endpoint answers through the proxy");
        p.set_faults(Faults {
            latency: Duration::from_millis(400),
            ..Faults::default()
        });
        let started = Instant::now();
        client.latest_l1_block().await.expect("answered, late");
        assert!(
            started.elapsed() >= Duration::from_millis(400),
            "the answer was held back: {:?}",
            started.elapsed()
        );
        p.set_faults(Faults::default());

        // Down: a new ws connection is refused, so a role with only this URL cannot start.
        p.set_down(true);
        let err = args(&[&p.ws_url()], &chain)
            .connect_with_metrics(None, &L1Metrics::new())
            .await
            .expect_err("the ws URL is refused");
        assert!(err.to_string().contains("ws"), "{err}");
        // Up again on the same port (the proxy listens again a moment later): it connects.
        p.set_down(false);
        let deadline = Instant::now() + Duration::from_secs(15);
        while let Err(err) = args(&[&p.ws_url()], &chain)
            .connect_with_metrics(None, &L1Metrics::new())
            .await
        {
            assert!(
                Instant::now() < deadline,
                "the ws URL is still refused: {err}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // A refused upgrade (429 to the handshake) is a failed connection too.
        p.set_faults(Faults {
            rate_limit_next: 1,
            ..Faults::default()
        });
        let before = p.stats().ws_connections;
        args(&[&p.ws_url()], &chain)
            .connect_with_metrics(None, &L1Metrics::new())
            .await
            .expect_err("the handshake is answered 429");
        assert_eq!(p.stats().ws_connections, before);
        assert_eq!(p.stats().rate_limited, 1);
    })
    .await
}

#[tokio::test]
async fn a_ws_endpoint_whose_connection_is_gone_is_skipped_at_once() {
    bounded(90, async {
        let chain = chain().await;
        let (a, b) = (proxy(&chain, 13).await, proxy(&chain, 14).await);
        let metrics = L1Metrics::new();
        let client = args(&[&a.ws_url(), &b.ws_url()], &chain)
            .connect_with_metrics(None, &metrics)
            .await
            .expect("both ws endpoints answer");
        // Take down whichever endpoint served the start-up reads: the ranked first one.
        let (first, second) = if metrics.requests(&a.ws_url()) >= metrics.requests(&b.ws_url()) {
            (&a, &b)
        } else {
            (&b, &a)
        };
        first.set_down(true);
        // alloy's ws backend now reconnects to it with a growing backoff (minutes in all) and
        // holds every request sent to it meanwhile. Callers bound their reads more tightly than
        // the per-endpoint limit (the node: 5 s), so a held request would never fail over.
        tokio::time::sleep(Duration::from_millis(300)).await;
        for _ in 0..5 {
            let started = Instant::now();
            tokio::time::timeout(Duration::from_secs(3), client.latest_l1_block())
                .await
                .expect("answered by the other endpoint, not held by the reconnecting one")
                .expect("read");
            assert!(started.elapsed() < Duration::from_secs(3));
        }
        assert!(metrics.requests(&second.ws_url()) >= 5);
        assert!(metrics.errors(&first.ws_url(), ErrorKind::connection) >= 1);

        // Back up, and the other one down: alloy reconnected (its next attempt, 3 s after the
        // first), and the first endpoint serves again.
        first.set_down(false);
        second.set_down(true);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !matches!(
            tokio::time::timeout(Duration::from_secs(3), client.latest_l1_block()).await,
            Ok(Ok(_))
        ) {
            assert!(
                Instant::now() < deadline,
                "the first endpoint did not serve again"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
    .await
}
