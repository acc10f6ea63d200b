"""HTML pages of the review API: the evidence page, the alignment picture, plain messages.

Pure standard library. Pages are self-contained (inline CSS and SVG, no scripts, no external
fetches), work on a 360 px wide phone and with the keyboard only, and escape everything that
came from a case: partner and uploader text is data, never markup.

The handler should send ``SECURITY_HEADERS`` with every page.
"""

from __future__ import annotations

import html
import math
import re
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

from .decode_report import DecodeReport
from .review_links import REJECT_REASONS, NOTE_MAX

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

# --------------------------------------------------------------------------- small helpers

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(value: Any, limit: int | None = None) -> str:
    """Untrusted value as display text (not yet escaped): no control characters, trimmed."""
    if value is None:
        return ""
    text = _CONTROL.sub("", str(value)).strip()
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def one_line(value: Any, limit: int | None = None) -> str:
    """Untrusted value squeezed onto one line (for subjects and plain-text mail)."""
    return clean(" ".join(str(value or "").split()), limit)


def esc(value: Any, limit: int | None = None) -> str:
    """Escape for HTML text and attributes (quotes included)."""
    return html.escape(clean(value, limit), quote=True)


def safe_http_url(url: Any) -> str | None:
    """The URL if it is a plain http(s) URL we may link to, else None (never link javascript:)."""
    text = clean(url)
    if not text or any(c.isspace() for c in text) or len(text) > 2048:
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return text


_PLATFORM_NAMES = {
    "youtube": "YouTube", "tiktok": "TikTok", "soundcloud": "SoundCloud", "facebook": "Facebook",
    "instagram": "Instagram", "vimeo": "Vimeo", "twitch": "Twitch", "dailymotion": "Dailymotion",
    "bandcamp": "Bandcamp", "x": "X", "twitter": "X (Twitter)", "mixcloud": "Mixcloud", "audiomack": "Audiomack",
}


def platform_name(platform: Any) -> str:
    """Display name of a platform id ("youtube" -> "YouTube"); other text is kept (cleaned)."""
    text = clean(platform, 80)
    return _PLATFORM_NAMES.get(text.lower(), text)


