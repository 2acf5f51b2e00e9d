//! The testbed's figures and targets, the markdown report and the final line.
//!
//! Delivery counts (quote, node) pairs: every quote a prover sent for a measured epoch, at every
//! node that was up when it was sent (a node killed by the churn scenario is not expected to
//! see quotes sent while it was down, nor in the 2 s after it was ready again). Latency is the
//! node's first sighting minus the prover's send time.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::measure::percentile;
use super::{CLAIM_WINDOW, Measured, PROPOSER_COLLECTION_MS, PROPOSER_POLL_MS, Phase, TestbedArgs};

/// p99 target of gossip latency (ms).
pub const P99_TARGET_MS: u64 = 400;

/// The figures of one scenario (or all of them).
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub epochs: usize,
    pub sent: usize,
    pub expected: usize,
    pub delivered: usize,
    /// Sorted latencies (ms) of the delivered pairs.
    pub latencies: Vec<u64>,
    /// Quotes that never reached the proposer's node.
    pub missing_at_proposer: usize,
    /// Epochs with a quote in time at the proposer's node / of them claimed at the cheapest.
    pub claimable: usize,
    pub cheapest: usize,
}

impl Row {
    fn p(&self, q: f64) -> Option<u64> {
        percentile(&self.latencies, q)
    }
}

/// Everything computed from a run.
#[derive(Debug, Clone)]
pub struct Figures {
    pub phases: BTreeMap<Phase, Row>,
    pub total: Row,
    /// Per quote of the partition epoch: ms from its send until every node had it (`None`: some
    /// node never did).
    pub after_heal: Vec<Option<u64>>,
    /// 2 gossip heartbeats (ms).
    pub heal_target_ms: u64,
    /// (unix ms, node) of every first sighting, for the plots.
    pub sightings: Vec<(u64, usize)>,
    /// Garbage messages published by the garbage host (0: the scenario did not happen).
    pub garbage_published: u64,
}

impl Figures {
    pub fn compute(m: &Measured) -> Self {
        let mut phases: BTreeMap<Phase, Row> = BTreeMap::new();
        for (epoch, phase) in &m.phases {
            phases.entry(*phase).or_default().epochs += 1;
            let _ = epoch;
        }
        let mut total = Row {
            epochs: m.phases.len(),
            ..Row::default()
        };
        let mut after_heal = Vec::new();
        for (_, s) in &m.sent {
            let Some(phase) = m.phases.get(&s.epoch) else {
                continue;
            };
            let key = (s.prover.clone(), s.fee);
            let row = phases.entry(*phase).or_default();
            row.sent += 1;
            total.sent += 1;
            let mut slowest = Some(0u64);
            for node in 1..=m.plan.hosts {
                let seen = m
                    .views
                    .get(&node)
                    .and_then(|v| v.get(&s.epoch))
                    .and_then(|v| v.first_seen.get(&key))
                    .copied();
                if node == m.plan.proposer && seen.is_none() {
                    row.missing_at_proposer += 1;
                    total.missing_at_proposer += 1;
                }
                slowest = match (slowest, seen) {
                    (Some(a), Some(t)) => Some(a.max(t.saturating_sub(s.at_ms))),
                    _ => None,
                };
                let down = m.plan.churned.contains(&node)
                    && s.at_ms >= m.churn.0
                    && s.at_ms <= m.churn.1 + 2_000;
                if down {
                    continue;
                }
                row.expected += 1;
                total.expected += 1;
                if let Some(t) = seen {
                    row.delivered += 1;
                    total.delivered += 1;
                    let latency = t.saturating_sub(s.at_ms);
                    row.latencies.push(latency);
                    total.latencies.push(latency);
                }
            }
            if *phase == Phase::Partition {
                after_heal.push(slowest);
            }
        }
        // Claims: the cheapest quote the proposer's node held by the time the proposer's
        // collection window closed (one polling interval early: the pool is read at a tick).
        for (epoch, phase) in &m.phases {
            let Some(view) = m.views.get(&m.plan.proposer).and_then(|v| v.get(epoch)) else {
                continue;
            };
            let opened = m.time.slot_start(m.time.claim_phase(*epoch).start) * 1000;
            let cutoff = opened + PROPOSER_COLLECTION_MS - PROPOSER_POLL_MS;
            let Some(cheapest) = view
                .first_seen
                .iter()
                .filter(|(_, seen)| **seen <= cutoff)
                .map(|((_, fee), _)| *fee)
                .min()
            else {
                continue;
            };
            let met = view.claimed_fee.is_some_and(|fee| fee <= cheapest);
            for row in [phases.entry(*phase).or_default(), &mut total] {
                row.claimable += 1;
                row.cheapest += usize::from(met);
            }
        }
        for row in phases.values_mut().chain(std::iter::once(&mut total)) {
            row.latencies.sort_unstable();
        }
        let mut sightings = Vec::new();
        for (node, epochs) in &m.views {
            for view in epochs.values() {
                sightings.extend(view.first_seen.values().map(|t| (*t, *node)));
            }
        }
        sightings.sort_unstable();
        Self {
            phases,
            total,
            after_heal,
            heal_target_ms: 2 * m.heartbeat.as_millis() as u64,
            sightings,
            garbage_published: m.garbage_published,
        }
    }

