//! The fault profiles and how each is driven: through the L1-fault proxies (429s, latency, an
//! endpoint or all of them down) or through anvil's own methods (reorgs, base fee, dropped
//! transactions, paused mining).

use std::time::Duration;

use alloy_primitives::U256;
use anyhow::{Context, Result, bail};
use epoch_rfq_l1::alloy::providers::Provider;
use epoch_rfq_l1::alloy::providers::ext::AnvilApi;
use epoch_rfq_l1::alloy::rpc::types::anvil::ReorgOptions;
use epoch_rfq_l1::fault_proxy::Faults;
use epoch_rfq_l1::metrics::TxEvent;
use tokio_util::sync::CancellationToken;

use crate::sandbox::{ProverPricing, Sandbox, SandboxEvent, SandboxOptions};

/// The killed prover's fee: below every other sandbox prover's (the pricing service never asks
/// less than its base fee, 50 bps), so it wins every epoch.
const KILLED_PROVER_BPS: u32 = 40;
/// The killed prover's proving time: the kill lands while it proves.
const KILLED_PROVER_PROOF_MS: u64 = 6_000;
/// How long the killed prover stays down.
const KILLED_PROVER_DOWN: Duration = Duration::from_secs(3);
/// How long the node stays frozen.
const NODE_FROZEN: Duration = Duration::from_secs(20);

/// One fault, applied for several epochs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// No fault: the reference row.
    Baseline,
    /// 30 % of L1 requests answered 429.
    RateLimited,
    /// +500 ms on every L1 request.
    SlowL1,
    /// Two endpoints, one of them down throughout.
    OneEndpointDead,
    /// Two ws endpoints, the first (the one subscriptions use) down throughout.
    OneEndpointDeadWs,
    /// Every endpoint down for 20 s, from one slot into a claim phase.
    L1Down20s,
    /// A 1–3 block reorg every 4 blocks (roles at `L1_CONFIRMATIONS=3`).
    Reorgs,
    /// The base fee ×10 for 3 blocks at every claim phase.
    FeeSpike,
    /// Every pending transaction dropped from the pool every 2 s.
    DroppedTxs,
    /// Mining paused for 2 blocks at every claim phase.
    MiningPaused,
    /// The node (a child process) frozen with SIGSTOP for 20 s across every epoch's end.
    NodeSigstop,
    /// The winning prover (a child process) killed with SIGKILL after its claim is mined (at
    /// once, while it proves, or with its proof pending, in turn), and started again on its
    /// data a few seconds later.
    ProverKill9,
}

/// Slot, epoch and claim window of a profile's chain.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub slot_duration: u64,
    pub epoch_duration: u64,
    pub claim_window: u64,
}

impl Profile {
    /// Every profile, in the order of the table.
    pub const ALL: [Profile; 12] = [
        Profile::Baseline,
        Profile::RateLimited,
        Profile::SlowL1,
        Profile::OneEndpointDead,
        Profile::OneEndpointDeadWs,
        Profile::L1Down20s,
        Profile::Reorgs,
        Profile::FeeSpike,
        Profile::DroppedTxs,
        Profile::MiningPaused,
        Profile::NodeSigstop,
        Profile::ProverKill9,
    ];

    /// What `--quick` runs. `reorgs-1-3` left it on 2026-12-03 after two CI misses in a day (a
    /// reorg took out a claim and its proof; the prover's sender re-broadcast the proof, which
    /// was mined without the claim); it stays in the full set (README, "Chaos suite").
    pub const QUICK: [Profile; 3] = [
        Profile::RateLimited,
        Profile::OneEndpointDead,
        Profile::FeeSpike,
    ];

