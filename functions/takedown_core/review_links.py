"""Signed review links, CSRF tokens and the reviewer's decision form. Pure standard library.

A review link carries only an opaque review id, its expiry and a signature:

    {base}/review/{review_id}?exp={expires_at}&sig=v1.{base64url(HMAC-SHA256)}

The signature binds review id, case id, reviewer and expiry, so a link cannot be moved to
another case or reviewer, nor extended. The Step Functions task token never appears in a
URL: it stays in the review record, found by the review id.

Signatures start with a format version ("v1."). ``verify_link`` and ``verify_csrf`` accept
one key or several (newest first), so a key can be rotated without breaking links that are
already in inboxes; links always get signed with the first key.

A reviewer's queue link lists their waiting cases; it carries the reviewer, an expiry and a
signature over both (its own domain), so it cannot be moved to another reviewer nor extended:

    {base}/queue?reviewer={reviewer}&exp={expires_at}&sig=v1.{base64url(HMAC-SHA256)}

Link signatures, queue signatures and CSRF tokens use distinct HMAC domain-separation
prefixes: one can never stand in for another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import asdict, dataclass
from typing import Iterable, Mapping, Union
from urllib.parse import quote

VERSION = "v1"
_LINK_DOMAIN = b"takedown/review-link/v1"
_CSRF_DOMAIN = b"takedown/review-csrf/v1"
_QUEUE_DOMAIN = b"takedown/review-queue/v1"
REVIEWER_MAX = 320  # characters of a reviewer (an e-mail address) a queue link may carry
_MAC_LEN = 32  # SHA-256

Keys = Union[bytes, Iterable[bytes]]


class LinkError(Exception):
    """A review link (or CSRF token) that must not be honoured.

    ``kind`` is one of ``"malformed"`` (not something we ever issued: wrong shape or version),
    ``"forged"`` (well-formed, but the signature does not match these parameters: tampered,
    another review, another reviewer, another key) or ``"expired"`` (genuine, but too late).
    """

    KINDS = ("malformed", "forged", "expired")

    def __init__(self, kind: str, message: str | None = None):
        if kind not in self.KINDS:
            raise ValueError(f"unknown LinkError kind {kind!r}")
        super().__init__(message or kind)
        self.kind = kind


# --------------------------------------------------------------------------- signing core


def _keys(key: Keys) -> list[bytes]:
    keys = [key] if isinstance(key, (bytes, bytearray)) else list(key)
    if not keys or not all(isinstance(k, (bytes, bytearray)) and len(k) >= 16 for k in keys):
        raise ValueError("signing keys must be bytes of at least 16 bytes (load them from SSM/Secrets Manager)")
    return [bytes(k) for k in keys]


def _field(value: object) -> bytes:
    """Length-prefixed encoding: no choice of field values can collide with another."""
    raw = str(value).encode("utf-8")
    return str(len(raw)).encode() + b":" + raw + b";"


def _mac(key: bytes, domain: bytes, *fields: object) -> bytes:
    msg = domain + b"\n" + b"".join(_field(f) for f in fields)
    return hmac.new(key, msg, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text or len(text) > 64 or not all(c.isalnum() or c in "-_" for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _encode(mac: bytes) -> str:
    return f"{VERSION}.{_b64(mac)}"


def _decode(token: object) -> bytes:
    """The MAC inside a token; LinkError("malformed") for anything we never issue."""
    if not isinstance(token, str) or "." not in token:
        raise LinkError("malformed", "signature missing or not in a known format")
    version, _, body = token.partition(".")
    if version != VERSION:
        raise LinkError("malformed", f"unknown signature version {version[:8]!r}")
    try:
        mac = _unb64(body)
    except (ValueError, binascii.Error):
        raise LinkError("malformed", "signature is not base64url") from None
    if len(mac) != _MAC_LEN:
        raise LinkError("malformed", "signature has the wrong length")
    return mac


def _expiry(expires_at: object) -> int:
    """Expiry as int; query strings give text, so digits-only text is accepted."""
    if isinstance(expires_at, bool):
        raise LinkError("malformed", "expiry is not a number")
    if isinstance(expires_at, int):
        return expires_at
    if isinstance(expires_at, str) and expires_at.isascii() and expires_at.isdigit() and len(expires_at) <= 12:
        return int(expires_at)
    raise LinkError("malformed", "expiry is not a number")


def _check(key: Keys, domain: bytes, token: object, *fields: object) -> None:
    got = _decode(token)
    ok = False
    for k in _keys(key):  # every key is tried, so timing does not tell which one matched
        ok |= hmac.compare_digest(got, _mac(k, domain, *fields))
    if not ok:
        raise LinkError("forged", "signature does not match")


# --------------------------------------------------------------------------- links


def sign_link(key: bytes, *, review_id: str, case_id: str, reviewer: str, expires_at: int) -> str:
    """Signature for a review link: ``v1.`` + base64url(HMAC-SHA256), no padding."""
    return _encode(_mac(_keys(key)[0], _LINK_DOMAIN, review_id, case_id, reviewer, int(expires_at)))


def review_url(
    base_url: str, *, key: bytes, review_id: str, case_id: str, reviewer: str, expires_at: int
) -> str:
    """The link that goes into the email. Carries no task token, case id or reviewer."""
    sig = sign_link(key, review_id=review_id, case_id=case_id, reviewer=reviewer, expires_at=expires_at)
    return f"{base_url.rstrip('/')}/review/{quote(review_id, safe='')}?exp={int(expires_at)}&sig={sig}"


def verify_link(
    key: Keys, *, review_id: str, case_id: str, reviewer: str, expires_at: int | str, sig: str, now: int
) -> None:
    """Accept the link or raise ``LinkError``.

    ``case_id`` and ``reviewer`` come from the stored review (found by ``review_id``), never
    from the request. The signature is checked before the expiry, so "expired" is only ever
    said about links we really issued.
    """
    exp = _expiry(expires_at)
    _check(key, _LINK_DOMAIN, sig, review_id, case_id, reviewer, exp)
    if int(now) >= exp:
        raise LinkError("expired", "link has expired")


def review_path(*, key: bytes, review_id: str, case_id: str, reviewer: str, expires_at: int) -> str:
    """The review link relative to the API's stage ("review/<id>?exp=..&sig=.."), for a page of
    the same API (the queue) to link to without knowing its own address."""
    sig = sign_link(key, review_id=review_id, case_id=case_id, reviewer=reviewer, expires_at=expires_at)
    return f"review/{quote(review_id, safe='')}?exp={int(expires_at)}&sig={sig}"


# --------------------------------------------------------------------------- queue links


def sign_queue(key: bytes, *, reviewer: str, expires_at: int) -> str:
    """Signature for a reviewer's queue link (its own HMAC domain)."""
    return _encode(_mac(_keys(key)[0], _QUEUE_DOMAIN, reviewer, int(expires_at)))


