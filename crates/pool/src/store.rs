//! The quote store: one quote per (epoch, prover), ranked per epoch, with hard caps.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use alloy_primitives::{Address, U256};
use epoch_rfq_quote::VerifiedQuote;
use parking_lot::RwLock;

/// Bytes charged against [`PoolConfig::max_bytes`] for each stored quote.
///
/// It is the measured heap footprint of one stored quote (the `Arc`'d quote with its id, the
/// ranking entry, the per-prover entry and the maps' slack), rounded up: `cargo bench -p
/// epoch-rfq-pool --bench pool -- bytes_per_quote` measures it with a counting allocator (see
/// the crate README). Charging a fixed, measured figure keeps the accounting O(1) and exact
/// enough for a cap whose purpose is bounding memory under spam.
pub const STORED_QUOTE_BYTES: usize = 768;

/// The pool's hard caps. The defaults and the reasons behind them are in the crate README.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Epochs kept at once. Validation accepts only two epochs (the epoch to prove and the one
    /// just completed); the rest is slack for an L1 view that lags a block behind eviction.
    /// A quote for a new epoch beyond the cap evicts the oldest epoch when it is newer than it,
    /// and is rejected otherwise (older epochs are the first to stop being claimable).
    pub max_epochs: usize,
    /// Quotes kept per epoch (= provers per epoch). Over the cap, a quote cheaper than the
    /// dearest one evicts it; others are rejected, so the best quotes always survive spam.
    pub max_quotes_per_epoch: usize,
    /// Total bytes (each quote counted as [`STORED_QUOTE_BYTES`]). Over the cap, the same rule
    /// as the per-epoch cap applies within the quote's epoch.
    pub max_bytes: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_epochs: 4,
            max_quotes_per_epoch: 1024,
            max_bytes: 2 * 1024 * 1024,
        }
    }
}

/// A cap that stopped a quote from being stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CapacityReject {
    /// The epoch holds `limit` quotes, all at least as good as this one.
    #[error("pool: epoch {epoch} already holds {limit} quotes, none dearer than this one")]
    EpochFull {
        /// The epoch.
        epoch: u64,
        /// [`PoolConfig::max_quotes_per_epoch`].
        limit: usize,
    },
    /// The byte cap is reached and no dearer quote of the same epoch can be evicted.
    #[error("pool: byte cap of {limit} bytes reached, no dearer quote of epoch {epoch} to evict")]
    BytesFull {
        /// The epoch.
        epoch: u64,
        /// [`PoolConfig::max_bytes`].
        limit: usize,
    },
    /// The pool keeps `limit` epochs, all newer than this quote's.
    #[error("pool: already keeps {limit} epochs, all newer than epoch {epoch}")]
    TooManyEpochs {
        /// The epoch.
        epoch: u64,
        /// [`PoolConfig::max_epochs`].
        limit: usize,
    },
    /// `epochNumber` does not fit in 64 bits (cannot be a real epoch).
    #[error("epochNumber: {got} is out of range")]
    EpochOutOfRange {
        /// The quote's epoch.
        got: U256,
    },
}

impl CapacityReject {
    /// Stable code (see [`crate::RejectReason::code`]).
    pub fn code(&self) -> &'static str {
        match self {
            Self::EpochFull { .. } => "pool_full_epoch",
            Self::BytesFull { .. } => "pool_full_bytes",
            Self::TooManyEpochs { .. } => "pool_too_many_epochs",
            Self::EpochOutOfRange { .. } => "epoch_out_of_range",
        }
    }
}

