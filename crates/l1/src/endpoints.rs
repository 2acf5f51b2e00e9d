//! Every URL of `ETHEREUM_HOSTS`, behind one provider.
//!
//! The transport stack of a provider, from the caller down:
//!
//! ```text
//! RpcClient ─ Router ─┬─ eth_subscribe ───────────────────────────────► Metered(ws frontend)
//!                     └─ Retry(L1RetryPolicy) ─ Fallback(ranked) ─┬► Metered(endpoint 1)
//!                                                                 └► Metered(endpoint 2) …
//! ```
//!
//! * `Metered` (one per endpoint): bounds each request by [`L1_REQUEST_TIMEOUT`], classifies
//!   its outcome ([`ErrorKind`]) into [`L1Metrics`], and names the endpoint in connection and
//!   timeout errors (by `scheme://host:port`, never the path, which may hold an API key).
//! * alloy's `FallbackLayer` ranks endpoints by their last ten outcomes (70 % success rate,
//!   30 % latency) and, for every method the roles use, tries them one at a time in rank order
//!   until one answers: a dead endpoint costs one failed attempt, then drops to the end of the
//!   ranking. (Methods not listed in [`SEQUENTIAL_METHODS`] go to all endpoints at once, alloy's
//!   default.)
//! * `Retry` ([`crate::retry`]) with [`L1RetryPolicy`] repeats the whole ranked round when it
//!   failed with something transient (429, 5xx, connection refused/reset), per [`RETRY`]: up to
//!   8 times, the waits doubling from 100 ms to 1.6 s, or the server's `Retry-After`.
//! * `Router` sends `eth_subscribe` to the ws endpoint whose frontend the client holds for
//!   subscriptions (the first healthy ws URL); alloy's ws backend reconnects and re-subscribes
//!   by itself when that connection drops.
//! * While a ws endpoint's connection is down (alloy reconnecting, with a backoff that grows to
//!   30 s over ten attempts), alloy holds every request sent to it; its `Metered` answers them
//!   at once with a connection error instead ([`TrackedWs`]), so the round moves on to the next
//!   endpoint rather than waiting out the request bound, which callers often cut shorter.
//!
//! [`connect_endpoints`] probes every URL first (chain id, [`PROBE_TIMEOUT`]) and leaves out the
//! ones on another chain.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use alloy::primitives::U64;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::pubsub::{ConnectionHandle, PubSubConnect, PubSubFrontend};
use alloy::rpc::client::RpcClient;
use alloy::rpc::json_rpc::{RequestPacket, ResponsePacket};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::Http;
use alloy::transports::layers::{FallbackLayer, RateLimitRetryPolicy, RetryPolicy};
use alloy::transports::ws::WsConnect;
use alloy::transports::{
    BoxTransport, RpcError, TransportError, TransportErrorKind, TransportFut, TransportResult,
};
use tower::{Layer, Service};

use crate::client::L1_REQUEST_TIMEOUT;
use crate::metrics::{ErrorKind, L1Metrics};
use crate::retry::{Backoff, RetryLayer};

/// How long an endpoint has to answer `eth_chainId` (and, for ws, to accept the connection) at
/// start before it is reported as not answering.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// How far (in blocks) an endpoint's head may be behind the most advanced endpoint's at start
/// before it is ranked after the others (syncing, stale, or not telling the truth).
pub const MAX_HEAD_LAG: u64 = 16;

/// How the start-up probe retries a rate-limited endpoint (within [`PROBE_TIMEOUT`]).
const PROBE_RETRY: Backoff = Backoff {
    retries: 3,
    first: Duration::from_millis(200),
    max_step: Duration::from_millis(200),
};

/// How a call that failed transiently on every endpoint is retried when the server gave no
/// `Retry-After`: 8 more rounds, waiting 100, 200, 400, 800 ms, then 1.6 s (each with jitter,
/// between half and all of it); at most 7.9 s of waiting in all, after which the role's own
/// loop takes over.
pub const RETRY: Backoff = Backoff {
    retries: 8,
    first: Duration::from_millis(100),
    max_step: Duration::from_millis(1600),
};

