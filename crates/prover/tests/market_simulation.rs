//! The commitment ledger and the cost model without a chain: a deterministic simulation of a
//! prover's market over thousands of requests (random fees, loads, proving times and auction
//! outcomes), and property tests of the two promises: never more claimable bonds than free
//! escrow, never more work than can be proven before the deadlines, never a quote below cost.

use alloy_primitives::U256;
use epoch_rfq_prover::cost::{CostInputs, price};
use epoch_rfq_prover::cost_config::CostConfig;
use epoch_rfq_prover::ledger::{Ledger, LedgerSettings, Proposal, Stage};
use proptest::prelude::*;

/// xorshift64*: a tiny deterministic generator, so a failing run replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn cost_config() -> CostConfig {
    CostConfig::parse(
        r#"
bond_amount = "1000"
margin = 0.1
max_basis_point_fee = 9500
[l1]
proof_submission_gas = 350000
[price]
fee_token_per_eth = 2.0e6
[proving]
cost_per_epoch = 50
cost_per_tx = 0.5
seconds_per_epoch = 5.0
seconds_per_tx = 0.05
safety_factor = 1.25
[capital]
annual_rate = 0.08
[load]
surcharge_at_full = 0.5
"#,
        "simulation",
    )
    .expect("the simulation's cost file is valid")
}

/// A job being proven or waiting for a worker.
#[derive(Debug, Clone)]
struct Job {
    epoch: u64,
    deadline: u64,
    true_seconds: f64,
    tx_count: u64,
    bond: U256,
}

#[derive(Debug, Default)]
struct Outcome {
    quoted: u64,
    refused_capacity: u64,
    refused_bond: u64,
    no_quote_cost: u64,
    won: u64,
    proven: u64,
    late: u64,
    late_after_learning: u64,
    failed_claims: u64,
}

