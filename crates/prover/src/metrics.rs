//! The prover's metrics (prometheus-client), registered under the `epoch_rfq_prover` prefix of a registry
//! the CLI serves on `/metrics`.

use std::sync::atomic::AtomicU64;

use epoch_rfq_l1::alloy::primitives::U256;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::store::JobState;

/// One label `(name, value)`.
type Labels = Vec<(&'static str, String)>;

/// Counters, gauges and histograms of one prover node. Cheap to clone (shared handles).
#[derive(Debug, Clone)]
pub struct ProverMetrics {
    quotes_sent: Family<Labels, Counter>,
    quote_send_failures: Family<Labels, Counter>,
    no_quote: Family<Labels, Counter>,
    bond_available: Gauge<f64, AtomicU64>,
    deposits_made: Counter,
    claims_won: Counter,
    claims_lost: Counter,
    jobs: Family<Labels, Gauge>,
    job_outcomes: Family<Labels, Counter>,
    epoch_end_to_quote: Histogram,
    claim_to_job_start: Histogram,
    proof_submissions: Family<Labels, Counter>,
    last_good_tick: Gauge,
    jobs_failed: Counter,
    bonds_slashed: Counter,
    bond_slashed_amount: Counter,
    escrow_below_minimum: Gauge,
    /// Ledger and auction-outcome metrics (market intelligence).
    pub market: crate::market::MarketMetrics,
    /// Per-endpoint L1 request metrics (`epoch_rfq_l1_…`), for the L1 client.
    pub l1: epoch_rfq_l1::L1Metrics,
}

fn latency_histogram() -> Histogram {
    // 50 ms … ~100 s: a quote follows an epoch's end by about one polling interval; a claim is
    // detected within one interval (≤ 100 ms with ws subscriptions).
    Histogram::new([
        0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0,
    ])
}

impl Default for ProverMetrics {
    fn default() -> Self {
        Self {
            quotes_sent: Family::default(),
            quote_send_failures: Family::default(),
            no_quote: Family::default(),
            bond_available: Gauge::default(),
            deposits_made: Counter::default(),
            claims_won: Counter::default(),
            claims_lost: Counter::default(),
            jobs: Family::default(),
            job_outcomes: Family::default(),
            epoch_end_to_quote: latency_histogram(),
            claim_to_job_start: latency_histogram(),
            proof_submissions: Family::default(),
            last_good_tick: Gauge::default(),
            jobs_failed: Counter::default(),
            bonds_slashed: Counter::default(),
            bond_slashed_amount: Counter::default(),
            escrow_below_minimum: Gauge::default(),
            market: crate::market::MarketMetrics::default(),
            l1: epoch_rfq_l1::L1Metrics::new(),
        }
    }
}

impl ProverMetrics {
    /// New metrics, registered in `registry` (the root one the role serves) under the prefix
    /// `epoch_rfq_prover`, with `epoch_rfq_build_info{role="prover"}`.
    pub fn new(registry: &mut Registry) -> Self {
        let m = Self::default();
        epoch_rfq_runtime::metrics::register_build_info(registry, "prover");
        m.l1.register(registry);
        let r = registry.sub_registry_with_prefix("epoch_rfq_prover");
        m.market.register(r);
        r.register(
            "last_good_tick_timestamp_seconds",
            "Unix time of the claim watcher's last round that completed without error",
            m.last_good_tick.clone(),
        );
        // Money at risk (alert rules use these names, under `epoch_rfq_prover_`).
        r.register(
            "jobs_failed",
            "Proving jobs that failed (their bond is slashed on L1 at the proof deadline)",
            m.jobs_failed.clone(),
        );
        r.register(
            "bonds_slashed",
            "BondSlashed events on L1 for this prover",
            m.bonds_slashed.clone(),
        );
        r.register(
            "bond_slashed_amount",
            "Bond slashed on L1 from this prover (fee-token base units, saturating at 2^64-1)",
            m.bond_slashed_amount.clone(),
        );
        r.register(
            "escrow_below_minimum",
            "1 while the escrow deposit is below PROVER_MINIMUM_ESCROW_AMOUNT and the wallet cannot top it up",
            m.escrow_below_minimum.clone(),
        );
        r.register(
            "quotes_sent",
            "Quotes handed to a quote path, by path (http, p2p)",
            m.quotes_sent.clone(),
        );
        r.register(
            "quote_send_failures",
            "Quotes a path failed to take, by path (resent on a later tick)",
            m.quote_send_failures.clone(),
        );
        r.register(
            "no_quote",
            "Epochs not quoted, by reason (pricing failures, empty epoch, busy, bond)",
            m.no_quote.clone(),
        );
        r.register(
            "bond_available",
            "Escrow deposit available for a bond (fee-token base units, as last read)",
            m.bond_available.clone(),
        );
        r.register(
            "escrow_deposits",
            "Escrow top-ups made by the bond manager",
            m.deposits_made.clone(),
        );
        r.register(
            "claims_won",
            "Claims on L1 whose bond provider is this prover",
            m.claims_won.clone(),
        );
        r.register(
            "claims_lost",
            "Claims on L1 by another prover for an epoch this prover quoted",
            m.claims_lost.clone(),
        );
        r.register(
            "jobs",
            "Proving jobs by state (known to this process)",
            m.jobs.clone(),
        );
        r.register(
            "job_outcomes",
            "Finished proving jobs by final state",
            m.job_outcomes.clone(),
        );
        r.register(
            "epoch_end_to_quote_seconds",
            "From an epoch's end (L1 time) to its quote being sent",
            m.epoch_end_to_quote.clone(),
        );
        r.register(
            "claim_to_job_start_seconds",
            "From a claim's L1 block to its proving job starting",
            m.claim_to_job_start.clone(),
        );
        r.register(
            "proof_submissions",
            "submitEpochProof transactions by result (mined, reverted, error)",
            m.proof_submissions.clone(),
        );
        m
    }

    pub(crate) fn quote_sent(&self, path: &str) {
        self.quotes_sent
            .get_or_create(&vec![("path", path.to_owned())])
            .inc();
    }

    pub(crate) fn quote_send_failed(&self, path: &str) {
        self.quote_send_failures
            .get_or_create(&vec![("path", path.to_owned())])
            .inc();
    }

    pub(crate) fn no_quote(&self, reason: &str) {
        self.no_quote
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc();
    }

    pub(crate) fn set_bond_available(&self, amount: U256) {
        self.bond_available.set(f64::from(amount));
    }

    pub(crate) fn deposit_made(&self) {
        self.deposits_made.inc();
    }

    pub(crate) fn claim_won(&self) {
        self.claims_won.inc();
    }

    pub(crate) fn claim_lost(&self) {
        self.claims_lost.inc();
    }

    /// Moves one job between state gauges (`from = None`: a new or resumed job).
    pub(crate) fn job_moved(&self, from: Option<JobState>, to: JobState) {
        if let Some(from) = from {
            self.jobs
                .get_or_create(&vec![("state", from.as_str().to_owned())])
                .dec();
        }
        if to.is_terminal() {
            self.job_outcomes
                .get_or_create(&vec![("state", to.as_str().to_owned())])
                .inc();
        } else {
            self.jobs
                .get_or_create(&vec![("state", to.as_str().to_owned())])
                .inc();
        }
    }

    pub(crate) fn observe_epoch_end_to_quote(&self, seconds: f64) {
        self.epoch_end_to_quote.observe(seconds);
    }

    pub(crate) fn observe_claim_to_job_start(&self, seconds: f64) {
        self.claim_to_job_start.observe(seconds);
    }

    pub(crate) fn proof_submission(&self, result: &str) {
        self.proof_submissions
            .get_or_create(&vec![("result", result.to_owned())])
            .inc();
    }

    /// Quotes sent over `path` so far.
    pub fn quotes_sent_count(&self, path: &str) -> u64 {
        self.quotes_sent
            .get(&vec![("path", path.to_owned())])
            .map_or(0, |c| c.get())
    }

    /// Epochs not quoted for `reason` (a [`crate::NoQuote::reason_code`], or `empty_epoch`,
    /// `busy`, `bond`, `bond_below_minimum`, `expired_terms`, `l1`).
    pub fn no_quote_count(&self, reason: &str) -> u64 {
        self.no_quote
            .get(&vec![("reason", reason.to_owned())])
            .map_or(0, |c| c.get())
    }

    /// Claims won so far.
    pub fn claims_won_count(&self) -> u64 {
        self.claims_won.get()
    }

    /// Escrow top-ups made so far.
    pub fn deposits_count(&self) -> u64 {
        self.deposits_made.get()
    }

    /// The claim watcher finished a round without error.
    pub fn mark_tick_ok(&self) {
        self.last_good_tick
            .set(i64::try_from(unix_seconds()).unwrap_or(i64::MAX));
    }

    /// Seconds since the last good tick; `None` before the first one.
    pub fn seconds_since_good_tick(&self) -> Option<u64> {
        let last = u64::try_from(self.last_good_tick.get())
            .ok()
            .filter(|t| *t > 0)?;
        Some(unix_seconds().saturating_sub(last))
    }

    pub(crate) fn job_failed(&self) {
        self.jobs_failed.inc();
    }

    pub(crate) fn bond_slashed(&self, amount: epoch_rfq_l1::alloy::primitives::U256) {
        self.bonds_slashed.inc();
        self.bond_slashed_amount
            .inc_by(u64::try_from(amount).unwrap_or(u64::MAX));
    }

    pub(crate) fn set_escrow_below_minimum(&self, below: bool) {
        self.escrow_below_minimum.set(i64::from(below));
    }

    /// Failed jobs so far.
    pub fn jobs_failed_count(&self) -> u64 {
        self.jobs_failed.get()
    }

    /// Our bonds slashed so far: (count, total amount).
    pub fn bonds_slashed(&self) -> (u64, u64) {
        (self.bonds_slashed.get(), self.bond_slashed_amount.get())
    }

    /// Whether the escrow deposit is below the minimum with no funds to top it up.
    pub fn escrow_below_minimum(&self) -> bool {
        self.escrow_below_minimum.get() != 0
    }

    /// Jobs that ended in `state` (terminal states only).
    pub fn job_outcome_count(&self, state: JobState) -> u64 {
        self.job_outcomes
            .get(&vec![("state", state.as_str().to_owned())])
            .map_or(0, |c| c.get())
    }
}

/// What `GET /health` and `GET /ready` answer from: the role's services (for the prover:
/// `claim_watcher`, `quoter`, `bond_manager`, `job_runner`).
pub use epoch_rfq_runtime::health::Health;

/// Serves `registry` as Prometheus text on `GET /metrics`, with `GET /health` (liveness) and
/// `GET /ready` (readiness) answered from `health`: 200 or 503 with a JSON body naming each
/// service's state and what is wrong (an empty registry, always 200, without `health`). Runs
/// through the hardened HTTP edge with internal limits until the task is dropped.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    registry: std::sync::Arc<Registry>,
    health: Option<Health>,
) -> std::io::Result<()> {
    let health = health.unwrap_or_else(|| Health::new("prover"));
    epoch_rfq_runtime::edge::serve_ops(listener, registry, health).await
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_and_encodes() {
        let mut registry = Registry::default();
        let m = ProverMetrics::new(&mut registry);
        m.quote_sent("http");
        m.no_quote("timeout");
        m.job_moved(None, JobState::Claimed);
        m.job_moved(Some(JobState::Claimed), JobState::Completed);
        m.set_bond_available(U256::from(200_000));
        m.observe_claim_to_job_start(0.2);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(r#"epoch_rfq_prover_quotes_sent_total{path="http"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"epoch_rfq_prover_no_quote_total{reason="timeout"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"epoch_rfq_prover_job_outcomes_total{state="completed"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("epoch_rfq_prover_bond_available 200000"),
            "{text}"
        );
        assert!(
            text.contains(concat!(
                "epoch_rfq_build_info{version=\"",
                env!("CARGO_PKG_VERSION"),
                "\",role=\"prover\"} 1"
            )),
            "{text}"
        );
        assert_eq!(m.quotes_sent_count("http"), 1);
        assert_eq!(m.no_quote_count("timeout"), 1);
        assert_eq!(m.no_quote_count("bond"), 0);
    }
}

