"""Events in the shape AWS delivers them (tests/events/*.json), with the few fields a test varies.

Handler tests start from these files, not from events our own emulator builds, so a handler
is held to what AWS sends; tests/workflow/test_recorded_events.py holds the local runtime's
emulated events (the SQS poller's, the loopback API Gateway's) to the same shape.

- sqs_s3_object_created.json     SQS -> Lambda: one record whose body is S3's ObjectCreated
                                  notification (the ingest function's input)
- s3_test_event.json             the body S3 sends once when a notification is configured
- apigw_review_page_get.json     API Gateway REST proxy (payload 1.0, edge endpoint): a reviewer
                                  opens the emailed link
- apigw_review_decision_post.json         ... and presses a button (form body as text)
- apigw_review_decision_post_base64.json  the same POST with the body base64-encoded
                                  (`isBase64Encoded`: what API Gateway sends when the content
                                  type is one of the API's binary media types)
- sfn_request_review_task.json   Step Functions -> the steps function: the "Request review"
                                  task's payload, with its task token ($$.Task.Token)
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import quote_plus, urlencode

EVENTS = Path(__file__).resolve().parent / "events"


def load(name: str) -> dict[str, Any]:
    """A fresh copy of one recorded event."""
    return json.loads((EVENTS / name).read_text())


# ------------------------------------------------------------------ SQS (S3 notifications in SQS)
def sqs_record(body: str) -> dict[str, Any]:
    """One SQS record as Lambda's SQS event source delivers it, carrying `body` (new message id, body's MD5)."""
    rec = load("sqs_s3_object_created.json")["Records"][0]
    rec.update(messageId=str(uuid.uuid4()), body=body, md5OfBody=hashlib.md5(body.encode()).hexdigest())
    return rec


def s3_notification(bucket: str, key: str, size: int, etag: str) -> str:
    """S3's ObjectCreated notification (the recorded SQS body) for one object, as the message body."""
    doc = json.loads(load("sqs_s3_object_created.json")["Records"][0]["body"])
    s3 = doc["Records"][0]["s3"]
    s3["bucket"].update(name=bucket, arn=f"arn:aws:s3:::{bucket}")
    s3["object"].update(key=quote_plus(key), size=size, eTag=etag)  # S3 URL-encodes keys
    return json.dumps(doc, separators=(",", ":"))


def s3_test_event() -> str:
    return (EVENTS / "s3_test_event.json").read_text()


# ------------------------------------------------------------------ API Gateway REST proxy (review API)
def _for_review(event: dict[str, Any], review_id: str) -> dict[str, Any]:
    path = event["resource"].replace("{review_id}", review_id)
    event["path"] = path
    event["pathParameters"] = {"review_id": review_id}
    ctx = event["requestContext"]
    ctx["path"] = f"/{ctx['stage']}{path}"
    ctx["requestId"] = str(uuid.uuid4())
    return event


def review_page_get(review_id: str, query: Mapping[str, str]) -> dict[str, Any]:
    """A reviewer's browser opening the emailed link /review/{review_id}?exp=..&sig=.."""
    event = _for_review(load("apigw_review_page_get.json"), review_id)
    event["queryStringParameters"] = dict(query) or None
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
    return event


def review_decision_post(review_id: str, form: Mapping[str, str] | bytes, *, base64_body: bool = False) -> dict[str, Any]:
    """The review page's form posted to /review/{review_id}/decision; `form` as fields or raw bytes."""
    name = "apigw_review_decision_post_base64.json" if base64_body else "apigw_review_decision_post.json"
    event = _for_review(load(name), review_id)
    data = form if isinstance(form, bytes) else urlencode(dict(form)).encode()
    event["body"] = base64.b64encode(data).decode() if base64_body else data.decode()
    return event


def proxy_result(result: dict[str, Any]) -> tuple[int, dict[str, str], str]:
    """(status, headers, body) from a proxy integration result, headers merged as API Gateway does."""
    headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
    for k, vs in (result.get("multiValueHeaders") or {}).items():
        headers[k] = ", ".join(map(str, vs))
    body = result.get("body") or ""
    if result.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return int(result["statusCode"]), headers, body


# ------------------------------------------------------------------ Step Functions task input
def request_review_task(case_id: str, round_: int = 0, task_token: str | None = None) -> dict[str, Any]:
    """The "Request review" task's payload for one case (the recorded token unless one is given)."""
    event = load("sfn_request_review_task.json")
    event.update(case_id=case_id, round=round_)
    if task_token is not None:
        event["task_token"] = task_token
    return event


def shape(value: Any) -> Any:
    """The structure of an event: keys and value types, not values. Header and query-string
    maps are reduced to the types of their values (their names differ between requests)."""
    if isinstance(value, dict):
        return {k: (_map_shape(v) if k in _MAPS else shape(v)) for k, v in value.items()}
    if isinstance(value, list):
        return sorted({json.dumps(shape(v), sort_keys=True) for v in value})
    return type(value).__name__


_MAPS = {"headers", "multiValueHeaders", "queryStringParameters", "multiValueQueryStringParameters"}


def _map_shape(value: Any) -> Any:
    if not isinstance(value, dict):
        return shape(value)
    return ["map", sorted({json.dumps(shape(v), sort_keys=True) for v in value.values()})]
