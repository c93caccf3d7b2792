"""`train`: backtest LightGBM against the baselines (and the oracle on simulated data), then fit the final model.

The backtest answers "how good would this have been, had we deployed it then?" — rolling origins, a gap of
horizon + grace before every evaluation window and inside every fold (see `backtest`), in a layout chosen to
fit the labelled history (see `layout`). The final model is fitted with the same layout ending at the latest
labelled date, so the procedure that was measured is the one that ships. Every metric carries an interval
from a bootstrap over accounts, and so does the difference between LightGBM and each other model (see
`bootstrap`); the report's words follow those intervals.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pydantic import BaseModel, ConfigDict, Field

from churnml.lifecycle.run_record import MAIN_MODEL
from churnml.model.baselines import HealthScoreBaseline, LogisticBaseline, RecencyBaseline, RFMBaseline
from churnml.model.model import ChurnModel, infer_features
from churnml.simulate.oracle import oracle_probability
from churnml.training import plots
from churnml.training.backtest import LABEL, BacktestResult, fit_on_fold, fold_parts, run_backtest
from churnml.training.bootstrap import Intervals, backtest_intervals
from churnml.training.layout import Layout, Windows, plan_layout
from churnml.training.tuning import TuningResult, tune_params

log = logging.getLogger(__name__)

MODEL_NAME = MAIN_MODEL  # the main model's row in the metric tables, defined once in lifecycle.run_record
BASELINES = ("recency", "rfm", "logistic", "health_score")


class TrainConfig(BaseModel):
    """Training settings (the `models` section of the config can be validated into this).

    Attributes:
        horizon_days / grace_days: label horizon and grace period; their sum is the minimum gap between the
            rows a model learns from and the rows it is judged on.
        n_folds / eval_days / valid_days / calib_days / inner_gap_days / min_train_dates: the preferred
            backtest layout; fewer folds and shorter windows are chosen when the history is shorter (see
            `layout.plan_layout`).
        features / exclude: feature columns (default: every non-key, non-label column) and exclusions.
        model: ChurnModel parameters (e.g. {"n_estimators": 400, "monotone_constraints": {...}}).
        baselines: which baselines to backtest ("recency", "rfm", "logistic", "health_score"); one whose
            columns the frame lacks is left out and the report says so.
        health_config: health-score configuration (default `DEFAULT_HEALTH_CONFIG`).
        n_boot / interval_level: bootstrap resamples (by account) and coverage of every interval.
        tune: Optuna trials (0 = no tuning), scored on windows a full gap before the first evaluation window.
        tune_timeout_s: stop tuning after this many seconds.
        shap_rows: rows sampled for the SHAP summary figure.
        figures: build the figures.
        seed: random seed.
    """

    model_config = ConfigDict(extra="forbid")

    horizon_days: int = Field(90, ge=1)
    grace_days: int = Field(0, ge=0)
    n_folds: int = Field(4, ge=1)
    eval_days: int = Field(28, ge=1)
    valid_days: int = Field(28, ge=0)
    calib_days: int = Field(28, ge=0)
    inner_gap_days: int | None = None
    min_train_dates: int = Field(4, ge=1)
    features: list[str] | None = None
    exclude: list[str] = Field(default_factory=list)
    model: dict[str, Any] = Field(default_factory=dict)
    baselines: list[str] = Field(default_factory=lambda: list(BASELINES))
    health_config: dict[str, tuple[float, dict[str, int]]] | None = None
    n_boot: int = Field(200, ge=20)
    interval_level: float = Field(0.95, gt=0.5, lt=1.0)
    tune: int = Field(0, ge=0)
    tune_timeout_s: float | None = None
    shap_rows: int = Field(2000, ge=1)
    figures: bool = True
    seed: int = 0

    def windows(self) -> Windows:
        """The preferred layout sizes."""
        return Windows(self.n_folds, self.eval_days, self.valid_days, self.calib_days, self.inner_gap_days,
                       self.min_train_dates)


@dataclass
class TrainingResult:
    """What `train` produces.

    Attributes:
        model: the final fitted ChurnModel.
        backtest: out-of-time predictions and folds.
        metrics: tables "overall" (every metric with `_lo` / `_hi` interval bounds and, for each model other than
            LightGBM, `_diff` / `_diff_lo` / `_diff_hi`: LightGBM minus that model, paired by account),
            "comparisons" (the same differences in long form with plain-words verdicts), "per_fold" and
            "per_segment" (all models, oracle included when known).
        lineage: what the model was trained on (as-of range, rows, sha256 of the frame, features, layout).
        figures: name -> matplotlib Figure.
        params: the ChurnModel parameters used (after tuning).
        layout: the chosen backtest layout and why.
        intervals: the bootstrap behind every interval.
        tuning: what the search did (None without `tune`).
        skipped_baselines: baseline -> why it was left out (its columns are missing).
    """

    model: ChurnModel
    backtest: BacktestResult
    metrics: dict[str, pd.DataFrame]
    lineage: dict[str, Any]
    figures: dict[str, Figure] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    layout: Layout | None = None
    intervals: Intervals | None = None
    tuning: TuningResult | None = None
    skipped_baselines: dict[str, str] = field(default_factory=dict)

    def verdicts(self, metric: str = "roc_auc") -> list[str]:
        """Plain-words comparison of LightGBM with each other model on one metric, following the interval."""
        comp = self.metrics.get("comparisons", pd.DataFrame())
        if comp.empty:
            return []
        return [f"{MODEL_NAME} {v}" for v in comp.loc[comp["metric"] == metric, "verdict"]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: lineage, layout, folds, final model, metrics with intervals, comparisons."""
        overall = self.metrics["overall"]
        boot = self.intervals
        return _json_safe(
            {
                "lineage": self.lineage,
                "layout": self.layout.as_dict() if self.layout is not None else None,
                "folds": [f.as_dict() for f in self.backtest.folds],
                "final_model": {
                    "best_iteration": self.model.best_iteration_,
                    "calibration": self.model.calibrator_.method_,
                    "n_features": len(self.model.feature_names_),
                    "params": self.params,
                },
                "intervals": None if boot is None else {
                    "method": "percentile bootstrap over accounts, paired across models",
                    "n_boot": boot.n_boot, "level": boot.level, "accounts": boot.accounts,
                },
                "overall": _records(overall[overall["model"] != "oracle"]),
                "baselines": _records(overall[overall["model"].isin(BASELINES)]),
                "others": _records(overall[~overall["model"].isin(["oracle", MODEL_NAME, *BASELINES])]),
                "oracle": _records(overall[overall["model"] == "oracle"]),
                "comparisons": _records(self.metrics.get("comparisons", pd.DataFrame())),
                "verdicts": self.verdicts(),
                "skipped_baselines": self.skipped_baselines,
                "tuning": self.tuning.as_dict() if self.tuning is not None else None,
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
        "grace_days": cfg.grace_days,
    }


def baseline_factories(
    cfg: TrainConfig, features: list[str], columns: list[str]
) -> tuple[dict[str, Callable[[], Any]], dict[str, str]]:
    """The configured baselines whose columns the frame has, and why the others were left out.

    Raises:
        ValueError: an unknown baseline name.
    """
    known: dict[str, tuple[Callable[[], Any], bool, str]] = {
        "recency": (RecencyBaseline, RecencyBaseline.applicable(features), "no days-since-last-activity column"),
        "rfm": (RFMBaseline, RFMBaseline.applicable(features), "no recency, frequency or monetary column"),
        "logistic": (lambda: LogisticBaseline(features=features), bool(features), "no features"),
        "health_score": (lambda: HealthScoreBaseline(config=cfg.health_config),
                         HealthScoreBaseline.applicable(columns, cfg.health_config), "no health-score metric"),
    }
    unknown = set(cfg.baselines) - set(known)
    if unknown:
        raise ValueError(f"unknown baselines {sorted(unknown)}; known: {sorted(known)}")
    chosen = {name: known[name][0] for name in cfg.baselines if known[name][1]}
    skipped = {name: known[name][2] for name in cfg.baselines if not known[name][1]}
    return chosen, skipped


def with_intervals(result_overall: pd.DataFrame, boot: Intervals) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The overall table with interval columns merged in, and the comparisons table."""
    wide = boot.wide()
    diffs = boot.differences
    cols: dict[str, dict[str, float]] = {}
    for r in diffs.itertuples():
        cols.setdefault(r.versus, {}).update({f"{r.metric}_diff": r.diff, f"{r.metric}_diff_lo": r.lo,
                                              f"{r.metric}_diff_hi": r.hi})
    diff_frame = pd.DataFrame([{"model": m, **v} for m, v in cols.items()])
    bounds = wide[["model", *[c for c in wide.columns if c.endswith(("_lo", "_hi"))]]]
    out = result_overall.merge(bounds, on="model", how="left")
    if not diff_frame.empty:
        out = out.merge(diff_frame, on="model", how="left")
    return out, diffs


def _prepare(
    frame: pd.DataFrame, config: TrainConfig | Mapping[str, Any] | None, label: str
) -> tuple[TrainConfig, pd.DataFrame, list[str], Layout, dict[str, Any], TuningResult | None]:
    """What `train` and `fit_final` share: config, labelled rows, features, layout and (tuned) parameters."""
    cfg = config if isinstance(config, TrainConfig) else TrainConfig(**(config or {}))
    labelled = frame[frame[label].notna()].reset_index(drop=True)
    if labelled.empty:
        raise ValueError("no labelled rows: every horizon is still open")
    exclude = [*cfg.exclude, label, "churn_date"]
    features = list(cfg.features) if cfg.features is not None else infer_features(labelled, exclude)
    lay = plan_layout(labelled["as_of"], cfg.horizon_days, cfg.grace_days, cfg.windows())
    log.info("backtest layout: %s", lay.reason)
    params: dict[str, Any] = {"random_state": cfg.seed, **cfg.model, "features": features}
    tuning = None
    if cfg.tune:
        tuning = tune_params(labelled, lay, params, cfg.tune, cfg.tune_timeout_s, cfg.seed)
        params = tuning.params
    return cfg, labelled, features, lay, params, tuning


def _fit_final(params: dict[str, Any], parts: Mapping[str, pd.DataFrame], label: str) -> ChurnModel:
    model = fit_on_fold(ChurnModel(**params), parts, label)
    log.info("final model: %d trees, calibration %s", model.best_iteration_, model.calibrator_.method_)
    return model


def fit_final(
    frame: pd.DataFrame, config: TrainConfig | Mapping[str, Any] | None = None, *, label: str = LABEL
) -> tuple[ChurnModel, Layout, pd.DataFrame]:
    """The model `train` ships, fitted the same way, without the backtest.

    For judging that model on data after its training (the outside-data benchmark scores it at a later cut-off),
    where the backtest's figures would go unused. Returns the model, its layout and the labelled rows.
    """
    _, labelled, _, lay, params, _ = _prepare(frame, config, label)
    return _fit_final(params, fold_parts(labelled, lay.final), label), lay, labelled


def train(
    frame: pd.DataFrame,
    config: TrainConfig | Mapping[str, Any] | None = None,
    *,
    truth: pd.DataFrame | None = None,
    label: str = LABEL,
    extra_models: Mapping[str, Callable[[], Any]] | None = None,
) -> TrainingResult:
    """Choose a layout, backtest with intervals, then fit the final model on all labelled rows.

    Args:
        frame: training frame from `churnml.features.build_training_frame` (rows with a null label are
            kept for lineage but never learned from or scored).
        config: `TrainConfig` or a mapping validated into one.
        truth: simulator truth (see `oracle.read_truth`); adds the oracle to the backtest.
        label: label column.
        extra_models: more estimators backtested on the same folds, by name (e.g. "champion": the current
            champion's configuration refitted per fold, so a challenger is judged against it on equal terms).

    Raises:
        LayoutError: not even one honest fold fits the labelled history.
    """
    cfg, labelled, features, lay, params, tuning = _prepare(frame, config, label)

    p_oracle = (oracle_probability(labelled, truth, cfg.horizon_days, cfg.grace_days)
                if truth is not None else None)
    baselines, skipped = baseline_factories(cfg, features, list(labelled.columns))
    bt = run_backtest(
        labelled, lambda: ChurnModel(**params), {**baselines, **(extra_models or {})}, folds=lay.folds,
        horizon_days=cfg.horizon_days, grace_days=cfg.grace_days, label=label, oracle=p_oracle,
        model_name=MODEL_NAME,
    )
    parts = fold_parts(labelled, lay.final)
    model = _fit_final(params, parts, label)

    boot = backtest_intervals(bt.predictions, MODEL_NAME, n_boot=cfg.n_boot, level=cfg.interval_level,
                              seed=cfg.seed)
    overall, comparisons = with_intervals(bt.overall(), boot)
    metrics = {"overall": overall, "comparisons": comparisons, "per_fold": bt.per_fold(),
               "per_segment": bt.per_segment()}
    info = lineage(frame, labelled, features, cfg, label)
    info["final_layout"] = lay.final.as_dict()
    info["layout"] = lay.reason
    figures = _figures(bt, model, parts, cfg) if cfg.figures else {}
    return TrainingResult(model=model, backtest=bt, metrics=metrics, lineage=info, figures=figures, params=params,
                          layout=lay, intervals=boot, tuning=tuning, skipped_baselines=skipped)


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
