"""`train`: backtest LightGBM against the baselines (and the oracle on simulated data), then fit the final model.

The backtest answers "how good would this have been, had we deployed it then?" — rolling origins, a gap of
one horizon before every evaluation window (see `backtest`). The final model is fitted with the same
layout ending at the latest labelled date, so the procedure that was measured is the one that ships.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pydantic import BaseModel, ConfigDict, Field

from churnml.model.baselines import HealthScoreBaseline, LogisticBaseline
from churnml.model.model import ChurnModel, infer_features
from churnml.simulate.oracle import oracle_probability
from churnml.training import plots
from churnml.training.backtest import (
    LABEL,
    BacktestResult,
    final_layout,
    fit_on_fold,
    fold_parts,
    make_folds,
    run_backtest,
)
from churnml.training.metrics import log_loss

log = logging.getLogger(__name__)

MODEL_NAME = "lightgbm"
BASELINES = ("logistic", "health_score")


class TrainConfig(BaseModel):
    """Training settings (the `models` section of the config can be validated into this).

    Attributes:
        horizon_days: label horizon; also the minimum gap between learning rows and evaluation rows.
        n_folds / eval_days / valid_days / calib_days / inner_gap_days: backtest layout (see `make_folds`).
        features / exclude: feature columns (default: every non-key, non-label column) and exclusions.
        model: ChurnModel parameters (e.g. {"n_estimators": 400, "monotone_constraints": {...}}).
        baselines: which baselines to backtest ("logistic", "health_score").
        health_config: health-score configuration (default `DEFAULT_HEALTH_CONFIG`).
        oracle_method: how the oracle treats months the horizon only partly covers (see `oracle_probability`).
        tune: Optuna trials (0 = no tuning), scored on the folds' calibration windows, never on evaluation.
        tune_timeout_s: stop tuning after this many seconds.
        shap_rows: rows sampled for the SHAP summary figure.
        figures: build the figures.
        seed: random seed.
    """

    model_config = ConfigDict(extra="forbid")

    horizon_days: int = Field(90, ge=1)
    n_folds: int = Field(4, ge=1)
    eval_days: int = Field(28, ge=1)
    valid_days: int = Field(28, ge=0)
    calib_days: int = Field(28, ge=0)
    inner_gap_days: int | None = None
    features: list[str] | None = None
    exclude: list[str] = Field(default_factory=list)
    model: dict[str, Any] = Field(default_factory=dict)
    baselines: list[str] = Field(default_factory=lambda: ["logistic", "health_score"])
    health_config: dict[str, tuple[float, dict[str, int]]] | None = None
    oracle_method: Literal["overlap", "prorate"] = "overlap"
    tune: int = Field(0, ge=0)
    tune_timeout_s: float | None = None
    shap_rows: int = Field(2000, ge=1)
    figures: bool = True
    seed: int = 0


@dataclass
class TrainingResult:
    """What `train` produces.

    Attributes:
        model: the final fitted ChurnModel.
        backtest: out-of-time predictions and folds.
        metrics: tables "overall", "per_fold", "per_segment" (all models, oracle included when known).
        lineage: what the model was trained on (as-of range, rows, sha256 of the frame, features, layout).
        figures: name -> matplotlib Figure.
        params: the ChurnModel parameters used (after tuning).
    """

    model: ChurnModel
    backtest: BacktestResult
    metrics: dict[str, pd.DataFrame]
    lineage: dict[str, Any]
    figures: dict[str, Figure] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: lineage, folds, final model, metrics overall / per fold / per segment / oracle."""
        overall = self.metrics["overall"]
        return _json_safe(
            {
                "lineage": self.lineage,
                "folds": [f.as_dict() for f in self.backtest.folds],
                "final_model": {
                    "best_iteration": self.model.best_iteration_,
                    "calibration": self.model.calibrator_.method_,
                    "n_features": len(self.model.feature_names_),
                    "params": self.params,
                },
                "overall": _records(overall[overall["model"] != "oracle"]),
                "baselines": _records(overall[overall["model"].isin(BASELINES)]),
                "others": _records(overall[~overall["model"].isin(["oracle", MODEL_NAME, *BASELINES])]),
                "oracle": _records(overall[overall["model"] == "oracle"]),
                "per_fold": _records(self.metrics["per_fold"]),
                "per_segment": _records(self.metrics["per_segment"]),
                "fits": self.backtest.info,
            }
        )

    def to_json(self, indent: int | None = 2) -> str:
        """The `--report-json` document (NaN written as null)."""
        return json.dumps(self.to_dict(), indent=indent)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return df.to_dict(orient="records") if len(df) else []


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return None if math.isnan(obj) or math.isinf(obj) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, pd.Timestamp | np.datetime64):
        return None if pd.isna(obj) else pd.Timestamp(obj).isoformat()
    return obj


