"""The Matcher port's contract, held by the fake and by the real engine alike (one index, and
the same index searched by fan-out): ingest is tested with the fake, so the fake must answer
exactly what the engine answers, in the same types, and nothing the engine never does."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audio_fixtures import synth_track, write_audio  # noqa: E402

from takedown_adapters.matcher import ShardIndexes, match_shards  # noqa: E402
from takedown_core.audio import DecodeError  # noqa: E402
from takedown_core.decode_report import DecodeReport  # noqa: E402
from takedown_core.engine import DEFAULT_PARAMS, Index, IndexWriter, Match, QueryResult  # noqa: E402
from takedown_core.evidence import evidence_document, query_document  # noqa: E402
from takedown_core.matching import EngineMatcher, FanOutMatcher, shard_groups  # noqa: E402
from takedown_core.ports import MatchAnswer, Matcher  # noqa: E402
from tests.fakes import FakeMatcher, make_match  # noqa: E402

SR = DEFAULT_PARAMS.sample_rate
RATE = 1e-4
MATCH_FIELDS = {"track_id", "metadata", "score", "false_match_rate", "offset_s", "query_start_s", "matched_duration_s",
                "speed", "pitch_semitones", "time_stretch", "transform", "aligned_hashes", "landmarks",
                "salient_share", "salient_peaks", "salient_confirmed", "kind", "share", "upload_span_s",
                "reference_span_s", "shared_with", "declined_reason"}
QUERY_FIELDS = {"query_duration_s", "query_hashes", "max_false_match_rate", "index_version", "index_sha256",
                "shards_searched", "decode"}
DECODE_FIELDS = {"decoded_s", "claimed_s", "capped", "packets", "bad_packets", "stream_changes", "stopped_by",
                 "downmix", "partial"}


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("contract")
    tracks = {f"t{i}": synth_track(700 + i, 30.0, SR) for i in range(4)}
    w = IndexWriter()
    for tid, x in tracks.items():
        w.add(tid, x, duration_s=x.size / SR, metadata={"title": tid.upper()})
    w.write(tmp / "v1", shard_count=2)
    paths = {
        "matching": write_audio(tmp / "matching.flac", tracks["t2"][4 * SR: 16 * SR], SR),
        "unrelated": write_audio(tmp / "unrelated.flac", synth_track(9999, 12.0, SR), SR),
        "not_audio": tmp / "not_audio.pdf",
    }
    paths["not_audio"].write_bytes(b"%PDF-1.7 " + b"x" * 4000)
    return tmp / "v1", paths


class _Store:
    bucket = "local"

    def __init__(self, root):
        self.root = root

    def fetch(self, version, shards=None, *, digest=None):
        return self.root


def _matchers(root, paths):
    through_json = lambda f: lambda r: json.loads(json.dumps(f(json.loads(json.dumps(r)))))  # noqa: E731
    fake = FakeMatcher({
        paths["matching"].read_bytes(): make_match("t2", metadata={"title": "T2"}),
        paths["unrelated"].read_bytes(): None,
        paths["not_audio"].read_bytes(): DecodeError("not_audio", "no audio stream in the upload"),
    })
    return {
        "fake": fake,
        "engine": EngineMatcher(Index.open(root, mmap=True), "v1", max_seconds=60, max_false_match_rate=RATE),
        "fan-out": FanOutMatcher(Index.open(root, mmap=True, shards=[]), "v1", groups=shard_groups(2, 1),
                                 search=through_json(lambda r: match_shards(ShardIndexes(_Store(root)), r)),
                                 max_seconds=60, max_false_match_rate=RATE),
    }


@pytest.fixture(params=["fake", "engine", "fan-out"])
def matcher(request, media):
    root, paths = media
    return _matchers(root, paths)[request.param], paths


def test_it_is_the_port(matcher):
    m, _ = matcher
    assert isinstance(m, Matcher)


def test_a_match_is_a_typed_answer_whose_stored_document_has_exactly_the_engines_fields(matcher):
    m, paths = matcher
    answer = m.match(str(paths["matching"]))
    assert isinstance(answer, MatchAnswer) and isinstance(answer.result, QueryResult)
    assert isinstance(answer.decode, DecodeReport) and isinstance(answer.index_version, str)
    assert isinstance(answer.shards_searched, int) and answer.shards_searched >= 1
    best = answer.result.best
    assert isinstance(best, Match) and best.track_id == "t2" and best.metadata == {"title": "T2"}
    assert 0 < best.false_match_rate <= RATE and best.score > 4
    assert all(isinstance(o, Match) for o in answer.result.others + answer.result.declined)
    doc = evidence_document(answer)
    assert set(doc) == MATCH_FIELDS | {"others", "query"}
    assert set(doc["query"]) - {"shard_invocations", "declined"} == QUERY_FIELDS
    assert set(doc["query"]["decode"]) == DECODE_FIELDS
    assert Match.from_dict(doc).to_dict() == {k: doc[k] for k in MATCH_FIELDS}  # it survives storage
    json.dumps(doc)  # and is JSON as it is


def test_no_match_is_an_answer_without_a_best_and_still_says_what_was_searched(matcher):
    m, paths = matcher
    answer = m.match(str(paths["unrelated"]))
    assert answer.result.best is None and answer.result.others == []
    assert evidence_document(answer) is None
    q = query_document(answer)
    assert set(q) - {"shard_invocations", "declined"} == QUERY_FIELDS and q["query_hashes"] > 0
    assert q["decode"]["partial"] is False and q["decode"]["decoded_s"] > 1.0


def test_media_that_is_not_audio_raises_the_decoders_error_with_its_reason(matcher):
    m, paths = matcher
    with pytest.raises(DecodeError) as e:
        m.match(str(paths["not_audio"]))
    assert e.value.reason == "not_audio"
