"""The label's report: what happened to the cases opened in a period.

``takedown report --since DATE [--until DATE] [--format html|csv|json] [--out FILE]``, against
the running ``takedown local up --expose-aws`` or a deployed stack (``--stack``).

- cases by status, kind, platform, partner, artist and work;
- time from upload (the case opened) to decision, to notice and to removal, in hours
  (median and 90th percentile, nearest-rank);
- notices that failed, were invalid or were rejected, with their reasons;
- counter-notices and their restoration clocks;
- repeat uploaders (per platform and uploader, the cases whose notice was sent).

``html`` is one self-contained file (inline SVG charts drawn by matplotlib, no script, no
external resource), ``csv`` one row per case, ``json`` the aggregates. The aggregation is
pure (``aggregate``) and runs over ``CaseRecord`` values, so it is tested without AWS.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from takedown_core.cases import AuditEvent, Case, Status, ending_reason, normalize_uploader

TEMPLATES = Path(__file__).with_name("templates")


@dataclass(frozen=True)
class CaseRecord:
    """A case with its audit trail (oldest first)."""

    case: Case
    audit: tuple[AuditEvent, ...] = field(default_factory=tuple)


def _at(iso: str | None) -> datetime | None:
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None


def _first(audit: Iterable[AuditEvent], statuses: set[str]) -> datetime | None:
    for e in audit:
        if e.to_status in statuses and e.from_status != e.to_status:
            return _at(e.at)
    return None


def timings(rec: CaseRecord) -> dict[str, float | None]:
    """Hours from the case's opening to its decision, its notice and the content's removal
    (None where it has not happened)."""
    start = _at(rec.case.created_at)
    points = {
        "decision": _first(rec.audit, {Status.APPROVED.value, Status.REJECTED.value}),
        "notice": _first(rec.audit, {Status.NOTICE_SENT.value}),
        "removal": _first(rec.audit, {Status.CONTENT_REMOVED.value}),
    }
    return {k: (round((v - start).total_seconds() / 3600, 3) if v and start else None) for k, v in points.items()}


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of ``values``; None for none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _count(values: Iterable[str]) -> list[tuple[str, int]]:
    return sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0]))


def aggregate(records: list[CaseRecord], *, since: date, until: date | None) -> dict[str, Any]:
    """The report's numbers (JSON-serialisable) over ``records`` opened in [since, until]."""
    inside = [r for r in records if _in_period(r.case.created_at, since, until)]
    cases = [r.case for r in inside]
    times = {r.case.case_id: timings(r) for r in inside}
    stats = {}
    for what in ("decision", "notice", "removal"):
        values = [t[what] for t in times.values() if t[what] is not None]
        stats[what] = {"cases": len(values), "median_h": percentile(values, 50), "p90_h": percentile(values, 90)}
    problems = [{"case_id": c.case_id, "status": c.status.value, "platform": c.source.platform,
                 "location": c.location, "reason": ending_reason(c)}
                for c in cases if c.status in (Status.NOTICE_FAILED, Status.NOTICE_INVALID, Status.NOTICE_REJECTED,
                                               Status.FAILED)]
    counters = [{"case_id": c.case_id, "status": c.status.value, "location": c.location,
                 **{k: (c.counter_notice or {}).get(k) for k in ("received", "decide_by", "restore_earliest",
                                                                 "restore_latest")}}
                for c in cases if c.counter_notice]
    sent = {Status.NOTICE_SENT, Status.CONTENT_REMOVED, Status.COUNTER_NOTICED, Status.RESTORED, Status.LEGAL_ACTION}
    repeat = Counter((c.source.platform, normalize_uploader(c.source.uploader)) for c in cases
                     if c.status in sent and c.source.uploader)
    return {
        "period": {"since": since.isoformat(), "until": until.isoformat() if until else None},
        "cases": len(cases),
        "by_status": _count(c.status.value for c in cases),
        "by_kind": _count(c.kind.value for c in cases),
        "by_platform": _count(c.source.platform or "?" for c in cases),
        "by_partner": _count(c.source.partner or "?" for c in cases),
        "by_artist": _count(str(c.work.get("artist") or "?") for c in cases),
        "by_work": _count(str(c.work.get("title") or c.track_id) for c in cases),
        "time_to": stats,
        "notices_not_sent": problems,
        "counter_notices": counters,
        "repeat_uploaders": [{"platform": p, "uploader": u, "notices": n}
                             for (p, u), n in sorted(repeat.items(), key=lambda kv: (-kv[1], kv[0])) if n >= 2],
        "rows": [_row(c, times[c.case_id]) for c in cases],
    }


def _in_period(created_at: str, since: date, until: date | None) -> bool:
    at = _at(created_at)
    if at is None:
        return False
    day = at.astimezone(timezone.utc).date()
    return day >= since and (until is None or day <= until)


