"""The engine's sort-based replacements for np.unique return exactly what np.unique does."""

from __future__ import annotations

import numpy as np
import pytest

from takedown_core.engine.arrays import sorted_unique, unique_first


@pytest.mark.parametrize("dtype", [np.uint32, np.int64, np.uint64])
@pytest.mark.parametrize("size", [0, 1, 7, 5_000])
def test_sorted_unique_is_np_unique(dtype, size):
    rng = np.random.default_rng(size)
    a = rng.integers(0, max(2, size // 3), size).astype(dtype)  # many repeats
    assert np.array_equal(sorted_unique(a), np.unique(a))
    values, counts = sorted_unique(a, counts=True)
    ref_values, ref_counts = np.unique(a, return_counts=True)
    assert np.array_equal(values, ref_values) and np.array_equal(counts, ref_counts)
    assert values.dtype == ref_values.dtype


@pytest.mark.parametrize("size", [0, 1, 9, 4_000])
def test_unique_first_is_np_unique_return_index(size):
    rng = np.random.default_rng(size + 1)
    a = rng.integers(0, max(2, size // 4), size).astype(np.int64)
    values, first = unique_first(a)
    ref_values, ref_first = np.unique(a, return_index=True)
    assert np.array_equal(values, ref_values)
    assert np.array_equal(first, ref_first)  # the FIRST occurrence of each value
