"""In-memory implementations of the domain's ports, for fast unit tests.

tests/unit/test_repository_contract.py runs the same contract against this fake and against
the DynamoDB adapter on moto, so the two cannot drift apart silently.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import replace
from typing import Any

from takedown_core.cases import AuditEvent, Case, ConcurrentChange, Status, check_transition, utcnow
from takedown_core.ports import CaseExists, Review, ReviewAlreadyUsed, Submission, UploadRecord


class InMemoryCaseRepository:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.cases: dict[str, Case] = {}
        self.audit: dict[str, list[AuditEvent]] = {}
        self.reviews: dict[str, Review] = {}
        self.submissions: dict[str, Submission] = {}
        self.uploads: dict[tuple[str, str], UploadRecord] = {}
        self.notices: dict[tuple[str, str], dict[str, Any]] = {}
        self.stay_down: dict[tuple[str, str], str] = {}
        self.failures: dict[tuple[str, str], dict[str, Any]] = {}
        self.manual: dict[tuple[str, str], dict[str, Any]] = {}
        self.rates: dict[tuple[str, int], int] = {}
        self.uploader_cases: dict[tuple[str, str], set[str]] = {}

    def create_case(self, case: Case, event: AuditEvent) -> None:
        with self._lock:
            if case.case_id in self.cases:
                raise CaseExists(case.case_id)
            self.cases[case.case_id] = copy.deepcopy(case)
            self.audit.setdefault(case.case_id, []).append(copy.deepcopy(event))

    def get_case(self, case_id: str) -> Case | None:
        c = self.cases.get(case_id)
        return copy.deepcopy(c) if c else None

    def transition(self, case_id, expected, new, event, updates=None) -> Case:
        with self._lock:
            current = self.cases.get(case_id)
            if current is None or current.status != expected:
                raise ConcurrentChange(case_id, expected, current.status if current else None)
            check_transition(case_id, expected, new)
            changed = replace(current, status=new, updated_at=utcnow(), version=current.version + 1)
            for k, v in (updates or {}).items():
                setattr(changed, k, copy.deepcopy(v))
            self.cases[case_id] = changed
            self.audit.setdefault(case_id, []).append(copy.deepcopy(event))
            return copy.deepcopy(changed)

    def audit_trail(self, case_id: str) -> list[AuditEvent]:
        return copy.deepcopy(self.audit.get(case_id, []))

    def append_audit(self, event: AuditEvent) -> None:
        with self._lock:
            self.audit.setdefault(event.case_id, []).append(copy.deepcopy(event))

    def list_cases(self, status: Status | None = None, limit: int = 1000,
                   updated_before: str | None = None) -> list[Case]:
        if updated_before is not None and status is None:
            raise ValueError("updated_before needs a status")
        out = [copy.deepcopy(c) for c in self.cases.values() if (status is None or c.status == status)
               and (updated_before is None or c.updated_at < updated_before)]
        return sorted(out, key=lambda c: c.created_at)[:limit]

    def cases_for_reviewer(self, reviewer: str, limit: int = 200) -> list[Case]:
        out = [copy.deepcopy(c) for c in self.cases.values() if c.status == Status.IN_REVIEW and c.reviewer == reviewer]
        return sorted(out, key=lambda c: (c.created_at, c.case_id))[:limit]

    def put_review(self, review: Review, ttl_epoch: int) -> None:
        self.reviews[review.review_id] = copy.deepcopy(review)

    def get_review(self, review_id: str) -> Review | None:
        r = self.reviews.get(review_id)
        return copy.deepcopy(r) if r else None

    def use_review(self, review_id: str, decision: dict[str, Any]) -> Review:
        with self._lock:
            r = self.reviews.get(review_id)
            if r is None or r.used:
                raise ReviewAlreadyUsed(review_id)
            r.used, r.decision = True, copy.deepcopy(decision)
            return copy.deepcopy(r)

    def get_submission(self, content_hash: str) -> Submission | None:
        return copy.deepcopy(self.submissions.get(content_hash))

    def put_submission(self, submission: Submission) -> None:
        self.submissions.setdefault(submission.content_hash, copy.deepcopy(submission))

    def put_upload(self, upload: UploadRecord) -> None:
        self.uploads[(upload.bucket, upload.key)] = copy.deepcopy(upload)

    def get_upload(self, bucket: str, key: str) -> UploadRecord | None:
        return copy.deepcopy(self.uploads.get((bucket, key)))

    def record_ingest_failure(self, bucket: str, key: str, failure: dict[str, Any]) -> None:
        self.failures[(bucket, key)] = copy.deepcopy(failure)

    def get_ingest_failure(self, bucket: str, key: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.failures.get((bucket, key)))

    def mark_stay_down(self, track_id: str, content_hash: str, case_id: str) -> None:
        self.stay_down.setdefault((track_id, content_hash), case_id)

    def get_stay_down(self, track_id: str, content_hash: str) -> str | None:
        return self.stay_down.get((track_id, content_hash))

    def claim_notice(self, case_id: str, channel: str, notice: dict[str, Any]) -> bool:
        with self._lock:
            k = (case_id, channel)
            existing = self.notices.get(k)
            if existing is not None and existing.get("state") not in ("failed", "deferred"):
                return False
            self.notices[k] = {**copy.deepcopy(existing or {}), **copy.deepcopy(notice), "state": "sending"}
            return True

    def complete_notice(self, case_id: str, channel: str, result: dict[str, Any]) -> None:
        self.notices[(case_id, channel)].update(copy.deepcopy(result))

    def get_notice(self, case_id: str, channel: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.notices.get((case_id, channel)))

    def list_notices(self, case_id: str) -> list[dict[str, Any]]:
        return [{**copy.deepcopy(n), "slot": slot} for (cid, slot), n in sorted(self.notices.items()) if cid == case_id]

    def queue_manual(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.manual[(entry["case_id"], entry["slot"])] = copy.deepcopy(entry)

    def list_manual(self) -> list[dict[str, Any]]:
        return sorted((copy.deepcopy(e) for e in self.manual.values()), key=lambda e: (e["queued_at"], e["case_id"]))

    def remove_manual(self, case_id: str, slot: str) -> bool:
        with self._lock:
            return self.manual.pop((case_id, slot), None) is not None

    def count_notice(self, platform: str, uploader: str, case_id: str) -> None:
        from takedown_core.cases import normalize_uploader

        with self._lock:
            self.uploader_cases.setdefault((platform, normalize_uploader(uploader)), set()).add(case_id)

    def notices_for(self, platform: str, uploader: str) -> int:
        from takedown_core.cases import normalize_uploader

        return len(self.uploader_cases.get((platform, normalize_uploader(uploader)), ()))

    def take_rate_slot(self, key: str, limit: int, per_seconds: int, now: float) -> float:
        with self._lock:
            window = int(now // per_seconds) * per_seconds
            used = self.rates.get((key, window), 0)
            if used >= limit:
                return window + per_seconds - now
            self.rates[(key, window)] = used + 1
            return 0.0


class InMemoryEvidenceStore:
    """EvidenceStore in memory: documents[uri] = the JSON-round-tripped document."""

    def __init__(self, bucket: str = "evidence") -> None:
        self.bucket = bucket
        self.documents: dict[str, dict[str, Any]] = {}

    def put(self, key: str, document: dict[str, Any]) -> str:
        uri = f"s3://{self.bucket}/{key}"
        self.documents[uri] = json.loads(json.dumps(document, default=str))
        return uri

    def copy(self, uri: str, key: str) -> str:
        return self.put(key, self.documents[uri])


class RecordingMailer:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail = fail

    def send(self, *, to, subject, text, html=None) -> str:
        if self.fail:
            raise RuntimeError("mail channel down")
        self.sent.append({"to": list(to), "subject": subject, "text": text, "html": html})
        return f"msg-{len(self.sent)}"

    def send_raw(self, *, to, data: bytes) -> str:
        """A raw RFC 5322 message, recorded like ``send`` (text, html, attachments by filename)."""
        if self.fail:
            raise RuntimeError("mail channel down")
        from email import message_from_bytes
        from email.policy import default

        msg = message_from_bytes(data, policy=default)
        text = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        attachments = {a.get_filename(): a.get_content() for a in msg.iter_attachments()}
        self.sent.append({"to": list(to), "subject": str(msg["Subject"]), "text": text.get_content() if text else "",
                          "html": html.get_content() if html else None, "attachments": attachments, "raw": data})
        return f"msg-{len(self.sent)}"


class RecordingCallback:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []

    def succeed(self, task_token: str, output: dict[str, Any]) -> None:
        self.calls.append(("succeed", task_token, output))

    def fail(self, task_token: str, error: str, cause: str) -> None:
        self.calls.append(("fail", task_token, {"error": error, "cause": cause}))


class RecordingStarter:
    def __init__(self) -> None:
        self.started: dict[str, dict[str, Any]] = {}

    def start(self, case_id: str, payload: dict[str, Any]) -> str:
        self.started.setdefault(case_id, payload)
        return f"arn:aws:states:local:exec:{case_id}"


# The rights holder's details a notice is signed with (the label's own, from cdk.json in a deploy).
COMPLAINANT = {
    "name": "Jane Doe",
    "organisation": "Example Records Ltd",
    "address": "1 Harbour Street, London N1 1AA, United Kingdom",
    "phone": "+44 20 7946 0000",
    "email": "rights@label.example",
    "signature": "Jane Doe",
}


def approve_as_reviewer(repo, case_id: str, reviewer: str = "alice@label.example",
                        at: str = "2025-03-01T12:30:00.000Z") -> Case:
    """Move a DETECTED case to APPROVED the way a reviewer's decision does (the decision
    record the review API writes), for tests that need an approved case and not a review."""
    decision = {"decision": "approve", "reason": None, "note": None, "by": reviewer, "at": at,
                "review_id": "rv-test", "round": 0}
    return repo.transition(case_id, Status.DETECTED, Status.APPROVED,
                           AuditEvent(case_id, at, f"reviewer:{reviewer}", "approved", "DETECTED", "APPROVED",
                                      decision),
                           updates={"decision": decision})


# --------------------------------------------------------------------------- the Matcher port

WHOLE_DECODE = {"decoded_s": 20.0, "claimed_s": 20.0, "capped": False, "packets": 800, "bad_packets": 0,
                "stream_changes": 0, "stopped_by": None, "downmix": "sum", "partial": False}


def make_match(track_id: str = "trk-0042", **fields: Any):
    """A ``Match`` as the engine makes it; ``fields`` override the defaults (a plain copy)."""
    from takedown_core.engine import Match

    values: dict[str, Any] = dict(
        track_id=track_id, metadata={}, score=8.4, false_match_rate=4e-9, offset_s=52.5, query_start_s=0.0,
        matched_duration_s=20.0, speed=1.0, pitch_semitones=0.0, transform="none", aligned_hashes=60,
        landmarks=[(1.0, 53.5), (10.0, 62.5)], salient_share=0.8, salient_peaks=40, salient_confirmed=32,
    )
    values.update(fields)
    return Match(**values)


class FakeMatcher:
    """The ``Matcher`` port with canned answers by the upload's bytes: a ``Match`` (the best),
    None (no match) or an exception (the decoder's error). It answers with the same typed
    ``MatchAnswer`` the engine does (tests/unit/test_matcher_contract.py holds both to it)."""

    def __init__(self, answers: dict[bytes, Any] | None = None) -> None:
        self.calls: list[bytes] = []
        self.answers: dict[bytes, Any] = dict(answers or {})
        self.others: list[Any] = []
        self.partial: list[Any] = []
        self.query_hashes = 900
        self.query_duration_s = 20.0
        self.decode: dict[str, Any] = dict(WHOLE_DECODE)

    def match(self, path: str):
        from takedown_core.decode_report import DecodeReport
        from takedown_core.engine import QueryResult
        from takedown_core.ports import MatchAnswer

        with open(path, "rb") as f:
            data = f.read()
        self.calls.append(data)
        answer = self.answers[data]
        if isinstance(answer, Exception):
            raise answer
        result = QueryResult(best=answer, others=list(self.others) if answer else [],
                             query_duration_s=self.query_duration_s, query_hashes=self.query_hashes,
                             max_false_match_rate=1e-6, declined=list(self.partial))
        return MatchAnswer(result, DecodeReport.from_dict(self.decode), "v-test", "e" * 64, 1)
