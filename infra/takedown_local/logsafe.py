"""Keep bearer credentials out of what the local runtime logs.

A signed review link decides a case for whoever holds it, the link key forges any link, a
CSRF token stands in for the page, and a task token resumes an execution. In AWS our
functions log through powertools only, and botocore logs nothing at INFO. Locally,
`--verbose` and tests turn libraries up to DEBUG, where botocore, urllib3, s3transfer and
moto dump request and response bodies: SES mails with the links, GetSecretValue with the key,
review items with their task tokens, Lambda payloads with review pages and posted forms.

``SecretsFilter`` is what the local runtime installs on the root logger's handlers (and on
its own loggers) while a stack runs:

- it drops the DEBUG records of those wire-level libraries. Their bodies hold credentials in
  too many encodings (JSON inside JSON, URL-encoded forms, HTML) to redact reliably, and their
  INFO and above (retries, errors, werkzeug's request lines) still pass;
- it redacts everything else that could carry one: ``sig`` and ``csrf`` values in query
  strings and forms, ``task_token`` / ``taskToken`` / ``SecretString`` JSON fields, hidden
  form inputs, and every value registered with :func:`protect` (the link key).
"""

from __future__ import annotations

import logging
import re
import threading

WIRE_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3", "moto", "werkzeug")
OWN_LOGGERS = ("takedown.local", "takedown.local.lambda")
REDACTED = "[redacted]"

_PATTERNS = (
    # sig=... / csrf=... in a query string or form, also URL-encoded (sig%3D...)
    re.compile(r"(?i)((?<![a-z])(?:sig|csrf)(?:=|%3D))[^&\s\"'<>\\]+"),
    # "task_token": "...", "taskToken": "...", "SecretString": "...", "sig"/"csrf" fields, escaped or not
    re.compile(r'(?i)((?:\\*")(?:task_?token|secret_?string|sig|csrf)(?:\\*")\s*:\s*(?:\\*"))[^"\\]+'),
    # <input type="hidden" name="csrf" value="...">
    re.compile(r'(?i)(name=(?:\\*")(?:csrf|sig)(?:\\*")\s+value=(?:\\*"))[^"\\]+'),
)
_lock = threading.Lock()
_values: set[str] = set()


def protect(value: str) -> None:
    """Redact this exact value wherever it appears in a log line from now on."""
    if value and len(value) >= 8:
        with _lock:
            _values.add(value)


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    with _lock:
        values = sorted(_values, key=len, reverse=True)
    for v in values:
        if v in text:
            text = text.replace(v, REDACTED)
    return text


def _is_wire(name: str) -> bool:
    return any(name == w or name.startswith(w + ".") for w in WIRE_LOGGERS)


class SecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.INFO and _is_wire(record.name):
            return False
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = SecretsFilter()
_installed: list[logging.Filterer] = []


def install() -> None:
    """Put the filter on the root logger's handlers and on the runtime's own loggers."""
    with _lock:
        targets = [*logging.root.handlers, *(logging.getLogger(n) for n in OWN_LOGGERS)]
        for t in targets:
            if _FILTER not in t.filters:
                t.addFilter(_FILTER)
                _installed.append(t)


def uninstall() -> None:
    with _lock:
        while _installed:
            _installed.pop().removeFilter(_FILTER)
