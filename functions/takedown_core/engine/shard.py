"""One shard in memory and how a hash is looked up in it: the search and the content check
both read shards through this module.

A shard holds its hashes sorted with their postings aligned (``local track << time_bits |
frame``); :func:`hash_offsets` turns a lookup into a gather, and :func:`probe_keys` lists
the keys to look up for a query hash, give or take what noise does to a peak.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .extract import DF_BITS, DT_BITS
from .params import AnalysisParams
from .triplets import ShardTriplets


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
    # per local track, the reference frames the catalogue does not claim alone: (starts,
    # ends, is_exclusion, other track ids) arrays of its shared segments and exclusions,
    # inclusive frame ranges (see index.py); None = an index without such marks
    track_segments: list[tuple[np.ndarray, np.ndarray, np.ndarray, list[list[str]]]] | None = None
    # sorted postings (local track << time_bits | frame) of the anchor frames that another
    # track holds at a shared alignment (the self-match); None = not matched against itself
    shared: np.ndarray | None = None
    # the triplet entries of the wide search (triplets.py) and their key offsets; None = an
    # index built without them (the +-6 % search alone)
    triplets: ShardTriplets | None = None
    triplet_offsets: np.ndarray | None = None


def hash_offsets(hashes: np.ndarray, hash_bits: int = 21) -> np.ndarray:
    """offsets[h]..offsets[h+1] is the range of hash ``h`` in the sorted ``hashes``."""
    counts = np.bincount(np.asarray(hashes), minlength=1 << hash_bits)
    if counts.size != 1 << hash_bits:
        raise ValueError("a hash exceeds the hash layout")
    out = np.empty((1 << hash_bits) + 1, dtype=np.uint32 if hashes.size < (1 << 32) else np.int64)
    out[0] = 0
    np.cumsum(counts, out=out[1:])
    return out


def probe_keys(h: np.ndarray, p: AnalysisParams, df_cells: int, *payload: np.ndarray) -> tuple[np.ndarray, ...]:
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
