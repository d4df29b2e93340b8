//! Any bytes as a token endpoint's answer, under any status: tokens or an
//! error, never a panic. Tokens come only with a success status; every
//! lifetime given is read as a time in the next hundred years or as long
//! expired, never as "no expiry"; and no message holds a control character
//! (server text reaches terminals).
#![no_main]

use std::time::{Duration, SystemTime};

use http::StatusCode;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tower_gare::login::__private::parse_token_response;

fuzz_target!(|input: &[u8]| {
    let (status, body) = match input {
        [high, low, body @ ..] => (u16::from_be_bytes([*high, *low]) % 500 + 100, body),
        _ => (200, input),
    };
    let status = StatusCode::from_u16(status).expect("100..=599 is a status");
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    match parse_token_response(status, body, now) {
        Ok(response) => {
            assert!(status.is_success());
            let doc: Value = serde_json::from_slice(body).expect("tokens came from JSON");
            let mut entries = vec![&doc];
            if let Some(Value::Array(others)) = doc.get("other_tokens") {
                entries.extend(others);
            }
            assert_eq!(entries.len(), response.tokens.len());
            for (entry, token) in entries.into_iter().zip(&response.tokens) {
                assert!(!token.access_token().is_empty());
                assert_eq!(Some(token.access_token()), entry["access_token"].as_str());
                let given = !entry.get("expires_in").is_none_or(Value::is_null);
                assert_eq!(token.expires_at.is_some(), given, "{entry}");
                if let Some(at) = token.expires_at {
                    let sane = at >= now && at <= now + Duration::from_secs(100 * 366 * 86_400);
                    assert!(sane || at == SystemTime::UNIX_EPOCH, "{entry}");
                }
            }
        }
        Err(error) => {
            let shown = error.to_string();
            assert!(!shown.chars().any(char::is_control), "{shown:?}");
        }
    }
});
