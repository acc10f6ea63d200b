"""The monthly AWS bill of the whole workflow, from measured figures (issue 19, "Cost").

    .venv/bin/python -m bench.monthly_cost [--sizes 512,1024,1536,1769,2048,3008] [--minutes 3]
        [--matches 4] [--non-matches 6] [--out bench/results/monthly-cost.json]

Three measurements, then the arithmetic:

1. **The fingerprint function's memory curve.** A 3-minute MP3 of real music (the fingerprint
   benchmark's Debian corpus, which this project did not make) is decoded and matched against
   an index of the corpus's first 12 tracks, in a fresh process per run, under a Linux cgroup
   CPU quota equal to the share of a vCPU Lambda gives each memory size (AWS: 1,769 MB is one
   full vCPU; CPU is allocated in proportion to memory). Measured per size: wall time, CPU
   time, peak resident memory. The price per upload is memory x wall time; the cheapest size
   whose peak memory fits with a quarter to spare is the recommendation. Needs root (it
   writes /sys/fs/cgroup); the machine should be otherwise idle, since the quota caps CPU but
   other work can still take some of it.
2. **Every AWS request of an upload and of a case**, on the embedded stack (the CDK app on
   moto, the real handlers and state machine): once with uploads that match nothing, once with
   uploads that each open a case that is approved and noticed. A botocore hook counts each
   request by service and operation (DynamoDB writes in write units from the item sizes,
   transactions twice), Step Functions transitions are read from each execution's history,
   and every Lambda invocation is timed (wall and thread CPU).
3. **Fixed monthly items** from the synthesized prod template: alarms, the dashboard, custom
   metrics.

Prices: us-east-1 list prices as published by AWS (x86 Lambda, Standard workflows, DynamoDB
on-demand, S3 Standard, SES outbound, REST API Gateway, CloudWatch) and written below; the
output shows every figure used. Not priced: data transfer, storage growth (evidence, logs
stored), KMS, X-Ray traces beyond the free tier, and the shard functions of a label-sized
catalogue (bench/cost.py prices those from a --full-shard run; pass its JSON with
--full-shard-json to add them).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from bench.fingerprint import MASTER_RATE, SR, _run, _write_wav, fetch_corpus, load_master, track_name

VCPU_MB = 1769                      # AWS Lambda: "at 1,769 MB, a function has the equivalent of one vCPU"
PRICES = {                          # USD, us-east-1
    "lambda_gb_second": 0.0000166667,   # x86, first 6 billion GB-s a month
    "lambda_request": 0.20 / 1e6,
    "sfn_transition": 0.025 / 1000,     # Standard workflows
    "ddb_wru": 0.625 / 1e6,             # on-demand write request unit
    "ddb_rru": 0.125 / 1e6,             # on-demand read request unit
    "s3_put": 0.005 / 1000,             # PUT, COPY, POST, LIST
    "s3_get": 0.0004 / 1000,            # GET and all other requests
    "sqs_request": 0.40 / 1e6,
    "ses_message": 0.10 / 1000,
    "apigw_request": 3.50 / 1e6,        # REST API, first 333 million
    "secrets_api_call": 0.05 / 10000,
    "cw_alarm_month": 0.10,             # standard resolution
    "cw_dashboard_month": 3.00,
    "cw_metric_month": 0.30,            # custom metric, first 10,000
    "secret_month": 0.40,
}
S3_PUT_OPS = {"PutObject", "CopyObject", "ListObjects", "ListObjectsV2", "CreateMultipartUpload", "UploadPart",
              "CompleteMultipartUpload", "PutObjectTagging", "DeleteObject", "DeleteObjects"}
DDB_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
DDB_READS = {"GetItem", "Query", "Scan"}

_CHILD = r"""
import json, sys, time
from pathlib import Path

def hwm():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")

t_wall = time.perf_counter()
from takedown_core.audio import decode_audio
from takedown_core.engine import Index
upload, index_dir = sys.argv[1], sys.argv[2]
index = Index.open(index_dir)
t0, c0 = time.perf_counter(), time.process_time()
samples = decode_audio(upload, sample_rate=index.params.sample_rate, max_seconds=900)
r = index.query(samples)
print(json.dumps({"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                  "start_to_end_s": time.perf_counter() - t_wall, "peak_mb": hwm(),
                  "answer": r.best.track_id if r.best else None}))
