"""Where a notice goes and how: the platform registry's routes, and the channel port.

A platform in configuration (``platforms.<id>`` in ``cdk.json``) takes one or more notice
types, each on one route::

    {"name": "TikTok", "jurisdiction": "EU", "law": "DSA",
     "notice_types": ["copyright", "likeness"],            # default: copyright (+ likeness if routed)
     "channel": "api", "address": "https://api.tiktok.example/ip/notices",
     "api": {"secret": "takedown/dev/tiktok-hmac", "ticket_field": "ticket_id",
             "timeout_seconds": 10, "idempotency_key": true},
     "rate_limit": {"notices": 30, "per_seconds": 60},
     "likeness": {"channel": "email", "address": "dsa@tiktok.example", "law": "DSA", ...}}

Channels: ``email`` (SES: the text and HTML notice with the structured JSON document
attached), ``api`` (an HTTPS JSON POST signed with HMAC-SHA256; the platform's ticket id and
its response are kept) and ``manual`` (a web-form-only platform: the prepared notice waits in
a queue for a person, who submits it and records the ticket).

A :class:`Channel` prepares the exact bytes it will send (so they can be kept before they go
out) and then delivers them. What it raises decides what happens to the case:

- :class:`ChannelBusy`: the platform said "not now" (HTTP 429, Retry-After): the notice waits
  and is sent later; never a failure.
- :class:`ChannelRejected`: the platform refused the notice and said why (HTTP 4xx): the
  case ends NOTICE_REJECTED with the reason; sending it again would not help.
- :class:`ChannelUnavailable`: nothing was delivered (connection refused, HTTP 5xx): retried
  with backoff and jitter, then NOTICE_FAILED.
- :class:`~takedown_core.ports.DeliveryInDoubt`: it may have been delivered (a timeout after
  the request went out, to a platform that does not honour an idempotency key): a person
  checks before any resend.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

COPYRIGHT, LIKENESS = "copyright", "likeness"
NOTICE_TYPE_NAMES = (COPYRIGHT, LIKENESS)
CHANNELS = ("email", "api", "manual")
DOCUMENT_SCHEMA = "takedown-notice/1"
SIGNATURE_HEADER = "X-Takedown-Signature"


class ChannelBusy(Exception):
    """The platform asked us to wait ``retry_after_s`` seconds (HTTP 429 / a rate limit)."""

    def __init__(self, retry_after_s: float, detail: str = "") -> None:
        self.retry_after_s = max(0.0, float(retry_after_s))
        super().__init__(detail or f"the platform asked to wait {self.retry_after_s:.0f} s")


class ChannelRejected(Exception):
    """The platform refused the notice; ``reason`` is what it said, ``response`` its answer."""

    def __init__(self, reason: str, response: Mapping[str, Any] | None = None) -> None:
        self.reason = reason
        self.response = dict(response or {})
        super().__init__(reason)


class ChannelUnavailable(Exception):
    """Nothing was delivered (connection refused, a server error): safe to retry."""


@dataclass(frozen=True)
class RateLimit:
    """At most ``notices`` notices per ``per_seconds`` seconds to one route (a fixed window)."""

    notices: int
    per_seconds: int

    @classmethod
    def of(cls, doc: Any) -> "RateLimit | None":
        if not doc:
            return None
        return cls(int(doc["notices"]), int(doc.get("per_seconds", 60)))


@dataclass(frozen=True)
class Route:
    """Where one notice type goes on one platform.

    ``slot`` is the idempotency key of a notice on this route: one notice per (case, slot),
    ever. Copyright notices keep the ``<channel>:<address>`` slots and likeness complaints the
    ``likeness:<channel>:<address>`` slots that cases before the registry were sent under, so
    a case in flight across the upgrade is never sent twice.
    """

    platform: str
    notice_type: str
    channel: str
    address: str
    law: str
    name: str = ""
    rate_limit: RateLimit | None = None
    api: Mapping[str, Any] = field(default_factory=dict)

    @property
    def slot(self) -> str:
        base = f"{self.channel}:{self.address}"
        return base if self.notice_type == COPYRIGHT else f"{self.notice_type}:{base}"

    @property
    def rate_key(self) -> str:
        """Rate limits count per platform and channel address (one platform's API or inbox)."""
        return f"{self.platform}:{self.channel}:{self.address}"


class RegistryError(ValueError):
    """The platform registry in configuration is malformed; the message names the key."""


def notice_types(platform: Mapping[str, Any]) -> tuple[str, ...]:
    """The notice types a platform takes: ``notice_types`` if configured, else copyright and,
    when a likeness route is configured, the likeness complaint."""
    configured = platform.get("notice_types")
    if configured:
        return tuple(str(t) for t in configured)
    return (COPYRIGHT, LIKENESS) if platform.get("likeness") else (COPYRIGHT,)


def routes(platform_id: str, platform: Mapping[str, Any]) -> dict[str, Route]:
    """The platform's routes by notice type. Raises RegistryError naming the bad key."""
    where = f"platforms.{platform_id}"
    out: dict[str, Route] = {}
    for notice_type in notice_types(platform):
        if notice_type not in NOTICE_TYPE_NAMES:
            raise RegistryError(f"{where}.notice_types: {notice_type!r} is not one of {list(NOTICE_TYPE_NAMES)}")
        doc = platform if notice_type == COPYRIGHT else platform.get("likeness")
        key = where if notice_type == COPYRIGHT else f"{where}.likeness"
        if not isinstance(doc, Mapping):
            raise RegistryError(f"{key}: the platform takes {notice_type} notices but has no route for them")
        channel = str(doc.get("channel") or "")
        if channel not in CHANNELS:
            raise RegistryError(f"{key}.channel: {channel!r} is not one of {list(CHANNELS)}")
        address = str(doc.get("address") or "").strip()
        if not address:
            raise RegistryError(f"{key}.address: missing (an e-mail address, an API URL or a web form URL)")
        if channel == "email" and ("@" not in address or address.startswith(("http:", "https:"))):
            raise RegistryError(f"{key}.address: {address!r} is not an e-mail address")
        if channel == "api":
            if not (address.startswith("https://") or _loopback(address)):
                raise RegistryError(f"{key}.address: an API channel needs an https:// URL, not {address!r}")
            api = doc.get("api")
            if not isinstance(api, Mapping) or not api.get("secret"):
                raise RegistryError(f"{key}.api.secret: the name of the secret that signs requests (HMAC) is missing")
        law = str(doc.get("law") or platform.get("law") or "")
        if not law:
            raise RegistryError(f"{key}.law: missing")
        try:
            limit = RateLimit.of(doc.get("rate_limit"))
        except (KeyError, TypeError, ValueError) as e:
            raise RegistryError(f"{key}.rate_limit: expected {{\"notices\": N, \"per_seconds\": S}} ({e})") from e
        if limit is not None and (limit.notices < 1 or limit.per_seconds < 1):
            raise RegistryError(f"{key}.rate_limit: notices and per_seconds must be at least 1")
        out[notice_type] = Route(platform=platform_id, notice_type=notice_type, channel=channel, address=address,
                                 law=law, name=str(platform.get("name") or platform_id), rate_limit=limit,
                                 api=dict(doc.get("api") or {}))
    return out


def validate_registry(platforms: Mapping[str, Any]) -> None:
    """Check every platform's routes (RegistryError names the first bad key)."""
    if not isinstance(platforms, Mapping) or not platforms:
        raise RegistryError("platforms: at least one platform is needed")
    for pid, doc in platforms.items():
        if not isinstance(doc, Mapping):
            raise RegistryError(f"platforms.{pid}: expected an object")
        routes(pid, doc)


def _loopback(url: str) -> bool:
    return url.startswith(("http://127.0.0.1:", "http://localhost:", "http://[::1]:"))


@dataclass(frozen=True)
class Outgoing:
    """One notice ready to go: the rendered notice (``notices.Notice``), its route and the
    structured document that travels with it (the JSON attachment or the API body)."""

    case_id: str
    route: Route
    subject: str
    text: str
    html: str | None
    document: Mapping[str, Any]
    law: str = ""  # the notice's own label ("DMCA", "DSA", "LIKENESS-US-ROP", ...); route.law if empty


@dataclass(frozen=True)
class Prepared:
    """The exact bytes a channel will send (``media_type``: message/rfc822, application/json,
    text/plain) and whatever it needs to send them."""

    outgoing: Outgoing
    body: bytes
    media_type: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


@dataclass(frozen=True)
class Receipt:
    """What the channel got back: the provider's id (SES message id, the API's ticket, or the
    manual queue's entry), the ticket when the platform gave one, and its response."""

    provider_id: str
    ticket: str | None = None
    response: Mapping[str, Any] | None = None
    queued: bool = False  # True: waiting for a person to submit it (the manual channel)


class Channel(Protocol):
    def prepare(self, outgoing: Outgoing) -> Prepared:
        """The bytes that will be sent; ``deliver`` sends exactly these (what the archive keeps)."""

    def deliver(self, prepared: Prepared) -> Receipt:
        """Send them. Raises ChannelBusy, ChannelRejected, ChannelUnavailable or DeliveryInDoubt."""


def notice_document(*, case_id: str, route: Route, notice_fields: Mapping[str, str], subject: str,
                    case: Mapping[str, Any], created_at: str) -> dict[str, Any]:
    """The structured notice (schema ``takedown-notice/1``): what a platform's system reads.

    Keys: schema, case_id, notice_type, law, platform, subject, created_at, elements (the
    law's element name -> its text, exactly as in the notice), location {url, reported_url,
    title, uploader}, work {title, artist, isrc, owner, track_id}, evidence {upload_s,
    reference_s, speed, pitch_semitones, false_match_rate} (copyright notices only).
    """
    src = dict(case.get("source") or {})
    work = dict(case.get("work") or {})
    doc: dict[str, Any] = {
        "schema": DOCUMENT_SCHEMA,
        "case_id": case_id,
        "notice_type": route.notice_type,
        "law": route.law,
        "platform": route.platform,
        "subject": subject,
        "created_at": created_at,
        "elements": dict(notice_fields),
        "location": {"url": case.get("location") or src.get("url"), "reported_url": src.get("url"),
                     "title": src.get("title"), "uploader": src.get("uploader")},
        "work": {k: work.get(k) for k in ("title", "artist", "isrc", "owner")} | {"track_id": case.get("track_id")},
    }
    ev = case.get("evidence") or {}
    if route.notice_type == COPYRIGHT and ev:
        q0 = _f(ev.get("query_start_s")) or 0.0
        dur = _f(ev.get("matched_duration_s"))
        off = _f(ev.get("offset_s"))
        speed = _f(ev.get("speed")) or 1.0
        doc["evidence"] = {
            "upload_s": [round(q0, 2), round(q0 + dur, 2)] if dur is not None else None,
            "reference_s": [round(off + speed * q0, 2), round(off + speed * (q0 + dur), 2)]
            if off is not None and dur is not None else None,
            "speed": _f(ev.get("speed")),
            "pitch_semitones": _f(ev.get("pitch_semitones")),
            "false_match_rate": _f(ev.get("false_match_rate")),
        }
    return doc


def _f(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Takedown-Signature`` header value: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of
    "<t>." + body under secret>`` (the scheme Stripe's webhooks use: the timestamp inside the
    signature stops a replay of an old request)."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: bytes, header: str, body: bytes, *, now: int, tolerance_s: int = 300) -> bool:
    """True when ``header`` signs ``body`` under ``secret`` within ``tolerance_s`` of ``now``
    (what a platform receiving our notices does; used by the local platform and the tests)."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - t) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, t, body), header)


def json_body(document: Mapping[str, Any]) -> bytes:
    """The API channel's body: the document as compact UTF-8 JSON, keys sorted."""
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


# --------------------------------------------------------------------------- e-mail and manual


def mime_message(*, sender: str, to: list[str], subject: str, text: str, html: str | None,
                 document: Mapping[str, Any] | None, date: str, message_id: str) -> bytes:
    """An RFC 5322 message: text, HTML alternative, and the structured document attached as
    ``notice.json``. ``date`` is an RFC 2822 date, ``message_id`` "<...@...>".

    A subject that is not ASCII is written whole as RFC 2047 encoded words (each at most 75
    characters, lines under 78): the email package's own folding splits an encoded word at a
    space and the space is lost on reading ("copyright in  “Track3Enhanced”" for
    "copyright in “Track3 Enhanced”")."""
    from email.header import Header
    from email.message import EmailMessage
    from email.policy import SMTP

    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    if subject.isascii():
        msg["Subject"] = subject
    else:  # folded here, kept as folded (the policy refolds only lines over its limit)
        msg.set_raw("Subject", Header(subject, "utf-8", header_name="Subject").encode(linesep="\n"))
    msg["Date"] = date
    msg["Message-ID"] = message_id
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    if document is not None:
        msg.add_attachment(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False).encode(),
                           maintype="application", subtype="json", filename="notice.json")
    return msg.as_bytes()


class RawMailer(Protocol):
    def send_raw(self, *, to: list[str], data: bytes) -> str:
        """Send one RFC 5322 message as is; returns the provider's message id."""


class EmailChannel:
    """Notices by e-mail (SES in the stack): the text and HTML notice with its structured
    document attached, sent as prepared."""

    def __init__(self, mailer: RawMailer, *, sender: str, clock: Any) -> None:
        self.mailer, self.sender, self.clock = mailer, sender, clock

    def prepare(self, outgoing: Outgoing) -> Prepared:
        from email.utils import formatdate

        domain = self.sender.rsplit("@", 1)[-1].strip("> ") or "takedown.local"
        slot = hashlib.sha256(outgoing.route.slot.encode()).hexdigest()[:12]
        body = mime_message(sender=self.sender, to=[outgoing.route.address], subject=outgoing.subject,
                            text=outgoing.text, html=outgoing.html, document=outgoing.document,
                            date=formatdate(self.clock(), usegmt=True),
                            message_id=f"<{outgoing.case_id}.{slot}@{domain}>")
        return Prepared(outgoing, body, "message/rfc822")

    def deliver(self, prepared: Prepared) -> Receipt:
        message_id = self.mailer.send_raw(to=[prepared.outgoing.route.address], data=prepared.body)
        return Receipt(provider_id=message_id)


class ManualQueue(Protocol):
    def queue_manual(self, entry: dict[str, Any]) -> None:
        """Put a prepared notice in the queue of notices a person submits by hand."""


class ManualChannel:
    """A web-form-only platform: the prepared notice (text, form address, document) waits in a
    queue until a person submits it and records the platform's ticket (``takedown notices
    manual list|done``)."""

    def __init__(self, queue: ManualQueue, *, clock: Any) -> None:
        self.queue, self.clock = queue, clock

    def prepare(self, outgoing: Outgoing) -> Prepared:
        return Prepared(outgoing, outgoing.text.encode(), "text/plain; charset=utf-8")

    def deliver(self, prepared: Prepared) -> Receipt:
        o = prepared.outgoing
        entry = {"case_id": o.case_id, "slot": o.route.slot, "platform": o.route.platform,
                 "notice_type": o.route.notice_type, "law": o.route.law, "form": o.route.address,
                 "subject": o.subject, "queued_at": _iso(self.clock()), "sha256": prepared.sha256}
        self.queue.queue_manual(entry)
        return Receipt(provider_id=f"manual:{o.case_id}:{o.route.slot}", queued=True)


def _iso(epoch: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
