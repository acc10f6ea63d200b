"""Which notice a case's kind may have: likeness complaints, and the invariant that keeps
them apart from copyright notices.

A DMCA 512(c)(3) or DSA copyright notice asserts copyright in a recording that is in the
upload. A deepfake with none of our recordings in it gets a likeness / impersonation complaint
instead, and can never be sent a copyright notice: render_notice needs a RecordingEvidence,
which only a case of a copyright kind with evidence of a catalogue match can give.
"""

from __future__ import annotations

import copy
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from takedown_core import notices
from takedown_core.cases import Case, Source
from takedown_core.likeness import LikenessRules
from takedown_core.notices import (
    COPYRIGHT_KINDS,
    ELEMENTS,
    KINDS,
    LAWS,
    LIKENESS_ELEMENTS,
    LIKENESS_KINDS,
    NoRoute,
    NotACopyrightCase,
    NotALikenessCase,
    NoticeIncomplete,
    RecordingEvidence,
    likeness_route,
    likeness_route_problems,
    render_likeness_complaint,
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
              likeness: object = "find", platform="youtube") -> dict:
    src = Source(partner="scanco", platform=platform, url=url, uploader=uploader, title=title, partner_ref="SC-7",
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


def complaint(case=None, platform=YOUTUBE, complainant=None):
    return render_likeness_complaint(case or make_case(), complainant=complainant or COMPLAINANT, platform=platform,
                                     now=NOW)


def missing_of(**kw) -> list[str]:
    with pytest.raises(NoticeIncomplete) as err:
        complaint(**kw)
    return err.value.missing


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
    with pytest.raises(NotACopyrightCase, match="holds none of our recordings; only a likeness complaint"):
        render_notice(case, law=law, complainant=COMPLAINANT, platform=YOUTUBE, now=NOW)


def test_given_a_suspected_deepfake_then_it_renders_a_likeness_complaint_instead():
    n = complaint(make_case())
    assert n.law == "LIKENESS-US-ROP" and n.missing() == []
    assert n.to == "privacy@youtube.example" and n.channel == "email"


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


# --------------------------------------------------------------------------- choosing the notice


def test_given_a_deepfake_on_a_platform_without_a_route_then_no_route_says_so_before_rendering():
    platform = {k: v for k, v in YOUTUBE.items() if k != "likeness"}
    for call in (lambda: likeness_route(platform), lambda: complaint(platform=platform)):
        with pytest.raises(NoRoute, match="YouTube has no route for likeness complaints") as err:
            call()
        assert err.value.missing == ["route"] and isinstance(err.value, NoticeIncomplete)


def test_given_an_unusable_route_then_no_route_names_the_problem():
    with pytest.raises(NoRoute, match="law must be one of"):
        complaint(platform={**YOUTUBE, "likeness": {**US_ROUTE, "law": "UK"}})


@pytest.mark.parametrize("kind", ["copy", "partial", None, "bogus"])
def test_given_a_case_not_opened_for_a_likeness_then_no_likeness_complaint(kind):
    with pytest.raises(NotALikenessCase):
        complaint(make_case(kind=kind))


def test_given_a_suspected_ai_cover_then_a_likeness_complaint_can_be_made_but_claims_no_fingerprint_result():
    n = complaint(make_case(kind="suspected_ai_cover"))
    assert "found none of them" not in n.text
    assert "found none of them" in complaint(make_case()).text


# --------------------------------------------------------------------------- the complaint's elements


def test_given_the_likeness_complaint_then_its_elements_and_citations_are_listed():
    assert LAWS["LIKENESS-US-ROP"] == LAWS["LIKENESS-DSA"] == LIKENESS_ELEMENTS == [
        "person_impersonated", "content_location", "impersonation_evidence", "synthetic_voice_statement",
        "legal_basis", "complainant", "good_faith_statement", "accuracy_statement", "signature"]
    assert all(cite == "" for _, cite in ELEMENTS["LIKENESS-US-ROP"].values())
    dsa = {name: cite for name, (_, cite) in ELEMENTS["LIKENESS-DSA"].items()}
    assert dsa["content_location"].endswith("Art. 16(2)(b)") and dsa["complainant"].endswith("Art. 16(2)(c)")
    assert dsa["accuracy_statement"].endswith("Art. 16(2)(d)") and dsa["legal_basis"].endswith("Art. 16(2)(a)")


def test_given_a_deepfake_then_every_element_says_what_it_must():
    n = complaint()
    f = n.fields
    assert set(f) == set(LIKENESS_ELEMENTS) and all(v.strip() for v in f.values())
    assert "The Lanterns (our artist reference: lanterns)" in f["person_impersonated"]
    assert "Example Records Ltd acts" in f["person_impersonated"]
    assert URL in f["content_location"] and "Uploaded by: ai covers daily" in f["content_location"]
    ev = f["impersonation_evidence"]
    assert "Its title names The Lanterns (as “Lanterns”) and says “AI cover”." in ev
    assert "The uploader's name includes “ai”." in ev
    assert "Its description names The Lanterns and says “RVC” and “voice model”." in ev
    assert "Its tags say “rvc” and “voice model”." in ev
    assert "A member of our rights team reviewed the upload" in ev
    assert "not a recording of The Lanterns" in f["synthetic_voice_statement"]
    assert "did not perform or record it" in f["synthetic_voice_statement"]
    assert "found none of them in the content" in f["synthetic_voice_statement"]
    assert US_ROUTE["basis"] in f["legal_basis"] and US_ROUTE["policy"] in f["legal_basis"]
    assert "On behalf of: Example Records Ltd, acting for The Lanterns" in f["complainant"]
    assert "rights@label.example" in f["complainant"]
    assert "good faith belief" in f["good_faith_statement"]
    assert "accurate and complete" in f["accuracy_statement"]
    assert f["signature"].startswith("/s/ Jane Doe") and "Date: 2026-03-01" in f["signature"]


@pytest.mark.parametrize("platform", [YOUTUBE, SOUNDCLOUD])
def test_given_a_likeness_complaint_then_it_says_it_is_not_a_copyright_notice_and_asserts_no_copyright(platform):
    n = complaint(platform=platform)
    flat = " ".join(n.text.split())
    assert "asserts no copyright" in flat
    for copyright_words in ("infring", "copyrighted work", "exclusive right", "Directive 2001/29", "sound recording"):
        assert copyright_words not in flat.replace("notification of copyright infringement under 17 U.S.C.", "")


def test_given_the_us_route_then_the_complaint_reads_in_order_without_citations():
    n = complaint()
    headings = [line for line in n.text.splitlines() if line[:1].isdigit()]
    assert headings == ["1. Person impersonated", "2. Location of the content", "3. What shows the impersonation",
                        "4. The voice is generated, not a recording of the artist", "5. Legal basis",
                        "6. Who complains, and for whom", "7. Statement of good faith",
                        "8. Statement of accuracy and authority", "9. Signature"]
    assert n.subject.startswith("Impersonation complaint: a generated imitation of the voice of The Lanterns (ref. case-")
    assert "not a notification of copyright infringement under 17 U.S.C. § 512(c)(3)" in " ".join(n.text.split())
    assert "<span" not in n.html.split("<h2", 1)[1].split("</h2>", 1)[0]


def test_given_the_dsa_route_then_the_complaint_is_an_art_16_notice_naming_the_national_basis():
    n = complaint(platform=SOUNDCLOUD)
    assert n.law == "LIKENESS-DSA" and n.to == "dsa@soundcloud.example"
    assert n.subject.startswith("Notice of illegal content (DSA Art. 16): impersonation of The Lanterns")
    assert "1. Person impersonated (Regulation (EU) 2022/2065, Art. 16(2)(a))" in n.text
    assert "6. Who complains, and for whom (Regulation (EU) 2022/2065, Art. 16(2)(c))" in n.text
    assert "7. Statement of good faith\n" in n.text
    assert "illegal under the general right of personality under German law" in n.fields["legal_basis"]
    assert "contrary to" not in n.fields["legal_basis"]  # no platform policy on this route


@pytest.mark.parametrize(("kw", "missing"), [
    ({"case": make_case(likeness=None)}, ["person_impersonated", "impersonation_evidence", "synthetic_voice_statement",
                                          "legal_basis", "complainant", "good_faith_statement", "accuracy_statement",
                                          "signature"]),
    ({"case": make_case(url=None)}, ["content_location"]),
    ({"case": make_case(url="javascript:alert(1)")}, ["content_location"]),
    ({"complainant": {**COMPLAINANT, "organisation": ""}}, ["person_impersonated", "complainant", "accuracy_statement"]),
    ({"complainant": {**COMPLAINANT, "signature": ""}}, ["signature"]),
    ({"complainant": {**COMPLAINANT, "email": "nobody"}}, ["complainant"]),
    ({"case": make_case(decision={"decision": "approve", "by": "policy:stay-down"})}, ["impersonation_evidence"]),
])
def test_given_an_element_that_cannot_be_filled_then_the_complaint_is_not_sendable(kw, missing):
    with pytest.raises(NoticeIncomplete) as err:
        complaint(**kw)
    assert err.value.missing == missing
    assert all(err.value.reasons.get(m) for m in missing)


def test_given_an_approval_by_policy_then_the_reason_says_a_person_must_decide():
    with pytest.raises(NoticeIncomplete) as err:
        complaint(make_case(decision={"decision": "approve", "by": "policy:stay-down"}))
    assert "only after a person's review" in err.value.reasons["impersonation_evidence"]


def test_given_a_likeness_dict_that_is_not_a_signal_then_the_reason_says_so():
    with pytest.raises(NoticeIncomplete) as err:
        complaint(make_case(likeness={"artist": {"id": "x", "name": "X"}, "names": [], "terms": []}))
    assert "no usable likeness signal" in err.value.reasons["impersonation_evidence"]


def test_given_no_decision_yet_then_the_draft_says_nothing_of_a_review():
    assert "reviewed" not in complaint(make_case(decision=None)).text


def test_given_hostile_words_in_the_upload_then_the_html_escapes_them():
    rules = LikenessRules.from_config({"artists": [{"id": "x", "name": "The <b>Lanterns</b>", "aliases": [EVIL]}],
                                       "terms": {"en": ["ai"]}})
    title = f"{EVIL} (AI)"
    case = make_case(title=title, likeness=rules.find({"title": title}).to_dict())
    n = complaint(case)
    tags = []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.append(tag)

    P().feed(n.html)
    assert "script" not in tags and "b" not in tags
    assert "&lt;script&gt;" in n.html and EVIL in n.text


def test_given_the_route_checks_then_a_good_route_has_no_problems_and_a_bad_one_each_named():
    assert likeness_route_problems(US_ROUTE) == [] and likeness_route_problems(EU_ROUTE) == []
    problems = likeness_route_problems({"channel": "fax", "address": "x", "law": "UK", "basis": "", "policy": 3, "x": 1})
    assert len(problems) == 6
    assert likeness_route_problems({**US_ROUTE, "law": ["US-ROP"], "address": ["a@b.c"]}) == [
        "address must be an email address", "law must be one of ['DSA', 'US-ROP'] (right of publicity, or a DSA Art. 16 notice)"]
    assert likeness_route_problems({**US_ROUTE, "basis": "x" * 501})[0].startswith("basis must be")


def _routes() -> list[tuple[str, str, dict]]:
    envs = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]["environments"]
    return [(env, pid, p) for env, cfg in envs.items() for pid, p in cfg["platforms"].items() if p.get("likeness")]


@pytest.mark.parametrize(("env", "pid", "platform"), _routes(), ids=[f"{e}-{p}" for e, p, _ in _routes()])
def test_given_each_configured_route_then_a_deepfake_gets_a_complete_complaint(env, pid, platform):
    url = f"https://{platform['location']['hosts'][0]}/item/fake01" if platform.get("location") else URL  # on the platform
    n = render_likeness_complaint(make_case(platform=pid, url=url), complainant=COMPLAINANT, platform=platform, now=NOW)
    assert n.missing() == [] and n.to == platform["likeness"]["address"]
    assert platform["likeness"]["basis"] in " ".join(n.text.split())
