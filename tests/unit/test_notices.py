"""Takedown notices (takedown_core.notices): every legal element, or no notice at all."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from takedown_core.cases import Case, Source
from takedown_core.notices import ELEMENTS, LAWS, Notice, NoticeIncomplete, NotACopyrightCase, render_notice
from tests.fakes import COMPLAINANT

NOW = "2025-03-01T12:00:00.000Z"
URL = "https://www.youtube.com/watch?v=abc123"
EVIL = "<script>alert(1)</script>"

PLATFORM = {"name": "YouTube", "law": "DMCA", "channel": "email", "address": "copyright@youtube.example"}


def make_case(*, url=URL, title="Midnight Harbour (sped up)", work_title="Midnight Harbour", owner="Example Records Ltd",
              evidence=True) -> dict:
    return Case.open(
        track_id="trk-0042",
        work={"title": work_title, "artist": "The Lanterns", "isrc": "GBXYZ2400123", "owner": owner},
        source=Source(partner="scanco", platform="youtube", url=url, uploader="nightcore_fan", title=title,
                      partner_ref="SC-1", bucket="b", key="k"),
        evidence={"track_id": "trk-0042", "score": 8.398, "false_match_rate": 4e-9, "transform": "speed", "offset_s": 52.5,
                  "query_start_s": 12.0,
                  "matched_duration_s": 40.0, "speed": 1.0, "pitch_semitones": 0.0, "aligned_hashes": 120,
                  "landmarks": []} if evidence else {},
        policy={},
        submission="ab" * 32,
    ).to_dict()


def notice(law="DMCA", case=None, complainant=None, platform=None) -> Notice:
    return render_notice(case or make_case(), law=law, complainant=complainant or COMPLAINANT,
                         platform=platform or PLATFORM, now=NOW)


def missing_of(**kw) -> list[str]:
    with pytest.raises(NoticeIncomplete) as err:
        notice(**kw)
    return err.value.missing


# --------------------------------------------------------------------------- DMCA


DMCA_ELEMENTS = ["signature", "copyrighted_work", "infringing_material", "contact_information",
                 "good_faith_statement", "accuracy_and_authority_statement"]
DSA_ELEMENTS = ["explanation", "exact_location", "submitter", "bona_fide_statement"]
# Each element's heading and citation, in the order a notice reads (a DMCA notice ends with its signature).
SECTIONS = {
    "DMCA": [
        "1. Copyrighted work (17 U.S.C. § 512(c)(3)(A)(ii))",
        "2. Infringing material and where to find it (17 U.S.C. § 512(c)(3)(A)(iii))",
        "3. Contact information of the complaining party (17 U.S.C. § 512(c)(3)(A)(iv))",
        "4. Statement of good faith (17 U.S.C. § 512(c)(3)(A)(v))",
        "5. Statement of accuracy and authority, under penalty of perjury (17 U.S.C. § 512(c)(3)(A)(vi))",
        "6. Signature of the authorised person (17 U.S.C. § 512(c)(3)(A)(i))",
    ],
    "DSA": [
        "1. Why this content is illegal (Regulation (EU) 2022/2065, Art. 16(2)(a))",
        "2. Exact electronic location of the content (Regulation (EU) 2022/2065, Art. 16(2)(b))",
        "3. Name and email address of the submitter (Regulation (EU) 2022/2065, Art. 16(2)(c))",
        "4. Statement of bona fide belief (Regulation (EU) 2022/2065, Art. 16(2)(d))",
    ],
}
BOTH_LAWS = ["DMCA", "DSA"]


def test_given_the_laws_then_each_lists_its_statutory_elements():
    assert {law: LAWS[law] for law in ("DMCA", "DSA")} == {"DMCA": DMCA_ELEMENTS, "DSA": DSA_ELEMENTS}
    assert set(LAWS) == {"DMCA", "DSA", "LIKENESS-US-ROP", "LIKENESS-DSA"}  # the likeness complaints: test_notice_kinds
    assert ELEMENTS["DMCA"] == {
        "signature": ("Signature of the authorised person", "17 U.S.C. § 512(c)(3)(A)(i)"),
        "copyrighted_work": ("Copyrighted work", "17 U.S.C. § 512(c)(3)(A)(ii)"),
        "infringing_material": ("Infringing material and where to find it", "17 U.S.C. § 512(c)(3)(A)(iii)"),
        "contact_information": ("Contact information of the complaining party", "17 U.S.C. § 512(c)(3)(A)(iv)"),
        "good_faith_statement": ("Statement of good faith", "17 U.S.C. § 512(c)(3)(A)(v)"),
        "accuracy_and_authority_statement": ("Statement of accuracy and authority, under penalty of perjury",
                                             "17 U.S.C. § 512(c)(3)(A)(vi)"),
    }
    assert ELEMENTS["DSA"] == {
        "explanation": ("Why this content is illegal", "Regulation (EU) 2022/2065, Art. 16(2)(a)"),
        "exact_location": ("Exact electronic location of the content", "Regulation (EU) 2022/2065, Art. 16(2)(b)"),
        "submitter": ("Name and email address of the submitter", "Regulation (EU) 2022/2065, Art. 16(2)(c)"),
        "bona_fide_statement": ("Statement of bona fide belief", "Regulation (EU) 2022/2065, Art. 16(2)(d)"),
    }


@pytest.mark.parametrize("law", BOTH_LAWS)
def test_given_a_notice_then_its_text_gives_every_element_under_its_heading_and_citation_in_order(law):
    n = notice(law, platform={**PLATFORM, "law": law})
    headings = [line for line in n.text.splitlines() if line[:1].isdigit()]
    assert headings == SECTIONS[law]
    for heading in SECTIONS[law]:
        number, rest = heading.split(". ", 1)
        title, cite = rest[:-1].split(" (", 1)
        assert f"{number}. {title} <span" in n.html and f"({cite})</span>" in n.html


def test_given_a_complete_case_when_a_dmca_notice_is_rendered_then_every_element_is_present():
    n = notice("DMCA")
    assert n.missing() == []
    assert set(n.fields) == set(DMCA_ELEMENTS)
    f = n.fields
    # (i) signature of a person authorised to act on behalf of the owner
    assert "/s/ Jane Doe" in f["signature"] and "on behalf of Example Records Ltd" in f["signature"]
    # (ii) the copyrighted work
    assert "Midnight Harbour" in f["copyrighted_work"] and "GBXYZ2400123" in f["copyrighted_work"]
    # (iii) the infringing material and where to find it, with the match evidence
    assert URL in f["infringing_material"]
    assert "0:12–0:52" in f["infringing_material"] and "1:04–1:44" in f["infringing_material"]
    # the raw score means nothing to a reader: what was matched, where, for how long, and the odds
    assert "match score" not in f["infringing_material"] and "(40 s)" in f["infringing_material"]
    assert "1 chance in 250 million" in f["infringing_material"]
    # (iv) contact information
    for v in ("1 Harbour Street", "+44 20 7946 0000", "rights@label.example"):
        assert v in f["contact_information"]
    # (v) good faith
    assert "good faith belief" in f["good_faith_statement"]
    assert "not authorized by the copyright owner, its agent, or the law" in f["good_faith_statement"]
    # (vi) accuracy, and authority under penalty of perjury
    assert "accurate" in f["accuracy_and_authority_statement"]
    assert "under penalty of perjury" in f["accuracy_and_authority_statement"]
    assert "authorized to act on behalf of Example Records Ltd" in f["accuracy_and_authority_statement"]


def test_given_a_dmca_notice_then_the_text_contains_every_element_and_is_addressed():
    n = notice("DMCA")
    assert n.law == "DMCA" and n.to == "copyright@youtube.example" and n.channel == "email"
    assert n.case_id.startswith("case-") and n.case_id in n.subject
    assert "DMCA" in n.subject and "17 U.S.C. § 512(c)(3)" in n.text
    for element in DMCA_ELEMENTS:
        for line in n.fields[element].splitlines():
            assert line in n.text
    assert "2025-03-01" in n.text
    assert n.to_dict()["fields"] == n.fields


@pytest.mark.parametrize("url", [None, "", "javascript:alert(1)", "s3://bucket/key", "ftp://x/y"])
def test_given_no_http_url_to_locate_the_material_then_the_dmca_notice_is_incomplete(url):
    assert missing_of(law="DMCA", case=make_case(url=url)) == ["infringing_material"]


def test_given_no_signature_then_the_dmca_notice_is_incomplete():
    with pytest.raises(NoticeIncomplete) as err:
        notice("DMCA", complainant={**COMPLAINANT, "signature": "  "})
    assert err.value.missing == ["signature"]
    assert "signature" in err.value.reasons["signature"]
    assert err.value.notice is not None and err.value.notice.missing() == ["signature"]


@pytest.mark.parametrize("field", ["address", "phone", "email"])
def test_given_missing_contact_details_then_the_dmca_notice_is_incomplete(field):
    assert missing_of(law="DMCA", complainant={**COMPLAINANT, field: ""}) == ["contact_information"]


def test_given_an_invalid_contact_email_then_the_dmca_notice_is_incomplete():
    assert missing_of(law="DMCA", complainant={**COMPLAINANT, "email": "not-an-email"}) == ["contact_information"]


def test_given_no_owner_anywhere_then_authority_cannot_be_stated():
    missing = missing_of(law="DMCA", case=make_case(owner=None), complainant={**COMPLAINANT, "organisation": ""})
    assert "accuracy_and_authority_statement" in missing and "signature" in missing


def test_given_no_owner_in_the_work_then_the_complainant_organisation_is_the_owner():
    n = notice("DMCA", case=make_case(owner=None))
    assert "on behalf of Example Records Ltd" in n.fields["accuracy_and_authority_statement"]


def test_given_a_work_without_title_then_the_notice_is_incomplete():
    assert "copyrighted_work" in missing_of(law="DMCA", case=make_case(work_title=""))


def test_given_several_gaps_then_all_of_them_are_reported():
    missing = missing_of(law="DMCA", case=make_case(url=None), complainant={**COMPLAINANT, "signature": "", "phone": ""})
    assert missing == ["signature", "infringing_material", "contact_information"]


def test_given_a_platform_without_address_then_the_notice_is_not_sendable():
    assert missing_of(law="DMCA", platform={**PLATFORM, "address": ""}) == ["recipient"]


# --------------------------------------------------------------------------- DSA


def test_given_a_complete_case_when_a_dsa_notice_is_rendered_then_every_element_is_present():
    n = notice("DSA")
    assert n.missing() == []
    f = n.fields
    assert set(f) == set(DSA_ELEMENTS)
    # (a) substantiated explanation why the content is illegal, with the evidence
    assert "illegal" in f["explanation"] and "without authorisation" in f["explanation"]
    assert "Midnight Harbour" in f["explanation"] and "Example Records Ltd" in f["explanation"]
    assert "0:12–0:52" in f["explanation"] and "about 1 chance in 250 million" in f["explanation"]
    # (b) exact location plus additional identification
    assert URL in f["exact_location"] and "nightcore_fan" in f["exact_location"]
    # (c) name and email address of the submitter
    assert "Jane Doe" in f["submitter"] and "rights@label.example" in f["submitter"]
    # (d) bona fide statement
    assert "bona fide belief" in f["bona_fide_statement"] and "accurate and complete" in f["bona_fide_statement"]
    assert "2022/2065" in n.subject + n.text and "Art. 16" in n.subject
    assert [line for line in n.text.splitlines() if line[:1].isdigit()] == SECTIONS["DSA"]


def test_given_no_url_then_the_dsa_notice_is_incomplete():
    assert missing_of(law="DSA", case=make_case(url=None)) == ["exact_location"]


@pytest.mark.parametrize(("law", "element"), [("DMCA", "infringing_material"), ("DSA", "exact_location")])
def test_given_a_url_off_the_platform_then_the_notice_is_incomplete(law, element):
    platform = {**PLATFORM, "location": {"hosts": ["www.youtube.com", "youtu.be"]}}
    case = make_case(url="https://items.monitor-a.example/k.ogg")
    with pytest.raises(NoticeIncomplete) as err:
        notice(law, case=case, platform=platform)
    assert err.value.missing == [element] and "not an address on YouTube" in err.value.reasons[element]
    assert notice(law, platform=platform).missing() == []  # its own URL is on youtube.com
    # the notice function's registry has no location rules: what ingest recorded on the case counts
    recorded = {**case, "location_problem": "https://items.monitor-a.example/k.ogg is not an address on YouTube"}
    with pytest.raises(NoticeIncomplete) as err:
        notice(law, case=recorded)
    assert err.value.missing == [element] and err.value.reasons[element] == recorded["location_problem"]


def test_given_no_email_then_the_dsa_notice_is_incomplete():
    assert missing_of(law="DSA", complainant={**COMPLAINANT, "email": ""}) == ["submitter"]


@pytest.mark.parametrize("law", BOTH_LAWS)
def test_given_no_evidence_then_no_copyright_notice_is_made_at_all(law):
    """Without evidence that our recording is in the upload there is nothing to substantiate;
    it is refused before any element is written (test_notice_kinds has every kind and law)."""
    with pytest.raises(NotACopyrightCase) as err:
        notice(law, case=make_case(evidence=False))
    assert err.value.missing == ["recording_evidence"] and err.value.notice is None


def test_given_no_signature_then_a_dsa_notice_is_still_complete():
    # Art. 16(2) asks for name and email, not a signature.
    assert notice("DSA", complainant={**COMPLAINANT, "signature": ""}).missing() == []


# --------------------------------------------------------------------------- both


def test_given_an_unknown_law_then_it_is_refused():
    with pytest.raises(ValueError):
        notice("UK-CDPA")


@pytest.mark.parametrize("law", BOTH_LAWS)
def test_given_html_in_partner_text_then_the_notice_html_escapes_it(law):
    n = notice(law, case=make_case(title=EVIL, work_title='Song "<b>x</b>"'))
    assert EVIL in n.text  # the text part is plain text
    tags = []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.append(tag)

    P().feed(n.html)
    assert "script" not in tags and "b" not in tags
    assert "&lt;script&gt;" in n.html
    assert "\n" not in n.subject


@pytest.mark.parametrize("law", BOTH_LAWS)
def test_given_a_human_approval_then_the_notice_says_the_match_was_reviewed(law):
    case = make_case()
    case["decision"] = {"decision": "approve", "by": "alice@label.example"}
    n = notice(law, case=case)
    assert "reviewed this evidence" in n.text
    assert "reviewed this evidence" not in notice(law).text


# --------------------------------------------------------------------------- how it was approved (issue 13)

POLICY_DECISION = {
    "decision": "approve", "by": "policy:stay-down", "at": "2026-11-02T09:00:00.000Z",
    "basis": {"case_id": "case-earlier", "location": "https://www.youtube.com/watch?v=first", "platform": "youtube",
              "status": "NOTICE_SENT", "notice_sent_at": "2026-10-20T10:00:00.000Z",
              "reviewed": {"case_id": "case-earlier", "at": "2026-10-20T09:30:00.000Z"}},
}


@pytest.mark.parametrize("law", BOTH_LAWS)
def test_given_a_stay_down_approval_then_the_notice_says_how_it_was_approved_and_claims_no_review(law):
    """Found by the trial: a fast-tracked re-upload's notice said a person had reviewed it."""
    case = make_case()
    case["decision"] = POLICY_DECISION
    text = notice(law, case=case).text
    flat = " ".join(text.split())
    assert "reviewed this evidence before this notice was sent" not in flat
    assert "stay-down policy" in flat and "without a new review of this upload" in flat
    assert "byte-for-byte copy of a file that a member of our rights team reviewed on 2026-10-20" in flat
    assert "case-earlier" in flat and "https://www.youtube.com/watch?v=first" in flat


