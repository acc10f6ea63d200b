"""What ops see of one upload: one correlation id from the upload's case to its notice in
every function's logs, and the Powertools metrics the dashboard and alarms read."""

from __future__ import annotations

import json

import pytest

from takedown_local import driver
from takedown_local.runtime import LocalStack

from tests.workflow.conftest import uploads_dir

pytestmark = pytest.mark.timeout(180)


def _json_lines(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return out


def test_given_an_upload_to_notice_then_one_correlation_id_and_the_metrics_of_each_step(tmp_path, media, capfd,
                                                                                       monkeypatch, request):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")  # EMF lines on stdout, as Lambda writes them
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "INFO")
    import logging

    service = logging.getLogger("takedown")  # the functions' Powertools loggers (service "takedown")
    level = service.level
    service.setLevel(logging.INFO)  # a CLI test earlier in the process may have quietened it
    request.addfinalizer(lambda: service.setLevel(level))
    import sys

    # a handler made during an earlier test writes to that test's captured stdout; a handler module
    # first imported outside a stack (a unit test's) logs as Powertools' "service_undefined"
    for h in [*service.handlers, *logging.getLogger("service_undefined").handlers]:
        if isinstance(h, logging.StreamHandler):
            old, h.stream = h.stream, sys.stdout  # not setStream: it flushes the old, maybe closed, stream
            request.addfinalizer(lambda h=h, old=old: setattr(h, "stream", old))
    with LocalStack("dev", overrides={"notice": {"retry_attempts": 2, "retry_interval_seconds": 1}}) as stack:
        sidecar = json.dumps({"source_url": "https://www.youtube.com/watch?v=obs1", "platform": "youtube",
                              "uploader": "someone", "title": "ref"})
        up = uploads_dir(tmp_path, media, ["excerpt.mp3"], {"excerpt.json": sidecar})
        summary = driver.run(stack, catalog=media["catalog"], uploads=up, decide="approve")
        row = summary["uploads"][0]
        assert row["case_status"] == "NOTICE_SENT"
        case_id = row["case_id"]
    lines = _json_lines(capfd.readouterr().out)

    emitted = {m["Name"] for line in lines if "_aws" in line
               for d in line["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {"Upload_case", "Case_copy", "Decision_approve", "TimeToDecision", "Notice_NOTICE_SENT",
            "TimeToNotice"} <= emitted, emitted

    correlated = [line for line in lines if line.get("correlation_id") == case_id]
    messages = {line.get("message") for line in correlated}
    assert {"object processed", "decided", "notice dispatched"} <= messages, messages
    handlers = {str(line.get("function_name", "")) for line in correlated}
    assert len(handlers) >= 3, handlers  # ingest, review API, notice (and the workflow steps)
    processed = next(line for line in correlated if line.get("message") == "object processed")
    assert processed["upload_id"].startswith("upload:") and processed["key"].endswith("excerpt.mp3")
