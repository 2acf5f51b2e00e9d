//! The sandbox's provers: starting one, and forwarding its (and the proposer's) events.

use epoch_rfq_l1::args::L1Args;
use epoch_rfq_l1::metrics::TxEvent;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};

use alloy_primitives::{Address, U256};
use anyhow::{Context, Result};
use epoch_rfq_node::NodeClient;
use epoch_rfq_p2p::{P2pHandle, P2pService};
use epoch_rfq_proposer::ProposerEvent;
use epoch_rfq_prover::{
    ProverArgs, ProverEvent, ProverHandle, ProverMetrics, ProverType, QuoteSink,
};
use prometheus_client::registry::Registry;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use super::events::{Hub, SandboxEvent};
use super::options::{ProverPricing, ProverSpec, QuotePath, SANDBOX_COST_FILE, SandboxOptions};
use super::process::{RoleProcess, free_port};
use super::{fresh_dir, serve_metrics};
use crate::keys::{KeyArgs, KeyRole};
use crate::p2p_args::P2pArgs;
use crate::prover_cmd::{self, ProverCommand};
use crate::role_flags;
use crate::wiring::{GossipSink, NodeApiSink, ignore_incoming_gossip};

/// A running prover of the sandbox.
pub struct SandboxProver {
    /// Its spec.
    pub spec: ProverSpec,
    /// Its address (dev account).
    pub address: Address,
    /// Its metrics (registered in its own registry).
    pub metrics: ProverMetrics,
    /// Its metrics registry.
    pub registry: Arc<Registry>,
    /// Where its metrics are served (`http://ADDR/metrics`).
    pub metrics_addr: SocketAddr,
    pub(super) handle: Option<ProverHandle>,
    pub(super) p2p: Option<P2pHandle>,
    /// Its child process, when it runs as one.
    pub(super) process: Option<RoleProcess>,
    /// The child's transaction counters of runs before its last restart, by event.
    earlier_runs: Mutex<BTreeMap<String, u64>>,
}

impl fmt::Debug for SandboxProver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxProver")
            .field("name", &self.spec.name)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// The settings of one sandbox prover: what it runs on in-process, and the flags of its child
/// process when it runs as one.
#[allow(clippy::too_many_arguments)]
fn prover_command(
    spec: &ProverSpec,
    key: Option<String>,
    data_dir: &Path,
    options: &SandboxOptions,
    l1_url: &str,
    rollup: Address,
    node_url: &str,
    node_p2p_addr: &str,
    pricing_url: &str,
    metrics_addr: Option<SocketAddr>,
) -> Result<ProverCommand> {
    let (basis_point_fee, bond) = match &spec.pricing {
        ProverPricing::Fixed {
            basis_point_fee,
            bond,
        } => (*basis_point_fee, *bond),
        // The parser's defaults (a cost file excludes the fixed terms on the command line).
        ProverPricing::Service | ProverPricing::CostModel => (100, U256::from(1000u64)),
    };
    let cost_file = match spec.pricing {
        ProverPricing::CostModel => {
            let path = data_dir.join("cost.toml");
            std::fs::write(&path, SANDBOX_COST_FILE)
                .with_context(|| format!("writing {}", path.display()))?;
            Some(path)
        }
        _ => None,
    };
    Ok(ProverCommand {
        prover: ProverArgs {
            l1: L1Args {
                confirmations: options.l1_confirmations,
                ..L1Args::new(l1_url, 31337, Some(rollup))
            },
            p2p_enabled: spec.path == QuotePath::P2p,
            prover_coordination_node_url: match spec.path {
                QuotePath::Http => Some(node_url.to_owned()),
                QuotePath::P2p => None,
            },
            prover_minimum_escrow_amount: spec.minimum_escrow,
            prover_target_escrow_amount: Some(spec.target_escrow),
            quote_provider_url: match spec.pricing {
                ProverPricing::Service => Some(pricing_url.to_owned()),
                ProverPricing::Fixed { .. } | ProverPricing::CostModel => None,
            },
            quote_provider_basis_point_fee: basis_point_fee,
            quote_provider_bond_amount: bond,
            quote_provider_cost_file: cost_file,
            quote_provider_timeout_ms: 2_000,
            quote_provider_retries: 2,
            prover_node_polling_interval_ms: u64::try_from(options.polling_interval.as_millis())
                .unwrap_or(1000)
                .max(1),
            prover_node_max_pending_jobs: 1,
            data_directory: data_dir.to_owned(),
            prover_type: if spec.never_proves {
                ProverType::Command
            } else {
                ProverType::Dev
            },
            prover_command: spec
                .never_proves
                .then(|| "echo 'sandbox: this prover never proves' >&2; exit 1".to_owned()),
            prover_command_timeout_ms: 10_000,
            prover_dev_proof_delay_ms: spec.proof_delay_ms,
        },
        key: KeyArgs {
            private_key: key,
            keystore: None,
            password_file: None,
        },
        metrics_addr,
        p2p: P2pArgs {
            p2p_port: 0,
            p2p_listen_addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            p2p_bootstrap_nodes: node_p2p_addr.to_owned(),
            // Every participant is on 127.0.0.1.
            p2p_allow_private_addresses: true,
            ..P2pArgs::default()
        },
        node_request_timeout_ms: 5_000,
    })
}

