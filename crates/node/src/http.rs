//! The HTTP server (axum 0.8): `POST /` JSON-RPC, `GET /health`, `GET /metrics`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::watch;
use tower_http::timeout::TimeoutLayer;

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

/// The router, with body limit and request timeout.
pub(crate) fn router(service: NodeService) -> Router {
    let explorer = crate::explorer::routes(&service);
    let cfg = service.config().clone();
    let state = AppState {
        limiter: Arc::new(RateLimiter::new(
            cfg.rate_limit_per_sec,
            cfg.rate_limit_burst,
            cfg.rate_limit_max_clients,
        )),
        service,
    };
    Router::new()
        .route("/", post(rpc_handler))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(cfg.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            cfg.request_timeout,
        ))
        .with_state(state)
        .merge(explorer)
}

/// Serves until `stop` turns true, then finishes in-flight requests.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    service: NodeService,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let app = router(service);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = stop.wait_for(|s| *s).await;
    })
    .await
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

/// 200 `{"status":"ok",…}` once the node has a view of L1; 503 `{"status":"starting"}` before.
async fn health(State(st): State<AppState>) -> Response {
    match st.service.snapshot() {
        Some(s) => json(
            StatusCode::OK,
            serde_json::json!({
                "status": "ok",
                "l1BlockNumber": s.l1_block_number,
                "currentSlot": s.current_slot,
                "quotes": st.service.pool().len(),
            })
            .to_string(),
        ),
        None => json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "status": "starting", "reason": "no view of L1 yet" }).to_string(),
        ),
    }
}

async fn metrics(State(st): State<AppState>) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        st.service.render_metrics(),
    )
        .into_response()
}
