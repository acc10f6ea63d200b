"""Triplet keys that do not move under a playback change (Panako-style), and the candidate
vote they feed: the wide search over speed, tempo and pitch.

A triplet is an anchor peak ``a`` and two later peaks ``b``, ``c`` near it. Its key holds

    bits 17..20  log2(t_c - t_a), in buckets of ``triplet_logdt_step`` octaves (coarse)
    bits 14..16  r = (t_b - t_a) / (t_c - t_a), in 8 levels
    bits  7..13  f_b - f_a, semitones / ``triplet_df_quantum`` + bias
    bits  0..6   f_c - f_a, likewise

Frequencies sit on a semitone axis, so a pitch shift or a resampling adds a constant to
every peak and leaves both differences alone; a time-stretch or a resampling scales every
time difference, so ``r`` stays and only the coarse log-dt field moves, by at most one
bucket either way over 0.72-1.40x: the query looks up a handful of keys per triplet, not
one per playback hypothesis. Each reference entry keeps its anchor's exact semitone and
``t_c - t_a`` (the payload), so each hit says which pitch shift and which tempo it implies;
hits vote in (track, tempo, pitch, offset) cells (:func:`vote`) and the strongest cells are
the candidates that :mod:`search` verifies with the pair hashes under their own playback.

Reference: J. Six, M. Leman, "Panako: a scalable acoustic fingerprinting system handling
time-scale and pitch modification", ISMIR 2014 (three-peak keys with a time ratio).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrays import unique_first
from .params import AnalysisParams

DF_BITS = 7
R_BITS = 3  # 8 levels: with 16, +-1 frame of noise crossed a level edge too often (true hits
#   62/41/65/55 -> 57/36/59/41 on one track's excerpts at 1.0/0.8/1.25/1.35x)
LOGDT_BITS = 4
KEY_BITS = 2 * DF_BITS + R_BITS + LOGDT_BITS  # 21
KEY_DTYPE = np.dtype("<u4")
FREF_SCALE = 16.0  # the payload's anchor semitone, in 1/16 semitone (uint16)


@dataclass(frozen=True)
class Triplets:
    """Triplets of one signal (continuous features; :func:`triplet_keys` quantises them)."""

    anchor_frames: np.ndarray  # int32
    anchor_semitones: np.ndarray  # float32
    df_b: np.ndarray  # float32, f_b - f_a semitones
    df_c: np.ndarray  # float32, f_c - f_a semitones
    dt_b: np.ndarray  # int32 frames, t_b - t_a
    dt_c: np.ndarray  # int32 frames, t_c - t_a (> dt_b)

    @property
    def size(self) -> int:
        return int(self.anchor_frames.size)


@dataclass(frozen=True)
class TripletEntries:
    """A reference's triplet entries, as a shard stores them: key, anchor frame and payload."""

    keys: np.ndarray  # KEY_DTYPE
    times: np.ndarray  # uint32 anchor frames
    fref: np.ndarray  # uint16: anchor semitone * FREF_SCALE
    dtc: np.ndarray  # uint8: t_c - t_a, frames


@dataclass(frozen=True)
class ShardTriplets:
    """One shard's triplet entries sorted by (key, posting), possibly memory-mapped."""

    keys: np.ndarray  # KEY_DTYPE, sorted
    postings: np.ndarray  # uint32: local track << time_bits | anchor frame
    fref: np.ndarray  # uint16
    dtc: np.ndarray  # uint8


def make_triplets(frames: np.ndarray, semitones: np.ndarray, params: AnalysisParams, *, query: bool) -> Triplets:
    """Every (a, b, c) with b, c among the next ``triplet_targets`` peaks after ``a`` (the
    query's ``triplet_query_targets``: denser peaks interleave) inside the zone: ``t_c - t_a``
    in [``triplet_min_dt``, ``triplet_max_dt``] frames (the query's bounds widened by the
    tempo range), ``t_a < t_b < t_c`` and both within ``triplet_df_max`` semitones of it. Peaks sorted by
    frame; time scaling and pitch shifts keep their order, so the same targets are chosen."""
    p = params
    f = np.asarray(frames, dtype=np.int64)
    s = np.asarray(semitones, dtype=np.float32)
    m = p.triplet_query_targets if query else p.triplet_targets
    lo_dt = p.triplet_min_dt / (p.triplet_max_tempo if query else 1.0)
    hi_dt = p.triplet_max_dt / (p.triplet_min_tempo if query else 1.0)
    n = f.size
    empty = Triplets(*(np.zeros(0, t) for t in (np.int32, np.float32, np.float32, np.float32, np.int32, np.int32)))
    if n < 3:
        return empty
    lim = p.triplet_df_max - 0.5 * p.triplet_df_quantum
    # targets: the next m peaks strictly later than the anchor, within the zone's time limit
    first_later = np.searchsorted(f, f, side="right")
    idx = first_later[:, None] + np.arange(m)[None, :]
    ok = idx < n
    idx = np.where(ok, idx, n - 1)
    dt = f[idx] - f[:, None]
    ok &= (dt >= 1) & (dt <= hi_dt) & (np.abs(s[idx] - s[:, None]) <= lim)
    jb, jc = np.triu_indices(m, 1)
    a = np.repeat(np.arange(n), jb.size)
    b = idx[:, jb].reshape(-1)
    c = idx[:, jc].reshape(-1)
    keep = (ok[:, jb] & ok[:, jc]).reshape(-1)
    a, b, c = a[keep], b[keep], c[keep]
    dtb, dtc = f[b] - f[a], f[c] - f[a]
    keep = (dtc > dtb) & (dtc >= lo_dt)
    a, b, c, dtb, dtc = a[keep], b[keep], c[keep], dtb[keep], dtc[keep]
    return Triplets(f[a].astype(np.int32), s[a], (s[b] - s[a]).astype(np.float32), (s[c] - s[a]).astype(np.float32),
                    dtb.astype(np.int32), dtc.astype(np.int32))


