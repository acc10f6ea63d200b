"""No bearer credential reaches a log: a full local run, reviews included, every logger at DEBUG.

A signed review link decides a takedown for whoever holds it, the HMAC key forges any link,
and a task token resumes an execution: none of them may appear in anything logged, by our
code or by a library (botocore, moto, werkzeug, urllib3, powertools), on stderr or stdout.
"""

from __future__ import annotations

import html
import io
import json
import logging
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from takedown_core.review_links import csrf_token
from takedown_local import driver
from takedown_local.runtime import LocalStack

from tests.workflow.conftest import uploads_dir

pytestmark = pytest.mark.timeout(240)

HANDLER_MODULES = ("ingest", "shard_match", "workflow", "review_api", "notice")
LIBRARIES = ("botocore", "boto3", "s3transfer", "urllib3", "moto", "werkzeug", "aws_lambda_powertools",
             "aws_xray_sdk", "takedown", "takedown_core", "takedown_adapters", "takedown_handlers", "takedown_local")


class Capture:
    """Every logger at DEBUG, every record and every stream handler's output into one buffer."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.handler = logging.StreamHandler(self.buffer)
        self.handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.handler.setLevel(logging.DEBUG)
        self._levels: dict[str, int] = {}
        self._streams: list[tuple[logging.StreamHandler, object, int]] = []

    def start(self) -> None:
        import importlib

        for module in HANDLER_MODULES:  # their powertools Loggers (stdout handlers) exist from here on
            importlib.import_module(f"takedown_handlers.{module}")
        names = set(logging.root.manager.loggerDict) | set(LIBRARIES)
        for name in [""] + sorted(names):
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            logger.setLevel(logging.DEBUG)
            for h in logger.handlers:
                if type(h) is logging.StreamHandler and h is not self.handler:  # powertools' stdout handlers
                    self._streams.append((h, h.setStream(self.buffer), h.level))
                    h.setLevel(logging.DEBUG)
        logging.root.addHandler(self.handler)

    def stop(self) -> None:
        if self.handler not in logging.root.handlers:
            return
        logging.root.removeHandler(self.handler)
        for h, stream, level in self._streams:
            h.setStream(stream)
            h.setLevel(level)
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)

    def text(self) -> str:
        return self.buffer.getvalue()


def _forms(secret: str) -> set[str]:
    """The ways a value can show up in a log line: as is, URL-encoded, HTML-escaped, JSON-escaped."""
    return {secret, quote(secret, safe=""), html.escape(secret), json.dumps(secret)[1:-1]}


def _secrets(stack: LocalStack) -> dict[str, str]:
    """Every credential of the run: the link key, task tokens, signed links, sig values, CSRF tokens."""
    from takedown_core.ports import Review

    key_arn = next(r.ref for r in stack.resources.values() if r.type == "AWS::SecretsManager::Secret")
    key = stack.client("secretsmanager").get_secret_value(SecretId=key_arn)["SecretString"]
    found = {"link key": key}
    items = stack.client("dynamodb").scan(TableName=stack.table_name)["Items"]
    reviews = [Review(**json.loads(i["data"]["S"])) for i in items if i["pk"]["S"].startswith("REVIEW#")]
    assert reviews
    for r in reviews:
        found[f"task token of {r.review_id}"] = r.task_token
        found[f"csrf of {r.review_id}"] = csrf_token(key.encode(), review_id=r.review_id, reviewer=r.reviewer,
                                                     expires_at=r.expires_at)
    links = stack.review_links()
    assert links
    for link in links:
        found[f"link {link['url']}"] = link["url"]
        found[f"query of {link['url']}"] = urlsplit(link["url"]).query
        found[f"sig of {link['url']}"] = parse_qs(urlsplit(link["url"]).query)["sig"][0]
    return found


def test_given_a_full_local_run_with_every_logger_at_debug_then_no_link_token_or_key_is_logged(tmp_path, media, capfd):
    sidecar = json.dumps({"source_url": "https://www.youtube.com/watch?v=logs", "platform": "youtube"})
    sped = json.dumps({"source_url": "https://www.youtube.com/watch?v=logs2"})  # on the platform: a notice can go
    up = uploads_dir(tmp_path, media, ["excerpt.mp3", "sped.m4a", "unrelated.ogg"], {"excerpt.json": sidecar, "sped.json": sped})
    cap = Capture()
    cap.start()  # before the stack starts, as the command line configures logging first
    try:
        with LocalStack("dev") as stack:
            try:
                summary = driver.run(stack, catalog=media["catalog"], uploads=up, decide="approve")
                assert {r["case_status"] for r in summary["uploads"] if r["outcome"] == "case"} == {"NOTICE_SENT"}
                url = stack.review_links()[0]["url"]
                assert driver.http("GET", url)[0] == 409  # a replayed link after the decision: logged too
            finally:
                cap.stop()  # what the test reads next to find the secrets is not part of the run
            secrets = _secrets(stack)
    finally:
        cap.stop()
    out, err = capfd.readouterr()
    logged = "\n".join((cap.text(), out, err))

    # the capture saw the run: libraries, the local API gateway's access log, our handlers
    assert "INFO botocore" in logged and 'review api: "GET /v1/review/' in logged
    assert '"message":"decision request"' in logged
    leaks = sorted(name for name, value in secrets.items() if any(f in logged for f in _forms(value)))
    assert not leaks, "logged: " + ", ".join(leaks)
