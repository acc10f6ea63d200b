"""The evidence page and the reviewer's queue in a real browser (issue 18): headless Chromium
at a phone's width (360 px) and a desktop's (1280 px), on the local stack, from the links in
the captured mail. Each page is kept as a screenshot under artifacts/browser/."""

from __future__ import annotations

import re
import time
from urllib.parse import unquote, urlsplit

import pytest

from takedown_core.cases import Status
from takedown_local import driver
from takedown_local.runtime import LocalStack

from tests.workflow.browser import browser, screenshot  # noqa: F401 - the shared Chromium fixture
from tests.workflow.conftest import uploads_dir

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
QUEUE_LINE = re.compile(r"^Every case waiting for you, oldest first, with the time left on each: (\S+)$", re.M)


@pytest.fixture(scope="module")
def waiting(media, tmp_path_factory):
    """Two cases waiting for the same reviewer (one catalogue owner), and the links they were mailed."""
    with LocalStack("dev") as stack:
        up = uploads_dir(tmp_path_factory.mktemp("evidence"), media, ["excerpt.mp3", "sped.m4a"], {
            "excerpt.json": '{"source_url": "https://www.youtube.com/watch?v=ex1", "platform": "youtube", '
                            '"uploader": "first_uploader", "title": "an excerpt"}',
            "sped.json": '{"source_url": "https://www.tiktok.com/@x/video/2", "platform": "tiktok", '
                         '"uploader": "second_uploader", "title": "sped up"}'})
        summary = driver.run(stack, catalog=media["catalog"], uploads=up, decide="none")
        cases = [u["case_id"] for u in summary["uploads"] if u.get("case_id")]
        assert len(cases) == 2, summary
        mails = [m for m in stack.sent_mail() if m["subject"].startswith("Review needed")]
        assert len(mails) == 2 and all(m["text"] for m in mails)  # the text part is kept locally
        yield {"stack": stack, "cases": cases, "reviews": [link["url"] for link in stack.review_links()],
               "queue": QUEUE_LINE.search(mails[-1]["text"]).group(1)}


def _no_horizontal_scroll(page) -> None:
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.parametrize("width", [360, 1280])
def test_given_the_evidence_page_at_a_width_then_strength_leads_the_bar_spans_the_upload_and_ticks_are_legible(
        browser, waiting, width):  # noqa: F811
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        resp = page.goto(waiting["reviews"][0])
        assert resp.status == 200
        body = page.inner_text("body")
        # the strength and its chance first; the number only in the audit line, after them
        assert body.index("match") < body.index("chance in") < body.index("For the audit: match score")
        assert page.locator(".pill.big").inner_text() in ("Very strong match", "Strong match")
        # the upload's whole length, our part marked on it, with m:ss ticks
        bar = page.locator(".timeline .track").bounding_box()
        ours = page.locator(".timeline .ours").first.bounding_box()
        assert bar and ours and bar["width"] > 200 and 0 < ours["width"] <= bar["width"] + 1
        ticks = page.locator(".timeline .ticks span").all_inner_texts()
        assert ticks[0] == "0:00" and all(re.fullmatch(r"\d+:\d\d", t) for t in ticks)
        assert re.search(r"The upload is \d+:\d\d long", body)
        # the chart: every tick label in m:ss and at least 11 px tall on the screen, the fit line over the dots
        sizes = page.evaluate("""() => [...document.querySelectorAll('svg.alignment text.tick')].map(t => ({
            text: t.textContent, height: t.getBoundingClientRect().height,
            px: parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a}))""")
        assert sizes and all(re.fullmatch(r"\d+:\d\d", s["text"]) for s in sizes)
        assert min(s["px"] for s in sizes) >= 11, sizes
        assert min(s["height"] for s in sizes) >= 11, sizes
        order = page.evaluate("""() => { const kids = [...document.querySelector('svg.alignment').children];
            return {fit: kids.findIndex(k => k.classList.contains('fit')),
                    lastDot: kids.map(k => k.tagName).lastIndexOf('circle')}; }""")
        assert order["fit"] > order["lastDot"] > 0
        fit = page.locator("svg.alignment line.fit").bounding_box()
        assert fit and fit["width"] > 50
        # the times in one format, and a way back to the queue
        assert re.search(r"Link expires \d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d UTC", body)
        assert page.locator("a.queue-link").count() == 1
        _no_horizontal_scroll(page)
        screenshot(page, "evidence")
        assert waiting["stack"].repository().get_case(waiting["cases"][0]).status == Status.IN_REVIEW
    finally:
        page.close()