def queue_path(*, key: bytes, reviewer: str, expires_at: int) -> str:
    """The queue link relative to the API's stage: "queue?reviewer=..&exp=..&sig=.."."""
    sig = sign_queue(key, reviewer=reviewer, expires_at=expires_at)
    return f"queue?reviewer={quote(reviewer, safe='@')}&exp={int(expires_at)}&sig={sig}"


def queue_url(base_url: str, *, key: bytes, reviewer: str, expires_at: int) -> str:
    """The reviewer's queue link for the e-mails: their waiting cases, each linking to its page."""
    return f"{base_url.rstrip('/')}/{queue_path(key=key, reviewer=reviewer, expires_at=expires_at)}"


def verify_queue(key: Keys, *, reviewer: object, expires_at: int | str, sig: str, now: int) -> str:
    """The reviewer a queue link is for, or ``LinkError`` (kinds as for review links: the
    signature is checked before the expiry)."""
    if not isinstance(reviewer, str) or not reviewer or len(reviewer) > REVIEWER_MAX:
        raise LinkError("malformed", "reviewer missing or too long")
    exp = _expiry(expires_at)
    _check(key, _QUEUE_DOMAIN, sig, reviewer, exp)
    if int(now) >= exp:
        raise LinkError("expired", "link has expired")
    return reviewer


