//! `epoch-rfq testbed`: the network across many hosts on one machine. Each host is a Linux
//! network namespace with its own address (10.77.0.x); a user-space link emulator
//! ([`router`]) carries every packet between hosts with a per-pair round-trip time, jitter and
//! loss (this kernel has no `netem`). On the hosts run the real role processes (`epoch-rfq node`,
//! `prover`, `proposer`, configured through their environment): a node on every host, gossiping
//! provers, an HTTP prover and the proposer on some; anvil runs on a control host whose links are
//! not emulated. The run goes through four scenarios, two epochs or so each: steady state; a third
//! of the hosts cut off for a few slots, then healed; churn (20 % of the nodes killed with
//! SIGKILL and restarted with their data directory); a host publishing garbage. It then reads
//! when every node first saw every quote, writes a markdown report with PNG plots, and prints
//! one final line. It fails when a target is missed.
//!
//! Files: `netns` (namespaces, TUN devices, cleanup), `router` (the link emulator), `roles`
//! (the processes), `garbage` (the garbage publisher), `measure` (what is read back),
//! `report` (figures, targets, markdown and plots).

mod garbage;
pub mod measure;
pub mod netns;
mod plots;
mod report;
mod roles;
pub mod router;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy_primitives::{Address, U256};
use anyhow::{Context, Result, bail};
use clap::Args;
use epoch_rfq_l1::anvil::{ChainOptions, TestChain};
use epoch_rfq_l1::{DeployParams, TimeParams};
use epoch_rfq_p2p::{PeerId, load_or_create_role_keypair};

use measure::{Sent, Views};
use roles::{Proc, Spawn};
use router::{LinkModel, Router};

/// Prefix of every namespace and TUN device of the testbed (leftovers are found by it).
pub const PREFIX: &str = "erfq-tb-";
/// libp2p port of every node; provers use the next one.
const NODE_P2P_PORT: u16 = 40400;
const PROVER_P2P_PORT: u16 = 40401;
/// JSON-RPC port of every node.
const NODE_HTTP_PORT: u16 = 8000;
/// Chain time: 4 s slots (four 1 s blocks: room for a proposal and a claim to be mined within
/// their slot on a loaded machine), 4-slot epochs, a 2-slot claim phase (the chaos suite's
/// quick timing).
const SLOT_SECONDS: u64 = 4;
const EPOCH_SLOTS: u64 = 4;
const CLAIM_WINDOW: u64 = 2;
/// The proposer's polling interval and quote collection window.
const PROPOSER_POLL_MS: u64 = 500;
const PROPOSER_COLLECTION_MS: u64 = 3_000;
/// Garbage messages a second from the garbage host.
const GARBAGE_PER_SECOND: u32 = 50;

/// `epoch-rfq testbed` arguments.
#[derive(Debug, Clone, Args)]
pub struct TestbedArgs {
    /// The short run the test suite does: 8 hosts (under 3 minutes).
    #[arg(long)]
    pub quick: bool,

    /// Hosts (network namespaces) besides the control host running anvil (default 50, 8 with
    /// --quick).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(6..=200))]
    pub hosts: Option<u64>,

    /// Round-trip times between hosts are drawn per pair in [MIN, MAX] milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 40)]
    pub rtt_min_ms: u64,

    /// See --rtt-min-ms.
    #[arg(long, value_name = "MS", default_value_t = 120)]
    pub rtt_max_ms: u64,

    /// Extra one-way delay per packet, uniform in [0, MS].
    #[arg(long, value_name = "MS", default_value_t = 5)]
    pub jitter_ms: u64,

    /// Packet loss per link and direction, in percent.
    #[arg(long, value_name = "PCT", default_value_t = 1.0)]
    pub loss_percent: f64,

    /// Seed of the round-trip times and the loss draws.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Data folder (recreated): one folder per host with each role's data and log.
    #[arg(long, value_name = "DIR", default_value = "target/testbed/data")]
    pub data_dir: PathBuf,

    /// Where the report (report.md and the PNG plots) goes (default: DATA_DIR/../report).
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,

    /// Internal: run as the garbage host's publisher (started by the testbed itself).
    #[arg(long, hide = true)]
    pub publish_garbage: bool,

