"""How a match uses our recording: a copy, or a partial match (our recording under or beside
other material); what a partial match must not be (a shared loop, a segment another
catalogue track also holds, an excluded range); the catalogue's self-match."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audio_fixtures import synth_track  # noqa: E402

from takedown_core.engine import DEFAULT_PARAMS, Index, IndexWriter, Match, QueryResult, merge_results  # noqa: E402
from takedown_core.engine.extract import extract  # noqa: E402
from takedown_core.engine.verdict import judge  # noqa: E402
from takedown_core.engine.wire import query_from_wire, query_to_wire  # noqa: E402

SR = DEFAULT_PARAMS.sample_rate
TRACK_S = 60.0


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def under(backing: np.ndarray, lead: np.ndarray, level_db: float) -> np.ndarray:
    """``backing`` ``level_db`` under ``lead`` (RMS), as a new vocal over our recording."""
    n = min(backing.size, lead.size)
    y = lead[:n] / _rms(lead[:n]) + backing[:n] / _rms(backing[:n]) * 10 ** (level_db / 20)
    return (0.9 * y / np.abs(y).max()).astype(np.float32)


def lead(seed: int, seconds: float) -> np.ndarray:
    """New material: another piece an octave up. Synthetic music is sparse, so it must sit
    well over ours (12 dB and more) before most of the upload's prominent sound is not ours."""
    return synth_track(seed, seconds, SR, pitch_semitones=12.0)


def cut(x: np.ndarray, start_s: float, seconds: float) -> np.ndarray:
    return x[int(start_s * SR): int((start_s + seconds) * SR)]


@pytest.fixture(scope="module")
def tracks() -> dict[str, np.ndarray]:
    out = {f"song-{i}": synth_track(4000 + i, TRACK_S, SR) for i in range(6)}
    # two songs that share one passage (an album's segue): 15 s of song-S at 20 s in both
    passage = synth_track(4100, 15.0, SR)
    for tid, at in (("shares-a", 20.0), ("shares-b", 35.0)):
        x = synth_track(4200 + len(tid) + int(at), TRACK_S, SR)
        a = int(at * SR)
        x[a: a + passage.size] = passage
        out[tid] = x
    return out


@pytest.fixture(scope="module")
def index(tmp_path_factory, tracks) -> Index:
    w = IndexWriter()
    for tid, x in tracks.items():
        # song-5 holds a licensed loop from 10 s to 40 s: the label does not claim it alone
        excl = [{"start_s": 10.0, "end_s": 40.0, "note": "licensed loop"}] if tid == "song-5" else None
        w.add(tid, x, metadata={"title": tid.upper()}, exclusions=excl)
    out = tmp_path_factory.mktemp("partial") / "index"
    w.write(out, shard_count=2)
    return Index.open(out)


# --------------------------------------------------------------------------- the kinds


def test_a_copy_is_called_a_copy_with_its_spans_in_both_recordings(index, tracks):
    r = index.query(cut(tracks["song-1"], 12.0, 20.0))
    m = r.best
    assert m is not None and m.track_id == "song-1" and m.kind == "copy"
    assert m.share == m.salient_share >= DEFAULT_PARAMS.min_salient_share
    assert m.upload_span_s[0] < 1.0 and m.upload_span_s[1] > 18.0
    assert abs(m.reference_span_s[0] - 12.0 - m.upload_span_s[0]) < 0.2
    assert abs(m.reference_span_s[1] - 12.0 - m.upload_span_s[1]) < 0.2


@pytest.mark.parametrize("level_db", [-12.0, -18.0])
def test_our_recording_under_a_louder_new_lead_is_a_partial_match(index, tracks, level_db):
    # Given an upload that is our song 12 s in, with a new, louder lead on top
    q = under(cut(tracks["song-2"], 12.0, 20.0), lead(9001, 20.0), level_db)
    # When it is matched
    r = index.query(q)
    # Then our recording is found, and called partial: most of the upload's prominent
    # sound is not ours
    m = r.best
    assert m is not None and m.track_id == "song-2" and m.kind == "partial"
    assert m.share < DEFAULT_PARAMS.min_salient_share
    assert m.false_match_rate < 1e-4 * DEFAULT_PARAMS.partial_rate_factor
    # with where it is, in both recordings
    assert m.upload_span_s[1] - m.upload_span_s[0] >= DEFAULT_PARAMS.min_partial_span_s
    assert abs(m.reference_span_s[0] - (12.0 + m.upload_span_s[0])) < 0.3
    assert m.declined_reason is None and m.shared_with == []