def _fields(tr: Triplets, p: AnalysisParams) -> tuple[np.ndarray, ...]:
    """Continuous field values (in quantum units): df_b, df_c, r, log-dt."""
    q = p.triplet_df_quantum
    r = tr.dt_b.astype(np.float64) / tr.dt_c
    return (tr.df_b / q, tr.df_c / q, r * (1 << R_BITS), np.log2(np.maximum(tr.dt_c, 1).astype(np.float64)) / p.triplet_logdt_step)


def _bias(p: AnalysisParams) -> int:
    return int(round(p.triplet_df_max / p.triplet_df_quantum))


def _pack(dfb: np.ndarray, dfc: np.ndarray, r: np.ndarray, lg: np.ndarray, p: AnalysisParams) -> tuple[np.ndarray, np.ndarray]:
    bias = _bias(p)
    b, c = dfb + bias, dfc + bias
    lg = lg - p.triplet_logdt_base
    ok = (b >= 0) & (b < (1 << DF_BITS)) & (c >= 0) & (c < (1 << DF_BITS)) & (r >= 0) & (r < (1 << R_BITS)) & (lg >= 0) & (lg < (1 << LOGDT_BITS))
    key = (lg << (2 * DF_BITS + R_BITS)) | (r << (2 * DF_BITS)) | (b << DF_BITS) | c
    return key.astype(np.int64), ok


def reference_entries(tr: Triplets, p: AnalysisParams) -> TripletEntries:
    """The entries a shard stores for a reference's triplets (nearest cell of every field),
    one per (key, anchor frame)."""
    dfb, dfc, r, lg = _fields(tr, p)
    key, ok = _pack(np.rint(dfb).astype(np.int64), np.rint(dfc).astype(np.int64), np.floor(r).astype(np.int64), np.floor(lg).astype(np.int64), p)
    ok &= tr.dt_c <= 255
    key, t = key[ok], tr.anchor_frames[ok].astype(np.int64)
    fref = np.clip(np.rint(tr.anchor_semitones[ok] * FREF_SCALE), 0, 65535).astype(np.uint16)
    dtc = tr.dt_c[ok].astype(np.uint8)
    _, first = unique_first((key << 32) | t)
    return TripletEntries(key[first].astype(KEY_DTYPE), t[first].astype(np.uint32), fref[first], dtc[first])


def query_keys(tr: Triplets, p: AnalysisParams) -> tuple[np.ndarray, np.ndarray]:
    """(keys, triplet index) to look up for a query's triplets: every log-dt bucket the
    reference's ``t_c - t_a`` can fall in over the tempo range, and for each other field its
    own cell plus the neighbour it lies within ``triplet_probe_margin`` of (noise moves a
    peak a frame or a fraction of a semitone)."""
    dfb, dfc, r, lg = _fields(tr, p)
    step = p.triplet_logdt_step
    lg_lo = np.floor(lg + np.log2(p.triplet_min_tempo) / step).astype(np.int64)
    lg_hi = np.floor(lg + np.log2(p.triplet_max_tempo) / step).astype(np.int64)
    idx = np.arange(tr.size)
    margin = p.triplet_probe_margin

    def cells(x: np.ndarray, rounding: bool) -> list[tuple[np.ndarray, np.ndarray]]:
        # (cell value, mask) alternatives: the cell, and the nearer neighbour when close
        base = np.rint(x) if rounding else np.floor(x)
        frac = x - base if rounding else x - base - 0.5  # in [-0.5, 0.5): distance from the cell's centre
        near = 0.5 - np.abs(frac) < margin
        return [(base.astype(np.int64), np.ones(x.size, bool)), ((base + np.where(frac >= 0, 1, -1)).astype(np.int64), near)]

    keys, which = [], []
    for vb, mb in cells(dfb, True):
        for vc, mc in cells(dfc, True):
            for vr, mr in cells(r, False):
                m = mb & mc & mr
                for d in range(int((lg_hi - lg_lo).max()) + 1 if tr.size else 0):
                    lgv = lg_lo + d
                    mm = m & (lgv <= lg_hi)
                    k, ok = _pack(vb[mm], vc[mm], vr[mm], lgv[mm], p)
                    keys.append(k[ok])
                    which.append(idx[mm][ok])
    if not keys:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(keys), np.concatenate(which)


def key_offsets(keys: np.ndarray) -> np.ndarray:
    """offsets[k]..offsets[k+1]: the range of key ``k`` in the sorted ``keys`` (a gather
    instead of a binary search)."""
    counts = np.bincount(np.asarray(keys, dtype=np.int64), minlength=1 << KEY_BITS)
    out = np.zeros((1 << KEY_BITS) + 1, dtype=np.uint32 if keys.size < (1 << 32) else np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def wide_hypothesis_count(p: AnalysisParams) -> int:
    """Playback hypotheses the wide search stands for, at the pair search's own resolution
    (``tempo_step``, ``pitch_step_semitones``) over the whole tempo x pitch rectangle: the
    multiplicity its candidates are calibrated with (Bonferroni over every cell of every
    hypothesis, although only a few are looked at)."""
    import math

    tempos = math.ceil(math.log(p.triplet_max_tempo / p.triplet_min_tempo) / math.log1p(p.tempo_step)) + 1
    pitches = math.ceil(2 * p.triplet_max_pitch / p.pitch_step_semitones) + 1
    return tempos * pitches
