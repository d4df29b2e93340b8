//! Property tests: any JSON value and any bytes give a GARE or a clean `None`,
//! never a panic, and what is found agrees across the entry points.

use proptest::prelude::*;
use serde_json::{Map, Value};
use tower_gare::{gare, scopes};

/// Keys the parsers look at, mixed with noise, so that generated documents
/// reach every branch instead of missing all markers.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("code".to_string()),
        Just("authorization_parameters".to_string()),
        Just("required_scopes".to_string()),
        Just("required_scope".to_string()),
        Just("session_message".to_string()),
        Just("session_required_identities".to_string()),
        Just("session_required_policies".to_string()),
        Just("session_required_single_domain".to_string()),
        Just("session_required_mfa".to_string()),
        Just("prompt".to_string()),
        Just("message".to_string()),
        Just("description".to_string()),
        Just("error".to_string()),
        Just("errors".to_string()),
        Just("unapproved_scopes".to_string()),
        "[a-z_]{0,8}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        Just(Value::from("ConsentRequired")),
        Just(Value::from("dependent_consent_required")),
        Just(Value::from("login")),
        Just(Value::from("")),
        Just(Value::from("a,b")),
        ".{0,12}".prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_json_document_parses_cleanly_and_consistently(doc in json_value()) {
        let body = serde_json::to_vec(&doc).unwrap();
        let one = gare::to_gare(&doc);
        prop_assert_eq!(gare::is_gare(&doc), one.is_some());
        let first = gare::from_body(&body);
        let all = gare::all_from_body(&body);
        prop_assert_eq!(gare::has_gares(&body), first.is_some());
        prop_assert_eq!(first.is_some(), !all.is_empty());
        // The root document is tried first.
        if let Some(root) = one {
            prop_assert_eq!(first.as_ref(), Some(&root));
            // Its canonical fields alone are a strict GARE that parses back.
            let canonical = root.to_value(false);
            let back = gare::Gare::from_value(&canonical).unwrap();
            prop_assert_eq!(back.to_value(false), canonical);
            // As a response it is always strictly valid, extras included.
            let response = root.to_response();
            let sent: Value = serde_json::from_str(response.body()).unwrap();
            let strict = gare::Gare::from_value(&sent).unwrap();
            prop_assert_eq!(&strict.code, &root.code);
            prop_assert_eq!(gare::from_body(response.body().as_bytes()), Some(strict));
        }
        if let Some(found) = first {
            prop_assert!(all.contains(&found));
        }
    }

    #[test]
    fn any_bytes_give_a_gare_or_none(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let first = gare::from_body(&body);
        prop_assert_eq!(first.is_some(), !gare::all_from_body(&body).is_empty());
        prop_assert_eq!(gare::has_gares(&body), first.is_some());
    }

    #[test]
    fn json_with_bytes_spliced_in_never_panics(doc in json_value(), at in any::<prop::sample::Index>(), junk in prop::collection::vec(any::<u8>(), 1..8)) {
        let mut body = serde_json::to_vec(&doc).unwrap();
        let i = at.index(body.len() + 1);
        body.splice(i..i, junk);
        let _ = gare::from_body(&body);
        let _ = gare::all_from_body(&body);
    }

    #[test]
    fn scope_parse_never_panics_and_round_trips(input in "[a-z\\[\\]* :/]{0,40}") {
        if let Ok(parsed) = scopes::parse(&input) {
            let text = scopes::serialize(&parsed);
            prop_assert_eq!(scopes::parse(&text).unwrap(), parsed.clone());
            let merged = scopes::merge(&parsed, &parsed);
            prop_assert_eq!(scopes::merge(&merged, &[]), merged.clone());
        }
    }
}
