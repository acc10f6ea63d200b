"""Shard matcher Lambda: one query fingerprint against a group of index shards.

Invoked synchronously by the fingerprint function when the catalogue has more shards than
one function should hold (``SHARDS_PER_FUNCTION``). It returns the raw evidence, which the
caller merges with every other group's under one calibration; it never decides a case.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from takedown_adapters.aws import S3IndexStore
from takedown_adapters.matcher import ShardIndexes, match_shards

from ._env import boto_client, cached, env

logger = Logger(service="takedown")  # as every function is deployed (POWERTOOLS_SERVICE_NAME), also when imported without it
tracer = Tracer()


def _indexes() -> ShardIndexes:
    return cached("shard-indexes", lambda: ShardIndexes(S3IndexStore(boto_client("s3"), env("CATALOG_BUCKET"))))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.append_keys(index_version=event.get("index_version"), shards=event.get("shards"))
    result = match_shards(_indexes(), event)
    logger.info("shards searched", extra={"best": (result.get("best") or {}).get("track_id")})
    return result
