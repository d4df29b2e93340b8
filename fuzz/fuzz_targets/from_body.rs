//! Any bytes as an HTTP error body: a GARE or `None`, never a panic, and the
//! three entry points agree on whether there is one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_gare::gare;

fuzz_target!(|body: &[u8]| {
    let first = gare::from_body(body);
    let all = gare::all_from_body(body);
    assert_eq!(first.is_some(), !all.is_empty());
    assert_eq!(gare::has_gares(body), first.is_some());
    if let Some(found) = first {
        assert!(all.contains(&found));
        let response = found.to_response();
        let sent: serde_json::Value = serde_json::from_str(response.body()).unwrap();
        gare::Gare::from_value(&sent).expect("a GARE's response is a strict GARE");
    }
});
