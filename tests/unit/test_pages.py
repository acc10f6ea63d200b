"""Review pages and the alignment picture (takedown_core.pages)."""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from takedown_core.cases import Case, Source
from takedown_core.pages import (
    PROBLEMS,
    SECURITY_HEADERS,
    alignment_svg,
    chance_phrase,
    decided_page,
    evidence_summary,
    fmt_time,
    message_page,
    pitch_phrase,
    problem_page,
    review_page,
    speed_phrase,
)
from takedown_core.review_links import Decision

SVG_NS = "{http://www.w3.org/2000/svg}"
EXP = 1_767_268_800
NOW = EXP - 2 * 86400 - 3 * 3600

EVIL = "<script>alert(1)</script>"
EVIL_ATTR = '"><img src=x onerror=alert(2)>'


def landmarks(n: int, *, offset: float = 65.0, speed: float = 1.0) -> list[list[float]]:
    rng = random.Random(n)
    pts = sorted(12 + rng.random() * 40 for _ in range(n))
    return [[round(q, 3), round(offset + speed * q + rng.gauss(0, 0.05), 3)] for q in pts]


def make_case(*, title="Midnight Harbour (sped up)", uploader="nightcore_fan", url="https://www.youtube.com/watch?v=abc",
              work_title="Midnight Harbour", artist="The Lanterns", n_landmarks=120, platform="youtube") -> dict:
    case = Case.open(
        track_id="trk-0042",
        work={"title": work_title, "artist": artist, "isrc": "GBXYZ2400123", "owner": "Example Records Ltd",
              "territories": ["WW"]},
        source=Source(partner="scanco", platform=platform, url=url, uploader=uploader, title=title,
                      partner_ref="SC-1", bucket="partner-scanco", key="in/a.mp4", territory="DE"),
        evidence={"track_id": "trk-0042", "metadata": {}, "score": 8.398, "false_match_rate": 4e-9, "transform": "speed", "offset_s": 52.5,
                  "query_start_s": 12.0, "matched_duration_s": 40.0, "speed": 1.06, "pitch_semitones": 1.0,
                  "aligned_hashes": 120, "landmarks": landmarks(n_landmarks, offset=65.2, speed=1.06)},
        policy={"threshold": 20},
        submission="ab" * 32,
    )
    return case.to_dict()


REVIEW = {"review_id": "rv-7f3a", "reviewer": "alice@label.example", "expires_at": EXP, "round": 0}


def render(case=None, review=None, **kw) -> str:
    args = dict(case=case or make_case(), review=review or REVIEW, action_url="/review/rv-7f3a/decision",
                csrf="v1.csrf", exp=EXP, sig="v1.sig", now=NOW)
    args.update(kw)
    return review_page(**args)


class StrictHTML(HTMLParser):
    """Collects tags and checks nesting: every end tag closes the innermost open element."""

    VOID = {"meta", "link", "br", "hr", "img", "input", "source", "wbr", "area", "base", "col", "embed", "track"}
    SVG_SELF_CLOSING_OK = True

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.decl = None

    def handle_decl(self, decl):
        self.decl = decl

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> StrictHTML:
    p = StrictHTML()
    p.feed(page)
    p.close()
    assert p.decl and p.decl.lower() == "doctype html"
    assert not p.errors, p.errors
    assert not p.stack, f"unclosed: {p.stack}"
    return p


def assert_no_active_content(p: StrictHTML) -> None:
    names = [t for t, _ in p.tags]
    assert "script" not in names and "img" not in names and "iframe" not in names
    for tag, attrs in p.tags:
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
        for k in ("href", "src", "action", "formaction"):
            assert not (attrs.get(k) or "").strip().lower().startswith("javascript:"), (tag, attrs)


def svg_of(page: str) -> str:
    m = re.search(r"<svg\b.*?</svg>", page, re.S)
    assert m, "no inline svg"
    return m.group(0)


# --------------------------------------------------------------------------- review page


def test_given_a_case_when_the_review_page_renders_then_it_is_well_formed_html_without_scripts():
    p = parse(render())
    assert_no_active_content(p)


def test_given_a_case_when_the_review_page_renders_then_it_shows_the_evidence():
    page = render()
    text = " ".join(parse(page).text)
    for expected in ("YouTube", "https://www.youtube.com/watch?v=abc", "nightcore_fan", "Midnight Harbour (sped up)",
                     "The Lanterns", "GBXYZ2400123", "Example Records Ltd", "8.4", "120 matching landmarks",
                     "about 1 chance in 250 million that this is a coincidence",
                     "0:12–0:52", "1:05–1:47", "Plays 6% faster", "Pitch raised by 1.0 semitone",
                     "alice@label.example", "1 Jan 2026, 12:00 UTC", "in 2 days 3 hours"):
        assert expected.lower() in text.lower(), expected