@pytest.mark.parametrize("law", BOTH_LAWS)
def test_given_a_chain_of_stay_down_cases_then_the_notice_names_the_reviewed_case_and_the_last_takedown(law):
    case = make_case()
    case["decision"] = {**POLICY_DECISION, "basis": {**POLICY_DECISION["basis"], "case_id": "case-second",
                                                     "reviewed": {"case_id": "case-first", "at": "2026-10-01T00:00:00Z"}}}
    flat = " ".join(notice(law, case=case).text.split())
    assert "reviewed on 2026-10-01 (our reference case-first)" in flat and "(our reference case-second)" in flat


@pytest.mark.parametrize("law", BOTH_LAWS)
def test_given_a_policy_approval_without_a_recorded_basis_then_the_notice_says_policy_only(law):
    case = make_case()
    case["decision"] = {"decision": "approve", "by": "policy:stay-down"}
    flat = " ".join(notice(law, case=case).text.split())
    assert "approved under our stay-down policy, without a new review" in flat
    assert "member of our rights team reviewed" not in flat


@pytest.mark.parametrize("law", BOTH_LAWS)
def test_given_a_case_with_a_canonical_location_then_the_notice_points_at_it_and_keeps_the_reported_url(law):
    case = make_case(url="https://youtu.be/abc123?t=30")
    case["location"] = "https://www.youtube.com/watch?v=abc123"
    text = notice(law, case=case).text
    assert "URL: https://www.youtube.com/watch?v=abc123" in text
    assert "As reported to us: https://youtu.be/abc123?t=30" in text


@pytest.mark.parametrize("law", BOTH_LAWS)
def test_given_a_phone_wide_reader_then_long_references_and_urls_wrap_instead_of_running_off(law):
    """Seen at 360 px: the subject's case reference ran past the right edge of the page."""
    assert "overflow-wrap:anywhere" in notice(law).html.split("<body", 1)[1].split(">", 1)[0]


def test_a_signature_configured_between_slashes_is_not_prefixed_again():
    from takedown_core.render import ENV

    conformed = ENV.filters["conformed"]
    assert conformed("/Rights Desk/, Example Records Ltd") == "/Rights Desk/, Example Records Ltd"
    assert conformed("/s/ Jane Doe") == "/s/ Jane Doe" and conformed("Jane Doe") == "/s/ Jane Doe"
    n = notice(complainant={**COMPLAINANT, "signature": "/Jane Doe/"})
    assert "/Jane Doe/" in n.fields["signature"] and "/s/ /" not in n.text


@pytest.mark.parametrize("law", ["DMCA", "DSA"])
def test_the_html_notice_reads_at_phone_width(law):
    assert '<meta name="viewport" content="width=device-width,initial-scale=1">' in notice(law).html