    /// The name used by `--profile` and in the table.
    pub fn name(self) -> &'static str {
        match self {
            Self::Baseline => "baseline",
            Self::RateLimited => "rate-limited-30pct",
            Self::SlowL1 => "slow-l1-500ms",
            Self::OneEndpointDead => "one-endpoint-dead",
            Self::OneEndpointDeadWs => "one-endpoint-dead-ws",
            Self::L1Down20s => "l1-down-20s",
            Self::Reorgs => "reorgs-1-3",
            Self::FeeSpike => "fee-spike-10x",
            Self::DroppedTxs => "dropped-txs",
            Self::MiningPaused => "mining-paused",
            Self::NodeSigstop => "node-sigstop-20s",
            Self::ProverKill9 => "prover-kill9-after-claim",
        }
    }

    /// One line for `--list` and the report.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Baseline => "no fault (reference)",
            Self::RateLimited => "30% of L1 requests answered HTTP 429",
            Self::SlowL1 => "+500 ms on every L1 request",
            Self::OneEndpointDead => "two L1 endpoints, the second refusing connections",
            Self::OneEndpointDeadWs => {
                "two ws L1 endpoints, the first (subscriptions use it) refusing connections"
            }
            Self::L1Down20s => "every L1 endpoint down for 20 s, one slot into a claim phase",
            Self::Reorgs => "a 1-3 block reorg every 4 blocks, roles at L1_CONFIRMATIONS=3",
            Self::FeeSpike => "base fee x10 for 3 blocks at every claim phase",
            Self::DroppedTxs => "every pending transaction dropped from the pool every 2 s",
            Self::MiningPaused => "mining paused for 2 blocks at every claim phase",
            Self::NodeSigstop => {
                "the node frozen (SIGSTOP) for 20 s from 2 slots before every claim phase"
            }
            Self::ProverKill9 => {
                "the winning prover killed (SIGKILL) when its claim is mined, 3 s later while it \
                 proves, or with its proof pending (in turn), restarted 3 s later"
            }
        }
    }

    /// Parses a `--profile` value.
    pub fn parse(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|p| p.name()).collect();
                format!("unknown profile {name:?}; one of: {}", names.join(", "))
            })
    }

    /// The chain's time parameters: 1 s blocks and slots of 4 blocks or more, so that a
    /// transaction can be replaced within its slot and a 1-3 block reorg stays inside one. The
    /// 20 s outage gets a proof margin longer than the outage; with 3 confirmations a slot has
    /// room for the proposal and its depth.
    pub fn timing(self, quick: bool) -> Timing {
        match self {
            Self::L1Down20s => Timing {
                slot_duration: 4,
                epoch_duration: 8,
                claim_window: 4,
            },
            Self::Reorgs => Timing {
                slot_duration: 6,
                epoch_duration: 4,
                claim_window: 2,
            },
            // The node thaws 3 slots into the claim phase; 3 slots are left for the quotes and
            // the claim.
            Self::NodeSigstop => Timing {
                slot_duration: 4,
                epoch_duration: 8,
                claim_window: 6,
            },
            // Proving (6 s), the kill and the restart fit in the proof margin with room.
            Self::ProverKill9 => Timing {
                slot_duration: 4,
                epoch_duration: 8,
                claim_window: 4,
            },
            _ if quick => Timing {
                slot_duration: 4,
                epoch_duration: 4,
                claim_window: 2,
            },
            _ => Timing {
                slot_duration: 4,
                epoch_duration: 8,
                claim_window: 4,
            },
        }
    }

    /// How many L1-fault proxies stand between the roles and anvil.
    pub fn proxies(self) -> usize {
        match self {
            Self::OneEndpointDead | Self::OneEndpointDeadWs => 2,
            _ => 1,
        }
    }

    /// Whether the roles reach the proxies by their ws URLs.
    pub fn ws(self) -> bool {
        self == Self::OneEndpointDeadWs
    }

    /// The sandbox's roles for this profile: which run as child processes, and (for the kill)
    /// a prover that wins every auction and takes a while to prove, so that the kill lands
    /// while it proves.
    pub fn configure(self, options: &mut SandboxOptions) {
        match self {
            Self::NodeSigstop => options.processes.node = true,
            Self::ProverKill9 => {
                if let Some(winner) = options.provers.first_mut() {
                    winner.pricing = ProverPricing::Fixed {
                        basis_point_fee: KILLED_PROVER_BPS,
                        bond: U256::from(2000u64),
                    };
                    winner.proof_delay_ms = KILLED_PROVER_PROOF_MS;
                    options.processes.provers = vec![winner.name.clone()];
                }
            }
            _ => {}
        }
    }

    /// `L1_CONFIRMATIONS` of the roles (`None`: the dev-chain default, 0).
    pub fn confirmations(self) -> Option<u64> {
        match self {
            Self::Reorgs => Some(3),
            _ => None,
        }
    }

    /// Whether the fault is shorter than the proof margin (the targets apply).
    pub fn within_margin(self) -> bool {
        true
    }

    /// Applies the fault from `ctx.from` to `ctx.until` (L1 time), then heals it.
    pub async fn drive(self, ctx: &Ctx<'_>, stop: CancellationToken) -> Result<()> {
        if !ctx.wait_for_time(ctx.from, &stop).await? {
            return Ok(());
        }
        let result = self.apply(ctx, &stop).await;
        ctx.heal().await?;
        result
    }

    async fn apply(self, ctx: &Ctx<'_>, stop: &CancellationToken) -> Result<()> {
        let proxies = ctx.sandbox.fault_proxies();
        match self {
            Self::Baseline => {}
            Self::RateLimited => {
                for p in proxies {
                    p.set_faults(Faults {
                        rate_limited: 0.3,
                        ..Faults::default()
                    });
                }
            }
            Self::SlowL1 => {
                for p in proxies {
                    p.set_faults(Faults {
                        latency: Duration::from_millis(500),
                        ..Faults::default()
                    });
                }
            }
            Self::OneEndpointDead => {
                if let Some(p) = proxies.get(1) {
                    p.set_down(true);
                }
            }
            Self::OneEndpointDeadWs => {
                if let Some(p) = proxies.first() {
                    p.set_down(true);
                }
            }
            Self::L1Down20s => {
                let time = ctx.sandbox.deployment().time();
                let epoch = time.epoch_of_slot(time.slot_at(ctx.from).unwrap_or_default());
                let start = time.slot_start(time.claim_phase(epoch).start + 1);
                if ctx.wait_for_time(start, stop).await? {
                    for p in proxies {
                        p.set_down(true);
                    }
                    cancellable_sleep(Duration::from_secs(20), stop).await;
                    for p in proxies {
                        p.set_down(false);
                    }
                }
            }
            Self::Reorgs => {
                let mut seed = 0x5eed_u64;
                while ctx.before(ctx.until, stop).await? {
                    ctx.wait_blocks(4, stop).await?;
                    seed = seed
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    let depth = 1 + (seed >> 33) % 3;
                    ctx.provider()
                        .anvil_reorg(ReorgOptions {
                            depth,
                            tx_block_pairs: vec![],
                        })
                        .await
                        .context("anvil_reorg")?;
                }
            }
            Self::FeeSpike => {
                self.at_every_claim_phase(ctx, stop, |ctx| async move {
                    // Ten times the base fee before the spike, for three blocks (not compounded).
                    let spiked = ctx.base_fee().await?.max(1).saturating_mul(10);
                    for _ in 0..3 {
                        ctx.provider()
                            .anvil_set_next_block_base_fee_per_gas(spiked)
                            .await
                            .context("anvil_setNextBlockBaseFeePerGas")?;
                        ctx.wait_blocks(1, &CancellationToken::new()).await?;
                    }
                    Ok(())
                })
                .await?;
            }
            Self::DroppedTxs => {
                while ctx.before(ctx.until, stop).await? {
                    ctx.provider()
                        .anvil_drop_all_transactions()
                        .await
                        .context("anvil_dropAllTransactions")?;
                    cancellable_sleep(Duration::from_secs(2), stop).await;
                }
            }
            Self::MiningPaused => {
                self.at_every_claim_phase(ctx, stop, |ctx| async move {
                    ctx.provider()
                        .anvil_set_interval_mining(0)
                        .await
                        .context("anvil_setIntervalMining")?;
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    ctx.provider()
                        .anvil_set_interval_mining(1)
                        .await
                        .context("anvil_setIntervalMining")?;
                    Ok(())
                })
                .await?;
            }
            Self::NodeSigstop => {
                let Some(node) = ctx.sandbox.node_process() else {
                    bail!("the node runs in-process: it cannot be frozen alone");
                };
                let time = ctx.sandbox.deployment().time();
                let first = time.epoch_of_slot(time.slot_at(ctx.from).unwrap_or_default());
                for epoch in first.. {
                    // Two slots before the claim phase: the epoch ends while the node is frozen.
                    let at = time.slot_start(time.claim_phase(epoch).start.saturating_sub(2));
                    if at >= ctx.until || !ctx.wait_for_time(at, stop).await? {
                        break;
                    }
                    let l1 = &ctx.sandbox.proposer_metrics().l1;
                    let proposals_abandoned = || {
                        l1.transactions("propose", TxEvent::abandoned)
                            + l1.transactions("proposeAndClaim", TxEvent::abandoned)
                    };
                    let abandoned_before = proposals_abandoned();
                    node.freeze().await?;
                    cancellable_sleep(NODE_FROZEN, stop).await;
                    node.thaw().await?;
                    // The proposer's blocks never wait on the node: every slot the freeze
                    // covered has its block, but for proposals sent and not mined in their slot
                    // (L1 or a loaded machine, not the node; counted as abandoned).
                    let abandoned = proposals_abandoned() - abandoned_before;
                    let (_, now) = ctx.sandbox.chain().latest_block().await?;
                    let frozen =
                        time.slot_at(at).unwrap_or_default()..time.slot_at(now).unwrap_or_default();
                    let proposed: std::collections::BTreeSet<u64> = ctx
                        .sandbox
                        .history()
                        .into_iter()
                        .filter_map(|e| match e {
                            SandboxEvent::BlockProposed { slot, .. } => Some(slot),
                            _ => None,
                        })
                        .collect();
                    let missed: Vec<u64> = frozen.filter(|s| !proposed.contains(s)).collect();
                    if missed.len() as u64 > abandoned {
                        bail!(
                            "no block in slots {missed:?} while the node was frozen \
                             ({abandoned} proposals abandoned at their slot's end)"
                        );
                    }
                }
            }
            Self::ProverKill9 => {
                let Some(victim) = ctx.sandbox.provers().iter().find(|p| p.process().is_some())
                else {
                    bail!("no prover runs as a child process: none can be killed alone");
                };
                let time = ctx.sandbox.deployment().time();
                let epochs = time.epoch_of_slot(time.slot_at(ctx.from).unwrap_or_default())..;
                let mut killed = std::collections::BTreeSet::new();
                let mut from_block = 0;
                while ctx.before(ctx.until, stop).await? {
                    let reader = ctx.sandbox.reader();
                    let head = ctx.provider().get_block_number().await?;
                    let claims = if head >= from_block {
                        reader
                            .proof_right_claimed_events(from_block, Some(head))
                            .await?
                    } else {
                        Vec::new()
                    };
                    from_block = from_block.max(head + 1);
                    for claim in claims {
                        if claim.prover == victim.address
                            && epochs.contains(&claim.epoch)
                            && killed.insert(claim.epoch)
                        {
                            match KillPoint::of_epoch(claim.epoch) {
                                KillPoint::ClaimMined => {}
                                KillPoint::Proving => {
                                    cancellable_sleep(Duration::from_secs(3), stop).await;
                                }
                                KillPoint::ProofPending => {
                                    ctx.wait_for_pending_tx(victim.address, stop).await?;
                                }
                            }
                            victim.kill_and_restart(KILLED_PROVER_DOWN).await?;
                        }
                    }
                    cancellable_sleep(Duration::from_millis(200), stop).await;
                }
            }
        }
        // Hold the fault until its end.
        ctx.wait_for_time(ctx.until, stop).await?;
        Ok(())
    }

    /// Runs `fault` once at the start of every claim phase between `ctx.from` and `ctx.until`.
    async fn at_every_claim_phase<'c, F, Fut>(
        self,
        ctx: &'c Ctx<'c>,
        stop: &CancellationToken,
        fault: F,
    ) -> Result<()>
    where
        F: Fn(&'c Ctx<'c>) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let time = ctx.sandbox.deployment().time();
        let first = time.epoch_of_slot(time.slot_at(ctx.from).unwrap_or_default());
        for epoch in first.. {
            let start = time.slot_start(time.claim_phase(epoch).start);
            if start >= ctx.until || !ctx.wait_for_time(start, stop).await? {
                break;
            }
            fault(ctx).await?;
        }
        Ok(())
    }
}

