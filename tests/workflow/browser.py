"""Headless Chromium for the browser tests: the shared ``browser`` fixture (Debian's Chromium,
driven by Playwright; its own browser download is not used) and ``screenshot(page, name)``,
which keeps a full-page picture of what the test saw as ``artifacts/browser/<name>-<width>.png``
(``artifacts/`` is not committed: look at the pictures after a run).

In CI (CI=true) a missing Chromium is a failure, not a skip.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is not installed: ./go test installs Debian's chromium package as root")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


def screenshot(page: Any, name: str) -> Path:
    """Save the whole page as artifacts/browser/<name>-<viewport width>.png; returns the path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}-{page.viewport_size['width']}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
