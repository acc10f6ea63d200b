"""Ingest: one uploaded object in, one recorded outcome out. Pure core over ports.

The outcome of every object is written (UploadRecord) whatever happens: "no_match",
"case" (a case was opened or found), "licensed" (it matched, but the uploader is one of the
label's own or licensed channels on that platform: no case), or "quarantined" with a reason.
Folder markers (zero-byte keys ending in "/", what the S3 console's "create folder" makes)
and sidecars are not uploads and get no record. Only transient errors (storage or network
trouble, the catalogue index being unavailable) escape as exceptions, so the queue retries
them and, after the configured number of receives, parks them in the dead-letter queue.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .decode_report import DecodeReport
from .cases import AuditEvent, Case, CaseKind, Status, normalize_uploader, utcnow
from .evidence import bound_evidence, evidence_document, query_document
from .likeness import LikenessRules, LikenessSignal
from .locations import LocationError, Locations, location_problem
from .ports import (
    CaseExists,
    EvidenceStore,
    IngestRepository,
    Matcher,
    MediaStore,
    Submission,
    TooLarge,
    UploadRecord,
    WorkflowStarter,
)
from .sidecar import MAX_SIDECAR_BYTES, SidecarError, UnknownPlatform, build_source, is_sidecar_key, parse_sidecar, sidecar_keys
from .wording import platform_name

log = logging.getLogger(__name__)


class Reason:
    """Quarantine reason codes (stable: partners and dashboards key on them)."""

    EMPTY = "empty"
    OVERSIZE = "oversize"
    NOT_AUDIO = "not_audio"
    CORRUPT = "corrupt"
    TOO_SHORT = "too_short"
    BAD_SIDECAR = "bad_sidecar"
    # not quarantines: the reason of a "no_match" that a person should know about
    PARTIAL_DECODE = "partial_decode"  # only part of the audio decoded: the rest was not searched
    SILENT = "silent"                  # the audio holds nothing the fingerprint can use
    UNKNOWN_PLATFORM = "unknown_platform"
    UNKNOWN_BUCKET = "unknown_partner_bucket"
    LICENSED = "licensed_uploader"   # not a quarantine: the reason of a "licensed" outcome


@dataclass(frozen=True)
class IngestPolicy:
    max_upload_bytes: int
    max_false_match_rate: float
    stay_down_auto_approve: bool


class IngestService:
    def __init__(
        self,
        *,
        repo: IngestRepository,
        media: MediaStore,
        matcher_factory: Callable[[], Matcher],
        starter: WorkflowStarter,
        partners: list[dict[str, Any]],
        platforms: Mapping[str, Mapping[str, Any]],
        policy: IngestPolicy,
        decode_error: type[Exception],
        evidence: EvidenceStore,
        likeness: Mapping[str, Any] | None = None,
    ) -> None:
        """``platforms`` is the environment's platform registry (cdk.json ``platforms``): a
        sidecar may name only these; their ``location`` rules make locations canonical and
        their ``licensed_uploaders`` are the label's own or licensed channels. ``likeness`` is
        the environment's artists, aliases and terms (cdk.json ``likeness``): an upload
        presented as an AI imitation of one of our artists opens a likeness case."""
        self.repo = repo
        self.media = media
        self.matcher_factory = matcher_factory
        self.starter = starter
        self.partners = {p["bucket"]: p for p in partners}
        self.platforms = dict(platforms)
        self.locations = Locations(self.platforms)
        self.licensed = {name: {normalize_uploader(u) for u in (cfg or {}).get("licensed_uploaders") or ()}
                         for name, cfg in self.platforms.items()}
        self.policy = policy
        self.decode_error = decode_error
        self.evidence = evidence
        self.likeness = LikenessRules.from_config(likeness) if likeness else None

    # ------------------------------------------------------------------------------------
    def process(self, *, bucket: str, key: str, size: int, etag: str = "") -> UploadRecord | None:
        if is_sidecar_key(key):
            log.info("sidecar landed", extra={"bucket": bucket, "key": key})
            return None
        if key.endswith("/") and size == 0:
            log.info("folder marker ignored", extra={"bucket": bucket, "key": key})
            return None
        done = self.repo.get_upload(bucket, key)
        if done is not None and done.extra.get("etag") == etag:
            log.info("repeat event for an object already processed", extra={"bucket": bucket, "key": key})
            return done
        partner = self.partners.get(bucket)
        if partner is None:
            return self._quarantine(bucket, key, {"id": "unknown"}, Reason.UNKNOWN_BUCKET,
                                    f"bucket {bucket} is not a configured partner landing bucket", etag)
        if size == 0:
            return self._quarantine(bucket, key, partner, Reason.EMPTY, "the upload has no bytes", etag)
        if size > self.policy.max_upload_bytes:
            return self._quarantine(
                bucket, key, partner, Reason.OVERSIZE,
                f"the upload is {size} bytes; the limit is {self.policy.max_upload_bytes}", etag,
            )
        try:
            found = self.media.read_first(bucket, sidecar_keys(key), max_bytes=MAX_SIDECAR_BYTES + 1)
            sidecar = parse_sidecar(found[1], platforms=set(self.platforms)) if found else None
            source = build_source(partner=partner, bucket=bucket, key=key, sidecar=sidecar, locations=self.locations)
            location = self.locations.locate(source.location)
        except UnknownPlatform as e:
            return self._quarantine(bucket, key, partner, Reason.UNKNOWN_PLATFORM, str(e), etag, sidecar_field=e.field)
        except (SidecarError, LocationError) as e:
            return self._quarantine(bucket, key, partner, Reason.BAD_SIDECAR, str(e), etag,
                                    sidecar_field=getattr(e, "field", None))

        with tempfile.TemporaryDirectory(prefix="takedown-") as tmp:
            path = os.path.join(tmp, "upload")
            try:
                content_hash, _ = self.media.download(bucket, key, path, max_bytes=self.policy.max_upload_bytes)
            except TooLarge:
                return self._quarantine(bucket, key, partner, Reason.OVERSIZE,
                                        f"the upload grew past {self.policy.max_upload_bytes} bytes", etag)
            submission = self.repo.get_submission(content_hash)
            if submission is None:
                submission = self._analyse(path, content_hash)
                self.repo.put_submission(submission)
            else:
                log.info("known content: reusing its analysis", extra={"sha256": content_hash})

        match = submission.match or {}
        query = match.get("query") or {}
        decoded = query.get("decode") or match.get("decode")  # what the decoder made of the bytes, every time
        if submission.outcome == "quarantined":
            return self._quarantine(bucket, key, partner, submission.reason or Reason.CORRUPT,
                                    match.get("detail", "undecodable"), etag, content_hash, decode=decoded)
        signal = self._likeness(source)
        if submission.outcome == "no_match" and signal is not None:
            if self._licensed(source):
                return self._licensed_record(bucket, key, partner, etag, source, submission.content_hash, None, decoded)
            return self._open_likeness_case(bucket, key, partner, etag, submission, source, location, decoded, signal)
        if submission.outcome == "no_match":
            partial = query.get("declined", query.get("partial"))
            if partial:
                log.info("no match; shares material with catalogue tracks", extra={"bucket": bucket, "key": key, "partial": partial})
            reason, detail = None, None
            if decoded and decoded.get("partial"):  # never a silent no_match on part of the audio
                reason, detail = Reason.PARTIAL_DECODE, f"no match in the audio that decoded: {DecodeReport.from_dict(decoded).describe()}"
            elif query.get("query_hashes") == 0:
                reason, detail = Reason.SILENT, "the decoded audio holds no sound the fingerprint can use (silence or near-silence)"
            return self._record(bucket, key, partner, "no_match", etag, reason=reason, detail=detail,
                                content_hash=content_hash, partial=partial or None, decode=decoded)
        if self._licensed(source):
            return self._licensed_record(bucket, key, partner, etag, source, content_hash, submission.track_id, decoded)
        kind = CaseKind.PARTIAL if match.get("kind") == CaseKind.PARTIAL.value else CaseKind.COPY
        if kind is CaseKind.PARTIAL and signal is not None:
            kind = CaseKind.SUSPECTED_AI_COVER
        return self._open_case(bucket, key, partner, etag, submission, source, location, decoded, kind=kind,
                               signal=signal if kind is CaseKind.SUSPECTED_AI_COVER else None)

    # ------------------------------------------------------------------------------------
    def _likeness(self, source) -> LikenessSignal | None:
        """The presentation names one of our artists together with AI / voice-model words."""
        if self.likeness is None:
            return None
        return self.likeness.find({"title": source.title, "uploader": source.uploader,
                                   "description": source.description, "tags": list(source.tags)})

    def _licensed(self, source) -> bool:
        return normalize_uploader(source.uploader) in self.licensed.get(source.platform, set())

    def _licensed_record(self, bucket, key, partner, etag, source, content_hash, track_id, decoded) -> UploadRecord:
        detail = (f"uploader {source.uploader!r} is one of the label's own or licensed channels on "
                  f"{source.platform} (platforms.{source.platform}.licensed_uploaders): no case is opened")
        log.info("licensed channel", extra={"bucket": bucket, "key": key, "platform": source.platform})
        return self._record(bucket, key, partner, "licensed", etag, reason=Reason.LICENSED, detail=detail,
                            content_hash=content_hash, track_id=track_id, decode=decoded)

    # ------------------------------------------------------------------------------------
    def _analyse(self, path: str, content_hash: str) -> Submission:
        try:
            answer = self.matcher_factory().match(path)
        except self.decode_error as e:
            reason = getattr(e, "reason", Reason.CORRUPT)
            report = getattr(e, "report", None)
            detail = {"detail": str(e)[:2000], **({"decode": report.to_dict()} if report is not None else {})}
            return Submission(content_hash, "quarantined", reason=reason, match=detail, first_seen=utcnow())
        full = evidence_document(answer)
        if full is None:
            return Submission(content_hash, "no_match", match={"query": query_document(answer)}, first_seen=utcnow())
        ref = self.evidence.put(f"submissions/{content_hash}.json", full)
        return Submission(
            content_hash, "case", track_id=full["track_id"],
            match=bound_evidence(full, ref=ref), first_seen=utcnow(),
        )

    def _open_likeness_case(self, bucket, key, partner, etag, submission: Submission, source, location, decoded,
                            signal: LikenessSignal) -> UploadRecord:
        """No recording of ours, but presented as an AI imitation of our artist: the case's
        "work" is the artist's voice and likeness (track id ``artist:<id>``), with no evidence
        of a recording, so no copyright notice can ever be made from it."""
        work = {"track_id": f"artist:{signal.artist_id}", "title": f"The voice and likeness of {signal.artist_name}",
                "artist": signal.artist_name, "artist_id": signal.artist_id}
        return self._open_case(bucket, key, partner, etag, submission, source, location, decoded,
                               kind=CaseKind.SUSPECTED_DEEPFAKE, signal=signal, work=work, evidence={})

    def _open_case(self, bucket, key, partner, etag, submission: Submission, source, location, decoded, *,
                   kind: CaseKind, signal: LikenessSignal | None = None, work: dict[str, Any] | None = None,
                   evidence: dict[str, Any] | None = None) -> UploadRecord:
        match = dict(submission.match or {}) if evidence is None else evidence
        if work is None:
            track_id = submission.track_id or match["track_id"]
            work = dict(match.get("metadata") or {})
            work.setdefault("track_id", track_id)
            work.setdefault("title", track_id)  # a catalogue entry without metadata is known by its id
        track_id = work["track_id"]
        stay_down_case = self.repo.get_stay_down(track_id, submission.content_hash) if kind.may_skip_review else None
        auto = bool(self.policy.stay_down_auto_approve and stay_down_case)
        if auto:
            reason = f"stay-down: identical content was taken down before in {stay_down_case}"
        elif kind is CaseKind.COPY:
            reason = "match above threshold: human review required"
        elif kind is CaseKind.PARTIAL:
            reason = "partial match (our recording beside or under other material): human review required"
        elif kind is CaseKind.SUSPECTED_AI_COVER:
            reason = "partial match presented as an AI imitation of our artist: human review required"
        else:
            reason = "no recording of ours; presented as an AI imitation of our artist: human review required"
        policy = {"max_false_match_rate": self.policy.max_false_match_rate, "auto_approve": auto, "reason": reason}
        if auto:
            policy["stay_down_case"] = stay_down_case
        case = Case.open(
            track_id=track_id, work=work, source=source, evidence=match,
            policy=policy, submission=submission.content_hash, location=location,
            kind=kind, likeness=signal.to_dict() if signal is not None else None,
            location_problem=location_problem(location.url, source.platform, self.platforms.get(source.platform),
                                              platform_name(source.platform)),
        )
        if match.get("full_evidence"):  # the full evidence, under the case (same key for the same bytes)
            case.evidence["full_evidence"] = self.evidence.copy(
                match["full_evidence"], f"cases/{case.case_id}/{submission.content_hash}.json")
        event = AuditEvent(
            case.case_id, utcnow(), f"system:ingest:{partner['id']}", "opened", None, Status.DETECTED.value,
            {"bucket": bucket, "key": key, "kind": kind.value, "false_match_rate": match.get("false_match_rate"),
             "policy": policy, **({"location_problem": case.location_problem} if case.location_problem else {})},
        )
        try:
            self.repo.create_case(case, event)
        except CaseExists:
            existing = self.repo.get_case(case.case_id)
            log.info("case already open for this work and location", extra={"case_id": case.case_id})
            if existing is not None and existing.status in (Status.NOTICE_SENT, Status.NOTICE_QUEUED):
                # a partner reports it again after the notice: the content is still up (compliance.py)
                self.repo.append_audit(AuditEvent(case.case_id, utcnow(), f"partner:{partner}", "reported_again",
                                                  existing.status.value, existing.status.value,
                                                  {"bucket": bucket, "key": key, "content_hash": submission.content_hash}))
            if existing is not None and existing.status != Status.DETECTED:
                return self._record(bucket, key, partner, "case", etag, content_hash=submission.content_hash,
                                    case_id=case.case_id, track_id=track_id, duplicate=True, decode=decoded,
                                    kind=existing.kind.value)
            if existing is not None:
                auto = bool(existing.policy.get("auto_approve")) and existing.kind.may_skip_review
        self.starter.start(case.case_id, {"case_id": case.case_id, "auto_approve": auto, "round": 0})
        return self._record(bucket, key, partner, "case", etag, content_hash=submission.content_hash,
                            case_id=case.case_id, track_id=track_id, decode=decoded, kind=kind.value)

    def _quarantine(self, bucket, key, partner, reason, detail, etag, content_hash=None, decode=None,
                    sidecar_field=None) -> UploadRecord:
        """``sidecar_field``: the sidecar field at fault (SidecarError.field), kept on the record
        for the partner's report."""
        where = self.media.quarantine(bucket, key, reason=reason, detail=detail)
        log.warning("upload quarantined", extra={"bucket": bucket, "key": key, "reason": reason, "detail": detail})
        return self._record(bucket, key, partner, "quarantined", etag, reason=reason, detail=detail,
                            quarantined_to=where, content_hash=content_hash, decode=decode, sidecar_field=sidecar_field)

    def _record(self, bucket, key, partner, outcome, etag, *, reason=None, content_hash=None, case_id=None,
                track_id=None, **extra) -> UploadRecord:
        rec = UploadRecord(
            bucket=bucket, key=key, partner=partner["id"], outcome=outcome, reason=reason,
            content_hash=content_hash, case_id=case_id, track_id=track_id, recorded_at=utcnow(),
            extra={"etag": etag, **{k: v for k, v in extra.items() if v is not None}},
        )
        self.repo.put_upload(rec)
        return rec
