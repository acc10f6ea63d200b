"""Hostile and careless input end to end (issue 13): odd keys and partner text through the real
stack. Every object gets exactly one outcome under its own key; partner text reaches the page,
the mails and the notice only as escaped text, never as markup, a header or a template."""

from __future__ import annotations

import html
import json
from html.parser import HTMLParser

import pytest

from takedown_local import driver
from takedown_local.runtime import LocalStack

pytestmark = pytest.mark.timeout(240)

ODD_KEYS = ["ünïcode/ßong ü.mp3", "with space.mp3", "plus+sign.mp3", "a/../b.mp3", "pct%20esc%2Fx.mp3",
            "dir/./x.mp3", "semi;colon&amp.mp3", "tab\there.mp3"]
EVIL_TITLE = "<script>alert(1)</script>{{7*7}} ${7*7} %s %(x)s"
EVIL_UPLOADER = "Evil\r\nBcc: victim@example.com\r\nX-Injected: 1"


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)


def _tags(html: str) -> list[str]:
    p = Tags()
    p.feed(html)
    return p.tags


def test_given_odd_keys_when_dropped_then_each_has_exactly_one_outcome_under_its_own_key(tmp_path, media, index_dir):
    with LocalStack("dev") as stack:
        driver.publish_index(stack, index_dir)
        s3 = stack.client("s3")
        bucket = next(iter(stack.partner_buckets.values()))
        data = media["excerpt.mp3"].read_bytes()
        for key in ODD_KEYS:
            s3.put_object(Bucket=bucket, Key=key, Body=data)
        ups = [driver.Upload(file=k, path=media["excerpt.mp3"], partner="monitor-a", bucket=bucket, key=k) for k in ODD_KEYS]
        driver.wait_ingested(stack, ups, progress=False)
        repo = stack.repository()
        recs = {k: repo.get_upload(bucket, k) for k in ODD_KEYS}
        assert all(r is not None and r.outcome == "case" for r in recs.values()), recs
        assert len({r.case_id for r in recs.values()}) == len(ODD_KEYS)  # eight places, eight cases
        urls = {k: repo.get_case(r.case_id).source.url for k, r in recs.items()}
        assert urls["a/../b.mp3"] == "https://items.monitor-a.example/a%2F..%2Fb.mp3"
        assert urls["plus+sign.mp3"].endswith("/plus%2Bsign.mp3")
        assert urls["pct%20esc%2Fx.mp3"].endswith("/pct%2520esc%252Fx.mp3")
        assert driver.dlq_depth(stack) == 0


def test_given_markup_header_injection_and_template_syntax_in_partner_text_then_nothing_is_interpreted(
        tmp_path, media):
    up = tmp_path / "up"
    up.mkdir()
    (up / "evil.mp3").write_bytes(media["excerpt.mp3"].read_bytes())
    (up / "evil.json").write_text(json.dumps({"source_url": "https://www.youtube.com/watch?v=evil0001",
                                              "title": EVIL_TITLE, "uploader": EVIL_UPLOADER,
                                              "partner_ref": "{{config}}"}))
    with LocalStack("dev") as stack:
        summary = driver.run(stack, catalog=media["catalog"], uploads=up, decide="none")
        case_id = summary["uploads"][0]["case_id"]
        review_mail = next(m for m in stack.sent_mail() if case_id in m["body"] or "review" in m["subject"].lower())
        [link] = {lk["url"] for lk in stack.review_links()}
        status, page = driver.http("GET", link)
        assert status == 200
        driver.decide_case(stack, case_id, "approve")
        driver.wait_for(lambda: driver.finished(stack, case_id), 60, "the notice")
        notice = next(m for m in stack.sent_mail() if "notice" in m["subject"].lower())
        for where, text in (("review mail", review_mail["body"]), ("review page", page), ("notice", notice["body"])):
            assert "script" not in _tags(text), where
            assert "<script>" not in text, where
            assert "{{7*7}}" in html.unescape(text) and "${7*7}" in html.unescape(text), where  # not evaluated
        for m in (review_mail, notice):
            assert "\r" not in m["subject"] and "\n" not in m["subject"]
            assert m["to"] and all("victim" not in t for t in m["to"])
