"""Match evidence, query results, calibration and the shard merge.

Calibration (why a score means the same thing at 50 tracks and at 100,000): a query looks up
its hashes under each playback hypothesis ``v`` and retrieves ``P_v`` postings from the
index. Under the null hypothesis (the query is not in the catalogue) those postings scatter
over every (track, offset) cell of the catalogue, ``C = sum_j (frames_j + query_frames)``
cells, so a window of ``w`` offsets catches Poisson(``lam_v = P_v * w / C``) of them. The
expected number of windows anywhere in the catalogue, under any hypothesis, holding ``n`` or
more aligned hashes by chance is

    false_match_rate(n) = sum_v (C / w) * P(Poisson(lam_v / k) >= n / k)

where ``k`` (``AnalysisParams.clump_size``) models that chance coincidences in music come in
clumps (a repeated bar repeats them): measured against reversed, resampled real music
(bench/), k = 1.5 makes the predicted rate an upper bound of the observed one.

``P_v`` grows with the catalogue exactly as ``C`` does, so ``lam_v`` stays put and the
multiplicity ``C / w`` carries the catalogue size: a bigger catalogue needs more evidence for
the same rate. The threshold is this rate (``DEFAULT_MAX_FALSE_MATCH_RATE``); ``score`` is
``-log10(false_match_rate)`` (4.0 = one chance match in 10,000 queries).

Sharding: every shard reports its ``P_v``, its cell count and its best candidates' raw
aligned counts; :func:`merge_results` pools ``P_v`` and cells over shards and recomputes the
rate with the whole catalogue's ``C`` (from the manifest), so ten shards give the same
decision as one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .params import DEFAULT_MAX_FALSE_MATCH_RATE

_SCORE_CAP = 300.0  # -log10 of a rate below float range: reported as 300


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
        )


@dataclass
class QueryResult:
    """The answer to one query.

    best: the strongest match passing the policy threshold, or None. others: other catalogue
    tracks that also pass (near-duplicates: a remix, a re-release), best first.
    query_duration_s / query_hashes: how much the query held. max_false_match_rate: the
    threshold applied. best_rejected_score: score of the strongest candidate when it did not
    pass (0.0 when nothing aligned), for logs. partial: tracks whose alignment passes the
    rate threshold but whose content check fails (the upload shares a loop, a sample or a
    short part with them and adds much of its own): never a match, reported so a label can
    audit them. evidence: raw per-shard counts that :func:`merge_results` needs to
    recalibrate (JSON-serialisable).
    """

    best: Match | None
    others: list[Match]
    query_duration_s: float
    query_hashes: int
    max_false_match_rate: float = DEFAULT_MAX_FALSE_MATCH_RATE
    best_rejected_score: float = 0.0
    evidence: dict = field(default_factory=dict, repr=False)
    partial: list[Match] = field(default_factory=list)

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
            "partial": [m.to_dict() for m in self.partial],
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
            partial=[Match.from_dict(m) for m in d.get("partial", [])],
        )


# --------------------------------------------------------------------------- calibration


def poisson_sf(n: float, lam: float) -> float:
    """P(X >= n) for X ~ Poisson(lam), accurate in the far tail (no scipy). A real ``n`` is
    the continuous extension (lgamma), used for clumped counts."""
    if n <= 0:
        return 1.0
    if lam <= 0:
        return 0.0
    if float(n).is_integer() and n <= lam + 1:
        # near the bulk: 1 - cdf by direct summation
        term = math.exp(-lam)
        cdf = term
        for k in range(1, int(n)):
            term *= lam / k
            cdf += term
        return max(0.0, 1.0 - cdf)
    if n <= lam + 1:
        return 1.0  # a real n in the bulk: no evidence
    # tail: pmf(n) * (1 + lam/(n+1) + lam^2/((n+1)(n+2)) + ...)
    log_pmf = -lam + n * math.log(lam) - math.lgamma(n + 1)
    s, term, k = 1.0, 1.0, n
    while term > 1e-12 * s:
        k += 1
        term *= lam / k
        s += term
    return math.exp(log_pmf) * s if log_pmf > -745 else 0.0


def false_match_rate(
    n: int, postings_per_hypothesis: list[int], cells: float, catalogue_cells: float, window: int, clump: float = 1.0
) -> float:
    """Expected chance windows with >= ``n`` aligned hashes, over the whole catalogue.

    ``postings_per_hypothesis`` and ``cells`` describe what was searched (one shard or
    several pooled); ``catalogue_cells`` is the whole catalogue's cell count. Chance
    alignments in music come in clumps (a repeated bar repeats its coincidences), so they
    are modelled as a compound Poisson process: clumps of ``clump`` hashes arriving at rate
    ``lam / clump``; ``n`` aligned hashes are ``n / clump`` clumps.
    """
    if cells <= 0:
        return 0.0 if n > 0 else 1.0
    total = 0.0
    for pv in postings_per_hypothesis:
        lam = pv * window / cells
        total += poisson_sf(n / clump, lam / clump)
    return total * catalogue_cells / window


def score_of(rate: float) -> float:
    if rate <= 0:
        return _SCORE_CAP
    return max(0.0, min(_SCORE_CAP, -math.log10(rate)))


def merge_results(
    results: list[QueryResult], *, max_false_match_rate: float | None = None
) -> QueryResult:
    """Merge per-shard results of one query into one decision with the same calibration.

    Each result must carry ``evidence`` (``Index.query`` always does; keep it through
    ``to_dict(with_evidence=True)`` when results cross a process boundary).
    """
    from .query import decide, pool  # local import: query imports this module

    if not results:
        raise ValueError("nothing to merge")

    ev = [r.evidence for r in results]
    for e in ev:
        if not e or "segments" not in e:
            raise ValueError("a result without evidence cannot be merged (use to_dict(with_evidence=True))")
    n_segs = len(ev[0]["segments"])
    if any(len(e["segments"]) != n_segs for e in ev):
        raise ValueError("results come from different queries")
    seen: set = set()
    for e in ev:
        for s in e["segments"][0]["shards"]:
            if s in seen:
                raise ValueError(f"shard {s} appears twice in the merge")
            seen.add(s)
    pooled = {"segments": [pool([e["segments"][i] for e in ev]) for i in range(n_segs)]}
    threshold = results[0].max_false_match_rate if max_false_match_rate is None else max_false_match_rate
    return decide(
        pooled,
        query_duration_s=results[0].query_duration_s,
        query_hashes=results[0].query_hashes,
        max_false_match_rate=threshold,
    )
