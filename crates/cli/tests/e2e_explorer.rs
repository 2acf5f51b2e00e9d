//! The explorer in a real browser (headless Chromium over the DevTools protocol) during a
//! sandbox run on anvil (2 s slots): an unreliable prover wins an epoch and is slashed, a
//! reliable one wins a later epoch and proves it. The page must show the winner, fee, bond and
//! payout exactly as L1 has them, a new quote must appear without a reload, and the slashed
//! epoch must be shown as slashed. Screenshots at 1280×800 and at a phone's width are saved
//! under the target directory (`explorer-screenshots/`).
//!
//! Without a browser the test is skipped with a message, unless `EPOCH_RFQ_REQUIRE_BROWSER=1`
//! (set by `scripts/test`), where a missing browser is a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use alloy_primitives::U256;
use base64::Engine;
use epoch_rfq::sandbox::{ProverSpec, QuotePath, Sandbox, SandboxEvent};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// The browser binaries tried, in order (`CHROMIUM` overrides).
const BROWSERS: &[&str] = &["chromium", "chromium-browser", "google-chrome"];

fn find_browser() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| BROWSERS.iter().map(move |b| dir.join(b)))
        .find(|p| p.is_file())
}

/// A headless Chromium and one DevTools session on one page.
struct Browser {
    _child: tokio::process::Child,
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_id: u64,
    session: Option<String>,
    profile: PathBuf,
}

