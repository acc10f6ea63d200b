"""Workflow steps Lambda: one function, one action per Task state of the state machine."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from takedown_adapters.aws import SesMailer, read_secret_bytes
from takedown_adapters.clips import S3ClipMaker
from takedown_adapters.dynamo import DynamoCaseRepository
from takedown_core.workflow import ReviewSettings, WorkflowService

from ._env import boto_client, cached, env, env_json, env_optional, transient_errors_retryable

logger = Logger(service="takedown")  # as every function is deployed (POWERTOOLS_SERVICE_NAME), also when imported without it
tracer = Tracer()
metrics = Metrics(namespace="Takedown")  # as the alarms and the dashboard read it (components.Monitoring)


def _service() -> WorkflowService:
    def build() -> WorkflowService:
        reviewers = env_json("REVIEWERS")
        return WorkflowService(
            repo=DynamoCaseRepository(env("TABLE_NAME"), boto_client("dynamodb")),
            mailer=SesMailer(boto_client("ses"), env("SENDER")),
            settings=ReviewSettings(
                base_url=env("REVIEW_BASE_URL"),
                link_key=read_secret_bytes(boto_client("secretsmanager"), env("LINK_KEY_SECRET_ARN")),
                link_ttl_seconds=int(env("LINK_TTL_SECONDS")),
                reminders=int(env("REVIEW_REMINDERS", "1")),
                escalations=int(env("REVIEW_ESCALATIONS", "1")),
                allow=tuple(reviewers["allow"]),
                fallback=reviewers["fallback"],
                digest_threshold=int(env("REVIEW_DIGEST_THRESHOLD", "0")),
            ),
            counter_notice=env_json("COUNTER_NOTICE") if env_optional("COUNTER_NOTICE") else None,
            clips=_clip_maker(),
        )

    return cached("workflow", build)


def _clip_maker() -> "S3ClipMaker | None":
    """Clips go to the evidence bucket (EVIDENCE_BUCKET); our recordings come from
    REFERENCE_AUDIO_BUCKET, unset where the account holds none (cdk.json review.reference_audio)."""
    bucket = env_optional("EVIDENCE_BUCKET")
    if bucket is None:
        return None
    return S3ClipMaker(boto_client("s3"), evidence_bucket=bucket, reference_bucket=env_optional("REFERENCE_AUDIO_BUCKET"))


class UnknownAction(ValueError):
    pass


@logger.inject_lambda_context(log_event=False)  # request_review's event holds the task token
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    metrics.clear_metrics()  # locally (metrics disabled) nothing else clears the set
    action, case_id = event.get("action"), event.get("case_id")
    logger.append_keys(case_id=case_id, action=action)
    if case_id:
        logger.set_correlation_id(case_id)  # the case's correlation id, from its upload on (ingest)
    with transient_errors_retryable():
        result = _dispatch(_service(), action, case_id, event)
    if action == "review_timeout" and result.get("expired"):
        metrics.add_metric(name="ReviewExpired", unit=MetricUnit.Count, value=1)  # pages ops (Monitoring)
    elif action == "review_timeout":
        metrics.add_metric(name="ReviewOverdue", unit=MetricUnit.Count, value=1)  # a reminder or an escalation went out
    return result


def _dispatch(svc: WorkflowService, action: Any, case_id: Any, event: dict[str, Any]) -> dict[str, Any]:
    if action == "request_review":
        # Never log the task token.
        return svc.request_review(case_id=case_id, round_=int(event.get("round", 0)), task_token=event["task_token"])
    if action == "review_timeout":
        return svc.review_timeout(case_id=case_id, round_=int(event.get("round", 0)))
    if action == "approve_by_policy":
        return svc.approve_by_policy(case_id=case_id)
    if action == "send_digests":
        return svc.send_digests()
    if action == "record_outcome":
        return svc.record_outcome(case_id=case_id, outcome=event["outcome"], actor=event.get("actor", "ops"),
                                  note=event.get("note"))
    if action == "record_counter_notice":
        return svc.record_counter_notice(case_id=case_id, text=event["text"], actor=event.get("actor", "ops"),
                                         received_on=event.get("received_on"))
    if action == "reassign":
        return svc.reassign(case_id=case_id, reviewer=event["reviewer"], actor=event.get("actor", "ops"))
    if action == "record_failure":
        return svc.record_failure(case_id=case_id, error=event.get("error"))
    raise UnknownAction(f"unknown workflow action {action!r}")
