//! The node's auction history (issue "Explorer"): every quote the pool saw (path, outcome
//! code) and the market's L1 events (claims, proofs, prunes, slashes with their transactions),
//! kept in SQLite in the node's data directory for the last `history_epochs` epochs.
//!
//! Writes never block quote validation: [`History::record_quote`] only pushes into a bounded
//! channel; the history task writes batches in one transaction and announces each change on a
//! broadcast channel (the explorer's live stream). L1 events are read in block ranges from a
//! cursor stored in the same transaction as the events, so a restart neither loses nor repeats
//! any (events are also keyed by transaction hash and log index).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy_primitives::{Address, B256, U256};
use epoch_rfq_pool::ChainSnapshot;
use epoch_rfq_quote::QuoteFields;
use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, watch};

use crate::chain::ChainView;
use crate::metrics::IngestPath;

/// File name of the history database inside the node's data directory.
pub const HISTORY_DB_FILE: &str = "history.sqlite";

/// Quote sightings recorded per epoch at most; beyond it they are only counted (a flood of
/// useless quotes costs a counter, not disk).
pub(crate) const MAX_QUOTES_PER_EPOCH: u64 = 1_000;
/// Sightings waiting to be written at most; beyond it they are dropped and counted.
const QUEUE: usize = 4_096;
/// How long a sighting may wait in memory before it is written, and the most written at once.
const WRITE_EVERY: Duration = Duration::from_millis(100);
const WRITE_BATCH: usize = 1_024;
/// L1 blocks read per event query (public RPCs cap `eth_getLogs` ranges).
const L1_CHUNK_BLOCKS: u64 = 2_000;
/// How far back a node with an empty history starts reading L1 events.
const INITIAL_LOOKBACK_BLOCKS: u64 = 10_000;
/// Blocks read again when the block under the cursor changed: deeper than any Ethereum reorg
/// since the merge (they are one or two blocks), short of finality.
const REORG_REWIND_BLOCKS: u64 = 64;

/// What happened to a market on L1, as the explorer shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketEventKind {
    /// `ProofRightClaimed`: a quote won the epoch; the prover's bond is staked.
    Claimed,
    /// `EpochProven`: the prover was paid its fee share.
    Proven,
    /// `BondSlashed`: the claimed epoch was not proven in time.
    Slashed,
    /// `PrunedPending`: the unproven blocks were removed.
    Pruned,
}

impl MarketEventKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Claimed => "claimed",
            Self::Proven => "proven",
            Self::Slashed => "slashed",
            Self::Pruned => "pruned",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "claimed" => Self::Claimed,
            "proven" => Self::Proven,
            "slashed" => Self::Slashed,
            "pruned" => Self::Pruned,
            _ => return None,
        })
    }
}

/// One market event read from L1 by [`ChainView::market_events`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarketEvent {
    /// What happened.
    pub kind: MarketEventKind,
    /// The epoch it concerns (for `Pruned`: the epoch to prove at the time).
    pub epoch: u64,
    /// The prover (claims, proofs, slashes).
    pub prover: Option<Address>,
    /// Bond staked (claims), fee share paid (proofs), bond slashed (slashes).
    pub amount: Option<U256>,
    /// The winning fee in basis points (claims).
    pub basis_point_fee: Option<u32>,
    /// The proposer that claimed (claims).
    pub proposer: Option<Address>,
    /// L2 blocks removed (prunes) or proven (proofs): first and last.
    pub blocks: Option<(u64, u64)>,
    /// Prunes: the last epoch that lost its blocks, i.e. the last complete epoch when the prune
    /// happened (every epoch from `epoch` to it). `None`: only `epoch` is known.
    pub through_epoch: Option<u64>,
    /// Transaction hash.
    pub tx_hash: B256,
    /// L1 block.
    pub l1_block: u64,
    /// Log index in the block.
    pub log_index: u64,
}

/// Errors opening the history.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The data directory could not be created.
    #[error("cannot create the node's data directory {path}: {source}")]
    DataDirectory {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// SQLite refused (corrupt file, full disk, …).
    #[error("history database {path}: {source}")]
    Sqlite {
        /// The database file (`:memory:` without a data directory).
        path: String,
        /// The SQLite error.
        source: rusqlite::Error,
    },
}

/// A quote as the node saw it, waiting to be written.
#[derive(Clone, Debug)]
pub(crate) struct QuoteSeen {
    epoch: u64,
    prover: Address,
    basis_point_fee: u32,
    bond: U256,
    valid_until_slot: u64,
    path: IngestPath,
    outcome: &'static str,
    stored: bool,
    seen_ms: u64,
}

