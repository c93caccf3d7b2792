"""Metrics against hand-computed examples."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from churnml.training import metrics as m

Y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 1])
P = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
MRR = np.array([100, 50, 300, 10, 10, 10, 10, 10, 10, 600], dtype=float)


def test_roc_auc_by_pair_counting() -> None:
    # Positives at 0.9 / 0.7 / 0.05 outrank 7, 6 and 0 of the 7 negatives.
    assert m.roc_auc(Y, P) == pytest.approx(13 / 21)


def test_pr_auc_average_precision() -> None:
    # Positives at ranks 1 and 3: precision 1 and 2/3, each weighted by recall step 1/2.
    assert m.pr_auc([1, 0, 1], [0.9, 0.8, 0.7]) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_log_loss_and_brier() -> None:
    assert m.log_loss([1, 0], [0.8, 0.4]) == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)
    assert m.brier([1, 0], [0.8, 0.4]) == pytest.approx((0.2**2 + 0.4**2) / 2)
    assert math.isfinite(m.log_loss([1, 0], [0.0, 1.0]))


def test_ece_equal_mass_bins() -> None:
    # Two bins of two rows: |0 - 0.2| and |1 - 0.7|, each half the rows.
    assert m.expected_calibration_error([0, 0, 1, 1], [0.1, 0.3, 0.6, 0.8], n_bins=2) == pytest.approx(0.25)
    bins = m.calibration_bins([0, 0, 1, 1], [0.8, 0.1, 0.6, 0.3], n_bins=2)
    assert bins["n"].tolist() == [2, 2]
    assert bins["p_mean"].tolist() == pytest.approx([0.2, 0.7])


def test_perfectly_calibrated_has_zero_ece() -> None:
    assert m.expected_calibration_error([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5], n_bins=1) == pytest.approx(0)


def test_top_decile_lift_recall_revenue() -> None:
    # Top 10% of 10 rows = the single riskiest row (p=0.9, churned, MRR 100).
    assert m.top_mask(P, 0.1).tolist() == [True] + [False] * 9
    assert m.lift_at(Y, P, 0.1) == pytest.approx(1 / 0.3)
    assert m.recall_at(Y, P, 0.1) == pytest.approx(1 / 3)
    assert m.revenue_captured_at(Y, P, MRR, 0.1) == pytest.approx(100 / 1000)
    # Top 30% = 3 rows: two churners of three, MRR 400 of 1000.
    assert m.recall_at(Y, P, 0.3) == pytest.approx(2 / 3)
    assert m.revenue_captured_at(Y, P, MRR, 0.3) == pytest.approx(0.4)


def test_single_class_is_nan_not_a_number() -> None:
    assert math.isnan(m.roc_auc([0, 0], [0.1, 0.2]))
    assert math.isnan(m.pr_auc([0, 0], [0.1, 0.2]))
    assert math.isnan(m.recall_at([0, 0], [0.1, 0.2]))
    assert math.isnan(m.revenue_captured_at([0, 0], [0.1, 0.2], [1, 1]))


def test_shape_mismatch_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        m.roc_auc([0, 1], [0.1])


def test_summarize_keys() -> None:
    s = m.summarize(Y, P, MRR)
    assert s["n"] == 10 and s["positives"] == 3 and s["base_rate"] == pytest.approx(0.3)
    assert s["churned_mrr_share_top10"] == pytest.approx(0.1)
    assert "churned_mrr_share_top10" not in m.summarize(Y, P)


def test_metrics_table_groups() -> None:
    pred = pd.DataFrame(
        {
            "model": ["a"] * 10 + ["b"] * 10,
            "segment": (["SMB"] * 5 + ["Ent"] * 5) * 2,
            "y": np.concatenate([Y, Y]),
            "p": np.concatenate([P, 1 - P]),
            "mrr": np.concatenate([MRR, MRR]),
        }
    )
    overall = m.metrics_table(pred, ["model"]).set_index("model")
    assert overall.loc["a", "roc_auc"] == pytest.approx(13 / 21)
    assert overall.loc["b", "roc_auc"] == pytest.approx(8 / 21)
    seg = m.metrics_table(pred, ["model", "segment"])
    assert len(seg) == 4 and set(seg.columns) >= {"model", "segment", "roc_auc", "ece"}
