//! The cost model: a fee that covers what proving and submitting an epoch's proof costs.
//!
//! `cost = L1 gas of the proof submission (at the chain's gas price, in fee-token units)
//!        + proving (per epoch + per tx, × the measured speed scale)
//!        + capital cost of the bond over the time it is at risk
//!        + load surcharge (× the ledger's utilization)
//!        + margin`
//!
//! and `basisPointFee = ceil(cost × 10000 / totalFees)`, so that the fee the prover receives,
//! `totalFees × bps / 10000`, is never below `cost`. No quote when the epoch has no fees or the
//! fee would exceed 10000 or the configured maximum.
//!
//! [`price`] is pure (the simulation and property tests call it directly). The live inputs come
//! through two small traits, [`GasPriceSource`] (the chain: `eth_gasPrice`) and
//! [`TokenPriceSource`] (a price URL), so tests need no chain. [`CostQuoteProvider`] puts them
//! together behind the node's [`QuoteProvider`].

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy_primitives::U256;
use epoch_rfq_l1::TimeParams;
use epoch_rfq_l1::alloy::providers::{DynProvider, Provider};
use epoch_rfq_quote::MAX_BASIS_POINT_FEE;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde::Serialize;

use crate::cost_config::{CostConfig, CostConfigError, CostConfigWatcher, OnStale, Reload};
use crate::ledger::{Ledger, LedgerSettings};
use crate::quote_provider::{EpochSummary, NoQuote, QuoteProvider, QuoteTerms};

/// The ledger shared by the node (which records commitments) and the cost model (which reads
/// its load and learned speed).
pub type SharedLedger = Arc<Mutex<Ledger>>;

const SECONDS_PER_YEAR: f64 = 365.0 * 24.0 * 3600.0;
const WEI_PER_ETH: f64 = 1e18;

/// Everything the cost of one epoch depends on besides the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CostInputs {
    /// The epoch's transactions.
    pub tx_count: u64,
    /// The epoch's fees (fee-token base units).
    pub total_fees: U256,
    /// L1 gas price (wei per gas).
    pub gas_price_wei: u128,
    /// Fee-token base units per ETH.
    pub fee_token_per_eth: f64,
    /// Learned proving speed (measured / configured); 1 when nothing was measured.
    pub speed_scale: f64,
    /// Ledger utilization (0..=1+).
    pub utilization: f64,
    /// Seconds the bond is at risk: from claim to the proof deadline.
    pub bond_at_risk_seconds: u64,
    /// Blocks in the epoch: the Rollup pays the fee share per block, rounding each down, so up
    /// to one fee-token unit per block is lost to rounding and is added to the cost.
    pub blocks: u64,
}

/// Every term of a price, in fee-token base units, and the decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostBreakdown {
    /// The inputs.
    pub inputs: CostInputs,
    /// Proof submission gas × gas price, in fee-token units.
    pub l1_gas: f64,
    /// Proving cost.
    pub proving: f64,
    /// Capital cost of the bond.
    pub capital: f64,
    /// Load surcharge.
    pub load_surcharge: f64,
    /// Margin.
    pub margin: f64,
    /// The sum, rounded up (fee-token base units).
    pub total_cost: U256,
    /// The bond.
    pub bond_amount: U256,
    /// `ceil(total_cost × 10000 / total_fees)` when there are fees.
    pub basis_point_fee: Option<U256>,
    /// What the prover would receive at that fee, before per-block rounding (at most `blocks`
    /// less on L1; never below `total_cost`).
    pub fee_received: Option<U256>,
}

