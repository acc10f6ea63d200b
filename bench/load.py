"""Load benchmark (issue 13): a busy Monday through the embedded stack, and the accounting.

    .venv/bin/python -m bench.load                       # 1,000 uploads in bursts of 100 (~10 min on 2 cores)
    .venv/bin/python -m bench.load --uploads 200 --burst 50 --synthetic   # quick look, no download

A benchmark, not a test: CI does not run it. It starts the local runtime (the CDK app's
resources on moto, the real handlers, the real state machine), publishes a catalogue of real
open music (the fingerprint benchmark's Debian corpus, cached in ~/.cache/takedown-bench; with
``--synthetic``, generated music), and drops uploads into the partner buckets in bursts:

- matches: 10 s excerpts of catalogue tracks at seeded offsets, in MP3 / AAC / Ogg Vorbis /
  Opus / FLAC, some under noise, each at its own YouTube URL (one case each);
- non-matches: excerpts of music the catalogue does not hold (another composer's, lincity-ng,
  and generated music);
- the same object under several keys: one excerpt's bytes at 3 keys whose sidecars spell one
  video three ways (youtu.be, m.youtube.com, &t=30s): one case for the three;
- corrupt files: truncated media, garbage with an audio name, empty files, bad sidecars;
- re-deliveries: after each burst, some earlier objects' S3 notifications are sent again.

Every case is then approved through the review API as a browser would (GET the page, POST
the form), and the run waits for the notices. It reports throughput, per-stage latency (p50,
p95), peak memory, and the accounting: every upload exactly one recorded outcome (the expected
one), no case opened twice, no execution started twice, no notice sent twice, nothing in the
DLQ, no case left unfinished or failed. Exit code 0 only if the accounting holds.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import quote_plus

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CODECS = ("mp3", "m4a", "ogg", "opus", "flac")
RATE = 22050  # excerpts are cut at this rate, then encoded
EXCERPT_S = 10.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Planned:
    rel: str                       # key in the partner bucket (and path under the uploads folder)
    kind: str                      # match | nonmatch | dupkey | corrupt | badsidecar
    expect: str                    # expected outcome: case | no_match | quarantined
    track: str | None = None       # expected track for a match
    location: str | None = None    # expected case location key group (dupkeys share one)
    put_at: float = 0.0
    data: bytes = b""
    sidecar: bytes | None = None
    extra: dict = field(default_factory=dict)


def _corpus(n_catalogue: int, synthetic: bool, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[Path]]:
    """(catalogue masters, other masters, catalogue source files) at RATE."""
    from takedown_local.media import synth_track

    if synthetic:
        cat = {f"synth{i:03d}": synth_track(9000 + i, 60.0, sample_rate=RATE) for i in range(n_catalogue)}
        other = {f"other{i:03d}": synth_track(19000 + i, 60.0, sample_rate=RATE) for i in range(max(8, n_catalogue // 2))}
        return cat, other, []
    from bench.fingerprint import family_of, fetch_corpus, load_master, track_name

    files = fetch_corpus()
    # Catalogue: warzone2100 tracks. Non-matches: lincity-ng's music (another composer) and
    # generated music. Not the warzone tracks left out of the catalogue: that soundtrack reuses
    # its own recordings across tracks (bench/README.md, step 6), so an excerpt of a "non-catalogue"
    # track may truly hold catalogue audio, and judging that is the fingerprint benchmark's job.
    by_family: dict[str, list[Path]] = {}
    for f in files:
        if "lincity" not in str(f):
            by_family.setdefault(family_of(track_name(f)), []).append(f)
    families = sorted(by_family)
    rng.shuffle(families)
    cat_files = [sorted(by_family[f])[0] for f in families[:n_catalogue]]
    cat = {track_name(p): load_master(p) for p in cat_files}
    other = {track_name(p): load_master(p) for p in files if "lincity" in str(p)}
    other.update({f"generated{i:02d}": synth_track(29000 + i, 60.0, sample_rate=RATE) for i in range(8)})
    return cat, other, cat_files


def _excerpt(master: np.ndarray, rng: np.random.Generator, noise_db: float | None) -> np.ndarray:
    n = int(EXCERPT_S * RATE)
    start = int(rng.integers(0, max(1, master.size - n)))
    x = master[start:start + n].astype(np.float32)
    if noise_db is not None:
        p = float(np.mean(x ** 2)) or 1e-6
        x = x + rng.normal(0, np.sqrt(p / 10 ** (noise_db / 10)), x.size).astype(np.float32)
    return x


def _encode(x: np.ndarray, codec: str, work: Path, name: str) -> bytes:
    from takedown_local.media import write_audio

    path = write_audio(work / f"{name}.{codec}", x, RATE)
    data = path.read_bytes()
    path.unlink()
    return data


def plan(n: int, cat: dict[str, np.ndarray], other: dict[str, np.ndarray], rng: np.random.Generator, work: Path) -> list[Planned]:
    """n uploads: 40 % matches, 25 % non-matches, 15 % one object under 3 keys, 10 % corrupt, 10 % bad sidecars."""
    out: list[Planned] = []
    n_match, n_non, n_dup = int(n * 0.40), int(n * 0.25), (int(n * 0.15) // 3) * 3
    n_corrupt = int(n * 0.10)
    n_bad = n - n_match - n_non - n_dup - n_corrupt
    cat_ids, other_ids = sorted(cat), sorted(other)
    for i in range(n_match):
        tid = cat_ids[i % len(cat_ids)]
        codec = CODECS[i % len(CODECS)]
        noise = 10.0 if i % 4 == 3 else None
        url = f"https://www.youtube.com/watch?v=m{i:05d}"
        out.append(Planned(f"match/{i:04d}.{codec}", "match", "case", tid, f"youtube:m{i:05d}",
                           data=_encode(_excerpt(cat[tid], rng, noise), codec, work, f"m{i}"),
                           sidecar=json.dumps({"source_url": url, "uploader": f"user{i}"}).encode()))
    for i in range(n_non):
        oid = other_ids[i % len(other_ids)]
        codec = CODECS[(i + 2) % len(CODECS)]
        out.append(Planned(f"other/{i:04d}.{codec}", "nonmatch", "no_match",
                           data=_encode(_excerpt(other[oid], rng, None), codec, work, f"o{i}"),
                           sidecar=json.dumps({"source_url": f"https://www.youtube.com/watch?v=o{i:05d}"}).encode()))
    for g in range(n_dup // 3):
        tid = cat_ids[(g * 7) % len(cat_ids)]
        data = _encode(_excerpt(cat[tid], rng, None), "mp3", work, f"d{g}")
        vid = f"d{g:05d}xyz"
        for j, url in enumerate((f"https://youtu.be/{vid}", f"https://m.youtube.com/watch?v={vid}",
                                 f"https://www.youtube.com/watch?v={vid}&t=30s")):
            out.append(Planned(f"dup/{g:03d}-{j}.mp3", "dupkey", "case", tid, f"youtube:{vid}", data=data,
                               sidecar=json.dumps({"source_url": url}).encode()))
    good = _encode(_excerpt(cat[cat_ids[0]], rng, None), "mp3", work, "good")
    for i in range(n_corrupt):
        kind = i % 4
        if kind == 0:
            data = good[: len(good) // 20]           # truncated to half a second
        elif kind == 1:
            data = rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes()   # garbage under an audio name
        elif kind == 2:
            data = b""                                # empty
        else:
            data = b"%PDF-1.7\n" + bytes(2000)        # a document
        out.append(Planned(f"broken/{i:04d}.mp3", "corrupt", "quarantined", data=data))
    for i in range(n_bad):
        side = [b"[" * 20000 + b"]" * 20000, b'{"source_url": "http://[oops/x"}', b'{"platform": "myspace"}',
                b'{"title": 7}'][i % 4]
        out.append(Planned(f"badside/{i:04d}.mp3", "badsidecar", "quarantined", data=good, sidecar=side))
    order = rng.permutation(len(out))
    return [out[i] for i in order]


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class _PeakRss:
    """Samples this process's resident memory every 0.2 s while active."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()

    def __enter__(self) -> "_PeakRss":
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, _rss_mb())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


