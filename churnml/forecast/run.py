"""The forecast at the edge: features at the as-of date, the three champion outcome models, the fitted params.

`run_forecast` reads the data and the registry; `forecast_frame` does the rest from a feature frame already
built (the weekly job has one); the arithmetic is `churnml.forecast.portfolio` (pure). Every forecast made is
saved as the latest one (`churnml.forecast.store`), which the API, the portfolio page and the weekly summary read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from churnml.config import Settings
from churnml.forecast.params import ForecastParams, params_path
from churnml.forecast.portfolio import Forecast, forecast_portfolio

By = Literal["segment", "csm", "plan"]
#: `--by` name -> column of the feature frame (csm_id is joined from accounts).
BY_COLUMN = {"segment": "segment", "csm": "csm_id", "plan": "plan"}


@dataclass(frozen=True)
class ForecastRun:
    """A forecast, the model versions it used, and the churn model's estimated health this week."""

    forecast: Forecast
    versions: dict[str, int]
    health: pd.DataFrame


def outcome_models(settings: Settings, alias: str) -> tuple[dict[str, Any], dict[str, int]]:
    """The churn, contraction and expansion models behind `alias`, and their versions.

    Raises:
        ValueError: an outcome model has no version behind `alias`.
    """
    from churnml.scoring.job import model_for_alias
    from churnml.training.outcomes import OUTCOMES, registered_name

    models, versions = {}, {}
    for outcome in OUTCOMES:
        name = registered_name(settings.registry.name, outcome)
        models[outcome], versions[outcome], _ = model_for_alias(
            settings, name, alias, "train the outcome models first (`churnml train-outcomes`)"
        )
    return models, versions


def model_columns(models: dict[str, Any]) -> list[str]:
    """Every column the outcome models read, in first-seen order: what their feature frame must hold (the
    per-event-type columns are those chosen when each model was trained, `feature_set(model_features=...)`)."""
    return list(dict.fromkeys(c for m in models.values() for c in getattr(m, "feature_names_", ())))


def missing_columns(frame: pd.DataFrame, models: dict[str, Any]) -> list[str]:
    """The outcome models' columns `frame` lacks (features built for another model)."""
    return [c for c in model_columns(models) if c not in frame.columns]


def outcome_probabilities(frame: pd.DataFrame, models: dict[str, Any]) -> pd.DataFrame:
    """Calibrated probabilities of churn, contraction and expansion, one column per outcome.

    Raises:
        ValueError: the frame lacks columns a model reads (named).
    """
    from churnml.model.pyfunc import score_arrays

    if missing := missing_columns(frame, models):
        raise ValueError(f"the feature frame lacks columns the outcome models read: {', '.join(missing[:10])}"
                         f"{' …' if len(missing) > 10 else ''}; build it with feature_set(model_features=...)")
    return pd.DataFrame({o: score_arrays(m, frame)[1] for o, m in models.items()}, index=frame.index)


def run_forecast(
    settings: Settings, as_of: dt.date, *, by: By | None = None, data: Path | None = None, alias: str = "champion",
    save: bool = True,
) -> ForecastRun:
    """Forecast GRR / NRR for the horizon after `as_of` for the accounts active then (saved as the latest).

    Raises:
        ValueError: no account is active at `as_of`, or a model has no version behind `alias`.
        FileNotFoundError: the forecast parameters were never fitted.
    """
    from churnml.data.load import load_data
    from churnml.features import feature_set, to_frame

    params = ForecastParams.load(params_path(settings.work_dir))  # before the features: fails fast when missing
    models, versions = outcome_models(settings, alias)
    loaded = load_data(settings, data)
    frame = to_frame(feature_set(loaded.tables, [as_of], settings.labels, features=settings.features,
                                 model_features=model_columns(models) or None))
    if frame.empty:
        raise ValueError(f"no account is active at {as_of}: nothing to forecast")
    column = BY_COLUMN[by] if by else None
    if column is not None and column not in frame.columns:
        acc = loaded.tables["accounts"]
        if column not in acc.columns:
            raise ValueError(f"cannot forecast by {by}: neither the features nor the accounts table have {column!r}")
        frame = frame.merge(acc.select("account_id", column).to_pandas(), on="account_id", how="left")
    return forecast_frame(settings, frame, as_of, column, alias=alias, save=save, params=params,
                          models=(models, versions))


def forecast_frame(
    settings: Settings, frame: pd.DataFrame, as_of: dt.date, column: str | None = None, *,
    alias: str = "champion", save: bool = True, params: ForecastParams | None = None,
    models: tuple[dict[str, Any], dict[str, int]] | None = None,
) -> ForecastRun:
    """The forecast from this date's feature frame (one row per active account; `column` to report groups by).

    `models` are the outcome models and versions when already loaded (`outcome_models`), else those behind `alias`.

    Raises:
        ValueError: the frame is empty or lacks a column the models read, or a model has no version behind `alias`.
        FileNotFoundError: the forecast parameters were never fitted.
    """
    from churnml.forecast.store import save_forecast
    from churnml.scoring.health import estimate_health

    params = params or ForecastParams.load(params_path(settings.work_dir))
    if frame.empty:
        raise ValueError(f"no account is active at {as_of}: nothing to forecast")
    loaded_models, versions = models or outcome_models(settings, alias)
    probs = outcome_probabilities(frame, loaded_models)
    fc = forecast_portfolio(frame, probs, params, settings.forecast, as_of, column)
    seg = frame.get("segment", None)
    health = estimate_health(probs["churned"].to_numpy(), seg, seed=settings.forecast.seed)
    if save:
        save_forecast(settings.work_dir, as_of=as_of, horizon_days=fc.horizon_days, by=column,
                      levels=settings.forecast.levels, groups=fc.groups, renewals=fc.renewals, health=health,
                      accounts=fc.accounts, versions=versions)
    return ForecastRun(fc, versions, health)
