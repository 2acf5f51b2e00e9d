//! The cost model's configuration file (TOML, `QUOTE_PROVIDER_COST_FILE`).
//!
//! Strict on purpose: an unknown key is most likely a typo of a known one, and a typo in a price
//! silently replaced by a default is how a prover ends up quoting below cost. So unknown keys,
//! negative or non-finite numbers and a margin above 100 % are refused with the key and the reason.
//!
//! The file is re-read when its modification time changes ([`CostConfigWatcher::poll`]); a
//! reload that fails keeps the previous configuration and returns the reason to log.
//!
//! ```toml
//! bond_amount = "1000"          # fee-token base units, as a string (uint256)
//! margin = 0.10                 # share of the cost added as profit, 0..=1
//! max_basis_point_fee = 9000    # never quote above this (≤ 10000)
//!
//! [l1]
//! proof_submission_gas = 350000 # gas of submitEpochProof
//!
//! [price]                       # fee-token base units per 1 ETH (1e18 wei)
//! fee_token_per_eth = 3.0e21
//! url = "http://127.0.0.1:9000/price"   # optional; JSON {"feeTokenPerEth": <number>}
//! max_age_seconds = 300         # a fetched price older than this is stale
//! on_stale = "configured"       # or "no_quote"
//!
//! [proving]                     # fee-token base units; scaled by measured proving speed
//! cost_per_epoch = 200
//! cost_per_tx = 1.5
//! seconds_per_epoch = 1.0       # starting estimate of proving time
//! seconds_per_tx = 0.01
//! safety_factor = 1.5
//!
//! [capital]
//! annual_rate = 0.05            # cost of capital of the bond, per year
//!
//! [load]
//! surcharge_at_full = 0.5       # share of the cost added when the ledger is fully committed
//! ```

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use alloy_primitives::U256;
use epoch_rfq_quote::MAX_BASIS_POINT_FEE;
use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostConfig {
    /// Bond offered with each quote (fee-token base units, decimal string).
    pub bond_amount: String,
    /// Profit as a share of the cost (0..=1).
    #[serde(default)]
    pub margin: f64,
    /// Highest fee ever quoted (bps, ≤ 10000).
    #[serde(default = "default_max_bps")]
    pub max_basis_point_fee: u32,
    /// L1 gas.
    pub l1: L1Costs,
    /// Fee-token price of ETH.
    pub price: PriceConfig,
    /// Proving cost and time.
    pub proving: ProvingCosts,
    /// Capital cost of the bond.
    #[serde(default)]
    pub capital: CapitalCosts,
    /// Load surcharge.
    #[serde(default)]
    pub load: LoadSurcharge,
}

fn default_max_bps() -> u32 {
    MAX_BASIS_POINT_FEE
}

/// `[l1]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct L1Costs {
    /// Gas used by one `submitEpochProof`.
    pub proof_submission_gas: u64,
}

/// `[price]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceConfig {
    /// Fee-token base units per ETH: the price when there is no URL, and the fallback.
    pub fee_token_per_eth: f64,
    /// A service answering `{"feeTokenPerEth": <number>}`.
    #[serde(default)]
    pub url: Option<String>,
    /// Age after which a fetched price is stale.
    #[serde(default = "default_max_age")]
    pub max_age_seconds: u64,
    /// What to do when the URL is down or its price is stale.
    #[serde(default)]
    pub on_stale: OnStale,
}

fn default_max_age() -> u64 {
    300
}

/// What a stale or unreachable price URL leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnStale {
    /// Use `fee_token_per_eth` from the file (and say so).
    #[default]
    Configured,
    /// Do not quote.
    NoQuote,
}

/// `[proving]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvingCosts {
    /// Cost of proving an epoch, before its transactions (fee-token base units).
    pub cost_per_epoch: f64,
    /// Cost per transaction.
    pub cost_per_tx: f64,
    /// Starting estimate of proving time per epoch (seconds).
    #[serde(default = "default_seconds_per_epoch")]
    pub seconds_per_epoch: f64,
    /// Starting estimate per transaction (seconds).
    #[serde(default = "default_seconds_per_tx")]
    pub seconds_per_tx: f64,
    /// Work estimates × this must fit before the deadlines (≥ 1).
    #[serde(default = "default_safety")]
    pub safety_factor: f64,
}

