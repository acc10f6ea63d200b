"""The engine behind ingest's Matcher port: decode once to the analysis rate, then query.

The index is loaded once per warm container and per index *content* (the sha256 of its
manifest, memory-mapped from /tmp): every INDEX_RECHECK_SECONDS a warm container reads
CURRENT and that version's manifest, and loads again when the content differs, whatever the
version is called. An index that cannot be used (none published, a file missing or altered,
an unknown format) raises IndexUnavailable: the upload is retried, never decided "no match".

A catalogue with more shards than one function should hold is matched by fan-out: the
ingest function decodes and extracts the query once, the shard function matches each group
of shards in parallel (its own memory, its own /tmp), and the per-shard evidence is merged
with the same calibration as a single index (``merge_results``): ten shards never make a
match easier than one.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from takedown_core.audio import decode
from takedown_core.engine import Index, QueryResult, merge_results
from takedown_core.engine.index import IndexFormatError
from takedown_core.engine.wire import query_from_wire, query_to_wire
from takedown_core.ports import IndexUnavailable

from .aws import S3IndexStore

INDEX_RECHECK_SECONDS = 60   # how often a warm container checks CURRENT (two small S3 GETs)
MIN_QUERY_SECONDS = 1.0      # less decodable audio than this is no evidence at all: quarantine
MAX_INVOKE_PAYLOAD = 6_000_000  # bytes: Lambda's synchronous request/response limit


class NoIndexPublished(IndexUnavailable):
    """The catalogue has no index yet: build one (`takedown catalog build`) and publish it
    (README, "Deploying one environment")."""


class ShardMatchError(RuntimeError):
    """A shard function failed: the upload is retried (SQS), never decided on part of the catalogue."""


class IndexCache:
    """The CURRENT index, opened once per container and per content (manifest sha256).

    With ``max_local_shards`` set and more shards than that in the index, only the manifest
    and track list are fetched and opened (the query is extracted here and the shards are
    searched by fan-out); otherwise every shard is fetched and opened here.
    """

    def __init__(self, store: S3IndexStore, *, max_local_shards: int = 0) -> None:
        self.store = store
        self.max_local_shards = max_local_shards
        self._lock = threading.Lock()
        self._index: Index | None = None
        self._version: str | None = None
        self._digest: str | None = None
        self._checked = 0.0

    def current(self) -> tuple[str, Index]:
        """(version, index); see ``digest`` for its identity. Raises IndexUnavailable."""
        with self._lock:
            now = time.monotonic()
            if self._index is None or now - self._checked > INDEX_RECHECK_SECONDS:
                pointer = self.store.current()
                if pointer is None:
                    raise NoIndexPublished(
                        f"no index in s3://{self.store.bucket}/{S3IndexStore.PREFIX}/CURRENT: build one with"
                        " `takedown catalog build` and publish it (README, 'Deploying one environment')"
                    )
                version, digest = pointer
                if digest != self._digest:
                    self._index, self._digest = self._open(version, digest), digest
                self._version = version  # the same content may be published under a new name
                self._checked = now
            assert self._index is not None and self._version is not None
            return self._version, self._index

    @property
    def digest(self) -> str | None:
        """sha256 of the loaded index's manifest (its identity), None before the first load."""
        return self._digest

    def _open(self, version: str, digest: str) -> Index:
        try:
            head = self.store.fetch(version, shards=[], digest=digest)  # manifest and track list only
            shard_count = len(json.loads((head / "manifest.json").read_text())["shards"])
            if self.max_local_shards and shard_count > self.max_local_shards:
                return Index.open(head, mmap=True, shards=[])
            return Index.open(self.store.fetch(version, digest=digest), mmap=True)
        except (IndexFormatError, KeyError, ValueError, OSError) as e:
            raise IndexUnavailable(f"index version {version} ({digest[:12]}) cannot be opened: {e}") from e


def needs_fan_out(index: Index) -> bool:
    """True when ``index`` was opened without (some of) its shards: search them by fan-out."""
    return len(index.shard_numbers) < len(index.manifest["shards"])


def _outcome(result: QueryResult, info: dict[str, Any]) -> tuple[dict[str, Any] | None, list[dict[str, Any]], dict[str, Any]]:
    info = {
        "query_duration_s": round(float(result.query_duration_s), 3),
        "query_hashes": int(result.query_hashes),
        "max_false_match_rate": result.max_false_match_rate,
        **info,
    }
    if result.partial:  # shares a loop, sample or short part with these tracks: never a case
        info["partial"] = [
            {k: m.to_dict()[k] for k in ("track_id", "false_match_rate", "salient_share", "offset_s", "query_start_s",
                                         "matched_duration_s")}
            for m in result.partial[:5]
        ]
    best = result.best.to_dict() if result.best else None
    return best, [m.to_dict() for m in result.others], info


class EngineMatcher:
    """All shards in this function."""

    def __init__(self, index: Index, version: str, *, max_seconds: float, max_false_match_rate: float,
                 digest: str | None = None) -> None:
        self.index, self.version, self.digest = index, version, digest
        self.max_seconds, self.rate = max_seconds, max_false_match_rate

    def match(self, path: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]], dict[str, Any]]:
        samples, report = decode(path, sample_rate=self.index.params.sample_rate, max_seconds=self.max_seconds,
                                 min_seconds=MIN_QUERY_SECONDS)
        result = self.index.query(samples, max_false_match_rate=self.rate)
        return _outcome(result, {"index_version": self.version, "index_sha256": self.digest,
                                 "shards_searched": len(self.index.shard_numbers), "decode": report.to_dict()})


