"""Revenue outcomes: churn, contraction and expansion models trained, backtested and registered like churn.

Each outcome is its own calibrated `ChurnModel`, trained by `churnml.training.train.train` on the same
training frame (features + `outcome_labels`), so every model has the same rolling-origin backtest, the same
folds (the three labels are observable on the same dates) and the same calibration. Contraction and
expansion are registered as their own MLflow models, `<registry.name>-contraction` and
`<registry.name>-expansion`, with the same promote-if-better rule as churn; the churn model stays
`<registry.name>`. The forecast's own parameters (amounts of change, the segment random effect) are fitted
from the three backtests by `churnml.forecast.params` and written beside them (see docs/forecast.md).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from churnml.config import Settings
from churnml.data.load import load_data
from churnml.data.sources import Tables
from churnml.features import feature_set
from churnml.features.keys import KEYS, attach
from churnml.features.pipeline import finalise_frame
from churnml.training.frames import training_dates
from churnml.training.labels import observed_until, outcome_labels_expr
from churnml.training.train import MODEL_NAME, TrainConfig, TrainingResult, train

log = logging.getLogger(__name__)

CHURN, CONTRACTION, EXPANSION = "churned", "contracted", "expanded"
OUTCOMES: tuple[str, ...] = (CHURN, CONTRACTION, EXPANSION)
#: Registered-name suffix per outcome (churn keeps the plain registry name).
SUFFIX = {CHURN: "", CONTRACTION: "-contraction", EXPANSION: "-expansion"}
#: Label columns of the outcome frame: never features.
LABEL_COLUMNS: tuple[str, ...] = (*OUTCOMES, "churn_date", "mrr_horizon")


def registered_name(base: str, outcome: str) -> str:
    """The registered model name of an outcome's model (`churn-risk`, `churn-risk-contraction`, ...)."""
    if outcome not in SUFFIX:
        raise ValueError(f"unknown outcome {outcome!r}; known: {list(SUFFIX)}")
    return f"{base}{SUFFIX[outcome]}"


def outcome_frame(
    tables: Tables, dates: list[dt.date], settings: Settings, until: dt.date | None = None
) -> pd.DataFrame:
    """Features joined with the three outcome labels and `mrr_horizon` (nullable while unobservable)."""
    fs = feature_set(tables, dates, settings.labels, features=settings.features)
    until = until if until is not None else observed_until(tables)
    lab = outcome_labels_expr(tables, fs.dates, settings.labels, settings.forecast, until=until)
    df = finalise_frame(attach(fs.table, lab, KEYS).to_pandas(), fs.specs)
    for col in OUTCOMES:
        df[col] = df[col].astype("boolean")
    df["churn_date"] = pd.to_datetime(df["churn_date"])
    df["mrr_horizon"] = df["mrr_horizon"].astype(float)
    return df


def outcome_training_frame(settings: Settings, data: Path | None = None) -> tuple[pd.DataFrame, Tables, Path]:
    """Validated tables → weekly snapshots → features + outcome labels."""
    source = Path(data) if data is not None else settings.data.dir
    loaded = load_data(settings, source)
    dates = training_dates(loaded.tables, settings.features.every_days, settings.labels.horizon_days,
                           settings.features.history())
    return outcome_frame(loaded.tables, dates, settings), loaded.tables, source


def outcome_config(cfg: TrainConfig, outcome: str) -> TrainConfig:
    """The training config for one outcome: the other outcomes' labels (and the MRR at the horizon) excluded."""
    others = [c for c in LABEL_COLUMNS if c != outcome]
    return cfg.model_copy(update={"exclude": [*cfg.exclude, *others]})


def train_outcomes(
    frame: pd.DataFrame,
    cfg: TrainConfig,
    *,
    truth: pd.DataFrame | None = None,
    churn: TrainingResult | None = None,
) -> dict[str, TrainingResult]:
    """Backtest and fit one calibrated model per outcome with `train` (same folds, same calibration).

    Args:
        frame: from `outcome_frame`.
        cfg: the training config (the `models` section); each outcome excludes the others' labels.
        truth: simulator truth, for the churn model's oracle row only.
        churn: an already trained churn result on the same frame's rows, reused instead of training again.
    """
    missing = [c for c in LABEL_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"outcome frame lacks label columns {missing}: build it with outcome_frame")
    results: dict[str, TrainingResult] = {}
    for outcome in OUTCOMES:
        if outcome == CHURN and churn is not None:
            results[outcome] = churn
            continue
        log.info("training the %s model", outcome)
        results[outcome] = train(
            frame, outcome_config(cfg, outcome), truth=truth if outcome == CHURN else None, label=outcome
        )
    return results