/// The pure model: the cost terms and the fee for `inputs` under `config`.
pub fn price(config: &CostConfig, inputs: &CostInputs) -> (CostBreakdown, Result<u32, NoQuote>) {
    let nonneg = |v: f64| if v.is_finite() && v > 0.0 { v } else { 0.0 };
    let l1_gas = nonneg(
        config.l1.proof_submission_gas as f64
            * inputs.gas_price_wei as f64
            * inputs.fee_token_per_eth
            / WEI_PER_ETH,
    );
    let proving = nonneg(
        (config.proving.cost_per_epoch + config.proving.cost_per_tx * inputs.tx_count as f64)
            * inputs.speed_scale,
    );
    let bond = config.bond();
    let capital = nonneg(
        u256_to_f64(bond) * config.capital.annual_rate * inputs.bond_at_risk_seconds as f64
            / SECONDS_PER_YEAR,
    );
    let base = l1_gas + proving + capital;
    let load_surcharge = nonneg(base * config.load.surcharge_at_full * inputs.utilization.max(0.0));
    let margin = nonneg((base + load_surcharge) * config.margin);
    let total = base + load_surcharge + margin;
    let total_cost = f64_to_u256_ceil(total);
    let basis_point_fee = (!inputs.total_fees.is_zero()).then(|| {
        let numerator = total_cost
            .saturating_add(U256::from(inputs.blocks))
            .saturating_mul(U256::from(MAX_BASIS_POINT_FEE));
        numerator.div_ceil(inputs.total_fees)
    });
    let fee_received = basis_point_fee
        .map(|bps| inputs.total_fees.saturating_mul(bps) / U256::from(MAX_BASIS_POINT_FEE));
    let breakdown = CostBreakdown {
        inputs: *inputs,
        l1_gas,
        proving,
        capital,
        load_surcharge,
        margin,
        total_cost,
        bond_amount: bond,
        basis_point_fee,
        fee_received,
    };
    let decision = match basis_point_fee {
        None => Err(NoQuote::NoFees),
        Some(bps) => {
            let max = config.max_basis_point_fee.min(MAX_BASIS_POINT_FEE);
            if bps > U256::from(max) {
                Err(NoQuote::CostAboveFees {
                    needed: bps.to_string(),
                    max,
                    cost: total_cost.to_string(),
                    total_fees: inputs.total_fees.to_string(),
                })
            } else {
                Ok(u32::try_from(bps).unwrap_or(MAX_BASIS_POINT_FEE))
            }
        }
    };
    (breakdown, decision)
}

fn u256_to_f64(v: U256) -> f64 {
    // Exact enough for a cost: f64 keeps 53 bits.
    v.to_string().parse().unwrap_or(f64::MAX)
}

fn f64_to_u256_ceil(v: f64) -> U256 {
    if !(v.is_finite() && v > 0.0) {
        return U256::ZERO;
    }
    let ceil = v.ceil();
    if ceil < u128::MAX as f64 {
        U256::from(ceil as u128)
    } else {
        format!("{ceil:.0}").parse().unwrap_or(U256::MAX)
    }
}

/// The chain's gas price.
pub trait GasPriceSource: Send + Sync {
    /// Wei per gas now.
    fn gas_price_wei(&self) -> BoxFuture<'_, Result<u128, String>>;
}

/// A fetched fee-token price of ETH.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PricePoint {
    /// Fee-token base units per ETH.
    pub fee_token_per_eth: f64,
    /// When the source says it was observed (unix seconds); `None`: now.
    pub observed_at: Option<u64>,
}

/// Where the fee-token price of ETH comes from.
pub trait TokenPriceSource: Send + Sync {
    /// The latest price.
    fn fetch(&self) -> BoxFuture<'_, Result<PricePoint, String>>;
}

/// `eth_gasPrice` of an L1 provider.
#[derive(Debug, Clone)]
pub struct ChainGasPrice(pub DynProvider);

impl GasPriceSource for ChainGasPrice {
    fn gas_price_wei(&self) -> BoxFuture<'_, Result<u128, String>> {
        Box::pin(async move {
            self.0
                .get_gas_price()
                .await
                .map_err(|e| format!("eth_gasPrice: {e}"))
        })
    }
}

/// A price URL answering `{"feeTokenPerEth": <number or decimal string>, "timestamp"?: <unix s>}`.
#[derive(Debug, Clone)]
pub struct HttpTokenPrice {
    client: reqwest::Client,
    url: String,
}

impl HttpTokenPrice {
    /// A source for `url` (GET, 2 s timeout).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            client: reqwest::Client::new(),
            url: url.into(),
        }
    }
}

