"""The decision: pool the shards' evidence, calibrate it, check the content, decide; and the
shard merge. (The search that gathers the evidence is :mod:`search`; the answer's types are
:mod:`result`.)

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

Content check and kinds: a chance-proof alignment says our recording is in the upload, not
how. The search measures, per candidate and where the shard's arrays are, how many of the
query's salient peaks the reference confirms (:func:`salient_content`, over
:func:`content_span`): a candidate whose confirmed share (:func:`salient_share`) reaches
``min_salient_share`` is a copy. One under it is our recording beside or under other
material, a partial match, when its alignment is sustained, strong, specific to one
position of the recording and not resting on material the catalogue does not hold alone
(:func:`judge`); otherwise it is declined with the reason (a loop or sample a different
piece shares, a short part), never a case, and reported for audit.
"""

from __future__ import annotations

import math

import numpy as np

from .extract import Fingerprint, QueryPairs, hash_pairs
from .params import AnalysisParams
from .result import Match, QueryResult
from .shard import ShardData, probe_keys

_SCORE_CAP = 300.0  # -log10 of a rate below float range: reported as 300


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


def pool(evidences: list[dict]) -> dict:
    """Pool per-shard evidence of one query segment."""
    first = evidences[0]
    hyps = len(first["postings"])
    for e in evidences[1:]:
        if len(e["postings"]) != hyps or e["catalogue_cells"] != first["catalogue_cells"] or e.get("search", 1) != first.get("search", 1):
            raise ValueError("results come from different indexes or different queries")
    out = {
        "postings": [sum(e["postings"][v] for e in evidences) for v in range(hyps)],
        "cells": sum(e["cells"] for e in evidences),
        "catalogue_cells": first["catalogue_cells"],
        "window": first["window"],
        "min_aligned": first["min_aligned"],
        "min_salient_share": first.get("min_salient_share", 0.0),
        "partial": first.get("partial"),
        "clump": first.get("clump", 1.0),
        "shards": sorted(n for e in evidences for n in e["shards"]),
        "candidates": [c for e in evidences for c in e["candidates"]],
        "query_frames": first["query_frames"],
    }
    if "search" in first:
        out["search"] = first["search"]
    if any("wide_share" in e for e in evidences):  # a shard with the wide search (triplets)
        out["wide_share"] = max(e.get("wide_share", 0.0) for e in evidences)
        out["wide_hypotheses"] = max(e.get("wide_hypotheses", 0) for e in evidences)
        grids = [e.get("wide_postings") for e in evidences]
        if all(g for g in grids) and len({len(g) for g in grids}) == 1:
            out["wide_postings"] = [sum(g[v] for g in grids) for v in range(len(grids[0]))]
    return out


def candidate_rate(c: dict, ev: dict, n: int) -> float:
    """Expected chance windows with >= ``n`` aligned hashes for candidate ``c`` of one
    segment's pooled evidence ``ev``, over the whole catalogue, divided by the share of the
    policy's false-match budget its family holds (weighted Bonferroni, so a rate under the
    policy's means the same for every candidate):

    - the pair search (``search.hypotheses``, the grid the index was built with):
      :func:`false_match_rate` over its hypotheses; with
      the wide search also present its share is ``1 - wide_share``;
    - the wide search (``c["family"] == "wide"``): the whole tempo x pitch range counts,
      ``wide_hypotheses`` hypotheses at the pair search's resolution, each at the mean tail
      probability over an even sample of the range (``wide_postings``, pooled over shards
      like ``postings``: :func:`search.wide_sample`) or over the hypotheses this candidate
      was verified under (``wide_lam``, its shard's density), whichever is larger; its
      share is ``wide_share``.
    """
    clump = ev.get("clump", 1.0)
    share = ev.get("wide_share")
    if c.get("family") == "wide":
        lam = list(c.get("wide_lam") or [])
        if not lam or not share:
            return 1.0
        mean_sf = sum(poisson_sf(n / clump, x / clump) for x in lam) / len(lam)
        grid = ev.get("wide_postings") or []
        if grid and ev["cells"] > 0:
            grid_sf = sum(poisson_sf(n / clump, pv * ev["window"] / ev["cells"] / clump) for pv in grid) / len(grid)
            mean_sf = max(mean_sf, grid_sf)
        return ev["wide_hypotheses"] * mean_sf * ev["catalogue_cells"] / ev["window"] / share
    rate = false_match_rate(n, ev["postings"], ev["cells"], ev["catalogue_cells"], ev["window"], clump)
    return rate / (1.0 - share) if share else rate