def test_given_an_http_url_then_it_is_linked_with_noopener_noreferrer_nofollow():
    p = parse(render())
    links = [a for t, a in p.tags if t == "a" and not a["href"].startswith("#")]
    assert [a["href"] for a in links] == ["https://www.youtube.com/watch?v=abc"]
    assert set(links[0]["rel"].split()) == {"noopener", "noreferrer", "nofollow"}


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,<b>x</b>",
                                 "s3://bucket/key", " javascript:alert(1)", "https://", "http://a b"])
def test_given_a_non_http_url_then_it_is_shown_as_text_and_not_linked(url):
    page = render(make_case(url=url))
    p = parse(page)
    assert_no_active_content(p)
    assert [a["href"] for t, a in p.tags if t == "a"] == ["#decide"]
    assert url.strip() in " ".join(p.text)


def test_given_html_in_every_partner_field_when_rendered_then_it_stays_text():
    case = make_case(title=EVIL, uploader=EVIL_ATTR, work_title=EVIL_ATTR, artist=EVIL, platform=EVIL)
    case["source"]["partner_ref"] = EVIL_ATTR
    case["work"]["isrc"] = EVIL
    case["case_id"] = EVIL_ATTR
    review = {**REVIEW, "reviewer": EVIL_ATTR}
    page = render(case, review, csrf=EVIL_ATTR, sig=EVIL_ATTR, action_url='/x" onmouseover="alert(3)', error=EVIL)
    p = parse(page)
    assert_no_active_content(p)
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    text = " ".join(p.text)
    assert EVIL in text and EVIL_ATTR in text
    hidden = {a["name"]: a["value"] for t, a in p.tags if t == "input" and a.get("type") == "hidden"}
    assert hidden["csrf"] == EVIL_ATTR and hidden["sig"] == EVIL_ATTR
    # the <title> of the document is escaped as well
    assert re.search(r"<title>[^<]*</title>", page)


def test_given_the_review_page_then_both_forms_post_the_agreed_fields_to_the_action_url():
    p = parse(render())
    forms = [a for t, a in p.tags if t == "form"]
    assert len(forms) == 2
    assert all(f["method"] == "post" and f["action"] == "/review/rv-7f3a/decision#decide" for f in forms)
    buttons = [a for t, a in p.tags if t == "button"]
    assert [(b["type"], b["name"], b["value"]) for b in buttons] == [("submit", "decision", "approve"),
                                                                      ("submit", "decision", "reject")]
    names = {a.get("name") for t, a in p.tags if t in ("input", "textarea")}
    assert {"reason", "note", "csrf", "exp", "sig"} <= names
    hidden = [a for t, a in p.tags if t == "input" and a.get("type") == "hidden"]
    assert {(a["name"], a["value"]) for a in hidden} == {("csrf", "v1.csrf"), ("exp", str(EXP)), ("sig", "v1.sig")}


def test_given_the_reject_form_then_every_reason_is_a_labelled_radio_button():
    p = parse(render())
    radios = [a for t, a in p.tags if t == "input" and a.get("type") == "radio"]
    assert [r["value"] for r in radios] == ["not_our_work", "licensed", "fair_use", "insufficient_match", "other"]
    assert all(r["name"] == "reason" for r in radios)
    labels = {a.get("for") for t, a in p.tags if t == "label"}
    assert all(r["id"] in labels for r in radios)
    text = " ".join(p.text)
    for label in ("Not our work", "Licensed / authorised use", "Fair use or parody", "Insufficient match", "Other (explain)"):
        assert f" {label}" in text, label


def test_given_the_review_page_then_it_is_accessible_and_phone_friendly():
    page = render()
    p = parse(page)
    assert ('html', {'lang': 'en'}) in p.tags
    assert any(t == "meta" and a.get("name") == "viewport" for t, a in p.tags)
    assert any(t == "meta" and a.get("name") == "referrer" and a.get("content") == "no-referrer" for t, a in p.tags)
    assert ":focus-visible" in page and "@media" in page
    textareas = [a for t, a in p.tags if t == "textarea"]
    labels = {a.get("for") for t, a in p.tags if t == "label"}
    assert all(ta["id"] in labels for ta in textareas)
    assert not any(t == "link" for t, _ in p.tags), "no external stylesheets"
    assert "@import" not in page and "url(" not in page, "no external fetches from CSS"
    assert not any("src" in a for _, a in p.tags), "nothing is loaded from elsewhere"


