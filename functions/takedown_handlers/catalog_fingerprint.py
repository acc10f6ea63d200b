"""Catalogue build, the map step: one batch of reference tracks -> one peaks artifact per track.

Run by the "takedown catalogue build" state machine (components.IndexBuild) for each batch
of its Distributed Map over the reference bucket: ``{"Items": [{"Key", "Etag", ...}, ...]}``,
the S3 item reader's listing items as its ItemBatcher groups them. Each reference track
without an artifact is decoded and its peaks are written to the catalogue bucket under
``ARTIFACT_PREFIX``/params digest/ETag (takedown_core.catalog_build.fingerprint_items); a
track already there is skipped. Returns counts, never data (the state's 256 KB limit).
"""

from __future__ import annotations

import tempfile
from typing import Any

from aws_lambda_powertools import Logger

from takedown_adapters.catalog_s3 import S3Artifacts, S3References
from takedown_core.audio import decode_audio
from takedown_core.catalog_build import MAX_REFERENCE_SECONDS, fingerprint_items
from takedown_core.engine import DEFAULT_PARAMS

from ._env import boto_client, env

logger = Logger(service="takedown")  # as every function is deployed (POWERTOOLS_SERVICE_NAME), also when imported without it


def _decode(path: str):
    # one vCPU per function (1,769 MB): FFmpeg's own threads would only cost CPU
    return decode_audio(path, sample_rate=DEFAULT_PARAMS.sample_rate, max_seconds=MAX_REFERENCE_SECONDS,
                        threads=False)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    items = event.get("Items")
    if not isinstance(items, list):
        raise ValueError("the batch has no Items list (the Distributed Map's ItemBatcher makes one)")
    s3 = boto_client("s3")
    with tempfile.TemporaryDirectory(prefix="reference-") as work:
        out = fingerprint_items(items, references=S3References(s3, env("REFERENCE_BUCKET")),
                                artifacts=S3Artifacts(s3, env("CATALOG_BUCKET")), prefix=env("ARTIFACT_PREFIX"),
                                params=DEFAULT_PARAMS, decode=_decode, workdir=work)
    logger.info("batch fingerprinted", extra={k: v for k, v in out.items() if k != "failures"})
    return out
