"""PSI: zero for the same distribution, growing with the shift, missing values and categories, thresholds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from churnml.scoring.drift import DriftConfig, drift_report, psi, psi_from_counts, status


def test_psi_of_counts_matches_the_formula() -> None:
    ref, cur = np.array([50, 30, 20]), np.array([20, 30, 50])
    r, c = ref / 100, cur / 100
    assert psi_from_counts(ref, cur) == pytest.approx(float(np.sum((c - r) * np.log(c / r))))
    assert psi_from_counts(ref, ref * 3) == pytest.approx(0.0)


def test_psi_grows_with_the_shift() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(0, 1, 20_000)
    same = psi(ref, rng.normal(0, 1, 20_000))
    small = psi(ref, rng.normal(0.2, 1, 20_000))
    large = psi(ref, rng.normal(1.0, 1, 20_000))
    assert same < 0.01 < small < 0.1 < 0.25 < large


def test_missing_values_and_categories_count() -> None:
    ref = pd.Series(np.r_[np.arange(1000.0), np.full(10, np.nan)])
    cur = pd.Series(np.r_[np.arange(500.0), np.full(510, np.nan)])  # half the feature went missing
    assert psi(ref, cur) > 0.25
    cats = pd.Series(["SMB"] * 60 + ["Mid"] * 30 + ["Ent"] * 10, dtype="category")
    assert psi(cats, cats) == pytest.approx(0.0)
    shifted = pd.Series(["SMB"] * 20 + ["Mid"] * 30 + ["Ent"] * 40 + ["New"] * 10)
    assert psi(cats, shifted) > 0.25
    assert np.isnan(psi([], [1.0]))


def test_report_and_thresholds() -> None:
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"a": rng.normal(0, 1, 5000), "b": rng.normal(0, 1, 5000), "c": rng.uniform(size=5000)})
    cur = pd.DataFrame({"a": rng.normal(0, 1, 5000), "b": rng.normal(1.5, 1, 5000), "c": rng.uniform(size=5000)})
    cfg = DriftConfig(warn=0.1, alert=0.25)
    rep = drift_report(ref, cur, ["a", "b", "c", "not_there"], cfg, ref_scores=ref["a"], cur_scores=cur["a"])
    assert rep.features["feature"].iloc[0] == "b" and len(rep.features) == 3
    assert rep.breaches == ["b"] and rep.breached and rep.score_status == "stable"
    m = rep.metrics()
    assert m["drift_breaches"] == 1.0 and m["psi_b"] > 0.25 and "psi_score" in m
    assert status(0.05, cfg) == "stable" and status(0.1, cfg) == "shifted" and status(0.3, cfg) == "breach"
    with pytest.raises(ValidationError, match="warn <= alert"):
        DriftConfig(warn=0.3, alert=0.2)
