"""The forecast in the KPI report: the forecast made at each past date against what then happened, by segment.

The rows are the forecast's own backtest (`churnml.forecast.backtest.backtest_forecast`, stored by
`churnml train-outcomes` at `work/forecast/backtest.parquet`): at each evaluation date the forecast made from
the out-of-time predictions, its intervals, the realised GRR/NRR and the naive forecasts. The report keeps the
dates before its own as-of date and shows a realised value only where the horizon and grace after that date
had ended by then, so a report dated in the past never shows outcomes it could not have known.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from churnml.forecast.backtest import score_backtest
from churnml.forecast.params import backtest_path
from churnml.forecast.store import read_forecast

#: The latest forecast is shown as "the forecast now" when made at most this many days before the report date.
CURRENT_WITHIN_DAYS = 7


def read_forecast_backtest(work_dir: Path) -> pd.DataFrame | None:
    """The stored forecast backtest, or None when the outcome models were never trained here."""
    path = backtest_path(work_dir)
    return pd.read_parquet(path) if path.exists() else None


def forecast_history(bt: pd.DataFrame, as_of: dt.date, horizon_days: int, grace_days: int) -> pd.DataFrame:
    """Backtest rows dated before `as_of`; `realised` (and the naive forecasts) blanked where not yet known then."""
    when = pd.to_datetime(bt["as_of"])
    out = bt[when < pd.Timestamp(as_of)].copy()
    known = pd.to_datetime(out["as_of"]) + pd.Timedelta(days=horizon_days + grace_days) <= pd.Timestamp(as_of)
    out.loc[~known, "realised"] = float("nan")
    return out.sort_values(["group", "metric", "as_of"]).reset_index(drop=True)


def forecast_accuracy(history: pd.DataFrame, levels: tuple[float, ...], n_boot: int = 200) -> pd.DataFrame:
    """Coverage of each interval and mean absolute error against both naive forecasts, per metric and scope."""
    known = history.dropna(subset=["realised"])
    if known.empty:
        return pd.DataFrame()
    return score_backtest(known, levels, n_boot=n_boot)


def current_forecast(work_dir: Path, as_of: dt.date) -> tuple[dt.date, int, pd.DataFrame] | None:
    """The latest saved forecast if it was made in the week up to `as_of` (never after it): its date, horizon and
    one row per group with GRR/NRR and the range of each level as text-ready columns."""
    doc = read_forecast(work_dir)
    if doc is None:
        return None
    made = dt.date.fromisoformat(doc["as_of"])
    if not (as_of - dt.timedelta(days=CURRENT_WITHIN_DAYS) <= made <= as_of):
        return None
    return made, int(doc["horizon_days"]), pd.DataFrame(doc["groups"])


def groups_of(history: pd.DataFrame) -> list[str]:
    """`all` first, then the segments in order."""
    names = sorted(set(history["group"].astype(str)))
    return (["all"] if "all" in names else []) + [n for n in names if n != "all"]


__all__ = ["CURRENT_WITHIN_DAYS", "current_forecast", "forecast_accuracy", "forecast_history", "groups_of",
           "read_forecast_backtest"]
