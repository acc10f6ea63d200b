"""Query one shard: re-hash under playback hypotheses, look up, vote on offsets, decide."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .extract import DF_BITS, DT_BITS, Fingerprint, QueryPairs, hash_pairs
from .params import AnalysisParams
from .result import Match, QueryResult, false_match_rate, score_of

_OFFSET_BITS = 19  # cell key: ((hypothesis * tracks + track) << 19) | (offset + bias)


def hypotheses(params: AnalysisParams) -> list[tuple[float, float]]:
    """(pitch_semitones, tempo) hypotheses: pitch line, tempo line, speed line."""
    p = params
    hyps: list[tuple[float, float]] = []
    k_max = int(round(p.max_pitch_semitones / p.pitch_step_semitones))
    for k in range(-k_max, k_max + 1):
        hyps.append((k * p.pitch_step_semitones, 1.0))
    j_max = int(round(p.max_tempo_change / p.tempo_step))
    for j in range(-j_max, j_max + 1):
        if j == 0:
            continue
        tempo = 1.0 + j * p.tempo_step
        hyps.append((0.0, tempo))  # time-stretch: tempo only
        hyps.append((12.0 * math.log2(tempo), tempo))  # speed: resampled, both together
    return hyps


@dataclass(frozen=True)
class ShardData:
    """One shard's arrays (possibly memory-mapped) and its tracks."""

    number: int
    hashes: np.ndarray  # sorted uint32
    postings: np.ndarray  # uint32: local track << time_bits | frame
    track_ids: list[str]
    track_frames: np.ndarray  # int64 per local track
    track_metadata: list[dict]
    # start of every hash's postings (uint32, 2**hash_bits + 1 entries): the lookup is a
    # gather instead of two binary searches; None = look up with np.searchsorted
    offsets: np.ndarray | None = None


def hash_offsets(hashes: np.ndarray, hash_bits: int = 21) -> np.ndarray:
    """offsets[h]..offsets[h+1] is the range of hash ``h`` in the sorted ``hashes``."""
    counts = np.bincount(np.asarray(hashes), minlength=1 << hash_bits)
    if counts.size != 1 << hash_bits:
        raise ValueError("a hash exceeds the hash layout")
    out = np.empty((1 << hash_bits) + 1, dtype=np.uint32 if hashes.size < (1 << 32) else np.int64)
    out[0] = 0
    np.cumsum(counts, out=out[1:])
    return out


def _sorted_unique(a: np.ndarray, *, counts: bool = False):
    """np.unique via sort + diff: numpy 2's hash-based unique is far slower on large int64."""
    a = np.sort(a)
    if a.size == 0:
        return (a, np.zeros(0, np.int64)) if counts else a
    first = np.empty(a.size, dtype=bool)
    first[0] = True
    np.not_equal(a[1:], a[:-1], out=first[1:])
    if not counts:
        return a[first]
    idx = np.flatnonzero(first)
    return a[idx], np.diff(np.append(idx, a.size))


