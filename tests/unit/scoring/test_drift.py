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


def test_features_that_grow_with_age_are_reported_not_breaches() -> None:
    """Tenure shifts every week in an ageing population: shown with its PSI, counted under `ageing`, and only a
    real shift elsewhere is a breach."""
    rng = np.random.default_rng(2)
    tenure = rng.uniform(0, 700, 5000)
    ref = pd.DataFrame({"tenure_days": tenure, "events_30d": rng.poisson(20, 5000)})
    cur = pd.DataFrame({"tenure_days": tenure + 200, "events_30d": rng.poisson(20, 5000)})
    rep = drift_report(ref, cur, ["tenure_days", "events_30d"], accumulating={"tenure_days"})
    row = rep.features.set_index("feature").loc["tenure_days"]
    assert row["status"] == "breach" and bool(row["accumulates"])
    assert rep.breaches == [] and not rep.breached and rep.ageing == ["tenure_days"]
    assert rep.metrics()["drift_breaches"] == 0.0
    cur["events_30d"] = rng.poisson(60, 5000)  # a behaviour feature that moves is still a breach
    rep = drift_report(ref, cur, ["tenure_days", "events_30d"], accumulating={"tenure_days"})
    assert rep.breaches == ["events_30d"] and rep.ageing == ["tenure_days"]
    # without the catalog's flag the same shift is a breach, as before
    assert "tenure_days" in drift_report(ref, cur, ["tenure_days"]).breaches


def test_catalog_marks_tenure_and_lifetime_totals_as_accumulating() -> None:
    from churnml.config import FeaturesConfig
    from churnml.features.catalog import ACCOUNT, COMMERCIAL, lifetime_specs

    marked = {s.name for s in (*lifetime_specs(FeaturesConfig()), *COMMERCIAL, *ACCOUNT) if s.accumulates}
    assert {"tenure_days", "account_age_days", "days_since_first_event", "events_lifetime",
            "active_days_lifetime", "active_weeks_lifetime", "active_months_lifetime"} <= marked
    assert not marked & {"gap_days_mean_lifetime", "gap_days_latest", "days_to_renewal", "mrr"}
