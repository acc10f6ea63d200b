"""Which notice a case's kind may have: the invariant that keeps deepfakes from copyright notices.

A DMCA 512(c)(3) or DSA copyright notice asserts copyright in a recording that is in the
upload. A deepfake with none of our recordings in it can never be sent one: render_notice
needs a RecordingEvidence, which only a case of a copyright kind with evidence of a catalogue
match can give.
"""

from __future__ import annotations

import copy
import json

import pytest

from takedown_core import notices
from takedown_core.cases import Case, Source
from takedown_core.likeness import LikenessRules
from takedown_core.notices import (
    COPYRIGHT_KINDS,
    KINDS,
    LIKENESS_KINDS,
    NotACopyrightCase,
    NoticeIncomplete,
    RecordingEvidence,
    render_notice,
)
from tests.fakes import COMPLAINANT

NOW = "2026-03-01T12:00:00.000Z"
URL = "https://www.youtube.com/watch?v=fake01"
EVIL = "<script>alert(1)</script>"
US_ROUTE = {"channel": "email", "address": "privacy@youtube.example", "law": "US-ROP",
            "policy": "YouTube's impersonation policy",
            "basis": "the right of publicity, including Tennessee's ELVIS Act (Tenn. Code Ann. § 47-25-1101 et seq.)"}
EU_ROUTE = {"channel": "email", "address": "dsa@soundcloud.example", "law": "DSA",
            "basis": "the general right of personality under German law"}
YOUTUBE = {"name": "YouTube", "law": "DMCA", "channel": "email", "address": "copyright@youtube.example",
           "likeness": US_ROUTE}
SOUNDCLOUD = {"name": "SoundCloud", "law": "DSA", "channel": "email", "address": "copyright@soundcloud.example",
              "likeness": EU_ROUTE}
RULES = LikenessRules.from_config({
    "artists": [{"id": "lanterns", "name": "The Lanterns", "aliases": ["Lanterns"]}],
    "terms": {"en": ["ai", "ai cover", "rvc", "voice model"]},
})
RECORDING = {"track_id": "trk-0042", "score": 8.4, "false_match_rate": 4e-9, "offset_s": 52.5, "query_start_s": 12.0,
             "matched_duration_s": 40.0, "speed": 1.0, "pitch_semitones": 0.0, "landmarks": []}
REVIEWED = {"decision": "approve", "by": "alice@label.example", "at": "2026-03-01T11:00:00.000Z"}


def make_case(*, kind: str | None = "suspected_deepfake", evidence=None, title="Lanterns - Midnight Harbour (AI cover)",
              uploader="ai covers daily", tags=("rvc", "voice model"), url=URL, decision=REVIEWED,
              likeness: object = "find") -> dict:
    src = Source(partner="scanco", platform="youtube", url=url, uploader=uploader, title=title, partner_ref="SC-7",
                 bucket="b", key="k", description="An RVC voice model of The Lanterns.", tags=tuple(tags))
    is_copy = kind in COPYRIGHT_KINDS or kind is None
    case = Case.open(track_id="trk-0042" if is_copy else "", work={"title": "Midnight Harbour", "artist": "The Lanterns",
                                                                  "owner": "Example Records Ltd"} if is_copy else {},
                     source=src, evidence=copy.deepcopy(RECORDING if evidence is None and is_copy else evidence or {}),
                     policy={}, submission="cd" * 32).to_dict()
    if kind is not None:
        case["kind"] = kind
    if likeness == "find":
        signal = RULES.find({"title": title, "uploader": uploader, "description": src.description, "tags": list(tags)})
        likeness = signal.to_dict() if signal else None
    if likeness is not None:
        case["likeness"] = likeness
    case["decision"] = decision
    return json.loads(json.dumps(case))  # as stored: JSON types only


# --------------------------------------------------------------------------- the invariant


@pytest.fixture
def no_text(monkeypatch):
    """Any attempt to write a notice's text fails the test: a refusal must come first."""
    def refuse(*a, **kw):
        raise AssertionError("text was rendered for a case that must be refused first")

    monkeypatch.setattr(notices, "render", refuse)
    monkeypatch.setattr(notices, "_words", refuse)


