//! The glue between the roles: where a prover's quotes go (a node's JSON-RPC API, or gossip) and
//! where a proposer's quotes come from (a node's API, or the pool of a node in the same process).
//!
//! The prover and proposer crates define the small traits; the node and p2p crates provide the
//! transports; this module joins them, so neither runtime links the other's transport.

use epoch_rfq_node::{ClientError, NodeClient, NodeService};
use epoch_rfq_p2p::{P2pError, P2pHandle, Validation};
use epoch_rfq_proposer::{QuoteSource, ReceivedQuote, SourceError};
use epoch_rfq_prover::sink::{QuoteSink, SinkError};
use epoch_rfq_quote::EpochProofQuote;
use futures::future::BoxFuture;
use tokio::sync::mpsc;

/// Sends quotes to a node with `node_addEpochProofQuote` (PROVER_COORDINATION_NODE_URL).
#[derive(Debug, Clone)]
pub struct NodeApiSink(pub NodeClient);

impl QuoteSink for NodeApiSink {
    fn name(&self) -> &'static str {
        "http"
    }

    fn send<'a>(&'a self, quote: &'a EpochProofQuote) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            self.0
                .add_epoch_proof_quote(quote)
                .await
                .map_err(|err| match &err {
                    // The node could not be reached or failed: the quote may go through later.
                    ClientError::Http { .. } => SinkError::Unavailable(err.to_string()),
                    ClientError::Status { status, .. } if *status >= 500 || *status == 429 => {
                        SinkError::Unavailable(err.to_string())
                    }
                    // The node answered and refused it (with the pool's reason code and message).
                    _ => SinkError::Rejected(err.to_string()),
                })
        })
    }
}

/// Gossips quotes over libp2p (P2P_ENABLED=true without a node URL).
#[derive(Debug, Clone)]
pub struct GossipSink(pub P2pHandle);

impl QuoteSink for GossipSink {
    fn name(&self) -> &'static str {
        "p2p"
    }

    fn send<'a>(&'a self, quote: &'a EpochProofQuote) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            match self.0.publish(quote.to_wire().to_vec()).await {
                Ok(_) => Ok(()),
                // Already in the network's seen-cache: it went out before.
                Err(P2pError::Duplicate) => Ok(()),
                // Not connected to anyone yet: keep it and send again on a later tick.
                Err(err @ P2pError::NoPeers) => Err(SinkError::Unavailable(err.to_string())),
                Err(err) => Err(SinkError::Unavailable(err.to_string())),
            }
        })
    }
}

/// A prover keeps no pool: it ignores the quotes other peers gossip (neither forwarding nor
/// penalising them), and drains them so its queue never fills.
pub fn ignore_incoming_gossip(
    handle: P2pHandle,
    mut incoming: mpsc::Receiver<epoch_rfq_p2p::IncomingMessage>,
) {
    tokio::spawn(async move {
        while let Some(message) = incoming.recv().await {
            if handle
                .report(message.id, message.source, Validation::Ignore)
                .is_err()
            {
                break;
            }
        }
    });
}

/// Reads quotes from a node with `node_getEpochProofQuotes`.
#[derive(Debug, Clone)]
pub struct NodeApiSource(pub NodeClient);

impl QuoteSource for NodeApiSource {
    fn quotes_for_epoch(
        &self,
        epoch: u64,
    ) -> BoxFuture<'_, Result<Vec<ReceivedQuote>, SourceError>> {
        Box::pin(async move {
            let quotes = self
                .0
                .get_epoch_proof_quotes(epoch)
                .await
                .map_err(|err| match err {
                    ClientError::Decode(_) => SourceError::BadResponse(err.to_string()),
                    _ => SourceError::Unavailable(err.to_string()),
                })?;
            // The node lists an epoch's quotes best first (fee, then arrival, then bond), so the
            // list order carries the arrival tie-break.
            Ok(ReceivedQuote::in_arrival_order(quotes))
        })
    }
}

/// Reads quotes straight from the pool of a node running in the same process (the sandbox): the
/// same quotes, in the same order, as `node_getEpochProofQuotes` would return, without HTTP.
#[derive(Debug, Clone)]
pub struct LocalPoolSource(pub NodeService);

impl QuoteSource for LocalPoolSource {
    fn quotes_for_epoch(
        &self,
        epoch: u64,
    ) -> BoxFuture<'_, Result<Vec<ReceivedQuote>, SourceError>> {
        // Best first (fee, then arrival, then bond), like the JSON-RPC method.
        let quotes = self.0.quotes(epoch).into_iter().map(|v| v.quote().clone());
        Box::pin(std::future::ready(Ok(ReceivedQuote::in_arrival_order(
            quotes,
        ))))
    }
}

#[cfg(test)]
mod tests {
    //! `NodeApiSink` against small JSON-RPC servers on 127.0.0.1: what reaches the node, and how
    //! the node's answers become retryable or final errors.

    use std::sync::{Arc, Mutex};

    use alloy_primitives::U256;
    use alloy_signer_local::PrivateKeySigner;
    use axum::Router;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::post;
    use epoch_rfq_quote::QuoteFields;

    use super::*;

    fn quote() -> EpochProofQuote {
        let signer = PrivateKeySigner::random();
        QuoteFields {
            prover: signer.address(),
            epoch_number: U256::from(3),
            epoch_init_block: U256::from(1),
            epoch_final_block: U256::from(4),
            total_fees: U256::from(99),
            basis_point_fee: 250,
            bond_amount: U256::from(1000),
            valid_until_slot: U256::from(9),
            ..QuoteFields::default()
        }
        .sign(&signer, 31337)
        .expect("signs")
    }

    async fn spawn(router: Router) -> NodeApiSink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, router).await });
        NodeApiSink(NodeClient::new(format!("http://{addr}/")).expect("url"))
    }

    #[tokio::test]
    async fn posts_node_add_epoch_proof_quote() {
        let seen = Arc::new(Mutex::new(None));
        let store = seen.clone();
        let sink = spawn(Router::new().route(
            "/",
            post(move |body: axum::body::Bytes| {
                let store = store.clone();
                async move {
                    *store.lock().unwrap() =
                        Some(serde_json::from_slice::<serde_json::Value>(&body).unwrap());
                    r#"{"jsonrpc":"2.0","id":1,"result":null}"#
                }
            }),
        ))
        .await;
        let q = quote();
        sink.send(&q).await.unwrap();
        let body = seen.lock().unwrap().clone().unwrap();
        assert_eq!(body["method"], "node_addEpochProofQuote");
        let sent = EpochProofQuote::from_json_str(&body["params"][0].to_string()).unwrap();
        assert_eq!(sent, q);
    }

    #[tokio::test]
    async fn errors_are_classified() {
        let refused = spawn(Router::new().route(
            "/",
            post(|| async {
                r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"quote expired","data":{"reason":"expired"}}}"#
            }),
        ))
        .await;
        let err = refused.send(&quote()).await.unwrap_err();
        assert!(
            matches!(&err, SinkError::Rejected(m) if m.contains("quote expired")),
            "{err}"
        );

        let down = spawn(Router::new().route(
            "/",
            post(|| async { (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response() }),
        ))
        .await;
        let err = down.send(&quote()).await.unwrap_err();
        assert!(matches!(err, SinkError::Unavailable(_)), "{err}");

        let nothing = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let absent = NodeApiSink(NodeClient::new(format!("http://{nothing}/")).unwrap());
        let err = absent.send(&quote()).await.unwrap_err();
        assert!(matches!(err, SinkError::Unavailable(_)), "{err}");
    }
}
