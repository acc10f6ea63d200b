"""Catalogue build, the reduce step: every track's peaks -> a new index version, published.

Run by the "takedown catalogue build" state machine (components.IndexBuild) after its map.
Lists the reference bucket, gathers each audio object's artifact (by ETag) and sidecar
(takedown_core.catalog_build.gather_tracks), writes the index with its self-match to /tmp
and publishes it as ``indexes/<UTC time>-<manifest digest>/``, files first and the manifest
last, then points ``indexes/CURRENT`` at it: what ``takedown catalog publish`` does
(S3IndexStore.publish), so the ingest functions pick it up as they do a published index.
Returns the version and counts.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger

from takedown_adapters.aws import S3IndexStore
from takedown_adapters.catalog_s3 import S3Artifacts, S3References
from takedown_core.catalog_build import build_index, gather_tracks
from takedown_core.engine import DEFAULT_PARAMS

from ._env import boto_client, env

logger = Logger(service="takedown")  # as every function is deployed (POWERTOOLS_SERVICE_NAME), also when imported without it


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    s3 = boto_client("s3")
    bucket = env("CATALOG_BUCKET")
    tracks, report = gather_tracks(references=S3References(s3, env("REFERENCE_BUCKET")),
                                   artifacts=S3Artifacts(s3, bucket), prefix=env("ARTIFACT_PREFIX"),
                                   params=DEFAULT_PARAMS)
    work = Path(tempfile.mkdtemp(prefix="index-"))
    try:
        manifest, warnings = build_index(tracks, work / "index", DEFAULT_PARAMS)
        digest = hashlib.sha256((work / "index" / "manifest.json").read_bytes()).hexdigest()[:12]
        version = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{digest}"
        store = S3IndexStore(s3, bucket)
        previous = store.current_version()
        sha = store.publish(work / "index", version)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cat = manifest["catalogue"]
    out = {"version": version, "manifest_sha256": sha, "previous": previous, "tracks": cat["track_count"],
           "seconds": round(cat["total_seconds"], 1), "shards": len(manifest["shards"]), **report,
           "warnings": (report["warnings"] + warnings)[:20], "warnings_count": report["warnings_count"] + len(warnings)}
    logger.info("index published", extra={k: out[k] for k in ("version", "tracks", "shards", "missing_count",
                                                              "failed_count")})
    return out