/// When the killed prover dies, in turn by epoch: each leaves something else to reconcile at the
/// restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KillPoint {
    /// As soon as the claim is mined: the prover may not have seen it yet (found on the chain).
    ClaimMined,
    /// 3 s later, while it proves (its job is in its store, half done).
    Proving,
    /// When its proof transaction waits in the pool (the hash is in its store, the transaction
    /// about to be mined: it must follow that one and send no second).
    ProofPending,
}

impl KillPoint {
    fn of_epoch(epoch: u64) -> Self {
        match epoch % 3 {
            0 => Self::ClaimMined,
            1 => Self::Proving,
            _ => Self::ProofPending,
        }
    }
}

/// What a fault driver works with.
pub struct Ctx<'a> {
    sandbox: &'a Sandbox,
    /// L1 time the fault starts.
    pub from: u64,
    /// L1 time the fault ends.
    pub until: u64,
}

impl<'a> Ctx<'a> {
    pub fn new(sandbox: &'a Sandbox, from: u64, until: u64) -> Self {
        Self {
            sandbox,
            from,
            until,
        }
    }

    fn provider(&self) -> &epoch_rfq_l1::alloy::providers::DynProvider {
        self.sandbox.chain().provider()
    }

    async fn base_fee(&self) -> Result<u128> {
        Ok(self.sandbox.reader().base_fee().await?)
    }

