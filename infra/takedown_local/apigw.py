"""API Gateway's REST API Lambda proxy integration, as data: request -> event, result -> response.

No I/O here. `proxy_event` builds the event API Gateway hands the function for an HTTP request
to the review API (payload format 1.0: `resource`, `requestContext`, `multiValueHeaders`,
`isBase64Encoded`); `http_response` turns what the function returned into the HTTP answer, or
API Gateway's 502 when the function failed or returned something that is not a proxy result.
The loopback server (http_front.py) and `LocalStack.call_review_api` use both.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from typing import Any, Iterable, Mapping, Tuple, Union
from urllib.parse import urlsplit

LOCAL_STAGE = "v1"


def route(path: str) -> tuple[str, dict[str, str]]:
    """(resource template, path parameters) of a stage-relative path, as the API routes it."""
    segs = path.strip("/").split("/")
    resource, params = path, {}
    if segs == ["queue"]:
        return "/queue", {}
    if len(segs) >= 2 and segs[0] == "review":
        params = {"review_id": segs[1]}
        resource = "/review/{review_id}" + ("/decision" if segs[2:] == ["decision"] else "")
    return resource, params


Pairs = Union[Mapping[str, str], Iterable[Tuple[str, str]]]


def _pairs(items: Pairs) -> list[tuple[str, str]]:
    return list(items.items()) if isinstance(items, Mapping) else list(items)


def _single_and_multi(items: Pairs) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    """API Gateway's two views of headers or a query: the last value per name, and every value."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for k, v in _pairs(items):
        single[k] = v
        multi.setdefault(k, []).append(v)
    return single or None, multi or None


def proxy_event(method: str, path: str, query: Pairs, headers: Pairs, body: str | None,
                source_ip: str = "127.0.0.1", *, account_id: str, stage: str = LOCAL_STAGE, api_id: str = "local",
                now: float | None = None) -> dict[str, Any]:
    """The proxy integration's event for one request (`path` is relative to the stage).

    `query` and `headers` are a mapping or (name, value) pairs; a name given twice has its last
    value in `queryStringParameters` / `headers` and all of them in the multi-value views. The
    body is passed as text (`isBase64Encoded` false), as API Gateway does for a content type
    that is not one of the API's binary media types (the review API declares none).
    """
    resource, params = route(path)
    hdrs, multi_hdrs = _single_and_multi(headers)
    qs, multi_qs = _single_and_multi(query)
    hdrs, multi_hdrs = hdrs or {}, multi_hdrs or {}
    lower = {k.lower(): v for k, v in hdrs.items()}
    domain = urlsplit("//" + lower.get("host", "127.0.0.1")).hostname or "127.0.0.1"
    t = time.time() if now is None else now
    return {
        "resource": resource, "path": path, "httpMethod": method, "headers": hdrs,
        "multiValueHeaders": multi_hdrs,
        "queryStringParameters": qs,
        "multiValueQueryStringParameters": multi_qs,
        "pathParameters": params or None, "stageVariables": None,
        "requestContext": {
            "resourceId": hashlib.sha256(resource.encode()).hexdigest()[:6],
            "resourcePath": resource,
            "httpMethod": method,
            "extendedRequestId": base64.b64encode(secrets.token_bytes(11)).decode(),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(t)),
            "path": f"/{stage}{path}",
            "accountId": account_id,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": domain.split(".", 1)[0],
            "requestTimeEpoch": int(t * 1000),
            "requestId": str(uuid.uuid4()),
            "identity": {
                "cognitoIdentityPoolId": None, "accountId": None, "cognitoIdentityId": None, "caller": None,
                "sourceIp": source_ip, "principalOrgId": None, "accessKey": None,
                "cognitoAuthenticationType": None, "cognitoAuthenticationProvider": None, "userArn": None,
                "userAgent": lower.get("user-agent", ""), "user": None,
            },
            "domainName": domain,
            "apiId": api_id,
        },
        "body": body, "isBase64Encoded": False,
    }


def http_response(payload: Any, function_error: bool) -> tuple[int, dict[str, str], str]:
    """(status, headers, body) of the HTTP answer for the function's result."""
    if function_error or not isinstance(payload, dict):
        return 502, {"Content-Type": "text/plain"}, "Internal server error"
    hdrs = {k: str(v) for k, v in (payload.get("headers") or {}).items()}
    for k, vs in (payload.get("multiValueHeaders") or {}).items():
        hdrs[k] = ", ".join(map(str, vs))
    return int(payload.get("statusCode", 200)), hdrs, payload.get("body") or ""
