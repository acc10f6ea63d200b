"""What matching costs in Lambda: N uploads against a catalogue of T tracks, from the benchmark.

    .venv/bin/python -m bench.cost bench/results/fingerprint-seed1-quick-scaling.json [--uploads 1000000]

Reads the ``scaling.full_shard`` section a ``--full-shard`` run wrote (bench/scaling.py: one
shard function's two full shards measured, the fan-out projected to T tracks) and prints the
bill as Markdown. Only the matching is priced: the fingerprint function (decode, extraction,
waiting for the shard functions, merge) and the shard functions, their requests, and the S3
GETs of the upload and of cold starts; not SQS, DynamoDB, Step Functions, SES or storage.

Billed duration is taken as the measured CPU (process time): a function with 1,769 MB has one
full vCPU (AWS Lambda: "at 1,769 MB, a function has the equivalent of one vCPU") and the work
is one thread, so wall time is the CPU time plus I/O, and the I/O inside a warm function is a
few small S3 GETs. The fingerprint function waits while its shard functions run (in
parallel), and that wait is billed too. The means are used (a bill adds up every upload), not
the medians.

Prices (us-east-1, x86, the AWS Lambda and Amazon S3 pricing pages as quoted by issue 16,
November 2026; the first tier of Lambda duration, 6 billion GB-seconds a month): below.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import sys
from pathlib import Path

LAMBDA_GB_SECOND = 0.0000166667   # USD per GB-second, x86, us-east-1
LAMBDA_REQUEST = 0.20 / 1_000_000  # USD per request
S3_GET = 0.0004 / 1_000            # USD per GET (S3 Standard, us-east-1)
# Not documented by AWS: how long an idle function's container lives. Taken as an hour, so each
# shard group's containers start cold about once an hour per concurrent container.
CONTAINER_LIFETIME_HOURS = 1.0
HOURS_PER_MONTH = 730.0


COMPONENTS = Path(__file__).resolve().parents[1] / "infra" / "takedown_infra" / "components.py"


def configured_memory(path: Path = COMPONENTS) -> tuple[int, int]:
    """(fingerprint function MB, shard function MB) as infra deploys them: INGEST_MEMORY and
    SHARD_MATCH_MEMORY, read from the module's source (importing it starts the CDK's node
    runtime). Raises KeyError if either is missing."""
    found = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for t in node.targets:
                if isinstance(t, ast.Name) and t.id in ("INGEST_MEMORY", "SHARD_MATCH_MEMORY"):
                    found[t.id] = int(node.value.value)
    return found["INGEST_MEMORY"], found["SHARD_MATCH_MEMORY"]


def bill(full_shard: dict, *, uploads: int = 1_000_000, ingest_mb: int, shard_mb: int, months: float = 1.0) -> dict:
    """The cost of ``uploads`` uploads (of the measured upload length) at the projection's
    catalogue size. Returns the lines (component, unit, quantity, USD) and the total; every
    input and assumption is in it too."""
    m, p, cold = full_shard["measured"], full_shard["projection"], full_shard["cold_start"]
    u = m["upload"]
    spf, n_shards, inv = p["shards_per_function"], p["shards"], p["invocations_per_query"]
    fill = p["shard_fill_vs_measured"]
    # the fan-out's second round (no copy in the first) calls every group again; a shard's
    # measured search holds both rounds' time. Figures from before the rounds: one round.
    rounds = 1 + u["second_rounds"] / u["uploads"] if "second_rounds" in u else 1.0
    shard_inv_s = spf * fill * u["shard_search"]["mean_ms"] / 1000       # one invocation of spf full shards
    merge_s = n_shards / 2 * u["merge_2"]["mean_ms"] / 1000
    fp_s = (u["decode"]["mean_ms"] + u["extract"]["mean_ms"]) / 1000 + shard_inv_s + merge_s
    gb_ingest, gb_shard = ingest_mb / 1024, shard_mb / 1024
    # cold starts: concurrency per group = arrival rate x invocation duration (Little's law)
    rate = uploads / (months * HOURS_PER_MONTH * 3600)
    concurrent = max(1, math.ceil(rate * shard_inv_s))
    colds = inv * concurrent * months * HOURS_PER_MONTH / CONTAINER_LIFETIME_HOURS
    cold_s = cold["projected"]["total_s_one_request"]
    lines = [
        ("fingerprint function duration", "GB-s", uploads * fp_s * gb_ingest),
        ("shard function duration (both rounds)", "GB-s", uploads * inv * shard_inv_s * gb_shard),
        ("requests (1 fingerprint + shard invocations per upload, both rounds)", "requests", uploads * (1 + inv * rounds)),
        ("S3 GET of each upload", "GET", uploads),
        ("shard cold starts: duration (download, open)", "GB-s", colds * cold_s * gb_shard),
        ("shard cold starts: S3 GETs", "GET", colds * cold["get_requests"]),
    ]
    price = {"GB-s": LAMBDA_GB_SECOND, "requests": LAMBDA_REQUEST, "GET": S3_GET}
    rows = [{"component": c, "unit": unit, "quantity": q, "usd": q * price[unit]} for c, unit, q in lines]
    return {
        "uploads": uploads, "upload_seconds": u["seconds"], "tracks": p["tracks"], "shards": n_shards,
        "shards_per_function": spf, "invocations_per_upload": inv, "rounds_per_upload": rounds,
        "fingerprint_function_s": fp_s, "shard_invocation_s": shard_inv_s, "merge_s": merge_s,
        "ingest_mb": ingest_mb, "shard_mb": shard_mb, "cold_starts": colds, "cold_start_s": cold_s,
        "rows": rows, "total_usd": sum(r["usd"] for r in rows),
        "prices": {"lambda_gb_second": LAMBDA_GB_SECOND, "lambda_request": LAMBDA_REQUEST, "s3_get": S3_GET},
    }


def markdown(b: dict) -> str:
    out = [
        f"Cost of {b['uploads']:,} uploads of {b['upload_seconds']:.0f} s against {b['tracks']:,} tracks "
        f"({b['shards']} shards, {b['invocations_per_upload']} shard-function invocations of {b['shards_per_function']} "
        f"shards per round, {b.get('rounds_per_upload', 1.0):.2f} rounds per upload (the second when the first finds no copy); fingerprint function {b['ingest_mb']} MB for {b['fingerprint_function_s']:.2f} s per upload, "
        f"shard function {b['shard_mb']} MB for {b['shard_invocation_s']:.2f} s per invocation; "
        f"{b['cold_starts']:,.0f} shard cold starts of {b['cold_start_s']:.1f} s)\n",
        "| component | quantity | unit | USD |",
        "|---|---|---|---|",
    ]
    for r in b["rows"]:
        out.append(f"| {r['component']} | {r['quantity']:,.0f} | {r['unit']} | {r['usd']:,.2f} |")
    out.append(f"| **total** | | | **{b['total_usd']:,.2f}** |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", help="benchmark JSON with scaling.full_shard (a --full-shard run)")
    ap.add_argument("--uploads", type=int, default=1_000_000)
    args = ap.parse_args(argv)
    doc = json.loads(Path(args.results).read_text())
    full = (doc.get("scaling") or {}).get("full_shard")
    if not full:
        print(f"error: {args.results} has no scaling.full_shard (run the benchmark with --full-shard)", file=sys.stderr)
        return 2
    ingest_mb, shard_mb = configured_memory()
    b = bill(full, uploads=args.uploads, ingest_mb=ingest_mb, shard_mb=shard_mb)
    print(markdown(b))
    return 0


if __name__ == "__main__":
    sys.exit(main())
