//! [`L1Metrics`]: what every L1 endpoint is asked and how it answers, per endpoint.
//!
//! One request here is one attempt at one endpoint (a call that the fallback moves to a second
//! endpoint, or that the retry layer repeats, counts once per attempt), so the error counts show
//! which provider rate-limits, times out or is down. The `endpoint` label is
//! `scheme://host:port` only: paths and user info of a provider URL often hold API keys.

use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// How an attempt at an endpoint failed (the `kind` label of `epoch_rfq_l1_errors_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum ErrorKind {
    /// No answer within the request bound ([`crate::L1_REQUEST_TIMEOUT`]).
    timeout,
    /// HTTP 429 Too Many Requests (rate limited).
    http_429,
    /// HTTP 5xx.
    http_5xx,
    /// Connection refused, reset or closed before the answer (http), or the ws backend gone.
    connection,
    /// A JSON-RPC error answer (including reverted `eth_call`s: the endpoint worked).
    rpc,
    /// Anything else: another HTTP status, an answer that is not JSON-RPC.
    other,
}

/// What happened to a transaction (the `event` label of `epoch_rfq_l1_transactions_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum TxEvent {
    /// First broadcast of a purpose.
    sent,
    /// Broadcast again with the same nonce and higher fees.
    replaced,
    /// Broadcast again unchanged after the node forgot it.
    rebroadcast,
    /// Mined (and deep enough) and succeeded.
    mined,
    /// Mined and reverted.
    reverted,
    /// Taken out of the chain by a reorg after being mined.
    reorged_out,
    /// Given up at its deadline.
    abandoned,
    /// A zero-value self-transfer sent at a nonce below one of ours that no transaction held (a
    /// cancel or an earlier transaction reorged out and forgotten), so ours can be mined.
    gap_filled,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TxLabels {
    call: &'static str,
    event: TxEvent,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ErrorLabels {
    endpoint: String,
    kind: ErrorKind,
}

/// Per-endpoint L1 request metrics. Cheap to clone (shared counters); register once with
/// [`Self::register`], then pass to [`crate::args::L1Args::connect_with_metrics`] or
/// [`crate::connect_endpoints`].
#[derive(Debug, Clone)]
pub struct L1Metrics {
    requests: Family<EndpointLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    duration: Family<EndpointLabels, Histogram, fn() -> Histogram>,
    transactions: Family<TxLabels, Counter>,
    /// The same events summed over calls (not registered: Prometheus sums itself).
    transaction_totals: Family<TxEventLabel, Counter>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TxEventLabel {
    event: TxEvent,
}

fn duration_histogram() -> Histogram {
    // 1 ms .. ~16 s: local nodes answer in a millisecond, remote providers in tens to hundreds,
    // and the request bound is 10 s.
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 16.0,
    ])
}

impl Default for L1Metrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            errors: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
            transactions: Family::default(),
            transaction_totals: Family::default(),
        }
    }
}

impl L1Metrics {
    /// New, unregistered metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `epoch_rfq_l1_requests_total{endpoint}`, `epoch_rfq_l1_errors_total{endpoint,kind}`
    /// and `epoch_rfq_l1_request_duration_seconds{endpoint}` in `registry` under these full names
    /// (give the process's root registry, without a prefix).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "epoch_rfq_l1_requests",
            "L1 JSON-RPC requests sent, per endpoint (each attempt of a retried or failed-over call counts)",
            self.requests.clone(),
        );
        registry.register(
            "epoch_rfq_l1_errors",
            "L1 JSON-RPC requests that failed, per endpoint and kind (timeout, http_429, http_5xx, connection, rpc, other)",
            self.errors.clone(),
        );
        registry.register(
            "epoch_rfq_l1_request_duration_seconds",
            "Time from sending an L1 JSON-RPC request to its answer or failure, per endpoint",
            self.duration.clone(),
        );
        registry.register(
            "epoch_rfq_l1_transactions",
            "L1 transactions of this role by contract call and event (sent, replaced, rebroadcast, mined, reverted, reorged_out, abandoned, gap_filled)",
            self.transactions.clone(),
        );
    }

    pub(crate) fn record_tx(&self, call: &'static str, event: TxEvent) {
        self.transactions
            .get_or_create(&TxLabels { call, event })
            .inc();
        self.transaction_totals
            .get_or_create(&TxEventLabel { event })
            .inc();
    }

    /// Transactions of any call that had `event` so far.
    pub fn transactions_total(&self, event: TxEvent) -> u64 {
        self.transaction_totals
            .get(&TxEventLabel { event })
            .map_or(0, |c| c.get())
    }

    /// Transactions of `call` that had `event` so far.
    pub fn transactions(&self, call: &'static str, event: TxEvent) -> u64 {
        self.transactions
            .get(&TxLabels { call, event })
            .map_or(0, |c| c.get())
    }

    pub(crate) fn record(&self, endpoint: &str, elapsed: Duration, error: Option<ErrorKind>) {
        let labels = EndpointLabels {
            endpoint: endpoint.to_owned(),
        };
        self.requests.get_or_create(&labels).inc();
        self.duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        if let Some(kind) = error {
            self.errors
                .get_or_create(&ErrorLabels {
                    endpoint: endpoint.to_owned(),
                    kind,
                })
                .inc();
        }
    }

    /// Requests sent to `endpoint` (its `scheme://host:port` label) so far.
    pub fn requests(&self, endpoint: &str) -> u64 {
        self.requests
            .get(&EndpointLabels {
                endpoint: endpoint.to_owned(),
            })
            .map_or(0, |c| c.get())
    }

    /// Requests to `endpoint` that failed with `kind` so far.
    pub fn errors(&self, endpoint: &str, kind: ErrorKind) -> u64 {
        self.errors
            .get(&ErrorLabels {
                endpoint: endpoint.to_owned(),
                kind,
            })
            .map_or(0, |c| c.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels() {
        let metrics = L1Metrics::new();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        metrics.record("http://127.0.0.1:8545", Duration::from_millis(3), None);
        metrics.record(
            "http://127.0.0.1:8545",
            Duration::from_millis(20),
            Some(ErrorKind::http_429),
        );
        assert_eq!(metrics.requests("http://127.0.0.1:8545"), 2);
        assert_eq!(
            metrics.errors("http://127.0.0.1:8545", ErrorKind::http_429),
            1
        );
        assert_eq!(
            metrics.errors("http://127.0.0.1:8545", ErrorKind::timeout),
            0
        );
        assert_eq!(metrics.requests("http://127.0.0.1:1"), 0);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        for line in [
            r#"epoch_rfq_l1_requests_total{endpoint="http://127.0.0.1:8545"} 2"#,
            r#"epoch_rfq_l1_errors_total{endpoint="http://127.0.0.1:8545",kind="http_429"} 1"#,
            r#"epoch_rfq_l1_request_duration_seconds_count{endpoint="http://127.0.0.1:8545"} 2"#,
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }
}