/// The longest `Retry-After` honoured; a longer one is cut to this (a role's tick is seconds).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// The methods sent to one endpoint at a time, in rank order (see the module docs): every
/// method the roles and the test harness call through an [`crate::L1Client`].
pub const SEQUENTIAL_METHODS: &[&str] = &[
    "eth_accounts",
    "eth_blobBaseFee",
    "eth_blockNumber",
    "eth_call",
    "eth_chainId",
    "eth_createAccessList",
    "eth_estimateGas",
    "eth_feeHistory",
    "eth_gasPrice",
    "eth_getBalance",
    "eth_getBlockByHash",
    "eth_getBlockByNumber",
    "eth_getBlockReceipts",
    "eth_getCode",
    "eth_getFilterChanges",
    "eth_getFilterLogs",
    "eth_getLogs",
    "eth_getProof",
    "eth_getStorageAt",
    "eth_getTransactionByHash",
    "eth_getTransactionCount",
    "eth_getTransactionReceipt",
    "eth_maxPriorityFeePerGas",
    "eth_newBlockFilter",
    "eth_newFilter",
    "eth_newPendingTransactionFilter",
    "eth_sendRawTransaction",
    "eth_sendRawTransactionSync",
    "eth_sendTransaction",
    "eth_sendTransactionSync",
    "eth_syncing",
    "eth_uninstallFilter",
    "net_version",
    "web3_clientVersion",
];

/// One entry of `ETHEREUM_HOSTS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Its position in `ETHEREUM_HOSTS`, from 1.
    pub position: usize,
    /// The URL as given.
    pub url: reqwest::Url,
    /// `scheme://host:port`: how logs, errors and metrics name it (no path, no user info).
    pub label: String,
}

impl Endpoint {
    /// Parses entry `position` (from 1) of `ETHEREUM_HOSTS`.
    pub fn parse(position: usize, entry: &str) -> Result<Self, EndpointsError> {
        let malformed = |reason: String| EndpointsError::Malformed {
            position,
            entry: entry.to_owned(),
            reason,
        };
        let url: reqwest::Url = entry.parse().map_err(|e| malformed(format!("{e}")))?;
        let scheme = url.scheme();
        if !matches!(scheme, "http" | "https" | "ws" | "wss") {
            return Err(malformed(format!("unsupported scheme {scheme:?}")));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| malformed("no host".into()))?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| malformed("no port".into()))?;
        let label = format!("{scheme}://{host}:{port}");
        Ok(Self {
            position,
            url,
            label,
        })
    }

    fn is_ws(&self) -> bool {
        matches!(self.url.scheme(), "ws" | "wss")
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (ETHEREUM_HOSTS entry {})", self.label, self.position)
    }
}

/// Parses a comma-separated `ETHEREUM_HOSTS` (blank entries are skipped).
pub fn parse_hosts(hosts: &str) -> Result<Vec<Endpoint>, EndpointsError> {
    let endpoints = hosts
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .enumerate()
        .map(|(i, entry)| Endpoint::parse(i + 1, entry))
        .collect::<Result<Vec<_>, _>>()?;
    if endpoints.is_empty() {
        return Err(EndpointsError::Empty);
    }
    Ok(endpoints)
}

/// What the start-up probe found at one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointStatus {
    /// Answered the expected chain id and a head close to the most advanced endpoint's.
    Healthy {
        /// Time to answer `eth_chainId`.
        latency: Duration,
        /// Its latest block number.
        head: u64,
    },
    /// Answered the expected chain id, but its head is more than [`MAX_HEAD_LAG`] blocks behind
    /// another endpoint's: kept, ranked after the healthy ones.
    Behind {
        /// Its latest block number.
        head: u64,
        /// The most advanced endpoint's.
        best: u64,
    },
    /// Answered another chain id: left out.
    WrongChain {
        /// What it answered.
        chain_id: u64,
    },
    /// Did not answer (kept when it is http(s), in case it comes back; a ws URL that cannot be
    /// connected is left out).
    Unreachable {
        /// Why.
        reason: String,
    },
}

/// The probe's finding for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointReport {
    /// Which endpoint.
    pub endpoint: Endpoint,
    /// What it answered.
    pub status: EndpointStatus,
    /// Whether requests go to it.
    pub in_use: bool,
}

