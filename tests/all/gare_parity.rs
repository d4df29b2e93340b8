//! Agreement with the Python globus-sdk (4.10.0) on every reference body.
//!
//! `tests/data/gare_expected.jsonl` and `extra_expected.jsonl` hold what the
//! SDK answers for each body of the matching `*_cases.jsonl` (computed with
//! `shared/tools/gare_oracle.py`). Answers are compared flattened, as
//! `shared/tools/compare_parity.py` does: a set canonical field wins over an
//! extra field of the same name, numbers compare as f64.

use serde_json::{Map, Value};
use tower_gare::gare;

fn lines(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The SDK's typed answer, flattened as `compare_parity.py` does.
fn flatten(typed: &Value) -> Value {
    if typed.is_null() || typed == "not-json" {
        return typed.clone();
    }
    assert!(
        typed.get("python_raised").is_none(),
        "the oracle's answer is an SDK exception: {typed}"
    );
    let mut params = typed["authorization_parameters"]
        .as_object()
        .unwrap()
        .clone();
    let params_extra = params.remove("extra");
    if let Some(Value::Object(extra)) = params_extra {
        for (k, v) in extra {
            params.entry(k).or_insert(v);
        }
    }
    let mut out = Map::new();
    out.insert("code".into(), typed["code"].clone());
    out.insert("authorization_parameters".into(), Value::Object(params));
    for (k, v) in typed["extra"].as_object().unwrap() {
        out.entry(k.clone()).or_insert(v.clone());
    }
    Value::Object(out)
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w))
        }
        _ => a == b,
    }
}

fn dedupe(items: &[Value]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for item in items {
        if !out.iter().any(|o| same(o, item)) {
            out.push(item.clone());
        }
    }
    out
}

fn answer(found: Option<gare::Gare>) -> Value {
    found.map_or(Value::Null, |g| g.to_value(true))
}

fn check_corpus(cases: &str, expected: &str) -> usize {
    let expected: Vec<Value> = lines(expected);
    let cases = lines(cases);
    assert_eq!(cases.len(), expected.len(), "one answer a case");
    let mut failures = Vec::new();
    for (case, want) in cases.iter().zip(&expected) {
        let id = case["id"].as_str().unwrap();
        assert_eq!(want["id"], id, "cases and answers are in the same order");
        let body = case["body"].as_str().unwrap().as_bytes();

        let doc = match serde_json::from_slice::<Value>(body) {
            Ok(doc) => answer(gare::to_gare(&doc)),
            Err(_) => Value::String("not-json".into()),
        };
        let first = answer(gare::from_body(body));
        let all: Vec<Value> = gare::all_from_body(body)
            .into_iter()
            .map(|g| g.to_value(true))
            .collect();

        let want_doc = flatten(&want["doc_gare"]);
        let want_first = flatten(&want["body_gare"]);
        let want_all: Vec<Value> = want["body_gares"]
            .as_array()
            .unwrap()
            .iter()
            .map(flatten)
            .collect();

        if !same(&doc, &want_doc) {
            failures.push(format!(
                "{id} doc_gare\n  sdk:   {want_doc}\n  crate: {doc}"
            ));
        }
        if !same(&first, &want_first) {
            failures.push(format!(
                "{id} body_gare\n  sdk:   {want_first}\n  crate: {first}"
            ));
        }
        let all_same = same(&Value::from(all.clone()), &Value::from(want_all.clone()))
            || same(&Value::from(dedupe(&all)), &Value::from(dedupe(&want_all)));
        if !all_same {
            failures.push(format!(
                "{id} body_gares\n  sdk:   {}\n  crate: {}",
                Value::from(want_all),
                Value::from(all)
            ));
        }
        assert_eq!(gare::has_gares(body), !first.is_null(), "{id}: has_gares");
        if let Ok(doc) = serde_json::from_slice::<Value>(body) {
            assert_eq!(gare::is_gare(&doc), !want_doc.is_null(), "{id}: is_gare");
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} answers differ from the SDK:\n{}",
        failures.len(),
        cases.len() * 3,
        failures.join("\n")
    );
    cases.len()
}

#[test]
fn reference_vectors_agree_with_the_python_sdk() {
    let n = check_corpus(
        "tests/data/gare_cases.jsonl",
        "tests/data/gare_expected.jsonl",
    );
    assert_eq!(n, 69, "the whole shared corpus is checked");
}

#[test]
fn extra_shapes_agree_with_the_python_sdk() {
    let n = check_corpus(
        "tests/data/extra_cases.jsonl",
        "tests/data/extra_expected.jsonl",
    );
    assert!(n >= 60);
}

/// Where the crate is deliberately better than the SDK: a legacy
/// `authorization_parameters` keeps a valid `required_scopes` typed.
#[test]
fn legacy_parameters_keep_required_scopes_typed() {
    let body = br#"{"authorization_parameters": {"required_scopes": ["s1"], "session_required_policies": "p1,p2"}}"#;
    let found = gare::from_body(body).unwrap();
    let params = &found.authorization_parameters;
    assert_eq!(params.required_scopes, Some(vec!["s1".to_string()]));
    assert!(params.extra.is_empty());
    assert_eq!(found.code, "AuthorizationRequired");

    // An invalid one stays where the SDK puts it.
    let body = br#"{"authorization_parameters": {"required_scopes": "s1 s2"}}"#;
    let found = gare::from_body(body).unwrap();
    assert_eq!(found.authorization_parameters.required_scopes, None);
    assert_eq!(
        found.authorization_parameters.extra["required_scopes"],
        "s1 s2"
    );
}
