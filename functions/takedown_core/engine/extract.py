"""Spectral peaks -> landmark pairs -> 32-bit hashes. Pure numpy, vectorised, block-wise.

Hash layout (uint32, 21 bits used):

    bits 13..20  anchor frequency, semitones above ``fmin_hz`` / ``f_quantum_semitones``
    bits  6..12  target - anchor frequency, semitones / ``df_quantum_semitones`` + bias
    bits  0..5   target - anchor time, frames (1..63)

Frequencies live on a semitone (log) axis, so a pitch shift or a speed change moves only the
anchor field by a constant and leaves the difference field alone; a tempo change scales dt.
The query keeps the continuous pair features (:class:`QueryPairs`) so it can be re-hashed
under each playback hypothesis without picking peaks again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrays import sorted_unique
from .params import DEFAULT_PARAMS, AnalysisParams
from .triplets import TripletEntries, make_triplets, reference_entries

HASH_DTYPE = np.dtype("<u4")
TIME_DTYPE = np.dtype("<u4")
DT_BITS = 6
DF_BITS = 7
F_BITS = 8
_BLOCK_FRAMES = 2048  # frames analysed at once (47 s): bounds memory on long uploads
_FFT_CHUNK = 128  # frames transformed at once (keeps the FFT's working set in cache)


@dataclass(frozen=True)
class Peaks:
    """Spectral peaks sorted by (frame, semitone)."""

    frames: np.ndarray  # int32, frame index (time = frame * hop / sample_rate)
    semitones: np.ndarray  # float32, continuous, above fmin_hz
    salience: np.ndarray  # float32, dB above the bin's running mean


@dataclass(frozen=True)
class QueryPairs:
    """Continuous pair features, so a query can be re-hashed per playback hypothesis."""

    anchor_frames: np.ndarray  # int32
    anchor_semitones: np.ndarray  # float32
    df_semitones: np.ndarray  # float32
    dt_frames: np.ndarray  # int32


@dataclass(frozen=True)
class Fingerprint:
    """Hashes of one signal. ``hashes[i]`` was seen at frame ``times[i]`` (its anchor)."""

    hashes: np.ndarray  # HASH_DTYPE
    times: np.ndarray  # TIME_DTYPE, frames
    duration_s: float
    frame_count: int
    peak_count: int
    pairs: QueryPairs | None = None  # present for query fingerprints
    peaks: Peaks | None = None  # present for query fingerprints (the content check)
    # query fingerprints: the denser peaks (params.derivative_peaks_per_s, a superset of
    # ``peaks``) that the search for our recording under louder material pairs and hashes;
    # None when the index has no such search (params.derivative_peaks_per_s not above
    # query_peaks_per_s)
    dense_peaks: Peaks | None = None
    # reference fingerprints of params with wide_search: the triplet entries (triplets.py)
    triplets: TripletEntries | None = None

    def __len__(self) -> int:
        return int(self.hashes.size)


# --------------------------------------------------------------------------- filters


def _sliding_max(x: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """Max over a centred window of 2*radius+1 along ``axis`` (edges padded with -inf)."""
    if radius <= 0:
        return x
    x = np.moveaxis(x, axis, 0)
    n = x.shape[0]
    pad = np.full((radius,) + x.shape[1:], -np.inf, dtype=x.dtype)
    y = np.concatenate([pad, x, pad], axis=0)
    # doubling: m_k = max over windows of length 2**k
    out = y.copy()
    width = 1
    target = 2 * radius + 1
    while width * 2 <= target:
        out[: y.shape[0] - width] = np.maximum(out[: y.shape[0] - width], out[width:])
        width *= 2
    if width < target:
        rest = target - width
        out[: y.shape[0] - rest] = np.maximum(out[: y.shape[0] - rest], out[rest : rest + y.shape[0] - rest])
    return np.moveaxis(out[:n], 0, axis)


def _running_mean(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a centred window of 2*radius+1 frames along axis 0 (edges shrink)."""
    n = x.shape[0]
    c = np.zeros((n + 1,) + x.shape[1:], dtype=np.float64)
    np.cumsum(x, axis=0, out=c[1:])
    idx = np.arange(n)
    lo = np.clip(idx - radius, 0, n)
    hi = np.clip(idx + radius + 1, 0, n)
    return ((c[hi] - c[lo]) / (hi - lo)[:, None]).astype(np.float32)


# --------------------------------------------------------------------------- peaks


