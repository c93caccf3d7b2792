"""Hyper-parameter search on windows of its own, a full gap before anything the backtest evaluates.

The parameters a search picks are used in every backtest fold, so they can inform every evaluation window; the
earliest of those is the first fold's. Trials are therefore scored only on dates that end at least horizon +
grace before the first evaluation date: the search gets its own rolling folds (train, gap, early stopping, gap,
a scored window) laid out in that earlier history. If that history is too short for even one such fold, the
search does not run and the report says why; it never falls back to the evaluation windows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churnml.model.model import ChurnModel
from churnml.training.backtest import LABEL, Fold, fit_on_fold, fold_parts
from churnml.training.layout import Layout, LayoutError, Windows, plan_layout
from churnml.training.metrics import log_loss

log = logging.getLogger(__name__)


@dataclass
class TuningResult:
    """What the search did: parameters, the folds it scored on, and why it was skipped if it was."""

    params: dict[str, Any]
    folds: list[Fold] = field(default_factory=list)
    best_log_loss: float | None = None
    trials: int = 0
    skipped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary for the report."""
        return {"trials": self.trials, "best_log_loss": self.best_log_loss, "skipped": self.skipped,
                "folds": [f.as_dict() for f in self.folds]}


def tuning_layout(dates: pd.Series | np.ndarray, backtest: Layout) -> Layout:
    """Folds for the search, inside the history that ends a full gap before the first evaluation date.

    Raises:
        LayoutError: that history cannot hold one honest fold.
    """
    first_eval = min(f.eval_start for f in backtest.folds)
    limit = first_eval - pd.Timedelta(days=backtest.gap_days)
    t = pd.to_datetime(pd.Series(np.asarray(dates)))
    early = t[t <= limit]
    req = Windows(n_folds=2, eval_days=backtest.chosen.eval_days, valid_days=backtest.chosen.valid_days,
                  calib_days=0, min_train_dates=backtest.chosen.min_train_dates)
    return plan_layout(early, backtest.horizon_days, backtest.grace_days, req)


_SPACE = {
    "num_leaves": ("int", 7, 127, True),
    "min_child_samples": ("int", 20, 2000, True),
    "learning_rate": ("float", 0.02, 0.2, True),
    "colsample_bytree": ("float", 0.4, 1.0, False),
    "subsample": ("float", 0.5, 1.0, False),
    "reg_lambda": ("float", 1e-3, 30.0, True),
}


def tune_params(
    labelled: pd.DataFrame, backtest: Layout, base_params: Mapping[str, Any], n_trials: int,
    timeout_s: float | None = None, seed: int = 0,
) -> TuningResult:
    """Optuna search over LightGBM parameters, scored by log loss on the tuning folds' own windows.

    Trees early-stop on each tuning fold's valid window and are judged on its last window; every date the
    search touches ends a full gap before the backtest's first evaluation date (see `tuning_layout`).
    """
    try:
        lay = tuning_layout(labelled["as_of"], backtest)
    except LayoutError as err:
        reason = f"not tuned: the history before the first evaluation window is too short ({err})"
        log.warning(reason)
        return TuningResult(params=dict(base_params), skipped=reason)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    split = [fold_parts(labelled, f) for f in lay.folds]

    def objective(trial: optuna.Trial) -> float:
        params = {**base_params, "calibration": "none"}
        for name, (kind, lo, hi, logscale) in _SPACE.items():
            suggest = trial.suggest_int if kind == "int" else trial.suggest_float
            params[name] = suggest(name, lo, hi, log=logscale)
        losses = []
        for parts in split:
            model = fit_on_fold(ChurnModel(**params), {**parts, "calib": parts["calib"].iloc[:0]})
            scored = parts["eval"]
            losses.append(log_loss(scored[LABEL].astype(int), model.predict_proba(scored)[:, 1]))
        return float(np.mean(losses))

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=n_trials, timeout=timeout_s)
    log.info("tuning: best log loss %.5f with %s", study.best_value, study.best_params)
    return TuningResult(params={**base_params, **study.best_params}, folds=lay.folds,
                        best_log_loss=float(study.best_value), trials=len(study.trials))
