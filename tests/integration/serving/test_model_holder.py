"""The served model: missing at start (503s that say why), alias moves (atomic swap), failed loads (old kept)."""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from churnml.config import Settings
from churnml.lifecycle.registry import ModelRegistry
from churnml.model.pyfunc import load_churn_model
from serving.app import create_app
from tests.support.serving_fixtures import READ, SCORE, frame_at, payload
from tests.support.serving_server import running_server
from tests.support.serving_world import ServingWorld


@pytest.fixture()
def own(serving_world: ServingWorld, tmp_path: Path, no_tracking_env: None) -> Settings:
    """The world's settings on a copy of its work dir, so promotions here do not leak into other tests."""
    work = tmp_path / "work"
    shutil.copytree(serving_world.settings.work_dir, work)
    return serving_world.settings.model_copy(update={"work_dir": work})


def _with(settings: Settings, **serving: object) -> Settings:
    return settings.model_copy(update={"serving": settings.serving.model_copy(update=serving)})


def test_no_model_at_start_then_alias_appears(own: Settings, serving_world: ServingWorld) -> None:
    body = payload(frame_at(serving_world, serving_world.dates[-1]).head(1))
    with TestClient(create_app(_with(own, alias="weekly")), raise_server_exceptions=False) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["ready"] is False
        assert "no version of model 'churn-risk' has the alias 'weekly'" in r.json()["detail"]
        r = c.post("/v1/score", json=body, headers=SCORE)
        assert r.status_code == 503 and r.json()["detail"].startswith("no model loaded yet: no version")
        assert r.headers["Retry-After"]
        m = c.get("/v1/model", headers=READ).json()
        assert m["ready"] is False and m["version"] is None and "weekly" in m["last_error"]
        assert c.get("/v1/accounts", headers=READ).status_code == 200  # stored scores still readable
        assert c.get("/healthz").status_code == 200

        ModelRegistry.from_work_dir(own.work_dir).client.set_registered_model_alias("churn-risk", "weekly", "2")
        assert c.app.state.service.holder.refresh() is True
        assert c.get("/readyz").json() == {"ready": True, "model": "churn-risk v2", "detail": None}
        assert c.post("/v1/score", json=body, headers=SCORE).json()["model"]["version"] == "2"


def test_alias_move_swaps_the_model(own: Settings, serving_world: ServingWorld) -> None:
    body = payload(frame_at(serving_world, serving_world.dates[-1]).head(2))
    with TestClient(create_app(own)) as c:
        holder = c.app.state.service.holder
        assert c.post("/v1/score", json=body, headers=SCORE).json()["model"]["version"] == "1"
        assert holder.refresh() is False  # alias did not move: nothing reloaded
        ModelRegistry.from_work_dir(own.work_dir).promote(2, "test")
        assert holder.refresh() is True and holder.swaps == 1
        r = c.post("/v1/score", json=body, headers=SCORE)
        assert r.json()["model"]["version"] == "2" and r.headers["X-Model-Version"] == "churn-risk/2"
        assert all(a["model"]["version"] == "2" for a in r.json()["accounts"])
        assert c.get("/v1/model", headers=READ).json()["version"] == "2"
        assert "churnml_model_swaps 1.0" in c.get("/metrics").text


def test_failed_load_keeps_the_old_model(own: Settings, serving_world: ServingWorld,
                                         caplog: pytest.LogCaptureFixture) -> None:
    def loader(uri: str) -> object:
        if uri.endswith("/2"):
            raise OSError("artifact unreadable")
        return load_churn_model(uri)

    body = payload(frame_at(serving_world, serving_world.dates[-1]).head(1))
    with TestClient(create_app(own, loader=loader)) as c:
        ModelRegistry.from_work_dir(own.work_dir).promote(2, "test")
        with caplog.at_level(logging.ERROR, logger="churnml.serving"):
            assert c.app.state.service.holder.refresh() is False
        assert "loading churn-risk v2 failed: OSError: artifact unreadable; still serving churn-risk v1" in caplog.text
        m = c.get("/v1/model", headers=READ).json()
        assert m["version"] == "1" and m["ready"] and "v2 failed" in m["last_error"] and m["last_error_at"]
        assert c.post("/v1/score", json=body, headers=SCORE).json()["model"]["version"] == "1"
        assert c.get("/readyz").status_code == 200
        assert "churnml_model_load_failed 1.0" in c.get("/metrics").text


@pytest.mark.slow
def test_background_swaps_fail_no_request(own: Settings, serving_world: ServingWorld) -> None:
    """Alias moved back and forth while clients post: every request succeeds, and both versions answer."""
    body = payload(frame_at(serving_world, serving_world.dates[-1]).head(1))
    settings = _with(own, reload_seconds=0.05)
    registry = ModelRegistry.from_work_dir(own.work_dir)
    statuses: list[int] = []
    versions: set[str] = set()
    stop = threading.Event()

    with running_server(create_app(settings)) as url:
        def client_loop() -> None:
            with httpx.Client(base_url=url, headers=SCORE, timeout=30) as h:
                while not stop.is_set():
                    r = h.post("/v1/score", json=body)
                    statuses.append(r.status_code)
                    if r.status_code == 200:
                        versions.add(r.json()["model"]["version"])

        threads = [threading.Thread(target=client_loop) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            for version in (2, 1, 2):
                registry.promote(version, "swap under load")
                deadline = threading.Event()
                for _ in range(200):  # wait until the server serves it
                    if httpx.get(f"{url}/readyz").json()["model"] == f"churn-risk v{version}":
                        break
                    deadline.wait(0.05)
        finally:
            stop.set()
            for t in threads:
                t.join()
    assert statuses and all(s == 200 for s in statuses), sorted(set(statuses))
    assert versions == {"1", "2"}
