"""The pages of the review API: the evidence page, the decision confirmation, plain messages.

Each function gathers a case's values as plain words (``wording``) and renders a template from
``templates/pages/`` (``render``), which escapes everything: partner and uploader text is
data, never markup. Pages are self-contained (inline CSS and SVG, no scripts, no external
fetches) and work on a 360 px wide phone and with the keyboard only.

The review API handler sends ``SECURITY_HEADERS`` with every page; it is the one definition.
The wording helpers and the chart are re-exported here for the modules that import them from
this one.
"""

from __future__ import annotations

from typing import Any, Mapping

from markupsafe import Markup

from .chart import alignment_svg, upload_timeline
from .evidence import MatchEvidence
from .likeness import LikenessSignal
from .render import esc, render  # noqa: F401 - esc re-exported, as for the wording helpers
from .review_links import NOTE_MAX, REJECT_REASONS
from .wording import (  # noqa: F401 - re-exported: callers import the wording helpers from here
    repeat_phrase,
    alignment_landmarks,
    chance_phrase,
    clean,
    content_phrase,
    decode_note,
    evidence_summary,
    fmt_epoch,
    fmt_number,
    fmt_remaining,
    fmt_time,
    fmt_when,
    kind_phrase,
    matched_landmarks,
    num,
    one_line,
    other_matches,
    pitch_phrase,
    likeness_artist,
    platform_name,
    portion_phrase,
    round_number,
    safe_http_url,
    speed_phrase,
    status_phrase,
    strength,
)

# Headers for every response of the review API. No scripts at all; styles and the SVG are
# inline; the signed link never leaks through a Referer; nothing is cached or indexed.
_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def security_headers(media_origin: str | None = None) -> dict[str, str]:
    """The headers of every review API response. ``media_origin`` (scheme://host[:port], the
    clips' signed links: the evidence bucket's S3 origin): the CSP adds exactly
    ``media-src <that origin>`` so the page's audio elements may load from it and nothing else
    may; None: no media at all."""
    csp = _CSP
    if media_origin:
        if any(c in media_origin for c in " ;,'\"") or "://" not in media_origin:
            raise ValueError(f"not an origin: {media_origin!r}")
        csp += f"; media-src {media_origin}"
    return {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": csp,
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
        "X-Robots-Tag": "noindex, nofollow",
    }


SECURITY_HEADERS: dict[str, str] = security_headers()  # a page that plays nothing


def review_page(
    *,
    case: Mapping[str, Any],
    review: Mapping[str, Any],
    action_url: str,
    csrf: str,
    exp: int,
    sig: str,
    now: int,
    error: str | None = None,
    error_field: str | None = None,
    chosen: Mapping[str, Any] | None = None,
    repeat_notices: int | None = None,
    queue_url: str | None = None,
    clips: Mapping[str, Any] | None = None,
) -> str:
    """The evidence page with the approve / reject forms. GET renders it; it decides nothing.

    ``case`` is ``Case.to_dict()``; ``review`` has review_id, reviewer, expires_at, round.
    Both forms post decision, reason, note, csrf, exp, sig to ``action_url``. A post sent back
    (``DecisionInvalid``) renders the page again with ``error`` beside ``error_field``
    ("decision", "reason" or "note"; None: above the forms) and the reviewer's ``chosen``
    values kept (decision, reason, note as posted). ``repeat_notices``: how many earlier cases
    of this uploader on this platform had a notice sent (None: not known, nothing shown).
    ``queue_url``: the reviewer's queue (a link relative to this page), or None.
    ``clips``: the "Listen" section (``clips.clips_view``; None: left out).
    """
    src = dict(case.get("source") or {})
    work = dict(case.get("work") or {})
    ev = MatchEvidence.from_document(case.get("evidence"))
    expires_at = review.get("expires_at", exp)
    url = clean(src.get("url"), 2048)
    chosen = dict(chosen or {})
    decision = chosen.get("decision") if chosen.get("decision") in ("approve", "reject") else None
    territories = work.get("territories")
    if isinstance(territories, (list, tuple)):
        territories = ", ".join(clean(t) for t in territories)
    return render(
        "pages/review.html.j2",
        case_id=clean(case.get("case_id")),
        status=status_phrase(case.get("status")),
        round=round_number(review.get("round")),
        work_title=clean(work.get("title"), 200) or clean(case.get("track_id"), 200) or "our recording",
        artist=clean(work.get("artist") or likeness_artist(case.get("likeness")), 200),
        platform=platform_name(src.get("platform")) or "an unknown platform",
        reviewer=clean(review.get("reviewer")),
        expires=clean(fmt_epoch(expires_at)),
        remaining=clean(fmt_remaining(expires_at, now)),
        url=url,
        link=safe_http_url(url),
        location_problem=clean(case.get("location_problem"), 2400) or None,
        no_notice=no_notice_can_go(case),
        upload={
            "uploader": clean(src.get("uploader"), 300),
            "title": clean(src.get("title"), 500),
            "partner": clean(src.get("partner"), 200),
            "partner_ref": clean(src.get("partner_ref"), 200),
            "territory": clean(src.get("territory"), 100),
            "repeat": repeat_phrase(repeat_notices, platform_name(src.get("platform")) or "this platform"),
        },
        work={
            "isrc": clean(work.get("isrc"), 40) if work.get("isrc") else None,
            "owner": clean(work.get("owner"), 200),
            "territories": clean(territories, 300),
            "track_id": clean(case.get("track_id"), 200) if case.get("track_id") else None,
        },
        summary={k: clean(v) for k, v in evidence_summary(ev).items()},
        landmarks=matched_landmarks(ev),
        decoding=clean(decode_note(ev)),
        others=other_matches(ev),
        svg=Markup(alignment_svg(alignment_landmarks(ev))),
        action_url=clean(action_url),
        csrf=clean(csrf),
        exp=clean(exp),
        sig=clean(sig),
        reasons=[(clean(code), clean(label)) for code, label in REJECT_REASONS.items()],
        note_max=NOTE_MAX,
        error=clean(error) if error else None,
        error_field=error_field if error and error_field in ("decision", "reason", "note") else None,
        chosen={"decision": decision,
                "reason": clean(chosen.get("reason"), 40) if decision == "reject" else "",
                # kept as typed (a too-long note too, so it can be shortened), bounded by the form's size
                "note": str(chosen.get("note") or "")[: 4 * NOTE_MAX].replace("\x00", "")},
        timeline=upload_timeline(ev),
        queue_url=clean(queue_url) if queue_url else None,
        kind=clean(case.get("kind") or "copy"),
        portion=clean(portion_phrase(ev)) if case.get("kind") in ("partial", "suspected_ai_cover") else "",
        likeness=likeness_words(case.get("likeness")),
        clips=clips,
    )


