"""The fingerprint engine's pieces: peaks, hashes, index format, voting, calibration, shards."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audio_fixtures import add_white_noise, resample_linear, synth_track  # noqa: E402

from takedown_core.engine import (  # noqa: E402
    AnalysisParams,
    DEFAULT_MAX_FALSE_MATCH_RATE,
    DEFAULT_PARAMS,
    FORMAT_VERSION,
    Index,
    IndexFormatError,
    IndexWriter,
    QueryResult,
    extract,
    merge_results,
)
from takedown_core.engine.extract import HASH_DTYPE, find_peaks, hash_pairs, make_pairs  # noqa: E402
from takedown_core.engine.verdict import decide, false_match_rate, poisson_sf  # noqa: E402

SR = DEFAULT_PARAMS.sample_rate
N_TRACKS = 16
TRACK_S = 45.0


def _track(i: int, **kw) -> np.ndarray:
    return synth_track(1000 + i, TRACK_S, SR, **kw)


def _cut(x: np.ndarray, start_s: float, seconds: float) -> np.ndarray:
    return x[int(start_s * SR) : int((start_s + seconds) * SR)]


@pytest.fixture(scope="module")
def catalogue() -> dict[str, np.ndarray]:
    return {f"track-{i:02d}": _track(i) for i in range(N_TRACKS)}


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory, catalogue) -> Path:
    writer = IndexWriter()
    for tid, x in catalogue.items():
        writer.add(tid, x, duration_s=x.size / SR, metadata={"title": tid.upper(), "isrc": f"XX{tid[-2:]}"})
    out = tmp_path_factory.mktemp("index") / "v1"
    writer.write(out)
    return out


@pytest.fixture(scope="module")
def sharded_dir(tmp_path_factory, catalogue) -> Path:
    writer = IndexWriter()
    for tid, x in catalogue.items():
        writer.add(tid, x, duration_s=x.size / SR, metadata={"title": tid.upper()})
    out = tmp_path_factory.mktemp("index") / "sharded"
    writer.write(out, shard_count=3)
    return out


@pytest.fixture(scope="module")
def index(index_dir) -> Index:
    return Index.open(index_dir)


# --------------------------------------------------------------------------- peaks


def test_peaks_sit_on_the_partials_of_a_tone():
    # Given a 440 Hz tone with a few harmonics, swelling twice a second
    t = np.arange(int(3 * SR)) / SR
    env = (np.sin(2 * np.pi * 1 * t) ** 8).astype(np.float32)  # smooth pulses, no clicks
    x = (env * (np.sin(2 * np.pi * 440 * t) + 0.5 * np.sin(2 * np.pi * 880 * t))).astype(np.float32) * 0.5
    # When peaks are picked
    peaks = find_peaks(x, DEFAULT_PARAMS)
    # Then they are found at 440 Hz and 880 Hz (to a fraction of a semitone)
    hz = DEFAULT_PARAMS.fmin_hz * 2 ** (peaks.semitones / 12)
    assert peaks.frames.size > 0
    near = np.minimum(np.abs(12 * np.log2(hz / 440)), np.abs(12 * np.log2(hz / 880)))
    assert np.mean(near < 0.25) > 0.9


def test_silence_and_very_quiet_noise_give_no_peaks():
    assert find_peaks(np.zeros(5 * SR, np.float32), DEFAULT_PARAMS).frames.size == 0
    quiet = (np.random.default_rng(0).standard_normal(5 * SR) * 1e-5).astype(np.float32)
    assert find_peaks(quiet, DEFAULT_PARAMS).frames.size == 0


def test_peak_density_is_capped():
    x = _track(0)
    p = DEFAULT_PARAMS
    peaks = find_peaks(x, p, peaks_per_s=p.ref_peaks_per_s)
    assert peaks.frames.size / TRACK_S <= p.ref_peaks_per_s * 1.05
    assert np.bincount(peaks.frames).max() <= p.max_peaks_per_frame


def test_query_peaks_keep_the_reference_peaks():
    x = _track(1)
    p = DEFAULT_PARAMS
    ref = find_peaks(x, p, peaks_per_s=p.ref_peaks_per_s)
    ref_set = set(zip(ref.frames.tolist(), np.round(ref.semitones, 3).tolist()))
    # the same neighbourhood and a denser cap: a superset
    dense = find_peaks(x, p, peaks_per_s=p.query_peaks_per_s)
    assert ref_set <= set(zip(dense.frames.tolist(), np.round(dense.semitones, 3).tolist()))
    # the query's smaller neighbourhood lets more maxima compete for the cap: nearly all stay
    qry = find_peaks(x, p, peaks_per_s=p.query_peaks_per_s, query=True)
    qry_set = set(zip(qry.frames.tolist(), np.round(qry.semitones, 3).tolist()))
    assert len(ref_set - qry_set) / len(ref_set) < 0.06


def test_a_louder_neighbour_does_not_hide_a_reference_peak_from_the_query():
    """Noise puts louder peaks next to the music's: one 5 cells (1.7 semitones) away hides a
    peak under the reference's +-5 cell neighbourhood, not under the query's +-4."""
    p = DEFAULT_PARAMS
    t = np.arange(12 * p.sample_rate) / p.sample_rate
    bursts = (t % 1.0) < 0.25
    f_a = p.fmin_hz * 2 ** (26 / 12)  # a cell centre
    f_b = p.fmin_hz * 2 ** ((26 + 5 * p.f_quantum_semitones) / 12)  # 5 cells higher, 3 dB louder
    noise = 0.001 * np.random.default_rng(0).standard_normal(t.size)
    ref = (0.1 * np.sin(2 * np.pi * f_a * t) * bursts + noise).astype(np.float32)
    upload = (ref + 0.14 * np.sin(2 * np.pi * f_b * t) * bursts).astype(np.float32)

    def at_a(peaks):
        return int((np.abs(peaks.semitones - 26) < 0.3).sum())

    assert at_a(find_peaks(ref, p, peaks_per_s=p.ref_peaks_per_s)) == 12
    assert at_a(find_peaks(upload, p, peaks_per_s=p.query_peaks_per_s)) == 0
    assert at_a(find_peaks(upload, p, peaks_per_s=p.query_peaks_per_s, query=True)) == 12


def test_extraction_is_deterministic_and_typed():
    x = _track(2)
    a, b = extract(x), extract(x)
    assert a.hashes.dtype == HASH_DTYPE and a.times.dtype == np.dtype("<u4")
    assert np.array_equal(a.hashes, b.hashes) and np.array_equal(a.times, b.times)
    assert 20 < len(a) / TRACK_S < 100  # index size budget: <= ~100 hashes/s


# --------------------------------------------------------------------------- hashing


def test_hashes_move_only_in_the_anchor_field_under_a_pitch_shift():
    pairs = make_pairs(find_peaks(_track(3), DEFAULT_PARAMS), DEFAULT_PARAMS, 5)
    shifted = type(pairs)(pairs.anchor_frames, pairs.anchor_semitones + 1.0, pairs.df_semitones, pairs.dt_frames)
    h0, ok0 = hash_pairs(pairs, DEFAULT_PARAMS)
    h1, ok1 = hash_pairs(shifted, DEFAULT_PARAMS, pitch_semitones=1.0)
    both = ok0 & ok1
    assert np.mean(h0[both] == h1[both]) > 0.99
    # and without the hypothesis the anchor field differs
    h2, ok2 = hash_pairs(shifted, DEFAULT_PARAMS)
    assert np.mean(h0[ok0 & ok2] == h2[ok0 & ok2]) < 0.05


def test_tempo_hypothesis_restores_stretched_time_differences():
    pairs = make_pairs(find_peaks(_track(4), DEFAULT_PARAMS), DEFAULT_PARAMS, 5)
    faster = type(pairs)(pairs.anchor_frames, pairs.anchor_semitones, pairs.df_semitones, np.rint(pairs.dt_frames / 1.05).astype(np.int32))
    h0, ok0 = hash_pairs(pairs, DEFAULT_PARAMS)
    h1, ok1 = hash_pairs(faster, DEFAULT_PARAMS, tempo=1.05)
    both = ok0 & ok1
    assert np.mean(h0[both] == h1[both]) > 0.8


# --------------------------------------------------------------------------- index format


def test_index_directory_is_flat_versioned_and_pickle_free(index_dir):
    names = sorted(p.name for p in index_dir.iterdir())
    assert all((index_dir / n).is_file() for n in names)  # flat: no subdirectories
    assert "manifest.json" in names and "tracks.json" in names
    manifest = json.loads((index_dir / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["params"]["sample_rate"] == SR
    assert manifest["dtypes"] == {"hashes": "<u4", "postings": "<u4"}
    for shard in manifest["shards"]:
        for key in ("hashes", "postings"):
            arr = np.load(index_dir / shard[key], allow_pickle=False, mmap_mode="r")
            assert arr.dtype == np.dtype(manifest["dtypes"][key])
        h = np.load(index_dir / shard["hashes"], allow_pickle=False)
        assert np.all(h[1:] >= h[:-1])  # sorted for searchsorted
    for n in names:
        assert b"pickle" not in (index_dir / n).read_bytes()[:200]


def test_index_round_trip_gives_the_same_answers_mapped_or_loaded(index_dir, catalogue):
    q = _cut(catalogue["track-05"], 12.0, 10.0)
    mapped = Index.open(index_dir, mmap=True).query(q)
    loaded = Index.open(index_dir, mmap=False).query(q)
    assert mapped.best is not None and mapped.best.track_id == "track-05"
    assert mapped.to_dict() == loaded.to_dict()


def test_a_written_index_is_never_overwritten(index_dir):
    with pytest.raises(FileExistsError):
        IndexWriter().write(index_dir)


def test_an_unknown_format_version_is_refused(tmp_path, index_dir):
    bad = tmp_path / "bad"
    bad.mkdir()
    for p in index_dir.iterdir():
        (bad / p.name).write_bytes(p.read_bytes())
    m = json.loads((bad / "manifest.json").read_text())
    m["format_version"] = 999
    (bad / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(IndexFormatError):
        Index.open(bad)


def test_metadata_comes_back_with_the_match(index, catalogue):
    r = index.query(_cut(catalogue["track-07"], 3.0, 10.0))
    assert r.best.metadata == {"title": "TRACK-07", "isrc": "XX07"}
    assert index.track_metadata("track-07")["isrc"] == "XX07"
    json.dumps(r.to_dict())  # JSON-serialisable


# --------------------------------------------------------------------------- voting


@pytest.mark.parametrize("tid,start", [("track-00", 0.0), ("track-09", 17.3), ("track-15", 33.0)])
def test_offset_voting_finds_the_excerpt_position(index, catalogue, tid, start):
    r = index.query(_cut(catalogue[tid], start, 10.0))
    assert r.best is not None and r.best.track_id == tid
    assert abs(r.best.offset_s - start) < 0.1
    assert r.best.speed == pytest.approx(1.0, abs=0.01)
    assert 7.0 < r.best.matched_duration_s <= 10.0
    assert 0 < len(r.best.landmarks) <= 200
    q, ref = np.array(r.best.landmarks).T
    assert np.allclose(ref - q, start, atol=0.1)


def test_a_query_starting_before_the_reference_has_a_negative_offset(index, catalogue):
    q = np.concatenate([synth_track(77, 3.0, SR) * 0.0, _cut(catalogue["track-03"], 0.0, 8.0)])
    r = index.query(q)
    assert r.best.track_id == "track-03"
    assert abs(r.best.offset_s + 3.0) < 0.1


@pytest.mark.parametrize("factor", [0.95, 1.05])
def test_speed_changes_match_with_the_detected_speed(index, catalogue, factor):
    q = resample_linear(_cut(catalogue["track-06"], 10.0, 11.0), factor)[: 10 * SR]
    r = index.query(q)
    assert r.best is not None and r.best.track_id == "track-06"
    assert r.best.speed == pytest.approx(factor, abs=0.01)
    assert r.best.pitch_semitones == pytest.approx(12 * math.log2(factor), abs=0.35)
    assert r.best.transform == "speed"
    assert abs(r.best.offset_s - 10.0) < 0.3


@pytest.mark.parametrize("semitones", [-1.0, 1.0])
def test_pitch_shifts_match(index, semitones):
    q = _cut(_track(8, pitch_semitones=semitones), 15.0, 10.0)
    r = index.query(q)
    assert r.best is not None and r.best.track_id == "track-08"
    assert r.best.pitch_semitones == pytest.approx(semitones, abs=0.35)
    assert abs(r.best.offset_s - 15.0) < 0.3


@pytest.mark.parametrize("tempo", [0.95, 1.05])
def test_time_stretches_match(index, tempo):
    q = _cut(_track(10, tempo=tempo), 15.0 / tempo, 10.0)
    r = index.query(q)
    assert r.best is not None and r.best.track_id == "track-10"
    assert r.best.speed == pytest.approx(tempo, abs=0.01)
    assert abs(r.best.offset_s - 15.0) < 0.3


def test_noisy_excerpts_still_match(index, catalogue):
    q = add_white_noise(_cut(catalogue["track-11"], 20.0, 10.0), snr_db=5.0, seed=3)
    r = index.query(q)
    assert r.best is not None and r.best.track_id == "track-11"


# --------------------------------------------------------------------------- rejection


def test_unrelated_music_does_not_match(index):
    for seed in range(5):
        r = index.query(synth_track(5000 + seed, 10.0, SR))
        assert r.best is None, r.best


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.zeros(10 * SR, np.float32),
        lambda: (np.random.default_rng(1).standard_normal(10 * SR) * 1e-5).astype(np.float32),
        lambda: (0.5 * np.sin(2 * np.pi * 440 * np.arange(10 * SR) / SR)).astype(np.float32),
        lambda: (0.3 * np.random.default_rng(2).standard_normal(10 * SR)).astype(np.float32),
    ],
    ids=["silence", "near-silence", "steady-tone", "white-noise"],
)
def test_low_information_queries_answer_no_match(index, make):
    r = index.query(make())
    assert r.best is None
    assert r.score < -math.log10(DEFAULT_MAX_FALSE_MATCH_RATE)


# --------------------------------------------------------------------------- content check

LOOP_S = 4.0


def _loop(seconds: float) -> np.ndarray:
    """A 4-second phrase repeated: the "drum loop" that two different pieces can share."""
    bar = synth_track(777, LOOP_S, SR)
    return np.tile(bar, int(math.ceil(seconds / LOOP_S)) + 1)[: int(seconds * SR)]


@pytest.fixture(scope="module")
def loop_index(tmp_path_factory, catalogue) -> tuple[Index, np.ndarray]:
    # the reference: a piece over the loop; a few unrelated tracks beside it
    ref = (0.7 * _loop(TRACK_S) + synth_track(1001, TRACK_S, SR)).astype(np.float32)
    writer = IndexWriter()
    writer.add("loop-piece", ref)
    for i in range(4):
        writer.add(f"track-{i:02d}", catalogue[f"track-{i:02d}"])
    out = tmp_path_factory.mktemp("index") / "loop"
    writer.write(out)
    return Index.open(out), ref


def _without_content_check(r: QueryResult) -> QueryResult:
    ev = json.loads(json.dumps(r.evidence))
    for seg in ev["segments"]:
        seg["min_salient_share"] = 0.0
    return decide(ev, query_duration_s=r.query_duration_s, query_hashes=r.query_hashes, max_false_match_rate=r.max_false_match_rate)


def _candidate(r: QueryResult, track_id: str) -> dict:
    return max((c for s in r.evidence["segments"] for c in s["candidates"] if c["track_id"] == track_id), key=lambda c: c["aligned"])


def test_a_different_piece_over_the_same_loop_is_not_a_match(loop_index):
    idx, _ = loop_index
    # Given a different piece over the same loop, at the same place in the loop
    a, b = int(12 * SR), int(22 * SR)
    q = (0.7 * _loop(TRACK_S)[a:b] + synth_track(3001, 10.0, SR)).astype(np.float32)
    r = idx.query(q)
    # the loop aligns for real: by the chance model alone it is a confident match ...
    alone = _without_content_check(r)
    assert alone.best is not None and alone.best.track_id == "loop-piece"
    assert alone.best.false_match_rate < DEFAULT_MAX_FALSE_MATCH_RATE / 10
    # ... but the reference holds little of the query's salient content: no match
    c = _candidate(r, "loop-piece")
    assert c["salient_confirmed"] < DEFAULT_PARAMS.min_salient_share * c["salient_peaks"]
    assert r.best is None
    # ... reported as shared material, for audit, with the share that kept it out
    assert [m.track_id for m in r.declined] == ["loop-piece"]
    assert r.declined[0].salient_share < DEFAULT_PARAMS.min_salient_share
    assert QueryResult.from_dict(json.loads(json.dumps(r.to_dict()))).declined[0].track_id == "loop-piece"


def test_a_copy_under_0_db_noise_keeps_its_salient_content(loop_index):
    idx, ref = loop_index
    q = add_white_noise(_cut(ref, 12.0, 10.0), snr_db=0.0, seed=1)
    r = idx.query(q)
    assert r.best is not None and r.best.track_id == "loop-piece"
    m = r.best
    assert 0 < m.salient_confirmed <= m.salient_peaks
    assert m.salient_share == pytest.approx(m.salient_confirmed / m.salient_peaks)
    assert m.salient_share >= DEFAULT_PARAMS.min_salient_share
    d = json.loads(json.dumps(r.to_dict(with_evidence=True)))
    assert d["best"]["salient_peaks"] == m.salient_peaks
    back = QueryResult.from_dict(d)
    assert back.best.salient_share == pytest.approx(m.salient_share, abs=1e-4)
    # a clean copy keeps most of it
    clean = idx.query(_cut(ref, 12.0, 10.0)).best
    assert clean is not None and clean.salient_share > 0.5


def test_when_noise_leaves_few_salient_peaks_the_span_s_most_salient_are_judged(loop_index):
    # Given an index whose salient bar no peak can clear (as heavy noise does to real ones)
    from dataclasses import replace

    idx, ref = loop_index
    strict = Index.open(idx.directory)
    strict.params = replace(strict.params, salient_db=200.0)
    q = add_white_noise(_cut(ref, 12.0, 10.0), snr_db=0.0, seed=1)
    m = strict.query(q).best
    # the copy is judged on the span's most salient peaks, not on none (or one or two)
    assert m is not None and m.track_id == "loop-piece"
    assert m.salient_peaks == strict.params.min_salient_peaks
    assert m.salient_share >= strict.params.min_salient_share
    # and a different piece over the same loop still is not a copy
    a, b = int(12 * SR), int(22 * SR)
    other = strict.query((0.7 * _loop(TRACK_S)[a:b] + synth_track(3001, 10.0, SR)).astype(np.float32))
    assert other.best is None


def test_evidence_without_a_content_check_decides_as_before(loop_index):
    idx, ref = loop_index
    r = idx.query(_cut(ref, 5.0, 10.0))
    ev = json.loads(json.dumps(r.evidence))
    for seg in ev["segments"]:
        for c in seg["candidates"]:
            del c["salient_peaks"], c["salient_confirmed"]
    old = decide(ev, query_duration_s=r.query_duration_s, query_hashes=r.query_hashes, max_false_match_rate=r.max_false_match_rate)
    assert old.best is not None and old.best.track_id == r.best.track_id and old.best.salient_share is None


# --------------------------------------------------------------------------- calibration


def test_poisson_tail_matches_a_direct_sum():
    lam = 0.7
    for n in (1, 3, 8, 20):
        direct = 1.0 - sum(math.exp(-lam) * lam**k / math.factorial(k) for k in range(n))
        assert poisson_sf(n, lam) == pytest.approx(direct, rel=1e-6, abs=1e-15)


def test_the_same_evidence_is_weaker_in_a_bigger_catalogue():
    postings = [500] * 10
    small = false_match_rate(12, postings, cells=1e5, catalogue_cells=1e5, window=5)
    big = false_match_rate(12, [p * 100 for p in postings], cells=1e7, catalogue_cells=1e7, window=5)
    assert big == pytest.approx(small * 100, rel=1e-6)


def test_near_duplicates_are_named_in_others(tmp_path, catalogue):
    writer = IndexWriter()
    base = catalogue["track-12"]
    writer.add("original", base)
    writer.add("re-release", base + 0.02 * synth_track(9, TRACK_S, SR))  # same master, new noise floor
    for i in (0, 1, 2):
        writer.add(f"other-{i}", catalogue[f"track-0{i}"])
    writer.write(tmp_path / "dups")
    r = Index.open(tmp_path / "dups").query(_cut(base, 5.0, 10.0))
    assert r.best is not None and {r.best.track_id, *[o.track_id for o in r.others]} == {"original", "re-release"}


# --------------------------------------------------------------------------- shards


def test_sharded_query_and_merge_equal_the_unsharded_decision(index, sharded_dir, catalogue):
    manifest = json.loads((sharded_dir / "manifest.json").read_text())
    assert len(manifest["shards"]) == 3
    queries = [_cut(catalogue[t], 9.0, 10.0) for t in ("track-01", "track-08", "track-14")]
    queries += [synth_track(6000, 10.0, SR), add_white_noise(_cut(catalogue["track-04"], 2.0, 10.0), 0.0)]
    whole = Index.open(sharded_dir)
    for q in queries:
        single = index.query(q)
        merged_in_process = whole.query(q)
        # one shard per "Lambda", results passed as JSON, merged
        parts = [
            QueryResult.from_dict(json.loads(json.dumps(Index.open(sharded_dir, shards=[s]).query(q).to_dict(with_evidence=True))))
            for s in range(3)
        ]
        merged = merge_results(parts)
        for r in (merged_in_process, merged):
            assert (r.best and r.best.track_id) == (single.best and single.best.track_id)
            if single.best:
                assert r.best.aligned_hashes == single.best.aligned_hashes
                assert r.best.score == pytest.approx(single.best.score, rel=0.15)
                assert r.best.offset_s == pytest.approx(single.best.offset_s, abs=0.05)


def test_one_shard_alone_is_not_more_lenient_than_the_merge(sharded_dir, catalogue):
    q = _cut(catalogue["track-02"], 4.0, 10.0)
    parts = [Index.open(sharded_dir, shards=[s]).query(q) for s in range(3)]
    merged = merge_results(parts)
    holder = [p for p in parts if p.best]
    assert len(holder) == 1 and holder[0].best.track_id == "track-02"
    # the shard's rate already counts the whole catalogue's multiplicity
    assert holder[0].best.false_match_rate == pytest.approx(merged.best.false_match_rate, rel=0.5)


def test_merging_a_shard_twice_is_refused(sharded_dir, catalogue):
    part = Index.open(sharded_dir, shards=[0]).query(_cut(catalogue["track-00"], 4.0, 5.0))
    with pytest.raises(ValueError):
        merge_results([part, part])


def test_a_long_upload_is_searched_in_segments_and_keeps_its_offsets(index, catalogue):
    # Given a 75 s upload: unrelated music, then 20 s of a catalogue track, then more music
    q = np.concatenate([synth_track(7001, 40.0, SR), _cut(catalogue["track-13"], 10.0, 20.0), synth_track(7002, 15.0, SR)])
    r = index.query(q)
    assert len(r.evidence["segments"]) >= 2
    assert r.best is not None and r.best.track_id == "track-13"
    # the offset is still the reference position of the upload's first sample
    assert abs(r.best.offset_s - (10.0 - 40.0)) < 0.15
    # and the matched span starts where the copy does, not at a stray chance hit far
    # earlier: a pair anchored just before the copy can reach into it (one target zone,
    # 1.5 s), and a chance hit within a target zone of those can chain on (measured over
    # 12 unrelated prefixes: 11 start within 0.8 s of the copy, this one 2.1 s before it)
    assert 40.0 - 2.5 <= r.best.query_start_s <= 45.0
    assert r.best.matched_duration_s <= 20.0 + 2.5


def test_the_coarse_first_vote_gives_the_same_decisions(tmp_path, catalogue):
    # Given the same catalogue indexed with the large-catalogue coarse vote always on
    from dataclasses import replace

    params = replace(DEFAULT_PARAMS, coarse_vote_above=0, coarse_bins_kept=8)
    writer = IndexWriter(params)
    for tid, x in catalogue.items():
        writer.add(tid, x)
    writer.write(tmp_path / "coarse")
    coarse = Index.open(tmp_path / "coarse")
    # Then excerpts, transformed excerpts and unrelated music get the same answers
    for q, expected in [
        (_cut(catalogue["track-02"], 11.0, 10.0), "track-02"),
        (resample_linear(_cut(catalogue["track-09"], 5.0, 11.0), 1.05)[: 10 * SR], "track-09"),
        (synth_track(8000, 10.0, SR), None),
    ]:
        r = coarse.query(q)
        assert (r.best and r.best.track_id) == expected


def test_the_offset_table_lookup_gives_the_same_evidence_as_binary_search(index_dir, catalogue):
    # Given the index opened normally (hash -> offset table) and the same shards without it
    from dataclasses import replace

    from takedown_core.engine.shard import hash_offsets

    fast = Index.open(index_dir)
    slow = Index.open(index_dir)
    slow._shards = [replace(s, offsets=None) for s in slow._shards]
    # the table brackets every hash's run in the sorted array
    s = fast._shards[0]
    h = np.asarray(s.hashes)
    table = hash_offsets(h)
    for key in np.unique(h)[:50]:
        assert table[key] == np.searchsorted(h, key, "left") and table[key + 1] == np.searchsorted(h, key, "right")
    # Then a match, a transformed match and unrelated music carry identical evidence
    for q in (_cut(catalogue["track-05"], 7.0, 10.0), resample_linear(_cut(catalogue["track-11"], 3.0, 11.0), 0.95)[: 10 * SR], synth_track(8100, 10.0, SR)):
        fp = fast.fingerprint(q)
        a, b = fast.query(fp), slow.query(fp)
        assert a.evidence == b.evidence
        assert a.to_dict() == b.to_dict()


def test_an_index_built_before_the_query_neighbourhood_keeps_answering_as_it_did(index_dir):
    """An index written before ``query_peak_radius_*`` existed is queried with the
    neighbourhood it was queried with then (the reference's), until it is rebuilt."""
    manifest = json.loads((index_dir / "manifest.json").read_text())
    old = {k: v for k, v in manifest["params"].items() if not k.startswith("query_peak_radius")}
    params = AnalysisParams.from_dict(old)
    assert (params.query_peak_radius_cells, params.query_peak_radius_frames) == (params.peak_radius_cells, params.peak_radius_frames)
    assert AnalysisParams.from_dict(manifest["params"]) == Index.open(index_dir).params
    assert Index.open(index_dir).params.query_peak_radius_cells == DEFAULT_PARAMS.query_peak_radius_cells


def test_the_content_check_tolerates_a_pitch_difference_one_cell_off(loop_index):
    """Noise moves two peaks' estimated pitches, and their difference crosses a cell edge
    more often than either pitch does: the content check also confirms a pair one quantum
    off in pitch difference (and dt +-1), never outside the hash layout."""
    from dataclasses import replace

    from takedown_core.engine.extract import DF_BITS, DT_BITS
    from takedown_core.engine.shard import probe_keys as _probe_keys

    p = DEFAULT_PARAMS
    fields = lambda k: (int(k) >> (DF_BITS + DT_BITS), (int(k) >> DT_BITS) & ((1 << DF_BITS) - 1), int(k) & ((1 << DT_BITS) - 1))
    key = lambda f, df, dt: (f << (DF_BITS + DT_BITS)) | (df << DT_BITS) | dt
    fq, dfq, dtq = 40, p.df_bias + 3, 20
    keys, ai, tj = _probe_keys(np.array([key(fq, dfq, dtq)], np.int64), p, p.content_probe_df_cells, np.array([0]), np.array([1]))
    assert {fields(k) for k in keys} == {(fq, dfq + b, dtq + c) for b in (-1, 0, 1) for c in (-1, 0, 1)}
    assert len(keys) == 9 and set(ai) == {0} and set(tj) == {1}
    # at the layout's edges: no pitch difference outside +-df_bias, no dt of 0
    for df_edge, dt_edge in ((0, 1), (2 * p.df_bias, p.dt_max_frames)):
        k_edge, _, _ = _probe_keys(np.array([key(fq, df_edge, dt_edge)], np.int64), p, p.content_probe_df_cells, np.array([0]), np.array([1]))
        assert len(k_edge) == 4
        assert all(0 <= fields(k)[1] <= 2 * p.df_bias and 1 <= fields(k)[2] <= p.dt_max_frames for k in k_edge)
    assert len(_probe_keys(np.array([key(fq, dfq, dtq)], np.int64), p, 0, np.array([0]), np.array([1]))[0]) == 3  # the search's probe

    # on audio: a copy under 0 dB noise has more of its salient peaks confirmed with the
    # tolerance than with exact cells, and a different piece over the same loop stays out
    idx, ref = loop_index
    exact = Index.open(idx.directory)
    exact.params = replace(exact.params, content_probe_df_cells=0)
    q = add_white_noise(_cut(ref, 12.0, 10.0), snr_db=0.0, seed=1)
    tolerant, strict = idx.query(q).best, exact.query(q).best
    assert tolerant.salient_peaks == strict.salient_peaks
    assert tolerant.salient_confirmed > strict.salient_confirmed
    a, b = int(12 * SR), int(22 * SR)
    assert idx.query((0.7 * _loop(TRACK_S)[a:b] + synth_track(3001, 10.0, SR)).astype(np.float32)).best is None


def test_an_index_built_before_the_content_tolerance_keeps_exact_cells(index_dir):
    manifest = json.loads((index_dir / "manifest.json").read_text())
    old = {k: v for k, v in manifest["params"].items() if k != "content_probe_df_cells"}
    assert AnalysisParams.from_dict(old).content_probe_df_cells == 0
    assert Index.open(index_dir).params.content_probe_df_cells == DEFAULT_PARAMS.content_probe_df_cells == 1


def test_the_content_check_judges_at_least_min_content_span_around_the_alignment():
    from dataclasses import replace

    from takedown_core.engine.verdict import content_span

    p = DEFAULT_PARAMS
    need = int(round(p.min_content_span_s / p.frame_seconds))  # 5 s = 215 frames
    seg = (0, 431)  # a 10 s query
    # a 1.5 s alignment in the middle is widened evenly to 5 s
    a, b = content_span(200, 264, seg, p)
    assert b - a + 1 == need and a < 200 and b > 264 and abs((200 - a) - (b - 264)) <= 1
    # at an edge, the other side takes what the edge cannot
    assert content_span(0, 40, seg, p) == (0, need - 1)
    assert content_span(400, 430, seg, p) == (431 - need, 430)
    # a long alignment is judged as it is; a query shorter than the span, whole
    assert content_span(10, 400, seg, p) == (10, 400)
    assert content_span(20, 60, (0, 200), p) == (0, 199)
    # inside a later segment of a long query
    assert content_span(2000, 2010, (1900, 3192), p)[0] >= 1900
    # an index from before the field judges the aligned span only
    assert content_span(200, 264, seg, replace(p, min_content_span_s=0.0)) == (200, 264)


def test_a_codec_hole_does_not_make_what_is_left_in_its_band_look_salient():
    """A low-bit-rate codec zeroes a band it judges masked; the notes it keeps there must
    not stand far more above the band's running mean than they do in the reference."""
    from dataclasses import replace

    t = np.arange(12 * SR) / SR
    notes = 0.05 * np.sin(2 * np.pi * 1250.0 * t) * (((t % 0.5) < 0.2) & (t >= 6.0))
    bed = 0.002 * np.random.default_rng(3).standard_normal(t.size)  # quiet content under them
    ref = (notes + bed).astype(np.float32)
    holed = notes.astype(np.float32)  # the codec dropped the quiet bed: a hole, -120 dB

    def salience(x, params):
        pk = find_peaks(x, params, peaks_per_s=20.0)
        near = np.abs(params.fmin_hz * 2 ** (pk.semitones / 12) - 1250.0) < 20.0
        assert near.sum() >= 10
        return float(np.median(pk.salience[near]))

    unclamped = replace(DEFAULT_PARAMS, spectrum_floor_dbfs=-120.0)
    assert salience(holed, unclamped) - salience(ref, unclamped) > 10.0  # 42 against 26 dB
    assert abs(salience(holed, DEFAULT_PARAMS) - salience(ref, DEFAULT_PARAMS)) < 1.0


def test_an_index_built_before_the_floor_and_the_span_answers_as_it_did(index_dir):
    manifest = json.loads((index_dir / "manifest.json").read_text())
    old = {k: v for k, v in manifest["params"].items() if k not in ("spectrum_floor_dbfs", "min_content_span_s")}
    params = AnalysisParams.from_dict(old)
    assert (params.spectrum_floor_dbfs, params.min_content_span_s) == (-120.0, 0.0)
    assert Index.open(index_dir).params.spectrum_floor_dbfs == DEFAULT_PARAMS.spectrum_floor_dbfs
