"""The review API on moto, through the loopback API Gateway: every way a link can be misused.

Each path must answer with a plain page and the right status, and change nothing.
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest

from takedown_core.cases import Status
from takedown_local import driver
from takedown_local.runtime import LocalStack

from tests.workflow.conftest import uploads_dir

pytestmark = pytest.mark.timeout(180)


def _in_review(stack, tmp_path, media) -> tuple[str, str]:
    # where the partner found it (without, monitor-a's template makes its own page: no notice)
    sidecar = json.dumps({"source_url": "https://www.youtube.com/watch?v=review0001"})
    up = uploads_dir(tmp_path, media, ["excerpt.mp3"], {"excerpt.json": sidecar})
    summary = driver.run(stack, catalog=media["catalog"], uploads=up, decide="none")
    case_id = summary["uploads"][0]["case_id"]
    assert summary["uploads"][0]["case_status"] == "IN_REVIEW"
    return case_id, stack.review_links()[-1]["url"]


def _form(url: str) -> tuple[str, dict[str, str]]:
    status, page = driver.http("GET", url)
    assert status == 200, page
    return (urlunsplit(urlsplit(url)._replace(query="")) + "/decision",
            {k: v for k, v in driver._form_fields(page).items() if k in ("csrf", "exp", "sig")})


def _execution_status(stack, case_id: str) -> str:
    arn = stack.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{case_id}"
    return stack.client("stepfunctions").describe_execution(executionArn=arn)["status"]


def test_given_a_double_click_then_the_first_decision_wins_and_the_second_changes_nothing(tmp_path, media):
    with LocalStack("dev") as stack:
        case_id, url = _in_review(stack, tmp_path, media)
        action, fields = _form(url)
        first = driver.http("POST", action, {**fields, "decision": "reject", "reason": "licensed"})
        second = driver.http("POST", action, {**fields, "decision": "approve"})
        assert first[0] == 200 and second[0] == 409
        assert "Already decided" in second[1]
        case = stack.repository().get_case(case_id)
        assert case.status == Status.REJECTED and case.decision["reason"] == "licensed"
        # a replay of the page afterwards is a plain page too
        assert driver.http("GET", url)[0] == 409
        deadline = time.monotonic() + 30
        while _execution_status(stack, case_id) == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _execution_status(stack, case_id) == "SUCCEEDED"
        audit = [e for e in stack.repository().audit_trail(case_id) if e.action in ("approved", "rejected")]
        assert [e.action for e in audit] == ["rejected"]
        assert audit[0].actor == "reviewer:rights-review@label.example"
        assert audit[0].detail["source"]["page"].startswith("/review/")


@pytest.mark.parametrize("tamper", ["sig", "exp", "csrf", "review"])
def test_given_a_tampered_request_then_it_is_refused_and_nothing_changes(tmp_path, media, tamper):
    with LocalStack("dev") as stack:
        case_id, url = _in_review(stack, tmp_path, media)
        action, fields = _form(url)
        if tamper == "review":
            action = action.replace(stack.repository().get_case(case_id).review_id, "not-a-review")
        else:
            fields[tamper] = fields[tamper][:-2] + ("AA" if not fields[tamper].endswith("AA") else "BB")
        status, page = driver.http("POST", action, {**fields, "decision": "approve"})
        assert status in {"sig": (403,), "exp": (403, 400), "csrf": (403,), "review": (404,)}[tamper], page
        assert stack.repository().get_case(case_id).status == Status.IN_REVIEW
        assert _execution_status(stack, case_id) == "RUNNING"
        if tamper == "sig":
            bad = url.replace("sig=", "sig=x")
            assert driver.http("GET", bad)[0] in (400, 403)


def test_given_an_expired_link_then_a_plain_page_says_so(tmp_path, media):
    with LocalStack("dev", overrides={"review": {"wait_seconds": 60, "link_ttl_seconds": 2}}) as stack:
        case_id, url = _in_review(stack, tmp_path, media)
        action, fields = _form(url)
        time.sleep(2.5)
        status, page = driver.http("GET", url)
        assert status == 410 and "expired" in page.lower()
        status, _ = driver.http("POST", action, {**fields, "decision": "approve"})
        assert status == 410
        assert stack.repository().get_case(case_id).status == Status.IN_REVIEW


def test_given_a_reassigned_review_then_the_old_reviewer_is_refused_and_the_new_one_decides(tmp_path, media):
    with LocalStack("dev") as stack:
        case_id, old_url = _in_review(stack, tmp_path, media)
        old_action, old_fields = _form(old_url)
        fn = stack.function_name("takedown_handlers.workflow.handler")
        resp = stack.client("lambda").invoke(FunctionName=fn, Payload=json.dumps({
            "action": "reassign", "case_id": case_id, "reviewer": "rights-lead@label.example",
            "actor": "ops:test"}).encode())
        assert not resp.get("FunctionError"), resp["Payload"].read()
        status, page = driver.http("POST", old_action, {**old_fields, "decision": "approve"})
        assert status == 403 and "not the assigned reviewer" in page
        assert driver.http("GET", old_url)[0] == 403
        new_url = stack.review_links()[-1]["url"]
        assert "rights-lead@label.example" in stack.sent_mail()[-1]["to"]
        assert driver.decide_case(stack, case_id, "approve") == 200
        deadline = time.monotonic() + 30
        while stack.repository().get_case(case_id).status != Status.NOTICE_SENT and time.monotonic() < deadline:
            time.sleep(0.2)
        case = stack.repository().get_case(case_id)
        assert case.status == Status.NOTICE_SENT and case.decision["by"] == "rights-lead@label.example"
        assert new_url != old_url
        assert parse_qs(urlsplit(new_url).query)["exp"]


def _request(method: str, url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    import http.client

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)  # loopback only
    try:
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read().decode()
    finally:
        conn.close()


def test_given_any_other_method_then_405_with_allow_and_the_products_page_and_nothing_changes(tmp_path, media):
    from takedown_core.pages import security_headers

    with LocalStack("dev") as stack:
        SECURITY_HEADERS = security_headers(stack.media_origin)  # noqa: N806 - every response's headers
        case_id, url = _in_review(stack, tmp_path, media)
        decision = urlunsplit(urlsplit(url)._replace(query="")) + "/decision"
        status, page_headers, _ = _request("GET", url)
        assert status == 200
        for name, value in SECURITY_HEADERS.items():
            assert page_headers[name.lower()] == value

        cases = [(m, url, "GET, HEAD") for m in ("PUT", "DELETE", "PATCH", "OPTIONS")]
        cases += [(m, decision, "POST") for m in ("GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS")]
        for method, target, allow in cases:
            status, headers, body = _request(method, target)
            assert status == 405, (method, target, status, body[:200])
            assert headers["allow"] == allow, (method, target)
            for name, value in SECURITY_HEADERS.items():
                assert headers[name.lower()] == value, (method, target, name)
            assert headers["content-type"].startswith("text/html")
            if method == "HEAD":
                assert body == ""
            else:
                assert "<title>Not allowed" in body and "nothing was changed" in body
                assert "Missing Authentication Token" not in body

        # TRACE: API Gateway cannot route it, so it never reaches the function; the local
        # gateway refuses it in front of the function, as AWS does, and never echoes the request
        invoked = []
        real = stack.call_review_api
        stack.call_review_api = lambda *a, **kw: invoked.append(a) or real(*a, **kw)
        for target, allow in ((url, "GET, HEAD"), (decision, "POST")):
            status, headers, body = _request("TRACE", target, {"X-Probe": "echo-me-not", "Cookie": "c=secret"})
            assert (status, headers["allow"]) == (405, allow)
            assert "echo-me-not" not in body and "secret" not in body and "sig=" not in body
        assert invoked == []

        assert stack.repository().get_case(case_id).status == Status.IN_REVIEW
        assert _execution_status(stack, case_id) == "RUNNING"
        assert driver.decide_case(stack, case_id, "approve") == 200  # the real decision still works
