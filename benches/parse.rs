//! `from_body` against a bare `serde_json::from_slice::<Value>` of the same
//! bytes, in one run: the parse target is at most 1.5x the bare parse.
//!
//! Run: `cargo bench --bench parse`. Compare the `from_body` and
//! `serde_json_value` lines of each group; the ratio is what counts.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde_json::Value;
use tower_gare::gare;

fn corpus() -> Vec<(String, Vec<u8>)> {
    let text = include_str!("../tests/data/gare_cases.jsonl");
    text.lines()
        .map(|line| {
            let case: Value = serde_json::from_str(line).unwrap();
            (
                case["id"].as_str().unwrap().to_owned(),
                case["body"].as_str().unwrap().as_bytes().to_vec(),
            )
        })
        .collect()
}

fn reference_vectors(c: &mut Criterion) {
    let bodies = corpus();
    let total: usize = bodies.iter().map(|(_, b)| b.len()).sum();
    let mut group = c.benchmark_group("vectors");
    group.throughput(Throughput::Bytes(total as u64));
    group.bench_function("serde_json_value", |b| {
        b.iter(|| {
            for (_, body) in &bodies {
                black_box(serde_json::from_slice::<Value>(black_box(body)).ok());
            }
        })
    });
    group.bench_function("from_body", |b| {
        b.iter(|| {
            for (_, body) in &bodies {
                black_box(gare::from_body(black_box(body)));
            }
        })
    });
    group.finish();

    // GARE bodies alone: the path where a GARE is built, not just rejected.
    let gares: Vec<_> = bodies
        .iter()
        .filter(|(_, body)| gare::has_gares(body))
        .cloned()
        .collect();
    let mut group = c.benchmark_group("gare_bodies");
    group.bench_function("serde_json_value", |b| {
        b.iter(|| {
            for (_, body) in &gares {
                black_box(serde_json::from_slice::<Value>(black_box(body)).ok());
            }
        })
    });
    group.bench_function("from_body", |b| {
        b.iter(|| {
            for (_, body) in &gares {
                black_box(gare::from_body(black_box(body)));
            }
        })
    });
    group.finish();
}

fn not_gares(c: &mut Criterion) {
    let html = b"<!DOCTYPE html><html><head><title>403 Forbidden</title></head><body><h1>Forbidden</h1><p>You don't have permission to access this resource.</p></body></html>".to_vec();
    let json_error = br#"{"code": "PermissionDenied", "message": "You do not have permission to list the contents of this collection", "request_id": "aBcDeF123", "resource": "/operation/endpoint/abc/ls"}"#.to_vec();
    let mut group = c.benchmark_group("not_a_gare");
    for (name, body) in [("html", html), ("json_error", json_error)] {
        group.bench_function(format!("{name}/serde_json_value"), |b| {
            b.iter(|| black_box(serde_json::from_slice::<Value>(black_box(&body)).ok()))
        });
        group.bench_function(format!("{name}/from_body"), |b| {
            b.iter(|| black_box(gare::from_body(black_box(&body))))
        });
    }
    group.finish();
}

fn to_response(c: &mut Criterion) {
    let (_, body) = corpus()
        .into_iter()
        .find(|(id, _)| id == "canonical_all_fields")
        .unwrap();
    let found = gare::from_body(&body).unwrap();
    c.bench_function("gare_to_response", |b| {
        b.iter_batched(
            || found.clone(),
            |g| black_box(g.to_response()),
            BatchSize::SmallInput,
        )
    });
}

fn challenges(c: &mut Criterion) {
    let typical: &[(&str, &str)] = &[
        (
            "insufficient_scope",
            r#"Bearer realm="example", error="insufficient_scope", scope="files:read files:write""#,
        ),
        (
            "step_up",
            r#"Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="myACR", max_age=300"#,
        ),
        (
            "claims",
            r#"Bearer realm="", authorization_uri=https://login.microsoftonline.com/common/oauth2/authorize, client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiY3AxIn19fQ==""#,
        ),
        (
            "no_requirement",
            r#"Negotiate YIIC3gYGKwYBBQUCoII=, Bearer realm="""#,
        ),
    ];
    let mut group = c.benchmark_group("challenge");
    for (name, value) in typical {
        let mut headers = http::HeaderMap::new();
        headers.insert("www-authenticate", http::HeaderValue::from_static(value));
        group.bench_function(*name, |b| {
            b.iter(|| black_box(tower_gare::challenge::from_headers(black_box(&headers))))
        });
    }
    let empty = http::HeaderMap::new();
    group.bench_function("no_header", |b| {
        b.iter(|| black_box(tower_gare::challenge::from_headers(black_box(&empty))))
    });
    group.finish();
}

fn scope_list(n: usize, name: &str) -> String {
    (0..n)
        .map(|i| format!("{name}{i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Merging 16 times the scopes must cost about 16 times as much (linear),
/// never about 256 times (quadratic): compare `n=1000` with `n=16000` in one
/// run. Three shapes: distinct scopes merged with themselves, one scope with
/// `n` dependencies merged with itself, and that scope then repeated `n/16`
/// times (each repeat must cost its own empty dependencies, not the `n`).
fn scope_merge_scaling(c: &mut Criterion) {
    use tower_gare::scopes::{merge, parse, Scope};
    type Case = fn(usize) -> (Vec<Scope>, Vec<Scope>);
    let distinct: Case = |n| {
        let all = parse(&scope_list(n, "scope-")).unwrap();
        (all.clone(), all)
    };
    let wide: Case = |n| {
        let wide = parse(&format!("a[{}]", scope_list(n, "d"))).unwrap();
        (wide.clone(), wide)
    };
    let repeated: Case = |n| {
        let wide = parse(&format!("s[{}]", scope_list(n, "d"))).unwrap();
        (wide, parse(&vec!["s"; n / 16].join(" ")).unwrap())
    };
    let mut group = c.benchmark_group("scope_merge");
    group.sample_size(20);
    for (name, case) in [
        ("distinct", distinct),
        ("wide", wide),
        ("repeated", repeated),
    ] {
        for n in [1_000, 16_000] {
            let (a, b) = case(n);
            group.bench_function(format!("{name}/{n}"), |bench| {
                bench.iter(|| black_box(merge(black_box(&a), black_box(&b))))
            });
        }
    }
    group.finish();
}

criterion_group!(
    benches,
    reference_vectors,
    not_gares,
    to_response,
    challenges,
    scope_merge_scaling
);
criterion_main!(benches);
