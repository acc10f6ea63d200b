"""The state machine's steps (other than notice dispatch), as a pure service over ports.

Each public method is one Task state of the "takedown case" state machine defined in
infra/takedown_infra/components.py; the handler maps the state's payload onto it.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .cases import TERMINAL, AuditEvent, Case, ConcurrentChange, NotApplicable, Status, utcnow
from .clips import ClipMaker, ClipSet
from .emails import digest_email, review_request_email
from .ports import Mailer, Review, ReviewAlreadyUsed, ReviewRepository, TransientError
from .review_links import queue_url, review_url

REVIEW_RECORD_GRACE = 30 * 86400  # seconds a used/expired review record is kept (TTL) for audit


class CaseNotFound(Exception):
    pass


class ReviewerNotAllowed(ValueError):
    """Only reviewers in the environment's configuration may be assigned."""


@dataclass(frozen=True)
class ReviewSettings:
    base_url: str
    link_key: bytes
    link_ttl_seconds: int
    reminders: int           # rounds that remind the same reviewer
    escalations: int         # rounds after those that go to the fallback reviewer
    allow: tuple[str, ...]   # reviewers, assigned by catalogue owner / artist
    fallback: str
    digest_threshold: int = 0  # pending reviews a reviewer has before new ones go to the digest (0: never)


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
        repo: ReviewRepository,
        mailer: Mailer,
        settings: ReviewSettings,
        clock: Callable[[], float] = time.time,
        counter_notice: Mapping[str, Any] | None = None,
        clips: ClipMaker | None = None,
    ) -> None:
        """``clips``: cuts the audio clips a reviewer hears (None: no clips). ``counter_notice``: {country, subdivision, after_business_days, by_business_days} of
        the restoration clock (restoration.py; US, 10 and 14 by default), and ``notify``: who is
        told a decision is due (the fallback reviewer by default)."""
        self.repo, self.mailer, self.settings, self.clock = repo, mailer, settings, clock
        self.counter_notice = dict(counter_notice or {})
        self.clips = clips

    def _clips_for(self, case: Case, review_id: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """The review's clips and what the audit says of them. A reminder or an escalation
        plays the clips the previous round cut when they all were (the same case, the same
        audio); otherwise they are cut now. A clip that cannot be cut never holds a review
        back: the failure is in the clip set (the page says why) and the audit."""
        if self.clips is None:
            return None, {}
        previous = self.repo.get_review(case.review_id) if case.review_id else None
        if previous is not None and previous.clips and previous.clips.get("clips") \
                and not previous.clips.get("problems"):
            return previous.clips, {"clips": len(previous.clips["clips"]), "clips_from": previous.review_id}
        try:
            clip_set = self.clips.make(case, review_id)
        except TransientError:
            raise  # throttled or unreachable: the state machine retries the step
        except Exception as e:  # noqa: BLE001 - any failure to cut is reported, never fatal to the review
            clip_set = ClipSet(problems=[f"The clips could not be cut ({type(e).__name__})."])
            return clip_set.to_dict(), {"clips": 0, "clip_problems": clip_set.problems, "clip_error": str(e)[:500]}
        return clip_set.to_dict(), {"clips": len(clip_set.clips), "clip_problems": clip_set.problems[:5]}

    def _case(self, case_id: str) -> Case:
        case = self.repo.get_case(case_id)
        if case is None:
            raise CaseNotFound(f"case {case_id} does not exist")
        return case

    def _queue_url(self, reviewer: str) -> str:
        """The reviewer's queue link for a mail sent now: valid as long as a review link would be."""
        return queue_url(self.settings.base_url, key=self.settings.link_key, reviewer=reviewer,
                         expires_at=int(self.clock()) + self.settings.link_ttl_seconds)

    def request_review(self, *, case_id: str, round_: int, task_token: str) -> dict[str, Any]:
        """Store the task token under an opaque review id and email the reviewer a link."""
        case = self._case(case_id)
        if case.status not in (Status.DETECTED, Status.IN_REVIEW):
            raise ConcurrentChange(case_id, Status.IN_REVIEW, case.status)
        reviewer, kind = assign_reviewer(case, self.settings, round_)
        review_id = secrets.token_urlsafe(18)
        # First, before the queue is counted and the link's time starts: cutting takes seconds
        clips, clip_audit = self._clips_for(case, review_id)
        now = int(self.clock())
        delivery = "email"
        if self.settings.digest_threshold and kind == "request":
            pending = [c for c in self.repo.list_cases(Status.IN_REVIEW) if c.reviewer == reviewer]
            if len(pending) >= self.settings.digest_threshold:
                delivery = "digest"  # a long queue: one hourly email instead of one per case
        review = Review(
            review_id=review_id,
            case_id=case_id,
            reviewer=reviewer,
            task_token=task_token,
            round=round_,
            created_at=utcnow(),
            expires_at=now + self.settings.link_ttl_seconds,
            delivery=delivery,
            clips=clips,
        )
        self.repo.put_review(review, ttl_epoch=review.expires_at + REVIEW_RECORD_GRACE)
        case = self.repo.transition(
            case_id,
            case.status,
            Status.IN_REVIEW,
            AuditEvent(case_id, utcnow(), "system:workflow", f"review_{kind}", case.status.value,
                       Status.IN_REVIEW.value, {"reviewer": reviewer, "round": round_,
                                                "expires_at": review.expires_at, "delivery": delivery,
                                                **clip_audit}),
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
        if delivery == "digest":
            return {"case_id": case_id, "review_id": review.review_id, "reviewer": reviewer, "delivery": delivery}
        subject, text, html = review_request_email(
            case.to_dict(), url=url, reviewer=reviewer, expires_at=review.expires_at, round=round_, kind=kind,
            queue_url=self._queue_url(reviewer),
        )
        message_id = self.mailer.send(to=[reviewer], subject=subject, text=text, html=html)
        return {"case_id": case_id, "review_id": review.review_id, "reviewer": reviewer, "message_id": message_id}

    def send_digests(self) -> dict[str, Any]:
        """One email per reviewer listing every case waiting for them (the hourly batch view).

        Sent only to reviewers with at least one review held back for the digest; it lists all
        their pending cases so the one email is the whole queue.
        """
        now = int(self.clock())
        by_reviewer: dict[str, list[tuple[dict[str, Any], str, int]]] = {}
        held: set[str] = set()
        for case in self.repo.list_cases(Status.IN_REVIEW):
            review = self.repo.get_review(case.review_id) if case.review_id else None
            if review is None or review.used or review.expires_at <= now or review.reviewer != case.reviewer:
                continue
            url = review_url(self.settings.base_url, key=self.settings.link_key, review_id=review.review_id,
                             case_id=case.case_id, reviewer=review.reviewer, expires_at=review.expires_at)
            by_reviewer.setdefault(review.reviewer, []).append((case.to_dict(), url, review.expires_at))
            if review.delivery == "digest":
                held.add(review.reviewer)
        sent = {}
        for reviewer in sorted(held):
            items = by_reviewer[reviewer]
            subject, text, html = digest_email(items, reviewer=reviewer, queue_url=self._queue_url(reviewer))
            sent[reviewer] = {"cases": len(items), "message_id": self.mailer.send(
                to=[reviewer], subject=subject, text=text, html=html)}
        return {"digests": sent}

    def reassign(self, *, case_id: str, reviewer: str, actor: str) -> dict[str, Any]:
        """Hand a waiting review to another reviewer: a new link for them, the old one dies.

        The execution keeps waiting on the same task token; only who holds the link changes.
        """
        allowed = set(self.settings.allow) | {self.settings.fallback}
        if reviewer not in allowed:
            raise ReviewerNotAllowed(f"{reviewer} is not a configured reviewer; allowed: {sorted(allowed)}")
        case = self._case(case_id)
        if case.status != Status.IN_REVIEW or not case.review_id:
            raise ConcurrentChange(case_id, Status.IN_REVIEW, case.status)
        old = self.repo.get_review(case.review_id)
        if old is None or old.used:
            raise ConcurrentChange(case_id, Status.IN_REVIEW, case.status)
        now = int(self.clock())
        review = Review(
            review_id=secrets.token_urlsafe(18), case_id=case_id, reviewer=reviewer, task_token=old.task_token,
            round=old.round, created_at=utcnow(), expires_at=min(now + self.settings.link_ttl_seconds,
                                                                 max(old.expires_at, now + 60)),
            clips=old.clips,  # the same clips (under the old review's prefix): nothing to cut again
        )
        self.repo.put_review(review, ttl_epoch=review.expires_at + REVIEW_RECORD_GRACE)
        case = self.repo.transition(
            case_id, Status.IN_REVIEW, Status.IN_REVIEW,
            AuditEvent(case_id, utcnow(), actor, "reassigned", Status.IN_REVIEW.value, Status.IN_REVIEW.value,
                       {"from": old.reviewer, "to": reviewer, "review_id": review.review_id}),
            updates={"reviewer": reviewer, "review_id": review.review_id},
        )
        try:
            self.repo.use_review(old.review_id, {"decision": "reassigned", "by": actor, "at": utcnow(),
                                                 "to": reviewer})
        except ReviewAlreadyUsed:  # decided in the same instant: the transition above already lost
            pass
        url = review_url(self.settings.base_url, key=self.settings.link_key, review_id=review.review_id,
                         case_id=case_id, reviewer=reviewer, expires_at=review.expires_at)
        subject, text, html = review_request_email(case.to_dict(), url=url, reviewer=reviewer,
                                                   expires_at=review.expires_at, round=review.round, kind="request",
                                                   queue_url=self._queue_url(reviewer))
        self.mailer.send(to=[reviewer], subject=subject, text=text, html=html)
        return {"case_id": case_id, "reviewer": reviewer, "review_id": review.review_id, "previous": old.reviewer}

    # outcome -> (the statuses it follows, the status it records)
    OUTCOMES: dict[str, tuple[tuple[Status, ...], Status]] = {
        "removed": ((Status.NOTICE_SENT,), Status.CONTENT_REMOVED),
        "rejected": ((Status.NOTICE_SENT, Status.NOTICE_QUEUED), Status.NOTICE_REJECTED),
        "disputed": ((Status.NOTICE_SENT,), Status.NOTICE_DISPUTED),  # before counter-notices were recorded
        "restored": ((Status.COUNTER_NOTICED,), Status.RESTORED),
        "legal_action": ((Status.COUNTER_NOTICED,), Status.LEGAL_ACTION),
    }

    def record_outcome(self, *, case_id: str, outcome: str, actor: str, note: str | None = None) -> dict[str, Any]:
        """What happened after the notice (``OUTCOMES``): the platform removed the content or
        rejected the notice; after a counter-notice, it restored the content or the label went
        to court. Raises ValueError for an unknown outcome, NotApplicable (a ConcurrentChange)
        when the case is not in a status the outcome can follow."""
        if outcome not in self.OUTCOMES:
            raise ValueError(f"outcome must be one of {sorted(self.OUTCOMES)}, not {outcome!r}")
        follows, new = self.OUTCOMES[outcome]
        case = self._case(case_id)
        if case.status not in follows:
            raise NotApplicable(case_id, f"the outcome {outcome!r}", follows, case.status)
        updates = {"outcome": {"outcome": outcome, "at": utcnow(), "by": actor, "note": (note or "")[:1000]}}
        if outcome == "rejected":
            updates["notice"] = {**(case.notice or {}), "reason": (note or "the platform rejected the notice")[:1000]}
        self.repo.transition(
            case_id, case.status, new,
            AuditEvent(case_id, utcnow(), actor, f"outcome_{outcome}", case.status.value, new.value,
                       {"note": (note or "")[:1000]}),
            updates=updates,
        )
        return {"case_id": case_id, "status": new.value}

    def record_counter_notice(self, *, case_id: str, text: str, actor: str, received_on: str | None = None,
                              notify: str | None = None) -> dict[str, Any]:
        """A counter-notice (17 U.S.C. 512(g)(3)) the platform forwarded: kept with the case
        (its text, at most 32,000 characters), the restoration clock started (``restoration``;
        ``received_on`` an ISO date, today by default) and a person told the date the decision
        is due. ``notify``: who is told (the fallback reviewer by default)."""
        from datetime import date, datetime, timezone

        from .restoration import restoration_window

        text = (text or "").strip()
        if not text:
            raise ValueError("the counter-notice's text is needed (takedown cases counter-notice CASE_ID --file F)")
        case = self._case(case_id)
        if case.status not in (Status.NOTICE_SENT, Status.CONTENT_REMOVED):
            raise NotApplicable(case_id, "a counter-notice", (Status.NOTICE_SENT, Status.CONTENT_REMOVED), case.status)
        received = date.fromisoformat(received_on) if received_on else datetime.fromtimestamp(
            self.clock(), timezone.utc).date()
        cfg = self.counter_notice
        window = restoration_window(received, country=cfg.get("country", "US"), subdivision=cfg.get("subdivision"),
                                    after_business_days=int(cfg.get("after_business_days", 10)),
                                    by_business_days=int(cfg.get("by_business_days", 14)))
        clock = window.to_dict()
        self.repo.transition(
            case_id, case.status, Status.COUNTER_NOTICED,
            AuditEvent(case_id, utcnow(), actor, "counter_notice", case.status.value, Status.COUNTER_NOTICED.value,
                       clock),
            updates={"counter_notice": {**clock, "text": text[:32_000], "recorded_by": actor}},
        )
        to = notify or cfg.get("notify") or self.settings.fallback
        location = case.source.url or case.location
        subject = f"Counter-notice on case {case_id}: decide by {clock['decide_by']}"
        body = (f"A counter-notice was received on {clock['received']} for {location} "
                f"(case {case_id}, {case.work.get('title') or case.track_id}).\n\n"
                f"Under 17 U.S.C. 512(g)(2)(C) the platform may restore the material between {clock['restore_earliest']} "
                f"and {clock['restore_latest']} ({cfg.get('after_business_days', 10)} to "
                f"{cfg.get('by_business_days', 14)} business days, {window.calendar} calendar), unless it first "
                "receives notice that an action seeking a court order has been filed.\n\n"
                f"A decision is due by {clock['decide_by']}: file the action, or let the material be restored.\n"
                f"Record it with: takedown cases outcome {case_id} legal_action|restored\n\n"
                f"The counter-notice as received:\n\n{text[:32_000]}\n")
        self.mailer.send(to=[to], subject=subject, text=body)
        return {"case_id": case_id, "status": Status.COUNTER_NOTICED.value, "notified": to, **clock}

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
        """Approve a stay-down re-upload without a new review, if the policy's basis still holds.

        The basis is the earlier case named in the case's policy (``stay_down_case``): the same
        work and the same bytes, its notice sent (``NOTICE_SENT`` or ``CONTENT_REMOVED``: a
        disputed takedown is no basis), and, at the end of the chain of such cases, a person's
        review. When it holds, the decision records it (``basis``) so that the notice can say
        truthfully how it was approved. When it does not, nothing changes, the refusal is
        audited and ``{"approved": False}`` sends the case to a person (the state machine's
        "Approved by policy?" choice). Raises ConcurrentChange if the case is not DETECTED.
        """
        case = self._case(case_id)
        if case.status != Status.DETECTED:
            raise ConcurrentChange(case_id, Status.DETECTED, case.status)
        basis, why_not = self._stay_down_basis(case)
        if basis is None:
            self.repo.append_audit(AuditEvent(case_id, utcnow(), "policy:stay-down", "policy_declined",
                                              case.status.value, case.status.value, {"reason": why_not}))
            return {"case_id": case_id, "approved": False, "reason": why_not}
        at = utcnow()
        reason = case.policy.get("reason")
        self.repo.transition(
            case_id, Status.DETECTED, Status.APPROVED,
            AuditEvent(case_id, at, "policy:stay-down", "approved", Status.DETECTED.value,
                       Status.APPROVED.value, {"reason": reason, "basis": basis}),
            updates={"decision": {"decision": "approve", "by": "policy:stay-down", "at": at, "note": reason,
                                  "basis": basis}},
        )
        return {"case_id": case_id, "approved": True}

    def _stay_down_basis(self, case: Case) -> tuple[dict[str, Any] | None, str]:
        """(basis, "") when the stay-down policy may approve ``case``, else (None, why not)."""
        if not case.kind.may_skip_review:
            return None, f"a {case.kind.value} case always goes to a person"
        earlier_id = case.policy.get("stay_down_case")
        earlier = self.repo.get_case(earlier_id) if earlier_id else None
        if earlier is None:
            return None, "the policy names no earlier case that this one rests on"
        if earlier.track_id != case.track_id or earlier.submission != case.submission:
            return None, f"the earlier case {earlier.case_id} concerns other content"
        if earlier.status not in (Status.NOTICE_SENT, Status.CONTENT_REMOVED):
            return None, f"the earlier case {earlier.case_id} is {earlier.status.value}, not a takedown that stands"
        decision = earlier.decision or {}
        if decision.get("decision") != "approve":
            return None, f"the earlier case {earlier.case_id} has no approval on record"
        if str(decision.get("by", "")).startswith("policy:"):
            reviewed = (decision.get("basis") or {}).get("reviewed")
        else:
            reviewed = {"case_id": earlier.case_id, "at": decision.get("at")}
        if not reviewed:
            return None, f"no person reviewed the content behind the earlier case {earlier.case_id}"
        return {
            "case_id": earlier.case_id,
            "location": earlier.location,
            "platform": earlier.source.platform,
            "status": earlier.status.value,
            "notice_sent_at": (earlier.notice or {}).get("sent_at"),
            "reviewed": reviewed,
        }, ""

    def record_failure(self, *, case_id: str, error: dict[str, Any] | None) -> dict[str, Any]:
        """Any failure ends the case with its cause, never silently: NOTICE_FAILED when the notice
        could not be sent (the case was approved), FAILED before that."""
        error = error or {}
        cause = {"error": error.get("Error", "Unknown"), "cause": str(error.get("Cause", ""))[:4000]}
        case = self.repo.get_case(case_id)
        if case is None:
            raise CaseNotFound(f"case {case_id} does not exist (failure was: {cause})")
        # after approval the only step is the notice: its failure is NOTICE_FAILED, with the cause
        ending = Status.NOTICE_FAILED if case.status in (Status.APPROVED, Status.NOTICE_QUEUED) else Status.FAILED
        event = AuditEvent(case_id, utcnow(), "system:workflow", "failed", case.status.value,
                           ending.value, cause)
        if case.status in TERMINAL:
            self.repo.append_audit(AuditEvent(case_id, event.at, event.actor, "failure_after_end",
                                              case.status.value, case.status.value, cause))
        else:
            self.repo.transition(case_id, case.status, ending, event, updates={"failure": cause})
        return {"case_id": case_id, "failed": True, "status": ending.value, **cause}
