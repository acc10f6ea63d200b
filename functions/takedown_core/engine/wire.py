"""A query fingerprint as JSON, so one extraction can be matched by many shard matchers.

The matcher that decoded the upload extracts the query once and sends its spectral peaks
(not the audio, nor the pairs: a 15-minute upload is ~40 MB of samples, 5 MB of pair features
at 15 pairs per peak, and 0.3 MB of peaks; 0.6 MB with the dense peaks of the second search,
which hold the first search's, marked) to the functions that hold the shards. Arrays
travel as base64 of their little-endian bytes with an explicit dtype, never pickled; the
receiver pairs and hashes the peaks with the index's own parameters, exactly as
:func:`extract.extract` does, so both ends derive the same query.
"""

from __future__ import annotations

import base64
from dataclasses import fields

import numpy as np

from .extract import Fingerprint, Peaks, fingerprint_peaks
from .params import AnalysisParams

WIRE_FORMAT = "takedown-query/3"  # /1 carried the pair features too; /2 no dense peaks


def _encode(arr: np.ndarray) -> dict:
    dtype = np.asarray(arr).dtype.newbyteorder("<")
    a = np.ascontiguousarray(arr, dtype=dtype)
    return {"dtype": dtype.str, "data": base64.b64encode(a.tobytes()).decode("ascii")}


def _decode(doc: dict) -> np.ndarray:
    dtype = np.dtype(doc["dtype"])
    if dtype.kind not in "iuf" or dtype.hasobject:
        raise ValueError(f"unexpected dtype {doc['dtype']!r} in a query fingerprint")
    return np.frombuffer(base64.b64decode(doc["data"], validate=True), dtype=dtype).copy()


def query_to_wire(fp: Fingerprint) -> dict:
    """JSON-serialisable form of a query fingerprint (``extract(..., role="query")``)."""
    if fp.pairs is None or fp.peaks is None:
        raise ValueError("only a query fingerprint (with its pair features and peaks) can be sent")
    doc = {
        "format": WIRE_FORMAT,
        "duration_s": float(fp.duration_s),
        "frame_count": int(fp.frame_count),
    }
    if fp.dense_peaks is None:
        # the pairs and the peak count follow from the peaks, which the content check uses too
        doc["peaks"] = {f.name: _encode(getattr(fp.peaks, f.name)) for f in fields(Peaks)}
        return doc
    # the dense peaks hold the others: send them once, with which of them the first search uses
    doc["peaks"] = {f.name: _encode(getattr(fp.dense_peaks, f.name)) for f in fields(Peaks)}
    doc["first_search"] = _encode(np.isin(_peak_keys(fp.dense_peaks), _peak_keys(fp.peaks)).astype(np.uint8))
    return doc


def _peak_keys(peaks: Peaks) -> np.ndarray:
    return (peaks.frames.astype(np.int64) << 32) | peaks.semitones.astype("<f4").view("<u4").astype(np.int64)


def query_from_wire(doc: dict, params: AnalysisParams) -> Fingerprint:
    """The fingerprint :func:`query_to_wire` described, hashed with ``params``."""
    if doc.get("format") != WIRE_FORMAT:
        raise ValueError(f"not a {WIRE_FORMAT} document (got {doc.get('format')!r}): both ends must run the same release")
    peaks = Peaks(**_arrays(doc, "peaks", Peaks))
    if peaks.frames.size and np.any(np.diff(peaks.frames.astype(np.int64)) < 0):
        raise ValueError("query peaks are not in time order")
    dense = None
    if "first_search" in doc:
        mask = _decode(doc["first_search"]).astype(bool)
        if mask.size != peaks.frames.size:
            raise ValueError("query first_search mask and peaks differ in length")
        dense, peaks = peaks, Peaks(*(getattr(peaks, f.name)[mask] for f in fields(Peaks)))
    return fingerprint_peaks(peaks, params, role="query", duration_s=float(doc["duration_s"]), frame_count=int(doc["frame_count"]),
                             dense_peaks=dense)


def _arrays(doc: dict, part: str, cls: type) -> dict[str, np.ndarray]:
    try:
        arrays = {f.name: _decode(doc[part][f.name]) for f in fields(cls)}
    except KeyError as e:
        raise ValueError(f"query fingerprint lacks {part}.{e.args[0]}") from None
    if len({a.size for a in arrays.values()}) > 1:
        raise ValueError(f"query {part} arrays differ in length")
    return arrays
