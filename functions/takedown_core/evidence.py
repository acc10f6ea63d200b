"""Match evidence that fits a DynamoDB item by design, whatever the upload or the catalogue.

The engine's full answer for one upload (the best match, every other track that also
matched, up to 200 landmarks each, the declined alignments, the query's figures) grows with the
upload's length and with how many versions of a recording the catalogue holds: a 15-minute
compilation against a catalogue with several versions of each recording produced 1 MB, and
DynamoDB refuses items over 400 KB. So the full answer is written to S3 under the case
(``EvidenceStore``, referenced as ``full_evidence``) and the item keeps :func:`bound_evidence`:
what the review page, the e-mails and the notice read, within fixed limits, and in any case
under ``MAX_EVIDENCE_BYTES`` of JSON.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Mapping

from .decode_report import DecodeReport
from .ports import MatchAnswer

MAX_EVIDENCE_BYTES = 64 * 1024   # JSON bytes of the bounded evidence; DynamoDB's item limit is 400 KB
MAX_LANDMARKS = 200              # landmarks drawn on the review page (the engine's own cap)
MAX_OTHERS = 10                  # other catalogue tracks that also matched, strongest first
MAX_DECLINED = 5                 # declined alignments (shared loop / sample ...) reported for audit
MAX_TEXT = 300                   # characters of any one metadata value
MAX_METADATA_KEYS = 20
_OTHER_FIELDS = ("track_id", "score", "false_match_rate", "offset_s", "query_start_s", "matched_duration_s",
                 "speed", "pitch_semitones", "salient_share")
_OTHER_METADATA = ("title", "artist", "isrc", "owner")


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return value[: MAX_TEXT - 1] + "…"
    if isinstance(value, (list, tuple)):
        return [_clip(v) for v in list(value)[:MAX_METADATA_KEYS]]
    if isinstance(value, Mapping):
        return {str(k)[:80]: _clip(v) for k, v in list(value.items())[:MAX_METADATA_KEYS]}
    return value


def _thin(points: list[Any], keep: int) -> list[Any]:
    """At most ``keep`` points, evenly spread over the list (first and order kept)."""
    if len(points) <= keep:
        return list(points)
    if keep <= 0:
        return []
    step = len(points) / keep
    return [points[int(i * step)] for i in range(keep)]


def _other(match: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: match.get(k) for k in _OTHER_FIELDS if k in match}
    meta = match.get("metadata") or {}
    out["metadata"] = _clip({k: meta[k] for k in _OTHER_METADATA if k in meta})
    return out


def bound_evidence(full: Mapping[str, Any], *, ref: str | None = None) -> dict[str, Any]:
    """The evidence a case item keeps, from the engine's full match document.

    ``full`` is ``{**best_match, "others": [match, ...], "query": {...}}`` as the matcher gives
    it; ``ref`` is where the full document lives (an ``s3://`` URI), stored as
    ``full_evidence``. Returns a new dict with the best match's fields (metadata values
    clipped to ``MAX_TEXT`` characters, landmarks thinned to ``MAX_LANDMARKS``), the
    ``MAX_OTHERS`` strongest other matches without landmarks, ``others_total``, the query
    figures with at most ``MAX_DECLINED`` declined alignments, and ``full_evidence``. Its JSON is
    at most ``MAX_EVIDENCE_BYTES``: if the limits above still leave more (long metadata,
    many keys), landmarks and then the other matches are halved until it fits.
    """
    out: dict[str, Any] = {k: _clip(v) for k, v in full.items() if k not in ("others", "query", "landmarks")}
    landmarks = list(full.get("landmarks") or [])
    out["landmarks"] = _thin(landmarks, MAX_LANDMARKS)
    others = sorted((o for o in (full.get("others") or []) if isinstance(o, Mapping)),
                    key=lambda o: -float(o.get("score") or 0.0))
    out["others"] = [_other(o) for o in others[:MAX_OTHERS]]
    out["others_total"] = len(others)
    if "query" in full:
        query = dict(full.get("query") or {})
        for key in ("declined", "partial"):  # "partial": documents before the match kinds
            if key in query:
                query[key] = list(query.get(key) or [])[:MAX_DECLINED]
        out["query"] = _clip(query)
    if ref:
        out["full_evidence"] = ref
    while len(json.dumps(out, default=str)) > MAX_EVIDENCE_BYTES:
        if out["landmarks"]:
            out["landmarks"] = _thin(out["landmarks"], len(out["landmarks"]) // 2)
        elif out["others"]:
            out["others"] = out["others"][: len(out["others"]) // 2]
        else:  # only unbounded text can be left: keep the decision's figures, drop the rest
            keep = ("track_id", "score", "false_match_rate", "offset_s", "query_start_s", "matched_duration_s",
                    "speed", "pitch_semitones", "time_stretch", "transform", "aligned_hashes", "salient_share",
                    "salient_peaks", "salient_confirmed", "kind", "share", "upload_span_s", "reference_span_s",
                    "shared_with", "others_total", "full_evidence")
            out = {k: out[k] for k in keep if k in out} | {"landmarks": [], "others": [], "truncated": True}
            break
    return out


# --------------------------------------------------------------------------- the storage edge

_DECLINED_FIELDS = ("track_id", "false_match_rate", "salient_share", "offset_s", "query_start_s", "matched_duration_s",
                    "declined_reason", "shared_with")


def query_document(answer: MatchAnswer) -> dict[str, Any]:
    """The ``query`` part of the stored evidence: the query's figures, the index searched,
    the decode report and (for audit) up to five declined alignments (a shared loop, sample or
    short part, a segment another catalogue track also holds, an excluded range: never a
    case). Keys: query_duration_s (s, 3 decimals), query_hashes, max_false_match_rate,
    index_version, index_sha256, shards_searched, shard_invocations (fan-out only), decode
    (``DecodeReport.to_dict``), declined (when there are any: track_id, false_match_rate,
    salient_share, offset_s, query_start_s, matched_duration_s, declined_reason -- "low_share",
    "short", "weak", "repeated", "shared_segment" or "excluded" -- and shared_with, the other
    tracks holding the segments it touched)."""
    result = answer.result
    info: dict[str, Any] = {
        "query_duration_s": round(float(result.query_duration_s), 3),
        "query_hashes": int(result.query_hashes),
        "max_false_match_rate": result.max_false_match_rate,
        "index_version": answer.index_version,
        "index_sha256": answer.index_sha256,
        "shards_searched": answer.shards_searched,
    }
    if answer.shard_invocations is not None:
        info["shard_invocations"] = answer.shard_invocations
    info["decode"] = answer.decode.to_dict()
    if result.declined:
        info["declined"] = [{k: m.to_dict()[k] for k in _DECLINED_FIELDS} for m in result.declined[:MAX_DECLINED]]
    return info


def evidence_document(answer: MatchAnswer) -> dict[str, Any] | None:
    """The full evidence of a match as stored in S3 (and bounded on the case by
    :func:`bound_evidence`): the best match's ``Match.to_dict()`` with ``others`` (every other
    track that also matched, ``Match.to_dict()`` each) and ``query`` (:func:`query_document`).
    The best match's ``kind`` ("copy" or "partial"), ``share``, ``upload_span_s`` and
    ``reference_span_s`` ([start, end] s) and ``shared_with`` say how the recording is used.
    None when nothing matched."""
    result = answer.result
    if result.best is None:
        return None
    return {**result.best.to_dict(), "others": [m.to_dict() for m in result.others], "query": query_document(answer)}


# --------------------------------------------------------------------------- the stored evidence, typed


def num(value: Any) -> float | None:
    """A finite float from a number, a Decimal (DynamoDB) or numeric text; else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def landmark_points(landmarks: Any) -> tuple[tuple[float, float], ...]:
    """The (upload time, reference time) pairs, in seconds, of stored landmarks (``[[q, r], ...]``,
    numbers as JSON or Decimals); an item that is not a pair of finite numbers is left out."""
    points = []
    for item in landmarks or ():
        try:
            x, y = num(item[0]), num(item[1])
        except (TypeError, IndexError, KeyError):
            continue
        if x is not None and y is not None:
            points.append((x, y))
    return tuple(points)


