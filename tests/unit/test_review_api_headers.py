"""Every response the review API handler sends carries the security headers, with their values.

The real handler (takedown_handlers.review_api.handler: routing, powertools, the response it
builds for API Gateway) over the real ReviewService on the in-memory fakes, the review made
by the real WorkflowService and its link read back from the e-mail. Each kind of response is
asked for: the evidence page (GET and HEAD), the confirmation of a decision (POST), the
problem pages (a forged link, an expired one, a second decision, a bad form, a form too
large, an unknown path) and the 405s. The expected values are written out here, not read
from the constant the handler uses, so a change to a header has to change this file too.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import pytest

from takedown_core.cases import AuditEvent, Case, Source, Status
from takedown_core.review_links import csrf_token
from takedown_core.review_service import ReviewService
from takedown_core.workflow import ReviewSettings, WorkflowService
from takedown_handlers import _env, review_api
from tests.fakes import InMemoryCaseRepository, RecordingMailer

NOW = 1_767_268_800
TTL = 3 * 86400
KEY = b"review-link-key-" * 2
SETTINGS = ReviewSettings(
    base_url="https://review.label.example", link_key=KEY, link_ttl_seconds=TTL, reminders=1, escalations=1,
    allow=("alice@label.example",), fallback="head-of-rights@label.example",
)
LINK = re.compile(r"https://review\.label\.example/review/[^\s\"'<>]+")

EXPECTED_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
}
CONTEXT = SimpleNamespace(function_name="takedown-review-api", memory_limit_in_mb=512, aws_request_id="req-1",
                          invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:takedown-review-api")


class Callback:
    def __init__(self) -> None:
        self.resumed: list[str] = []

    def succeed(self, task_token: str, output: dict) -> None:
        self.resumed.append(task_token)

    def fail(self, task_token: str, error: str, cause: str) -> None:  # pragma: no cover - not used here
        raise AssertionError("the review API never fails a task")


class Api:
    """The handler, with a review waiting for alice and a clock the test moves."""

    def __init__(self) -> None:
        self.now = NOW
        self.repo = InMemoryCaseRepository()
        self.mailer = RecordingMailer()
        self.callback = Callback()
        clock = lambda: self.now  # noqa: E731
        case = Case.open(
            track_id="trk-0042",
            work={"title": "Midnight Harbour", "artist": "The Lanterns", "owner": "Example Records Ltd"},
            source=Source(partner="scanco", platform="youtube", url="https://www.youtube.com/watch?v=abc123",
                          uploader="nightcore_fan", title="Midnight Harbour (sped up)", bucket="b", key="k"),
            evidence={"score": 8.4, "false_match_rate": 4e-9, "offset_s": 52.5, "query_start_s": 12.0,
                      "matched_duration_s": 40.0, "landmarks": [[12.0, 64.5], [20.0, 72.5]]},
            policy={"auto_approve": False},
            submission="ab" * 32,
        )
        self.repo.create_case(case, AuditEvent(case.case_id, "2026-01-01T08:00:00.000Z", "system:ingest",
                                               "opened", None, "DETECTED"))
        self.case_id = case.case_id
        WorkflowService(repo=self.repo, mailer=self.mailer, settings=SETTINGS, clock=clock).request_review(
            case_id=case.case_id, round_=0, task_token="token-0")
        url = urlsplit(LINK.search(self.mailer.sent[-1]["text"]).group(0))
        self.review_id = unquote(url.path.rsplit("/", 1)[1])
        self.params = {k: v[0] for k, v in parse_qs(url.query).items()}
        _env.reset()
        _env.cached("review", lambda: ReviewService(repo=self.repo, callback=self.callback, link_key=KEY, clock=clock))

    def form(self, **fields: str) -> str:
        review = self.repo.get_review(self.review_id)
        csrf = csrf_token(KEY, review_id=self.review_id, reviewer=review.reviewer, expires_at=review.expires_at)
        return urlencode({**self.params, "csrf": csrf, **fields})

    def call(self, method: str, path: str, query: dict[str, str] | None = None, body: str | None = None) -> dict:
        """The response the handler returns to API Gateway for one request (a REST proxy event)."""
        segs = path.strip("/").split("/")
        resource = "/review/{review_id}" + ("/decision" if segs[2:] == ["decision"] else "") if segs[0] == "review" else path
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body is not None else {}
        event = {
            "resource": resource, "path": path, "httpMethod": method, "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()} or None,
            "pathParameters": {"review_id": segs[1]} if segs[0] == "review" and len(segs) > 1 else None,
            "stageVariables": None, "body": body, "isBase64Encoded": False,
            "requestContext": {"resourcePath": resource, "httpMethod": method, "stage": "prod", "requestId": "req-1",
                               "path": f"/prod{path}", "identity": {"sourceIp": "192.0.2.1", "userAgent": "pytest"}},
        }
        return review_api.handler(event, CONTEXT)


@pytest.fixture
def api():
    yield Api()
    _env.reset()


def sent_headers(response: dict) -> dict[str, list[str]]:
    """Every header of the response, as API Gateway would send it (single- and multi-value)."""
    out: dict[str, list[str]] = {}
    for name, value in (response.get("headers") or {}).items():
        out.setdefault(name, []).append(value)
    for name, values in (response.get("multiValueHeaders") or {}).items():
        out.setdefault(name, []).extend(values)
    return out


def assert_security_headers(response: dict) -> None:
    headers = sent_headers(response)
    for name, value in EXPECTED_HEADERS.items():
        assert headers.get(name) == [value], (response["statusCode"], name, headers.get(name))


def test_given_the_review_link_when_opened_then_the_page_carries_every_security_header(api):
    page = api.call("GET", f"/review/{api.review_id}", api.params)
    assert page["statusCode"] == 200 and "Your decision" in page["body"]
    assert_security_headers(page)
    head = api.call("HEAD", f"/review/{api.review_id}", api.params)
    assert head["statusCode"] == 200 and not head["body"]
    assert_security_headers(head)


def test_given_a_decision_when_posted_then_the_confirmation_carries_every_security_header(api):
    decided = api.call("POST", f"/review/{api.review_id}/decision", body=api.form(decision="approve"))
    assert decided["statusCode"] == 200 and "Decision recorded: approved" in decided["body"]
    assert api.repo.get_case(api.case_id).status == Status.APPROVED and api.callback.resumed == ["token-0"]
    assert_security_headers(decided)
    again = api.call("POST", f"/review/{api.review_id}/decision", body=api.form(decision="reject", reason="licensed"))
    assert again["statusCode"] == 409 and "Already decided" in again["body"]
    assert_security_headers(again)


def test_given_a_forged_link_then_the_problem_page_carries_every_security_header(api):
    forged = api.call("GET", f"/review/{api.review_id}", {**api.params, "sig": api.params["sig"][:-2] + "AA"})
    assert forged["statusCode"] == 403 and "This link is not valid" in forged["body"]
    assert_security_headers(forged)


def test_given_an_expired_link_then_the_problem_page_carries_every_security_header(api):
    api.now = NOW + TTL + 1
    expired = api.call("GET", f"/review/{api.review_id}", api.params)
    assert expired["statusCode"] == 410 and "This link has expired" in expired["body"]
    assert_security_headers(expired)


def test_given_a_bad_or_oversized_form_then_the_problem_page_carries_every_security_header(api):
    bad = api.call("POST", f"/review/{api.review_id}/decision", body=api.form(decision="maybe"))
    assert bad["statusCode"] == 422 and "Unknown decision." in bad["body"]
    assert_security_headers(bad)
    huge = api.call("POST", f"/review/{api.review_id}/decision", body=api.form(decision="approve", note="x" * 20_000))
    assert huge["statusCode"] == 413 and "The form is too large." in huge["body"]
    assert_security_headers(huge)
    assert api.repo.get_case(api.case_id).status == Status.IN_REVIEW


@pytest.mark.parametrize("method, target, allow", [
    ("PUT", "page", "GET, HEAD"), ("DELETE", "page", "GET, HEAD"), ("POST", "page", "GET, HEAD"),
    ("GET", "decision", "POST"), ("HEAD", "decision", "POST"), ("OPTIONS", "decision", "POST"),
])
def test_given_another_method_then_the_405_carries_every_security_header(api, method, target, allow):
    path = f"/review/{api.review_id}" + ("/decision" if target == "decision" else "")
    refused = api.call(method, path, api.params)
    assert refused["statusCode"] == 405
    assert sent_headers(refused)["Allow"] == [allow]
    assert (refused["body"] or "") == "" if method == "HEAD" else "<title>Not allowed</title>" in refused["body"]
    assert_security_headers(refused)


def test_given_an_unknown_path_then_the_not_found_page_carries_every_security_header(api):
    missing = api.call("GET", "/elsewhere")
    assert missing["statusCode"] == 404 and "Review not found" in missing["body"]
    assert_security_headers(missing)
