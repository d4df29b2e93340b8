#!/usr/bin/env bash
# from_body (this crate) against the Python SDK's to_gare(GlobusAPIError(...))
# on every body of the reference corpus, in one run. Prints per-body times,
# the ratio, and the median ratio. Target: at least 100x faster.
#
#   benches/compare_python.sh [ROUNDS]        (default 2000)
#
# Needs python3 (a venv with globus-sdk==4.10.0 is made under target/); skips
# with a message where python3 is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2000}
corpus=tests/data/gare_cases.jsonl

if ! command -v python3 >/dev/null 2>&1; then
    echo "SKIPPED: python3 is not installed; the comparison needs it"
    exit 0
fi
venv=target/bench-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import globus_sdk" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check globus-sdk==4.10.0 requests
fi

cargo build --quiet --release --example parse_corpus
rust=$(mktemp)
python=$(mktemp)
trap 'rm -f "$rust" "$python"' EXIT
./target/release/examples/parse_corpus "$corpus" "$rounds" > "$rust"
"$venv/bin/python" benches/compare_python.py "$corpus" "$rounds" > "$python"

python3 - "$rust" "$python" <<'PY'
import statistics, sys
rust = {l.split("\t")[0]: l.rstrip("\n").split("\t") for l in open(sys.argv[1])}
py = {l.split("\t")[0]: l.rstrip("\n").split("\t") for l in open(sys.argv[2])}
ratios = []
print(f"{'body':42} {'rust ns':>9} {'python ns':>10} {'ratio':>8}")
for cid, (_, rns, rfound) in rust.items():
    _, pns, pfound = py[cid]
    ratio = float(pns) / max(float(rns), 1.0)
    ratios.append(ratio)
    mark = "" if rfound == pfound else "  (answers differ: see gare_parity tests)"
    print(f"{cid:42} {float(rns):9.0f} {float(pns):10.0f} {ratio:7.0f}x{mark}")
rt = sum(float(v[1]) for v in rust.values())
pt = sum(float(v[1]) for v in py.values())
print(f"\nwhole corpus: rust {rt/1000:.1f} us, python {pt/1000:.1f} us, {pt/rt:.0f}x")
print(f"per-body ratio: median {statistics.median(ratios):.0f}x, min {min(ratios):.0f}x, max {max(ratios):.0f}x")
PY
