//! Times `gare::from_body` on every body of a vector corpus, for
//! `benches/compare_python.sh` (which times the Python SDK on the same bodies).
//!
//! Run: `cargo run --release --example parse_corpus -- tests/data/gare_cases.jsonl 2000`
//! Prints one line a body: `id<TAB>nanoseconds per call<TAB>found a GARE`.

use std::hint::black_box;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "tests/data/gare_cases.jsonl".into());
    let rounds: u32 = args.next().map(|n| n.parse()).transpose()?.unwrap_or(2000);
    for line in std::fs::read_to_string(&path)?
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        let case: serde_json::Value = serde_json::from_str(line)?;
        let id = case["id"].as_str().unwrap_or("?");
        let body = case["body"].as_str().unwrap_or("").as_bytes();
        let found = tower_gare::gare::from_body(body).is_some();
        // Warm up, then time the whole batch: per-call timer reads would cost
        // more than most parses.
        for _ in 0..rounds / 10 {
            black_box(tower_gare::gare::from_body(black_box(body)));
        }
        let start = Instant::now();
        for _ in 0..rounds {
            black_box(tower_gare::gare::from_body(black_box(body)));
        }
        let nanos = start.elapsed().as_nanos() as f64 / f64::from(rounds);
        println!("{id}\t{nanos:.0}\t{found}");
    }
    Ok(())
}
