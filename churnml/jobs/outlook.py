"""The weekly job's look ahead: the challenger's health estimated before labels exist, and next horizon's forecast.

Both inform the summary; only `forecast.block_promotion_on_health` lets the health check stop a promotion (in
`churnml.jobs.weekly._promote`). The forecast needs the outcome models and the forecast parameters
(`churnml train-outcomes`); without them the week still succeeds and the summary says why there is none.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from churnml.config import Settings
    from churnml.data.sources import Tables
    from churnml.forecast.run import ForecastRun
    from churnml.scoring.health import HealthCheck
    from churnml.training.job import Challenger


def challenger_health(settings: Settings, challenger: Challenger, current: pd.DataFrame) -> HealthCheck:
    """The challenger's CBPE estimate on this week's accounts, against its backtest ROC-AUC and the floor."""
    from churnml.scoring.health import check_health

    overall = challenger.overall.set_index("model")
    known = "lightgbm" in overall.index and "roc_auc" in overall.columns
    reference = float(overall.loc["lightgbm", "roc_auc"]) if known else None  # None: no interval alarm
    p = challenger.result.model.predict_proba(current)[:, 1]
    return check_health(p, current.get("segment", None), model=f"challenger v{challenger.version}",
                        reference_auc=reference, floor=settings.forecast.auc_floor, seed=settings.forecast.seed)


def week_forecast(settings: Settings, current: pd.DataFrame, as_of: dt.date,
                  tables: Tables | None = None) -> tuple[ForecastRun | None, str]:
    """Next horizon's GRR/NRR by segment (saved as the latest forecast), or None and why there is none.

    `current` is the week's feature frame, built for the churn model; when the outcome models read columns it
    lacks (other per-event-type columns, chosen when they were trained) their frame is built from `tables`.
    """
    from churnml.features import feature_set, to_frame
    from churnml.forecast.params import params_path
    from churnml.forecast.run import forecast_frame, missing_columns, model_columns, outcome_models

    if not params_path(settings.work_dir).exists():
        return None, "no forecast: the outcome models were never trained here (`churnml train-outcomes`)"
    try:
        models = outcome_models(settings, "champion")
        if tables is not None and missing_columns(current, models[0]):
            current = to_frame(feature_set(tables, [as_of], settings.labels, features=settings.features,
                                           model_features=model_columns(models[0])))
        run = forecast_frame(settings, current, as_of, "segment" if "segment" in current else None, models=models)
    except ValueError as exc:  # e.g. an outcome model without a champion
        first = str(exc).strip().splitlines()
        return None, f"no forecast: {first[0] if first else type(exc).__name__}"
    return run, ""


__all__ = ["challenger_health", "week_forecast"]
