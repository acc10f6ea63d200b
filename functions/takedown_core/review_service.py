"""The review API's logic: show evidence on GET, decide once on POST, list a reviewer's
queue on GET. Pure, over ports.

GET (and HEAD) never change anything, whoever asks: mail scanners follow links. A decision
is a POST from the page carrying a CSRF token bound to the review and its reviewer; the
first decision wins by a conditional write. A form that cannot be read as a decision (no
reason, "other" without an explanation, a note too long) gets the evidence page again (422)
with the error beside the field and the reviewer's choices kept; everything else gets a plain
page with the right status code and changes nothing.

Pages of the API link to one another relatively (the queue to "review/<id>?...", a review page
to "../queue?..."), so the function needs no knowledge of its own address.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Mapping
from urllib.parse import quote

from .clips import CLIP_LINK_SECONDS, ClipLinks, clips_view
from .cases import AuditEvent, ConcurrentChange, Status, utcnow
from .pages import decided_page, problem_page, queue_page, review_page
from .ports import Review, ReviewAlreadyUsed, ReviewRepository, TaskCallback
from .review_links import (
    DecisionInvalid,
    LinkError,
    csrf_token,
    parse_decision,
    queue_path,
    review_path,
    verify_csrf,
    verify_link,
    verify_queue,
)
from .wording import fmt_when

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
            detail = f"Decided by {d.get('by', 'someone')} at {fmt_when(d.get('at'))}: {d.get('decision', '?')}"
            return review, case, problem_page("already_decided", detail=detail)
        if case.status != Status.IN_REVIEW:
            return review, case, problem_page("case_closed", detail=f"Current status: {case.status.value}")
        if case.reviewer != review.reviewer:
            return review, case, problem_page("wrong_reviewer")
        return review, case, None

    def _queue_link(self, review: Review, *, up: str) -> str:
        """The reviewer's queue, relative to a page ``up`` ("../" from /review/<id>), valid
        as long as the review link that led there."""
        return up + queue_path(key=self.key, reviewer=review.reviewer, expires_at=review.expires_at)

    def _page(self, review: Review, case: Any, sig: str, *, status: int = 200, error: DecisionInvalid | None = None,
              chosen: Mapping[str, Any] | None = None) -> Response:
        """The evidence page: at /review/<id> (GET), or sent back at /review/<id>/decision (a
        form error, ``error`` given); its relative links are made for the address it is served at."""
        at_decision = error is not None
        return status, review_page(
            case=case.to_dict(),
            review={"review_id": review.review_id, "reviewer": review.reviewer,
                    "expires_at": review.expires_at, "round": review.round},
            action_url="decision" if at_decision else f"{quote(review.review_id, safe='')}/decision",
            csrf=csrf_token(self.key, review_id=review.review_id, reviewer=review.reviewer,
                            expires_at=review.expires_at),
            exp=review.expires_at,
            sig=sig,
            now=int(self.clock()),
            error=error.message if error else None,
            error_field=error.field if error else None,
            chosen=chosen,
            repeat_notices=self.repo.notices_for(case.source.platform, case.source.uploader)
            if case.source.uploader else None,
            queue_url=self._queue_link(review, up="../../" if at_decision else "../"),
            clips=self._clips(review),  # sent back after a form error too: the reviewer is still listening
        )

    def show(self, review_id: str, params: Mapping[str, Any]) -> Response:
        review, case, problem = self._load(review_id, params)
        if problem:
            return problem
        assert review is not None and case is not None
        return self._page(review, case, str(params.get("sig", "")))

    def queue(self, params: Mapping[str, Any]) -> Response:
        """A reviewer's queue page from its signed link (reviewer, exp, sig): the cases waiting
        for them, oldest first, each linking to its current review's page. Changes nothing."""
        now = int(self.clock())
        try:
            reviewer = verify_queue(self.key, reviewer=params.get("reviewer"), expires_at=params.get("exp", ""),
                                    sig=str(params.get("sig", "")), now=now)
        except LinkError as e:
            return problem_page("queue_expired" if e.kind == "expired" else e.kind)
        entries = []
        for case in self.repo.cases_for_reviewer(reviewer):
            review = self.repo.get_review(case.review_id) if case.review_id else None
            if review is None or review.used or review.reviewer != reviewer:
                continue  # decided or reassigned a moment ago: not waiting for this reviewer
            link = None
            if review.expires_at > now:
                link = review_path(key=self.key, review_id=review.review_id, case_id=case.case_id,
                                   reviewer=reviewer, expires_at=review.expires_at)
            entries.append({"case": case.to_dict(), "link": link, "expires_at": review.expires_at})
        return 200, queue_page(reviewer=reviewer, entries=entries, now=now,
                               expires_at=int(str(params.get("exp"))))

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
        except DecisionInvalid as e:  # the page again, the error beside its field, the choices kept
            chosen = {name: _first(form.get(name)) for name in ("decision", "reason", "note")}
            chosen["decision"] = (chosen["decision"] or "").strip().lower()
            return self._page(review, case, str(form.get("sig", "")), status=422, error=e, chosen=chosen)
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
        return 200, decided_page(decision=decision, reviewer=review.reviewer, case=case.to_dict(), at=at,
                                 queue_url=self._queue_link(review, up="../../"))


def _first(value: Any) -> str:
    """One posted value as text (the first of a repeated field), for showing the form again."""
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return value if isinstance(value, str) else ""
