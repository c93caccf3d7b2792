"""Train → log → register (→ promote-if-better): the training step shared by the CLI, the demo and the weekly job.

The challenger is judged against the champion on the same backtest: the champion's configuration is refitted
on the challenger's folds (its stored metrics came from other evaluation rows and are not comparable).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from churnml.config import Settings
from churnml.data.dates import default_as_of, utc_today
from churnml.data.load import LoadedData, load_data
from churnml.features import FeatureSet
from churnml.lifecycle.registry import Decision, ModelRegistry
from churnml.lifecycle.run_log import LoggedRun, log_training
from churnml.model.model import ChurnModel
from churnml.model.pyfunc import load_churn_model
from churnml.simulate.oracle import read_truth
from churnml.training.frames import build_training_frame, mask_unobserved, training_dates
from churnml.training.layout import check_history
from churnml.training.train import TrainConfig, TrainingResult, train

log = logging.getLogger(__name__)
CHAMPION_ROW = "champion"


@dataclass(frozen=True)
class Challenger:
    """A new version trained, logged and registered (challenger alias), not yet judged against the champion.

    Attributes:
        result: the training result (model, backtest, metrics tables, lineage).
        run: where the run was logged.
        version: the registered version.
        champion_metrics: the current champion refitted on the same folds (None without a champion).
    """

    result: TrainingResult
    run: LoggedRun
    version: int
    champion_metrics: dict[str, float] | None

    @property
    def overall(self) -> pd.DataFrame:
        """The backtest's overall metrics table (one row per model)."""
        return self.result.metrics["overall"]


@dataclass(frozen=True)
class TrainOutcome:
    """What one training step did."""

    result: TrainingResult
    run: LoggedRun
    version: int
    decision: Decision
    source: str
    rows: int
    labelled_rows: int


def training_frame(
    settings: Settings, data: Path | None = None, *, loaded: LoadedData | None = None, as_of: dt.date | None = None
) -> tuple[pd.DataFrame, FeatureSet, Path]:
    """Validated tables → weekly snapshots → layout check → features + labels (open horizons keep a null label).

    The backtest layout is checked on the snapshot dates before any feature is computed, so a history too
    short for one honest fold fails in seconds (`LayoutError`).

    Args:
        data: input folder or .duckdb file (default `settings.data.dir`); read only when `loaded` is None.
        loaded: the validated tables, if the caller holds them (validated once).
        as_of: train as of this date (a backfill week): only snapshots before it, and labels whose horizon had
            not passed by then are nulled (`mask_unobserved`). Default: the end of the data.
    """
    source = Path(data) if data is not None else settings.data.dir
    loaded = loaded if loaded is not None else load_data(settings, source)
    dates = training_dates(loaded.tables, settings.features.every_days, settings.labels.horizon_days,
                           settings.features.history())
    if as_of is not None:
        dates = [d for d in dates if d < as_of]
    layout = check_history(dates, as_of or default_as_of(loaded.tables), settings.labels.horizon_days,
                           settings.labels.grace_days, train_config(settings).windows())
    log.info("backtest layout: %s", layout.reason)
    frame, fs = build_training_frame(loaded.tables, dates, settings.labels, features=settings.features)
    if as_of is not None:
        frame = mask_unobserved(frame, as_of, settings.labels.horizon_days + settings.labels.grace_days)
    return frame, fs, source


def train_config(settings: Settings, tune: int | None = None) -> TrainConfig:
    """The `models` section validated, with the label horizon taken from the label definition."""
    raw: dict[str, Any] = {**settings.models, "horizon_days": settings.labels.horizon_days,
                           "grace_days": settings.labels.grace_days if settings.labels.kind == "contractual" else 0}
    if tune is not None:
        raw["tune"] = tune
    return TrainConfig(**raw)


def _champion_factory(registry: ModelRegistry, features: list[str]) -> dict[str, Any]:
    """The current champion's configuration as a factory for the backtest, if there is a champion."""
    champion = registry.champion()
    if champion is None:
        return {}
    model = load_churn_model(f"models:/{registry.name}/{champion}")
    params = model.get_params()
    kept = [f for f in (params.get("features") or model.feature_names_) if f in features]
    params["features"] = kept
    return {CHAMPION_ROW: lambda: ChurnModel(**params)}


def _row_metrics(overall: pd.DataFrame, model: str) -> dict[str, float] | None:
    rows = overall[overall["model"] == model]
    if rows.empty:
        return None
    return {k: float(v) for k, v in rows.iloc[0].items() if k != "model" and isinstance(v, int | float)}


def train_challenger(
    settings: Settings, registry: ModelRegistry, frame: pd.DataFrame, features: list[str], source: Path, *,
    tune: int | None = None, run_name: str | None = None,
) -> Challenger:
    """Train on `frame` (backtested beside the champion's configuration), log the run, register a challenger.

    The one training step: `train_and_register` (CLI, demo) and the weekly job both call it; promotion is the
    caller's (the weekly job checks drift first).
    """
    try:
        truth: pd.DataFrame | None = read_truth(source) if settings.labels.kind == "contractual" else None
    except FileNotFoundError:
        truth = None  # real data: no oracle
    cfg = train_config(settings, tune)
    extra = _champion_factory(registry, features)
    started = time.time()  # the MLflow run starts here: its duration is the training time
    result = train(frame, cfg, truth=truth, extra_models=extra)
    run = log_training(
        registry.client,
        result,
        frame[result.model.feature_names_].head(5),
        source=str(source),
        experiment=settings.registry.experiment,
        run_name=run_name or f"train {utc_today().isoformat()}",
        params={"train": cfg.model_dump(exclude={"health_config"}), "labels": settings.labels.model_dump()},
        started_at=started,
    )
    version = registry.register(run.run_id)
    champion_metrics = _row_metrics(result.metrics["overall"], CHAMPION_ROW) if extra else None
    return Challenger(result, run, version, champion_metrics)


def train_and_register(
    settings: Settings, data: Path | None = None, *, tune: int | None = None, report_json: Path | None = None
) -> TrainOutcome:
    """Train a challenger, log it to MLflow, register it, and promote it if it beats the champion.

    Raises:
        TrackingUnavailable: the configured MLflow server does not answer (checked first, in seconds).
    """
    registry = ModelRegistry.from_settings(settings)
    frame, fs, source = training_frame(settings, data)
    challenger = train_challenger(settings, registry, frame, fs.names, source, tune=tune)
    decision = registry.promote_if_better(challenger.version, champion_metrics=challenger.champion_metrics)
    if report_json is not None:
        report_json.parent.mkdir(parents=True, exist_ok=True)
        report_json.write_text(challenger.result.to_json())
    labelled = int(frame["churned"].notna().sum())
    log.info("v%d: %s", challenger.version, decision.reason)
    return TrainOutcome(challenger.result, challenger.run, challenger.version, decision, str(source), len(frame),
                        labelled)


__all__ = ["Challenger", "TrainOutcome", "train_and_register", "train_challenger", "train_config", "training_frame"]
