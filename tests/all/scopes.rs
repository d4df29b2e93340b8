//! Globus scope strings: parsing, serialization, merging.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

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

/// The two lists a merge case takes, for `n` scopes.
type Case = fn(usize) -> (Vec<Scope>, Vec<Scope>);

fn scope_list(n: usize, name: &str) -> String {
    (0..n)
        .map(|i| format!("{name}{i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `n` distinct scopes, then all of them again.
fn distinct(n: usize) -> (Vec<Scope>, Vec<Scope>) {
    let all = scopes::parse(&scope_list(n, "scope-")).unwrap();
    (all.clone(), all)
}

/// One scope with `n` dependencies, merged with itself.
fn wide(n: usize) -> (Vec<Scope>, Vec<Scope>) {
    let wide = scopes::parse(&format!("a[{}]", scope_list(n, "d"))).unwrap();
    (wide.clone(), wide)
}

/// One scope with `n` dependencies, then the same scope `n / 16` times:
/// each repeat must cost its own (empty) dependencies, not the `n` it has.
fn repeated(n: usize) -> (Vec<Scope>, Vec<Scope>) {
    let wide = scopes::parse(&format!("s[{}]", scope_list(n, "d"))).unwrap();
    let repeats = scopes::parse(&vec!["s"; n / 16].join(" ")).unwrap();
    (wide, repeats)
}

/// This thread's time on a CPU so far: Linux's `/proc/thread-self/schedstat`,
/// which other work on a busy machine does not inflate (elsewhere, the wall
/// clock). It moves in scheduler ticks of a few milliseconds.
fn cpu_time() -> Duration {
    static START: OnceLock<Instant> = OnceLock::new();
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|stat| stat.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
        .unwrap_or_else(|| START.get_or_init(Instant::now).elapsed())
}

/// What one merge of `input` costs: merges repeated until they add up to
/// 50 ms, so that the clock's ticks are lost in the total.
fn merge_cost((a, b): &(Vec<Scope>, Vec<Scope>)) -> Duration {
    let start = cpu_time();
    let mut merges = 0;
    loop {
        drop(std::hint::black_box(scopes::merge(a, b)));
        merges += 1;
        let spent = cpu_time().saturating_sub(start);
        if spent >= Duration::from_millis(50) {
            return spent / merges;
        }
    }
}

/// Merging 16 times the scopes must cost about 16 times as much (linear),
/// never about 256 times (quadratic). Timed, but as a ratio of two costs
/// measured in one run, in CPU time: the best of five for the small case
/// against the large one. Under 64 (four times what linear costs) passes;
/// from 128 (half what quadratic costs) fails at once; in between, the
/// large case is measured again, five times at most.
#[test]
fn merging_costs_time_linear_in_the_scopes_merged() {
    const SMALL: usize = 1_000;
    const LIMIT: f64 = 64.0;
    for (name, case) in [
        ("distinct", distinct as Case),
        ("wide", wide),
        ("repeated", repeated),
    ] {
        let (small, large) = (case(SMALL), case(16 * SMALL));
        let best_small = (0..5).map(|_| merge_cost(&small)).min().unwrap();
        let mut ratios = Vec::new();
        while ratios.len() < 5 {
            let ratio = merge_cost(&large).as_secs_f64() / best_small.as_secs_f64();
            ratios.push(ratio);
            if !(LIMIT..2.0 * LIMIT).contains(&ratio) {
                break;
            }
        }
        assert!(
            ratios.last().is_some_and(|ratio| *ratio < LIMIT),
            "{name}: 16x the scopes cost {ratios:.0?}x as much: quadratic, not linear"
        );
    }
}