def content_span(lo: int, hi: int, segment: tuple[int, int], params: AnalysisParams) -> tuple[int, int]:
    """The query frames the content check judges: the aligned frames [lo, hi], widened
    evenly to ``min_content_span_s`` (kept inside the segment: what one edge cannot take
    the other does), or the whole segment when it is shorter."""
    f0, f1 = segment
    need = int(round(params.min_content_span_s / params.frame_seconds))
    if hi - lo + 1 >= need:
        return lo, hi
    if f1 - f0 <= need:
        return f0, f1 - 1
    grow = need - (hi - lo + 1)
    a = lo - grow // 2
    b = hi + grow - grow // 2
    shift = max(0, f0 - a) - max(0, b - (f1 - 1))
    return a + shift, b + shift


def salient_content(
    fp: Fingerprint,
    shard: ShardData,
    params: AnalysisParams,
    segment: tuple[int, int],
    span: tuple[int, int],
    *,
    pitch: float,
    tempo: float,
    track: int,
    cell_off: int,
    centre: int,
    bias: int,
) -> tuple[int, int]:
    """(salient query peaks inside ``span``, how many of them the reference confirms).

    A peak is confirmed when some pair it forms with another query peak of the segment, as
    anchor or as target, any pair in the target zone (not only the nearest few: noise may
    have displaced those), is in the reference track at this alignment: the same hash, give
    or take what noise does to a peak (:func:`probe_keys`), under this playback hypothesis,
    at the offset +- the offset window.
    """
    p = params
    pk = fp.peaks
    f0, f1 = segment
    lo_f, hi_f = span
    near = (pk.frames >= max(f0, lo_f - p.dt_max_frames)) & (pk.frames < min(f1, hi_f + p.dt_max_frames + 1))
    frames = pk.frames[near].astype(np.int64)
    semis = pk.semitones[near]
    sal = pk.salience[near]
    in_span = (frames >= lo_f) & (frames <= hi_f)
    salient = in_span & (sal >= p.salient_db)
    if int(salient.sum()) < p.min_salient_peaks:
        # heavy noise raises every band's mean, so few peaks clear salient_db: a share of
        # one or two peaks means nothing. Judge the span's most salient peaks instead.
        cand = np.flatnonzero(in_span)
        top = cand[np.argsort(-sal[cand], kind="stable")[: p.min_salient_peaks]]
        salient = np.zeros_like(salient)
        salient[top] = True
    n_salient = int(salient.sum())
    if n_salient == 0:
        return 0, 0
    n = frames.size
    # every pair in the target zone (peaks are sorted by frame)
    reach = np.searchsorted(frames, frames + p.dt_max_frames, side="right")
    ai, tj = _expand(np.arange(n) + 1, np.maximum(0, reach - np.arange(n) - 1))
    dt = frames[tj] - frames[ai]
    df = semis[tj] - semis[ai]
    keep = (dt >= 1) & (np.abs(df) <= p.df_max_semitones - 0.5 * p.df_quantum_semitones)
    keep &= salient[ai] | salient[tj]  # only pairs that can confirm a salient peak
    ai, tj = ai[keep], tj[keep]
    if ai.size == 0:
        return n_salient, 0
    pairs = QueryPairs(frames[ai].astype(np.int32), semis[ai], (semis[tj] - semis[ai]).astype(np.float32), (frames[tj] - frames[ai]).astype(np.int32))
    h, valid = hash_pairs(pairs, p, pitch_semitones=pitch, tempo=tempo)
    k, ai, tj = probe_keys(h[valid].astype(np.int64), p, p.content_probe_df_cells, ai[valid], tj[valid])
    if shard.offsets is not None:
        start = shard.offsets[k].astype(np.int64)
        stop = shard.offsets[k + 1].astype(np.int64)
    else:
        start = np.searchsorted(shard.hashes, k, side="left").astype(np.int64)
        stop = np.searchsorted(shard.hashes, k, side="right").astype(np.int64)
    # the reference frame this pair's anchor must have at this alignment (see search.search_shard:
    # offset + bias = reference frame - (tempo * (query frame - centre) - bias))
    w = p.offset_window_frames
    tb = p.time_bits
    ref = cell_off - bias + np.rint(tempo * (frames[ai] - centre)).astype(np.int64)
    base = np.int64(track) << tb
    want_lo = base + np.clip(ref - w, 0, (1 << tb) - 1)
    want_hi = base + np.clip(ref + w, -1, (1 << tb) - 1)
    # postings are sorted within each hash: bisect each key's range for the first >= want_lo
    a, b = start.copy(), stop.copy()
    while True:
        todo = a < b
        if not todo.any():
            break
        mid = (a + b) // 2
        v = shard.postings[np.where(todo, mid, 0)].astype(np.int64)
        right = todo & (v < want_lo)
        a = np.where(right, mid + 1, a)
        b = np.where(todo & ~right, mid, b)
    hit = a < stop
    hit[hit] = shard.postings[a[hit]].astype(np.int64) <= want_hi[hit]
    conf = np.zeros(n, dtype=bool)
    conf[ai[hit]] = True
    conf[tj[hit]] = True
    return n_salient, int((conf & salient).sum())