def _iso(at: str) -> float:
    return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()


def run(args: argparse.Namespace) -> dict:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import logging

    logging.basicConfig(level=logging.WARNING)
    for noisy in ("botocore", "boto3", "urllib3", "moto", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    from takedown_local import driver
    from takedown_local.runtime import LocalStack

    rng = np.random.default_rng(args.seed)
    work = Path(tempfile.mkdtemp(prefix="takedown-load-"))
    try:
        t0 = time.monotonic()
        cat, other, cat_files = _corpus(args.catalogue, args.synthetic, rng)
        uploads = plan(args.uploads, cat, other, rng, work)
        log(f"planned {len(uploads)} uploads from {len(cat)} catalogue and {len(other)} other tracks "
            f"in {time.monotonic() - t0:.0f} s: {dict(Counter(u.kind for u in uploads))}")
        n_cat, n_other = len(cat), len(other)
        if cat_files:
            cat.clear()  # the decoded corpus is the benchmark's, not the stack's: free it before measuring
        other.clear()
        gc.collect()
        rss_before = _rss_mb()
        catalog_dir = work / "catalog"
        catalog_dir.mkdir()
        if cat_files:
            from bench.fingerprint import track_name

            for p in cat_files:  # the file name is the track id the catalogue gives the track
                shutil.copy(p, catalog_dir / (track_name(p) + (p.suffix or ".ogg")))
        else:
            from takedown_local.media import write_audio

            for tid, x in cat.items():
                write_audio(catalog_dir / f"{tid}.flac", x, RATE)
        result: dict = {"uploads": len(uploads), "catalogue_tracks": n_cat, "other_tracks": n_other, "corpus": "synthetic" if args.synthetic
                        else "debian:warzone2100-music,lincity-ng-data", "burst": args.burst, "pause_s": args.pause}
        sampler = _PeakRss()
        with sampler, LocalStack("dev") as stack:
            index = work / "index"
            driver.build_index(catalog_dir, index)
            driver.publish_index(stack, index)
            s3, sqs = stack.client("s3"), stack.client("sqs")
            bucket = stack.partner_buckets[next(iter(stack.partner_buckets))]
            redelivered = 0
            t_start = time.time()
            for b in range(0, len(uploads), args.burst):
                burst = uploads[b:b + args.burst]
                for u in burst:
                    if u.sidecar is not None:
                        s3.put_object(Bucket=bucket, Key=u.rel.rsplit(".", 1)[0] + ".json", Body=u.sidecar)
                    u.put_at = time.time()
                    r = s3.put_object(Bucket=bucket, Key=u.rel, Body=u.data)
                    u.extra["etag"] = r["ETag"].strip('"')
                # re-deliveries: S3 notifications of earlier objects, sent again (at-least-once delivery)
                for u in uploads[max(0, b - args.burst):b][: args.redeliver]:
                    body = {"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": bucket}, "object": {
                        "key": quote_plus(u.rel), "size": len(u.data), "eTag": u.extra["etag"]}}}]}
                    sqs.send_message(QueueUrl=stack.ingest_queue_url, MessageBody=json.dumps(body))
                    redelivered += 1
                log(f"  burst {b // args.burst + 1}: {len(burst)} uploads dropped")
                time.sleep(args.pause)
            result["redelivered"] = redelivered
            repo = stack.repository()
            driver.wait_ingested(stack, [driver.Upload(u.rel, Path(u.rel), "", bucket, u.rel) for u in uploads])
            t_ingested = time.time()
            recs = {u.rel: repo.get_upload(bucket, u.rel) for u in uploads}
            case_ids = sorted({r.case_id for r in recs.values() if r and r.case_id})
            log(f"  {len(case_ids)} cases; waiting for review requests")
            waiting = driver.wait_all(stack, case_ids, lambda c, links: driver.settled(stack, c, links), 120)
            t_reviews = time.time()
            problems = []
            if args.decide == "approve":
                for i, cid in enumerate(case_ids):
                    if cid in waiting:
                        continue
                    try:
                        driver.decide_case(stack, cid, "approve")
                    except driver.RunError as e:
                        problems.append(f"{cid}: {e}")
                    if (i + 1) % 100 == 0:
                        log(f"  approved {i + 1}/{len(case_ids)}")
                unfinished = driver.wait_all(stack, case_ids, lambda c, _: driver.finished(stack, c), 180)
            else:
                unfinished = waiting
            t_end = time.time()
            result.update(account(stack, uploads, recs, case_ids))
            result["unfinished"] = len(unfinished)
            result["problems"] = problems[:20]
            result["seconds"] = {"ingest": round(t_ingested - t_start, 1), "to_review": round(t_reviews - t_start, 1),
                                 "total": round(t_end - t_start, 1)}
            result["throughput_uploads_per_s"] = round(len(uploads) / (t_ingested - t_start), 2)
            result["latency_s"] = latencies(stack, uploads, recs, case_ids)
        result["rss_mb"] = {"before_stack": round(rss_before, 1), "peak_during_run": round(sampler.peak, 1),
                            "process_lifetime_peak": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def account(stack, uploads: list[Planned], recs: dict, case_ids: list[str]) -> dict:
    """Every upload one outcome (the expected one); one case per item; one execution per case;
    one notice per case."""
    from takedown_local import driver

    repo = stack.repository()
    wrong = []
    for u in uploads:
        r = recs[u.rel]
        if r is None:
            wrong.append(f"{u.rel}: no outcome")
        elif r.outcome != u.expect:
            wrong.append(f"{u.rel}: {r.outcome} ({r.reason}), expected {u.expect}")
        elif u.track and r.track_id != u.track:
            wrong.append(f"{u.rel}: track {r.track_id}, expected {u.track}")
    by_item: dict[str, set[str]] = {}
    for u in uploads:
        r = recs[u.rel]
        if u.location and r is not None and r.case_id:
            by_item.setdefault(u.location, set()).add(r.case_id)
    items_split = [k for k, v in by_item.items() if len(v) != 1]
    opened_twice = [c for c in case_ids if [e.action for e in repo.audit_trail(c)].count("opened") != 1]
    sfn = stack.client("stepfunctions")
    names: list[str] = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=stack.state_machine_arn):
        names += [e["name"] for e in page["executions"]]
    notices = Counter()
    for m in stack.sent_mail():
        if "notice" in m["subject"].lower():
            for c in case_ids:
                if c in m["subject"]:
                    notices[c] += 1
    statuses = Counter(repo.get_case(c).status.value for c in case_ids)
    return {
        "outcomes": dict(Counter((recs[u.rel].outcome if recs[u.rel] else None) for u in uploads)),
        "wrong_outcomes": len(wrong), "wrong_examples": wrong[:40],
        "cases": len(case_ids), "expected_cases": len(by_item), "items_with_more_than_one_case": len(items_split),
        "cases_opened_twice": len(opened_twice),
        "executions": len(names), "executions_started_twice": len(names) - len(set(names)),
        "executions_without_case": len(set(names) - set(case_ids)),
        "notices_sent": sum(notices.values()), "cases_with_more_than_one_notice": sum(1 for v in notices.values() if v > 1),
        "case_status": dict(statuses), "dead_letters": driver.dlq_depth(stack),
    }