impl TokenPriceSource for HttpTokenPrice {
    fn fetch(&self) -> BoxFuture<'_, Result<PricePoint, String>> {
        Box::pin(async move {
            let reply = self
                .client
                .get(&self.url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .map_err(|e| format!("price URL {}: {e}", self.url))?;
            if !reply.status().is_success() {
                return Err(format!(
                    "price URL {} answered {}",
                    self.url,
                    reply.status()
                ));
            }
            let body: serde_json::Value = reply
                .json()
                .await
                .map_err(|e| format!("price URL {}: not JSON: {e}", self.url))?;
            let value = match body.get("feeTokenPerEth") {
                Some(serde_json::Value::Number(n)) => n.as_f64(),
                Some(serde_json::Value::String(s)) => s.parse().ok(),
                _ => None,
            }
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| {
                format!(
                    "price URL {}: no non-negative `feeTokenPerEth` in {body}",
                    self.url
                )
            })?;
            Ok(PricePoint {
                fee_token_per_eth: value,
                observed_at: body.get("timestamp").and_then(serde_json::Value::as_u64),
            })
        })
    }
}

/// Where a price used by the model came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceOrigin {
    /// The file's `fee_token_per_eth` (no URL configured).
    Configured,
    /// Fetched now from the URL.
    Url,
    /// The URL failed; a fetched price still within `max_age_seconds` was used.
    Cached,
    /// The URL failed or was stale; the file's price was used (`on_stale = "configured"`).
    Fallback,
}

/// One priced epoch, for logs and the dry run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PricedEpoch {
    /// The epoch.
    pub epoch: String,
    /// The terms and figures, when all inputs were available.
    pub breakdown: Option<CostBreakdown>,
    /// Where the token price came from.
    pub price_origin: Option<PriceOrigin>,
    /// Notes (a fallback taken, a reload refused).
    pub notes: Vec<String>,
    /// The fee, or why not.
    #[serde(serialize_with = "ser_decision")]
    pub decision: Result<u32, NoQuote>,
}

fn ser_decision<S: serde::Serializer>(d: &Result<u32, NoQuote>, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(2))?;
    match d {
        Ok(bps) => {
            map.serialize_entry("quote", &true)?;
            map.serialize_entry("basisPointFee", bps)?;
        }
        Err(why) => {
            map.serialize_entry("quote", &false)?;
            map.serialize_entry("reasonCode", why.reason_code())?;
            map.serialize_entry("reason", &why.to_string())?;
        }
    }
    map.end()
}

struct PriceCache {
    value: f64,
    fetched_at: u64,
}

/// The cost-based [`QuoteProvider`] (QUOTE_PROVIDER_COST_FILE).
pub struct CostQuoteProvider {
    watcher: Mutex<CostConfigWatcher>,
    time: TimeParams,
    gas: Arc<dyn GasPriceSource>,
    token_price: Option<Arc<dyn TokenPriceSource>>,
    ledger: SharedLedger,
    cache: Mutex<Option<PriceCache>>,
    last_logged_epoch: Mutex<Option<U256>>,
}

impl std::fmt::Debug for CostQuoteProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CostQuoteProvider")
            .field("file", &self.watcher.lock().path())
            .finish()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The ledger settings a cost file asks for (the worker count comes from the node).
pub fn ledger_settings(config: &CostConfig, workers: usize) -> LedgerSettings {
    LedgerSettings {
        workers,
        seconds_per_epoch: config.proving.seconds_per_epoch,
        seconds_per_tx: config.proving.seconds_per_tx,
        safety_factor: config.proving.safety_factor,
        ..LedgerSettings::default()
    }
}

impl CostQuoteProvider {
    /// A provider reading `path` (refused when invalid), pricing gas from `gas`, the token from
    /// the file's URL when it has one, and load and speed from `ledger`.
    pub fn open(
        path: &Path,
        time: TimeParams,
        gas: Arc<dyn GasPriceSource>,
        ledger: SharedLedger,
    ) -> Result<Self, CostConfigError> {
        let watcher = CostConfigWatcher::open(path)?;
        let token_price = watcher
            .current()
            .price
            .url
            .clone()
            .map(|url| Arc::new(HttpTokenPrice::new(url)) as Arc<dyn TokenPriceSource>);
        Ok(Self::with_sources(watcher, time, gas, token_price, ledger))
    }

    /// A provider with explicit sources (tests, the simulation).
    pub fn with_sources(
        watcher: CostConfigWatcher,
        time: TimeParams,
        gas: Arc<dyn GasPriceSource>,
        token_price: Option<Arc<dyn TokenPriceSource>>,
        ledger: SharedLedger,
    ) -> Self {
        {
            let mut l = ledger.lock();
            let workers = l.settings().workers;
            l.set_settings(ledger_settings(watcher.current(), workers));
        }
        Self {
            watcher: Mutex::new(watcher),
            time,
            gas,
            token_price,
            ledger,
            cache: Mutex::new(None),
            last_logged_epoch: Mutex::new(None),
        }
    }

