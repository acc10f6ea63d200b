"""The local runtime against the recorded events (tests/events/, tests/recorded_events.py).

Handlers are tested with events in the shape AWS sends; here the local runtime's own events are
held to that shape too: the loopback API Gateway's proxy events (apigw.py, http_front.py) and
the SQS poller's batches (poller.py), captured on their way into the real handlers during a
local run. And the steps function takes the recorded Step Functions task input.
"""

from __future__ import annotations

import json

import pytest

from takedown_core.cases import Status
from takedown_local import driver
from takedown_local.lambda_patch import LambdaContext
from takedown_local.runtime import LocalStack
from tests.recorded_events import load, request_review_task, shape

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def run(media, tmp_path_factory):
    """A local run (two uploads, two cases in review), the first case's link opened and approved
    over HTTP; with every event the ingest and review API handlers received."""
    import takedown_handlers.ingest as ingest
    import takedown_handlers.review_api as review_api

    seen: dict[str, list[dict]] = {"ingest": [], "review_api": []}
    with pytest.MonkeyPatch.context() as mp:
        for name, module in (("ingest", ingest), ("review_api", review_api)):
            real = module.handler

            def spy(event, context, real=real, name=name):
                seen[name].append(json.loads(json.dumps(event)))
                return real(event, context)

            mp.setattr(module, "handler", spy)  # lambda_patch looks the handler up on every invocation
        with LocalStack("dev") as stack:
            up = tmp_path_factory.mktemp("recorded")
            for name in ("clip-0.mp3", "clip-1.mp3"):
                (up / name).write_bytes(media["excerpt.mp3"].read_bytes())
            summary = driver.run(stack, catalog=media["catalog"], uploads=up, decide="none")
            case_ids = [row["case_id"] for row in summary["uploads"]]
            assert len(set(case_ids)) == 2 and {r["case_status"] for r in summary["uploads"]} == {"IN_REVIEW"}
            assert driver.decide_case(stack, case_ids[0], "approve") == 200  # GET the page, POST the form
            yield stack, case_ids, seen


def _one(events: list[dict], method: str, resource: str) -> dict:
    found = [e for e in events if e["httpMethod"] == method and e["resource"] == resource]
    assert found, [(e["httpMethod"], e["resource"]) for e in events]
    return found[-1]


@pytest.mark.parametrize("method, resource, recorded", [
    ("GET", "/review/{review_id}", "apigw_review_page_get.json"),
    ("POST", "/review/{review_id}/decision", "apigw_review_decision_post.json"),
])
def test_given_the_local_api_gateway_then_its_proxy_events_have_the_recorded_shape(run, method, resource, recorded):
    _, _, seen = run
    local = _one(seen["review_api"], method, resource)
    aws = load(recorded)

    assert shape(local) == shape(aws)
    assert set(local["headers"]) == set(local["multiValueHeaders"])
    assert local["requestContext"]["path"] == f"/{local['requestContext']['stage']}{local['path']}"
    assert local["requestContext"]["resourcePath"] == local["resource"] == aws["resource"]
    assert local["pathParameters"].keys() == aws["pathParameters"].keys()
    if local["queryStringParameters"]:
        assert set(local["queryStringParameters"]) == set(aws["queryStringParameters"]) == {"exp", "sig"}


def test_given_the_local_sqs_poller_then_its_batches_have_the_recorded_shape(run):
    _, _, seen = run
    aws_record = load("sqs_s3_object_created.json")["Records"][0]
    records = [r for e in seen["ingest"] for r in e["Records"]]
    uploads = [r for r in records if json.loads(r["body"]).get("Records")]
    assert uploads, "no S3 notification reached the ingest function"

    for r in records:
        assert shape(r) == shape(aws_record)
    # The body is moto's S3 notification, not ours: it lacks userIdentity, requestParameters and
    # responseElements (moto 5.2), which the ingest handler never reads. What it reads is there,
    # with the recorded types; the handler tests use the recorded notification, all of it.
    aws_s3 = json.loads(aws_record["body"])["Records"][0]
    for r in uploads:
        local_s3 = json.loads(r["body"])["Records"][0]
        assert local_s3["eventName"].startswith("ObjectCreated:") and local_s3["eventSource"] == aws_s3["eventSource"]
        assert shape(local_s3["s3"]["bucket"]["name"]) == shape(aws_s3["s3"]["bucket"]["name"])
        for field in ("key", "size", "eTag"):
            assert shape(local_s3["s3"]["object"][field]) == shape(aws_s3["s3"]["object"][field]), field


def test_given_the_recorded_request_review_task_then_the_steps_function_asks_again_with_its_token(run):
    """The "Request review" task's input as Step Functions delivers it (a reminder: round 1)."""
    from takedown_handlers.workflow import handler

    stack, case_ids, _ = run
    case_id = case_ids[1]
    repo = stack.repository()
    before = repo.get_case(case_id)
    mails = len(stack.sent_mail())
    event = request_review_task(case_id, round_=1)

    out = handler(event, LambdaContext(_StepsFn()))

    review = repo.get_review(out["review_id"])
    assert review.task_token == event["task_token"] and (review.case_id, review.round) == (case_id, 1)
    case = repo.get_case(case_id)
    assert case.status == Status.IN_REVIEW and case.review_id == out["review_id"] != before.review_id
    new_mail = stack.sent_mail()[mails:]  # the other case's notice may be going out meanwhile
    [mail] = [m for m in new_mail if f"/review/{out['review_id']}?" in m["body"]]
    assert mail["to"] == [before.reviewer]
    assert all(event["task_token"] not in m["body"] + m["subject"] for m in new_mail)


class _StepsFn:
    function_name, function_arn, memory_size, timeout = "steps", "arn:aws:lambda:eu-west-1:1:function:s", 256, 30
