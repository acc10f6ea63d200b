"""Sharded matching by fan-out: the query travels as JSON, each group of shards is searched
apart, and the merged decision is the one the whole index gives."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audio_fixtures import synth_track, write_audio  # noqa: E402

from takedown_adapters.matcher import IndexCache, ShardIndexes, match_shards  # noqa: E402
from takedown_core.matching import (  # noqa: E402
    EngineMatcher,
    FanOutMatcher,
    ShardMatchError,
    fit_response,
    matcher_for,
    needs_fan_out,
    shard_groups,
)
from takedown_core.engine import DEFAULT_PARAMS, Index, IndexWriter, extract  # noqa: E402
from takedown_core.engine.wire import query_from_wire, query_to_wire  # noqa: E402

SR = DEFAULT_PARAMS.sample_rate
RATE = 1e-4


@pytest.fixture(scope="module")
def tracks() -> dict[str, np.ndarray]:
    return {f"t{i}": synth_track(500 + i, 40.0, SR) for i in range(6)}


@pytest.fixture(scope="module")
def sharded(tmp_path_factory, tracks) -> Path:
    w = IndexWriter()
    for tid, x in tracks.items():
        w.add(tid, x, duration_s=x.size / SR, metadata={"title": tid.upper()})
    out = tmp_path_factory.mktemp("fanout") / "v7"
    w.write(out, shard_count=3)
    return out


class _LocalStore:
    """S3IndexStore's fetch, from a local directory (records what was asked for)."""

    def __init__(self, directory: Path) -> None:
        self.directory, self.requests = directory, []

    bucket = "local"

    def current(self) -> tuple[str, str]:
        return "v7", "d" * 64

    def fetch(self, version: str, shards=None, *, digest=None) -> Path:
        self.requests.append((version, None if shards is None else list(shards)))
        return self.directory


def _through_json(fn):
    return lambda request: json.loads(json.dumps(fn(json.loads(json.dumps(request)))))


def test_a_query_fingerprint_survives_the_trip_through_json():
    x = synth_track(77, 12.0, SR)
    fp = extract(x, DEFAULT_PARAMS, role="query")
    back = query_from_wire(json.loads(json.dumps(query_to_wire(fp))), DEFAULT_PARAMS)
    assert np.array_equal(back.hashes, fp.hashes) and back.hashes.dtype == fp.hashes.dtype
    assert np.array_equal(back.times, fp.times)
    for name in ("anchor_frames", "anchor_semitones", "df_semitones", "dt_frames"):
        assert np.array_equal(getattr(back.pairs, name), getattr(fp.pairs, name))
    for name in ("frames", "semitones", "salience"):  # the content check needs the peaks
        assert np.array_equal(getattr(back.peaks, name), getattr(fp.peaks, name))
    assert (back.frame_count, back.peak_count, back.duration_s) == (fp.frame_count, fp.peak_count, fp.duration_s)


def test_the_wire_carries_peaks_not_pairs_so_a_long_upload_fits_one_lambda_request():
    """Lambda's synchronous request limit is 6 MB; pairs (15 per peak) of a 15-minute upload
    came to ~5 MB. Peaks are 12 bytes each (13 with the mark of the first search's), about
    0.6 MB for 15 minutes at the second search's density."""
    x = synth_track(79, 60.0, SR)
    fp = extract(x, DEFAULT_PARAMS, role="query")
    doc = json.dumps(query_to_wire(fp))
    assert "pairs" not in json.loads(doc)
    assert len(doc) < 60 * DEFAULT_PARAMS.derivative_peaks_per_s * 13 * 4 / 3 * 1.1
    assert len(doc) * 15 < 6_000_000


def _reversed_peaks(fp):
    peaks = type(fp.peaks)(*(a[::-1].copy() for a in (fp.peaks.frames, fp.peaks.semitones, fp.peaks.salience)))
    return type(fp)(fp.hashes, fp.times, fp.duration_s, fp.frame_count, fp.peak_count, pairs=fp.pairs, peaks=peaks)


