//! The seed's `QuoteProvider` (SPEC §6.3): the terms a prover offers for an epoch.
//!
//! "No quote" is a normal outcome (the operator's pricing declined, or could not be reached):
//! it is an error value carrying the reason, so the caller logs it and signs nothing.

use std::time::Duration;

use alloy_primitives::U256;
use epoch_rfq_quote::{MAX_BASIS_POINT_FEE, uint_from_json};
use futures::future::BoxFuture;
use serde_json::{Value, json};

/// What a quote provider is told about the epoch to prove: the seed's request fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochSummary {
    /// The epoch to prove.
    pub epoch_number: U256,
    /// First L2 block of the epoch.
    pub from_block: U256,
    /// Last L2 block of the epoch (inclusive).
    pub end_block: U256,
    /// Sum of the blocks' tx counts.
    pub tx_count: U256,
    /// Sum of the blocks' fees.
    pub total_fees: U256,
}

impl EpochSummary {
    /// The summary of `range` and its `blocks`, as read from L1 (the quoter and the dry run).
    pub fn from_l1(range: &epoch_rfq_l1::EpochRange, blocks: &[epoch_rfq_l1::BlockRecord]) -> Self {
        Self {
            epoch_number: U256::from(range.epoch),
            from_block: U256::from(range.from_block),
            end_block: U256::from(range.to_block),
            tx_count: blocks
                .iter()
                .fold(U256::ZERO, |sum, b| sum.saturating_add(b.tx_count)),
            total_fees: range.total_fees,
        }
    }
}

/// The prover's terms for one epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuoteTerms {
    /// Share of the epoch's fees, 0..=10000.
    pub basis_point_fee: u32,
    /// Bond staked from the escrow when claimed.
    pub bond_amount: U256,
    /// Last slot in which the quote may be claimed; `None`: the end of the claim phase.
    pub valid_until_slot: Option<U256>,
}

/// Why a provider gave no quote; nothing is signed or sent then.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoQuote {
    /// The pricing service did not answer in time (after every retry).
    #[error("pricing service timed out after {attempts} attempt(s) of {timeout_ms} ms each")]
    Timeout {
        /// Attempts made.
        attempts: u32,
        /// Per-attempt timeout.
        timeout_ms: u64,
    },
    /// The pricing service could not be reached (after every retry).
    #[error("pricing service unreachable after {attempts} attempt(s): {reason}")]
    Unreachable {
        /// Attempts made.
        attempts: u32,
        /// The last transport error.
        reason: String,
    },
    /// The pricing service answered with a non-success HTTP status.
    #[error("pricing service answered HTTP {status}: {body}")]
    HttpStatus {
        /// The status code.
        status: u16,
        /// The start of the body, for the log.
        body: String,
    },
    /// The reply is not a JSON object.
    #[error("pricing service reply is not a JSON object: {0}")]
    NotJson(String),
    /// A required field is missing (or null): the seed's rule, "no bondAmount or basisPointFee, no quote".
    #[error("pricing service reply has no `{0}`")]
    MissingField(&'static str),
    /// A field has a value that cannot be used.
    #[error("pricing service reply field `{field}`: {reason}")]
    BadValue {
        /// The JSON field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The epoch has no fees: no share of nothing covers a cost.
    #[error("the epoch has no fees")]
    NoFees,
    /// The cost needs a larger share of the fees than allowed.
    #[error(
        "cost {cost} needs {needed} bps of the epoch's fees {total_fees}, above the maximum {max} bps"
    )]
    CostAboveFees {
        /// The bps the cost would need.
        needed: String,
        /// The maximum (the cost file's `max_basis_point_fee`, at most 10000).
        max: u32,
        /// The cost (fee-token base units).
        cost: String,
        /// The epoch's fees.
        total_fees: String,
    },
    /// The fee-token price is unavailable and the cost file says not to guess.
    #[error("no fee-token price: {0}")]
    PriceUnavailable(String),
    /// The L1 gas price could not be read.
    #[error("no L1 gas price: {0}")]
    GasUnavailable(String),
}

impl NoQuote {
    /// A short, stable code for metrics labels.
    pub fn reason_code(&self) -> &'static str {
        match self {
            Self::Timeout { .. } => "timeout",
            Self::Unreachable { .. } => "unreachable",
            Self::HttpStatus { .. } => "http_status",
            Self::NotJson(_) => "not_json",
            Self::MissingField(_) => "missing_field",
            Self::BadValue { .. } => "bad_value",
            Self::NoFees => "no_fees",
            Self::CostAboveFees { .. } => "cost_above_fees",
            Self::PriceUnavailable(_) => "price_unavailable",
            Self::GasUnavailable(_) => "gas_unavailable",
        }
    }
}

