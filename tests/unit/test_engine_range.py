"""The wide search (issue 16): triplet keys that do not move under a playback change, the
tempo and pitch each hit implies, the vote, its calibration over the whole range, the
transform a match reports, and indexes built before it."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audio_fixtures import resample_linear, synth_track  # noqa: E402

from takedown_core.engine import DEFAULT_PARAMS, AnalysisParams, Index, IndexWriter  # noqa: E402
from takedown_core.engine.search import hypotheses, on_grid_edge, wide_candidates  # noqa: E402
from takedown_core.engine.triplets import (  # noqa: E402
    KEY_BITS,
    make_triplets,
    query_keys,
    reference_entries,
    wide_hypothesis_count,
)
from takedown_core.engine.verdict import candidate_rate, false_match_rate, poisson_sf  # noqa: E402

SR = DEFAULT_PARAMS.sample_rate
TRACK_S = 50.0


def _track(i: int, **kw) -> np.ndarray:
    return synth_track(2000 + i, TRACK_S, SR, **kw)


def _cut(x: np.ndarray, start_s: float, seconds: float) -> np.ndarray:
    return x[int(start_s * SR) : int((start_s + seconds) * SR)].astype(np.float32)


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    w = IndexWriter()
    for i in range(6):
        w.add(f"t{i}", _track(i))
    d = tmp_path_factory.mktemp("range") / "ix"
    w.write(d)
    return Index.open(d)


def _peaks(rng: np.random.Generator, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    frames = np.sort(rng.choice(np.arange(0, 4000, 4), n, replace=False))  # multiples of 4: x1.25 stays whole
    semis = rng.uniform(10.0, 40.0, n).astype(np.float32)
    return frames.astype(np.int32), semis


# --------------------------------------------------------------------------- keys


def test_triplet_keys_do_not_move_under_speed_and_pitch():
    """A reference's triplet keys are among what its copy, played 1.25x slower and 3 semitones
    higher, looks up at the corresponding anchor frames."""
    p = DEFAULT_PARAMS
    frames, semis = _peaks(np.random.default_rng(1))
    ref = reference_entries(make_triplets(frames, semis, p, query=False), p)
    assert ref.keys.size > 500 and int(ref.keys.max()) < (1 << KEY_BITS)
    q = make_triplets((frames * 5) // 4, semis + np.float32(3.0), p, query=True)  # 0.8x speed: dt x 1.25
    keys, which = query_keys(q, p)
    looked = set(zip(keys.tolist(), q.anchor_frames[which].tolist()))
    found = [(int(k), int(t) * 5 // 4) in looked for k, t in zip(ref.keys, ref.times)]
    assert np.mean(found) > 0.95


def test_triplet_payload_gives_each_hit_its_tempo_and_pitch():
    p = DEFAULT_PARAMS
    frames, semis = _peaks(np.random.default_rng(2))
    ref = reference_entries(make_triplets(frames, semis, p, query=False), p)
    # the payload: the anchor's semitone to 1/16 and t_c - t_a in frames
    i = np.searchsorted(frames, ref.times)
    assert np.all(np.abs(ref.fref / 16.0 - semis[i]) <= 1 / 32 + 1e-6)
    assert np.all((ref.dtc >= p.triplet_min_dt) & (ref.dtc <= p.triplet_max_dt))


def test_query_keys_cover_the_tempo_range_with_few_probes():
    """Every log-dt bucket the reference's t_c - t_a can fall in over 0.72-1.40x is looked up,
    and no more than a handful of keys per triplet."""
    p = DEFAULT_PARAMS
    frames, semis = _peaks(np.random.default_rng(3))
    q = make_triplets(frames, semis, p, query=True)
    keys, which = query_keys(q, p)
    per = np.bincount(which, minlength=q.size)
    assert per.max() <= 24 and per.mean() < 12
    for tempo in (p.triplet_min_tempo, 1.0, p.triplet_max_tempo):
        ref_dt = np.clip(np.round(q.dt_c * tempo), p.triplet_min_dt, p.triplet_max_dt)
        bucket = np.floor(np.log2(ref_dt) / p.triplet_logdt_step).astype(np.int64) - p.triplet_logdt_base
        got = (keys >> 17) & 15
        ok = [bucket[j] in set(got[which == j].tolist()) for j in range(0, q.size, 7) if p.triplet_min_dt <= q.dt_c[j] * tempo <= p.triplet_max_dt]
        assert np.mean(ok) > 0.97


def test_wide_hypothesis_count_is_the_whole_rectangle():
    p = DEFAULT_PARAMS
    tempos = math.ceil(math.log(1.40 / 0.72) / math.log(1.02)) + 1
    assert wide_hypothesis_count(p) == tempos * 53
    assert wide_hypothesis_count(dataclasses.replace(p, triplet_max_pitch=3.0)) == tempos * 25


# --------------------------------------------------------------------------- vote and estimates


@pytest.mark.parametrize("factor", [0.75, 1.25, 1.35])
def test_vote_estimates_the_tempo_and_pitch_of_a_resampled_copy(index, factor):
    q = resample_linear(_cut(_track(3), 15.0, 16.0), factor)[: 10 * SR].astype(np.float32)
    fp = index.fingerprint(q)
    cands = wide_candidates(fp, index._shards[0], index.params, (0, fp.frame_count))
    best = max(cands, key=lambda c: c["votes"])
    assert best["track"] == 3
    assert best["tempo"] == pytest.approx(factor, rel=0.03)
    assert best["pitch"] == pytest.approx(12 * math.log2(factor), abs=0.2)


def test_vote_cells_hold_offsets_beyond_the_tracks_end(index):
    """A query whose first half is the end of the longest track, played 1.35x: its offsets
    lie beyond the track's end, and the vote's cells must still hold them (every
    candidate's tempo and pitch are numbers, from hits of its own cell)."""
    x = np.concatenate([_track(2)[-int(25 * SR):], 0.01 * _track(77, pitch_semitones=5.0)])  # the track's end, then other music
    q = resample_linear(x, 1.35)[: int(40 * SR)].astype(np.float32)  # one segment
    fp = index.fingerprint(q)
    cands = wide_candidates(fp, index._shards[0], index.params, (0, fp.frame_count))
    assert cands and all(np.isfinite(c["tempo"]) and np.isfinite(c["pitch"]) for c in cands)
    assert max(cands, key=lambda c: c["votes"])["track"] == 2


def test_vote_finds_nothing_in_unrelated_music(index):
    fp = index.fingerprint(_cut(synth_track(77, 20.0, SR), 5.0, 10.0))
    assert all(c["votes"] < 10 for c in wide_candidates(fp, index._shards[0], index.params, (0, fp.frame_count)))


def test_the_triplet_keys_have_their_own_posting_cap(index):
    """A triplet key more common than ``max_triplet_postings_per_key`` is skipped, as a pair
    key more common than ``max_postings_per_key`` is: the two caps are separate (a triplet
    key holds ~6x a pair key's postings in a full shard). An index built before the triplet
    cap keeps the pair cap for both, as its queries did then."""
    q = resample_linear(_cut(_track(3), 15.0, 16.0), 1.25)[: 10 * SR].astype(np.float32)
    fp = index.fingerprint(q)
    shard, seg = index._shards[0], (0, fp.frame_count)
    no_pairs = dataclasses.replace(index.params, max_postings_per_key=0)
    assert max(wide_candidates(fp, shard, no_pairs, seg), key=lambda c: c["votes"])["track"] == 3
    assert wide_candidates(fp, shard, dataclasses.replace(index.params, max_triplet_postings_per_key=0), seg) == []
    old = {k: v for k, v in index.params.to_dict().items() if k != "max_triplet_postings_per_key"} | {"max_postings_per_key": 4000}
    assert AnalysisParams.from_dict(old).max_triplet_postings_per_key == 4000


# --------------------------------------------------------------------------- matches and what they report


@pytest.mark.parametrize("factor", [0.75, 0.8, 1.2, 1.3, 1.35])
def test_resampled_copies_across_the_range_match_with_their_speed(index, factor):
    q = resample_linear(_cut(_track(2), 12.0, 16.0), factor)[: 10 * SR].astype(np.float32)
    b = index.query(q).best
    assert b is not None and b.track_id == "t2" and b.kind == "copy"
    assert b.speed == pytest.approx(factor, rel=0.01)
    assert b.pitch_semitones == pytest.approx(12 * math.log2(factor), abs=0.15)
    assert b.transform == "speed"
    assert b.offset_s == pytest.approx(12.0, abs=0.5)


def test_a_1_05_resample_reads_0_84_semitones_not_1(index):
    """The issue's example: the +-6 % search's speed line, refined by the fitted slope."""
    b = index.query(resample_linear(_cut(_track(1), 10.0, 12.0), 1.05)[: 10 * SR].astype(np.float32)).best
    assert b is not None and b.track_id == "t1"
    assert b.speed == pytest.approx(1.05, abs=0.005)
    assert b.pitch_semitones == pytest.approx(12 * math.log2(1.05), abs=0.06)
    assert b.transform == "speed"


@pytest.mark.parametrize("shift", [-3.0, -2.0, 2.0, 3.0])
def test_pitch_shifts_beyond_the_old_search_match_as_pitch_shifts(index, shift):
    q = _cut(_track(4, pitch_semitones=shift), 20.0, 10.0)
    b = index.query(q).best
    assert b is not None and b.track_id == "t4"
    assert b.pitch_semitones == pytest.approx(shift, abs=0.15)
    assert b.speed == pytest.approx(1.0, abs=0.01)
    assert b.transform == "pitch_shift"


@pytest.mark.parametrize("tempo", [0.8, 0.9, 0.95, 1.05, 1.1, 1.25])
def test_time_stretches_across_the_range_read_their_tempo(index, tempo):
    """The same piece played at another tempo, pitch kept; 0.95 and 1.05 also align on the
    pair grid's edge (0.98, 1.02), and must still read as 0.95 and 1.05."""
    q = synth_track(2003, TRACK_S / tempo, SR, tempo=tempo)[10 * SR : 20 * SR].astype(np.float32)
    b = index.query(q).best
    assert b is not None and b.track_id == "t3"
    assert b.speed == pytest.approx(tempo, abs=0.005)
    assert abs(b.pitch_semitones) < 0.1
    assert b.transform == "time_stretch"


@pytest.mark.parametrize("tempo", [0.95, 1.05])
def test_short_stretches_that_align_on_the_grid_edge_read_the_measured_tempo(index, tempo):
    """5 s excerpts: the pair search can align a 0.95x stretch on its grid's outermost 0.98x
    and could not fit the slope back (a 20 s start did, without search.on_grid_edge, and read
    0.98); the wide search's measured tempo is what the evidence must say."""
    x = synth_track(2003, TRACK_S / tempo, SR, tempo=tempo)
    for start in (5, 10, 20):
        b = index.query(x[start * SR : (start + 5) * SR].astype(np.float32)).best
        assert b is not None and b.track_id == "t3"
        assert b.speed == pytest.approx(tempo, abs=0.006), start


def test_the_pair_grid_and_its_edge():
    """The pair search's grid (13 hypotheses now: pitch +-1 semitone, tempo and speed +-2 %)
    and which of them are outermost; an index built with the old +-6 % grid keeps it."""
    grid = hypotheses(DEFAULT_PARAMS)
    assert len(grid) == 13 and (0.0, 1.0) in grid
    edge = [h for h in grid if on_grid_edge(*h, DEFAULT_PARAMS)]
    assert sorted(round(t, 2) for _, t in edge if t != 1.0) == [0.98, 0.98, 1.02, 1.02]  # tempo and speed lines
    assert sorted(pi for pi, t in edge if t == 1.0) == [-1.0, 1.0]  # the pitch line's ends only
    assert not on_grid_edge(0.0, 1.0, DEFAULT_PARAMS) and not on_grid_edge(0.75, 1.0, DEFAULT_PARAMS)
    old = dataclasses.replace(DEFAULT_PARAMS, max_tempo_change=0.06, max_pitch_semitones=1.2)
    assert len(hypotheses(old)) == 23
    assert on_grid_edge(0.0, 1.06, old) and not on_grid_edge(0.0, 1.02, old)


def test_nightcore_is_one_more_cell(index):
    """1.25x resampled and 2 semitones more on top: tempo 1.25, pitch +5.86, "mixed"."""
    x = _cut(_track(5, pitch_semitones=2.0), 10.0, 16.0)
    b = index.query(resample_linear(x, 1.25)[: 10 * SR].astype(np.float32)).best
    assert b is not None and b.track_id == "t5"
    assert b.speed == pytest.approx(1.25, rel=0.01)
    assert b.pitch_semitones == pytest.approx(12 * math.log2(1.25) + 2.0, abs=0.2)
    assert b.transform == "mixed"


def test_unrelated_music_played_fast_is_no_match(index):
    q = resample_linear(_cut(synth_track(91, 30.0, SR), 5.0, 16.0), 1.3)[: 10 * SR].astype(np.float32)
    assert index.query(q).best is None


# --------------------------------------------------------------------------- calibration


def test_wide_candidates_are_calibrated_over_the_whole_range():
    ev = {"postings": [500] * 23, "cells": 1e6, "catalogue_cells": 1e6, "window": 5, "clump": 1.5,
          "wide_share": 0.5, "wide_hypotheses": 1855}
    lam = [500 * 5 / 1e6, 800 * 5 / 1e6]
    c = {"family": "wide", "wide_lam": lam}
    want = 1855 * np.mean([poisson_sf(12 / 1.5, x / 1.5) for x in lam]) * 1e6 / 5 / 0.5
    assert candidate_rate(c, ev, 12) == pytest.approx(want)
    # an even sample of the range with a higher chance density than the candidate's own
    # hypotheses sets the rate (the density varies over the range)
    dense = dict(ev, wide_postings=[500, 2500])
    want_grid = 1855 * np.mean([poisson_sf(12 / 1.5, x * 5 / 1e6 / 1.5) for x in (500, 2500)]) * 1e6 / 5 / 0.5
    assert candidate_rate(c, dense, 12) == pytest.approx(want_grid) and want_grid > want
    assert candidate_rate(c, dict(ev, wide_postings=[10, 20]), 12) == pytest.approx(want)  # never below its own
    # the +-6 % search's candidates hold the other half of the budget
    assert candidate_rate({}, ev, 12) == pytest.approx(2 * false_match_rate(12, [500] * 23, 1e6, 1e6, 5, 1.5))
    # more evidence, lower rate; the whole range costs more than the 23 hypotheses
    assert candidate_rate(c, ev, 14) < candidate_rate(c, ev, 12)
    assert candidate_rate(c, ev, 12) > candidate_rate({}, ev, 12)
    # without the wide search (an older index), rates are as before
    old = {k: v for k, v in ev.items() if not k.startswith("wide")}
    assert candidate_rate({}, old, 12) == pytest.approx(false_match_rate(12, [500] * 23, 1e6, 1e6, 5, 1.5))


# --------------------------------------------------------------------------- indexes before the wide search


def test_an_index_built_before_the_wide_search_still_answers(tmp_path):
    w = IndexWriter()
    for i in range(3):
        w.add(f"t{i}", _track(i))
    d = tmp_path / "ix"
    w.write(d)
    # as an index written before triplets: no triplet files, params without the new fields
    manifest = json.loads((d / "manifest.json").read_text())
    for sm in manifest["shards"]:
        for name in sm.pop("triplets").values():
            if isinstance(name, str):
                manifest["files"].pop(name)
                (d / name).unlink()
    manifest["params"] = {k: v for k, v in manifest["params"].items() if not k.startswith(("triplet_", "wide_"))}
    manifest["params"].update(max_tempo_change=0.06, max_pitch_semitones=1.2)  # the pair grid of its day
    manifest.pop("triplet_layout")
    (d / "manifest.json").write_text(json.dumps(manifest))
    ix = Index.open(d, verify=True)
    assert ix.params.wide_search is False
    near = ix.query(resample_linear(_cut(_track(1), 10.0, 12.0), 1.04)[: 10 * SR].astype(np.float32))
    assert near.best is not None and near.best.track_id == "t1"
    assert "wide_share" not in near.evidence["segments"][0]
    far = ix.query(resample_linear(_cut(_track(1), 10.0, 16.0), 1.25)[: 10 * SR].astype(np.float32))
    assert far.best is None  # the range it was built for; `catalog build` again to search the whole range


def test_an_index_without_the_wide_search_writes_no_triplets(tmp_path):
    p = dataclasses.replace(DEFAULT_PARAMS, wide_search=False)
    w = IndexWriter(p)
    w.add("t0", _track(0))
    manifest = w.write(tmp_path / "ix")
    assert "triplets" not in manifest["shards"][0] and not list((tmp_path / "ix").glob("*triplet*"))
    ix = Index.open(tmp_path / "ix")
    assert ix.query(_cut(_track(0), 5.0, 10.0)).best.track_id == "t0"


def test_sharded_wide_search_merges_to_the_same_answer(tmp_path):
    from takedown_core.engine import merge_results

    w = IndexWriter()
    for i in range(6):
        w.add(f"t{i}", _track(i))
    w.write(tmp_path / "ix", shard_count=3)
    whole = Index.open(tmp_path / "ix")
    q = resample_linear(_cut(_track(4), 10.0, 16.0), 1.3)[: 10 * SR].astype(np.float32)
    parts = [Index.open(tmp_path / "ix", shards=[s]).query(q) for s in range(3)]
    from takedown_core.engine import QueryResult

    merged = merge_results([QueryResult.from_dict(r.to_dict(with_evidence=True)) for r in parts])
    one = whole.query(q)
    assert one.best is not None and one.best.track_id == "t4"
    assert merged.best.track_id == "t4" and merged.best.score == pytest.approx(one.best.score)
