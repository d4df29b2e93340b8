//! The GARE model: strict parsing, serialization, HTTP responses, odd bytes.

use serde_json::{json, Value};
use tower_gare::gare::{self, AuthorizationParameters, Gare};

#[test]
fn strict_parse_names_the_field_and_what_it_must_hold() {
    let cases = [
        (
            json!({"authorization_parameters": {}}),
            "'code' must be a string",
        ),
        (
            json!({"code": null, "authorization_parameters": {}}),
            "'code' must be a string",
        ),
        (
            json!({"code": "X"}),
            "'authorization_parameters' must be an object",
        ),
        (
            json!({"code": "X", "authorization_parameters": []}),
            "'authorization_parameters' must be an object",
        ),
        (
            json!({"code": "X", "authorization_parameters": {"session_message": 1}}),
            "'session_message' must be a string or null",
        ),
        (
            json!({"code": "X", "authorization_parameters": {"session_required_identities": "a"}}),
            "'session_required_identities' must be a list of strings or null",
        ),
        (
            json!({"code": "X", "authorization_parameters": {"session_required_policies": "a,b"}}),
            "'session_required_policies' must be a list of strings or null",
        ),
        (
            json!({"code": "X", "authorization_parameters": {"session_required_single_domain": [1]}}),
            "'session_required_single_domain' must be a list of strings or null",
        ),
        (
            json!({"code": "X", "authorization_parameters": {"session_required_mfa": "true"}}),
            "'session_required_mfa' must be a bool or null",
        ),
        (
            json!({"code": "X", "authorization_parameters": {"required_scopes": [null]}}),
            "'required_scopes' must be a list of strings or null",
        ),
        (
            json!({"code": "X", "authorization_parameters": {"prompt": false}}),
            "'prompt' must be a string or null",
        ),
        (json!(["code"]), "'document' must be a JSON object"),
    ];
    for (doc, message) in cases {
        let err = Gare::from_value(&doc).unwrap_err();
        assert_eq!(err.to_string(), message, "{doc}");
    }
}

#[test]
fn strict_parse_rejects_legacy_shapes_that_to_gare_accepts() {
    let legacy = json!({"code": "ConsentRequired", "required_scopes": ["a"]});
    assert!(Gare::from_value(&legacy).is_err());
    assert_eq!(gare::to_gare(&legacy).unwrap().code, "ConsentRequired");
}

#[test]
fn to_value_leaves_unset_out_and_keeps_empty_and_false() {
    let gare = Gare::new(
        "C",
        AuthorizationParameters {
            session_required_mfa: Some(false),
            required_scopes: Some(vec![]),
            ..Default::default()
        },
    );
    assert_eq!(
        gare.to_value(false),
        json!({"code": "C", "authorization_parameters": {"session_required_mfa": false, "required_scopes": []}})
    );
}

#[test]
fn a_set_canonical_field_wins_over_an_extra_of_the_same_name() {
    let mut gare = Gare::new(
        "Real",
        AuthorizationParameters {
            prompt: Some("login".into()),
            ..Default::default()
        },
    );
    gare.extra.insert("code".into(), json!("Fake"));
    gare.extra.insert("request_id".into(), json!("r1"));
    gare.authorization_parameters
        .extra
        .insert("prompt".into(), json!("none"));
    gare.authorization_parameters
        .extra
        .insert("session_message".into(), json!("from extra"));
    let value = gare.to_value(true);
    assert_eq!(value["code"], "Real");
    assert_eq!(value["request_id"], "r1");
    assert_eq!(value["authorization_parameters"]["prompt"], "login");
    // An unset canonical field does not hide the extra of that name.
    assert_eq!(
        value["authorization_parameters"]["session_message"],
        "from extra"
    );
    // Without extras, none of them appear.
    let bare = gare.to_value(false);
    assert!(bare.get("request_id").is_none());
    assert!(bare["authorization_parameters"]
        .get("session_message")
        .is_none());
}

#[test]
fn serde_round_trip_is_strict_and_keeps_extras() {
    let text = r#"{"code":"ConsentRequired","authorization_parameters":{"required_scopes":["s"],"x":{"y":[1,2]}},"request_id":"abc"}"#;
    let gare: Gare = serde_json::from_str(text).unwrap();
    assert_eq!(
        gare.authorization_parameters.extra["x"],
        json!({"y": [1, 2]})
    );
    let back: Value = serde_json::to_value(&gare).unwrap();
    assert_eq!(back, serde_json::from_str::<Value>(text).unwrap());
    let again: Gare = serde_json::from_value(back).unwrap();
    assert_eq!(again, gare);

    let err = serde_json::from_str::<Gare>(
        r#"{"code":"X","authorization_parameters":{"session_required_mfa":1}}"#,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("'session_required_mfa' must be a bool or null"),
        "{err}"
    );
    assert!(serde_json::from_str::<Gare>("[]").is_err());
}

#[test]
fn a_gare_becomes_a_response_and_parses_back_identically() {
    let mut gare = Gare::new(
        "AuthorizationRequired",
        AuthorizationParameters {
            session_message: Some("MFA please".into()),
            session_required_mfa: Some(true),
            ..Default::default()
        },
    );
    gare.extra.insert("request_id".into(), json!("r"));
    let response: http::Response<String> = gare.clone().into();
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()[http::header::CONTENT_TYPE],
        "application/json"
    );
    assert_eq!(
        gare::from_body(response.body().as_bytes()),
        Some(gare.clone())
    );
    let response = gare.to_response_with_status(http::StatusCode::BAD_GATEWAY);
    assert_eq!(response.status(), 502);
}

