//! JSON-RPC 2.0 over HTTP, written by hand (SPEC §5.3).
//!
//! * A body is one request object or a non-empty batch (array) of at most `max_batch`.
//! * Requests without `id` are notifications: executed, never answered. A body of only
//!   notifications gets HTTP 204.
//! * Errors: -32700 parse error, -32600 invalid request, -32601 method not found, -32602
//!   invalid params (the message names the parameter and the quote field), -32001 quote
//!   rejected (`data.reason` is the stable reason code), -32005 rate limited (HTTP 429).
//!
//! Quote parameters are parsed from the exact request text (`RawValue`), so the quote codec's
//! strict rules (unknown and duplicate fields refused, exact numbers) apply unchanged.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use epoch_rfq_pool::{InsertOutcome, RejectReason};
use epoch_rfq_quote::{EpochProofQuote, QuoteError};

use crate::metrics::IngestPath;
use crate::service::NodeService;

/// JSON-RPC error codes used by the node.
pub mod codes {
    /// Invalid JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// Not a valid request object (or batch).
    pub const INVALID_REQUEST: i64 = -32600;
    /// Unknown method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Wrong parameters; the message names the parameter/field.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Internal error (never expected).
    pub const INTERNAL_ERROR: i64 = -32603;
    /// The pool refused the quote; `data.reason` is its reason code.
    pub const QUOTE_REJECTED: i64 = -32001;
    /// Too many calls from this client; retry later.
    pub const RATE_LIMITED: i64 = -32005;
}

/// Method names.
pub mod methods {
    /// `node_addEpochProofQuote([quote]) -> null`
    pub const ADD_QUOTE: &str = "node_addEpochProofQuote";
    /// `node_getEpochProofQuotes([epoch]) -> [quote]`
    pub const GET_QUOTES: &str = "node_getEpochProofQuotes";
    /// `node_getL1ContractAddresses([]) -> {…}`
    pub const GET_L1_ADDRESSES: &str = "node_getL1ContractAddresses";
    /// `node_getNodeInfo([]) -> {…}`
    pub const GET_NODE_INFO: &str = "node_getNodeInfo";
}

/// A JSON-RPC error object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RpcError {
    /// One of [`codes`].
    pub code: i64,
    /// Human-readable; names the problem.
    pub message: String,
    /// For -32001: `{"reason": "<code>"}`; for -32602: `{"param": "<path>"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    fn invalid_request(m: impl Into<String>) -> Self {
        Self::new(
            codes::INVALID_REQUEST,
            format!("invalid request: {}", m.into()),
        )
    }

    fn invalid_params(param: &str, m: impl std::fmt::Display) -> Self {
        Self {
            code: codes::INVALID_PARAMS,
            message: format!("invalid params: {param}: {m}"),
            data: Some(serde_json::json!({ "param": param })),
        }
    }

    fn rejected(reason: &str, m: impl std::fmt::Display) -> Self {
        Self {
            code: codes::QUOTE_REJECTED,
            message: format!("quote rejected ({reason}): {m}"),
            data: Some(serde_json::json!({ "reason": reason })),
        }
    }

    pub(crate) fn rate_limited() -> Self {
        Self::new(codes::RATE_LIMITED, "rate limit exceeded; retry later")
    }

    pub(crate) fn body_too_large(limit: usize) -> Self {
        Self::invalid_request(format!("body exceeds the limit of {limit} bytes"))
    }
}

#[derive(Serialize)]
struct Response {
    jsonrpc: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<RpcError>,
    id: Value,
}

impl Response {
    fn ok(id: Value, result: Value) -> Self {
        Self {
            jsonrpc: "2.0",
            result: Some(result),
            error: None,
            id,
        }
    }
    fn err(id: Value, error: RpcError) -> Self {
        Self {
            jsonrpc: "2.0",
            result: None,
            error: Some(error),
            id,
        }
    }
}

/// A single error response as JSON text (id null).
pub(crate) fn error_body(error: RpcError) -> String {
    serde_json::to_string(&Response::err(Value::Null, error)).unwrap_or_default()
}

/// Present-but-null must differ from absent for `id` (null id = request, absent =
/// notification), so each field is wrapped in `Some` only when present.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct RawRequest<'a> {
    #[serde(default, deserialize_with = "present")]
    jsonrpc: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    method: Option<Value>,
    #[serde(default, borrow)]
    params: Option<&'a RawValue>,
    #[serde(default, deserialize_with = "present")]
    id: Option<Value>,
}

