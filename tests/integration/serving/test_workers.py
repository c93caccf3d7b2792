"""`churnml serve --workers 2`: every worker process serves, and every one swaps when the alias moves."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from churnml.lifecycle.registry import ModelRegistry
from tests.support.serving_fixtures import READ
from tests.support.serving_world import ServingWorld


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _versions_by_worker(url: str, want: str, pids: set[int] | None, seconds: float) -> dict[int, str]:
    """Fresh connections (so the kernel hands them to either worker) until every worker answered `want`."""
    seen: dict[int, str] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        r = httpx.get(f"{url}/v1/model", headers=READ, timeout=10)
        assert r.status_code == 200, r.text  # no failed request, before, during or after the swap
        body = r.json()
        seen[body["worker_pid"]] = body["version"]
        workers = pids if pids is not None else set(seen)
        if len(seen) >= 2 and all(seen.get(p) == want for p in workers):
            return seen
        time.sleep(0.05)
    return seen


def test_every_worker_swaps_when_the_alias_moves(serving_world: ServingWorld, tmp_path: Path) -> None:
    settings = serving_world.settings.model_copy(deep=True)
    settings.serving.reload_seconds = 0.5
    config = tmp_path / "serve.yaml"
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    port = _port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-c", "from churnml.cli.app import app; app()", "serve", "--config",
                               str(config), "--port", str(port), "--workers", "2", "--log-level", "warning"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    registry = ModelRegistry.from_work_dir(settings.work_dir)
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        before = _versions_by_worker(url, "1", None, 60)
        assert len(before) == 2 and set(before.values()) == {"1"}, before
        registry.promote(2, "test: move the alias under two workers")
        after = _versions_by_worker(url, "2", set(before), 30)
        assert {p: after.get(p) for p in before} == dict.fromkeys(before, "2"), after
    finally:
        registry.promote(1, "test: put the champion back")
        server.terminate()
        server.wait(timeout=30)