def num(value: Any) -> float | None:
    """A finite float from a number, a Decimal (DynamoDB) or numeric text; else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def fmt_time(seconds: Any) -> str:
    """Seconds as m:ss (or h:mm:ss), truncated as players show them; "?" when unknown."""
    s = num(seconds)
    if s is None:
        return "?"
    sign = "−" if s < 0 else ""
    total = int(math.floor(abs(s) + 1e-6))  # like a media player: 64.9 s is still 1:04
    h, rem = divmod(total, 3600)
    m, sec = divmod(rem, 60)
    return f"{sign}{h}:{m:02d}:{sec:02d}" if h else f"{sign}{m}:{sec:02d}"


def fmt_number(value: Any) -> str:
    f = num(value)
    if f is None:
        return "?"
    if f.is_integer() and abs(f) < 1e15:
        return f"{int(f):,}"
    return f"{f:,.3f}".rstrip("0").rstrip(".") if abs(f) >= 0.001 else f"{f:.2g}"


def fmt_epoch(ts: Any) -> str:
    """Epoch seconds as "2025-03-01 14:05 UTC"."""
    f = num(ts)
    if f is None:
        return "?"
    return datetime.fromtimestamp(f, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def fmt_remaining(expires_at: Any, now: Any) -> str:
    """ "in 2 days 3 hours", "in 40 minutes", "expired"."""
    e, n = num(expires_at), num(now)
    if e is None or n is None:
        return ""
    left = int(e - n)
    if left <= 0:
        return "expired"
    days, rem = divmod(left, 86400)
    hours, rem = divmod(rem, 3600)
    minutes = rem // 60
    parts = []
    if days:
        parts.append(f"{days} day{'s' * (days != 1)}")
    if hours and days < 3:
        parts.append(f"{hours} hour{'s' * (hours != 1)}")
    if not days and (minutes or not hours):
        parts.append(f"{max(minutes, 1)} minute{'s' * (max(minutes, 1) != 1)}")
    return "in " + " ".join(parts[:2])


def _humanize_count(n: float) -> str:
    for size, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
        if n >= size:
            v = n / size
            return f"{v:.1f}".rstrip("0").rstrip(".") + f" {word}"
    return f"{int(n):,}"


def _two_sig(n: float) -> float:
    if n < 100:
        return float(round(n))
    digits = int(math.floor(math.log10(n))) - 1
    return round(n / 10**digits) * 10**digits


def chance_phrase(false_match_rate: Any) -> str:
    """Plain English for the false-match rate: "about 1 chance in 2.5 million that this is a coincidence"."""
    r = num(false_match_rate)
    if r is None or r < 0:
        return "the chance that this is a coincidence was not computed"
    if r >= 0.5:
        return "a match this strong could easily be a coincidence"
    n = 1.0 / r if r > 0 else math.inf
    if n >= 1e12:
        return "less than 1 chance in a trillion that this is a coincidence"
    return f"about 1 chance in {_humanize_count(_two_sig(n))} that this is a coincidence"


def strength(false_match_rate: Any) -> tuple[str, str]:
    """(label, level) for the match; level is one of strong / good / weak / unknown."""
    r = num(false_match_rate)
    if r is None or r < 0:
        return "Match strength unknown", "unknown"
    if r <= 1e-6:
        return "Very strong match", "strong"
    if r <= 1e-3:
        return "Strong match", "good"
    if r <= 0.05:
        return "Possible match: check carefully", "weak"
    return "Weak match: may be a coincidence", "weak"


def speed_phrase(speed: Any) -> str:
    s = num(speed)
    if s is None or s <= 0:
        return "Speed change unknown"
    pct = (s - 1.0) * 100
    if abs(pct) < 0.5:
        return "Same speed as our recording"
    word = "faster" if pct > 0 else "slower"
    return f"Plays {abs(pct):.0f}% {word} than our recording (×{s:.2f})"


def pitch_phrase(semitones: Any) -> str:
    p = num(semitones)
    if p is None:
        return "Pitch change unknown"
    if abs(p) < 0.05:
        return "Same pitch as our recording"
    unit = "semitone" if abs(round(p, 1)) == 1 else "semitones"
    return f"Pitch {'raised' if p > 0 else 'lowered'} by {abs(p):.1f} {unit}"


def _fmt_score(score: Any) -> str:
    """The engine's score is -log10(false-match rate): one decimal is plenty."""
    f = num(score)
    if f is None:
        return "?"
    return f"{f:.0f}" if f.is_integer() else f"{f:.1f}"


def evidence_summary(evidence: Mapping[str, Any] | None) -> dict[str, str]:
    """The match evidence in words, shared by the page, the emails and the notices.

    Keys: score, strength, level, chance, upload_segment, reference_segment, speed, pitch,
    change (speed and pitch in one sentence), landmarks. Reference times follow the engine's
    convention: reference time = offset_s + speed × upload time.
    """
    ev = dict(evidence or {})
    speed = num(ev.get("speed"))
    factor = speed if speed and speed > 0 else 1.0
    q0 = num(ev.get("query_start_s")) or 0.0
    dur = num(ev.get("matched_duration_s"))
    off = num(ev.get("offset_s"))
    label, level = strength(ev.get("false_match_rate"))
    if dur is not None:
        upload_segment = f"{fmt_time(q0)}–{fmt_time(q0 + dur)} ({dur:.0f} s)"
    else:
        upload_segment = f"from {fmt_time(q0)}"
    if off is not None and dur is not None:
        r0 = off + factor * q0
        reference_segment = f"{fmt_time(r0)}–{fmt_time(r0 + factor * dur)} ({factor * dur:.0f} s)"
    elif off is not None:
        reference_segment = f"from {fmt_time(off + factor * q0)}"
    else:
        reference_segment = "unknown"
    sp, pi = speed_phrase(ev.get("speed")), pitch_phrase(ev.get("pitch_semitones"))
    change = "No speed or pitch change" if sp.startswith("Same") and pi.startswith("Same") else f"{sp}; {pi[0].lower()}{pi[1:]}"
    p = num(ev.get("pitch_semitones"))
    transform = str(ev.get("transform") or "")
    changed_speed = bool(speed) and abs(speed - 1) >= 0.005
    changed_pitch = p is not None and abs(p) >= 0.05
    if transform == "speed" or (not transform and changed_speed and changed_pitch and abs(p - 12 * math.log2(speed)) < 0.35):
        if changed_speed or changed_pitch:
            change += " (speed and pitch changed together, as in a sped-up or slowed-down edit)"
    elif transform == "time_stretch" and changed_speed:
        change += " (tempo changed without changing the pitch)"
    elif transform == "pitch_shift" and changed_pitch:
        change += " (pitch shifted without changing the tempo)"
    return {
        "score": _fmt_score(ev.get("score")),
        "strength": label,
        "level": level,
        "chance": chance_phrase(ev.get("false_match_rate")),
        "upload_segment": upload_segment,
        "reference_segment": reference_segment,
        "speed": sp,
        "pitch": pi,
        "change": change,
        "landmarks": fmt_number(ev.get("aligned_hashes")),
        "content": content_phrase(ev.get("salient_confirmed"), ev.get("salient_peaks")),
    }