def test_given_an_error_when_the_page_is_sent_back_then_the_error_is_shown_as_an_alert():
    p = parse(render(error="Choose a reason for rejecting."))
    assert any(a.get("role") == "alert" for _, a in p.tags)
    assert "Choose a reason for rejecting." in " ".join(p.text)


def test_given_a_later_round_then_the_page_says_it_was_asked_again():
    assert "Asked again" in render(review={**REVIEW, "round": 2})


def test_given_a_case_without_evidence_or_landmarks_then_the_page_still_renders():
    case = make_case()
    case["evidence"] = {}
    case["source"]["url"] = None
    p = parse(render(case))
    assert "No public URL" in " ".join(p.text)
    ET.fromstring(svg_of(render(case)))


def test_given_decimals_from_dynamodb_in_the_evidence_then_the_page_renders_them():
    from decimal import Decimal

    case = make_case()
    ev = case["evidence"]
    for k in ("score", "false_match_rate", "offset_s", "query_start_s", "matched_duration_s", "speed"):
        ev[k] = Decimal(str(ev[k]))
    ev["landmarks"] = [[Decimal(str(q)), Decimal(str(r))] for q, r in ev["landmarks"]]
    page = render(case)
    parse(page)
    assert "0:12–0:52" in page


def test_given_the_security_headers_then_scripts_are_not_allowed_and_the_referrer_is_not_sent():
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert SECURITY_HEADERS["Referrer-Policy"] == "no-referrer"
    assert SECURITY_HEADERS["Cache-Control"] == "no-store"


# --------------------------------------------------------------------------- alignment SVG


@pytest.mark.parametrize("n", [0, 1, 2, 200])
def test_given_n_landmarks_when_drawn_then_the_svg_is_well_formed_with_title_and_desc(n):
    svg = alignment_svg(landmarks(n))
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG_NS}svg"
    assert root.find(f"{SVG_NS}title").text and root.find(f"{SVG_NS}desc").text
    assert root.get("role") == "img" and root.get("aria-labelledby")
    assert len(root.findall(f"{SVG_NS}circle")) == n
    texts = [t.text for t in root.iter(f"{SVG_NS}text")]
    assert "Time in the upload (m:ss)" in texts and "Time in our recording (m:ss)" in texts
    ticks = [t.text for t in root.iter(f"{SVG_NS}text") if t.get("class") == "tick"]
    assert ticks and all(re.fullmatch(r"−?\d+:\d\d", t) for t in ticks), "ticks in m:ss, as the text writes times"


def test_given_no_landmarks_then_the_svg_says_so():
    root = ET.fromstring(alignment_svg([]))
    assert "No matching landmarks" in root.find(f"{SVG_NS}desc").text
    assert ET.fromstring(alignment_svg(None)) is not None


def test_given_one_landmark_then_no_fitted_line_is_drawn():
    root = ET.fromstring(alignment_svg([[10.0, 70.0]]))
    assert not [ln for ln in root.iter(f"{SVG_NS}line") if ln.get("stroke-dasharray")]


def test_given_aligned_landmarks_then_the_fitted_line_has_their_slope():
    root = ET.fromstring(alignment_svg(landmarks(50, speed=1.06)))
    fitted = [ln for ln in root.iter(f"{SVG_NS}line") if ln.get("stroke-dasharray")]
    assert len(fitted) == 1
    assert "slope 1.06" in fitted[0].find(f"{SVG_NS}title").text


def test_given_all_points_fit_in_the_plot_area():
    svg = alignment_svg(landmarks(200), width=600, height=240)
    root = ET.fromstring(svg)
    for c in root.iter(f"{SVG_NS}circle"):
        assert 0 <= float(c.get("cx")) <= 600 and 0 <= float(c.get("cy")) <= 240


def test_given_garbage_landmarks_then_they_are_skipped():
    svg = alignment_svg([[1, 2], "x", [None, 3], [float("nan"), 1], [4], {"a": 1}, [3, 4]])
    assert len(ET.fromstring(svg).findall(f"{SVG_NS}circle")) == 2


def test_given_the_same_x_for_every_landmark_then_no_line_and_no_error():
    root = ET.fromstring(alignment_svg([[5, 1], [5, 2], [5, 3]]))
    assert len(root.findall(f"{SVG_NS}circle")) == 3


# --------------------------------------------------------------------------- words for numbers


