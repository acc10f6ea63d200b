"""The local runtime's log filter: wire dumps dropped, credentials redacted in every encoding."""

from __future__ import annotations

import io
import logging

import pytest

from takedown_local import logsafe

SIG = "v1.ukOTWkWK5IKT3W8iKHGFZIRDPCAXIzjfOhQMrnUfHvI"
CSRF = "c1.Zx9-abcdefghijklmnopqrstuvwxyz0123456789"
TOKEN = "91d34b39-004b-4646-949c-23a4a32d9cc7"


@pytest.mark.parametrize("line", [
    f"GET /v1/review/abc?exp=1796127788&sig={SIG} HTTP/1.1",                       # access log
    f"Message.Body.Text.Data=open+https%3A%2F%2Fx%2Fv1%2Freview%2Fabc%3Fexp%3D1%26sig%3D{SIG}",  # SES form body
    f'<a href="https://x/v1/review/abc?exp=1&amp;sig={SIG}">',                      # HTML mail
    f"body: csrf={CSRF}&exp=1&sig={SIG}&decision=approve",                          # posted form
    f'{{"queryStringParameters": {{"exp": "1", "sig": "{SIG}"}}, "body": "csrf={CSRF}"}}',  # Lambda event
    f'<input type="hidden" name="csrf" value="{CSRF}"><input type="hidden" name="sig" value="{SIG}">',
    f'{{"data": {{"S": "{{\\"task_token\\": \\"{TOKEN}\\", \\"used\\": false}}"}}}}',     # review item, nested
    f'{{"taskToken": "{TOKEN}", "output": "{{}}"}}',                                 # SendTaskSuccess
])
def test_given_a_line_with_a_credential_then_it_is_redacted(line):
    clean = logsafe.redact(line)
    assert SIG not in clean and CSRF not in clean and TOKEN not in clean
    assert logsafe.REDACTED in clean


def test_given_a_protected_value_then_it_is_redacted_wherever_it_appears():
    key = "k3yMaterial-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
    logsafe.protect(key)
    assert key not in logsafe.redact(f'{{"SecretString": "x", "other": "{key}"}} and {key}')


def _logged(name: str, level: int, msg: str, *args, **kw) -> str:
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.addFilter(logsafe.SecretsFilter())
    logger = logging.getLogger(name)
    saved, logger.level = logger.level, logging.DEBUG
    logger.addHandler(handler)
    try:
        logger.log(level, msg, *args, **kw)
    finally:
        logger.removeHandler(handler)
        logger.level = saved
    return buf.getvalue()


def test_given_wire_libraries_at_debug_then_their_body_dumps_are_dropped_and_their_warnings_kept():
    assert _logged("botocore.endpoint", logging.DEBUG, "Making request with params: %s", {"body": "x"}) == ""
    assert _logged("moto.stepfunctions.parser", logging.DEBUG, "[ASL] context") == ""
    assert _logged("urllib3.connectionpool", logging.DEBUG, "GET /x") == ""
    assert "Retry needed" in _logged("botocore.retryhandler", logging.WARNING, "Retry needed")
    assert "wire-ish" in _logged("botocorex", logging.DEBUG, "wire-ish")  # only those libraries


def test_given_our_own_debug_lines_then_they_pass_redacted():
    out = _logged("takedown.local", logging.DEBUG, "review api: %s", f"GET /v1/review/a?sig={SIG}")
    assert "review api: GET /v1/review/a?sig=" in out and SIG not in out


def test_given_an_exception_text_with_a_token_then_the_traceback_is_redacted():
    try:
        raise RuntimeError(f'could not resume: {{"taskToken": "{TOKEN}"}}')
    except RuntimeError:
        out = _logged("takedown_core.review_service", logging.ERROR, "failed", exc_info=True)
    assert "RuntimeError" in out and TOKEN not in out


def test_given_install_then_root_handlers_carry_the_filter_until_uninstall():
    handler = logging.StreamHandler(io.StringIO())
    logging.root.addHandler(handler)
    try:
        logsafe.install()
        assert any(isinstance(f, logsafe.SecretsFilter) for f in handler.filters)
        logsafe.uninstall()
        assert not any(isinstance(f, logsafe.SecretsFilter) for f in handler.filters)
    finally:
        logging.root.removeHandler(handler)
