"""Notice dispatch Lambda: render the approved case's notices and send each on its route.

Errors keep their class name as the Lambda errorType, so the state machine retries
NoticeChannelError with backoff and jitter, and records the case NOTICE_FAILED at once on
NoticeNotAllowed or NoticeInDoubt. A ``DEFERRED`` answer (a rate limit, the platform's
Retry-After) makes the state machine wait ``deferred_seconds`` and dispatch again.

Environment: TABLE_NAME, SENDER, COMPLAINANT (JSON), PLATFORMS (JSON: the platform registry),
EVIDENCE_BUCKET (notices are kept under notices/), RIGHTS_DESK (address for copies; empty: none).
API signing secrets are read from Secrets Manager by the name in ``platforms.<p>.api.secret``
(Powertools Parameters, cached 5 minutes).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from takedown_adapters.aws import S3NoticeArchive, SesMailer
from takedown_adapters.dynamo import DynamoCaseRepository
from takedown_adapters.https_channel import HttpsApiChannel
from takedown_core.channels import EmailChannel, ManualChannel
from takedown_core.dispatch import NoticeService

from ._env import boto_client, cached, env, env_json, env_optional, transient_errors_retryable

logger = Logger(service="takedown")  # as every function is deployed (POWERTOOLS_SERVICE_NAME), also when imported without it
tracer = Tracer()
metrics = Metrics(namespace="Takedown")  # as the alarms and the dashboard read it (components.Monitoring)


def _secret(name: str) -> bytes:
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_secret(name, max_age=300)
    return value.encode() if isinstance(value, str) else bytes(value)


def _service() -> NoticeService:
    def build() -> NoticeService:
        import time

        repo = DynamoCaseRepository(env("TABLE_NAME"), boto_client("dynamodb"))
        # One attempt per send: the state machine retries with backoff and each attempt is
        # recorded; botocore resending after a timeout could deliver a notice twice.
        mailer = SesMailer(boto_client("ses", single_attempt=True), env("SENDER"))
        return NoticeService(
            repo=repo,
            mailer=mailer,
            complainant=env_json("COMPLAINANT"),
            platforms=env_json("PLATFORMS"),
            channels={"email": EmailChannel(mailer, sender=env("SENDER"), clock=time.time),
                      "api": HttpsApiChannel(_secret),
                      "manual": ManualChannel(repo, clock=time.time)},
            archive=S3NoticeArchive(boto_client("s3"), env("EVIDENCE_BUCKET")),
            rights_desk=env_optional("RIGHTS_DESK"),
            sender=env("SENDER"),
        )

    return cached("notice", build)


def _time_to_notice(opened_at: str | None) -> None:
    """TimeToNotice: seconds from the case's opening (``opened_at`` in dispatch's answer) to now."""
    from takedown_core.cases import seconds_between, utcnow

    seconds = seconds_between(opened_at, utcnow())
    if seconds is not None:
        metrics.add_metric(name="TimeToNotice", unit=MetricUnit.Seconds, value=seconds)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    metrics.clear_metrics()  # as ingest: locally (metrics disabled) nothing else clears the set
    logger.append_keys(case_id=event.get("case_id"))
    logger.set_correlation_id(event.get("case_id"))  # the case's correlation id, from its upload on (ingest)
    with transient_errors_retryable():  # throttled table: TransientError, retried like a channel error
        result = _service().dispatch(case_id=event["case_id"])
    # Notice_NOTICE_SENT / _QUEUED / _DEFERRED / _INVALID / _REJECTED: the last two page ops (Monitoring)
    metrics.add_metric(name=f"Notice_{result.get('status', 'UNKNOWN')}", unit=MetricUnit.Count, value=1)
    if result.get("status") == "NOTICE_SENT":
        _time_to_notice(result.get("opened_at"))
    logger.info("notice dispatched", extra={k: result.get(k) for k in ("status", "channel", "provider_id", "law",
                                                                       "deferred_seconds")})
    return result
