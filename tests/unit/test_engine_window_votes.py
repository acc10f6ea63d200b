"""The wide search's neighbourhood vote (search._window_votes) equals the plain sum over
all 27 neighbours of every occupied cell, including cells that share a neighbour."""

from __future__ import annotations

import numpy as np
import pytest

from takedown_core.engine.search import _window_votes


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