def _frames_count(n_samples: int, hop: int) -> int:
    return max(0, (n_samples + hop - 1) // hop)


def _log_spectrum(samples: np.ndarray, start: int, stop: int, p: AnalysisParams, k_lo: int, k_hi: int) -> np.ndarray:
    """dB power of frames [start, stop) for bins [k_lo, k_hi), relative to a full-scale sine."""
    half = p.n_fft // 2
    a = start * p.hop - half
    b = (stop - 1) * p.hop + half
    seg = np.zeros(b - a, dtype=np.float32)
    lo, hi = max(a, 0), min(b, samples.size)
    if hi > lo:
        seg[lo - a : hi - a] = samples[lo:hi]
    frames = np.lib.stride_tricks.sliding_window_view(seg, p.n_fft)[:: p.hop][: stop - start]
    window = np.hanning(p.n_fft + 1)[:-1].astype(np.float32)
    ref = np.float32((p.n_fft / 4.0) ** 2)  # power of a full-scale sine at its bin
    out = np.empty((frames.shape[0], k_hi - k_lo), dtype=np.float32)
    # a few hundred frames at a time: the whole block's spectrum (tens of MB) would leave
    # the cache between the FFT and the next step, which made the FFT 3x slower (measured)
    for i in range(0, frames.shape[0], _FFT_CHUNK):
        spec = np.fft.rfft(frames[i : i + _FFT_CHUNK] * window, axis=1)[:, k_lo:k_hi]
        power = np.square(spec.real) + np.square(spec.imag)
        power /= ref
        power += np.float32(1e-12)
        np.log10(power, out=out[i : i + _FFT_CHUNK])
    out *= np.float32(10.0)
    np.maximum(out, np.float32(p.spectrum_floor_dbfs), out=out)  # codec holes = quiet content
    return out


class _LogGrid:
    """Maps the linear spectrum onto a semitone grid: interpolated where linear bins are
    sparser than the grid (low frequencies), max-pooled where they are denser (high)."""

    def __init__(self, p: AnalysisParams) -> None:
        cells_per_st = p.log_cells_per_semitone
        n_cells = int(np.floor(12 * np.log2(p.fmax_hz / p.fmin_hz) * cells_per_st)) + 1
        j = np.arange(n_cells)
        hz_per_bin = p.sample_rate / p.n_fft
        centre = p.fmin_hz * 2 ** (j / (12 * cells_per_st)) / hz_per_bin  # fractional bins
        edges = p.fmin_hz * 2 ** ((np.arange(n_cells + 1) - 0.5) / (12 * cells_per_st)) / hz_per_bin
        self.k_lo = int(np.floor(edges[0])) - 1
        self.k_hi = int(np.ceil(edges[-1])) + 2
        lo = np.ceil(edges[:-1]).astype(np.int64)
        hi = np.ceil(edges[1:]).astype(np.int64)
        self.pooled = hi > lo
        c = centre - self.k_lo
        self.i0 = np.floor(c).astype(np.int64)
        self.w = (c - self.i0).astype(np.float32)
        self.first_pooled = int(np.argmax(self.pooled)) if self.pooled.any() else n_cells
        self.starts = (lo[self.first_pooled :] - self.k_lo).astype(np.int64)
        self.stop = int(hi[-1] - self.k_lo)
        self.lo, self.hi = lo, hi
        self.n_cells = n_cells

    def apply(self, L: np.ndarray) -> np.ndarray:
        out = L[:, self.i0] * (1 - self.w) + L[:, self.i0 + 1] * self.w
        if self.first_pooled < self.n_cells:
            pooled = np.maximum.reduceat(L[:, : self.stop], self.starts, axis=1)
            sel = self.pooled[self.first_pooled :]
            out[:, self.first_pooled :][:, sel] = pooled[:, sel]
        return out


_GRIDS: dict[AnalysisParams, _LogGrid] = {}


def _grid(p: AnalysisParams) -> _LogGrid:
    g = _GRIDS.get(p)
    if g is None:
        g = _GRIDS[p] = _LogGrid(p)
    return g


def find_peaks(
    samples: np.ndarray,
    params: AnalysisParams = DEFAULT_PARAMS,
    *,
    peaks_per_s: float | None = None,
    query: bool = False,
    dense_per_s: float | None = None,
) -> Peaks | tuple[Peaks, Peaks]:
    """Salient local maxima of the whitened log spectrogram, density-capped. ``query``: the
    query's (smaller) neighbourhood, ``query_peak_radius_*``, instead of ``peak_radius_*``.
    With ``dense_per_s`` also the same maxima capped at that (higher) density: (peaks,
    dense peaks), the first a subset of the second (a peak with fewer than N stronger
    neighbours has fewer than M > N)."""
    p = params
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    n_frames = _frames_count(x.size, p.hop)
    g = _grid(p)
    wr = max(1, int(round(p.whiten_seconds / p.frame_seconds / 2)))
    rt = p.query_peak_radius_frames if query else p.peak_radius_frames
    rf = p.query_peak_radius_cells if query else p.peak_radius_cells
    halo = wr + rt + 1
    hz_per_bin = p.sample_rate / p.n_fft
    out_f, out_st, out_s = [], [], []
    for a in range(0, n_frames, _BLOCK_FRAMES):
        b = min(n_frames, a + _BLOCK_FRAMES)
        a0, b0 = max(0, a - halo), min(n_frames, b + halo)
        Lin = _log_spectrum(x, a0, b0, p, g.k_lo, g.k_hi)
        L = g.apply(Lin)
        W = L - _running_mean(L, wr)
        m = _sliding_max(_sliding_max(W, rt, 0), rf, 1)
        core = slice(a - a0, b - a0)
        is_peak = (W[core] >= m[core]) & (L[core] >= p.min_level_dbfs) & (W[core] >= p.min_salience_db)
        is_peak[:, 0] = False
        is_peak[:, -1] = False
        t, j = np.nonzero(is_peak)
        if t.size == 0:
            continue
        tt = t + (a - a0)
        # refine on the linear spectrum: strongest linear bin in (or nearest to) the cell
        k_best = np.clip(np.rint(g.i0[j] + g.w[j]).astype(np.int64), 1, Lin.shape[1] - 2)
        v_best = Lin[tt, k_best]
        lo = g.lo[j] - g.k_lo
        hi = g.hi[j] - g.k_lo
        width = int((hi - lo).max()) if hi.size else 0
        for off in range(width):
            k = lo + off
            ok = (k < hi) & (k >= 1) & (k <= Lin.shape[1] - 2)
            kk = np.clip(k, 1, Lin.shape[1] - 2)
            v = Lin[tt, kk]
            better = ok & (v > v_best)
            k_best = np.where(better, kk, k_best)
            v_best = np.where(better, v, v_best)
        y0, y1, y2 = Lin[tt, k_best - 1], Lin[tt, k_best], Lin[tt, k_best + 1]
        den = y0 - 2 * y1 + y2
        delta = np.where(den < 0, 0.5 * (y0 - y2) / np.where(den < 0, den, -1), 0.0)
        fbin = k_best + g.k_lo + np.clip(delta, -0.5, 0.5)
        out_f.append((t + a).astype(np.int32))
        out_st.append((12.0 * np.log2(np.maximum(fbin, 0.5) * hz_per_bin / p.fmin_hz)).astype(np.float32))
        out_s.append(W[tt, j].astype(np.float32))
    if not out_f:
        empty = np.zeros(0, np.float32)
        none = Peaks(np.zeros(0, np.int32), empty, empty)
        return none if dense_per_s is None else (none, none)
    frames = np.concatenate(out_f)
    semis = np.concatenate(out_st)
    sal = np.concatenate(out_s)
    keep = _per_frame_cap(frames, sal, p.max_peaks_per_frame)
    frames, semis, sal = frames[keep], semis[keep], sal[keep]
    capped = _sorted_peaks(frames, semis, sal, _density_cap(frames, sal, peaks_per_s or p.ref_peaks_per_s, p))
    if dense_per_s is None:
        return capped
    return capped, _sorted_peaks(frames, semis, sal, _density_cap(frames, sal, dense_per_s, p))


def _sorted_peaks(frames: np.ndarray, semis: np.ndarray, sal: np.ndarray, keep: np.ndarray) -> Peaks:
    frames, semis, sal = frames[keep], semis[keep], sal[keep]
    order = np.lexsort((semis, frames))
    return Peaks(frames[order], semis[order], sal[order])


def _per_frame_cap(frames: np.ndarray, salience: np.ndarray, cap: int) -> np.ndarray:
    """Keep the ``cap`` most salient peaks of each frame: a broadband drum hit would
    otherwise spend the whole budget on one instant."""
    order = np.lexsort((-salience, frames))
    f = frames[order]
    start = np.ones(f.size, dtype=bool)
    start[1:] = f[1:] != f[:-1]
    group_first = np.maximum.accumulate(np.where(start, np.arange(f.size), 0))
    rank = np.arange(f.size) - group_first
    keep = np.zeros(f.size, dtype=bool)
    keep[order[rank < cap]] = True
    return keep


def _density_cap(frames: np.ndarray, salience: np.ndarray, per_s: float, p: AnalysisParams) -> np.ndarray:
    """Keep a peak if fewer than ``per_s * window`` stronger peaks lie in its centred window.

    A sliding (not blocked) window, so the choice around a peak does not depend on where the
    excerpt starts: the same ranking on a denser cap keeps a superset.
    """
    n = frames.size
    order = np.argsort(frames, kind="stable")
    f = frames[order]
    s = salience[order]
    half = max(1, int(round(p.density_window_s / p.frame_seconds / 2)))
    budget = per_s * p.density_window_s
    lo = np.searchsorted(f, f - half, side="left")
    hi = np.searchsorted(f, f + half, side="right")
    stronger = np.zeros(n, dtype=np.int32)
    width = int((hi - lo).max()) if n else 0
    idx = np.arange(n)
    for off in range(-width, width + 1):
        if off == 0:
            continue
        j = idx + off
        ok = (j >= lo) & (j < hi)
        jj = np.clip(j, 0, n - 1)
        # ties broken by position so equal saliences do not all survive or all die
        beats = (s[jj] > s) | ((s[jj] == s) & (jj < idx))
        stronger += ok & beats
    keep = np.zeros(n, dtype=bool)
    keep[order[stronger < budget]] = True
    return keep


# --------------------------------------------------------------------------- pairs / hashes


def make_pairs(peaks: Peaks, params: AnalysisParams, fanout: int) -> QueryPairs:
    """Pair each anchor with its ``fanout`` nearest later peaks inside the target zone."""
    p = params
    n = peaks.frames.size
    if n < 2:
        z = np.zeros(0, np.int32)
        return QueryPairs(z, np.zeros(0, np.float32), np.zeros(0, np.float32), z)
    f, s = peaks.frames, peaks.semitones
    # how far ahead (in peak index) the target zone can reach
    reach_end = np.searchsorted(f, f + p.dt_max_frames, side="right")
    width = int((reach_end - np.arange(n)).max())
    ai_list, tj_list = [], []
    taken = np.zeros(n, dtype=np.int32)
    idx = np.arange(n)
    for off in range(1, width + 1):
        j = idx + off
        ok = j < n
        jj = np.where(ok, j, 0)
        dt = f[jj] - f
        ok &= (dt >= 1) & (dt <= p.dt_max_frames) & (np.abs(s[jj] - s) <= p.df_max_semitones - 0.5 * p.df_quantum_semitones)
        ok &= taken < fanout
        if not ok.any():
            if (f[np.minimum(idx + off, n - 1)] - f > p.dt_max_frames).all():
                break
            continue
        taken += ok
        ai_list.append(idx[ok])
        tj_list.append(jj[ok])
    if not ai_list:
        z = np.zeros(0, np.int32)
        return QueryPairs(z, np.zeros(0, np.float32), np.zeros(0, np.float32), z)
    ai = np.concatenate(ai_list)
    tj = np.concatenate(tj_list)
    order = np.argsort(ai, kind="stable")
    ai, tj = ai[order], tj[order]
    return QueryPairs(
        anchor_frames=f[ai].astype(np.int32),
        anchor_semitones=s[ai].astype(np.float32),
        df_semitones=(s[tj] - s[ai]).astype(np.float32),
        dt_frames=(f[tj] - f[ai]).astype(np.int32),
    )


def hash_pairs(
    pairs: QueryPairs, params: AnalysisParams, *, pitch_semitones: float = 0.0, tempo: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of ``pairs`` as the reference would have them if the query was pitch-shifted by
    ``pitch_semitones`` and played ``tempo`` times faster. Returns (hashes, valid_mask)."""
    p = params
    fq = np.rint((pairs.anchor_semitones - pitch_semitones) / p.f_quantum_semitones).astype(np.int64)
    dfq = np.rint(pairs.df_semitones / p.df_quantum_semitones).astype(np.int64) + p.df_bias
    dtq = np.rint(pairs.dt_frames * tempo).astype(np.int64)
    valid = (fq >= 0) & (fq < min(p.f_levels, 1 << F_BITS)) & (dtq >= 1) & (dtq <= min(p.dt_max_frames, (1 << DT_BITS) - 1))
    valid &= (dfq >= 0) & (dfq <= 2 * p.df_bias) & (dfq < (1 << DF_BITS))
    h = (fq << (DF_BITS + DT_BITS)) | (dfq << DT_BITS) | dtq
    return h.astype(HASH_DTYPE), valid


def extract(samples: np.ndarray, params: AnalysisParams = DEFAULT_PARAMS, *, role: str = "reference") -> Fingerprint:
    """Fingerprint mono float32 ``samples`` at ``params.sample_rate``.

    ``role="reference"`` gives the sparse hashes an index stores; ``role="query"`` gives a
    denser set and keeps the pair features for re-hashing under playback hypotheses.
    """
    if role not in ("reference", "query"):
        raise ValueError("role must be 'reference' or 'query'")
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    query = role == "query"
    dense = None
    if query and params.derivative_peaks_per_s > params.query_peaks_per_s:
        peaks, dense = find_peaks(x, params, peaks_per_s=params.query_peaks_per_s, query=True, dense_per_s=params.derivative_peaks_per_s)
    else:
        peaks = find_peaks(x, params, peaks_per_s=params.query_peaks_per_s if query else params.ref_peaks_per_s, query=query)
    return fingerprint_peaks(
        peaks, params, role=role, duration_s=x.size / params.sample_rate, frame_count=_frames_count(x.size, params.hop), dense_peaks=dense
    )


def fingerprint_peaks(
    peaks: Peaks, params: AnalysisParams, *, role: str, duration_s: float, frame_count: int, dense_peaks: Peaks | None = None
) -> Fingerprint:
    """The second half of :func:`extract`: pair and hash ``peaks`` (sorted by frame). A shard
    function rebuilds a query sent as peaks with it, so both ends derive the same query.
    ``dense_peaks`` (a query's) ride along, paired only when searched (:func:`dense`)."""
    query = role == "query"
    pairs = make_pairs(peaks, params, params.query_fanout if query else params.ref_fanout)
    hashes, valid = hash_pairs(pairs, params)
    times = pairs.anchor_frames[valid].astype(TIME_DTYPE)
    hashes = hashes[valid]
    if not query:
        # one entry per (hash, time): duplicates add nothing but chance alignments
        key = (hashes.astype(np.uint64) << np.uint64(32)) | times.astype(np.uint64)
        key = sorted_unique(key)
        hashes = (key >> np.uint64(32)).astype(HASH_DTYPE)
        times = (key & np.uint64(0xFFFFFFFF)).astype(TIME_DTYPE)
    return Fingerprint(
        hashes=hashes,
        times=times,
        duration_s=duration_s,
        frame_count=frame_count,
        peak_count=int(peaks.frames.size),
        pairs=pairs if query else None,
        peaks=peaks if query else None,
        dense_peaks=dense_peaks if query else None,
        triplets=_reference_triplets(peaks, params) if not query and params.wide_search else None,
    )


def _reference_triplets(peaks: Peaks, params: AnalysisParams) -> TripletEntries:
    """The triplet entries of a reference: its most salient peaks only
    (``triplet_ref_peaks_per_s``), so that a query's own peaks, capped per second of *its*
    time, still hold them when it plays up to 1.4x faster (fewer peaks per second of the
    reference)."""
    keep = _density_cap(peaks.frames, peaks.salience, params.triplet_ref_peaks_per_s, params)
    return reference_entries(make_triplets(peaks.frames[keep], peaks.semitones[keep], params, query=False), params)


def dense(fp: Fingerprint, params: AnalysisParams) -> Fingerprint:
    """The query fingerprint of ``fp``'s dense peaks (paired and hashed like any query);
    its ``peaks`` stay ``fp``'s own, so the content check judges the same prominent sound."""
    if fp.dense_peaks is None:
        raise ValueError("this query fingerprint has no dense peaks")
    d = fingerprint_peaks(fp.dense_peaks, params, role="query", duration_s=fp.duration_s, frame_count=fp.frame_count)
    return Fingerprint(d.hashes, d.times, d.duration_s, d.frame_count, d.peak_count, pairs=d.pairs, peaks=fp.peaks)
