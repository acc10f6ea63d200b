"""The alignment chart: matching landmarks drawn as an inline SVG scatter with its fitted line.

Numeric geometry, so Python rather than a template; every text in it is escaped. Well-formed
XML, inline in the review page or standalone.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from .evidence import landmark_points
from .render import esc
from .wording import fmt_time


def _points(landmarks: Iterable[Any] | None) -> list[tuple[float, float]]:
    return list(landmark_points(landmarks))


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
