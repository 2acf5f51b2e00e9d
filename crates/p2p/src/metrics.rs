//! Counters of the gossip service, and their Prometheus form.
//!
//! [`crate::P2pHandle::encode_metrics`] writes them as `epoch_rfq_p2p_…_total` counters together
//! with gossipsub's own metrics (`epoch_rfq_p2p_gossipsub_…`: mesh peers, scores, messages per
//! topic). The peer count is the role's to export (`epoch_rfq_p2p_peers`, also when P2P is off).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

#[derive(Default, Debug)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Default, Debug)]
pub(crate) struct Counters {
    pub(crate) published: Counter,
    pub(crate) publish_failed: Counter,
    pub(crate) received: Counter,
    pub(crate) accepted: Counter,
    pub(crate) ignored: Counter,
    pub(crate) rejected: Counter,
    pub(crate) undecodable: Counter,
    pub(crate) dropped: Counter,
    pub(crate) peers: Counter,
    pub(crate) graylist_disconnects: Counter,
    pub(crate) validation_queued: Counter,
    pub(crate) validation_in_flight: Counter,
    pub(crate) dials_refused: Counter,
    pub(crate) addresses_refused: Counter,
    pub(crate) records_refused: Counter,
    pub(crate) discovery_offences: Counter,
    pub(crate) routing_table_peers: Counter,
}

impl Counter {
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Counters {
    pub(crate) fn snapshot(&self) -> P2pMetrics {
        P2pMetrics {
            published: self.published.get(),
            publish_failed: self.publish_failed.get(),
            received: self.received.get(),
            accepted: self.accepted.get(),
            ignored: self.ignored.get(),
            rejected: self.rejected.get(),
            undecodable: self.undecodable.get(),
            dropped: self.dropped.get(),
            peers: self.peers.get(),
            graylist_disconnects: self.graylist_disconnects.get(),
            validation_queued: self.validation_queued.get(),
            validation_in_flight: self.validation_in_flight.get(),
            dials_refused: self.dials_refused.get(),
            addresses_refused: self.addresses_refused.get(),
            records_refused: self.records_refused.get(),
            discovery_offences: self.discovery_offences.get(),
            routing_table_peers: self.routing_table_peers.get(),
        }
    }
}

/// A snapshot of the service's counters (monotonic unless noted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct P2pMetrics {
    /// Messages we published successfully.
    pub published: u64,
    /// Publish attempts that failed (including "no peers" and duplicates).
    pub publish_failed: u64,
    /// Messages received from the network that decoded and were handed to the application
    /// (or dropped because its queue was full).
    pub received: u64,
    /// Validation reports, by outcome.
    pub accepted: u64,
    pub ignored: u64,
    pub rejected: u64,
    /// Messages rejected inside the crate: not valid snappy or above the decompressed cap.
    pub undecodable: u64,
    /// Received messages dropped (and reported `Ignore`) because the incoming queue was full
    /// (the validation workers are all busy and the queue behind them is full).
    pub dropped: u64,
    /// Received messages put on the validation queue (`received − dropped`).
    pub validation_queued: u64,
    /// Gauge: validations running on the [`crate::ValidationPool`]'s workers.
    pub validation_in_flight: u64,
    /// Dials refused because the address (learned from a peer) is outside the allowed ranges.
    pub dials_refused: u64,
    /// Addresses a peer announced (identify) that were not added to the routing table:
    /// non-public, unsupported, malformed, or beyond the per-peer cap.
    pub addresses_refused: u64,
    /// Kademlia records (PUT_VALUE / ADD_PROVIDER) received and refused: discovery stores none.
    pub records_refused: u64,
    /// Discovery offences (malformed addresses, address floods, records) charged to peers'
    /// application score.
    pub discovery_offences: u64,
    /// Gauge: peers in the Kademlia routing table.
    pub routing_table_peers: u64,
    /// Gauge: peers currently connected.
    pub peers: u64,
    /// Peers disconnected and banned because their score fell below the graylist threshold.
    pub graylist_disconnects: u64,
}

/// Exports [`Counters`] at scrape time.
#[derive(Debug)]
pub(crate) struct CountersCollector(pub(crate) Arc<Counters>);

impl prometheus_client::collector::Collector for CountersCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let m = self.0.snapshot();
        let series: [(&str, &str, u64); 14] = [
            ("published", "Messages published successfully", m.published),
            (
                "publish_failed",
                "Publish attempts that failed (no peers, duplicates, ...)",
                m.publish_failed,
            ),
            (
                "received",
                "Messages received, decoded and handed to the application",
                m.received,
            ),
            (
                "validation_accepted",
                "Messages validated Accept",
                m.accepted,
            ),
            ("validation_ignored", "Messages validated Ignore", m.ignored),
            (
                "validation_rejected",
                "Messages validated Reject",
                m.rejected,
            ),
            (
                "undecodable",
                "Messages rejected as invalid snappy or over the decompressed size cap",
                m.undecodable,
            ),
            (
                "dropped",
                "Received messages dropped because the application's queue was full",
                m.dropped,
            ),
            (
                "graylist_disconnects",
                "Peers disconnected and banned for a score below the graylist threshold",
                m.graylist_disconnects,
            ),
            (
                "validation_queued",
                "Received messages put on the validation queue",
                m.validation_queued,
            ),
            (
                "discovery_dials_refused",
                "Dials refused: address learned from a peer outside the allowed ranges",
                m.dials_refused,
            ),
            (
                "discovery_addresses_refused",
                "Addresses announced by peers not added to the routing table",
                m.addresses_refused,
            ),
            (
                "discovery_records_refused",
                "Kademlia records received and refused (discovery stores none)",
                m.records_refused,
            ),
            (
                "discovery_offences",
                "Discovery offences charged to a peer's score (malformed addresses, floods, records)",
                m.discovery_offences,
            ),
        ];
        for (name, help, value) in series {
            let name = format!("epoch_rfq_p2p_{name}");
            let metric = encoder.encode_descriptor(&name, help, None, MetricType::Counter)?;
            ConstCounter::new(value).encode(metric)?;
        }
        let gauges: [(&str, &str, u64); 2] = [
            (
                "validation_in_flight",
                "Validations running on the worker pool",
                m.validation_in_flight,
            ),
            (
                "discovery_routing_table_peers",
                "Peers in the Kademlia routing table",
                m.routing_table_peers,
            ),
        ];
        for (name, help, value) in gauges {
            let name = format!("epoch_rfq_p2p_{name}");
            let metric = encoder.encode_descriptor(&name, help, None, MetricType::Gauge)?;
            prometheus_client::metrics::gauge::ConstGauge::new(value as i64).encode(metric)?;
        }
        Ok(())
    }
}
