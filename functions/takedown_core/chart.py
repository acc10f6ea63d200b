"""The evidence page's pictures: the alignment chart (matching landmarks drawn as an inline SVG
scatter with its fitted line) and the geometry of the bar over the upload's whole length.

Numeric geometry, so Python rather than a template; every text in the SVG is escaped. The SVG
is well-formed XML, inline in the review page or standalone; the bar is drawn by the template
in HTML and CSS from ``upload_timeline``'s numbers (so its text is real text, not scaled).
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from .evidence import MatchEvidence, landmark_points, num
from .render import esc
from .wording import fmt_time


def _points(landmarks: Iterable[Any] | None) -> list[tuple[float, float]]:
    return list(landmark_points(landmarks))


# The chart's size and type, in SVG units. The SVG is drawn at CHART_WIDTH px and shrinks with
# its column (max-width:100%), never grows: on a 360 px phone the evidence card leaves it
# PHONE_COLUMN_PX (review.css: 16 px page padding, 16 px card padding and a 1 px border each
# side), so a label of TICK_FONT units shows at TICK_FONT × PHONE_COLUMN_PX / CHART_WIDTH px:
# 14 × 294 / 340 = 12.1 px, above the 11 px floor for legible text on a phone.
CHART_WIDTH = 340
CHART_HEIGHT = 250
TICK_FONT = 14
LABEL_FONT = 14
PHONE_COLUMN_PX = 360 - 2 * 16 - 2 * (16 + 1)
MIN_PHONE_FONT_PX = 11.0


def effective_px(font_units: float, *, column_px: float = PHONE_COLUMN_PX, width: int = CHART_WIDTH) -> float:
    """The size in CSS px of a text of ``font_units`` in a chart ``width`` units wide shown in a
    ``column_px`` column (the SVG scales down to fit, never up)."""
    return font_units * min(1.0, column_px / width)


# Tick steps in seconds that read well as m:ss (never 0:07, 0:14, ...).
_TIME_STEPS = (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200)


def time_step(span: float, max_ticks: int = 5) -> float:
    """A tick step in seconds for ``span`` seconds: at most ``max_ticks`` intervals, on a step a
    listener counts in (5 s, 15 s, 30 s, 1 min, ...)."""
    for step in _TIME_STEPS:
        if span / step <= max_ticks:
            return float(step)
    return float(3600 * math.ceil(span / max_ticks / 3600))


def _domain(values: list[float]) -> tuple[float, float, float]:
    lo, hi = (min(values), max(values)) if values else (0.0, 10.0)
    if hi - lo < 5.0:
        mid = (hi + lo) / 2
        lo, hi = mid - 2.5, mid + 2.5
        if min(values or [0.0]) >= 0 and lo < 0:
            lo, hi = 0.0, max(5.0, hi)
    step = time_step(hi - lo)
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


def alignment_svg(landmarks: Iterable[Any] | None, *, width: int = CHART_WIDTH, height: int = CHART_HEIGHT,
                  id_prefix: str = "align") -> str:
    """Scatter of matching landmarks: time in the upload (x) against time in our recording (y).

    Dots on one straight line mean the upload plays our recording continuously; the line's
    slope is the speed. Axes are ticked in m:ss, as the page's text writes times; the fitted
    line is drawn over the dots, dashed, so the dots show between its dashes; an
    accessible <title>/<desc>. Well-formed XML (standalone or inline in HTML).
    """
    pts = _points(landmarks)
    W, H = int(width), int(height)
    ml, mr, mt, mb = 58, 16, 12, 50
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
    # grid and ticks, in m:ss
    v = x0
    while v <= x1 + xs / 2:
        px = X(v)
        out.append(f'<line x1="{px:.1f}" y1="{mt}" x2="{px:.1f}" y2="{mt + ph}" stroke="#e2e8f0"/>')
        out.append(f'<text class="tick" x="{px:.1f}" y="{mt + ph + TICK_FONT + 4}" font-size="{TICK_FONT}" '
                   f'fill="#334155" text-anchor="middle">{esc(fmt_time(v))}</text>')
        v += xs
    v = y0
    while v <= y1 + ys / 2:
        py = Y(v)
        out.append(f'<line x1="{ml}" y1="{py:.1f}" x2="{ml + pw}" y2="{py:.1f}" stroke="#e2e8f0"/>')
        out.append(f'<text class="tick" x="{ml - 6}" y="{py + TICK_FONT * 0.35:.1f}" font-size="{TICK_FONT}" '
                   f'fill="#334155" text-anchor="end">{esc(fmt_time(v))}</text>')
        v += ys
    out.append(
        f'<text x="{ml + pw / 2:.1f}" y="{H - 8}" font-size="{LABEL_FONT}" fill="#1e293b" '
        f'text-anchor="middle">Time in the upload (m:ss)</text>'
    )
    out.append(
        f'<text transform="translate({LABEL_FONT + 2} {mt + ph / 2:.1f}) rotate(-90)" font-size="{LABEL_FONT}" '
        f'fill="#1e293b" text-anchor="middle">Time in our recording (m:ss)</text>'
    )
    for x, y in pts:
        out.append(f'<circle cx="{X(x):.1f}" cy="{Y(y):.1f}" r="3.2" fill="#2563eb" fill-opacity="0.45"/>')
    if fit:  # after the dots, so it is drawn over them
        a, b = fit
        lo, hi = min(p[0] for p in pts), max(p[0] for p in pts)
        coords = f'x1="{X(lo):.1f}" y1="{Y(a + b * lo):.1f}" x2="{X(hi):.1f}" y2="{Y(a + b * hi):.1f}"'
        out.append(
            f'<line {coords} stroke="#c2410c" stroke-width="2.5" stroke-dasharray="10 7" '
            f'class="fit"><title>Fitted line, slope {b:.2f}</title></line>'
        )
    if not pts:
        out.append(
            f'<text x="{ml + pw / 2:.1f}" y="{mt + ph / 2:.1f}" font-size="{LABEL_FONT}" fill="#64748b" '
            f'text-anchor="middle">No matching landmarks to draw</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def _pct(v: float, total: float) -> float:
    return round(max(0.0, min(100.0, v / total * 100.0)), 2)


def upload_timeline(evidence: Any) -> dict[str, Any] | None:
    """The upload's whole length and which parts of it are ours, for the bar over its timeline.

    The length is what the decode report says: the duration the file claims, else what was
    decoded (the longer, if a file under-claims). None when the evidence has no decode report:
    the page then says the length is not known rather than guess it. Returns ``duration``
    (seconds) and ``length`` (m:ss); ``ours``: the matched span(s), each {start, end, label,
    left, width} (left and width in % of the bar); ``unchecked``: the part past what was
    decoded (the decoding limit, or audio that could not be decoded), {start, end, label, left,
    width, why} or None; ``ticks``: [(m:ss, left %)], 0:00 and the end included; ``sentence``:
    the bar in words (its accessible name).
    """
    ev = MatchEvidence.from_document(evidence)
    report = ev.decode
    if report is None or num(report.decoded_s) is None:
        return None
    decoded = max(0.0, float(report.decoded_s))
    claimed = num(report.claimed_s)
    duration = max(decoded, claimed or 0.0)
    if duration <= 0:
        return None
    ours = []
    if ev.query_start_s is not None and ev.matched_duration_s is not None:
        start = max(0.0, ev.query_start_s)
        end = min(duration, ev.query_start_s + max(0.0, ev.matched_duration_s))
        if end > start:
            ours.append({"start": start, "end": end, "label": f"{fmt_time(start)}–{fmt_time(end)}",
                         "left": _pct(start, duration), "width": max(0.6, _pct(end - start, duration))})
    unchecked = None
    if duration - decoded > 0.5:
        why = "past the decoding limit" if report.capped else "could not be decoded"
        unchecked = {"start": decoded, "end": duration, "label": f"{fmt_time(decoded)}–{fmt_time(duration)}",
                     "left": _pct(decoded, duration), "width": _pct(duration - decoded, duration), "why": why}
    step = time_step(duration, max_ticks=6)
    ticks = [(fmt_time(0), 0.0)]
    t = step
    while t < duration - 0.08 * duration:
        ticks.append((fmt_time(t), _pct(t, duration)))
        t += step
    ticks.append((fmt_time(duration), 100.0))
    length = fmt_time(duration)
    if ours:
        spans = ", ".join(o["label"] for o in ours)
        share = sum(o["end"] - o["start"] for o in ours) / duration
        sentence = f"The upload is {length} long; {spans} ({share:.0%} of it) matched our recording"
    else:
        sentence = f"The upload is {length} long; where it matched our recording is not recorded"
    sentence += f"; {unchecked['label']} was not checked ({unchecked['why']})." if unchecked else "."
    return {"duration": duration, "length": length, "ours": ours, "unchecked": unchecked, "ticks": ticks,
            "sentence": sentence}
