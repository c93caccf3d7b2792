"""Rolling-origin backtests over as-of dates: train on the past, judge on a later window, never at random.

A row's label looks `horizon_days` ahead of its as-of date, so at the moment a model would score the first
evaluation date only rows at least a horizon older have known labels. Every fold therefore keeps all rows
it learns from — training, early-stopping (valid) and calibration rows — at least one horizon before its
first evaluation date. Random or gapless splits let the same churn event label both a training row and an
evaluation row of the same account, and the backtest then flatters the model.

Per fold, in time order::

    [ train ... ] <inner gap> [ valid ] [ calib ] <gap >= horizon> [ eval ]

The inner gap (default: one horizon) keeps early stopping and calibration honest the same way.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churnml.training.metrics import metrics_table

LABEL = "churned"


@dataclass(frozen=True)
class Fold:
    """Date bounds of one fold (all inclusive; a part with no dates has start = end = NaT).

    Attributes:
        index: fold number, 0 = oldest.
        train_end: last training as-of date (training uses every labelled date up to it).
        valid_start / valid_end: early-stopping dates.
        calib_start / calib_end: calibration dates.
        eval_start / eval_end: evaluation dates (NaT for the final model's layout, which has none).
    """

    index: int
    train_end: pd.Timestamp
    valid_start: pd.Timestamp
    valid_end: pd.Timestamp
    calib_start: pd.Timestamp
    calib_end: pd.Timestamp
    eval_start: pd.Timestamp = pd.NaT
    eval_end: pd.Timestamp = pd.NaT

    def masks(self, as_of: pd.Series | np.ndarray) -> dict[str, np.ndarray]:
        """Boolean row masks for "train", "valid", "calib" and "eval" given the rows' as-of dates."""
        t = pd.to_datetime(pd.Series(np.asarray(as_of))).to_numpy()

        def between(lo: pd.Timestamp, hi: pd.Timestamp) -> np.ndarray:
            if pd.isna(lo) or pd.isna(hi):
                return np.zeros(len(t), dtype=bool)
            return (t >= np.datetime64(lo)) & (t <= np.datetime64(hi))

        return {
            "train": t <= np.datetime64(self.train_end),
            "valid": between(self.valid_start, self.valid_end),
            "calib": between(self.calib_start, self.calib_end),
            "eval": between(self.eval_start, self.eval_end),
        }

    def last_fit_date(self) -> pd.Timestamp:
        """Latest as-of date whose label the fold learns from (train, valid or calib)."""
        return max(d for d in (self.train_end, self.valid_end, self.calib_end) if pd.notna(d))

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly bounds (ISO dates, None for absent parts)."""
        return {
            k: (None if pd.isna(v) else (v.date().isoformat() if isinstance(v, pd.Timestamp) else v))
            for k, v in self.__dict__.items()
        }


def _dates(as_of_dates: Sequence[Any] | pd.Series | np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(pd.Series(np.asarray(as_of_dates)).dropna().unique())).sort_values()


def _window(dates: pd.DatetimeIndex, end: pd.Timestamp, days: int) -> pd.DatetimeIndex:
    """Dates in (end - days, end]."""
    return dates[(dates <= end) & (dates > end - pd.Timedelta(days=days))]


def layout(
    dates: pd.DatetimeIndex,
    holdout_end: pd.Timestamp,
    *,
    index: int = 0,
    valid_days: int = 28,
    calib_days: int = 28,
    inner_gap_days: int = 90,
    min_train_dates: int = 4,
) -> Fold:
    """Train / valid / calib parts ending at `holdout_end` (no eval part): the fitting side of a fold.

    Calibration takes the latest dates (closest to how the model will be used), early stopping the dates
    before them, and training everything at least `inner_gap_days` before the first held-out date.

    Raises:
        ValueError: fewer than `min_train_dates` training dates remain.
    """
    calib = _window(dates, holdout_end, calib_days) if calib_days > 0 else dates[:0]
    valid_end = (calib.min() - pd.Timedelta(days=1)) if len(calib) else holdout_end
    valid = _window(dates, valid_end, valid_days) if valid_days > 0 else dates[:0]
    first_held = valid.min() if len(valid) else (calib.min() if len(calib) else holdout_end + pd.Timedelta(days=1))
    train = dates[dates <= first_held - pd.Timedelta(days=max(inner_gap_days, 1))]
    if len(train) < min_train_dates:
        raise ValueError(
            f"fold {index}: only {len(train)} training as-of date(s) before {first_held.date()} "
            f"(need {min_train_dates}); use fewer folds, shorter windows or more history"
        )
    return Fold(
        index=index,
        train_end=train.max(),
        valid_start=valid.min() if len(valid) else pd.NaT,
        valid_end=valid.max() if len(valid) else pd.NaT,
        calib_start=calib.min() if len(calib) else pd.NaT,
        calib_end=calib.max() if len(calib) else pd.NaT,
    )


def make_folds(
    as_of_dates: Sequence[Any] | pd.Series | np.ndarray,
    horizon_days: int,
    n_folds: int = 4,
    *,
    grace_days: int = 0,
    eval_days: int = 28,
    valid_days: int = 28,
    calib_days: int = 28,
    inner_gap_days: int | None = None,
    min_train_dates: int = 4,
) -> list[Fold]:
    """Rolling-origin folds over the labelled as-of dates, oldest first, evaluation windows back to back.

    The last fold evaluates the latest `eval_days` of labelled dates, each earlier fold the window before.
    Within a fold, every date the model learns from is at least `horizon_days + grace_days` before the first
    evaluation date (a contractual label is known only once the horizon and the grace period have passed), and
    training is the same gap before the early-stopping and calibration windows.

    Args:
        as_of_dates: as-of dates of the labelled rows (duplicates are fine).
        horizon_days / grace_days: label horizon and grace period; their sum is the gap.
        n_folds: number of folds.
        eval_days / valid_days / calib_days: lengths of the evaluation, early-stopping and calibration windows.
        inner_gap_days: gap between training and the valid/calib windows (default and minimum: the gap).
        min_train_dates: refuse folds with fewer training dates.

    Raises:
        ValueError: a fold cannot be laid out, or `inner_gap_days` is shorter than the gap.
    """
    dates = _dates(as_of_dates)
    if len(dates) == 0:
        raise ValueError("no as-of dates")
    gap_days = horizon_days + grace_days
    gap = pd.Timedelta(days=gap_days)
    inner = _inner_gap(gap_days, inner_gap_days, valid_days + calib_days > 0)
    folds = []
    for k in range(n_folds):
        eval_end = dates.max() - pd.Timedelta(days=eval_days) * (n_folds - 1 - k)
        ev = _window(dates, eval_end, eval_days)
        if len(ev) == 0:
            raise ValueError(f"fold {k}: no as-of dates in the evaluation window ending {eval_end.date()}")
        # Rows learned from need their label window [t, t + horizon + grace) closed before the first eval date.
        fit_side = layout(
            dates[dates <= ev.min() - gap], ev.min() - gap, index=k, valid_days=valid_days,
            calib_days=calib_days, inner_gap_days=inner, min_train_dates=min_train_dates,
        )
        folds.append(_with_eval(fit_side, ev.min(), ev.max()))
    return folds


def _inner_gap(gap_days: int, inner_gap_days: int | None, has_windows: bool) -> int:
    if inner_gap_days is None:
        return gap_days
    if has_windows and inner_gap_days < gap_days:
        raise ValueError(
            f"inner_gap_days={inner_gap_days} is shorter than horizon + grace ({gap_days} days): early-stopping "
            "and calibration labels would overlap the training labels; leave it unset"
        )
    return inner_gap_days


def _with_eval(fold: Fold, start: pd.Timestamp, end: pd.Timestamp) -> Fold:
    return Fold(**{**fold.__dict__, "eval_start": start, "eval_end": end})


def final_layout(
    as_of_dates: Sequence[Any] | pd.Series | np.ndarray,
    horizon_days: int,
    *,
    grace_days: int = 0,
    valid_days: int = 28,
    calib_days: int = 28,
    inner_gap_days: int | None = None,
    min_train_dates: int = 4,
) -> Fold:
    """The production fit's layout: the same train / valid / calib shape ending at the last labelled date."""
    dates = _dates(as_of_dates)
    return layout(
        dates, dates.max(), index=-1, valid_days=valid_days, calib_days=calib_days,
        inner_gap_days=_inner_gap(horizon_days + grace_days, inner_gap_days, valid_days + calib_days > 0),
        min_train_dates=min_train_dates,
    )


def check_fold(fold: Fold, horizon_days: int, grace_days: int = 0, inner_gap_days: int | None = None) -> None:
    """Check the leakage invariants of a fold: time order, and the gap before evaluation and inside the fold.

    Every date learned from (train, valid, calib) lies at least `horizon_days + grace_days` before the first
    evaluation date, and the last training date the same gap (or `inner_gap_days`) before the first valid or
    calibration date.

    Raises:
        ValueError: a part overlaps a later one or a gap is shorter than required.
    """
    gap = pd.Timedelta(days=horizon_days + grace_days)
    parts = [(fold.train_end, fold.train_end), (fold.valid_start, fold.valid_end),
             (fold.calib_start, fold.calib_end)]
    present = [p for p in parts if pd.notna(p[0])]
    for (_, a_end), (b_start, _) in itertools.pairwise(present):
        if not a_end < b_start:
            raise ValueError(f"fold {fold.index}: parts overlap or are out of order ({a_end} >= {b_start})")
    held = [d for d in (fold.valid_start, fold.calib_start) if pd.notna(d)]
    inner = gap if inner_gap_days is None else pd.Timedelta(days=inner_gap_days)
    if held and fold.train_end + inner > min(held):
        raise ValueError(
            f"fold {fold.index}: training labels of {fold.train_end.date()} reach past the first early-stopping/"
            f"calibration date {min(held).date()} (gap {inner.days} days needed)"
        )
    if pd.notna(fold.eval_start) and fold.last_fit_date() + gap > fold.eval_start:
        raise ValueError(
            f"fold {fold.index}: labels of {fold.last_fit_date().date()} reach past the first evaluation date "
            f"{fold.eval_start.date()} (horizon {horizon_days} + grace {grace_days} days)"
        )


# --------------------------------------------------------------------------- running

Factory = Callable[[], Any]


@dataclass
class BacktestResult:
    """Out-of-time predictions of every model on every fold, and the folds themselves.

    Attributes:
        folds: the folds, oldest first.
        predictions: long frame, one row per (fold, model, account_id, as_of) with y, p, mrr, segment and
            p_oracle (NaN without an oracle); the oracle itself also appears as model "oracle".
        info: per (fold, model) facts such as the best iteration and calibration method.
    """

    folds: list[Fold]
    predictions: pd.DataFrame
    info: list[dict[str, Any]] = field(default_factory=list)

    def overall(self) -> pd.DataFrame:
        """Metrics per model over all evaluation rows of all folds."""
        return metrics_table(self.predictions, ["model"])

    def per_fold(self) -> pd.DataFrame:
        """Metrics per model and fold."""
        return metrics_table(self.predictions, ["model", "fold"])

    def per_segment(self) -> pd.DataFrame:
        """Metrics per model and segment (all folds pooled)."""
        if "segment" not in self.predictions.columns or self.predictions["segment"].isna().all():
            return pd.DataFrame()
        return metrics_table(self.predictions.dropna(subset=["segment"]), ["model", "segment"])


def fold_parts(frame: pd.DataFrame, fold: Fold) -> dict[str, pd.DataFrame]:
    """The rows of each part of a fold."""
    return {name: frame[mask] for name, mask in fold.masks(frame["as_of"]).items()}


def fit_on_fold(estimator: Any, parts: Mapping[str, pd.DataFrame], label: str = LABEL) -> Any:
    """Fit an estimator with the common interface fit(X, y, X_valid=, y_valid=, X_calib=, y_calib=)."""
    va, ca = parts["valid"], parts["calib"]
    return estimator.fit(
        parts["train"], parts["train"][label].astype(int),
        X_valid=va if len(va) else None, y_valid=va[label].astype(int) if len(va) else None,
        X_calib=ca if len(ca) else None, y_calib=ca[label].astype(int) if len(ca) else None,
    )


def run_backtest(
    frame: pd.DataFrame,
    model_factory: Factory | None,
    baselines: Mapping[str, Factory] | None = None,
    *,
    folds: Sequence[Fold] | None = None,
    horizon_days: int = 90,
    grace_days: int = 0,
    n_folds: int = 4,
    label: str = LABEL,
    oracle: pd.Series | np.ndarray | str | None = None,
    model_name: str = "lightgbm",
    **fold_kwargs: Any,
) -> BacktestResult:
    """Fit every model on every fold and keep its out-of-time predictions on the evaluation rows.

    Args:
        frame: training frame; rows with a null label (horizon not yet observed) are dropped.
        model_factory: returns a fresh unfitted ChurnModel-like estimator (None: baselines only).
        baselines: name -> factory of baseline estimators with the same fit/predict_proba interface.
        folds: explicit folds (default: `make_folds` on the labelled dates with `horizon_days`,
            `grace_days`, `n_folds` and `fold_kwargs`); each is checked with `check_fold` first.
        label: label column.
        oracle: true probability per row (aligned with `frame`) or the name of such a column; evaluation
            only, never a feature.
        model_name: name of the main model in the predictions.
    """
    frame = frame.copy()
    if isinstance(oracle, str):
        frame["_p_oracle"] = frame[oracle].to_numpy(dtype=float)
        frame = frame.drop(columns=[oracle])
    elif oracle is not None:
        frame["_p_oracle"] = np.asarray(oracle, dtype=float)
    frame = frame[frame[label].notna()].reset_index(drop=True)
    if folds is None:
        folds = make_folds(frame["as_of"], horizon_days, n_folds, grace_days=grace_days, **fold_kwargs)
    factories: dict[str, Factory] = {}
    if model_factory is not None:
        factories[model_name] = model_factory
    factories.update(baselines or {})

    chunks, info = [], []
    for fold in folds:
        check_fold(fold, horizon_days, grace_days, fold_kwargs.get("inner_gap_days"))
        parts = fold_parts(frame, fold)
        ev = parts["eval"]
        base = pd.DataFrame(
            {
                "fold": fold.index,
                "account_id": ev["account_id"].to_numpy(),
                "as_of": ev["as_of"].to_numpy(),
                "y": ev[label].astype(int).to_numpy(),
                "mrr": ev["mrr"].to_numpy(dtype=float) if "mrr" in ev else np.nan,
                "segment": ev["segment"].astype("object").to_numpy() if "segment" in ev else None,
                "p_oracle": ev["_p_oracle"].to_numpy() if "_p_oracle" in ev else np.nan,
            }
        )
        for name, factory in factories.items():
            est = fit_on_fold(factory(), parts, label)
            chunks.append(base.assign(model=name, p=est.predict_proba(ev)[:, 1]))
            info.append(_fit_info(fold, name, est, parts))
        if "_p_oracle" in ev:
            chunks.append(base.assign(model="oracle", p=base["p_oracle"]))
    cols = ["fold", "model", "account_id", "as_of", "y", "p", "mrr", "segment", "p_oracle"]
    return BacktestResult(folds=list(folds), predictions=pd.concat(chunks, ignore_index=True)[cols], info=info)


def _fit_info(fold: Fold, name: str, est: Any, parts: Mapping[str, pd.DataFrame]) -> dict[str, Any]:
    out: dict[str, Any] = {"fold": fold.index, "model": name, **{f"n_{k}": len(v) for k, v in parts.items()}}
    if hasattr(est, "best_iteration_"):
        out["best_iteration"] = int(est.best_iteration_)
    cal = getattr(est, "calibrator_", None)
    if cal is not None and hasattr(cal, "method_"):
        out["calibration"] = cal.method_
    return out
