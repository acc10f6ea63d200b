"""Fingerprint Lambda: SQS batch of S3 events -> one recorded outcome per uploaded object.

Partial batch failures are reported (only the failing messages come back); a message that
keeps failing lands in the DLQ after the queue's maxReceiveCount, where an alarm fires.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from takedown_adapters.aws import S3EvidenceStore, S3IndexStore, S3MediaStore, StepFunctionsStarter
from takedown_adapters.dynamo import DynamoCaseRepository
from takedown_adapters.matcher import IndexCache, LambdaShardInvoker
from takedown_core.audio import DecodeError
from takedown_core.cases import utcnow
from takedown_core.ingest import IngestPolicy, IngestService
from takedown_core.matching import matcher_for
from takedown_core.ports import IndexUnavailable, Matcher

from ._env import boto_client, cached, env, env_json

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="Takedown")  # as the alarms and the dashboard read it (components.Monitoring)
processor = BatchProcessor(event_type=EventType.SQS)
IDEMPOTENCY_WINDOW = 24 * 3600  # seconds: the same (bucket, key, etag) within a day is one submission


def _service() -> IngestService:
    def build() -> IngestService:
        repo = DynamoCaseRepository(env("TABLE_NAME"), boto_client("dynamodb"))
        s3 = boto_client("s3")
        store = S3IndexStore(s3, env("CATALOG_BUCKET"))
        max_seconds = float(env("MAX_AUDIO_SECONDS", "900"))
        rate = float(env("MAX_FALSE_MATCH_RATE", "0.0001"))
        per_function = int(env("SHARDS_PER_FUNCTION", "0"))  # 0: every shard in this function
        index_cache = IndexCache(store, max_local_shards=per_function)

        def matcher() -> Matcher:
            version, index = index_cache.current()
            return matcher_for(index, version, digest=index_cache.digest, shards_per_function=per_function,
                               shard_search=lambda: LambdaShardInvoker(boto_client("lambda"), env("SHARD_MATCH_FUNCTION")),
                               max_seconds=max_seconds, max_false_match_rate=rate)

        return IngestService(
            repo=repo,
            media=S3MediaStore(s3, env("QUARANTINE_BUCKET")),
            matcher_factory=matcher,
            starter=StepFunctionsStarter(boto_client("stepfunctions"), env("STATE_MACHINE_ARN")),
            partners=env_json("PARTNERS"),
            platforms=env_json("PLATFORM_LOCATIONS"),
            policy=IngestPolicy(
                max_upload_bytes=int(env("MAX_UPLOAD_BYTES")),
                max_false_match_rate=rate,
                stay_down_auto_approve=env("STAY_DOWN_AUTO_APPROVE", "true") == "true",
            ),
            decode_error=DecodeError,
            evidence=S3EvidenceStore(s3, env("EVIDENCE_BUCKET")),
            likeness=env_json("LIKENESS"),
        )

    return cached("ingest", build)


def _idempotent_process():
    """powertools idempotency around one object, built lazily (after moto / in the container)."""

    def build():
        config = IdempotencyConfig(event_key_jmespath="[bucket, key, etag]", expires_after_seconds=IDEMPOTENCY_WINDOW)
        store = DynamoDBPersistenceLayer(table_name=env("IDEMPOTENCY_TABLE"), boto3_client=boto_client("dynamodb"))

        @idempotent_function(data_keyword_argument="obj", config=config, persistence_store=store)
        def process_object(obj: dict[str, Any]) -> dict[str, Any]:
            rec = _service().process(bucket=obj["bucket"], key=obj["key"], size=obj["size"], etag=obj["etag"])
            if rec is None:
                return {"skipped": "sidecar"}
            metrics.add_metric(name=f"Upload_{rec.outcome}", unit=MetricUnit.Count, value=1)
            if rec.outcome == "case":  # Case_copy / Case_partial / Case_suspected_ai_cover / ...; a repeat counts apart
                name = "CaseRepeat" if rec.extra.get("duplicate") else f"Case_{rec.extra.get('kind', 'copy')}"
                metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
            return {"outcome": rec.outcome, "reason": rec.reason, "case_id": rec.case_id}

        return process_object, config

    return cached("ingest:idempotent", build)


def upload_id(obj: dict[str, Any]) -> str:
    """``upload:<16 hex>``: one upload (bucket, key, ETag) in the logs before it has a case."""
    import hashlib

    return "upload:" + hashlib.sha256(f"{obj['bucket']}/{obj['key']}/{obj.get('etag', '')}".encode()).hexdigest()[:16]


def s3_objects(body: str) -> list[dict[str, Any]]:
    """The objects an SQS message from an S3 notification names (test events name none)."""
    msg = json.loads(body)
    if msg.get("Event") == "s3:TestEvent":
        return []
    out = []
    for r in msg.get("Records", []):
        if not str(r.get("eventName", "")).startswith("ObjectCreated"):
            continue
        o = r["s3"]["object"]
        out.append({
            "bucket": r["s3"]["bucket"]["name"],
            "key": unquote_plus(o["key"]),
            "size": int(o.get("size", 0)),
            "etag": str(o.get("eTag") or o.get("etag") or ""),
        })
    return out


def record_handler(record: SQSRecord) -> None:
    """Process every object an S3 notification names. An object that cannot be decided now
    raises (the message is retried; after INGEST_MAX_RECEIVES it is in the DLQ with an alarm):
    its cause is recorded per object first, so the dead letter can be listed with its reason
    and replayed (`takedown dlq`)."""
    process_object, _ = _idempotent_process()
    for obj in s3_objects(record.body):
        # The correlation id: the upload's own until it opens or joins a case, then the case id,
        # which every later log line of the case carries (workflow, review, notice): the
        # "object processed" line holds both the upload (bucket, key) and the case.
        logger.append_keys(bucket=obj["bucket"], key=obj["key"])
        logger.set_correlation_id(upload_id(obj))
        try:
            result = process_object(obj=obj)
        except Exception as e:
            _record_failure(record, obj, e)
            raise
        if result.get("case_id"):
            logger.set_correlation_id(result["case_id"])
        logger.info("object processed", extra={**result, "upload_id": upload_id(obj)})


def _record_failure(record: SQSRecord, obj: dict[str, Any], error: Exception) -> None:
    unavailable = isinstance(error, IndexUnavailable)
    metrics.add_metric(name="IndexUnavailable" if unavailable else "IngestError", unit=MetricUnit.Count, value=1)
    logger.warning("object not processed; the message will be retried",
                   extra={"error": type(error).__name__, "detail": str(error)[:500]})
    try:
        _service().repo.record_ingest_failure(obj["bucket"], obj["key"], {
            "error": type(error).__name__, "message": str(error)[:2000], "message_id": record.message_id,
            "receive_count": int(record.attributes.approximate_receive_count or 1), "at": utcnow(),
            "index_unavailable": unavailable})
    except Exception:  # noqa: BLE001 - the table may be what failed; the retry and the DLQ still hold the message
        logger.exception("could not record the failure")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # With POWERTOOLS_METRICS_DISABLED (the local runtime, tests) log_metrics neither publishes
    # nor clears, and powertools prints the set to stdout once any metric reaches 100 values:
    # start each invocation empty (in AWS the set was already published and cleared).
    metrics.clear_metrics()
    _, config = _idempotent_process()
    config.register_lambda_context(context)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