/// What to send back for a body.
pub(crate) enum Reply {
    /// A JSON body (single response or batch array).
    Json(String),
    /// Only notifications: nothing to answer.
    Empty,
    /// The rate limiter refused the extra calls of a batch.
    RateLimited,
}

/// Handles a whole HTTP body. `charge(n)` takes `n` more rate-limit tokens (the HTTP layer
/// already took one for the request) and returns false when the client is over its limit.
pub(crate) async fn handle_body(
    service: &NodeService,
    body: &[u8],
    charge: impl FnOnce(u32) -> bool,
) -> Reply {
    let parse_error = |m: String| Reply::Json(error_body(RpcError::new(codes::PARSE_ERROR, m)));
    let Ok(text) = std::str::from_utf8(body) else {
        return parse_error("parse error: body is not UTF-8".into());
    };
    let raw: &RawValue = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(e) => return parse_error(format!("parse error: {e}")),
    };
    let trimmed = raw.get().trim_start();
    if trimmed.starts_with('[') {
        let items: Vec<&RawValue> = match serde_json::from_str(raw.get()) {
            Ok(v) => v,
            Err(e) => return parse_error(format!("parse error: {e}")),
        };
        let max = service.config().max_batch;
        if items.is_empty() {
            return Reply::Json(error_body(RpcError::invalid_request("empty batch")));
        }
        if items.len() > max {
            return Reply::Json(error_body(RpcError::invalid_request(format!(
                "batch of {} calls exceeds the limit of {max}",
                items.len()
            ))));
        }
        let extra = u32::try_from(items.len() - 1).unwrap_or(u32::MAX);
        if extra > 0 && !charge(extra) {
            return Reply::RateLimited;
        }
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(r) = handle_one(service, item).await {
                out.push(r);
            }
        }
        if out.is_empty() {
            return Reply::Empty;
        }
        Reply::Json(serde_json::to_string(&out).unwrap_or_default())
    } else {
        match handle_one(service, raw).await {
            Some(r) => Reply::Json(serde_json::to_string(&r).unwrap_or_default()),
            None => Reply::Empty,
        }
    }
}

/// One request; `None` for a notification.
async fn handle_one(service: &NodeService, raw: &RawValue) -> Option<Response> {
    let Ok(req) = serde_json::from_str::<RawRequest<'_>>(raw.get()) else {
        return Some(Response::err(
            Value::Null,
            RpcError::invalid_request("not a JSON-RPC request object"),
        ));
    };
    let id = match req.id {
        None => None,
        Some(v @ (Value::Null | Value::Number(_) | Value::String(_))) => Some(v),
        Some(_) => {
            return Some(Response::err(
                Value::Null,
                RpcError::invalid_request("id must be a string, a number or null"),
            ));
        }
    };
    let reply_id = id.clone().unwrap_or(Value::Null);
    if req.jsonrpc.as_ref().and_then(Value::as_str) != Some("2.0") {
        return Some(Response::err(
            reply_id,
            RpcError::invalid_request("jsonrpc must be \"2.0\""),
        ));
    }
    let Some(Value::String(method)) = req.method else {
        return Some(Response::err(
            reply_id,
            RpcError::invalid_request("method must be a string"),
        ));
    };
    let result = call(service, &method, req.params).await;
    // Notifications are executed but not answered.
    let id = id?;
    Some(match result {
        Ok(v) => Response::ok(id, v),
        Err(e) => Response::err(id, e),
    })
}

/// The positional parameters: absent, `null` or an array; objects are refused.
fn positional(params: Option<&RawValue>) -> Result<Vec<&RawValue>, RpcError> {
    let Some(p) = params else {
        return Ok(Vec::new());
    };
    if !p.get().trim_start().starts_with('[') {
        return Err(RpcError::invalid_params(
            "params",
            "must be an array of positional parameters",
        ));
    }
    serde_json::from_str(p.get()).map_err(|e| RpcError::invalid_params("params", e))
}

