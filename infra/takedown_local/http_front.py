"""The review API's front door on loopback: what API Gateway's stage URL does, over real HTTP.

`ReviewFront` serves http://127.0.0.1:<port>/<stage>/... on a thread. A request outside the
stage gets API Gateway's 403 "Missing Authentication Token"; TRACE is refused in front of the
function (API Gateway cannot route it); every other method is handed, stage prefix removed, to
`call(method, path, query, headers, body, source_ip)` -> (status, headers, body), which
LocalStack implements with apigw.py and a Lambda invocation. Query strings are never logged
(a signed link's exp and sig are a bearer credential).
"""

from __future__ import annotations

import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

from .apigw import LOCAL_STAGE, Pairs

log = logging.getLogger("takedown.local")
_QUERY = re.compile(r"(/[^\s?\"']*)\?[^\s\"']*")  # a path's query string, in an access-log line

Call = Callable[[str, str, Pairs, Pairs, "str | None", str], tuple[int, dict[str, str], str]]


class ReviewFront:
    """A threading HTTP server on 127.0.0.1 in front of `call`. `start()`, then `base_url`; `stop()`."""

    def __init__(self, call: Call, port: int = 0, stage: str = LOCAL_STAGE) -> None:
        self.call, self.port, self.stage = call, port, stage
        self.base_url = ""
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_class(self.call, self.stage))
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.base_url = f"http://{host}:{port}/{self.stage}"
        threading.Thread(target=self._server.serve_forever, name="review-api", daemon=True).start()
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _handler_class(call: Call, stage: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "takedown-local-apigw"

        def log_message(self, fmt: str, *args: Any) -> None:
            # The request line carries the signed link's query (exp, sig): a bearer
            # credential. Log the path only.
            log.debug("review api: %s", _QUERY.sub(r"\1?[query not logged]", fmt % args))

        def _proxy(self, method: str) -> None:
            parts = urlsplit(self.path)
            path = parts.path
            prefix = f"/{stage}"
            if not path.startswith(prefix + "/"):
                self.send_error(403, "Missing Authentication Token")
                return
            path = path[len(prefix):]
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8", "replace") if length else None
            # every (name, value) pair: a repeated header or query parameter keeps all its values
            status, headers, out = call(method, path, parse_qsl(parts.query),
                                        self.headers.items(), body, self.client_address[0])
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            data = out.encode()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            self._proxy("GET")

        def do_HEAD(self) -> None:  # noqa: N802
            self._proxy("HEAD")

        def do_POST(self) -> None:  # noqa: N802
            self._proxy("POST")

        # The API's ANY methods: the function answers them (405, Allow, its own page).
        def do_PUT(self) -> None:  # noqa: N802
            self._proxy("PUT")

        def do_DELETE(self) -> None:  # noqa: N802
            self._proxy("DELETE")

        def do_PATCH(self) -> None:  # noqa: N802
            self._proxy("PATCH")

        def do_OPTIONS(self) -> None:  # noqa: N802
            self._proxy("OPTIONS")

        def do_TRACE(self) -> None:  # noqa: N802
            # API Gateway cannot route TRACE (a method is GET, POST, PUT, DELETE, PATCH, HEAD,
            # OPTIONS or ANY of those seven) and the edge-optimized endpoint's CloudFront
            # forwards only those seven: in AWS a TRACE never reaches the function, it is
            # refused in front of it. Here too: refused without invoking the Lambda, and
            # never echoed (an echoed TRACE is how cross-site tracing reads headers).
            path = urlsplit(self.path).path
            allow = "POST" if path.rstrip("/").endswith("/decision") else "GET, HEAD"  # a page or the queue
            body = b"Method Not Allowed\n"
            self.send_response(405)
            self.send_header("Allow", allow)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
