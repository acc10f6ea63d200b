"""Emails to reviewers: one per review request (or reminder / escalation) and an hourly digest.

Each function returns (subject, text, html), rendered from ``templates/emails/``: the text
and HTML parts share their sentences (``words.txt.j2``), which are rendered here, once, and
given to both parts as words (a text macro called from an HTML template would not be escaped). Text that came from a partner or an
uploader is squeezed onto one line and shortened in the subject and the text part, and
escaped in the HTML part. The link goes to the review page: opening it (as mail
scanners do) shows the evidence and decides nothing; the decision is a button on the page.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .likeness import LikenessSignal
from .render import macros, render
from .wording import clean, evidence_summary, fmt_epoch, likeness_artist, one_line, platform_name, round_number

KINDS = ("request", "reminder", "escalation")
_WORDS = "emails/words.txt.j2"


def _subject(text: str) -> str:
    """A header-safe subject: one line, no control characters, at most 150 characters."""
    return one_line(text, 150)


def _facts(case: Mapping[str, Any]) -> dict[str, str]:
    src = dict(case.get("source") or {})
    work = dict(case.get("work") or {})
    ev = evidence_summary(case.get("evidence"))
    return {
        "work": one_line(work.get("title"), 120) or one_line(case.get("track_id"), 120) or "one of our recordings",
        "artist": one_line(work.get("artist") or likeness_artist(case.get("likeness")), 120),
        "isrc": one_line(work.get("isrc"), 40),
        "platform": platform_name(one_line(src.get("platform"), 60)) or "an unknown platform",
        "url": one_line(src.get("url"), 500),
        "uploader": one_line(src.get("uploader"), 120),
        "title": one_line(src.get("title"), 200),
        "case_id": one_line(case.get("case_id"), 100),
        "strength": ev["strength"],
        "chance": ev["chance"],
        "upload_segment": ev["upload_segment"],
        "reference_segment": ev["reference_segment"],
        "change": ev["change"],
        "kind": one_line(case.get("kind") or "copy", 40),
        "why": _likeness_sentence(case.get("likeness")),
    }


def _likeness_sentence(likeness: Any) -> str:
    """Why a likeness case was opened, in one sentence ("" for other cases)."""
    if not likeness:
        return ""
    try:
        return one_line(LikenessSignal.from_dict(likeness).describe(), 600)
    except ValueError:
        return "The upload's presentation names one of our artists with AI or voice-model words."


def review_request_email(
    case: Mapping[str, Any],
    *,
    url: str,
    reviewer: str,
    expires_at: int,
    round: int,
    kind: str = "request",
    queue_url: str | None = None,
) -> tuple[str, str, str]:
    """(subject, text, html) asking ``reviewer`` to decide one case through ``url``.

    kind: "request" (first ask), "reminder" (no answer yet), "escalation" (the previous
    reviewer did not answer; this reviewer is next). ``queue_url``: the reviewer's queue link.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    f = _facts(case)
    words = macros(_WORDS)
    who, expiry = one_line(reviewer, 200), fmt_epoch(expires_at)
    values = {
        "f": f,
        "who": who,
        "subject": _subject(words.request_subject(kind, f)),
        "prefix": words.request_prefix(kind),
        "work": words.work_line(f),
        "intro": words.request_intro(kind, f, round_number(round)),
        "what_to_do": words.what_to_do(f),
        "validity": words.validity(who, expiry),
        "do_not_forward": words.do_not_forward(),
        "queue_words": words.queue_line() if queue_url else "",
    }
    # the text part shows the link as given; the HTML part links and shows it cleaned
    text = render("emails/review_request.txt.j2", **values, url=url, queue_url=queue_url or "")
    return values["subject"], text, render("emails/review_request.html.j2", **values, url=clean(url),
                                           queue_url=clean(queue_url))


def digest_email(cases: Sequence[tuple[Mapping[str, Any], str]], *, reviewer: str,
                 queue_url: str | None = None) -> tuple[str, str, str]:
    """(subject, text, html): one email listing every case waiting for ``reviewer`` with its link.

    Each item is (case dict, review URL) or (case dict, review URL, expires_at); ``queue_url``:
    the reviewer's queue link.
    """
    if not cases:
        raise ValueError("a digest needs at least one case")
    words = macros(_WORDS)
    n = len(cases)
    items = []
    for item in cases:
        case, url = item[0], item[1]
        f = _facts(case)
        items.append({
            "line": words.digest_line(f), "strength": f["strength"], "chance": f["chance"], "url": url,
            "expires": fmt_epoch(item[2]) if len(item) > 2 and item[2] is not None else "",
        })
    values = {"who": one_line(reviewer, 200), "subject": _subject(words.digest_subject(n)),
              "count": words.digest_count(n), "how": words.digest_how(),
              "queue_words": words.queue_line() if queue_url else ""}
    text = render("emails/digest.txt.j2", **values, items=items, queue_url=queue_url or "")
    html_items = [{**it, "url": clean(it["url"])} for it in items]
    return values["subject"], text, render("emails/digest.html.j2", **values, items=html_items,
                                           queue_url=clean(queue_url))