impl EndpointReport {
    fn describe(&self, expected: u64) -> String {
        match &self.status {
            EndpointStatus::Healthy { latency, head } => format!(
                "{}: chain {expected} at block {head}, answered in {latency:?}",
                self.endpoint
            ),
            EndpointStatus::Behind { head, best } => format!(
                "{}: at block {head}, {} blocks behind another endpoint (at {best}): syncing, stale or wrong",
                self.endpoint,
                best - head
            ),
            EndpointStatus::WrongChain { chain_id } => format!(
                "{}: is chain {chain_id}, not L1_CHAIN_ID {expected}",
                self.endpoint
            ),
            EndpointStatus::Unreachable { reason } => {
                format!("{}: does not answer ({reason})", self.endpoint)
            }
        }
    }
}

/// Why `ETHEREUM_HOSTS` cannot be used. Every message names the entry.
#[derive(Debug, thiserror::Error)]
pub enum EndpointsError {
    /// No URL at all.
    #[error("ETHEREUM_HOSTS is empty: give the L1 JSON-RPC URL(s), e.g. http://127.0.0.1:8545")]
    Empty,
    /// An entry is not an http(s)/ws(s) URL with a host.
    #[error(
        "ETHEREUM_HOSTS entry {position} ({entry:?}) is not a usable L1 URL: {reason}; give http://, https://, ws:// or wss:// URLs with a host, comma-separated"
    )]
    Malformed {
        /// Position in the list, from 1.
        position: usize,
        /// The entry as given.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A ws endpoint could not be connected (only without a probe, see [`crate::connect_provider`]).
    #[error("cannot connect to {endpoint}: {message}")]
    Connect {
        /// Which one.
        endpoint: String,
        /// Why.
        message: String,
    },
    /// No endpoint answers the configured chain id.
    #[error("L1_CHAIN_ID is {expected} but no URL of ETHEREUM_HOSTS is usable for it: {}; fix ETHEREUM_HOSTS or L1_CHAIN_ID", describe_all(*.expected, .reports))]
    NoneUsable {
        /// `L1_CHAIN_ID`.
        expected: u64,
        /// What each endpoint said.
        reports: Vec<EndpointReport>,
    },
}

