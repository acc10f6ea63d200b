"""Building the catalogue index from reference audio, in two steps that can run apart.

1. **Fingerprint** one track: decode it to the analysis rate and find its reference peaks
   (:func:`track_peaks`), kept as a per-track *artifact* (:func:`dump_artifact`). The
   artifact holds peaks (frames, semitones, salience), not hashes: pairing and hashing
   are cheap (about 50,000x real time on one core, against about 500x for decode and
   peaks: bench/build_speed.py) and can change without any track being decoded again.
2. **Build**: every track's artifact -> :meth:`IndexWriter.add_peaks` -> ``write`` (the
   catalogue's self-match, the shards, the manifest): :func:`build_index`.

On one machine ``takedown catalog build`` runs both steps with a worker process per core.
The deployed stack runs step 1 in a Lambda per batch of tracks (a Step Functions
Distributed Map over the reference bucket) and step 2 in one reduce Lambda. Artifacts are
stored under :func:`artifact_key`: the analysis parameters' digest and the audio object's
identity (its S3 ETag), so an unchanged track is never fingerprinted twice and a change
of analysis parameters starts a fresh set.

Pure: no AWS, no files (bytes in, bytes out); the decoder is the caller's.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from .engine import AnalysisParams, IndexWriter
from .engine.extract import Fingerprint, Peaks, _frames_count, find_peaks, fingerprint_peaks

__all__ = [
    "ARTIFACT_FORMAT",
    "ArtifactError",
    "BuildTrack",
    "MAX_REFERENCE_SECONDS",
    "TrackPeaks",
    "artifact_key",
    "build_index",
    "dump_artifact",
    "is_reference_audio",
    "load_artifact",
    "params_digest",
    "parse_reference_sidecar",
    "sidecar_key",
    "track_id_for",
    "track_peaks",
]

ARTIFACT_FORMAT = "takedown-track-peaks/1"
# A reference longer than 100 minutes is cut there: a posting holds 18 bits of frame
# (params.time_bits: 262,144 frames of 23.2 ms = 101 minutes).
MAX_REFERENCE_SECONDS = 6000.0
# Names in a reference directory or bucket that are never audio: sidecars, notes, artwork,
# playlists. Anything else is tried (the decoder tells audio from the rest).
SKIP_SUFFIXES = frozenset({".json", ".txt", ".md", ".jpg", ".jpeg", ".png", ".gif", ".pdf", ".nfo", ".cue",
                           ".log", ".m3u"})
METADATA_KEYS = ("title", "artist", "isrc", "owner", "territories")
_PEAK_ARRAYS = {"frames": np.dtype("<i4"), "semitones": np.dtype("<f4"), "salience": np.dtype("<f4")}


class ArtifactError(ValueError):
    """Bytes that are not a peaks artifact of these analysis parameters."""


@dataclass(frozen=True)
class TrackPeaks:
    """One reference track's peaks and the figures :meth:`IndexWriter.add_peaks` needs:
    ``duration_s`` (seconds of decoded audio) and ``frame_count`` (spectrogram frames)."""

    peaks: Peaks
    duration_s: float
    frame_count: int


@dataclass(frozen=True)
class BuildTrack:
    """What the build step takes per track: its id, peaks and sidecar fields; and, when a
    worker already made it, the reference fingerprint of those peaks
    (:func:`reference_fingerprint`), so the build does not pair and hash them again."""

    track_id: str
    peaks: TrackPeaks
    metadata: dict
    exclusions: list
    fingerprint: Fingerprint | None = None


def params_digest(params: AnalysisParams) -> str:
    """16 hex digits of sha256 over the parameters (sorted JSON): artifacts made with other
    parameters live under another digest and are never mixed in."""
    blob = json.dumps(params.to_dict(), sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def track_peaks(samples: np.ndarray, params: AnalysisParams) -> TrackPeaks:
    """Reference peaks of mono float32 ``samples`` at ``params.sample_rate``: exactly the
    peaks :func:`engine.extract` pairs for a reference (``params.ref_peaks_per_s``)."""
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    peaks = find_peaks(x, params, peaks_per_s=params.ref_peaks_per_s)
    return TrackPeaks(peaks, x.size / params.sample_rate, _frames_count(x.size, params.hop))


def reference_fingerprint(tp: TrackPeaks, params: AnalysisParams) -> Fingerprint:
    """The entries :meth:`IndexWriter.add_peaks` makes from ``tp`` (pairs, hashes, the wide
    search's triplets): the same function, for a worker to run beside the peak finding."""
    return fingerprint_peaks(tp.peaks, params, role="reference", duration_s=float(tp.duration_s), frame_count=int(tp.frame_count))


def dump_artifact(tp: TrackPeaks, params: AnalysisParams) -> bytes:
    """``tp`` as bytes: an ``.npz`` (no pickle) of the three peak arrays and a JSON header
    (format, params digest, duration_s, frame_count). About 12 bytes per peak: 15 peaks/s
    make a 4-minute track about 45 KB."""
    header = {"format": ARTIFACT_FORMAT, "params": params_digest(params), "duration_s": float(tp.duration_s),
              "frame_count": int(tp.frame_count)}
    buf = io.BytesIO()
    np.savez(
        buf,
        header=np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8),
        **{name: np.ascontiguousarray(getattr(tp.peaks, name), dtype=dt) for name, dt in _PEAK_ARRAYS.items()},
    )
    return buf.getvalue()


