"""The catalogue index from S3 for the matchers (``takedown_core.matching``), and the
shard search as a synchronous Lambda call.

The index is loaded once per warm container and per index *content* (the sha256 of its
manifest, memory-mapped from /tmp): every INDEX_RECHECK_SECONDS a warm container reads
CURRENT and that version's manifest, and loads again when the content differs, whatever the
version is called. An index that cannot be used (none published, a file missing or altered,
an unknown format) raises IndexUnavailable: the upload is retried, never decided "no match".

A catalogue with more shards than one function should hold is matched by fan-out (the
decision and the merge are in ``takedown_core.matching``): :class:`LambdaShardInvoker` is the
``ShardSearch`` port as a call of the shard function, and :class:`ShardIndexes` and
:func:`match_shards` are the shard function's side (its own memory, its own /tmp).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from takedown_core.engine import Index
from takedown_core.engine.index import IndexFormatError
from takedown_core.matching import MAX_INVOKE_PAYLOAD, ShardMatchError, answer_shard, shard_request_shards
from takedown_core.ports import IndexUnavailable

from .aws import S3IndexStore

INDEX_RECHECK_SECONDS = 60   # how often a warm container checks CURRENT (two small S3 GETs)


class NoIndexPublished(IndexUnavailable):
    """The catalogue has no index yet: build one (`takedown catalog build`) and publish it
    (README, "Deploying one environment")."""


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


class LambdaShardInvoker:
    """The ``ShardSearch`` port: a synchronous call of the shard function. Raises
    ShardMatchError when the request is over Lambda's payload limit or the function failed."""

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
    """The shard function's work: the requested version and shards, one query, raw evidence
    (``takedown_core.matching.answer_shard``). Raises IndexUnavailable, ValueError."""
    shards = shard_request_shards(request)
    index = indexes.get(str(request["index_version"]), shards, request.get("index_sha256"))
    return answer_shard(index, request)