fn arity<'a>(params: Option<&'a RawValue>, names: &[&str]) -> Result<Vec<&'a RawValue>, RpcError> {
    let p = positional(params)?;
    if p.len() != names.len() {
        let expected = if names.is_empty() {
            "no parameters".to_string()
        } else {
            format!("[{}]", names.join(", "))
        };
        return Err(RpcError::invalid_params(
            "params",
            format!("expected {expected}, got {} parameter(s)", p.len()),
        ));
    }
    Ok(p)
}

async fn call(
    service: &NodeService,
    method: &str,
    params: Option<&RawValue>,
) -> Result<Value, RpcError> {
    let metrics = service.metrics();
    match method {
        methods::ADD_QUOTE => {
            metrics.rpc_call(methods::ADD_QUOTE);
            let p = arity(params, &["quote"])?;
            let quote = match EpochProofQuote::from_json_str(p[0].get()) {
                Ok(q) => q,
                Err(e) => {
                    let reason = RejectReason::from_decode_error(e.clone());
                    metrics.rejected(IngestPath::Rpc, reason.code());
                    return Err(match e {
                        QuoteError::Json { field, reason } if field == "$" => {
                            RpcError::invalid_params("params[0]", reason)
                        }
                        QuoteError::Json { field, reason } => {
                            RpcError::invalid_params(&format!("params[0].{field}"), reason)
                        }
                        _ => RpcError::rejected(reason.code(), &reason),
                    });
                }
            };
            match service.add_quote(&quote, IngestPath::Rpc).await {
                Ok(o) if o.is_stored() => Ok(Value::Null),
                // Idempotent: re-sending a stored quote is a success.
                Ok(InsertOutcome::Duplicate) => Ok(Value::Null),
                Ok(InsertOutcome::NotCheaper { kept }) => {
                    let f = kept.fields();
                    Err(RpcError::rejected(
                        "not_cheaper",
                        format_args!(
                            "basisPointFee: prover {} already has a quote for epoch {} at {} bps \
                             valid until slot {}, at least as good as this one",
                            f.prover, f.epoch_number, f.basis_point_fee, f.valid_until_slot
                        ),
                    ))
                }
                Ok(InsertOutcome::Rejected(c)) => Err(RpcError::rejected(c.code(), &c)),
                Ok(_) => Ok(Value::Null),
                Err(r) => Err(RpcError::rejected(r.code(), &r)),
            }
        }
        methods::GET_QUOTES => {
            metrics.rpc_call(methods::GET_QUOTES);
            let p = arity(params, &["epoch"])?;
            let epoch = parse_epoch(p[0])?;
            let quotes = service.quotes(epoch);
            serde_json::to_value(&quotes)
                .map_err(|e| RpcError::new(codes::INTERNAL_ERROR, e.to_string()))
        }
        methods::GET_L1_ADDRESSES => {
            metrics.rpc_call(methods::GET_L1_ADDRESSES);
            arity(params, &[])?;
            serde_json::to_value(service.chain().l1_contract_addresses())
                .map_err(|e| RpcError::new(codes::INTERNAL_ERROR, e.to_string()))
        }
        methods::GET_NODE_INFO => {
            metrics.rpc_call(methods::GET_NODE_INFO);
            arity(params, &[])?;
            serde_json::to_value(service.node_info().await)
                .map_err(|e| RpcError::new(codes::INTERNAL_ERROR, e.to_string()))
        }
        other => {
            metrics.rpc_call("unknown");
            let shown: String = other.chars().take(64).collect();
            Err(RpcError::new(
                codes::METHOD_NOT_FOUND,
                format!("method not found: {shown}"),
            ))
        }
    }
}

/// An epoch: a JSON integer, or a decimal or `0x`-hex string; must fit in 64 bits.
fn parse_epoch(raw: &RawValue) -> Result<u64, RpcError> {
    const P: &str = "params[0] (epoch)";
    let v: Value = serde_json::from_str(raw.get()).map_err(|e| RpcError::invalid_params(P, e))?;
    let bad = |why: &str| RpcError::invalid_params(P, why);
    match v {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| bad("must be a non-negative integer below 2^64")),
        Value::String(s) => {
            let parsed = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(bad("not a valid 0x-hex number"));
                }
                u64::from_str_radix(hex, 16)
            } else {
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad("not a decimal or 0x-hex number"));
                }
                s.parse::<u64>()
            };
            parsed.map_err(|_| bad("out of range (must fit in 64 bits)"))
        }
        _ => Err(bad("must be a number or a decimal/0x-hex string")),
    }
}
