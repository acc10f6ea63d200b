"""Reading the Lambda environment into typed settings, once per container, lazily.

Nothing is built at import time (the local runtime and tests start moto first); handlers call
`cached(name, factory)` on first use, and `reset()` drops everything (a new local stack).
"""

from __future__ import annotations

import json
import os
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

T = TypeVar("T")
_lock = threading.RLock()
_cache: dict[str, Any] = {}


class SettingsError(RuntimeError):
    """A required environment variable is missing or malformed (a deployment bug)."""


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None or value == "":
        raise SettingsError(f"environment variable {name} is not set")
    return value


def env_optional(name: str) -> str | None:
    """The variable's value, or None when it is unset or empty (an optional setting)."""
    return os.environ.get(name) or None


SETTINGS_MAX_AGE = 300  # seconds a setting read from Parameter Store is reused before it is read again


def env_json(name: str) -> Any:
    """A JSON setting: from SSM Parameter Store when ``<NAME>_PARAMETER`` names its parameter
    (how the stack deploys partners, platforms, reviewers, likeness terms: Lambda's 4 KB of
    variables does not hold them), read through Powertools Parameters with a cache of
    SETTINGS_MAX_AGE seconds; else from the variable ``NAME`` itself.

    Raises SettingsError when neither is set or the value is not JSON."""
    parameter = os.environ.get(f"{name}_PARAMETER")
    if parameter:
        from aws_lambda_powertools.utilities.parameters import SSMProvider
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError

        provider = cached("settings:ssm", lambda: SSMProvider(boto3_client=boto_client("ssm")))
        try:
            return provider.get(parameter, transform="json", max_age=SETTINGS_MAX_AGE)
        except TransformParameterError as e:
            raise SettingsError(f"SSM parameter {parameter} ({name}) is not valid JSON: {e}") from e
        except GetParameterError as e:
            raise SettingsError(f"SSM parameter {parameter} ({name}) could not be read: {e}") from e
    try:
        return json.loads(env(name))
    except json.JSONDecodeError as e:
        raise SettingsError(f"environment variable {name} is not valid JSON: {e}") from e


def cached(name: str, factory: Callable[[], T]) -> T:
    with _lock:
        if name not in _cache:
            _cache[name] = factory()
        return _cache[name]


def reset() -> None:
    with _lock:
        _cache.clear()


def boto_client(service: str, *, single_attempt: bool = False) -> Any:
    """One boto3 client per service and container. ``single_attempt``: botocore does not retry
    on its own (the caller's workflow owns the retries and records each attempt; used where a
    silent resend could deliver twice, e.g. a legal notice)."""
    import boto3
    from botocore.config import Config

    if single_attempt:
        return cached(f"client:{service}:single-attempt", lambda: boto3.client(
            service, config=Config(retries={"total_max_attempts": 1, "mode": "standard"})))
    return cached(f"client:{service}", lambda: boto3.client(service))


# AWS error codes that mean "not now" rather than "no": throttling, a busy service, a transaction
# that lost a race. (botocore's own retries have already been spent when one reaches us.)
TRANSIENT_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException", "RequestLimitExceeded",
    "ProvisionedThroughputExceededException", "RequestThrottled", "SlowDown", "ServiceUnavailable",
    "ServiceUnavailableException", "InternalServerError", "InternalFailure", "InternalError", "RequestTimeout",
    "RequestTimeoutException", "TransactionConflictException",
})


@contextmanager
def transient_errors_retryable() -> Iterator[None]:
    """Turn throttling and connection errors from boto3 into ``TransientError`` (whose class name
    the state machine retries with backoff); every other error passes unchanged."""
    from botocore.exceptions import ClientError, ConnectionError as BotoConnectionError, HTTPClientError

    from takedown_core.ports import TransientError

    try:
        yield
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        if code in TRANSIENT_CODES:
            raise TransientError(f"{code}: {e}") from e
        raise
    except (BotoConnectionError, HTTPClientError) as e:
        raise TransientError(f"{type(e).__name__}: {e}") from e
