//! `epoch-rfq sandbox` (SPEC §8): the whole system in one process on a private anvil chain.
//!
//! [`Sandbox::start`] starts the pinned anvil (interval mining, 1 s blocks), deploys the
//! contracts, mints fee tokens to the proposer and the provers, then runs in-process:
//!
//! * the example pricing service (127.0.0.1, any free port);
//! * one node: L1-backed chain view, JSON-RPC on 127.0.0.1 (`--node-port`, default 8000), gossip
//!   on 127.0.0.1 (any free port);
//! * the provers (by default three: `alice` posts to the node over HTTP at a fixed fee, `bob`
//!   and `carol` gossip over P2P bootstrapped to the node, `bob` at a fixed fee and `carol` priced
//!   by the pricing service), each with its own dev account, data directory and metrics;
//! * a proposer reading quotes straight from the node's pool ([`LocalPoolSource`]).
//!
//! Everything that happens is a [`SandboxEvent`] (kept in a history, broadcast, and printed as
//! one line each when [`SandboxOptions::print`] is set): blocks, quotes reaching the node, drops,
//! the claim, proving, `EpochProven` with the payouts, `BondSlashed`, `PrunedPending`.
//! [`Sandbox::shutdown`] stops every role; dropping the sandbox kills anvil.
//!
//! Files: `options` (what it can be told), `events` (what happened, one line each, and the hub
//! that records and prints it), `provers` (starting a prover, forwarding events), `follow`
//! (L1 and the pool for the story), `run` (the command).

mod events;
mod follow;
mod options;
mod process;
mod provers;
mod run;

pub use events::SandboxEvent;
pub use options::{
    ProverPricing, ProverSpec, QuotePath, RoleProcesses, SandboxArgs, SandboxOptions,
};
pub use process::RoleProcess;
pub use provers::SandboxProver;
pub use run::run;

use events::{Hub, Names, short_addr};
use follow::{PoolView, watch};
use process::free_port;
use provers::{forward_proposer_events, start_prover};

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, U256};
use anyhow::{Context, Result, bail};
use epoch_rfq_l1::anvil::{ChainOptions, TestChain};
use epoch_rfq_l1::fault_proxy::FaultProxy;
use epoch_rfq_l1::txsend::TxPolicy;
use epoch_rfq_l1::{DeployParams, Deployment, L1Client};
use epoch_rfq_node::{L1ChainView, NodeConfig, NodeHandle, NodeService};
use epoch_rfq_p2p::{P2pHandle, P2pService};
use epoch_rfq_proposer::{
    Proposer, ProposerConfig, ProposerMetrics, QuoteSource, ReceivedQuote, SourceError,
};
use epoch_rfq_prover::pricing_service::{self};
use futures::future::BoxFuture;
use prometheus_client::registry::Registry;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::node_cmd::{NodeArgs, NodeHttpLimitArgs};
use crate::p2p_args::P2pArgs;
use crate::role_flags;
use crate::wiring::{LocalPoolSource, NodeApiSource};

/// Dev account of the proposer (account 0 deploys and owns the fee token).
const PROPOSER_ACCOUNT: usize = 1;
/// Dev account of the first prover; the others follow.
const FIRST_PROVER_ACCOUNT: usize = 2;
/// Dev account that receives slashed bonds (distinct from everyone else, so a slash shows as a
/// clean balance change).
const SLASH_RECIPIENT_ACCOUNT: usize = 9;

/// The running sandbox. See the [module docs](self).
pub struct Sandbox {
    chain: TestChain,
    proxies: Vec<FaultProxy>,
    deployment: Deployment,
    reader: L1Client,
    node: Option<NodeHandle>,
    /// The node when it runs as a child process.
    node_process: Option<RoleProcess>,
    node_url: String,
    node_p2p_addr: String,
    pricing_url: String,
    proposer_address: Address,
    proposer_metrics: ProposerMetrics,
    proposer_metrics_addr: SocketAddr,
    provers: Vec<SandboxProver>,
    hub: Arc<Hub>,
    stop: watch::Sender<bool>,
    proposer_task: Option<JoinHandle<()>>,
    tasks: Vec<JoinHandle<()>>,
    options: SandboxOptions,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("l1", &self.chain.url())
            .field("rollup", &self.deployment.contracts.rollup)
            .field("provers", &self.provers)
            .finish_non_exhaustive()
    }
}

