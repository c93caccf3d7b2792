"""Intervals on backtest metrics: a bootstrap over accounts, paired across models, vectorised with numpy.

The same account appears at many as-of dates, and its rows are not independent (one churn labels several of
them), so the unit resampled is the account: each resample draws accounts with replacement and every row of
a drawn account comes along, weighted by how often the account was drawn. Every model is scored on the same
resampled accounts, so the difference between two models has its own interval (a paired bootstrap), much
narrower than comparing two separate intervals.

Each resample's metrics are computed from row weights in one pass of sorted cumulative sums (ties in the score
share their credit, as in scikit-learn's ROC-AUC), for a block of resamples at a time, so a few hundred
resamples over tens of thousands of rows take seconds. Intervals are percentile intervals.

Wording follows the interval: a difference is called a win or a loss only when the whole interval lies on one
side of zero, otherwise "not distinguishable".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnml.training.metrics import summarize

#: Metrics that carry an interval, in the order tables show them.
METRICS = (
    "roc_auc", "pr_auc", "log_loss", "brier", "ece", "lift_top10", "recall_top10", "churned_mrr_share_top10",
)
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "ece"})
KEYS = ("fold", "account_id", "as_of")
_BLOCK = 32  # resamples per vectorised block (bounds memory at ~block x rows floats)


@dataclass(frozen=True)
class Rows:
    """One model's evaluation rows, in a common row order shared by every model compared with it."""

    y: np.ndarray
    p: np.ndarray
    mrr: np.ndarray


def account_counts(
    accounts: Sequence[object] | np.ndarray, n_boot: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """How often each account is drawn in each resample, and each row's account index.

    Returns:
        (counts of shape (n_boot, n_accounts), row_account of shape (n_rows,)).
    """
    codes, uniques = pd.factorize(pd.Series(np.asarray(accounts, dtype=object)), sort=False)
    n = len(uniques)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot) if n else np.zeros((n_boot, 0), dtype=np.int64)
    counts = counts.astype(np.float32)  # integer counts are exact in float32; halves the memory traffic
    return counts, codes


@dataclass(frozen=True)
class _Sorted:
    """What a model's resampled metrics need that does not change between resamples."""

    order: np.ndarray  # rows by descending score
    starts: np.ndarray | None  # first row of each run of tied scores (None: no ties)
    ys: np.ndarray
    yms: np.ndarray  # outcome x MRR, sorted
    loss: np.ndarray  # per-row log loss, Brier (n, 2)
    bins: np.ndarray  # (n, 3 * n_bins): bin membership, x y, x p (ECE)


def _prepare(rows: Rows, n_bins: int = 10) -> _Sorted:
    y, p = rows.y, rows.p
    m = np.nan_to_num(rows.mrr, nan=0.0)
    order = np.argsort(-p, kind="stable")
    ps = p[order]
    starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
    pc = np.clip(p, 1e-15, 1 - 1e-15)
    loss = np.column_stack([-(y * np.log(pc) + (1 - y) * np.log(1 - pc)), (p - y) ** 2])
    asc = np.argsort(p, kind="stable")
    member = np.zeros((len(p), n_bins))
    for b, part in enumerate(np.array_split(asc, min(n_bins, max(len(asc), 1)))):
        member[part, b] = 1.0
    bins = np.hstack([member, member * y[:, None], member * p[:, None]])
    f4 = np.float32
    return _Sorted(order, None if len(starts) == len(p) else starts, y[order].astype(f4), (y * m)[order].astype(f4),
                   loss.astype(f4), bins.astype(f4))