    /// The configuration in use (after reloading it if the file changed).
    pub fn config(&self) -> CostConfig {
        let mut watcher = self.watcher.lock();
        match watcher.poll() {
            Reload::Unchanged => {}
            Reload::Reloaded => {
                tracing::info!(file = %watcher.path().display(), "cost file reloaded");
                let mut l = self.ledger.lock();
                let workers = l.settings().workers;
                l.set_settings(ledger_settings(watcher.current(), workers));
            }
            Reload::Kept(err) => {
                tracing::error!(%err, "cost file changed but is invalid; keeping the previous one");
            }
        }
        watcher.current().clone()
    }

    async fn token_price(
        &self,
        config: &CostConfig,
        notes: &mut Vec<String>,
    ) -> Result<(f64, PriceOrigin), NoQuote> {
        let Some(source) = &self.token_price else {
            return Ok((config.price.fee_token_per_eth, PriceOrigin::Configured));
        };
        let now = unix_now();
        let max_age = config.price.max_age_seconds;
        let problem = match source.fetch().await {
            Ok(point) => {
                let observed = point.observed_at.unwrap_or(now);
                let age = now.saturating_sub(observed);
                if age <= max_age {
                    *self.cache.lock() = Some(PriceCache {
                        value: point.fee_token_per_eth,
                        fetched_at: observed,
                    });
                    return Ok((point.fee_token_per_eth, PriceOrigin::Url));
                }
                format!("the price URL's price is {age} s old (max_age_seconds = {max_age})")
            }
            Err(err) => err,
        };
        if let Some(cache) = &*self.cache.lock()
            && now.saturating_sub(cache.fetched_at) <= max_age
        {
            notes.push(format!(
                "{problem}; using the price fetched {} s ago",
                now.saturating_sub(cache.fetched_at)
            ));
            return Ok((cache.value, PriceOrigin::Cached));
        }
        match config.price.on_stale {
            OnStale::Configured => {
                notes.push(format!(
                    "{problem}; falling back to the configured price.fee_token_per_eth = {}",
                    config.price.fee_token_per_eth
                ));
                Ok((config.price.fee_token_per_eth, PriceOrigin::Fallback))
            }
            OnStale::NoQuote => Err(NoQuote::PriceUnavailable(format!(
                "{problem}; price.on_stale = \"no_quote\""
            ))),
        }
    }

    /// Prices `epoch` with every term, for the quote and the dry run.
    pub async fn price_epoch(&self, epoch: &EpochSummary) -> PricedEpoch {
        let config = self.config();
        let mut notes = Vec::new();
        let mut priced = PricedEpoch {
            epoch: epoch.epoch_number.to_string(),
            breakdown: None,
            price_origin: None,
            notes: Vec::new(),
            decision: Err(NoQuote::NoFees),
        };
        let token = self.token_price(&config, &mut notes).await;
        let gas = self
            .gas
            .gas_price_wei()
            .await
            .map_err(NoQuote::GasUnavailable);
        let (token, origin) = match token {
            Ok(t) => t,
            Err(why) => {
                priced.notes = notes;
                priced.decision = Err(why);
                return priced;
            }
        };
        priced.price_origin = Some(origin);
        let gas_price_wei = match gas {
            Ok(g) => g,
            Err(why) => {
                priced.notes = notes;
                priced.decision = Err(why);
                return priced;
            }
        };
        let (speed_scale, utilization) = {
            let ledger = self.ledger.lock();
            let now = ledger.clock().unwrap_or_else(unix_now);
            (ledger.speed_scale(), ledger.figures(now).utilization)
        };
        // At risk from the claim (at the latest, the start of the claim phase) to the proof
        // deadline: one epoch. Pure chain arithmetic, so it needs no clock.
        let epoch_number = u64::try_from(epoch.epoch_number).unwrap_or(u64::MAX);
        let at_risk = self
            .time
            .slot_start(self.time.proof_deadline_slot(epoch_number))
            .saturating_sub(
                self.time
                    .slot_start(self.time.claim_phase(epoch_number).start),
            );
        let inputs = CostInputs {
            tx_count: u64::try_from(epoch.tx_count).unwrap_or(u64::MAX),
            total_fees: epoch.total_fees,
            gas_price_wei,
            fee_token_per_eth: token,
            speed_scale,
            utilization,
            bond_at_risk_seconds: at_risk,
            blocks: u64::try_from(
                epoch
                    .end_block
                    .saturating_sub(epoch.from_block)
                    .saturating_add(U256::from(1)),
            )
            .unwrap_or(u64::MAX),
        };
        let (breakdown, decision) = price(&config, &inputs);
        priced.breakdown = Some(breakdown);
        priced.notes = notes;
        priced.decision = decision;
        priced
    }
}