@pytest.mark.parametrize(
    "rate, words",
    [
        (4e-9, "about 1 chance in 250 million that this is a coincidence"),
        (1e-3, "about 1 chance in 1,000 that this is a coincidence"),
        (0.02, "about 1 chance in 50 that this is a coincidence"),
        (1e-14, "less than 1 chance in a trillion"),
        (0.0, "less than 1 chance in a trillion"),
        (0.7, "could easily be a coincidence"),
        (None, "not computed"),
    ],
)
def test_given_a_false_match_rate_then_it_reads_as_plain_english(rate, words):
    assert words in chance_phrase(rate)


@pytest.mark.parametrize(
    "speed, pitch, speed_words, pitch_words",
    [
        (1.0, 0.0, "Same speed", "Same pitch"),
        (1.25, 0.0, "Plays 25% faster", "Same pitch"),
        (0.9, -1.5, "Plays 10% slower", "Pitch lowered by 1.5 semitones"),
    ],
)
def test_given_speed_and_pitch_then_they_read_as_words(speed, pitch, speed_words, pitch_words):
    assert speed_words in speed_phrase(speed)
    assert pitch_words in pitch_phrase(pitch)


def test_given_times_then_they_read_as_minutes_and_seconds():
    assert [fmt_time(t) for t in (0, 5.4, 65, 3600 + 61, None)] == ["0:00", "0:05", "1:05", "1:01:01", "?"]


def test_given_unchanged_audio_then_the_summary_says_no_change():
    s = evidence_summary({"speed": 1.0, "pitch_semitones": 0.0, "offset_s": 30, "query_start_s": 0,
                          "matched_duration_s": 20, "false_match_rate": 1e-8, "score": 8.0, "transform": "none"})
    assert s["change"] == "No speed or pitch change"
    assert s["reference_segment"] == "0:30–0:50 (20 s)"
    assert s["score"] == "8"


@pytest.mark.parametrize(
    "transform, speed, pitch, words",
    [
        ("speed", 1.06, 1.0, "changed together"),
        ("time_stretch", 1.1, 0.0, "without changing the pitch"),
        ("pitch_shift", 1.0, 2.0, "without changing the tempo"),
    ],
)
def test_given_the_engine_transform_then_the_summary_explains_the_change(transform, speed, pitch, words):
    s = evidence_summary({"speed": speed, "pitch_semitones": pitch, "transform": transform, "score": 8.398})
    assert words in s["change"]
    assert s["score"] == "8.4"


# --------------------------------------------------------------------------- messages


@pytest.mark.parametrize("kind", ["info", "success", "warning", "error", "bogus"])
def test_given_a_message_when_rendered_then_it_is_escaped_and_well_formed(kind):
    page = message_page(f"Already decided {EVIL}", f"by {EVIL_ATTR} at T: approve", kind=kind, detail=EVIL)
    p = parse(page)
    assert_no_active_content(p)
    assert EVIL in " ".join(p.text)


# problem -> (status code, title, the kind of alert), as the review API promises them
PROBLEM_PAGES = {
    "malformed": (400, "This link is not valid", "error"),
    "forged": (403, "This link is not valid", "error"),
    "expired": (410, "This link has expired", "warning"),
    "csrf": (403, "This form is not valid", "error"),
    "wrong_reviewer": (403, "You are not the assigned reviewer", "error"),
    "not_found": (404, "Review not found", "error"),
    "already_decided": (409, "Already decided", "info"),
    "case_closed": (409, "This case is closed", "info"),
    "method": (405, "Not allowed", "error"),
    "page_method": (405, "Not allowed", "error"),
    "queue_expired": (410, "This link has expired", "warning"),
    "queue_method": (405, "Not allowed", "error"),
}


def test_given_the_problems_then_each_one_the_api_reports_has_a_page():
    assert sorted(PROBLEMS) == sorted(PROBLEM_PAGES)


@pytest.mark.parametrize("problem", sorted(PROBLEM_PAGES))
def test_given_each_problem_then_its_page_has_the_right_status(problem):
    status, page = problem_page(problem, detail="Decided by bob@label.example at 2025-03-01 12:00 UTC: approve")
    code, title, kind = PROBLEM_PAGES[problem]
    assert status == code
    p = parse(page)
    assert f"<title>{title}</title>" in page and f"<h1>{title}</h1>" in page
    assert any(t == "div" and a.get("class") == f"alert {kind}" for t, a in p.tags)
    assert "Decided by bob@label.example at 2025-03-01 12:00 UTC: approve" in " ".join(p.text)