/// Combines the node's pool with extra quotes (tests).
struct Combined(Arc<dyn QuoteSource>, Arc<dyn QuoteSource>);

impl QuoteSource for Combined {
    fn quotes_for_epoch(
        &self,
        epoch: u64,
    ) -> BoxFuture<'_, Result<Vec<ReceivedQuote>, SourceError>> {
        Box::pin(async move {
            let mut quotes = self.1.quotes_for_epoch(epoch).await?;
            quotes.extend(self.0.quotes_for_epoch(epoch).await?);
            Ok(quotes)
        })
    }
}

/// Removes and recreates `dir/name` (only the role folders the sandbox owns).
fn fresh_dir(root: &Path, name: &str) -> Result<PathBuf> {
    let dir = root.join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot clear the old sandbox data in {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

impl Sandbox {
    /// Starts everything (see the module docs). Takes ~5–10 s (deployment, funding, deposits:
    /// one L1 block per second).
    pub async fn start(options: SandboxOptions) -> Result<Self> {
        if options.provers.len() + FIRST_PROVER_ACCOUNT >= SLASH_RECIPIENT_ACCOUNT {
            bail!(
                "at most {} provers",
                SLASH_RECIPIENT_ACCOUNT - FIRST_PROVER_ACCOUNT
            );
        }
        std::fs::create_dir_all(&options.data_dir).with_context(|| {
            format!(
                "cannot create the sandbox data folder {}",
                options.data_dir.display()
            )
        })?;
        let started = Instant::now();

        // L1: anvil with 1 s blocks, the contracts, the tokens.
        let mut chain = TestChain::start(ChainOptions {
            accounts: 10,
            block_time: Some(1),
        })
        .await
        .context("starting anvil")?;
        let slash_recipient = chain.address(SLASH_RECIPIENT_ACCOUNT)?;
        let params = DeployParams {
            slot_duration: options.slot_duration,
            epoch_duration: options.epoch_duration,
            claim_window: options.claim_window,
            min_bond: options.min_bond,
            withdraw_delay: 3u64
                .saturating_mul(options.epoch_duration)
                .saturating_mul(options.slot_duration),
            slash_recipient,
            ..DeployParams::default()
        };
        let deployment = chain.deploy(params).await.context("deploying")?;
        let reader = chain.reader()?;
        // Optionally, fault proxies between the roles and anvil (the story's own reader stays
        // direct: it observes, it is not under test).
        let mut proxies = Vec::new();
        for seed in 0..options.l1_fault_proxies {
            proxies.push(
                FaultProxy::start(&chain.url(), seed as u64 + 1)
                    .await
                    .context("starting an L1-fault proxy")?,
            );
        }
        let (roles_l1, provers_l1) = if proxies.is_empty() {
            (chain.url(), chain.ws_url())
        } else {
            let urls = proxies
                .iter()
                .map(|p| {
                    if options.l1_fault_proxies_ws {
                        p.ws_url()
                    } else {
                        p.url()
                    }
                })
                .collect::<Vec<_>>()
                .join(",");
            (urls.clone(), urls)
        };
        let node_reader = if proxies.is_empty() {
            reader.clone()
        } else {
            L1Client::from_deployment(&roles_l1, &deployment, None)
                .await
                .context("connecting the node to L1")?
        };
        let proposer_signer = chain.signer(PROPOSER_ACCOUNT)?;
        let mut funding = vec![(proposer_signer.address(), options.proposer_funds)];
        let mut prover_keys = Vec::new();
        for (i, spec) in options.provers.iter().enumerate() {
            let signer = chain.signer(FIRST_PROVER_ACCOUNT + i)?;
            funding.push((signer.address(), spec.funds));
            prover_keys.push(chain.private_key_hex(FIRST_PROVER_ACCOUNT + i)?);
        }
        mint_all(&chain, &deployment, &funding).await?;

        let mut names = Names::default();
        names
            .0
            .insert(proposer_signer.address(), "proposer".to_owned());
        names.0.insert(
            slash_recipient,
            format!("slash recipient {}", short_addr(&slash_recipient)),
        );
        let mut addresses = Vec::new();
        for (i, spec) in options.provers.iter().enumerate() {
            let a = chain.address(FIRST_PROVER_ACCOUNT + i)?;
            names
                .0
                .insert(a, format!("{} ({})", spec.name, spec.path.name()));
            addresses.push(a);
        }
        let (events, _) = broadcast::channel(4096);
        let hub = Arc::new(Hub {
            history: Mutex::new(Vec::new()),
            events,
            names,
            print: options.print,
            started,
            slot: AtomicU64::new(0),
        });
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();

        // The pricing service.
        let (pricing_addr, pricing_server) =
            pricing_service::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), options.pricing)
                .await
                .context("starting the pricing service")?;
        tasks.push(tokio::spawn(async move {
            if let Err(e) = pricing_server.await {
                tracing::warn!(error = %e, "pricing service stopped");
            }
        }));
        let pricing_url = format!("http://{pricing_addr}/");

        // The node, with gossip on 127.0.0.1.
        let node_dir = fresh_dir(&options.data_dir, "node")?;
        let node_p2p_args = P2pArgs {
            p2p_port: 0,
            p2p_listen_addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            p2p_bootstrap_nodes: String::new(),
            // Every participant is on 127.0.0.1.
            p2p_allow_private_addresses: true,
            ..P2pArgs::default()
        };
        let node_config = NodeConfig {
            http_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, options.node_port)),
            check_escrow: options.node_check_escrow,
            ..NodeConfig::default()
        };
        let (node, node_process, node_url, node_p2p_addr) = if options.processes.node {
            let (process, url, p2p_addr) = start_node_process(
                &options,
                node_config,
                node_p2p_args,
                &roles_l1,
                deployment.contracts.rollup,
                &node_dir,
            )
            .await?;
            (None, Some(process), url, p2p_addr)
        } else {
            let node_p2p = node_p2p_args.to_config(&node_dir, "node")?;
            let (node_gossip, node_incoming) = P2pService::spawn(node_p2p)
                .await
                .context("starting the node's P2P")?;
            let node_p2p_addr = node_multiaddr(&node_gossip).await?;
            let node = NodeService::spawn(
                node_config,
                Arc::new(L1ChainView::new(node_reader)),
                Some((node_gossip, node_incoming)),
            )
            .await
            .with_context(|| {
                format!(
                    "starting the node on 127.0.0.1:{} (another sandbox or node running? try --node-port)",
                    options.node_port
                )
            })?;
            let url = node.url();
            (Some(node), None, url, node_p2p_addr)
        };

        // The provers, started together (each deposits into its escrow first).
        let mut starting = Vec::new();
        for ((spec, key), address) in options.provers.iter().zip(&prover_keys).zip(&addresses) {
            starting.push(start_prover(
                spec.clone(),
                key.clone(),
                *address,
                &options,
                &provers_l1,
                deployment.contracts.rollup,
                &node_url,
                &node_p2p_addr,
                &pricing_url,
                hub.clone(),
                stopped.clone(),
            ));
        }
        let mut provers = Vec::new();
        for result in futures::future::join_all(starting).await {
            let (prover, prover_tasks) = result?;
            provers.push(prover);
            tasks.extend(prover_tasks);
        }

        // The proposer, reading the node's pool.
        let mut registry = Registry::default();
        let proposer_metrics = ProposerMetrics::new(&mut registry);
        let proposer_l1 =
            L1Client::from_deployment(&roles_l1, &deployment, Some(proposer_signer.clone()))
                .await
                .context("connecting the proposer to L1")?;
        let proposer_l1 = proposer_l1
            .with_tx_policy(TxPolicy {
                confirmations: options.l1_confirmations.unwrap_or(0),
                ..TxPolicy::default()
            })
            .with_metrics(proposer_metrics.l1.clone());
        let (pool, pool_view): (Arc<dyn QuoteSource>, PoolView) = match &node {
            Some(node) => (
                Arc::new(LocalPoolSource(node.service().clone())),
                PoolView::Local(node.service().clone()),
            ),
            // Like `epoch-rfq proposer`: the node's JSON-RPC API.
            None => (
                Arc::new(NodeApiSource(remote_node_client(&node_url)?)),
                PoolView::Remote(remote_node_client(&node_url)?),
            ),
        };
        let source: Arc<dyn QuoteSource> = match &options.extra_source {
            Some(extra) => Arc::new(Combined(pool, extra.clone())),
            None => pool,
        };
        let (proposer_metrics_addr, metrics_task) = serve_metrics(Arc::new(registry), None).await?;
        tasks.push(metrics_task);
        let mut proposer = Proposer::new(
            proposer_l1,
            source,
            ProposerConfig {
                polling_interval: options.polling_interval,
                traffic: options.traffic,
                ..ProposerConfig::default()
            },
        )?
        .with_metrics(proposer_metrics.clone());
        tasks.push(forward_proposer_events(
            proposer.subscribe(),
            options.epoch_duration,
            hub.clone(),
        ));
        let mut proposer_stop = stopped.clone();
        let proposer_task = tokio::spawn(async move {
            proposer
                .run(async move {
                    let _ = proposer_stop.wait_for(|s| *s).await;
                })
                .await;
        });

        // The watcher: L1 events and the node's pool.
        tasks.push(tokio::spawn(watch(
            reader.clone(),
            pool_view,
            slash_recipient,
            hub.clone(),
            stopped.clone(),
        )));

        Ok(Self {
            chain,
            proxies,
            deployment,
            reader,
            node,
            node_process,
            node_url,
            node_p2p_addr,
            pricing_url,
            proposer_address: proposer_signer.address(),
            proposer_metrics,
            proposer_metrics_addr,
            provers,
            hub,
            stop,
            proposer_task: Some(proposer_task),
            tasks,
            options,
        })
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SandboxEvent> {
        self.hub.events.subscribe()
    }

    /// Every event so far.
    pub fn history(&self) -> Vec<SandboxEvent> {
        self.hub
            .history
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Waits until an event in the history (past or future) matches `pred`; returns it.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&SandboxEvent) -> bool,
    ) -> Result<SandboxEvent> {
        let mut rx = self.subscribe();
        if let Some(e) = self.history().into_iter().find(|e| pred(e)) {
            return Ok(e);
        }
        tokio::time::timeout(timeout, async {
            loop {
                match rx.recv().await {
                    Ok(e) if pred(&e) => return Ok(e),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if let Some(e) = self.history().into_iter().find(|e| pred(e)) {
                            return Ok(e);
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => bail!("sandbox stopped"),
                }
            }
        })
        .await
        .map_err(|_| anyhow::anyhow!("no matching sandbox event within {timeout:?}"))?
    }

    /// The anvil chain (its dev keys, time control, URLs).
    pub fn chain(&self) -> &TestChain {
        &self.chain
    }

    /// The L1-fault proxies between the roles and anvil ([`SandboxOptions::l1_fault_proxies`]).
    pub fn fault_proxies(&self) -> &[FaultProxy] {
        &self.proxies
    }

    /// The deployment.
    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    /// A read-only L1 client of the deployment.
    pub fn reader(&self) -> &L1Client {
        &self.reader
    }

    /// The node's JSON-RPC URL.
    pub fn node_url(&self) -> Option<String> {
        Some(self.node_url.clone())
    }

    /// The node (pool, metrics), when it runs in this process.
    pub fn node(&self) -> Option<&NodeHandle> {
        self.node.as_ref()
    }

    /// The node's child process, when it runs as one ([`SandboxOptions::processes`]).
    pub fn node_process(&self) -> Option<&RoleProcess> {
        self.node_process.as_ref()
    }

    /// The proposer's address (the coinbase of every block).
    pub fn proposer_address(&self) -> Address {
        self.proposer_address
    }

    /// The proposer's metrics (drop reasons, claims).
    pub fn proposer_metrics(&self) -> &ProposerMetrics {
        &self.proposer_metrics
    }

    /// The provers.
    pub fn provers(&self) -> &[SandboxProver] {
        &self.provers
    }

    /// The address of the prover named `name`.
    pub fn prover_address(&self, name: &str) -> Option<Address> {
        self.provers
            .iter()
            .find(|p| p.spec.name == name)
            .map(|p| p.address)
    }

    /// Where slashed bonds go.
    pub fn slash_recipient(&self) -> Address {
        self.deployment.info().slash_recipient
    }

    /// What is running where, for the console.
    pub fn banner(&self) -> String {
        let d = &self.deployment;
        let p = &d.params;
        let mut s = String::new();
        let mut line = |l: String| {
            s.push_str(&l);
            s.push('\n');
        };
        line("epoch-rfq sandbox".to_owned());
        line(format!(
            "  L1        anvil {} (chain {}, 1 s blocks, ws {})",
            self.chain.url(),
            d.chain_id,
            self.chain.ws_url()
        ));
        line(format!(
            "  contracts Rollup {}  escrow {}  FeeToken {}",
            d.contracts.rollup, d.contracts.escrow, d.contracts.fee_token
        ));
        line(format!(
            "  time      slot {} s, epoch {} slots ({} s), claim window {} slots, min bond {}",
            p.slot_duration,
            p.epoch_duration,
            p.slot_duration * p.epoch_duration,
            p.claim_window,
            p.min_bond
        ));
        if let Some(url) = self.node_url() {
            line(format!("  node      {url} (JSON-RPC, /health, /metrics)"));
            line(format!("  explorer  {url}explorer (open it in a browser)"));
        }
        line(format!("  gossip    {}", self.node_p2p_addr));
        let policy = &self.options.pricing;
        line(format!(
            "  pricing   {} (fee = ({} + {}/tx) bps + {} %, bond {})",
            self.pricing_url,
            policy.base_bps,
            policy.bps_per_tx,
            policy.margin_percent,
            policy.bond_amount
        ));
        line(format!(
            "  proposer  {} (coinbase of every block), metrics http://{}/metrics",
            self.proposer_address, self.proposer_metrics_addr
        ));
        for prover in &self.provers {
            line(format!(
                "  prover    {:<6} {}  {}",
                prover.spec.name,
                prover.address,
                prover.spec.describe(policy)
            ));
        }
        let metrics: Vec<String> = self
            .provers
            .iter()
            .map(|p| format!("{} http://{}/metrics", p.spec.name, p.metrics_addr))
            .collect();
        line(format!("  metrics   {}", metrics.join("  ")));
        line(format!(
            "  slashing  bonds go to {}",
            self.slash_recipient()
        ));
        line(format!("  data      {}", self.options.data_dir.display()));
        s
    }

    /// Stops the proposer, the provers, the node, the pricing service and the watchers, then
    /// anvil. Every role stops between two steps: nothing is left running.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.proposer_task.take() {
            // It stops between two ticks; a tick stuck on L1 is cut short.
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        for prover in &mut self.provers {
            if let Some(process) = &prover.process {
                process.stop(Duration::from_secs(5)).await;
            }
            if let Some(handle) = prover.handle.take() {
                let _ = tokio::time::timeout(Duration::from_secs(5), handle.stop()).await;
            }
            if let Some(p2p) = prover.p2p.take() {
                p2p.shutdown().await;
            }
        }
        if let Some(node) = self.node.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), node.shutdown()).await;
        }
        if let Some(process) = &self.node_process {
            process.stop(Duration::from_secs(5)).await;
        }
        for task in self.tasks.drain(..) {
            task.abort();
            let _ = task.await;
        }
        // Dropping `self.chain` kills anvil.
    }
}