def test_the_new_material_alone_is_no_match(index):
    assert index.query(lead(9001, 20.0)).best is None


def test_a_short_passage_under_new_material_is_declined_as_short(index, tracks):
    # 4 s of our song inside 20 s of new material: real, but not sustained
    q = lead(9002, 20.0) * 0.9
    q[int(8 * SR): int(12 * SR)] += cut(tracks["song-3"], 30.0, 4.0)
    r = index.query(q.astype(np.float32))
    assert r.best is None
    assert [(m.track_id, m.declined_reason) for m in r.declined if m.track_id == "song-3"] in ([], [("song-3", "short")])


def _loop(seconds: float) -> np.ndarray:
    bar = synth_track(777, 2.0, SR)
    return np.tile(bar, int(math.ceil(seconds / 2.0)) + 1)[: int(seconds * SR)]


def test_a_different_piece_over_our_loop_is_declined_as_repeated(tmp_path):
    # Given a catalogue track built on a 2 s loop, and an upload of a different piece over it
    ref = (0.5 * _loop(TRACK_S) + synth_track(5001, TRACK_S, SR)).astype(np.float32)
    w = IndexWriter()
    w.add("loop-song", ref)
    w.add("other", synth_track(5002, TRACK_S, SR))
    w.write(tmp_path / "ix")
    ix = Index.open(tmp_path / "ix")
    q = (0.5 * cut(_loop(TRACK_S), 10.0, 20.0) + synth_track(5003, 20.0, SR)).astype(np.float32)
    r = ix.query(q)
    # Then the loop aligns (one bar matches at many offsets), but it is no case
    assert r.best is None
    assert [(m.track_id, m.declined_reason) for m in r.declined] == [("loop-song", "repeated")]


# --------------------------------------------------------------------------- the catalogue's marks


def test_the_self_match_marks_the_passage_two_tracks_share_in_both(index):
    tracks = {t["id"]: t for t in json.loads((index.directory / "tracks.json").read_text())["tracks"]}
    a = tracks["shares-a"]["shared_segments"]
    b = tracks["shares-b"]["shared_segments"]
    assert [s["with"] for s in a] == [["shares-b"]] and [s["with"] for s in b] == [["shares-a"]]
    assert a[0]["start_s"] == pytest.approx(20.0, abs=1.5) and a[0]["end_s"] == pytest.approx(35.0, abs=1.5)
    assert b[0]["start_s"] == pytest.approx(35.0, abs=1.5) and b[0]["end_s"] == pytest.approx(50.0, abs=1.5)
    # unrelated songs share nothing
    assert all(not tracks[f"song-{i}"]["shared_segments"] for i in range(6))
    assert index.manifest["self_match"]["shared_segments"] == 2


def test_a_partial_match_resting_only_on_a_shared_passage_names_both_and_is_no_case(index, tracks):
    # Given the shared passage (in shares-a at 22 s, in shares-b at 37 s) under a new lead
    q = under(cut(tracks["shares-a"], 22.0, 12.0), lead(9003, 12.0), -15.0)
    r = index.query(q)
    # Then neither track is a match: each is declined, naming the other
    assert r.best is None
    got = {m.track_id: (m.declined_reason, m.shared_with) for m in r.declined}
    assert got == {"shares-a": ("shared_segment", ["shares-b"]), "shares-b": ("shared_segment", ["shares-a"])}


def test_a_partial_match_outside_the_shared_passage_is_a_case(index, tracks):
    q = under(cut(tracks["shares-a"], 2.0, 15.0), lead(9004, 15.0), -15.0)
    m = index.query(q).best
    assert m is not None and m.track_id == "shares-a" and m.kind == "partial" and m.shared_with == []