def decode_note(evidence: Mapping[str, Any] | None) -> str:
    """How the upload's audio was decoded, when a reviewer should know (part of it lost, a
    phase-inverted channel, joined parts); "" for an ordinary decode."""
    dec = ((evidence or {}).get("query") or {}).get("decode")
    if not isinstance(dec, Mapping):
        return ""
    try:
        report = DecodeReport.from_dict(dict(dec))
    except TypeError:
        return ""
    if not (report.partial or report.stream_changes or report.downmix in ("difference", "mixed")):
        return ""
    text = report.describe()
    return text[:1].upper() + text[1:] + ("." if report.partial else "") + (
        " Only the decoded part was compared with our recording." if report.partial else "")


def content_phrase(confirmed: Any, salient: Any) -> str:
    """How much of the upload's prominent sound our recording accounts for ("" if unmeasured).

    Low shares are what a different piece sharing a loop or sample looks like; a copy,
    even under heavy noise, keeps most of it."""
    c, n = num(confirmed), num(salient)
    if c is None or not n:
        return ""
    share = max(0.0, min(1.0, c / n))
    return f"{share:.0%} of the upload's prominent sound in and around the matched part is also in our recording ({c:.0f} of {n:.0f} peaks)"


# --------------------------------------------------------------------------- alignment SVG


def _points(landmarks: Iterable[Any] | None) -> list[tuple[float, float]]:
    pts = []
    for item in landmarks or []:
        try:
            x, y = num(item[0]), num(item[1])
        except (TypeError, IndexError, KeyError):
            continue
        if x is not None and y is not None:
            pts.append((x, y))
    return pts


def _nice_step(span: float, target: int = 5) -> float:
    raw = max(span, 1e-9) / target
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag  # pragma: no cover


def _domain(values: list[float]) -> tuple[float, float, float]:
    lo, hi = (min(values), max(values)) if values else (0.0, 10.0)
    if hi - lo < 1.0:
        mid = (hi + lo) / 2
        lo, hi = mid - 2.5, mid + 2.5
        if min(values or [0.0]) >= 0 and lo < 0:
            lo, hi = 0.0, 5.0 if hi <= 5 else hi
    step = _nice_step(hi - lo)
    return math.floor(lo / step) * step, math.ceil(hi / step) * step, step


def _fit(pts: list[tuple[float, float]]) -> tuple[float, float] | None:
    """Least-squares line y = a + b·x, or None when x does not vary."""
    if len(pts) < 2:
        return None
    n = len(pts)
    mx = sum(p[0] for p in pts) / n
    my = sum(p[1] for p in pts) / n
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    if sxx <= 1e-12:
        return None
    b = sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx
    return my - b * mx, b


def _tick(v: float, step: float) -> str:
    return f"{v:.0f}" if step >= 1 else f"{v:.1f}"


