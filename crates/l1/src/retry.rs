//! Retries of transient L1 failures, waiting longer after each one.
//!
//! alloy's `RetryBackoffLayer` waits the same interval before every retry when the server
//! gives no `Retry-After`: its policy sees the error, not how many attempts came before. That
//! forces one choice for two cases: a busy provider that refuses a fraction of requests (retry
//! at once, the next attempt most likely passes) and a spent quota (wait, or every retry is
//! refused too). With 30 % of requests refused, the constant 300 ms costs a call about 130 ms on
//! average (computed: 0.3/0.7 retries × 300 ms), and a proposer's claiming tick made 19
//! sequential calls before its transaction went out, so claims missed their 4-s slot in the
//! chaos suite's 429 profile. Here the first retry waits [`Backoff::first`], each next
//! one twice as long up to [`Backoff::max_step`] (with jitter so that many callers refused at
//! once do not come back at once); the server's `Retry-After` still wins.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::task::{Context, Poll};
use std::time::Duration;

use alloy::rpc::json_rpc::{RequestPacket, ResponsePacket};
use alloy::transports::layers::RetryPolicy;
use alloy::transports::{TransportError, TransportErrorKind, TransportFut};
use tower::{Layer, Service};

/// When to retry: how many times, and how long to wait before each retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Retries after the first attempt.
    pub retries: u32,
    /// The wait before the first retry.
    pub first: Duration,
    /// The longest wait between two attempts (the doubling stops there).
    pub max_step: Duration,
}

impl Backoff {
    /// The wait before retry `n` (1 for the first retry), without jitter:
    /// `first · 2^(n−1)`, at most `max_step`.
    pub fn step(&self, n: u32) -> Duration {
        let doublings = n.saturating_sub(1).min(31);
        self.first
            .saturating_mul(1u32 << doublings)
            .min(self.max_step)
    }

    /// The wait before retry `n` with jitter: uniformly between half and all of [`Self::step`].
    pub fn jittered(&self, n: u32) -> Duration {
        let step = self.step(n);
        // A random fraction in [0, 1) from the std hasher's random keys (no RNG crate needed).
        let fraction = (RandomState::new().hash_one(n) >> 11) as f64 / (1u64 << 53) as f64;
        step / 2 + step.mul_f64(fraction / 2.0)
    }

    /// The longest a call can spend waiting between attempts (every retry taken, full steps).
    pub fn worst_total(&self) -> Duration {
        (1..=self.retries).map(|n| self.step(n)).sum()
    }
}

/// Wraps a transport so that failures `policy` calls transient are retried per `backoff`.
#[derive(Clone, Debug)]
pub struct RetryLayer<P> {
    policy: P,
    backoff: Backoff,
}

impl<P> RetryLayer<P> {
    pub fn new(policy: P, backoff: Backoff) -> Self {
        Self { policy, backoff }
    }
}

impl<S, P: Clone> Layer<S> for RetryLayer<P> {
    type Service = RetryService<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService {
            inner,
            policy: self.policy.clone(),
            backoff: self.backoff,
        }
    }
}

/// The service of [`RetryLayer`].
#[derive(Clone, Debug)]
pub struct RetryService<S, P> {
    inner: S,
    policy: P,
    backoff: Backoff,
}

