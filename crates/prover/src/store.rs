//! The prover's persistent state (SPEC §6.6): quotes sent, claims seen, proving jobs and L1
//! transactions in flight, in one SQLite file under `DATA_DIRECTORY`.
//!
//! Why SQLite: a restarted prover must answer "did I already quote this epoch?", "is there a
//! job for this claim, and where was it?" and "which of my transactions may still land?"
//! exactly, across crashes. SQLite gives atomic, durable transactions in one file with no
//! service to run, and `PRAGMA user_version` carries the schema version for migrations.
//!
//! Job states only move along [`JobState::can_move_to`], and every move is a compare-and-set
//! (`UPDATE … WHERE state = from`): two tasks racing on one job cannot both win, and a stale
//! caller gets [`StoreError::InvalidTransition`] instead of overwriting newer progress.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};

/// File name of the database inside `DATA_DIRECTORY`.
pub const DB_FILE: &str = "prover.sqlite";

/// Schema migrations; migration `i` takes the database from version `i` to `i + 1`. Append only:
/// a released migration is never edited.
const MIGRATIONS: &[&str] = &[
    // v1: the initial schema.
    "CREATE TABLE quotes_sent (
         quote_id         TEXT PRIMARY KEY,
         epoch            INTEGER NOT NULL,
         valid_until_slot INTEGER NOT NULL,
         basis_point_fee  INTEGER NOT NULL,
         bond_amount      TEXT NOT NULL,
         path             TEXT NOT NULL,
         quote_json       TEXT NOT NULL,
         sent_at_ms       INTEGER NOT NULL
     );
     CREATE INDEX quotes_sent_by_epoch ON quotes_sent(epoch, valid_until_slot);
     CREATE TABLE claims (
         epoch           INTEGER PRIMARY KEY,
         bond_provider   TEXT NOT NULL,
         proposer        TEXT NOT NULL,
         bond_amount     TEXT NOT NULL,
         basis_point_fee INTEGER NOT NULL,
         seen_at_ms      INTEGER NOT NULL
     );
     CREATE TABLE jobs (
         epoch       INTEGER PRIMARY KEY,
         state       TEXT NOT NULL,
         proof       BLOB,
         tx_hash     TEXT,
         error       TEXT,
         attempts    INTEGER NOT NULL DEFAULT 0,
         updated_ms  INTEGER NOT NULL
     );
     CREATE TABLE job_transitions (
         epoch      INTEGER NOT NULL,
         from_state TEXT,
         to_state   TEXT NOT NULL,
         note       TEXT,
         at_ms      INTEGER NOT NULL
     );
     CREATE TABLE l1_txs (
         tx_hash    TEXT PRIMARY KEY,
         kind       TEXT NOT NULL,
         epoch      INTEGER,
         state      TEXT NOT NULL,
         created_ms INTEGER NOT NULL,
         updated_ms INTEGER NOT NULL
     );",
    // v2: market intelligence: the commitment ledger's snapshot and each auction's outcome.
    "CREATE TABLE market_state (
         key        TEXT PRIMARY KEY,
         value_json TEXT NOT NULL,
         updated_ms INTEGER NOT NULL
     );
     CREATE TABLE auction_outcomes (
         epoch            INTEGER PRIMARY KEY,
         our_fee          INTEGER NOT NULL,
         won              INTEGER NOT NULL,
         winner           TEXT NOT NULL,
         winner_fee       INTEGER NOT NULL,
         recorded_ms      INTEGER NOT NULL
     );",
];

/// What can go wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed (disk, permissions, corruption).
    #[error("prover database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}: {source}")]
    DataDirectory {
        /// The directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The database was written by a newer version of epoch-rfq.
    #[error(
        "prover database schema version {found} is newer than this binary's {supported}: \
         upgrade epoch-rfq, or point DATA_DIRECTORY elsewhere"
    )]
    SchemaTooNew {
        /// Version in the file.
        found: i64,
        /// Highest version this binary knows.
        supported: i64,
    },
    /// A job was asked to move from a state it is not in, or along a forbidden edge.
    #[error("job for epoch {epoch}: cannot move from {from} to {to} (it is {actual})")]
    InvalidTransition {
        /// The job's epoch.
        epoch: u64,
        /// The state the caller expected.
        from: JobState,
        /// The state asked for.
        to: JobState,
        /// The state the row is actually in (`none` when there is no job).
        actual: String,
    },
    /// A stored value could not be read back.
    #[error("prover database holds an unreadable value in {column}: {value:?}")]
    Corrupt {
        /// The column.
        column: &'static str,
        /// The value.
        value: String,
    },
}