def _row(c: Case, t: dict[str, float | None]) -> dict[str, Any]:
    return {"case_id": c.case_id, "opened": c.created_at, "status": c.status.value, "kind": c.kind.value,
            "platform": c.source.platform, "partner": c.source.partner, "uploader": c.source.uploader,
            "artist": c.work.get("artist"), "work": c.work.get("title") or c.track_id, "location": c.location,
            "hours_to_decision": t["decision"], "hours_to_notice": t["notice"], "hours_to_removal": t["removal"],
            "reason": ending_reason(c) or ""}


# --------------------------------------------------------------------------- output


def to_json(report: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in report.items() if k != "rows"}, indent=2, ensure_ascii=False)


def to_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    fields = ["case_id", "opened", "status", "kind", "platform", "partner", "uploader", "artist", "work", "location",
              "hours_to_decision", "hours_to_notice", "hours_to_removal", "reason"]
    w = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for row in report["rows"]:
        w.writerow({k: ("" if row.get(k) is None else row[k]) for k in fields})
    return out.getvalue()


def bar_svg(pairs: list[tuple[str, int]], *, title: str, color: str = "#1d4ed8") -> str:
    """A horizontal bar chart as an inline SVG (matplotlib's SVG backend; no browser needed)."""
    import matplotlib

    matplotlib.use("svg")
    import matplotlib.pyplot as plt

    pairs = pairs[:12] or [("none", 0)]
    labels = [p[0] if len(p[0]) <= 18 else p[0][:17] + "…" for p in pairs][::-1]
    values = [p[1] for p in pairs][::-1]
    fig, ax = plt.subplots(figsize=(3.0, 0.34 * len(pairs) + 0.55), dpi=100)  # 300 px: no scaling on a phone
    try:
        bars = ax.barh(labels, values, color=color)
        ax.bar_label(bars, padding=3, fontsize=11)
        ax.set_title(title, fontsize=1, color="none")  # the page's caption shows it; the SVG keeps it for a reader
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=11)
        ax.set_xlim(0, max(values + [1]) * 1.18)
        ax.xaxis.get_major_locator().set_params(integer=True)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})  # the same report, the same bytes
    finally:
        plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]  # inline: no XML prolog or doctype


def to_html(report: dict[str, Any], *, generated: str, source: str) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape
    from markupsafe import Markup

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html.j2"]),
                      trim_blocks=True, lstrip_blocks=True)
    charts = {
        "status": Markup(bar_svg(report["by_status"], title="Cases by status")),
        "kind": Markup(bar_svg(report["by_kind"], title="Cases by kind", color="#7c3aed")),
        "platform": Markup(bar_svg(report["by_platform"], title="Cases by platform", color="#0f766e")),
    }
    return env.get_template("report.html.j2").render(r=report, charts=charts, generated=generated, source=source,
                                                    hours=_hours)


def _hours(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 1:
        return f"{value * 60:.0f} min"
    if value < 48:
        return f"{value:.1f} h"
    return f"{value / 24:.1f} days"


# --------------------------------------------------------------------------- the command


def cmd_report(args: argparse.Namespace) -> int:
    from .cases_cli import _repo, _target_session

    try:
        since = date.fromisoformat(args.since)
        until = date.fromisoformat(args.until) if args.until else None
    except ValueError as e:
        print(f"error: dates are YYYY-MM-DD ({e})", file=sys.stderr)
        return 2
    client, table, _ = _target_session(args)
    repo = _repo(client, table)
    records = [CaseRecord(c, tuple(repo.audit_trail(c.case_id))) for c in repo.list_cases(limit=1_000_000)
               if _in_period(c.created_at, since, until)]
    report = aggregate(records, since=since, until=until)
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    source = f"stack {args.stack}" if args.stack else "the local stack"
    text = {"json": to_json, "csv": to_csv}.get(args.format, lambda r: to_html(r, generated=generated,
                                                                            source=source))(report)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"{report['cases']} case(s) from {since} to {until or 'now'}: {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def add_commands(sub) -> None:
    from .cases_cli import _guard

    p = sub.add_parser("report", help="the label's report: cases, times, notices, counter-notices, repeat uploaders")
    p.add_argument("--since", required=True, help="first day (YYYY-MM-DD) of cases opened")
    p.add_argument("--until", help="last day (YYYY-MM-DD), inclusive; default: today")
    p.add_argument("--format", choices=["html", "csv", "json"], default="html")
    p.add_argument("--out", help="write to this file (default: standard output)")
    p.add_argument("--stack", help="a deployed stack's name (default: the running `takedown local up --expose-aws`)")
    p.add_argument("--region", default=None)
    p.set_defaults(func=_guard(cmd_report))
