"""What a query answers: :class:`Match` (one matching track, with the evidence a reviewer
reads) and :class:`QueryResult`, and their JSON forms.

Plain types: this module imports neither the search nor the verdict (:mod:`verdict` builds
these from the evidence; calibration and the shard merge are explained there).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .params import DEFAULT_MAX_FALSE_MATCH_RATE


@dataclass
class Match:
    """One catalogue track that the query matches, with the evidence for a reviewer.

    track_id: the catalogue id. metadata: title/artist/isrc/owner/territories as catalogued.
    score: -log10(false_match_rate); higher is stronger. false_match_rate: expected number
    of chance matches this strong per query, over the whole catalogue. offset_s: position in
    the reference of the query's first sample (negative if the query starts before it).
    query_start_s / matched_duration_s: where in the query the aligned evidence lies.
    speed: tempo ratio (1.05 = the upload runs 5 % faster than the reference).
    pitch_semitones: frequency shift of the upload against the reference.
    transform: "none", "speed" (resampled: tempo and pitch together), "time_stretch",
    "pitch_shift" or "mixed". aligned_hashes: hashes agreeing with this alignment.
    landmarks: (query_time_s, reference_time_s) of aligned hashes, at most 200.
    salient_peaks: the query's salient spectral peaks (``AnalysisParams.salient_db`` above
    their band's running mean) inside the matched span, widened to at least
    ``min_content_span_s``; salient_confirmed: how many of them the reference also holds
    at this alignment; salient_share: their ratio, the matched share of the query's salient
    content (a copy keeps it even under heavy noise; a different piece sharing only a loop
    or sample does not). None: not measured.

    How the recording is used: ``kind`` is "copy" (the upload is essentially our recording:
    ``salient_share`` reaches the index's ``min_salient_share``) or "partial" (our recording
    is certainly in the upload, beside or under other material: a cover over our backing, a
    voice-over, a mash-up). ``share`` is ``salient_share`` (the share of the upload's
    prominent sound, in the matched span, that is ours). ``upload_span_s`` and
    ``reference_span_s`` are the matched spans, (start, end) in seconds, in the upload and in
    our recording. ``shared_with``: other catalogue tracks that also hold reference segments
    this match touched (found by the catalogue's self-match at build time).
    ``declined_reason``: None for a match; for an
    alignment that is not one (``QueryResult.declined``) why: "low_share", "short",
    "repeated", "shared_segment" or "excluded" (see :mod:`verdict`).
    """

    track_id: str
    metadata: dict
    score: float
    false_match_rate: float
    offset_s: float
    query_start_s: float
    matched_duration_s: float
    speed: float
    pitch_semitones: float
    transform: str
    aligned_hashes: int
    landmarks: list[tuple[float, float]] = field(default_factory=list)
    salient_share: float | None = None
    salient_peaks: int | None = None
    salient_confirmed: int | None = None
    kind: str = "copy"
    upload_span_s: tuple[float, float] | None = None
    reference_span_s: tuple[float, float] | None = None
    shared_with: list[str] = field(default_factory=list)
    declined_reason: str | None = None

    @property
    def share(self) -> float | None:
        """The share of the upload's prominent sound in the matched span that is ours (=
        ``salient_share``)."""
        return self.salient_share

    @property
    def time_stretch(self) -> float:
        """Tempo change not explained by the pitch change (1.0 for a pure speed change)."""
        return self.speed / 2 ** (self.pitch_semitones / 12.0)

    def to_dict(self) -> dict:
        return {
            "track_id": self.track_id,
            "metadata": dict(self.metadata),
            "score": round(self.score, 3),
            "false_match_rate": self.false_match_rate,
            "offset_s": round(self.offset_s, 3),
            "query_start_s": round(self.query_start_s, 3),
            "matched_duration_s": round(self.matched_duration_s, 3),
            "speed": round(self.speed, 4),
            "pitch_semitones": round(self.pitch_semitones, 3),
            "time_stretch": round(self.time_stretch, 4),
            "transform": self.transform,
            "aligned_hashes": self.aligned_hashes,
            "landmarks": [[round(q, 3), round(r, 3)] for q, r in self.landmarks],
            "salient_share": None if self.salient_share is None else round(self.salient_share, 4),
            "salient_peaks": self.salient_peaks,
            "salient_confirmed": self.salient_confirmed,
            "kind": self.kind,
            "share": None if self.salient_share is None else round(self.salient_share, 4),
            "upload_span_s": _span_json(self.upload_span_s),
            "reference_span_s": _span_json(self.reference_span_s),
            "shared_with": list(self.shared_with),
            "declined_reason": self.declined_reason,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Match":
        return cls(
            track_id=d["track_id"],
            metadata=dict(d.get("metadata") or {}),
            score=float(d["score"]),
            false_match_rate=float(d["false_match_rate"]),
            offset_s=float(d["offset_s"]),
            query_start_s=float(d["query_start_s"]),
            matched_duration_s=float(d["matched_duration_s"]),
            speed=float(d["speed"]),
            pitch_semitones=float(d["pitch_semitones"]),
            transform=d.get("transform", "none"),
            aligned_hashes=int(d["aligned_hashes"]),
            landmarks=[(float(q), float(r)) for q, r in d.get("landmarks", [])],
            salient_share=None if d.get("salient_share") is None else float(d["salient_share"]),
            salient_peaks=None if d.get("salient_peaks") is None else int(d["salient_peaks"]),
            salient_confirmed=None if d.get("salient_confirmed") is None else int(d["salient_confirmed"]),
            kind=str(d.get("kind") or "copy"),
            upload_span_s=_span_of(d.get("upload_span_s")),
            reference_span_s=_span_of(d.get("reference_span_s")),
            shared_with=[str(t) for t in d.get("shared_with") or []],
            declined_reason=d.get("declined_reason"),
        )


def _span_json(span: tuple[float, float] | None) -> list[float] | None:
    return None if span is None else [round(float(span[0]), 3), round(float(span[1]), 3)]


def _span_of(value) -> tuple[float, float] | None:
    if not value:
        return None
    return float(value[0]), float(value[1])


@dataclass
class QueryResult:
    """The answer to one query.

    best: the strongest match passing the policy threshold, or None. others: other catalogue
    tracks that also pass (near-duplicates: a remix, a re-release), best first.
    query_duration_s / query_hashes: how much the query held. max_false_match_rate: the
    threshold applied. best_rejected_score: score of the strongest candidate when it did not
    pass (0.0 when nothing aligned), for logs. declined: tracks whose alignment passes the
    rate threshold but that are not a match, each with its ``declined_reason`` (a loop,
    sample or short part shared with a different piece; a catalogue segment another track
    also holds; an excluded range): never a case, reported so a label can audit them.
    ``best`` may be a "partial" match (see :class:`Match`). evidence: raw per-shard counts
    that :func:`merge_results` needs to recalibrate (JSON-serialisable).
    """

    best: Match | None
    others: list[Match]
    query_duration_s: float
    query_hashes: int
    max_false_match_rate: float = DEFAULT_MAX_FALSE_MATCH_RATE
    best_rejected_score: float = 0.0
    evidence: dict = field(default_factory=dict, repr=False)
    declined: list[Match] = field(default_factory=list)

    @property
    def score(self) -> float:
        return self.best.score if self.best else self.best_rejected_score

    def to_dict(self, *, with_evidence: bool = False) -> dict:
        d = {
            "best": self.best.to_dict() if self.best else None,
            "others": [m.to_dict() for m in self.others],
            "query_duration_s": round(self.query_duration_s, 3),
            "query_hashes": self.query_hashes,
            "max_false_match_rate": self.max_false_match_rate,
            "score": round(self.score, 3),
            "declined": [m.to_dict() for m in self.declined],
        }
        if with_evidence:
            d["evidence"] = self.evidence
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "QueryResult":
        best = d.get("best")
        return cls(
            best=Match.from_dict(best) if best else None,
            others=[Match.from_dict(m) for m in d.get("others", [])],
            query_duration_s=float(d["query_duration_s"]),
            query_hashes=int(d["query_hashes"]),
            max_false_match_rate=float(d.get("max_false_match_rate", DEFAULT_MAX_FALSE_MATCH_RATE)),
            best_rejected_score=0.0 if best else float(d.get("score", 0.0)),
            evidence=d.get("evidence", {}),
            # "partial" before the kinds: alignments the content check refused
            declined=[_declined(Match.from_dict(m)) for m in d.get("declined", d.get("partial", []))],
        )


def _declined(m: Match) -> Match:
    if m.declined_reason is None:  # an older document: the content check refused it
        m.declined_reason = "low_share"
    return m
