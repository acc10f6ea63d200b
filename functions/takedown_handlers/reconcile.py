"""Reconciler Lambda: on a schedule, moves cases stuck in a non-terminal state past a deadline.

See takedown_core.reconcile. The event may carry ``stuck_after_seconds`` to override the
deadline for one pass (ops, the local runtime).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from takedown_adapters.aws import StepFunctionsExecutions, StepFunctionsStarter
from takedown_adapters.dynamo import DynamoCaseRepository
from takedown_core.reconcile import Reconciler

from ._env import boto_client, cached, env

logger = Logger(service="takedown")  # as every function is deployed (POWERTOOLS_SERVICE_NAME), also when imported without it
tracer = Tracer()


def _service() -> Reconciler:
    def build() -> Reconciler:
        sfn = boto_client("stepfunctions")
        arn = env("STATE_MACHINE_ARN")
        return Reconciler(repo=DynamoCaseRepository(env("TABLE_NAME"), boto_client("dynamodb")),
                          executions=StepFunctionsExecutions(sfn, arn), starter=StepFunctionsStarter(sfn, arn),
                          stuck_after_seconds=float(env("STUCK_AFTER_SECONDS", "900")))

    return cached("reconcile", build)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    override = (event or {}).get("stuck_after_seconds")
    result = _service().run(stuck_after_seconds=None if override is None else float(override))
    if result["started"] or result["failed"]:
        logger.warning("reconciled stuck cases", extra=result)
    return result