/// The seed's `QuoteProvider` interface. Object-safe so the node can hold any implementation.
pub trait QuoteProvider: Send + Sync {
    /// The terms for `epoch`, or why there are none.
    fn get_quote<'a>(
        &'a self,
        epoch: &'a EpochSummary,
    ) -> BoxFuture<'a, Result<QuoteTerms, NoQuote>>;
}

/// Fixed terms from QUOTE_PROVIDER_BASIS_POINT_FEE and QUOTE_PROVIDER_BOND_AMOUNT.
#[derive(Debug, Clone)]
pub struct SimpleQuoteProvider {
    terms: QuoteTerms,
}

impl SimpleQuoteProvider {
    /// Always offers `basis_point_fee` and `bond_amount`, valid to the end of the claim phase.
    pub fn new(basis_point_fee: u32, bond_amount: U256) -> Self {
        Self {
            terms: QuoteTerms {
                basis_point_fee,
                bond_amount,
                valid_until_slot: None,
            },
        }
    }
}

impl QuoteProvider for SimpleQuoteProvider {
    fn get_quote<'a>(
        &'a self,
        _epoch: &'a EpochSummary,
    ) -> BoxFuture<'a, Result<QuoteTerms, NoQuote>> {
        Box::pin(async move { Ok(self.terms) })
    }
}

/// Asks a pricing service: POST `{epochNumber, fromBlock, endBlock, txCount, totalFees}` (uint256
/// as decimal strings), reads `{basisPointFee, bondAmount, validUntilSlot?}`.
#[derive(Debug, Clone)]
pub struct HttpQuoteProvider {
    client: reqwest::Client,
    url: String,
    timeout: Duration,
    retries: u32,
}

/// Longest reply body read from a pricing service; a reply is a few dozen bytes.
const MAX_REPLY_BYTES: usize = 16 * 1024;

impl HttpQuoteProvider {
    /// A provider for `url` with a per-attempt `timeout` and `retries` retries of transient
    /// failures (timeouts, connection errors, HTTP 5xx). Other failures are not retried: the
    /// service answered, and asking again would get the same answer.
    pub fn new(url: impl Into<String>, timeout: Duration, retries: u32) -> Self {
        Self {
            client: reqwest::Client::new(),
            url: url.into(),
            timeout,
            retries,
        }
    }

    async fn attempt(&self, body: &Value) -> Result<Value, Attempt> {
        let response = self
            .client
            .post(&self.url)
            .timeout(self.timeout)
            .json(body)
            .send()
            .await
            .map_err(Attempt::transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(Attempt::transport)?;
        let excerpt = || String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
        if status.is_server_error() {
            return Err(Attempt::Retry(NoQuote::HttpStatus {
                status: status.as_u16(),
                body: excerpt(),
            }));
        }
        if !status.is_success() {
            return Err(Attempt::Final(NoQuote::HttpStatus {
                status: status.as_u16(),
                body: excerpt(),
            }));
        }
        if bytes.len() > MAX_REPLY_BYTES {
            return Err(Attempt::Final(NoQuote::NotJson(format!(
                "reply of {} bytes is too large",
                bytes.len()
            ))));
        }
        serde_json::from_slice(&bytes)
            .map_err(|err| Attempt::Final(NoQuote::NotJson(format!("{err}: {}", excerpt()))))
    }
}

enum Attempt {
    Retry(NoQuote),
    Final(NoQuote),
}

impl Attempt {
    fn transport(err: reqwest::Error) -> Self {
        if err.is_timeout() {
            Attempt::Retry(NoQuote::Timeout {
                attempts: 0,
                timeout_ms: 0,
            })
        } else {
            Attempt::Retry(NoQuote::Unreachable {
                attempts: 0,
                reason: error_chain(&err),
            })
        }
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

impl QuoteProvider for HttpQuoteProvider {
    fn get_quote<'a>(
        &'a self,
        epoch: &'a EpochSummary,
    ) -> BoxFuture<'a, Result<QuoteTerms, NoQuote>> {
        Box::pin(async move {
            let body = json!({
                "epochNumber": epoch.epoch_number.to_string(),
                "fromBlock": epoch.from_block.to_string(),
                "endBlock": epoch.end_block.to_string(),
                "txCount": epoch.tx_count.to_string(),
                "totalFees": epoch.total_fees.to_string(),
            });
            let attempts = self.retries.saturating_add(1);
            let mut last = NoQuote::Unreachable {
                attempts: 0,
                reason: "no attempt made".into(),
            };
            for attempt in 1..=attempts {
                match self.attempt(&body).await {
                    Ok(reply) => return parse_reply(&reply),
                    Err(Attempt::Final(why)) => return Err(why),
                    Err(Attempt::Retry(why)) => {
                        tracing::debug!(attempt, reason = %why, "pricing request failed; retrying");
                        last = why;
                        if attempt < attempts {
                            // Short, growing pause: the service may be restarting.
                            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt)))
                                .await;
                        }
                    }
                }
            }
            Err(match last {
                NoQuote::Timeout { .. } => NoQuote::Timeout {
                    attempts,
                    timeout_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
                },
                NoQuote::Unreachable { reason, .. } => NoQuote::Unreachable { attempts, reason },
                other => other,
            })
        })
    }
}

