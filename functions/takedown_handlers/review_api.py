"""Review API Lambda (API Gateway proxy): GET shows evidence, POST decides once.

Routes:
  GET  /review/{review_id}?exp=..&sig=..   evidence page; no side effects, whoever asks
  HEAD /review/{review_id}                 same headers, no body, no side effects
  POST /review/{review_id}/decision        form post from that page (CSRF-protected)
  GET  /queue?reviewer=..&exp=..&sig=..    the reviewer's waiting cases; no side effects
  HEAD /queue                              same headers, no body
Any other method on those paths gets 405 with an Allow header and a plain page.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from takedown_adapters.aws import StepFunctionsCallback, read_secret_bytes
from takedown_adapters.dynamo import DynamoCaseRepository
from takedown_adapters.clips import S3ClipLinks
from takedown_core.pages import SECURITY_HEADERS, problem_page, security_headers  # noqa: F401 - the headers of every response
from takedown_core.review_service import ReviewService

from ._env import boto_client, cached, env, env_optional

logger = Logger(service="takedown")  # as every function is deployed (POWERTOOLS_SERVICE_NAME), also when imported without it
tracer = Tracer()
metrics = Metrics(namespace="Takedown")  # as the alarms and the dashboard read it (components.Monitoring)
app = APIGatewayRestResolver()
MAX_FORM_BYTES = 16 * 1024


def _service() -> ReviewService:
    return cached(
        "review",
        lambda: ReviewService(
            repo=DynamoCaseRepository(env("TABLE_NAME"), boto_client("dynamodb")),
            callback=StepFunctionsCallback(boto_client("stepfunctions")),
            link_key=read_secret_bytes(boto_client("secretsmanager"), env("LINK_KEY_SECRET_ARN")),
            clip_links=_clip_links(),
        ),
    )


def _clip_links() -> S3ClipLinks | None:
    """Signed links to the clips in the evidence bucket (EVIDENCE_BUCKET; unset: no clips).
    SigV4 with the regional endpoint, so the page's media-src names exactly the bucket's
    origin. MEDIA_ENDPOINT_URL (the local runtime only) signs for its loopback S3 front."""
    bucket = env_optional("EVIDENCE_BUCKET")
    if bucket is None:
        return None
    return cached("client:s3:clips", lambda: S3ClipLinks(_signing_s3(), bucket))


def _signing_s3():
    import boto3
    from botocore.config import Config

    local = env_optional("MEDIA_ENDPOINT_URL")
    # boto3 would sign for the global s3.amazonaws.com host; the regional one is where the bucket is
    region = boto3.session.Session().region_name or "eu-west-1"  # Lambda sets AWS_REGION
    endpoint = local or f"https://s3.{region}.amazonaws.com"
    config = Config(signature_version="s3v4", s3={"addressing_style": "path" if local else "virtual"})
    return boto3.client("s3", endpoint_url=endpoint, config=config)


PAGE_METHODS = ("GET", "HEAD")
DECISION_METHODS = ("POST",)
# Every method API Gateway can route to us (its ANY covers these seven), and TRACE, which it
# cannot route (a front door that passed it on would still get 405 here, never an echo).
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE")


def _html(status: int, body: str, headers: dict[str, str] | None = None) -> Response:
    """Every response of this API: a page (or none, for HEAD) with the security headers (the CSP
    naming the clips' media origin), Content-Type included."""
    return Response(status_code=status, body=body,
                    headers={**security_headers(_service().media_origin), **(headers or {})})


def _not_allowed(problem: str, allowed: tuple[str, ...]) -> Response:
    status, page = problem_page(problem)
    body = "" if app.current_event.http_method.upper() == "HEAD" else page
    return _html(status, body, {"Allow": ", ".join(allowed)})


def _query() -> dict[str, str]:
    return {k: v for k, v in (app.current_event.query_string_parameters or {}).items() if isinstance(v, str)}


@app.get("/review/<review_id>")
def show(review_id: str) -> Response:
    status, page = _service().show(review_id, _query())
    return _html(status, page)


@app.head("/review/<review_id>")
def head(review_id: str) -> Response:
    status, _ = _service().show(review_id, _query())
    return _html(status, "")


@app.post("/review/<review_id>/decision")
def decide(review_id: str) -> Response:
    raw = app.current_event.body or ""
    data = base64.b64decode(raw) if app.current_event.is_base64_encoded else raw.encode()
    if len(data) > MAX_FORM_BYTES:
        return _html(413, problem_page("malformed", detail="The form is too large.")[1])
    form = {k: (v[0] if len(v) == 1 else v) for k, v in parse_qs(data.decode("utf-8", "replace"), keep_blank_values=True).items()}
    ctx = app.current_event.request_context
    source = {
        "ip": ctx.identity.source_ip,
        "user_agent": (app.current_event.headers or {}).get("User-Agent")
        or (app.current_event.headers or {}).get("user-agent"),
        "request_id": ctx.request_id,
        "page": f"/review/{review_id}",
    }
    status, page = _service().decide(review_id, form, source=source)
    logger.info("decision request", extra={"review_id": review_id, "status": status})
    if status == 200:
        _decision_metrics(review_id)
    return _html(status, page)


def _decision_metrics(review_id: str) -> None:
    """Decision_approve / Decision_reject and TimeToDecision (seconds from the case's opening to
    the reviewer's decision), from the review and case just written; the case id becomes the
    log's correlation id."""
    from takedown_core.cases import seconds_between

    repo = _service().repo
    review = repo.get_review(review_id)
    case = repo.get_case(review.case_id) if review else None
    if case is None or not case.decision:
        return
    logger.set_correlation_id(case.case_id)
    logger.info("decided", extra={"case_id": case.case_id, "decision": case.decision.get("decision")})
    metrics.add_metric(name=f"Decision_{case.decision.get('decision')}", unit=MetricUnit.Count, value=1)
    seconds = seconds_between(case.created_at, case.decision.get("at"))
    if seconds is not None:
        metrics.add_metric(name="TimeToDecision", unit=MetricUnit.Seconds, value=seconds)


@app.get("/queue")
def queue() -> Response:
    status, page = _service().queue(_query())
    return _html(status, page)


@app.head("/queue")
def queue_head() -> Response:
    status, _ = _service().queue(_query())
    return _html(status, "")


@app.route("/queue", method=[m for m in METHODS if m not in PAGE_METHODS])
def queue_other_method() -> Response:
    return _not_allowed("queue_method", PAGE_METHODS)


@app.route("/review/<review_id>", method=[m for m in METHODS if m not in PAGE_METHODS])
def page_other_method(review_id: str) -> Response:
    return _not_allowed("page_method", PAGE_METHODS)


@app.route("/review/<review_id>/decision", method=[m for m in METHODS if m not in DECISION_METHODS])
def decision_other_method(review_id: str) -> Response:
    return _not_allowed("method", DECISION_METHODS)


@app.not_found
def not_found(_exc: Exception) -> Response:
    return _html(*problem_page("not_found"))


# Never the event (its query holds the link's signature, a POST's body the CSRF token) in the
# log, whatever POWERTOOLS_LOGGER_LOG_EVENT says; never the response (the page holds both) in
# the trace.
@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    metrics.clear_metrics()  # locally (metrics disabled) nothing else clears the set
    return app.resolve(event, context)
