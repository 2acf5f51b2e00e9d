//! The explorer (issue "Explorer"): a read-only page at `GET /explorer` and its JSON API under
//! `/explorer/api/`, served from the node's history and its view of L1.
//!
//! The page is plain HTML + CSS + JavaScript built into the binary (`include_str!`): no CDN, no
//! build step. Every response carries a strict Content-Security-Policy (scripts and styles only
//! from this origin, no inline code, fetches only to this origin); the script builds the DOM
//! with `textContent`, so no value from the network is ever parsed as HTML.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderValue, Request, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use futures::StreamExt;

use crate::history::History;
use crate::ratelimit::RateLimiter;
use crate::service::NodeService;

const PAGE: &str = include_str!("../assets/explorer.html");
const SCRIPT: &str = include_str!("../assets/explorer.js");
const STYLE: &str = include_str!("../assets/explorer.css");

/// The page's Content-Security-Policy: nothing but this origin's script, style and API.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// Epochs listed per request at most.
const MAX_LIST: u64 = 500;
/// Live streams open at once at most (each holds a connection).
const MAX_STREAMS: usize = 64;

#[derive(Clone)]
struct ExplorerState {
    service: NodeService,
    history: Arc<History>,
    limiter: Arc<RateLimiter>,
    streams: Arc<AtomicUsize>,
}

/// The explorer's routes, or none when it is off (no history).
pub(crate) fn routes(service: &NodeService) -> Router {
    let Some(history) = service.history().cloned() else {
        return Router::new();
    };
    let cfg = service.config();
    let state = ExplorerState {
        limiter: Arc::new(RateLimiter::new(
            cfg.rate_limit_per_sec,
            cfg.rate_limit_burst,
            cfg.rate_limit_max_clients,
        )),
        service: service.clone(),
        history,
        streams: Arc::new(AtomicUsize::new(0)),
    };
    Router::new()
        .route("/", get(|| async { Redirect::to("/explorer") }))
        .route("/explorer", get(page))
        .route("/explorer/", get(|| async { Redirect::to("/explorer") }))
        .route("/explorer/explorer.js", get(script))
        .route("/explorer/explorer.css", get(style))
        .route("/explorer/api/status", get(status))
        .route("/explorer/api/epochs", get(epochs))
        .route("/explorer/api/epochs/{epoch}", get(epoch))
        .route("/explorer/api/provers", get(provers))
        .route("/explorer/api/stream", get(stream))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Rate limit per client IP (the JSON-RPC's settings) and the security headers on every answer.
async fn guard(
    State(st): State<ExplorerState>,
    req: Request<axum::body::Body>,
    next: Next,
) -> Response {
    // The server passes the peer address (as for JSON-RPC); without it, every client shares
    // one bucket rather than going unlimited.
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
    let mut resp = if st.limiter.try_take(ip, 1, Instant::now()) {
        next.run(req).await
    } else {
        error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate limited: slow down (the node's per-client request rate applies)",
        )
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn page() -> Response {
    asset("text/html; charset=utf-8", PAGE)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(body) => (
            status,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot encode the answer: {e}"),
        ),
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    json(status, &serde_json::json!({ "error": message }))
}

fn storage_error(e: &rusqlite::Error) -> Response {
    tracing::warn!(error = %e, "explorer: history read failed");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the node's history could not be read; see the node's log",
    )
}

/// The node's own state, as the page's header shows it.
pub(crate) fn status_value(service: &NodeService) -> serde_json::Value {
    let snap = service.snapshot();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let addresses = service.chain().l1_contract_addresses();
    let history = service.history();
    serde_json::json!({
        "version": concat!("epoch-rfq-node/", env!("CARGO_PKG_VERSION")),
        "ready": snap.is_some(),
        "peers": service.peers(),
        "gossip": service.p2p().is_some(),
        "chainId": snap.as_ref().map(|s| s.chain_id),
        "rollupAddress": format!("{:#x}", addresses.rollup_address),
        "l1BlockNumber": snap.as_ref().map(|s| s.l1_block_number),
        "l1Timestamp": snap.as_ref().map(|s| s.l1_timestamp),
        "l1LagSecs": snap.as_ref().map(|s| now.saturating_sub(s.l1_timestamp)),
        "currentSlot": snap.as_ref().map(|s| s.current_slot),
        "currentEpoch": snap.as_ref().map(|s| s.current_epoch()),
        "epochToProve": snap.as_ref().and_then(|s| s.epoch_to_prove.as_ref().map(|v| v.epoch)),
        "slotDurationSecs": snap.as_ref().map(|s| s.time.slot_duration),
        "epochDurationSlots": snap.as_ref().map(|s| s.time.epoch_duration),
        "claimWindowSlots": snap.as_ref().map(|s| s.time.claim_window),
        "minBond": snap.as_ref().map(|s| s.min_bond.to_string()),
        "poolQuotes": service.pool().len(),
        "historyEpochs": service.config().history_epochs,
        "historyFloor": snap.as_ref().zip(history).map(|(s, h)| h.floor(s.current_epoch())),
        "historyQuotesDropped": history.map(|h| h.dropped()),
        "txUrl": service.config().explorer_tx_url,
        "serverTime": now,
        // The fee token is an OpenZeppelin ERC20 with the default 18 decimals.
        "token": { "symbol": "FEE", "decimals": 18 },
    })
}

async fn status(State(st): State<ExplorerState>) -> Response {
    json(StatusCode::OK, &status_value(&st.service))
}

/// Parses `a=1&b=2` into pairs, refusing parameters not in `allowed` and repeated ones.
/// Errors are the 400's message.
fn query_params(uri: &Uri, allowed: &[&str]) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    let pairs = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty());
    for pair in pairs {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if !allowed.contains(&k) {
            let shown: String = k.chars().take(40).collect();
            let allowed = if allowed.is_empty() {
                "none".to_string()
            } else {
                allowed.join(", ")
            };
            return Err(format!(
                "unknown query parameter {shown:?}; allowed: {allowed}"
            ));
        }
        if out.iter().any(|(k2, _)| k2 == k) {
            return Err(format!("query parameter {k:?} given twice"));
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

/// Errors are the 400's message.
fn parse_u64(name: &str, value: &str, max: u64) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(v) if v <= max => Ok(v),
        _ => {
            let shown: String = value.chars().take(40).collect();
            Err(format!(
                "{name} must be an integer from 0 to {max}, got {shown:?}"
            ))
        }
    }
}

fn bad_request(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, message)
}

async fn epochs(State(st): State<ExplorerState>, uri: Uri) -> Response {
    let params = match query_params(&uri, &["limit", "before"]) {
        Ok(p) => p,
        Err(m) => return bad_request(&m),
    };
    let mut limit = 50;
    let mut before = None;
    for (k, v) in &params {
        let parsed = match k.as_str() {
            "limit" => parse_u64("limit", v, MAX_LIST).map(|n| limit = n),
            _ => parse_u64("before", v, i64::MAX as u64).map(|n| before = Some(n)),
        };
        if let Err(m) = parsed {
            return bad_request(&m);
        }
    }
    if limit == 0 {
        return error(StatusCode::BAD_REQUEST, "limit must be at least 1");
    }
    let snap = st.service.snapshot();
    match st.history.epochs(snap.as_deref(), limit, before) {
        Ok(list) => json(StatusCode::OK, &serde_json::json!({ "epochs": list })),
        Err(e) => storage_error(&e),
    }
}

async fn epoch(State(st): State<ExplorerState>, Path(raw): Path<String>, uri: Uri) -> Response {
    if let Err(m) = query_params(&uri, &[]) {
        return bad_request(&m);
    }
    let epoch = match parse_u64("epoch", &raw, i64::MAX as u64) {
        Ok(e) => e,
        Err(m) => return bad_request(&m),
    };
    let snap = st.service.snapshot();
    if let Some(s) = &snap {
        let floor = st.history.floor(s.current_epoch());
        if epoch < floor {
            return error(
                StatusCode::NOT_FOUND,
                &format!(
                    "epoch {epoch} is past the node's retention: it keeps epochs {floor} to {} \
                     (NODE_HISTORY_EPOCHS = {})",
                    s.current_epoch(),
                    st.service.config().history_epochs
                ),
            );
        }
        if epoch > s.current_epoch() {
            return error(
                StatusCode::NOT_FOUND,
                &format!(
                    "epoch {epoch} has not started: the current epoch is {}",
                    s.current_epoch()
                ),
            );
        }
    }
    match st.history.epoch(snap.as_deref(), epoch) {
        Ok(Some(d)) => json(StatusCode::OK, &d),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            &format!("epoch {epoch} is not in the node's history"),
        ),
        Err(e) => storage_error(&e),
    }
}

