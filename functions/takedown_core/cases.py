"""Cases: the domain's unit of work. Pure Python, no boto3.

A case is one (work, location) pair: one catalogue track found at one place on the web. It is
opened by a match, moves along the transitions in ``TRANSITIONS`` and nowhere else, and every
move leaves an audit event. Storage lives behind ``CaseRepository`` (ports.py); this module
only knows the rules.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from .locations import Location, LocationError, is_http, normalize_url


class Status(str, enum.Enum):
    DETECTED = "DETECTED"              # opened by a match, workflow not yet started
    IN_REVIEW = "IN_REVIEW"            # a reviewer has been asked
    APPROVED = "APPROVED"              # a reviewer (or the stay-down policy) approved
    REJECTED = "REJECTED"              # a reviewer rejected: no notice is sent
    REVIEW_EXPIRED = "REVIEW_EXPIRED"  # nobody decided in time, after reminders and escalation
    NOTICE_SENT = "NOTICE_SENT"        # the notice went out on the platform's channel
    NOTICE_QUEUED = "NOTICE_QUEUED"    # a web-form-only platform: the notice waits for a person
    NOTICE_INVALID = "NOTICE_INVALID"  # a required element of the notice is missing: not sent
    NOTICE_FAILED = "NOTICE_FAILED"    # the channel kept failing (or may have sent): cause recorded
    NOTICE_REJECTED = "NOTICE_REJECTED"  # the platform refused the notice, with its reason
    CONTENT_REMOVED = "CONTENT_REMOVED"  # the platform removed it (or it was found gone)
    COUNTER_NOTICED = "COUNTER_NOTICED"  # the uploader counter-noticed (17 U.S.C. 512(g)): clock runs
    RESTORED = "RESTORED"              # the platform restored it after the counter-notice
    LEGAL_ACTION = "LEGAL_ACTION"      # the label went to court before restoration
    NOTICE_DISPUTED = "NOTICE_DISPUTED"  # older cases: counter-notice or refusal (before the above)
    FAILED = "FAILED"                  # the workflow failed; the cause is recorded

    def __str__(self) -> str:  # pragma: no cover - convenience for f-strings
        return self.value


_NOTICE_OUTCOMES = frozenset({Status.NOTICE_SENT, Status.NOTICE_QUEUED, Status.NOTICE_INVALID, Status.NOTICE_FAILED,
                              Status.NOTICE_REJECTED})

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.DETECTED: frozenset({Status.IN_REVIEW, Status.APPROVED, Status.FAILED}),
    # IN_REVIEW -> IN_REVIEW is a reminder / escalation / reassignment (a new review round).
    Status.IN_REVIEW: frozenset(
        {Status.IN_REVIEW, Status.APPROVED, Status.REJECTED, Status.REVIEW_EXPIRED, Status.FAILED}
    ),
    Status.APPROVED: _NOTICE_OUTCOMES | {Status.FAILED},
    Status.NOTICE_QUEUED: frozenset({Status.NOTICE_SENT, Status.NOTICE_FAILED, Status.NOTICE_REJECTED, Status.FAILED}),
    Status.NOTICE_SENT: frozenset({Status.CONTENT_REMOVED, Status.NOTICE_REJECTED, Status.COUNTER_NOTICED,
                                   Status.NOTICE_DISPUTED, Status.FAILED}),
    # a removal can still be counter-noticed; a counter-notice ends in restoration or in court
    Status.CONTENT_REMOVED: frozenset({Status.COUNTER_NOTICED, Status.FAILED}),
    Status.COUNTER_NOTICED: frozenset({Status.RESTORED, Status.LEGAL_ACTION, Status.FAILED}),
    Status.REJECTED: frozenset(),
    Status.REVIEW_EXPIRED: frozenset(),
    Status.NOTICE_INVALID: frozenset(),
    Status.NOTICE_FAILED: frozenset(),
    Status.NOTICE_REJECTED: frozenset(),
    Status.RESTORED: frozenset(),
    Status.LEGAL_ACTION: frozenset(),
    Status.NOTICE_DISPUTED: frozenset(),
    Status.FAILED: frozenset(),
}

TERMINAL = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)


class CaseKind(str, enum.Enum):
    """What a case claims, which decides its legal route (and that it never skips a person).

    COPY: the upload is essentially our recording (copyright notice; stay-down may approve).
    PARTIAL: our recording is certainly in it, beside or under other material (copyright
    notice for the portion that is ours; always reviewed).
    SUSPECTED_AI_COVER: a partial match whose presentation names our artist with words such
    as "AI cover" (our recording and a cloned voice: copyright notice, and a likeness
    complaint; always reviewed).
    SUSPECTED_DEEPFAKE: no recording of ours, but the presentation names our artist with such
    words (a likeness / impersonation complaint, never a copyright notice; always reviewed).
    """

    COPY = "copy"
    PARTIAL = "partial"
    SUSPECTED_AI_COVER = "suspected_ai_cover"
    SUSPECTED_DEEPFAKE = "suspected_deepfake"

    def __str__(self) -> str:  # pragma: no cover - convenience for f-strings
        return self.value

    @property
    def holds_our_recording(self) -> bool:
        """True when the evidence is a match of one of our recordings (a copyright claim can rest on it)."""
        return self is not CaseKind.SUSPECTED_DEEPFAKE

    @property
    def may_skip_review(self) -> bool:
        """Only a plain copy may be approved by the stay-down policy without a person."""
        return self is CaseKind.COPY


class IllegalTransition(Exception):
    """A status change the domain does not allow (e.g. REJECTED -> NOTICE_SENT)."""

    def __init__(self, case_id: str, current: Status, wanted: Status):
        super().__init__(f"case {case_id}: {current.value} -> {wanted.value} is not allowed")
        self.case_id, self.current, self.wanted = case_id, current, wanted


class ConcurrentChange(Exception):
    """The case was not in the expected state when we tried to move it (someone else won)."""

    def __init__(self, case_id: str, expected: Status, actual: Status | None):
        got = actual.value if actual else "missing"
        super().__init__(f"case {case_id}: expected {expected.value}, found {got}")
        self.case_id, self.expected, self.actual = case_id, expected, actual


class NotApplicable(ConcurrentChange):
    """An action a person asked for that does not apply to the case as it is (an outcome
    recorded before any notice went out): said plainly, as nothing concurrent happened. A
    ConcurrentChange still, for callers that catch those."""

    def __init__(self, case_id: str, action: str, allowed: tuple[Status, ...], actual: Status | None):
        got = actual.value if actual else "missing"
        Exception.__init__(self, f"case {case_id} is {got}: {action} applies only to a case that is "
                                 f"{' or '.join(a.value for a in allowed)}")
        self.case_id, self.expected, self.actual = case_id, allowed[0], actual


def check_transition(case_id: str, current: Status, wanted: Status) -> None:
    if wanted not in TRANSITIONS[current]:
        raise IllegalTransition(case_id, current, wanted)


def normalize_uploader(name: str | None) -> str:
    """An uploader / channel name as compared with the licensed list and counted for repeat
    uploads: case and spacing ignored."""
    return " ".join(str(name or "").split()).casefold()


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seconds_between(start: str | None, end: str | None) -> float | None:
    """Seconds from one ``utcnow()`` time to another (ISO 8601, 'Z' or an offset); None when
    either is missing or unreadable, or the end is before the start."""
    try:
        a = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
        b = datetime.fromisoformat(str(end).replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    seconds = (b - a).total_seconds()
    return seconds if seconds >= 0 else None


def normalize_location(location: str) -> str:
    """Generic canonical form of where an upload lives (see ``locations.normalize_url``):
    https, lower-case host, no default port, dot segments resolved, no trailing slash, fragment
    or tracking parameters (utm_*, si, feature, ...). Anything else (an ``s3://`` URI, a
    platform item key such as ``youtube:ID``) is kept as given. Per-platform rules (host
    aliases, item ids) live in ``locations.Locations``."""
    loc = location.strip()
    if not is_http(loc):
        return loc
    try:
        return normalize_url(loc)
    except LocationError:
        return loc


def case_id_for(track_id: str, location: str) -> str:
    """Deterministic id for (work, location): a repeat event finds the same case.

    Also a valid Step Functions execution name (letters, digits, '-', at most 80 chars).
    """
    digest = hashlib.sha256(f"{track_id}\n{normalize_location(location)}".encode()).hexdigest()
    return f"case-{digest[:32]}"


@dataclass(frozen=True)
class Source:
    """Where the upload was found. Comes from the partner's sidecar or its defaults.

    Every field is partner-supplied text: render it escaped, never trust it.
    """

    partner: str               # partner id from configuration (the landing bucket's owner)
    platform: str              # e.g. "youtube", "tiktok", "soundcloud"
    url: str | None = None     # public URL of the upload, if the partner knows it
    uploader: str | None = None  # account name / channel on the platform
    title: str | None = None   # title the uploader gave it
    partner_ref: str | None = None  # the partner's own reference for this item
    bucket: str = ""           # landing bucket of the media
    key: str = ""              # object key of the media
    territory: str | None = None  # ISO country / "EU" where the content is served, if known
    description: str | None = None  # the upload's description on the platform, if the partner has it
    tags: tuple[str, ...] = ()     # the upload's tags / hashtags, if the partner has them

    def __post_init__(self) -> None:
        # a tuple however it arrives: DynamoDB and JSON give the stored tags back as a list
        object.__setattr__(self, "tags", tuple(self.tags or ()))

    @property
    def location(self) -> str:
        return self.url or f"s3://{self.bucket}/{self.key}"


@dataclass
class Case:
    case_id: str
    status: Status
    track_id: str
    work: dict[str, Any]        # catalogue metadata: title, artist, isrc, owner, territories
    source: Source
    location: str               # normalized location (the case key's second half)
    evidence: dict[str, Any]    # the engine's Match.to_dict(): score, false-match rate, offsets...
    policy: dict[str, Any]      # which policy fired: threshold, auto_approve and why
    submission: str             # sha256 of the uploaded bytes
    created_at: str = field(default_factory=utcnow)
    updated_at: str = field(default_factory=utcnow)
    version: int = 1
    reviewer: str | None = None
    review_id: str | None = None     # the current review; older links stop working
    review_round: int = 0
    decision: dict[str, Any] | None = None
    failure: dict[str, Any] | None = None
    notice: dict[str, Any] | None = None
    kind: CaseKind = CaseKind.COPY
    likeness: dict[str, Any] | None = None   # why a likeness case was opened (LikenessSignal.to_dict())
    outcome: dict[str, Any] | None = None    # what happened after the notice {outcome, at, by, note}
    counter_notice: dict[str, Any] | None = None  # its text and restoration clock (restoration.py)
    location_problem: str | None = None  # why the location cannot carry a notice (locations.location_problem)

    @classmethod
    def open(
        cls,
        *,
        track_id: str,
        work: dict[str, Any],
        source: Source,
        evidence: dict[str, Any],
        policy: dict[str, Any],
        submission: str,
        location: Location | None = None,
        kind: CaseKind = CaseKind.COPY,
        likeness: dict[str, Any] | None = None,
        location_problem: str | None = None,
    ) -> "Case":
        """A new DETECTED case. ``location`` is the item's canonical Location (per-platform
        rules, ``locations.Locations``); without it the source's location is normalised
        generically. The case id is made from the location's key. ``location_problem``: why
        that location cannot tell the platform where the material is (the review page says
        so; the notice is refused)."""
        key = location.key if location else normalize_location(source.location)
        return cls(
            case_id=case_id_for(track_id, key),
            status=Status.DETECTED,
            track_id=track_id,
            work=work,
            source=source,
            location=location.url if location else key,
            evidence=evidence,
            policy=policy,
            submission=submission,
            kind=CaseKind(kind),
            likeness=likeness,
            location_problem=location_problem,
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        d["kind"] = self.kind.value
        d["source"]["tags"] = list(self.source.tags)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Case":
        d = dict(d)
        d["status"] = Status(d["status"])
        d["kind"] = CaseKind(d.get("kind") or CaseKind.COPY.value)  # cases from before kinds are copies
        d["source"] = Source(**d["source"])
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class AuditEvent:
    """One line of a case's append-only history."""

    case_id: str
    at: str                      # ISO-8601 UTC
    actor: str                   # "system:ingest", "reviewer:alice@label.example", "policy:stay-down"
    action: str                  # "opened", "review_requested", "approved", "notice_sent", ...
    from_status: str | None
    to_status: str | None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Cases whose notice did not go out, or that failed before it: a person must look.