@pytest.mark.parametrize("width", [360, 1280])
def test_given_the_queue_link_from_the_mail_then_it_lists_both_cases_and_a_click_opens_the_evidence(
        browser, waiting, width):  # noqa: F811
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        resp = page.goto(waiting["queue"])
        assert resp.status == 200
        items = page.locator("ol.queue > li")
        assert items.count() == 2
        text = page.inner_text("ol.queue")
        assert "Reference 0" in text and "Reference 1" in text
        assert text.index("Reference 0") < text.index("Reference 1")  # oldest first: dropped in that order
        assert "on YouTube" in text and "on TikTok" in text and text.count("Time left: in ") == 2
        _no_horizontal_scroll(page)
        screenshot(page, "queue")
        page.locator("ol.queue > li").nth(1).get_by_role("link").click()
        page.wait_for_load_state()
        assert page.url.split("?")[0].endswith("/review/" + page.url.split("/review/")[1].split("?")[0])
        assert "Is this upload a copy of “Reference 1”" in page.inner_text("h1")
        assert "Your decision" in page.inner_text("body")
        # and back to the queue from the evidence page
        page.locator("a.queue-link").click()
        page.wait_for_load_state()
        assert page.locator("ol.queue > li").count() == 2
    finally:
        page.close()


def test_given_reject_other_without_explanation_then_the_page_comes_back_with_the_error_and_the_choice_kept(
        browser, waiting):  # noqa: F811
    stack, url = waiting["stack"], waiting["reviews"][1]
    case_id = stack.repository().get_review(unquote(urlsplit(url).path.rsplit("/", 1)[1])).case_id
    page = browser.new_page(viewport={"width": 360, "height": 800})
    try:
        assert page.goto(url).status == 200
        page.locator("#reason-other").check()
        with page.expect_navigation() as nav:
            page.get_by_role("button", name="Reject: no takedown").click()
        assert nav.value.status == 422
        assert page.url.endswith("#decide")
        body = page.inner_text("body")
        assert "This link is not valid" not in body
        error = page.locator("#note-error")
        assert "Explain the reason for rejecting in the Explanation field." in error.inner_text()
        assert page.locator("#reason-other").is_checked()
        assert page.locator("#reject-note").get_attribute("aria-invalid") == "true"
        # the error sits right above the explanation and is on screen (the page opened at the decision)
        e, note = error.bounding_box(), page.locator("#reject-note").bounding_box()
        assert e["y"] < note["y"] < e["y"] + 120
        assert page.evaluate("window.scrollY") > 0
        _no_horizontal_scroll(page)
        screenshot(page, "form-error")
        assert stack.repository().get_case(case_id).status == Status.IN_REVIEW
        # the kept choice and a written explanation are enough to decide
        page.locator("#reject-note").fill("We licensed this edit.")
        page.get_by_role("button", name="Reject: no takedown").click()
        page.wait_for_load_state()
        body = page.inner_text("body")
        assert "Decision recorded: rejected" in body
        assert re.search(r"at \d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d UTC", body) and "T" not in body.split(" at ")[1][:12]
        deadline = time.monotonic() + 30
        while stack.repository().get_case(case_id).status == Status.IN_REVIEW and time.monotonic() < deadline:
            time.sleep(0.2)
        assert stack.repository().get_case(case_id).decision["note"] == "We licensed this edit."
    finally:
        page.close()