def test_a_copy_of_the_shared_passage_is_a_copy_that_names_the_other_track(index, tracks):
    r = index.query(cut(tracks["shares-a"], 22.0, 10.0))
    assert r.best is not None and r.best.kind == "copy"
    assert {r.best.track_id, *(o.track_id for o in r.others)} == {"shares-a", "shares-b"}
    assert set(r.best.shared_with) | {r.best.track_id} == {"shares-a", "shares-b"}


def test_an_excluded_range_is_never_claimed_alone(index, tracks):
    # a copy of song-5's licensed loop, and a cover over it: both declined "excluded"
    r = index.query(cut(tracks["song-5"], 15.0, 20.0))
    assert r.best is None and [(m.track_id, m.declined_reason) for m in r.declined] == [("song-5", "excluded")]
    r = index.query(under(cut(tracks["song-5"], 15.0, 20.0), lead(9005, 20.0), -15.0))
    assert r.best is None and [(m.track_id, m.declined_reason) for m in r.declined] == [("song-5", "excluded")]
    # what is not excluded is claimed as ever
    m = index.query(cut(tracks["song-5"], 40.0, 15.0)).best
    assert m is not None and m.track_id == "song-5" and m.kind == "copy"


def test_exclusions_must_be_time_ranges():
    w = IndexWriter()
    with pytest.raises(ValueError):
        w.add("x", synth_track(1, 5.0, SR), exclusions=[{"start_s": 5, "end_s": 2}])
    with pytest.raises(ValueError):
        w.add("y", synth_track(1, 5.0, SR), exclusions=[{"start_s": "a", "end_s": 2}])


def test_versions_of_one_recording_are_not_shared_segments(tmp_path):
    x = synth_track(4300, 40.0, SR)
    w = IndexWriter()
    w.add("orig", x)
    w.add("remaster", (0.8 * x + 0.01 * np.random.default_rng(0).standard_normal(x.size)).astype(np.float32))
    w.write(tmp_path / "ix")
    tracks = {t["id"]: t for t in json.loads((tmp_path / "ix" / "tracks.json").read_text())["tracks"]}
    assert tracks["orig"]["versions"] == ["remaster"] and tracks["orig"]["shared_segments"] == []
    # a cover over either is a partial match of one, naming the other as a near-duplicate
    r = Index.open(tmp_path / "ix").query(under(cut(x, 5.0, 20.0), lead(9006, 20.0), -15.0))
    assert r.best is not None and r.best.kind == "partial"
    assert {r.best.track_id, *(o.track_id for o in r.others)} == {"orig", "remaster"}


# --------------------------------------------------------------------------- the rules, one by one


def _ev(**rules) -> dict:
    return {"postings": [400] * 23, "cells": 2e5, "catalogue_cells": 2e5, "window": 5, "clump": 1.5, "min_salient_share": 0.28,
            "partial": {"min_span_s": 6.0, "min_coverage": 0.5, "rate_factor": 1e-6, "min_copy_share": 0.4, **rules}}


def _cand(**kw) -> dict:
    c = {"aligned": 60, "salient_peaks": 40, "salient_confirmed": 4, "matched_duration_s": 15.0, "coverage": 0.9,
         "position_aligned": 60, "clear_aligned": 60, "shared_aligned": 0, "excluded_aligned": 0, "unexcluded_aligned": 60,
         "shared_with": []}
    c.update(kw)
    return c


