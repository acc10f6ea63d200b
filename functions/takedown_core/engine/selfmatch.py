"""The catalogue matched against itself, at build time: which segments of a reference another
reference also holds.

A label's recordings share material: an album's segue (one track's ending is the next one's
opening), a loop or sample from a library used in two productions, a remaster beside its
original. A partial match (our recording under other material) that rests only on such a
segment says nothing about *which* of our recordings an upload uses, and for a library
loop nothing about rights we hold alone, so :func:`verdict.judge` does not let it open a
case; it names the tracks instead.

Each track's reference hashes are looked up in every other track's (no playback
hypotheses: shared material is the same recording at the same speed; hashes with more than
``self_match_max_postings`` postings carry no evidence and are skipped) and vote for
(other track, offset), counting distinct anchor frames within +-``offset_window_frames``,
as the search does. An offset whose count is past the chance bar (the verdict's calibrated
``false_match_rate`` over the whole catalogue at ``self_match_max_false_match_rate`` per
track) is a shared alignment; the track's anchor frames in it form its shared segments
(runs with no gap longer than a pair's reach, ``dt_max_frames``). Two tracks aligned over
at least ``version_cover`` of the shorter one's seconds at one offset are versions of one
recording (a remaster, an edit) rather than two pieces sharing a segment: they are listed
as ``versions`` and mark no segments (a match answers with both anyway, as near-duplicates).
"""

from __future__ import annotations

import numpy as np

from .extract import DF_BITS, DT_BITS, F_BITS
from .params import AnalysisParams
from .shard import hash_offsets
from .verdict import false_match_rate

_D_BITS = 20  # offset + 2**19 in the vote key (frames are < 2**18)
_BUCKETS = 1 << 20  # hashed (track, coarse offset) buckets of the first pass


