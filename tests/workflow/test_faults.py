"""Faults injected on the embedded stack (issue 13): recovery with nothing lost or doubled.

Each test breaks one real part of the running stack (a handler, an adapter's AWS call) the way
it fails in AWS, lets the stack's own retries, redeliveries and reconciler work, and then
counts: one outcome per upload, one case per (work, location), one execution per case, one
notice per case.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from takedown_core.cases import Status
from takedown_local import driver
from takedown_local.runtime import LocalStack

from tests.workflow.conftest import uploads_dir, wait_until

pytestmark = pytest.mark.timeout(240)
FAST_NOTICE = {"notice": {"retry_attempts": 3, "retry_interval_seconds": 1}}


def _executions(stack: LocalStack) -> list[dict]:
    return stack.client("stepfunctions").list_executions(stateMachineArn=stack.state_machine_arn)["executions"]


def _notices_sent(stack: LocalStack, case_id: str) -> int:
    return sum(1 for m in stack.sent_mail() if case_id in m["subject"] and "notice" in m["subject"].lower()
               and not m["subject"].startswith("[copy]"))


def _throttled(op: str) -> ClientError:
    return ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, op)


def _sidecars(names: list[str], url: str = "https://www.youtube.com/watch?v={n}") -> dict[str, str]:
    return {f"{n.rsplit('.', 1)[0]}.json": json.dumps({"source_url": url.format(n=i)}) for i, n in enumerate(names)}


def test_given_the_fingerprint_function_dies_mid_batch_then_redelivery_finishes_it_with_nothing_doubled(
        tmp_path, media, index_dir, monkeypatch):
    import takedown_handlers.ingest as ingest

    real = ingest.handler
    calls = {"n": 0}

    def dies_after_two(event, context):
        calls["n"] += 1
        if calls["n"] == 1 and len(event["Records"]) > 2:
            for record in event["Records"][:2]:  # two objects fully processed, then the container dies
                ingest.record_handler(ingest.SQSRecord(record))
            raise RuntimeError("Runtime exited with error: signal: killed")
        return real(event, context)

    monkeypatch.setattr(ingest, "handler", dies_after_two)
    names = ["a.mp3", "b.mp3", "c.mp3", "d.mp3", "e.mp3"]
    up = tmp_path / "up"
    up.mkdir()
    for i, n in enumerate(names):  # the same excerpt at five places: five cases of one work
        (up / n).write_bytes(media["excerpt.mp3"].read_bytes())
        (up / f"{n[:-4]}.json").write_text(json.dumps({"source_url": f"https://youtu.be/vid{i}"}))
    with LocalStack("dev") as stack:
        driver.publish_index(stack, index_dir)
        with stack.ingest_paused():  # the five arrive as one batch
            dropped = driver.drop_uploads(stack, up)
        driver.wait_ingested(stack, dropped, progress=False)
        assert calls["n"] >= 2  # it died once and the batch came back
        repo = stack.repository()
        recs = [repo.get_upload(u.bucket, u.key) for u in dropped]
        assert all(r is not None and r.outcome == "case" for r in recs)
        cases = {r.case_id for r in recs}
        assert len(cases) == 5
        for cid in cases:
            assert [e.action for e in repo.audit_trail(cid)].count("opened") == 1
        wait_until(lambda: len(_executions(stack)) == 5, 30, "five executions")
        assert sorted(e["name"] for e in _executions(stack)) == sorted(cases)


def test_given_two_workers_on_one_case_at_once_then_one_case_and_one_execution(tmp_path, media, index_dir):
    """Conditional-write conflict: two uploads of one item processed at the same instant."""
    with LocalStack("dev") as stack:
        driver.publish_index(stack, index_dir)
        s3 = stack.client("s3")
        bucket = next(iter(stack.partner_buckets.values()))
        with stack.ingest_paused():
            for key, url in (("w1.mp3", "https://youtu.be/same0001"), ("w2.mp3", "https://m.youtube.com/watch?v=same0001")):
                s3.put_object(Bucket=bucket, Key=key.rsplit(".", 1)[0] + ".json", Body=json.dumps({"source_url": url}))
                s3.put_object(Bucket=bucket, Key=key, Body=media["excerpt.mp3"].read_bytes())
            fn = stack.function_name("takedown_handlers.ingest.handler")
            results = []

            def invoke(key: str) -> None:
                size = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
                etag = s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
                body = json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {
                    "bucket": {"name": bucket}, "object": {"key": key, "size": size, "eTag": etag}}}]})
                event = {"Records": [{"messageId": f"m-{key}", "receiptHandle": "r", "body": body, "attributes": {
                    "ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:q", "awsRegion": "eu-west-1"}]}
                resp = stack.client("lambda").invoke(FunctionName=fn, Payload=json.dumps(event).encode())
                results.append(json.loads(resp["Payload"].read()))

            threads = [threading.Thread(target=invoke, args=(k,)) for k in ("w1.mp3", "w2.mp3")]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert all(r == {"batchItemFailures": []} for r in results), results
        repo = stack.repository()
        a, b = repo.get_upload(bucket, "w1.mp3"), repo.get_upload(bucket, "w2.mp3")
        assert a.case_id == b.case_id and a.outcome == b.outcome == "case"
        assert [e.action for e in repo.audit_trail(a.case_id)].count("opened") == 1
        wait_until(lambda: _executions(stack), 30, "the execution")
        time.sleep(1.0)  # the queued notifications replay as repeat events meanwhile
        assert [e["name"] for e in _executions(stack)] == [a.case_id]


def test_given_start_execution_fails_once_after_the_case_is_written_then_the_retry_starts_it(
        tmp_path, media, index_dir, monkeypatch):
    from takedown_adapters import aws

    real = aws.StepFunctionsStarter.start
    calls = {"n": 0}

    def flaky(self, case_id, payload):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "try later"}}, "StartExecution")
        return real(self, case_id, payload)

    monkeypatch.setattr(aws.StepFunctionsStarter, "start", flaky)
    with LocalStack("dev") as stack:
        up = uploads_dir(tmp_path, media, ["excerpt.mp3"], _sidecars(["excerpt.mp3"]))
        summary = driver.run(stack, catalog=media["catalog"], uploads=up, decide="none")
        row = summary["uploads"][0]
        assert (row["outcome"], row["case_status"], summary["lost"]) == ("case", "IN_REVIEW", 0)
        assert calls["n"] == 2 and [e["name"] for e in _executions(stack)] == [row["case_id"]]


def test_given_start_execution_keeps_failing_then_the_reconciler_starts_it_once_it_works(
        tmp_path, media, index_dir, monkeypatch):
    """Nothing orphaned: the message is dead-lettered with its reason, the case waits in
    DETECTED, and the reconciler starts its execution once Step Functions answers again."""
    from takedown_adapters import aws

    real = aws.StepFunctionsStarter.start
    broken = {"on": True}

    def down(self, case_id, payload):
        if broken["on"]:
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "StartExecution")
        return real(self, case_id, payload)

    monkeypatch.setattr(aws.StepFunctionsStarter, "start", down)
    with LocalStack("dev") as stack:
        driver.publish_index(stack, index_dir)
        dropped = driver.drop_uploads(stack, uploads_dir(tmp_path, media, ["excerpt.mp3"], _sidecars(["excerpt.mp3"])))
        wait_until(lambda: driver.dlq_depth(stack) == 1, 60, "the dead letter")
        repo = stack.repository()
        u = dropped[0]
        assert repo.get_ingest_failure(u.bucket, u.key)["error"] == "ClientError"
        [case] = repo.list_cases(Status.DETECTED)
        assert _executions(stack) == []
        broken["on"] = False
        moved = driver.reconcile_now(stack)
        assert moved["started"] == [case.case_id]
        wait_until(lambda: driver.settled(stack, case.case_id), 30, "review")
        assert repo.get_case(case.case_id).status == Status.IN_REVIEW
        assert driver.reconcile_now(stack)["started"] == []  # running: left alone


def test_given_ses_throttles_review_mail_then_the_step_is_retried_and_the_reviewer_is_asked_once(
        tmp_path, media, index_dir, monkeypatch):
    from takedown_adapters import aws

    real = aws.SesMailer.send
    throttles = {"left": 2}

    def throttled(self, *, to, subject, text, html=None):
        if throttles["left"] and "review" in subject.lower():
            throttles["left"] -= 1
            raise _throttled("SendEmail")
        return real(self, to=to, subject=subject, text=text, html=html)

    monkeypatch.setattr(aws.SesMailer, "send", throttled)
    with LocalStack("dev") as stack:
        up = uploads_dir(tmp_path, media, ["excerpt.mp3"], _sidecars(["excerpt.mp3"]))
        summary = driver.run(stack, catalog=media["catalog"], uploads=up, decide="approve")
        row = summary["uploads"][0]
        assert throttles["left"] == 0
        assert (row["case_status"], summary["failed"], summary["unfinished"]) == ("NOTICE_SENT", 0, [])
        assert _notices_sent(stack, row["case_id"]) == 1


@pytest.mark.parametrize("fault", ["connect_timeout", "read_timeout"])
def test_given_the_notice_endpoint_times_out_then_it_recovers_or_stops_in_doubt_never_sending_twice(
        tmp_path, media, monkeypatch, fault):
    from takedown_adapters import aws

    real_send_raw = None
    attempts = {"n": 0}

    def flaky_client(self, **kw):
        attempts["n"] += 1
        if attempts["n"] == 1:
            if fault == "connect_timeout":
                raise EndpointConnectionError(endpoint_url="https://email.eu-west-1.amazonaws.com")
            real_send_raw(**kw)  # it went out ...
            raise ReadTimeoutError(endpoint_url="https://email.eu-west-1.amazonaws.com")  # ... no answer came
        return real_send_raw(**kw)

    real = aws.SesMailer.send_raw

    def send_raw(self, *, to, data):
        nonlocal real_send_raw
        if not any(a.startswith("copyright@") for a in to):  # the rights desk's copy goes as usual
            return real(self, to=to, data=data)
        real_send_raw = self.ses.send_raw_email

        class Flaky:
            def send_raw_email(_, **kw):
                return flaky_client(self, **kw)

        return real(aws.SesMailer(Flaky(), self.sender), to=to, data=data)

    monkeypatch.setattr(aws.SesMailer, "send_raw", send_raw)
    with LocalStack("dev", overrides=FAST_NOTICE) as stack:
        up = uploads_dir(tmp_path, media, ["excerpt.mp3"], _sidecars(["excerpt.mp3"]))
        summary = driver.run(stack, catalog=media["catalog"], uploads=up, decide="approve")
        row = summary["uploads"][0]
        assert _notices_sent(stack, row["case_id"]) == 1  # exactly one, in both cases
        if fault == "connect_timeout":
            assert (row["case_status"], attempts["n"]) == ("NOTICE_SENT", 2)
        else:
            assert row["case_status"] == "NOTICE_FAILED" and "check the platform" in row["reason"]
            assert attempts["n"] == 1


def test_given_recording_a_failure_fails_once_then_it_is_retried_and_the_case_ends_failed_with_its_cause(
        tmp_path, media, monkeypatch):
    """Found under load: executions died inside 'Record failure' and cases stayed DETECTED."""
    from takedown_core.workflow import WorkflowService

    real = WorkflowService.record_failure
    calls = {"n": 0}

    def flaky(self, **kw):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("dictionary changed size during iteration")
        return real(self, **kw)

    monkeypatch.setattr(WorkflowService, "record_failure", flaky)
    # the notice channel breaks (SES no longer takes mail from the sender): that failure is recorded
    with LocalStack("dev", overrides=FAST_NOTICE) as stack:
        up = uploads_dir(tmp_path, media, ["excerpt.mp3"], _sidecars(["excerpt.mp3"]))
        summary = driver.run(stack, catalog=media["catalog"], uploads=up, decide="none")
        case_id = summary["uploads"][0]["case_id"]
        stack.client("ses").delete_identity(Identity=stack.config.sender)
        assert driver.decide_case(stack, case_id, "approve") == 200
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not driver.finished(stack, case_id):
            time.sleep(0.5)
        case = stack.repository().get_case(case_id)
        assert calls["n"] == 2
        assert case.status.value == "NOTICE_FAILED" and "NoticeChannelError" in json.dumps(case.failure)
