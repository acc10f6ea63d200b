"""Array helpers the engine's hot paths share.

numpy 2's ``np.unique`` sorts large integer arrays through a hash table, which is 10-30x
slower than a sort and a diff on the arrays the engine handles (1.5 M uint64 keys: 1.59 s
against 0.10 s; 5 M uint32 hashes: 3.0 s against 0.04 s by bincount; numpy 2.4, measured
for issue 16's build speed). These return exactly what ``np.unique`` returns.
"""

from __future__ import annotations

import numpy as np


def sorted_unique(a: np.ndarray, *, counts: bool = False):
    """``np.unique(a)`` (and its counts with ``counts``) by sort + diff."""
    return unique_of_sorted(np.sort(a, axis=None), counts=counts)


def unique_of_sorted(a: np.ndarray, *, counts: bool = False):
    """:func:`sorted_unique` of an array already sorted ascending (1-D): the diff alone. The
    votes sort a key once and read its high bits' distinct values from the same order."""
    if a.size == 0:
        return (a, np.zeros(0, np.int64)) if counts else a
    first = np.empty(a.size, dtype=bool)
    first[0] = True
    np.not_equal(a[1:], a[:-1], out=first[1:])
    if not counts:
        return a[first]
    idx = np.flatnonzero(first)
    return a[idx], np.diff(np.append(idx, a.size))


def unique_first(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(a, return_index=True)``: the distinct values and the index of each one's
    first occurrence, by a stable sort."""
    a = np.asarray(a).reshape(-1)
    order = np.argsort(a, kind="stable")
    s = a[order]
    if s.size == 0:
        return s, order
    first = np.empty(s.size, dtype=bool)
    first[0] = True
    np.not_equal(s[1:], s[:-1], out=first[1:])
    return s[first], order[first]
