//! Counters of the gossip service.

use std::sync::atomic::{AtomicU64, Ordering};

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
    /// Received messages dropped (and reported `Ignore`) because the incoming queue was full.
    pub dropped: u64,
    /// Gauge: peers currently connected.
    pub peers: u64,
    /// Peers disconnected and banned because their score fell below the graylist threshold.
    pub graylist_disconnects: u64,
}
