//! Health and readiness that tell the truth.
//!
//! Each role registers its services (e.g. the prover's `claim_watcher`, `quoter`, `bond_manager`,
//! `job_runner`; the node's `l1_view`, `p2p`) in one [`Health`]. A service reports what it knows:
//! [`ServiceHealth::ok`] after each good round of work, [`ServiceHealth::degraded`] or
//! [`ServiceHealth::failed`] with the reason in words. Two questions are answered from that:
//!
//! - **Liveness** (`GET /health`): is the process doing its work? A service is dead when it
//!   reported `Failed`, or when it has a `max_silence` and reported nothing good for that long
//!   (its loop is stuck). Orchestrators restart a process that is not live.
//! - **Readiness** (`GET /ready`): should traffic and trust go to it now? Not ready while any
//!   service has not yet reported `ok` once, is `Degraded` (e.g. the node's L1 view is stale),
//!   or is not live. Load balancers and alerts use this.
//!
//! Both answer JSON, 200 when the answer is yes and 503 when no, naming each service's state
//! and what is wrong:
//!
//! ```json
//! {"role":"prover","status":"unavailable","services":{
//!   "claim_watcher":{"state":"ok","last_ok_ms_ago":120},
//!   "bond_manager":{"state":"degraded","detail":"escrow top-up waiting for its receipt","last_ok_ms_ago":31000}}}
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What a service last said about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceState {
    /// Registered, has not finished a round of work yet.
    Starting,
    /// Working.
    Ok,
    /// Working, but something is off that makes the role not ready (stale L1 view, ...).
    Degraded,
    /// Not working; the role is neither live nor ready.
    Failed,
    /// Stopped on purpose (graceful shutdown).
    Stopped,
}

impl ServiceState {
    /// The lowercase word used in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Ok => "ok",
            Self::Degraded => "degraded",
            Self::Failed => "failed",
            Self::Stopped => "stopped",
        }
    }
}

#[derive(Debug)]
struct Entry {
    state: ServiceState,
    detail: Option<String>,
    last_ok: Option<Instant>,
    registered: Instant,
    /// Dead when nothing good was reported for this long (a stuck loop); `None`: never.
    max_silence: Option<Duration>,
}

#[derive(Debug)]
struct Inner {
    role: &'static str,
    services: Mutex<BTreeMap<&'static str, Entry>>,
}

/// The health of one role's services. Cheap to clone; clones share state.
#[derive(Debug, Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

/// One service's handle for reporting (cheap to clone).
#[derive(Debug, Clone)]
pub struct ServiceHealth {
    inner: Arc<Inner>,
    name: &'static str,
}

/// The answer to `/health` or `/ready`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Whether the answer is yes (HTTP 200) or no (503).
    pub ok: bool,
    /// The JSON body.
    pub body: String,
}