def _expand(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For items with ranges [start, start+count): (item index, position) of every element."""
    total = int(counts.sum())
    item = np.repeat(np.arange(counts.size), counts)
    first = np.cumsum(counts) - counts
    pos = starts[item] + (np.arange(total) - first[item])
    return item, pos


def salient_share(candidate: dict) -> float | None:
    """Confirmed fraction of the query's salient peaks in the matched span; None when the
    evidence has no content check (an older engine) or the span holds no salient peak."""
    n = candidate.get("salient_peaks")
    if not n:
        return None
    return float(candidate.get("salient_confirmed") or 0) / float(n)


def decide(evidence: dict, *, query_duration_s: float, query_hashes: int, max_false_match_rate: float) -> QueryResult:
    """Calibrate every candidate against the pooled statistics, apply the threshold, and
    say how each passing track is used (:func:`judge`).

    ``evidence`` is ``{"segments": [pooled evidence per query segment]}``; a candidate's
    rate counts every segment searched (the multiplicity of a long query). A track answers
    once, with its strongest evidence that is a match; copies come before partial matches
    (the upload is essentially the copied recording), each kind strongest first.

    Segments marked ``"search": 2`` hold the second search, with the query's dense peaks
    (:meth:`Index.query`): they count only when the first search found no copy, and then
    every segment of both searches counts in the multiplicity."""
    first = [s for s in evidence["segments"] if s.get("search", 1) == 1]
    if first and len(first) < len(evidence["segments"]):
        result = _decide(first, evidence, query_duration_s, query_hashes, max_false_match_rate)
        if result.best is not None and result.best.kind == "copy":
            return result
    return _decide(evidence["segments"], evidence, query_duration_s, query_hashes, max_false_match_rate)


def _decide(segs: list[dict], evidence: dict, query_duration_s: float, query_hashes: int, max_false_match_rate: float) -> QueryResult:
    scored = []
    for ev in segs:
        for c in ev["candidates"]:
            rate = candidate_rate(c, ev, c["aligned"])
            scored.append((rate * len(segs), -c["aligned"], c, ev))
    ev = segs[0]
    scored.sort(key=lambda x: (x[0], x[1], x[2]["track_id"]))
    passing: list[Match] = []
    declined: dict[str, Match] = {}
    seen: set[str] = set()
    top_score = 0.0
    for rate, _, c, seg_ev in scored:
        if c["track_id"] in seen:
            continue  # a track answers once, with its strongest passing evidence
        top_score = max(top_score, score_of(rate))
        if rate > max_false_match_rate or c["aligned"] < ev["min_aligned"]:
            continue
        share = salient_share(c)
        kind, reason = judge(c, seg_ev, rate, len(segs), max_false_match_rate)
        m = _match(c, rate, share, kind, reason)
        if reason is None:
            seen.add(c["track_id"])
            passing.append(m)
        else:
            declined.setdefault(c["track_id"], m)
    passing.sort(key=lambda m: m.kind != "copy")  # stable: by rate within each kind
    best = passing[0] if passing else None
    return QueryResult(
        best=best,
        others=passing[1:],
        query_duration_s=query_duration_s,
        query_hashes=query_hashes,
        max_false_match_rate=max_false_match_rate,
        best_rejected_score=0.0 if best else top_score,
        evidence=evidence,
        declined=[m for t, m in declined.items() if t not in seen],
    )


def judge(c: dict, ev: dict, rate: float, n_segments: int, max_false_match_rate: float) -> tuple[str, str | None]:
    """(kind, declined reason or None) of a candidate whose alignment passes the threshold.

    - "copy": the reference confirms at least ``min_copy_share`` of the upload's prominent
      peaks in the matched span (or the evidence carries no content check: an older
      engine); between ``min_salient_share`` and that, a copy unless it is a partial match
      by the rules below (a new lead at equal level leaves about a third of the prominent
      sound ours; a copy under 0 dB noise keeps half or more), so nothing the content check
      passed is lost. Declined "excluded" when what aligns outside the track's exclusions
      (licensed material the catalogue does not claim) is not itself past the threshold.
    - "partial": the rest, our recording beside or under other material, when the
      alignment is *sustained* (``ev["partial"]``, the index's rules; None = an index
      built before partial matches: declined "low_share", as the content check did):

      * "short": it is sustained (``sustained_s``: no gap over 2.9 s) over less than
        ``min_partial_span_s`` of the upload, or aligned hashes cover less than
        ``min_partial_coverage`` of the seconds inside that stretch;
      * "weak": the alignment is not ``partial_rate_factor`` times stronger than the
        threshold asks: a partial match rests on its alignment alone, and one composer's
        recordings share real material (a loop, a sample) that no chance model rules out;
      * "repeated": what aligns *only* at this position of the recording (not one loop
        period or repeated bar earlier or later, ``position_aligned``) is not that strong;
      * "shared_segment" / "excluded": what is left outside the reference segments another
        catalogue track also holds (named in ``shared_with``) and outside the track's
        exclusions (``clear_aligned``) is not that strong.
    """
    share = salient_share(c)
    min_share = ev.get("min_salient_share", 0.0)
    rules = ev.get("partial")

    def rate_of(n: int) -> float:
        return n_segments * candidate_rate(c, ev, n)

    def copy() -> tuple[str, str | None]:
        outside = c.get("unexcluded_aligned")
        if outside is not None and outside < c["aligned"] and rate_of(outside) > max_false_match_rate:
            return "copy", "excluded"
        return "copy", None

    copy_bar = (rules or {}).get("wide_min_copy_share" if c.get("family") == "wide" else "min_copy_share", min_share)
    if share is None or (share >= min_share and (not rules or share >= copy_bar)):
        return copy()
    if not rules or "position_aligned" not in c:
        return "partial", "low_share"
    reason = None
    bar = max_false_match_rate * rules["rate_factor"]
    if c.get("sustained_s", c["matched_duration_s"]) < rules["min_span_s"] or c.get("coverage", 1.0) < rules["min_coverage"]:
        reason = "short"
    elif rate > bar:
        reason = "weak"
    elif rate_of(c["position_aligned"]) > bar:
        reason = "repeated"
    elif rate_of(c["clear_aligned"]) > bar:
        reason = "shared_segment" if c.get("shared_aligned", 0) >= c.get("excluded_aligned", 0) else "excluded"
    if share >= min_share and reason is not None:
        return copy()  # as the content check answered before partial matches
    return "partial", reason


def _match(c: dict, rate: float, share: float | None, kind: str = "copy", reason: str | None = None) -> Match:
    speed = float(c["speed"])
    pitch = float(c["pitch_semitones"])
    return Match(
        track_id=c["track_id"],
        metadata=dict(c["metadata"] or {}),
        score=score_of(rate),
        false_match_rate=rate,
        offset_s=float(c["offset_s"]),
        query_start_s=float(c["query_start_s"]),
        matched_duration_s=float(c["matched_duration_s"]),
        speed=speed,
        pitch_semitones=pitch,
        transform=_transform(speed, pitch),
        aligned_hashes=int(c["aligned"]),
        landmarks=[(float(a), float(b)) for a, b in c["landmarks"]],
        salient_share=share,
        salient_peaks=c.get("salient_peaks"),
        salient_confirmed=c.get("salient_confirmed"),
        kind=kind,
        # a partial match's spans: where it is sustained (a voice-over's pauses included)
        upload_span_s=tuple(float(x) for x in c["sustained_span_s"]) if kind == "partial" and c.get("sustained_span_s")
        else (float(c["query_start_s"]), float(c["query_start_s"]) + float(c["matched_duration_s"])),
        reference_span_s=tuple(float(x) for x in c["sustained_reference_span_s"]) if kind == "partial" and c.get("sustained_reference_span_s")
        else tuple(float(x) for x in c["reference_span_s"]) if c.get("reference_span_s") else None,
        shared_with=list(c.get("shared_with") or []),
        declined_reason=reason,
    )


def _transform(speed: float, pitch: float) -> str:
    speed_changed = abs(speed - 1.0) >= 0.008
    pitch_changed = abs(pitch) >= 0.15
    if not speed_changed and not pitch_changed:
        return "none"
    if speed_changed and pitch_changed and abs(pitch - 12 * math.log2(speed)) < 0.25:
        return "speed"
    if speed_changed and not pitch_changed:
        return "time_stretch"
    if pitch_changed and not speed_changed:
        return "pitch_shift"
    return "mixed"


def merge_results(
    results: list[QueryResult], *, max_false_match_rate: float | None = None
) -> QueryResult:
    """Merge per-shard results of one query into one decision with the same calibration.

    Each result must carry ``evidence`` (``Index.query`` always does; keep it through
    ``to_dict(with_evidence=True)`` when results cross a process boundary).
    """
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
