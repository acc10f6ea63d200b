"""Run moto's Lambda invocations in-process with the real handler, instead of in Docker.

moto executes Lambda code only through Docker, which these machines lack. Its one Docker
call is `LambdaFunction._invoke_lambda`; replacing it lets the handler named in the
function's `Handler` run here, with the function's environment, and return what AWS would:
the JSON result, or an error payload whose errorType is the exception's class name (so
Step Functions Retry/Catch match on it as they do in AWS). Re-check on a moto upgrade.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import threading
import time
import traceback
import uuid
from contextlib import contextmanager
from typing import Any, Iterator

log = logging.getLogger("takedown.local.lambda")
_env_lock = threading.Lock()


class LambdaContext:
    """The parts of the Lambda context object that handlers and powertools read."""

    def __init__(self, fn: Any) -> None:
        self.function_name = fn.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = fn.function_arn
        self.memory_limit_in_mb = int(fn.memory_size or 128)
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{fn.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + float(fn.timeout or 3)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def invoke_handler(handler_path: str, event: Any, context: Any) -> tuple[str, bool, str]:
    """(payload JSON, errored, log text) the way the Lambda runtime reports them."""
    module_name, _, func_name = handler_path.rpartition(".")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
        result = func(event, context)
        return json.dumps(result, default=str), False, ""
    except Exception as e:  # noqa: BLE001 - reported to the caller exactly like Lambda does
        tb = traceback.format_exc()
        log.warning("%s raised %s: %s", handler_path, type(e).__name__, e)
        payload = {"errorType": type(e).__name__, "errorMessage": str(e), "stackTrace": tb.splitlines()[-8:]}
        return json.dumps(payload), True, tb


def _invoke_in_process(self: Any, event: Any = None) -> tuple[str, bool, str]:
    if isinstance(event, (str, bytes)):
        event = json.loads(event or "{}")
    return invoke_handler(self.handler, event if event is not None else {}, LambdaContext(self))


@contextmanager
def in_process_lambdas() -> Iterator[None]:
    """Patch moto so Lambda functions run in this process (undone on exit)."""
    from moto.awslambda import models as lambda_models
    from moto.utilities import docker_utilities

    saved_invoke = lambda_models.LambdaFunction._invoke_lambda
    saved_client = docker_utilities.DockerModel.docker_client
    lambda_models.LambdaFunction._invoke_lambda = _invoke_in_process  # type: ignore[method-assign]
    # /moto-api/data.json and some code paths touch the Docker client just by listing Lambdas.
    docker_utilities.DockerModel.docker_client = property(lambda self: None)  # type: ignore[assignment]
    try:
        yield
    finally:
        lambda_models.LambdaFunction._invoke_lambda = saved_invoke  # type: ignore[method-assign]
        docker_utilities.DockerModel.docker_client = saved_client  # type: ignore[assignment]


def apply_environment(functions_env: dict[str, dict[str, str]]) -> dict[str, str]:
    """Put every function's environment into this process's environment.

    All handlers share one process here, so a variable two functions both define must have
    the same value in both (the template is built that way); a clash is a bug, said loudly.
    """
    merged: dict[str, str] = {}
    for fn, variables in functions_env.items():
        for k, v in variables.items():
            if k in merged and merged[k] != v and not k.startswith("POWERTOOLS_"):
                raise RuntimeError(f"environment variable {k} differs between functions ({fn}): cannot run in-process")
            merged[k] = v
    with _env_lock:
        os.environ.update(merged)
    return merged
