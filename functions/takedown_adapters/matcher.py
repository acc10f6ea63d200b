"""The engine behind ingest's Matcher port: decode once to the analysis rate, then query.

The index is loaded once per warm container and per index version (memory-mapped from /tmp);
a new CURRENT version is picked up on the next cold start or after INDEX_RECHECK_SECONDS.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from takedown_core.audio import decode_audio
from takedown_core.engine import Index

from .aws import S3IndexStore

INDEX_RECHECK_SECONDS = 300  # how often a warm container looks for a newer index version
MIN_QUERY_SECONDS = 1.0      # less decodable audio than this is no evidence at all: quarantine


class NoIndexPublished(RuntimeError):
    """The catalogue has no index yet: build and publish one (`takedown catalog publish`)."""


class IndexCache:
    def __init__(self, store: S3IndexStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._index: Index | None = None
        self._version: str | None = None
        self._checked = 0.0

    def current(self) -> tuple[str, Index]:
        with self._lock:
            now = time.monotonic()
            if self._index is None or now - self._checked > INDEX_RECHECK_SECONDS:
                version = self.store.current_version()
                if version is None:
                    raise NoIndexPublished(
                        f"no index in s3://{self.store.bucket}/{S3IndexStore.PREFIX}/CURRENT; publish a catalogue first"
                    )
                if version != self._version:
                    self._index = Index.open(self.store.fetch(version), mmap=True)
                    self._version = version
                self._checked = now
            assert self._index is not None and self._version is not None
            return self._version, self._index


class EngineMatcher:
    def __init__(self, index: Index, version: str, *, max_seconds: float, max_false_match_rate: float) -> None:
        self.index, self.version = index, version
        self.max_seconds, self.rate = max_seconds, max_false_match_rate

    def match(self, path: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]], dict[str, Any]]:
        samples = decode_audio(path, sample_rate=self.index.params.sample_rate, max_seconds=self.max_seconds,
                               min_seconds=MIN_QUERY_SECONDS)
        result = self.index.query(samples, max_false_match_rate=self.rate)
        info = {
            "index_version": self.version,
            "query_duration_s": round(float(result.query_duration_s), 3),
            "query_hashes": int(result.query_hashes),
            "max_false_match_rate": self.rate,
        }
        best = result.best.to_dict() if result.best else None
        return best, [m.to_dict() for m in result.others], info
