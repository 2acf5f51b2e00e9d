//! What the bench binaries report: latency percentiles and the process's resident memory.

use std::time::Duration;

/// The `p`-quantile (0.0..=1.0) of `sorted` (ascending): the sample at the nearest rank,
/// `Duration::ZERO` for no samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let Some(last) = sorted.len().checked_sub(1) else {
        return Duration::ZERO;
    };
    let idx = (last as f64 * p.clamp(0.0, 1.0)).round() as usize;
    sorted[idx.min(last)]
}

/// Milliseconds, for printing.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// This process's resident set size in KiB (`VmRSS` of `/proc/self/status`); 0 where that
/// file does not exist (not Linux).
pub fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// KiB as MiB, for printing.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let samples: Vec<Duration> = (1..=101).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 0.0), Duration::from_millis(1));
        assert_eq!(percentile(&samples, 0.5), Duration::from_millis(51));
        assert_eq!(percentile(&samples, 0.99), Duration::from_millis(100));
        assert_eq!(percentile(&samples, 1.0), Duration::from_millis(101));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_resident_set_is_read() {
        assert!(vm_rss_kib() > 0);
    }
}
