"""API Gateway's REST API Lambda proxy integration, as data: request -> event, result -> response.

No I/O here. `proxy_event` builds the event API Gateway hands the function for an HTTP request
to the review API (payload format 1.0: `resource`, `requestContext`, `multiValueHeaders`,
`isBase64Encoded`); `http_response` turns what the function returned into the HTTP answer, or
API Gateway's 502 when the function failed or returned something that is not a proxy result.
The loopback server (http_front.py) and `LocalStack.call_review_api` use both.
"""

from __future__ import annotations

import secrets
from typing import Any

LOCAL_STAGE = "v1"


def route(path: str) -> tuple[str, dict[str, str]]:
    """(resource template, path parameters) of a stage-relative path, as the API routes it."""
    segs = path.strip("/").split("/")
    resource, params = path, {}
    if len(segs) >= 2 and segs[0] == "review":
        params = {"review_id": segs[1]}
        resource = "/review/{review_id}" + ("/decision" if segs[2:] == ["decision"] else "")
    return resource, params


def proxy_event(method: str, path: str, query: dict[str, str], headers: dict[str, str], body: str | None,
                source_ip: str = "127.0.0.1", *, stage: str = LOCAL_STAGE) -> dict[str, Any]:
    """The proxy integration's event for one request (`path` is relative to the stage)."""
    resource, params = route(path)
    return {
        "resource": resource, "path": path, "httpMethod": method, "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} or None,
        "pathParameters": params or None, "stageVariables": None, "body": body, "isBase64Encoded": False,
        "requestContext": {"resourcePath": resource, "httpMethod": method, "stage": stage,
                           "requestId": secrets.token_hex(8), "path": f"/{stage}{path}",
                           "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent", "")}},
    }


def http_response(payload: Any, function_error: bool) -> tuple[int, dict[str, str], str]:
    """(status, headers, body) of the HTTP answer for the function's result."""
    if function_error or not isinstance(payload, dict):
        return 502, {"Content-Type": "text/plain"}, "Internal server error"
    hdrs = {k: str(v) for k, v in (payload.get("headers") or {}).items()}
    for k, vs in (payload.get("multiValueHeaders") or {}).items():
        hdrs[k] = ", ".join(map(str, vs))
    return int(payload.get("statusCode", 200)), hdrs, payload.get("body") or ""
