"""The HTTP content checker: is the content still at its URL? (compliance.ContentChecker)

A GET of the case's URL (redirects followed, at most 256 KB read, 10 s): 404 or 410 means gone;
a 2xx page that holds one of the platform's ``gone_markers`` (``platforms.<p>.gone_markers``
in cdk.json: many platforms answer 200 with a "video unavailable" page) means gone; any other
2xx means still up; anything else (403, 429, 5xx, a timeout) cannot tell.
"""

from __future__ import annotations

from typing import Mapping

import urllib3

MAX_BYTES = 256 * 1024


class HttpContentChecker:
    def __init__(self, gone_markers: Mapping[str, list[str]] | None = None, *,
                 pool: urllib3.PoolManager | None = None, timeout_s: float = 10.0) -> None:
        self.gone_markers = {p: [m.casefold() for m in ms] for p, ms in (gone_markers or {}).items()}
        self.pool = pool or urllib3.PoolManager(retries=urllib3.Retry(total=2, redirect=5, status_forcelist=()))
        self.timeout_s = timeout_s

    def is_up(self, url: str, platform: str) -> bool | None:
        if not url.startswith(("https://", "http://")):
            return None
        try:
            r = self.pool.request("GET", url, preload_content=False, timeout=self.timeout_s,
                                  headers={"User-Agent": "takedown-compliance-check/1"})
        except urllib3.exceptions.HTTPError:
            return None
        try:
            if r.status in (404, 410):
                return False
            if not 200 <= r.status < 300:
                return None
            page = r.read(MAX_BYTES, decode_content=True).decode("utf-8", "replace").casefold()
        finally:
            r.release_conn()
        return not any(m in page for m in self.gone_markers.get(platform, ()))
