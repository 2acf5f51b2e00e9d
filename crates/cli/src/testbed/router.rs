//! The link emulator: a user-space IP router between the hosts' TUN devices.
//!
//! This kernel has no `netem` qdisc, so delay, jitter and loss are applied here, per packet:
//! every IPv4 packet a host sends to another host of the subnet is read from the sender's TUN
//! device, dropped with the link's loss probability (or because the two hosts are on opposite
//! sides of a partition), and otherwise written to the receiver's TUN device when its one-way
//! delay (half the pair's round-trip time, plus up to `jitter`) has passed. TCP between the
//! hosts therefore sees real loss and retransmits, not just latency. Packets of one direction of
//! one link leave in the order they came (a link is a FIFO), as on a real path.
//!
//! Links to and from the control host (index 0: anvil and the orchestrator's own requests) are
//! not emulated: they carry L1 and the measurement scrape, which are not under test.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use parking_lot::RwLock;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tun_tap::Iface;

use super::netns::host_of;

/// What every emulated link does (the control host's links excepted).
#[derive(Debug, Clone, Copy)]
pub struct LinkModel {
    /// Round-trip times are drawn per host pair, uniformly in `rtt_min..=rtt_max`.
    pub rtt_min: Duration,
    pub rtt_max: Duration,
    /// Extra one-way delay, uniform in `0..=jitter`, per packet.
    pub jitter: Duration,
    /// Probability that a packet is lost, per packet and direction.
    pub loss: f64,
    /// Seed of the per-pair round-trip times and the per-packet draws.
    pub seed: u64,
}

/// Packet counts since the start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouterStats {
    pub forwarded: u64,
    /// Packets offered to emulated links (between two hosts, the control host's links aside).
    pub emulated: u64,
    pub lost: u64,
    /// Dropped by a partition.
    pub cut: u64,
    /// Not IPv4 or not to a host of the subnet.
    pub unroutable: u64,
}

#[derive(Default)]
struct Counters {
    forwarded: AtomicU64,
    emulated: AtomicU64,
    lost: AtomicU64,
    cut: AtomicU64,
    unroutable: AtomicU64,
}

struct Shared {
    model: LinkModel,
    hosts: usize,
    /// Group of each host while a partition is on; hosts in different groups do not reach
    /// each other.
    partition: RwLock<Option<Vec<u8>>>,
    counters: Counters,
}

impl Shared {
    /// One-way delay of the link `a → b` before jitter (half the pair's round-trip time).
    fn base_delay(&self, a: usize, b: usize) -> Duration {
        if a == 0 || b == 0 {
            return Duration::ZERO;
        }
        let (lo, hi) = (a.min(b) as u64, a.max(b) as u64);
        let mut rng = SplitMix(self.model.seed ^ (lo << 32 | hi).wrapping_mul(0x9E37_79B9));
        let span = self.model.rtt_max.saturating_sub(self.model.rtt_min);
        let rtt = self.model.rtt_min + span.mul_f64(rng.unit());
        rtt / 2
    }

    fn is_cut(&self, a: usize, b: usize) -> bool {
        if a == 0 || b == 0 {
            return false;
        }
        self.partition
            .read()
            .as_ref()
            .is_some_and(|g| g.get(a) != g.get(b))
    }
}

