"""Review clips: which seconds of the upload and of our recording a reviewer hears. Pure.

A reviewer decides by listening, so at review-request time the workflow cuts short clips
(``WorkflowService.request_review`` through the ``ClipMaker`` port; the cutting and encoding
live in ``takedown_adapters.clips``). This module only plans them:

- **Where** (:func:`plan_clips`): the upload's best-aligned part (``query_start_s`` for
  ``matched_duration_s``) with ``PAD_S`` either side; a match longer than one clip holds gets
  up to ``MAX_CLIPS`` clips of at most ``MAX_CLIP_S`` spread evenly over it.
- **The same span of our recording** (:func:`reference_time`): the engine aligns the two
  recordings on a line, reference time = ``offset_s`` + ``speed`` x upload time
  (``engine/search.py``: ``reference_span_s`` is computed exactly so), where ``speed`` is the
  upload's tempo against ours (1.25: a nightcore edit runs 25 % faster).
- **Brought back** (:func:`rectify_for`): for a speed, pitch or stretch change a third clip of
  the upload played at our recording's speed and pitch, as ffmpeg filter settings: ``asetrate``
  (with ``aresample`` back to the clip rate) moves pitch and tempo together by 1 / 2^(p/12),
  then ``atempo`` fixes the tempo that is left, 2^(p/12) / speed. A resampled speed change
  needs only the first, a time-stretch only the second, a pitch-only shift both.

A suspected deepfake has no match (nothing of ours to play): its plan is one upload clip from
the start of the upload, and the page says there is no recording of ours to compare with.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Protocol

from .evidence import MatchEvidence, num

PAD_S = 3.0              # seconds of the upload heard either side of the best-aligned part
MAX_CLIP_S = 20.0        # seconds: one clip; a longer match gets more clips, not longer ones
MAX_CLIPS = 3            # clips of the upload per review (each with its reference and rectified twin)
NO_MATCH_CLIP_S = 20.0   # a likeness case without a match: the upload's first seconds
NO_MATCH_NOTE = "Nothing of ours matched this upload, so there is no recording of ours to compare it with."
MIN_CLIP_S = 1.0         # a span shorter than this (after clamping to both recordings) is not cut
# Below these a change is inaudible and no "brought back" clip is cut: 0.5 % tempo, 0.1 semitone.
SPEED_TOLERANCE = 0.005
PITCH_TOLERANCE = 0.1
CLIP_RATE = 44_100       # Hz of every clip
CLIP_CONTENT_TYPE = "audio/mp4"  # AAC in MP4 (.m4a): every phone browser plays it
ROLES = ("upload", "reference", "upload_rectified")


def clip_prefix(case_id: str, review_id: str) -> str:
    """Where a review's clips live in the evidence bucket."""
    return f"clips/{case_id}/{review_id}/"


def reference_pointer_key(track_id: str) -> str:
    """The reference-audio bucket's pointer from a track id to its audio's key
    (``{"key": ...}``, written by ``takedown catalog publish --references``): the track id is
    the file's base name without its suffix (``catalog_build.track_id_for``), and the bucket
    keeps the catalogue folder's own layout, so a pointer is the one lookup that does not list
    the bucket."""
    return f"track-keys/{track_id}.json"


def reference_time(upload_s: float, *, offset_s: float, speed: float) -> float:
    """The time in our recording that plays at ``upload_s`` in the upload."""
    return offset_s + speed * upload_s


def upload_time(reference_s: float, *, offset_s: float, speed: float) -> float:
    """The inverse of :func:`reference_time`."""
    return (reference_s - offset_s) / speed


@dataclass(frozen=True)
class Rectify:
    """ffmpeg settings that play the upload at our recording's speed and pitch.

    ``rate_factor``: ``asetrate`` to ``rate x rate_factor`` then ``aresample`` back (pitch and
    tempo x rate_factor); ``tempo``: ``atempo`` (tempo only). 1.0: that filter is not needed."""

    rate_factor: float
    tempo: float

    @property
    def needed(self) -> bool:
        return self.rate_factor != 1.0 or self.tempo != 1.0

    def filters(self, rate: int) -> list[tuple[str, str]]:
        """(filter, arguments) in order, for an ``av.filter.Graph`` of a ``rate`` Hz stream."""
        out = []
        if self.rate_factor != 1.0:
            out += [("asetrate", f"r={rate * self.rate_factor:.6f}"), ("aresample", f"{rate}")]
        if self.tempo != 1.0:
            out.append(("atempo", f"{self.tempo:.6f}"))
        return out


def rectify_for(speed: float | None, pitch_semitones: float | None) -> Rectify | None:
    """How to bring the upload back to our recording (None when it already plays as ours).

    ``speed``: the upload's tempo against ours; ``pitch_semitones``: its pitch against ours."""
    s = float(speed) if speed and speed > 0 else 1.0
    p = float(pitch_semitones or 0.0)
    if abs(s - 1.0) < SPEED_TOLERANCE and abs(p) < PITCH_TOLERANCE:
        return None
    f = 2 ** (p / 12.0) if abs(p) >= PITCH_TOLERANCE else 1.0
    tempo = f / s
    if abs(tempo - 1.0) < SPEED_TOLERANCE / 10:  # a resampled speed change: the pitch carries the tempo
        tempo = 1.0
    return Rectify(rate_factor=1.0 / f if f != 1.0 else 1.0, tempo=tempo)