def load_artifact(data: bytes, params: AnalysisParams) -> TrackPeaks:
    """The :class:`TrackPeaks` in ``data``. Raises :class:`ArtifactError` when it is not an
    artifact, is damaged, or was made with other analysis parameters."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            header = json.loads(bytes(z["header"]).decode())
            arrays = {name: z[name] for name in _PEAK_ARRAYS}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ArtifactError(f"not a peaks artifact: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != ARTIFACT_FORMAT:
        raise ArtifactError(f"not a {ARTIFACT_FORMAT} artifact")
    if header.get("params") != params_digest(params):
        raise ArtifactError(f"made with analysis parameters {header.get('params')}, not {params_digest(params)}")
    sizes = {a.size for a in arrays.values()}
    if len(sizes) != 1 or any(a.ndim != 1 or a.dtype != _PEAK_ARRAYS[n] for n, a in arrays.items()):
        raise ArtifactError("peak arrays of unequal length or wrong type")
    duration, frames = header.get("duration_s"), header.get("frame_count")
    if not isinstance(duration, (int, float)) or not math.isfinite(duration) or duration < 0 or not isinstance(frames, int) or frames < 0:
        raise ArtifactError("duration_s and frame_count must be non-negative numbers")
    return TrackPeaks(Peaks(arrays["frames"], arrays["semitones"], arrays["salience"]), float(duration), frames)


def artifact_key(prefix: str, params: AnalysisParams, audio_etag: str) -> str:
    """``{prefix}/{params digest}/{etag}.peaks.npz``. ``audio_etag``: the S3 ETag of the
    audio object (quotes stripped): the same bytes uploaded the same way keep their
    artifact, new bytes get a new one. Raises ValueError for an empty ETag."""
    etag = str(audio_etag).strip().strip('"')
    if not etag or "/" in etag:
        raise ValueError(f"not an ETag: {audio_etag!r}")
    return f"{prefix.rstrip('/')}/{params_digest(params)}/{etag}.peaks.npz"


def is_reference_audio(name: str) -> bool:
    """Whether a file or key name may hold reference audio (not hidden, not a sidecar or
    other known non-audio suffix; the decoder has the last word)."""
    base = name.rsplit("/", 1)[-1]
    if not base or base.startswith("."):
        return False
    dot = base.rfind(".")
    return dot <= 0 or base[dot:].lower() not in SKIP_SUFFIXES


def track_id_for(name: str) -> str:
    """The track id of a file or key: its base name without the last suffix
    (``masters/A-001.flac`` -> ``A-001``)."""
    base = name.rsplit("/", 1)[-1]
    dot = base.rfind(".")
    return base[:dot] if dot > 0 else base


def sidecar_key(name: str) -> str:
    """The metadata sidecar beside a file or key: the suffix replaced by ``.json``
    (``A-001.flac`` -> ``A-001.json``; no suffix: ``.json`` appended)."""
    head, _, base = name.rpartition("/")
    dot = base.rfind(".")
    side = (base[:dot] if dot > 0 else base) + ".json"
    return f"{head}/{side}" if head else side


def parse_reference_sidecar(raw: bytes | str | None, where: str = "sidecar") -> tuple[dict, list, list[str]]:
    """A reference sidecar's ``(metadata, exclusions, warnings)``.

    ``metadata``: the keys of :data:`METADATA_KEYS` that are present; ``exclusions``: the
    ``exclusions`` list (time ranges the label holds no exclusive rights to, checked by
    :meth:`IndexWriter.add`). Unreadable JSON, a non-object or a non-list ``exclusions`` is
    ignored with a warning naming ``where``; ``None`` (no sidecar) gives empty values."""
    if raw is None:
        return {}, [], []
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        return {}, [], [f"{where}: unreadable metadata ({exc}); ignored"]
    if not isinstance(doc, dict):
        return {}, [], [f"{where}: metadata is not a JSON object; ignored"]
    warnings = []
    exclusions = doc.get("exclusions") or []
    if not isinstance(exclusions, list):
        warnings.append(f"{where}: exclusions is not a list; ignored")
        exclusions = []
    return {k: doc[k] for k in METADATA_KEYS if k in doc}, exclusions, warnings


def build_index(tracks: Iterable[BuildTrack], out_dir: Any, params: AnalysisParams, *,
                shard_count: int | None = None) -> tuple[dict, list[str]]:
    """Write the index of ``tracks`` (in the order given) to ``out_dir`` (new or empty):
    ``(manifest, warnings)``. A track the writer refuses (a duplicate id, a bad exclusion)
    is left out with a warning. Raises ValueError when no track is left."""
    writer = IndexWriter(params)
    warnings = []
    for t in tracks:
        try:
            if t.fingerprint is not None:
                writer.add(t.track_id, t.fingerprint, duration_s=t.peaks.duration_s, metadata=t.metadata, exclusions=t.exclusions)
            else:
                writer.add_peaks(t.track_id, t.peaks.peaks, duration_s=t.peaks.duration_s, frame_count=t.peaks.frame_count,
                                 metadata=t.metadata, exclusions=t.exclusions)
        except ValueError as exc:
            warnings.append(f"skipping {t.track_id}: {exc}")
    if len(writer) == 0:
        raise ValueError("no reference track to index")
    return writer.write(out_dir, shard_count=shard_count), warnings


# --------------------------------------------------------------------------- the deployed steps
# The steps the Step Functions build runs, written against two small stores (duck-typed, so
# tests pass in-memory ones): ``references`` (the reference audio: ``download(key, path)``,
# ``read(key) -> bytes | None``, ``list() -> [(key, etag)]``) and ``artifacts``
# (``exists(key)``, ``get(key) -> bytes | None``, ``put(key, data)``).

FAILED_SUFFIX = ".failed.json"


def failure_key(artifact: str) -> str:
    """Where a track that does not decode is recorded, beside its artifact's key: an unchanged
    undecodable file is not decoded again at every build."""
    return artifact.removesuffix(".peaks.npz") + FAILED_SUFFIX


def fingerprint_items(items: list[dict], *, references: Any, artifacts: Any, prefix: str, params: AnalysisParams,
                      decode: Any, workdir: str) -> dict:
    """One batch of the map: each S3 listing item (``{"Key", "Etag"|"ETag", ...}``, as the
    Distributed Map's S3 item reader gives them) that is reference audio and has no artifact
    yet is downloaded to ``workdir``, decoded (``decode(path) -> samples`` at the analysis
    rate; raises an exception with a ``reason`` for a bad file) and its peaks stored. Returns
    counts only (the state's payload stays small): ``{"fingerprinted", "reused", "failed",
    "not_audio"}``, and ``"failures": [{"key", "reason"}]`` (at most 20)."""
    import os

    out = {"fingerprinted": 0, "reused": 0, "failed": 0, "not_audio": 0, "failures": []}
    for item in items:
        key = item.get("Key")
        etag = item.get("Etag") or item.get("ETag")
        if not key or not etag or not is_reference_audio(key):
            out["not_audio"] += 1
            continue
        target = artifact_key(prefix, params, etag)
        if artifacts.exists(target) or artifacts.exists(failure_key(target)):
            out["reused"] += 1
            continue
        path = os.path.join(workdir, "reference" + os.path.splitext(key)[1][:16])
        try:
            references.download(key, path)
            try:
                samples = decode(path)
            except Exception as exc:  # noqa: BLE001 - any undecodable file is recorded, not retried
                reason = getattr(exc, "reason", None)
                if reason is None:
                    raise
                artifacts.put(failure_key(target), json.dumps({"key": key, "etag": etag, "reason": reason,
                                                               "message": str(exc)[:500]}).encode())
                out["failed"] += 1
                if len(out["failures"]) < 20:
                    out["failures"].append({"key": key, "reason": reason})
                continue
            artifacts.put(target, dump_artifact(track_peaks(samples, params), params))
            out["fingerprinted"] += 1
        finally:
            if os.path.exists(path):
                os.remove(path)
    return out


def gather_tracks(*, references: Any, artifacts: Any, prefix: str, params: AnalysisParams,
                  fetch_workers: int = 16) -> tuple[list[BuildTrack], dict]:
    """The reduce's input: every reference audio object in the bucket (listed now, key
    order), its artifact and its sidecar. An object with no artifact (uploaded or replaced
    after the map listed the bucket) or a recorded failure is left out and counted. Returns
    ``(tracks, report)``; report: ``{"listed", "missing": [keys], "failed": [keys],
    "warnings": [...]}`` (lists cut at 20, with ``*_count`` totals)."""
    from concurrent.futures import ThreadPoolExecutor

    objects = list(references.list())
    listing = [(k, e) for k, e in objects if is_reference_audio(k)]
    present = {k for k, _ in objects}  # a sidecar is read only when the listing holds it

    def one(entry: tuple[str, str]) -> tuple[str, Any, bytes | None]:
        key, etag = entry
        target = artifact_key(prefix, params, etag)
        data = artifacts.get(target)
        side = sidecar_key(key)
        raw = references.read(side) if side in present else None
        if data is None:
            return key, "failed" if artifacts.exists(failure_key(target)) else "missing", raw
        return key, data, raw

    with ThreadPoolExecutor(max_workers=fetch_workers) as pool:  # S3 GETs: latency-bound
        fetched = list(pool.map(one, listing))
    tracks, missing, failed, warnings = [], [], [], []
    for key, data, raw in fetched:
        if data in ("missing", "failed"):
            (missing if data == "missing" else failed).append(key)
            continue
        try:
            tp = load_artifact(data, params)
        except ArtifactError as exc:
            warnings.append(f"{key}: {exc}")
            missing.append(key)
            continue
        metadata, exclusions, warn = parse_reference_sidecar(raw, sidecar_key(key))
        warnings += warn
        tracks.append(BuildTrack(track_id_for(key), tp, metadata, exclusions))
    report = {"listed": len(listing), "missing": missing[:20], "missing_count": len(missing), "failed": failed[:20],
              "failed_count": len(failed), "warnings": warnings[:20], "warnings_count": len(warnings)}
    return tracks, report