impl<S, P> Service<RequestPacket> for RetryService<S, P>
where
    S: Service<
            RequestPacket,
            Response = ResponsePacket,
            Error = TransportError,
            Future = TransportFut<'static>,
        > + Clone
        + Send
        + 'static,
    P: RetryPolicy + Clone + 'static,
{
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The inner services (fallback, metered transports) clone per call and are always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: RequestPacket) -> Self::Future {
        let mut inner = self.inner.clone();
        let policy = self.policy.clone();
        let backoff = self.backoff;
        Box::pin(async move {
            let mut retry = 0u32;
            loop {
                let err = match inner.call(request.clone()).await {
                    Ok(response) => match response.as_error() {
                        // A JSON-RPC error can be transient too (alloy's list of rate-limit
                        // codes); the policy decides.
                        Some(e) => TransportError::ErrorResp(e.clone()),
                        None => return Ok(response),
                    },
                    Err(e) => e,
                };
                if !policy.should_retry(&err) {
                    return Err(err);
                }
                retry += 1;
                if retry > backoff.retries {
                    return Err(TransportErrorKind::custom_str(&format!(
                        "Max retries exceeded {err}"
                    )));
                }
                let wait = policy
                    .backoff_hint(&err)
                    .unwrap_or_else(|| backoff.jittered(retry));
                tracing::trace!(%err, retry, wait_ms = wait.as_millis() as u64, "retrying an L1 request");
                tokio::time::sleep(wait).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use alloy::rpc::json_rpc::{Id, Request, Response, ResponsePayload, SerializedRequest};
    use alloy::transports::TransportResult;
    use alloy::transports::layers::RateLimitRetryPolicy;
    use serde_json::value::RawValue;
    use tokio::time::Instant;

    use super::*;

    /// Answers 429 to the first `refusals` requests, then `"0x1"`; records when each came.
    #[derive(Clone)]
    struct RateLimited {
        refusals: usize,
        calls: Arc<Mutex<Vec<Instant>>>,
    }

    impl Service<RequestPacket> for RateLimited {
        type Response = ResponsePacket;
        type Error = TransportError;
        type Future = TransportFut<'static>;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _request: RequestPacket) -> Self::Future {
            let n = {
                let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
                calls.push(Instant::now());
                calls.len()
            };
            let refused = n <= self.refusals;
            Box::pin(async move {
                if refused {
                    return Err(TransportErrorKind::http_error(429, String::new()));
                }
                Ok(ResponsePacket::Single(Response {
                    id: Id::Number(1),
                    payload: ResponsePayload::Success(
                        RawValue::from_string("\"0x1\"".to_owned())
                            .map_err(TransportErrorKind::custom)?,
                    ),
                }))
            })
        }
    }

    fn request() -> RequestPacket {
        let req: SerializedRequest = Request::new("eth_blockNumber", Id::Number(1), ())
            .try_into()
            .expect("serializable");
        RequestPacket::Single(req)
    }

    async fn run(refusals: usize) -> (TransportResult<ResponsePacket>, Vec<Duration>) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let inner = RateLimited {
            refusals,
            calls: calls.clone(),
        };
        let mut service = RetryLayer::new(RateLimitRetryPolicy::default(), BACKOFF).layer(inner);
        let result = service.call(request()).await;
        let calls = calls.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let gaps = calls.windows(2).map(|w| w[1] - w[0]).collect();
        (result, gaps)
    }

    // Paused time: the sleeps advance the clock exactly, so the gaps are the waits.
    #[tokio::test(start_paused = true)]
    async fn the_waits_between_attempts_double() {
        let (result, gaps) = run(5).await;
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(gaps.len(), 5, "five retries after five 429s");
        for (i, gap) in gaps.iter().enumerate() {
            let step = BACKOFF.step(i as u32 + 1);
            assert!(
                *gap >= step / 2 && *gap <= step,
                "retry {}: {gap:?} for a step of {step:?}",
                i + 1
            );
        }
        // The first retry comes soon: a provider refusing a fraction of requests costs little.
        assert!(gaps[0] <= Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn the_retries_end_with_the_last_error() {
        let (result, gaps) = run(100).await;
        let err = result.expect_err("always refused");
        assert_eq!(
            gaps.len() as u32,
            BACKOFF.retries,
            "one attempt and 8 retries"
        );
        assert!(err.to_string().contains("Max retries exceeded"), "{err}");
        assert!(
            err.to_string().contains("429"),
            "names the last error: {err}"
        );
    }

    const BACKOFF: Backoff = Backoff {
        retries: 8,
        first: Duration::from_millis(100),
        max_step: Duration::from_millis(1600),
    };

    #[test]
    fn steps_double_up_to_the_cap() {
        let steps: Vec<u64> = (1..=8)
            .map(|n| BACKOFF.step(n).as_millis() as u64)
            .collect();
        assert_eq!(steps, [100, 200, 400, 800, 1600, 1600, 1600, 1600]);
        assert_eq!(BACKOFF.worst_total(), Duration::from_millis(7900));
        // No overflow far out.
        assert_eq!(BACKOFF.step(u32::MAX), BACKOFF.max_step);
    }

    #[test]
    fn jitter_stays_between_half_and_all_of_the_step() {
        let mut seen = std::collections::HashSet::new();
        for n in 1..=8 {
            for _ in 0..200 {
                let wait = BACKOFF.jittered(n);
                assert!(
                    wait >= BACKOFF.step(n) / 2 && wait <= BACKOFF.step(n),
                    "{wait:?}"
                );
                seen.insert(wait);
            }
        }
        assert!(
            seen.len() > 100,
            "the waits are spread: {} distinct",
            seen.len()
        );
    }
}
