//! What the testbed measures, from the roles' own records: when each prover sent each quote
//! (its `quote sent` log line, JSON logs), when each node first saw it (the node's auction
//! history, `GET /explorer/api/epochs/{epoch}`, which keeps `seenMs` per sighting), and what
//! the proposer claimed (the same history's L1 events). The hosts share one clock, so the
//! timestamps compare directly.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

/// A quote as its prover sent it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Sent {
    /// Prover address, lower case.
    pub prover: String,
    pub epoch: u64,
    pub fee: u32,
    /// Unix milliseconds.
    pub at_ms: u64,
}

/// Reads the `quote sent` lines (first sends, not resends) of a prover's JSON log.
pub fn quotes_sent(log: &Path, prover: &str) -> Result<Vec<Sent>> {
    let text =
        std::fs::read_to_string(log).with_context(|| format!("reading {}", log.display()))?;
    let mut sent = Vec::new();
    for line in text.lines().filter(|l| l.contains("quote sent")) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let f = &v["fields"];
        if f["message"] != "quote sent" || f["resend"] == true {
            continue;
        }
        let (Some(epoch), Some(fee), Some(at_ms)) = (
            f["epoch"].as_u64(),
            f["fee"].as_u64(),
            v["timestamp"].as_str().and_then(rfc3339_ms),
        ) else {
            continue;
        };
        sent.push(Sent {
            prover: prover.to_lowercase(),
            epoch,
            fee: fee as u32,
            at_ms,
        });
    }
    Ok(sent)
}

/// Unix milliseconds of `2026-12-03T15:30:00.123456Z` (UTC, as the JSON logs write it).
pub fn rfc3339_ms(s: &str) -> Option<u64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    let frac_ms: i64 = format!("{frac:0<3}")[..3].parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let ms = ((days * 86_400 + hh * 3_600 + mm * 60 + ss) * 1_000) + frac_ms;
    u64::try_from(ms).ok()
}

/// One node's sightings of one epoch and the claim it recorded.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct EpochView {
    /// (prover, fee) → first `seenMs`, accepted sightings only.
    #[serde(skip)]
    pub first_seen: HashMap<(String, u32), u64>,
    /// The winning fee when the epoch was claimed.
    pub claimed_fee: Option<u32>,
    /// Every sighting as recorded: (prover, fee, outcome, seenMs).
    pub raw: Vec<(String, u32, String, u64)>,
}

/// `GET {node}/explorer/api/epochs/{epoch}`; `None` when the node has nothing for it.
pub async fn epoch_view(
    http: &reqwest::Client,
    node_url: &str,
    epoch: u64,
) -> Result<Option<EpochView>> {
    let url = format!("{node_url}/explorer/api/epochs/{epoch}");
    let resp = http
        .get(&url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    if resp.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let v: Value = resp
        .error_for_status()
        .with_context(|| format!("GET {url}"))?
        .json()
        .await
        .with_context(|| format!("GET {url}: body"))?;
    let mut view = EpochView::default();
    for q in v["quotes"].as_array().into_iter().flatten() {
        let (Some(prover), Some(fee), Some(seen)) = (
            q["prover"].as_str(),
            q["basisPointFee"].as_u64(),
            q["seenMs"].as_u64(),
        ) else {
            continue;
        };
        view.raw.push((
            prover.to_lowercase(),
            fee as u32,
            q["outcome"].as_str().unwrap_or_default().to_owned(),
            seen,
        ));
        if q["accepted"] != true {
            continue;
        }
        let slot = view
            .first_seen
            .entry((prover.to_lowercase(), fee as u32))
            .or_insert(seen);
        *slot = (*slot).min(seen);
    }
    view.claimed_fee = v["events"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["kind"] == "claimed")
        .and_then(|e| e["basisPointFee"].as_u64())
        .map(|f| f as u32);
    Ok(Some(view))
}

/// Percentile (nearest rank) of sorted samples.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Sightings of every node, per epoch: `views[node][epoch]`.
pub type Views = BTreeMap<usize, BTreeMap<u64, EpochView>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_timestamps_parse_to_unix_milliseconds() {
        assert_eq!(rfc3339_ms("1970-01-01T00:00:01.5Z"), Some(1_500));
        assert_eq!(
            rfc3339_ms("2026-12-03T15:30:00.123456Z"),
            Some(1_796_311_800_123)
        );
        assert_eq!(rfc3339_ms("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
        assert_eq!(rfc3339_ms("yesterday"), None);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let s: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&s, 50.0), Some(50));
        assert_eq!(percentile(&s, 99.0), Some(99));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
