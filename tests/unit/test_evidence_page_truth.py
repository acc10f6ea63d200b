"""The evidence page told truthfully (issue 18): the upload's whole length, the strength before
the score, a chart legible on a phone in m:ss, one time format, and a form error that sends the
page back with the error beside its field and the reviewer's choices kept. And the queue page."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from takedown_core.chart import (
    CHART_WIDTH,
    MIN_PHONE_FONT_PX,
    PHONE_COLUMN_PX,
    TICK_FONT,
    alignment_svg,
    effective_px,
    time_step,
    upload_timeline,
)
from takedown_core.pages import decided_page, queue_page
from takedown_core.review_links import DecisionInvalid, parse_decision
from takedown_core.wording import fmt_epoch, fmt_when
from tests.unit.test_pages import EVIL, EXP, NOW, SVG_NS, landmarks, make_case, parse, render

DECODE = {"decoded_s": 180.0, "claimed_s": 180.2, "capped": False, "packets": 100, "bad_packets": 0,
          "stream_changes": 0, "stopped_by": None, "downmix": "sum"}


def with_decode(case: dict, **decode) -> dict:
    case["evidence"]["query"] = {"decode": {**DECODE, **decode}}
    return case


# --------------------------------------------------------------------------- one time format


@pytest.mark.parametrize("value, words", [
    (EXP, "1 Jan 2026, 12:00 UTC"),
    (str(EXP), "1 Jan 2026, 12:00 UTC"),
    ("2026-12-01T14:05:09.123Z", "1 Dec 2026, 14:05 UTC"),
    ("2026-12-01T15:05:00+01:00", "1 Dec 2026, 14:05 UTC"),
    ("2026-03-09T07:30:00", "9 Mar 2026, 07:30 UTC"),
    (None, "?"),
    ("", "?"),
    ("yesterday", "yesterday"),
])
def test_given_a_moment_as_epoch_or_iso_then_it_is_written_one_way(value, words):
    assert fmt_when(value) == words


def test_given_an_epoch_then_fmt_epoch_writes_it_as_fmt_when_does():
    assert fmt_epoch(EXP) == fmt_when(EXP) == "1 Jan 2026, 12:00 UTC"


def test_given_a_decision_time_in_iso_then_the_decided_page_shows_it_readable_not_raw():
    page = decided_page(decision={"decision": "approve"}, reviewer="alice@label.example", case=make_case(),
                        at="2026-12-01T14:05:09.123Z")
    assert "at 1 Dec 2026, 14:05 UTC" in page and "2026-12-01T14:05" not in page


def test_given_the_review_page_then_its_expiry_is_in_the_same_format():
    assert "Link expires 1 Jan 2026, 12:00 UTC" in render()


# --------------------------------------------------------------------------- strength first, score for the audit


def test_given_a_match_then_the_strength_and_chance_lead_and_the_score_is_only_an_audit_line():
    page = render()
    text = " ".join(parse(page).text)
    strength = text.index("Very strong match")
    chance = text.index("About 1 chance in 250 million that this is a coincidence")
    audit = text.index("For the audit: match score 8.4")
    assert strength < chance < audit
    assert "capped at 300" in text
    # the number is not a headline any more
    assert 'class="score"' not in page and not re.search(r"<h\d[^>]*>[^<]*8\.4", page)


# --------------------------------------------------------------------------- the chart on a phone


def test_given_the_chart_on_a_360px_phone_then_its_tick_labels_are_at_least_11px():
    # the card's content column on a 360 px page, from review.css's paddings and borders
    assert PHONE_COLUMN_PX == 360 - 2 * 16 - 2 * (16 + 1)
    assert effective_px(TICK_FONT) >= MIN_PHONE_FONT_PX
    root = ET.fromstring(alignment_svg(landmarks(50)))
    assert root.get("viewBox") == f"0 0 {CHART_WIDTH} {root.get('height')}"
    sizes = {float(t.get("font-size")) for t in root.iter(f"{SVG_NS}text")}
    assert min(sizes) * PHONE_COLUMN_PX / CHART_WIDTH >= MIN_PHONE_FONT_PX


def test_given_a_wide_chart_then_the_effective_size_shrinks_with_it():
    assert effective_px(14, column_px=294, width=588) == pytest.approx(7.0)
    assert effective_px(14, column_px=1000, width=340) == 14  # never scaled up


def test_given_aligned_landmarks_then_the_fit_line_is_drawn_after_every_dot():
    root = ET.fromstring(alignment_svg(landmarks(80, speed=1.06)))
    children = list(root)
    fit = [i for i, el in enumerate(children) if el.get("class") == "fit"]
    dots = [i for i, el in enumerate(children) if el.tag == f"{SVG_NS}circle"]
    assert len(fit) == 1 and dots and fit[0] > max(dots)
    line = children[fit[0]]
    assert float(line.get("stroke-width")) >= 2.5 and line.get("stroke") not in ("#fff", "#ffffff", "none")


@pytest.mark.parametrize("span, step", [(4, 1), (13, 5), (40, 10), (75, 15), (200, 60), (900, 300), (3000, 600)])
def test_given_a_span_then_the_tick_step_is_one_a_listener_counts_in(span, step):
    assert time_step(span) == step


def test_given_a_long_upload_then_the_chart_ticks_read_as_minutes_and_seconds():
    pts = [[q, q + 30.0] for q in range(60, 200, 2)]
    root = ET.fromstring(alignment_svg(pts))
    ticks = [t.text for t in root.iter(f"{SVG_NS}text") if t.get("class") == "tick"]
    assert "1:00" in ticks and "3:00" in ticks and all(re.fullmatch(r"\d+:\d\d", t) for t in ticks)


# --------------------------------------------------------------------------- the upload's whole length


def test_given_a_decode_report_then_the_bar_spans_the_whole_upload_and_marks_our_part():
    t = upload_timeline(with_decode(make_case())["evidence"])
    assert t["length"] == "3:00" and t["duration"] == pytest.approx(180.2)
    assert [o["label"] for o in t["ours"]] == ["0:12–0:52"]
    assert t["ours"][0]["left"] == pytest.approx(12 / 180.2 * 100, abs=0.01)
    assert t["ours"][0]["width"] == pytest.approx(40 / 180.2 * 100, abs=0.01)
    assert t["unchecked"] is None
    assert t["ticks"][0] == ("0:00", 0.0) and t["ticks"][-1] == ("3:00", 100.0)
    assert "The upload is 3:00 long; 0:12–0:52 (22% of it) matched our recording." == t["sentence"]


def test_given_a_capped_decode_then_the_rest_is_shown_as_not_checked():
    t = upload_timeline(with_decode(make_case(), decoded_s=120.0, claimed_s=600.0, capped=True)["evidence"])
    assert t["length"] == "10:00"
    assert t["unchecked"]["label"] == "2:00–10:00" and t["unchecked"]["why"] == "past the decoding limit"
    assert "2:00–10:00 was not checked (past the decoding limit)" in t["sentence"]


def test_given_no_claimed_length_then_the_decoded_length_is_the_length():
    t = upload_timeline(with_decode(make_case(), decoded_s=61.5, claimed_s=None)["evidence"])
    assert t["length"] == "1:01" and t["unchecked"] is None


def test_given_no_decode_report_then_no_length_is_invented_and_the_page_says_so():
    case = make_case()
    assert upload_timeline(case["evidence"]) is None
    page = render(case)
    assert "The upload’s whole length is not in the evidence" in page and 'class="timeline"' not in page


def test_given_a_decode_report_then_the_page_draws_the_bar_with_its_words():
    page = render(with_decode(make_case()))
    p = parse(page)
    bars = [a for t, a in p.tags if t == "div" and a.get("class") == "timeline"]
    assert len(bars) == 1 and bars[0]["role"] == "img" and "3:00 long" in bars[0]["aria-label"]
    ours = [a for t, a in p.tags if t == "span" and a.get("class") == "ours"]
    assert ours and ours[0]["style"].startswith("left:6.66%")
    assert "Ours: 0:12–0:52" in " ".join(p.text)


# --------------------------------------------------------------------------- the form sent back


@pytest.mark.parametrize("form, field", [
    ({"decision": "reject", "reason": "other", "note": "  "}, "note"),
    ({"decision": "reject"}, "reason"),
    ({"decision": "reject", "reason": "bogus"}, "reason"),
    ({"decision": "approve", "note": "x" * 1001}, "note"),
    ({}, "decision"),
])
def test_given_a_bad_form_then_the_error_names_its_field(form, field):
    with pytest.raises(DecisionInvalid) as e:
        parse_decision(form)
    assert e.value.field == field


def test_given_other_without_explanation_then_the_error_is_beside_the_explanation_and_other_stays_chosen():
    page = render(error="Explain the reason for rejecting in the Explanation field.", error_field="note",
                  chosen={"decision": "reject", "reason": "other", "note": ""})
    p = parse(page)
    radios = {a["value"]: "checked" in a for t, a in p.tags if t == "input" and a.get("name") == "reason"}
    assert radios["other"] and not any(v for k, v in radios.items() if k != "other")
    # the message sits right before the reject form's explanation, which points at it
    reject = page[page.index('<form class="reject"'):]
    assert reject.index('id="note-error"') < reject.index('id="reject-note"')
    note = [a for t, a in p.tags if t == "textarea" and a["id"] == "reject-note"][0]
    assert note["aria-invalid"] == "true" and note["aria-describedby"] == "note-error"


def test_given_a_too_long_note_then_the_text_is_kept_escaped_in_the_form_it_came_from():
    long_note = "x" * 1100 + EVIL
    page = render(error="The note is too long (1125 characters; at most 1000).", error_field="note",
                  chosen={"decision": "approve", "note": long_note})
    p = parse(page)
    assert "<script>" not in page.split("</style>", 1)[1]
    texts = dict((a["id"], a) for t, a in p.tags if t == "textarea")
    assert texts["approve-note"].get("aria-invalid") == "true"
    approve = page[page.index('<form class="approve"'):page.index('<form class="reject"')]
    assert "x" * 1100 + "&lt;script&gt;" in approve and "The note is too long" in approve
    reject = page[page.index('<form class="reject"'):]
    assert "xxxx" not in reject  # the other form is left empty


def test_given_no_reason_then_the_error_is_beside_the_reasons_and_the_note_is_kept():
    page = render(error="Choose a reason for rejecting.", error_field="reason",
                  chosen={"decision": "reject", "reason": "", "note": "my words"})
    reject = page[page.index('<form class="reject"'):]
    assert reject.index('id="reason-error"') < reject.index('id="reason-not_our_work"')
    assert ">my words</textarea>" in reject


# --------------------------------------------------------------------------- the queue page


def test_given_waiting_cases_then_the_queue_lists_them_in_order_with_kind_work_platform_strength_and_time_left():
    first = {**make_case(work_title="First Song"), "created_at": "2026-01-01T01:00:00.000Z"}
    second = {**make_case(work_title="Second Song", platform="tiktok"), "kind": "partial",
              "created_at": "2026-01-01T02:00:00.000Z"}
    page = queue_page(reviewer="alice@label.example", now=NOW, expires_at=EXP, entries=[
        {"case": first, "link": "review/rv-1?exp=1&sig=v1.a", "expires_at": NOW + 3 * 3600},
        {"case": second, "link": "review/rv-2?exp=2&sig=v1.b", "expires_at": NOW + 86400 + 3600},
    ])
    p = parse(page)
    text = " ".join(p.text)
    assert text.index("First Song") < text.index("Second Song")
    assert "Copy · on YouTube" in text and "Partial match · on TikTok" in text
    assert "Very strong match" in text and "Time left: in 3 hours" in text and "in 1 day 1 hour" in text
    links = [a["href"] for t, a in p.tags if t == "a"]
    assert links == ["review/rv-1?exp=1&sig=v1.a", "review/rv-2?exp=2&sig=v1.b"]


def test_given_an_expired_case_link_then_the_queue_says_so_and_does_not_link_it():
    page = queue_page(reviewer="a", now=NOW, expires_at=EXP, entries=[
        {"case": make_case(), "link": None, "expires_at": NOW - 5}])
    assert "The link to this case has expired" in page and "<a " not in page


def test_given_an_empty_queue_then_it_says_nothing_is_waiting():
    page = queue_page(reviewer=EVIL, now=NOW, expires_at=EXP, entries=[])
    parse(page)
    assert "Nothing is waiting for your decision." in page and EVIL not in page