    /// The targets missed, each as a sentence. `strict` (the full run): all of them. Without it
    /// (`--quick`, in the test suite) the timed targets (p99, time to every node after the heal)
    /// and the garbage host's presence are left out: on a shared 2-core machine the timed ones
    /// measure the machine's load as much as the network (the project shows speed with printed
    /// figures, not timed tests). Every quote sent after the heal must still reach every node.
    pub fn missed(&self, strict: bool) -> Vec<String> {
        let mut missed = Vec::new();
        let t = &self.total;
        for (phase, row) in &self.phases {
            if row.sent == 0 {
                missed.push(format!("no quote was sent in the {} epochs", phase.name()));
            }
        }
        if t.missing_at_proposer > 0 {
            missed.push(format!(
                "{} quotes never reached the proposer's node",
                t.missing_at_proposer
            ));
        }
        match t.p(99.0) {
            Some(p99) if p99 <= P99_TARGET_MS || !strict => {}
            Some(p99) => missed.push(format!("p99 {p99} ms > {P99_TARGET_MS} ms")),
            None => missed.push("no quote was delivered".into()),
        }
        let never = self.after_heal.iter().filter(|s| s.is_none()).count();
        if never > 0 || self.after_heal.is_empty() {
            missed.push(format!(
                "after the partition healed, {never} of {} quotes never reached every node",
                self.after_heal.len()
            ));
        }
        let late = self
            .after_heal
            .iter()
            .filter(|s| s.is_some_and(|ms| ms > self.heal_target_ms))
            .count();
        if strict && late > 0 {
            missed.push(format!(
                "after the partition healed, {late} of {} quotes reached every node later than \
                 2 heartbeats ({} ms)",
                self.after_heal.len(),
                self.heal_target_ms
            ));
        }
        // Without a peer the scenario did not happen; the quick run reports it rather than fail
        // the suite on the attacker's luck.
        if strict && self.garbage_published == 0 {
            missed.push("the garbage host published nothing (no peer took its messages)".into());
        }
        if t.claimable == 0 || t.cheapest < t.claimable {
            missed.push(format!(
                "{} of {} epochs claimed at the cheapest quote in time",
                t.cheapest, t.claimable
            ));
        }
        missed
    }

    /// `testbed: delivered X/Y quotes, p50 A ms, p99 B ms, epochs claimed at the cheapest
    /// quote C/D`.
    pub fn final_line(&self) -> String {
        let t = &self.total;
        format!(
            "testbed: delivered {}/{} quotes, p50 {} ms, p99 {} ms, epochs claimed at the \
             cheapest quote {}/{}",
            t.delivered,
            t.expected,
            fmt_ms(t.p(50.0)),
            fmt_ms(t.p(99.0)),
            t.cheapest,
            t.claimable
        )
    }

    /// The per-scenario table, as markdown (also printed).
    pub fn table(&self) -> String {
        let mut s = String::from(
            "| scenario | epochs | quotes sent | delivered (quote × node) | p50 ms | p99 ms | max ms | missing at the proposer's node | claimed at the cheapest |\n|---|---|---|---|---|---|---|---|---|\n",
        );
        let rows = self
            .phases
            .iter()
            .map(|(p, r)| (p.name(), r))
            .chain(std::iter::once(("all", &self.total)));
        for (name, r) in rows {
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {}/{} | {} | {} | {} | {} | {}/{} |",
                r.epochs,
                r.sent,
                r.delivered,
                r.expected,
                fmt_ms(r.p(50.0)),
                fmt_ms(r.p(99.0)),
                fmt_ms(r.latencies.last().copied()),
                r.missing_at_proposer,
                r.cheapest,
                r.claimable
            );
        }
        s
    }
}

