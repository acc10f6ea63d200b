"""Is the content down? The check after a notice, and the escalation when it is not.

Some time after a notice was sent (``check_after_hours``), each NOTICE_SENT case is looked at:

- a partner reported the same item again after the notice (ingest audits ``reported_again``):
  it is still up;
- else the configured :class:`ContentChecker` is asked about the case's URL (the HTTP checker
  in the deployed stack: 404 / 410, or a platform's "gone" marker in the page, means removed;
  ``None``: it cannot tell). Removed: the case becomes CONTENT_REMOVED (actor
  ``system:compliance``).

Still up (or unknown) past ``escalate_after_hours`` after the notice: a person is told, once
(audit ``compliance_escalated``; the rights desk's address, else the fallback reviewer).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Protocol

from .cases import AuditEvent, Case, Status, utcnow
from .ports import CaseStore, Mailer


class ContentChecker(Protocol):
    def is_up(self, url: str, platform: str) -> bool | None:
        """True: the content is still there; False: it is gone; None: cannot tell."""


class NoChecker:
    """No outbound check (the local stack, or a label that relies on partners' re-reports)."""

    def is_up(self, url: str, platform: str) -> bool | None:
        return None


@dataclass(frozen=True)
class ComplianceSettings:
    check_after_hours: float = 48.0
    escalate_after_hours: float = 120.0
    notify: str = ""


class ComplianceService:
    def __init__(self, *, repo: CaseStore, checker: ContentChecker, mailer: Mailer, settings: ComplianceSettings,
                 clock: Callable[[], float] = time.time) -> None:
        self.repo, self.checker, self.mailer, self.settings, self.clock = repo, checker, mailer, settings, clock

    def run(self) -> dict[str, Any]:
        """Check every NOTICE_SENT case that is due. Returns counts: checked, removed, still_up,
        unknown, escalated."""
        out = {"checked": 0, "removed": 0, "still_up": 0, "unknown": 0, "escalated": 0}
        for case in self.repo.list_cases(Status.NOTICE_SENT, limit=100_000):
            result = self.check(case)
            if result is not None:
                out["checked"] += 1
                out[result["state"]] += 1
                out["escalated"] += bool(result.get("escalated"))
        return out

    def check(self, case: Case) -> dict[str, Any] | None:
        """One case: None when it is not due yet, else {"state": removed|still_up|unknown, "escalated"}."""
        trail = self.repo.audit_trail(case.case_id)
        sent_at = next((_epoch(e.at) for e in reversed(trail) if e.to_status == Status.NOTICE_SENT.value
                        and e.from_status != Status.NOTICE_SENT.value), None)
        if sent_at is None:
            return None
        age_h = (self.clock() - sent_at) / 3600
        if age_h < self.settings.check_after_hours:
            return None
        reported = any(e.action == "reported_again" and (_epoch(e.at) or 0) > sent_at for e in trail)
        up = True if reported else self.checker.is_up(case.source.url or case.location, case.source.platform)
        if up is False:
            self.repo.transition(case.case_id, Status.NOTICE_SENT, Status.CONTENT_REMOVED,
                                 AuditEvent(case.case_id, utcnow(), "system:compliance", "content_gone",
                                            Status.NOTICE_SENT.value, Status.CONTENT_REMOVED.value,
                                            {"hours_after_notice": round(age_h, 1)}),
                                 updates={"outcome": {"outcome": "removed", "at": utcnow(), "by": "system:compliance",
                                                      "note": "the URL no longer serves the content"}})
            return {"state": "removed"}
        state = "still_up" if up else "unknown"
        escalated = False
        if age_h >= self.settings.escalate_after_hours and not any(e.action == "compliance_escalated" for e in trail):
            self._escalate(case, age_h, "a partner reported it again after the notice" if reported
                           else "the URL still serves it" if up else "its removal could not be confirmed")
            escalated = True
        return {"state": state, "escalated": escalated}

    def _escalate(self, case: Case, age_h: float, why: str) -> None:
        days = age_h / 24
        subject = f"Still up {days:.0f} days after the notice: case {case.case_id}"
        text = (f"The notice for {case.source.url or case.location} (case {case.case_id}, "
                f"{case.work.get('title') or case.track_id}) was sent {days:.1f} days ago and {why}.\n\n"
                "Follow up with the platform, then record what happened:\n"
                f"  takedown cases outcome {case.case_id} removed|rejected --note \"...\"\n")
        self.mailer.send(to=[self.settings.notify], subject=subject, text=text)
        self.repo.append_audit(AuditEvent(case.case_id, utcnow(), "system:compliance", "compliance_escalated",
                                          Status.NOTICE_SENT.value, Status.NOTICE_SENT.value,
                                          {"to": self.settings.notify, "why": why, "days": round(days, 1)}))


def _epoch(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(timezone.utc).timestamp()
    except ValueError:
        return None
