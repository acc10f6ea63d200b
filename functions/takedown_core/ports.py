"""Ports: the small interfaces the domain core needs from the outside world.

Adapters (takedown_adapters) implement them with boto3; tests implement them in memory
(tests/fakes.py) and the same contract tests run against both.

Storage is split by concern: ``CaseStore`` (cases and their audit trail), ``ReviewStore``
(review requests behind the emailed links), ``UploadLedger`` (what was decided about each
upload and each content hash, and why an object could not be processed yet),
``StayDownRegister`` and ``NoticeLedger`` (one notice per case and channel). Each service
declares the ones it uses (``IngestRepository``, ``ReviewRepository``, ...); one DynamoDB
class (``takedown_adapters.dynamo.DynamoCaseRepository``) implements them all
(``CaseRepository``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .cases import AuditEvent, Case, Status
from .decode_report import DecodeReport

if TYPE_CHECKING:  # the engine imports numpy; the ports must not
    from .engine.result import QueryResult


@dataclass
class Review:
    """One request for a decision: an opaque id that maps to a Step Functions task token.

    The id is what the emailed link carries; the token never leaves the table.
    """

    review_id: str
    case_id: str
    reviewer: str
    task_token: str
    round: int                  # 0 for the first request, +1 per reminder / escalation
    created_at: str
    expires_at: int             # epoch seconds; the link stops working after this
    used: bool = False
    decision: dict[str, Any] | None = None
    delivery: str = "email"     # "email": its own message; "digest": listed in the hourly digest
    clips: dict[str, Any] | None = None  # the review's audio clips (clips.ClipSet.to_dict()); None: none cut


@dataclass
class Submission:
    """What was decided about one uploaded object (keyed by its content hash)."""

    content_hash: str
    outcome: str                 # "no_match" | "quarantined" | "case"
    reason: str | None = None
    track_id: str | None = None
    match: dict[str, Any] | None = None
    first_seen: str = ""


@dataclass
class UploadRecord:
    """The outcome of one object landing in one partner bucket (bucket/key)."""

    bucket: str
    key: str
    partner: str
    outcome: str                 # "no_match" | "quarantined" | "case"
    reason: str | None = None
    content_hash: str | None = None
    case_id: str | None = None
    track_id: str | None = None
    recorded_at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class CaseExists(Exception):
    """A case for this (work, location) is already open."""

    def __init__(self, case_id: str):
        super().__init__(f"case {case_id} already exists")
        self.case_id = case_id


class TransientError(RuntimeError):
    """A dependency is briefly unavailable (throttled, timed out, unreachable): try again later.
    The state machine retries a step that raises exactly this (its Lambda errorType)."""


class DeliveryInDoubt(RuntimeError):
    """The channel may or may not have taken the message (the request went out, no answer came
    back): sending again could send it twice, so a person checks the provider first."""


class IndexUnavailable(RuntimeError):
    """The catalogue index cannot be used now (none published, a file missing or altered, an
    unknown format): the upload must wait and be retried, never be decided "no match"."""


class ReviewAlreadyUsed(Exception):
    """The review was decided before (first decision wins)."""


@runtime_checkable
class CaseStore(Protocol):
    """Cases and their append-only audit trail."""

    def create_case(self, case: Case, event: AuditEvent) -> None:
        """Put the case if absent (raises CaseExists) together with its first audit event."""

    def get_case(self, case_id: str) -> Case | None: ...

    def transition(
        self,
        case_id: str,
        expected: Status,
        new: Status,
        event: AuditEvent,
        updates: dict[str, Any] | None = None,
    ) -> Case:
        """Move expected -> new atomically with its audit event; raises ConcurrentChange."""

    def audit_trail(self, case_id: str) -> list[AuditEvent]: ...

    def append_audit(self, event: AuditEvent) -> None: ...

    def list_cases(self, status: Status | None = None, limit: int = 1000,
                   updated_before: str | None = None) -> list[Case]:
        """Cases (of ``status``), oldest first; ``updated_before`` (ISO-8601, with a status):
        only those not changed since then."""

    def cases_for_reviewer(self, reviewer: str, limit: int = 200) -> list[Case]:
        """The cases waiting for ``reviewer`` (IN_REVIEW, assigned to them), oldest first (by
        opening), at most ``limit``: a reviewer's queue, read from an index, never a scan."""


