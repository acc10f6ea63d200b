"""Posting caps on one full shard: recall, false positives and CPU per (pair cap, triplet cap)
(issue 16's scale work; the caps are ``max_postings_per_key`` and
``max_triplet_postings_per_key`` in ``engine/params.py``).

    .venv/bin/python -m bench.key_caps INDEX [--caps 4000:4000,500:200] [--shard 0] [--out JSON]

The queries: one excerpt of every track of the default corpus (real music, not generated
here; ``bench/fingerprint.py`` fetches it), rendered as the benchmark renders its conditions,
at 10 s (clean, pink and white noise at 0 dB, Ogg q0, speed 1.05 / 1.25 / 0.8, pitch -1 / +3,
time-stretch 0.9, nightcore) and at 5 s (clean, pink 0 dB, speed 1.35, pitch -2). The tracks
INDEX holds are the expected answers; the others are negatives. Each cap pair searches shard
``--shard`` with the index's other parameters (``Index.query``: the second search when the
first finds no copy in it). A cap binds only
where keys are common: on a full shard (``bench/run.sh --quick --only-scaling --sizes 4000
--no-scaling-self-match --keep-work`` keeps one, 47 M entries), not on the accuracy runs'
small catalogues.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.fingerprint import MASTER_RATE, fetch_corpus, load_master, render, track_name
from takedown_core.engine import DEFAULT_MAX_FALSE_MATCH_RATE, Index

CONDITIONS = {10: ("clean", "pink_0db", "white_0db", "ogg_q0", "speed_1.05", "pitch_-1", "speed_1.25", "speed_0.8", "pitch_+3",
                   "stretch_0.9", "nightcore"),
              5: ("clean", "pink_0db", "speed_1.35", "pitch_-2")}


def queries(index: Index, seed: int) -> list[tuple[str, bool, str, object]]:
    """(track, held by the index, condition@seconds, query fingerprint) for every corpus track."""
    held = set(index.track_ids())
    rng = np.random.default_rng(seed)
    out = []
    for path in fetch_corpus():
        name = track_name(path)
        master = load_master(path, name)
        start = float(rng.uniform(5, max(6.0, master.size / MASTER_RATE - 40)))
        for secs, conds in CONDITIONS.items():
            for cond in conds:
                y = render(cond, master, start, secs, seed)
                out.append((name, name in held, f"{cond}@{secs}", index.fingerprint(y)))
    return out


def run(index: Index, qs: list, pair_cap: int, triplet_cap: int) -> list[dict]:
    base = index.params
    index.params = dataclasses.replace(base, max_postings_per_key=pair_cap, max_triplet_postings_per_key=triplet_cap)
    rows = []
    try:
        for name, held, cond, fp in qs:
            t0 = time.process_time()
            r = index.query(fp, max_false_match_rate=DEFAULT_MAX_FALSE_MATCH_RATE)
            ms = 1000 * (time.process_time() - t0)
            b = r.best
            rows.append({"track": name, "held": held, "cond": cond, "ms": ms, "answer": b.track_id if b else None,
                         "score": b.score if b else None, "aligned": b.aligned_hashes if b else None})
    finally:
        index.params = base
    return rows


def table(results: dict[str, list[dict]]) -> str:
    first = next(iter(results.values()))
    conds = list(dict.fromkeys(r["cond"] for r in first))
    head = ["caps (pair:triplet)", "ms median, answered", "ms median, none"] + conds + ["false positives", "other track"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for caps, rows in results.items():
        found, total = defaultdict(int), defaultdict(int)
        for r in rows:
            if r["held"]:
                total[r["cond"]] += 1
                found[r["cond"]] += r["answer"] == r["track"]
        fp = sum(1 for r in rows if not r["held"] and r["answer"])
        other = sum(1 for r in rows if r["held"] and r["answer"] not in (None, r["track"]))
        ans = [r["ms"] for r in rows if r["answer"]] or [0.0]
        none = [r["ms"] for r in rows if not r["answer"]] or [0.0]
        cells = [caps, f"{statistics.median(ans):.0f}", f"{statistics.median(none):.0f}"]
        cells += [f"{found[c]}/{total[c]}" for c in conds] + [f"{fp}/{sum(1 for r in rows if not r['held'])}", str(other)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("index")
    ap.add_argument("--caps", default="4000:4000,500:200", help="pair:triplet cap pairs, comma-separated")
    ap.add_argument("--shard", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="write every query's answer per cap pair as JSON")
    args = ap.parse_args(argv)
    index = Index.open(args.index, shards=[args.shard])
    entry = index.manifest["shards"][args.shard]
    print(f"shard {args.shard} of {Path(args.index).name}: {entry['entries']:,} entries, {entry['track_count']:,} tracks")
    qs = queries(index, args.seed)
    results = {}
    for caps in args.caps.split(","):
        pair, triplet = (int(x) for x in caps.split(":"))
        results[caps] = run(index, qs, pair, triplet)
        print(f"  {caps}: done", flush=True)
    print(table(results))
    if args.out:
        Path(args.out).write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