def queue_page(*, reviewer: str, entries: list[Mapping[str, Any]], now: int, expires_at: int) -> str:
    """A reviewer's queue: their waiting cases, oldest first, each linking to its evidence page.

    ``entries``: one per waiting case, in order, each {"case": Case.to_dict(), "link": the
    review page's link relative to this page (None when that link has expired),
    "expires_at": the review link's expiry}. ``expires_at``: this queue link's expiry.
    """
    rows = []
    for entry in entries:
        case = dict(entry.get("case") or {})
        work = dict(case.get("work") or {})
        src = dict(case.get("source") or {})
        kind = case.get("kind") or "copy"
        if kind == "suspected_deepfake":
            label, level = "No recording of ours: judge the likeness", "unknown"
        else:
            label, level = strength(MatchEvidence.from_document(case.get("evidence")).false_match_rate)
        link = entry.get("link")
        rows.append({
            "kind": clean(kind_phrase(kind)),
            "work": clean(work.get("title"), 200) or clean(case.get("track_id"), 200) or "our recording",
            "artist": clean(work.get("artist") or likeness_artist(case.get("likeness")), 200),
            "platform": platform_name(src.get("platform")) or "an unknown platform",
            "uploader": clean(src.get("uploader"), 120),
            "strength": clean(label), "level": level,
            "left": clean(fmt_remaining(entry.get("expires_at"), now)) or "unknown",
            "expires": clean(fmt_epoch(entry.get("expires_at"))),
            "opened": clean(fmt_when(case.get("created_at"))),
            "round": round_number(case.get("review_round")),
            "link": clean(link) if link else None,
        })
    return render("pages/queue.html.j2", reviewer=clean(reviewer, 320), rows=rows,
                  expires=clean(fmt_epoch(expires_at)), remaining=clean(fmt_remaining(expires_at, now)))


def likeness_words(likeness: Any) -> dict[str, Any] | None:
    """Why a likeness case was opened, for the review page: the signal's sentence and its hits
    as (field, words) rows, cleaned; None when the case has no likeness signal."""
    if not likeness:
        return None
    try:
        signal = LikenessSignal.from_dict(dict(likeness))
    except (TypeError, ValueError, KeyError):
        return {"sentence": "The upload's presentation named one of our artists with AI or voice-model words.",
                "hits": []}
    rows = [(f"Names our artist ({h.field})", f"“{h.found}” (alias “{h.text}”)" if h.found != h.text else f"“{h.found}”")
            for h in signal.names]
    rows += [(f"Says it is AI ({h.field})", f"“{h.found}”" + (f" (term “{h.text}”, {h.lang})" if h.lang else ""))
             for h in signal.terms]
    return {"sentence": clean(signal.describe()), "hits": [(clean(a), clean(b)) for a, b in rows]}


_ICONS = {"info": "ℹ️", "success": "✅", "warning": "⚠️", "error": "⛔"}