fn describe_all(expected: u64, reports: &[EndpointReport]) -> String {
    reports
        .iter()
        .map(|r| r.describe(expected))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A provider over the usable endpoints, with what the probe found at each.
#[derive(Debug, Clone)]
pub struct Connected {
    /// The provider (fallback, retries, metrics; subscriptions when a ws URL is healthy).
    pub provider: DynProvider,
    /// One report per `ETHEREUM_HOSTS` entry, in their order.
    pub endpoints: Vec<EndpointReport>,
}

/// Connects to every URL of `hosts` (comma-separated), keeps those that answer `chain_id` (and
/// the http(s) ones that do not answer yet), logs a WARN for each other one, and fails naming
/// every URL and what it said when none answers `chain_id`. With `signer`, transactions are
/// signed by it (nonce read from the node, see [`crate::connect_provider`]); with `metrics`,
/// every attempt at every endpoint is counted there.
pub async fn connect_endpoints(
    hosts: &str,
    chain_id: u64,
    signer: Option<PrivateKeySigner>,
    metrics: Option<&L1Metrics>,
) -> Result<Connected, EndpointsError> {
    let endpoints = parse_hosts(hosts)?;
    let probes = futures::future::join_all(
        endpoints
            .iter()
            .map(|e| probe(e.clone(), chain_id, metrics.cloned())),
    )
    .await;
    let best = probes
        .iter()
        .filter_map(|(r, _)| match r.status {
            EndpointStatus::Healthy { head, .. } => Some(head),
            _ => None,
        })
        .max();
    let mut reports = Vec::with_capacity(probes.len());
    let mut healthy = Vec::new();
    let mut behind = Vec::new();
    let mut silent = Vec::new();
    for (mut report, transport) in probes {
        if let (EndpointStatus::Healthy { head, .. }, Some(best)) = (&report.status, best)
            && best - head > MAX_HEAD_LAG
        {
            report.status = EndpointStatus::Behind { head: *head, best };
        }
        match (&report.status, transport) {
            (EndpointStatus::Healthy { latency, .. }, Some(t)) => healthy.push((*latency, t)),
            (EndpointStatus::Behind { head, .. }, Some(t)) => behind.push((*head, t)),
            (EndpointStatus::Unreachable { .. }, Some(t)) => silent.push(t),
            _ => {}
        }
        reports.push(report);
    }
    if healthy.is_empty() {
        for r in &mut reports {
            r.in_use = false;
        }
        return Err(EndpointsError::NoneUsable {
            expected: chain_id,
            reports,
        });
    }
    for r in &reports {
        match &r.status {
            EndpointStatus::Healthy { .. } => {
                tracing::info!("L1 endpoint in use: {}", r.describe(chain_id));
            }
            EndpointStatus::Behind { .. } => {
                tracing::warn!(
                    "L1 endpoint ranked after the others: {}",
                    r.describe(chain_id)
                );
            }
            EndpointStatus::WrongChain { .. } => {
                tracing::warn!("L1 endpoint left out: {}", r.describe(chain_id));
            }
            EndpointStatus::Unreachable { .. } if r.in_use => tracing::warn!(
                "L1 endpoint kept last in the ranking until it answers: {}",
                r.describe(chain_id)
            ),
            EndpointStatus::Unreachable { .. } => {
                tracing::warn!("L1 endpoint left out: {}", r.describe(chain_id));
            }
        }
    }
    // Alloy's ranking starts with every endpoint at score 0 and keeps ties in order: the order
    // given here (fastest healthy first, then those behind, most advanced first, then the silent
    // ones) decides the first requests.
    healthy.sort_by_key(|(latency, _)| *latency);
    behind.sort_by_key(|(head, _)| std::cmp::Reverse(*head));
    let transports: Vec<EndpointTransport> = healthy
        .into_iter()
        .map(|(_, t)| t)
        .chain(behind.into_iter().map(|(_, t)| t))
        .chain(silent)
        .collect();
    Ok(Connected {
        provider: assemble(transports, signer),
        endpoints: reports,
    })
}

/// Connects to every URL of `hosts` without a probe (http endpoints are not contacted before
/// the first request; ws ones are connected, and failing that is an error).
pub(crate) async fn connect_unprobed(
    hosts: &str,
    signer: Option<PrivateKeySigner>,
) -> Result<DynProvider, EndpointsError> {
    let mut transports = Vec::new();
    for endpoint in parse_hosts(hosts)? {
        let t = EndpointTransport::connect(endpoint, None, L1_REQUEST_TIMEOUT)
            .await
            .map_err(|(endpoint, message)| EndpointsError::Connect {
                endpoint: endpoint.to_string(),
                message,
            })?;
        transports.push(t);
    }
    Ok(assemble(transports, signer))
}

async fn probe(
    endpoint: Endpoint,
    chain_id: u64,
    metrics: Option<L1Metrics>,
) -> (EndpointReport, Option<EndpointTransport>) {
    let report = |endpoint, status, in_use| EndpointReport {
        endpoint,
        status,
        in_use,
    };
    let transport = match EndpointTransport::connect(endpoint, metrics, PROBE_TIMEOUT).await {
        Ok(t) => t,
        Err((endpoint, reason)) => {
            return (
                report(endpoint, EndpointStatus::Unreachable { reason }, false),
                None,
            );
        }
    };
    // A rate-limited endpoint is alive: its 429s are retried here too (alloy's policy: 429,
    // 503), within the probe's time.
    let client = RpcClient::new(
        RetryLayer::new(RateLimitRetryPolicy::default(), PROBE_RETRY)
            .layer(transport.metered.clone()),
        transport.is_local(),
    );
    let started = Instant::now();
    let answer =
        tokio::time::timeout(PROBE_TIMEOUT, client.request_noparams::<U64>("eth_chainId")).await;
    let latency = started.elapsed();
    let endpoint = transport.endpoint.clone();
    match answer {
        Ok(Ok(id)) if id.to::<u64>() == chain_id => {
            let head = tokio::time::timeout(
                PROBE_TIMEOUT,
                client.request_noparams::<U64>("eth_blockNumber"),
            )
            .await;
            let status = match head {
                Ok(Ok(head)) => EndpointStatus::Healthy {
                    latency,
                    head: head.to::<u64>(),
                },
                Ok(Err(e)) => EndpointStatus::Unreachable {
                    reason: format!("answers eth_chainId but not eth_blockNumber: {e}"),
                },
                Err(_) => EndpointStatus::Unreachable {
                    reason: format!(
                        "answers eth_chainId but not eth_blockNumber within {PROBE_TIMEOUT:?}"
                    ),
                },
            };
            (report(endpoint, status, true), Some(transport))
        }
        Ok(Ok(id)) => (
            report(
                endpoint,
                EndpointStatus::WrongChain {
                    chain_id: id.to::<u64>(),
                },
                false,
            ),
            None,
        ),
        Ok(Err(e)) => (
            report(
                endpoint,
                EndpointStatus::Unreachable {
                    reason: e.to_string(),
                },
                true,
            ),
            Some(transport),
        ),
        Err(_) => (
            report(
                endpoint,
                EndpointStatus::Unreachable {
                    reason: format!("no answer to eth_chainId within {PROBE_TIMEOUT:?}"),
                },
                true,
            ),
            Some(transport),
        ),
    }
}

/// One endpoint's metered transport, and its ws frontend when it is a ws one.
#[derive(Clone)]
struct EndpointTransport {
    endpoint: Endpoint,
    metered: BoxTransport,
    pubsub: Option<PubSubFrontend>,
}

impl EndpointTransport {
    async fn connect(
        endpoint: Endpoint,
        metrics: Option<L1Metrics>,
        connect_timeout: Duration,
    ) -> Result<Self, (Endpoint, String)> {
        let ws_up = endpoint.is_ws().then(|| Arc::new(AtomicBool::new(false)));
        let (inner, pubsub) = if let Some(up) = &ws_up {
            let connect = TrackedWs {
                inner: WsConnect::new(endpoint.url.as_str()),
                up: up.clone(),
            };
            let frontend = match tokio::time::timeout(connect_timeout, connect.into_service()).await
            {
                Ok(Ok(f)) => f,
                Ok(Err(e)) => {
                    let reason = format!("ws connection failed: {}", redacted(&e));
                    return Err((endpoint, reason));
                }
                Err(_) => {
                    let reason = format!("ws connection not accepted within {connect_timeout:?}");
                    return Err((endpoint, reason));
                }
            };
            (BoxTransport::new(frontend.clone()), Some(frontend))
        } else {
            // The request bound is applied by `Metered` (for ws too); this client has none.
            let http = Http::with_client(reqwest::Client::new(), endpoint.url.clone());
            (BoxTransport::new(http), None)
        };
        let metered = BoxTransport::new(Metered {
            inner,
            endpoint: Arc::from(endpoint.label.as_str()),
            metrics,
            timeout: L1_REQUEST_TIMEOUT,
            ws_up,
        });
        Ok(Self {
            endpoint,
            metered,
            pubsub,
        })
    }

    fn is_local(&self) -> bool {
        alloy::transports::utils::guess_local_url(self.endpoint.url.as_str())
    }
}

/// The provider over `transports` (in their initial rank order; not empty).
fn assemble(transports: Vec<EndpointTransport>, signer: Option<PrivateKeySigner>) -> DynProvider {
    let is_local = transports.iter().all(EndpointTransport::is_local);
    let subscriptions = transports
        .iter()
        .find_map(|t| t.pubsub.clone().map(|f| (f, t.metered.clone())));
    let count = NonZeroUsize::new(transports.len()).unwrap_or(NonZeroUsize::MIN);
    let fallback = FallbackLayer::default()
        .with_active_transport_count(count)
        .with_sequential_methods(
            SEQUENTIAL_METHODS
                .iter()
                .map(|m| (*m).to_owned())
                .collect::<HashSet<_>>(),
        )
        .layer(
            transports
                .into_iter()
                .map(|t| t.metered)
                .collect::<Vec<_>>(),
        );
    // No compute-unit budget (alloy's CUPS throttle): rate limits are learnt from 429s and
    // `Retry-After`.
    let retrying = RetryLayer::new(L1RetryPolicy, RETRY).layer(fallback);
    let requests = BoxTransport::new(retrying);
    let client = match subscriptions {
        // The frontend handed to the builder is what `subscribe_*` use; requests (including
        // `eth_subscribe`) go through the router.
        Some((frontend, metered_ws)) => RpcClient::builder()
            .layer(RouterLayer {
                requests,
                subscriptions: metered_ws,
            })
            .transport(frontend, is_local),
        None => RpcClient::new(
            Router {
                requests,
                subscriptions: None,
            },
            is_local,
        ),
    };
    match signer {
        Some(s) => signing_provider_builder!(s).connect_client(client).erased(),
        None => ProviderBuilder::new().connect_client(client).erased(),
    }
}

/// Which failures [`RETRY`] retries: alloy's own (429, 503, "rate limit" JSON-RPC
/// errors, a null answer) plus every 5xx and connection refused/reset/closed. Not retried:
/// timeouts (the endpoint is slow, the ranked round already tried the others, and a retry would
/// double the wait) and JSON-RPC errors (reverts, bad parameters: the same again).
#[derive(Debug, Clone, Copy)]
pub struct L1RetryPolicy;

impl RetryPolicy for L1RetryPolicy {
    fn should_retry(&self, error: &TransportError) -> bool {
        if RateLimitRetryPolicy::default().should_retry(error) {
            return true;
        }
        matches!(
            classify_error(error),
            ErrorKind::http_5xx | ErrorKind::connection
        )
    }

    fn backoff_hint(&self, error: &TransportError) -> Option<Duration> {
        RateLimitRetryPolicy::default()
            .backoff_hint(error)
            .map(|d| d.min(MAX_RETRY_AFTER))
    }
}

/// A connection or timeout failure at one endpoint, naming it.
#[derive(Debug, thiserror::Error)]
#[error("{endpoint}: {what}: {message}", what = describe_kind(*.kind))]
pub struct EndpointFailure {
    /// `scheme://host:port`.
    pub endpoint: String,
    /// What happened.
    pub kind: ErrorKind,
    /// Details (the innermost causes, without the URL).
    pub message: String,
}

fn describe_kind(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::timeout => "timed out",
        ErrorKind::http_429 => "rate limited (HTTP 429)",
        ErrorKind::http_5xx => "server error (HTTP 5xx)",
        ErrorKind::connection => "connection failed",
        ErrorKind::rpc => "JSON-RPC error",
        ErrorKind::other => "failed",
    }
}

