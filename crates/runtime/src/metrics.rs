//! The metric conventions every role shares: one `epoch_rfq_` namespace (then the role:
//! `epoch_rfq_node_…`, `epoch_rfq_prover_…`, `epoch_rfq_proposer_…`, `epoch_rfq_p2p_…`), units in
//! names, and two series every role exports:
//!
//! - `epoch_rfq_build_info{version,role} 1`: which build runs where ([`register_build_info`]).
//! - `epoch_rfq_ready{role}` 0/1: the role's readiness ([`Health::readiness`]) computed at scrape
//!   time, so an alert on `epoch_rfq_ready == 0` sees exactly what `GET /ready` answers
//!   ([`register_ready`]).
//!
//! Both are registered in the root (unprefixed) registry the role serves on `/metrics`.

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::health::Health;

/// The namespace of every metric.
pub const NAMESPACE: &str = "epoch_rfq";

/// Registers `epoch_rfq_build_info{version="<crate version>",role}` = 1.
pub fn register_build_info(registry: &mut Registry, role: &'static str) {
    registry.register_collector(Box::new(BuildInfo { role }));
}

/// The text exposition of `registry` at each call: what `edge::ops_router` serves on
/// `GET /metrics` for a role whose metrics all live in one registry.
pub fn renderer(
    registry: std::sync::Arc<Registry>,
) -> std::sync::Arc<dyn Fn() -> String + Send + Sync> {
    std::sync::Arc::new(move || {
        let mut text = String::new();
        // Writing into a String only fails if a collector's encoding does.
        if prometheus_client::encoding::text::encode(&mut text, &registry).is_err() {
            tracing::error!("metrics encoding failed");
        }
        text
    })
}

/// Registers `epoch_rfq_ready{role}`: 1 while `health` answers ready, else 0, read at each
/// scrape.
pub fn register_ready(registry: &mut Registry, health: Health) {
    registry.register_collector(Box::new(Ready { health }));
}

#[derive(Debug)]
struct BuildInfo {
    role: &'static str,
}

impl prometheus_client::collector::Collector for BuildInfo {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut metric = encoder.encode_descriptor(
            "epoch_rfq_build_info",
            "Build of the running binary (always 1), by version and role",
            None,
            MetricType::Gauge,
        )?;
        let labels = [("version", env!("CARGO_PKG_VERSION")), ("role", self.role)];
        ConstGauge::new(1i64).encode(metric.encode_family(&labels)?)
    }
}

#[derive(Debug)]
struct Ready {
    health: Health,
}

impl prometheus_client::collector::Collector for Ready {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut metric = encoder.encode_descriptor(
            "epoch_rfq_ready",
            "1 while the role is ready (GET /ready answers 200), else 0",
            None,
            MetricType::Gauge,
        )?;
        let labels = [("role", self.health.role())];
        let ready = i64::from(self.health.is_ready());
        ConstGauge::new(ready).encode(metric.encode_family(&labels)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(registry: &Registry) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).expect("encodes");
        text
    }

    #[test]
    fn build_info_names_version_and_role() {
        let mut registry = Registry::default();
        register_build_info(&mut registry, "prover");
        let text = scrape(&registry);
        let expected = format!(
            "epoch_rfq_build_info{{version=\"{}\",role=\"prover\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        assert!(text.contains(&expected), "{text}");
        assert!(text.contains("# TYPE epoch_rfq_build_info gauge"), "{text}");
    }

    #[test]
    fn ready_follows_health_at_scrape_time() {
        let mut registry = Registry::default();
        let health = Health::new("node");
        register_ready(&mut registry, health.clone());
        let view = health.register("l1_view", None);
        assert!(
            scrape(&registry).contains("epoch_rfq_ready{role=\"node\"} 0"),
            "starting is not ready"
        );
        view.ok();
        assert!(scrape(&registry).contains("epoch_rfq_ready{role=\"node\"} 1"));
        view.degraded("L1 view is 30 s old");
        assert!(scrape(&registry).contains("epoch_rfq_ready{role=\"node\"} 0"));
    }
}
