//! Any bytes as a `WWW-Authenticate` value: challenges or nothing, never a
//! panic; every requirement found is one of the three known codes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_gare::challenge;

fuzz_target!(|value: &[u8]| {
    let parsed = challenge::parse(value);
    assert!(parsed.len() <= value.len());
    for c in &parsed {
        if let Some(gare) = challenge::to_gare(c) {
            assert!(gare.code.starts_with("insufficient_"));
        }
    }
    if let Ok(header) = http::HeaderValue::from_bytes(value) {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::WWW_AUTHENTICATE, header);
        let _ = challenge::from_headers(&headers);
    }
});