/// The causes of `error` below its own message (reqwest's top message repeats the full URL,
/// which may hold an API key).
fn redacted(error: &dyn std::error::Error) -> String {
    let mut causes = Vec::new();
    let mut source = error.source();
    while let Some(s) = source {
        causes.push(s.to_string());
        source = s.source();
    }
    if causes.is_empty() {
        error.to_string()
    } else {
        causes.join(": ")
    }
}

fn classify_error(error: &TransportError) -> ErrorKind {
    match error {
        RpcError::Transport(kind) => {
            if let Some(http) = kind.as_http_error() {
                return match http.status {
                    429 => ErrorKind::http_429,
                    500..=599 => ErrorKind::http_5xx,
                    _ => ErrorKind::other,
                };
            }
            match kind {
                TransportErrorKind::BackendGone => ErrorKind::connection,
                TransportErrorKind::Custom(e) => {
                    if let Some(f) = e.downcast_ref::<EndpointFailure>() {
                        f.kind
                    } else if let Some(r) = e.downcast_ref::<reqwest::Error>() {
                        if r.is_timeout() {
                            ErrorKind::timeout
                        } else if r.is_connect() || r.is_request() || r.is_body() {
                            ErrorKind::connection
                        } else {
                            ErrorKind::other
                        }
                    } else {
                        ErrorKind::other
                    }
                }
                _ => ErrorKind::other,
            }
        }
        RpcError::ErrorResp(_) => ErrorKind::rpc,
        _ => ErrorKind::other,
    }
}

