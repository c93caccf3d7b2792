"""Training and evaluating on a tabular snapshot: one row per customer, static attributes, churned as given.

A snapshot has no time axis, so the rolling-origin backtest of `churnml.training.train` does not apply. Instead,
rows are split at random, stratified by the label: k-fold cross-validation (default 5 folds), an 80/20
hold-out, or a split the data comes with (a `split` column of "train"/"test"). Inside every training part a
stratified share is held back, half for early stopping and half for calibration, so the model never sees
the rows it is judged on. The same `ChurnModel` and `LogisticBaseline` as the event-log path are used, the
same `churnml.training.metrics`, and the final model (fitted on every row the same way) is logged to MLflow and
registered under its own name (default `<registry.name>-snapshot`) so it never competes with the
event-log champion.

Calibration defaults to Platt ("sigmoid"): on a few thousand rows an isotonic map is a coarse step
function whose ties cost ranking quality, while Platt is strictly increasing and keeps the booster's order.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pydantic import BaseModel, ConfigDict, Field
from sklearn.model_selection import StratifiedKFold, train_test_split

from churnml.config import Settings
from churnml.data.dates import utc_today
from churnml.model.baselines import LogisticBaseline
from churnml.model.model import ChurnModel, infer_features
from churnml.training import plots
from churnml.training.backtest import fit_on_fold
from churnml.training.bootstrap import Intervals, backtest_intervals
from churnml.training.metrics import metrics_table
from churnml.training.train import MODEL_NAME, frame_digest

log = logging.getLogger(__name__)

LABEL = "churned"
SPLIT = "split"
#: LightGBM settings for a few thousand rows of static attributes (the event-log defaults expect millions).
DEFAULT_MODEL: dict[str, Any] = {
    "n_estimators": 2000,
    "learning_rate": 0.03,
    "num_leaves": 15,
    "min_child_samples": 20,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "early_stopping_rounds": 100,
    "calibration": "sigmoid",
}


class SnapshotConfig(BaseModel):
    """How a snapshot is evaluated and trained.

    Attributes:
        evaluation: "cv" (stratified k-fold), "holdout" (stratified, `test_size`), or "split" (the data's
            own `split` column).
        folds: folds for "cv".
        test_size: hold-out share for "holdout".
        inner_size: share of each training part held back (half early stopping, half calibration).
        model: ChurnModel parameters over `DEFAULT_MODEL`.
        baselines: "logistic" (the health score needs event-log features and does not apply).
        exclude: attribute columns not used as features.
        seed: seed for the splits, the model and the bootstrap.
        n_boot / interval_level: size and coverage of the bootstrap (by customer) behind every interval.
    """

    model_config = ConfigDict(extra="forbid")

    evaluation: Literal["cv", "holdout", "split"] = "cv"
    folds: int = Field(5, ge=2)
    test_size: float = Field(0.2, gt=0, lt=1)
    inner_size: float = Field(0.2, gt=0, lt=1)
    model: dict[str, Any] = Field(default_factory=dict)
    baselines: list[Literal["logistic"]] = Field(default_factory=lambda: ["logistic"])
    exclude: list[str] = Field(default_factory=list)
    seed: int = 0
    n_boot: int = Field(200, ge=20)
    interval_level: float = Field(0.95, gt=0.5, lt=1)


@dataclass
class SnapshotResult:
    """What evaluating and training on a snapshot produced.

    Attributes:
        model: the final ChurnModel, fitted on every row (inner early-stopping/calibration share held back).
        predictions: held-out predictions, one row per (fold, model, account_id) with y and p.
        metrics: "overall" (all held-out rows pooled), "per_fold", "summary" (mean and std of per-fold
            ROC-AUC per model: the usual way CV results are quoted).
        intervals: bootstrap (by customer) intervals of the pooled held-out metrics and of LightGBM minus each
            baseline, with the verdict in words that follow the interval.
        lineage: what was trained on.
        figures: name → matplotlib Figure.
    """

    model: ChurnModel
    predictions: pd.DataFrame
    metrics: dict[str, pd.DataFrame]
    lineage: dict[str, Any]
    config: SnapshotConfig
    intervals: Intervals
    figures: dict[str, Figure] = field(default_factory=dict)

    def auc(self, model: str = MODEL_NAME) -> tuple[float, float]:
        """(mean, std) of the per-fold ROC-AUC of `model`."""
        row = self.metrics["summary"].set_index("model").loc[model]
        return float(row["roc_auc_mean"]), float(row["roc_auc_std"])

    def interval(self, model: str = MODEL_NAME, metric: str = "roc_auc") -> tuple[float, float, float]:
        """(value, lo, hi) of `metric` on all held-out rows pooled, with its bootstrap interval."""
        m = self.intervals.metrics
        r = m[(m["model"] == model) & (m["metric"] == metric)].iloc[0]
        return float(r["value"]), float(r["lo"]), float(r["hi"])

    def verdicts(self, metric: str = "roc_auc") -> list[str]:
        """LightGBM against each baseline on `metric`, in words that follow the paired interval."""
        d = self.intervals.differences
        return [f"{metric}: {MODEL_NAME} {v}" for v in d[d["metric"] == metric]["verdict"]]


# --------------------------------------------------------------------------- data


def load_snapshot(path: Path | str, labelled: bool = True) -> pd.DataFrame:
    """An imported snapshot (`<out>/snapshot.parquet` or its folder) as a frame ready for the models.

    Booleans and nullable integers become float64 (NaN where missing), so every model reads them alike.
    `labelled=False` accepts a snapshot without the churned column (customers to score).
    """
    p = Path(path)
    if p.is_dir():
        p = p / "snapshot.parquet"
    if not p.is_file():
        raise FileNotFoundError(f"no snapshot at {p} (import one with `churnml import` and a snapshot mapping)")
    frame = pd.read_parquet(p)
    if "account_id" not in frame.columns or (labelled and LABEL not in frame.columns):
        raise ValueError(f"{p} is not a snapshot: it needs account_id{f' and {LABEL}' if labelled else ''} columns")
    for col in frame.columns:
        if col in ("account_id", LABEL, SPLIT):
            continue
        s = frame[col]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_integer_dtype(s):
            frame[col] = s.astype("float64")
    if LABEL in frame.columns:
        frame[LABEL] = frame[LABEL].astype(bool)
    return frame


def features_of(frame: pd.DataFrame, cfg: SnapshotConfig) -> list[str]:
    """Feature columns: every attribute except keys, the label, the split and `exclude`."""
    return infer_features(frame, [*cfg.exclude, SPLIT])


def outer_splits(frame: pd.DataFrame, cfg: SnapshotConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train rows, test rows) positions per fold, stratified by the label."""
    y = frame[LABEL].astype(int).to_numpy()
    if cfg.evaluation == "cv":
        skf = StratifiedKFold(n_splits=cfg.folds, shuffle=True, random_state=cfg.seed)
        return list(skf.split(np.zeros(len(y)), y))
    if cfg.evaluation == "holdout":
        idx = np.arange(len(y))
        train, test = train_test_split(idx, test_size=cfg.test_size, stratify=y, random_state=cfg.seed)
        return [(np.sort(train), np.sort(test))]
    if SPLIT not in frame.columns:
        raise ValueError("evaluation 'split' needs a split column (train/test) in the snapshot mapping")
    split = frame[SPLIT].astype(str).to_numpy()
    if not ((split == "train").any() and (split == "test").any()):
        raise ValueError("the split column must hold both 'train' and 'test' rows")
    return [(np.flatnonzero(split == "train"), np.flatnonzero(split == "test"))]