#[test]
fn invalid_utf8_in_a_string_does_not_hide_the_gare() {
    // requests decodes with replacement characters; so does the crate.
    let mut body =
        br#"{"code": "ConsentRequired", "required_scopes": ["s"], "message": "bad "#.to_vec();
    body.extend_from_slice(b"\xff\xfe");
    body.extend_from_slice(br#""}"#);
    let found = gare::from_body(&body).unwrap();
    assert_eq!(
        found.authorization_parameters.session_message.as_deref(),
        Some("bad \u{fffd}\u{fffd}")
    );
}

#[test]
fn bodies_that_cannot_be_gares_are_none() {
    let bodies: [&[u8]; 12] = [
        b"",
        b"   ",
        b"<html>403</html>",
        b"null",
        b"[]",
        b"\"ConsentRequired\"",
        b"{",
        b"{\"code\": \"ConsentRequired\"",
        b"\xef\xbb\xbf{\"code\": \"C\", \"authorization_parameters\": {}}",
        b"{\"code\": \"PermissionDenied\", \"message\": \"nope\"}",
        b"{\"authorization_parameters\": 5}",
        b"{\"code\": \"C\", \"authorization_parameters\": {}} trailing",
    ];
    for body in bodies {
        assert!(
            gare::from_body(body).is_none(),
            "{:?}",
            String::from_utf8_lossy(body)
        );
        assert!(gare::all_from_body(body).is_empty());
        assert!(!gare::has_gares(body));
    }
}

#[test]
fn deep_nesting_is_no_gare_not_a_stack_overflow() {
    for depth in [200usize, 10_000, 1_000_000] {
        let mut body = String::from(r#"{"code":"C","authorization_parameters":{},"x":"#);
        body.push_str(&"[".repeat(depth));
        body.push_str(&"]".repeat(depth));
        body.push('}');
        assert!(gare::from_body(body.as_bytes()).is_none());
        let mut body = String::from(r#"{"code":"C","authorization_parameters":{},"x":"#);
        body.push_str(&"{\"a\":".repeat(depth));
        body.push('1');
        body.push_str(&"}".repeat(depth));
        body.push('}');
        assert!(!gare::has_gares(body.as_bytes()));
    }
}

#[test]
fn escaped_keys_are_read_like_any_other() {
    let body = br#"{"code": "C", "authorization\u005fparameters": {"session_required_mfa": true}}"#;
    assert_eq!(
        gare::from_body(body)
            .unwrap()
            .authorization_parameters
            .session_required_mfa,
        Some(true)
    );
}

#[test]
fn session_requirements_are_told_apart_from_consent() {
    let consent =
        gare::from_body(br#"{"code":"ConsentRequired","required_scopes":["s"]}"#).unwrap();
    assert!(!consent.authorization_parameters.has_session_requirements());
    let policy =
        gare::from_body(br#"{"authorization_parameters":{"session_required_policies":"p"}}"#)
            .unwrap();
    assert!(policy.authorization_parameters.has_session_requirements());
    let empty = gare::from_body(
        br#"{"code":"C","authorization_parameters":{"session_required_identities":[]}}"#,
    )
    .unwrap();
    assert!(!empty.authorization_parameters.has_session_requirements());
}

#[test]
fn what_python_json_reads_and_serde_json_does_not_still_finds_the_gare() {
    // A truncated emoji (a lone surrogate escape) in the message.
    let body = br#"{"code": "AuthorizationRequired", "authorization_parameters": {"session_message": "Log in \ud83d", "session_required_mfa": true}}"#;
    let found = gare::from_body(body).unwrap();
    assert_eq!(
        found.authorization_parameters.session_message.as_deref(),
        Some("Log in \u{fffd}")
    );
    assert_eq!(
        found.authorization_parameters.session_required_mfa,
        Some(true)
    );
    // A proper pair is kept, a lone low surrogate replaced, an escaped
    // backslash before `u` left alone.
    let body =
        br#"{"code": "C", "authorization_parameters": {}, "m": "\ud83d\ude00 \udc00 \\ud83d"}"#;
    assert_eq!(
        gare::from_body(body).unwrap().extra["m"],
        "\u{1f600} \u{fffd} \\ud83d"
    );
    // NaN, Infinity and out-of-range numbers in extras.
    let body = br#"{"code": "ConsentRequired", "required_scopes": ["s"], "n": NaN, "i": -Infinity, "big": 1e400, "ok": 1.5}"#;
    let found = gare::from_body(body).unwrap();
    assert_eq!(found.code, "ConsentRequired");
    assert_eq!(found.extra["n"], Value::Null);
    assert_eq!(found.extra["i"], Value::Null);
    assert_eq!(found.extra["big"], Value::Null);
    assert_eq!(found.extra["ok"], json!(1.5));
    // Text that only looks like them inside strings is untouched.
    let body =
        br#"{"code": "ConsentRequired", "required_scopes": ["NaN Infinity 1e400"], "x": NaN}"#;
    assert_eq!(
        gare::from_body(body)
            .unwrap()
            .authorization_parameters
            .required_scopes
            .unwrap(),
        ["NaN Infinity 1e400"]
    );
    // Still not JSON: still no GARE.
    assert!(gare::from_body(br#"{"code": NaN NaN}"#).is_none());
}