@dataclass(frozen=True)
class ClipSpec:
    """One clip to cut. ``role``: upload | reference | upload_rectified; ``index``: which part
    of the match (0..MAX_CLIPS-1); spans in seconds of each recording (the reference span is
    None for an upload clip of a case without a match)."""

    role: str
    index: int
    upload_start_s: float
    upload_end_s: float
    reference_start_s: float | None = None
    reference_end_s: float | None = None
    rectify: Rectify | None = None

    @property
    def duration_s(self) -> float:
        """Seconds of the clip as heard (the rectified clip lasts as long as our span)."""
        if self.role == "upload":
            return self.upload_end_s - self.upload_start_s
        assert self.reference_start_s is not None and self.reference_end_s is not None
        return self.reference_end_s - self.reference_start_s

    @property
    def name(self) -> str:
        return f"{self.index}-{self.role}.m4a"


@dataclass(frozen=True)
class ClipPlan:
    """What to cut for one review. ``track_id``: whose reference audio (None: no match);
    ``note``: why a part is missing, in plain words (empty when nothing is)."""

    specs: tuple[ClipSpec, ...]
    track_id: str | None
    note: str = ""


def _windows(start: float, end: float) -> list[tuple[float, float]]:
    """Up to MAX_CLIPS windows of at most MAX_CLIP_S spread evenly over [start, end]."""
    length = end - start
    if length <= MAX_CLIP_S:
        return [(start, end)]
    n = min(MAX_CLIPS, math.ceil(length / MAX_CLIP_S))
    step = (length - MAX_CLIP_S) / (n - 1)
    return [(start + i * step, start + i * step + MAX_CLIP_S) for i in range(n)]


def plan_clips(evidence: Mapping[str, Any] | MatchEvidence | None, *, upload_duration_s: float | None,
               reference_duration_s: float | None = None, reference_audio: bool = True) -> ClipPlan:
    """The clips of one review, from the case's stored evidence (``bound_evidence``'s document).

    ``upload_duration_s``: how long the upload is (its decoded length from the evidence's
    decode report, else None: no clamp at the end); ``reference_duration_s``: our recording's
    length when known; ``reference_audio``: whether our recordings may be heard here at all
    (the environment's ``review.reference_audio``).
    """
    ev = MatchEvidence.from_document(evidence)
    end_limit = upload_duration_s if upload_duration_s and upload_duration_s > 0 else math.inf
    if ev.track_id is None or ev.query_start_s is None or ev.matched_duration_s is None:
        end = min(NO_MATCH_CLIP_S, end_limit)  # the decoder stops at the upload's end in any case
        return ClipPlan((ClipSpec("upload", 0, 0.0, round(end, 3)),), None, NO_MATCH_NOTE)
    speed = ev.speed if ev.speed and ev.speed > 0 else 1.0
    offset = ev.offset_s or 0.0
    start = max(0.0, ev.query_start_s - PAD_S)
    end = min(end_limit, ev.query_start_s + ev.matched_duration_s + PAD_S)
    rect = rectify_for(ev.speed, ev.pitch_semitones)
    ref_end_limit = reference_duration_s if reference_duration_s and reference_duration_s > 0 else math.inf
    specs: list[ClipSpec] = []
    for i, (a, b) in enumerate(_windows(start, end)):
        if b - a < MIN_CLIP_S:
            continue
        specs.append(ClipSpec("upload", i, round(a, 3), round(b, 3)))
        if not reference_audio:
            continue
        # the same moments of our recording: clamped to where both recordings have them
        ra = max(0.0, reference_time(a, offset_s=offset, speed=speed))
        rb = min(ref_end_limit, reference_time(b, offset_s=offset, speed=speed))
        if rb - ra < MIN_CLIP_S:
            continue
        ua, ub = upload_time(ra, offset_s=offset, speed=speed), upload_time(rb, offset_s=offset, speed=speed)
        specs.append(ClipSpec("reference", i, round(ua, 3), round(ub, 3), round(ra, 3), round(rb, 3)))
        if rect is not None:
            specs.append(ClipSpec("upload_rectified", i, round(ua, 3), round(ub, 3), round(ra, 3), round(rb, 3),
                                  rectify=rect))
    note = "" if reference_audio else "Our recording is not available for listening in this account."
    return ClipPlan(tuple(specs), ev.track_id, note)


def upload_duration_of(evidence: Mapping[str, Any] | None) -> float | None:
    """The upload's length in seconds from the stored evidence (the query's figures), if known."""
    query = (evidence or {}).get("query") if isinstance(evidence, Mapping) else None
    if not isinstance(query, Mapping):
        return None
    decode = query.get("decode") if isinstance(query.get("decode"), Mapping) else {}
    return num(query.get("query_duration_s")) or num(decode.get("decoded_s"))