@runtime_checkable
class ReviewStore(Protocol):
    """Review requests: the opaque id an emailed link carries, mapped to a task token."""

    def put_review(self, review: Review, ttl_epoch: int) -> None: ...

    def get_review(self, review_id: str) -> Review | None: ...

    def use_review(self, review_id: str, decision: dict[str, Any]) -> Review:
        """Mark used if not used yet (conditional); raises ReviewAlreadyUsed."""


@runtime_checkable
class UploadLedger(Protocol):
    """What was decided about each content hash (Submission) and each object (UploadRecord),
    and why an object could not be processed yet (its message is retried, then dead-lettered)."""

    def get_submission(self, content_hash: str) -> Submission | None: ...

    def put_submission(self, submission: Submission) -> None: ...

    def put_upload(self, upload: UploadRecord) -> None: ...

    def get_upload(self, bucket: str, key: str) -> UploadRecord | None: ...

    def record_ingest_failure(self, bucket: str, key: str, failure: dict[str, Any]) -> None:
        """Keep the latest failure of (bucket, key): error, message, receive_count, at."""

    def get_ingest_failure(self, bucket: str, key: str) -> dict[str, Any] | None: ...


@runtime_checkable
class StayDownRegister(Protocol):
    """Stay-down: this exact content of this work was taken down before, in this case."""

    def mark_stay_down(self, track_id: str, content_hash: str, case_id: str) -> None: ...

    def get_stay_down(self, track_id: str, content_hash: str) -> str | None: ...


@runtime_checkable
class NoticeLedger(Protocol):
    """One notice per (case, channel): claimed before it is sent, completed after."""

    def claim_notice(self, case_id: str, channel: str, notice: dict[str, Any]) -> bool:
        """Record a notice as being sent on a channel; False if one was already sent."""

    def complete_notice(self, case_id: str, channel: str, result: dict[str, Any]) -> None: ...

    def get_notice(self, case_id: str, channel: str) -> dict[str, Any] | None: ...

    def list_notices(self, case_id: str) -> list[dict[str, Any]]:
        """Every notice record of the case (each with its ``slot``), in slot order."""

    def queue_manual(self, entry: dict[str, Any]) -> None:
        """Add a prepared notice to the queue a person works through (``entry``: case_id, slot,
        platform, notice_type, law, form, subject, queued_at, sha256)."""

    def list_manual(self) -> list[dict[str, Any]]:
        """The manual queue, oldest first."""

    def remove_manual(self, case_id: str, slot: str) -> bool:
        """Take an entry off the manual queue; False if it was not there."""


@runtime_checkable
class RepeatUploaders(Protocol):
    """Per (platform, uploader): the cases whose notice was sent, for the platform's
    repeat-infringer policy (17 U.S.C. 512(i)) and the reviewer's page."""

    def count_notice(self, platform: str, uploader: str, case_id: str) -> None:
        """Count a sent notice against the uploader (once per case, however often it is called)."""

    def notices_for(self, platform: str, uploader: str) -> int:
        """How many of the uploader's cases on the platform had a notice sent."""


@runtime_checkable
class RateLimits(Protocol):
    """Fixed-window counters shared by every sender (a platform's rate limit holds under a burst)."""

    def take_rate_slot(self, key: str, limit: int, per_seconds: int, now: float) -> float:
        """Take one of ``limit`` slots in the current ``per_seconds`` window of ``key``: 0.0 if
        taken, else the seconds until the window ends (nothing taken: wait, then ask again)."""


# What each service uses (the repository argument of each service is typed with these).
class IngestRepository(CaseStore, UploadLedger, StayDownRegister, Protocol):
    """IngestService: opens cases, records uploads, reads the stay-down register."""


class ReviewRepository(CaseStore, ReviewStore, RepeatUploaders, Protocol):
    """ReviewService and WorkflowService: cases and their review requests."""


class DispatchRepository(CaseStore, NoticeLedger, StayDownRegister, RateLimits, RepeatUploaders, Protocol):
    """NoticeService (dispatch.py): sends the notice once and marks the content for stay-down."""


