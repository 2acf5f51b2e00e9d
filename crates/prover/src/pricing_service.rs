//! An example pricing service (`epoch-rfq pricing-server`): what a `QUOTE_PROVIDER_URL` points at.
//!
//! Its policy is deliberately simple and visible: proving cost grows with the number of
//! transactions, so the fee does too; a margin sits on top; the bond is fixed. Operators with a
//! real cost model replace it with their own service speaking the same JSON.

use std::net::SocketAddr;

use alloy_primitives::U256;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use epoch_rfq_quote::{MAX_BASIS_POINT_FEE, uint_from_json};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The service's pricing rule: `fee = min(10000, (base + per_tx × txCount) × (100 + margin) / 100)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PricingPolicy {
    /// Fee for an empty epoch, in basis points.
    pub base_bps: u32,
    /// Added per transaction in the epoch, in basis points.
    pub bps_per_tx: u32,
    /// Margin on top, in percent.
    pub margin_percent: u32,
    /// Bond offered for every epoch.
    pub bond_amount: U256,
}

impl PricingPolicy {
    /// The fee for an epoch of `tx_count` transactions, in basis points (capped at 10000).
    pub fn fee_bps(&self, tx_count: U256) -> u32 {
        let cost = U256::from(self.base_bps)
            .saturating_add(U256::from(self.bps_per_tx).saturating_mul(tx_count));
        let priced =
            cost.saturating_mul(U256::from(100 + u64::from(self.margin_percent))) / U256::from(100);
        u32::try_from(priced.min(U256::from(MAX_BASIS_POINT_FEE))).unwrap_or(MAX_BASIS_POINT_FEE)
    }
}

/// The service's routes: `POST /` prices an epoch; `GET /health` and `GET /ready` (the role
/// `pricing-server`, one service `pricing`, ready once the router exists: it holds no state that
/// could go stale) and `GET /metrics` (`epoch_rfq_build_info`, `epoch_rfq_ready`).
pub fn router(policy: PricingPolicy) -> Router {
    let health = epoch_rfq_runtime::health::Health::new("pricing-server");
    health.register("pricing", None).ok();
    let mut registry = prometheus_client::registry::Registry::default();
    epoch_rfq_runtime::metrics::register_build_info(&mut registry, "pricing-server");
    epoch_rfq_runtime::metrics::register_ready(&mut registry, health.clone());
    let render = epoch_rfq_runtime::metrics::renderer(std::sync::Arc::new(registry));
    Router::new()
        .route("/", post(price))
        .with_state(policy)
        .merge(epoch_rfq_runtime::edge::ops_router(health, render))
}

/// Serves until the task is dropped, through the hardened HTTP edge with internal limits
/// (connection caps in total and per IP, header/idle/request timeouts, early 413).
pub async fn serve(listener: TcpListener, policy: PricingPolicy) -> std::io::Result<()> {
    serve_until(listener, policy, tokio_util::sync::CancellationToken::new()).await
}

/// [`serve`] until `shutdown` fires, then lets in-flight requests finish (bounded).
pub async fn serve_until(
    listener: TcpListener,
    policy: PricingPolicy,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    epoch_rfq_runtime::edge::serve(
        listener,
        router(policy),
        epoch_rfq_runtime::edge::EdgeLimits::internal(),
        shutdown,
    )
    .await
}

/// Binds `addr` and returns the bound address and the serving future (port 0 picks a free port).
pub async fn bind(
    addr: SocketAddr,
    policy: PricingPolicy,
) -> std::io::Result<(SocketAddr, impl Future<Output = std::io::Result<()>>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((local, serve(listener, policy)))
}

async fn price(State(policy): State<PricingPolicy>, body: axum::body::Bytes) -> Response {
    let request: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(err) => return bad_request(format!("body is not JSON: {err}")),
    };
    let mut fields = [U256::ZERO; 5];
    for (slot, name) in fields.iter_mut().zip([
        "epochNumber",
        "fromBlock",
        "endBlock",
        "txCount",
        "totalFees",
    ]) {
        match request.get(name).map(uint_from_json) {
            Some(Ok(value)) => *slot = value,
            Some(Err(reason)) => return bad_request(format!("`{name}`: {reason}")),
            None => return bad_request(format!("`{name}` is missing")),
        }
    }
    let [epoch, from_block, end_block, tx_count, _total_fees] = fields;
    if end_block < from_block {
        return bad_request(format!(
            "`endBlock` {end_block} is before `fromBlock` {from_block}"
        ));
    }
    let fee = policy.fee_bps(tx_count);
    tracing::info!(%epoch, %tx_count, fee, "priced epoch");
    axum::Json(json!({
        "basisPointFee": fee,
        "bondAmount": policy.bond_amount.to_string(),
    }))
    .into_response()
}

fn bad_request(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ "error": message })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fee_rises_with_tx_count_and_caps_at_100_percent() {
        let policy = PricingPolicy {
            base_bps: 100,
            bps_per_tx: 2,
            margin_percent: 10,
            bond_amount: U256::from(5),
        };
        assert_eq!(policy.fee_bps(U256::ZERO), 110);
        assert_eq!(policy.fee_bps(U256::from(50)), 220);
        assert_eq!(policy.fee_bps(U256::MAX), 10_000);
    }
}