def latencies(stack, uploads: list[Planned], recs: dict, case_ids: list[str]) -> dict:
    repo = stack.repository()
    ingest = [_iso(recs[u.rel].recorded_at) - u.put_at for u in uploads if recs[u.rel] is not None
              and recs[u.rel].extra.get("etag") == u.extra.get("etag") and not recs[u.rel].extra.get("duplicate")]
    to_review, to_notice = [], []
    for c in case_ids:
        trail = repo.audit_trail(c)
        at = {}
        for e in trail:
            at.setdefault(e.action, _iso(e.at))
        if "opened" in at and "review_request" in at:
            to_review.append(at["review_request"] - at["opened"])
        if "approved" in at and "notice_sent" in at:
            to_notice.append(at["notice_sent"] - at["approved"])
    return {name: {"n": len(v), "p50": pct(v, 50), "p95": pct(v, 95), "max": round(max(v), 3) if v else None}
            for name, v in (("drop_to_outcome", ingest), ("case_opened_to_review_mail", to_review),
                            ("approval_to_notice_sent", to_notice))}


def ok(result: dict) -> bool:
    return not (result["wrong_outcomes"] or result["items_with_more_than_one_case"] or result["cases_opened_twice"]
                or result["executions_started_twice"] or result["executions_without_case"]
                or result["cases_with_more_than_one_notice"] or result["dead_letters"] or result["unfinished"]
                or result["case_status"].get("FAILED"))