def backtest_predictions(results: Mapping[str, TrainingResult]) -> pd.DataFrame:
    """The main model's out-of-time predictions of every outcome on the same evaluation rows, side by side.

    Returns one row per (fold, account_id, as_of) with mrr, segment, and `p_<outcome>` / `y_<outcome>`.

    Raises:
        ValueError: the backtests were not run on the same evaluation rows.
    """
    merged: pd.DataFrame | None = None
    for outcome, result in results.items():
        pred = result.backtest.predictions
        pred = pred[pred["model"] == MODEL_NAME]
        part = pred[["fold", "account_id", "as_of", "y", "p"]].rename(
            columns={"y": f"y_{outcome}", "p": f"p_{outcome}"}
        )
        if merged is None:
            merged = pred[["fold", "account_id", "as_of", "mrr", "segment"]].merge(part, on=["fold", *KEYS])
        else:
            n = len(merged)
            merged = merged.merge(part, on=["fold", *KEYS], how="inner")
            if len(merged) != n or len(part) != n:
                raise ValueError(
                    f"the {outcome} backtest evaluated other rows ({len(part):,}) than the others ({n:,}): "
                    "train every outcome on the same frame"
                )
    if merged is None:
        raise ValueError("no outcome results given")
    return merged.reset_index(drop=True)


@dataclass
class OutcomeTraining:
    """What `train_and_register_outcomes` did: results per outcome, versions registered, forecast parameters."""

    results: dict[str, TrainingResult]
    versions: dict[str, int]
    promoted: dict[str, bool]
    params_path: Path
    frame: pd.DataFrame
    forecast_backtest: pd.DataFrame


def train_and_register_outcomes(
    settings: Settings, data: Path | None = None, *, churn: TrainingResult | None = None
) -> OutcomeTraining:
    """Train the three outcome models, register contraction and expansion, fit and save the forecast parameters.

    The churn model is registered by `churnml.training.job.train_and_register` (pass its result as `churn` to
    reuse it; otherwise it is trained here for the forecast's backtest only and not registered).
    """
    from churnml.forecast.backtest import backtest_forecast
    from churnml.forecast.params import backtest_path, fit_params, params_path
    from churnml.lifecycle.registry import ModelRegistry
    from churnml.lifecycle.run_log import log_training
    from churnml.simulate.oracle import read_truth
    from churnml.training.job import train_config

    frame, _, source = outcome_training_frame(settings, data)
    try:
        truth: pd.DataFrame | None = read_truth(source)
    except FileNotFoundError:
        truth = None
    cfg = train_config(settings)
    results = train_outcomes(frame, cfg, truth=truth, churn=churn)
    base = ModelRegistry.from_settings(settings)
    versions: dict[str, int] = {}
    promoted: dict[str, bool] = {}
    for outcome in (CONTRACTION, EXPANSION):
        result = results[outcome]
        name = registered_name(settings.registry.name, outcome)
        registry = ModelRegistry(base.client, name, audit_file=base.audit_file, policy=base.policy,
                                 experiment=base.experiment)
        run = log_training(
            base.client, result, frame[result.model.feature_names_].head(5), source=str(source),
            experiment=settings.registry.experiment, run_name=f"train {outcome} {dt.date.today().isoformat()}",
            params={"train": outcome_config(cfg, outcome).model_dump(exclude={"health_config"}),
                    "labels": settings.labels.model_dump(), "outcomes": settings.forecast.model_dump()},
            tags={"churnml.outcome": outcome},
        )
        versions[outcome] = registry.register(run.run_id)
        promoted[outcome] = registry.promote_if_better(versions[outcome]).promote
    pred = backtest_predictions(results)
    params = fit_params(frame, pred, settings.labels, settings.forecast)
    bt = backtest_forecast(frame, pred, results[CHURN].backtest.folds, settings.labels, settings.forecast)
    path = params_path(settings.work_dir)
    params.save(path)
    bt.to_parquet(backtest_path(settings.work_dir), index=False)  # the KPI report's forecast vs realised
    return OutcomeTraining(results, versions, promoted, path, frame, bt)
