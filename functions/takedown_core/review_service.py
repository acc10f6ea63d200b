"""The review API's logic: show evidence on GET, decide once on POST. Pure, over ports.

GET (and HEAD) never change anything, whoever asks: mail scanners follow links. A decision
is a POST from the page carrying a CSRF token bound to the review and its reviewer; the
first decision wins by a conditional write, and everything else gets a plain page with the
right status code and changes nothing.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Mapping
from urllib.parse import quote

from .clips import CLIP_LINK_SECONDS, ClipLinks, clips_view
from .cases import AuditEvent, ConcurrentChange, Status, utcnow
from .pages import decided_page, problem_page, review_page
from .ports import Review, ReviewAlreadyUsed, ReviewRepository, TaskCallback
from .review_links import DecisionInvalid, LinkError, csrf_token, parse_decision, verify_csrf, verify_link

log = logging.getLogger(__name__)

Response = tuple[int, str]


class ReviewService:
    def __init__(
        self,
        *,
        repo: ReviewRepository,
        callback: TaskCallback,
        link_key: bytes,
        clock: Callable[[], float] = time.time,
        clip_links: ClipLinks | None = None,
    ) -> None:
        """``clip_links``: signs the GET links of a review's clips (None: no clips are offered)."""
        self.repo, self.callback, self.key, self.clock = repo, callback, link_key, clock
        self.clip_links = clip_links

    @property
    def media_origin(self) -> str | None:
        """The origin the clips' links point at (the pages' CSP media-src); None without clips."""
        return self.clip_links.origin if self.clip_links is not None else None

    def _clips(self, review: Review) -> dict[str, Any] | None:
        """The review's clips with links valid for CLIP_LINK_SECONDS, never past the review
        link's own expiry (a clip is heard only while the review can be decided)."""
        if not review.clips:
            return None
        ttl = min(int(review.expires_at) - int(self.clock()), CLIP_LINK_SECONDS)
        links = self.clip_links

        def url_for(key: str) -> str | None:
            return links.url(key, ttl) if links is not None and ttl > 0 else None

        return clips_view(review.clips, url_for)

    # --------------------------------------------------------------------------------
    def _load(self, review_id: str, params: Mapping[str, Any]) -> tuple[Review | None, Any, Response | None]:
        review = self.repo.get_review(review_id) if review_id else None
        if review is None:
            return None, None, problem_page("not_found")
        try:
            verify_link(
                self.key,
                review_id=review.review_id,
                case_id=review.case_id,
                reviewer=review.reviewer,
                expires_at=params.get("exp", ""),
                sig=params.get("sig", ""),
                now=int(self.clock()),
            )
        except LinkError as e:
            return review, None, problem_page(e.kind)
        case = self.repo.get_case(review.case_id)
        if case is None:
            return review, None, problem_page("not_found")
        if case.review_id != review.review_id and not (review.used and review.decision and
                                                       review.decision.get("decision") in ("approve", "reject")):
            if case.status == Status.IN_REVIEW and case.reviewer != review.reviewer:
                return review, case, problem_page("wrong_reviewer")  # e.g. reassigned to someone else
            return review, case, problem_page("not_found", detail="A newer review link was sent for this case.")
        if review.used or (case.status != Status.IN_REVIEW and case.decision):
            d = review.decision or case.decision or {}
            detail = f"Decided by {d.get('by', 'someone')} at {d.get('at', '?')}: {d.get('decision', '?')}"
            return review, case, problem_page("already_decided", detail=detail)
        if case.status != Status.IN_REVIEW:
            return review, case, problem_page("case_closed", detail=f"Current status: {case.status.value}")
        if case.reviewer != review.reviewer:
            return review, case, problem_page("wrong_reviewer")
        return review, case, None

    def show(self, review_id: str, params: Mapping[str, Any]) -> Response:
        review, case, problem = self._load(review_id, params)
        if problem:
            return problem
        assert review is not None and case is not None
        return 200, review_page(
            case=case.to_dict(),
            review={"review_id": review.review_id, "reviewer": review.reviewer,
                    "expires_at": review.expires_at, "round": review.round},
            action_url=f"{quote(review.review_id, safe='')}/decision",
            csrf=csrf_token(self.key, review_id=review.review_id, reviewer=review.reviewer,
                            expires_at=review.expires_at),
            exp=review.expires_at,
            sig=str(params.get("sig", "")),
            now=int(self.clock()),
            repeat_notices=self.repo.notices_for(case.source.platform, case.source.uploader)
            if case.source.uploader else None,
            clips=self._clips(review),
        )

    def decide(self, review_id: str, form: Mapping[str, Any], *, source: Mapping[str, Any] | None = None) -> Response:
        review, case, problem = self._load(review_id, form)
        if problem:
            return problem
        assert review is not None and case is not None
        try:
            verify_csrf(self.key, token=str(form.get("csrf", "")), review_id=review.review_id,
                        reviewer=review.reviewer, expires_at=review.expires_at, now=int(self.clock()))
        except LinkError:
            return problem_page("csrf")
        try:
            decision = parse_decision(form)
        except DecisionInvalid as e:
            return 400, problem_page("malformed", detail=e.message)[1]
        at = utcnow()
        record = {**decision.to_dict(), "by": review.reviewer, "at": at, "review_id": review.review_id,
                  "round": review.round, "source": dict(source or {})}
        try:
            self.repo.use_review(review.review_id, record)
        except ReviewAlreadyUsed:
            return problem_page("already_decided")
        new = Status.APPROVED if decision.approved else Status.REJECTED
        try:
            case = self.repo.transition(
                case.case_id, Status.IN_REVIEW, new,
                AuditEvent(case.case_id, at, f"reviewer:{review.reviewer}", new.value.lower(),
                           Status.IN_REVIEW.value, new.value, record),
                updates={"decision": record},
            )
        except ConcurrentChange:
            return problem_page("already_decided")
        output = {"decision": decision.decision, "reason": decision.reason, "note": decision.note,
                  "by": review.reviewer, "at": at, "review_id": review.review_id}
        try:
            self.callback.succeed(review.task_token, output)
        except Exception as e:  # token gone (workflow timed out / stopped): say so, record it
            log.exception("could not resume the workflow")
            cause = {"error": type(e).__name__, "cause": f"the workflow could not be resumed: {e}"}
            if new == Status.APPROVED:
                # Approved but nothing will send the notice: end the case visibly, never silently.
                self.repo.transition(case.case_id, new, Status.FAILED,
                                     AuditEvent(case.case_id, utcnow(), "system:review-api", "resume_failed",
                                                new.value, Status.FAILED.value, cause),
                                     updates={"failure": cause})
            else:  # rejected: nothing was going to be sent; keep the decision, record the trouble
                self.repo.append_audit(AuditEvent(case.case_id, utcnow(), "system:review-api", "resume_failed",
                                                  new.value, new.value, cause))
            return 409, problem_page("case_closed", detail="The decision was recorded but the workflow had already "
                                                           "moved on; operations have been alerted.")[1]
        return 200, decided_page(decision=decision, reviewer=review.reviewer, case=case.to_dict(), at=at)
