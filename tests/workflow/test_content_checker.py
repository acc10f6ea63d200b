"""The HTTP content checker (compliance) against a real server on loopback."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from takedown_adapters.content_checker import HttpContentChecker


@pytest.fixture
def site():
    pages = {"/gone": (404, ""), "/removed": (200, "<h1>Video unavailable</h1> This video has been removed"),
             "/here": (200, "<video src=x></video>"), "/busy": (429, "")}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            status, body = pages.get(self.path, (500, ""))
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_http_checker_reads_status_and_the_platforms_gone_page(site):
    checker = HttpContentChecker({"youtube": ["Video unavailable"]}, timeout_s=5)
    assert checker.is_up(f"{site}/gone", "youtube") is False
    assert checker.is_up(f"{site}/removed", "youtube") is False
    assert checker.is_up(f"{site}/removed", "tiktok") is True  # no marker configured there
    assert checker.is_up(f"{site}/here", "youtube") is True
    assert checker.is_up(f"{site}/busy", "youtube") is None
    assert checker.is_up("ftp://example/x", "youtube") is None