EVIDENCE = {
    "recording": RECORDING,
    "none": {},
    "no_track": {k: v for k, v in RECORDING.items() if k != "track_id"},
    "blank_track": {**RECORDING, "track_id": "  "},
    "no_strength": {k: v for k, v in RECORDING.items() if k != "false_match_rate"},
    "strength_not_a_number": {**RECORDING, "false_match_rate": "tiny"},
    "negative_strength": {**RECORDING, "false_match_rate": -1},
    "not_a_document": ["trk-0042", 4e-9],
}


@pytest.mark.parametrize("law", ["DMCA", "DSA"])
@pytest.mark.parametrize("evidence", sorted(EVIDENCE))
@pytest.mark.parametrize("kind", [*KINDS, None, "bogus", ""])
def test_every_kind_law_and_evidence_a_copyright_notice_is_made_only_with_our_recording(kind, evidence, law):
    case = make_case(kind=kind, evidence=copy.deepcopy(EVIDENCE[evidence]))
    case["evidence"] = copy.deepcopy(EVIDENCE[evidence])  # exactly this, whatever the kind
    platform = {**(YOUTUBE if law == "DMCA" else SOUNDCLOUD), "law": law}
    allowed = (kind is None or kind in COPYRIGHT_KINDS) and evidence == "recording"
    if allowed:
        n = render_notice(case, law=law, complainant=COMPLAINANT, platform=platform, now=NOW)
        assert n.law == law and n.missing() == []
    else:
        with pytest.raises(NotACopyrightCase) as err:
            render_notice(case, law=law, complainant=COMPLAINANT, platform=platform, now=NOW)
        assert err.value.missing == ["recording_evidence"] and err.value.notice is None
        assert isinstance(err.value, NoticeIncomplete)  # whatever refuses an incomplete notice refuses this


@pytest.mark.usefixtures("no_text")
@pytest.mark.parametrize("law", ["DMCA", "DSA"])
def test_given_a_suspected_deepfake_then_no_copyright_notice_is_made_not_even_a_draft(law):
    case = make_case()
    assert case["evidence"] == {} and case["likeness"]
    with pytest.raises(NotACopyrightCase, match="holds none of our recordings"):
        render_notice(case, law=law, complainant=COMPLAINANT, platform=YOUTUBE, now=NOW)


@pytest.mark.usefixtures("no_text")
@pytest.mark.parametrize("law", ["DMCA", "DSA"])
@pytest.mark.parametrize("smuggled", [
    {"kind": "copy", "evidence": {}},
    {"kind": "copy", "evidence": {"false_match_rate": 4e-9, "score": 9.0}},      # no track
    {"kind": "copy", "evidence": {"track_id": "trk-0042"}},                     # no match strength
    {"kind": "partial", "evidence": {"track_id": None, "false_match_rate": 4e-9}},
    {"kind": None, "evidence": {}},                                           # an old case: "copy"
    {"kind": "suspected_deepfake", "evidence": RECORDING},                    # the kind decides too
    {"kind": "Copy", "evidence": RECORDING},                                  # kinds are exact
])
def test_given_a_hand_built_case_smuggling_a_deepfake_in_then_it_is_refused(smuggled, law):
    case = make_case()  # a deepfake's source, likeness and (empty) work
    case.update(copy.deepcopy(smuggled))
    if smuggled["kind"] is None:
        del case["kind"]
    with pytest.raises(NotACopyrightCase):
        render_notice(case, law=law, complainant=COMPLAINANT, platform=YOUTUBE, now=NOW)


def test_given_recording_evidence_then_it_can_only_be_made_from_a_case():
    with pytest.raises(TypeError, match="made from a case"):
        RecordingEvidence("copy", "trk-0042", 4e-9, None)  # type: ignore[arg-type]
    made = RecordingEvidence.of(make_case(kind="copy"))
    assert (made.kind, made.track_id, made.false_match_rate) == ("copy", "trk-0042", 4e-9)
    assert RecordingEvidence.of({k: v for k, v in make_case(kind="copy").items() if k != "kind"}).kind == "copy"


def test_given_the_kinds_then_the_copyright_and_likeness_kinds_are_as_designed():
    assert KINDS == ("copy", "partial", "suspected_deepfake", "suspected_ai_cover")
    assert COPYRIGHT_KINDS == {"copy", "partial", "suspected_ai_cover"}
    assert LIKENESS_KINDS == {"suspected_deepfake", "suspected_ai_cover"}


