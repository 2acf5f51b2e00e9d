//! Per-client token buckets.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use parking_lot::Mutex;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A token bucket per client IP: `rate` tokens per second, at most `burst` stored. One token
/// per JSON-RPC call. A `Mutex<HashMap>` is plenty: the critical section is a few float
/// operations, far below the cost of the request it guards.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: f64,
    burst: f64,
    max_clients: usize,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    pub(crate) fn new(rate_per_sec: u32, burst: u32, max_clients: usize) -> Self {
        Self {
            rate: f64::from(rate_per_sec),
            burst: f64::from(burst.max(1)),
            max_clients: max_clients.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `n` tokens for `ip` if it has them (all or nothing).
    pub(crate) fn try_take(&self, ip: IpAddr, n: u32, now: Instant) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let n = f64::from(n);
        let mut buckets = self.buckets.lock();
        if !buckets.contains_key(&ip) && buckets.len() >= self.max_clients {
            // Forget clients whose bucket has refilled: they are indistinguishable from new.
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| refill(b, now, rate, burst) < burst);
            if buckets.len() >= self.max_clients {
                return false;
            }
        }
        let b = buckets.entry(ip).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let tokens = refill(b, now, self.rate, self.burst);
        b.tokens = tokens;
        b.last = now.max(b.last);
        if tokens >= n {
            b.tokens -= n;
            true
        } else {
            false
        }
    }

    #[cfg(test)]
    fn clients(&self) -> usize {
        self.buckets.lock().len()
    }
}

fn refill(b: &Bucket, now: Instant, rate: f64, burst: f64) -> f64 {
    let dt = now.saturating_duration_since(b.last).as_secs_f64();
    (b.tokens + dt * rate).min(burst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    #[test]
    fn bucket_refills_at_rate_and_caps_at_burst() {
        let l = RateLimiter::new(10, 5, 100);
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let t0 = Instant::now();
        assert!(l.try_take(ip, 5, t0));
        assert!(!l.try_take(ip, 1, t0));
        assert!(l.try_take(ip, 1, t0 + Duration::from_millis(100)));
        assert!(!l.try_take(ip, 1, t0 + Duration::from_millis(150)));
        // Long idle: back to the burst, not more.
        assert!(l.try_take(ip, 5, t0 + Duration::from_secs(60)));
        assert!(!l.try_take(ip, 1, t0 + Duration::from_secs(60)));
        // All or nothing.
        assert!(!l.try_take(ip, 6, t0 + Duration::from_secs(120)));
        assert!(l.try_take(ip, 5, t0 + Duration::from_secs(120)));
        // Other clients have their own bucket.
        assert!(l.try_take(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 5, t0));
    }

    #[test]
    fn client_table_is_bounded() {
        let l = RateLimiter::new(1, 2, 2);
        let t0 = Instant::now();
        let ip = |i| IpAddr::V4(Ipv4Addr::new(10, 0, 0, i));
        assert!(l.try_take(ip(1), 1, t0));
        assert!(l.try_take(ip(2), 1, t0));
        // Both active: a third client waits.
        assert!(!l.try_take(ip(3), 1, t0));
        // Once they refilled, they are forgotten.
        assert!(l.try_take(ip(3), 1, t0 + Duration::from_secs(5)));
        assert_eq!(l.clients(), 1);
    }

    #[test]
    fn zero_rate_disables() {
        let l = RateLimiter::new(0, 1, 1);
        let t0 = Instant::now();
        for i in 0..100 {
            assert!(l.try_take(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)), 1000, t0));
        }
    }
}