def report(result: dict) -> str:
    lat = result["latency_s"]
    lines = [
        f"## Load: {result['uploads']} uploads in bursts of {result['burst']} ({result['corpus']}, "
        f"{result['catalogue_tracks']} catalogue tracks)", "",
        "| figure | value |", "|---|---|",
        f"| throughput (drop to every outcome) | {result['throughput_uploads_per_s']} uploads/s "
        f"({result['seconds']['ingest']} s) |",
        f"| wall time to all notices | {result['seconds']['total']} s |",
        f"| memory (RSS of the one process holding the whole stack): before / peak | "
        f"{result['rss_mb']['before_stack']} / {result['rss_mb']['peak_during_run']} MB |",
    ]
    for name, v in lat.items():
        lines.append(f"| {name.replace('_', ' ')} p50 / p95 / max | {v['p50']} / {v['p95']} / {v['max']} s (n={v['n']}) |")
    lines += [
        f"| outcomes | {result['outcomes']} |",
        f"| re-delivered notifications | {result['redelivered']} |",
        f"| wrong or missing outcomes | {result['wrong_outcomes']} |",
        f"| cases / expected (one per item) | {result['cases']} / {result['expected_cases']} |",
        f"| items with more than one case | {result['items_with_more_than_one_case']} |",
        f"| cases opened twice | {result['cases_opened_twice']} |",
        f"| executions / started twice / without a case | {result['executions']} / "
        f"{result['executions_started_twice']} / {result['executions_without_case']} |",
        f"| notices sent / cases with more than one | {result['notices_sent']} / "
        f"{result['cases_with_more_than_one_notice']} |",
        f"| case status | {result['case_status']} |",
        f"| dead letters / unfinished | {result['dead_letters']} / {result['unfinished']} |",
        "", f"accounting: {'holds' if ok(result) else 'DOES NOT HOLD'}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    p.add_argument("--uploads", type=int, default=1000)
    p.add_argument("--burst", type=int, default=100, help="uploads dropped at once")
    p.add_argument("--pause", type=float, default=2.0, help="seconds between bursts")
    p.add_argument("--redeliver", type=int, default=15, help="notifications sent again after each burst")
    p.add_argument("--catalogue", type=int, default=16, help="catalogue tracks (families of the corpus)")
    p.add_argument("--synthetic", action="store_true", help="generated music instead of the Debian corpus")
    p.add_argument("--decide", choices=["approve", "none"], default="approve")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    result = run(args)
    text = report(result)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"load-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    log(f"written {out}")
    return 0 if ok(result) else 1


if __name__ == "__main__":
    sys.exit(main())