def frame_digest(frame: pd.DataFrame) -> str:
    """sha256 of the frame's columns, dtypes and values (row order included): the training data's identity."""
    h = hashlib.sha256()
    h.update(json.dumps([[c, str(t)] for c, t in frame.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()


def lineage(
    frame: pd.DataFrame, labelled: pd.DataFrame, features: list[str], cfg: TrainConfig, label: str = LABEL
) -> dict[str, Any]:
    """Facts about the training data for the model registry."""
    return {
        "rows": len(frame),
        "labelled_rows": len(labelled),
        "positives": int(labelled[label].astype(int).sum()),
        "accounts": int(frame["account_id"].nunique()),
        "as_of_min": pd.Timestamp(frame["as_of"].min()).date().isoformat(),
        "as_of_max": pd.Timestamp(frame["as_of"].max()).date().isoformat(),
        "labelled_as_of_max": pd.Timestamp(labelled["as_of"].max()).date().isoformat(),
        "as_of_dates": int(frame["as_of"].nunique()),
        "frame_sha256": frame_digest(frame),
        "features": features,
        "horizon_days": cfg.horizon_days,
    }


def _baseline_factories(cfg: TrainConfig, features: list[str]) -> dict[str, Callable[[], Any]]:
    known: dict[str, Callable[[], Any]] = {
        "logistic": lambda: LogisticBaseline(features=features),
        "health_score": lambda: HealthScoreBaseline(config=cfg.health_config),
    }
    unknown = set(cfg.baselines) - set(known)
    if unknown:
        raise ValueError(f"unknown baselines {sorted(unknown)}; known: {sorted(known)}")
    return {name: known[name] for name in cfg.baselines}


def tune_params(
    labelled: pd.DataFrame, folds: list, base_params: Mapping[str, Any], n_trials: int,
    timeout_s: float | None = None, seed: int = 0,
) -> dict[str, Any]:
    """Optuna search over LightGBM parameters, scored by log loss on each fold's calibration window.

    Trees early-stop on the valid window and are judged on the calib window after it; the evaluation
    windows are never seen, so the backtest that follows stays an honest estimate.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    split = [fold_parts(labelled, f) for f in folds]

    def objective(trial: optuna.Trial) -> float:
        params = {
            **base_params,
            "num_leaves": trial.suggest_int("num_leaves", 7, 127, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 20, 2000, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 30.0, log=True),
            "calibration": "none",
        }
        losses = []
        for parts in split:
            score_part = parts["calib"] if len(parts["calib"]) else parts["valid"]
            model = fit_on_fold(ChurnModel(**params), {**parts, "calib": parts["calib"].iloc[:0]})
            losses.append(log_loss(score_part[LABEL].astype(int), model.predict_proba(score_part)[:, 1]))
        return float(np.mean(losses))

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=n_trials, timeout=timeout_s)
    log.info("tuning: best calib log loss %.5f with %s", study.best_value, study.best_params)
    return {**base_params, **study.best_params}


def train(
    frame: pd.DataFrame,
    config: TrainConfig | Mapping[str, Any] | None = None,
    *,
    truth: pd.DataFrame | None = None,
    label: str = LABEL,
    extra_models: Mapping[str, Callable[[], Any]] | None = None,
) -> TrainingResult:
    """Backtest, then fit the final model on all labelled rows.

    Args:
        frame: training frame from `churnml.features.build_training_frame` (rows with a null label are
            kept for lineage but never learned from or scored).
        config: `TrainConfig` or a mapping validated into one.
        truth: simulator truth table (see `oracle.read_truth`); adds the oracle to the backtest.
        label: label column.
        extra_models: more estimators backtested on the same folds, by name (e.g. "champion": the current
            champion's configuration refitted per fold, so a challenger is judged against it on equal terms).
    """
    cfg = config if isinstance(config, TrainConfig) else TrainConfig(**(config or {}))
    labelled = frame[frame[label].notna()].reset_index(drop=True)
    if labelled.empty:
        raise ValueError("no labelled rows: every horizon is still open")
    exclude = [*cfg.exclude, label, "churn_date"]
    features = list(cfg.features) if cfg.features is not None else infer_features(labelled, exclude)
    layout_kw = {"valid_days": cfg.valid_days, "calib_days": cfg.calib_days, "inner_gap_days": cfg.inner_gap_days}
    folds = make_folds(labelled["as_of"], cfg.horizon_days, cfg.n_folds, eval_days=cfg.eval_days, **layout_kw)

    params: dict[str, Any] = {"random_state": cfg.seed, **cfg.model, "features": features}
    if cfg.tune:
        params = tune_params(labelled, folds, params, cfg.tune, cfg.tune_timeout_s, cfg.seed)

    p_oracle = oracle_probability(labelled, truth, cfg.horizon_days, cfg.oracle_method) if truth is not None else None
    bt = run_backtest(
        labelled, lambda: ChurnModel(**params), {**_baseline_factories(cfg, features), **(extra_models or {})},
        folds=folds,
        horizon_days=cfg.horizon_days, label=label, oracle=p_oracle, model_name=MODEL_NAME,
    )
    final_fold = final_layout(labelled["as_of"], cfg.horizon_days, **layout_kw)
    parts = fold_parts(labelled, final_fold)
    model = fit_on_fold(ChurnModel(**params), parts, label)
    log.info("final model: %d trees, calibration %s", model.best_iteration_, model.calibrator_.method_)

    metrics = {"overall": bt.overall(), "per_fold": bt.per_fold(), "per_segment": bt.per_segment()}
    info = lineage(frame, labelled, features, cfg, label)
    info["final_layout"] = final_fold.as_dict()
    figures = _figures(bt, model, parts, cfg) if cfg.figures else {}
    return TrainingResult(model=model, backtest=bt, metrics=metrics, lineage=info, figures=figures, params=params)


def _figures(bt: BacktestResult, model: ChurnModel, parts: Mapping[str, pd.DataFrame], cfg: TrainConfig) -> dict:
    pred = bt.predictions
    sample_from = parts["calib"] if len(parts["calib"]) else parts["train"]
    sample = sample_from.sample(min(cfg.shap_rows, len(sample_from)), random_state=cfg.seed)
    return {
        "roc": plots.roc_figure(pred),
        "pr": plots.pr_figure(pred),
        "calibration": plots.calibration_figure(pred),
        "lift": plots.lift_figure(pred),
        "feature_importance": plots.importance_figure(model.feature_importance()),
        "shap_summary": plots.shap_summary_figure(model.contributions(sample), model.prepare(sample)),
    }