    /// Internal: the garbage publisher's listen address.
    #[arg(long, hide = true, default_value = "0.0.0.0")]
    pub garbage_listen: Ipv4Addr,

    /// Internal: the garbage publisher's bootstrap peers.
    #[arg(long, hide = true, default_value = "")]
    pub garbage_bootstrap: String,
}

/// The scenario a measured epoch belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Steady,
    Partition,
    Churn,
    Garbage,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Self::Steady => "steady state",
            Self::Partition => "partition healed",
            Self::Churn => "churn",
            Self::Garbage => "garbage host",
        }
    }
}

/// Where every role runs.
#[derive(Debug, Clone)]
pub struct Plan {
    pub hosts: usize,
    /// Hosts (1-based) of the gossiping provers, with their fees.
    pub gossip_provers: Vec<(usize, u32)>,
    /// Host and fee of the HTTP prover.
    pub http_prover: (usize, u32),
    /// The proposer's host (it reads its own host's node).
    pub proposer: usize,
    /// The garbage publisher's host.
    pub garbage: usize,
    /// Nodes killed and restarted in the churn scenario.
    pub churned: Vec<usize>,
    /// Hosts cut off in the partition scenario.
    pub minority: Vec<usize>,
}

impl Plan {
    /// Roles for `hosts` hosts: the proposer on host 1; gossiping provers on hosts 2.. (the
    /// cheapest first, so it is in the partitioned third too), the HTTP prover after them; the
    /// garbage publisher on the last host; churn on 20 % of the nodes without other roles; the
    /// partition cuts the last third of the hosts plus the cheapest prover's host.
    pub fn new(hosts: usize) -> Self {
        let provers = if hosts >= 20 { 4 } else { 3 };
        let gossip_provers = (0..provers)
            .map(|i| (2 + i, 140 + 10 * i as u32))
            .collect::<Vec<_>>();
        let http_prover = (2 + provers, 155);
        let garbage = hosts;
        let churn = (hosts as f64 * 0.2).round().max(1.0) as usize;
        let churned = (http_prover.0 + 1..garbage)
            .rev()
            .take(churn)
            .collect::<Vec<_>>();
        let third = (hosts as f64 / 3.0).round() as usize;
        let mut minority = vec![2];
        minority.extend((hosts + 2 - third..=hosts).filter(|h| *h != 2));
        Self {
            hosts,
            gossip_provers,
            http_prover,
            proposer: 1,
            garbage,
            churned,
            minority,
        }
    }
}

/// Entry point (the caller has no runtime yet: the namespaces are set up first, then the
/// orchestrator's thread moves into the control namespace and builds its runtime there).
pub fn run(args: TestbedArgs) -> Result<()> {
    if args.publish_garbage {
        return crate::multi_thread()?.block_on(garbage::publish(
            args.garbage_listen,
            &args.garbage_bootstrap,
            GARBAGE_PER_SECOND,
        ));
    }
    if args.rtt_min_ms > args.rtt_max_ms || !(0.0..100.0).contains(&args.loss_percent) {
        bail!("--rtt-min-ms must be ≤ --rtt-max-ms and --loss-percent in [0, 100)");
    }
    let hosts = args.hosts.unwrap_or(if args.quick { 8 } else { 50 }) as usize;
    if let Err(why) = netns::check_supported(PREFIX) {
        println!("testbed: skipped: {why}");
        return Ok(());
    }
    let removed = netns::remove_leftovers(PREFIX)?;
    if removed > 0 {
        println!("removed {removed} namespaces left by an interrupted run");
    }
    let plan = Plan::new(hosts);
    let data_dir = std::path::absolute(&args.data_dir).context("data folder")?;
    if data_dir.exists() {
        std::fs::remove_dir_all(&data_dir)
            .with_context(|| format!("clearing {}", data_dir.display()))?;
    }
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let report_dir = match &args.report {
        Some(dir) => std::path::absolute(dir).context("report folder")?,
        None => data_dir.parent().unwrap_or(&data_dir).join("report"),
    };

    // Namespaces and TUN devices, removed on every way out of this function (an interrupted
    // run's are removed by the next run, above).
    let mut cleanup = Cleanup(Vec::new());
    let mut tuns = Vec::new();
    for index in 0..=hosts {
        let host =
            netns::create_host(PREFIX, index).with_context(|| format!("creating host {index}"))?;
        cleanup.0.push(host.ns.clone());
        tuns.push((index, host.tun));
    }
    let model = LinkModel {
        rtt_min: Duration::from_millis(args.rtt_min_ms),
        rtt_max: Duration::from_millis(args.rtt_max_ms),
        jitter: Duration::from_millis(args.jitter_ms),
        loss: args.loss_percent / 100.0,
        seed: args.seed,
    };
    let router = Router::start(tuns, model)?;
    netns::enter(&netns::ns_name(PREFIX, 0))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the orchestrator's runtime")?;
    let outcome = runtime.block_on(async {
        let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        let mut net = Network::default();
        let result = tokio::select! {
            r = orchestrate(&args, &plan, &data_dir, &report_dir, &router, model, &mut net) => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted (Ctrl-C)")),
            _ = sigterm.recv() => Err(anyhow::anyhow!("interrupted (SIGTERM)")),
        };
        net.stop_all().await;
        result
    });
    drop(runtime);
    drop(router);
    drop(cleanup);
    outcome
}

