"""Notice dispatch: an approved case becomes one legal notice on the platform's channel.

Idempotent per (case, channel): the slot is claimed before sending, so a retried or repeated
step never sends a second notice. A send that failed frees the slot for the retry; a send
whose result is unknown (the process died between send and record) is never repeated
blindly: it fails the case with a cause that tells ops to check the provider.
"""

from __future__ import annotations

from typing import Any

from .cases import AuditEvent, Status, utcnow
from .notices import NoticeIncomplete, render_notice
from .ports import DeliveryInDoubt, DispatchRepository, Mailer


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
        case = self.repo.get_case(case_id)
        if case is None:
            raise NoticeNotAllowed(f"case {case_id} does not exist")
        platform = self.platforms.get(case.source.platform)
        if platform is None:
            raise NoticeNotAllowed(f"platform {case.source.platform!r} has no notice channel configured")
        channel = f"{platform['channel']}:{platform['address']}"
        if case.status == Status.NOTICE_SENT:
            return {"case_id": case_id, "channel": channel, "already_sent": True, **(case.notice or {})}
        if case.status != Status.APPROVED:
            raise NoticeNotAllowed(f"case {case_id} is {case.status.value}, not APPROVED: no notice is sent")
        try:
            notice = render_notice(case.to_dict(), law=platform["law"], complainant=self.complainant,
                                   platform=platform, now=utcnow())
        except NoticeIncomplete as e:
            raise NoticeNotAllowed(f"the notice would not meet {platform['law']}: missing {', '.join(e.missing)}") from e
        record = {"law": notice.law, "to": notice.to, "subject": notice.subject, "text": notice.text,
                  "channel": channel, "rendered_at": utcnow()}
        if not self.repo.claim_notice(case_id, channel, record):
            existing = self.repo.get_notice(case_id, channel) or {}
            if existing.get("state") == "sent":
                return self._mark_sent(case, channel, existing)
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
        return self._mark_sent(case, channel, {**record, **sent})

    def _mark_sent(self, case, channel: str, notice: dict[str, Any]) -> dict[str, Any]:
        summary = {k: notice.get(k) for k in ("law", "to", "subject", "channel", "sent_at", "provider_id")}
        if case.status == Status.APPROVED:
            self.repo.transition(
                case.case_id, Status.APPROVED, Status.NOTICE_SENT,
                AuditEvent(case.case_id, utcnow(), "system:notice", "notice_sent", Status.APPROVED.value,
                           Status.NOTICE_SENT.value, summary),
                updates={"notice": summary},
            )
        self.repo.mark_stay_down(case.track_id, case.submission, case.case_id)
        return {"case_id": case.case_id, **summary}
