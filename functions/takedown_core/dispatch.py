"""Notice dispatch: an approved case becomes the legal notice(s) its kind calls for, each on
the platform's channel for it (a copyright notice under the platform's law; a likeness
complaint on the platform's likeness route).

Idempotent per (case, channel): the slot is claimed before sending, so a retried or repeated
step never sends a second notice. A send that failed frees the slot for the retry; a send
whose result is unknown (the process died between send and record) is never repeated
blindly: it fails the case with a cause that tells ops to check the provider.
"""

from __future__ import annotations

from typing import Any

from .cases import AuditEvent, Case, CaseKind, Status, utcnow
from .notices import NoRoute, Notice, NoticeIncomplete, likeness_route, render_likeness_complaint, render_notice
from .ports import DeliveryInDoubt, DispatchRepository, Mailer


COPYRIGHT, LIKENESS = "copyright", "likeness"

# The notices each kind of case sends (its legal route). A copyright notice asserts a work that
# is in the upload: a case without our recording never sends one (notices.NotACopyrightCase
# makes it impossible as well).
NOTICE_TYPES: dict[CaseKind, tuple[str, ...]] = {
    CaseKind.COPY: (COPYRIGHT,),
    CaseKind.PARTIAL: (COPYRIGHT,),
    CaseKind.SUSPECTED_AI_COVER: (COPYRIGHT, LIKENESS),
    CaseKind.SUSPECTED_DEEPFAKE: (LIKENESS,),
}


class NoticeChannelError(Exception):
    """The channel refused or failed to take the notice; the state machine retries this."""


class NoticeNotAllowed(Exception):
    """The case is not approved (or its platform is unknown): never send. Not retried."""


class NoticeInDoubt(Exception):
    """A previous attempt may have sent the notice; a person must check before any resend."""


class NoticeService:
    def __init__(
        self,
        *,
        repo: DispatchRepository,
        mailer: Mailer,
        complainant: dict[str, Any],
        platforms: dict[str, dict[str, Any]],
    ) -> None:
        self.repo, self.mailer, self.complainant, self.platforms = repo, mailer, complainant, platforms

    def dispatch(self, *, case_id: str) -> dict[str, Any]:
        """Send the notices an approved case's kind calls for (``NOTICE_TYPES``), each once per
        (case, channel), then mark the case NOTICE_SENT. Raises NoticeNotAllowed (never
        retried), NoticeChannelError (retried), NoticeInDoubt (a person checks)."""
        case = self.repo.get_case(case_id)
        if case is None:
            raise NoticeNotAllowed(f"case {case_id} does not exist")
        platform = self.platforms.get(case.source.platform)
        if platform is None:
            raise NoticeNotAllowed(f"platform {case.source.platform!r} has no notice channel configured")
        if case.status == Status.NOTICE_SENT:
            channel = f"{platform['channel']}:{platform['address']}"
            return {"case_id": case_id, "channel": channel, "already_sent": True, **(case.notice or {})}
        if case.status != Status.APPROVED:
            raise NoticeNotAllowed(f"case {case_id} is {case.status.value}, not APPROVED: no notice is sent")
        notices = [self._render(case, notice_type, platform) for notice_type in NOTICE_TYPES[case.kind]]
        sent = [self._send(case, channel, notice) for channel, notice in notices]
        return self._mark_sent(case, sent)

    def _render(self, case: Case, notice_type: str, platform: dict[str, Any]) -> tuple[str, Notice]:
        """(channel key, notice) of one notice type for ``case``; raises NoticeNotAllowed when the
        notice would be incomplete, the case cannot carry it, or the platform has no route."""
        try:
            if notice_type == COPYRIGHT:
                notice = render_notice(case.to_dict(), law=platform["law"], complainant=self.complainant,
                                       platform=platform, now=utcnow())
                return f"{platform['channel']}:{platform['address']}", notice
            route = likeness_route(platform)
            notice = render_likeness_complaint(case.to_dict(), complainant=self.complainant, platform=platform,
                                               now=utcnow())
            return f"likeness:{route['channel']}:{route['address']}", notice
        except NoRoute as e:
            raise NoticeNotAllowed(str(e)) from e
        except NoticeIncomplete as e:
            what = f"the notice would not meet {platform['law']}" if notice_type == COPYRIGHT else \
                "the likeness complaint would not be complete"
            raise NoticeNotAllowed(f"{what}: missing {', '.join(e.missing)}"
                                   + (f" ({'; '.join(e.reasons.values())})" if e.reasons else "")) from e

    def _send(self, case: Case, channel: str, notice: Notice) -> dict[str, Any]:
        """Send one notice once: claim (case, channel), send, record. Returns its record."""
        case_id = case.case_id
        record = {"law": notice.law, "to": notice.to, "subject": notice.subject, "text": notice.text,
                  "channel": channel, "rendered_at": utcnow()}
        if not self.repo.claim_notice(case_id, channel, record):
            existing = self.repo.get_notice(case_id, channel) or {}
            if existing.get("state") == "sent":
                return existing
            raise NoticeInDoubt(
                f"a notice to {channel} for case {case_id} was started at {existing.get('rendered_at')} and its "
                "result is unknown; check the provider before sending again"
            )
        try:
            message_id = self.mailer.send(to=[notice.to], subject=notice.subject, text=notice.text, html=notice.html)
        except DeliveryInDoubt as e:
            self.repo.complete_notice(case_id, channel, {"state": "in_doubt", "error": str(e), "failed_at": utcnow()})
            raise NoticeInDoubt(
                f"the notice to {channel} for case {case_id} may have been sent ({e}); check the provider "
                "before sending again") from e
        except Exception as e:
            self.repo.complete_notice(case_id, channel, {"state": "failed", "error": f"{type(e).__name__}: {e}",
                                                         "failed_at": utcnow()})
            raise NoticeChannelError(f"{channel} did not take the notice: {type(e).__name__}: {e}") from e
        sent = {"state": "sent", "sent_at": utcnow(), "provider_id": message_id}
        self.repo.complete_notice(case_id, channel, sent)
        return {**record, **sent}

    def _mark_sent(self, case: Case, notices: list[dict[str, Any]]) -> dict[str, Any]:
        """NOTICE_SENT with the first notice's summary (and every notice's, when there are more)."""
        fields = ("law", "to", "subject", "channel", "sent_at", "provider_id")
        summary = {k: notices[0].get(k) for k in fields}
        if len(notices) > 1:
            summary["notices"] = [{k: n.get(k) for k in fields} for n in notices]
        if case.status == Status.APPROVED:
            self.repo.transition(
                case.case_id, Status.APPROVED, Status.NOTICE_SENT,
                AuditEvent(case.case_id, utcnow(), "system:notice", "notice_sent", Status.APPROVED.value,
                           Status.NOTICE_SENT.value, summary),
                updates={"notice": summary},
            )
        self.repo.mark_stay_down(case.track_id, case.submission, case.case_id)
        return {"case_id": case.case_id, **summary}