async fn provers(State(st): State<ExplorerState>, uri: Uri) -> Response {
    if let Err(m) = query_params(&uri, &[]) {
        return bad_request(&m);
    }
    match st.history.provers() {
        Ok(rows) => json(StatusCode::OK, &serde_json::json!({ "provers": rows })),
        Err(e) => storage_error(&e),
    }
}

/// Releases a stream slot when the stream ends.
struct StreamSlot(Arc<AtomicUsize>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Server-Sent Events: one `change` event per change (`{"type":"quote","epoch":…}`,
/// `claimed`/`proven`/`slashed`/`pruned`, and `status` on each L1 refresh).
async fn stream(State(st): State<ExplorerState>) -> Response {
    if st.streams.fetch_add(1, Ordering::AcqRel) >= MAX_STREAMS {
        st.streams.fetch_sub(1, Ordering::AcqRel);
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many live streams open on this node; try again later",
        );
    }
    let slot = StreamSlot(st.streams.clone());
    let rx = st.history.subscribe();
    let stopping = st.history.stopping();
    let state = (rx, stopping, slot);
    let events = futures::stream::unfold(state, |(mut rx, mut stopping, slot)| async move {
        let received = tokio::select! {
            r = rx.recv() => r,
            // The node is stopping: end the stream so the server can finish.
            _ = stopping.wait_for(|s| *s) => return None,
        };
        let data = match received {
            Ok(data) => data,
            // A slow reader missed changes: tell it to reload everything.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                r#"{"type":"resync"}"#.to_string()
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
        };
        let ev = Event::default().event("change").data(data);
        Some((Ok::<_, Infallible>(ev), (rx, stopping, slot)))
    })
    .boxed();
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