NOT_SENT = frozenset({Status.FAILED, Status.NOTICE_FAILED, Status.NOTICE_INVALID, Status.NOTICE_REJECTED})


def ending_reason(case: "Case | None") -> str | None:
    """Why a case's notice did not go out, in one line (every view shows it): the failure's
    cause (FAILED, NOTICE_FAILED), the missing elements (NOTICE_INVALID) or the platform's
    reason (NOTICE_REJECTED); None for any other case."""
    if case is None or case.status not in NOT_SENT:
        return None
    if case.status == Status.NOTICE_INVALID:
        invalid = (case.notice or {}).get("invalid") or {}
        parts = []
        for notice_type, why in invalid.items():
            reasons = why.get("reasons") or {}
            missing = ", ".join(f"{m} ({reasons[m]})" if m in reasons else m for m in why.get("missing", []))
            parts.append(f"{why.get('law') or notice_type} notice missing {missing}")
        return ("NOTICE_INVALID: " + "; ".join(parts))[:500]
    if case.status == Status.NOTICE_REJECTED:
        return f"NOTICE_REJECTED: {(case.notice or {}).get('reason') or 'no reason given'}"[:500]
    f = case.failure or {}
    return f"{f.get('error') or 'failed'}: {f.get('cause') or 'no cause recorded'}"[:500]
