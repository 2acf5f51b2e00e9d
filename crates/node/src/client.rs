//! Typed JSON-RPC client of the node, for provers and proposers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use epoch_rfq_quote::EpochProofQuote;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::rpc::{RpcError, methods};
use crate::types::{L1ContractAddresses, NodeInfo};

/// What can go wrong calling the node.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Connecting, sending or reading failed (includes timeouts).
    #[error("request to {url} failed: {source}")]
    Http {
        /// The node URL.
        url: String,
        /// The transport error.
        source: reqwest::Error,
    },
    /// The node answered with an HTTP error status and no JSON-RPC error body.
    #[error("node answered HTTP {status}: {body}")]
    Status {
        /// HTTP status.
        status: u16,
        /// Body (truncated).
        body: String,
    },
    /// The node answered with a JSON-RPC error (its code and message, unchanged).
    #[error("JSON-RPC error {code}: {message}")]
    Rpc {
        /// See [`crate::rpc::codes`].
        code: i64,
        /// The server's message.
        message: String,
        /// The server's data (`{"reason": …}` for rejected quotes).
        data: Option<Value>,
    },
    /// The response is not what the method returns.
    #[error("unexpected response: {0}")]
    Decode(String),
}

impl ClientError {
    /// The JSON-RPC error code, if the node answered with one.
    pub fn rpc_code(&self) -> Option<i64> {
        match self {
            Self::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// For a rejected quote (-32001): the pool's reason code (`expired`, `wrong_epoch`, …).
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Rpc { data: Some(d), .. } => d.get("reason").and_then(Value::as_str),
            _ => None,
        }
    }
}

/// A JSON-RPC client of one node. Cheap to clone (reqwest pools connections).
#[derive(Clone, Debug)]
pub struct NodeClient {
    http: reqwest::Client,
    url: String,
    next_id: std::sync::Arc<AtomicU64>,
}

impl NodeClient {
    /// A client for `url` (e.g. `http://127.0.0.1:8000/`) with a 10 s request timeout.
    pub fn new(url: impl Into<String>) -> Result<Self, ClientError> {
        let url = url.into();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|source| ClientError::Http {
                url: url.clone(),
                source,
            })?;
        Ok(Self::with_client(http, url))
    }

    /// A client using a configured `reqwest::Client`.
    pub fn with_client(http: reqwest::Client, url: impl Into<String>) -> Self {
        Self {
            http,
            url: url.into(),
            next_id: Default::default(),
        }
    }

    /// The node URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends one call and decodes its result.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> Result<T, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let http_err = |source| ClientError::Http {
            url: self.url.clone(),
            source,
        };
        let resp = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(http_err)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(http_err)?;
        let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
        let Some(Value::Object(mut obj)) = parsed else {
            let text = String::from_utf8_lossy(&bytes);
            let body: String = text.chars().take(512).collect();
            return Err(if status.is_success() {
                ClientError::Decode(format!("not a JSON-RPC response: {body}"))
            } else {
                ClientError::Status {
                    status: status.as_u16(),
                    body,
                }
            });
        };
        if let Some(e) = obj.remove("error") {
            let e: RpcError = serde_json::from_value(e)
                .map_err(|e| ClientError::Decode(format!("error object: {e}")))?;
            return Err(ClientError::Rpc {
                code: e.code,
                message: e.message,
                data: e.data,
            });
        }
        if !status.is_success() {
            return Err(ClientError::Status {
                status: status.as_u16(),
                body: String::new(),
            });
        }
        let result = obj.remove("result").unwrap_or(Value::Null);
        serde_json::from_value(result).map_err(|e| ClientError::Decode(format!("{method}: {e}")))
    }

    /// `node_addEpochProofQuote`: the node validates, stores and gossips the quote.
    pub async fn add_epoch_proof_quote(&self, quote: &EpochProofQuote) -> Result<(), ClientError> {
        let q = serde_json::to_value(quote).map_err(|e| ClientError::Decode(e.to_string()))?;
        self.call::<Value>(methods::ADD_QUOTE, json!([q])).await?;
        Ok(())
    }

    /// `node_getEpochProofQuotes`: the node's quotes for `epoch`, best first. The quotes are not
    /// re-verified here; a proposer should `verify` them (the node could be lying).
    pub async fn get_epoch_proof_quotes(
        &self,
        epoch: u64,
    ) -> Result<Vec<EpochProofQuote>, ClientError> {
        self.call(methods::GET_QUOTES, json!([epoch])).await
    }

    /// `node_getNodeInfo`.
    pub async fn get_node_info(&self) -> Result<NodeInfo, ClientError> {
        self.call(methods::GET_NODE_INFO, json!([])).await
    }

    /// `node_getL1ContractAddresses`.
    pub async fn get_l1_contract_addresses(&self) -> Result<L1ContractAddresses, ClientError> {
        self.call(methods::GET_L1_ADDRESSES, json!([])).await
    }
}