/// Mints every `(account, amount)` in one go (one L1 block instead of one per mint).
pub(crate) async fn mint_all(
    chain: &TestChain,
    deployment: &Deployment,
    funding: &[(Address, U256)],
) -> Result<()> {
    let provider = chain.wallet_provider(0)?;
    let token = epoch_rfq_l1::bindings::FeeToken::new(deployment.contracts.fee_token, provider);
    let mut pending = Vec::new();
    for (to, amount) in funding {
        let tx = token
            .mint(*to, *amount)
            .send()
            .await
            .with_context(|| format!("minting {amount} FeeToken to {to}"))?;
        pending.push(tx);
    }
    for tx in pending {
        let receipt = tx
            .with_timeout(Some(Duration::from_secs(30)))
            .get_receipt()
            .await
            .context("waiting for a mint")?;
        if !receipt.status() {
            bail!("a mint transaction reverted");
        }
    }
    Ok(())
}

/// Serves `registry` on `http://127.0.0.1:<free port>/metrics`, with `/health` and `/ready`
/// from `health` (until the task is aborted).
async fn serve_metrics(
    registry: Arc<Registry>,
    health: Option<epoch_rfq_runtime::health::Health>,
) -> Result<(SocketAddr, JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .context("binding a metrics port")?;
    let addr = listener.local_addr().context("metrics address")?;
    let task = tokio::spawn(async move {
        if let Err(e) = epoch_rfq_prover::metrics::serve_metrics(listener, registry, health).await {
            tracing::warn!(error = %e, "metrics server stopped");
        }
    });
    Ok((addr, task))
}

