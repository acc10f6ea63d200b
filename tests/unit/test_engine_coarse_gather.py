"""The pair search's coarse vote gathered a chunk at a time (search._coarse_gather) keeps
exactly the postings the vote over everything at once (search._coarse_filter) keeps, for
any chunk size, and its memory does not grow with the gathered postings' working arrays: a
30 s segment's dense search retrieves up to ~80 M postings on a full shard, which gathered at
once took ~2 GB in a 3,008 MB shard function."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from takedown_core.engine.search import _coarse_filter, _coarse_gather

TIME_BITS = 18


def _shard_and_lookups(rng: np.random.Generator, n_lookups: int, max_cnt: int):
    """A sorted posting array (track << 18 | frame) and lookups into it, with a planted
    alignment (one track, one offset) among chance postings, as a copy's query retrieves."""
    n_tracks = int(rng.integers(3, 40))
    frames = rng.integers(2_000, 9_000, n_tracks)
    n_post = 50_000
    track = rng.integers(0, n_tracks, n_post)
    frame = rng.integers(0, frames[track])
    postings = np.sort((track.astype(np.uint32) << np.uint32(TIME_BITS)) | frame.astype(np.uint32))
    cnt = rng.integers(1, max_cnt + 1, n_lookups)
    lo = rng.integers(0, n_post - cnt)
    bias = 900
    shift = -rng.integers(0, 600, n_lookups) - bias  # frame - shift = offset + bias, as the search's
    # the planted copy: lookups whose range holds track 1 at frame = shift + bias + 3000
    hit = rng.choice(n_lookups, n_lookups // 5, replace=False)
    want = (np.uint32(1) << np.uint32(TIME_BITS)) | (shift[hit] + bias + 3000).astype(np.uint32)
    at = np.searchsorted(postings, want)
    ok = at < n_post
    postings[at[ok]] = want[ok]
    postings.sort()
    lo[hit[ok]] = np.searchsorted(postings, want[ok])
    cnt[hit[ok]] = np.minimum(cnt[hit[ok]], n_post - lo[hit[ok]])
    return postings, lo.astype(np.int64), cnt.astype(np.int64), shift.astype(np.int64), frames.astype(np.int64), bias


def _at_once(postings, lo, cnt, shift, frames, bias, bins_kept):
    item = np.repeat(np.arange(cnt.size), cnt)
    pos = np.concatenate([np.arange(a, a + c) for a, c in zip(lo, cnt)])
    post = postings[pos].astype(np.int64)
    off_b = (post & ((1 << TIME_BITS) - 1)) - shift[item]
    keep = _coarse_filter(post >> TIME_BITS, off_b, frames, bias, bins_kept)
    return item[keep], post[keep]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("chunk", [1, 37, 1_000, 1 << 23])
def test_chunked_coarse_vote_keeps_what_the_whole_vote_keeps(seed, chunk):
    rng = np.random.default_rng(seed)
    postings, lo, cnt, shift, frames, bias = _shard_and_lookups(rng, int(rng.integers(50, 3_000)), 40)
    want_item, want_post = _at_once(postings, lo, cnt, shift, frames, bias, 6)
    item, post = _coarse_gather(postings, lo, cnt, shift, frames, bias, 6, TIME_BITS, chunk=chunk)
    assert post.dtype == np.int64
    np.testing.assert_array_equal(item, want_item)
    np.testing.assert_array_equal(post, want_post)
    assert 0 < post.size < cnt.sum()  # the vote kept the copy's neighbourhood, not everything


def test_chunked_coarse_vote_memory_is_bins_and_mask_plus_one_chunk():
    rng = np.random.default_rng(7)
    postings, lo, cnt, shift, frames, bias = _shard_and_lookups(rng, 60_000, 100)
    total = int(cnt.sum())  # ~3 M postings
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        item, _ = _coarse_gather(postings, lo, cnt, shift, frames, bias, 6, TIME_BITS, chunk=1 << 16)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    # 8 bytes of coarse bin and 1 of mask per posting, 32 per kept posting (its index, its
    # lookup, its posting and a temporary), the rest bounded by the chunk (~30 bytes per
    # posting of it); the whole gather at once held ~26 bytes per posting
    assert item.size < total / 4
    assert peak < 9 * total + 32 * item.size + 30 * (1 << 16) + 2_000_000, (peak / total, item.size / total)