impl Health {
    /// An empty registry for `role` (`node`, `prover`, `proposer`, `pricing-server`, ...).
    pub fn new(role: &'static str) -> Self {
        Self {
            inner: Arc::new(Inner {
                role,
                services: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// The role name.
    pub fn role(&self) -> &'static str {
        self.inner.role
    }

    /// Registers `name` (state `Starting`). With `max_silence`, the service counts as dead when
    /// it has not reported `ok` for that long (since registration when it never has).
    /// Registering a name again resets it.
    pub fn register(&self, name: &'static str, max_silence: Option<Duration>) -> ServiceHealth {
        self.lock().insert(
            name,
            Entry {
                state: ServiceState::Starting,
                detail: None,
                last_ok: None,
                registered: Instant::now(),
                max_silence,
            },
        );
        ServiceHealth {
            inner: self.inner.clone(),
            name,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, Entry>> {
        // A panic elsewhere while holding the lock leaves plain data behind: keep serving.
        self.inner
            .services
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Liveness: every service is working (not failed, not silent past its `max_silence`).
    pub fn liveness(&self) -> Report {
        self.report(Instant::now(), false)
    }

    /// Readiness: live, and every service has reported `ok` and is not degraded.
    pub fn readiness(&self) -> Report {
        self.report(Instant::now(), true)
    }

    /// Whether the role is ready now.
    pub fn is_ready(&self) -> bool {
        self.readiness().ok
    }

    fn report(&self, now: Instant, readiness: bool) -> Report {
        let services = self.lock();
        let mut all_ok = true;
        let mut body = String::new();
        let _ = write!(
            body,
            "{{\"role\":{},\"check\":\"{}\",\"services\":{{",
            json_string(self.inner.role),
            if readiness { "ready" } else { "live" }
        );
        for (i, (name, entry)) in services.iter().enumerate() {
            let since_ok = entry.last_ok.map(|t| now.saturating_duration_since(t));
            let silent_for =
                since_ok.unwrap_or_else(|| now.saturating_duration_since(entry.registered));
            let stuck = entry.max_silence.is_some_and(|max| silent_for > max)
                && entry.state != ServiceState::Stopped;
            let live = entry.state != ServiceState::Failed && !stuck;
            let ready = live && entry.state == ServiceState::Ok;
            let good = if readiness { ready } else { live };
            all_ok &= good;
            let mut detail = entry.detail.clone();
            if stuck {
                let why = format!(
                    "no good round of work for {} ms (limit {} ms)",
                    silent_for.as_millis(),
                    entry.max_silence.map_or(0, |d| d.as_millis())
                );
                detail = Some(match detail {
                    Some(d) => format!("{why}; last said: {d}"),
                    None => why,
                });
            }
            if i > 0 {
                body.push(',');
            }
            let _ = write!(
                body,
                "{}:{{\"state\":\"{}\"",
                json_string(name),
                if stuck { "stuck" } else { entry.state.as_str() }
            );
            if let Some(d) = &detail {
                let _ = write!(body, ",\"detail\":{}", json_string(d));
            }
            if let Some(ago) = since_ok {
                let _ = write!(body, ",\"last_ok_ms_ago\":{}", ago.as_millis());
            }
            body.push('}');
        }
        let _ = write!(
            body,
            "}},\"status\":\"{}\"}}",
            if all_ok { "ok" } else { "unavailable" }
        );
        Report { ok: all_ok, body }
    }
}

impl ServiceHealth {
    /// The service's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    fn set(&self, state: ServiceState, detail: Option<String>) {
        let mut services = self
            .inner
            .services
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = services.get_mut(self.name) {
            entry.state = state;
            entry.detail = detail;
            if state == ServiceState::Ok {
                entry.last_ok = Some(Instant::now());
            }
        }
    }

    /// A good round of work.
    pub fn ok(&self) {
        self.set(ServiceState::Ok, None);
    }

    /// A good round of work, with a note shown in the JSON.
    pub fn ok_with(&self, detail: impl Into<String>) {
        self.set(ServiceState::Ok, Some(detail.into()));
    }

    /// Working, but not ready: `detail` says why.
    pub fn degraded(&self, detail: impl Into<String>) {
        self.set(ServiceState::Degraded, Some(detail.into()));
    }

    /// Not working: `detail` says why.
    pub fn failed(&self, detail: impl Into<String>) {
        self.set(ServiceState::Failed, Some(detail.into()));
    }

    /// Stopped on purpose.
    pub fn stopped(&self) {
        self.set(ServiceState::Stopped, None);
    }
}

/// A JSON string literal (RFC 8259 escaping), so details quoting errors stay valid JSON (also the
/// edge's error bodies).
pub(crate) fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starting_is_live_but_not_ready() {
        let health = Health::new("prover");
        let watcher = health.register("claim_watcher", None);
        assert!(health.liveness().ok);
        assert!(!health.readiness().ok);
        watcher.ok();
        assert!(health.readiness().ok);
        assert!(health.readiness().body.contains("\"status\":\"ok\""));
    }

    #[test]
    fn degraded_is_live_not_ready_and_names_the_reason() {
        let health = Health::new("node");
        let view = health.register("l1_view", None);
        view.ok();
        view.degraded("L1 view is 12 s old (limit 5 s)");
        assert!(health.liveness().ok);
        let ready = health.readiness();
        assert!(!ready.ok);
        assert!(
            ready.body.contains("\"l1_view\":{\"state\":\"degraded\""),
            "{}",
            ready.body
        );
        assert!(ready.body.contains("12 s old"), "{}", ready.body);
    }

    #[test]
    fn failed_and_silent_services_are_dead() {
        let health = Health::new("prover");
        let quoter = health.register("quoter", None);
        quoter.failed("pricing \"service\"\nis gone");
        let live = health.liveness();
        assert!(!live.ok);
        assert!(
            live.body.contains("pricing \\\"service\\\"\\nis gone"),
            "{}",
            live.body
        );

        let health = Health::new("prover");
        let stuck = health.register("job_runner", Some(Duration::ZERO));
        std::thread::sleep(Duration::from_millis(2));
        let live = health.liveness();
        assert!(!live.ok, "{}", live.body);
        assert!(live.body.contains("\"state\":\"stuck\""), "{}", live.body);
        stuck.stopped();
        assert!(health.liveness().ok, "a stopped service is not stuck");
    }
}