    /// Waits until the latest block's time reaches `ts`; false when stopped first.
    async fn wait_for_time(&self, ts: u64, stop: &CancellationToken) -> Result<bool> {
        loop {
            let (_, now) = self.sandbox.chain().latest_block().await?;
            if now >= ts {
                return Ok(true);
            }
            tokio::select! {
                () = stop.cancelled() => return Ok(false),
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    }

    /// Whether L1 time is still before `ts` (and the run not stopped).
    async fn before(&self, ts: u64, stop: &CancellationToken) -> Result<bool> {
        let (_, now) = self.sandbox.chain().latest_block().await?;
        Ok(now < ts && !stop.is_cancelled())
    }

    /// Waits for `n` new blocks (or the stop).
    async fn wait_blocks(&self, n: u64, stop: &CancellationToken) -> Result<()> {
        let start = self.provider().get_block_number().await?;
        loop {
            let now = self.provider().get_block_number().await?;
            if now >= start + n {
                return Ok(());
            }
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    }

    /// Waits (at most 15 s) until `account` has a transaction in the pool: its pending nonce
    /// is past its mined one.
    async fn wait_for_pending_tx(
        &self,
        account: alloy_primitives::Address,
        stop: &CancellationToken,
    ) -> Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while tokio::time::Instant::now() < deadline && !stop.is_cancelled() {
            let pending = self.provider().get_transaction_count(account).pending();
            let mined = self.provider().get_transaction_count(account).latest();
            if pending.await? > mined.await? {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Every proxy up and fault-free, mining every second.
    async fn heal(&self) -> Result<()> {
        for p in self.sandbox.fault_proxies() {
            p.set_faults(Faults::default());
            p.set_down(false);
        }
        self.provider()
            .anvil_set_interval_mining(1)
            .await
            .context("anvil_setIntervalMining")?;
        Ok(())
    }
}

async fn cancellable_sleep(d: Duration, stop: &CancellationToken) {
    tokio::select! {
        () = stop.cancelled() => {}
        () = tokio::time::sleep(d) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_unknown_names_list_the_choices() {
        for p in Profile::ALL {
            assert_eq!(Profile::parse(p.name()), Ok(p));
        }
        let err = Profile::parse("earthquake").expect_err("unknown");
        assert!(err.contains("rate-limited-30pct"), "{err}");
        assert!(Profile::QUICK.iter().all(|p| Profile::ALL.contains(p)));
    }

    #[test]
    fn the_killed_prover_runs_alone_as_a_process_and_underbids_everyone() {
        let mut options = SandboxOptions::standard("unused");
        Profile::ProverKill9.configure(&mut options);
        let victim = &options.provers[0];
        assert_eq!(options.processes.provers, vec![victim.name.clone()]);
        assert!(!options.processes.node);
        assert_eq!(victim.proof_delay_ms, KILLED_PROVER_PROOF_MS);
        assert!(KILLED_PROVER_BPS < options.pricing.base_bps);
        for other in &options.provers[1..] {
            if let ProverPricing::Fixed {
                basis_point_fee, ..
            } = other.pricing
            {
                assert!(basis_point_fee > KILLED_PROVER_BPS, "{other:?}");
            }
        }
        // Three epochs in a row die at each of the three points.
        let points: std::collections::BTreeSet<String> = (7..10)
            .map(|e| format!("{:?}", KillPoint::of_epoch(e)))
            .collect();
        assert_eq!(points.len(), 3);
        let mut options = SandboxOptions::standard("unused");
        Profile::NodeSigstop.configure(&mut options);
        assert!(options.processes.node && options.processes.provers.is_empty());
        let mut options = SandboxOptions::standard("unused");
        Profile::Baseline.configure(&mut options);
        assert!(!options.processes.any());
    }

    #[test]
    fn slots_hold_at_least_four_blocks_and_reorgs_run_at_depth() {
        for p in Profile::ALL {
            for quick in [false, true] {
                let t = p.timing(quick);
                assert!(t.slot_duration >= 4, "{}", p.name());
                assert!(t.claim_window < t.epoch_duration, "{}", p.name());
            }
        }
        assert_eq!(Profile::Reorgs.confirmations(), Some(3));
        // The frozen node thaws with claim slots to spare.
        let t = Profile::NodeSigstop.timing(false);
        let thawed_after_slots = NODE_FROZEN.as_secs().div_ceil(t.slot_duration) - 2;
        assert!(thawed_after_slots + 2 <= t.claim_window, "{t:?}");
        assert_eq!(Profile::OneEndpointDead.proxies(), 2);
        assert_eq!(Profile::OneEndpointDeadWs.proxies(), 2);
        assert!(Profile::OneEndpointDeadWs.ws() && !Profile::OneEndpointDead.ws());
    }
}