/// The running emulator (its own thread and runtime). Dropping it stops it.
pub struct Router {
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Router {
    /// Starts routing between `tuns` (`(host index, TUN device)`; index 0 is the control host).
    pub fn start(tuns: Vec<(usize, Iface)>, model: LinkModel) -> Result<Self> {
        let hosts = tuns.iter().map(|(i, _)| i + 1).max().unwrap_or(0);
        let shared = Arc::new(Shared {
            model,
            hosts,
            partition: RwLock::new(None),
            counters: Counters::default(),
        });
        for (_, tun) in &tuns {
            tun.set_non_blocking()
                .with_context(|| format!("setting {} non-blocking", tun.name()))?;
        }
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("link-emulator".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready_tx.send(Err(anyhow::anyhow!(e)));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let mut devices: Vec<Option<Arc<AsyncFd<Iface>>>> =
                        (0..thread_shared.hosts).map(|_| None).collect();
                    for (index, tun) in tuns {
                        // `new` is deprecated for types that may close their fd while
                        // registered; `Iface` owns its fd and closes it only when dropped, which
                        // happens after the AsyncFd deregistered it (the safe path; `register`
                        // is `unsafe`).
                        #[allow(deprecated)]
                        let registered = AsyncFd::new(tun);
                        match registered {
                            Ok(fd) => devices[index] = Some(Arc::new(fd)),
                            Err(e) => {
                                let _ = ready_tx.send(Err(anyhow::anyhow!(e)));
                                return;
                            }
                        }
                    }
                    let devices = Arc::new(devices);
                    let mut readers = Vec::new();
                    for index in 0..devices.len() {
                        if devices[index].is_some() {
                            readers.push(tokio::spawn(read_host(
                                index,
                                devices.clone(),
                                thread_shared.clone(),
                            )));
                        }
                    }
                    let _ = ready_tx.send(Ok(()));
                    let _ = stop_rx.await;
                    for r in readers {
                        r.abort();
                    }
                });
            })
            .context("starting the link emulator thread")?;
        ready_rx
            .recv()
            .context("the link emulator thread stopped at start")??;
        Ok(Self {
            shared,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Cuts the hosts whose group differs from each other's (`groups[host]`; the control host
    /// stays reachable from everyone).
    pub fn partition(&self, groups: Vec<u8>) {
        *self.shared.partition.write() = Some(groups);
    }

    /// Ends a partition.
    pub fn heal(&self) {
        *self.shared.partition.write() = None;
    }

    /// The round-trip time of the link between hosts `a` and `b` (jitter aside).
    pub fn rtt(&self, a: usize, b: usize) -> Duration {
        self.shared.base_delay(a, b) * 2
    }

    /// Packet counts so far.
    pub fn stats(&self) -> RouterStats {
        let c = &self.shared.counters;
        RouterStats {
            forwarded: c.forwarded.load(Ordering::Relaxed),
            emulated: c.emulated.load(Ordering::Relaxed),
            lost: c.lost.load(Ordering::Relaxed),
            cut: c.cut.load(Ordering::Relaxed),
            unroutable: c.unroutable.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type Devices = Arc<Vec<Option<Arc<AsyncFd<Iface>>>>>;
/// Packets of one direction of one link with their due times.
type LinkQueue = mpsc::UnboundedSender<(Instant, Vec<u8>)>;

/// Reads every packet host `src` sends and routes it.
async fn read_host(src: usize, devices: Devices, shared: Arc<Shared>) {
    let Some(device) = devices[src].clone() else {
        return;
    };
    let mut rng = SplitMix(shared.model.seed ^ (src as u64).wrapping_mul(0xA24B_AED4_963E_E407));
    // Per destination: the link's queue and the last packet's due time (links are FIFO).
    let mut links: HashMap<usize, (LinkQueue, Instant)> = HashMap::new();
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok(mut guard) = device.readable().await else {
            return;
        };
        let n = match guard.try_io(|fd| fd.get_ref().recv(&mut buf)) {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                tracing::warn!(host = src, error = %e, "TUN read failed; host detached");
                return;
            }
            Err(_would_block) => continue,
        };
        let packet = &buf[..n];
        let c = &shared.counters;
        let Some(dst) = destination(packet).filter(|d| *d < devices.len() && *d != src) else {
            c.unroutable.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let Some(out) = devices[dst].clone() else {
            c.unroutable.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        if shared.is_cut(src, dst) {
            c.cut.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let emulated = src != 0 && dst != 0;
        if emulated {
            c.emulated.fetch_add(1, Ordering::Relaxed);
        }
        if emulated && rng.unit() < shared.model.loss {
            c.lost.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let mut delay = shared.base_delay(src, dst);
        if emulated && !shared.model.jitter.is_zero() {
            delay += shared.model.jitter.mul_f64(rng.unit());
        }
        if delay.is_zero() {
            c.forwarded.fetch_add(1, Ordering::Relaxed);
            let _ = out.get_ref().send(packet);
            continue;
        }
        let now = Instant::now();
        let (queue, last_due) = links.entry(dst).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(deliver(rx, out, shared.clone()));
            (tx, now)
        });
        let due = (now + delay).max(*last_due);
        *last_due = due;
        let _ = queue.send((due, packet.to_vec()));
    }
}

/// One direction of one link: writes each packet to the receiver at its due time, in order.
async fn deliver(
    mut queue: mpsc::UnboundedReceiver<(Instant, Vec<u8>)>,
    out: Arc<AsyncFd<Iface>>,
    shared: Arc<Shared>,
) {
    while let Some((due, packet)) = queue.recv().await {
        tokio::time::sleep_until(due).await;
        shared.counters.forwarded.fetch_add(1, Ordering::Relaxed);
        // A full receive queue drops the packet, as a congested link would.
        let _ = out.get_ref().send(&packet);
    }
}

/// The destination host of an IPv4 packet.
fn destination(packet: &[u8]) -> Option<usize> {
    if packet.len() < 20 || packet[0] >> 4 != 4 {
        return None;
    }
    host_of([packet[16], packet[17], packet[18], packet[19]])
}

/// SplitMix64: small, fast, and good enough for loss draws and round-trip times.
pub(crate) struct SplitMix(pub u64);

impl SplitMix {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_hosts_of_the_subnet_only() {
        let mut p = vec![0u8; 20];
        p[0] = 0x45;
        p[16..20].copy_from_slice(&[10, 77, 0, 3]);
        assert_eq!(destination(&p), Some(2));
        p[16..20].copy_from_slice(&[10, 78, 0, 3]);
        assert_eq!(destination(&p), None);
        p[0] = 0x60; // IPv6
        assert_eq!(destination(&p), None);
        assert_eq!(destination(&p[..10]), None);
    }

    #[test]
    fn round_trip_times_are_symmetric_and_in_range() {
        let shared = Shared {
            model: LinkModel {
                rtt_min: Duration::from_millis(40),
                rtt_max: Duration::from_millis(120),
                jitter: Duration::ZERO,
                loss: 0.0,
                seed: 7,
            },
            hosts: 60,
            partition: RwLock::new(None),
            counters: Counters::default(),
        };
        let mut distinct = std::collections::HashSet::new();
        for a in 1..50 {
            for b in 1..50 {
                let d = shared.base_delay(a, b);
                assert_eq!(d, shared.base_delay(b, a));
                assert!(d >= Duration::from_millis(20) && d <= Duration::from_millis(60));
                distinct.insert(d);
            }
        }
        assert!(
            distinct.len() > 100,
            "pairs should differ: {}",
            distinct.len()
        );
        assert_eq!(shared.base_delay(0, 5), Duration::ZERO);
        *shared.partition.write() = Some(vec![0, 0, 1, 1]);
        assert!(shared.is_cut(1, 2) && !shared.is_cut(2, 3) && !shared.is_cut(0, 2));
    }
}
