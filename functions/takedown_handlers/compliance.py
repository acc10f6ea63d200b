"""Compliance check Lambda (on a schedule): is the content down some time after its notice?

See takedown_core.compliance. Environment: TABLE_NAME, SENDER, COMPLIANCE (JSON: check_after_hours,
escalate_after_hours, checker "http" | "none", notify), GONE_MARKERS (JSON: platform -> texts).
The event may carry ``check_after_hours`` / ``escalate_after_hours`` to override them for one
pass (ops, the local runtime).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from takedown_adapters.aws import SesMailer
from takedown_adapters.content_checker import HttpContentChecker
from takedown_adapters.dynamo import DynamoCaseRepository
from takedown_core.compliance import ComplianceService, ComplianceSettings, NoChecker

from ._env import boto_client, cached, env, env_json

logger = Logger(service="takedown")  # as every function is deployed (POWERTOOLS_SERVICE_NAME), also when imported without it
tracer = Tracer()


def _settings(event: dict[str, Any]) -> ComplianceSettings:
    cfg = {**env_json("COMPLIANCE"), **{k: v for k, v in (event or {}).items()
                                          if k in ("check_after_hours", "escalate_after_hours")}}
    return ComplianceSettings(check_after_hours=float(cfg["check_after_hours"]),
                              escalate_after_hours=float(cfg["escalate_after_hours"]), notify=str(cfg["notify"]))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    repo = cached("compliance:repo", lambda: DynamoCaseRepository(env("TABLE_NAME"), boto_client("dynamodb")))
    checker = cached("compliance:checker", lambda: HttpContentChecker(env_json("GONE_MARKERS"))
                     if env_json("COMPLIANCE").get("checker") == "http" else NoChecker())
    mailer = cached("compliance:mailer", lambda: SesMailer(boto_client("ses"), env("SENDER")))
    result = ComplianceService(repo=repo, checker=checker, mailer=mailer, settings=_settings(event)).run()
    if result["escalated"] or result["removed"]:
        logger.info("compliance checked", extra=result)
    return result
