"""Which plays work: the clean holdout comparison per play, and a weaker observational adjusted estimate.

**Holdout (clean).** Units are eligible alerts (or, in the simulator, eligible CSM decisions), each with its play,
whether it was held out (recorded, random), whether the account churned within the horizon, and its MRR. Per
play: churn among routed vs held-out units, the difference (churn prevented, positive when the play helps) and
the MRR kept (share of the units' MRR still there), each with a percentile interval from a bootstrap over
accounts (`churnml.training.bootstrap.account_counts`: an account's units move together). This compares routing
the alert with not routing it (intention to treat): the held-out group differs from the routed one only by the
coin, so the difference is the effect of the alert and its play, and nothing else.

**Observational (weaker).** With no holdout, `adjusted_effect` compares accounts that got a play with those that
did not, adjusted by a doubly robust (AIPW) estimate of the effect on the treated: a propensity model and an
outcome model on the features. It is right only if the features capture everything that made CSMs act and that
also drives churn; nothing checks that, so its interval is narrower than the truth deserves. Label it as such.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from churnml.training.bootstrap import account_counts

UNIT_COLUMNS = ("account_id", "play", "held_out", "churned", "mrr")


def _check_units(units: pd.DataFrame) -> None:
    missing = [c for c in UNIT_COLUMNS if c not in units.columns]
    if missing:
        raise ValueError(f"play-effect units need columns {list(UNIT_COLUMNS)}; missing {missing}")
    if units["churned"].isna().any():
        n = int(units["churned"].isna().sum())
        raise ValueError(f"{n} play-effect unit(s) have no observed outcome (churned is null); drop them first")


def _bounds(x: np.ndarray, level: float) -> tuple[float, float]:
    a = (1 - level) / 2
    return float(np.nanquantile(x, a)), float(np.nanquantile(x, 1 - a))


def holdout_effects(units: pd.DataFrame, n_boot: int = 400, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Per play: routed vs held-out churn and MRR kept, their differences, with bootstrap-by-account intervals.

    Returns one row per play: n_routed, n_held_out, churn_routed, churn_held_out, churn_prevented (held-out
    minus routed churn) with _lo/_hi, mrr_kept_routed, mrr_kept_held_out, mrr_kept_gain (routed minus held-out
    share of MRR kept) with _lo/_hi. A play with no held-out (or no routed) unit gets NaN differences.
    """
    _check_units(units)
    rows = []
    for play, u in units.groupby("play", sort=True):
        held = u["held_out"].to_numpy(dtype=bool)
        y = u["churned"].to_numpy(dtype=float)
        mrr = u["mrr"].fillna(0.0).to_numpy(dtype=float)
        counts, codes = account_counts(u["account_id"].astype(str).to_numpy(), n_boot, seed)
        w = np.vstack([np.ones((1, len(u)), np.float32), counts[:, codes]])  # row 0: the point estimate

        def rate(mask: np.ndarray, num: np.ndarray, den: np.ndarray, w: np.ndarray = w) -> np.ndarray:
            with np.errstate(invalid="ignore", divide="ignore"):
                return (w[:, mask] @ num[mask]) / (w[:, mask] @ den[mask])

        c_r, c_h = rate(~held, y, np.ones_like(y)), rate(held, y, np.ones_like(y))
        k_r, k_h = rate(~held, mrr * (1 - y), mrr), rate(held, mrr * (1 - y), mrr)
        prevented, gain = c_h - c_r, k_r - k_h
        lo_p, hi_p = _bounds(prevented[1:], level)
        lo_g, hi_g = _bounds(gain[1:], level)
        rows.append({
            "play": play, "n_routed": int((~held).sum()), "n_held_out": int(held.sum()),
            "churn_routed": c_r[0], "churn_held_out": c_h[0],
            "churn_prevented": prevented[0], "churn_prevented_lo": lo_p, "churn_prevented_hi": hi_p,
            "mrr_kept_routed": k_r[0], "mrr_kept_held_out": k_h[0],
            "mrr_kept_gain": gain[0], "mrr_kept_gain_lo": lo_g, "mrr_kept_gain_hi": hi_g,
        })
    return pd.DataFrame(rows)


def _design(x: pd.DataFrame) -> np.ndarray:
    """Numeric design matrix: numeric columns with median fill plus missing flags; categoricals one-hot."""
    num = x.select_dtypes(include="number")
    cat = x.drop(columns=num.columns)
    parts = [num.fillna(num.median()).fillna(0.0).to_numpy(float)]
    flags = num.isna().to_numpy(float)
    parts.append(flags[:, flags.any(axis=0)])
    if len(cat.columns):
        parts.append(pd.get_dummies(cat.astype(str), dummy_na=False).to_numpy(float))
    return np.hstack(parts)


def adjusted_effect(x: pd.DataFrame, treated: np.ndarray, churned: np.ndarray, accounts: np.ndarray,
                    clip: float = 0.02) -> dict[str, float]:
    """Observational, doubly robust (AIPW) churn prevented among the treated; WEAKER than the holdout.

    Propensity and control-outcome models are logistic regressions on `x` (the features at decision time).
    The standard error sums the influence function by account (an account's rows are not independent).

    Returns:
        {"churn_prevented", "lo", "hi" (95%), "n_treated", "n_control"}.
    """
    t = np.asarray(treated, dtype=bool)
    y = np.asarray(churned, dtype=float)
    if t.all() or not t.any():
        raise ValueError("adjusted_effect needs both treated and untreated rows")
    design = _design(x)
    model = lambda: make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000))  # noqa: E731
    e = np.clip(model().fit(design, t).predict_proba(design)[:, 1], clip, 1 - clip)
    m0 = model().fit(design[~t], y[~t]).predict_proba(design)[:, 1] if len(np.unique(y[~t])) > 1 \
        else np.full(len(y), y[~t].mean())
    p_t = t.mean()
    odds = e / (1 - e)
    resid = y - m0
    att = (np.sum(resid[t]) - np.sum((odds * resid)[~t])) / t.sum()  # treated churn minus counterfactual
    psi = (np.where(t, resid - att, 0.0) - np.where(~t, odds * resid, 0.0)) / p_t
    by_account = pd.Series(psi).groupby(np.asarray(accounts)).sum().to_numpy()
    se = float(np.sqrt(np.sum(by_account**2)) / len(y))
    return {"churn_prevented": float(-att), "lo": float(-att - 1.96 * se), "hi": float(-att + 1.96 * se),
            "n_treated": int(t.sum()), "n_control": int((~t).sum())}