def inner_parts(train: pd.DataFrame, cfg: SnapshotConfig) -> dict[str, pd.DataFrame]:
    """Training rows split into train / valid (early stopping) / calib (calibration), stratified."""
    y = train[LABEL].astype(int)
    fit, held = train_test_split(train, test_size=cfg.inner_size, stratify=y, random_state=cfg.seed)
    valid, calib = train_test_split(held, test_size=0.5, stratify=held[LABEL].astype(int), random_state=cfg.seed)
    return {"train": fit, "valid": valid, "calib": calib}


def _factories(cfg: SnapshotConfig, features: list[str]) -> dict[str, Callable[[], Any]]:
    params = {**DEFAULT_MODEL, **cfg.model, "features": features, "random_state": cfg.seed}
    out: dict[str, Callable[[], Any]] = {MODEL_NAME: lambda: ChurnModel(**params)}
    if "logistic" in cfg.baselines:
        out["logistic"] = lambda: LogisticBaseline(features=features)
    return out


# --------------------------------------------------------------------------- evaluation and training


def evaluate(frame: pd.DataFrame, cfg: SnapshotConfig) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Held-out predictions of LightGBM and the baselines on every split, and their metrics."""
    features = features_of(frame, cfg)
    factories = _factories(cfg, features)
    chunks = []
    for k, (train_idx, test_idx) in enumerate(outer_splits(frame, cfg)):
        parts = inner_parts(frame.iloc[train_idx], cfg)
        test = frame.iloc[test_idx]
        base = pd.DataFrame({"fold": k, "account_id": test["account_id"].to_numpy(),
                             "y": test[LABEL].astype(int).to_numpy()})
        for name, factory in factories.items():
            est = fit_on_fold(factory(), parts, LABEL)
            chunks.append(base.assign(model=name, p=est.predict_proba(test)[:, 1]))
    predictions = pd.concat(chunks, ignore_index=True)
    per_fold = metrics_table(predictions, ["model", "fold"], mrr=None)
    summary = per_fold.groupby("model", sort=False)["roc_auc"].agg(["mean", "std", "count"]).reset_index()
    summary.columns = ["model", "roc_auc_mean", "roc_auc_std", "folds"]
    summary["roc_auc_std"] = summary["roc_auc_std"].fillna(0.0)
    metrics = {"overall": metrics_table(predictions, ["model"], mrr=None), "per_fold": per_fold, "summary": summary}
    return predictions, metrics


def train_snapshot(frame: pd.DataFrame, cfg: SnapshotConfig | None = None, *, figures: bool = True) -> SnapshotResult:
    """Evaluate by the configured split, then fit the final model on all rows.

    With evaluation "split", the final model is fitted on the training rows only, so the reported test
    score is the shipped model's own.
    """
    cfg = cfg or SnapshotConfig()
    if frame[LABEL].nunique() < 2:
        raise ValueError("the snapshot holds only one class of the churned flag; nothing to learn")
    predictions, metrics = evaluate(frame, cfg)
    intervals = backtest_intervals(predictions, MODEL_NAME, n_boot=cfg.n_boot, level=cfg.interval_level,
                                   seed=cfg.seed)
    bounds = intervals.wide()
    bounds = bounds[["model", *[c for c in bounds.columns if c.endswith(("_lo", "_hi"))]]]
    metrics = {**metrics, "overall": metrics["overall"].merge(bounds, on="model", how="left"),
               "differences": intervals.differences}
    features = features_of(frame, cfg)
    fit_rows = frame[frame[SPLIT].astype(str) == "train"] if cfg.evaluation == "split" else frame
    model = fit_on_fold(_factories(cfg, features)[MODEL_NAME](), inner_parts(fit_rows, cfg), LABEL)
    lineage = {
        "rows": len(frame),
        "labelled_rows": len(frame),
        "positives": int(frame[LABEL].sum()),
        "accounts": int(frame["account_id"].nunique()),
        "frame_sha256": frame_digest(frame),
        "features": features,
        "evaluation": cfg.evaluation,
        "folds": len(metrics["per_fold"]["fold"].unique()),
    }
    figs: dict[str, Figure] = {}
    if figures:
        figs = {
            "roc": plots.roc_figure(predictions),
            "pr": plots.pr_figure(predictions),
            "calibration": plots.calibration_figure(predictions),
            "feature_importance": plots.importance_figure(model.feature_importance()),
        }
    log.info("snapshot: %d rows, LightGBM ROC-AUC %.3f", len(frame), float(metrics["summary"]["roc_auc_mean"][0]))
    return SnapshotResult(model, predictions, metrics, lineage, cfg, intervals, figs)


@dataclass
class SnapshotOutcome:
    """A snapshot trained, logged and registered."""

    result: SnapshotResult
    run_id: str
    model_name: str
    version: int
    promoted: bool
    reason: str


def train_and_register_snapshot(
    settings: Settings, data: Path | str, cfg: SnapshotConfig | None = None, *, name: str | None = None
) -> SnapshotOutcome:
    """Train on an imported snapshot, log the run to MLflow, register it and promote it if it is better.

    Args:
        settings: for the work dir, experiment and promotion margins.
        data: the snapshot Parquet file or the import folder holding it.
        name: registered model name (default `<registry.name>-snapshot`).
    """
    from churnml.lifecycle.registry import ModelRegistry
    from churnml.lifecycle.run_log import log_run
    from churnml.lifecycle.run_record import RunRecord, backtest_metrics, metric_name

    cfg = cfg or SnapshotConfig()
    registry = ModelRegistry.from_settings(settings, name or f"{settings.registry.name}-snapshot")
    frame = load_snapshot(data)
    result = train_snapshot(frame, cfg)
    metrics = backtest_metrics(result.metrics["overall"], result.metrics["per_fold"])
    for row in result.metrics["summary"].itertuples():
        prefix = "" if row.model == MODEL_NAME else f"baseline/{metric_name(row.model)}/"
        metrics[f"{prefix}roc_auc_fold_mean"] = row.roc_auc_mean
        metrics[f"{prefix}roc_auc_fold_std"] = row.roc_auc_std
    split_key = json.dumps({"split": cfg.model_dump(include={"evaluation", "folds", "test_size", "seed"}),
                            "data": result.lineage["frame_sha256"]}, sort_keys=True)
    run = log_run(registry.client, RunRecord(
        result.model, frame[result.model.feature_names_].head(5),
        experiment=settings.registry.experiment,
        run_name=f"train-snapshot {utc_today().isoformat()}",
        params={"snapshot": cfg.model_dump()},
        metrics=metrics,
        tables=dict(result.metrics),
        lineage={**result.lineage, "source": str(data)},
        plots=result.figures,
        tags={"churnml.shape": "snapshot"},
        backtest=hashlib.sha256(split_key.encode()).hexdigest()[:16],
    ))
    version = registry.register(run.run_id)
    decision = registry.promote_if_better(version)
    return SnapshotOutcome(result, run.run_id, registry.name, version, decision.promote, decision.reason)