#[cfg(test)]
mod health_tests {
    use super::*;

    async fn get(url: &str) -> (u16, String) {
        let response = reqwest::get(url).await.expect("request");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    #[tokio::test]
    async fn health_and_ready_follow_the_services() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let health = Health::new("prover");
        let watcher = health.register("claim_watcher", None);
        let bonds = health.register("bond_manager", None);
        let server = tokio::spawn(serve_metrics(
            listener,
            std::sync::Arc::new(Registry::default()),
            Some(health),
        ));
        let health_url = format!("http://{addr}/health");
        let ready_url = format!("http://{addr}/ready");
        // Starting: live, not ready.
        assert_eq!(get(&health_url).await.0, 200);
        let (status, body) = get(&ready_url).await;
        assert_eq!(status, 503, "{body}");
        watcher.ok();
        bonds.ok();
        assert_eq!(get(&ready_url).await.0, 200);
        // A degraded service: live, not ready, and the reason is in the answer.
        bonds.degraded("escrow top-up waiting for its receipt");
        assert_eq!(get(&health_url).await.0, 200);
        let (status, body) = get(&ready_url).await;
        assert_eq!(status, 503);
        assert!(
            body.contains("escrow top-up waiting for its receipt"),
            "{body}"
        );
        // A failed service: not live.
        watcher.failed("L1 unreachable");
        let (status, body) = get(&health_url).await;
        assert_eq!(status, 503);
        assert!(
            body.contains("claim_watcher") && body.contains("L1 unreachable"),
            "{body}"
        );
        server.abort();
    }

    #[tokio::test]
    async fn without_a_liveness_source_health_is_plain_ok() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve_metrics(
            listener,
            std::sync::Arc::new(Registry::default()),
            None,
        ));
        // No services to report on: live and ready, with an empty service list.
        for path in ["health", "ready"] {
            let (status, body) = get(&format!("http://{addr}/{path}")).await;
            assert_eq!(status, 200, "/{path}");
            assert!(
                body.contains("\"services\":{}") && body.contains("\"status\":\"ok\""),
                "/{path}: {body}"
            );
        }
        server.abort();
    }
}