impl QuoteProvider for CostQuoteProvider {
    fn get_quote<'a>(
        &'a self,
        epoch: &'a EpochSummary,
    ) -> BoxFuture<'a, Result<QuoteTerms, NoQuote>> {
        Box::pin(async move {
            let priced = self.price_epoch(epoch).await;
            for note in &priced.notes {
                tracing::warn!(epoch = %epoch.epoch_number, "{note}");
            }
            let first = {
                let mut last = self.last_logged_epoch.lock();
                let first = *last != Some(epoch.epoch_number);
                *last = Some(epoch.epoch_number);
                first
            };
            if first && let Some(b) = &priced.breakdown {
                tracing::info!(
                    epoch = %epoch.epoch_number,
                    l1_gas = format_args!("{:.0}", b.l1_gas),
                    proving = format_args!("{:.0}", b.proving),
                    capital = format_args!("{:.0}", b.capital),
                    load = format_args!("{:.0}", b.load_surcharge),
                    margin = format_args!("{:.0}", b.margin),
                    cost = %b.total_cost,
                    total_fees = %b.inputs.total_fees,
                    bps = ?priced.decision.as_ref().ok(),
                    "cost model"
                );
            }
            let bps = priced.decision?;
            Ok(QuoteTerms {
                basis_point_fee: bps,
                bond_amount: priced.breakdown.map_or(U256::ZERO, |b| b.bond_amount),
                valid_until_slot: None,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> CostConfig {
        CostConfig::parse(
            r#"
bond_amount = "1000000"
margin = 0.1
max_basis_point_fee = 9000
[l1]
proof_submission_gas = 300000
[price]
fee_token_per_eth = 2.0e3
[proving]
cost_per_epoch = 200
cost_per_tx = 1.5
[capital]
annual_rate = 0.10
[load]
surcharge_at_full = 0.5
"#,
            "test",
        )
        .expect("valid")
    }

    fn inputs(total_fees: u64) -> CostInputs {
        CostInputs {
            tx_count: 100,
            total_fees: U256::from(total_fees),
            gas_price_wei: 1_000_000_000,
            fee_token_per_eth: 2.0e3,
            speed_scale: 1.0,
            utilization: 0.0,
            bond_at_risk_seconds: 3600,
            blocks: 0,
        }
    }

    #[test]
    fn every_term_adds_up_and_the_fee_covers_the_cost() {
        let (b, decision) = price(&config(), &inputs(100_000));
        // 300000 gas × 1 gwei = 3e14 wei = 3e-4 ETH × 2000 = 0.6 units.
        assert!((b.l1_gas - 0.6).abs() < 1e-9, "{}", b.l1_gas);
        assert!((b.proving - 350.0).abs() < 1e-9);
        // 1e6 × 0.1 × 3600 / (365 × 86400) ≈ 11.4155.
        assert!((b.capital - 11.415_525).abs() < 1e-5, "{}", b.capital);
        assert_eq!(b.load_surcharge, 0.0);
        let base = b.l1_gas + b.proving + b.capital;
        assert!((b.margin - base * 0.1).abs() < 1e-9);
        // 362.0155 + 10 % = 398.217…, rounded up.
        assert_eq!(b.total_cost, U256::from(399u64));
        let bps = decision.expect("quotes");
        assert_eq!(U256::from(bps), b.basis_point_fee.expect("fees"));
        assert!(b.fee_received.expect("fees") >= b.total_cost);
    }

    #[test]
    fn no_quote_without_fees_or_above_the_maximum() {
        assert_eq!(price(&config(), &inputs(0)).1, Err(NoQuote::NoFees));
        let err = price(&config(), &inputs(400)).1.unwrap_err();
        assert_eq!(err.reason_code(), "cost_above_fees");
    }

    #[test]
    fn load_and_speed_raise_the_price() {
        let base = price(&config(), &inputs(100_000)).0.total_cost;
        let mut busy = inputs(100_000);
        busy.utilization = 1.0;
        assert!(price(&config(), &busy).0.total_cost > base);
        let mut slow = inputs(100_000);
        slow.speed_scale = 2.0;
        assert!(price(&config(), &slow).0.total_cost > base);
    }

    struct FixedGas(u128);
    impl GasPriceSource for FixedGas {
        fn gas_price_wei(&self) -> BoxFuture<'_, Result<u128, String>> {
            Box::pin(async move { Ok(self.0) })
        }
    }

    /// A price source answering from a queue (then failing).
    struct Script(Mutex<Vec<Result<PricePoint, String>>>);
    impl TokenPriceSource for Script {
        fn fetch(&self) -> BoxFuture<'_, Result<PricePoint, String>> {
            Box::pin(async move {
                let mut queue = self.0.lock();
                if queue.is_empty() {
                    Err("price URL down".to_owned())
                } else {
                    queue.remove(0)
                }
            })
        }
    }

    fn provider(on_stale: &str, answers: Vec<Result<PricePoint, String>>) -> CostQuoteProvider {
        let dir =
            std::env::temp_dir().join(format!("cost-provider-{on_stale}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("cost.toml");
        std::fs::write(
            &path,
            format!(
                "bond_amount = \"1000\"\n[l1]\nproof_submission_gas = 1000000\n[price]\n\
                 fee_token_per_eth = 1.0e9\nurl = \"http://127.0.0.1:9/\"\nmax_age_seconds = 60\n\
                 on_stale = \"{on_stale}\"\n[proving]\ncost_per_epoch = 0\ncost_per_tx = 0\n"
            ),
        )
        .expect("write");
        let watcher = CostConfigWatcher::open(&path).expect("valid");
        let time = TimeParams {
            genesis: 0,
            slot_duration: 10,
            epoch_duration: 4,
            claim_window: 2,
        };
        CostQuoteProvider::with_sources(
            watcher,
            time,
            Arc::new(FixedGas(1_000_000_000)),
            Some(Arc::new(Script(Mutex::new(answers)))),
            crate::market::default_ledger(1),
        )
    }

    fn epoch() -> EpochSummary {
        EpochSummary {
            epoch_number: U256::from(3),
            from_block: U256::from(1),
            end_block: U256::from(1),
            tx_count: U256::ZERO,
            total_fees: U256::from(1_000_000u64),
        }
    }

    #[tokio::test]
    async fn a_down_or_stale_price_url_falls_back_as_configured_and_says_so() {
        let fresh = PricePoint {
            fee_token_per_eth: 2.0e9,
            observed_at: None,
        };
        let stale = PricePoint {
            fee_token_per_eth: 5.0e9,
            observed_at: Some(unix_now() - 3_600),
        };
        // Fresh, then down (the cached price is reused), then stale (the file's price).
        let p = provider("configured", vec![Ok(fresh), Err("down".into()), Ok(stale)]);
        let first = p.price_epoch(&epoch()).await;
        assert_eq!(first.price_origin, Some(PriceOrigin::Url));
        assert_eq!(
            first.breakdown.expect("priced").inputs.fee_token_per_eth,
            2.0e9
        );
        let second = p.price_epoch(&epoch()).await;
        assert_eq!(second.price_origin, Some(PriceOrigin::Cached));
        assert!(
            second.notes[0].contains("using the price fetched"),
            "{:?}",
            second.notes
        );
        *p.cache.lock() = None;
        let third = p.price_epoch(&epoch()).await;
        assert_eq!(third.price_origin, Some(PriceOrigin::Fallback));
        assert!(third.notes[0].contains("3600 s old"), "{:?}", third.notes);
        assert!(third.notes[0].contains("falling back"), "{:?}", third.notes);
        assert_eq!(
            third.breakdown.expect("priced").inputs.fee_token_per_eth,
            1.0e9
        );
        // With on_stale = "no_quote": no quote, and the reason names the setting.
        let strict = provider("no_quote", vec![]);
        let err = strict.get_quote(&epoch()).await.unwrap_err();
        assert_eq!(err.reason_code(), "price_unavailable");
        assert!(err.to_string().contains("no_quote"), "{err}");
    }
}
