//! The proposer's runtime: [`Proposer::tick`] does one round of everything (SPEC §7), and
//! [`Proposer::run`] ticks at least once per slot until shut down.
//!
//! Every decision is taken from L1 state read at the start of the tick (never from what this
//! process remembers doing), so a restarted proposer, or one that raced another transaction,
//! simply does the right thing on its next tick. The only memory is the auction of the epoch to
//! prove, which exists so that quotes and drops are counted and logged once per epoch instead of
//! once per tick.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, B256, U256};
use epoch_rfq_l1::{
    BlockRecord, ClaimRejected, EpochRange, L1Client, L1Error, RollupError, TimeParams,
};
use epoch_rfq_quote::{QuoteId, SIGNATURE_LEN};
use epoch_rfq_runtime::health::{Health, ServiceHealth};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::config::{ConfigError, ProposerConfig};
use crate::events::ProposerEvent;
use crate::metrics::ProposerMetrics;
use crate::rfq::{Candidate, ChainView, DropReason, local_check, rank};
use crate::source::{QuoteSource, ReceivedQuote, SourceError};
use crate::traffic::{SyntheticBlock, TrafficGenerator};

/// Why the proposer cannot start or a tick failed.
#[derive(Debug, thiserror::Error)]
pub enum ProposerError {
    /// The L1 client cannot sign: a proposer sends transactions.
    #[error("the proposer's L1 client has no signing key")]
    NoSigner,
    /// A setting cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An L1 read or transaction failed (the tick is retried on the next one).
    #[error(transparent)]
    L1(#[from] L1Error),
}

/// What one [`Proposer::tick`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// The current slot (`None` before genesis).
    pub slot: Option<u64>,
    /// The block proposed in this tick.
    pub proposed: Option<BlockRecord>,
    /// The claim made in this tick: `(epoch, prover)`.
    pub claimed: Option<(u64, Address)>,
    /// An epoch whose claim phase ended unclaimed, reported in this tick.
    pub unclaimed: Option<u64>,
    /// Whether this tick pruned.
    pub pruned: bool,
}

/// A quote as the auction remembers it: digest and signature (two quotes with the same fields but
/// different signatures are different quotes: one may be a forged copy).
type QuoteKey = (QuoteId, [u8; SIGNATURE_LEN]);

/// The auction of one epoch to prove.
#[derive(Debug)]
struct Auction {
    epoch: u64,
    /// Its blocks and fees (what is lost if nobody claims it).
    range: EpochRange,
    /// A claim for it was on L1 once its claim phase was over. A claim seen (or made) during
    /// the phase does not count: a reorg may take it out, and the epoch then ends unclaimed.
    claimed: bool,
    /// Its unclaimed end was reported.
    reported: bool,
    /// Every quote seen, with the code of its last drop (`None`: never dropped).
    seen: HashMap<QuoteKey, Option<&'static str>>,
    /// The quote source's last answer: a tick whose query is still out claims from these.
    quotes: Vec<ReceivedQuote>,
}

impl Auction {
    fn new(range: EpochRange) -> Self {
        Self {
            epoch: range.epoch,
            range,
            claimed: false,
            reported: false,
            seen: HashMap::new(),
            quotes: Vec::new(),
        }
    }
}

/// How one query of the quote source ended.
type FetchResult = Result<Result<Vec<ReceivedQuote>, SourceError>, tokio::time::error::Elapsed>;

/// A query of the quote source, running in its own task beside the ticks (a hung node holds up
/// only this task, never block production). Aborted when dropped.
struct Fetch {
    epoch: u64,
    started: Instant,
    task: JoinHandle<FetchResult>,
}

impl Drop for Fetch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The services the proposer reports in its role's [`Health`].
#[derive(Debug, Clone)]
struct ProposerHealth {
    /// Ticks complete (L1 reachable, blocks go out).
    block_producer: ServiceHealth,
    /// The quote source answers in time.
    rfq: ServiceHealth,
}

/// How a failed `validateClaim` or claim is handled.
enum Failure {
    /// The quote is at fault: drop it, try the next.
    Quote(DropReason),
    /// The situation is (not our slot, claim phase over, already claimed): stop this tick.
    Situation(ClaimRejected),
    /// Another revert (a propose part, the escrow, an undecodable reason).
    Revert(String),
    /// Not a revert (RPC): give up on this tick.
    Rpc(L1Error),
}

fn classify(e: L1Error) -> Failure {
    if let Some(c) = e.claim_rejected() {
        return match DropReason::from_claim_rejected(c) {
            Some(reason) => Failure::Quote(reason),
            None => Failure::Situation(c.clone()),
        };
    }
    if e.revert().is_some() {
        return Failure::Revert(e.to_string());
    }
    Failure::Rpc(e)
}

