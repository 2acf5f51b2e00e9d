//! Where the proposer's quotes come from: a small trait, so that the node's JSON-RPC client, a
//! local pool and tests can all feed the RFQ.

use std::sync::Arc;
use std::time::SystemTime;

use epoch_rfq_quote::EpochProofQuote;
use futures::future::BoxFuture;

/// A quote as the proposer got it, with when it was received (the RFQ's first tie-break: between
/// equal fees, the earliest received quote wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedQuote {
    /// The quote, unverified: the proposer checks it.
    pub quote: EpochProofQuote,
    /// When the source first saw it (its pool's arrival time when it knows it, else when it was
    /// fetched).
    pub received_at: SystemTime,
}

impl ReceivedQuote {
    /// A quote received at `received_at`.
    pub fn new(quote: EpochProofQuote, received_at: SystemTime) -> Self {
        Self { quote, received_at }
    }

    /// A quote received now.
    pub fn now(quote: EpochProofQuote) -> Self {
        Self::new(quote, SystemTime::now())
    }

    /// Stamps quotes that a source lists in arrival order but without times (e.g. a node's
    /// `node_getEpochProofQuotes`, best first: fee, then arrival): one fetch time plus the list
    /// position in nanoseconds, so the RFQ's "earliest received" tie-break follows the list.
    /// (Calling [`now`](Self::now) per quote does not guarantee that: two calls can return the
    /// same time, and the wall clock can step back.)
    pub fn in_arrival_order(quotes: impl IntoIterator<Item = EpochProofQuote>) -> Vec<Self> {
        let fetched = SystemTime::now();
        quotes
            .into_iter()
            .zip(0u64..)
            .map(|(quote, i)| Self::new(quote, fetched + std::time::Duration::from_nanos(i)))
            .collect()
    }
}

/// A quote source could not answer. The RFQ skips this tick and asks again on the next one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The source is unreachable or failed (connection, timeout, server error).
    #[error("quote source unavailable: {0}")]
    Unavailable(String),
    /// The source answered something that is not a list of quotes.
    #[error("quote source answered badly: {0}")]
    BadResponse(String),
}

/// Supplies the quotes for an epoch (e.g. `node_getEpochProofQuotes` of a node, or a local pool).
///
/// Returning quotes that are invalid, for another epoch or duplicated is fine: the proposer checks
/// each one and counts why it dropped it.
pub trait QuoteSource: Send + Sync {
    /// All quotes the source holds for `epoch`.
    fn quotes_for_epoch(
        &self,
        epoch: u64,
    ) -> BoxFuture<'_, Result<Vec<ReceivedQuote>, SourceError>>;
}

impl<T: QuoteSource + ?Sized> QuoteSource for Arc<T> {
    fn quotes_for_epoch(
        &self,
        epoch: u64,
    ) -> BoxFuture<'_, Result<Vec<ReceivedQuote>, SourceError>> {
        (**self).quotes_for_epoch(epoch)
    }
}

/// An in-memory source: quotes pushed by hand (tests, the sandbox's scripted provers). Returns
/// every quote whose `epochNumber` is the epoch asked for, in insertion order; it can be told to
/// fail, to exercise the proposer's handling of an unavailable source.
#[derive(Debug, Default)]
pub struct MemoryQuoteSource {
    inner: std::sync::Mutex<MemoryInner>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    quotes: Vec<ReceivedQuote>,
    failure: Option<SourceError>,
}

impl MemoryQuoteSource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        // A panic while holding this lock cannot leave the Vec half-updated: keep serving.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a quote received now.
    pub fn push(&self, quote: EpochProofQuote) {
        self.push_received(ReceivedQuote::now(quote));
    }

    /// Adds a quote with its reception time.
    pub fn push_received(&self, quote: ReceivedQuote) {
        self.lock().quotes.push(quote);
    }

    /// Removes every quote.
    pub fn clear(&self) {
        self.lock().quotes.clear();
    }

    /// From now on every query fails with `error` (`None`: answer normally again).
    pub fn set_failure(&self, error: Option<SourceError>) {
        self.lock().failure = error;
    }
}

impl QuoteSource for MemoryQuoteSource {
    fn quotes_for_epoch(
        &self,
        epoch: u64,
    ) -> BoxFuture<'_, Result<Vec<ReceivedQuote>, SourceError>> {
        let inner = self.lock();
        let answer = match &inner.failure {
            Some(e) => Err(e.clone()),
            None => Ok(inner
                .quotes
                .iter()
                .filter(|q| q.quote.fields().epoch_number == alloy_primitives::U256::from(epoch))
                .cloned()
                .collect()),
        };
        Box::pin(std::future::ready(answer))
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::{Address, U256};
    use epoch_rfq_quote::QuoteFields;

    use super::*;

    fn quote(bps: u32) -> EpochProofQuote {
        let key = alloy_signer_local::PrivateKeySigner::random();
        QuoteFields {
            prover: key.address(),
            epoch_number: U256::from(1),
            rollup_address: Address::repeat_byte(1),
            basis_point_fee: bps,
            ..QuoteFields::default()
        }
        .sign(&key, 1)
        .expect("signs")
    }

    #[test]
    fn arrival_order_is_strict() {
        let stamped = ReceivedQuote::in_arrival_order([quote(1), quote(2), quote(3)]);
        assert!(
            stamped
                .windows(2)
                .all(|w| w[0].received_at < w[1].received_at)
        );
        assert_eq!(stamped[2].quote.fields().basis_point_fee, 3);
    }

    #[tokio::test]
    async fn memory_source_filters_by_epoch_and_fails_on_demand() {
        let s = MemoryQuoteSource::new();
        s.push(quote(5));
        assert_eq!(s.quotes_for_epoch(1).await.expect("answers").len(), 1);
        assert!(s.quotes_for_epoch(2).await.expect("answers").is_empty());
        s.set_failure(Some(SourceError::Unavailable("down".into())));
        assert!(s.quotes_for_epoch(1).await.is_err());
        s.set_failure(None);
        s.clear();
        assert!(s.quotes_for_epoch(1).await.expect("answers").is_empty());
    }
}