def alignment_svg(landmarks: Iterable[Any] | None, *, width: int = 600, height: int = 240, id_prefix: str = "align") -> str:
    """Scatter of matching landmarks: time in the upload (x) against time in our recording (y).

    Dots on one straight line mean the upload plays our recording continuously; the line's
    slope is the speed. Includes axes with ticks in seconds, the fitted line and an accessible
    <title>/<desc>. Well-formed XML (standalone or inline in HTML).
    """
    pts = _points(landmarks)
    W, H = int(width), int(height)
    ml, mr, mt, mb = 56, 16, 14, 44
    pw, ph = W - ml - mr, H - mt - mb
    x0, x1, xs = _domain([p[0] for p in pts])
    y0, y1, ys = _domain([p[1] for p in pts])

    def X(v: float) -> float:
        return ml + (v - x0) / (x1 - x0) * pw

    def Y(v: float) -> float:
        return mt + ph - (v - y0) / (y1 - y0) * ph

    fit = _fit(pts)
    if not pts:
        desc = "No matching landmarks to draw."
    else:
        qs, rs = [p[0] for p in pts], [p[1] for p in pts]
        desc = (
            f"{len(pts)} matching landmark{'s' * (len(pts) != 1)}: upload {fmt_time(min(qs))} to "
            f"{fmt_time(max(qs))} against our recording {fmt_time(min(rs))} to {fmt_time(max(rs))}."
        )
        if fit:
            desc += f" They lie along a line of slope {fit[1]:.2f} (1.00 means the same speed)."
    pid = esc(id_prefix)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
        f'role="img" aria-labelledby="{pid}-title {pid}-desc" class="alignment" '
        f'style="max-width:100%;height:auto;font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif">',
        f'<title id="{pid}-title">Alignment of the upload against our recording</title>',
        f'<desc id="{pid}-desc">{esc(desc)}</desc>',
        f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="#f8fafc" stroke="#cbd5e1"/>',
    ]
    # grid and ticks
    v = x0
    while v <= x1 + xs / 2:
        px = X(v)
        out.append(f'<line x1="{px:.1f}" y1="{mt}" x2="{px:.1f}" y2="{mt + ph}" stroke="#e2e8f0"/>')
        out.append(f'<text x="{px:.1f}" y="{mt + ph + 16}" font-size="12" fill="#475569" text-anchor="middle">{_tick(v, xs)}</text>')
        v += xs
    v = y0
    while v <= y1 + ys / 2:
        py = Y(v)
        out.append(f'<line x1="{ml}" y1="{py:.1f}" x2="{ml + pw}" y2="{py:.1f}" stroke="#e2e8f0"/>')
        out.append(f'<text x="{ml - 6}" y="{py + 4:.1f}" font-size="12" fill="#475569" text-anchor="end">{_tick(v, ys)}</text>')
        v += ys
    out.append(
        f'<text x="{ml + pw / 2:.1f}" y="{H - 8}" font-size="13" fill="#1e293b" text-anchor="middle">Time in the upload (s)</text>'
    )
    out.append(
        f'<text transform="translate(14 {mt + ph / 2:.1f}) rotate(-90)" font-size="13" fill="#1e293b" '
        f'text-anchor="middle">Time in our recording (s)</text>'
    )
    for x, y in pts:
        out.append(f'<circle cx="{X(x):.1f}" cy="{Y(y):.1f}" r="3.2" fill="#2563eb" fill-opacity="0.55"/>')
    if fit:
        a, b = fit
        lo, hi = min(p[0] for p in pts), max(p[0] for p in pts)
        out.append(
            f'<line x1="{X(lo):.1f}" y1="{Y(a + b * lo):.1f}" x2="{X(hi):.1f}" y2="{Y(a + b * hi):.1f}" '
            f'stroke="#ea580c" stroke-width="2" stroke-dasharray="7 5"><title>Fitted line, slope {b:.2f}</title></line>'
        )
    if not pts:
        out.append(
            f'<text x="{ml + pw / 2:.1f}" y="{mt + ph / 2:.1f}" font-size="13" fill="#64748b" '
            f'text-anchor="middle">No matching landmarks to draw</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


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