/// A proving job's life (SPEC §6.5–§6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Our quote was claimed; the job exists and has not started proving.
    Claimed,
    /// The prover is computing the proof.
    Proving,
    /// The proof is computed and stored; not yet on L1.
    Proven,
    /// `submitEpochProof` was sent; waiting for it to be mined.
    Submitted,
    /// The proof landed on L1. Terminal.
    Completed,
    /// The job could not complete (prover failed, deadline passed). Terminal.
    Failed,
    /// The claim vanished (reorg, prune) before the proof landed. Terminal.
    Cancelled,
}

impl JobState {
    /// Every state, for queries and metrics.
    pub const ALL: [JobState; 7] = [
        Self::Claimed,
        Self::Proving,
        Self::Proven,
        Self::Submitted,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claimed => "claimed",
            Self::Proving => "proving",
            Self::Proven => "proven",
            Self::Submitted => "submitted",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// No move leaves a terminal state.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    /// The allowed moves. `Proving → Claimed` lets a restarted node redo an interrupted proof;
    /// `Submitted → Proven` lets it resend a proof whose transaction was dropped or reverted.
    pub fn can_move_to(self, to: JobState) -> bool {
        use JobState::*;
        match (self, to) {
            (Claimed, Proving)
            | (Proving, Proven)
            | (Proven, Submitted)
            | (Submitted, Completed) => true,
            (Proving, Claimed) | (Submitted, Proven) => true,
            (from, Failed | Cancelled) => !from.is_terminal(),
            _ => false,
        }
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A quote the prover sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentQuote {
    /// The quote's id (EIP-712 digest, 0x-hex).
    pub quote_id: String,
    /// Its epoch.
    pub epoch: u64,
    /// Last slot it may be claimed in.
    pub valid_until_slot: u64,
    /// Its fee.
    pub basis_point_fee: u32,
    /// Its bond (decimal).
    pub bond_amount: String,
    /// "p2p" or "http".
    pub path: String,
    /// The quote's JSON form, to resend it unchanged.
    pub quote_json: String,
}

/// A claim seen on L1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenClaim {
    /// The claimed epoch.
    pub epoch: u64,
    /// The prover whose bond backs it.
    pub bond_provider: String,
    /// The proposer that claimed.
    pub proposer: String,
    /// Bond staked (decimal).
    pub bond_amount: String,
    /// Fee agreed.
    pub basis_point_fee: u32,
}

/// A proving job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The epoch it proves.
    pub epoch: u64,
    /// Where it is.
    pub state: JobState,
    /// The proof, once computed.
    pub proof: Option<Vec<u8>>,
    /// The `submitEpochProof` transaction, once sent.
    pub tx_hash: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Proof submissions tried.
    pub attempts: u32,
}

/// One recorded move of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The state it left (`None` for the creation).
    pub from: Option<String>,
    /// The state it entered.
    pub to: String,
    /// Why (a tx hash, an error, "created").
    pub note: Option<String>,
}

/// The prover's database. One connection; callers serialise access (wrap it in a mutex or own
/// it in one task): the prover's writes are a few per slot.
#[derive(Debug)]
pub struct ProverStore {
    conn: Connection,
}

