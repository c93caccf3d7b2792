"""Training-report figures: ROC, precision-recall, calibration, lift, feature importance, SHAP summary.

Each function takes tables and returns a `matplotlib.figure.Figure` built without pyplot, so no global
state or GUI backend is touched; callers save or log them (MLflow `log_figure`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

from churnml.training.metrics import calibration_bins, pr_auc, roc_auc

_ORDER = ("lightgbm", "logistic", "health_score", "oracle")


def _models(predictions: pd.DataFrame) -> list[str]:
    names = list(dict.fromkeys(predictions["model"]))
    return sorted(names, key=lambda m: (_ORDER.index(m) if m in _ORDER else len(_ORDER), m))


def _groups(predictions: pd.DataFrame) -> list[tuple[str, np.ndarray, np.ndarray]]:
    out = []
    for name in _models(predictions):
        g = predictions[predictions["model"] == name]
        out.append((name, g["y"].to_numpy(dtype=float), g["p"].to_numpy(dtype=float)))
    return out


def _style(name: str) -> dict[str, object]:
    return {"linestyle": "--", "color": "0.4"} if name == "oracle" else {}


def roc_figure(predictions: pd.DataFrame) -> Figure:
    """ROC curve per model on the pooled out-of-time predictions."""
    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    for name, y, p in _groups(predictions):
        if y.min() == y.max():
            continue
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc(y, p):.3f})", **_style(name))
    ax.plot([0, 1], [0, 1], color="0.8", linewidth=1)
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC (out of time)")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def pr_figure(predictions: pd.DataFrame) -> Figure:
    """Precision-recall curve per model, with the base rate for reference."""
    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    base = None
    for name, y, p in _groups(predictions):
        if y.sum() == 0:
            continue
        precision, recall, _ = precision_recall_curve(y, p)
        ax.plot(recall, precision, label=f"{name} (AP {pr_auc(y, p):.3f})", **_style(name))
        base = y.mean()
    if base is not None:
        ax.axhline(base, color="0.8", linewidth=1)
    ax.set(xlabel="Recall", ylabel="Precision", title="Precision-recall (out of time)")
    ax.legend(loc="upper right", fontsize=8)
    return fig


def calibration_figure(predictions: pd.DataFrame, n_bins: int = 10) -> Figure:
    """Observed churn rate against mean predicted probability, equal-mass bins, per model."""
    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    hi = 0.0
    for name, y, p in _groups(predictions):
        bins = calibration_bins(y, p, n_bins)
        ax.plot(bins["p_mean"], bins["y_rate"], marker="o", label=name, **_style(name))
        hi = max(hi, float(bins["p_mean"].max()), float(bins["y_rate"].max()))
    hi = min(1.0, hi * 1.05 + 1e-3)
    ax.plot([0, hi], [0, hi], color="0.8", linewidth=1)
    ax.set(xlabel="Mean predicted probability", ylabel="Observed churn rate", title="Calibration",
           xlim=(0, hi), ylim=(0, hi))
    ax.legend(loc="upper left", fontsize=8)
    return fig


def lift_figure(predictions: pd.DataFrame) -> Figure:
    """Cumulative gains: share of churners (and of churned MRR, dotted) caught by working the riskiest x%."""
    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    for name in _models(predictions):
        g = predictions[predictions["model"] == name].sort_values("p", ascending=False, kind="stable")
        y = g["y"].to_numpy(dtype=float)
        if y.sum() == 0:
            continue
        x = np.arange(1, len(y) + 1) / len(y)
        line = ax.plot(x, np.cumsum(y) / y.sum(), label=name, **_style(name))[0]
        if "mrr" in g.columns:
            lost = y * np.nan_to_num(g["mrr"].to_numpy(dtype=float))
            if lost.sum() > 0:
                ax.plot(x, np.cumsum(lost) / lost.sum(), linestyle=":", color=line.get_color())
    ax.plot([0, 1], [0, 1], color="0.8", linewidth=1)
    ax.axvline(0.1, color="0.85", linewidth=1)
    ax.set(xlabel="Share of accounts worked (riskiest first)", ylabel="Share of churn caught",
           title="Cumulative gains (dotted: churned MRR)")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def importance_figure(importance: pd.Series, top: int = 20) -> Figure:
    """Horizontal bar chart of the top features by importance (e.g. `ChurnModel.feature_importance()`)."""
    imp = importance.sort_values(ascending=False).head(top)[::-1]
    fig = Figure(figsize=(6, 0.3 * len(imp) + 1.2))
    ax = fig.subplots()
    ax.barh(imp.index.astype(str), imp.to_numpy(dtype=float), color="#4C72B0")
    ax.set(xlabel=f"Importance ({importance.name or 'gain'})", title="Feature importance")
    fig.tight_layout()
    return fig


def shap_summary_figure(contributions: pd.DataFrame, prepared: pd.DataFrame, top: int = 15, seed: int = 0) -> Figure:
    """Beeswarm-style SHAP summary: one row per feature, a dot per account, coloured by feature value.

    Args:
        contributions: `ChurnModel.contributions` output (a `_base_value` column is ignored).
        prepared: `ChurnModel.prepare` output for the same rows (colours: numeric value percentile;
            categoricals and missing values grey).
        top: features shown, by mean |SHAP|.
        seed: jitter seed.
    """
    contrib = contributions.drop(columns=[c for c in contributions.columns if c.startswith("_")])
    order = contrib.abs().mean().sort_values(ascending=False).head(top).index[::-1]
    rng = np.random.default_rng(seed)
    fig = Figure(figsize=(7, 0.35 * len(order) + 1.5))
    ax = fig.subplots()
    scatter = None
    for i, f in enumerate(order):
        s = contrib[f].to_numpy(dtype=float)
        col = prepared[f] if f in prepared.columns else pd.Series(np.nan, index=contrib.index)
        y = i + rng.uniform(-0.3, 0.3, len(s))
        if isinstance(col.dtype, pd.CategoricalDtype):
            ax.scatter(s, y, s=6, color="0.6", alpha=0.6, linewidths=0)
            continue
        v = col.to_numpy(dtype=float)
        known = ~np.isnan(v)
        ax.scatter(s[~known], y[~known], s=6, color="0.75", alpha=0.6, linewidths=0)
        if known.any():
            pct = pd.Series(v[known]).rank(pct=True).to_numpy()
            scatter = ax.scatter(s[known], y[known], s=6, c=pct, cmap="coolwarm", vmin=0, vmax=1, alpha=0.7,
                                 linewidths=0)
    ax.axvline(0, color="0.5", linewidth=0.8)
    ax.set_yticks(range(len(order)), labels=list(order))
    ax.set(xlabel="SHAP value (log-odds of churn)", title="What drives risk (SHAP)")
    if scatter is not None:
        bar = fig.colorbar(scatter, ax=ax, fraction=0.03, pad=0.01)
        bar.set_label("feature value (low → high)")
    fig.tight_layout()
    return fig
