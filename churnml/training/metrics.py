"""Scoring metrics for churn-risk predictions: ranking, calibration and what a CS team acts on.

Pure functions on arrays (and one on prediction frames). Ranking (ROC-AUC, PR-AUC) says whether the
riskiest accounts come first; log loss, Brier and ECE say whether "30%" means 30%; lift, recall and
churned-MRR share in the top 10% say what a CSM team working the top of the list would catch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

_EPS = 1e-15


def _arrays(y: Sequence[float] | np.ndarray, p: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_arr = np.asarray(y, dtype=float)
    p_arr = np.asarray(p, dtype=float)
    if y_arr.shape != p_arr.shape:
        raise ValueError(f"y and p differ in shape: {y_arr.shape} vs {p_arr.shape}")
    return y_arr, p_arr


def _two_classes(y: np.ndarray) -> bool:
    return len(y) > 0 and y.min() != y.max()


def roc_auc(y: Sequence[float] | np.ndarray, p: Sequence[float] | np.ndarray) -> float:
    """ROC-AUC; NaN when only one class is present (undefined, not 0.5)."""
    y_arr, p_arr = _arrays(y, p)
    return float(roc_auc_score(y_arr, p_arr)) if _two_classes(y_arr) else math.nan


def pr_auc(y: Sequence[float] | np.ndarray, p: Sequence[float] | np.ndarray) -> float:
    """Area under the precision-recall curve (average precision); NaN without positives."""
    y_arr, p_arr = _arrays(y, p)
    return float(average_precision_score(y_arr, p_arr)) if y_arr.sum() > 0 else math.nan


def log_loss(y: Sequence[float] | np.ndarray, p: Sequence[float] | np.ndarray) -> float:
    """Mean negative log-likelihood, probabilities clipped to [1e-15, 1 - 1e-15]."""
    y_arr, p_arr = _arrays(y, p)
    if len(y_arr) == 0:
        return math.nan
    p_arr = np.clip(p_arr, _EPS, 1 - _EPS)
    return float(-np.mean(y_arr * np.log(p_arr) + (1 - y_arr) * np.log(1 - p_arr)))


def brier(y: Sequence[float] | np.ndarray, p: Sequence[float] | np.ndarray) -> float:
    """Mean squared error of the probability."""
    y_arr, p_arr = _arrays(y, p)
    return float(np.mean((p_arr - y_arr) ** 2)) if len(y_arr) else math.nan


def calibration_bins(
    y: Sequence[float] | np.ndarray, p: Sequence[float] | np.ndarray, n_bins: int = 10
) -> pd.DataFrame:
    """Equal-mass bins by predicted probability: count, mean predicted and observed rate per bin.

    Equal mass (not equal width) because churn scores crowd near zero: equal-width bins would leave most
    of the rows in the first bin and judge calibration on a handful of high scores.
    """
    y_arr, p_arr = _arrays(y, p)
    order = np.argsort(p_arr, kind="stable")
    parts = [part for part in np.array_split(order, min(n_bins, max(len(order), 1))) if len(part)]
    return pd.DataFrame(
        {
            "n": [len(part) for part in parts],
            "p_mean": [float(p_arr[part].mean()) for part in parts],
            "y_rate": [float(y_arr[part].mean()) for part in parts],
        }
    )


def expected_calibration_error(
    y: Sequence[float] | np.ndarray, p: Sequence[float] | np.ndarray, n_bins: int = 10
) -> float:
    """ECE over equal-mass bins: sum over bins of (share of rows) x |observed rate - mean predicted|."""
    bins = calibration_bins(y, p, n_bins)
    if bins.empty:
        return math.nan
    return float((bins["n"] / bins["n"].sum() * (bins["y_rate"] - bins["p_mean"]).abs()).sum())


def top_mask(p: Sequence[float] | np.ndarray, frac: float = 0.1) -> np.ndarray:
    """Boolean mask of the ceil(frac * n) highest-risk rows (ties broken by position, deterministic)."""
    p_arr = np.asarray(p, dtype=float)
    k = math.ceil(frac * len(p_arr))
    mask = np.zeros(len(p_arr), dtype=bool)
    mask[np.argsort(-p_arr, kind="stable")[:k]] = True
    return mask


def lift_at(y: Sequence[float] | np.ndarray, p: Sequence[float] | np.ndarray, frac: float = 0.1) -> float:
    """Churn rate in the top `frac` by risk divided by the overall churn rate."""
    y_arr, p_arr = _arrays(y, p)
    if len(y_arr) == 0 or y_arr.mean() == 0:
        return math.nan
    return float(y_arr[top_mask(p_arr, frac)].mean() / y_arr.mean())


def recall_at(y: Sequence[float] | np.ndarray, p: Sequence[float] | np.ndarray, frac: float = 0.1) -> float:
    """Share of all churners found in the top `frac` by risk."""
    y_arr, p_arr = _arrays(y, p)
    if y_arr.sum() == 0:
        return math.nan
    return float(y_arr[top_mask(p_arr, frac)].sum() / y_arr.sum())


def revenue_captured_at(
    y: Sequence[float] | np.ndarray,
    p: Sequence[float] | np.ndarray,
    mrr: Sequence[float] | np.ndarray,
    frac: float = 0.1,
) -> float:
    """Share of churned MRR that sits in the top `frac` of accounts by risk (revenue at risk caught)."""
    y_arr, p_arr = _arrays(y, p)
    m = np.nan_to_num(np.asarray(mrr, dtype=float), nan=0.0)
    lost = (y_arr * m).sum()
    if lost <= 0:
        return math.nan
    return float((y_arr * m)[top_mask(p_arr, frac)].sum() / lost)


def summarize(
    y: Sequence[float] | np.ndarray,
    p: Sequence[float] | np.ndarray,
    mrr: Sequence[float] | np.ndarray | None = None,
    top: float = 0.1,
    n_bins: int = 10,
) -> dict[str, float]:
    """All metrics for one set of predictions, as a flat dict (one row of a metrics table)."""
    y_arr, p_arr = _arrays(y, p)
    out = {
        "n": float(len(y_arr)),
        "positives": float(y_arr.sum()),
        "base_rate": float(y_arr.mean()) if len(y_arr) else math.nan,
        "mean_p": float(p_arr.mean()) if len(p_arr) else math.nan,
        "roc_auc": roc_auc(y_arr, p_arr),
        "pr_auc": pr_auc(y_arr, p_arr),
        "log_loss": log_loss(y_arr, p_arr),
        "brier": brier(y_arr, p_arr),
        "ece": expected_calibration_error(y_arr, p_arr, n_bins),
        "lift_top10": lift_at(y_arr, p_arr, top),
        "recall_top10": recall_at(y_arr, p_arr, top),
    }
    if mrr is not None:
        out["churned_mrr_share_top10"] = revenue_captured_at(y_arr, p_arr, mrr, top)
    return out


def metrics_table(
    predictions: pd.DataFrame,
    by: Sequence[str] = ("model",),
    *,
    y: str = "y",
    p: str = "p",
    mrr: str | None = "mrr",
) -> pd.DataFrame:
    """Metrics per group of a long prediction frame (e.g. by model, by model x fold, by model x segment).

    Args:
        predictions: one row per scored (account, as_of, model), with outcome `y` and probability `p`.
        by: grouping columns.
        y / p / mrr: column names; mrr=None (or absent) skips the revenue metric.
    """
    use_mrr = mrr is not None and mrr in predictions.columns
    rows = []
    for key, g in predictions.groupby(list(by), sort=True, observed=True):
        key = key if isinstance(key, tuple) else (key,)
        stats = summarize(g[y].to_numpy(), g[p].to_numpy(), g[mrr].to_numpy() if use_mrr else None)
        rows.append({**dict(zip(by, key, strict=True)), **stats})
    return pd.DataFrame(rows)