/// What [`QuotePool::insert`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored; it is the prover's first quote for the epoch.
    Added,
    /// Stored after evicting the dearest quote of the epoch (a cap was reached).
    AddedEvicting {
        /// The quote evicted.
        evicted: VerifiedQuote,
    },
    /// Stored after evicting the whole oldest epoch (the epoch cap was reached).
    AddedEvictingEpoch {
        /// The epoch evicted.
        epoch: u64,
        /// How many quotes it held.
        quotes: usize,
    },
    /// Stored in place of the prover's previous quote for the epoch, which was dearer.
    Replaced {
        /// The quote replaced.
        previous: VerifiedQuote,
    },
    /// The same quote (same id) is already stored.
    Duplicate,
    /// The prover already has a quote for the epoch that is at least as good (lower fee, or the
    /// same fee and a validUntilSlot at least as late); it is kept.
    NotCheaper {
        /// The quote kept.
        kept: VerifiedQuote,
    },
    /// Not stored: a cap.
    Rejected(CapacityReject),
}

impl InsertOutcome {
    /// True if the quote is now in the pool.
    pub fn is_stored(&self) -> bool {
        matches!(
            self,
            Self::Added
                | Self::AddedEvicting { .. }
                | Self::AddedEvictingEpoch { .. }
                | Self::Replaced { .. }
        )
    }

    /// Stable snake_case label (metrics).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::AddedEvicting { .. } => "added_evicting",
            Self::AddedEvictingEpoch { .. } => "added_evicting_epoch",
            Self::Replaced { .. } => "replaced",
            Self::Duplicate => "duplicate",
            Self::NotCheaper { .. } => "not_cheaper",
            Self::Rejected(c) => c.code(),
        }
    }
}

/// Sizes and counters for metrics (counters are monotonic since the pool was created).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Quotes stored now.
    pub quotes: usize,
    /// Epochs with at least one quote.
    pub epochs: usize,
    /// Bytes charged now (`quotes × STORED_QUOTE_BYTES`).
    pub bytes: usize,
    /// Quotes stored as a prover's first for its epoch (including those that evicted another).
    pub added: u64,
    /// Quotes that replaced a dearer one of the same prover.
    pub replaced: u64,
    /// Quotes already stored.
    pub duplicates: u64,
    /// Quotes not stored because the prover already had a better one.
    pub not_cheaper: u64,
    /// Quotes refused by a cap.
    pub rejected_capacity: u64,
    /// Quotes evicted to make room (dearest of an epoch, or a whole old epoch).
    pub evicted_for_room: u64,
    /// Quotes removed by [`QuotePool::retain_from`] / [`QuotePool::remove_epoch`].
    pub evicted_epochs: u64,
    /// Quotes removed by [`QuotePool::remove_expired`].
    pub expired: u64,
    /// Quotes removed by [`QuotePool::retain_valid`]: the chain changed under them (a reorg).
    pub invalidated: u64,
}

/// Rank of a quote within its epoch: lower is better. Lowest fee; ties earliest arrival
/// (milliseconds), then larger bond; `seq` (insertion counter) makes keys unique.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct RankKey {
    fee: u32,
    arrival_ms: u64,
    bond: Reverse<U256>,
    seq: u64,
}

#[derive(Default)]
struct EpochQuotes {
    /// Best first: `quotes(epoch)` is an in-order walk, `best` its first entry.
    ranked: BTreeMap<RankKey, VerifiedQuote>,
    /// One entry per prover, pointing into `ranked`.
    by_prover: HashMap<Address, RankKey>,
    /// Cached first entry of `ranked`, so `best` is O(1) under the read lock.
    best: Option<VerifiedQuote>,
}

impl EpochQuotes {
    fn refresh_best(&mut self) {
        self.best = self.ranked.first_key_value().map(|(_, q)| q.clone());
    }

    fn remove_key(&mut self, key: &RankKey) -> Option<VerifiedQuote> {
        let q = self.ranked.remove(key)?;
        self.by_prover.remove(&q.fields().prover);
        Some(q)
    }
}

#[derive(Default)]
struct Inner {
    epochs: BTreeMap<u64, EpochQuotes>,
    len: usize,
    seq: u64,
    stats: PoolStats,
}

