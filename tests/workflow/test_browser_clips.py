"""A reviewer's real browser hears the clips: headless Chromium opens the emailed link, and the
evidence page's audio elements load their clips from the (loopback) S3 origin the CSP names,
at a phone's width and a desktop's. Screenshots are kept under artifacts/browser/."""

from __future__ import annotations

import math

import pytest

from takedown_local import driver
from takedown_local.runtime import LocalStack

from tests.workflow.conftest import uploads_dir
from tests.workflow.browser import browser, screenshot  # noqa: F401 - the shared Chromium fixture

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def review(media, tmp_path_factory):
    """A sped-up copy waiting for review on the dev stack (reference audio on): its link."""
    with LocalStack("dev") as stack:
        up = uploads_dir(tmp_path_factory.mktemp("clips"), media, ["sped.m4a"], {"sped.json": (
            '{"source_url": "https://www.tiktok.com/@x/video/1", "platform": "tiktok", "title": "sped up"}')})
        summary = driver.run(stack, catalog=media["catalog"], uploads=up, decide="none")
        case_id = summary["uploads"][0]["case_id"]
        yield {"stack": stack, "url": stack.review_links()[-1]["url"], "case_id": case_id}


@pytest.mark.parametrize("width", [360, 1280])
def test_given_the_evidence_page_when_opened_in_chromium_then_every_clip_loads_with_a_duration(
        browser, review, width):  # noqa: F811
    stack = review["stack"]
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        resp = page.goto(review["url"])
        assert resp.status == 200
        csp = resp.headers["content-security-policy"]
        assert [d for d in csp.split("; ") if d.startswith("media-src")] == [f"media-src {stack.media_origin}"]
        audio = page.locator("audio")
        assert audio.count() == 3  # the upload, our recording, the upload brought back
        body = page.inner_text("body")
        assert "Listen" in body and "Our recording, " in body and "brought back to our recording" in body
        # every element fetched its clip's metadata from the signed link (no script on the page plays it)
        page.wait_for_function(
            "() => [...document.querySelectorAll('audio')].every(a => a.readyState >= 1 || a.error)",
            timeout=30_000)
        states = page.evaluate("() => [...document.querySelectorAll('audio')].map(a => ({ready: a.readyState, "
                               "duration: a.duration, error: a.error && a.error.code, "
                               "src: a.currentSrc, width: a.getBoundingClientRect().width}))")
        for s in states:
            assert s["error"] is None, s
            assert s["ready"] >= 1 and math.isfinite(s["duration"]) and s["duration"] > 0, s
            assert s["src"].startswith(stack.media_origin + "/"), s
            assert 0 < s["width"] <= width
        durations = sorted(s["duration"] for s in states)
        assert durations[0] > 10  # the matched part with its padding, not a fragment
        screenshot(page, "review-clips")
    finally:
        page.close()
