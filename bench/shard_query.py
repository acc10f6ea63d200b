"""CPU of 10 s queries against one shard of an index, split by the search's parts, for
queries that match and queries that do not (issue 16's scale work).

    .venv/bin/python -m bench.shard_query INDEX [--shard 0] [--tracks 19]

The queries: 10 s excerpts of the benchmark's cached music (``~/.cache/takedown-bench``,
converted by ``bench/build_speed.py``: real music, not generated here), each as it is and
resampled 1.25x (a sped-up edit), searched against shard ``--shard`` of INDEX alone, as a
shard function searches it. Each query's process time is split into the pair search over
its grid of hypotheses (with the second, denser search), the wide search's triplet vote, the
verification of its candidates (pair search on one track) and the chance-density sample;
medians over the queries that found a match and over those that did not. Run it with and without GLIBC_TUNABLES
(``takedown_infra.tuning``) to see what the deployed malloc setting does; the setting in
force is printed. Build a full shard with
``bench/run.sh --quick --only-scaling --sizes 4000 --no-scaling-self-match --keep-work``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from bench.build_speed import corpus
from bench.scaling import peak_rss_mb
from takedown_core.audio import decode
from takedown_core.engine import DEFAULT_MAX_FALSE_MATCH_RATE, Index
from takedown_core.engine import search as S

_PARTS: dict[str, float] = {}


def _timed(name: str, label) -> None:
    """Wrap ``search.<name>`` so its process time adds to ``_PARTS[label(args, kwargs)]``."""
    f = getattr(S, name)

    def timed(*a, **k):
        key = label(a, k)
        t0 = time.process_time()
        try:
            return f(*a, **k)
        finally:
            _PARTS[key] = _PARTS.get(key, 0.0) + time.process_time() - t0

    setattr(S, name, timed)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("index")
    ap.add_argument("--shard", type=int, default=0)
    ap.add_argument("--tracks", type=int, default=19, help="music files the excerpts come from (evenly spread)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    _timed("_pair_search", lambda a, k: "verify wide candidates" if k.get("track") is not None else "pair search (grid, dense)")
    _timed("wide_candidates", lambda a, k: "triplet vote")
    _timed("_grid_postings", lambda a, k: "chance-density sample")
    music, _ = corpus(2.5)
    files = sorted(Path(music).glob("*.flac"))
    files = files[:: max(1, len(files) // args.tracks)][: args.tracks]
    rng = np.random.default_rng(args.seed)
    index = Index.open(args.index, shards=[args.shard])
    entry = index.manifest["shards"][args.shard]
    print(f"shard {args.shard} of {Path(args.index).name}: {entry['entries']:,} entries, {entry['track_count']:,} tracks; "
          f"GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '(unset)')}")
    rows: dict[str, list[dict]] = {"match": [], "no match": []}
    for f in files:
        y = decode(f, sample_rate=index.params.sample_rate, start_seconds=float(rng.uniform(5, 60)), max_seconds=10.0).samples
        for factor in (1.0, 1.25):
            q = y if factor == 1.0 else np.interp(np.arange(int(y.size / factor)) * factor, np.arange(y.size), y).astype(np.float32)
            _PARTS.clear()
            t0 = time.process_time()
            r = index.query(q, max_false_match_rate=DEFAULT_MAX_FALSE_MATCH_RATE)
            rows["match" if r.best is not None else "no match"].append({**_PARTS, "total": time.process_time() - t0})
    print("| queries | n | total ms | pair search (grid, dense) | triplet vote | verify wide candidates | chance-density sample |")
    print("|---|---|---|---|---|---|---|")
    for name, rs in rows.items():
        if rs:
            med = {k: 1000 * float(np.median([r.get(k, 0.0) for r in rs])) for k in ("total", "pair search (grid, dense)", "triplet vote",
                                                                                    "verify wide candidates", "chance-density sample")}
            print(f"| {name} | {len(rs)} | " + " | ".join(f"{v:.0f}" for v in med.values()) + " |")
    print(f"peak RSS {peak_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
