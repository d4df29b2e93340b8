//! Any string as a scope string: parsed or an error, never a panic; what
//! parses serializes to a string that parses back to the same scopes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_gare::scopes;

fuzz_target!(|input: &str| {
    if let Ok(parsed) = scopes::parse(input) {
        let text = scopes::serialize(&parsed);
        assert_eq!(scopes::parse(&text).as_ref(), Ok(&parsed));
        let merged = scopes::merge(&parsed, &parsed);
        assert_eq!(scopes::merge(&merged, &[]), merged);
    }
});
