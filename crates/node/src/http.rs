//! The HTTP server: `POST /` JSON-RPC, `GET /health` (liveness), `GET /ready` (readiness),
//! `GET /metrics`, served through the hardened edge (`epoch_rfq_runtime::edge`: connection caps,
//! header/idle/request timeouts, early 413).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use epoch_rfq_runtime::edge;
use tokio_util::sync::CancellationToken;

use crate::ratelimit::RateLimiter;
use crate::rpc::{self, Reply, RpcError};
use crate::service::NodeService;

#[derive(Clone)]
struct AppState {
    service: NodeService,
    limiter: Arc<RateLimiter>,
}

const JSON: &str = "application/json";

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, JSON)], body).into_response()
}

/// The node's routes: JSON-RPC with its body limit, plus `/health`, `/ready` and `/metrics`.
/// Other route sets join with `.merge(...)`. The request timeout and the connection limits are
/// the edge's (see [`serve`]).
pub(crate) fn router(service: NodeService) -> Router {
    let explorer = crate::explorer::routes(&service);
    let cfg = service.config().clone();
    let state = AppState {
        limiter: Arc::new(RateLimiter::new(
            cfg.rate_limit_per_sec,
            cfg.rate_limit_burst,
            cfg.rate_limit_max_clients,
        )),
        service: service.clone(),
    };
    let rpc = Router::new()
        .route("/", post(rpc_handler))
        // Bodies without a declared length (chunked) are capped here; declared ones at the edge.
        .layer(DefaultBodyLimit::max(cfg.max_body_bytes))
        .with_state(state);
    let health = service.health().clone();
    let ops = edge::ops_router(health, Arc::new(move || service.render_metrics()));
    rpc.merge(ops).merge(explorer)
}

/// Serves through the edge with the configured limits until `stop` fires, then lets in-flight
/// requests finish (bounded).
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    service: NodeService,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let limits = service.config().edge_limits();
    let metrics = service.metrics().edge().clone();
    edge::serve_with_metrics(listener, router(service), limits, metrics, stop).await
}

async fn rpc_handler(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let ip = peer.ip();
    // One token per HTTP request before any parsing, the rest of a batch once its size is known.
    if !st.limiter.try_take(ip, 1, Instant::now()) {
        st.service.metrics().rate_limited();
        return json(
            StatusCode::TOO_MANY_REQUESTS,
            rpc::error_body(RpcError::rate_limited()),
        );
    }
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            let status = rejection.status();
            let err = if status == StatusCode::PAYLOAD_TOO_LARGE {
                RpcError::body_too_large(st.service.config().max_body_bytes)
            } else {
                RpcError {
                    code: rpc::codes::INVALID_REQUEST,
                    message: format!(
                        "invalid request: cannot read body: {}",
                        rejection.body_text()
                    ),
                    data: None,
                }
            };
            return json(status, rpc::error_body(err));
        }
    };
    let limiter = st.limiter.clone();
    let reply = rpc::handle_body(&st.service, &body, |n| {
        limiter.try_take(ip, n, Instant::now())
    })
    .await;
    match reply {
        Reply::Json(s) => json(StatusCode::OK, s),
        Reply::Empty => StatusCode::NO_CONTENT.into_response(),
        Reply::RateLimited => {
            st.service.metrics().rate_limited();
            json(
                StatusCode::TOO_MANY_REQUESTS,
                rpc::error_body(RpcError::rate_limited()),
            )
        }
    }
}
