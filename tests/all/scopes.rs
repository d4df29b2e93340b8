//! Globus scope strings: parsing, serialization, merging.

use tower_gare::scopes::{self, Scope, MAX_DEPTH};

#[test]
fn brackets_make_one_scope_with_dependencies() {
    let s = "urn:globus:auth:scope:transfer.api.globus.org:all[*https://auth.globus.org/scopes/c1/data_access *https://auth.globus.org/scopes/c2/data_access]";
    let parsed = scopes::parse(s).unwrap();
    assert_eq!(parsed.len(), 1);
    assert_eq!(
        parsed[0].name,
        "urn:globus:auth:scope:transfer.api.globus.org:all"
    );
    assert_eq!(parsed[0].dependencies.len(), 2);
    assert!(parsed[0].dependencies.iter().all(|d| d.optional));
    assert_eq!(scopes::serialize(&parsed), s);
}

#[test]
fn serialization_round_trips_and_normalizes_whitespace() {
    for (input, output) in [
        ("a b c", "a b c"),
        ("  a   b  ", "a b"),
        ("a[b[c[d]]] e", "a[b[c[d]]] e"),
        ("a[b ]", "a[b]"),
        ("a[b[c] b[d]]", "a[b[c] b[d]]"),
        ("a[ b]", "a[b]"),
        ("a\tb\nc", "a b c"),
        ("*a", "*a"),
        ("a[b]] ", ""),
    ] {
        match scopes::parse(input) {
            Ok(parsed) => assert_eq!(scopes::serialize(&parsed), output, "{input:?}"),
            Err(_) => assert_eq!(output, "", "{input:?} should parse"),
        }
    }
}

#[test]
fn malformed_strings_are_errors_with_a_position() {
    for (input, reason) in [
        ("a[b", "unclosed brackets, missing ']'"),
        ("a]", "found ']' with no matching '[' preceding it"),
        ("[a]", "found '[' without a preceding scope string"),
        ("a [b]", "'[' cannot have a preceding space"),
        ("a[]", "found empty brackets"),
        ("a[ ]", "found empty brackets"),
        ("a[[b]]", "found double left-bracket"),
        ("a[", "ended in left bracket"),
        ("a *", "ended in optional marker"),
        ("* a", "'*' must not be followed by a space"),
        (
            "a[*]",
            "a scope string must always follow an optional marker",
        ),
        ("a[b]c", "']' may only be followed by a space or ']'"),
    ] {
        let err = scopes::parse(input).unwrap_err();
        assert_eq!(err.reason(), reason, "{input:?}");
        assert!(err.position() <= input.len());
    }
}

#[test]
fn nesting_is_bounded() {
    let ok = format!("{}x{}", "a[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert!(scopes::parse(&ok).is_ok());
    let deep = format!(
        "{}x{}",
        "a[".repeat(MAX_DEPTH + 1),
        "]".repeat(MAX_DEPTH + 1)
    );
    assert_eq!(
        scopes::parse(&deep).unwrap_err().reason(),
        "brackets nest too deeply"
    );
    let hostile = "a[".repeat(100_000);
    assert!(scopes::parse(&hostile).is_err());
}

#[test]
fn merge_removes_duplicates_and_merges_dependencies() {
    let a = scopes::parse("openid t:all[*d1] email").unwrap();
    let b = scopes::parse("t:all[d1 d2] openid profile").unwrap();
    let merged = scopes::merge(&a, &b);
    // d1 is required in one of the two, so it is required.
    assert_eq!(
        scopes::serialize(&merged),
        "openid t:all[d1 d2] email profile"
    );
    assert_eq!(scopes::merge(&merged, &merged), merged);
    assert_eq!(scopes::merge(&[], &[]), Vec::<Scope>::new());
    let optional_twice =
        scopes::merge(&scopes::parse("*x").unwrap(), &scopes::parse("*x").unwrap());
    assert_eq!(scopes::serialize(&optional_twice), "*x");
}

#[test]
fn merge_strings_merges_several_strings() {
    let merged = scopes::merge_strings(["a[b]", "a[c] d", "", "d"]).unwrap();
    assert_eq!(merged, "a[b c] d");
    assert!(scopes::merge_strings(["ok", "a[b"]).is_err());
}

#[test]
fn unicode_names_are_kept_whole() {
    let parsed = scopes::parse("ñ[é *ü] 日本").unwrap();
    assert_eq!(scopes::serialize(&parsed), "ñ[é *ü] 日本");
}

#[test]
fn merging_thousands_of_scopes_keeps_each_once() {
    let many: Vec<String> = (0..20_000).map(|i| format!("scope-{i}")).collect();
    let merged = scopes::merge_strings(many.iter().map(String::as_str).chain(["scope-7"])).unwrap();
    assert_eq!(merged.split(' ').count(), 20_000);
    let wide = format!("a[{}]", many.join(" "));
    let parsed = scopes::parse(&wide).unwrap();
    assert_eq!(
        scopes::merge(&parsed, &parsed)[0].dependencies.len(),
        20_000
    );
    // One scope with 10,000 dependencies, then the same scope 8,000 times.
    let repeats = vec!["s"; 8_000];
    let wide = format!("s[{}]", many[..10_000].join(" "));
    let merged = scopes::merge_strings(std::iter::once(wide.as_str()).chain(repeats)).unwrap();
    assert_eq!(
        scopes::parse(&merged).unwrap()[0].dependencies.len(),
        10_000
    );
}