fn default_seconds_per_epoch() -> f64 {
    1.0
}
fn default_seconds_per_tx() -> f64 {
    0.01
}
fn default_safety() -> f64 {
    1.5
}

/// `[capital]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapitalCosts {
    /// Yearly cost of capital of the bond while it is at risk (0.05 = 5 %).
    #[serde(default)]
    pub annual_rate: f64,
}

/// `[load]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSurcharge {
    /// Share of the cost added when the ledger's utilization is 1 (linear in between).
    #[serde(default)]
    pub surcharge_at_full: f64,
}

/// Why a cost file is refused. Names the key and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CostConfigError {
    /// The file cannot be read.
    #[error("cost file {path}: cannot read it: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// Not TOML, an unknown key, or a wrong type.
    #[error("cost file {path}: {reason}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message (it names the key and line).
        reason: String,
    },
    /// A value out of range.
    #[error("cost file {path}: `{key}` {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// The key, dotted (`price.fee_token_per_eth`).
        key: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
}

impl CostConfig {
    /// Parses and validates `text` (`path` is for messages only).
    pub fn parse(text: &str, path: &str) -> Result<Self, CostConfigError> {
        let config: CostConfig = toml::from_str(text).map_err(|err| CostConfigError::Parse {
            path: path.to_owned(),
            reason: err.to_string().trim_end().replace('\n', " "),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Self, CostConfigError> {
        let text = std::fs::read_to_string(path).map_err(|err| CostConfigError::Read {
            path: path.display().to_string(),
            reason: err.to_string(),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The bond as a number.
    pub fn bond(&self) -> U256 {
        // Validated in `validate`.
        self.bond_amount.parse().unwrap_or_default()
    }

    fn validate(&self, path: &str) -> Result<(), CostConfigError> {
        let invalid = |key: &'static str, reason: String| CostConfigError::Invalid {
            path: path.to_owned(),
            key,
            reason,
        };
        self.bond_amount.parse::<U256>().map_err(|err| {
            invalid(
                "bond_amount",
                format!(
                    "{:?} is not a non-negative integer (fee-token base units): {err}",
                    self.bond_amount
                ),
            )
        })?;
        let non_negative = |key: &'static str, value: f64| {
            if value.is_finite() && value >= 0.0 {
                Ok(())
            } else {
                Err(invalid(
                    key,
                    format!("is {value}: it must be a finite number ≥ 0"),
                ))
            }
        };
        non_negative("margin", self.margin)?;
        if self.margin > 1.0 {
            return Err(invalid(
                "margin",
                format!(
                    "is {} ({} %): a margin is a share of the cost from 0 to 1 (100 %)",
                    self.margin,
                    self.margin * 100.0
                ),
            ));
        }
        if self.max_basis_point_fee > MAX_BASIS_POINT_FEE {
            return Err(invalid(
                "max_basis_point_fee",
                format!(
                    "is {}: at most 10000 (100 % of the epoch's fees)",
                    self.max_basis_point_fee
                ),
            ));
        }
        non_negative("price.fee_token_per_eth", self.price.fee_token_per_eth)?;
        if let Some(url) = &self.price.url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid(
                "price.url",
                format!("{url:?} is not an http(s) URL"),
            ));
        }
        if self.price.url.is_some() && self.price.max_age_seconds == 0 {
            return Err(invalid(
                "price.max_age_seconds",
                "is 0: every fetched price would be stale".into(),
            ));
        }
        non_negative("proving.cost_per_epoch", self.proving.cost_per_epoch)?;
        non_negative("proving.cost_per_tx", self.proving.cost_per_tx)?;
        non_negative("proving.seconds_per_epoch", self.proving.seconds_per_epoch)?;
        non_negative("proving.seconds_per_tx", self.proving.seconds_per_tx)?;
        if !(self.proving.safety_factor.is_finite() && self.proving.safety_factor >= 1.0) {
            return Err(invalid(
                "proving.safety_factor",
                format!(
                    "is {}: it must be ≥ 1 (estimates are multiplied by it)",
                    self.proving.safety_factor
                ),
            ));
        }
        non_negative("capital.annual_rate", self.capital.annual_rate)?;
        non_negative("load.surcharge_at_full", self.load.surcharge_at_full)?;
        Ok(())
    }
}

/// Re-reads the cost file when its modification time changes.
#[derive(Debug)]
pub struct CostConfigWatcher {
    path: PathBuf,
    modified: Option<SystemTime>,
    current: CostConfig,
}

/// What a poll found.
#[derive(Debug, Clone, PartialEq)]
pub enum Reload {
    /// The file did not change.
    Unchanged,
    /// The file changed and was loaded.
    Reloaded,
    /// The file changed but is invalid; the previous configuration stays.
    Kept(CostConfigError),
}

impl CostConfigWatcher {
    /// Loads `path`; refuses an invalid file.
    pub fn open(path: &Path) -> Result<Self, CostConfigError> {
        let modified = modified(path);
        let current = CostConfig::load(path)?;
        Ok(Self {
            path: path.to_owned(),
            modified,
            current,
        })
    }

    /// The configuration in use.
    pub fn current(&self) -> &CostConfig {
        &self.current
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reloads when the file's modification time changed.
    pub fn poll(&mut self) -> Reload {
        let now = modified(&self.path);
        if now == self.modified {
            return Reload::Unchanged;
        }
        self.modified = now;
        match CostConfig::load(&self.path) {
            Ok(config) => {
                self.current = config;
                Reload::Reloaded
            }
            Err(err) => Reload::Kept(err),
        }
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const GOOD: &str = r#"
bond_amount = "1000"
margin = 0.1
max_basis_point_fee = 9000
[l1]
proof_submission_gas = 350000
[price]
fee_token_per_eth = 3.0e21
[proving]
cost_per_epoch = 200
cost_per_tx = 1.5
[capital]
annual_rate = 0.05
[load]
surcharge_at_full = 0.5
"#;

    fn refused(text: &str) -> String {
        CostConfig::parse(text, "cost.toml")
            .expect_err("must be refused")
            .to_string()
    }

    #[test]
    fn reads_a_good_file() {
        let config = CostConfig::parse(GOOD, "cost.toml").expect("valid");
        assert_eq!(config.bond(), U256::from(1000));
        assert_eq!(config.price.on_stale, OnStale::Configured);
        assert_eq!(config.proving.safety_factor, 1.5);
    }

    #[test]
    fn refuses_bad_values_naming_the_key() {
        let err = refused(&GOOD.replace("margin = 0.1", "margin = 1.5"));
        assert!(err.contains("`margin`") && err.contains("100 %"), "{err}");
        let err = refused(&GOOD.replace("cost_per_tx = 1.5", "cost_per_tx = -1.5"));
        assert!(err.contains("`proving.cost_per_tx`"), "{err}");
        let err = refused(&GOOD.replace("fee_token_per_eth = 3.0e21", "fee_token_per_eth = -1.0"));
        assert!(err.contains("`price.fee_token_per_eth`"), "{err}");
        let err = refused(&GOOD.replace("bond_amount = \"1000\"", "bond_amount = \"-5\""));
        assert!(err.contains("`bond_amount`"), "{err}");
        let err =
            refused(&GOOD.replace("max_basis_point_fee = 9000", "max_basis_point_fee = 10001"));
        assert!(err.contains("`max_basis_point_fee`"), "{err}");
        let err = refused(&GOOD.replace("margin = 0.1", "margn = 0.1"));
        assert!(err.contains("margn"), "{err}");
        let err = refused(&GOOD.replace("[load]", "[load]\nsurcharge = 1"));
        assert!(err.contains("surcharge"), "{err}");
    }

    #[test]
    fn an_invalid_reload_keeps_the_old_configuration() {
        let dir = std::env::temp_dir().join(format!("cost-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("cost.toml");
        std::fs::write(&path, GOOD).expect("write");
        let mut watcher = CostConfigWatcher::open(&path).expect("valid");
        assert_eq!(watcher.poll(), Reload::Unchanged);
        // Force a different mtime even on coarse file systems.
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::write(&path, GOOD.replace("margin = 0.1", "margin = 2")).expect("write");
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(later))
            .expect("mtime");
        let Reload::Kept(err) = watcher.poll() else {
            panic!("an invalid file must be kept out");
        };
        assert!(err.to_string().contains("`margin`"), "{err}");
        assert_eq!(watcher.current().margin, 0.1);
        std::fs::write(&path, GOOD.replace("margin = 0.1", "margin = 0.2")).expect("write");
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(later + std::time::Duration::from_secs(5)))
            .expect("mtime");
        assert_eq!(watcher.poll(), Reload::Reloaded);
        assert_eq!(watcher.current().margin, 0.2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