@pytest.mark.parametrize("cand, verdict", [
    (_cand(salient_confirmed=20), ("copy", None)),
    (_cand(salient_confirmed=13), ("partial", None)),  # share 0.33: a lead at equal level, sustained
    (_cand(salient_confirmed=13, matched_duration_s=4.0), ("copy", None)),  # ... not sustained: a copy, as before
    (_cand(salient_peaks=None, salient_confirmed=None), ("copy", None)),  # no content check: an older engine
    (_cand(), ("partial", None)),
    (_cand(matched_duration_s=4.0), ("partial", "short")),
    (_cand(coverage=0.3), ("partial", "short")),
    (_cand(aligned=9, position_aligned=9, clear_aligned=9, unexcluded_aligned=9), ("partial", "weak")),
    (_cand(position_aligned=8, clear_aligned=8), ("partial", "repeated")),
    (_cand(clear_aligned=8, shared_aligned=52, shared_with=["b"]), ("partial", "shared_segment")),
    (_cand(clear_aligned=8, excluded_aligned=52), ("partial", "excluded")),
    (_cand(salient_confirmed=20, unexcluded_aligned=3), ("copy", "excluded")),
])
def test_judge(cand, verdict):
    from takedown_core.engine.verdict import false_match_rate

    ev = _ev()
    rate = false_match_rate(cand["aligned"], ev["postings"], ev["cells"], ev["catalogue_cells"], ev["window"], ev["clump"])
    assert rate < 1e-4
    assert judge(cand, ev, rate, 1, 1e-4) == verdict


def test_an_index_built_before_partial_matches_declines_them_as_the_content_check_did():
    ev = _ev()
    ev["partial"] = None
    assert judge(_cand(), ev, 1e-30, 1, 1e-4) == ("partial", "low_share")


# --------------------------------------------------------------------------- documents and scale-out


def test_a_match_document_carries_the_kind_and_an_old_one_reads_as_a_copy(index, tracks):
    r = index.query(under(cut(tracks["song-2"], 12.0, 20.0), lead(9001, 20.0), -15.0))
    d = json.loads(json.dumps(r.to_dict()))
    assert d["best"]["kind"] == "partial" and d["best"]["share"] == d["best"]["salient_share"]
    assert len(d["best"]["upload_span_s"]) == 2 and len(d["best"]["reference_span_s"]) == 2
    back = QueryResult.from_dict(d)
    assert back.best.kind == "partial" and back.best.reference_span_s == pytest.approx(r.best.reference_span_s, abs=1e-3)
    old = {k: v for k, v in d["best"].items() if k not in ("kind", "share", "upload_span_s", "reference_span_s", "shared_with", "declined_reason")}
    m = Match.from_dict(old)
    assert m.kind == "copy" and m.upload_span_s is None and m.shared_with == [] and m.declined_reason is None
    # "partial" in a document before the kinds: what the content check refused
    legacy = QueryResult.from_dict({k: v for k, v in d.items() if k != "declined"} | {"partial": [old]})
    assert [m.declined_reason for m in legacy.declined] == ["low_share"]


def test_shards_merged_decide_a_partial_match_as_the_whole_index(index, tracks):
    fp = index.fingerprint(under(cut(tracks["song-2"], 12.0, 20.0), lead(9001, 20.0), -15.0))
    whole = index.query(fp)
    parts = []
    for s in index.shard_numbers:
        one = Index.open(index.directory, shards=[s])
        wired = query_from_wire(json.loads(json.dumps(query_to_wire(fp))), one.params)
        parts.append(QueryResult.from_dict(json.loads(json.dumps(one.query(wired).to_dict(with_evidence=True)))))
    merged = merge_results(parts)
    assert (merged.best.track_id, merged.best.kind) == (whole.best.track_id, whole.best.kind) == ("song-2", "partial")
    assert merged.best.false_match_rate == pytest.approx(whole.best.false_match_rate, rel=1e-9)


def _fan_out(index: Index, requests: list[dict]):
    """A FanOutMatcher over ``index``'s shards, one group each, through the shard function's
    code and JSON both ways; ``requests`` records what it asked for."""
    from takedown_core.matching import FanOutMatcher, answer_shard, shard_groups

    parts = {s: Index.open(index.directory, shards=[s]) for s in index.shard_numbers}

    def invoke(request):
        request = json.loads(json.dumps(request))
        requests.append((request["search"], request["shards"]))
        return json.loads(json.dumps(answer_shard(parts[request["shards"][0]], request)))

    return FanOutMatcher(Index.open(index.directory, shards=[]), "v1", groups=shard_groups(len(parts), 1), search=invoke,
                         max_seconds=900, max_false_match_rate=1e-4)


