"""The stored evidence read once, typed (takedown_core.evidence.MatchEvidence)."""

from __future__ import annotations

from decimal import Decimal

from takedown_core.decode_report import DecodeReport
from takedown_core.evidence import MatchEvidence, OtherMatch, bound_evidence


def test_what_dynamodb_gives_back_reads_as_the_json_that_went_in():
    doc = {"track_id": "trk-1", "score": 8.4, "false_match_rate": 4e-9, "offset_s": 52.5, "query_start_s": 1.25,
           "matched_duration_s": 9.5, "speed": 1.06, "pitch_semitones": 1.0, "transform": "speed",
           "aligned_hashes": 120, "salient_peaks": 50, "salient_confirmed": 31,
           "landmarks": [[1.0, 53.56], [2.5, 55.15]], "others": [{"track_id": "trk-2", "score": 5.1,
                                                                   "metadata": {"title": "Live"}}],
           "query": {"decode": {"decoded_s": 9.5, "claimed_s": 10.0, "capped": False, "packets": 90,
                                "bad_packets": 0, "stream_changes": 0, "stopped_by": None, "downmix": "sum",
                                "partial": False}},
           "full_evidence": "s3://evidence/cases/c/x.json"}
    stored = {k: (Decimal(str(v)) if isinstance(v, float) else v) for k, v in doc.items()}
    stored["landmarks"] = [[Decimal("1.0"), Decimal("53.56")], [Decimal("2.5"), Decimal("55.15")]]
    a, b = MatchEvidence.from_document(doc), MatchEvidence.from_document(stored)
    assert a == b
    assert (a.score, a.false_match_rate, a.speed, a.aligned_hashes) == (8.4, 4e-9, 1.06, 120.0)
    assert a.landmarks == ((1.0, 53.56), (2.5, 55.15))
    assert a.others == (OtherMatch("trk-2", "Live", 5.1),)
    assert a.decode == DecodeReport(9.5, 10.0, False, 90, 0, 0, None, "sum")
    assert a.full_evidence == "s3://evidence/cases/c/x.json"


def test_missing_or_malformed_fields_are_none_never_an_error():
    ev = MatchEvidence.from_document({"score": "n/a", "speed": float("nan"), "landmarks": [[1, None], "x", [2, 3]],
                                      "others": ["junk", {"track_id": "t"}], "query": {"decode": {"nope": 1}},
                                      "transform": None, "aligned_hashes": True})
    assert (ev.score, ev.speed, ev.transform, ev.aligned_hashes) == (None, None, "", None)
    assert ev.landmarks == ((2.0, 3.0),) and ev.others == (OtherMatch("t", "t", None),)
    assert MatchEvidence.from_document(None) == MatchEvidence.from_document({}) == MatchEvidence()


def test_the_bounded_document_a_case_keeps_reads_back_whole():
    full = {"track_id": "trk-1", "score": 9.0, "false_match_rate": 1e-9, "landmarks": [[i, i + 3.0] for i in range(300)],
            "others": [{"track_id": f"o{i}", "score": 5.0 - i / 10, "metadata": {"title": f"O{i}"}} for i in range(12)],
            "query": {"query_hashes": 10}}
    ev = MatchEvidence.from_document(bound_evidence(full, ref="s3://e/x.json"))
    assert len(ev.landmarks) == 200 and [o.track_id for o in ev.others][:2] == ["o0", "o1"] and len(ev.others) == 10
    assert ev.full_evidence == "s3://e/x.json"