/// The history: a SQLite connection, the write queue and the change feed.
pub(crate) struct History {
    conn: Mutex<Connection>,
    /// Quotes recorded per kept epoch, as committed (read from the table once per epoch):
    /// the cap is checked for every sighting, and counting an epoch's rows each time would cost
    /// more than recording the sighting.
    recorded: Mutex<HashMap<u64, u64>>,
    retention_epochs: u64,
    queue: mpsc::Sender<QuoteSeen>,
    queue_rx: Mutex<Option<mpsc::Receiver<QuoteSeen>>>,
    changes: broadcast::Sender<String>,
    dropped: AtomicU64,
    /// Turns true when the node stops: live streams end then, so that the HTTP server's
    /// graceful shutdown does not wait for browsers to go away.
    stopping: watch::Sender<bool>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn hex_addr(a: &Address) -> String {
    format!("{a:#x}")
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS quotes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    epoch INTEGER NOT NULL,
    prover TEXT NOT NULL,
    basis_point_fee INTEGER NOT NULL,
    bond TEXT NOT NULL,
    valid_until_slot INTEGER NOT NULL,
    path TEXT NOT NULL,
    outcome TEXT NOT NULL,
    stored INTEGER NOT NULL,
    seen_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS quotes_epoch ON quotes(epoch);
CREATE TABLE IF NOT EXISTS l1_events (
    tx_hash TEXT NOT NULL,
    log_index INTEGER NOT NULL,
    l1_block INTEGER NOT NULL,
    kind TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    prover TEXT,
    amount TEXT,
    basis_point_fee INTEGER,
    proposer TEXT,
    from_block INTEGER,
    to_block INTEGER,
    through_epoch INTEGER,
    PRIMARY KEY (tx_hash, log_index)
);
CREATE INDEX IF NOT EXISTS l1_events_epoch ON l1_events(epoch);
CREATE TABLE IF NOT EXISTS epochs (
    epoch INTEGER PRIMARY KEY,
    from_block INTEGER,
    to_block INTEGER,
    total_fees TEXT,
    quotes_not_recorded INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS l1_cursor_block (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    number INTEGER NOT NULL,
    hash TEXT NOT NULL
);
";

impl History {
    /// Opens (or creates) `<dir>/history.sqlite`, or an in-memory history without `dir`.
    pub(crate) fn open(dir: Option<&Path>, retention_epochs: u64) -> Result<Self, HistoryError> {
        let (conn, name) = match dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| HistoryError::DataDirectory {
                    path: dir.to_path_buf(),
                    source,
                })?;
                let path = dir.join(HISTORY_DB_FILE);
                let name = path.display().to_string();
                let conn = Connection::open(&path).map_err(|source| HistoryError::Sqlite {
                    path: name.clone(),
                    source,
                })?;
                (conn, name)
            }
            None => {
                let name = ":memory:".to_string();
                let conn = Connection::open_in_memory().map_err(|source| HistoryError::Sqlite {
                    path: name.clone(),
                    source,
                })?;
                (conn, name)
            }
        };
        let sqlite = |source| HistoryError::Sqlite {
            path: name.clone(),
            source,
        };
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sqlite)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sqlite)?;
        conn.execute_batch(SCHEMA).map_err(sqlite)?;
        let (queue, rx) = mpsc::channel(QUEUE);
        let (changes, _) = broadcast::channel(256);
        Ok(Self {
            conn: Mutex::new(conn),
            recorded: Mutex::new(HashMap::new()),
            retention_epochs: retention_epochs.max(1),
            queue,
            queue_rx: Mutex::new(Some(rx)),
            changes,
            dropped: AtomicU64::new(0),
            stopping: watch::Sender::new(false),
        })
    }

    /// Queues a quote sighting (never blocks; a full queue drops it and counts the drop).
    pub(crate) fn record_quote(
        &self,
        fields: &QuoteFields,
        path: IngestPath,
        outcome: &'static str,
        stored: bool,
    ) {
        let Ok(epoch) = u64::try_from(fields.epoch_number) else {
            return; // no such epoch: nothing to show
        };
        let seen = QuoteSeen {
            epoch,
            prover: fields.prover,
            basis_point_fee: fields.basis_point_fee,
            bond: fields.bond_amount,
            valid_until_slot: u64::try_from(fields.valid_until_slot).unwrap_or(u64::MAX),
            path,
            outcome,
            stored,
            seen_ms: now_ms(),
        };
        if self.queue.try_send(seen).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Subscribes to the change feed (JSON objects, one per change).
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<String> {
        self.changes.subscribe()
    }

    /// Turns true when the node stops.
    pub(crate) fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    fn announce(&self, change: serde_json::Value) {
        // No subscriber is not an error.
        let _ = self.changes.send(change.to_string());
    }

    /// The lowest epoch kept for a chain whose current epoch is `current`.
    pub(crate) fn floor(&self, current: u64) -> u64 {
        current.saturating_sub(self.retention_epochs - 1)
    }

    /// Writes queued sightings of epochs that are not past the retention.
    fn write_quotes(
        &self,
        batch: &[QuoteSeen],
        snap: Option<&ChainSnapshot>,
    ) -> rusqlite::Result<()> {
        // Without a view of L1 every quote is refused (chain_unknown) and its epoch cannot be
        // checked against the retention: nothing worth keeping.
        let Some(current) = snap.map(ChainSnapshot::current_epoch) else {
            return Ok(());
        };
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        let floor = self.floor(current);
        let mut known = self.recorded.lock();
        known.retain(|epoch, _| *epoch >= floor);
        // Per epoch of this batch: quotes recorded so far and sightings past the cap.
        let mut epochs: std::collections::BTreeMap<u64, (u64, u64)> = Default::default();
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO quotes (epoch, prover, basis_point_fee, bond, valid_until_slot, path, outcome, stored, seen_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for q in batch {
                // Quotes for epochs that do not exist yet or are no longer kept are not history.
                if q.epoch > current || q.epoch < self.floor(current) {
                    continue;
                }
                let (recorded, not_recorded) = match epochs.entry(q.epoch) {
                    std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::btree_map::Entry::Vacant(e) => {
                        tx.prepare_cached("INSERT OR IGNORE INTO epochs (epoch) VALUES (?1)")?
                            .execute(params![q.epoch])?;
                        let recorded = match known.get(&q.epoch) {
                            Some(n) => *n,
                            None => tx
                                .prepare_cached("SELECT COUNT(*) FROM quotes WHERE epoch = ?1")?
                                .query_row(params![q.epoch], |r| r.get(0))?,
                        };
                        e.insert((recorded, 0))
                    }
                };
                if *recorded >= MAX_QUOTES_PER_EPOCH {
                    *not_recorded += 1;
                    continue;
                }
                insert.execute(params![
                    q.epoch,
                    hex_addr(&q.prover),
                    q.basis_point_fee,
                    q.bond.to_string(),
                    q.valid_until_slot,
                    path_label(q.path),
                    q.outcome,
                    q.stored,
                    q.seen_ms
                ])?;
                *recorded += 1;
            }
        }
        for (epoch, (_, not_recorded)) in &epochs {
            if *not_recorded > 0 {
                tx.execute(
                    "UPDATE epochs SET quotes_not_recorded = quotes_not_recorded + ?2 WHERE epoch = ?1",
                    params![epoch, not_recorded],
                )?;
            }
        }
        tx.commit()?;
        drop(conn);
        for (epoch, (recorded, _)) in &epochs {
            known.insert(*epoch, *recorded);
        }
        drop(known);
        for epoch in epochs.into_keys() {
            self.announce(serde_json::json!({ "type": "quote", "epoch": epoch }));
        }
        Ok(())
    }

    /// Records what the snapshot tells about epochs (block ranges, fees) and drops what is past
    /// the retention.
    fn observe_snapshot(&self, snap: &ChainSnapshot) -> rusqlite::Result<()> {
        let floor = self.floor(snap.current_epoch());
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT OR IGNORE INTO epochs (epoch) VALUES (?1)",
            params![snap.current_epoch()],
        )?;
        for view in snap.candidate_epochs() {
            tx.execute(
                "INSERT OR IGNORE INTO epochs (epoch) VALUES (?1)",
                params![view.epoch],
            )?;
            if let Some(c) = &view.contents {
                tx.execute(
                    "UPDATE epochs SET from_block = ?2, to_block = ?3, total_fees = ?4 WHERE epoch = ?1",
                    params![
                        view.epoch,
                        u64::try_from(c.init_block).unwrap_or(u64::MAX),
                        u64::try_from(c.final_block).unwrap_or(u64::MAX),
                        c.total_fees.to_string()
                    ],
                )?;
            }
        }
        tx.execute("DELETE FROM quotes WHERE epoch < ?1", params![floor])?;
        tx.execute("DELETE FROM l1_events WHERE epoch < ?1", params![floor])?;
        tx.execute("DELETE FROM epochs WHERE epoch < ?1", params![floor])?;
        tx.commit()
    }

    /// Where the next L1 event read starts (`None` on an empty history).
    fn l1_cursor(&self) -> rusqlite::Result<Option<u64>> {
        self.conn
            .lock()
            .query_row("SELECT value FROM meta WHERE key = 'l1_cursor'", [], |r| {
                r.get(0)
            })
            .optional()
    }

    /// The last L1 block read and its hash, when known.
    fn l1_cursor_block(&self) -> rusqlite::Result<Option<(u64, String)>> {
        self.conn
            .lock()
            .query_row(
                "SELECT number, hash FROM l1_cursor_block WHERE id = 0",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
    }

    /// Forgets the L1 events of blocks `from..` and moves the cursor back to `from` (a reorg
    /// replaced blocks already read).
    fn rewind_l1(&self, from: u64) -> rusqlite::Result<()> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM l1_events WHERE l1_block >= ?1", params![from])?;
        tx.execute("DELETE FROM l1_cursor_block", [])?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('l1_cursor', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![from],
        )?;
        tx.commit()
    }

    /// Stores events of L1 blocks up to `next_cursor - 1` and moves the cursor, atomically,
    /// with the hash of block `next_cursor - 1` when known (checked on the next read).
    fn apply_l1(
        &self,
        events: &[MarketEvent],
        next_cursor: u64,
        last_hash: Option<B256>,
    ) -> rusqlite::Result<()> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        for e in events {
            tx.execute(
                "INSERT OR IGNORE INTO l1_events
                 (tx_hash, log_index, l1_block, kind, epoch, prover, amount, basis_point_fee, proposer, from_block, to_block, through_epoch)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    format!("{:#x}", e.tx_hash),
                    e.log_index,
                    e.l1_block,
                    e.kind.as_str(),
                    e.epoch,
                    e.prover.as_ref().map(hex_addr),
                    e.amount.map(|a| a.to_string()),
                    e.basis_point_fee,
                    e.proposer.as_ref().map(hex_addr),
                    e.blocks.map(|b| b.0),
                    e.blocks.map(|b| b.1),
                    e.through_epoch,
                ],
            )?;
            tx.execute(
                "INSERT OR IGNORE INTO epochs (epoch) VALUES (?1)",
                params![e.epoch],
            )?;
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('l1_cursor', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![next_cursor],
        )?;
        match last_hash {
            Some(hash) => tx.execute(
                "INSERT INTO l1_cursor_block (id, number, hash) VALUES (0, ?1, ?2)
                 ON CONFLICT(id) DO UPDATE SET number = excluded.number, hash = excluded.hash",
                params![next_cursor.saturating_sub(1), format!("{hash:#x}")],
            )?,
            None => tx.execute("DELETE FROM l1_cursor_block", [])?,
        };
        tx.commit()?;
        drop(conn);
        for e in events {
            self.announce(serde_json::json!({ "type": e.kind.as_str(), "epoch": e.epoch }));
        }
        Ok(())
    }

    /// Reads the L1 events since the cursor, in chunks, up to the snapshot's block.
    async fn sync_l1(&self, chain: &dyn ChainView, latest: u64, timeout: Duration) {
        let mut cursor = match self.l1_cursor() {
            Ok(Some(c)) => c,
            Ok(None) => latest.saturating_sub(INITIAL_LOOKBACK_BLOCKS),
            Err(e) => {
                tracing::warn!(error = %e, "history: cannot read the L1 cursor");
                return;
            }
        };
        match self.reorged_under_cursor(chain, timeout).await {
            Ok(Some(from)) => cursor = from,
            Ok(None) => {}
            Err(why) => {
                tracing::warn!(error = %why, "history: cannot check the L1 cursor's block; retrying");
                return;
            }
        }
        while cursor <= latest {
            let to = latest.min(cursor.saturating_add(L1_CHUNK_BLOCKS - 1));
            let hash_before = self.hash_of(chain, to, timeout).await;
            let events = match tokio::time::timeout(timeout, chain.market_events(cursor, to)).await
            {
                Ok(Ok(events)) => events,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, from = cursor, to, "history: L1 events read failed; retrying");
                    return;
                }
                Err(_) => {
                    tracing::warn!(
                        from = cursor,
                        to,
                        "history: L1 events read timed out; retrying"
                    );
                    return;
                }
            };
            let hash_after = self.hash_of(chain, to, timeout).await;
            if hash_before != hash_after {
                // The chain moved under the read: read again on the next tick.
                tracing::info!(
                    block = to,
                    "history: L1 block changed while reading; retrying"
                );
                return;
            }
            if let Err(e) = self.apply_l1(&events, to + 1, hash_after) {
                tracing::warn!(error = %e, "history: cannot store L1 events");
                return;
            }
            cursor = to + 1;
        }
    }

    async fn hash_of(&self, chain: &dyn ChainView, number: u64, timeout: Duration) -> Option<B256> {
        match tokio::time::timeout(timeout, chain.block_hash(number)).await {
            Ok(Ok(hash)) => hash,
            _ => None,
        }
    }

    /// When the block under the cursor is no longer the one read (an L1 reorg), forgets the
    /// events of the last [`REORG_REWIND_BLOCKS`] blocks and returns where to read again from.
    async fn reorged_under_cursor(
        &self,
        chain: &dyn ChainView,
        timeout: Duration,
    ) -> Result<Option<u64>, String> {
        let Some((number, stored)) = self.l1_cursor_block().map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let current = match tokio::time::timeout(timeout, chain.block_hash(number)).await {
            Ok(Ok(hash)) => hash,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("timed out".into()),
        };
        let Some(current) = current else {
            // Past the head now (the chain got shorter) or unknown to this view.
            return Ok(None);
        };
        if format!("{current:#x}") == stored {
            return Ok(None);
        }
        let from = number.saturating_sub(REORG_REWIND_BLOCKS - 1);
        tracing::warn!(
            block = number,
            was = %stored,
            now = %current,
            rewind_to = from,
            "history: L1 reorg under the cursor; reading the last blocks again"
        );
        self.rewind_l1(from).map_err(|e| e.to_string())?;
        Ok(Some(from))
    }

    /// The history task: writes queued quotes, and on each tick records the snapshot and reads
    /// new L1 events. Ends when `stop` turns true.
    pub(crate) async fn run(
        self: Arc<Self>,
        chain: Arc<dyn ChainView>,
        snapshot: impl Fn() -> Option<Arc<ChainSnapshot>> + Send + 'static,
        status: impl Fn() -> serde_json::Value + Send + 'static,
        interval: Duration,
        timeout: Duration,
        mut stop: watch::Receiver<bool>,
    ) {
        let Some(mut rx) = self.queue_rx.lock().take() else {
            return; // already running
        };
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_block = None;
        // Sightings are written in batches at most every WRITE_EVERY (or as soon as a batch is
        // full): each SQLite transaction has a fixed cost that a quote at a time would pay per
        // quote, and the explorer does not need them sooner.
        let mut pending: Vec<QuoteSeen> = Vec::new();
        let mut due: Option<tokio::time::Instant> = None;
        loop {
            let flush_at = due.unwrap_or_else(|| tokio::time::Instant::now() + WRITE_EVERY);
            tokio::select! {
                received = rx.recv(), if pending.len() < WRITE_BATCH => {
                    let Some(seen) = received else {
                        self.write_pending(&mut pending, snapshot()).await;
                        return;
                    };
                    pending.push(seen);
                    while pending.len() < WRITE_BATCH {
                        match rx.try_recv() {
                            Ok(q) => pending.push(q),
                            Err(_) => break,
                        }
                    }
                    let now = tokio::time::Instant::now();
                    due = Some(if pending.len() >= WRITE_BATCH {
                        now
                    } else {
                        due.unwrap_or(now + WRITE_EVERY)
                    });
                }
                () = tokio::time::sleep_until(flush_at), if due.is_some() => {
                    due = None;
                    self.write_pending(&mut pending, snapshot()).await;
                }
                _ = tick.tick() => {
                    let Some(snap) = snapshot() else { continue };
                    if last_block != Some(snap.l1_block_number) {
                        last_block = Some(snap.l1_block_number);
                        if let Err(e) = self.observe_snapshot(&snap) {
                            tracing::warn!(error = %e, "history: cannot store the L1 view");
                        }
                        self.sync_l1(chain.as_ref(), snap.l1_block_number, timeout).await;
                    }
                    let mut s = status();
                    s["type"] = "status".into();
                    self.announce(s);
                }
                _ = stop.changed() => {
                    self.write_pending(&mut pending, snapshot()).await;
                    self.stopping.send_replace(true);
                    return;
                }
            }
        }
    }

    /// Writes the queued sightings (see [`Self::run`]).
    async fn write_pending(
        self: &Arc<Self>,
        pending: &mut Vec<QuoteSeen>,
        snap: Option<Arc<ChainSnapshot>>,
    ) {
        if pending.is_empty() {
            return;
        }
        let batch = std::mem::take(pending);
        // SQLite blocks: off the async workers, so that a batch being written never holds up
        // the requests queued behind it.
        let this = self.clone();
        let written =
            tokio::task::spawn_blocking(move || this.write_quotes(&batch, snap.as_deref())).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "history: cannot store quotes"),
            Err(e) => tracing::warn!(error = %e, "history: the writer failed"),
        }
    }

    /// Sightings dropped because the write queue was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    // ------------------------------------------------------------------ queries

    /// The epochs kept, newest first: at most `limit`, below `before` when given.
    pub(crate) fn epochs(
        &self,
        snap: Option<&ChainSnapshot>,
        limit: u64,
        before: Option<u64>,
    ) -> rusqlite::Result<Vec<EpochSummary>> {
        let conn = self.conn.lock();
        let mut stmt =
            conn.prepare("SELECT epoch FROM epochs WHERE epoch < ?1 ORDER BY epoch DESC LIMIT ?2")?;
        let before = before.unwrap_or(u64::MAX).min(i64::MAX as u64);
        let epochs: Vec<u64> = stmt
            .query_map(params![before, limit], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        drop(stmt);
        epochs
            .into_iter()
            .map(|e| summary(&conn, snap, e))
            .collect()
    }

    /// One epoch in full, or `None` when it is not kept.
    pub(crate) fn epoch(
        &self,
        snap: Option<&ChainSnapshot>,
        epoch: u64,
    ) -> rusqlite::Result<Option<EpochDetail>> {
        let conn = self.conn.lock();
        let known: bool = conn
            .query_row(
                "SELECT 1 FROM epochs WHERE epoch = ?1",
                params![epoch],
                |_| Ok(true),
            )
            .optional()?
            .unwrap_or(false);
        if !known {
            return Ok(None);
        }
        let summary = summary(&conn, snap, epoch)?;
        let mut stmt = conn.prepare(
            "SELECT prover, basis_point_fee, bond, valid_until_slot, path, outcome, stored, seen_ms
             FROM quotes WHERE epoch = ?1 ORDER BY id",
        )?;
        let quotes = stmt
            .query_map(params![epoch], |r| {
                Ok(QuoteRow {
                    prover: r.get(0)?,
                    basis_point_fee: r.get(1)?,
                    bond: r.get(2)?,
                    valid_until_slot: r.get(3)?,
                    path: r.get(4)?,
                    outcome: r.get(5)?,
                    accepted: r.get(6)?,
                    seen_ms: r.get(7)?,
                    winner: false,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        drop(stmt);
        let events = events_of(&conn, epoch)?;
        let mut quotes = quotes;
        if let Some(claim) = events.iter().find(|e| e.kind == "claimed") {
            // The winner: the sighting of the claimed quote (prover, fee and bond) that the pool
            // stored, else the last one seen.
            let matches = |q: &QuoteRow| {
                Some(&q.prover) == claim.prover.as_ref()
                    && Some(q.basis_point_fee) == claim.basis_point_fee
                    && Some(&q.bond) == claim.amount.as_ref()
            };
            let index = quotes
                .iter()
                .rposition(|q| matches(q) && q.accepted)
                .or_else(|| quotes.iter().rposition(matches));
            if let Some(i) = index {
                quotes[i].winner = true;
            }
        }
        let not_recorded: u64 = conn.query_row(
            "SELECT quotes_not_recorded FROM epochs WHERE epoch = ?1",
            params![epoch],
            |r| r.get(0),
        )?;
        Ok(Some(EpochDetail {
            summary,
            quotes,
            events,
            quotes_not_recorded: not_recorded,
        }))
    }

    /// Per-prover figures over the epochs kept, most wins first.
    pub(crate) fn provers(&self) -> rusqlite::Result<Vec<ProverRow>> {
        let conn = self.conn.lock();
        let mut rows: std::collections::BTreeMap<String, ProverRow> = Default::default();
        let mut stmt = conn.prepare(
            "SELECT prover, COUNT(*), COUNT(DISTINCT epoch), SUM(stored) FROM quotes GROUP BY prover",
        )?;
        let quoted = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, u64>(1)?,
                r.get::<_, u64>(2)?,
                r.get::<_, u64>(3)?,
            ))
        })?;
        for q in quoted {
            let (prover, quotes, epochs, accepted) = q?;
            let row = rows
                .entry(prover.clone())
                .or_insert_with(|| ProverRow::new(prover));
            row.quotes = quotes;
            row.epochs_quoted = epochs;
            row.quotes_accepted = accepted;
        }
        drop(stmt);
        let mut stmt = conn.prepare(
            "SELECT prover, kind, amount, basis_point_fee, epoch FROM l1_events WHERE prover IS NOT NULL ORDER BY l1_block, log_index",
        )?;
        let events = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<u32>>(3)?,
                r.get::<_, u64>(4)?,
            ))
        })?;
        let mut open_bonds: std::collections::HashMap<(String, u64), U256> = Default::default();
        let mut fee_sum: std::collections::HashMap<String, u64> = Default::default();
        for e in events {
            let (prover, kind, amount, bps, epoch) = e?;
            let amount: U256 = amount.and_then(|a| a.parse().ok()).unwrap_or_default();
            let row = rows
                .entry(prover.clone())
                .or_insert_with(|| ProverRow::new(prover.clone()));
            match MarketEventKind::parse(&kind) {
                Some(MarketEventKind::Claimed) => {
                    row.wins += 1;
                    *fee_sum.entry(prover.clone()).or_default() += u64::from(bps.unwrap_or(0));
                    open_bonds.insert((prover, epoch), amount);
                }
                Some(MarketEventKind::Proven) => {
                    row.proofs += 1;
                    row.rewards += amount;
                    open_bonds.remove(&(prover, epoch));
                }
                Some(MarketEventKind::Slashed) => {
                    row.slashes += 1;
                    row.slashed += amount;
                    open_bonds.remove(&(prover, epoch));
                }
                Some(MarketEventKind::Pruned) | None => {}
            }
        }
        for ((prover, _), bond) in open_bonds {
            if let Some(row) = rows.get_mut(&prover) {
                row.bonds_staked += bond;
            }
        }
        let mut out: Vec<ProverRow> = rows.into_values().collect();
        for row in &mut out {
            if row.wins > 0 {
                row.average_winning_fee_bps =
                    Some(fee_sum.get(&row.prover).copied().unwrap_or(0) as f64 / row.wins as f64);
            }
            if row.epochs_quoted > 0 {
                row.win_rate = Some(row.wins as f64 / row.epochs_quoted as f64);
            }
        }
        out.sort_by(|a, b| b.wins.cmp(&a.wins).then(a.prover.cmp(&b.prover)));
        Ok(out)
    }
}