/// The quote pool (SPEC §5.1): per (epoch, prover) the prover's best quote, ranked per epoch.
///
/// Takes [`VerifiedQuote`]s only: run the [validation pipeline](crate::validate_quote) first,
/// outside the lock.
///
/// # Concurrency
///
/// A `parking_lot::RwLock` around the whole store: the node has one logical writer at a time
/// (gossip task, RPC handlers) and many readers (RPC queries, the proposer, metrics). Critical
/// sections are short and allocation-light (a few map operations and an `Arc` clone; signature
/// checks happen before the lock), so writers never wait long, and readers run in parallel.
/// A lock-free snapshot scheme (copy-on-write) would make every insert copy an epoch, which the
/// insert-rate target (≥ 1,000,000/s) rules out. `parking_lot`'s lock is fair enough that
/// readers cannot starve the writer.
pub struct QuotePool {
    config: PoolConfig,
    inner: RwLock<Inner>,
}

impl Default for QuotePool {
    fn default() -> Self {
        Self::new(PoolConfig::default())
    }
}

impl std::fmt::Debug for QuotePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuotePool")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish()
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Whether `new` should replace `old` for the same (epoch, prover): lower fee, or same fee and
/// a later `validUntilSlot` (on a full tie the earlier arrival, i.e. `old`, stays).
fn better_for_prover(new: &VerifiedQuote, old: &VerifiedQuote) -> bool {
    let (n, o) = (new.fields(), old.fields());
    n.basis_point_fee < o.basis_point_fee
        || (n.basis_point_fee == o.basis_point_fee && n.valid_until_slot > o.valid_until_slot)
}

impl QuotePool {
    /// An empty pool with these caps (each cap is raised to at least 1).
    pub fn new(config: PoolConfig) -> Self {
        let config = PoolConfig {
            max_epochs: config.max_epochs.max(1),
            max_quotes_per_epoch: config.max_quotes_per_epoch.max(1),
            max_bytes: config.max_bytes.max(STORED_QUOTE_BYTES),
        };
        Self {
            config,
            inner: RwLock::new(Inner::default()),
        }
    }

    /// The caps in force.
    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// Inserts a verified quote, arriving now (wall clock, milliseconds).
    pub fn insert(&self, quote: VerifiedQuote) -> InsertOutcome {
        self.insert_at(quote, now_ms())
    }

    /// Inserts a verified quote with an explicit arrival time (milliseconds; used for ranking
    /// ties and by tests).
    pub fn insert_at(&self, quote: VerifiedQuote, arrival_ms: u64) -> InsertOutcome {
        let Ok(epoch) = u64::try_from(quote.fields().epoch_number) else {
            let mut inner = self.inner.write();
            inner.stats.rejected_capacity += 1;
            return InsertOutcome::Rejected(CapacityReject::EpochOutOfRange {
                got: quote.fields().epoch_number,
            });
        };
        let mut inner = self.inner.write();
        let outcome = Self::insert_locked(&self.config, &mut inner, epoch, quote, arrival_ms);
        let s = &mut inner.stats;
        match &outcome {
            InsertOutcome::Added => s.added += 1,
            InsertOutcome::AddedEvicting { .. } => {
                s.added += 1;
                s.evicted_for_room += 1;
            }
            InsertOutcome::AddedEvictingEpoch { quotes, .. } => {
                s.added += 1;
                s.evicted_for_room += *quotes as u64;
            }
            InsertOutcome::Replaced { .. } => s.replaced += 1,
            InsertOutcome::Duplicate => s.duplicates += 1,
            InsertOutcome::NotCheaper { .. } => s.not_cheaper += 1,
            InsertOutcome::Rejected(_) => s.rejected_capacity += 1,
        }
        outcome
    }

