"""CBPE model-health estimates: expected ROC-AUC exact on small cases, intervals, backtest against labels."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from churnml.scoring.health import auc_draws, backtest_health, estimate_health, expected_auc, health_errors


def _brute_expected_auc(p: np.ndarray, s: np.ndarray) -> float:
    num = den = 0.0
    for i, j in itertools.permutations(range(len(p)), 2):
        w = p[i] * (1 - p[j])
        den += w
        num += w * (1.0 if s[i] > s[j] else 0.5 if s[i] == s[j] else 0.0)
    return num / den


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_expected_auc_matches_pair_enumeration_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = rng.random(12)
    s = np.round(rng.random(12), 1)  # ties
    assert expected_auc(p, s) == pytest.approx(_brute_expected_auc(p, s))


def test_expected_auc_agrees_with_label_draws() -> None:
    rng = np.random.default_rng(3)
    p = rng.beta(1, 8, 2000)
    assert expected_auc(p) == pytest.approx(np.nanmean(auc_draws(p, 400, rng)), abs=0.005)
    assert expected_auc(np.full(50, 0.2)) == pytest.approx(0.5)  # no ranking information


def test_estimate_health_by_segment_and_refuses_bad_probabilities() -> None:
    rng = np.random.default_rng(0)
    p = rng.beta(1, 10, 600)
    seg = np.where(np.arange(600) < 400, "a", "b")
    est = estimate_health(p, seg, draws=200).set_index("segment")
    assert list(est.index) == ["all", "a", "b"]
    assert est.loc["all", "expected_churners"] == pytest.approx(p.sum())
    assert est.loc["a", "accounts"] + est.loc["b", "accounts"] == 600
    assert (est["auc_lo"] <= est["expected_auc"]).all() and (est["expected_auc"] <= est["auc_hi"]).all()
    with pytest.raises(ValueError, match="rows \\[1\\]"):
        estimate_health(np.array([0.1, 1.5]))


def test_backtest_on_calibrated_predictions_has_small_error_and_covers() -> None:
    rng = np.random.default_rng(5)
    rows = []
    for d in pd.date_range("2025-01-06", periods=8, freq="7D"):
        p = rng.beta(1, 6, 800)
        rows.append(pd.DataFrame({"as_of": d, "p": p, "y": (rng.random(800) < p).astype(int),
                                  "segment": rng.choice(["x", "y"], 800)}))
    bt = backtest_health(pd.concat(rows), draws=200)
    err = health_errors(bt).set_index("scope")
    assert err.loc["portfolio", "points"] == 8
    assert err.loc["portfolio", "mae_auc"] < 0.03
    assert err.loc["portfolio", "coverage_auc"] >= 0.75