/// Reads a pricing reply. Numbers follow the quote's JSON rules (decimal or 0x-hex strings, or
/// exact JSON integers); 0 is a valid fee and bond; unknown fields are ignored (services may add
/// their own, e.g. an explanation of the price).
pub fn parse_reply(reply: &Value) -> Result<QuoteTerms, NoQuote> {
    let object = reply
        .as_object()
        .ok_or_else(|| NoQuote::NotJson(format!("got {reply}")))?;
    let field = |name: &'static str| object.get(name).filter(|v| !v.is_null());
    let uint = |name: &'static str, value: &Value| {
        uint_from_json(value).map_err(|reason| NoQuote::BadValue {
            field: name,
            reason,
        })
    };
    let fee_value = field("basisPointFee").ok_or(NoQuote::MissingField("basisPointFee"))?;
    let bond_value = field("bondAmount").ok_or(NoQuote::MissingField("bondAmount"))?;
    let fee = uint("basisPointFee", fee_value)?;
    if fee > U256::from(MAX_BASIS_POINT_FEE) {
        return Err(NoQuote::BadValue {
            field: "basisPointFee",
            reason: format!("{fee} is above 10000 (100 %)"),
        });
    }
    let basis_point_fee = u32::try_from(fee).map_err(|_| NoQuote::BadValue {
        field: "basisPointFee",
        reason: format!("{fee} does not fit"),
    })?;
    let bond_amount = uint("bondAmount", bond_value)?;
    let valid_until_slot = field("validUntilSlot")
        .map(|v| uint("validUntilSlot", v))
        .transpose()?;
    Ok(QuoteTerms {
        basis_point_fee,
        bond_amount,
        valid_until_slot,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_numbers_and_strings_and_zero() {
        let terms = parse_reply(&json!({"basisPointFee": 0, "bondAmount": "0x0"})).unwrap();
        assert_eq!(
            terms,
            QuoteTerms {
                basis_point_fee: 0,
                bond_amount: U256::ZERO,
                valid_until_slot: None
            }
        );
        let terms = parse_reply(
            &json!({"basisPointFee": "250", "bondAmount": 1000, "validUntilSlot": 0, "why": "x"}),
        )
        .unwrap();
        assert_eq!(terms.valid_until_slot, Some(U256::ZERO));
        assert_eq!(terms.basis_point_fee, 250);
    }

    #[test]
    fn refuses_what_the_seed_says_means_no_quote() {
        assert_eq!(
            parse_reply(&json!({"bondAmount": 1})),
            Err(NoQuote::MissingField("basisPointFee"))
        );
        assert_eq!(
            parse_reply(&json!({"basisPointFee": 1, "bondAmount": null})),
            Err(NoQuote::MissingField("bondAmount"))
        );
        assert!(matches!(
            parse_reply(&json!([1, 2])),
            Err(NoQuote::NotJson(_))
        ));
        let err = parse_reply(&json!({"basisPointFee": 10001, "bondAmount": 1})).unwrap_err();
        assert!(err.to_string().contains("above 10000"), "{err}");
        let err = parse_reply(&json!({"basisPointFee": 1.5, "bondAmount": 1})).unwrap_err();
        assert!(err.to_string().contains("`basisPointFee`"), "{err}");
        let err = parse_reply(&json!({"basisPointFee": 1, "bondAmount": -3})).unwrap_err();
        assert!(err.to_string().contains("`bondAmount`: negative"), "{err}");
        let err =
            parse_reply(&json!({"basisPointFee": 1, "bondAmount": 1, "validUntilSlot": true}))
                .unwrap_err();
        assert!(err.to_string().contains("`validUntilSlot`"), "{err}");
    }
}