/// The proposer. See the [crate docs](crate).
pub struct Proposer {
    l1: L1Client,
    source: Arc<dyn QuoteSource>,
    config: ProposerConfig,
    me: Address,
    traffic: TrafficGenerator,
    metrics: ProposerMetrics,
    events: broadcast::Sender<ProposerEvent>,
    auction: Option<Auction>,
    /// The quote query in flight, if any.
    fetch: Option<Fetch>,
    /// The last quote query failed (the `rfq` service stays degraded until one succeeds).
    rfq_failing: bool,
    health: Option<ProposerHealth>,
    /// The latest L1 block seen `(number, timestamp)` and the L1 block time measured from the
    /// blocks seen so far (how long a transaction sent now takes to be mined).
    last_l1_block: Option<(u64, u64)>,
    l1_block_time: Option<Duration>,
}

impl std::fmt::Debug for Proposer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proposer")
            .field("me", &self.me)
            .field("rollup", &self.l1.rollup_address())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Proposer {
    /// A proposer sending with `l1_client`'s signer, reading quotes from `source`. Its metrics
    /// are not registered anywhere until [`with_metrics`](Self::with_metrics) gives registered
    /// ones.
    pub fn new(
        l1_client: L1Client,
        source: impl QuoteSource + 'static,
        config: ProposerConfig,
    ) -> Result<Self, ProposerError> {
        config.validate()?;
        let me = l1_client.sender().ok_or(ProposerError::NoSigner)?;
        let (events, _) = broadcast::channel(config.event_capacity);
        Ok(Self {
            l1: l1_client,
            source: Arc::new(source),
            traffic: TrafficGenerator::new(config.traffic),
            config,
            me,
            metrics: ProposerMetrics::default(),
            events,
            auction: None,
            fetch: None,
            rfq_failing: false,
            health: None,
            last_l1_block: None,
            l1_block_time: None,
        })
    }

    /// Reports in `health` as the services `block_producer` (ticks complete: L1 answers and the
    /// slot's block goes out; dead after ten slots, at least 30 s, without a good tick) and `rfq`
    /// (the quote source answers within its deadline; degraded while it does not).
    pub fn with_health(mut self, health: &Health) -> Self {
        let slot = Duration::from_secs(self.l1.time().slot_duration.max(1));
        let silence = (slot * 10).max(Duration::from_secs(30));
        self.health = Some(ProposerHealth {
            block_producer: health.register("block_producer", Some(silence)),
            rfq: health.register("rfq", None),
        });
        self
    }

    /// Uses `metrics` (e.g. [`ProposerMetrics::new`] over the registry served on `/metrics`).
    pub fn with_metrics(mut self, metrics: ProposerMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// The metrics.
    pub fn metrics(&self) -> &ProposerMetrics {
        &self.metrics
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ProposerEvent> {
        self.events.subscribe()
    }

    /// The proposer's address.
    pub fn address(&self) -> Address {
        self.me
    }

    /// The L1 client.
    pub fn l1(&self) -> &L1Client {
        &self.l1
    }

    /// The traffic generator (what block the proposer posts in which slot).
    pub fn traffic(&self) -> &TrafficGenerator {
        &self.traffic
    }

    /// Time between ticks: the polling interval, at most one slot.
    pub fn tick_interval(&self) -> Duration {
        let slot = Duration::from_secs(self.l1.time().slot_duration.max(1));
        self.config.polling_interval.min(slot)
    }

    /// Ticks every [`tick_interval`](Self::tick_interval) until `shutdown` completes. A failed
    /// tick is logged and retried on the next one (L1 or the source may be briefly unreachable).
    /// Shutdown interrupts a tick in progress: everything is re-read from L1 on the next start.
    pub async fn run(&mut self, shutdown: impl Future<Output = ()>) {
        let every = self.tick_interval();
        if every < self.config.polling_interval {
            warn!(
                polling_interval_ms = self.config.polling_interval.as_millis() as u64,
                slot_seconds = self.l1.time().slot_duration,
                "polling interval is longer than a slot; ticking once per slot instead"
            );
        }
        info!(
            proposer = %self.me,
            rollup = %self.l1.rollup_address(),
            tick_ms = every.as_millis() as u64,
            traffic_seed = self.config.traffic.seed,
            "proposer started"
        );
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = interval.tick() => {}
            }
            tokio::select! {
                () = &mut shutdown => break,
                result = self.tick() => {
                    if let Err(ProposerError::L1(e @ L1Error::TooLate { .. })) = &result {
                        // Late in the slot: nothing is sent, the next slot is the next chance.
                        tracing::debug!(error = %e, "too late in the slot to send");
                    } else if let Err(e) = result {
                        warn!(error = %e, "proposer tick failed; retrying on the next tick");
                    }
                }
            }
        }
        self.fetch = None;
        if let Some(h) = &self.health {
            h.block_producer.stopped();
            h.rfq.stopped();
        }
        info!(proposer = %self.me, "proposer stopped");
    }

    fn emit(&self, event: ProposerEvent) {
        // No subscriber is fine: events are for whoever listens.
        let _ = self.events.send(event);
    }

    /// One round: report an epoch whose claim phase ended unclaimed, prune when due, then in a
    /// slot this proposer owns run the RFQ (claiming, with `proposeAndClaim` when the slot's block
    /// is still to be proposed) and propose the slot's block.
    pub async fn tick(&mut self) -> Result<TickReport, ProposerError> {
        let result = self.tick_inner().await;
        if let Some(h) = &self.health {
            match &result {
                Ok(_) => h.block_producer.ok(),
                Err(e) => h.block_producer.degraded(format!("last tick failed: {e}")),
            }
            if !self.rfq_failing && self.fetch.is_none() {
                h.rfq.ok();
            }
        }
        result
    }

    async fn tick_inner(&mut self) -> Result<TickReport, ProposerError> {
        let mut report = TickReport::default();
        let (number, ts) = self.l1.latest_l1_block().await?;
        self.observe_l1_block(number, ts);
        let time = *self.l1.time();
        let Some(slot) = time.slot_at(ts) else {
            return Ok(report);
        };
        report.slot = Some(slot);

        // The tick's reads do not depend on one another: they go out together, so the tick
        // waits for the slowest instead of the sum (each costs a round trip to the provider, more
        // under its rate limit, and the slot's transaction must go out early in the slot).
        let l1 = &self.l1;
        let (mut epoch, mut claim, owner, prune_due, pending) = tokio::try_join!(
            l1.epoch_to_prove_range(),
            l1.proof_claim(),
            l1.proposer_at(slot),
            l1.is_prune_due(),
            l1.pending_block_number(),
        )?;
        report.unclaimed = self.watch(epoch, slot).await?;

        // Only the slot's proposer may propose and claim (anyone when the set is empty).
        let ours = owner.is_none_or(|owner| owner == self.me);
        let (free, allowance) = if ours {
            let rollup = self.l1.rollup_address();
            let allowance =
                async { Ok::<_, ProposerError>(self.l1.allowance(self.me, rollup).await?) };
            tokio::try_join!(self.slot_free(slot, pending), allowance)?
        } else {
            (false, U256::ZERO)
        };

        // When the slot's block goes out now, its `propose` prunes first (the Rollup does so when
        // a prune is due): one transaction instead of two, so that with L1 blocks of half a slot
        // the block still lands in its slot. Otherwise prune on its own.
        let mut pending_before_prune = None;
        if prune_due {
            if free {
                pending_before_prune = Some(pending);
            } else {
                report.pruned = self.prune(epoch.map(|e| e.epoch)).await?;
                if report.pruned {
                    epoch = self.l1.epoch_to_prove_range().await?;
                    claim = match epoch {
                        Some(_) => self.l1.proof_claim().await?,
                        None => None,
                    };
                }
            }
        }

        if !ours {
            return Ok(report);
        }
        let mut block = if free {
            let b = self.traffic.block_for_slot(slot);
            self.ensure_allowance(b.total_fees, allowance).await?;
            Some(b)
        } else {
            None
        };

        // (A prune is never due while the epoch to prove is in its unclaimed claim phase.)
        if let Some(range) = epoch
            && claim.is_none()
            && time.in_claim_phase(range.epoch, slot)
        {
            report.claimed = self.rfq(range, slot, ts, &mut block, &mut report).await?;
        }

        if let Some(b) = block
            && let Some((proposed, tx)) = self.propose(b).await?
        {
            report.proposed = Some(proposed);
            // The block took the number after the last proven one: its propose pruned.
            if let Some(pending) = pending_before_prune
                && proposed.number <= pending
            {
                info!(epoch = ?epoch.map(|e| e.epoch), %tx, "pruned the unproven blocks with the slot's block");
                report.pruned = true;
                self.metrics.pruned();
                self.emit(ProposerEvent::Pruned {
                    epoch: epoch.map(|e| e.epoch),
                    tx,
                });
            }
        }
        Ok(report)
    }

    /// Follows the epoch to prove once it is complete; reports it (once) when its claim phase
    /// ended without a claim, even if it was pruned or proven in between.
    async fn watch(
        &mut self,
        epoch: Option<EpochRange>,
        slot: u64,
    ) -> Result<Option<u64>, ProposerError> {
        let time = *self.l1.time();
        let mut reported = None;
        if let Some(range) = epoch
            && time.is_epoch_complete(range.epoch, slot)
            && self.auction.as_ref().map(|a| a.epoch) != Some(range.epoch)
        {
            // A new epoch to prove: settle the previous one first.
            reported = self.report_if_unclaimed(slot).await?;
            self.auction = Some(Auction::new(range));
        }
        Ok(self.report_if_unclaimed(slot).await?.or(reported))
    }

    async fn report_if_unclaimed(&mut self, slot: u64) -> Result<Option<u64>, ProposerError> {
        let time = *self.l1.time();
        let Some(a) = self.auction.as_ref() else {
            return Ok(None);
        };
        if a.claimed || a.reported || slot < time.claim_phase(a.epoch).end {
            return Ok(None);
        }
        let epoch = a.epoch;
        let quotes_seen = a.seen.len();
        let range = a.range;
        // The outcome is read from L1 once the phase is over: a claim in the last claim slot may
        // have landed between two ticks, and one seen or made earlier may have been reorged out
        // (`getClaim` keeps a claim after its proof; only a prune deletes it, and that comes
        // after the proof deadline).
        if self.l1.claim(epoch).await?.is_some() {
            if let Some(a) = self.auction.as_mut() {
                a.claimed = true;
            }
            return Ok(None);
        }
        let blocks = range.to_block.saturating_sub(range.from_block) + 1;
        if let Some(a) = self.auction.as_mut() {
            a.reported = true;
        }
        // Money at stake: the epoch's fees are paid to nobody and its blocks are pruned.
        error!(
            epoch,
            blocks,
            from_block = range.from_block,
            to_block = range.to_block,
            total_fees = %range.total_fees,
            quotes_seen,
            claim_phase_end_slot = time.claim_phase_last_slot(epoch),
            current_slot = slot,
            "EPOCH UNCLAIMED: the claim phase of epoch {epoch} ended without a claim; its {blocks} \
             block(s) (fees {}) will be pruned",
            range.total_fees
        );
        self.metrics.epoch_unclaimed(blocks);
        self.emit(ProposerEvent::EpochUnclaimed {
            epoch,
            quotes_seen,
            blocks,
            total_fees: range.total_fees,
        });
        Ok(Some(epoch))
    }

    async fn prune(&mut self, epoch: Option<u64>) -> Result<bool, ProposerError> {
        match self.l1.prune().await {
            Ok(tx) => {
                info!(?epoch, tx = %tx.tx_hash, "pruned the unproven blocks");
                self.metrics.pruned();
                self.emit(ProposerEvent::Pruned {
                    epoch,
                    tx: tx.tx_hash,
                });
                Ok(true)
            }
            // Someone else pruned (or proposed, which prunes first) since we looked.
            Err(e) if e.rollup_error() == Some(&RollupError::NothingToPrune) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the current slot has no block yet (`pending`: the latest L2 block number).
    async fn slot_free(&self, slot: u64, pending: u64) -> Result<bool, ProposerError> {
        if pending == 0 {
            return Ok(true);
        }
        Ok(self.l1.block(pending).await?.slot < slot)
    }

    /// Approves the Rollup for `approval_blocks` blocks at the maximum fee when `allowance` (read
    /// this tick) does not cover `fees`.
    async fn ensure_allowance(&self, fees: U256, allowance: U256) -> Result<(), ProposerError> {
        if fees.is_zero() {
            return Ok(());
        }
        let rollup = self.l1.rollup_address();
        if allowance >= fees {
            return Ok(());
        }
        let amount = self
            .traffic
            .max_block_fees()
            .saturating_mul(U256::from(self.config.approval_blocks))
            .max(fees);
        let tx = self.l1.approve(rollup, amount).await?;
        info!(%amount, tx = %tx.tx_hash, "approved the fee token to the Rollup for block fees");
        Ok(())
    }

    async fn propose(
        &mut self,
        b: SyntheticBlock,
    ) -> Result<Option<(BlockRecord, B256)>, ProposerError> {
        match self
            .l1
            .propose(U256::from(b.tx_count), b.total_fees, b.content_hash)
            .await
        {
            Ok(p) => {
                self.block_proposed(p.block, p.tx.tx_hash, false);
                Ok(Some((p.block, p.tx.tx_hash)))
            }
            // Another transaction (ours from a previous tick, or a race) used the slot.
            Err(e) if matches!(e.rollup_error(), Some(RollupError::SlotAlreadyUsed { .. })) => {
                debug!(slot = b.slot, "slot already has a block");
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn block_proposed(&self, block: BlockRecord, tx: B256, with_claim: bool) {
        info!(
            block = block.number,
            slot = block.slot,
            txs = %block.tx_count,
            fees = %block.total_fees,
            with_claim,
            %tx,
            "proposed block"
        );
        self.metrics.block_proposed();
        self.emit(ProposerEvent::BlockProposed {
            block,
            tx,
            with_claim,
        });
    }

    /// Records a drop: counted, logged and sent once per quote and reason.
    fn drop_quote(&mut self, epoch: u64, key: QuoteKey, prover: Address, reason: DropReason) {
        let code = reason.code();
        if let Some(a) = self.auction.as_mut() {
            let last = a.seen.entry(key).or_insert(None);
            if *last == Some(code) {
                return;
            }
            *last = Some(code);
        }
        info!(
            epoch,
            %prover,
            quote = %key.0,
            reason = code,
            detail = %reason,
            "dropped quote"
        );
        self.metrics.quote_dropped(code);
        self.emit(ProposerEvent::QuoteDropped {
            epoch,
            prover,
            id: key.0,
            reason,
        });
    }

    /// Measures the L1 block time from the blocks seen between ticks (capped at one slot).
    fn observe_l1_block(&mut self, number: u64, ts: u64) {
        if let Some((n0, t0)) = self.last_l1_block
            && number > n0
            && ts >= t0
        {
            let ms = (ts - t0).saturating_mul(1000) / (number - n0);
            let slot_ms = self.l1.time().slot_duration.max(1).saturating_mul(1000);
            self.l1_block_time = Some(Duration::from_millis(ms.min(slot_ms)));
        }
        if self.last_l1_block.is_none_or(|(n0, _)| number > n0) {
            self.last_l1_block = Some((number, ts));
        }
    }

    /// How long a claim sent now takes to be mined, with the margin: the measured L1 block time
    /// (one slot until measured) plus `claim_margin`.
    fn claim_inclusion_estimate(&self) -> Duration {
        let slot = Duration::from_secs(self.l1.time().slot_duration.max(1));
        self.l1_block_time.unwrap_or(slot) + self.config.claim_margin
    }

    /// How long a tick waits for a quote query it started: `quote_wait`, at most a quarter slot.
    fn quote_wait(&self) -> Duration {
        let slot = Duration::from_secs(self.l1.time().slot_duration.max(1));
        self.config.quote_wait.min(slot / 4)
    }

    fn start_fetch(&self, epoch: u64) -> Fetch {
        let source = self.source.clone();
        let deadline = self.config.quote_fetch_timeout;
        Fetch {
            epoch,
            started: Instant::now(),
            task: tokio::spawn(async move {
                tokio::time::timeout(deadline, source.quotes_for_epoch(epoch)).await
            }),
        }
    }

    fn rfq_degraded(&mut self, detail: String) {
        self.rfq_failing = true;
        self.metrics.source_error();
        if let Some(h) = &self.health {
            h.rfq.degraded(detail);
        }
    }

    /// Asks the quote source for `epoch`'s quotes beside block production: starts a query when
    /// none is out, and waits for it only until [`quote_wait`](Self::quote_wait) after it started
    /// (a query already older costs the tick nothing). An answer replaces the auction's quotes;
    /// a query past its own deadline is abandoned and the next tick asks again.
    async fn collect(&mut self, epoch: u64) {
        if self.fetch.as_ref().map(|f| f.epoch) != Some(epoch) {
            self.fetch = Some(self.start_fetch(epoch));
        }
        let wait = self.quote_wait();
        let Some(fetch) = self.fetch.as_mut() else {
            return;
        };
        let started = fetch.started;
        let Ok(joined) = tokio::time::timeout_at(started + wait, &mut fetch.task).await else {
            debug!(
                epoch,
                waited_ms = started.elapsed().as_millis() as u64,
                "quote source has not answered yet; block production goes on without it"
            );
            return;
        };
        self.fetch = None;
        match joined {
            Ok(Ok(Ok(quotes))) => {
                self.rfq_failing = false;
                if let Some(h) = &self.health {
                    h.rfq.ok();
                }
                if let Some(a) = self.auction.as_mut() {
                    a.quotes = quotes;
                }
            }
            Ok(Ok(Err(e))) => {
                warn!(epoch, error = %e, "cannot get quotes; retrying on the next tick");
                self.rfq_degraded(format!("the quote source failed: {e}"));
            }
            Ok(Err(_elapsed)) => {
                let ms = self.config.quote_fetch_timeout.as_millis() as u64;
                warn!(
                    epoch,
                    timeout_ms = ms,
                    "the quote source did not answer within the RFQ's deadline; asking again on \
                     the next tick (blocks go out regardless)"
                );
                self.metrics.quote_fetch_timed_out();
                self.rfq_degraded(format!("the quote source did not answer within {ms} ms"));
            }
            Err(e) => {
                warn!(epoch, error = %e, "the quote query task ended abnormally");
                self.rfq_degraded(format!("the quote query task ended abnormally: {e}"));
            }
        }
    }

    /// The RFQ for `range` in `slot` (its claim phase, unclaimed, our slot): collects quotes, and
    /// claims the best once collection is over (see [`collection_over`]) or the best quote's
    /// validity would not outlast more collecting (see [`must_claim_before_expiry`]). `block` is
    /// the slot's block when it is still to be proposed; a successful `proposeAndClaim` takes it.
    async fn rfq(
        &mut self,
        range: EpochRange,
        slot: u64,
        ts: u64,
        block: &mut Option<SyntheticBlock>,
        report: &mut TickReport,
    ) -> Result<Option<(u64, Address)>, ProposerError> {
        let epoch = range.epoch;
        if self.auction.as_ref().map(|a| a.epoch) != Some(epoch) {
            self.auction = Some(Auction::new(range));
        }
        self.collect(epoch).await;
        let mut received = self
            .auction
            .as_ref()
            .map(|a| a.quotes.clone())
            .unwrap_or_default();
        let chain_id = self.l1.chain_id();
        let view = ChainView {
            chain_id,
            rollup: self.l1.rollup_address(),
            epoch: range,
            current_slot: slot,
            min_bond: self.l1.min_bond(),
        };
        // Earliest first, so that of two copies of one quote the earliest arrival counts.
        received.sort_by_key(|q| q.received_at);
        let mut new = 0usize;
        let mut in_answer = std::collections::HashSet::new();
        let mut candidates = Vec::new();
        for q in &received {
            let key: QuoteKey = (QuoteId(q.quote.digest(chain_id)), *q.quote.signature());
            if !in_answer.insert(key) {
                debug!(epoch, quote = %key.0, "same quote twice in the source's answer");
                continue;
            }
            if let Some(a) = self.auction.as_mut()
                && !a.seen.contains_key(&key)
            {
                a.seen.insert(key, None);
                self.metrics.quote_considered();
                new += 1;
            }
            match local_check(q, &view) {
                Ok(quote) => candidates.push(Candidate {
                    quote,
                    received_at: q.received_at,
                }),
                Err(reason) => self.drop_quote(epoch, key, q.quote.fields().prover, reason),
            }
        }
        if new > 0 {
            info!(
                epoch,
                received = received.len(),
                new,
                valid = candidates.len(),
                "quotes for the epoch to prove"
            );
            self.emit(ProposerEvent::QuotesConsidered {
                epoch,
                n: received.len(),
            });
        }
        rank(&mut candidates);

        let time = *self.l1.time();
        let window_over = collection_over(&time, epoch, slot, ts, self.config.quote_collection);
        let best_expiring = candidates.first().is_some_and(|best| {
            must_claim_before_expiry(
                &time,
                best.quote.fields().valid_until_slot,
                ts,
                self.tick_interval(),
                self.claim_inclusion_estimate(),
            )
        });
        if !window_over && !best_expiring {
            return Ok(None);
        }
        if best_expiring && !window_over {
            info!(
                epoch,
                valid_until_slot = %candidates[0].quote.fields().valid_until_slot,
                inclusion_ms = self.claim_inclusion_estimate().as_millis() as u64,
                "closing the collection early: the best quote expires before it would end"
            );
        }

        let mut attempts = 0usize;
        let mut i = 0usize;
        // Cleared when a proposeAndClaim failed in its propose part: claims go alone from then on.
        let mut combine = block.is_some();
        while let Some(cand) = candidates.get(i) {
            let quote = cand.quote.clone();
            let key: QuoteKey = (quote.id(), *quote.signature());
            let prover = quote.signer();
            match self.l1.validate_claim(&quote, self.me, ts).await {
                Ok(_) => {}
                Err(e) => match classify(e) {
                    Failure::Quote(reason) => {
                        self.drop_quote(epoch, key, prover, reason);
                        i += 1;
                        continue;
                    }
                    Failure::Situation(c) => {
                        debug!(epoch, reason = %c, "epoch not claimable by us now");
                        return Ok(None);
                    }
                    Failure::Revert(msg) => {
                        self.drop_quote(epoch, key, prover, DropReason::L1Rejected(msg));
                        i += 1;
                        continue;
                    }
                    Failure::Rpc(e) => return Err(e.into()),
                },
            }
            if attempts == self.config.max_claim_attempts {
                warn!(epoch, attempts, "claim attempts exhausted for this tick");
                break;
            }
            attempts += 1;
            let f = *quote.fields();
            let result = match (combine, *block) {
                (true, Some(b)) => self
                    .l1
                    .propose_and_claim(U256::from(b.tx_count), b.total_fees, b.content_hash, &quote)
                    .await
                    .map(|p| (p.tx.tx_hash, Some(p.block))),
                _ => self
                    .l1
                    .claim_epoch_proof_right(&quote)
                    .await
                    .map(|tx| (tx.tx_hash, None)),
            };
            match result {
                Ok((tx, proposed)) => {
                    if let Some(b) = proposed {
                        *block = None;
                        report.proposed = Some(b);
                        self.block_proposed(b, tx, true);
                    }
                    info!(
                        epoch,
                        %prover,
                        basis_point_fee = f.basis_point_fee,
                        bond = %f.bond_amount,
                        %tx,
                        "claimed the epoch proof right"
                    );
                    self.metrics.claimed();
                    self.emit(ProposerEvent::Claimed {
                        epoch,
                        prover,
                        fee: f.basis_point_fee,
                        bond: f.bond_amount,
                        tx,
                    });
                    return Ok(Some((epoch, prover)));
                }
                Err(e) => {
                    let error = e.to_string();
                    warn!(epoch, %prover, %error, "claim failed; trying the next best quote");
                    self.emit(ProposerEvent::ClaimFailed {
                        epoch,
                        prover,
                        error: error.clone(),
                    });
                    match classify(e) {
                        Failure::Quote(reason) => {
                            self.metrics.claim_failed(reason.code());
                            self.drop_quote(epoch, key, prover, reason);
                            i += 1;
                        }
                        Failure::Situation(c) => {
                            self.metrics.claim_failed("situation");
                            debug!(epoch, reason = %c, "epoch no longer claimable by us");
                            return Ok(None);
                        }
                        Failure::Revert(msg) if combine => {
                            // Most likely the propose part (allowance, balance, slot taken):
                            // retry this quote with a claim alone; the block goes on its own.
                            self.metrics.claim_failed("l1_rejected");
                            debug!(epoch, %msg, "proposeAndClaim failed; claiming alone");
                            combine = false;
                        }
                        Failure::Revert(msg) => {
                            self.metrics.claim_failed("l1_rejected");
                            self.drop_quote(epoch, key, prover, DropReason::L1Rejected(msg));
                            i += 1;
                        }
                        Failure::Rpc(e) => {
                            self.metrics.claim_failed("rpc");
                            return Err(e.into());
                        }
                    }
                }
            }
        }
        Ok(None)
    }
}

/// Whether a quote valid until `valid_until_slot` must be claimed now (L1 time `now`): if the
/// proposer kept collecting for one more tick (`tick`), its claim, sent then and taking
/// `inclusion` (L1 block time + margin) to be mined, would land after the quote's last slot.
/// The rule that keeps the collection window from letting the best quote expire.
fn must_claim_before_expiry(
    time: &TimeParams,
    valid_until_slot: U256,
    now: u64,
    tick: Duration,
    inclusion: Duration,
) -> bool {
    // A validity past u64 slots never expires.
    let Ok(last_slot) = u64::try_from(valid_until_slot) else {
        return false;
    };
    let expires_ms = u128::from(time.slot_start(last_slot.saturating_add(1))) * 1000;
    let now_ms = u128::from(now) * 1000;
    now_ms + tick.as_millis() + inclusion.as_millis() >= expires_ms
}

/// Whether the RFQ for `epoch` may close at L1 time `now` (slot `slot`): the collection window
/// since the claim phase opened has passed, or this is the phase's last slot.
fn collection_over(time: &TimeParams, epoch: u64, slot: u64, now: u64, window: Duration) -> bool {
    let opened_ms = u128::from(time.slot_start(time.claim_phase(epoch).start)) * 1000;
    let now_ms = u128::from(now) * 1000;
    now_ms >= opened_ms + window.as_millis() || slot >= time.claim_phase_last_slot(epoch)
}

#[cfg(test)]
mod tests {
    use epoch_rfq_l1::alloy::providers::{Provider, ProviderBuilder};
    use epoch_rfq_l1::{ContractAddresses, RollupInfo, TimeParams};

    use super::*;
    use crate::source::MemoryQuoteSource;

    fn client(sender: Option<Address>, slot_duration: u64) -> L1Client {
        // Never contacted: construction does no I/O.
        let provider = ProviderBuilder::new()
            .connect_http("http://127.0.0.1:1".parse().expect("url"))
            .erased();
        let info = RollupInfo {
            chain_id: 31337,
            contracts: ContractAddresses {
                rollup: Address::repeat_byte(1),
                escrow: Address::repeat_byte(2),
                fee_token: Address::repeat_byte(3),
                verifier: Address::repeat_byte(4),
            },
            time: TimeParams {
                genesis: 0,
                slot_duration,
                epoch_duration: 8,
                claim_window: 4,
            },
            min_bond: U256::from(1000),
            withdraw_delay: 100,
            slash_recipient: Address::repeat_byte(5),
        };
        L1Client::from_info(provider, info, sender)
    }

    #[test]
    fn needs_a_signer_and_a_valid_config() {
        let err = Proposer::new(
            client(None, 4),
            MemoryQuoteSource::new(),
            ProposerConfig::default(),
        )
        .expect_err("no signer");
        assert!(matches!(err, ProposerError::NoSigner), "{err}");
        let err = Proposer::new(
            client(Some(Address::repeat_byte(9)), 4),
            MemoryQuoteSource::new(),
            ProposerConfig {
                max_claim_attempts: 0,
                ..ProposerConfig::default()
            },
        )
        .expect_err("bad config");
        assert!(matches!(err, ProposerError::Config(_)), "{err}");
    }

    #[test]
    fn ticks_at_least_once_per_slot() {
        let fast = Proposer::new(
            client(Some(Address::repeat_byte(9)), 4),
            MemoryQuoteSource::new(),
            ProposerConfig::default(),
        )
        .expect("builds");
        assert_eq!(fast.tick_interval(), Duration::from_secs(1));
        let slow = Proposer::new(
            client(Some(Address::repeat_byte(9)), 4),
            MemoryQuoteSource::new(),
            ProposerConfig {
                polling_interval: Duration::from_secs(30),
                ..ProposerConfig::default()
            },
        )
        .expect("builds");
        assert_eq!(slow.tick_interval(), Duration::from_secs(4));
    }

    #[test]
    fn quotes_are_collected_before_claiming_except_in_the_last_slot() {
        // Genesis 1000, 4 s slots, 8-slot epochs, 4-slot claim window: epoch 0's claim phase is
        // slots 8..12, opening at t = 1032.
        let time = TimeParams {
            genesis: 1_000,
            slot_duration: 4,
            epoch_duration: 8,
            claim_window: 4,
        };
        let window = Duration::from_millis(2_000);
        assert!(!collection_over(&time, 0, 8, 1_032, window), "just opened");
        assert!(!collection_over(&time, 0, 8, 1_033, window), "1 s in");
        assert!(collection_over(&time, 0, 8, 1_034, window), "2 s in");
        assert!(collection_over(&time, 0, 9, 1_036, window));
        // A window longer than the phase never costs the claim: the last slot claims.
        let long = Duration::from_secs(60);
        assert!(!collection_over(&time, 0, 10, 1_040, long));
        assert!(collection_over(&time, 0, 11, 1_044, long));
        assert!(collection_over(&time, 0, 8, 1_032, Duration::ZERO));
    }

    #[test]
    fn collection_stops_in_time_for_the_best_quote() {
        // 2-s slots from t = 0: slot 4 is 8..10. A quote valid until slot 4 must be mined by
        // t = 9 (the last L1 second of slot 4).
        let time = TimeParams {
            genesis: 0,
            slot_duration: 2,
            epoch_duration: 2,
            claim_window: 4,
        };
        let tick = Duration::from_millis(200);
        let one_block = Duration::from_secs(1);
        let margin = Duration::from_secs(1);
        let valid_4 = U256::from(4);
        // At the start of slot 4: one tick + one L1 block + margin reaches t = 10.2: claim now.
        assert!(must_claim_before_expiry(
            &time,
            valid_4,
            8,
            tick,
            one_block + margin
        ));
        // Without a margin the next tick (8.2 s) still lands by 9.2 < 10: keep collecting.
        assert!(!must_claim_before_expiry(
            &time, valid_4, 8, tick, one_block
        ));
        // A quote valid two slots longer leaves time to collect.
        assert!(!must_claim_before_expiry(
            &time,
            U256::from(6),
            8,
            tick,
            one_block + margin
        ));
        // Already expired (slot 5): still "now" (the claim then fails and the next best is tried).
        assert!(must_claim_before_expiry(
            &time, valid_4, 10, tick, one_block
        ));
        // A validity beyond u64 slots never forces the claim.
        assert!(!must_claim_before_expiry(
            &time,
            U256::MAX,
            8,
            tick,
            one_block + margin
        ));
    }
}
