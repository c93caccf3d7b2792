"""GET /v1/forecast and the /portfolio page over a forecast saved by `churnml.forecast.store` (made here by the
pure forecast on a synthetic portfolio): keys required, 404 saying what to run before any forecast, then the
groups with their ranges, renewals and health, as JSON and on the page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from churnml.config import ForecastConfig, ServingConfig, Settings
from churnml.forecast.params import CLASSES, POOLED, QUANTILES, ForecastParams
from churnml.forecast.portfolio import forecast_portfolio
from churnml.forecast.store import save_forecast
from churnml.lifecycle.tracking import ENV_TRACKING_URI
from churnml.scoring.health import estimate_health
from serving.app import create_app
from serving.auth import hash_key

KEY = "forecast-read-key-0123456789"
AS_OF = dt.date(2025, 3, 3)


@pytest.fixture()
def app_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Settings]]:
    monkeypatch.delenv(ENV_TRACKING_URI, raising=False)
    serving = ServingConfig(api_keys=[{"name": "leader", "role": "read", "hash": hash_key(KEY)}], reload_seconds=0)
    settings = Settings(work_dir=tmp_path / "work", serving=serving)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c, settings


def _save(settings: Settings) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame({"account_id": [f"A{i}" for i in range(n)], "mrr": rng.uniform(100, 2000, n),
                          "segment": rng.choice(["SMB", "Enterprise"], n), "days_to_renewal": rng.integers(0, 200, n)})
    probs = pd.DataFrame({"churned": rng.uniform(0.01, 0.3, n), "contracted": 0.1, "expanded": 0.1})
    ratios = {"stay": [1.0] * len(QUANTILES), "contract": list(np.linspace(0.5, 0.85, len(QUANTILES))),
              "expand": list(np.linspace(1.15, 1.6, len(QUANTILES)))}
    assert set(ratios) == set(CLASSES)
    params = ForecastParams({POOLED: ratios}, {"churned": 0.2, "contracted": 0.0, "expanded": 0.0}, 90)
    cfg = ForecastConfig(draws=500)
    fc = forecast_portfolio(frame, probs, params, cfg, AS_OF, "segment")
    health = estimate_health(probs["churned"].to_numpy(), frame["segment"], draws=100)
    save_forecast(settings.work_dir, as_of=AS_OF, horizon_days=90, by="segment", levels=cfg.levels, groups=fc.groups,
                  renewals=fc.renewals, health=health, accounts=fc.accounts, versions={"churned": 3})
    return fc.groups


def test_forecast_api(app_client: tuple[TestClient, Settings]) -> None:
    c, settings = app_client
    assert c.get("/v1/forecast").status_code == 401
    missing = c.get("/v1/forecast", headers={"X-API-Key": KEY})
    assert missing.status_code == 404 and "churnml train-outcomes" in missing.json()["detail"]
    groups = _save(settings)
    r = c.get("/v1/forecast", headers={"X-API-Key": KEY})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["as_of"] == "2025-03-03" and body["horizon_days"] == 90 and body["by"] == "segment"
    assert [g["group"] for g in body["groups"]] == ["all", "Enterprise", "SMB"]
    whole = body["groups"][0]
    assert whole["grr"] == pytest.approx(float(groups.iloc[0]["grr"]))
    assert [iv["level"] for iv in whole["intervals"]] == [0.8, 0.95]
    i80, i95 = whole["intervals"]
    assert i95["grr_lo"] <= i80["grr_lo"] <= whole["grr"] <= i80["grr_hi"] <= i95["grr_hi"]
    assert i95["nrr_lo"] <= whole["nrr"] <= i95["nrr_hi"] and whole["arr_at_risk"] > 0
    assert body["renewals"] and all(len(g["group"]) == 7 for g in body["renewals"])  # YYYY-MM
    assert body["health"][0]["segment"] == "all" and 0.5 < body["health"][0]["expected_auc"] < 1
    assert c.get("/v1/forecast", headers={"X-API-Key": "wrong-key-000000000000"}).status_code == 401
    assert "/v1/forecast" in c.get("/openapi.json").json()["paths"]


def test_portfolio_page(app_client: tuple[TestClient, Settings]) -> None:
    c, settings = app_client
    assert c.get("/portfolio", follow_redirects=False).status_code == 303  # a session is needed
    login = c.post("/login", content=f"key={KEY}&next=/portfolio",
                   headers={"content-type": "application/x-www-form-urlencoded"}, follow_redirects=False)
    assert login.status_code == 303
    empty = c.get("/portfolio")
    assert empty.status_code == 404 and "churnml train-outcomes" in empty.text
    _save(settings)
    page = c.get("/portfolio")
    assert page.status_code == 200
    text = page.text
    assert "Portfolio forecast" in text and "the 90 days after 2025-03-03" in text
    assert text.count("<svg") == 2 and "GRR forecast by group" in text
    for group in ("all", "Enterprise", "SMB"):
        assert f"<td>{group}</td>" in text
    assert "80%:" in text and "95%:" in text and "estimated ROC-AUC" in text
    assert "style=" not in text.split("<main>")[1]  # the page's CSP forbids inline styles