fn fmt_ms(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// The markdown report.
pub fn markdown(m: &Measured, f: &Figures, args: &TestbedArgs) -> String {
    let p = &m.plan;
    let mut s = String::new();
    let _ = writeln!(s, "# Testbed report\n");
    let _ = writeln!(
        s,
        "{} hosts (network namespaces) plus a control host with anvil; links between hosts: \
         RTT {}-{} ms per pair, jitter up to {} ms one way, loss {} % per packet and direction \
         (user-space link emulator, seed {}). Chain: {} s slots, {}-slot epochs, {}-slot claim \
         phase. Gossip heartbeat {} ms.\n",
        p.hosts,
        m.model.rtt_min.as_millis(),
        m.model.rtt_max.as_millis(),
        m.model.jitter.as_millis(),
        m.model.loss * 100.0,
        m.model.seed,
        super::SLOT_SECONDS,
        super::EPOCH_SLOTS,
        CLAIM_WINDOW,
        m.heartbeat.as_millis()
    );
    let _ = writeln!(
        s,
        "Roles: a node on every host; the proposer on host {} (reading its own node); \
         gossiping provers on hosts {} (fees {} bps); an HTTP prover on host {} ({} bps, posting \
         to its own node); the garbage publisher on host {}.\n",
        p.proposer,
        p.gossip_provers
            .iter()
            .map(|(h, _)| h.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        p.gossip_provers
            .iter()
            .map(|(_, f)| f.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        p.http_prover.0,
        p.http_prover.1,
        p.garbage
    );
    let epochs_of = |phase: Phase| {
        let e: Vec<String> = m
            .phases
            .iter()
            .filter(|(_, p)| **p == phase)
            .map(|(e, _)| e.to_string())
            .collect();
        e.join(", ")
    };
    let _ = writeln!(
        s,
        "Scenarios, by the epoch whose quotes were measured (quotes for epoch e go out when e + 1 \
         starts): steady state, epochs {}; partition, epoch {}: hosts {:?} cut off for {:.1} s, \
         healed 1 s before its quotes went out; churn, epochs {}: nodes {:?} killed with SIGKILL \
         at the end of the previous claim phase and restarted with their data {} s later (ready \
         {:.1} s after the kill); garbage host, epochs {}: host {} publishing {} random 302-byte \
         messages a second from the end of the previous claim phase on.\n",
        epochs_of(Phase::Steady),
        epochs_of(Phase::Partition),
        p.minority,
        (m.partition.1 - m.partition.0) as f64 / 1000.0,
        epochs_of(Phase::Churn),
        p.churned,
        super::EPOCH_SLOTS * super::SLOT_SECONDS,
        (m.churn.1 - m.churn.0) as f64 / 1000.0,
        epochs_of(Phase::Garbage),
        p.garbage,
        super::GARBAGE_PER_SECOND
    );
    let _ = writeln!(s, "{}", f.table());
    let _ = writeln!(
        s,
        "After the partition healed: slowest time from a quote's send to every node having it: \
         {} (target ≤ 2 heartbeats, {} ms).\n",
        f.after_heal
            .iter()
            .map(|v| v.map_or("never".to_owned(), |ms| format!("{ms} ms")))
            .collect::<Vec<_>>()
            .join(", "),
        f.heal_target_ms
    );
    let _ = writeln!(
        s,
        "Garbage host: {} messages published during its epochs.\n",
        m.garbage_published
    );
    let r = &m.router;
    let _ = writeln!(
        s,
        "Link emulator: {} packets forwarded; of {} on emulated links (host to host), {} lost \
         ({:.2} %); {} dropped at the partition; {} unroutable.\n",
        r.forwarded,
        r.emulated,
        r.lost,
        100.0 * r.lost as f64 / r.emulated.max(1) as f64,
        r.cut,
        r.unroutable
    );
    let _ = writeln!(
        s,
        "Load average of the machine (/proc/loadavg, 1/5/15 min) at the start: {}; at the end: \
         {}.\n",
        m.load.0, m.load.1
    );
    let all = f.missed(true);
    let enforced = f.missed(!args.quick);
    if all.is_empty() {
        let _ = writeln!(s, "Targets: all met.\n");
    } else {
        let _ = writeln!(s, "Targets missed:\n");
        for m in &all {
            let note = if enforced.contains(m) {
                ""
            } else {
                " (reported, not enforced by --quick)"
            };
            let _ = writeln!(s, "- {m}{note}");
        }
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "![Propagation latency CDF](latency_cdf.png)\n\n![Quotes seen per node over time](quotes_per_node.png)\n"
    );
    let _ = writeln!(s, "```\n{}\n```", f.final_line());
    let _ = writeln!(
        s,
        "\nCommand: `scripts/testbed{}{}{}`",
        if cfg!(debug_assertions) {
            ""
        } else {
            " --release"
        },
        if args.quick { " --quick" } else { "" },
        args.hosts
            .map_or(String::new(), |h| format!(" --hosts {h}"))
    );
    s
}
