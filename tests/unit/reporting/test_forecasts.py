"""The report's forecast section reads the stored forecast backtest point in time: dates before the report only,
realised values only where the horizon and grace had ended by the report date."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from churnml.reporting.forecasts import forecast_accuracy, forecast_history, groups_of


def _bt() -> pd.DataFrame:
    dates = pd.date_range("2024-06-03", periods=20, freq="7D")
    rows = []
    for g in ("all", "SMB", "Enterprise"):
        for m in ("grr", "nrr"):
            for i, d in enumerate(dates):
                rows.append({"as_of": d, "group": g, "metric": m, "fold": i % 2, "forecast": 0.9, "sd": 0.01,
                             "lo80": 0.88, "hi80": 0.92, "lo95": 0.87, "hi95": 0.93,
                             "realised": 0.9 + (0.05 if i % 5 == 0 else 0.0), "naive_last": 0.85,
                             "naive_trailing4": 0.87})
    return pd.DataFrame(rows)


def test_history_is_point_in_time() -> None:
    bt = _bt()
    as_of = dt.date(2024, 10, 1)
    h = forecast_history(bt, as_of, horizon_days=60, grace_days=14)
    assert (h["as_of"] < pd.Timestamp(as_of)).all() and len(h) < len(bt)
    known = h["as_of"] + pd.Timedelta(days=74) <= pd.Timestamp(as_of)
    assert h.loc[known, "realised"].notna().all() and h.loc[~known, "realised"].isna().all() and (~known).any()
    assert groups_of(h) == ["all", "Enterprise", "SMB"]


def test_accuracy_counts_only_known_dates() -> None:
    h = forecast_history(_bt(), dt.date(2025, 6, 1), horizon_days=60, grace_days=14)
    acc = forecast_accuracy(h, (0.8, 0.95), n_boot=20).set_index(["metric", "scope"])
    row = acc.loc[("grr", "portfolio")]
    assert row["coverage80"] == pytest.approx(16 / 20)  # every fifth date misses by 5 points
    assert row["mae_forecast"] == pytest.approx(0.01) and row["mae_naive_last"] == pytest.approx(0.06)
    assert forecast_accuracy(forecast_history(_bt(), dt.date(2024, 6, 4), 60, 14), (0.8,)).empty
    assert np.isfinite(acc["coverage95"]).all()