/// Builds and starts one prover (in-process, or as a child process when
/// [`SandboxOptions::processes`] names it); returns it, the task forwarding its events and its
/// metrics server (none for a child: it serves its own).
#[allow(clippy::too_many_arguments)]
pub(super) async fn start_prover(
    spec: ProverSpec,
    key: String,
    address: Address,
    options: &SandboxOptions,
    l1_url: &str,
    rollup: Address,
    node_url: &str,
    node_p2p_addr: &str,
    pricing_url: &str,
    hub: Arc<Hub>,
    stopped: watch::Receiver<bool>,
) -> Result<(SandboxProver, Vec<JoinHandle<()>>)> {
    let data_dir = fresh_dir(&options.data_dir, &spec.name)?;
    if options.processes.prover(&spec.name) {
        let metrics_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
        let command = prover_command(
            &spec,
            None,
            &data_dir,
            options,
            l1_url,
            rollup,
            node_url,
            node_p2p_addr,
            pricing_url,
            Some(metrics_addr),
        )?;
        let process = RoleProcess::start(
            &spec.name,
            &options.processes.binary()?,
            role_flags::prover_flags(&command),
            vec![(KeyRole::Prover.key_env().to_owned(), key)],
            data_dir.join(format!("{}.log", spec.name)),
            format!("http://{metrics_addr}/metrics"),
        )
        .await?;
        let mut registry = Registry::default();
        let metrics = ProverMetrics::new(&mut registry);
        return Ok((
            SandboxProver {
                spec,
                address,
                metrics,
                registry: Arc::new(registry),
                metrics_addr,
                handle: None,
                p2p: None,
                process: Some(process),
                earlier_runs: Mutex::new(BTreeMap::new()),
            },
            Vec::new(),
        ));
    }
    let command = prover_command(
        &spec,
        Some(key),
        &data_dir,
        options,
        l1_url,
        rollup,
        node_url,
        node_p2p_addr,
        pricing_url,
        None,
    )?;
    let mut p2p = None;
    let sink: Arc<dyn QuoteSink> = match spec.path {
        QuotePath::Http => Arc::new(NodeApiSink(NodeClient::new(node_url).context("node URL")?)),
        QuotePath::P2p => {
            let config = command.p2p.to_config(&data_dir, "prover")?;
            let (handle, incoming) = P2pService::spawn(config)
                .await
                .with_context(|| format!("starting {}'s P2P", spec.name))?;
            ignore_incoming_gossip(handle.clone(), incoming);
            p2p = Some(handle.clone());
            Arc::new(GossipSink(handle))
        }
    };
    let mut registry = Registry::default();
    let metrics = ProverMetrics::new(&mut registry);
    let registry = Arc::new(registry);
    let node = prover_cmd::build(&command, sink, metrics.clone())
        .await
        .with_context(|| format!("building prover {}", spec.name))?;
    let (metrics_addr, metrics_task) = serve_metrics(registry.clone(), Some(node.health())).await?;
    let events = node.subscribe();
    let handle = node
        .start()
        .await
        .with_context(|| format!("starting prover {}", spec.name))?;
    let forward = tokio::spawn(forward_prover_events(address, events, hub, stopped));
    Ok((
        SandboxProver {
            spec,
            address,
            metrics,
            registry,
            metrics_addr,
            handle: Some(handle),
            p2p,
            process: None,
            earlier_runs: Mutex::new(BTreeMap::new()),
        },
        vec![forward, metrics_task],
    ))
}

impl SandboxProver {
    /// Its child process, when it runs as one.
    pub fn process(&self) -> Option<&RoleProcess> {
        self.process.as_ref()
    }

    /// Its L1 transactions with `event` (`epoch_rfq_l1_transactions_total`), summed over the
    /// runs of its child process.
    pub async fn l1_transactions(&self, event: TxEvent) -> Result<u64> {
        if self.process.is_none() {
            return Ok(self.metrics.l1.transactions_total(event));
        }
        let earlier = self
            .earlier_runs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&format!("{event:?}"))
            .copied()
            .unwrap_or(0);
        let now = self.scrape_l1_transactions().await?;
        Ok(earlier + now.get(&format!("{event:?}")).copied().unwrap_or(0))
    }

    /// Reads the child's `epoch_rfq_l1_transactions_total` by event from its `/metrics`.
    async fn scrape_l1_transactions(&self) -> Result<BTreeMap<String, u64>> {
        let url = format!("http://{}/metrics", self.metrics_addr);
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()
            .context("building an HTTP client")?;
        let text = http
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("reading {url}"))?
            .text()
            .await
            .with_context(|| format!("reading {url}"))?;
        Ok(l1_transactions_by_event(&text))
    }

    /// Kills its child process with SIGKILL, then starts it again on the same data directory
    /// after `down`. Its transaction counters so far are read first (they die with it).
    pub async fn kill_and_restart(&self, down: std::time::Duration) -> Result<()> {
        let process = self.process.as_ref().with_context(|| {
            format!(
                "{} runs in-process: it cannot be killed alone",
                self.spec.name
            )
        })?;
        // A counter read that fails loses that run's counts, not the kill.
        let counts = self.scrape_l1_transactions().await.unwrap_or_default();
        {
            let mut earlier = self
                .earlier_runs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (event, n) in counts {
                *earlier.entry(event).or_default() += n;
            }
        }
        process.kill().await?;
        tokio::time::sleep(down).await;
        process.restart().await
    }
}

