"""What the forecast learns beside the three outcome models: the amounts of change and the segment random effect.

Amounts (empirical by segment): among labelled rows that did not churn and had MRR, the ratio MRR at the
horizon / MRR today, per segment and per outcome class (contracted, expanded, neither), kept as quantiles so
a draw can sample a whole distribution. A segment with fewer than `MIN_ROWS` rows of a class uses the
pooled quantiles.

Random effect: the accounts of one segment share market, season and product changes, so their outcomes move
together. For every (as-of date, segment) group of the backtest, the logit shift δ that makes the calibrated
probabilities sum to the realised count is found; its mean square, less the mean square a purely binomial
world would give (1 / Σ p(1-p), the shift's sampling variance), is the variance σ² of a shared logit shift
(method of moments, floored at 0), per outcome.

Interval scale: the draws assume each account's outcome is a Bernoulli draw with its calibrated probability.
A calibrated model that is less sharp than the world (most are: AUC well below 1) overstates that noise, so
the draws' spread can be too wide as well as too narrow. Backtest residuals of the forecast itself,
standardised by the draws' spread, z = (realised − forecast) / sd, measure it; the scale per metric is
√mean(z²), floored at `MIN_SCALE` (a few lucky dates must not collapse the intervals), applied to the draws
around their mean (`fit_scale`, leave-one-fold-out in the backtest).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, logit

from churnml.config import ForecastConfig, LabelsConfig

CLASSES: tuple[str, ...] = ("stay", "contract", "expand")
POOLED = "__all__"
MIN_ROWS = 30
QUANTILES = np.linspace(0.0, 1.0, 41)
PARAMS_FILE = "forecast/params.json"
BACKTEST_FILE = "forecast/backtest.parquet"
MIN_SCALE = 0.5


def params_path(work_dir: Path | str) -> Path:
    """Where `train_and_register_outcomes` writes the forecast parameters."""
    return Path(work_dir) / PARAMS_FILE


def backtest_path(work_dir: Path | str) -> Path:
    """Where `train_and_register_outcomes` writes the forecast's backtest (forecast vs realised per date)."""
    return Path(work_dir) / BACKTEST_FILE


