"""System dependencies of the integration tier (Chromium, Java, the PostgreSQL server): missing means skipped on a
laptop, failed in CI.

`.ci/system-deps.sh` installs them and fails the run when it cannot; should a test still find one missing, it fails
when ``CI`` is set (GitHub Actions, GitLab and most runners set ``CI=true``), so no test turns silently into a skip
there. Elsewhere the test skips with the reason and the command that installs what is missing.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """True on a CI runner (``CI`` set to anything but empty, 0 or false)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing(reason: str) -> NoReturn:
    """Skip the test for a missing system dependency, or fail it in CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set: a missing system dependency fails the run)", pytrace=False)
    pytest.skip(reason)


def require_import(module: str, reason: str) -> object:
    """`import module`, or `missing(reason)`."""
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        missing(reason)