def test_the_wire_format_refuses_reference_fingerprints_objects_and_strangers():
    x = synth_track(78, 8.0, SR)
    with pytest.raises(ValueError):
        query_to_wire(extract(x, DEFAULT_PARAMS))  # a reference fingerprint has no pair features
    doc = query_to_wire(extract(x, DEFAULT_PARAMS, role="query"))
    with pytest.raises(ValueError):
        query_from_wire({**doc, "format": "pickle"}, DEFAULT_PARAMS)
    with pytest.raises(ValueError, match="same release"):
        query_from_wire({**doc, "format": "takedown-query/1"}, DEFAULT_PARAMS)  # an older sender
    bad = json.loads(json.dumps(doc))
    bad["peaks"]["frames"]["dtype"] = "|O"
    with pytest.raises(ValueError):
        query_from_wire(bad, DEFAULT_PARAMS)
    backwards = json.loads(json.dumps(doc))
    backwards["peaks"] = query_to_wire(_reversed_peaks(extract(x, DEFAULT_PARAMS, role="query")))["peaks"]
    with pytest.raises(ValueError, match="time order"):
        query_from_wire(backwards, DEFAULT_PARAMS)
    no_peaks = json.loads(json.dumps(doc))
    del no_peaks["peaks"]["salience"]
    with pytest.raises(ValueError, match="peaks.salience"):
        query_from_wire(no_peaks, DEFAULT_PARAMS)
    short = json.loads(json.dumps(doc))
    short["peaks"]["salience"] = query_to_wire(extract(x[: SR * 3], DEFAULT_PARAMS, role="query"))["peaks"]["salience"]
    with pytest.raises(ValueError):
        query_from_wire(short, DEFAULT_PARAMS)