fn now_ms() -> i64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// SQLite integers are signed; epochs and slots above i64::MAX cannot occur on a real chain, and
/// are stored saturated rather than wrapped if they ever do.
fn sql_u64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl ProverStore {
    /// Opens (creating if needed) the database in `data_directory` and migrates it.
    pub fn open(data_directory: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_directory).map_err(|source| StoreError::DataDirectory {
            path: data_directory.display().to_string(),
            source,
        })?;
        let conn = Connection::open(data_directory.join(DB_FILE))?;
        // WAL: readers never block the writer; synchronous=FULL: a committed transition survives
        // a power cut (the whole point of this store).
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mut store = Self { conn };
        store.migrate()?;
        Ok(store)
    }

    /// An in-memory store, for tests and tools.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let mut store = Self {
            conn: Connection::open_in_memory()?,
        };
        store.migrate()?;
        Ok(store)
    }

    /// The schema version in use.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))?)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let supported = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
        let found = self.schema_version()?;
        if found > supported {
            return Err(StoreError::SchemaTooNew { found, supported });
        }
        for (index, sql) in MIGRATIONS
            .iter()
            .enumerate()
            .skip(usize::try_from(found).unwrap_or(0))
        {
            // Each migration and its version bump commit together, or not at all.
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(
                None,
                "user_version",
                i64::try_from(index + 1).unwrap_or(i64::MAX),
            )?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Records a quote the prover sent.
    pub fn record_quote_sent(&self, quote: &SentQuote) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO quotes_sent
               (quote_id, epoch, valid_until_slot, basis_point_fee, bond_amount, path, quote_json, sent_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                quote.quote_id,
                sql_u64(quote.epoch),
                sql_u64(quote.valid_until_slot),
                quote.basis_point_fee,
                quote.bond_amount,
                quote.path,
                quote.quote_json,
                now_ms()
            ],
        )?;
        Ok(())
    }

    /// The quote for `epoch` that stays valid longest, if any was sent: a restarted prover
    /// resends it rather than pricing a second, different quote (SPEC §6.6).
    pub fn latest_quote(&self, epoch: u64) -> Result<Option<SentQuote>, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT quote_id, epoch, valid_until_slot, basis_point_fee, bond_amount, path, quote_json
                 FROM quotes_sent WHERE epoch = ?1 ORDER BY valid_until_slot DESC, sent_at_ms DESC LIMIT 1",
                params![sql_u64(epoch)],
                |row| {
                    Ok(SentQuote {
                        quote_id: row.get(0)?,
                        epoch: u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                        valid_until_slot: u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
                        basis_point_fee: row.get(3)?,
                        bond_amount: row.get(4)?,
                        path: row.get(5)?,
                        quote_json: row.get(6)?,
                    })
                },
            )
            .optional()?;
        Ok(row)
    }

    /// Records a claim seen on L1 (first sighting wins; later sightings are duplicates).
    /// Returns whether it was new.
    pub fn record_claim(&self, claim: &SeenClaim) -> Result<bool, StoreError> {
        let inserted = self.conn.execute(
            "INSERT OR IGNORE INTO claims (epoch, bond_provider, proposer, bond_amount, basis_point_fee, seen_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                sql_u64(claim.epoch),
                claim.bond_provider,
                claim.proposer,
                claim.bond_amount,
                claim.basis_point_fee,
                now_ms()
            ],
        )?;
        Ok(inserted == 1)
    }

    /// The bond (decimal base units) of the claim seen for `epoch`, if any.
    pub fn claim_bond(&self, epoch: u64) -> Result<Option<String>, StoreError> {
        let bond = self
            .conn
            .query_row(
                "SELECT bond_amount FROM claims WHERE epoch = ?1",
                params![sql_u64(epoch)],
                |row| row.get::<_, String>(0),
            )
            .optional()?;
        Ok(bond)
    }

    /// Forgets a claim that vanished from L1 (reorg, prune).
    pub fn forget_claim(&self, epoch: u64) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM claims WHERE epoch = ?1",
            params![sql_u64(epoch)],
        )?;
        Ok(())
    }

    /// Creates the job for `epoch` in state `Claimed` unless one exists: the "exactly once" of
    /// SPEC §6.5, enforced by the primary key. Returns whether this call created it.
    pub fn create_job(&self, epoch: u64) -> Result<bool, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO jobs (epoch, state, updated_ms) VALUES (?1, ?2, ?3)",
            params![sql_u64(epoch), JobState::Claimed.as_str(), now_ms()],
        )?;
        if inserted == 1 {
            tx.execute(
                "INSERT INTO job_transitions (epoch, from_state, to_state, note, at_ms) VALUES (?1, NULL, ?2, 'created', ?3)",
                params![sql_u64(epoch), JobState::Claimed.as_str(), now_ms()],
            )?;
        }
        tx.commit()?;
        Ok(inserted == 1)
    }

    /// Moves the job for `epoch` from `from` to `to` if it is in `from` and the move is allowed;
    /// records the move (with `note`) in the job's history.
    pub fn transition(
        &self,
        epoch: u64,
        from: JobState,
        to: JobState,
        note: &str,
    ) -> Result<(), StoreError> {
        let refuse = |actual: String| StoreError::InvalidTransition {
            epoch,
            from,
            to,
            actual,
        };
        if !from.can_move_to(to) {
            let actual = self
                .job(epoch)?
                .map_or_else(|| "none".to_owned(), |j| j.state.to_string());
            return Err(refuse(actual));
        }
        let tx = self.conn.unchecked_transaction()?;
        let error = matches!(to, JobState::Failed | JobState::Cancelled).then_some(note);
        let changed = tx.execute(
            "UPDATE jobs SET state = ?1, updated_ms = ?2, error = COALESCE(?3, error)
             WHERE epoch = ?4 AND state = ?5",
            params![to.as_str(), now_ms(), error, sql_u64(epoch), from.as_str()],
        )?;
        if changed != 1 {
            drop(tx);
            let actual = self
                .job(epoch)?
                .map_or_else(|| "none".to_owned(), |j| j.state.to_string());
            return Err(refuse(actual));
        }
        tx.execute(
            "INSERT INTO job_transitions (epoch, from_state, to_state, note, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![sql_u64(epoch), from.as_str(), to.as_str(), note, now_ms()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Stores the computed proof and moves `Proving → Proven` in one transaction.
    pub fn store_proof(&self, epoch: u64, proof: &[u8]) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE jobs SET proof = ?1 WHERE epoch = ?2 AND state = ?3",
            params![proof, sql_u64(epoch), JobState::Proving.as_str()],
        )?;
        self.transition(epoch, JobState::Proving, JobState::Proven, "proof computed")
    }

    /// Records the proof transaction and moves `Proven → Submitted`; for a job already
    /// `Submitted`, records the replacement's hash.
    pub fn mark_submitted(&self, epoch: u64, tx_hash: &str) -> Result<(), StoreError> {
        // A replacement of the submission in flight (same nonce, higher fees): the job follows
        // the newest hash.
        let replaced = self.conn.execute(
            "UPDATE jobs SET tx_hash = ?1 WHERE epoch = ?2 AND state = ?3",
            params![tx_hash, sql_u64(epoch), JobState::Submitted.as_str()],
        )?;
        if replaced > 0 {
            return Ok(());
        }
        self.conn.execute(
            "UPDATE jobs SET tx_hash = ?1, attempts = attempts + 1 WHERE epoch = ?2 AND state = ?3",
            params![tx_hash, sql_u64(epoch), JobState::Proven.as_str()],
        )?;
        self.transition(epoch, JobState::Proven, JobState::Submitted, tx_hash)
    }

    /// The job for `epoch`.
    pub fn job(&self, epoch: u64) -> Result<Option<Job>, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT epoch, state, proof, tx_hash, error, attempts FROM jobs WHERE epoch = ?1",
                params![sql_u64(epoch)],
                |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        row.get(5)?,
                    ))
                },
            )
            .optional()?;
        row.map(job_from_row).transpose()
    }

    /// Jobs that are not finished, oldest epoch first: what a restarted node resumes.
    pub fn unfinished_jobs(&self) -> Result<Vec<Job>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT epoch, state, proof, tx_hash, error, attempts FROM jobs
             WHERE state NOT IN ('completed', 'failed', 'cancelled') ORDER BY epoch",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
            ))
        })?;
        rows.map(|row| job_from_row(row?)).collect()
    }

    /// A job's history, oldest first.
    pub fn history(&self, epoch: u64) -> Result<Vec<Transition>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT from_state, to_state, note FROM job_transitions WHERE epoch = ?1 ORDER BY rowid",
        )?;
        let rows = stmt.query_map(params![sql_u64(epoch)], |row| {
            Ok(Transition {
                from: row.get(0)?,
                to: row.get(1)?,
                note: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records an L1 transaction the prover sent (deposit, approve, proof) before waiting for it,
    /// so that a restart checks it on chain before sending anything again.
    pub fn record_tx(
        &self,
        tx_hash: &str,
        kind: &str,
        epoch: Option<u64>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO l1_txs (tx_hash, kind, epoch, state, created_ms, updated_ms) VALUES (?1, ?2, ?3, 'pending', ?4, ?4)",
            params![tx_hash, kind, epoch.map(sql_u64), now_ms()],
        )?;
        Ok(())
    }

    /// Marks an L1 transaction's outcome ("mined", "reverted", "dropped").
    pub fn finish_tx(&self, tx_hash: &str, outcome: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE l1_txs SET state = ?1, updated_ms = ?2 WHERE tx_hash = ?3",
            params![outcome, now_ms(), tx_hash],
        )?;
        Ok(())
    }

    /// Transactions whose outcome is unknown: (hash, kind, epoch).
    pub fn pending_txs(&self) -> Result<Vec<(String, String, Option<u64>)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT tx_hash, kind, epoch FROM l1_txs WHERE state = 'pending' ORDER BY created_ms",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get::<_, Option<i64>>(2)?
                    .and_then(|e| u64::try_from(e).ok()),
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

type JobRow = (
    i64,
    String,
    Option<Vec<u8>>,
    Option<String>,
    Option<String>,
    u32,
);

/// One auction's result for a prover that quoted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuctionOutcome {
    /// The epoch.
    pub epoch: u64,
    /// Our quote's fee.
    pub our_fee: u32,
    /// Whether our quote was claimed.
    pub won: bool,
    /// The claim's bond provider.
    pub winner: String,
    /// The claimed quote's fee.
    pub winner_fee: u32,
}

impl ProverStore {
    /// Stores `value_json` under `key` in the market state (the ledger's snapshot).
    pub fn save_market_state(&self, key: &str, value_json: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO market_state (key, value_json, updated_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT(key) DO UPDATE SET value_json = excluded.value_json,
                                            updated_ms = excluded.updated_ms",
            params![key, value_json, now_ms()],
        )?;
        Ok(())
    }

    /// The market state stored under `key`.
    pub fn market_state(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT value_json FROM market_state WHERE key = ?1",
                params![key],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Records an auction's outcome once (later sightings of the same claim are ignored).
    /// Returns whether it was new.
    pub fn record_outcome(&self, outcome: &AuctionOutcome) -> Result<bool, StoreError> {
        let changed = self.conn.execute(
            "INSERT OR IGNORE INTO auction_outcomes
               (epoch, our_fee, won, winner, winner_fee, recorded_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                sql_u64(outcome.epoch),
                outcome.our_fee,
                outcome.won,
                outcome.winner,
                outcome.winner_fee,
                now_ms()
            ],
        )?;
        Ok(changed == 1)
    }

    /// Auctions won and recorded in total: `(won, recorded)`.
    pub fn outcome_counts(&self) -> Result<(u64, u64), StoreError> {
        Ok(self.conn.query_row(
            "SELECT COALESCE(SUM(won), 0), COUNT(*) FROM auction_outcomes",
            [],
            |row| {
                Ok((
                    u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
                    u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                ))
            },
        )?)
    }
}

fn job_from_row(
    (epoch, state, proof, tx_hash, error, attempts): JobRow,
) -> Result<Job, StoreError> {
    let state = JobState::parse(&state).ok_or(StoreError::Corrupt {
        column: "jobs.state",
        value: state,
    })?;
    let epoch = u64::try_from(epoch).map_err(|_| StoreError::Corrupt {
        column: "jobs.epoch",
        value: epoch.to_string(),
    })?;
    Ok(Job {
        epoch,
        state,
        proof,
        tx_hash,
        error,
        attempts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobState::*;

    #[test]
    fn a_job_is_created_once() {
        let store = ProverStore::open_in_memory().unwrap();
        assert!(store.create_job(3).unwrap());
        assert!(
            !store.create_job(3).unwrap(),
            "a duplicate claim signal must not make a second job"
        );
        assert_eq!(store.job(3).unwrap().unwrap().state, Claimed);
    }

    #[test]
    fn transitions_are_guarded_compare_and_set() {
        let store = ProverStore::open_in_memory().unwrap();
        store.create_job(5).unwrap();
        store.transition(5, Claimed, Proving, "start").unwrap();
        // A stale caller that still thinks the job is Claimed loses.
        let err = store.transition(5, Claimed, Proving, "again").unwrap_err();
        assert!(err.to_string().contains("it is proving"), "{err}");
        // A forbidden edge is refused even when the row is in `from`.
        let err = store.transition(5, Proving, Completed, "skip").unwrap_err();
        assert!(matches!(err, StoreError::InvalidTransition { .. }));
        store.store_proof(5, b"proof").unwrap();
        store.mark_submitted(5, "0xabc").unwrap();
        store.transition(5, Submitted, Completed, "mined").unwrap();
        let err = store.transition(5, Completed, Failed, "late").unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidTransition { .. }),
            "terminal states are final"
        );
        let job = store.job(5).unwrap().unwrap();
        assert_eq!(
            (
                job.state,
                job.proof.as_deref(),
                job.tx_hash.as_deref(),
                job.attempts
            ),
            (Completed, Some(&b"proof"[..]), Some("0xabc"), 1)
        );
        let history: Vec<_> = store
            .history(5)
            .unwrap()
            .into_iter()
            .map(|t| t.to)
            .collect();
        assert_eq!(
            history,
            ["claimed", "proving", "proven", "submitted", "completed"]
        );
        // Nothing for an unknown job.
        assert!(
            store
                .transition(9, Claimed, Proving, "x")
                .unwrap_err()
                .to_string()
                .contains("none")
        );
    }

    #[test]
    fn every_allowed_edge_and_no_other() {
        let allowed = [
            (Claimed, Proving),
            (Proving, Proven),
            (Proven, Submitted),
            (Submitted, Completed),
            (Proving, Claimed),
            (Submitted, Proven),
        ];
        for from in JobState::ALL {
            for to in JobState::ALL {
                let expected = allowed.contains(&(from, to))
                    || (matches!(to, Failed | Cancelled) && !from.is_terminal());
                assert_eq!(from.can_move_to(to), expected, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn survives_a_restart_and_resumes() {
        let dir = std::env::temp_dir().join(format!("epoch-rfq-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let store = ProverStore::open(&dir).unwrap();
            store.create_job(1).unwrap();
            store.transition(1, Claimed, Proving, "start").unwrap();
            store.create_job(2).unwrap();
            store
                .transition(2, Claimed, Cancelled, "claim vanished")
                .unwrap();
            store
                .record_quote_sent(&SentQuote {
                    quote_id: "0x01".into(),
                    epoch: 4,
                    valid_until_slot: 40,
                    basis_point_fee: 100,
                    bond_amount: "1000".into(),
                    path: "http".into(),
                    quote_json: "{}".into(),
                })
                .unwrap();
            store.record_tx("0xdead", "deposit", None).unwrap();
        }
        let store = ProverStore::open(&dir).unwrap();
        assert_eq!(store.schema_version().unwrap(), 2);
        let unfinished: Vec<_> = store
            .unfinished_jobs()
            .unwrap()
            .into_iter()
            .map(|j| (j.epoch, j.state))
            .collect();
        assert_eq!(unfinished, [(1, Proving)]);
        assert_eq!(
            store.job(2).unwrap().unwrap().error.as_deref(),
            Some("claim vanished")
        );
        assert_eq!(store.latest_quote(4).unwrap().unwrap().valid_until_slot, 40);
        assert_eq!(store.latest_quote(5).unwrap(), None);
        assert_eq!(
            store.pending_txs().unwrap(),
            [("0xdead".to_owned(), "deposit".to_owned(), None)]
        );
        store.finish_tx("0xdead", "mined").unwrap();
        assert!(store.pending_txs().unwrap().is_empty());
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = std::env::temp_dir().join(format!("epoch-rfq-store-new-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let store = ProverStore::open(&dir).unwrap();
            store.conn.pragma_update(None, "user_version", 99).unwrap();
        }
        let err = ProverStore::open(&dir).unwrap_err();
        assert!(
            err.to_string().contains("schema version 99 is newer"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn claims_are_recorded_once() {
        let store = ProverStore::open_in_memory().unwrap();
        let claim = SeenClaim {
            epoch: 2,
            bond_provider: "0x1".into(),
            proposer: "0x2".into(),
            bond_amount: "5".into(),
            basis_point_fee: 10,
        };
        assert!(store.record_claim(&claim).unwrap());
        assert!(!store.record_claim(&claim).unwrap());
        store.forget_claim(2).unwrap();
        assert!(store.record_claim(&claim).unwrap());
    }

    #[test]
    fn market_state_and_outcomes_are_kept() {
        let store = ProverStore::open_in_memory().unwrap();
        assert_eq!(store.market_state("ledger").unwrap(), None);
        store.save_market_state("ledger", "{\"a\":1}").unwrap();
        store.save_market_state("ledger", "{\"a\":2}").unwrap();
        assert_eq!(
            store.market_state("ledger").unwrap().as_deref(),
            Some("{\"a\":2}")
        );
        let outcome = AuctionOutcome {
            epoch: 3,
            our_fee: 120,
            won: false,
            winner: "0xabc".into(),
            winner_fee: 90,
        };
        assert!(store.record_outcome(&outcome).unwrap());
        assert!(!store.record_outcome(&outcome).unwrap(), "recorded once");
        assert!(
            store
                .record_outcome(&AuctionOutcome {
                    epoch: 4,
                    won: true,
                    ..outcome
                })
                .unwrap()
        );
        assert_eq!(store.outcome_counts().unwrap(), (1, 2));
    }
}