@runtime_checkable
class CaseRepository(CaseStore, ReviewStore, UploadLedger, StayDownRegister, NoticeLedger, RateLimits,
                     RepeatUploaders, Protocol):
    """Every storage port: what the one DynamoDB class (and the in-memory fake) implements."""


class NoticeArchive(Protocol):
    """Every notice exactly as it went out (S3, versioned, under the case)."""

    def keep(self, case_id: str, slot: str, body: bytes, media_type: str) -> dict[str, Any]:
        """Store ``body``; returns {"bucket", "key", "sha256", "media_type"}."""

    def fetch(self, key: str) -> bytes:
        """The stored bytes under ``key``; KeyError if there are none."""


class EvidenceStore(Protocol):
    """Where full match evidence lives (S3 under the case); items keep it bounded and referenced."""

    def put(self, key: str, document: dict[str, Any]) -> str:
        """Write ``document`` as JSON under ``key`` (same key, same content: idempotent); returns its URI."""

    def copy(self, uri: str, key: str) -> str:
        """Copy the document at ``uri`` (from ``put``) to ``key``; returns the new URI."""


class Mailer(Protocol):
    def send(self, *, to: list[str], subject: str, text: str, html: str | None = None) -> str:
        """Send one message; returns the provider's message id."""


class WorkflowStarter(Protocol):
    def start(self, case_id: str, payload: dict[str, Any]) -> str:
        """Start the case's execution named after the case (a repeat start is a no-op)."""


class TaskCallback(Protocol):
    def succeed(self, task_token: str, output: dict[str, Any]) -> None: ...

    def fail(self, task_token: str, error: str, cause: str) -> None: ...


@runtime_checkable
class Executions(Protocol):
    """The state machine's executions, as the reconciler needs them."""

    def status(self, case_id: str) -> str | None:
        """The execution named after the case: RUNNING / SUCCEEDED / FAILED / TIMED_OUT /
        ABORTED, or None if it was never started."""


class TooLarge(Exception):
    """An object grew past the size limit while it was read (``MediaStore.download``)."""


@runtime_checkable
class MediaStore(Protocol):
    """The partner landing buckets and the quarantine, as ingest needs them."""

    def download(self, bucket: str, key: str, dest: str, *, max_bytes: int) -> tuple[str, int]:
        """Stream the object to dest; returns (sha256 hex, size). Raises TooLarge past max_bytes."""

    def read_first(self, bucket: str, keys: list[str], *, max_bytes: int) -> tuple[str, bytes] | None:
        """The first of keys that exists, with its bytes; None if none exists."""

    def quarantine(self, bucket: str, key: str, *, reason: str, detail: str) -> str:
        """Copy the object aside with its reason; returns where it went."""


@dataclass(frozen=True)
class MatchAnswer:
    """What the ``Matcher`` port returns for one upload (typed; serialised once, at the
    storage edge, by ``evidence.match_documents``).

    result: the engine's ``QueryResult`` (best match, others, partial matches, query
    figures). decode: what the decoder made of the bytes. index_version / index_sha256: the
    index searched, by name and by identity (its manifest's sha256). shards_searched: shards
    the query met; shard_invocations: shard functions called, both rounds of a fan-out (the
    second when the first found no copy; None: all searched in one).
    """

    result: "QueryResult"
    decode: DecodeReport
    index_version: str
    index_sha256: str | None
    shards_searched: int
    shard_invocations: int | None = None


@runtime_checkable
class Matcher(Protocol):
    """What ingest needs from the engine: decode and query with the current index."""

    def match(self, path: str) -> MatchAnswer:
        """The answer for the audio file at ``path``. Raises the decoder's error type
        (``IngestService(decode_error=...)``) for media that cannot be used, and
        ``IndexUnavailable`` / ``TransientError`` when the catalogue cannot be searched now."""


@runtime_checkable
class ShardSearch(Protocol):
    """One group of index shards searched for one query (the shard function, in AWS)."""

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        """``request``: {index_version, index_sha256, shards, query (wire form),
        max_false_match_rate}; returns ``QueryResult.to_dict(with_evidence=True)`` of those
        shards. Raises ``ShardMatchError`` when the search failed."""
