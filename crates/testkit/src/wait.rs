//! Bounded waits: every test ends, a hung RPC or peer fails the test instead of the CI job.

use std::future::Future;
use std::time::Duration;

use tokio::sync::broadcast;

/// How often [`wait_until`] re-checks its condition.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Runs `body`, failing the test if it takes longer than `secs` seconds.
pub async fn bounded<T>(secs: u64, body: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), body)
        .await
        .unwrap_or_else(|_| {
            crate::logs::dump_captured_logs();
            panic!("test timed out after {secs} s")
        })
}

/// Polls `cond` every [`POLL_INTERVAL`] until it is true; fails the test naming `what` after
/// `limit`.
pub async fn wait_until(what: &str, limit: Duration, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if cond().await {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            crate::logs::dump_captured_logs();
            panic!("timed out after {limit:?} waiting for: {what}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Waits up to `secs` seconds for the first event `pick` accepts (what it returns); skips the
/// rest, and survives a lagged receiver. Fails the test naming `what` on timeout or if the
/// sender is gone.
pub async fn next_event<E: Clone, T>(
    events: &mut broadcast::Receiver<E>,
    secs: u64,
    what: &str,
    mut pick: impl FnMut(&E) -> Option<T>,
) -> T {
    tokio::time::timeout(Duration::from_secs(secs), async {
        loop {
            match events.recv().await {
                Ok(event) => {
                    if let Some(found) = pick(&event) {
                        return found;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => {
                    panic!("events closed waiting for {what}")
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out after {secs} s waiting for {what}"))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn wait_until_returns_once_the_condition_holds() {
        let calls = AtomicUsize::new(0);
        wait_until("third call", Duration::from_secs(5), async || {
            calls.fetch_add(1, Ordering::Relaxed) >= 2
        })
        .await;
        assert_eq!(calls.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    #[should_panic(expected = "waiting for: never")]
    async fn wait_until_fails_naming_what_it_waited_for() {
        wait_until("never", Duration::from_millis(50), || async { false }).await;
    }

    #[tokio::test]
    #[should_panic(expected = "test timed out after 0 s")]
    async fn bounded_fails_a_body_past_its_limit() {
        bounded(0, std::future::pending::<()>()).await;
    }

    #[tokio::test]
    async fn next_event_skips_to_the_picked_event() {
        let (tx, mut rx) = broadcast::channel(8);
        for n in 1..=5u32 {
            tx.send(n).expect("a receiver");
        }
        let found = next_event(&mut rx, 5, "an even number above 2", |n| {
            (*n > 2 && n % 2 == 0).then_some(*n)
        })
        .await;
        assert_eq!(found, 4);
    }
}
