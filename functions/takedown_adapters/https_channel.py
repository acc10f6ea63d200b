"""The HTTPS API notice channel: a JSON POST signed with HMAC-SHA256.

Request: ``POST <route.address>`` with the structured notice (``channels.notice_document``)
as compact JSON, and headers

- ``X-Takedown-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``
  (``channels.sign``; the secret is named by ``platforms.<p>.api.secret`` and read from
  Secrets Manager, never from configuration),
- ``Idempotency-Key: <case id>:<slot>``: the same notice always carries the same key,
- ``Content-Type: application/json``.

Answers: 2xx → sent; the ticket is the response's ``api.ticket_field`` (default
``ticket_id``; nested as ``a.b``), the response body is kept. 429 → ``ChannelBusy`` with
Retry-After (seconds or an HTTP date; 60 s if absent). Other 4xx → ``ChannelRejected`` with
the platform's reason (``reason``, ``error``, ``message`` or ``detail`` of a JSON body, else
its text). 5xx or no connection → ``ChannelUnavailable``. A timeout after the request went
out → ``DeliveryInDoubt``, unless the route says the platform honours the idempotency key
(``api.idempotency_key: true``), when sending again is safe (``ChannelUnavailable``).
"""

from __future__ import annotations

import json
import time
from email.utils import parsedate_to_datetime
from typing import Any, Callable

import urllib3

from takedown_core.channels import (
    SIGNATURE_HEADER,
    ChannelBusy,
    ChannelRejected,
    ChannelUnavailable,
    Outgoing,
    Prepared,
    Receipt,
    json_body,
    sign,
)
from takedown_core.ports import DeliveryInDoubt

_REASON_KEYS = ("reason", "error", "message", "detail")
DEFAULT_RETRY_AFTER_S = 60.0
MAX_KEPT_RESPONSE = 16_000  # characters of a response body kept in the notice record


class HttpsApiChannel:
    """``secret_for(name) -> bytes`` reads a signing secret (Powertools Parameters in the
    Lambda); ``clock`` gives epoch seconds. One attempt per call: the state machine retries."""

    def __init__(self, secret_for: Callable[[str], bytes], *, clock: Callable[[], float] = time.time,
                 pool: urllib3.PoolManager | None = None, user_agent: str = "takedown-notices/1") -> None:
        self.secret_for, self.clock, self.user_agent = secret_for, clock, user_agent
        self.pool = pool or urllib3.PoolManager(retries=False)

    def prepare(self, outgoing: Outgoing) -> Prepared:
        body = json_body(outgoing.document)
        t = int(self.clock())
        secret = self.secret_for(str(outgoing.route.api["secret"]))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": self.user_agent,
            "Idempotency-Key": f"{outgoing.case_id}:{outgoing.route.slot}",
            SIGNATURE_HEADER: sign(secret, t, body),
        }
        return Prepared(outgoing, body, "application/json", {"headers": headers})

    def deliver(self, prepared: Prepared) -> Receipt:
        route = prepared.outgoing.route
        timeout_s = float(route.api.get("timeout_seconds", 10))
        try:
            r = self.pool.request("POST", route.address, body=prepared.body, headers=dict(prepared.extra["headers"]),
                                  timeout=urllib3.Timeout(connect=min(5.0, timeout_s), read=timeout_s),
                                  redirect=False, retries=False)
        except (urllib3.exceptions.ConnectTimeoutError, urllib3.exceptions.NewConnectionError) as e:
            raise ChannelUnavailable(f"could not connect to {route.address}: {e}") from e
        except urllib3.exceptions.ReadTimeoutError as e:
            if route.api.get("idempotency_key"):
                raise ChannelUnavailable(f"{route.address} did not answer within {timeout_s:.0f} s; it honours the "
                                         "idempotency key, so the retry is safe") from e
            raise DeliveryInDoubt(f"{route.address} did not answer within {timeout_s:.0f} s after the notice "
                                  "was sent") from e
        except urllib3.exceptions.ProtocolError as e:  # connection dropped mid-answer: the body went out
            raise DeliveryInDoubt(f"{route.address} dropped the connection before answering ({e})") from e
        except urllib3.exceptions.HTTPError as e:
            raise ChannelUnavailable(f"{route.address}: {type(e).__name__}: {e}") from e
        text = r.data.decode("utf-8", "replace")
        doc = _json(text)
        kept = {"status": r.status, "body": doc if doc is not None else text[:MAX_KEPT_RESPONSE]}
        if 200 <= r.status < 300:
            ticket = _ticket(doc, str(route.api.get("ticket_field") or "ticket_id"))
            return Receipt(provider_id=ticket or f"http-{r.status}", ticket=ticket, response=kept)
        if r.status == 429:
            raise ChannelBusy(retry_after(r.headers.get("Retry-After"), self.clock()),
                              f"{route.address} answered 429 Too Many Requests")
        if 400 <= r.status < 500:
            raise ChannelRejected(_reason(doc, text, r.status), kept)
        raise ChannelUnavailable(f"{route.address} answered {r.status}: {_reason(doc, text, r.status)}")


def retry_after(value: str | None, now: float) -> float:
    """Seconds to wait from a Retry-After header (RFC 9110 §10.2.3: delay-seconds or an
    HTTP-date); 60 s when absent or unreadable, never negative."""
    if not value:
        return DEFAULT_RETRY_AFTER_S
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError):
        return DEFAULT_RETRY_AFTER_S


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _ticket(doc: Any, field: str) -> str | None:
    value: Any = doc
    for part in field.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return None if value is None else str(value)[:200]


def _reason(doc: Any, text: str, status: int) -> str:
    if isinstance(doc, dict):
        for key in _REASON_KEYS:
            if doc.get(key):
                value = doc[key]
                return (value if isinstance(value, str) else json.dumps(value))[:1000]
    return (text.strip()[:1000] or f"HTTP {status} with no reason given")