@pytest.mark.parametrize("count,per", [(1, 1), (3, 1), (5, 2), (7, 3), (10, 4), (2, 8)])
def test_shard_groups_cover_every_shard_once_within_the_limit(count, per):
    groups = shard_groups(count, per)
    assert sorted(s for g in groups for s in g) == list(range(count))
    assert all(0 < len(g) <= per for g in groups)
    assert len(groups) == -(-count // per)


def test_fan_out_decides_exactly_as_the_whole_index(tmp_path, sharded, tracks):
    upload = write_audio(tmp_path / "upload.wav", tracks["t4"][12 * SR : 24 * SR], SR)
    version = "v7"
    whole = EngineMatcher(Index.open(sharded), version, max_seconds=900, max_false_match_rate=RATE)
    store = _LocalStore(sharded)
    calls = []

    def invoke(request):
        calls.append(request["shards"])
        return _through_json(lambda r: match_shards(ShardIndexes(store), r))(request)

    head = Index.open(sharded, shards=[])  # what the fingerprint function holds: no shards at all
    fan = FanOutMatcher(head, version, groups=shard_groups(3, 1), search=invoke, max_seconds=900, max_false_match_rate=RATE)

    w = whole.match(str(upload))
    f = fan.match(str(upload))
    best_w, best_f = w.result.best, f.result.best

    assert sorted(calls) == [[0], [1], [2]]
    assert best_f is not None and best_w is not None and best_f.track_id == best_w.track_id == "t4"
    assert best_f.false_match_rate == pytest.approx(best_w.false_match_rate, rel=1e-9)
    assert best_f.offset_s == pytest.approx(best_w.offset_s, abs=0.05)
    assert best_f.metadata == {"title": "T4"}
    # the content check ran in the shard functions too, on the same peaks
    assert best_w.salient_share is not None and best_f.salient_share == pytest.approx(best_w.salient_share)
    assert [o.track_id for o in f.result.others] == [o.track_id for o in w.result.others]
    assert f.shards_searched == w.shards_searched == 3 and f.shard_invocations == 3 and w.shard_invocations is None
    assert {tuple(s) for _, s in store.requests} == {(0,), (1,), (2,)}  # each function fetched its shard only


def test_fan_out_of_an_unrelated_upload_is_no_match_in_every_shard(tmp_path, sharded):
    upload = write_audio(tmp_path / "other.wav", synth_track(4242, 12.0, SR), SR)
    store = _LocalStore(sharded)
    fan = FanOutMatcher(Index.open(sharded, shards=[]), "v7", groups=shard_groups(3, 2),
                        search=_through_json(lambda r: match_shards(ShardIndexes(store), r)),
                        max_seconds=900, max_false_match_rate=RATE)
    answer = fan.match(str(upload))
    assert answer.result.best is None and answer.result.others == [] and answer.shard_invocations == 4  # two groups, two rounds: no copy in the first


def test_a_failing_shard_fails_the_whole_match_rather_than_deciding_on_part(tmp_path, sharded, tracks):
    upload = write_audio(tmp_path / "u.wav", tracks["t1"][5 * SR : 15 * SR], SR)
    store = _LocalStore(sharded)
    ok = _through_json(lambda r: match_shards(ShardIndexes(store), r))

    def invoke(request):
        if request["shards"] == [2]:
            raise ShardMatchError("shard function failed on shards [2]: MemoryError")
        return ok(request)

    fan = FanOutMatcher(Index.open(sharded, shards=[]), "v7", groups=shard_groups(3, 1), search=invoke,
                        max_seconds=900, max_false_match_rate=RATE)
    with pytest.raises(ShardMatchError):
        fan.match(str(upload))


def test_a_shard_function_keeps_its_open_index_and_drops_old_versions(sharded):
    store = _LocalStore(sharded)
    indexes = ShardIndexes(store, keep=2)
    a = indexes.get("v1", (0,))
    assert indexes.get("v1", (0,)) is a and len(store.requests) == 1
    indexes.get("v2", (0,))
    indexes.get("v3", (0,))
    assert indexes.get("v1", (0,)) is not a  # evicted: opened again
    assert len(store.requests) == 4


def test_a_shard_answer_too_big_for_lambda_is_thinned_not_lost():
    cand = {"track_id": "t", "aligned": 40, "landmarks": [[i * 0.1, i * 0.1 + 3] for i in range(200)]}
    doc = {"best": None, "evidence": {"segments": [{"candidates": [dict(cand, landmarks=list(cand["landmarks"]))
                                                                    for _ in range(12)]} for _ in range(30)]}}
    before = len(json.dumps(doc))
    out = fit_response(doc, limit=before // 3)
    assert len(json.dumps(out)) <= before // 3
    c = out["evidence"]["segments"][0]["candidates"][0]
    assert c["aligned"] == 40 and 8 <= len(c["landmarks"]) < 200
    assert c["landmarks"][0] == [0.0, 3.0]  # evenly thinned from the start
    small = {"best": None, "evidence": {"segments": [{"candidates": [dict(cand)]}]}}
    assert fit_response(small) == small
    with pytest.raises(ShardMatchError):
        fit_response(doc, limit=100)


@pytest.mark.parametrize("max_local,fan_out", [(0, False), (3, False), (5, False), (2, True), (1, True)])
def test_the_fingerprint_function_opens_every_shard_or_none_by_the_configured_limit(sharded, max_local, fan_out):
    store = _LocalStore(sharded)
    version, index = IndexCache(store, max_local_shards=max_local).current()
    assert version == "v7" and needs_fan_out(index) is fan_out
    assert index.shard_numbers == ([] if fan_out else [0, 1, 2])
    # fan-out never downloads a shard here; otherwise the whole version is fetched
    assert store.requests[-1] == ("v7", [] if fan_out else None)


@pytest.mark.parametrize("max_local,kind", [(0, EngineMatcher), (3, EngineMatcher), (2, FanOutMatcher)])
def test_the_core_chooses_fan_out_by_how_the_index_was_opened_and_asks_for_a_shard_search_only_then(
        sharded, max_local, kind):
    version, index = IndexCache(_LocalStore(sharded), max_local_shards=max_local).current()
    asked = []

    def shard_search():
        asked.append(True)
        return lambda request: {}

    m = matcher_for(index, version, digest=None, shards_per_function=max_local, shard_search=shard_search,
                    max_seconds=60, max_false_match_rate=RATE)
    assert type(m) is kind and bool(asked) is (kind is FanOutMatcher)
    if kind is FanOutMatcher:
        assert m.groups == [[0, 1], [2]]


def test_an_index_built_before_the_wide_search_says_it_must_be_rebuilt(caplog):
    import dataclasses
    import logging

    from takedown_core import matching
    from takedown_core.engine import DEFAULT_PARAMS

    class OldIndex:  # what matcher_for reads first: the parameters the index was built with
        params = dataclasses.replace(DEFAULT_PARAMS, wide_search=False)

    with caplog.at_level(logging.WARNING, logger="takedown_core.matching"), pytest.raises(AttributeError):
        matching.matcher_for(OldIndex(), "v1", digest=None, shards_per_function=0, shard_search=lambda: None,
                             max_seconds=60, max_false_match_rate=1e-4)  # (the stand-in has no shards)
    assert "takedown catalog build" in caplog.text and "+-6 %" in caplog.text