@pytest.mark.parametrize("kind", ["copy", "partial", "none"])
def test_the_fan_out_asks_for_the_second_search_only_when_no_shard_holds_a_copy(index, tracks, tmp_path, kind):
    """The fan-out searches in rounds as the whole index does: every shard's first search,
    merged; the second (dense) search in every shard only when the merge holds no copy. The
    answer is the whole index's, rates and evidence alike; a copy costs one round."""
    from audio_fixtures import write_audio
    from takedown_core.audio import decode

    q = {"copy": lambda: cut(tracks["song-3"], 10.0, 12.0),
         "partial": lambda: under(cut(tracks["song-2"], 12.0, 20.0), lead(9001, 20.0), -15.0),
         "none": lambda: lead(9011, 12.0)}[kind]()
    path = write_audio(tmp_path / "upload.wav", q, SR)
    requests: list = []
    answer = _fan_out(index, requests).match(str(path))
    whole = Index.open(index.directory).query(decode(str(path), sample_rate=SR).samples)  # as the fan-out decodes it
    rounds = ["first"] if kind == "copy" else ["first", "second"]
    assert sorted(requests) == sorted((r, [s]) for r in rounds for s in index.shard_numbers)
    assert answer.shard_invocations == len(requests)
    got, want = answer.result, whole
    assert (got.best and (got.best.track_id, got.best.kind)) == (want.best and (want.best.track_id, want.best.kind))
    assert got.to_dict() == want.to_dict()
    assert [s.get("search", 1) for s in got.evidence["segments"]] == [s.get("search", 1) for s in want.evidence["segments"]]
    if kind != "none":
        assert got.best.kind == kind


def test_a_fan_out_over_shard_functions_of_an_older_release_takes_their_whole_answers(index, tracks, tmp_path):
    """A shard function from before the rounds ignores ``search`` and answers both searches:
    the fan-out takes that as the whole answer (one round); answers of both releases to one
    query are refused (retried), never merged."""
    from audio_fixtures import write_audio
    from takedown_core.matching import FanOutMatcher, ShardMatchError, answer_shard, shard_groups

    path = write_audio(tmp_path / "upload.wav", under(cut(tracks["song-2"], 12.0, 20.0), lead(9001, 20.0), -15.0), SR)
    parts = {s: Index.open(index.directory, shards=[s]) for s in index.shard_numbers}

    def old(request):  # the shard function of the release before: no rounds, no echo
        doc = answer_shard(parts[request["shards"][0]], {k: v for k, v in request.items() if k != "search"})
        return json.loads(json.dumps({k: v for k, v in doc.items() if k != "search"}))

    def fan(invoke):
        return FanOutMatcher(Index.open(index.directory, shards=[]), "v1", groups=shard_groups(len(parts), 1), search=invoke,
                             max_seconds=900, max_false_match_rate=1e-4)

    answer = fan(old).match(str(path))
    assert answer.shard_invocations == len(parts) and (answer.result.best.track_id, answer.result.best.kind) == ("song-2", "partial")
    first_shard = min(parts)
    mixed = lambda r: old(r) if r["shards"] == [first_shard] else json.loads(json.dumps(answer_shard(parts[r["shards"][0]], r)))
    with pytest.raises(ShardMatchError, match="two releases"):
        fan(mixed).match(str(path))


def test_a_query_names_its_search(index):
    with pytest.raises(ValueError, match="search must be"):
        index.query(lead(9012, 6.0), search="dense")


def test_the_wire_carries_the_dense_peaks_and_which_the_first_search_uses(tracks):
    fp = extract(cut(tracks["song-0"], 3.0, 12.0), DEFAULT_PARAMS, role="query")
    assert fp.dense_peaks is not None and fp.dense_peaks.frames.size > fp.peaks.frames.size
    back = query_from_wire(json.loads(json.dumps(query_to_wire(fp))), DEFAULT_PARAMS)
    for name in ("frames", "semitones", "salience"):
        assert np.array_equal(getattr(back.peaks, name), getattr(fp.peaks, name))
        assert np.array_equal(getattr(back.dense_peaks, name), getattr(fp.dense_peaks, name))