"""


# --------------------------------------------------------------------------- 1. memory curve

class Quota:
    """A CPU quota for child processes: cgroup v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``."""

    def __init__(self, name: str, cpus: float) -> None:
        v2 = Path("/sys/fs/cgroup/cgroup.controllers")
        period = 100_000
        if v2.exists() and "cpu" in v2.read_text():
            self.dir = Path("/sys/fs/cgroup") / name
            self.dir.mkdir(exist_ok=True)
            (self.dir / "cpu.max").write_text(f"{int(cpus * period)} {period}")
            self.procs = self.dir / "cgroup.procs"
        else:
            self.dir = Path("/sys/fs/cgroup/cpu") / name
            self.dir.mkdir(exist_ok=True)
            (self.dir / "cpu.cfs_period_us").write_text(str(period))
            (self.dir / "cpu.cfs_quota_us").write_text(str(int(cpus * period)))
            self.procs = self.dir / "tasks"

    def run(self, cmd: list[str]) -> str:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: self.procs.write_text(str(os.getpid())))
        out, err = proc.communicate()
        if proc.returncode:
            raise RuntimeError(err[-2000:])
        return out

    def close(self) -> None:
        try:
            self.dir.rmdir()
        except OSError:
            pass


def memory_curve(upload: Path, index_dir: Path, sizes: list[int], repeats: int) -> list[dict[str, Any]]:
    rows = []
    for mb in sizes:
        cpus = min(mb / VCPU_MB, float(os.cpu_count() or 1))
        quota = Quota(f"takedown-bench-{mb}", cpus)
        try:
            runs = [json.loads(quota.run([sys.executable, "-c", _CHILD, str(upload), str(index_dir)]).splitlines()[-1])
                    for _ in range(repeats)]
        finally:
            quota.close()
        best = min(runs, key=lambda r: r["start_to_end_s"])  # least disturbed by other work
        gb_s = mb / 1024 * best["start_to_end_s"]
        rows.append({"memory_mb": mb, "vcpus": round(cpus, 3), "wall_s": round(best["start_to_end_s"], 3),
                     "match_wall_s": round(best["wall_s"], 3), "cpu_s": round(best["cpu_s"], 3),
                     "peak_mb": round(max(r["peak_mb"] for r in runs), 1), "gb_seconds": round(gb_s, 3),
                     "usd_per_1000_uploads": round(1000 * (gb_s * PRICES["lambda_gb_second"] + PRICES["lambda_request"]), 4),
                     "runs": runs})
        print(f"  {mb:>5} MB ({cpus:.2f} vCPU): {best['start_to_end_s']:.2f} s wall, {best['cpu_s']:.2f} s CPU, "
              f"peak {rows[-1]['peak_mb']:.0f} MB, {gb_s:.2f} GB-s", file=sys.stderr)
    return rows


def choose_memory(curve: list[dict[str, Any]]) -> dict[str, Any]:
    """The cheapest size whose measured peak memory leaves a quarter free."""
    fits = [r for r in curve if r["peak_mb"] * 1.25 <= r["memory_mb"]]
    return min(fits or curve, key=lambda r: (r["gb_seconds"], r["memory_mb"]))


# --------------------------------------------------------------------------- 2. requests per upload and case

def _item_kb(item: Any) -> int:
    return max(1, math.ceil(len(json.dumps(item, default=str).encode()) / 1024))


class RequestCounter:
    """Counts every botocore request made while ``on``, by (service, operation), with DynamoDB
    write and read units estimated from the item sizes."""

    def __init__(self) -> None:
        self.on = False
        self.inside = threading.local()  # only calls made by a function count, not the harness's polling
        self.calls: Counter[tuple[str, str]] = Counter()
        self.units: Counter[str] = Counter()
        self.lock = threading.Lock()

    def install(self):
        """Count every API call of every client (botocore's one entry point); returns the undo."""
        from botocore.client import BaseClient

        original, counter = BaseClient._make_api_call, self

        def counted(client: Any, operation_name: str, api_params: Any):
            counter.record(client.meta.service_model.service_name, operation_name, api_params)
            return original(client, operation_name, api_params)

        BaseClient._make_api_call = counted
        return lambda: setattr(BaseClient, "_make_api_call", original)

    def record(self, service: str, op: str, params: Any) -> None:
        if not self.on or not getattr(self.inside, "depth", 0):
            return
        with self.lock:
            self.calls[(service, op)] += 1
            if service == "dynamodb":
                if op in DDB_WRITES:
                    self.units["wru"] += _item_kb((params or {}).get("Item") or params)
                elif op == "TransactWriteItems":
                    for it in (params or {}).get("TransactItems", []):
                        body = next(iter(it.values()), {})
                        self.units["wru"] += 2 * _item_kb(body.get("Item") or body)
                elif op == "BatchWriteItem":
                    for reqs in (params or {}).get("RequestItems", {}).values():
                        for r in reqs:
                            self.units["wru"] += _item_kb(r)
                elif op in DDB_READS or op in ("BatchGetItem", "TransactGetItems"):
                    self.units["rru"] += 1  # strongly consistent small reads; Query counted as one 4 KB read


def _lambda_timer(record: dict[str, list[tuple[float, float]]], counter: "RequestCounter"):
    from takedown_local import lambda_patch

    original = lambda_patch.invoke_handler

    def timed(handler_path: str, event: Any, context: Any):
        t0, c0 = time.perf_counter(), time.thread_time()
        counter.inside.depth = getattr(counter.inside, "depth", 0) + 1
        try:
            return original(handler_path, event, context)
        finally:
            counter.inside.depth -= 1
            record[handler_path].append((time.perf_counter() - t0, time.thread_time() - c0))

    lambda_patch.invoke_handler = timed
    return lambda: setattr(lambda_patch, "invoke_handler", original)


def stack_run(catalog: Path, uploads: Path, counter: RequestCounter) -> dict[str, Any]:
    """One embedded-stack run; counts only from the first upload dropped to the last case settled."""
    from takedown_local import driver
    from takedown_local.runtime import LocalStack

    timings: dict[str, list[tuple[float, float]]] = defaultdict(list)
    undo = _lambda_timer(timings, counter)
    original_drop = driver.drop_uploads

    def drop(*a: Any, **kw: Any):
        counter.on = True
        timings.clear()
        return original_drop(*a, **kw)

    driver.drop_uploads = drop
    try:
        with LocalStack("dev") as stack:
            summary = driver.run(stack, catalog=catalog, uploads=uploads, decide="approve")
            counter.on = False
            sfn = stack.client("stepfunctions")
            transitions = 0
            for row in summary["uploads"]:
                if row.get("case_id"):
                    arn = stack.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{row['case_id']}"
                    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
                    transitions += sum(1 for e in events if e["type"].endswith("StateEntered"))
    finally:
        driver.drop_uploads = original_drop
        undo()
    return {"summary": {k: summary[k] for k in ("lost",) if k in summary},
            "outcomes": Counter(r.get("outcome") for r in summary["uploads"]),
            "statuses": Counter(r.get("case_status") for r in summary["uploads"] if r.get("case_id")),
            "transitions": transitions,
            "lambda": {h.rsplit(".", 2)[-2]: {"invocations": len(v), "wall_s": sum(w for w, _ in v),
                                              "cpu_s": sum(c for _, c in v)} for h, v in timings.items()}}


def _excerpts(files: list[Path], out: Path, seconds: float, start_s: float, with_sidecars: bool, tag: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(files):
        x = load_master(f)
        a = int(min(start_s, max(0.0, x.size / MASTER_RATE - seconds)) * MASTER_RATE)
        wav = out / f"{tag}{i}.wav"
        _write_wav(wav, x[a:a + int(seconds * MASTER_RATE)], MASTER_RATE)
        _run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(wav), "-ac", "2", "-b:a", "128k",
              str(out / f"{tag}{i}.mp3")])
        wav.unlink()
        if with_sidecars:
            (out / f"{tag}{i}.json").write_text(json.dumps({
                "source_url": f"https://www.youtube.com/watch?v=cost{tag}{i}", "platform": "youtube",
                "uploader": f"uploader {i}", "title": f"{track_name(f)} (re-upload)"}))