    fn insert_locked(
        config: &PoolConfig,
        inner: &mut Inner,
        epoch: u64,
        quote: VerifiedQuote,
        arrival_ms: u64,
    ) -> InsertOutcome {
        let prover = quote.fields().prover;
        inner.seq += 1;
        let key = RankKey {
            fee: quote.fields().basis_point_fee,
            arrival_ms,
            bond: Reverse(quote.fields().bond_amount),
            seq: inner.seq,
        };

        // Same prover already in this epoch: dedup, or replace if better. The count does not
        // change, so no cap applies.
        if let Some(eq) = inner.epochs.get_mut(&epoch)
            && let Some(old_key) = eq.by_prover.get(&prover).copied()
        {
            // `by_prover` and `ranked` are always updated together, so the entry exists.
            if let Some(old) = eq.ranked.get(&old_key) {
                if old.id() == quote.id() {
                    return InsertOutcome::Duplicate;
                }
                if !better_for_prover(&quote, old) {
                    return InsertOutcome::NotCheaper { kept: old.clone() };
                }
            }
            let Some(previous) = eq.ranked.remove(&old_key) else {
                return InsertOutcome::Duplicate;
            };
            eq.ranked.insert(key, quote);
            eq.by_prover.insert(prover, key);
            eq.refresh_best();
            return InsertOutcome::Replaced { previous };
        }

        // A new epoch beyond the epoch cap: evict the oldest epoch if this one is newer.
        let mut evicted_epoch = None;
        if !inner.epochs.contains_key(&epoch) && inner.epochs.len() >= config.max_epochs {
            match inner.epochs.first_key_value().map(|(e, _)| *e) {
                Some(oldest) if oldest < epoch => {
                    if let Some(eq) = inner.epochs.remove(&oldest) {
                        inner.len -= eq.ranked.len();
                        evicted_epoch = Some((oldest, eq.ranked.len()));
                    }
                }
                _ => {
                    return InsertOutcome::Rejected(CapacityReject::TooManyEpochs {
                        epoch,
                        limit: config.max_epochs,
                    });
                }
            }
        }

        // A new (epoch, prover): make room if a cap is reached.
        let epoch_len = inner.epochs.get(&epoch).map_or(0, |eq| eq.ranked.len());
        let epoch_full = epoch_len >= config.max_quotes_per_epoch;
        let bytes_full = (inner.len + 1) * STORED_QUOTE_BYTES > config.max_bytes;
        let mut evicted = None;
        if epoch_full || bytes_full {
            let dearest = inner
                .epochs
                .get(&epoch)
                .and_then(|eq| eq.ranked.last_key_value())
                .map(|(k, _)| *k);
            match dearest {
                Some(dk) if key < dk => {
                    if let Some(eq) = inner.epochs.get_mut(&epoch) {
                        evicted = eq.remove_key(&dk);
                        inner.len -= 1;
                    }
                }
                _ => {
                    let reject = if epoch_full {
                        CapacityReject::EpochFull {
                            epoch,
                            limit: config.max_quotes_per_epoch,
                        }
                    } else {
                        CapacityReject::BytesFull {
                            epoch,
                            limit: config.max_bytes,
                        }
                    };
                    return InsertOutcome::Rejected(reject);
                }
            }
        }

        let eq = inner.epochs.entry(epoch).or_default();
        eq.ranked.insert(key, quote);
        eq.by_prover.insert(prover, key);
        eq.refresh_best();
        inner.len += 1;
        match (evicted, evicted_epoch) {
            (Some(evicted), _) => InsertOutcome::AddedEvicting { evicted },
            (None, Some((epoch, quotes))) => InsertOutcome::AddedEvictingEpoch { epoch, quotes },
            (None, None) => InsertOutcome::Added,
        }
    }

    /// The best quote for `epoch` (lowest fee; ties earliest arrival, then larger bond). O(1).
    pub fn best(&self, epoch: u64) -> Option<VerifiedQuote> {
        self.inner.read().epochs.get(&epoch)?.best.clone()
    }