impl Browser {
    async fn launch(binary: &Path) -> Self {
        let profile = common::data_dir("explorer-browser-profile");
        std::fs::create_dir_all(&profile).expect("browser profile dir");
        let child = tokio::process::Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start the browser");
        // Chromium writes its DevTools port and browser endpoint there once listening.
        let port_file = profile.join("DevToolsActivePort");
        let mut endpoint = None;
        for _ in 0..200 {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    endpoint = Some(format!("ws://127.0.0.1:{port}{path}"));
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let endpoint = endpoint.expect("the browser never opened its DevTools port");
        let (ws, _) = tokio_tungstenite::connect_async(endpoint.as_str())
            .await
            .expect("connect to the browser's DevTools");
        let mut browser = Self {
            _child: child,
            ws,
            next_id: 0,
            session: None,
            profile,
        };
        let target = browser
            .call("Target.createTarget", json!({ "url": "about:blank" }))
            .await;
        let attached = browser
            .call(
                "Target.attachToTarget",
                json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await;
        browser.session = Some(
            attached["sessionId"]
                .as_str()
                .expect("a session id")
                .to_string(),
        );
        browser.call("Page.enable", json!({})).await;
        browser
    }

    /// Sends one DevTools command and waits for its answer (events in between are skipped).
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::Text(msg.to_string().into()))
            .await
            .expect("send to the browser");
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{method}: no answer from the browser"))
                .expect("browser connection closed")
                .expect("browser connection failed");
            let Message::Text(text) = frame else { continue };
            let v: Value = serde_json::from_str(&text).expect("DevTools JSON");
            if v["id"] == json!(id) {
                assert!(v.get("error").is_none(), "{method}: {}", v["error"]);
                return v["result"].clone();
            }
        }
    }

    async fn viewport(&mut self, width: u32, height: u32, mobile: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile }),
        )
        .await;
    }

    async fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url })).await;
    }

    /// Evaluates `expr` in the page and returns its JSON value.
    async fn eval(&mut self, expr: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expr, "returnByValue": true, "awaitPromise": true }),
            )
            .await;
        assert!(
            r.get("exceptionDetails").is_none(),
            "{expr}: {}",
            r["exceptionDetails"]
        );
        r["result"]["value"].clone()
    }

    /// Polls `expr` until it is truthy (`what` names it in the failure).
    async fn wait_until(&mut self, expr: &str, what: &str, limit: Duration) -> Value {
        let start = tokio::time::Instant::now();
        loop {
            let v = self.eval(expr).await;
            if !(v.is_null() || v == json!(false) || v == json!("")) {
                return v;
            }
            assert!(start.elapsed() < limit, "the page never showed {what}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn screenshot(&mut self, path: &Path) {
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({ "format": "png", "captureBeyondViewport": false }),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("screenshot base64");
        std::fs::write(path, png).expect("write the screenshot");
        println!("screenshot: {}", path.display());
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// JS: what the auction section shows, as JSON.
const AUCTION: &str = r#"(() => {
  const a = document.getElementById('auction');
  const base = (sel) => { const n = document.querySelector(sel + ' [data-base]'); return n ? n.getAttribute('data-base') : null; };
  const rows = [...document.querySelectorAll('#quotes tr.quote')].map((r) => ({
    prover: r.getAttribute('data-prover'), bps: r.getAttribute('data-bps'), bond: r.getAttribute('data-bond'),
    winner: r.getAttribute('data-winner') === 'true', text: r.textContent }));
  const events = [...document.querySelectorAll('#events tr.event')].map((r) => ({
    kind: r.getAttribute('data-kind'), prover: r.getAttribute('data-prover'), amount: r.getAttribute('data-amount'),
    tx: (r.querySelector('[data-tx]') || {getAttribute: () => null}).getAttribute('data-tx'), text: r.textContent }));
  const w = document.getElementById('winner');
  return { epoch: a.getAttribute('data-epoch'), state: a.getAttribute('data-state'),
    summary: document.getElementById('auction-summary').textContent,
    winner: w ? w.getAttribute('data-address') : null,
    bps: (document.getElementById('winning-fee') || {getAttribute: () => null}).getAttribute('data-bps'),
    bond: base('#winning-bond'), reward: base('#reward'), rows, events,
    slashedBadge: !!document.querySelector('#auction-summary [data-slashed]') };
})()"#;

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("explorer-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn explorer_in_a_browser_shows_the_auctions_as_l1_has_them() {
    let Some(binary) = find_browser() else {
        let required = std::env::var("EPOCH_RFQ_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "EPOCH_RFQ_REQUIRE_BROWSER=1 but no browser found (tried {BROWSERS:?} in PATH and \
             $CHROMIUM); install Debian's chromium package (scripts/test-browser does)"
        );
        println!(
            "SKIPPED: no headless browser (tried {BROWSERS:?} in PATH and $CHROMIUM); \
             run scripts/test-browser to install one and run this test"
        );
        return;
    };

    let bond = U256::from(50_000);
    let mut opts = common::fast("explorer");
    opts.provers = vec![
        ProverSpec::unreliable("alice", QuotePath::Http, 100, bond),
        common::fixed("bob", QuotePath::P2p, 200, 1000),
    ];
    let data_dir = opts.data_dir.clone();
    let sandbox = Sandbox::start(opts).await.expect("sandbox");
    let alice = sandbox.prover_address("alice").expect("alice");
    let bob = sandbox.prover_address("bob").expect("bob");
    let url = format!("{}explorer", sandbox.node_url().expect("node"));
    let hex = |a: alloy_primitives::Address| format!("{a:#x}");

    let mut browser = Browser::launch(&binary).await;
    browser.viewport(1280, 800, false).await;
    browser.navigate(&url).await;
    browser
        .wait_until(
            "document.body && document.body.getAttribute('data-loaded')",
            "its first data",
            Duration::from_secs(20),
        )
        .await;
    // Marks this page load: a reload would lose it.
    browser.eval("window.loadedOnce = 'yes'; true").await;

    // A quote for an epoch that had none when the page loaded shows up in the timeline.
    let had_quotes = browser
        .eval(
            "[...document.querySelectorAll('#timeline li[data-epoch]')]\
             .filter((li) => !/^0 quotes/.test(li.querySelector('.facts').textContent))\
             .map((li) => Number(li.getAttribute('data-epoch')))",
        )
        .await;
    let had_quotes: Vec<u64> = serde_json::from_value(had_quotes).expect("epoch list");
    let quote = sandbox
        .wait_for(Duration::from_secs(30), |e| {
            matches!(e, SandboxEvent::QuoteReceived { epoch, .. } if !had_quotes.contains(epoch))
        })
        .await
        .expect("a quote");
    let SandboxEvent::QuoteReceived { epoch: quoted, .. } = quote else {
        unreachable!()
    };
    browser
        .wait_until(
            &format!(
                "(() => {{ const li = document.querySelector('#timeline li[data-epoch=\"{quoted}\"]'); \
                 return li && !/^0 quotes/.test(li.querySelector('.facts').textContent) \
                 && window.loadedOnce === 'yes'; }})()"
            ),
            &format!("epoch {quoted}'s quote without a reload"),
            Duration::from_secs(10),
        )
        .await;

    // The unreliable prover wins, never proves, and is slashed.
    let slashed = sandbox
        .wait_for(Duration::from_secs(60), |e| {
            matches!(e, SandboxEvent::BondSlashed { .. })
        })
        .await
        .expect("a slash");
    let SandboxEvent::BondSlashed {
        epoch: slashed_epoch,
        prover: slashed_prover,
        amount: slashed_amount,
        tx: slash_tx,
        ..
    } = slashed
    else {
        unreachable!()
    };
    assert_eq!(slashed_prover, alice);
    // A later epoch is claimed by bob and proven.
    let proven = sandbox
        .wait_for(Duration::from_secs(45), |e| {
            matches!(e, SandboxEvent::EpochProven { epoch, claim: Some(_), .. } if *epoch > slashed_epoch)
        })
        .await
        .expect("a proof");
    let SandboxEvent::EpochProven {
        epoch: proven_epoch,
        prover: proven_prover,
        prover_reward,
        tx: proof_tx,
        ..
    } = proven
    else {
        unreachable!()
    };
    let (claim_prover, claim_bps, claim_bond) =
        common::claim_of(&sandbox.history(), proven_epoch).expect("the proven epoch's claim");
    assert_eq!((claim_prover, proven_prover), (bob, bob));

    // The proven epoch's auction, as the page shows it.
    let click = |epoch: u64| {
        format!(
            "(() => {{ const b = document.querySelector('#timeline li[data-epoch=\"{epoch}\"] button'); \
             if (b) b.click(); return !!b; }})()"
        )
    };
    browser
        .wait_until(
            &click(proven_epoch),
            "the proven epoch in the timeline",
            Duration::from_secs(10),
        )
        .await;
    let shown = browser
        .wait_until(
            &format!(
                "(() => {{ const a = {AUCTION}; return a.epoch === '{proven_epoch}' && a.state === 'proven' \
                 && a.events.some((e) => e.kind === 'proven') ? a : null; }})()"
            ),
            "the proven epoch's auction",
            Duration::from_secs(15),
        )
        .await;
    assert_eq!(shown["winner"], hex(bob), "{shown}");
    assert_eq!(shown["bps"], claim_bps.to_string(), "{shown}");
    assert_eq!(shown["bond"], claim_bond.to_string(), "{shown}");
    assert_eq!(shown["reward"], prover_reward.to_string(), "{shown}");
    let summary = shown["summary"].as_str().expect("summary");
    assert!(summary.contains(&format!("{claim_bps} bps")), "{summary}");
    assert!(summary.contains(&claim_bond.to_string()), "{summary}");
    let rows = shown["rows"].as_array().expect("rows");
    let winners: Vec<&Value> = rows.iter().filter(|r| r["winner"] == true).collect();
    assert_eq!(winners.len(), 1, "exactly one winner row: {shown}");
    assert_eq!(winners[0]["prover"], hex(bob));
    assert_eq!(winners[0]["bps"], claim_bps.to_string());
    assert!(
        winners[0]["text"]
            .as_str()
            .expect("text")
            .contains("winner")
    );
    let payout = shown["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "proven")
        .expect("the payout");
    assert_eq!(payout["prover"], hex(bob));
    assert_eq!(payout["amount"], prover_reward.to_string());
    assert_eq!(payout["tx"], format!("{proof_tx:#x}"));
    let dir = screenshot_dir();
    browser.screenshot(&dir.join("explorer-1280x800.png")).await;

    // The slashed epoch is shown as slashed, with the slash's transaction and amount.
    browser
        .wait_until(
            &click(slashed_epoch),
            "the slashed epoch in the timeline",
            Duration::from_secs(10),
        )
        .await;
    let shown = browser
        .wait_until(
            &format!(
                "(() => {{ const a = {AUCTION}; return a.epoch === '{slashed_epoch}' \
                 && a.events.some((e) => e.kind === 'slashed') ? a : null; }})()"
            ),
            "the slashed epoch's auction",
            Duration::from_secs(15),
        )
        .await;
    assert_eq!(shown["state"], "pruned", "{shown}");
    assert_eq!(shown["slashedBadge"], true, "{shown}");
    assert!(
        shown["summary"]
            .as_str()
            .expect("summary")
            .contains("slashed")
    );
    let slash = shown["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "slashed")
        .expect("the slash");
    assert_eq!(slash["prover"], hex(alice));
    assert_eq!(slash["amount"], slashed_amount.to_string());
    assert_eq!(slash["tx"], format!("{slash_tx:#x}"));
    assert!(slash["text"].as_str().expect("text").contains("slashed"));
    let timeline_state = browser
        .eval(&format!(
            "document.querySelector('#timeline li[data-epoch=\"{slashed_epoch}\"]').textContent"
        ))
        .await;
    assert!(
        timeline_state.as_str().expect("text").contains("slashed"),
        "{timeline_state}"
    );
    browser
        .screenshot(&dir.join("explorer-slashed-1280x800.png"))
        .await;
    // Still the first page load.
    assert_eq!(browser.eval("window.loadedOnce").await, "yes");

    // At a phone's width.
    browser.viewport(390, 844, true).await;
    browser.eval("window.scrollTo(0, 0); true").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    browser.screenshot(&dir.join("explorer-390x844.png")).await;
    let overflow = browser
        .eval("document.documentElement.scrollWidth <= window.innerWidth + 1")
        .await;
    assert_eq!(overflow, true, "the page scrolls sideways at 390 px");

    drop(browser);
    sandbox.shutdown().await;
    let _ = std::fs::remove_dir_all(data_dir);
}
