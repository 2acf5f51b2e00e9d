//! Where signed quotes leave the prover (SPEC §6.1): a node's JSON-RPC API over HTTP, or gossip.
//! The node and P2P crates provide the real sinks; the runtime only needs this trait.

use epoch_rfq_quote::EpochProofQuote;
use futures::future::BoxFuture;

/// Why a quote could not be handed over. The runtime keeps the quote (it is already recorded)
/// and sends the same quote again on a later tick.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// The path is down (connection refused, no peers, timeout): worth retrying.
    #[error("quote path unavailable: {0}")]
    Unavailable(String),
    /// The receiver refused the quote (e.g. a node's JSON-RPC error): retrying may not help.
    #[error("quote rejected: {0}")]
    Rejected(String),
}

/// A quote path. Object-safe so the node can hold any implementation.
pub trait QuoteSink: Send + Sync {
    /// The path's name for metrics and the store: `http` or `p2p`.
    fn name(&self) -> &'static str;

    /// Hands `quote` to the path (a node's `node_addEpochProofQuote`, or gossip).
    fn send<'a>(&'a self, quote: &'a EpochProofQuote) -> BoxFuture<'a, Result<(), SinkError>>;
}

/// Posts quotes to a node's JSON-RPC API (`node_addEpochProofQuote([quote])`, SPEC §5.3).
///
/// A minimal stand-alone client so the prover can run against a node without linking the node
/// crate; a transport failure or HTTP 5xx is [`SinkError::Unavailable`], a JSON-RPC error (the
/// node refused the quote) is [`SinkError::Rejected`].
#[derive(Debug, Clone)]
pub struct JsonRpcSink {
    client: reqwest::Client,
    url: String,
}

impl JsonRpcSink {
    /// A sink posting to `url` (e.g. `http://127.0.0.1:8000`), each request bounded by `timeout`.
    pub fn new(url: impl Into<String>, timeout: std::time::Duration) -> Self {
        Self {
            client: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .unwrap_or_default(),
            url: url.into(),
        }
    }

    async fn post(&self, quote: &EpochProofQuote) -> Result<(), SinkError> {
        let quote_json: serde_json::Value = serde_json::from_str(&quote.to_json_string())
            .map_err(|e| SinkError::Rejected(format!("quote JSON: {e}")))?;
        let body = serde_json::json!({
            "jsonrpc": "2.0",
            "id": 1,
            "method": "node_addEpochProofQuote",
            "params": [quote_json],
        });
        let response = self
            .client
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| SinkError::Unavailable(format!("{}: {e}", self.url)))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| SinkError::Unavailable(format!("{}: {e}", self.url)))?;
        let excerpt = || String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
        let reply: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
        if let Some(error) = reply.as_ref().and_then(|r| r.get("error")) {
            return Err(SinkError::Rejected(error.to_string()));
        }
        if status.is_server_error() {
            return Err(SinkError::Unavailable(format!(
                "HTTP {status}: {}",
                excerpt()
            )));
        }
        if !status.is_success() || reply.as_ref().and_then(|r| r.get("result")).is_none() {
            return Err(SinkError::Rejected(format!("HTTP {status}: {}", excerpt())));
        }
        Ok(())
    }
}

impl QuoteSink for JsonRpcSink {
    fn name(&self) -> &'static str {
        "http"
    }

    fn send<'a>(&'a self, quote: &'a EpochProofQuote) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(self.post(quote))
    }
}
