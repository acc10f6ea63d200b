"""Reviewer emails (takedown_core.emails)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from takedown_core.cases import Case, Source
from takedown_core.emails import digest_email, review_request_email

EXP = 1_767_268_800
URL = "https://review.label.example/review/rv-7f3a?exp=1767268800&sig=v1.abc"
EVIL = "<script>alert(1)</script>"
EVIL_ATTR = '"><img src=x onerror=alert(2)>'


def make_case(*, title="Midnight Harbour (sped up)", uploader="nightcore_fan", work_title="Midnight Harbour",
              url="https://www.youtube.com/watch?v=abc") -> dict:
    return Case.open(
        track_id="trk-0042",
        work={"title": work_title, "artist": "The Lanterns", "isrc": "GBXYZ2400123", "owner": "Example Records Ltd"},
        source=Source(partner="scanco", platform="youtube", url=url, uploader=uploader, title=title,
                      bucket="b", key="k"),
        evidence={"score": 8.398, "false_match_rate": 4e-9, "transform": "speed", "offset_s": 52.5, "query_start_s": 12.0,
                  "matched_duration_s": 40.0, "speed": 1.0, "pitch_semitones": 0.0, "aligned_hashes": 120,
                  "landmarks": [[12.0, 64.5], [30.0, 82.5]]},
        policy={},
        submission="ab" * 32,
    ).to_dict()


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def tags_of(html: str) -> Tags:
    t = Tags()
    t.feed(html)
    t.close()
    return t


def request(kind="request", case=None, round=0):
    return review_request_email(case or make_case(), url=URL, reviewer="alice@label.example", expires_at=EXP,
                                round=round, kind=kind)


def test_given_a_review_request_then_the_text_says_what_to_do_and_when_the_link_expires():
    subject, text, html = request()
    assert subject == "Review needed: Midnight Harbour on YouTube"
    assert URL in text
    assert "Approve" in text and "Reject" in text
    assert "does not decide anything" in text
    assert "expires at 1 Jan 2026, 12:00 UTC" in text
    assert "works once" in text
    assert "alice@label.example" in text


def test_given_a_review_request_then_the_html_links_only_to_the_review_page():
    _, _, html = request()
    t = tags_of(html)
    hrefs = [a["href"] for tag, a in t.tags if tag == "a"]
    assert hrefs == [URL]
    assert not any(tag in ("script", "img", "form") for tag, _ in t.tags)


def test_given_the_email_then_no_task_token_and_no_decision_link_appears():
    subject, text, html = request()
    for part in (subject, text, html):
        assert "token" not in part.lower()
        assert "decision=approve" not in part and "/decision" not in part


@pytest.mark.parametrize("kind, prefix", [("request", "Review needed"), ("reminder", "Reminder"),
                                          ("escalation", "Escalated to you")])
def test_given_each_kind_then_the_subject_says_which(kind, prefix):
    subject, text, _ = request(kind, round=1)
    assert subject.startswith(prefix)
    assert URL in text


def test_given_an_unknown_kind_then_it_is_refused():
    with pytest.raises(ValueError):
        request("nag")


def test_given_html_in_partner_text_then_the_email_escapes_it():
    case = make_case(title=EVIL, uploader=EVIL_ATTR, work_title=EVIL_ATTR, url="javascript:alert(1)")
    subject, text, html = request(case=case)
    t = tags_of(html)
    assert not any(tag in ("script", "img") for tag, _ in t.tags)
    assert not any(k.startswith("on") for _, a in t.tags for k in a)
    assert [a["href"] for tag, a in t.tags if tag == "a"] == [URL], "the uploader's URL is never a link"
    assert "&lt;script&gt;" in html
    assert EVIL in " ".join(t.text)


def test_given_newlines_in_partner_text_then_the_subject_stays_one_header_line():
    case = make_case(work_title="Song\r\nBcc: victim@example.com")
    subject, text, _ = request(case=case)
    assert "\n" not in subject and "\r" not in subject
    assert "Bcc: victim@example.com\n" not in text
    assert len(request(case=make_case(work_title="x" * 1000))[0]) <= 150


def test_given_several_pending_cases_then_the_digest_lists_each_with_its_link():
    cases = [(make_case(work_title=f"Song {i}"), f"https://r.example/review/rv-{i}?exp=1&sig=v1.x") for i in range(3)]
    cases.append((make_case(work_title="Song 3"), "https://r.example/review/rv-3?exp=1&sig=v1.x", EXP))
    subject, text, html = digest_email(cases, reviewer="alice@label.example")
    assert subject == "4 takedown reviews waiting for you"
    for i in range(4):
        assert f"https://r.example/review/rv-{i}?exp=1&amp;sig=v1.x" in html
        assert f"https://r.example/review/rv-{i}?exp=1&sig=v1.x" in text
        assert f"Song {i}" in text
    assert "1 Jan 2026, 12:00 UTC" in text
    assert "does not decide anything" in text


def test_given_one_pending_case_then_the_digest_subject_is_singular():
    subject, _, _ = digest_email([(make_case(), URL)], reviewer="a")
    assert subject == "1 takedown review waiting for you"


def test_given_html_in_a_digest_case_then_it_is_escaped():
    _, _, html = digest_email([(make_case(work_title=EVIL, uploader=EVIL_ATTR), URL)], reviewer=EVIL_ATTR)
    t = tags_of(html)
    assert not any(tag in ("script", "img") for tag, _ in t.tags)
    assert EVIL in " ".join(t.text)


def test_given_no_pending_cases_then_no_digest_is_made():
    with pytest.raises(ValueError):
        digest_email([], reviewer="a")