def shard_groups(shard_count: int, per_function: int) -> list[list[int]]:
    """Consecutive groups of at most ``per_function`` shards, as even as possible."""
    if shard_count < 1 or per_function < 1:
        raise ValueError("shard_count and per_function must be positive")
    groups = -(-shard_count // per_function)
    bounds = [round(i * shard_count / groups) for i in range(groups + 1)]
    return [list(range(a, b)) for a, b in zip(bounds, bounds[1:])]


class FanOutMatcher:
    """Decode and extract here; each group of shards is searched by ``invoke`` in parallel."""

    def __init__(self, index: Index, version: str, *, groups: list[list[int]], invoke: Callable[[dict[str, Any]], dict[str, Any]],
                 max_seconds: float, max_false_match_rate: float, digest: str | None = None) -> None:
        self.index, self.version, self.groups, self.invoke = index, version, groups, invoke
        self.max_seconds, self.rate, self.digest = max_seconds, max_false_match_rate, digest

    def match(self, path: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]], dict[str, Any]]:
        samples, report = decode(path, sample_rate=self.index.params.sample_rate, max_seconds=self.max_seconds,
                                 min_seconds=MIN_QUERY_SECONDS)
        query = query_to_wire(self.index.fingerprint(samples))
        requests = [
            {"index_version": self.version, "index_sha256": self.digest, "shards": g, "query": query,
             "max_false_match_rate": self.rate}
            for g in self.groups
        ]
        with ThreadPoolExecutor(max_workers=min(32, len(requests))) as pool:
            parts = list(pool.map(self.invoke, requests))
        result = merge_results([QueryResult.from_dict(p) for p in parts], max_false_match_rate=self.rate)
        shards = sum(len(g) for g in self.groups)
        return _outcome(result, {"index_version": self.version, "index_sha256": self.digest, "shards_searched": shards,
                                 "shard_invocations": len(requests), "decode": report.to_dict()})


class LambdaShardInvoker:
    """``invoke`` for :class:`FanOutMatcher`: a synchronous call of the shard function."""

    def __init__(self, lambda_client: Any, function_name: str) -> None:
        self.client, self.function_name = lambda_client, function_name

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        payload = json.dumps(request).encode()
        if len(payload) > MAX_INVOKE_PAYLOAD:
            raise ShardMatchError(
                f"query fingerprint is {len(payload)} bytes, over Lambda's {MAX_INVOKE_PAYLOAD}-byte request limit:"
                " lower limits.max_audio_seconds"
            )
        resp = self.client.invoke(FunctionName=self.function_name, InvocationType="RequestResponse", Payload=payload)
        body = resp["Payload"].read()
        if resp.get("FunctionError"):
            try:
                err = json.loads(body)
                detail = f"{err.get('errorType')}: {err.get('errorMessage')}"
            except ValueError:
                detail = body[:500].decode(errors="replace")
            raise ShardMatchError(f"shard function failed on shards {request['shards']}: {detail}")
        return json.loads(body)


class ShardIndexes:
    """The shard function's open indexes, by (manifest sha256, shards): a warm container reuses
    the one it has; an older one is dropped once a newer one is asked for."""

    def __init__(self, store: S3IndexStore, keep: int = 2) -> None:
        self.store, self.keep = store, keep
        self._lock = threading.Lock()
        self._open: dict[tuple[str, str | None, tuple[int, ...]], Index] = {}

    def get(self, version: str, shards: tuple[int, ...], digest: str | None = None) -> Index:
        """The index of ``version`` with ``shards`` open; ``digest`` (the manifest sha256 the
        caller searched with) must match what S3 holds. Raises IndexUnavailable."""
        key = (version, digest, shards)
        with self._lock:
            index = self._open.pop(key, None)
            if index is None:
                try:
                    index = Index.open(self.store.fetch(version, list(shards), digest=digest), mmap=True,
                                       shards=list(shards))
                except (IndexFormatError, KeyError, OSError) as e:
                    raise IndexUnavailable(f"index version {version} cannot be opened: {e}") from e
            self._open[key] = index  # most recently used last
            while len(self._open) > self.keep:
                self._open.pop(next(iter(self._open)))
            return index


def match_shards(indexes: ShardIndexes, request: dict[str, Any]) -> dict[str, Any]:
    """The shard function's work: the requested version and shards, one query, raw evidence."""
    shards = tuple(sorted({int(s) for s in request["shards"]}))
    if not shards:
        raise ValueError("no shards requested")
    index = indexes.get(str(request["index_version"]), shards, request.get("index_sha256"))
    fp = query_from_wire(request["query"], index.params)
    result = index.query(fp, max_false_match_rate=float(request["max_false_match_rate"]))
    return fit_response(result.to_dict(with_evidence=True))


def fit_response(doc: dict[str, Any], limit: int = MAX_INVOKE_PAYLOAD - 200_000) -> dict[str, Any]:
    """Keep a shard's answer under Lambda's response limit: a long upload against two full
    shards can carry thousands of candidate landmarks (the reviewer's picture), so they are
    thinned, evenly, until it fits. Counts, rates and decisions are untouched."""
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