/// Runs `requests` auctions. The true proving speed is `true_scale` × the configured estimate,
/// with ±`noise` per job; `workers` provers; a starting escrow of `escrow`.
fn simulate(
    seed: u64,
    requests: u64,
    true_scale: f64,
    noise: f64,
    workers: usize,
    use_ledger: bool,
) -> Outcome {
    let mut rng = Rng(seed);
    let config = cost_config();
    let settings = LedgerSettings {
        workers,
        seconds_per_epoch: config.proving.seconds_per_epoch,
        seconds_per_tx: config.proving.seconds_per_tx,
        safety_factor: config.proving.safety_factor,
        learning_weight: 0.3,
    };
    let mut ledger = Ledger::new(settings);
    let bond = config.bond();
    // Escrow: free deposit and a pending withdrawal; available for bonds = free − pending.
    let mut free = U256::from(4_500u64);
    let pending_withdrawal = U256::from(500u64);
    let mut out = Outcome::default();
    // Pending claims: (claim time, epoch).
    let mut claims: Vec<(u64, u64)> = Vec::new();
    // Jobs waiting for a worker (EDF), and workers' (free at, job).
    let mut queue: Vec<Job> = Vec::new();
    let mut running: Vec<Option<(f64, Job)>> = vec![None; workers];
    let mut jobs_done = 0u64;
    let mut t = 0u64;
    for epoch in 0..requests {
        // Requests arrive every 3–25 s: sometimes idle, sometimes far more than the provers
        // can take.
        let next_t = t + rng.range(3, 25);
        // Advance time second by second: claims land, jobs start and finish.
        while t < next_t {
            t += 1;
            let now = t as f64;
            ledger.expire(t);
            for slot in running.iter_mut() {
                if let Some((finish, job)) = slot
                    && *finish <= now
                {
                    let job = job.clone();
                    out.proven += 1;
                    jobs_done += 1;
                    if *finish > job.deadline as f64 {
                        out.late += 1;
                        if jobs_done > 20 {
                            out.late_after_learning += 1;
                        }
                    }
                    ledger.observe_proving(job.tx_count, job.true_seconds);
                    ledger.on_finished(job.epoch);
                    free = free.saturating_add(job.bond); // bond returned with the proof
                    *slot = None;
                }
            }
            let due: Vec<u64> = claims
                .iter()
                .filter(|(at, _)| *at <= t)
                .map(|&(_, e)| e)
                .collect();
            claims.retain(|(at, _)| *at > t);
            for e in due {
                let Some(c) = ledger.commitment(e).cloned() else {
                    continue;
                };
                // The escrow contract: the bond must be available at claim time.
                if free.saturating_sub(pending_withdrawal) < c.bond {
                    out.failed_claims += 1;
                    ledger.on_claim(e, false, None);
                    continue;
                }
                free -= c.bond;
                ledger.on_claim(e, true, None);
                out.won += 1;
                let base = config.proving.seconds_per_epoch
                    + config.proving.seconds_per_tx * c.tx_count as f64;
                let jitter = 1.0 + noise * (2.0 * rng.unit() - 1.0);
                queue.push(Job {
                    epoch: e,
                    deadline: c.deadline_at,
                    true_seconds: base * true_scale * jitter,
                    tx_count: c.tx_count,
                    bond: c.bond,
                });
            }
            queue.sort_by_key(|j| (j.deadline, j.epoch));
            for slot in running.iter_mut() {
                if slot.is_none() && !queue.is_empty() {
                    let job = queue.remove(0);
                    ledger.on_proving(job.epoch, t);
                    *slot = Some((now + job.true_seconds, job));
                }
            }
            // Invariant 1: claimable bonds never exceed what the escrow has for bonds.
            let (claimable, _) = ledger.claimable_bonds(t);
            assert!(
                !use_ledger || claimable <= free.saturating_sub(pending_withdrawal),
                "seed {seed}, t {t}: claimable bonds {claimable} exceed available {}",
                free.saturating_sub(pending_withdrawal)
            );
        }
        // A request: random size, fees, gas price and deadline.
        let tx_count = rng.range(0, 800);
        let total_fees = U256::from(rng.range(0, 400_000));
        let deadline = t + rng.range(40, 240);
        let claimable_until = t + rng.range(2, 30);
        let now = t;
        let figures = ledger.figures(now);
        let inputs = CostInputs {
            tx_count,
            total_fees,
            gas_price_wei: u128::from(rng.range(1, 200)) * 1_000_000_000,
            fee_token_per_eth: config.price.fee_token_per_eth,
            speed_scale: ledger.speed_scale(),
            utilization: figures.utilization,
            bond_at_risk_seconds: deadline - now,
            blocks: 0,
        };
        let (breakdown, decision) = price(&config, &inputs);
        let Ok(bps) = decision else {
            out.no_quote_cost += 1;
            continue;
        };
        // Invariant 3: the fee received covers the cost.
        let received = total_fees * U256::from(bps) / U256::from(10_000);
        assert!(
            received >= breakdown.total_cost,
            "seed {seed}: fee {received} below cost {}",
            breakdown.total_cost
        );
        let proposal = Proposal {
            epoch,
            tx_count,
            bond,
            deadline_at: deadline,
            claimable_until,
        };
        let verdict = if use_ledger {
            ledger.check(&proposal, free.saturating_sub(pending_withdrawal), now)
        } else {
            Ok(())
        };
        match verdict {
            Ok(()) => {
                ledger.record(&proposal);
                out.quoted += 1;
                // Invariant 2: what the ledger holds is provable in time at its estimate.
                if use_ledger {
                    assert!(
                        ledger.is_feasible(now),
                        "seed {seed}: infeasible after a quote"
                    );
                }
                // The auction: a competitor's random fee; the cheaper quote is claimed at a
                // random moment of the claim window.
                let competitor = rng.range(0, 10_000);
                if u64::from(bps) <= competitor {
                    claims.push((now + rng.range(0, claimable_until - now), epoch));
                }
            }
            Err(refusal) => match refusal.code() {
                "ledger_capacity" => out.refused_capacity += 1,
                "ledger_bond" => out.refused_bond += 1,
                other => panic!("unexpected refusal {other}"),
            },
        }
    }
    out
}

#[test]
fn a_thousand_epochs_never_over_commit() {
    // The provers are as fast as configured, with ±15 % noise inside the 25 % safety factor.
    for seed in [1u64, 7, 42, 1_000_003] {
        let out = simulate(seed, 1_200, 1.0, 0.15, 2, true);
        println!("seed {seed}: {out:?}");
        assert_eq!(
            out.failed_claims, 0,
            "a claim found too little escrow: {out:?}"
        );
        assert_eq!(out.late, 0, "a proof missed its deadline: {out:?}");
        // The run exercised every branch: quotes, wins, and both kinds of refusal.
        assert!(out.quoted > 100 && out.won > 50, "{out:?}");
        assert!(out.refused_capacity > 0 && out.refused_bond > 0, "{out:?}");
        assert!(out.no_quote_cost > 0, "{out:?}");
    }
}

#[test]
fn a_slower_prover_than_configured_is_learned() {
    // Proofs take 3× the configured estimate: the first jobs may be late, then the ledger has
    // learned and keeps every deadline.
    let out = simulate(99, 1_200, 3.0, 0.1, 1, true);
    println!("{out:?}");
    assert_eq!(out.failed_claims, 0, "{out:?}");
    assert_eq!(out.late_after_learning, 0, "{out:?}");
    assert!(out.quoted > 50, "{out:?}");
}

