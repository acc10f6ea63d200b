"""Matching one upload against the catalogue: decode once, search, and fan out over shards.

This is the core behind ingest's ``Matcher`` port. It answers with a typed
:class:`~takedown_core.ports.MatchAnswer` (the engine's ``QueryResult``, the decode report
and which index was searched); the documents that are stored (the full evidence in S3, the bounded copy on the
case) are made from it once, at the storage edge (``evidence.py``).

A catalogue with more shards than one function should hold is matched by fan-out: the query
is decoded and extracted once here, each group of shards is searched through the
:class:`~takedown_core.ports.ShardSearch` port (the shard Lambda, in AWS), and the per-shard
evidence is merged with the same calibration as a single index (``merge_results``): ten
shards never make a match easier than one. :func:`matcher_for` decides which of the two an
index needs; :func:`answer_shard` is the shard function's side.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from .audio import decode
from .engine import Fingerprint, Index, QueryResult, merge_results
from .engine.wire import query_from_wire, query_to_wire
from .ports import MatchAnswer, Matcher, ShardSearch

log = logging.getLogger(__name__)

MIN_QUERY_SECONDS = 1.0      # less decodable audio than this is no evidence at all: quarantine
MAX_INVOKE_PAYLOAD = 6_000_000  # bytes: Lambda's synchronous request/response limit (AWS Lambda quotas)


class ShardMatchError(RuntimeError):
    """A shard search failed: the upload is retried (SQS), never decided on part of the catalogue."""


class EngineMatcher:
    """Every shard of ``index`` in this function."""

    def __init__(self, index: Index, version: str, *, max_seconds: float, max_false_match_rate: float,
                 digest: str | None = None) -> None:
        self.index, self.version, self.digest = index, version, digest
        self.max_seconds, self.rate = max_seconds, max_false_match_rate

    def match(self, path: str) -> MatchAnswer:
        """Decode ``path`` (at most ``max_seconds``) and query. Raises ``DecodeError``."""
        samples, report = decode(path, sample_rate=self.index.params.sample_rate, max_seconds=self.max_seconds,
                                 min_seconds=MIN_QUERY_SECONDS)
        result = self.index.query(samples, max_false_match_rate=self.rate)
        return MatchAnswer(result, report, self.version, self.digest, len(self.index.shard_numbers))


def shard_groups(shard_count: int, per_function: int) -> list[list[int]]:
    """Consecutive groups of at most ``per_function`` shards, as even as possible.
    Raises ValueError unless both are positive."""
    if shard_count < 1 or per_function < 1:
        raise ValueError("shard_count and per_function must be positive")
    groups = -(-shard_count // per_function)
    bounds = [round(i * shard_count / groups) for i in range(groups + 1)]
    return [list(range(a, b)) for a, b in zip(bounds, bounds[1:])]


def needs_fan_out(index: Index) -> bool:
    """True when ``index`` was opened without (some of) its shards: search them by fan-out."""
    return len(index.shard_numbers) < len(index.manifest["shards"])


class FanOutMatcher:
    """Decode and extract here; each group of shards is searched through ``search`` in parallel,
    in up to two rounds, as a whole index searches (:meth:`Index.query`): the first search in
    every group, merged; only when no group holds a copy, the second search (the query's
    dense peaks, for our recording under louder material) in every group, merged with the
    first. A copy (most uploads a label's monitoring flags) costs the shards one search, not
    both: the second is over half of a shard's CPU."""

    def __init__(self, index: Index, version: str, *, groups: list[list[int]], search: ShardSearch,
                 max_seconds: float, max_false_match_rate: float, digest: str | None = None) -> None:
        self.index, self.version, self.groups, self.search = index, version, groups, search
        self.max_seconds, self.rate, self.digest = max_seconds, max_false_match_rate, digest

    def match(self, path: str) -> MatchAnswer:
        """Decode ``path``, search every group, merge. Raises ``DecodeError``, ``ShardMatchError``
        and ``IndexUnavailable`` (from a shard)."""
        samples, report = decode(path, sample_rate=self.index.params.sample_rate, max_seconds=self.max_seconds,
                                 min_seconds=MIN_QUERY_SECONDS)
        result, invocations = self.search_fingerprint(self.index.fingerprint(samples))
        return MatchAnswer(result, report, self.version, self.digest, sum(len(g) for g in self.groups),
                           shard_invocations=invocations)

    def search_fingerprint(self, fp: Fingerprint) -> tuple[QueryResult, int]:
        """The rounds for one query fingerprint: the merged result and the shard-function
        invocations made. Raises ``ShardMatchError`` and ``IndexUnavailable`` (from a shard)."""
        query = query_to_wire(fp)
        first = self._round(query, "first")
        invocations = len(first)
        rounds = {p.get("search") for p in first}  # a shard function before the rounds: None, both searches at once
        if len(rounds) > 1:
            raise ShardMatchError("shard functions of two releases answered one query (a deployment in progress): retried")
        result = merge_results([QueryResult.from_dict(p) for p in first], max_false_match_rate=self.rate)
        if rounds == {"first"} and (result.best is None or result.best.kind != "copy"):
            second = self._round(query, "second")
            invocations += len(second)
            result = merge_results([QueryResult.from_dict(join_rounds(a, b)) for a, b in zip(first, second)], max_false_match_rate=self.rate)
        return result, invocations

    def _round(self, query: dict[str, Any], search: str) -> list[dict[str, Any]]:
        requests = [
            {"index_version": self.version, "index_sha256": self.digest, "shards": g, "query": query,
             "max_false_match_rate": self.rate, "search": search}
            for g in self.groups
        ]
        with ThreadPoolExecutor(max_workers=min(32, len(requests))) as pool:
            return list(pool.map(self.search, requests))


def join_rounds(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """One group's answer to both searches: the first answer with the second's segments
    appended to its evidence (as :meth:`Index.query` appends them)."""
    segments = first["evidence"]["segments"] + second["evidence"]["segments"]
    return {**first, "evidence": {**first["evidence"], "segments": segments}}


REBUILD_FOR_WIDE_SEARCH = (
    "this index was built before the wide search: it finds copies within +-6 % speed and +-1.2 semitones only, "
    "not sped-up, slowed, key-changed or nightcore edits; rebuild it (takedown catalog build DIR --out INDEX, "
    "then takedown catalog publish) to search 0.72-1.40x and +-6.5 semitones")


def matcher_for(index: Index, version: str, *, digest: str | None, shards_per_function: int,
                shard_search: Callable[[], ShardSearch], max_seconds: float, max_false_match_rate: float) -> Matcher:
    """The matcher ``index`` needs: every shard here, or, when the index was opened without
    (some of) its shards, fan-out in groups of ``shards_per_function`` through the port
    ``shard_search()`` makes (called only then). Raises ValueError when fan-out is needed and
    ``shards_per_function`` is not positive."""
    if not index.params.wide_search:  # said once per index load, where ops read the function's logs
        log.warning(REBUILD_FOR_WIDE_SEARCH, extra={"index_version": version})
    if needs_fan_out(index):
        groups = shard_groups(len(index.manifest["shards"]), shards_per_function)
        return FanOutMatcher(index, version, groups=groups, search=shard_search(), digest=digest,
                             max_seconds=max_seconds, max_false_match_rate=max_false_match_rate)
    return EngineMatcher(index, version, max_seconds=max_seconds, max_false_match_rate=max_false_match_rate,
                         digest=digest)


def shard_request_shards(request: dict[str, Any]) -> tuple[int, ...]:
    """The sorted, distinct shard numbers a shard request names. Raises ValueError if none."""
    shards = tuple(sorted({int(s) for s in request["shards"]}))
    if not shards:
        raise ValueError("no shards requested")
    return shards


def answer_shard(index: Index, request: dict[str, Any]) -> dict[str, Any]:
    """The shard function's work: one query (``request["query"]``, wire form) against the
    shards ``index`` holds, answered with the raw evidence ``merge_results`` needs, thinned to
    fit Lambda's response limit (``fit_response``). ``request["search"]`` names the round
    (``"first"``, ``"second"``; none: both searches, as before the rounds), echoed in the
    answer. Raises ValueError for another round."""
    search = request.get("search", "both")  # "first" / "second": a round of FanOutMatcher
    fp = query_from_wire(request["query"], index.params)
    result = index.query(fp, max_false_match_rate=float(request["max_false_match_rate"]), search=search)
    return fit_response({**result.to_dict(with_evidence=True), "search": search})


def fit_response(doc: dict[str, Any], limit: int = MAX_INVOKE_PAYLOAD - 200_000) -> dict[str, Any]:
    """Keep a shard's answer under Lambda's response limit: a long upload against two full
    shards can carry thousands of candidate landmarks (the reviewer's picture), so they are
    thinned, evenly, until it fits. Counts, rates and decisions are untouched. Raises
    ShardMatchError when even eight landmarks per candidate do not fit."""
    while len(json.dumps(doc)) > limit:
        cands = [c for seg in doc.get("evidence", {}).get("segments", []) for c in seg.get("candidates", [])]
        longest = max((len(c.get("landmarks") or []) for c in cands), default=0)
        if longest <= 8:
            raise ShardMatchError(f"shard answer is over {limit} bytes even without landmarks")
        keep = max(8, longest // 2)
        for c in cands:
            lm = c.get("landmarks") or []
            if len(lm) > keep:
                step = len(lm) / keep
                c["landmarks"] = [lm[int(i * step)] for i in range(keep)]
    return doc
