"""A reviewer's real browser: headless Chromium opens the emailed link and decides.

Debian's Chromium, driven by Playwright (tests/workflow/browser.py: the fixture and the
screenshots kept under artifacts/browser/).
"""

from __future__ import annotations

import time

import pytest

from takedown_core.cases import Status
from takedown_local import driver
from takedown_local.runtime import LocalStack

from tests.workflow.browser import browser, screenshot  # noqa: F401 - the shared Chromium fixture
from tests.workflow.conftest import uploads_dir

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


def test_given_an_emailed_link_when_a_reviewer_approves_in_chromium_then_the_notice_is_sent(
        browser, tmp_path, media):  # noqa: F811 - the fixture imported above
    with LocalStack("dev") as stack:
        up = uploads_dir(tmp_path, media, ["sped.m4a"], {"sped.json": (
            '{"source_url": "https://www.tiktok.com/@x/video/1", "platform": "tiktok", '
            '"uploader": "<img src=x onerror=alert(1)>", "title": "<script>alert(1)</script> sped up"}')})
        summary = driver.run(stack, catalog=media["catalog"], uploads=up, decide="none")
        case_id = summary["uploads"][0]["case_id"]
        url = stack.review_links()[-1]["url"]

        page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        resp = page.goto(url)
        assert resp.status == 200
        # Evidence: source, work, score, and the alignment picture actually drawn.
        body = page.inner_text("body")
        assert "Reference 1" in body and "GB-EXR-26-00001" in body
        assert "<script>alert(1)</script> sped up" in body  # shown as text, never run
        svg = page.locator("svg").first
        box = svg.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 100
        assert page.locator("svg circle").count() >= 5  # matched landmarks plotted
        screenshot(page, "review-approve")
        # Opening the page (twice) decided nothing.
        page.reload()
        assert stack.repository().get_case(case_id).status == Status.IN_REVIEW

        page.get_by_role("button", name="Approve").first.click()
        page.wait_for_load_state()
        assert "Decision recorded" in page.inner_text("body")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and stack.repository().get_case(case_id).status != Status.NOTICE_SENT:
            time.sleep(0.2)
        assert stack.repository().get_case(case_id).status == Status.NOTICE_SENT
        assert dialogs == []  # no script from partner text ever ran

        # The same link again: a plain page that says it was decided, and nothing changes.
        resp = page.goto(url)
        assert resp.status == 409
        assert "Already decided" in page.inner_text("body")
        page.close()