def test_given_an_unknown_problem_then_it_is_reported_as_a_malformed_link():
    status, page = problem_page("no-such-problem")
    assert status == 400 and "<h1>This link is not valid</h1>" in page


def test_given_link_error_kinds_then_status_codes_match_the_api_contract():
    assert problem_page("expired")[0] == 410
    assert problem_page("forged")[0] == 403
    assert problem_page("malformed")[0] == 400
    assert problem_page("wrong_reviewer")[0] == 403
    assert problem_page("already_decided")[0] == 409


def test_given_a_recorded_decision_then_the_confirmation_page_says_what_was_decided():
    page = decided_page(decision=Decision("reject", "fair_use", None), reviewer="alice@label.example",
                        case=make_case(work_title=EVIL), at="2025-03-01T12:00:00Z")
    p = parse(page)
    assert_no_active_content(p)
    text = " ".join(p.text)
    assert "rejected" in text and "Fair use or parody" in text and EVIL in text
    approve = " ".join(parse(decided_page(decision={"decision": "approve"}, reviewer="a")).text)
    assert "approved" in approve
    sent = " ".join(parse(decided_page(decision={"decision": "approve"}, reviewer="a", case=make_case())).text)
    assert "Its notice goes to YouTube now" in sent and "web form" in sent
    off = {**make_case(url="https://items.monitor-a.example/k.ogg"), "location_problem": "not on YouTube"}
    for case in (off, make_case(url=None)):
        stops = " ".join(parse(decided_page(decision={"decision": "approve"}, reviewer="a", case=case)).text)
        assert "No notice can go for it" in stops and "goes to" not in stops


def test_given_near_duplicates_in_the_catalogue_then_the_page_names_them_escaped():
    from takedown_core.pages import review_page

    case = {"case_id": "case-1", "status": "IN_REVIEW", "work": {"title": "Song"}, "source": {"platform": "youtube"},
            "evidence": {"score": 40, "false_match_rate": 1e-40, "landmarks": [],
                         "others": [{"track_id": "song-remaster", "score": 31.5,
                                     "metadata": {"title": "Song <b>(Remastered)</b>"}}]}}
    page = review_page(case=case, review={"review_id": "r", "reviewer": "a@b.example", "expires_at": 2, "round": 0},
                       action_url="r/decision", csrf="c", exp=2, sig="s", now=1)
    assert "Also matched in our catalogue" in page
    assert "Song &lt;b&gt;(Remastered)&lt;/b&gt;" in page and "song-remaster" in page


def test_given_a_measured_content_share_then_the_page_says_how_much_of_the_upload_our_recording_accounts_for():
    case = make_case()
    ev = dict(case["evidence"])
    page = render(case={**case, "evidence": {**ev, "salient_confirmed": 47, "salient_peaks": 100}})
    assert "47% of the upload&#x27;s prominent sound" in page or "47% of the upload's prominent sound" in page
    assert "(47 of 100 peaks)" in page
    unmeasured = render(case=case)
    assert "prominent sound" not in unmeasured  # an older match without the measure shows no row


def test_given_an_upload_decoded_only_in_part_then_the_page_says_so_and_what_was_compared():
    case = make_case()
    case["evidence"]["query"] = {"decode": {"decoded_s": 28.87, "claimed_s": 30.0, "capped": False, "packets": 1100,
                                            "bad_packets": 2, "stream_changes": 0, "stopped_by": None,
                                            "downmix": "difference", "partial": True}}
    page = render(case)
    assert "<dt>Decoding</dt>" in page
    assert "2 damaged packets skipped" in page and "phase-inverted" in page
    assert "Only the decoded part was compared with our recording." in page
    ordinary = make_case()
    ordinary["evidence"]["query"] = {"decode": {**case["evidence"]["query"]["decode"], "bad_packets": 0,
                                                "decoded_s": 30.0, "downmix": "sum", "partial": False}}
    assert "<dt>Decoding</dt>" not in render(ordinary)


def test_given_a_location_off_the_platform_then_the_review_page_says_no_notice_can_go():
    case = {**make_case(url="https://items.monitor-a.example/k.ogg"),
            "location_problem": "https://items.monitor-a.example/k.ogg is not an address on YouTube (www.youtube.com)"}
    page = render(case)
    assert "This address is not on YouTube." in page and "cannot be sent as a notice" in page
    assert "Not on YouTube; opens in a new tab." in page and "Opens the platform" not in page
    assert "no notice can be sent for this upload" in page and "A takedown notice will be sent" not in page
    plain = render()
    assert "This address is not on" not in plain and "Opens the platform in a new tab." in plain
