"""The state machine's steps (other than notice dispatch), as a pure service over ports.

Each public method is one Task state of the "takedown case" state machine defined in
infra/takedown_infra/components.py; the handler maps the state's payload onto it.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable

from .cases import TERMINAL, AuditEvent, Case, ConcurrentChange, Status, utcnow
from .emails import review_request_email
from .ports import CaseRepository, Mailer, Review
from .review_links import review_url

REVIEW_RECORD_GRACE = 30 * 86400  # seconds a used/expired review record is kept (TTL) for audit


class CaseNotFound(Exception):
    pass


@dataclass(frozen=True)
class ReviewSettings:
    base_url: str
    link_key: bytes
    link_ttl_seconds: int
    reminders: int           # rounds that remind the same reviewer
    escalations: int         # rounds after those that go to the fallback reviewer
    allow: tuple[str, ...]   # reviewers, assigned by catalogue owner / artist
    fallback: str


def assign_reviewer(case: Case, settings: ReviewSettings, round_: int) -> tuple[str, str]:
    """(reviewer, kind) for a review round: the owner's reviewer, reminded, then escalated.

    The first reviewer is chosen by a stable hash of the catalogue owner (else the artist),
    so one owner's cases go to the same person and owners spread across the allow-list.
    """
    key = str(case.work.get("owner") or case.work.get("artist") or case.track_id)
    primary = settings.allow[int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(settings.allow)]
    if case.reviewer and round_ > 0 and round_ <= settings.reminders:
        return case.reviewer, "reminder"
    if round_ == 0:
        return (case.reviewer or primary), "request"
    if round_ <= settings.reminders:
        return primary, "reminder"
    return settings.fallback, "escalation"


class WorkflowService:
    def __init__(
        self,
        *,
        repo: CaseRepository,
        mailer: Mailer,
        settings: ReviewSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repo, self.mailer, self.settings, self.clock = repo, mailer, settings, clock

    def _case(self, case_id: str) -> Case:
        case = self.repo.get_case(case_id)
        if case is None:
            raise CaseNotFound(f"case {case_id} does not exist")
        return case

    def request_review(self, *, case_id: str, round_: int, task_token: str) -> dict[str, Any]:
        """Store the task token under an opaque review id and email the reviewer a link."""
        case = self._case(case_id)
        if case.status not in (Status.DETECTED, Status.IN_REVIEW):
            raise ConcurrentChange(case_id, Status.IN_REVIEW, case.status)
        reviewer, kind = assign_reviewer(case, self.settings, round_)
        now = int(self.clock())
        review = Review(
            review_id=secrets.token_urlsafe(18),
            case_id=case_id,
            reviewer=reviewer,
            task_token=task_token,
            round=round_,
            created_at=utcnow(),
            expires_at=now + self.settings.link_ttl_seconds,
        )
        self.repo.put_review(review, ttl_epoch=review.expires_at + REVIEW_RECORD_GRACE)
        case = self.repo.transition(
            case_id,
            case.status,
            Status.IN_REVIEW,
            AuditEvent(case_id, utcnow(), "system:workflow", f"review_{kind}", case.status.value,
                       Status.IN_REVIEW.value, {"reviewer": reviewer, "round": round_, "expires_at": review.expires_at}),
            updates={"reviewer": reviewer, "review_id": review.review_id, "review_round": round_},
        )
        url = review_url(
            self.settings.base_url,
            key=self.settings.link_key,
            review_id=review.review_id,
            case_id=case_id,
            reviewer=reviewer,
            expires_at=review.expires_at,
        )
        subject, text, html = review_request_email(
            case.to_dict(), url=url, reviewer=reviewer, expires_at=review.expires_at, round=round_, kind=kind
        )
        message_id = self.mailer.send(to=[reviewer], subject=subject, text=text, html=html)
        return {"case_id": case_id, "review_id": review.review_id, "reviewer": reviewer, "message_id": message_id}

    def review_timeout(self, *, case_id: str, round_: int) -> dict[str, Any]:
        """Nobody decided in time: another round (reminder, escalation) or expire the case."""
        case = self._case(case_id)
        nxt = round_ + 1
        if case.status != Status.IN_REVIEW:
            # Decided in the last instant: the decision stands; end the waiting loop.
            return {"case_id": case_id, "round": nxt, "expired": True, "auto_approve": False}
        if nxt > self.settings.reminders + self.settings.escalations:
            self.repo.transition(
                case_id, Status.IN_REVIEW, Status.REVIEW_EXPIRED,
                AuditEvent(case_id, utcnow(), "system:workflow", "review_expired", Status.IN_REVIEW.value,
                           Status.REVIEW_EXPIRED.value, {"rounds": nxt, "last_reviewer": case.reviewer}),
            )
            return {"case_id": case_id, "round": nxt, "expired": True, "auto_approve": False}
        self.repo.append_audit(
            AuditEvent(case_id, utcnow(), "system:workflow", "review_timed_out", Status.IN_REVIEW.value,
                       Status.IN_REVIEW.value, {"round": round_, "reviewer": case.reviewer})
        )
        return {"case_id": case_id, "round": nxt, "expired": False, "auto_approve": False}

    def approve_by_policy(self, *, case_id: str) -> dict[str, Any]:
        case = self._case(case_id)
        self.repo.transition(
            case_id, Status.DETECTED, Status.APPROVED,
            AuditEvent(case_id, utcnow(), "policy:stay-down", "approved", Status.DETECTED.value,
                       Status.APPROVED.value, {"reason": case.policy.get("reason")}),
            updates={"decision": {"decision": "approve", "by": "policy:stay-down", "at": utcnow(),
                                  "note": case.policy.get("reason")}},
        )
        return {"case_id": case_id}

    def record_failure(self, *, case_id: str, error: dict[str, Any] | None) -> dict[str, Any]:
        """Any failure ends the case in FAILED with its cause; never silent."""
        error = error or {}
        cause = {"error": error.get("Error", "Unknown"), "cause": str(error.get("Cause", ""))[:4000]}
        case = self.repo.get_case(case_id)
        if case is None:
            raise CaseNotFound(f"case {case_id} does not exist (failure was: {cause})")
        event = AuditEvent(case_id, utcnow(), "system:workflow", "failed", case.status.value,
                           Status.FAILED.value, cause)
        if case.status in TERMINAL:
            self.repo.append_audit(AuditEvent(case_id, event.at, event.actor, "failure_after_end",
                                              case.status.value, case.status.value, cause))
        else:
            self.repo.transition(case_id, case.status, Status.FAILED, event, updates={"failure": cause})
        return {"case_id": case_id, "failed": True, **cause}
