"""CPU of 10 s queries against one shard of an index, split by the search's parts, for
queries that match and queries that do not (issue 16's scale work).

    .venv/bin/python -m bench.shard_query INDEX [--shard 0] [--tracks 19]

The queries: 10 s excerpts of the benchmark's cached music (``~/.cache/takedown-bench``,
converted by ``bench/build_speed.py``: real music, not generated here), each as it is and
resampled 1.25x (a sped-up edit), searched against shard ``--shard`` of INDEX alone, as a
shard function searches it. Each query's process time is split into the pair search over
its grid of hypotheses (with the second, denser search), the wide search's triplet vote, the
verification of its candidates (pair search on one track) and the chance-density sample;
medians over the queries that found a match and over those that did not.

A second table measures an option the engine does not take (issue 16's scale bar, written up
in the README): a "round 0" that searches only the unchanged playback (the pair grid's
hypothesis of no change, with its dt probes) and would answer alone when it finds a copy the
full search's calibration passes (its chance density counted once per hypothesis of the
whole grid, half the false-match budget, as the pair search holds; the content check's copy
bar). Per playback (the two above, and the unchanged one under white noise at 0 dB SNR): its
median CPU, the queries it would answer, and how many of those the full search answers with
the same track. Run it with and without GLIBC_TUNABLES
(``takedown_infra.tuning``) to see what the deployed malloc setting does; the setting in
force is printed. Build a full shard with
``bench/run.sh --quick --only-scaling --sizes 4000 --no-scaling-self-match --keep-work``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from takedown_core.audio import decode
from takedown_core.engine import DEFAULT_MAX_FALSE_MATCH_RATE, Index, QueryResult
from takedown_core.engine import search as S
from takedown_core.engine.shard import ShardData
from takedown_core.engine.verdict import false_match_rate

from bench.build_speed import corpus
from bench.scaling import peak_rss_mb

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
    pair_search = S._pair_search  # unwrapped: round 0's time is its own
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
    round0: dict[str, list[tuple[float, bool, bool]]] = {"1.0x": [], "1.25x": [], "1.0x, white noise at 0 dB": []}
    shard = index._shards[0]
    noise_rng = np.random.default_rng(args.seed + 1)  # apart, so the excerpts stay those of runs before it
    for f in files:
        y = decode(f, sample_rate=index.params.sample_rate, start_seconds=float(rng.uniform(5, 60)), max_seconds=10.0).samples
        for factor in (1.0, 1.25):
            q = y if factor == 1.0 else np.interp(np.arange(int(y.size / factor)) * factor, np.arange(y.size), y).astype(np.float32)
            _PARTS.clear()
            t0 = time.process_time()
            r = index.query(q, max_false_match_rate=DEFAULT_MAX_FALSE_MATCH_RATE)
            rows["match" if r.best is not None else "no match"].append({**_PARTS, "total": time.process_time() - t0})
            round0[f"{factor}x"].append(_round0(index, shard, pair_search, q, r))
        # round 0 under noise (its own full search, outside the table above)
        noisy = y + noise_rng.normal(0.0, float(np.std(y)), y.size).astype(np.float32)
        round0["1.0x, white noise at 0 dB"].append(_round0(index, shard, pair_search, noisy, index.query(noisy)))
    print("| queries | n | total ms | pair search (grid, dense) | triplet vote | verify wide candidates | chance-density sample |")
    print("|---|---|---|---|---|---|---|")
    for name, rs in rows.items():
        if rs:
            med = {k: 1000 * float(np.median([r.get(k, 0.0) for r in rs])) for k in ("total", "pair search (grid, dense)", "triplet vote",
                                                                                    "verify wide candidates", "chance-density sample")}
            print(f"| {name} | {len(rs)} | " + " | ".join(f"{v:.0f}" for v in med.values()) + " |")
    print("\n| round 0 (not in the engine): playback | n | ms median | would answer | same track as the full search |")
    print("|---|---|---|---|---|")
    for playback, rs in round0.items():
        print(f"| {playback} | {len(rs)} | {1000 * float(np.median([t for t, _, _ in rs])):.0f} | "
              f"{sum(d for _, d, _ in rs)} | {sum(a for _, _, a in rs)} |")
    print(f"peak RSS {peak_rss_mb():.0f} MB")
    return 0


def _round0(index: Index, shard: ShardData, pair_search: Callable[..., dict], samples: np.ndarray,
            full: QueryResult) -> tuple[float, bool, bool]:
    """(process seconds, would answer, agrees with ``full``) of the round-0 option for one
    query: the pair search at the unchanged playback alone; it would answer when its
    strongest candidate passes the policy's rate with the whole grid's multiplicity (the
    central density for each of its hypotheses, over ``1 - wide_rate_share`` of the budget)
    and the content check's copy bar (``min_copy_share``). An estimate for a design note,
    not the engine's calibration. Extraction is not timed (the full search's total above
    includes it, about 13 ms per 10 s query)."""
    p = index.params
    fp = index.fingerprint(samples)
    t0 = time.process_time()
    ev = pair_search(fp, shard, p, [(0.0, 1.0)], catalogue_frames=index._total_frames, catalogue_tracks=index.track_count)
    seconds = time.process_time() - t0
    best = max(ev["candidates"], key=lambda c: c["aligned"], default=None)
    if best is None or not best.get("salient_peaks"):
        return seconds, False, False
    grid = len(S.hypotheses(p))
    rate = false_match_rate(best["aligned"], ev["postings"] * grid, ev["cells"], ev["catalogue_cells"], ev["window"], ev["clump"])
    rate /= 1.0 - (p.wide_rate_share if p.wide_search else 0.0)
    answers = rate <= DEFAULT_MAX_FALSE_MATCH_RATE and best["salient_confirmed"] / best["salient_peaks"] >= p.min_copy_share
    return seconds, answers, answers and full.best is not None and full.best.track_id == best["track_id"]


if __name__ == "__main__":
    raise SystemExit(main())
