"""Notice dispatch: an approved case becomes the legal notice(s) its kind calls for, each sent
on the platform's route for that notice type (``channels.routes``: e-mail, HTTPS API or a
manual queue), each validated before it goes and kept exactly as it went.

Idempotent per (case, route slot): the slot is claimed before sending, so a retried or
repeated step never sends a second notice. A send that failed, or that waits for a rate limit,
frees the slot for the next attempt; a send whose result is unknown (the process died between
send and record, or a timeout after the request went out) is never repeated blindly: the case
ends NOTICE_FAILED with a cause that tells a person to check the platform first.

Outcomes (``dispatch`` returns, the state machine branches on ``status``):

- ``NOTICE_SENT``: every notice went out; the content is marked for stay-down.
- ``NOTICE_QUEUED``: a notice waits for a person (manual channel); ``complete_manual``
  records its ticket and the case moves on to NOTICE_SENT.
- ``NOTICE_INVALID``: a notice would miss an element its law requires (or the platform has no
  route for it): nothing is sent; ``missing`` says what.
- ``NOTICE_REJECTED``: the platform refused a notice and said why.
- ``{"deferred_seconds": N}``: a rate limit or the platform's Retry-After: wait, then ask again.
- raises ``NoticeChannelError`` (transient: retried with backoff and jitter, then recorded as
  NOTICE_FAILED), ``NoticeInDoubt`` (NOTICE_FAILED: a person checks), ``NoticeNotAllowed``.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any, Callable, Mapping

from .cases import AuditEvent, Case, CaseKind, Status, utcnow
from .channels import (
    COPYRIGHT,
    LIKENESS,
    Channel,
    ChannelBusy,
    ChannelRejected,
    EmailChannel,
    Outgoing,
    Prepared,
    RawMailer,
    Receipt,
    RegistryError,
    Route,
    mime_message,
    notice_document,
    routes,
)
from .notices import Notice, NoticeIncomplete, render_likeness_complaint, render_notice
from .ports import DeliveryInDoubt, DispatchRepository, NoticeArchive

__all__ = ["COPYRIGHT", "LIKENESS", "NOTICE_TYPES", "NoticeService", "NoticeChannelError", "NoticeNotAllowed",
           "NoticeInDoubt"]

# The notices each kind of case sends (its legal route). A copyright notice asserts a work that
# is in the upload: a case without our recording never sends one (notices.NotACopyrightCase
# makes it impossible as well).
NOTICE_TYPES: dict[CaseKind, tuple[str, ...]] = {
    CaseKind.COPY: (COPYRIGHT,),
    CaseKind.PARTIAL: (COPYRIGHT,),
    CaseKind.SUSPECTED_AI_COVER: (COPYRIGHT, LIKENESS),
    CaseKind.SUSPECTED_DEEPFAKE: (LIKENESS,),
}

# Statuses a dispatch has already decided: dispatching again answers with the record.
_DISPATCHED = frozenset({Status.NOTICE_SENT, Status.NOTICE_QUEUED, Status.NOTICE_INVALID, Status.NOTICE_REJECTED,
                         Status.CONTENT_REMOVED, Status.COUNTER_NOTICED, Status.RESTORED, Status.LEGAL_ACTION})
_SETTLED = ("sent", "queued", "rejected")  # notice states never sent again


class NoticeChannelError(Exception):
    """The channel refused or failed to take the notice; the state machine retries this."""


class NoticeNotAllowed(Exception):
    """The case is not approved (or its platform is unknown): never send. Not retried."""


class NoticeInDoubt(Exception):
    """A previous attempt may have sent the notice; a person must check before any resend."""


class NoticeService:
    """Sends an approved case's notices. ``channels`` maps a channel name ("email", "api",
    "manual") to its :class:`~takedown_core.channels.Channel`; ``mailer`` (a RawMailer) sends
    the rights desk's copy and, when ``channels`` has no "email", the e-mail channel too.
    ``archive`` keeps every notice exactly as sent; ``rights_desk`` is the address that gets a
    copy of each (None: no copy). ``clock`` gives epoch seconds; ``jitter(cap)`` a delay in
    [0, cap] added to rate-limit waits so that a burst does not wake all at once."""

    def __init__(
        self,
        *,
        repo: DispatchRepository,
        mailer: RawMailer,
        complainant: dict[str, Any],
        platforms: dict[str, dict[str, Any]],
        channels: Mapping[str, Channel] | None = None,
        archive: NoticeArchive | None = None,
        rights_desk: str | None = None,
        sender: str = "notices@takedown.local",
        clock: Callable[[], float] = time.time,
        jitter: Callable[[float], float] | None = None,
    ) -> None:
        self.repo, self.mailer, self.complainant, self.platforms = repo, mailer, complainant, platforms
        self.channels: dict[str, Channel] = dict(channels or {})
        self.channels.setdefault("email", EmailChannel(mailer, sender=sender, clock=clock))
        self.archive, self.rights_desk, self.sender, self.clock = archive, rights_desk, sender, clock
        self.jitter = jitter or (lambda cap: random.uniform(0.0, cap))

    # ------------------------------------------------------------------ dispatch
    def dispatch(self, *, case_id: str) -> dict[str, Any]:
        """Send the notices an approved case's kind calls for (``NOTICE_TYPES``), each once per
        (case, route). Returns the outcome (see the module docstring)."""
        case = self.repo.get_case(case_id)
        if case is None:
            raise NoticeNotAllowed(f"case {case_id} does not exist")
        platform = self.platforms.get(case.source.platform)
        if platform is None:
            raise NoticeNotAllowed(f"platform {case.source.platform!r} is not in the platform registry: no notice "
                                   "can be sent (add it to platforms in cdk.json)")
        if case.status in _DISPATCHED:
            return {"case_id": case_id, "status": case.status.value, "already_sent": True, **(case.notice or {})}
        if case.status != Status.APPROVED:
            raise NoticeNotAllowed(f"case {case_id} is {case.status.value}, not APPROVED: no notice is sent")
        try:
            platform_routes = routes(case.source.platform, platform)
        except RegistryError as e:
            raise NoticeNotAllowed(f"the platform registry is malformed: {e}") from e

        drafts: list[Outgoing] = []
        invalid: dict[str, dict[str, Any]] = {}
        for notice_type in NOTICE_TYPES[case.kind]:
            route = platform_routes.get(notice_type)
            if route is None:
                invalid[notice_type] = {"missing": ["route"], "reasons": {
                    "route": f"{platform.get('name') or case.source.platform} takes no {notice_type} notices "
                             "in the platform registry"}}
                continue
            try:
                drafts.append(self._outgoing(case, route, platform))
            except NoticeIncomplete as e:
                invalid[notice_type] = {"law": route.law, "missing": e.missing, "reasons": e.reasons}
        if invalid:
            return self._end(case, Status.NOTICE_INVALID, "notice_invalid", {"invalid": invalid})

        records = []
        for outgoing in drafts:
            record = self._send(case, outgoing)
            if "deferred_seconds" in record:
                return {"case_id": case_id, "status": "DEFERRED", "deferred_seconds": record["deferred_seconds"],
                        "slot": outgoing.route.slot, "reason": record.get("reason", "")}
            records.append(record)
        rejected = [r for r in records if r["state"] == "rejected"]
        if rejected:
            return self._end(case, Status.NOTICE_REJECTED, "notice_rejected", self._summary(records),
                             reason="; ".join(f"{r['platform']} ({r['notice_type']}): {r.get('reason', '')}"
                                              for r in rejected))
        if any(r["state"] == "queued" for r in records):
            return self._end(case, Status.NOTICE_QUEUED, "notice_queued", self._summary(records))
        return self._end(case, Status.NOTICE_SENT, "notice_sent", self._summary(records))

    def _outgoing(self, case: Case, route: Route, platform: Mapping[str, Any]) -> Outgoing:
        """The rendered notice for one route; NoticeIncomplete when an element would be empty."""
        now = utcnow()
        doc = case.to_dict()
        if route.notice_type == COPYRIGHT:
            notice: Notice = render_notice(doc, law=route.law, complainant=self.complainant,
                                           platform={**platform, "address": route.address, "channel": route.channel},
                                           now=now)
        else:
            notice = render_likeness_complaint(doc, complainant=self.complainant, platform=platform, now=now)
        document = notice_document(case_id=case.case_id, route=route, notice_fields=notice.fields,
                                   subject=notice.subject, case=doc, created_at=now)
        return Outgoing(case.case_id, route, notice.subject, notice.text, notice.html, document, law=notice.law)

    def _send(self, case: Case, out: Outgoing) -> dict[str, Any]:
        """Send one notice once: claim its slot, respect the rate limit, keep the bytes, send,
        record. Returns its record (with ``deferred_seconds`` when it must wait)."""
        case_id, route = case.case_id, out.route
        record = {"law": out.law or route.law, "to": route.address, "subject": out.subject, "text": out.text,
                  "channel": route.slot, "route": route.channel, "platform": route.platform,
                  "notice_type": route.notice_type, "rendered_at": utcnow()}
        if not self.repo.claim_notice(case_id, route.slot, record):
            existing = self.repo.get_notice(case_id, route.slot) or {}
            if existing.get("state") in _SETTLED:
                return existing
            raise NoticeInDoubt(
                f"a notice to {route.slot} for case {case_id} was started at {existing.get('rendered_at')} and its "
                "result is unknown; check the platform before sending again")
        if route.rate_limit is not None:
            wait = self.repo.take_rate_slot(route.rate_key, route.rate_limit.notices, route.rate_limit.per_seconds,
                                            self.clock())
            if wait > 0:
                return self._defer(case_id, route, wait + self.jitter(min(float(route.rate_limit.per_seconds), 30.0)),
                                   f"rate limit of {route.rate_limit.notices} per {route.rate_limit.per_seconds} s")
        channel = self.channels.get(route.channel)
        if channel is None:
            self.repo.complete_notice(case_id, route.slot, {"state": "failed", "failed_at": utcnow(),
                                                            "error": f"no {route.channel} channel is configured"})
            raise NoticeChannelError(f"no {route.channel} channel is configured in this deployment")
        prepared = channel.prepare(out)
        kept = self._keep(case_id, route, prepared)
        try:
            receipt = channel.deliver(prepared)
        except ChannelBusy as e:
            return self._defer(case_id, route, e.retry_after_s, str(e))
        except ChannelRejected as e:
            result = {"state": "rejected", "rejected_at": utcnow(), "reason": e.reason, "response": e.response,
                      "kept": kept}
            self.repo.complete_notice(case_id, route.slot, result)
            return {**record, **result}
        except DeliveryInDoubt as e:
            self.repo.complete_notice(case_id, route.slot, {"state": "in_doubt", "error": str(e),
                                                            "failed_at": utcnow(), "kept": kept})
            raise NoticeInDoubt(f"the notice to {route.slot} for case {case_id} may have been sent ({e}); check the "
                                "platform before sending again") from e
        except Exception as e:  # ChannelUnavailable and anything unforeseen: retried, then NOTICE_FAILED
            self.repo.complete_notice(case_id, route.slot, {"state": "failed", "error": f"{type(e).__name__}: {e}",
                                                            "failed_at": utcnow(), "kept": kept})
            raise NoticeChannelError(f"{route.slot} did not take the notice: {type(e).__name__}: {e}") from e
        result = self._receipt(receipt, kept)
        self.repo.complete_notice(case_id, route.slot, result)
        self._copy_to_desk(case, out, prepared, receipt)
        return {**record, **result}

    def _defer(self, case_id: str, route: Route, seconds: float, reason: str) -> dict[str, Any]:
        seconds = int(math.ceil(max(1.0, seconds)))  # a Wait state's SecondsPath takes whole seconds
        self.repo.complete_notice(case_id, route.slot, {"state": "deferred", "deferred_at": utcnow(),
                                                        "deferred_seconds": seconds, "reason": reason})
        return {"deferred_seconds": seconds, "reason": reason}

    def _keep(self, case_id: str, route: Route, prepared: Prepared) -> dict[str, Any]:
        if self.archive is None:
            return {"sha256": prepared.sha256, "media_type": prepared.media_type}
        return self.archive.keep(case_id, route.slot, prepared.body, prepared.media_type)

    @staticmethod
    def _receipt(receipt: Receipt, kept: dict[str, Any]) -> dict[str, Any]:
        now = utcnow()
        out: dict[str, Any] = {"state": "queued" if receipt.queued else "sent", "provider_id": receipt.provider_id,
                               "kept": kept}
        out["queued_at" if receipt.queued else "sent_at"] = now
        if receipt.ticket:
            out["ticket"] = receipt.ticket
        if receipt.response is not None:
            out["response"] = dict(receipt.response)
        return out

    def _copy_to_desk(self, case: Case, out: Outgoing, prepared: Prepared, receipt: Receipt) -> None:
        """The rights desk's copy: the notice, how it went and the structured document. A copy
        that fails is audited, never fails the case (the notice itself went out)."""
        if not self.rights_desk:
            return
        how = ("queued for a person to submit on " + out.route.address if receipt.queued else
               f"sent to {out.route.name} by {out.route.channel} ({out.route.address})"
               + (f", ticket {receipt.ticket}" if receipt.ticket else "") + f", provider id {receipt.provider_id}")
        text = f"Copy for the rights desk: this notice was {how}.\n\n{out.text}"
        try:
            from email.utils import formatdate

            data = mime_message(sender=self.sender, to=[self.rights_desk], subject=f"[copy] {out.subject}", text=text,
                                html=out.html, document=out.document, date=formatdate(self.clock(), usegmt=True),
                                message_id=f"<copy.{case.case_id}.{prepared.sha256[:12]}@takedown>")
            self.mailer.send_raw(to=[self.rights_desk], data=data)
        except Exception as e:  # noqa: BLE001 - audited; the notice stands
            self.repo.append_audit(AuditEvent(case.case_id, utcnow(), "system:notice", "desk_copy_failed",
                                              case.status.value, case.status.value,
                                              {"slot": out.route.slot, "error": f"{type(e).__name__}: {e}"}))

    # ------------------------------------------------------------------ outcomes
    @staticmethod
    def _summary(records: list[dict[str, Any]]) -> dict[str, Any]:
        """The case's ``notice`` field: the first notice's summary (and every notice's, when there are more)."""
        fields = ("law", "to", "subject", "channel", "route", "platform", "notice_type", "state", "sent_at",
                  "queued_at", "provider_id", "ticket", "reason")
        summary = {k: records[0].get(k) for k in fields if records[0].get(k) is not None}
        if len(records) > 1:
            summary["notices"] = [{k: r.get(k) for k in fields if r.get(k) is not None} for r in records]
        return summary

    def _end(self, case: Case, status: Status, action: str, summary: dict[str, Any], reason: str = "") -> dict[str, Any]:
        detail = {**summary, **({"reason": reason} if reason else {})}
        self.repo.transition(
            case.case_id, case.status, status,
            AuditEvent(case.case_id, utcnow(), "system:notice", action, case.status.value, status.value, detail),
            updates={"notice": detail},
        )
        if status == Status.NOTICE_SENT:
            self.repo.mark_stay_down(case.track_id, case.submission, case.case_id)
            if case.source.uploader:  # the platform's repeat-infringer policy counts on these
                self.repo.count_notice(case.source.platform, case.source.uploader, case.case_id)
        # opened_at: when the case was opened, for the handler's time-to-notice metric
        return {"case_id": case.case_id, "status": status.value, "opened_at": case.created_at, **detail}

    # ------------------------------------------------------------------ the manual queue
    def manual_queue(self) -> list[dict[str, Any]]:
        """Notices waiting for a person, oldest first (each: case_id, slot, platform, form, subject, ...)."""
        return self.repo.list_manual()

    def complete_manual(self, *, case_id: str, slot: str, ticket: str, by: str) -> dict[str, Any]:
        """A person submitted a queued notice on the platform's form and got ``ticket``: the
        notice is sent; when it was the case's last one waiting, the case is NOTICE_SENT.
        Raises NoticeNotAllowed if no such notice is waiting."""
        ticket = (ticket or "").strip()
        if not ticket:
            raise NoticeNotAllowed("the platform's ticket or confirmation id is needed to record a manual submission")
        record = self.repo.get_notice(case_id, slot)
        if record is None or record.get("state") != "queued":
            raise NoticeNotAllowed(f"no notice of case {case_id} on {slot} is waiting to be submitted")
        self.repo.complete_notice(case_id, slot, {"state": "sent", "sent_at": utcnow(), "ticket": ticket,
                                                  "submitted_by": by})
        self.repo.remove_manual(case_id, slot)
        case = self.repo.get_case(case_id)
        records = self.repo.list_notices(case_id)
        if case is not None and case.status == Status.NOTICE_QUEUED and all(r.get("state") == "sent" for r in records):
            return self._end(case, Status.NOTICE_SENT, "notice_sent", {**self._summary(records), "submitted_by": by})
        return {"case_id": case_id, "status": case.status.value if case else None, "slot": slot, "ticket": ticket}