# --------------------------------------------------------------------------- CSRF


def csrf_token(key: bytes, *, review_id: str, reviewer: str, expires_at: int) -> str:
    """Token for the decision form, bound to the review and the reviewer (and the expiry)."""
    return _encode(_mac(_keys(key)[0], _CSRF_DOMAIN, review_id, reviewer, int(expires_at)))


def verify_csrf(
    key: Keys, *, token: str, review_id: str, reviewer: str, expires_at: int | str, now: int | None = None
) -> None:
    """Accept the form's CSRF token or raise ``LinkError`` (kinds as for links)."""
    exp = _expiry(expires_at)
    _check(key, _CSRF_DOMAIN, token, review_id, reviewer, exp)
    if now is not None and int(now) >= exp:
        raise LinkError("expired", "form has expired")


# --------------------------------------------------------------------------- decisions

REJECT_REASONS: dict[str, str] = {
    "not_our_work": "Not our work",
    "licensed": "Licensed / authorised use",
    "fair_use": "Fair use or parody",
    "insufficient_match": "Insufficient match",
    "other": "Other (explain)",
}

DECISIONS = ("approve", "reject")
NOTE_MAX = 1000


class DecisionInvalid(Exception):
    """The decision form is incomplete or has values we do not know; ``message`` says which,
    ``field`` which form field it is about ("decision", "reason" or "note"; None: the form)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Decision:
    decision: str               # "approve" | "reject"
    reason: str | None = None   # a REJECT_REASONS code when rejecting, else None
    note: str | None = None     # free text (required with reason "other")

    @property
    def approved(self) -> bool:
        return self.decision == "approve"

    @property
    def reason_label(self) -> str | None:
        return REJECT_REASONS.get(self.reason) if self.reason else None

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)


def _one(form: Mapping[str, object], name: str) -> str | None:
    value = form.get(name)
    if isinstance(value, (list, tuple)):  # parse_qs style
        if len(value) > 1:
            raise DecisionInvalid(f"'{name}' was sent more than once", name)
        value = value[0] if value else None
    if value is None:
        return None
    if not isinstance(value, str):
        raise DecisionInvalid(f"'{name}' is not text", name)
    return value


def parse_decision(form: Mapping[str, object]) -> Decision:
    """The reviewer's decision from the posted form (fields: decision, reason, note).

    Rejecting needs a reason from ``REJECT_REASONS``; reason "other" needs the note to say
    why. An approval ignores any reason (the page has one form per decision, but a hand-made
    post may carry both). Notes are trimmed, CRLF-normalised and at most 1000 characters.
    """
    decision = (_one(form, "decision") or "").strip().lower()
    if decision not in DECISIONS:
        raise DecisionInvalid("Choose approve or reject." if not decision else "Unknown decision.", "decision")
    note = (_one(form, "note") or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if "\x00" in note:
        raise DecisionInvalid("The note contains characters that are not allowed.", "note")
    if len(note) > NOTE_MAX:
        raise DecisionInvalid(f"The note is too long ({len(note)} characters; at most {NOTE_MAX}).", "note")
    if decision == "approve":
        return Decision("approve", None, note or None)
    reason = (_one(form, "reason") or "").strip()
    if not reason:
        raise DecisionInvalid("Choose a reason for rejecting.", "reason")
    if reason not in REJECT_REASONS:
        raise DecisionInvalid("Unknown reason for rejecting.", "reason")
    if reason == "other" and not note:
        raise DecisionInvalid("Explain the reason for rejecting in the Explanation field.", "note")
    return Decision("reject", reason, note or None)
