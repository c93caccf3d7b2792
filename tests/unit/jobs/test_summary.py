"""The weekly summary's model-health and forecast lines, and the health rule of promotion: the CBPE estimate
below `forecast.auc_floor` (or the backtest AUC outside its interval) raises an alarm the summary states, and
blocks promotion only with `forecast.block_promotion_on_health`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from churnml.config import DriftConfig, ForecastConfig, Settings
from churnml.forecast.params import CLASSES, POOLED, QUANTILES, ForecastParams
from churnml.forecast.portfolio import forecast_portfolio
from churnml.forecast.run import ForecastRun
from churnml.jobs.summary import render_summary
from churnml.jobs.weekly import WeeklyResult, _promote
from churnml.lifecycle.registry import Decision
from churnml.scoring.drift import DriftReport
from churnml.scoring.health import check_health

RNG = np.random.default_rng(1)
#: Probabilities near the base rate: calibrated but barely separating, expected ROC-AUC about 0.55–0.6.
WEAK = RNG.uniform(0.08, 0.16, 400)
SEGMENT = RNG.choice(["SMB", "Enterprise"], 400)


def _result(**kw: object) -> WeeklyResult:
    return WeeklyResult("2025-W10", dt.date(2025, 3, 3), "succeeded", Path("summary.md"), run_id="r", version=2,
                        reason="better", champion=1, **kw)  # type: ignore[arg-type]


def test_floor_alarm_is_said_and_does_not_block_by_default() -> None:
    check = check_health(WEAK, SEGMENT, model="challenger v2", reference_auc=None, floor=0.7)
    assert check.flagged and "below the floor 0.700" in check.alarms[0]
    text = render_summary(_result(health=check, health_blocks=False), None, None)
    assert "## Model health before labels (CBPE)" in text and "**HEALTH ALARM**" in text
    assert "promotion is not blocked by it" in text
    assert f"**{check.portfolio['expected_auc']:.3f}**" in text
    blocked = render_summary(_result(health=check, health_blocks=True), None, None)
    assert "promotion is blocked (forecast.block_promotion_on_health)" in blocked


def test_no_alarm_above_the_floor_and_inside_the_interval() -> None:
    strong = np.r_[RNG.uniform(0.0, 0.05, 300), RNG.uniform(0.6, 0.95, 100)]
    est = check_health(strong, None, model="challenger v2", floor=0.6).portfolio
    check = check_health(strong, None, model="challenger v2", reference_auc=float(est["expected_auc"]), floor=0.6)
    assert not check.flagged
    assert "No health alarm." in render_summary(_result(health=check), None, None)


def test_backtest_auc_outside_the_interval_is_an_alarm() -> None:
    check = check_health(WEAK, None, model="challenger v2", reference_auc=0.95, floor=None)
    assert check.flagged and "outside this week's estimated 95% range" in check.alarms[0]


class _Registry:
    def __init__(self) -> None:
        self.asked = False

    def champion(self) -> int:
        return 1

    def promote_if_better(self, version: int, champion_metrics: object = None) -> Decision:
        self.asked = True
        return Decision(True, "better")


def _no_drift() -> DriftReport:
    return DriftReport(pd.DataFrame({"feature": ["x"], "psi": [0.0], "status": ["ok"]}), 0.0, "ok", DriftConfig())


def test_promotion_is_blocked_only_when_configured() -> None:
    flagged = check_health(WEAK, None, model="challenger v2", floor=0.7)
    challenger = SimpleNamespace(version=2, champion_metrics=None)
    registry = _Registry()
    settings = Settings(forecast=ForecastConfig(auc_floor=0.7))
    assert _promote(settings, registry, challenger, _no_drift(), flagged).promote  # type: ignore[arg-type]
    strict = Settings(forecast=ForecastConfig(auc_floor=0.7, block_promotion_on_health=True))
    registry = _Registry()
    decision = _promote(strict, registry, challenger, _no_drift(), flagged)  # type: ignore[arg-type]
    assert not decision.promote and "model health flagged" in decision.reason and not registry.asked


def test_forecast_lines() -> None:
    n = 200
    frame = pd.DataFrame({"account_id": [f"A{i}" for i in range(n)], "mrr": 500.0,
                          "segment": RNG.choice(["SMB", "Enterprise"], n), "days_to_renewal": 30})
    probs = pd.DataFrame({"churned": 0.1, "contracted": 0.05, "expanded": 0.05}, index=range(n))
    ratios = {c: [1.0] * len(QUANTILES) for c in CLASSES}
    params = ForecastParams({POOLED: ratios}, {"churned": 0.0, "contracted": 0.0, "expanded": 0.0}, 90)
    fc = forecast_portfolio(frame, probs, params, ForecastConfig(draws=300), dt.date(2025, 3, 3), "segment")
    run = ForecastRun(fc, {"churned": 1}, pd.DataFrame())
    text = render_summary(_result(forecast=run), None, None)
    assert "## Revenue retention forecast" in text and "The 90 days after 2025-03-03" in text
    whole = fc.groups.iloc[0]
    assert f"{whole['grr']:.1%} (80%: {whole['grr_lo80']:.1%}–{whole['grr_hi80']:.1%}; 95%:" in text
    none = render_summary(_result(forecast_note="no forecast: the outcome models were never trained here"), None,
                          None)
    assert "_no forecast: the outcome models were never trained here_" in none
