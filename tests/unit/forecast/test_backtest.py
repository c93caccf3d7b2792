"""Forecast backtest pieces: realised retention, point-in-time naive forecasts, scoring of coverage and error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnml.forecast.backtest import naive_forecasts, realised_retention, score_backtest


def test_realised_retention_caps_growth_in_grr_only() -> None:
    frame = pd.DataFrame({
        "as_of": pd.Timestamp("2025-01-01"), "segment": ["a", "a", "b", "b"],
        "mrr": [100.0, 100.0, 200.0, 50.0], "mrr_horizon": [0.0, 150.0, 180.0, 50.0],
        "churned": [True, False, False, pd.NA],
    })
    r = realised_retention(frame).set_index("group")
    assert r.loc["all", "grr"] == pytest.approx((0 + 100 + 180) / 400)  # the unlabelled row is left out
    assert r.loc["all", "nrr"] == pytest.approx((0 + 150 + 180) / 400)
    assert r.loc["a", "grr"] == pytest.approx(0.5) and r.loc["a", "nrr"] == pytest.approx(0.75)


def test_naive_forecasts_use_only_cohorts_known_at_the_date() -> None:
    dates = pd.date_range("2024-01-01", periods=60, freq="7D")
    realised = pd.DataFrame({"as_of": dates, "group": "all", "grr": np.arange(60) / 100, "nrr": 1.0})
    d = dates[-1]
    out = naive_forecasts(realised, [d], lag_days=104, period_days=90).set_index("metric")
    known = dates[dates <= d - pd.Timedelta(days=104)]
    assert out.loc["grr", "naive_last"] == pytest.approx(realised.set_index("as_of").loc[known[-1], "grr"])
    picks = [dates[dates <= d - pd.Timedelta(days=104 + 90 * k)][-1] for k in range(4)]
    assert out.loc["grr", "naive_trailing4"] == pytest.approx(realised.set_index("as_of").loc[picks, "grr"].mean())
    early = naive_forecasts(realised, [dates[5]], lag_days=104, period_days=90)
    assert early.empty  # nothing had been observed yet


def _bt(realised: np.ndarray, width: float) -> pd.DataFrame:
    n = len(realised)
    return pd.DataFrame({
        "as_of": pd.date_range("2025-01-01", periods=n, freq="7D"), "group": "all", "metric": "grr",
        "fold": np.arange(n) % 2, "forecast": 0.9, "sd": width / 2.563, "lo80": 0.9 - width / 2,
        "hi80": 0.9 + width / 2, "lo95": 0.9 - width, "hi95": 0.9 + width, "realised": realised,
        "naive_last": 0.85, "naive_trailing4": 0.88,
    })


def test_score_backtest_counts_coverage_and_errors() -> None:
    realised = np.array([0.9, 0.91, 0.89, 0.95, 0.9, 0.92, 0.88, 0.9])
    s = score_backtest(_bt(realised, 0.04), (0.8, 0.95), n_boot=50).iloc[0]
    assert s["coverage80"] == pytest.approx(7 / 8)  # 0.95 is outside 0.88–0.92
    assert s["mae_forecast"] == pytest.approx(np.abs(realised - 0.9).mean())
    assert s["mae_naive_last"] == pytest.approx(np.abs(realised - 0.85).mean())
    assert s["mae_forecast_lo"] <= s["mae_forecast"] <= s["mae_forecast_hi"]
