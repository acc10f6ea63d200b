"""Notice dispatch Lambda: render the approved case's notice and send it on its channel.

Errors keep their class name as the Lambda errorType, so the state machine retries
NoticeChannelError with backoff and fails the case at once on NoticeNotAllowed.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from takedown_adapters.aws import SesMailer
from takedown_adapters.dynamo import DynamoCaseRepository
from takedown_core.dispatch import NoticeService

from ._env import boto_client, cached, env, env_json, transient_errors_retryable

logger = Logger()
tracer = Tracer()


def _service() -> NoticeService:
    return cached(
        "notice",
        lambda: NoticeService(
            repo=DynamoCaseRepository(env("TABLE_NAME"), boto_client("dynamodb")),
            # One attempt per send: the state machine retries with backoff and each attempt is
            # recorded; botocore resending after a timeout could deliver a notice twice.
            mailer=SesMailer(boto_client("ses", single_attempt=True), env("SENDER")),
            complainant=env_json("COMPLAINANT"),
            platforms=env_json("PLATFORMS"),
        ),
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.append_keys(case_id=event.get("case_id"))
    with transient_errors_retryable():  # throttled table: TransientError, retried like a channel error
        result = _service().dispatch(case_id=event["case_id"])
    logger.info("notice dispatched", extra={k: result.get(k) for k in ("channel", "provider_id", "law")})
    return result
