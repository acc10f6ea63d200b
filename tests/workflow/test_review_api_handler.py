"""The review API's handler called with API Gateway's recorded events (tests/events/apigw_*.json).

The cases come the real way (uploads -> fingerprint -> case -> state machine -> review email);
the handler is then called directly with the recorded proxy events, review id, link query and
form put in per test: what it does with what AWS sends, not with what the local front sends.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest

from takedown_core.cases import Status
from takedown_core.pages import security_headers
from takedown_handlers.review_api import MAX_FORM_BYTES
from takedown_local import driver
from takedown_local.lambda_patch import LambdaContext
from takedown_local.runtime import LocalStack
from tests.recorded_events import proxy_result, review_decision_post, review_page_get
from tests.workflow.conftest import wait_until

pytestmark = pytest.mark.timeout(240)
CASES = 4


class _Fn:
    function_name, function_arn, memory_size, timeout = "review-api", "arn:aws:lambda:eu-west-1:1:function:r", 256, 10


def _call(event: dict) -> tuple[int, dict[str, str], str]:
    from takedown_handlers.review_api import handler

    return proxy_result(handler(event, LambdaContext(_Fn())))


@pytest.fixture(scope="module")
def world(media, tmp_path_factory):
    """One stack with CASES cases in review (the same excerpt uploaded under different names)."""
    up = tmp_path_factory.mktemp("review-handler-uploads")
    data = media["excerpt.mp3"].read_bytes()
    for i in range(CASES):
        (up / f"clip-{i}.mp3").write_bytes(data)
    with LocalStack("dev") as stack:
        summary = driver.run(stack, catalog=media["catalog"], uploads=up, decide="none")
        case_ids = [row["case_id"] for row in summary["uploads"]]
        assert len(set(case_ids)) == CASES and all(r["case_status"] == "IN_REVIEW" for r in summary["uploads"])
        yield stack, case_ids


def _review(stack, case_id: str) -> tuple[str, dict[str, str]]:
    """(review id, the emailed link's query: exp and sig) of a case in review."""
    review_id = stack.repository().get_case(case_id).review_id
    link = next(lk["url"] for lk in reversed(stack.review_links()) if f"/review/{review_id}?" in lk["url"])
    return review_id, dict(parse_qsl(urlsplit(link).query))


def _form(stack, case_id: str) -> tuple[str, dict[str, str]]:
    """(review id, the page's hidden fields: csrf, exp, sig), from GET with the recorded event."""
    review_id, query = _review(stack, case_id)
    status, _, page = _call(review_page_get(review_id, query))
    assert status == 200, page
    return review_id, {k: v for k, v in driver._form_fields(page).items() if k in ("csrf", "exp", "sig")}


def _execution_status(stack, case_id: str) -> str:
    arn = stack.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{case_id}"
    return stack.client("stepfunctions").describe_execution(executionArn=arn)["status"]


def _title(page: str) -> str:
    return page.split("<title>", 1)[1].split("</title>", 1)[0]


def test_given_the_recorded_get_then_the_evidence_page_with_the_decision_form_and_nothing_changes(world):
    stack, case_ids = world
    review_id, query = _review(stack, case_ids[0])

    status, headers, page = _call(review_page_get(review_id, query))

    assert status == 200 and headers["Content-Type"].startswith("text/html")
    # the headers of every response; the CSP names the stack's clip origin as media-src
    for name, value in security_headers(stack.media_origin).items():
        assert headers[name] == value
    assert set(driver._form_fields(page)) >= {"csrf", "exp", "sig"}
    action = urljoin(f"https://{headers.get('Host', 'api')}/v1/review/{review_id}", driver._form_action(page))
    assert urlsplit(action).path == f"/v1/review/{review_id}/decision"
    assert stack.repository().get_case(case_ids[0]).status == Status.IN_REVIEW


def test_given_a_base64_form_post_then_it_decides_exactly_like_the_plain_one(world):
    stack, case_ids = world
    repo = stack.repository()
    answers, records = [], []
    for case_id, base64_body in ((case_ids[1], False), (case_ids[2], True)):
        review_id, fields = _form(stack, case_id)
        form = {**fields, "decision": "reject", "reason": "licensed", "note": "Licensed: sync deal SD-114 (ü, 東京)."}
        status, headers, page = _call(review_decision_post(review_id, form, base64_body=base64_body))
        answers.append((status, headers.get("Content-Type"), _title(page)))
        case = repo.get_case(case_id)
        assert case.status == Status.REJECTED, (base64_body, status, page)
        assert repo.get_review(review_id).used
        records.append({k: v for k, v in case.decision.items() if k not in ("at", "review_id", "source")}
                       | {"source": {k: v for k, v in case.decision["source"].items() if k not in ("request_id", "page")}})
        wait_until(lambda cid=case_id: _execution_status(stack, cid) == "SUCCEEDED", 30, f"{case_id}'s execution")
        assert [e.action for e in repo.audit_trail(case_id)][-1] == "rejected"

    plain, b64 = answers
    assert plain == b64 and plain[0] == 200
    assert records[0] == records[1]
    assert records[0]["note"] == "Licensed: sync deal SD-114 (ü, 東京)." and records[0]["reason"] == "licensed"


def test_given_an_oversize_form_then_413_with_the_products_plain_page_and_nothing_decided(world):
    stack, case_ids = world
    case_id = case_ids[3]
    repo = stack.repository()
    review_id, fields = _form(stack, case_id)
    audit_before = repo.audit_trail(case_id)
    form = {**fields, "decision": "approve", "note": "x" * MAX_FORM_BYTES}

    for base64_body in (False, True):
        status, headers, page = _call(review_decision_post(review_id, form, base64_body=base64_body))

        assert status == 413, base64_body
        assert headers["Content-Type"].startswith("text/html")
        for name, value in security_headers(stack.media_origin).items():
            assert headers[name] == value
        assert "The form is too large." in page and "<title>" in page and "Traceback" not in page
        assert "x" * 100 not in page  # the body is not echoed
        assert repo.get_case(case_id).status == Status.IN_REVIEW
        assert not repo.get_review(review_id).used
        assert repo.audit_trail(case_id) == audit_before
        assert _execution_status(stack, case_id) == "RUNNING"

    # nothing was used up: the same link and form still decide
    status, _, page = _call(review_decision_post(review_id, {**fields, "decision": "reject", "reason": "licensed"}))
    assert status == 200, page
    wait_until(lambda: _execution_status(stack, case_id) == "SUCCEEDED", 30, "the execution to end")
    assert repo.get_case(case_id).status == Status.REJECTED
