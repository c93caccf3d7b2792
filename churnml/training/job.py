"""Train → log → register → promote-if-better: the training step shared by the CLI, the demo and the weekly job.

The challenger is judged against the champion on the same backtest: the champion's configuration is refitted
on the challenger's folds (its stored metrics came from other evaluation rows and are not comparable).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from churnml.config import Settings
from churnml.data.load import load_data
from churnml.features import FeatureSet, build_training_frame
from churnml.lifecycle.registry import Decision, ModelRegistry, PromotionPolicy
from churnml.lifecycle.tracking import LoggedRun, configure, is_embedded, log_training
from churnml.model.model import ChurnModel
from churnml.model.pyfunc import load_churn_model
from churnml.simulate.oracle import read_truth
from churnml.training.frames import training_dates
from churnml.training.labels import observed_until
from churnml.training.layout import check_history
from churnml.training.train import MODEL_NAME, TrainConfig, TrainingResult, train

log = logging.getLogger(__name__)
CHAMPION_ROW = "champion"
AUDIT_FILE = "registry_audit.jsonl"


@dataclass
class TrainOutcome:
    """What one training step did."""

    result: TrainingResult
    run: LoggedRun
    version: int
    decision: Decision
    source: str
    rows: int
    labelled_rows: int


def training_frame(settings: Settings, data: Path | None = None) -> tuple[pd.DataFrame, FeatureSet, Path]:
    """Validated tables → weekly snapshots → layout check → features + labels (open horizons keep a null label).

    The backtest layout is checked on the snapshot dates before any feature is computed, so a history too
    short for one honest fold fails in seconds (`LayoutError`).
    """
    source = Path(data) if data is not None else settings.data.dir
    loaded = load_data(settings, source)
    dates = training_dates(loaded.tables, settings.features.every_days, settings.labels.horizon_days)
    layout = check_history(dates, observed_until(loaded.tables), settings.labels.horizon_days,
                           settings.labels.grace_days, train_config(settings).windows())
    log.info("backtest layout: %s", layout.reason)
    frame, fs = build_training_frame(loaded.tables, dates, settings.labels)
    return frame, fs, source


def train_config(settings: Settings, tune: int | None = None) -> TrainConfig:
    """The `models` section validated, with the label horizon taken from the label definition."""
    raw: dict[str, Any] = {**settings.models, "horizon_days": settings.labels.horizon_days,
                           "grace_days": settings.labels.grace_days if settings.labels.kind == "contractual" else 0}
    if tune is not None:
        raw["tune"] = tune
    return TrainConfig(**raw)


def registry_for(settings: Settings) -> ModelRegistry:
    """The registry of the configured tracking store, with the configured promotion margins."""
    client = configure(settings.work_dir, settings.registry.experiment)
    audit = settings.work_dir / AUDIT_FILE if is_embedded(client.tracking_uri, settings.work_dir) else None
    policy = PromotionPolicy(margin_auc=settings.registry.margin_auc, margin_revenue=settings.registry.margin_revenue)
    return ModelRegistry(client, settings.registry.name, audit_file=audit, policy=policy)


def _champion_factory(registry: ModelRegistry, features: list[str]) -> dict[str, Any]:
    """The current champion's configuration as a factory for the backtest, if there is a champion."""
    if registry.champion() is None:
        return {}
    champion = load_churn_model(registry.model_uri("champion"))
    params = champion.get_params()
    kept = [f for f in (params.get("features") or champion.feature_names_) if f in features]
    params["features"] = kept
    return {CHAMPION_ROW: lambda: ChurnModel(**params)}


def _row_metrics(overall: pd.DataFrame, model: str) -> dict[str, float] | None:
    rows = overall[overall["model"] == model]
    if rows.empty:
        return None
    return {k: float(v) for k, v in rows.iloc[0].items() if k != "model" and isinstance(v, int | float)}


def train_and_register(
    settings: Settings, data: Path | None = None, *, tune: int | None = None, report_json: Path | None = None
) -> TrainOutcome:
    """Train a challenger, log it to MLflow, register it, and promote it if it beats the champion."""
    frame, fs, source = training_frame(settings, data)
    try:
        truth: pd.DataFrame | None = read_truth(source) if settings.labels.kind == "contractual" else None
    except FileNotFoundError:
        truth = None  # real data: no oracle
    cfg = train_config(settings, tune)
    registry = registry_for(settings)
    extra = _champion_factory(registry, fs.names)
    result = train(frame, cfg, truth=truth, extra_models=extra)
    example = frame[result.model.feature_names_].head(5)
    run = log_training(
        registry.client,
        result,
        example,
        source=str(source),
        experiment=settings.registry.experiment,
        run_name=f"train {dt.date.today().isoformat()}",
        params={"train": cfg.model_dump(exclude={"health_config"}), "labels": settings.labels.model_dump()},
    )
    version = registry.register(run.run_id)
    champion_metrics = _row_metrics(result.metrics["overall"], CHAMPION_ROW) if extra else None
    decision = registry.promote_if_better(version, champion_metrics=champion_metrics)
    if report_json is not None:
        report_json.parent.mkdir(parents=True, exist_ok=True)
        report_json.write_text(result.to_json())
    labelled = int(frame["churned"].notna().sum())
    log.info("v%d: %s", version, decision.reason)
    return TrainOutcome(result, run, version, decision, str(source), len(frame), labelled)


__all__ = ["MODEL_NAME", "TrainOutcome", "registry_for", "train_and_register", "train_config", "training_frame"]