/// One endpoint's transport with its request bound, metrics and named errors.
#[derive(Clone)]
struct Metered {
    inner: BoxTransport,
    endpoint: Arc<str>,
    metrics: Option<L1Metrics>,
    timeout: Duration,
    /// A ws endpoint's connection state (see [`TrackedWs`]).
    ws_up: Option<Arc<AtomicBool>>,
}

/// alloy's ws connector, telling whether its connection is up. alloy's pubsub service calls
/// `try_reconnect` as soon as the connection drops and again after each backoff until it is
/// back, and meanwhile holds every request; [`Metered`] reads the flag to refuse requests at
/// once instead.
#[derive(Clone)]
struct TrackedWs {
    inner: WsConnect,
    up: Arc<AtomicBool>,
}

impl PubSubConnect for TrackedWs {
    fn is_local(&self) -> bool {
        self.inner.is_local()
    }

    fn connect(&self) -> impl Future<Output = TransportResult<ConnectionHandle>> + Send {
        let (inner, up) = (self.inner.clone(), self.up.clone());
        async move {
            let connected = inner.connect().await;
            up.store(connected.is_ok(), Ordering::Relaxed);
            connected
        }
    }

    fn try_reconnect(&self) -> impl Future<Output = TransportResult<ConnectionHandle>> + Send {
        // Called when the connection is lost: down until an attempt succeeds.
        self.up.store(false, Ordering::Relaxed);
        self.connect()
    }
}

