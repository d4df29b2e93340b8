"""Times the Python SDK's GARE detection on every body of a corpus.

The path is the one `GlobusApp` redrive takes on an error response:
`globus_sdk.gare.to_gare(GlobusAPIError(response))` (the error object parses
the JSON body, then `to_gare` tries the root and each of `errors`).

Usage: python compare_python.py CORPUS.jsonl ROUNDS
Prints one line a body: id<TAB>nanoseconds per call<TAB>found a GARE.
"""
import json
import sys
import time

import requests
from globus_sdk import gare
from globus_sdk.exc import GlobusAPIError


def response_for(case):
    r = requests.Response()
    r.status_code = case.get("status", 403)
    r._content = case["body"].encode("utf-8")
    r.headers["Content-Type"] = case.get("content_type") or "application/json"
    r.url = "https://resource.example.org/v1/thing"
    r.request = requests.Request("GET", r.url).prepare()
    r.encoding = "utf-8"
    return r


def main():
    path, rounds = sys.argv[1], int(sys.argv[2])
    for line in open(path):
        if not line.strip():
            continue
        case = json.loads(line)
        response = response_for(case)

        def once():
            try:
                return gare.to_gare(GlobusAPIError(response))
            except Exception:  # the SDK raises on some bodies; the crate answers "no GARE"
                return None

        found = once() is not None
        for _ in range(max(1, rounds // 10)):
            once()
        start = time.perf_counter_ns()
        for _ in range(rounds):
            once()
        nanos = (time.perf_counter_ns() - start) / rounds
        print(f"{case['id']}\t{nanos:.0f}\t{str(found).lower()}")


if __name__ == "__main__":
    main()