def requests_per_item(run: dict[str, Any], calls: Counter, units: Counter, n: int) -> dict[str, Any]:
    per = {f"{s}:{o}": c / n for (s, o), c in sorted(calls.items())}
    return {"uploads": n, "calls_per_upload": per, "ddb_wru_per_upload": units["wru"] / n,
            "ddb_rru_per_upload": units["rru"] / n, "transitions_per_upload": run["transitions"] / n,
            "lambda_per_upload": {k: {kk: vv / n for kk, vv in v.items()} for k, v in run["lambda"].items()},
            "outcomes": dict(run["outcomes"]), "statuses": dict(run["statuses"])}


# --------------------------------------------------------------------------- 3. the bill

def _function_memory() -> dict[str, int]:
    """Memory (MB) of each handler module's function in the prod template."""
    sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "infra")]
    from takedown_infra.synth import synth_template

    t = synth_template("prod")
    out = {}
    for r in t["Resources"].values():
        if r["Type"] == "AWS::Lambda::Function" and str(r["Properties"].get("Handler", "")).startswith("takedown_handlers."):
            out[r["Properties"]["Handler"].split(".")[1]] = int(r["Properties"].get("MemorySize", 128))
    fixed = {"alarms": sum(1 for r in t["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"),
             "dashboards": sum(1 for r in t["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"),
             "secrets": sum(1 for r in t["Resources"].values() if r["Type"] == "AWS::SecretsManager::Secret")}
    return {"memory": out, "fixed": fixed}


def per_upload_usd(p: dict[str, Any], memory: dict[str, int], fingerprint: dict[str, Any] | None) -> dict[str, float]:
    """USD of one upload's requests and compute by service. ``fingerprint``: the memory-curve
    row that replaces the embedded run's ingest compute (its uploads are shorter)."""
    usd: Counter[str] = Counter()
    for key, n in p["calls_per_upload"].items():
        service, op = key.split(":", 1)
        if service == "s3":
            usd["S3 requests"] += n * (PRICES["s3_put"] if op in S3_PUT_OPS else PRICES["s3_get"])
        elif service == "sqs":
            usd["SQS requests"] += n * PRICES["sqs_request"]
        elif service == "ses":
            usd["SES messages"] += n * PRICES["ses_message"]
        elif service == "secretsmanager":
            usd["Secrets Manager calls"] += n * PRICES["secrets_api_call"]
    # The S3 notification's message: sent by S3 (SendMessage), received and deleted by Lambda's
    # event source mapping (outside the functions, so not counted above): 3 requests an upload.
    usd["SQS requests"] += 3 * PRICES["sqs_request"]
    usd["DynamoDB"] += p["ddb_wru_per_upload"] * PRICES["ddb_wru"] + p["ddb_rru_per_upload"] * PRICES["ddb_rru"]
    usd["Step Functions transitions"] += p["transitions_per_upload"] * PRICES["sfn_transition"]
    for module, t in p["lambda_per_upload"].items():
        if module == "shard_match" and fingerprint is not None:
            continue  # the curve's query searched every shard in one process: a catalogue that fits one function
        mb = memory.get(module, 256)
        seconds = t["wall_s"]
        if module == "ingest" and fingerprint is not None:
            # every upload is decoded and matched once, whatever batch of the queue it came in
            mb, seconds = fingerprint["memory_mb"], fingerprint["wall_s"]
        usd["Lambda"] += t["invocations"] * PRICES["lambda_request"] + mb / 1024 * seconds * PRICES["lambda_gb_second"]
        if module == "review_api":
            usd["API Gateway"] += t["invocations"] * PRICES["apigw_request"]
    return dict(usd)


def bill(no_match: dict[str, Any], case: dict[str, Any], fixed: dict[str, int], memory: dict[str, int],
         fingerprint: dict[str, Any] | None, uploads: int, match_rate: float, metrics: int) -> dict[str, Any]:
    a = per_upload_usd(no_match, memory, fingerprint)
    b = per_upload_usd(case, memory, fingerprint)
    lines = {k: uploads * ((1 - match_rate) * a.get(k, 0.0) + match_rate * b.get(k, 0.0)) for k in set(a) | set(b)}
    lines["CloudWatch alarms, dashboard, metrics (fixed)"] = (fixed["alarms"] * PRICES["cw_alarm_month"]
                                                             + fixed["dashboards"] * PRICES["cw_dashboard_month"]
                                                             + metrics * PRICES["cw_metric_month"])
    lines["Secrets Manager secrets (fixed)"] = fixed["secrets"] * PRICES["secret_month"]
    return {"uploads_per_month": uploads, "match_rate": match_rate,
            "lines": {k: round(v, 2) for k, v in sorted(lines.items(), key=lambda kv: -kv[1])},
            "total_usd": round(sum(lines.values()), 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="512,1024,1536,1769,2048,3008")
    ap.add_argument("--minutes", type=float, default=3.0, help="length of the upload the curve is measured on")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--matches", type=int, default=4)
    ap.add_argument("--non-matches", type=int, default=6)
    ap.add_argument("--match-rate", type=float, default=0.05)
    ap.add_argument("--skip-curve", action="store_true", help="price the fingerprint function as the embedded run measured it")
    ap.add_argument("--out", default="bench/results/monthly-cost.json")
    ap.add_argument("--reprice", metavar="JSON", help="price an earlier run's measurements again (no measuring)")
    args = ap.parse_args(argv)
    if args.reprice:
        result = json.loads(Path(args.reprice).read_text())
        curve = result.get("memory_curve")
        chosen = next((r for r in curve["rows"] if r["memory_mb"] == curve["chosen"]), None) if curve else None
        no_match, case = result["per_upload"]["no_match"], result["per_upload"]["case"]
        return _price(args, result, no_match, case, chosen)

    files = sorted(fetch_corpus())
    catalogue, others = files[:12], files[12:]
    result: dict[str, Any] = {"prices": PRICES, "method": __doc__}
    with tempfile.TemporaryDirectory(prefix="monthly-cost-") as tmp:
        work = Path(tmp)
        chosen = None
        if not args.skip_curve:
            from takedown_core.audio import decode_audio
            from takedown_core.engine import IndexWriter

            print("1/3 the fingerprint function's memory curve", file=sys.stderr)
            writer = IndexWriter()
            for f in catalogue:
                writer.add(track_name(f), decode_audio(f, sample_rate=SR))
            writer.write(work / "index")
            need = int(args.minutes * 60 * MASTER_RATE)
            parts, have = [], 0
            for f in catalogue:
                parts.append(load_master(f))
                have += parts[-1].size
                if have >= need:
                    break
            _write_wav(work / "upload.wav", np.concatenate(parts)[:need], MASTER_RATE)
            _run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(work / "upload.wav"), "-ac", "2",
                  "-b:a", "128k", str(work / "upload.mp3")])
            curve = memory_curve(work / "upload.mp3", work / "index", [int(s) for s in args.sizes.split(",")],
                                 args.repeats)
            chosen = choose_memory(curve)
            result["memory_curve"] = {"upload_minutes": args.minutes, "catalogue_tracks": len(catalogue), "rows": curve,
                                      "chosen": chosen["memory_mb"]}
            print(f"    cheapest size that fits: {chosen['memory_mb']} MB", file=sys.stderr)

        print("2/3 requests of an upload and of a case, on the embedded stack", file=sys.stderr)
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # the functions' JSON logs are not the report

        counter = RequestCounter()
        undo_counter = counter.install()
        cat_dir = work / "catalogue"
        cat_dir.mkdir()
        for f in catalogue[:4]:
            (cat_dir / f.name).symlink_to(f)
        _excerpts(others[:args.non_matches], work / "nomatch", 30.0, 40.0, True, "n")
        counter.calls.clear(), counter.units.clear()
        run_a = stack_run(cat_dir, work / "nomatch", counter)
        no_match = requests_per_item(run_a, counter.calls, counter.units, args.non_matches)
        _excerpts(catalogue[:min(args.matches, 4)], work / "match", 30.0, 40.0, True, "m")
        counter.calls.clear(), counter.units.clear()
        run_b = stack_run(cat_dir, work / "match", counter)
        case = requests_per_item(run_b, counter.calls, counter.units, min(args.matches, 4))
        undo_counter()
        result["per_upload"] = {"no_match": no_match, "case": case}

    return _price(args, result, no_match, case, chosen)


def _price(args: argparse.Namespace, result: dict[str, Any], no_match: dict[str, Any], case: dict[str, Any],
           chosen: dict[str, Any] | None) -> int:
    print("3/3 the bill", file=sys.stderr)
    infra = _function_memory()
    metrics = 24  # the metric names the functions emit (README, "Watching it run"), service dimension only
    result["fixed"] = {**infra["fixed"], "custom_metrics": metrics}
    result["bills"] = [bill(no_match, case, infra["fixed"], infra["memory"], chosen, n, args.match_rate, metrics)
                       for n in (100_000, 10_000_000)]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    for b in result["bills"]:
        print(f"\n{b['uploads_per_month']:,} uploads a month, {b['match_rate']:.0%} matching: ${b['total_usd']:,.2f}")
        for k, v in b["lines"].items():
            print(f"  {k:<48} ${v:>12,.2f}")
    print(f"\nresults: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
