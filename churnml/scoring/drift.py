"""Population stability (PSI) per feature and for the score distribution, with thresholds.

PSI = Σ (cur% − ref%) · ln(cur% / ref%) over bins fixed on the reference: quantile bins for numbers (missing
values are a bin of their own, so a feature that goes missing shows as drift), one bin per category otherwise.
Conventional reading: < 0.1 stable, 0.1–0.25 moderate shift, > 0.25 major shift. Pure: frames in, tables out.

Features that grow with the account's age by construction (tenure, lifetime totals: `FeatureSpec.accumulates`)
shift every week in a population that ages, so a breach on them would fire every week and teach people to
ignore the alarm; they are reported with their PSI and marked `accumulates`, and counted apart (`ageing`), not
among the breaches.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, model_validator

EPS = 1e-4


class DriftConfig(BaseModel):
    """Drift thresholds of the weekly job (the `retrain.drift` section)."""

    warn: float = Field(0.1, ge=0, description="PSI from which a feature is flagged as shifted.")
    alert: float = Field(0.25, ge=0, description="PSI from which a feature (or the scores) is a breach.")
    bins: int = Field(10, ge=2, le=100)
    block_promotion: bool = Field(False, description="A breach keeps the challenger from being promoted.")

    @model_validator(mode="after")
    def _ordered(self) -> DriftConfig:
        if self.warn > self.alert:
            raise ValueError(f"drift thresholds must satisfy warn <= alert, got {self.warn} and {self.alert}")
        return self


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return np.full(len(counts), 1.0 / len(counts)) if total == 0 else counts / total


def psi_from_counts(ref: np.ndarray, cur: np.ndarray) -> float:
    """PSI of two histograms over the same bins (empty bins get a small floor)."""
    r = np.clip(_shares(np.asarray(ref, float)), EPS, None)
    c = np.clip(_shares(np.asarray(cur, float)), EPS, None)
    return float(np.sum((c - r) * np.log(c / r)))


def psi(reference: Sequence | pd.Series, current: Sequence | pd.Series, bins: int = 10) -> float:
    """PSI of `current` against `reference` (numeric: quantile bins of the reference; else categories)."""
    ref, cur = pd.Series(reference), pd.Series(current)
    if len(ref) == 0 or len(cur) == 0:
        return float("nan")
    numeric = pd.api.types.is_numeric_dtype(ref) and not pd.api.types.is_bool_dtype(ref)
    if not numeric:
        r, c = ref.astype(object).fillna("(missing)"), cur.astype(object).fillna("(missing)")
        cats = sorted(set(r.astype(str)) | set(c.astype(str)))
        rc = r.astype(str).value_counts().reindex(cats, fill_value=0).to_numpy()
        cc = c.astype(str).value_counts().reindex(cats, fill_value=0).to_numpy()
        return psi_from_counts(rc, cc)
    rv, cv = ref.to_numpy(float), cur.to_numpy(float)
    rn, cn = rv[~np.isnan(rv)], cv[~np.isnan(cv)]
    edges = np.unique(np.quantile(rn, np.linspace(0, 1, bins + 1)[1:-1])) if len(rn) else np.array([])
    rc = np.bincount(np.searchsorted(edges, rn, side="right"), minlength=len(edges) + 1)
    cc = np.bincount(np.searchsorted(edges, cn, side="right"), minlength=len(edges) + 1)
    rc = np.append(rc, np.isnan(rv).sum())
    cc = np.append(cc, np.isnan(cv).sum())
    return psi_from_counts(rc, cc)


def status(value: float, cfg: DriftConfig) -> str:
    """stable, shifted (≥ warn) or breach (≥ alert); unknown for NaN."""
    if not np.isfinite(value):
        return "unknown"
    return "breach" if value >= cfg.alert else "shifted" if value >= cfg.warn else "stable"


@dataclass(frozen=True)
class DriftReport:
    """Drift of this week against the training window.

    Attributes:
        features: feature, psi, status, accumulates — largest PSI first.
        score_psi: PSI of the score distribution (NaN when scores were not given).
    """

    features: pd.DataFrame
    score_psi: float
    score_status: str
    config: DriftConfig

    @property
    def breaches(self) -> list[str]:
        """Features (and `score` for the score distribution) at or over the alert threshold, leaving out the
        features that grow with account age (`ageing`)."""
        f = self.features
        out = f.loc[(f["status"] == "breach") & ~f["accumulates"].astype(bool), "feature"].tolist()
        return out + (["score"] if self.score_status == "breach" else [])

    @property
    def ageing(self) -> list[str]:
        """Features that grow with account age and shifted (≥ warn): expected as the population ages; a reason
        to retrain on recent data, not an alarm."""
        f = self.features
        return f.loc[f["status"].isin(["shifted", "breach"]) & f["accumulates"].astype(bool), "feature"].tolist()

    @property
    def breached(self) -> bool:
        return bool(self.breaches)

    def metrics(self) -> dict[str, float]:
        """Flat MLflow metrics: `psi_<feature>`, `psi_score`, `drift_breaches`."""
        out = {f"psi_{f}": float(v) for f, v in zip(self.features["feature"], self.features["psi"], strict=True)
               if np.isfinite(v)}
        if np.isfinite(self.score_psi):
            out["psi_score"] = float(self.score_psi)
        out["drift_breaches"] = float(len(self.breaches))
        return out


def drift_report(reference: pd.DataFrame, current: pd.DataFrame, features: Sequence[str],
                 cfg: DriftConfig | None = None, ref_scores: Sequence[float] | None = None,
                 cur_scores: Sequence[float] | None = None, accumulating: Collection[str] = ()) -> DriftReport:
    """PSI of every feature present in both frames, and of the scores when given; `accumulating` names the
    features that grow with account age (reported, not breaches)."""
    cfg = cfg or DriftConfig()
    rows = []
    for f in features:
        if f in reference.columns and f in current.columns:
            v = psi(reference[f], current[f], cfg.bins)
            rows.append({"feature": f, "psi": v, "status": status(v, cfg), "accumulates": f in accumulating})
    table = pd.DataFrame(rows, columns=["feature", "psi", "status", "accumulates"])
    table = table.sort_values("psi", ascending=False, na_position="last", kind="stable").reset_index(drop=True)
    score = psi(ref_scores, cur_scores, cfg.bins) if ref_scores is not None and cur_scores is not None \
        else float("nan")
    return DriftReport(table, score, status(score, cfg), cfg)
