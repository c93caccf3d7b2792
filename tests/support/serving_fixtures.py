"""Fixtures for the serving tests: one small trained world per test process, apps and clients over it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from churnml.features import FEATURES
from churnml.lifecycle.tracking import ENV_TRACKING_URI
from tests.support.serving_world import READ_KEY, SCORE_KEY, ServingWorld, build_serving_world

REGISTRY_NAMES = {f.name for f in FEATURES}


@pytest.fixture(scope="session")
def serving_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingWorld]:
    mp = pytest.MonkeyPatch()
    mp.delenv(ENV_TRACKING_URI, raising=False)
    try:
        yield build_serving_world(tmp_path_factory.mktemp("serving_world"))
    finally:
        mp.undo()


@pytest.fixture()
def no_tracking_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_TRACKING_URI, raising=False)


@pytest.fixture(scope="module")
def client(serving_world: ServingWorld) -> Iterator[TestClient]:
    """A started app (model loaded) over the world; raise_server_exceptions off, as a real client sees it."""
    from serving.app import create_app

    mp = pytest.MonkeyPatch()
    mp.delenv(ENV_TRACKING_URI, raising=False)
    try:
        with TestClient(create_app(serving_world.settings), raise_server_exceptions=False) as c:
            yield c
    finally:
        mp.undo()


READ = {"X-API-Key": READ_KEY}
SCORE = {"X-API-Key": SCORE_KEY}


def payload(frame: pd.DataFrame) -> dict[str, Any]:
    """A POST /v1/score body from rows of a feature frame (registry features + extra attributes)."""
    accounts = []
    for row in frame.to_dict("records"):
        values = {k: (None if pd.isna(v) else v if isinstance(v, str) else float(v))
                  for k, v in row.items() if k not in ("account_id", "as_of")}
        accounts.append({
            "account_id": str(row["account_id"]),
            "as_of": str(pd.Timestamp(row["as_of"]).date()),
            "features": {k: v for k, v in values.items() if k in REGISTRY_NAMES},
            "attributes": {k: v for k, v in values.items() if k not in REGISTRY_NAMES},
        })
    return {"accounts": accounts}


def frame_at(world: ServingWorld, date: Any) -> pd.DataFrame:
    frame = pd.read_parquet(world.frame_path)
    return frame[pd.to_datetime(frame["as_of"]).dt.date == date].reset_index(drop=True)