impl Service<RequestPacket> for Metered {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: RequestPacket) -> Self::Future {
        let mut inner = self.inner.clone();
        let endpoint = self.endpoint.clone();
        let metrics = self.metrics.clone();
        let timeout = self.timeout;
        let ws_down = self
            .ws_up
            .as_ref()
            .is_some_and(|up| !up.load(Ordering::Relaxed));
        Box::pin(async move {
            let started = Instant::now();
            let result = if ws_down {
                Err(TransportErrorKind::custom(EndpointFailure {
                    endpoint: endpoint.to_string(),
                    kind: ErrorKind::connection,
                    message: "the ws connection is down (reconnecting)".to_owned(),
                }))
            } else {
                match tokio::time::timeout(timeout, inner.call(request)).await {
                    Ok(result) => result,
                    Err(_) => Err(TransportErrorKind::custom(EndpointFailure {
                        endpoint: endpoint.to_string(),
                        kind: ErrorKind::timeout,
                        message: format!("no answer within {timeout:?}"),
                    })),
                }
            };
            let outcome = match &result {
                Ok(answer) => answer.as_error().map(|_| ErrorKind::rpc),
                Err(e) => Some(classify_error(e)),
            };
            if let Some(m) = &metrics {
                m.record(&endpoint, started.elapsed(), outcome);
            }
            result.map_err(|e| name_endpoint(e, &endpoint))
        })
    }
}

/// Wraps transport-level failures other than HTTP statuses (which alloy's retry logic reads)
/// into an [`EndpointFailure`] naming the endpoint.
fn name_endpoint(error: TransportError, endpoint: &str) -> TransportError {
    let message = match &error {
        RpcError::Transport(TransportErrorKind::Custom(e))
            if e.downcast_ref::<EndpointFailure>().is_none() =>
        {
            redacted(e.as_ref())
        }
        RpcError::Transport(TransportErrorKind::BackendGone) => "the ws connection is gone".into(),
        _ => return error,
    };
    TransportErrorKind::custom(EndpointFailure {
        endpoint: endpoint.to_owned(),
        kind: classify_error(&error),
        message,
    })
}

/// Sends `eth_subscribe` to the ws endpoint the client subscribes through, the rest to the
/// retrying fallback.
#[derive(Clone)]
struct Router {
    requests: BoxTransport,
    subscriptions: Option<BoxTransport>,
}

const SUBSCRIPTION_METHODS: [&str; 2] = ["eth_subscribe", "eth_unsubscribe"];

impl Service<RequestPacket> for Router {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Both inner services are always ready (they clone per call).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: RequestPacket) -> Self::Future {
        let subscription = request
            .method_names()
            .any(|m| SUBSCRIPTION_METHODS.contains(&m));
        match (&self.subscriptions, subscription) {
            (Some(ws), true) => ws.clone().call(request),
            _ => self.requests.clone().call(request),
        }
    }
}

/// Builds the [`Router`] around the ws frontend the client keeps for subscriptions.
struct RouterLayer {
    requests: BoxTransport,
    subscriptions: BoxTransport,
}

impl Layer<PubSubFrontend> for RouterLayer {
    type Service = Router;