/// Starts the node as a child process with the settings the in-process node gets (`config`,
/// `p2p`), on free ports; returns it, its JSON-RPC URL and its gossip multiaddr.
async fn start_node_process(
    options: &SandboxOptions,
    config: NodeConfig,
    mut p2p: P2pArgs,
    l1_url: &str,
    rollup: Address,
    data_dir: &Path,
) -> Result<(RoleProcess, String, String)> {
    if !config.check_escrow {
        bail!("a node run as a child process always checks escrows (node_check_escrow)");
    }
    let http_addr = match config.http_addr.port() {
        0 => SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?)),
        _ => config.http_addr,
    };
    p2p.p2p_port = free_port()?;
    // The key is made here, so the peer id the provers bootstrap to is known before it starts.
    let peer = p2p
        .to_config(data_dir, "node")?
        .keypair
        .public()
        .to_peer_id();
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let args = NodeArgs {
        l1: epoch_rfq_l1::args::L1Args::new(l1_url, 31337, Some(rollup)),
        http_addr,
        http_limits: NodeHttpLimitArgs {
            max_connections: config.max_connections,
            max_connections_per_ip: config.max_connections_per_ip,
            header_read_timeout_ms: millis(config.header_read_timeout),
            idle_timeout_ms: millis(config.idle_timeout),
            request_timeout_ms: millis(config.request_timeout),
            max_body_bytes: config.max_body_bytes,
        },
        p2p_enabled: true,
        p2p: p2p.clone(),
        data_directory: data_dir.to_owned(),
        rate_limit_per_sec: config.rate_limit_per_sec,
        l1_refresh_ms: millis(config.refresh_interval),
        l1_max_age_ms: config.l1_max_age.map_or(0, millis),
        explorer_enabled: config.explorer_enabled,
        history_epochs: config.history_epochs,
        explorer_tx_url: None,
    };
    let process = RoleProcess::start(
        "node",
        &options.processes.binary()?,
        role_flags::node_flags(&args),
        Vec::new(),
        data_dir.join("node.log"),
        format!("http://{http_addr}/health"),
    )
    .await?;
    let p2p_addr = format!("/ip4/127.0.0.1/tcp/{}/p2p/{peer}", p2p.p2p_port);
    Ok((process, format!("http://{http_addr}/"), p2p_addr))
}

/// A client of a node in a child process: short timeouts, since the node may be frozen.
fn remote_node_client(url: &str) -> Result<epoch_rfq_node::NodeClient> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .context("building an HTTP client")?;
    Ok(epoch_rfq_node::NodeClient::with_client(http, url))
}

/// `/ip4/127.0.0.1/tcp/PORT/p2p/PEER` of the node's gossip (waits for the listener).
async fn node_multiaddr(handle: &P2pHandle) -> Result<String> {
    for _ in 0..50 {
        let addrs = handle
            .listen_addrs()
            .await
            .context("node P2P listen address")?;
        if let Some(a) = addrs.first() {
            return Ok(format!("{a}/p2p/{}", handle.local_peer_id()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the node's P2P service did not start listening")
}