@dataclass
class Clip:
    """One cut clip as the review keeps it (``ports.Review.clips``)."""

    role: str
    index: int
    key: str
    upload_start_s: float
    upload_end_s: float
    reference_start_s: float | None
    reference_end_s: float | None
    duration_s: float
    content_type: str = CLIP_CONTENT_TYPE
    bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Clip":
        return cls(role=str(d["role"]), index=int(d.get("index", 0)), key=str(d["key"]),
                   upload_start_s=float(d["upload_start_s"]), upload_end_s=float(d["upload_end_s"]),
                   reference_start_s=num(d.get("reference_start_s")), reference_end_s=num(d.get("reference_end_s")),
                   duration_s=float(d["duration_s"]), content_type=str(d.get("content_type") or CLIP_CONTENT_TYPE),
                   bytes=int(d.get("bytes") or 0))


@dataclass
class ClipSet:
    """What a review's clips came to: the clips cut, and in plain words what could not be
    (``problems``: the upload is gone, our recording is not in the reference-audio bucket ...)
    and what is not offered here (``note``). ``reference_audio``: whether this account lets
    reviewers hear our recordings at all."""

    clips: list[Clip] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    note: str = ""
    reference_audio: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"clips": [c.to_dict() for c in self.clips], "problems": list(self.problems), "note": self.note,
                "reference_audio": self.reference_audio}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "ClipSet | None":
        if not isinstance(d, Mapping):
            return None
        clips = []
        for c in d.get("clips") or []:
            try:
                clips.append(Clip.from_dict(c))
            except (KeyError, TypeError, ValueError):
                continue
        return cls(clips, [str(p) for p in d.get("problems") or []], str(d.get("note") or ""),
                   bool(d.get("reference_audio", True)))


class ClipMaker(Protocol):
    """Cuts a review's clips (``takedown_adapters.clips.S3ClipMaker``)."""

    def make(self, case: Any, review_id: str) -> ClipSet:
        """Cut and store the clips of ``case`` for review ``review_id``. Never raises for a
        missing upload or reference: those are ``problems`` in the answer."""


class ClipLinks(Protocol):
    """Short-lived GET links to stored clips (S3 presigned URLs in AWS)."""

    @property
    def origin(self) -> str:
        """The scheme://host[:port] every link points at (the page's CSP media-src)."""

    def url(self, key: str, expires_in: int) -> str:
        """A GET link to ``key`` valid for ``expires_in`` seconds."""


CLIP_LINK_SECONDS = 3600  # a clip's signed link lasts an hour at most (and never past the review link)


def _span(a: float | None, b: float | None) -> str:
    from .wording import fmt_time

    return f"{fmt_time(a)}–{fmt_time(b)}"


def clips_view(clip_set: ClipSet | Mapping[str, Any] | None, url_for: Any) -> dict[str, Any] | None:
    """What the page's "Listen" section shows (``templates/pages/_clips.html.j2``): ``parts``
    (one per part of the match: a heading and its players, each with a label, the signed
    ``url``, the content type and the length as m:ss), ``problems`` and ``note`` in plain
    words, ``lead``: what the clips are (the matched part, or a deepfake's opening seconds).
    ``url_for(key)`` signs a link (None: no link, the player is left out). None when
    the review has no clip set (cut before clips existed, or clips are off)."""
    from .wording import fmt_time

    cs = clip_set if isinstance(clip_set, ClipSet) else ClipSet.from_dict(clip_set)
    if cs is None:
        return None
    indexes = sorted({c.index for c in cs.clips})
    labels = {
        "upload": lambda c: f"The upload, {_span(c.upload_start_s, c.upload_end_s)}",
        "reference": lambda c: f"Our recording, {_span(c.reference_start_s, c.reference_end_s)} (the same moments)",
        "upload_rectified": lambda c: (f"The upload brought back to our recording’s speed and pitch "
                                       f"({_span(c.upload_start_s, c.upload_end_s)} of the upload)"),
    }
    parts = []
    for i in indexes:
        items = []
        for c in sorted((c for c in cs.clips if c.index == i), key=lambda c: ROLES.index(c.role)
                        if c.role in ROLES else 9):
            url = url_for(c.key)
            if url:
                items.append({"label": labels.get(c.role, labels["upload"])(c), "url": url,
                              "type": c.content_type, "length": fmt_time(c.duration_s), "role": c.role})
        if items:
            title = (f"Part {len(parts) + 1} of {len(indexes)}" if len(indexes) > 1
                     else "The upload’s opening" if cs.note == NO_MATCH_NOTE else "The matched part")
            parts.append({"title": title, "items": items})
    note = cs.note
    if not cs.reference_audio and not note:
        note = "Our recording is not available for listening in this account."
    lead = ("the upload’s opening seconds (nothing of ours matched, so there is no matched part)"
            if cs.note == NO_MATCH_NOTE else "the upload’s matched part with a few seconds either side")
    return {"parts": parts, "problems": list(cs.problems), "note": note, "lead": lead,
            "link_minutes": CLIP_LINK_SECONDS // 60}