def _weighted(prep: _Sorted, w: np.ndarray, top: float = 0.1) -> dict[str, np.ndarray]:
    """Every metric of METRICS for each row of the weight matrix `w` (shape (b, n_rows), rows in data order)."""
    total = w.sum(axis=1, dtype=np.float64)
    out: dict[str, np.ndarray] = {}
    losses = w @ prep.loss
    out["log_loss"], out["brier"] = losses[:, 0] / total, losses[:, 1] / total
    nb = prep.bins.shape[1] // 3
    agg = w @ prep.bins
    wb, yb, pb = agg[:, :nb], agg[:, nb : 2 * nb], agg[:, 2 * nb :]
    out["ece"] = (np.abs(yb - pb)).sum(axis=1) / total
    ws = w[:, prep.order]
    pos_w = ws * prep.ys
    neg_w = ws - pos_w
    if prep.starts is not None:
        pos_g, neg_g = np.add.reduceat(pos_w, prep.starts, axis=1), np.add.reduceat(neg_w, prep.starts, axis=1)
    else:
        pos_g, neg_g = pos_w, neg_w
    pos, neg = pos_g.sum(axis=1), neg_g.sum(axis=1)
    cum_neg = np.cumsum(neg_g, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["roc_auc"] = (pos_g * (neg[:, None] - cum_neg + 0.5 * neg_g)).sum(axis=1) / (pos * neg)
        cum_all = cum_neg + np.cumsum(pos_g, axis=1)
        out["pr_auc"] = (pos_g * (cum_all - cum_neg) / np.maximum(cum_all, 1e-300)).sum(axis=1) / pos
        before = np.cumsum(ws, axis=1) - ws  # weight of the riskier rows
        share = np.clip((top * total[:, None] - before) / np.where(ws > 0, ws, 1.0), 0.0, 1.0)
        out["recall_top10"] = (share * pos_w).sum(axis=1) / pos
        out["lift_top10"] = out["recall_top10"] / top
        lost = ws @ prep.yms
        out["churned_mrr_share_top10"] = np.where(lost > 0, (share * ws) @ prep.yms / lost, np.nan)
    del wb, pb
    return out


def paired_draws(
    models: dict[str, Rows], accounts: np.ndarray, n_boot: int = 400, seed: int = 0
) -> dict[str, pd.DataFrame]:
    """Bootstrap metric draws of several models on the same rows and the same resampled accounts.

    Args:
        models: name -> rows, every model's arrays in the same row order.
        accounts: account id of each row (the resampling unit).
        n_boot: resamples.
        seed: random seed (the same seed gives the same accounts, whatever the models).

    Returns:
        name -> frame of shape (n_boot, len(METRICS)).
    """
    counts, row_account = account_counts(accounts, n_boot, seed)
    prepared = {name: _prepare(rows) for name, rows in models.items()}
    draws: dict[str, list[dict[str, np.ndarray]]] = {name: [] for name in models}
    for lo in range(0, n_boot, _BLOCK):
        w = counts[lo : lo + _BLOCK][:, row_account]
        for name, prep in prepared.items():
            draws[name].append(_weighted(prep, w))
    return {
        name: pd.DataFrame({k: np.concatenate([c[k] for c in chunks]).astype(np.float64) for k in METRICS})
        for name, chunks in draws.items()
    }


def aligned_rows(predictions: pd.DataFrame, models: Sequence[str]) -> tuple[dict[str, Rows], np.ndarray]:
    """Each model's rows of a long prediction frame on the keys every one of them scored, in one order.

    Raises:
        ValueError: a model is absent from the frame.
    """
    missing = [m for m in models if m not in set(predictions["model"])]
    if missing:
        raise ValueError(f"no predictions for model(s) {missing}")
    keys = [k for k in KEYS if k in predictions.columns]
    wide = predictions.pivot_table(index=keys, columns="model", values="p", aggfunc="first")[list(models)].dropna()
    first = predictions[predictions["model"] == models[0]].set_index(keys)
    first = first[~first.index.duplicated()].reindex(wide.index)
    y = first["y"].to_numpy(dtype=float)
    mrr = first["mrr"].to_numpy(dtype=float) if "mrr" in first else np.full(len(first), np.nan)
    rows = {m: Rows(y=y, p=wide[m].to_numpy(dtype=float), mrr=mrr) for m in models}
    return rows, wide.index.get_level_values("account_id").to_numpy()


def _point(rows: Rows) -> dict[str, float]:
    return summarize(rows.y, rows.p, rows.mrr if np.isfinite(rows.mrr).any() else None)


def _bounds(x: np.ndarray, level: float) -> tuple[float, float]:
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return math.nan, math.nan
    a = (1 - level) / 2
    return float(np.quantile(x, a)), float(np.quantile(x, 1 - a))


@dataclass
class Intervals:
    """Metric intervals per model and paired differences against other models, from one bootstrap.

    Attributes:
        metrics: long frame (model, metric, value, lo, hi).
        differences: long frame (model, versus, metric, diff, lo, hi, verdict), diff = model - versus.
        n_boot / level / accounts: the bootstrap's size, coverage and number of accounts resampled.
    """

    metrics: pd.DataFrame
    differences: pd.DataFrame
    n_boot: int
    level: float
    accounts: int

    def wide(self) -> pd.DataFrame:
        """One row per model: each metric with `<metric>_lo` / `<metric>_hi` beside it."""
        if self.metrics.empty:
            return pd.DataFrame()
        rows = []
        for model, g in self.metrics.groupby("model", sort=False):
            row: dict[str, object] = {"model": model}
            for r in g.itertuples():
                row.update({r.metric: r.value, f"{r.metric}_lo": r.lo, f"{r.metric}_hi": r.hi})
            rows.append(row)
        return pd.DataFrame(rows)

    def difference(self, model: str, versus: str, metric: str) -> dict[str, float] | None:
        """The paired difference model - versus on one metric, or None if not computed."""
        d = self.differences
        hit = d[(d["model"] == model) & (d["versus"] == versus) & (d["metric"] == metric)]
        if hit.empty:
            return None
        r = hit.iloc[0]
        return {"diff": float(r["diff"]), "lo": float(r["lo"]), "hi": float(r["hi"])}


def verdict(metric: str, diff: float, lo: float, hi: float, versus: str) -> str:
    """Plain words for a paired difference (model - versus), following its interval.

    Higher is better except for losses (log loss, Brier, ECE), where "beats" means lower. Examples:
    "beats logistic by 0.045 (+0.020 to +0.070)"; "+0.005 vs logistic (-0.020 to +0.030): not
    distinguishable"; "beats logistic: log_loss lower by 0.011 (-0.018 to -0.004)".
    """
    if not all(math.isfinite(v) for v in (diff, lo, hi)):
        return f"vs {versus}: no interval (too few rows or one class)"
    lower = metric in LOWER_IS_BETTER
    sign = -1.0 if lower else 1.0
    span = f"({lo:+.3f} to {hi:+.3f})"
    if sign * lo > 0 and sign * hi > 0:
        return f"beats {versus}: {metric} lower by {abs(diff):.3f} {span}" if lower else \
            f"beats {versus} by {abs(diff):.3f} {span}"
    if sign * lo < 0 and sign * hi < 0:
        return f"trails {versus}: {metric} higher by {abs(diff):.3f} {span}" if lower else \
            f"trails {versus} by {abs(diff):.3f} {span}"
    return f"{diff:+.3f} vs {versus} {span}: not distinguishable"


def backtest_intervals(
    predictions: pd.DataFrame,
    main: str,
    *,
    versus: Sequence[str] | None = None,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> Intervals:
    """Intervals for every model's pooled backtest metrics and for `main` minus each other model.

    Args:
        predictions: long frame of `BacktestResult.predictions` (fold, model, account_id, as_of, y, p, mrr).
        main: the model every other is compared with (the challenger).
        versus: models to compare with (default: every other model in the frame).
        n_boot / level / seed: bootstrap size, interval coverage, random seed.
    """
    names = [main, *[m for m in (versus if versus is not None else pd.unique(predictions["model"])) if m != main]]
    rows, accounts = aligned_rows(predictions, names)
    draws = paired_draws(rows, accounts, n_boot, seed)
    points = {m: _point(rows[m]) for m in names}
    metric_rows, diff_rows = [], []
    for m in names:
        for k in METRICS:
            lo, hi = _bounds(draws[m][k].to_numpy(), level)
            metric_rows.append({"model": m, "metric": k, "value": points[m].get(k, math.nan), "lo": lo, "hi": hi})
    for other in names[1:]:
        for k in METRICS:
            diff = points[main].get(k, math.nan) - points[other].get(k, math.nan)
            lo, hi = _bounds((draws[main][k] - draws[other][k]).to_numpy(), level)
            diff_rows.append({"model": main, "versus": other, "metric": k, "diff": diff, "lo": lo, "hi": hi,
                              "verdict": verdict(k, diff, lo, hi, other)})
    return Intervals(pd.DataFrame(metric_rows), pd.DataFrame(diff_rows), n_boot, level, len(set(accounts)))
