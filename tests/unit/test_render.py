"""The one template environment (takedown_core.render) and the templates it loads."""

from __future__ import annotations

import re

import pytest
from jinja2 import UndefinedError

from takedown_core.render import ENV, TEMPLATES, esc, macros, render

EVIL = "<b class=\"x\">Tom's & Jerry's</b>"


def test_given_every_template_then_it_compiles():
    names = ENV.list_templates()
    assert {"pages/review.html.j2", "emails/review_request.txt.j2", "notices/DMCA.txt.j2", "notices/notice.html.j2"} <= set(names)
    for name in names:
        ENV.get_template(name)


def test_given_an_html_template_then_values_are_escaped_as_the_pages_always_were():
    page = render("pages/message.html.j2", title=EVIL, message="m", kind="info", icon="i", detail=None, link=None)
    assert "<title>&lt;b class=&quot;x&quot;&gt;Tom&#x27;s &amp; Jerry&#x27;s&lt;/b&gt;</title>" in page
    assert page.count("<b class") == 0
    assert esc(EVIL) == "&lt;b class=&quot;x&quot;&gt;Tom&#x27;s &amp; Jerry&#x27;s&lt;/b&gt;"


def test_given_a_text_template_then_values_are_not_html_escaped():
    assert macros("emails/words.txt.j2").validity(EVIL, "2026-01-01 12:00 UTC").startswith(f"The link is for {EVIL} only")
    assert macros("notices/DMCA.txt.j2").good_faith_statement().startswith("I have a good faith belief")


def test_given_a_missing_value_then_rendering_fails_loudly():
    with pytest.raises(UndefinedError):
        render("pages/message.html.j2", title="t", message="m", kind="info", icon="i")


def test_given_a_joined_template_then_its_line_breaks_are_not_output_but_those_in_values_are():
    html = render("notices/notice.html.j2", subject="S", addressee="A", date="D", case_id="C", intro="I", closing="",
                  sections=[{"heading": "H", "cite": "c", "body": "line one\nline two"}])
    assert html.count("\n") == 1 and "line one\nline two" in html
    assert html.startswith("<!DOCTYPE html><html lang=\"en\"><head>") and html.endswith("</body></html>")


def test_given_the_html_templates_then_none_uses_a_text_template():
    """A text template's macro called from an HTML template returns its output marked safe,
    unescaped: HTML templates get the shared words as values, rendered in Python."""
    uses = re.compile(r"{%-?\s*(?:import|from|include|extends)\s+[\"']([^\"']+)[\"']")
    for path in TEMPLATES.rglob("*.html.j2"):
        for used in uses.findall(path.read_text()):
            assert not used.endswith(".txt.j2"), (path.name, used)


def test_given_the_templates_then_they_live_beside_the_code_that_renders_them():
    assert TEMPLATES.parent.name == "takedown_core" and TEMPLATES.parent.parent.name == "functions"
