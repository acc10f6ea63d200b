"""The label's report (takedown_local.report): aggregation over cases and their audit trails,
and the three formats."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import date

import pytest

from takedown_core.cases import AuditEvent, Case, Source, Status
from takedown_local.report import CaseRecord, aggregate, percentile, to_csv, to_html, to_json

pytestmark = pytest.mark.usefixtures("no_network")


def _case(n: int, *, platform="youtube", uploader="nightcore_fan", status=Status.NOTICE_SENT, day="01", **kw) -> Case:
    c = Case.open(track_id=f"trk-{n % 3}", work={"title": f"Song {n % 3}", "artist": "The Lanterns"},
                  source=Source(partner="monitor-a", platform=platform, url=f"https://www.youtube.com/watch?v=v{n}",
                                uploader=uploader, bucket="b", key=f"k{n}"),
                  evidence={}, policy={}, submission=f"{n:02d}" * 32)
    return replace(c, status=status, created_at=f"2026-11-{day}T10:00:00.000Z", **kw)


def _trail(c: Case, *moves: tuple[str, str, str]) -> tuple[AuditEvent, ...]:
    return tuple(AuditEvent(c.case_id, at, "t", "t", frm, to) for at, frm, to in moves)


def _records() -> list[CaseRecord]:
    a = _case(1)
    b = _case(2, status=Status.CONTENT_REMOVED)
    c = _case(3, status=Status.NOTICE_REJECTED, notice={"reason": "cannot locate the material"})
    d = _case(4, status=Status.COUNTER_NOTICED, counter_notice={"received": "2026-11-03", "decide_by": "2026-11-16",
                                                               "restore_earliest": "2026-11-17",
                                                               "restore_latest": "2026-11-23"})
    old = _case(5, day="01")
    old = replace(old, created_at="2026-10-01T10:00:00.000Z")
    return [
        CaseRecord(a, _trail(a, ("2026-11-01T12:00:00.000Z", "IN_REVIEW", "APPROVED"),
                             ("2026-11-01T12:30:00.000Z", "APPROVED", "NOTICE_SENT"))),
        CaseRecord(b, _trail(b, ("2026-11-01T14:00:00.000Z", "IN_REVIEW", "APPROVED"),
                             ("2026-11-01T15:00:00.000Z", "APPROVED", "NOTICE_SENT"),
                             ("2026-11-03T10:00:00.000Z", "NOTICE_SENT", "CONTENT_REMOVED"))),
        CaseRecord(c, _trail(c, ("2026-11-01T11:00:00.000Z", "IN_REVIEW", "APPROVED"))),
        CaseRecord(d, _trail(d, ("2026-11-02T10:00:00.000Z", "IN_REVIEW", "APPROVED"),
                             ("2026-11-02T11:00:00.000Z", "APPROVED", "NOTICE_SENT"))),
        CaseRecord(old, ()),
    ]


def test_the_report_counts_times_problems_clocks_and_repeat_uploaders():
    r = aggregate(_records(), since=date(2026, 11, 1), until=date(2026, 11, 30))
    assert r["cases"] == 4  # the October case is outside the period
    assert dict(r["by_status"]) == {"NOTICE_SENT": 1, "CONTENT_REMOVED": 1, "NOTICE_REJECTED": 1, "COUNTER_NOTICED": 1}
    assert r["time_to"]["decision"] == {"cases": 4, "median_h": 2.0, "p90_h": 24.0}
    assert r["time_to"]["notice"]["cases"] == 3 and r["time_to"]["notice"]["median_h"] == 5.0
    assert r["time_to"]["removal"] == {"cases": 1, "median_h": 48.0, "p90_h": 48.0}
    [problem] = r["notices_not_sent"]
    assert problem["status"] == "NOTICE_REJECTED" and "cannot locate" in problem["reason"]
    [clock] = r["counter_notices"]
    assert clock["decide_by"] == "2026-11-16"
    assert r["repeat_uploaders"] == [{"platform": "youtube", "uploader": "nightcore_fan", "notices": 3}]


def test_percentile_is_nearest_rank():
    assert percentile([], 50) is None
    assert percentile([5.0], 90) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0 and percentile(list(map(float, range(1, 11))), 90) == 9.0


def test_csv_json_and_html_formats():
    r = aggregate(_records(), since=date(2026, 11, 1), until=None)
    rows = list(csv.DictReader(io.StringIO(to_csv(r))))
    assert len(rows) == 4 and rows[1]["hours_to_removal"] == "48.0"
    doc = json.loads(to_json(r))
    assert doc["cases"] == 4 and "rows" not in doc
    page = to_html(r, generated="2026-11-30 12:00 UTC", source="the local stack")
    assert page.count("<svg") == 3 and "<script" not in page
    for external in ('src="http', 'href="http', "<link", "url(http", "@import"):  # self-contained
        assert external not in page
    assert "Counter-notices and their clocks" in page and "2026-11-16" in page and "nightcore_fan" in page
