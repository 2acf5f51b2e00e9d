//! Fuzzes the JSON decoders (SPEC §2.4).
#![no_main]

use epoch_rfq_quote::{EpochProofQuote, QuoteError, QuoteFields};
use libfuzzer_sys::fuzz_target;

const SEED: &str = include_str!("../seeds/json/kat0.json");

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let direct = EpochProofQuote::from_json_str(s);
    // Through plain serde: the same verdict.
    let via_serde = serde_json::from_str::<EpochProofQuote>(s);
    match (&direct, &via_serde) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(_), Err(_)) => {}
        _ => panic!("from_json_str and serde disagree: {direct:?} vs {via_serde:?}"),
    }
    match direct {
        Ok(q) => common::check_quote(&q),
        Err(e @ QuoteError::Json { .. }) => {
            // Messages are bounded whatever the input (the field may be an empty unknown key).
            let msg = e.to_string();
            assert!(msg.starts_with("JSON field `") && msg.len() < 800, "{msg}");
        }
        Err(QuoteError::FeeTooHigh { fee }) => assert!(fee > 10_000),
        Err(e) => panic!("unexpected JSON error {e:?}"),
    }
    // The helper for other JSON documents: no panic, and it agrees with the quote's own parser.
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(s) {
        let helper = epoch_rfq_quote::uint_from_json(&v).ok();
        let mut doc: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(SEED).expect("seed");
        doc.insert("totalFees".into(), v);
        let text = serde_json::Value::Object(doc).to_string();
        let field = EpochProofQuote::from_json_str(&text)
            .ok()
            .map(|q| q.fields().total_fees);
        assert_eq!(helper, field, "uint_from_json disagrees on {s}");
    }
    if let Ok(f) = QuoteFields::from_json_str(s) {
        let back = serde_json::to_string(&f).expect("serde output");
        assert_eq!(QuoteFields::from_json_str(&back).expect("own output"), f);
    }
});