@dataclass
class ForecastParams:
    """Amount quantiles per segment and class, and the random effect's standard deviation per outcome.

    Attributes:
        amounts: segment (or `POOLED`) -> class -> ratio quantiles at `QUANTILES`.
        sigma: outcome column ("churned", "contracted", "expanded") -> σ of the shared logit shift.
        horizon_days: the label horizon the parameters were fitted for.
        groups: how many (date, segment) groups the σ estimate used.
        scale: metric ("grr", "nrr") -> interval scale (1 when absent).
    """

    amounts: dict[str, dict[str, list[float]]]
    sigma: dict[str, float]
    horizon_days: int
    groups: int = 0
    scale: dict[str, float] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        """Write as JSON (folders created)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> ForecastParams:
        """Read what `save` wrote.

        Raises:
            FileNotFoundError: no parameters there (train the outcome models first).
        """
        if not path.exists():
            raise FileNotFoundError(
                f"no forecast parameters at {path}: train the outcome models first (`churnml forecast train`)"
            )
        return cls(**json.loads(path.read_text()))

    def quantile_table(self, segments: list[str]) -> np.ndarray:
        """(len(segments), len(CLASSES), len(QUANTILES)) ratios, pooled where a segment has none."""
        pooled = self.amounts[POOLED]
        return np.array(
            [[self.amounts.get(s, pooled).get(c, pooled[c]) for c in CLASSES] for s in segments], dtype=float
        )

    def mean_ratio(self, segments: list[str]) -> np.ndarray:
        """(len(segments), len(CLASSES)) mean ratio per class (trapezoid over the quantiles)."""
        q = self.quantile_table(segments)
        return ((q[..., 1:] + q[..., :-1]) / 2).mean(axis=-1)


def outcome_class(contracted: pd.Series, expanded: pd.Series) -> np.ndarray:
    """0 = neither, 1 = contracted, 2 = expanded (indexes into `CLASSES`)."""
    return np.where(contracted.astype(bool), 1, np.where(expanded.astype(bool), 2, 0))


def fit_amounts(frame: pd.DataFrame) -> dict[str, dict[str, list[float]]]:
    """Ratio quantiles per segment and class from labelled, non-churned rows with MRR today.

    Raises:
        ValueError: no such rows.
    """
    ok = frame["churned"].notna() & ~frame["churned"].astype("boolean").fillna(True) & (frame["mrr"] > 0)
    rows = frame.loc[ok]
    if rows.empty:
        raise ValueError("no labelled row stayed with MRR > 0: cannot learn amounts of change")
    ratio = (rows["mrr_horizon"] / rows["mrr"]).to_numpy(dtype=float)
    cls = outcome_class(rows["contracted"], rows["expanded"])
    seg = rows["segment"].astype(str).to_numpy() if "segment" in rows else np.full(len(rows), POOLED)
    pooled = _class_quantiles(ratio, cls, None)
    out = {POOLED: pooled}
    for s in np.unique(seg):
        m = seg == s
        out[str(s)] = _class_quantiles(ratio[m], cls[m], pooled)
    return out


def _class_quantiles(
    ratio: np.ndarray, cls: np.ndarray, fallback: dict[str, list[float]] | None
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for i, name in enumerate(CLASSES):
        r = ratio[cls == i]
        if len(r) >= MIN_ROWS or (fallback is None and len(r)):
            out[name] = np.quantile(r, QUANTILES).round(6).tolist()
        elif fallback is not None:
            out[name] = fallback[name]
        else:  # no row of this class anywhere: the class keeps MRR as it is
            out[name] = [1.0] * len(QUANTILES)
    return out


def group_shift(p: np.ndarray, observed: float) -> float:
    """The logit shift δ with Σ expit(logit(p) + δ) = observed (observed clipped to [0.5, n - 0.5])."""
    z = logit(np.clip(p, 1e-6, 1 - 1e-6))
    target = float(np.clip(observed, 0.5, len(p) - 0.5))
    return float(brentq(lambda d: expit(z + d).sum() - target, -20.0, 20.0))


def effect_sigma(p: np.ndarray, y: np.ndarray, groups: np.ndarray) -> tuple[float, int]:
    """σ of a shared logit shift per group, by the method of moments (see the module docstring).

    Returns (σ, number of groups used). Groups with fewer than 2 rows are skipped.
    """
    shifts, noise = [], []
    for g in pd.unique(groups):
        m = groups == g
        if m.sum() < 2:
            continue
        pg = p[m]
        shifts.append(group_shift(pg, float(y[m].sum())))
        noise.append(1.0 / max(float((pg * (1 - pg)).sum()), 1e-9))
    if not shifts:
        return 0.0, 0
    var = float(np.mean(np.square(shifts)) - np.mean(noise))
    return float(np.sqrt(max(var, 0.0))), len(shifts)


def fit_sigma(pred: pd.DataFrame, outcomes: tuple[str, ...]) -> tuple[dict[str, float], int]:
    """σ per outcome from backtest predictions (`p_<outcome>`, `y_<outcome>`), groups (as_of, segment)."""
    seg = pred["segment"].astype(str) if "segment" in pred else pd.Series(POOLED, index=pred.index)
    groups = (pd.to_datetime(pred["as_of"]).dt.strftime("%Y-%m-%d") + "|" + seg).to_numpy()
    sigma, n = {}, 0
    for o in outcomes:
        sigma[o], n = effect_sigma(pred[f"p_{o}"].to_numpy(float), pred[f"y_{o}"].to_numpy(float), groups)
    return sigma, n


def fit_params(
    frame: pd.DataFrame, pred: pd.DataFrame, labels: LabelsConfig, cfg: ForecastConfig
) -> ForecastParams:
    """Amounts from the frame's labelled rows, σ from the backtest predictions (zero if disabled)."""
    outcomes = tuple(c[2:] for c in pred.columns if c.startswith("p_") and c != "p_oracle")
    sigma, n = fit_sigma(pred, outcomes) if cfg.random_effect else ({o: 0.0 for o in outcomes}, 0)
    return ForecastParams(
        amounts=fit_amounts(frame), sigma=sigma, horizon_days=labels.horizon_days, groups=n,
        meta={"contraction_below": str(cfg.contraction_below), "expansion_above": str(cfg.expansion_above)},
    )


def fit_scale(bt: pd.DataFrame) -> dict[str, float]:
    """Interval scale per metric from forecast-backtest rows (`metric`, `forecast`, `sd`, `realised`).

    max(`MIN_SCALE`, √mean(z²)) with z = (realised − forecast) / sd over rows with a realised value and sd > 0.
    The unscaled spread `sd_raw` is used where the rows carry one (rows already rescaled by fold).
    """
    sd = bt["sd_raw"] if "sd_raw" in bt else bt["sd"]
    ok = bt["realised"].notna() & (sd > 0)
    out = {}
    for metric, rows in bt[ok].groupby("metric"):
        z = (rows["realised"] - rows["forecast"]) / sd[rows.index]
        out[str(metric)] = max(MIN_SCALE, float(np.sqrt(np.mean(np.square(z)))))
    return out