fn path_label(p: IngestPath) -> &'static str {
    match p {
        IngestPath::Gossip => "gossip",
        IngestPath::Rpc => "http",
        IngestPath::Local => "local",
    }
}

/// One epoch in the list.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EpochSummary {
    pub(crate) epoch: u64,
    /// `open`, `claim_phase`, `unclaimed`, `claimed`, `proven` or `pruned`.
    pub(crate) state: &'static str,
    pub(crate) slashed: bool,
    pub(crate) from_block: Option<u64>,
    pub(crate) to_block: Option<u64>,
    pub(crate) total_fees: Option<String>,
    /// First and last slot of the claim phase.
    pub(crate) claim_phase: Option<(u64, u64)>,
    /// Seconds until the claim phase ends (while it runs).
    pub(crate) claim_phase_ends_in_secs: Option<u64>,
    pub(crate) quotes: u64,
    pub(crate) provers: u64,
    pub(crate) winner: Option<String>,
    pub(crate) winning_fee_bps: Option<u32>,
    pub(crate) bond: Option<String>,
    pub(crate) prover_reward: Option<String>,
}

/// A quote sighting.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QuoteRow {
    prover: String,
    basis_point_fee: u32,
    bond: String,
    valid_until_slot: u64,
    /// `gossip`, `http` or `local`.
    path: String,
    /// The pool's outcome code (`added`, `replaced`, … or a reject reason).
    outcome: String,
    accepted: bool,
    seen_ms: u64,
    winner: bool,
}