def message_page(title: str, message: str, *, kind: str = "info", detail: str | None = None,
                 link: tuple[str, str] | None = None) -> str:
    """A plain page with one message ("This link has expired", "Decision recorded", ...).

    kind: info | success | warning | error; ``link``: (text, href) of one link under it. Everything is escaped.
    """
    kind = kind if kind in _ICONS else "info"
    return render("pages/message.html.j2", title=clean(title), message=clean(message), kind=kind,
                  icon=_ICONS[kind], detail=clean(detail) if detail else None,
                  link=(clean(link[0]), clean(link[1])) if link else None)


def no_notice_can_go(case: Mapping[str, Any]) -> bool:
    """Whether an approval of ``case`` (``Case.to_dict()``) cannot become a notice for want of
    a place on the platform: no web address, or one the platform does not serve
    (``location_problem``, recorded at ingest). The notice itself refuses the same
    (``notices._location``); the pages say so before and after the decision."""
    src = case.get("source") or {}
    return not safe_http_url(clean(src.get("url"), 2048)) or bool(case.get("location_problem"))


def decided_page(*, decision: Any, reviewer: str, case: Mapping[str, Any] | None = None, at: str | None = None,
                 queue_url: str | None = None) -> str:
    """Confirmation after a successful POST. ``decision`` is a Decision or its dict; ``at`` the
    decision's ISO time (shown as ``fmt_when`` writes it); ``queue_url``: back to the queue."""
    link = ("Back to your queue", queue_url) if queue_url else None
    d = decision.to_dict() if hasattr(decision, "to_dict") else dict(decision or {})
    work = dict((case or {}).get("work") or {})
    what = f"“{clean(work.get('title'), 200)}”" if work.get("title") else "this case"
    src = dict((case or {}).get("source") or {})
    platform = platform_name(src.get("platform")) or "the platform"
    if d.get("decision") == "approve" and no_notice_can_go(case or {}):
        title, msg = "Decision recorded: approved", (f"You approved the takedown for {what}. No notice can go for it: "
                                                     f"there is no address of the upload on {platform}, so the case stops "
                                                     "with that reason.")
    elif d.get("decision") == "approve":
        title, msg = "Decision recorded: approved", (f"You approved the takedown for {what}. Its notice goes to {platform} "
                                                     "now (where a platform takes notices only on its web form, it waits "
                                                     "for the rights desk to submit it there).")
    else:
        reason = REJECT_REASONS.get(d.get("reason") or "", "no reason given")
        title, msg = "Decision recorded: rejected", f"You rejected the takedown for {what} ({reason}). No notice will be sent."
    detail = f"Recorded for {clean(reviewer)}" + (f" at {fmt_when(at)}" if at else "") + ". You can close this page."
    return message_page(title, msg, kind="success", detail=detail, link=link)


# Problems the review API reports, with their status code, for the handler.
PROBLEMS: dict[str, tuple[int, str, str, str]] = {
    "malformed": (400, "This link is not valid", "The link is incomplete or damaged. Open it again from the email, without editing it.", "error"),
    "forged": (403, "This link is not valid", "The link's signature does not match. Open it again from the original email.", "error"),
    "expired": (410, "This link has expired", "The time to decide with this link has passed; nothing was changed. If the case is still open, use the newest email about it.", "warning"),
    "csrf": (403, "This form is not valid", "The decision did not come from the review page. Open the link from the email and decide there.", "error"),
    "wrong_reviewer": (403, "You are not the assigned reviewer", "This case is assigned to someone else; nothing was changed.", "error"),
    "not_found": (404, "Review not found", "There is no review for this link. It may have been replaced by a newer one.", "error"),
    "already_decided": (409, "Already decided", "This case was decided before; nothing was changed.", "info"),
    "case_closed": (409, "This case is closed", "The case is no longer waiting for a review; nothing was changed.", "info"),
    "method": (405, "Not allowed", "Use the buttons on the review page to decide; nothing was changed.", "error"),
    "queue_expired": (410, "This link has expired", "This link to your queue is out of date. Open the queue from the newest review email.", "warning"),
    "queue_method": (405, "Not allowed", "This link only opens your queue; nothing was changed.", "error"),
    "page_method": (405, "Not allowed", "This link only opens the review page; nothing was changed. Open it from the email and decide with the buttons on the page.", "error"),
}


def problem_page(problem: str, *, detail: str | None = None) -> tuple[int, str]:
    """(status code, page) for a problem in ``PROBLEMS`` (link errors use their LinkError kind).

    For an already-decided case pass e.g. detail="Decided by alice@label.example at 1 Mar 2025, 14:05 UTC: approve".
    """
    status, title, message, kind = PROBLEMS.get(problem, PROBLEMS["malformed"])
    return status, message_page(title, message, kind=kind, detail=detail)
