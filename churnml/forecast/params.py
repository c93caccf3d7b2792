"""What the forecast learns beside the three outcome models: the amounts of change and the segment random effect.

Amounts (empirical by segment): among labelled rows that did not churn and had MRR, the ratio MRR at the
horizon / MRR today, per segment and per outcome class (contracted, expanded, neither), kept as quantiles so
a draw can sample a whole distribution. A segment with fewer than `MIN_ROWS` rows of a class uses the
pooled quantiles.

Random effect: the accounts of one segment share market, season and product changes, so their outcomes move
together; σ of a shared logit shift per outcome and the share of it common to all segments, by the
closed-form moments of `churnml.forecast.dispersion` (point in time, with a prior from the data's own history).

No interval scale: an earlier version also rescaled the draws by the backtest's standardised forecast errors.
That counted the same residuals twice (σ is fitted on them already), and at any date only a handful of
overlapping backtest dates are known, so the scale mostly followed the last few misses; it is gone, and a
stored `scale` from then is ignored on load (train again to refit).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from churnml.config import ForecastConfig, LabelsConfig
from churnml.forecast.dispersion import effect_at, model_groups, prior_groups

CLASSES: tuple[str, ...] = ("stay", "contract", "expand")
POOLED = "__all__"
MIN_ROWS = 30
QUANTILES = np.linspace(0.0, 1.0, 41)
PARAMS_FILE = "forecast/params.json"
BACKTEST_FILE = "forecast/backtest.parquet"


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
        groups: how many backtest as-of dates the σ estimate used (besides the prior).
        shared: outcome -> share of σ² common to every segment of a date (0 when absent).
    """

    amounts: dict[str, dict[str, list[float]]]
    sigma: dict[str, float]
    horizon_days: int
    groups: int = 0
    shared: dict[str, float] = field(default_factory=dict)
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
        doc = json.loads(path.read_text())
        doc.pop("scale", None)  # written before the interval scale was dropped (module docstring)
        return cls(**doc)

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


def fit_params(
    frame: pd.DataFrame, pred: pd.DataFrame, labels: LabelsConfig, cfg: ForecastConfig
) -> ForecastParams:
    """Amounts from the frame's labelled rows; σ and its shared share from the backtest predictions and the
    frame's history (`churnml.forecast.dispersion.effect_at`, every group known); zero if disabled."""
    outcomes = tuple(c[2:] for c in pred.columns if c.startswith("p_") and c != "p_oracle")
    sigma, shared, n = {o: 0.0 for o in outcomes}, {o: 0.0 for o in outcomes}, 0
    if cfg.random_effect:
        lag = labels.horizon_days + labels.grace_days
        sigma, shared, n = effect_at(model_groups(pred, outcomes), prior_groups(frame, outcomes, lag), outcomes,
                                     None, lag)
    return ForecastParams(
        amounts=fit_amounts(frame), sigma=sigma, horizon_days=labels.horizon_days, groups=n, shared=shared,
        meta={"contraction_below": str(cfg.contraction_below), "expansion_above": str(cfg.expansion_above)},
    )