/// An L1 event of an epoch.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventRow {
    kind: String,
    prover: Option<String>,
    amount: Option<String>,
    basis_point_fee: Option<u32>,
    proposer: Option<String>,
    from_block: Option<u64>,
    to_block: Option<u64>,
    tx_hash: String,
    l1_block: u64,
}

/// One epoch's auction in full.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EpochDetail {
    #[serde(flatten)]
    summary: EpochSummary,
    quotes: Vec<QuoteRow>,
    events: Vec<EventRow>,
    quotes_not_recorded: u64,
}

/// A prover's figures.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProverRow {
    prover: String,
    quotes: u64,
    quotes_accepted: u64,
    epochs_quoted: u64,
    wins: u64,
    win_rate: Option<f64>,
    average_winning_fee_bps: Option<f64>,
    proofs: u64,
    #[serde(with = "u256_dec")]
    rewards: U256,
    #[serde(with = "u256_dec")]
    bonds_staked: U256,
    slashes: u64,
    #[serde(with = "u256_dec")]
    slashed: U256,
}

impl ProverRow {
    fn new(prover: String) -> Self {
        Self {
            prover,
            quotes: 0,
            quotes_accepted: 0,
            epochs_quoted: 0,
            wins: 0,
            win_rate: None,
            average_winning_fee_bps: None,
            proofs: 0,
            rewards: U256::ZERO,
            bonds_staked: U256::ZERO,
            slashes: 0,
            slashed: U256::ZERO,
        }
    }
}

