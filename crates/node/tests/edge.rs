//! The node's HTTP edge at CI scale (a few hundred connections on 127.0.0.x): per-IP and total
//! connection caps, slow-header connections closed after the header timeout, a declared 10 GB
//! body answered 413 at once, legitimate calls served while another client is at its cap; and
//! `/health` vs `/ready` telling the truth about a stale L1 view.
#![allow(clippy::unwrap_used)] // tests: a failure is a panic

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::*;
use epoch_rfq_node::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A TCP connection to `addr` from the loopback address `127.0.0.<last>`.
async fn connect_from(last: u8, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)),
            0,
        ))
        .unwrap();
    socket.connect(addr).await.unwrap()
}

/// Whether the server closed `s` (EOF or reset) within `within`.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 512];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// The value of the series `name` (with its labels) in the node's metrics, read in-process
/// (over HTTP it would take a connection, which the caps may refuse).
fn metric(node: &NodeHandle, series: &str) -> f64 {
    let text = node.service().render_metrics();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

/// Polls `series` until it reaches `want` (the accept loop works through its backlog).
async fn wait_metric(node: &NodeHandle, series: &str, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = metric(node, series);
        if v >= want {
            assert_eq!(v, want, "{series}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{series} stayed at {v}, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const REFUSED_PER_IP: &str = "epoch_rfq_node_http_connections_refused_total{reason=\"per_ip\"}";
const REFUSED_TOTAL: &str = "epoch_rfq_node_http_connections_refused_total{reason=\"total\"}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_caps_close_excess_connections_and_others_are_still_served() {
    bounded(60, async {
        let config = NodeConfig {
            max_connections: 150,
            max_connections_per_ip: 100,
            // Long enough that no held connection times out during the test.
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            ..NodeConfig::local()
        };
        let node = start(config, FakeChain::new()).await;
        let client = NodeClient::new(node.url()).unwrap();
        let addr = node.local_addr();

        // 150 idle connections from 127.0.0.2: 100 held, 50 closed at accept.
        let mut from_2 = Vec::new();
        for _ in 0..150 {
            from_2.push(connect_from(2, addr).await);
        }
        wait_metric(&node, REFUSED_PER_IP, 50.0).await;
        let mut closed = 0;
        for s in &mut from_2 {
            if closed_within(s, Duration::from_millis(20)).await {
                closed += 1;
            }
        }
        assert_eq!(closed, 50, "the connections over the per-IP cap are closed");
        // 127.0.0.1 is another client: served while 127.0.0.2 is at its cap.
        assert!(client.get_epoch_proof_quotes(7).await.unwrap().is_empty());
        client.add_epoch_proof_quote(&valid(0)).await.unwrap();
        let before = metric(&node, "epoch_rfq_node_http_connections_open");
        assert!((101.0..=102.0).contains(&before), "{before} open");

        // 100 more from 127.0.0.3 fill the total cap of 150; the rest are closed at accept.
        let mut from_3 = Vec::new();
        for _ in 0..100 {
            from_3.push(connect_from(3, addr).await);
        }
        wait_metric(&node, REFUSED_TOTAL, 100.0 - (150.0 - before)).await;
        assert_eq!(metric(&node, "epoch_rfq_node_http_connections_open"), 150.0);
        assert_eq!(metric(&node, REFUSED_PER_IP), 50.0);

        // They leave: the node serves everyone again.
        drop(from_2);
        drop(from_3);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let fresh = NodeClient::new(node.url()).unwrap();
            if let Ok(quotes) = fresh.get_epoch_proof_quotes(7).await {
                assert_eq!(quotes, vec![valid(0)]);
                break;
            }
            assert!(Instant::now() < deadline, "the node never served again");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        node.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn slow_header_connections_are_closed_after_the_header_timeout() {
    bounded(30, async {
        let config = NodeConfig {
            header_read_timeout: Duration::from_millis(500),
            ..NodeConfig::local()
        };
        let node = start(config, FakeChain::new()).await;
        let addr = node.local_addr();
        let mut slow = Vec::new();
        for _ in 0..20 {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"POST / HTTP/1.1\r\nHost: node\r\nX-Slow: ")
                .await
                .unwrap();
            slow.push(s);
        }
        let started = Instant::now();
        // One byte every 100 ms on each: progress, but no complete head.
        let mut alive = slow.len();
        while alive > 0 && started.elapsed() < Duration::from_secs(3) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            alive = 0;
            for s in &mut slow {
                if s.write_all(b"a").await.is_ok() {
                    alive += 1;
                }
            }
        }
        for s in &mut slow {
            assert!(closed_within(s, Duration::from_secs(2)).await);
        }
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(2500),
            "closed after {took:?} (header timeout 500 ms)"
        );
        assert_eq!(
            metric(
                &node,
                "epoch_rfq_node_http_connections_closed_total{reason=\"header_timeout\"}"
            ),
            20.0
        );
        node.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_declared_10_gb_body_is_answered_413_at_once() {
    bounded(30, async {
        let node = start(NodeConfig::local(), FakeChain::new()).await;
        let mut s = TcpStream::connect(node.local_addr()).await.unwrap();
        let started = Instant::now();
        s.write_all(
            b"POST / HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n",
        )
        .await
        .unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut answer))
            .await
            .expect("the node answers and closes without waiting for the body")
            .unwrap();
        let took = started.elapsed();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(
            answer.contains("\"code\":-32600") && answer.contains("limit of 262144 bytes"),
            "{answer}"
        );
        // No wait for the body: well under the 10 s request timeout (typically a few ms).
        assert!(took < Duration::from_secs(2), "413 after {took:?}");
        assert_eq!(
            metric(&node, "epoch_rfq_node_http_body_too_large_total"),
            1.0
        );
        node.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_turns_503_naming_the_age_when_the_l1_view_goes_stale() {
    bounded(30, async {
        let chain = FakeChain::new();
        let config = NodeConfig {
            refresh_interval: Duration::from_millis(50),
            l1_max_age: Some(Duration::from_millis(400)),
            ..NodeConfig::local()
        };
        let node = start(config, chain.clone()).await;
        let get = |path: &'static str| {
            let url = format!("{}{path}", node.url());
            async move {
                let r = reqwest::get(url).await.unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            }
        };
        let (status, body) = get("ready").await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"l1_view\":{\"state\":\"ok\""), "{body}");
        assert!(metric(&node, "epoch_rfq_node_l1_view_age_seconds") < 0.4);

        // L1 stops answering: every refresh fails from now on.
        *chain.snap.lock() = None;
        let froze = Instant::now();
        let body = loop {
            let (status, body) = get("ready").await;
            if status == 503 {
                break body;
            }
            assert!(
                froze.elapsed() < Duration::from_secs(5),
                "still ready: {body}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // Not before the limit, and saying how old and why.
        assert!(froze.elapsed() >= Duration::from_millis(350), "{body}");
        assert!(
            body.contains("\"l1_view\":{\"state\":\"degraded\""),
            "{body}"
        );
        assert!(body.contains("s old (limit 0.4 s)"), "{body}");
        assert!(body.contains("L1 unreachable (fake)"), "{body}");
        // Still live: restarting the node would not fix L1.
        let (status, body) = get("health").await;
        assert_eq!(status, 200, "{body}");
        assert!(metric(&node, "epoch_rfq_node_l1_view_age_seconds") >= 0.4);

        // L1 is back: ready again at the next refresh.
        chain.set(snapshot());
        let back = Instant::now();
        loop {
            let (status, body) = get("ready").await;
            if status == 200 {
                break;
            }
            assert!(back.elapsed() < Duration::from_secs(5), "not ready: {body}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        node.shutdown().await;
    })
    .await;
}
