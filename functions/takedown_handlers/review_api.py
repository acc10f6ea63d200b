"""Review API Lambda (API Gateway proxy): GET shows evidence, POST decides once.

Routes:
  GET  /review/{review_id}?exp=..&sig=..   evidence page; no side effects, whoever asks
  HEAD /review/{review_id}                 same headers, no body, no side effects
  POST /review/{review_id}/decision        form post from that page (CSRF-protected)
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from takedown_adapters.aws import StepFunctionsCallback, read_secret_bytes
from takedown_adapters.dynamo import DynamoCaseRepository
from takedown_core.pages import problem_page
from takedown_core.review_service import ReviewService

from ._env import boto_client, cached, env

logger = Logger()
tracer = Tracer()
app = APIGatewayRestResolver()
MAX_FORM_BYTES = 16 * 1024

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}


def _service() -> ReviewService:
    return cached(
        "review",
        lambda: ReviewService(
            repo=DynamoCaseRepository(env("TABLE_NAME"), boto_client("dynamodb")),
            callback=StepFunctionsCallback(boto_client("stepfunctions")),
            link_key=read_secret_bytes(boto_client("secretsmanager"), env("LINK_KEY_SECRET_ARN")),
        ),
    )


def _html(status: int, body: str) -> Response:
    return Response(status_code=status, content_type="text/html; charset=utf-8", body=body, headers=SECURITY_HEADERS)


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
    return _html(status, page)


@app.not_found
def not_found(_exc: Exception) -> Response:
    return _html(*problem_page("not_found"))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