/// Removes the namespaces (killing what still runs in them) when dropped.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        netns::remove_all(&self.0);
    }
}

/// The running processes.
#[derive(Default)]
struct Network {
    nodes: BTreeMap<usize, Proc>,
    others: Vec<Proc>,
}

impl Network {
    async fn stop_all(&mut self) {
        let grace = Duration::from_secs(5);
        let mut stops = Vec::new();
        for p in self.others.iter_mut().chain(self.nodes.values_mut()) {
            stops.push(p.stop(grace));
        }
        futures::future::join_all(stops).await;
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// Sleeps until unix time `ms`.
async fn until_ms(ms: u64) {
    let now = unix_ms();
    if ms > now {
        tokio::time::sleep(Duration::from_millis(ms - now)).await;
    }
}

fn node_url(host: usize) -> String {
    format!("http://{}:{NODE_HTTP_PORT}", netns::host_addr(host))
}

/// What a run measured (the report's input).
pub struct Measured {
    pub plan: Plan,
    pub model: LinkModel,
    pub phases: BTreeMap<u64, Phase>,
    pub sent: Vec<(usize, Sent)>,
    pub views: Views,
    /// Unix ms of the partition's start and heal.
    pub partition: (u64, u64),
    /// Unix ms of the churn's kill and of the restarted nodes' readiness.
    pub churn: (u64, u64),
    pub time: TimeParams,
    pub heartbeat: Duration,
    pub router: router::RouterStats,
    pub started_ms: u64,
    /// `/proc/loadavg` at the start and at the end (the figures depend on the machine's load).
    pub load: (String, String),
    /// Garbage messages the garbage host's gossip accepted for publishing.
    pub garbage_published: u64,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

#[allow(clippy::too_many_arguments)]
async fn orchestrate(
    args: &TestbedArgs,
    plan: &Plan,
    data_dir: &Path,
    report_dir: &Path,
    router: &Router,
    model: LinkModel,
    net: &mut Network,
) -> Result<()> {
    let started_ms = unix_ms();
    let load_at_start = loadavg();
    println!(
        "testbed: {} hosts, RTT {}-{} ms, jitter {} ms, loss {} %; data {}",
        plan.hosts,
        args.rtt_min_ms,
        args.rtt_max_ms,
        args.jitter_ms,
        args.loss_percent,
        data_dir.display()
    );
    // L1 on the control host, reachable from every host at 10.77.0.1.
    let accounts = 2 + plan.gossip_provers.len() + 2;
    let mut chain = TestChain::start_on(
        "0.0.0.0",
        ChainOptions {
            accounts: accounts.max(10),
            block_time: Some(1),
        },
    )
    .await
    .context("starting anvil on the control host")?;
    let slash_recipient = chain.address(accounts.max(10) - 1)?;
    let deployment = chain
        .deploy(DeployParams {
            slot_duration: SLOT_SECONDS,
            epoch_duration: EPOCH_SLOTS,
            claim_window: CLAIM_WINDOW,
            min_bond: U256::from(1000),
            withdraw_delay: 3 * EPOCH_SLOTS * SLOT_SECONDS,
            slash_recipient,
            ..DeployParams::default()
        })
        .await
        .context("deploying the contracts")?;
    let port = chain
        .url()
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse::<u16>().ok())
        .context("anvil's port")?;
    let l1_url = format!("http://{}:{port}", netns::host_addr(0));
    let rollup = deployment.contracts.rollup.to_string();
    let time = deployment.time();
    // Accounts: 1 proposer, 2.. provers (gossip, then HTTP).
    let prover_count = plan.gossip_provers.len() + 1;
    let mut funding: Vec<Address> = vec![chain.address(1)?];
    for i in 0..prover_count {
        funding.push(chain.address(2 + i)?);
    }
    mint(&chain, &deployment, &funding).await?;
    // `chain` lives as long as this future: anvil stops when the run ends or is interrupted.

    let common = |extra: &[(&str, String)]| {
        let mut env = vec![
            ("ETHEREUM_HOSTS".to_owned(), l1_url.clone()),
            ("L1_CHAIN_ID".to_owned(), chain.chain_id().to_string()),
            ("ROLLUP_CONTRACT_ADDRESS".to_owned(), rollup.clone()),
        ];
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        env
    };

    // Node identities first, so that bootstrap lists can name them.
    let mut peer_ids = BTreeMap::new();
    for host in 1..=plan.hosts {
        let dir = data_dir.join(format!("h{host:02}/node"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let key = load_or_create_role_keypair(&dir, "node").context("node key")?;
        peer_ids.insert(host, PeerId::from(key.public()));
    }
    let node_addr = |host: usize| {
        format!(
            "/ip4/{}/tcp/{NODE_P2P_PORT}/p2p/{}",
            netns::host_addr(host),
            peer_ids[&host]
        )
    };
    // Each node bootstraps to two of the first five nodes, round robin: one or two bootstrap
    // nodes for all would fill their inbound slots (three quarters of P2P_MAX_PEERS) at 50
    // hosts, and a late prover could not get in. Discovery does the rest.
    let seeds = plan.hosts.min(5);
    let bootstrap_of = |host: usize| {
        let mut picks = vec![
            1 + host % seeds,
            1 + (host + 1) % seeds,
            1 + (host + 2) % seeds,
        ];
        picks.retain(|b| *b != host);
        picks.dedup();
        picks.truncate(2);
        picks
    };
    let bootstrap = |host: usize| {
        bootstrap_of(host)
            .into_iter()
            .map(node_addr)
            .collect::<Vec<_>>()
            .join(",")
    };
    let refresh_ms = if plan.hosts > 16 { 2000 } else { 1000 };
    for host in 1..=plan.hosts {
        let ip = netns::host_addr(host);
        let spawn = Spawn {
            name: format!("node@h{host:02}"),
            ns: netns::ns_name(PREFIX, host),
            args: vec!["node".into()],
            env: common(&[
                ("P2P_ENABLED", "true".into()),
                ("P2P_PORT", NODE_P2P_PORT.to_string()),
                ("P2P_LISTEN_ADDR", ip.to_string()),
                ("P2P_BOOTSTRAP_NODES", bootstrap(host)),
                ("P2P_ALLOW_PRIVATE_ADDRESSES", "true".into()),
                (
                    "DATA_DIRECTORY",
                    data_dir
                        .join(format!("h{host:02}/node"))
                        .display()
                        .to_string(),
                ),
                ("NODE_HTTP_ADDR", format!("{ip}:{NODE_HTTP_PORT}")),
                ("NODE_L1_REFRESH_MS", refresh_ms.to_string()),
                ("RUST_LOG", "warn".into()),
            ]),
            log: data_dir.join(format!("h{host:02}/node.log")),
        };
        net.nodes.insert(host, spawn.start()?);
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .context("HTTP client")?;
    wait_ready(&http, net, 1..=plan.hosts, Duration::from_secs(120)).await?;
    println!(
        "  {} nodes ready after {:.1} s",
        plan.hosts,
        (unix_ms() - started_ms) as f64 / 1000.0
    );

    // Provers and the proposer.
    let mut prover_logs = Vec::new();
    let provers = plan
        .gossip_provers
        .iter()
        .map(|p| (p.0, p.1, true))
        .chain(std::iter::once((
            plan.http_prover.0,
            plan.http_prover.1,
            false,
        )));
    for (i, (host, fee, gossip)) in provers.enumerate() {
        let ip = netns::host_addr(host);
        let key = chain.private_key_hex(2 + i)?;
        let address = chain.address(2 + i)?;
        let dir = data_dir.join(format!("h{host:02}/prover"));
        let log = data_dir.join(format!("h{host:02}/prover.log"));
        let mut env = common(&[
            ("PROVER_PUBLISHER_PRIVATE_KEY", key),
            ("DATA_DIRECTORY", dir.display().to_string()),
            ("QUOTE_PROVIDER_BASIS_POINT_FEE", fee.to_string()),
            ("QUOTE_PROVIDER_BOND_AMOUNT", "1000".into()),
            ("PROVER_NODE_POLLING_INTERVAL_MS", "500".into()),
            ("LOG_FORMAT", "json".into()),
            ("RUST_LOG", "info".into()),
        ]);
        if gossip {
            for (k, v) in [
                ("P2P_ENABLED", "true".to_owned()),
                ("P2P_PORT", PROVER_P2P_PORT.to_string()),
                ("P2P_LISTEN_ADDR", ip.to_string()),
                (
                    "P2P_BOOTSTRAP_NODES",
                    format!("{},{}", node_addr(host), bootstrap(host)),
                ),
                ("P2P_ALLOW_PRIVATE_ADDRESSES", "true".to_owned()),
            ] {
                env.push((k.to_owned(), v));
            }
        } else {
            env.push(("PROVER_COORDINATION_NODE_URL".to_owned(), node_url(host)));
        }
        let spawn = Spawn {
            name: format!("prover@h{host:02}"),
            ns: netns::ns_name(PREFIX, host),
            args: vec!["prover".into()],
            env,
            log: log.clone(),
        };
        net.others.push(spawn.start()?);
        prover_logs.push((host, address, log));
    }
    let proposer = Spawn {
        name: format!("proposer@h{:02}", plan.proposer),
        ns: netns::ns_name(PREFIX, plan.proposer),
        args: vec!["proposer".into()],
        env: common(&[
            ("PROPOSER_PUBLISHER_PRIVATE_KEY", chain.private_key_hex(1)?),
            ("PROPOSER_COORDINATION_NODE_URL", node_url(plan.proposer)),
            ("PROPOSER_POLLING_INTERVAL_MS", PROPOSER_POLL_MS.to_string()),
            (
                "PROPOSER_QUOTE_COLLECTION_MS",
                PROPOSER_COLLECTION_MS.to_string(),
            ),
            ("LOG_FORMAT", "json".into()),
            ("RUST_LOG", "info".into()),
        ]),
        log: data_dir.join(format!("h{:02}/proposer.log", plan.proposer)),
    };
    net.others.push(proposer.start()?);

    // Warm-up: until every prover's quote for one epoch is in the proposer's node.
    let warm = wait_all_quoted(
        &http,
        plan,
        prover_count,
        time,
        Duration::from_secs(120),
        net,
    )
    .await
    .context("warming up")?;
    let first = warm + 1;
    // The measured epochs, by scenario: steady state, the partition, churn (the epoch with
    // nodes down, then the one after their restart), the garbage host.
    let schedule: &[Phase] = if args.quick {
        &[
            Phase::Steady,
            Phase::Partition,
            Phase::Churn,
            Phase::Churn,
            Phase::Garbage,
        ]
    } else {
        &[
            Phase::Steady,
            Phase::Steady,
            Phase::Partition,
            Phase::Churn,
            Phase::Churn,
            Phase::Garbage,
            Phase::Garbage,
        ]
    };
    let index_of =
        |p: Phase| first + schedule.iter().position(|q| *q == p).unwrap_or_default() as u64;
    let (partition_epoch, churn_epoch, garbage_epoch) = (
        index_of(Phase::Partition),
        index_of(Phase::Churn),
        index_of(Phase::Garbage),
    );
    let last = first + schedule.len() as u64 - 1;
    println!(
        "  every prover quoted epoch {warm} after {:.1} s; measuring epochs {first}-{last}",
        (unix_ms() - started_ms) as f64 / 1000.0,
    );
    let epoch_ms = |e: u64| time.slot_start(time.epoch_start_slot(e)) * 1000;
    let slot_ms = SLOT_SECONDS * 1000;
    let phases: BTreeMap<u64, Phase> = (first..).zip(schedule.iter().copied()).collect();
    // Quotes for epoch e go out when e + 1 starts (its claim phase).

    // Partition: from the end of the previous epoch's claim phase until 1 s before the
    // partition epoch's quotes go out: they must reach every node, the formerly cut-off ones
    // included, within 2 heartbeats.
    let cut_at = epoch_ms(partition_epoch) + CLAIM_WINDOW * slot_ms;
    let heal_at = epoch_ms(partition_epoch + 1) - 1000;
    until_ms(cut_at).await;
    check_alive(net)?;
    let mut groups = vec![0u8; plan.hosts + 1];
    for h in &plan.minority {
        groups[*h] = 1;
    }
    router.partition(groups);
    println!("  partition: hosts {:?} cut off", plan.minority);
    until_ms(heal_at).await;
    router.heal();
    let cut = router.stats().cut;
    println!(
        "  partition healed after {:.1} s ({cut} packets dropped at the cut)",
        (heal_at - cut_at) as f64 / 1000.0
    );

    // Churn: after the partition epoch's claim phase, kill 20 % of the nodes for an epoch.
    let kill_at = epoch_ms(churn_epoch) + CLAIM_WINDOW * slot_ms;
    until_ms(kill_at).await;
    check_alive(net)?;
    for h in &plan.churned {
        if let Some(p) = net.nodes.get_mut(h) {
            p.kill().await;
        }
    }
    println!("  churn: nodes {:?} killed (SIGKILL)", plan.churned);
    until_ms(kill_at + EPOCH_SLOTS * slot_ms).await;
    for h in &plan.churned {
        if let Some(p) = net.nodes.get_mut(h) {
            p.restart()?;
        }
    }
    wait_ready(
        &http,
        net,
        plan.churned.iter().copied(),
        Duration::from_secs(60),
    )
    .await?;
    let churn = (kill_at, unix_ms());
    println!(
        "  churn: restarted with their data, ready {:.1} s after the restart",
        (churn.1 - kill_at - EPOCH_SLOTS * slot_ms) as f64 / 1000.0
    );

    // Garbage: from the end of epoch first+4's claim phase to the end of the run.
    until_ms(epoch_ms(garbage_epoch) + CLAIM_WINDOW * slot_ms).await;
    check_alive(net)?;
    let g = plan.garbage;
    let garbage = Spawn {
        name: format!("garbage@h{g:02}"),
        ns: netns::ns_name(PREFIX, g),
        args: vec![
            "testbed".into(),
            "--publish-garbage".into(),
            "--garbage-listen".into(),
            netns::host_addr(g).to_string(),
            "--garbage-bootstrap".into(),
            // Every node: at 50 hosts the nearest ones have their inbound slots (three quarters
            // of P2P_MAX_PEERS) taken by then, as an attacker would find; it gets in wherever
            // there is room.
            (1..=plan.hosts)
                .map(node_addr)
                .collect::<Vec<_>>()
                .join(","),
        ],
        env: vec![("RUST_LOG".into(), "info".into())],
        log: data_dir.join(format!("h{g:02}/garbage.log")),
    };
    net.others.push(garbage.start()?);
    println!("  garbage: host {g} publishing {GARBAGE_PER_SECOND} invalid messages a second");

    // The last measured epoch's claim phase, then a second for the histories to be written.
    until_ms(time.slot_start(time.claim_phase_end(last)) * 1000 + 2000).await;
    check_alive(net)?;

    let mut sent = Vec::new();
    for (host, address, log) in &prover_logs {
        for s in measure::quotes_sent(log, &address.to_string())? {
            if phases.contains_key(&s.epoch) {
                sent.push((*host, s));
            }
        }
    }
    let mut views: Views = BTreeMap::new();
    for host in 1..=plan.hosts {
        let mut per_epoch = BTreeMap::new();
        for epoch in first..=last {
            if let Some(v) = measure::epoch_view(&http, &node_url(host), epoch)
                .await
                .with_context(|| format!("reading node {host}"))?
            {
                per_epoch.insert(epoch, v);
            }
        }
        views.insert(host, per_epoch);
    }
    // What the garbage host got out: the last status line of its log.
    let garbage_log =
        std::fs::read_to_string(data_dir.join(format!("h{g:02}/garbage.log"))).unwrap_or_default();
    let garbage_published = garbage_log
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("garbage: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    let measured = Measured {
        plan: plan.clone(),
        model,
        phases,
        sent,
        views,
        partition: (cut_at, heal_at),
        churn,
        time,
        heartbeat: epoch_rfq_p2p::P2pConfig::new(epoch_rfq_p2p::Keypair::generate_ed25519())
            .heartbeat_interval,
        router: router.stats(),
        started_ms,
        load: (load_at_start, loadavg()),
        garbage_published,
    };
    let mut figures = report::Figures::compute(&measured);
    figures.garbage_published = measured.garbage_published;
    std::fs::create_dir_all(report_dir)
        .with_context(|| format!("creating {}", report_dir.display()))?;
    // The raw data behind the report, for a closer look.
    let raw = serde_json::json!({ "sent": measured.sent, "views": measured.views });
    std::fs::write(report_dir.join("measurements.json"), raw.to_string())
        .with_context(|| format!("writing {}", report_dir.display()))?;
    let markdown = report::markdown(&measured, &figures, args);
    std::fs::write(report_dir.join("report.md"), &markdown)
        .with_context(|| format!("writing {}", report_dir.display()))?;
    if let Err(e) = plots::draw(&measured, &figures, report_dir) {
        eprintln!("plots not drawn: {e:#}");
    }
    println!("{}", figures.table());
    println!("report: {}", report_dir.join("report.md").display());
    println!("{}", figures.final_line());
    let strict = !args.quick;
    for m in figures.missed(true) {
        if !figures.missed(strict).contains(&m) {
            println!("  target missed (reported, not enforced by --quick): {m}");
        }
    }
    let missed = figures.missed(strict);
    if !missed.is_empty() {
        bail!("target missed: {}", missed.join("; "));
    }
    Ok(())
}

/// Mints fee tokens to every account in one block (the sandbox's minting).
async fn mint(
    chain: &TestChain,
    deployment: &epoch_rfq_l1::Deployment,
    to: &[Address],
) -> Result<()> {
    let funding: Vec<(Address, U256)> = to
        .iter()
        .map(|a| (*a, U256::from(1_000_000_000u64)))
        .collect();
    crate::sandbox::mint_all(chain, deployment, &funding).await
}

/// Fails when a role process exited on its own (its log says why).
fn check_alive(net: &mut Network) -> Result<()> {
    for p in net.nodes.values_mut().chain(net.others.iter_mut()) {
        if let Some(status) = p.exited() {
            bail!(
                "{} exited ({status}); see {}",
                p.spawn.name,
                p.spawn.log.display()
            );
        }
    }
    Ok(())
}

/// Waits until every node in `hosts` answers `/ready`.
async fn wait_ready(
    http: &reqwest::Client,
    net: &mut Network,
    hosts: impl IntoIterator<Item = usize>,
    limit: Duration,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut waiting: BTreeSet<usize> = hosts.into_iter().collect();
    while !waiting.is_empty() {
        check_alive(net)?;
        let mut ready = Vec::new();
        for h in &waiting {
            let ok = http
                .get(format!("{}/ready", node_url(*h)))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                ready.push(*h);
            }
        }
        for h in ready {
            waiting.remove(&h);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("nodes {waiting:?} not ready within {limit:?} (see their node.log)");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

/// Waits until the proposer's node holds quotes from all `provers` for one epoch; returns it.
async fn wait_all_quoted(
    http: &reqwest::Client,
    plan: &Plan,
    provers: usize,
    time: TimeParams,
    limit: Duration,
    net: &mut Network,
) -> Result<u64> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        check_alive(net)?;
        let now = unix_ms() / 1000;
        if let Some(current) = time.epoch_at(now) {
            for epoch in current.saturating_sub(2)..current {
                if let Some(v) = measure::epoch_view(http, &node_url(plan.proposer), epoch).await?
                    && v.first_seen.len() >= provers
                {
                    return Ok(epoch);
                }
            }
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "no epoch was quoted by all {provers} provers within {limit:?} (see the \
                 provers' prover.log)"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
