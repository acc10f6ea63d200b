"""A platform's notice API on loopback, for the local runtime and the tests.

The local stack has no real platform to send notices to; this is one, on 127.0.0.1, that
does what a platform's notice endpoint does: checks the HMAC signature (``channels.verify``),
keeps what it received, and answers with a ticket. Tests script its answers per request
(accept, reject with a reason, answer slowly, answer 429 with Retry-After) to drive the real
HTTPS channel client against a real server.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from takedown_core.channels import SIGNATURE_HEADER, verify


@dataclass
class Answer:
    """One scripted answer: HTTP ``status``, JSON ``body`` (None: a ticket), extra ``headers``,
    and ``delay_s`` before answering (a timeout, seen from the client)."""

    status: int = 201
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


class PlatformApi:
    """``with PlatformApi(secret) as api: api.url`` serves until the block ends.

    ``api.script`` holds the next answers (first in, first out; empty: accept); ``api.received``
    every request as {"path", "headers", "body", "signed"}: ``signed`` says whether the
    signature verified. An unsigned or wrongly signed request is answered 401.
    """

    def __init__(self, secret: bytes, *, port: int = 0) -> None:
        self.secret = secret
        self.script: list[Answer] = []
        self.received: list[dict[str, Any]] = []
        self._tickets = 0
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                signed = verify(api.secret, self.headers.get(SIGNATURE_HEADER, ""), body, now=int(time.time()))
                with api._lock:
                    api.received.append({"path": self.path, "headers": dict(self.headers.items()),
                                         "body": body, "signed": signed})
                    answer = api.script.pop(0) if api.script else Answer()
                    if signed and 200 <= answer.status < 300 and answer.body is None:
                        api._tickets += 1
                        answer = Answer(answer.status, {"ticket_id": f"T-{api._tickets:05d}", "status": "received"},
                                        answer.headers, answer.delay_s)
                if not signed:
                    answer = Answer(401, {"error": "signature missing or invalid"})
                if answer.delay_s:
                    time.sleep(answer.delay_s)
                data = json.dumps(answer.body).encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in answer.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout)
                    pass

            def log_message(self, *args: Any) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="platform-api", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/notices"

    def notices(self) -> list[dict[str, Any]]:
        """The signed notices received, as the JSON documents they carried."""
        return [json.loads(r["body"]) for r in self.received if r["signed"]]

    def start(self) -> "PlatformApi":
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever, which never ran otherwise
            self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "PlatformApi":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()