#[test]
fn without_the_ledger_the_same_market_over_commits() {
    // The control: quoting everything the cost model accepts (the old rule) loses claims to a
    // short escrow and misses deadlines in the same market.
    let out = simulate(1, 1_200, 1.0, 0.15, 2, false);
    println!("{out:?}");
    assert!(out.failed_claims > 0, "{out:?}");
    assert!(out.late > 0, "{out:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever sequence of requests, claims and finishes: the claimable bonds the ledger
    /// accepted never exceed the escrow it was shown, and its commitments stay provable.
    #[test]
    fn the_ledger_never_over_commits(
        escrow in 0u64..20_000,
        ops in proptest::collection::vec((0u64..5_000, 1u64..600, 0u64..500, 0u8..4), 1..60),
    ) {
        let mut ledger = Ledger::new(LedgerSettings { workers: 2, ..LedgerSettings::default() });
        let mut available = U256::from(escrow);
        let mut now = 0u64;
        for (i, (bond, horizon, txs, action)) in ops.into_iter().enumerate() {
            now += 1;
            ledger.expire(now);
            let epoch = i as u64;
            match action {
                // Claim the oldest claimable quote: its bond leaves the free escrow.
                0 => {
                    let first = ledger.commitments().find(|c| matches!(c.stage, Stage::Quoted { .. })).cloned();
                    if let Some(c) = first {
                        prop_assert!(available >= c.bond, "claim of {} with {available}", c.bond);
                        available -= c.bond;
                        ledger.on_claim(c.epoch, true, None);
                    }
                }
                // Finish the oldest claimed job: the bond comes back.
                1 => {
                    let first = ledger.commitments().find(|c| !matches!(c.stage, Stage::Quoted { .. })).cloned();
                    if let Some(c) = first {
                        ledger.on_finished(c.epoch);
                        available += c.bond;
                    }
                }
                _ => {
                    let proposal = Proposal {
                        epoch: 1_000 + epoch,
                        tx_count: txs,
                        bond: U256::from(bond),
                        deadline_at: now + horizon,
                        claimable_until: now + horizon / 2,
                    };
                    if ledger.check(&proposal, available, now).is_ok() {
                        ledger.record(&proposal);
                        prop_assert!(ledger.is_feasible(now), "accepted work not provable in time");
                    }
                }
            }
            let (claimable, _) = ledger.claimable_bonds(now);
            prop_assert!(claimable <= available, "claimable {claimable} > available {available}");
        }
    }

    /// The cost model never quotes below its cost, nor above its maximum.
    #[test]
    fn the_cost_model_never_quotes_below_cost(
        tx_count in 0u64..100_000,
        total_fees in 0u128..u128::MAX / 4,
        gas_gwei in 0u64..10_000,
        scale in 0.01f64..50.0,
        utilization in 0.0f64..3.0,
        at_risk in 0u64..1_000_000,
        blocks in 0u64..64,
    ) {
        let config = cost_config();
        let inputs = CostInputs {
            tx_count,
            total_fees: U256::from(total_fees),
            gas_price_wei: u128::from(gas_gwei) * 1_000_000_000,
            fee_token_per_eth: config.price.fee_token_per_eth,
            speed_scale: scale,
            utilization,
            bond_at_risk_seconds: at_risk,
            blocks,
        };
        let (breakdown, decision) = price(&config, &inputs);
        if let Ok(bps) = decision {
            prop_assert!(bps <= config.max_basis_point_fee);
            // Paid per block, each share rounded down: split the fees over `blocks` blocks and
            // pay them the Rollup's way.
            let n = u128::from(blocks.max(1));
            let paid = (0..n).fold(U256::ZERO, |sum, i| {
                let share = total_fees / n + u128::from(i < total_fees % n);
                sum + U256::from(share) * U256::from(bps) / U256::from(10_000)
            });
            prop_assert!(paid >= breakdown.total_cost, "{paid} < {}", breakdown.total_cost);
            // And not needlessly above: one bps less would not cover cost plus rounding.
            if bps > 0 {
                let less = U256::from(total_fees) * U256::from(bps - 1) / U256::from(10_000);
                prop_assert!(less < breakdown.total_cost + U256::from(blocks));
            }
        } else {
            prop_assert!(total_fees == 0 || breakdown.basis_point_fee.is_some_and(|b| b > U256::from(config.max_basis_point_fee)));
        }
    }
}
