"""The evidence bucket's clips on loopback: what S3 does for a presigned GET, over real HTTP.

The review page's audio elements fetch their clips from presigned S3 URLs. Locally S3 is moto
inside this process, which a browser cannot reach, so the review API signs its links for this
front instead (``MEDIA_ENDPOINT_URL``, path-style: ``http://127.0.0.1:<port>/<bucket>/<key>?X-Amz-...``)
and the page's CSP names this origin. Each request is checked as S3 checks it before the
object is read from moto: the SigV4 query signature recomputed with the local credentials
(any change to the path, the expiry or another parameter fails), and the expiry
(``X-Amz-Date`` + ``X-Amz-Expires``; moto 5 checks expiry only for requests that reach its
HTTP layer, and the signature not at all). Range requests are passed on (a browser seeks in
an audio file with them). Only GET and HEAD; query strings are never logged.
"""

from __future__ import annotations

import logging
import threading
import time
from calendar import timegm
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, unquote, urlsplit

log = logging.getLogger("takedown.local")
MAX_EXPIRES = 7 * 86400  # seconds: SigV4 presigned URLs last at most a week


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def check_presigned(method: str, host: str, raw_path: str, query: str, *, access_key: str, secret_key: str,
                    token: str | None, now: float | None = None) -> tuple[str, str]:
    """(bucket, key) of a presigned S3 GET that S3 would accept; raises Refused otherwise."""
    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    params = dict(parse_qsl(query, keep_blank_values=True))
    need = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
            "X-Amz-Signature")
    if any(k not in params for k in need) or params["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
        raise Refused(403, "AccessDenied", "not a SigV4 presigned request")
    try:
        ak, date, region, service, terminal = params["X-Amz-Credential"].split("/")
        signed_at = timegm(time.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))
        expires = int(params["X-Amz-Expires"])
    except ValueError as e:
        raise Refused(400, "AuthorizationQueryParametersError", "malformed presigned parameters") from e
    if ak != access_key or service != "s3" or terminal != "aws4_request" or not params["X-Amz-Date"].startswith(date):
        raise Refused(403, "InvalidAccessKeyId", "unknown credential")
    if not 0 < expires <= MAX_EXPIRES:
        raise Refused(400, "AuthorizationQueryParametersError", "X-Amz-Expires must be 1..604800")
    if (token or None) != (params.get("X-Amz-Security-Token") or None):
        raise Refused(403, "InvalidToken", "the security token does not match")
    unsigned = "&".join(p for p in query.split("&") if not p.startswith("X-Amz-Signature="))
    request = AWSRequest(method=method, url=f"http://{host}{raw_path}?{unsigned}", headers={"host": host})
    request.context["timestamp"] = params["X-Amz-Date"]
    auth = S3SigV4QueryAuth(Credentials(access_key, secret_key, token), "s3", region, expires=expires)
    expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    if expected != params["X-Amz-Signature"]:
        raise Refused(403, "SignatureDoesNotMatch", "the request signature does not match")
    if (now if now is not None else time.time()) > signed_at + expires:
        raise Refused(403, "AccessDenied", "Request has expired")
    bucket, _, key = raw_path.lstrip("/").partition("/")
    if not bucket or not key:
        raise Refused(404, "NoSuchKey", "no such key")
    return unquote(bucket), unquote(key)


def process_credentials() -> tuple[str, str, str | None]:
    """This process's AWS credentials as boto3 finds them (what a handler here signs with)."""
    import boto3

    c = boto3.session.Session().get_credentials().get_frozen_credentials()
    return c.access_key, c.secret_key, c.token


class MediaFront:
    """A threading HTTP server on 127.0.0.1 serving presigned GETs from ``s3()`` (moto's client).
    ``start()`` returns its origin (the page's media-src); ``stop()``."""

    def __init__(self, s3: Callable[[], Any], *, credentials: Callable[[], tuple[str, str, str | None]],
                 port: int = 0) -> None:
        """``credentials()``: (access key, secret key, session token) the review API signs with
        (this process's own, as moto's mock sets them)."""
        self.s3, self.port, self.credentials = s3, port, credentials
        self.origin = ""
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_class(self))
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.origin = f"http://{host}:{port}"
        threading.Thread(target=self._server.serve_forever, name="media-front", daemon=True).start()
        return self.origin

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _handler_class(front: MediaFront) -> type[BaseHTTPRequestHandler]:
    from botocore.exceptions import ClientError

    class Handler(BaseHTTPRequestHandler):
        server_version = "takedown-local-s3"

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("media: %s", (fmt % args).split("?")[0])

        def _fail(self, status: int, code: str, message: str) -> None:
            body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            ak, sk, token = front.credentials()
            try:
                bucket, key = check_presigned(self.command if self.command != "HEAD" else "GET",
                                              self.headers.get("Host", ""), parts.path, parts.query,
                                              access_key=ak, secret_key=sk, token=token)
            except Refused as e:
                self._fail(e.status, e.code, str(e))
                return
            kw = {"Range": self.headers["Range"]} if self.headers.get("Range") else {}
            try:
                obj = front.s3().get_object(Bucket=bucket, Key=key, **kw)
            except ClientError as e:
                err = e.response.get("Error", {})
                status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 404)
                self._fail(status, str(err.get("Code", "NoSuchKey")), str(err.get("Message", "")))
                return
            body = obj["Body"].read()
            self.send_response(206 if obj.get("ContentRange") else 200)
            self.send_header("Content-Type", obj.get("ContentType") or "binary/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            if obj.get("ContentRange"):
                self.send_header("Content-Range", obj["ContentRange"])
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            self._serve()

        def do_HEAD(self) -> None:  # noqa: N802
            self._serve()

    return Handler
