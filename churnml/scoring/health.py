"""Model health before labels arrive: performance estimated from the calibrated probabilities themselves.

Confidence-based performance estimation (CBPE, as NannyML does it): if the model is calibrated, account i
churns with probability p_i, so every metric has an expectation computable without labels.

- Expected ROC-AUC: E[concordant pairs] / E[positive-negative pairs] = Σ_i Σ_{j≠i} p_i (1 − p_j) 1[s_i > s_j]
  (ties ½) over Σ_i Σ_{j≠i} p_i (1 − p_j); O(n log n) by sorting. Its interval is that of the AUC realised
  when labels are drawn y_i ~ Bernoulli(p_i) (vectorised draws, AUC from the fixed ranks).
- Expected churn count Σ p_i, with the same draws' interval; expected Brier score Σ p_i (1 − p_i) / n.
- Calibration itself cannot be estimated this way (the estimator assumes it): a model that drifted out of
  calibration shows only once labels arrive, in the backtest (`backtest_health`: realised vs expected).

NannyML itself is not used: on this stack it would downgrade LightGBM (4.7 → 4.5) and pull in ~25 packages
(xgboost, FLAML, cloud storage SDKs, usage telemetry) for this one estimator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from churnml.training.metrics import roc_auc

ALL = "all"


def expected_auc(p: np.ndarray, score: np.ndarray | None = None) -> float:
    """Expected ROC-AUC of `score` (default: p itself) if labels are Bernoulli(p); NaN for < 2 rows."""
    p = np.asarray(p, dtype=float)
    s = p if score is None else np.asarray(score, dtype=float)
    if len(p) < 2:
        return float("nan")
    order = np.argsort(s, kind="stable")
    ps, ss, q = p[order], s[order], 1.0 - p[order]
    # Negatives' weight strictly below each score, and within its tie block.
    starts = np.r_[0, np.flatnonzero(np.diff(ss)) + 1]
    block = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(ss)]))
    block_q = np.bincount(block, weights=q)
    below = np.r_[0.0, np.cumsum(block_q)[:-1]][block]
    num = float(np.sum(ps * (below + 0.5 * (block_q[block] - q))))
    den = float(ps.sum() * q.sum() - np.sum(ps * q))
    return num / den if den > 0 else float("nan")


def auc_draws(p: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """ROC-AUC realised under `draws` label draws y ~ Bernoulli(p) (ranks fixed: Mann-Whitney U)."""
    p = np.asarray(p, dtype=float)
    ranks = rankdata(p)
    y = rng.random((draws, len(p))) < p
    n1 = y.sum(axis=1)
    n0 = len(p) - n1
    u = y.astype(float) @ ranks - n1 * (n1 + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n1 > 0) & (n0 > 0), u / (n1 * n0), np.nan)


def _one(p: np.ndarray, draws: int, rng: np.random.Generator, level: float) -> dict[str, float]:
    tail = (1 - level) / 2
    aucs = auc_draws(p, draws, rng)
    counts = (rng.random((draws, len(p))) < p).sum(axis=1)
    finite = aucs[np.isfinite(aucs)]
    lo, hi = np.quantile(finite, [tail, 1 - tail]) if len(finite) else (np.nan, np.nan)
    return {
        "accounts": float(len(p)),
        "expected_churners": float(p.sum()),
        "churners_lo": float(np.quantile(counts, tail)),
        "churners_hi": float(np.quantile(counts, 1 - tail)),
        "expected_auc": expected_auc(p),
        "auc_lo": float(lo),
        "auc_hi": float(hi),
        "expected_brier": float(np.mean(p * (1 - p))),
    }


def estimate_health(
    p: np.ndarray | pd.Series, segment: np.ndarray | pd.Series | None = None, *, draws: int = 400,
    level: float = 0.95, seed: int = 0,
) -> pd.DataFrame:
    """CBPE estimates for all accounts and each segment: expected churners, ROC-AUC (with intervals), Brier.

    Args:
        p: calibrated churn probabilities of one scoring date.
        segment: segment per account (None: `all` only).
        draws: label draws for the intervals.
        level: central interval level.
        seed: random seed.

    Raises:
        ValueError: a probability is missing or outside [0, 1].
    """
    p = np.asarray(p, dtype=float)
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        bad = np.flatnonzero(np.isnan(p) | (p < 0) | (p > 1))[:5].tolist()
        raise ValueError(f"probabilities must be in [0, 1]; rows {bad} are not")
    rng = np.random.default_rng(seed)
    rows = [{"segment": ALL, **_one(p, draws, rng, level)}]
    if segment is not None:
        seg = np.asarray(pd.Series(segment).astype(str))
        rows += [{"segment": s, **_one(p[seg == s], draws, rng, level)} for s in sorted(set(seg))]
    return pd.DataFrame(rows)


def backtest_health(pred: pd.DataFrame, *, draws: int = 200, seed: int = 0) -> pd.DataFrame:
    """Estimated vs realised ROC-AUC per past as-of date and segment, from out-of-time predictions.

    Args:
        pred: rows with as_of, p (calibrated), y (realised label) and optionally segment — e.g. one model's
            `BacktestResult.predictions`.

    Returns:
        One row per (as_of, segment) with the `estimate_health` columns, `realised_auc`, `realised_churners`
        and `inside` (realised AUC within the estimate's interval).
    """
    rows = []
    for i, (as_of, g) in enumerate(pred.groupby("as_of")):
        est = estimate_health(g["p"], g.get("segment", None), draws=draws, seed=seed + i)
        for rec in est.to_dict(orient="records"):
            part = g if rec["segment"] == ALL else g[g["segment"].astype(str) == rec["segment"]]
            rec["realised_auc"] = roc_auc(part["y"], part["p"])
            rec["realised_churners"] = float(part["y"].sum())
            rows.append({"as_of": pd.Timestamp(as_of), **rec})
    out = pd.DataFrame(rows)
    out["inside"] = (out["realised_auc"] >= out["auc_lo"]) & (out["realised_auc"] <= out["auc_hi"])
    return out


def health_errors(bt: pd.DataFrame) -> pd.DataFrame:
    """Mean absolute error of estimated vs realised AUC and churner count, and interval coverage, per scope
    (`all` accounts, segments pooled)."""
    rows = []
    for scope, sub in (("portfolio", bt[bt["segment"] == ALL]), ("segments", bt[bt["segment"] != ALL])):
        sub = sub[np.isfinite(sub["realised_auc"])]
        if sub.empty:
            continue
        rows.append({
            "scope": scope, "points": len(sub),
            "mae_auc": float((sub["expected_auc"] - sub["realised_auc"]).abs().mean()),
            "bias_auc": float((sub["expected_auc"] - sub["realised_auc"]).mean()),
            "coverage_auc": float(sub["inside"].mean()),
            "mae_churners": float((sub["expected_churners"] - sub["realised_churners"]).abs().mean()),
        })
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class HealthCheck:
    """This week's CBPE estimate of one model, and what is wrong with it (`alarms`; empty: nothing).

    Attributes:
        model: which model was estimated ("challenger v3").
        estimate: `estimate_health` rows (`all` first, then each segment).
        reference_auc: the model's backtest ROC-AUC (None when unknown).
        floor: `forecast.auc_floor` (None: no floor configured).
        alarms: one sentence per alarm (the estimate below the floor; the backtest AUC outside the interval).
        notes: segments below the floor (informative: a segment's estimate is noisier than the portfolio's).
    """

    model: str
    estimate: pd.DataFrame
    reference_auc: float | None
    floor: float | None
    alarms: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return bool(self.alarms)

    @property
    def portfolio(self) -> dict[str, float]:
        return self.estimate.iloc[0].to_dict()


def check_health(
    p: np.ndarray | pd.Series, segment: np.ndarray | pd.Series | None = None, *, model: str,
    reference_auc: float | None = None, floor: float | None = None, seed: int = 0,
) -> HealthCheck:
    """Estimate the model's health on this week's accounts and raise the alarms.

    Alarms (portfolio estimate): the expected ROC-AUC is below `floor`; the backtest's ROC-AUC lies outside this
    week's 95% interval, i.e. on this week's accounts the model is expected to rank differently than it did in
    its backtest (its scores drifted). Segments whose estimate is below the floor are listed as notes.
    """
    est = estimate_health(p, segment, seed=seed)
    whole = est.iloc[0]
    alarms: list[str] = []
    if floor is not None and whole["expected_auc"] < floor:
        alarms.append(f"estimated ROC-AUC {whole['expected_auc']:.3f} is below the floor {floor:.3f} "
                      "(forecast.auc_floor)")
    if reference_auc is not None and math.isfinite(reference_auc) and not (
            whole["auc_lo"] <= reference_auc <= whole["auc_hi"]):
        alarms.append(f"the backtest ROC-AUC {reference_auc:.3f} is outside this week's estimated 95% range "
                      f"{whole['auc_lo']:.3f}–{whole['auc_hi']:.3f}: on this week's accounts the model is "
                      "expected to rank differently than in its backtest")
    notes = [f"segment {r['segment']}: estimated ROC-AUC {r['expected_auc']:.3f} is below the floor"
             for r in est.iloc[1:].to_dict(orient="records")
             if floor is not None and math.isfinite(r["expected_auc"]) and r["expected_auc"] < floor]
    return HealthCheck(model, est, reference_auc, floor, alarms, notes)
