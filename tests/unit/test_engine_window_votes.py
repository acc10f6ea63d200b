"""The wide search's neighbourhood vote (search._window_votes) equals the plain sum over
all 27 neighbours of every occupied cell, including cells that share a neighbour; the exact
prefilter before it (search._could_reach) drops no hit that a reachable window needs; and
search._distinct maps the verification's lookups to distinct keys."""

from __future__ import annotations

import numpy as np
import pytest

from takedown_core.engine.search import _could_reach, _distinct, _window_votes


def _brute(uc: np.ndarray, votes: np.ndarray, p_n: int, o_n: int) -> np.ndarray:
    present = dict(zip(uc.tolist(), votes.tolist()))
    out = np.zeros(uc.size, dtype=np.int64)
    for k, c in enumerate(uc.tolist()):
        for dt in (-1, 0, 1):
            for dp in (-1, 0, 1):
                for do in (-1, 0, 1):
                    out[k] += present.get(c + (dt * p_n + dp) * o_n + do, 0)
    return out


@pytest.mark.parametrize("seed", range(12))
def test_window_votes_is_the_27_cell_sum(seed):
    rng = np.random.default_rng(seed)
    t_n, p_n, o_n = 5, 6, 9
    n = int(rng.integers(1, 400))
    # every coordinate keeps room for its neighbours, as the search's cell codes do
    c = ((rng.integers(0, 3, n) * t_n + rng.integers(1, t_n - 1, n)) * p_n + rng.integers(1, p_n - 1, n)) * o_n + rng.integers(1, o_n - 1, n)
    uc, votes = np.unique(c, return_counts=True)
    assert np.array_equal(_window_votes(uc, votes, p_n, o_n), _brute(uc, votes, p_n, o_n))


def test_window_votes_shared_neighbour_counts_for_both():
    # cells at offsets 3 and 4 of one row both neighbour offset 4 of the next row (3 absent)
    p_n, o_n = 6, 9
    row = (1 * 6 + 2) * o_n
    uc = np.array([row + 3, row + 4, row + o_n + 4])
    votes = np.array([1, 1, 5])
    assert _window_votes(uc, votes, p_n, o_n).tolist() == [7, 7, 7]


def _cells(trk, ti, pi, oi, qf, t_n, p_n, o_n):
    """(cells, windows) of hits as search.wide_candidates counts them: one vote per distinct
    query frame per cell, summed over the 27-cell neighbourhood."""
    cell = ((trk * t_n + ti) * p_n + pi) * o_n + oi
    uc, votes = np.unique(np.unique(np.stack([cell, qf], axis=1), axis=0)[:, 0], return_counts=True)
    return uc, _window_votes(uc, votes, p_n, o_n)


@pytest.mark.parametrize("seed", range(20))
def test_could_reach_drops_only_hits_no_reachable_window_needs(seed):
    # clustered and scattered hits: the cells whose window reaches the bar, and their
    # windows, are the same with the hits _could_reach keeps as with all of them
    rng = np.random.default_rng(seed)
    t_n, p_n, o_n, tracks, min_votes = 8, 7, 40, 4, int(rng.integers(2, 6))
    n = int(rng.integers(1, 600))
    trk = rng.integers(0, tracks, n)
    ti, pi = rng.integers(1, t_n - 1, n), rng.integers(1, p_n - 1, n)
    oi = rng.integers(1, o_n - 1, n)
    k = int(rng.integers(0, 40))  # a true alignment: hits around one cell
    trk[:k], ti[:k], pi[:k] = 1, np.clip(4 + rng.integers(-1, 2, k), 1, t_n - 2), np.clip(3 + rng.integers(-1, 2, k), 1, p_n - 2)
    oi[:k] = np.clip(17 + rng.integers(-2, 3, k), 1, o_n - 2)
    qf = rng.integers(0, 60, n)
    keep = _could_reach(trk, oi, min_votes)
    assert np.all(np.diff(keep) > 0)
    uc, win = _cells(trk, ti, pi, oi, qf, t_n, p_n, o_n)
    kuc, kwin = _cells(*(a[keep] for a in (trk, ti, pi, oi, qf)), t_n, p_n, o_n)
    full = {int(c): int(w) for c, w in zip(uc, win) if w >= min_votes}
    kept = {int(c): int(w) for c, w in zip(kuc, kwin) if w >= min_votes}
    assert kept == full


def test_distinct_keys_by_table_and_by_sort():
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 50, 300).astype(np.uint32)
    for space in (None, 64):
        rep, inv = _distinct(keys, space)
        assert np.array_equal(keys[rep][inv], keys)
        assert np.unique(keys[rep]).size == rep.size == np.unique(keys).size
    empty = np.zeros(0, dtype=np.uint32)
    for space in (None, 64):
        rep, inv = _distinct(empty, space)
        assert rep.size == inv.size == 0


def test_could_reach_drops_isolated_chance_hits_and_keeps_a_cluster():
    # track 0: four hits in one cell; track 1: four hits each 20 offset cells apart
    trk = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    oi = np.array([10, 10, 11, 11, 5, 25, 45, 65])
    assert _could_reach(trk, oi, 4).tolist() == [0, 1, 2, 3]
    assert _could_reach(trk, oi, 5).tolist() == []