def _expand(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For items with ranges [start, start+count): (item index, position) of every element."""
    total = int(counts.sum())
    item = np.repeat(np.arange(counts.size), counts)
    first = np.cumsum(counts) - counts
    pos = starts[item] + (np.arange(total) - first[item])
    return item, pos


def search_shard(
    fp: Fingerprint,
    shard: ShardData,
    params: AnalysisParams,
    *,
    catalogue_frames: int,
    catalogue_tracks: int,
    segment: tuple[int, int] | None = None,
) -> dict:
    """Raw evidence from one shard (JSON-serialisable): postings per hypothesis, cells,
    and the strongest candidates with their aligned landmarks."""
    p = params
    hyps = hypotheses(p)
    f0, f1 = segment if segment is not None else (0, max(1, fp.frame_count))
    q_frames = max(1, f1 - f0)
    catalogue_cells = float(catalogue_frames + catalogue_tracks * q_frames)
    w = p.offset_window_frames
    n_tracks = len(shard.track_ids)
    cells = float(shard.track_frames.sum() + n_tracks * q_frames)
    ev = {
        "postings": [0] * len(hyps),
        "cells": cells,
        "catalogue_cells": float(catalogue_cells),
        "window": 2 * w + 1,
        "min_aligned": p.min_aligned_hashes,
        "min_salient_share": p.min_salient_share,
        "clump": p.clump_size,
        "shards": [shard.number],
        "candidates": [],
        "query_frames": q_frames,
    }
    pairs = fp.pairs
    if pairs is not None and segment is not None:
        inside = (pairs.anchor_frames >= f0) & (pairs.anchor_frames < f1)
        pairs = type(pairs)(*(arr[inside] for arr in (pairs.anchor_frames, pairs.anchor_semitones, pairs.df_semitones, pairs.dt_frames)))
    if pairs is None or pairs.anchor_frames.size == 0 or n_tracks == 0 or shard.hashes.size == 0:
        return ev

    # 1. keys of every (hypothesis, pair)
    keys, qt, hv = [], [], []
    for v, (pitch, tempo) in enumerate(hyps):
        h, ok = hash_pairs(pairs, p, pitch_semitones=pitch, tempo=tempo)
        # noise moves a peak by a frame: also dt +-1 when probing (same query frame, so a
        # probe and its original never count twice in the distinct-frame evidence)
        hh, tt = _probe_keys(h[ok], p, 0, pairs.anchor_frames[ok])
        keys.append(hh)
        qt.append(tt)
        hv.append(np.full(hh.size, v, dtype=np.int32))
    keys_a = np.concatenate(keys)
    qt_a = np.concatenate(qt).astype(np.int64)
    hv_a = np.concatenate(hv)
    if keys_a.size == 0:
        return ev

    # 2. look every key up: a gather in the shard's offset table (or binary searches)
    if shard.offsets is not None:
        lo = shard.offsets[keys_a].astype(np.int64)
        cnt = shard.offsets[keys_a.astype(np.int64) + 1].astype(np.int64) - lo
    else:
        uk, inv = np.unique(keys_a, return_inverse=True)
        lo_u = np.searchsorted(shard.hashes, uk, side="left")
        cnt = (np.searchsorted(shard.hashes, uk, side="right") - lo_u)[inv].astype(np.int64)
        lo = lo_u[inv].astype(np.int64)
    cnt[cnt > p.max_postings_per_key] = 0
    if cnt.sum() == 0:
        return ev

    # 3. every (query frame, posting) votes for an offset of its track under its
    #    hypothesis; a cell's evidence is the number of DISTINCT query frames voting for it:
    #    several pairs of one anchor frame hitting one reference frame (a broadband drum
    #    hit) are one piece of evidence, not many.
    ev["postings"] = [int(x) for x in np.bincount(hv_a, weights=cnt, minlength=len(hyps))]
    has = cnt > 0
    lo, cnt, hv_a, qt_a = lo[has], cnt[has], hv_a[has], qt_a[has]
    tempos = np.array([t for _, t in hyps])
    centre = f0 + q_frames // 2
    bias = int(q_frames * 0.6) + 4 * w + 8
    # per item: offset + bias = reference frame - shift
    shift = np.rint(tempos[hv_a] * (qt_a - centre)).astype(np.int64) - bias
    first = np.cumsum(cnt) - cnt
    total = int(cnt.sum())
    idx_t = np.int32 if total < (1 << 31) and shard.postings.size < (1 << 31) else np.int64
    pos = np.arange(total, dtype=idx_t)
    pos += np.repeat((lo - first).astype(idx_t), cnt)
    post = shard.postings[pos]
    tb = p.time_bits
    # offset + bias is in [0, 2**_OFFSET_BITS) by construction of bias; clip otherwise
    exact_range = int(shift.max()) <= 0 and int(shift.min()) > (1 << tb) - (1 << _OFFSET_BITS)
    if total > p.coarse_vote_above and exact_range:
        # Large catalogues: a linear-time coarse vote over (track, offset bin), all
        # hypotheses together, keeps only the postings near the strongest bins; the exact
        # vote below (a sort) then runs on a small fraction of them.
        keep_pos = _coarse_keep(post, np.repeat(shift.astype(np.int32), cnt), shard.track_frames, bias, p.coarse_bins_kept, tb)
        item = np.searchsorted(first, keep_pos, side="right") - 1
        post = post[keep_pos].astype(np.int64)
    else:
        item = np.repeat(np.arange(cnt.size), cnt)
        post = post.astype(np.int64)
    v_it = hv_a[item].astype(np.int64)
    q_item = qt_a[item]
    track = post >> tb
    off_b = (post & ((1 << tb) - 1)) - shift[item]
    if not exact_range:
        off_b = np.clip(off_b, 0, (1 << _OFFSET_BITS) - 1)
        if off_b.size > p.coarse_vote_above:
            keep = _coarse_filter(track, off_b, shard.track_frames, bias, p.coarse_bins_kept)
            v_it, q_item, track, off_b = v_it[keep], q_item[keep], track[keep], off_b[keep]
    cell = ((v_it * n_tracks + track) << _OFFSET_BITS) | off_b
    # one sort by (cell, query frame); the reference frame follows from both
    q_bits = max(1, int(q_frames).bit_length())
    key = _sorted_unique((cell << q_bits) | (q_item - f0))
    cell_s = key >> q_bits
    q_s = (key & ((1 << q_bits) - 1)) + f0
    v_s = (cell_s >> _OFFSET_BITS) // n_tracks
    r_s = (cell_s & ((1 << _OFFSET_BITS) - 1)) - bias + np.rint(tempos[v_s] * (q_s - centre)).astype(np.int64)

    # 4. distinct query frames per cell, summed over a +-w window of offsets
    fresh = np.ones(cell_s.size, dtype=bool)
    fresh[1:] = (cell_s[1:] != cell_s[:-1]) | (q_s[1:] != q_s[:-1])
    uv, vc = _sorted_unique(cell_s[fresh], counts=True)
    csum = np.concatenate([[0], np.cumsum(vc)])
    a = np.searchsorted(uv, uv - w, side="left")
    b = np.searchsorted(uv, uv + w, side="right")
    win = csum[b] - csum[a]

    # 5. best window per track (over hypotheses), strongest tracks first
    vt = uv >> _OFFSET_BITS  # hypothesis * n_tracks + track
    trk = vt % n_tracks
    strongest = np.argsort(-win, kind="stable")
    _, first_of_track = np.unique(trk[strongest], return_index=True)
    best_rows = strongest[np.sort(first_of_track)][: p.candidates_per_shard]

    fs = p.frame_seconds
    for r in best_rows:
        if int(win[r]) < 2:
            break
        v = int(vt[r] // n_tracks)
        t = int(trk[r])
        lo_i = np.searchsorted(cell_s, uv[r] - w, side="left")
        hi_i = np.searchsorted(cell_s, uv[r] + w, side="right")
        centre_off = int(uv[r] & ((1 << _OFFSET_BITS) - 1)) - bias
        qs = q_s[lo_i:hi_i]
        rs = r_s[lo_i:hi_i]
        # evidence = distinct query frames that also hit distinct reference frames
        n = int(min(_sorted_unique(qs).size, _sorted_unique(rs).size))
        pitch, tempo = hyps[v]
        fit_tempo, start_off = _fit(qs, rs, tempo, centre_off, centre)
        q_lo, q_hi = _span(qs, p.dt_max_frames)
        salient = confirmed = None
        if n >= p.min_aligned_hashes and fp.peaks is not None:
            # the content check judges every frame the alignment touches (as calibrated): a
            # narrower span would favour a loop that aligns only in its loudest run; and at
            # least min_content_span_s, so a short shared fragment is judged in its context
            salient, confirmed = _salient_content(
                fp, shard, p, (f0, f1), content_span(int(qs.min()), int(qs.max()), (f0, f1), p), pitch=pitch, tempo=tempo, track=t, cell_off=centre_off + bias, centre=centre, bias=bias
            )
        idx = np.argsort(qs, kind="stable")
        if idx.size > p.max_landmarks:
            idx = idx[np.linspace(0, idx.size - 1, p.max_landmarks).astype(int)]
        ev["candidates"].append(
            {
                "track_id": shard.track_ids[t],
                "metadata": shard.track_metadata[t],
                "aligned": n,
                "hypothesis": v,
                "pitch_semitones": pitch,
                "speed": fit_tempo,
                "offset_s": start_off * fs,
                "query_start_s": q_lo * fs,
                "matched_duration_s": (q_hi - q_lo) * fs,
                "landmarks": [[float(qs[i] * fs), float(rs[i] * fs)] for i in idx],
                "salient_peaks": salient,
                "salient_confirmed": confirmed,
            }
        )
    return ev


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


def _salient_content(
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
    or take what noise does to a peak (:func:`_probe_keys`), under this playback hypothesis,
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
    k, ai, tj = _probe_keys(h[valid].astype(np.int64), p, p.content_probe_df_cells, ai[valid], tj[valid])
    if shard.offsets is not None:
        start = shard.offsets[k].astype(np.int64)
        stop = shard.offsets[k + 1].astype(np.int64)
    else:
        start = np.searchsorted(shard.hashes, k, side="left").astype(np.int64)
        stop = np.searchsorted(shard.hashes, k, side="right").astype(np.int64)
    # the reference frame this pair's anchor must have at this alignment (see search_shard:
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


def _probe_keys(h: np.ndarray, p: AnalysisParams, df_cells: int, *payload: np.ndarray) -> tuple[np.ndarray, ...]:
    """Every key to look up for hashes ``h``, give or take what noise does to a peak: dt
    +-1 when probing (the search and the content check) and the pitch difference
    +-``df_cells`` quanta (the content check), inside the hash layout. Returns the keys (in
    ``h``'s dtype) and each ``payload`` array (per hash: its query frame, its peaks) aligned
    with them. Runs per hypothesis in the search: the masks are built once per shift."""
    dt_f = 1 << DT_BITS
    dtq = (h & (dt_f - 1)).astype(np.int64)
    dfq = ((h >> DT_BITS) & ((1 << DF_BITS) - 1)).astype(np.int64) if df_cells else None
    dt_ok = {d: (dtq + d >= 1) & (dtq + d <= p.dt_max_frames) for d in ((-1, 1) if p.probe_dt else ())}
    keys: list[np.ndarray] = []
    rows: list[list[np.ndarray]] = [[] for _ in payload]
    for d_df in range(-df_cells, df_cells + 1):
        df_ok = None if d_df == 0 else (dfq + d_df >= 0) & (dfq + d_df <= 2 * p.df_bias)
        for d_dt in (-1, 0, 1) if p.probe_dt else (0,):
            ok = dt_ok.get(d_dt)
            ok = df_ok if ok is None else (ok if df_ok is None else ok & df_ok)
            sel = h if ok is None else h[ok]  # no shift: the hash itself, valid by construction
            keys.append((sel.astype(np.int64) + (d_dt + d_df * dt_f)).astype(h.dtype) if (d_dt or d_df) else sel)
            for out, arr in zip(rows, payload):
                out.append(arr if ok is None else arr[ok])
    return (np.concatenate(keys), *(np.concatenate(r) for r in rows))


_COARSE_SHIFT = 3  # coarse offset bins of 8 frames (186 ms)


def _coarse_filter(track: np.ndarray, off_b: np.ndarray, track_frames: np.ndarray, bias: int, bins_kept: int) -> np.ndarray:
    """Mask of postings whose (track, 8-frame offset bin) is among the strongest pairs of
    adjacent bins (or next to them)."""
    span = ((track_frames + 2 * bias) >> _COARSE_SHIFT) + 3
    base = np.concatenate([[0], np.cumsum(span)[:-1]])
    cb = base[track] + (off_b >> _COARSE_SHIFT) + 1
    return _strongest_bins(cb, int(span.sum()), bins_kept)[cb]


def _coarse_keep(post: np.ndarray, shift: np.ndarray, track_frames: np.ndarray, bias: int, bins_kept: int, time_bits: int) -> np.ndarray:
    """:func:`_coarse_filter` on raw postings (offset + bias = frame - shift): the indices
    of the postings it keeps, with fewer passes over the (large) posting arrays."""
    span = ((track_frames + 2 * bias) >> _COARSE_SHIFT) + 3
    base = np.concatenate([[0], np.cumsum(span)[:-1]]).astype(np.int64) + 1
    cb = base[post >> np.uint32(time_bits)]
    off = (post & np.uint32((1 << time_bits) - 1)).view(np.int32)  # < 2**time_bits
    off -= shift
    off >>= _COARSE_SHIFT
    cb += off
    return np.flatnonzero(_strongest_bins(cb, int(span.sum()), bins_kept)[cb])


def _strongest_bins(cb: np.ndarray, n_bins: int, bins_kept: int) -> np.ndarray:
    """Mask over coarse bins: the strongest ~bins_kept pairs of adjacent bins (by a threshold
    on the count histogram, linear time) and their neighbours."""
    counts = np.bincount(cb, minlength=n_bins + 1)
    pair = counts[:-1] + counts[1:]
    hist = np.bincount(pair)
    at_least = np.cumsum(hist[::-1])[::-1]  # at_least[t] = bins with count >= t
    ok = np.flatnonzero(at_least <= 2 * bins_kept)
    threshold = max(1, int(ok[0]) if ok.size else hist.size)
    top = np.flatnonzero(pair >= threshold)
    chosen = np.zeros(counts.size + 2, dtype=bool)
    for d in (-1, 0, 1, 2):
        chosen[np.clip(top + d, 0, counts.size - 1)] = True
    return chosen


def _span(qs: np.ndarray, gap: int, min_hits: int = 3) -> tuple[int, int]:
    """The query frames the alignment covers: the largest run of aligned hashes (runs split
    where nothing aligns for more than ``gap`` frames), widened by the neighbouring runs of
    at least ``min_hits``. A stray chance hit seconds away does not stretch the matched
    duration a reviewer reads."""
    q = np.sort(qs)
    cut = np.flatnonzero(np.diff(q) > gap) + 1
    bounds = np.concatenate([[0], cut, [q.size]])
    sizes = np.diff(bounds)
    best = int(np.argmax(sizes))
    a = b = best
    while a > 0 and sizes[a - 1] >= min_hits:
        a -= 1
    while b < sizes.size - 1 and sizes[b + 1] >= min_hits:
        b += 1
    return int(q[bounds[a]]), int(q[bounds[b + 1] - 1])


def _fit(qs: np.ndarray, rs: np.ndarray, tempo: float, centre_off: int, centre: int) -> tuple[float, float]:
    """Least-squares tempo and start offset (frames) of aligned hashes; falls back to the
    hypothesis when the evidence spans too little time to measure a slope."""
    start = centre_off - tempo * centre
    if qs.size >= 8 and qs.max() - qs.min() >= 40:
        slope, intercept = np.polyfit(qs.astype(np.float64), rs.astype(np.float64), 1)
        if abs(slope - tempo) < 0.02:
            return float(slope), float(intercept)
    return float(tempo), float(start)


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


def segments(frame_count: int, params: AnalysisParams) -> list[tuple[int, int]]:
    """Long queries are searched in consecutive segments: memory and the offset range stay
    bounded, and each segment counts as one more test in the calibration."""
    seg = max(1, int(round(params.segment_seconds / params.frame_seconds)))
    n = max(1, frame_count)
    if n <= seg * 1.5:
        return [(0, n)]
    bounds = list(range(0, n, seg))
    if n - bounds[-1] < seg // 2:
        bounds.pop()
    return [(a, b) for a, b in zip(bounds, bounds[1:] + [n])]


def pool(evidences: list[dict]) -> dict:
    """Pool per-shard evidence of one query segment."""
    first = evidences[0]
    hyps = len(first["postings"])
    for e in evidences[1:]:
        if len(e["postings"]) != hyps or e["catalogue_cells"] != first["catalogue_cells"]:
            raise ValueError("results come from different indexes or different queries")
    return {
        "postings": [sum(e["postings"][v] for e in evidences) for v in range(hyps)],
        "cells": sum(e["cells"] for e in evidences),
        "catalogue_cells": first["catalogue_cells"],
        "window": first["window"],
        "min_aligned": first["min_aligned"],
        "min_salient_share": first.get("min_salient_share", 0.0),
        "clump": first.get("clump", 1.0),
        "shards": sorted(n for e in evidences for n in e["shards"]),
        "candidates": [c for e in evidences for c in e["candidates"]],
        "query_frames": first["query_frames"],
    }


def salient_share(candidate: dict) -> float | None:
    """Confirmed fraction of the query's salient peaks in the matched span; None when the
    evidence has no content check (an older engine) or the span holds no salient peak."""
    n = candidate.get("salient_peaks")
    if not n:
        return None
    return float(candidate.get("salient_confirmed") or 0) / float(n)


def decide(evidence: dict, *, query_duration_s: float, query_hashes: int, max_false_match_rate: float) -> QueryResult:
    """Calibrate every candidate against the pooled statistics and apply the threshold.

    ``evidence`` is ``{"segments": [pooled evidence per query segment]}``; a candidate's
    rate counts every segment searched (the multiplicity of a long query)."""
    segs = evidence["segments"]
    scored = []
    for ev in segs:
        for c in ev["candidates"]:
            rate = false_match_rate(
                c["aligned"], ev["postings"], ev["cells"], ev["catalogue_cells"], ev["window"], ev.get("clump", 1.0)
            )
            scored.append((rate * len(segs), -c["aligned"], c, ev.get("min_salient_share", 0.0)))
    ev = segs[0]
    scored.sort(key=lambda x: (x[0], x[1], x[2]["track_id"]))
    passing: list[Match] = []
    partial: dict[str, Match] = {}
    seen: set[str] = set()
    top_score = 0.0
    for rate, _, c, min_share in scored:
        if c["track_id"] in seen:
            continue  # a track answers once, with its strongest passing evidence
        top_score = max(top_score, score_of(rate))
        if rate > max_false_match_rate or c["aligned"] < ev["min_aligned"]:
            continue
        share = salient_share(c)
        m = _match(c, rate, share)
        if share is None or share >= min_share:
            seen.add(c["track_id"])
            passing.append(m)
        else:
            partial.setdefault(c["track_id"], m)
    best = passing[0] if passing else None
    return QueryResult(
        best=best,
        others=passing[1:],
        query_duration_s=query_duration_s,
        query_hashes=query_hashes,
        max_false_match_rate=max_false_match_rate,
        best_rejected_score=0.0 if best else top_score,
        evidence=evidence,
        partial=[m for t, m in partial.items() if t not in seen],
    )


def _match(c: dict, rate: float, share: float | None) -> Match:
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
    )