    /// All quotes for `epoch`, best first (the order of [`best`](Self::best); stable: it only
    /// depends on the quotes and their arrival order).
    pub fn quotes(&self, epoch: u64) -> Vec<VerifiedQuote> {
        self.inner
            .read()
            .epochs
            .get(&epoch)
            .map(|eq| eq.ranked.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The quote stored for (`epoch`, `prover`).
    pub fn get(&self, epoch: u64, prover: Address) -> Option<VerifiedQuote> {
        let inner = self.inner.read();
        let eq = inner.epochs.get(&epoch)?;
        eq.ranked.get(eq.by_prover.get(&prover)?).cloned()
    }

    /// Number of quotes stored for `epoch`.
    pub fn epoch_len(&self, epoch: u64) -> usize {
        self.inner
            .read()
            .epochs
            .get(&epoch)
            .map_or(0, |eq| eq.ranked.len())
    }

    /// The epochs with quotes, ascending.
    pub fn epochs(&self) -> Vec<u64> {
        self.inner.read().epochs.keys().copied().collect()
    }

    /// Total quotes stored.
    pub fn len(&self) -> usize {
        self.inner.read().len
    }

    /// True if no quote is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every epoch below `epoch` (proven, pruned, claimed or past its claim phase);
    /// returns the number of quotes removed.
    pub fn retain_from(&self, epoch: u64) -> usize {
        let mut inner = self.inner.write();
        let keep = inner.epochs.split_off(&epoch);
        let dropped = std::mem::replace(&mut inner.epochs, keep);
        let removed: usize = dropped.values().map(|eq| eq.ranked.len()).sum();
        inner.len -= removed;
        inner.stats.evicted_epochs += removed as u64;
        drop(inner);
        // The quotes are freed after the lock is released.
        drop(dropped);
        removed
    }

    /// Removes every quote that can no longer be claimed at `current_slot` (its
    /// `validUntilSlot` is below it); returns how many. The node calls it on each L1 refresh: an
    /// expired quote must neither be served to proposers nor keep its prover's fresh quote out
    /// (a replacement only has to beat a *live* quote of the same prover, SPEC §6.4).
    pub fn remove_expired(&self, current_slot: u64) -> usize {
        let slot = U256::from(current_slot);
        self.remove_where(
            |q| q.fields().valid_until_slot < slot,
            |stats| &mut stats.expired,
        )
    }

    /// Keeps only the quotes for which `valid` holds; returns how many were removed. The node
    /// calls it on each L1 refresh with the chain-state checks against the new snapshot, so a
    /// quote the chain no longer matches (a reorg changed its epoch's blocks or fees, or took
    /// the epoch's end back out) stops being served.
    pub fn retain_valid(&self, mut valid: impl FnMut(&VerifiedQuote) -> bool) -> usize {
        self.remove_where(|q| !valid(q), |stats| &mut stats.invalidated)
    }

    /// Removes every quote for which `dead` holds, counting them in the statistic `counter`
    /// picks; returns how many.
    fn remove_where(
        &self,
        mut dead: impl FnMut(&VerifiedQuote) -> bool,
        counter: impl FnOnce(&mut PoolStats) -> &mut u64,
    ) -> usize {
        let mut inner = self.inner.write();
        let mut removed = Vec::new();
        inner.epochs.retain(|_, eq| {
            let keys: Vec<RankKey> = eq
                .ranked
                .iter()
                .filter(|(_, q)| dead(q))
                .map(|(k, _)| *k)
                .collect();
            if !keys.is_empty() {
                removed.extend(keys.iter().filter_map(|k| eq.remove_key(k)));
                eq.refresh_best();
            }
            !eq.ranked.is_empty()
        });
        inner.len -= removed.len();
        *counter(&mut inner.stats) += removed.len() as u64;
        drop(inner);
        // The quotes are freed after the lock is released.
        removed.len()
    }

    /// Removes one epoch; returns the number of quotes removed.
    pub fn remove_epoch(&self, epoch: u64) -> usize {
        let mut inner = self.inner.write();
        let Some(eq) = inner.epochs.remove(&epoch) else {
            return 0;
        };
        let removed = eq.ranked.len();
        inner.len -= removed;
        inner.stats.evicted_epochs += removed as u64;
        drop(inner);
        drop(eq);
        removed
    }

    /// Sizes and counters.
    pub fn stats(&self) -> PoolStats {
        let inner = self.inner.read();
        PoolStats {
            quotes: inner.len,
            epochs: inner.epochs.len(),
            bytes: inner.len * STORED_QUOTE_BYTES,
            ..inner.stats
        }
    }
}
