"""HTML pages of the review API: the evidence page, the alignment picture, plain messages.

Pages are self-contained (inline CSS and SVG, no scripts, no external
fetches), work on a 360 px wide phone and with the keyboard only, and escape everything that
came from a case: partner and uploader text is data, never markup.

The handler should send ``SECURITY_HEADERS`` with every page.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from .chart import alignment_svg
from .render import esc
from .review_links import REJECT_REASONS, NOTE_MAX
from .wording import (  # noqa: F401 - re-exported: callers import the wording helpers from here
    chance_phrase,
    clean,
    content_phrase,
    decode_note,
    evidence_summary,
    fmt_epoch,
    fmt_number,
    fmt_remaining,
    fmt_time,
    num,
    one_line,
    pitch_phrase,
    platform_name,
    safe_http_url,
    speed_phrase,
    strength,
)

# Headers for every page of the review API. No scripts at all; styles and the SVG are inline;
# the signed link never leaks through a Referer; nothing is cached or indexed.
SECURITY_HEADERS: dict[str, str] = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
}


# --------------------------------------------------------------------------- page frame

_CSS = """
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:#f1f5f9;color:#0f172a;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
.wrap{max-width:960px;margin:0 auto;padding:0 16px}
.bar{background:#0f172a;color:#e2e8f0;font-size:14px}
.bar .wrap{display:flex;flex-wrap:wrap;gap:4px 16px;justify-content:space-between;align-items:center;padding-top:10px;padding-bottom:10px}
.brand{font-weight:700;color:#fff;letter-spacing:.01em}
.who b{color:#fff;font-weight:600}
main.wrap{padding-top:20px;padding-bottom:40px}
h1{font-size:1.45rem;line-height:1.25;margin:4px 0 6px}
h2{font-size:1.05rem;margin:0 0 10px}
p{margin:0 0 10px}
.lede{color:#334155;margin-bottom:16px}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:12px;padding:16px;margin:0 0 16px;box-shadow:0 1px 2px rgba(15,23,42,.04)}
.grid{display:grid;grid-template-columns:1fr;gap:0 16px}
dl{margin:0;display:grid;grid-template-columns:minmax(90px,max-content) 1fr;gap:6px 14px}
dt{color:#64748b;font-size:.9rem}
dd{margin:0;overflow-wrap:anywhere;min-width:0}
.muted{color:#64748b}
.small{font-size:.875rem}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
.pill{display:inline-block;padding:2px 10px;border-radius:999px;font-size:.85rem;font-weight:600}
.pill.strong,.pill.good{background:#dcfce7;color:#166534}
.pill.weak{background:#fef3c7;color:#92400e}
.pill.unknown{background:#e2e8f0;color:#334155}
.pill.round{background:#e0e7ff;color:#3730a3}
.verdict{display:flex;flex-wrap:wrap;gap:12px 24px;align-items:center}
.score{font-size:2rem;font-weight:700;line-height:1}
.score small{display:block;font-size:.8rem;font-weight:500;color:#64748b;margin-top:4px}
.verdict p{margin:4px 0 0}
figure{margin:12px 0 0}
figcaption{font-size:.875rem;color:#475569;margin-top:6px}
.decide h2{font-size:1.15rem}
.forms{display:grid;grid-template-columns:1fr;gap:16px;align-items:start}
.matchgrid{display:grid;grid-template-columns:1fr;gap:8px 24px;align-items:start}
form{margin:0;border:1px solid #e2e8f0;border-radius:10px;padding:14px}
form.approve{border-color:#bbf7d0;background:#f0fdf4}
form.reject{border-color:#fecaca;background:#fef2f2}
form h3{font-size:1rem;margin:0 0 8px}
fieldset{border:0;margin:0 0 10px;padding:0}
legend{font-weight:600;margin-bottom:6px;padding:0}
.radio{display:flex;gap:10px;align-items:center;padding:6px 0;cursor:pointer}
.radio input{width:20px;height:20px;margin:0;accent-color:#b91c1c;flex:none}
label.field{display:block;font-weight:600;margin:6px 0 4px}
textarea{width:100%;min-height:76px;font:inherit;padding:8px 10px;border:1px solid #94a3b8;border-radius:8px;background:#fff;color:inherit;resize:vertical}
button{font:inherit;font-weight:600;border-radius:8px;padding:12px 18px;border:2px solid transparent;cursor:pointer;width:100%;margin-top:10px;min-height:48px}
.btn-approve{background:#15803d;color:#fff}
.btn-approve:hover{background:#166534}
.btn-reject{background:#fff;color:#b91c1c;border-color:#b91c1c}
.btn-reject:hover{background:#fee2e2}
a{color:#1d4ed8}
a:focus-visible,button:focus-visible,textarea:focus-visible,input:focus-visible{outline:3px solid #2563eb;outline-offset:2px}
.hint{font-size:.85rem;color:#475569;margin:8px 0 0}
.alert{border-radius:10px;padding:12px 14px;margin:0 0 14px;border:1px solid}
.alert.error{background:#fef2f2;border-color:#fecaca;color:#7f1d1d}
.alert.warning{background:#fffbeb;border-color:#fde68a;color:#78350f}
.alert.success{background:#f0fdf4;border-color:#bbf7d0;color:#14532d}
.alert.info{background:#eff6ff;border-color:#bfdbfe;color:#1e3a8a}
.message{max-width:560px;margin:48px auto}
.message .icon{font-size:2rem;line-height:1;margin-bottom:8px}
footer{font-size:.85rem;color:#64748b;margin-top:8px}
@media (min-width:720px){
 .grid{grid-template-columns:1fr 1fr}
 .forms{grid-template-columns:1fr 1fr}
 .matchgrid{grid-template-columns:minmax(0,2fr) minmax(0,3fr)}
 figure{margin-top:0}
 h1{font-size:1.7rem}
 .card{padding:20px}
}
"""


def _document(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="robots" content="noindex, nofollow">\n'
        f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _bar(right: str = "") -> str:
    return f'<header class="bar"><div class="wrap"><span class="brand">Takedown review</span>{right}</div></header>'


def _dl(rows: Iterable[tuple[str, str]]) -> str:
    """Rows of (label, already-escaped HTML); empty values are left out."""
    items = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in rows if v)
    return f"<dl>{items}</dl>" if items else '<p class="muted">Not known.</p>'


# --------------------------------------------------------------------------- review page

_STATUS_WORDS = {
    "DETECTED": "Detected", "IN_REVIEW": "Waiting for review", "APPROVED": "Approved", "REJECTED": "Rejected",
    "REVIEW_EXPIRED": "Review expired", "NOTICE_SENT": "Notice sent", "CONTENT_REMOVED": "Content removed",
    "NOTICE_DISPUTED": "Notice disputed", "FAILED": "Failed",
}


def _round_badge(round_: Any) -> str:
    r = int(num(round_) or 0)
    if r <= 0:
        return ""
    return f'<span class="pill round">Asked again (follow-up {r})</span>'


def _others_html(evidence: Mapping[str, Any]) -> str:
    """Near-duplicates in our catalogue that also matched (a remaster, a re-release)."""
    others = [o for o in (evidence.get("others") or []) if isinstance(o, Mapping)][:5]
    if not others:
        return ""
    items = "".join(
        f"<li>{esc((o.get('metadata') or {}).get('title') or o.get('track_id'), 200)} "
        f'<span class="muted small">({esc(o.get("track_id"), 80)}; score {esc(fmt_number(o.get("score")))})</span></li>'
        for o in others
    )
    return (f'<p class="muted small" style="margin-top:12px">Also matched in our catalogue (likely another '
            f"version of the same recording; the best match is shown above):</p><ul class=\"small\">{items}</ul>")


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
) -> str:
    """The evidence page with the approve / reject forms. GET renders it; it decides nothing.

    ``case`` is ``Case.to_dict()``; ``review`` has review_id, reviewer, expires_at, round.
    Both forms post decision, reason, note, csrf, exp, sig to ``action_url``. ``error`` (a
    ``DecisionInvalid`` message) is shown above the forms when a post is sent back.
    """
    src = dict(case.get("source") or {})
    work = dict(case.get("work") or {})
    ev = dict(case.get("evidence") or {})
    summ = evidence_summary(ev)
    work_title = clean(work.get("title"), 200) or clean(case.get("track_id"), 200) or "our recording"
    artist = clean(work.get("artist"), 200)
    platform = platform_name(src.get("platform")) or "an unknown platform"
    reviewer = review.get("reviewer")
    expires_at = review.get("expires_at", exp)

    url = clean(src.get("url"), 2048)
    link = safe_http_url(url)
    if link:
        url_html = (
            f'<a href="{esc(link)}" rel="noopener noreferrer nofollow" target="_blank">{esc(url)}</a>'
            '<br><span class="muted small">Opens the platform in a new tab.</span>'
        )
    elif url:
        url_html = f'<span class="mono">{esc(url)}</span> <span class="muted small">(not a web link; not linked)</span>'
    else:
        url_html = '<span class="muted">No public URL given by the partner</span>'

    territories = work.get("territories")
    if isinstance(territories, (list, tuple)):
        territories = ", ".join(clean(t) for t in territories)

    upload_rows = [
        ("Platform", esc(platform)),
        ("URL", url_html),
        ("Uploader", esc(src.get("uploader"), 300)),
        ("Title", esc(src.get("title"), 500)),
        ("Found by", esc(src.get("partner"), 200)),
        ("Partner ref.", esc(src.get("partner_ref"), 200)),
        ("Served in", esc(src.get("territory"), 100)),
    ]
    work_rows = [
        ("Title", esc(work_title)),
        ("Artist", esc(artist)),
        ("ISRC", f'<span class="mono">{esc(work.get("isrc"), 40)}</span>' if work.get("isrc") else ""),
        ("Owner", esc(work.get("owner"), 200)),
        ("Territories", esc(territories, 300)),
        ("Track id", f'<span class="mono">{esc(case.get("track_id"), 200)}</span>' if case.get("track_id") else ""),
    ]
    match_rows = [
        ("In the upload", esc(summ["upload_segment"])),
        ("In our recording", esc(summ["reference_segment"])),
        ("Speed", esc(summ["speed"])),
        ("Pitch", esc(summ["pitch"])),
        ("Landmarks", esc(f"{summ['landmarks']} matching landmarks") if ev.get("aligned_hashes") is not None else ""),
        ("Content", esc(summ["content"])),
        ("Decoding", esc(decode_note(ev))),
    ]

    hidden = (
        f'<input type="hidden" name="csrf" value="{esc(csrf)}">'
        f'<input type="hidden" name="exp" value="{esc(exp)}">'
        f'<input type="hidden" name="sig" value="{esc(sig)}">'
    )
    radios = "".join(
        f'<label class="radio" for="reason-{esc(code)}"><input type="radio" id="reason-{esc(code)}" name="reason" '
        f'value="{esc(code)}"{" required" if i == 0 else ""}> {esc(label)}</label>'
        for i, (code, label) in enumerate(REJECT_REASONS.items())
    )
    action = esc(action_url)
    error_html = f'<div class="alert error" role="alert"><strong>Not recorded:</strong> {esc(error)}</div>' if error else ""
    if not link:
        error_html += ('<div class="alert warning" role="note"><strong>No web address for this upload.</strong> '
                       "A takedown notice must say where the material is, so an approval here cannot be sent "
                       "as a notice: the case will stop with that reason. Reject it, or ask the partner for "
                       "the upload's URL.</div>")

    by = f" by {esc(artist)}" if artist else ""
    remaining = fmt_remaining(expires_at, now)
    bar_right = (
        f'<span class="who">Reviewer: <b>{esc(reviewer)}</b> · Link expires {esc(fmt_epoch(expires_at))}'
        f'{" (" + esc(remaining) + ")" if remaining else ""}</span>'
    )
    body = f"""{_bar(bar_right)}
<main class="wrap">
<p class="muted small">Case <span class="mono">{esc(case.get("case_id"))}</span> · {esc(_STATUS_WORDS.get(str(case.get("status")), case.get("status")))} {_round_badge(review.get("round"))}</p>
<h1>Is this upload a copy of “{esc(work_title)}”{by}?</h1>
<p class="lede">An upload on {esc(platform)} matched our recording. Check the evidence below, then approve to send a takedown notice, or reject if it should stay up. Opening this page does not decide anything. <a href="#decide">Go to the decision</a></p>

<section class="card verdict" aria-labelledby="verdict-h">
<h2 id="verdict-h" class="muted small" style="flex-basis:100%;margin:0">How sure is the match?</h2>
<div class="score">{esc(summ["score"])}<small>match score (higher is stronger)</small></div>
<div><span class="pill {esc(summ["level"])}">{esc(summ["strength"])}</span>
<p>{esc(summ["chance"][0].upper() + summ["chance"][1:])}.</p>
<p class="muted small">{esc(summ["change"])}.</p></div>
</section>

<div class="grid">
<section class="card" aria-labelledby="upload-h"><h2 id="upload-h">The upload</h2>{_dl(upload_rows)}</section>
<section class="card" aria-labelledby="work-h"><h2 id="work-h">Our recording</h2>{_dl(work_rows)}{_others_html(ev)}</section>
</div>

<section class="card" aria-labelledby="match-h"><h2 id="match-h">What matched</h2>
<div class="matchgrid"><div>{_dl(match_rows)}</div>
<figure>
{alignment_svg(ev.get("landmarks"), width=460, height=270)}
<figcaption>Each dot is a landmark heard in both recordings, placed at its time in the upload (across) and in our recording (up). Dots along one straight line mean the upload plays our recording continuously; the dashed line is the best fit, and its slope is the speed.</figcaption>
</figure></div>
</section>

<section class="card decide" id="decide" aria-labelledby="decide-h"><h2 id="decide-h">Your decision</h2>
{error_html}<div class="forms">
<form class="approve" method="post" action="{action}">
<h3>Approve</h3>
<p class="small">A takedown notice will be sent to {esc(platform)} for this upload.</p>
{hidden}
<label class="field" for="approve-note">Note <span class="muted">(optional)</span></label>
<textarea id="approve-note" name="note" maxlength="{NOTE_MAX}" rows="2"></textarea>
<button type="submit" name="decision" value="approve" class="btn-approve">Approve takedown</button>
</form>
<form class="reject" method="post" action="{action}">
<h3>Reject</h3>
{hidden}
<fieldset><legend>Reason <span class="muted">(required)</span></legend>{radios}</fieldset>
<label class="field" for="reject-note">Explanation <span class="muted">(required for “Other”)</span></label>
<textarea id="reject-note" name="note" maxlength="{NOTE_MAX}" rows="2"></textarea>
<button type="submit" name="decision" value="reject" class="btn-reject">Reject: no takedown</button>
</form>
</div>
<p class="hint">The first decision counts; this link cannot be used to decide again.</p>
</section>
<footer>This page is for {esc(reviewer)} only. Do not forward the link.</footer>
</main>"""
    return _document(f"Review: {work_title} – takedown review", body)


# --------------------------------------------------------------------------- messages

_ICONS = {"info": "ℹ️", "success": "✅", "warning": "⚠️", "error": "⛔"}


def message_page(title: str, message: str, *, kind: str = "info", detail: str | None = None) -> str:
    """A plain page with one message ("This link has expired", "Decision recorded", ...).

    kind: info | success | warning | error. Everything is escaped.
    """
    kind = kind if kind in _ICONS else "info"
    extra = f'<p class="muted small">{esc(detail)}</p>' if detail else ""
    role = "alert" if kind in ("error", "warning") else "status"
    body = (
        f"{_bar()}\n<main class=\"wrap\"><div class=\"card message\" role=\"{role}\">"
        f'<div class="icon" aria-hidden="true">{_ICONS[kind]}</div>'
        f"<h1>{esc(title)}</h1><div class=\"alert {kind}\">{esc(message)}</div>{extra}</div></main>"
    )
    return _document(title, body)


def decided_page(*, decision: Any, reviewer: str, case: Mapping[str, Any] | None = None, at: str | None = None) -> str:
    """Confirmation after a successful POST. ``decision`` is a Decision or its dict."""
    d = decision.to_dict() if hasattr(decision, "to_dict") else dict(decision or {})
    work = dict((case or {}).get("work") or {})
    what = f"“{clean(work.get('title'), 200)}”" if work.get("title") else "this case"
    if d.get("decision") == "approve":
        title, msg = "Decision recorded: approved", f"You approved the takedown for {what}. The notice will be sent now."
    else:
        reason = REJECT_REASONS.get(d.get("reason") or "", "no reason given")
        title, msg = "Decision recorded: rejected", f"You rejected the takedown for {what} ({reason}). No notice will be sent."
    detail = f"Recorded for {clean(reviewer)}" + (f" at {clean(at)}" if at else "") + ". You can close this page."
    return message_page(title, msg, kind="success", detail=detail)


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
    "page_method": (405, "Not allowed", "This link only opens the review page; nothing was changed. Open it from the email and decide with the buttons on the page.", "error"),
}


def problem_page(problem: str, *, detail: str | None = None) -> tuple[int, str]:
    """(status code, page) for a problem in ``PROBLEMS`` (link errors use their LinkError kind).

    For an already-decided case pass e.g. detail="Decided by alice@label.example at 2025-03-01 14:05 UTC: approve".
    """
    status, title, message, kind = PROBLEMS.get(problem, PROBLEMS["malformed"])
    return status, message_page(title, message, kind=kind, detail=detail)