    fn layer(&self, _frontend: PubSubFrontend) -> Router {
        // The frontend is already inside `subscriptions` (metered); the client keeps its own
        // clone of it to receive the subscription streams.
        Router {
            requests: self.requests.clone(),
            subscriptions: Some(self.subscriptions.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_keep_scheme_host_and_port_only() {
        let e =
            Endpoint::parse(3, "https://user:secret@eth.example.com/v3/KEY123").expect("valid URL");
        assert_eq!(e.label, "https://eth.example.com:443");
        let shown = e.to_string();
        assert_eq!(
            shown,
            "https://eth.example.com:443 (ETHEREUM_HOSTS entry 3)"
        );
        assert!(!shown.contains("KEY123") && !shown.contains("secret"));
        let cases = [
            ("ws://127.0.0.1:8546/", "ws://127.0.0.1:8546"),
            ("http://[::1]:8545", "http://[::1]:8545"),
            ("wss://node.example.org", "wss://node.example.org:443"),
            ("http://localhost", "http://localhost:80"),
        ];
        for (url, label) in cases {
            assert_eq!(Endpoint::parse(1, url).expect(url).label, label);
        }
    }

    #[test]
    fn hosts_are_split_trimmed_and_numbered() {
        let endpoints = parse_hosts(" http://a:1 ,, ws://b:2,").expect("two URLs");
        let got: Vec<_> = endpoints
            .iter()
            .map(|e| (e.position, e.label.as_str()))
            .collect();
        assert_eq!(got, [(1, "http://a:1"), (2, "ws://b:2")]);
        for bad in ["mailto:x@y", "http://", "file:///tmp/x", "unix:/tmp/sock"] {
            assert!(
                matches!(
                    parse_hosts(bad),
                    Err(EndpointsError::Malformed { position: 1, .. })
                ),
                "{bad}"
            );
        }
    }

    fn failure(kind: ErrorKind) -> TransportError {
        TransportErrorKind::custom(EndpointFailure {
            endpoint: "http://127.0.0.1:1".into(),
            kind,
            message: "test".into(),
        })
    }

    #[test]
    fn what_is_retried() {
        let policy = L1RetryPolicy;
        let retried = [
            TransportErrorKind::http_error(429, String::new()),
            TransportErrorKind::http_error(500, String::new()),
            TransportErrorKind::http_error(502, String::new()),
            TransportErrorKind::http_error(503, String::new()),
            failure(ErrorKind::connection),
        ];
        for e in &retried {
            assert!(policy.should_retry(e), "{e}");
        }
        let revert: alloy::rpc::json_rpc::ErrorPayload = serde_json::from_str(
            r#"{"code":3,"message":"execution reverted","data":"0x12345678"}"#,
        )
        .expect("payload");
        let not_retried = [
            TransportErrorKind::http_error(400, String::new()),
            failure(ErrorKind::timeout),
            RpcError::ErrorResp(revert),
        ];
        for e in &not_retried {
            assert!(!policy.should_retry(e), "{e}");
        }
    }

    #[test]
    fn retry_after_is_used_and_capped() {
        let policy = L1RetryPolicy;
        let soon = TransportErrorKind::http_error_with_retry_after(
            429,
            String::new(),
            Some(Duration::from_secs(2)),
        );
        assert_eq!(policy.backoff_hint(&soon), Some(Duration::from_secs(2)));
        let late = TransportErrorKind::http_error_with_retry_after(
            429,
            String::new(),
            Some(Duration::from_secs(3600)),
        );
        assert_eq!(policy.backoff_hint(&late), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn errors_are_classified() {
        let cases = [
            (
                TransportErrorKind::http_error(429, String::new()),
                ErrorKind::http_429,
            ),
            (
                TransportErrorKind::http_error(504, String::new()),
                ErrorKind::http_5xx,
            ),
            (
                TransportErrorKind::http_error(404, String::new()),
                ErrorKind::other,
            ),
            (TransportErrorKind::backend_gone(), ErrorKind::connection),
            (failure(ErrorKind::timeout), ErrorKind::timeout),
        ];
        for (e, kind) in cases {
            assert_eq!(classify_error(&e), kind, "{e}");
        }
    }

    #[test]
    fn a_gone_ws_backend_is_named() {
        let e = name_endpoint(TransportErrorKind::backend_gone(), "ws://127.0.0.1:9");
        assert_eq!(classify_error(&e), ErrorKind::connection);
        assert!(
            e.to_string()
                .contains("ws://127.0.0.1:9: connection failed: the ws connection is gone"),
            "{e}"
        );
    }
}