/// `epoch_rfq_l1_transactions_total` summed over calls, by `event`, from a Prometheus text page.
fn l1_transactions_by_event(text: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("epoch_rfq_l1_transactions_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let Some(event) = labels
            .split(',')
            .find_map(|l| l.strip_prefix("event=\"")?.strip_suffix('"'))
        else {
            continue;
        };
        if let Ok(n) = value.trim().parse::<f64>() {
            *out.entry(event.to_owned()).or_default() += n as u64;
        }
    }
    out
}

pub(super) async fn forward_prover_events(
    prover: Address,
    mut events: broadcast::Receiver<ProverEvent>,
    hub: Arc<Hub>,
    mut stopped: watch::Receiver<bool>,
) {
    // A prover that cannot quote says so on every tick: show each (epoch, reason) once.
    let mut seen_no_quote = HashSet::new();
    loop {
        let event = tokio::select! {
            _ = stopped.wait_for(|s| *s) => return,
            e = events.recv() => e,
        };
        let event = match event {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        match event {
            ProverEvent::NoQuote {
                epoch,
                reason,
                detail,
            } => {
                if seen_no_quote.insert((epoch, reason)) {
                    hub.emit(SandboxEvent::NoQuote {
                        prover,
                        epoch,
                        reason: reason.to_owned(),
                        detail,
                    });
                }
            }
            ProverEvent::JobStarted { epoch, .. } => {
                hub.emit(SandboxEvent::ProvingStarted { prover, epoch });
            }
            ProverEvent::JobFinished { epoch, state, note } => {
                hub.emit(SandboxEvent::JobFinished {
                    prover,
                    epoch,
                    state,
                    note,
                });
            }
            // Quotes are shown when they reach the node; claims come from the proposer.
            ProverEvent::QuoteSent { .. }
            | ProverEvent::ClaimSeen { .. }
            | ProverEvent::BondSlashed { .. }
            | ProverEvent::EscrowBelowMinimum { .. } => {}
        }
    }
}

pub(super) fn forward_proposer_events(
    mut events: broadcast::Receiver<ProposerEvent>,
    epoch_duration: u64,
    hub: Arc<Hub>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let event = match events.recv().await {
                Ok(e) => e,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let out = match event {
                ProposerEvent::BlockProposed {
                    block, with_claim, ..
                } => Some(SandboxEvent::BlockProposed {
                    number: block.number,
                    slot: block.slot,
                    epoch: block.slot / epoch_duration.max(1),
                    tx_count: block.tx_count,
                    fees: block.total_fees,
                    with_claim,
                }),
                ProposerEvent::QuoteDropped {
                    epoch,
                    prover,
                    reason,
                    ..
                } => Some(SandboxEvent::QuoteDropped {
                    epoch,
                    prover,
                    reason: reason.code().to_owned(),
                    detail: reason.to_string(),
                }),
                ProposerEvent::ClaimFailed {
                    epoch,
                    prover,
                    error,
                } => Some(SandboxEvent::ClaimFailed {
                    epoch,
                    prover,
                    error,
                }),
                ProposerEvent::EpochUnclaimed {
                    epoch, quotes_seen, ..
                } => Some(SandboxEvent::EpochUnclaimed { epoch, quotes_seen }),
                // Claims and prunes are shown from L1, in chain order with the proofs and
                // slashes (a proposal can prune too).
                ProposerEvent::QuotesConsidered { .. }
                | ProposerEvent::Claimed { .. }
                | ProposerEvent::Pruned { .. } => None,
            };
            if let Some(e) = out {
                hub.emit(e);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_counters_are_summed_over_calls_by_event() {
        let page = "# HELP epoch_rfq_l1_transactions L1 transactions\n\
                    epoch_rfq_l1_transactions_total{call=\"claim\",event=\"replaced\"} 2\n\
                    epoch_rfq_l1_transactions_total{call=\"proof\",event=\"replaced\"} 3\n\
                    epoch_rfq_l1_transactions_total{call=\"proof\",event=\"abandoned\"} 1\n\
                    epoch_rfq_l1_requests_total{endpoint=\"x\"} 9\n";
        let counts = l1_transactions_by_event(page);
        assert_eq!(counts.get("replaced"), Some(&5));
        assert_eq!(counts.get("abandoned"), Some(&1));
        assert_eq!(counts.len(), 2);
    }
}