def self_match(hashes: list[np.ndarray], times: list[np.ndarray], frames: list[int], params: AnalysisParams) -> list[dict]:
    """Per track (in order): ``{"shared": {other index: [(first, last) anchor frames]},
    "frames": sorted anchor frames (int64) whose hashes another track holds at a shared
    alignment, "versions": [other index]}``. The frames decide (a partial match's aligned
    frame counts as shared when its reference frame is one of them: within a shared loop,
    the track's own melody stays its own); the runs name the tracks for people."""
    p = params
    n = len(hashes)
    out: list[dict] = [{"shared": {}, "frames": np.zeros(0, np.int64), "versions": []} for _ in range(n)]
    if n < 2:
        return out
    sizes = np.array([h.size for h in hashes], dtype=np.int64)
    all_h = np.concatenate(hashes)
    order = np.argsort(all_h, kind="stable")
    # a lookup is a gather in the offset table, as in a shard (binary searches in tens of
    # millions of hashes took 40 % of the time)
    offsets = hash_offsets(all_h[order], DF_BITS + DT_BITS + F_BITS).astype(np.int64)
    del all_h
    # the whole catalogue's postings, in hash order: track << 18 | frame
    post = (np.repeat(np.arange(n, dtype=np.int64), sizes) << 18 | np.concatenate(times).astype(np.int64))[order]
    del order
    total_frames = float(sum(frames))
    w = p.offset_window_frames
    window = 2 * w + 1
    sec = max(1, int(round(1.0 / p.frame_seconds)))
    for a in range(n):
        h, fa = hashes[a], times[a].astype(np.int64)
        if h.size == 0:
            continue
        lo = offsets[h]
        cnt = offsets[h.astype(np.int64) + 1] - lo
        cnt[cnt > p.self_match_max_postings] = 0
        total = int(cnt.sum())
        if total == 0:
            continue
        item = np.repeat(np.arange(h.size), cnt)
        pos = lo[item] + (np.arange(total) - (np.cumsum(cnt) - cnt)[item])
        hit = post[pos]
        keep = (hit >> 18) != a
        item, hit = item[keep], hit[keep]
        postings = int(item.size)
        if postings == 0:
            continue
        bar = _min_count(postings, total_frames + n * frames[a], window, p)
        # (other track, offset) of every pair, offsets biased to stay positive
        other = hit >> 18
        off = (hit & ((1 << 18) - 1)) - fa[item] + (1 << (_D_BITS - 1))
        # a cheap first pass, a superset of what the exact count below keeps: an offset
        # whose +-w window holds `bar` distinct anchor frames has `bar` pairs in at most two
        # coarse bins of 4 offsets, so half of them in one, whose hashed bucket then counts
        # at least as many (collisions only add). Sorting every pair took most of the time.
        coarse = off >> 2
        counts = np.bincount(_bucket(other, coarse), minlength=_BUCKETS)
        hot = counts >= (bar + 1) // 2
        near = hot[_bucket(other, coarse)] | hot[_bucket(other, coarse - 1)] | hot[_bucket(other, coarse + 1)]
        if not near.any():
            continue
        key, anchor = (other[near] << _D_BITS) | off[near], fa[item[near]]
        # distinct anchor frames per key, summed over +-w
        pair = np.sort((key << 18) | anchor)
        pair = pair[np.append(True, pair[1:] != pair[:-1])]
        cell, anchor = pair >> 18, pair & ((1 << 18) - 1)
        uk, first = _unique_sorted(cell)
        counts = np.diff(np.append(first, cell.size))
        csum = np.concatenate([[0], np.cumsum(counts)])
        win = csum[np.searchsorted(uk, uk + w, side="right")] - csum[np.searchsorted(uk, uk - w, side="left")]
        strong = uk[win >= bar]
        if strong.size == 0:
            continue
        # every vote within +-w of a strong offset belongs to a shared alignment
        near = _within(cell, strong, w)
        shared_t = cell[near] >> _D_BITS
        shared_f = anchor[near]
        marked = []
        for b in np.unique(shared_t).tolist():
            frames_b = np.unique(shared_f[shared_t == b])
            # versions: one offset covers most of the shorter track
            mine = (uk >> _D_BITS) == b
            top = uk[mine][int(np.argmax(win[mine]))]
            widest = np.unique(anchor[np.abs(cell - top) <= w] // sec).size
            shorter = min(frames[a], frames[b]) // sec + 1
            if widest >= p.version_cover * shorter:
                out[a]["versions"].append(int(b))
                continue
            out[a]["shared"][int(b)] = _runs(frames_b, p.dt_max_frames, p.min_aligned_hashes)
            marked.append(frames_b)
        if marked:
            out[a]["frames"] = np.unique(np.concatenate(marked))
    return out


def _bucket(track: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """A (track, coarse offset) pair hashed to one of ``_BUCKETS`` (multiplicative hashing)."""
    return ((track * 0x9E3779B1 + coarse * 0x85EBCA77) >> 7) & (_BUCKETS - 1)


def _unique_sorted(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of sorted ``a`` and where each first occurs (np.unique without its
    hash table, which numpy 2 uses and which is far slower on large int64 arrays)."""
    first = np.flatnonzero(np.append(True, a[1:] != a[:-1])) if a.size else np.zeros(0, np.int64)
    return a[first], first


def _within(values: np.ndarray, centres: np.ndarray, radius: int) -> np.ndarray:
    """Mask of ``values`` within ``radius`` of some sorted ``centres``."""
    at = np.searchsorted(centres, values)
    below = centres[np.maximum(at - 1, 0)]
    above = centres[np.minimum(at, centres.size - 1)]
    return (np.abs(values - below) <= radius) | (np.abs(values - above) <= radius)


def _min_count(postings: int, cells: float, window: int, p: AnalysisParams) -> int:
    """The least aligned count whose chance rate, over the whole catalogue, is under the bar."""
    n = p.min_aligned_hashes
    while n < 10_000:
        if false_match_rate(n, [postings], cells, cells, window, p.clump_size) <= p.self_match_max_false_match_rate:
            return n
        n += 1
    return n


def _runs(frames: np.ndarray, gap: int, min_hits: int) -> list[tuple[int, int]]:
    """Runs of sorted ``frames`` split where nothing aligns for more than ``gap`` frames,
    each with at least ``min_hits`` anchor frames: (first, last)."""
    if frames.size == 0:
        return []
    cut = np.flatnonzero(np.diff(frames) > gap) + 1
    bounds = np.concatenate([[0], cut, [frames.size]])
    return [(int(frames[s]), int(frames[e - 1])) for s, e in zip(bounds[:-1], bounds[1:]) if e - s >= min_hits]
