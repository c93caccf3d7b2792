"""Headless Chromium for browser tests: Debian's /usr/bin/chromium driven by Playwright (never a downloaded browser).

`.ci/system-deps.sh` (run by `make test`) installs chromium when missing; where it still is absent (no root on a
laptop) the browser tests skip with that reason rather than fail for an environment problem.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.system import missing, require_import

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
#: Screenshots and other artifacts tests leave for a person to look at (gitignored).
ARTIFACTS = Path("work/test-artifacts")


def chromium_path() -> str | None:
    """The system Chromium, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def browser_page(viewport: tuple[int, int] = (1280, 900)) -> Iterator[Any]:
    """A fresh Playwright page in headless Chromium; skips the test if Chromium or Playwright is missing (CI: fails)."""
    exe = chromium_path()
    if exe is None:
        missing("Debian chromium is not installed (make test installs it via .ci/system-deps.sh)")
    sync_api: Any = require_import("playwright.sync_api", "playwright is not installed (pip install -e '.[dev]')")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            yield page
        finally:
            browser.close()


def screenshot(page: Any, name: str, full_page: bool = True) -> Path:
    """Save a screenshot (the whole page, or with `full_page=False` what the viewport shows) under
    work/test-artifacts/ and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