mod u256_dec {
    use alloy_primitives::U256;
    pub(super) fn serialize<S: serde::Serializer>(v: &U256, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }
}

fn events_of(conn: &Connection, epoch: u64) -> rusqlite::Result<Vec<EventRow>> {
    let mut stmt = conn.prepare(
        "SELECT kind, prover, amount, basis_point_fee, proposer, from_block, to_block, tx_hash, l1_block
         FROM l1_events
         WHERE epoch = ?1
            OR (kind = 'pruned' AND epoch < ?1 AND COALESCE(through_epoch, epoch) >= ?1)
         ORDER BY l1_block, log_index",
    )?;
    stmt.query_map(params![epoch], |r| {
        Ok(EventRow {
            kind: r.get(0)?,
            prover: r.get(1)?,
            amount: r.get(2)?,
            basis_point_fee: r.get(3)?,
            proposer: r.get(4)?,
            from_block: r.get(5)?,
            to_block: r.get(6)?,
            tx_hash: r.get(7)?,
            l1_block: r.get(8)?,
        })
    })?
    .collect()
}

fn summary(
    conn: &Connection,
    snap: Option<&ChainSnapshot>,
    epoch: u64,
) -> rusqlite::Result<EpochSummary> {
    let (from_block, to_block, total_fees): (Option<u64>, Option<u64>, Option<String>) = conn
        .query_row(
            "SELECT from_block, to_block, total_fees FROM epochs WHERE epoch = ?1",
            params![epoch],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?
        .unwrap_or((None, None, None));
    let (quotes, provers): (u64, u64) = conn.query_row(
        "SELECT COUNT(*), COUNT(DISTINCT prover) FROM quotes WHERE epoch = ?1",
        params![epoch],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let events = events_of(conn, epoch)?;
    let has = |k: &str| events.iter().any(|e| e.kind == k);
    let claim = events.iter().find(|e| e.kind == "claimed");
    let proof = events.iter().find(|e| e.kind == "proven");
    let slashed = has("slashed");
    let claim_phase = snap.map(|s| {
        let start = s.time.epoch_start_slot(epoch.saturating_add(1));
        (start, s.time.claim_phase_end(epoch).saturating_sub(1))
    });
    let state = if proof.is_some() {
        "proven"
    } else if has("pruned") || slashed {
        "pruned"
    } else if claim.is_some() {
        "claimed"
    } else {
        match (snap, claim_phase) {
            (Some(s), Some((start, last))) if s.current_slot >= start && s.current_slot <= last => {
                "claim_phase"
            }
            (Some(s), Some((_, last))) if s.current_slot > last => "unclaimed",
            _ => "open",
        }
    };
    let claim_phase_ends_in_secs = match (snap, claim_phase) {
        (Some(s), Some((_, last))) if state == "claim_phase" => {
            let end_slot = last + 1;
            let genesis = s
                .l1_timestamp
                .saturating_sub(s.current_slot.saturating_mul(s.time.slot_duration));
            let end = genesis.saturating_add(end_slot.saturating_mul(s.time.slot_duration));
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(s.l1_timestamp, |d| d.as_secs());
            Some(end.saturating_sub(now.max(s.l1_timestamp)))
        }
        _ => None,
    };
    Ok(EpochSummary {
        epoch,
        state,
        slashed,
        from_block,
        to_block,
        total_fees,
        claim_phase,
        claim_phase_ends_in_secs,
        quotes,
        provers,
        winner: claim.and_then(|c| c.prover.clone()),
        winning_fee_bps: claim.and_then(|c| c.basis_point_fee),
        bond: claim.and_then(|c| c.amount.clone()),
        prover_reward: proof.and_then(|p| p.amount.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use epoch_rfq_pool::{EpochView, TimeParams};

    fn snap(current_slot: u64) -> ChainSnapshot {
        ChainSnapshot {
            chain_id: 1,
            rollup_address: Address::ZERO,
            l1_block_number: 10,
            l1_timestamp: 1_000,
            current_slot,
            time: TimeParams::SANDBOX,
            epoch_to_prove: Some(EpochView::new(7)),
            just_completed_epoch: None,
            min_bond: U256::from(1),
        }
    }

    fn seen(epoch: u64, prover: u8, stored: bool) -> QuoteSeen {
        QuoteSeen {
            epoch,
            prover: Address::repeat_byte(prover),
            basis_point_fee: 100,
            bond: U256::from(5),
            valid_until_slot: 70,
            path: IngestPath::Gossip,
            outcome: if stored { "added" } else { "not_cheaper" },
            stored,
            seen_ms: 0,
        }
    }

    #[test]
    fn sightings_are_capped_per_epoch_and_kept_only_inside_the_retention() {
        let h = History::open(None, 3).expect("in-memory history");
        let s = snap(65); // current epoch 8: epochs 6..=8 kept
        let mut batch: Vec<QuoteSeen> = (0..MAX_QUOTES_PER_EPOCH + 5)
            .map(|i| seen(7, (i % 200) as u8, i == 0))
            .collect();
        batch.push(seen(9, 1, true)); // not started
        batch.push(seen(5, 1, true)); // past the retention
        h.write_quotes(&[seen(7, 1, false)], None)
            .expect("write without a view of L1");
        assert!(
            h.epoch(Some(&s), 7).expect("read").is_none(),
            "nothing kept"
        );
        h.write_quotes(&batch, Some(&s)).expect("write");
        let d = h.epoch(Some(&s), 7).expect("read").expect("epoch 7 kept");
        assert_eq!(d.quotes.len() as u64, MAX_QUOTES_PER_EPOCH);
        assert_eq!(d.quotes_not_recorded, 5);
        assert!(h.epoch(Some(&s), 9).expect("read").is_none());
        assert!(h.epoch(Some(&s), 5).expect("read").is_none());
        let p = h.provers().expect("provers");
        let first = p
            .iter()
            .find(|r| r.prover == hex_addr(&Address::repeat_byte(0)));
        assert_eq!(first.map(|r| r.quotes_accepted), Some(1));
        // A later batch finds the epoch full too: counted, not recorded.
        h.write_quotes(&[seen(7, 3, false), seen(7, 4, false)], Some(&s))
            .expect("write");
        let d = h.epoch(Some(&s), 7).expect("read").expect("epoch 7 kept");
        assert_eq!(d.quotes.len() as u64, MAX_QUOTES_PER_EPOCH);
        assert_eq!(d.quotes_not_recorded, 7);
    }

    #[test]
    fn a_claim_stakes_a_bond_until_it_is_proven_or_slashed() {
        let h = History::open(None, 10).expect("in-memory history");
        let s = snap(65);
        let prover = Address::repeat_byte(7);
        let claim = |epoch, l1_block| MarketEvent {
            kind: MarketEventKind::Claimed,
            epoch,
            prover: Some(prover),
            amount: Some(U256::from(40)),
            basis_point_fee: Some(150),
            proposer: None,
            blocks: None,
            through_epoch: None,
            tx_hash: B256::repeat_byte(l1_block as u8),
            l1_block,
            log_index: 0,
        };
        let slash = MarketEvent {
            kind: MarketEventKind::Slashed,
            ..claim(5, 4)
        };
        h.apply_l1(&[claim(5, 1), claim(6, 2), slash], 5, None)
            .expect("apply");
        let rows = h.provers().expect("provers");
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!((r.wins, r.slashes, r.proofs), (2, 1, 0));
        assert_eq!(r.bonds_staked, U256::from(40), "epoch 6's bond only");
        assert_eq!(r.slashed, U256::from(40));
        assert_eq!(r.average_winning_fee_bps, Some(150.0));
        assert_eq!(h.l1_cursor().expect("cursor"), Some(5));
        // Re-reading the same blocks (e.g. after a crash before the cursor moved) adds nothing.
        h.apply_l1(&[claim(6, 2)], 5, None).expect("apply again");
        assert_eq!(h.provers().expect("provers")[0].wins, 2);
        let e5 = h.epoch(Some(&s), 5).expect("read").expect("epoch 5");
        assert_eq!((e5.summary.state, e5.summary.slashed), ("pruned", true));
        let e6 = h.epoch(Some(&s), 6).expect("read").expect("epoch 6");
        assert_eq!(e6.summary.state, "claimed");
    }

    /// A chain whose blocks and claim events the test rewrites, as a reorg would.
    #[derive(Default)]
    struct ReorgChain {
        hashes: Mutex<std::collections::HashMap<u64, B256>>,
        events: Mutex<Vec<MarketEvent>>,
    }

    impl ChainView for ReorgChain {
        fn snapshot(
            &self,
        ) -> futures::future::BoxFuture<'_, Result<ChainSnapshot, crate::chain::ChainViewError>>
        {
            Box::pin(async { Err(crate::chain::ChainViewError::msg("no snapshots here")) })
        }

        fn l1_contract_addresses(&self) -> crate::types::L1ContractAddresses {
            crate::types::L1ContractAddresses::default()
        }

        fn market_events(
            &self,
            from: u64,
            to: u64,
        ) -> futures::future::BoxFuture<'_, Result<Vec<MarketEvent>, crate::chain::ChainViewError>>
        {
            let events = self
                .events
                .lock()
                .iter()
                .filter(|e| (from..=to).contains(&e.l1_block))
                .cloned()
                .collect();
            Box::pin(async move { Ok(events) })
        }

        fn block_hash(
            &self,
            number: u64,
        ) -> futures::future::BoxFuture<'_, Result<Option<B256>, crate::chain::ChainViewError>>
        {
            let hash = self.hashes.lock().get(&number).copied();
            Box::pin(async move { Ok(hash) })
        }
    }

    #[tokio::test]
    async fn a_reorg_under_the_cursor_rewinds_and_replaces_the_events() {
        let h = History::open(None, 10).expect("in-memory history");
        let chain = ReorgChain::default();
        let claim = |prover: u8, l1_block: u64, tx: u8| MarketEvent {
            kind: MarketEventKind::Claimed,
            epoch: 5,
            prover: Some(Address::repeat_byte(prover)),
            amount: Some(U256::from(40)),
            basis_point_fee: Some(150),
            proposer: None,
            blocks: None,
            through_epoch: None,
            tx_hash: B256::repeat_byte(tx),
            l1_block,
            log_index: 0,
        };
        let timeout = Duration::from_secs(1);
        chain
            .hashes
            .lock()
            .extend((0..=10).map(|n| (n, B256::repeat_byte(1))));
        chain.events.lock().push(claim(7, 8, 0xaa));
        h.sync_l1(&chain, 10, timeout).await;
        let wins = |h: &History| -> Vec<(String, u64)> {
            h.provers()
                .expect("provers")
                .into_iter()
                .map(|r| (r.prover, r.wins))
                .collect()
        };
        assert_eq!(wins(&h), vec![(hex_addr(&Address::repeat_byte(7)), 1)]);
        // Blocks 8..=10 are replaced; in the new chain another prover's claim is in block 9.
        chain
            .hashes
            .lock()
            .extend((8..=10).map(|n| (n, B256::repeat_byte(2))));
        *chain.events.lock() = vec![claim(9, 9, 0xbb)];
        h.sync_l1(&chain, 10, timeout).await;
        assert_eq!(
            wins(&h),
            vec![(hex_addr(&Address::repeat_byte(9)), 1)],
            "the reorged-out claim is gone, the new one is in"
        );
        assert_eq!(h.l1_cursor().expect("cursor"), Some(11));
        // Same chain again: nothing changes.
        h.sync_l1(&chain, 10, timeout).await;
        assert_eq!(wins(&h).len(), 1);
    }
}