def _title(metadata: Any) -> Any:
    return metadata.get("title") if isinstance(metadata, Mapping) else None


@dataclass(frozen=True)
class OtherMatch:
    """Another catalogue track that also matched (a remaster, a re-release), as a case keeps
    it. label: its catalogue title, else its track id (as stored: render it escaped)."""

    track_id: Any
    label: Any
    score: float | None


@dataclass(frozen=True)
class MatchEvidence:
    """A case's match evidence, read once from the stored document (``bound_evidence``'s
    output, as JSON or as DynamoDB gives it back with Decimals) for the review page, the
    e-mails and the notices. Every figure is a float, an int or None when the document does
    not have it (a hand-made case, an older item): the readers never parse again.

    Times in seconds; ``false_match_rate`` is the expected number of chance matches this strong
    per query (engine/verdict); ``landmarks`` are (upload time, reference time) pairs;
    ``decode`` is the decoder's report when the document has a readable one.
    """

    track_id: str | None = None
    score: float | None = None
    false_match_rate: float | None = None
    offset_s: float | None = None
    query_start_s: float | None = None
    matched_duration_s: float | None = None
    speed: float | None = None
    pitch_semitones: float | None = None
    transform: str = ""
    aligned_hashes: float | None = None
    salient_peaks: float | None = None
    salient_confirmed: float | None = None
    landmarks: tuple[tuple[float, float], ...] = ()
    others: tuple[OtherMatch, ...] = ()
    decode: DecodeReport | None = None
    full_evidence: str | None = None

    @classmethod
    def from_document(cls, document: "Mapping[str, Any] | MatchEvidence | None") -> "MatchEvidence":
        """The typed evidence of ``document`` (None or {} give an empty one). Never raises on
        a missing or malformed field: that field is None (or empty)."""
        if isinstance(document, MatchEvidence):
            return document
        doc = document if isinstance(document, Mapping) else {}
        others = tuple(
            OtherMatch(o.get("track_id"), _title(o.get("metadata")) or o.get("track_id"), num(o.get("score")))
            for o in (doc.get("others") or []) if isinstance(o, Mapping)
        )
        decode = None
        query = doc.get("query")
        raw = query.get("decode") if isinstance(query, Mapping) else None
        if isinstance(raw, Mapping):
            try:
                decode = DecodeReport.from_dict(dict(raw))
            except TypeError:
                decode = None
        track_id = doc.get("track_id")
        full = doc.get("full_evidence")
        return cls(
            track_id=None if track_id is None else str(track_id),
            score=num(doc.get("score")),
            false_match_rate=num(doc.get("false_match_rate")),
            offset_s=num(doc.get("offset_s")),
            query_start_s=num(doc.get("query_start_s")),
            matched_duration_s=num(doc.get("matched_duration_s")),
            speed=num(doc.get("speed")),
            pitch_semitones=num(doc.get("pitch_semitones")),
            transform=str(doc.get("transform") or ""),
            aligned_hashes=num(doc.get("aligned_hashes")),
            salient_peaks=num(doc.get("salient_peaks")),
            salient_confirmed=num(doc.get("salient_confirmed")),
            landmarks=landmark_points(doc.get("landmarks")),
            others=others,
            decode=decode,
            full_evidence=None if full is None else str(full),
        )
