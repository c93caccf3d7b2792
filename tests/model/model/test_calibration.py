"""Calibrators: ECE falls after calibration of a deliberately miscalibrated score; auto picks on held-out time."""

from __future__ import annotations

import numpy as np
import pytest

from churnml.model.calibration import (
    TIE_BREAK,
    IsotonicCalibrator,
    PlattCalibrator,
    choose_calibrator,
    fit_calibrator,
)
from churnml.model.model import ChurnModel
from churnml.training.metrics import expected_calibration_error, roc_auc
from tests.support.model_frames import make_frame


def _miscalibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """True log-odds z; the 'model' reports 3z + 1.5: overconfident and biased upwards."""
    rng = np.random.default_rng(seed)
    z = rng.normal(-2, 1, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return 3 * z + 1.5, y


@pytest.mark.parametrize("method", ["sigmoid", "isotonic", "auto"])
def test_ece_falls_after_calibration(method: str) -> None:
    s_cal, y_cal = _miscalibrated(20000, 0)
    s_test, y_test = _miscalibrated(20000, 1)
    raw = 1 / (1 + np.exp(-s_test))
    times = np.repeat(np.arange(10), 2000)
    cal = choose_calibrator(s_cal, y_cal, method, times=times)
    p = cal.transform(s_test)
    before, after = expected_calibration_error(y_test, raw), expected_calibration_error(y_test, p)
    assert before > 0.05
    assert after < 0.02
    assert after < before / 5
    # Monotone: ranking preserved (isotonic can only merge ties).
    assert roc_auc(y_test, p) == pytest.approx(roc_auc(y_test, raw), abs=0.01)


def test_platt_recovers_the_distortion() -> None:
    s, y = _miscalibrated(50000, 2)
    cal = PlattCalibrator().fit(s, y)
    assert cal.coef_ == pytest.approx(1 / 3, rel=0.1)
    assert cal.intercept_ == pytest.approx(-0.5, abs=0.15)


def test_auto_records_heldout_losses_and_picks_the_smaller() -> None:
    s, y = _miscalibrated(5000, 3)
    cal = choose_calibrator(s, y, "auto", times=np.repeat(np.arange(5), 1000))
    losses = cal.heldout_log_loss_
    assert cal.method_ == min(losses, key=losses.__getitem__)


def test_auto_prefers_isotonic_for_a_non_sigmoid_distortion() -> None:
    rng = np.random.default_rng(4)
    s = rng.uniform(-3, 3, 40000)
    p_true = np.where(s < 0, 0.05, 0.6)  # a step: no sigmoid fits it
    y = (rng.random(len(s)) < p_true).astype(int)
    assert choose_calibrator(s, y, "auto").method_ == "isotonic"


def test_single_class_falls_back_to_identity() -> None:
    assert fit_calibrator(np.array([0.1, 0.2]), np.array([0, 0]), "isotonic").method_ == "none"
    with pytest.raises(ValueError, match="unknown"):
        fit_calibrator(np.array([0.1]), np.array([1]), "beta")


def test_isotonic_is_monotone_and_bounded() -> None:
    s, y = _miscalibrated(5000, 5)
    cal = IsotonicCalibrator().fit(s, y)
    grid = np.linspace(-20, 20, 200)
    p = cal.transform(grid)
    assert (np.diff(p) >= 0).all() and p.min() > 0 and p.max() < 1


def test_isotonic_keeps_the_models_order_inside_a_step() -> None:
    """Past the fold's riskiest score isotonic is flat; the work list must still follow the model's ranking."""
    s, y = _miscalibrated(5000, 5)
    cal = IsotonicCalibrator().fit(s, y)
    beyond = np.linspace(s.max() + 0.1, s.max() + 3, 20)  # all in the top step
    p = cal.transform(beyond)
    assert (np.diff(p) > 0).all()  # strictly increasing: no ties left
    step = cal.isotonic_.predict(beyond)
    assert np.abs(p - step).max() <= TIE_BREAK  # and still the step's probability, to 1e-4


def test_churn_model_calibration_fixes_reweighted_booster() -> None:
    """A booster trained with scale_pos_weight=6 overstates risk; the time-held-out calibrator repairs it."""
    df = make_frame(n_accounts=400, n_weeks=30, seed=3)
    df = df[df["churned"].notna()]
    d = np.sort(df["as_of"].unique())
    tr, va = df[df["as_of"] <= d[14]], df[(df["as_of"] > d[16]) & (df["as_of"] <= d[18])]
    ca, te = df[(df["as_of"] > d[18]) & (df["as_of"] <= d[21])], df[df["as_of"] > d[21]]
    kw = {"num_threads": 1, "n_estimators": 60, "learning_rate": 0.1, "num_leaves": 15,
          "lgbm_params": {"scale_pos_weight": 6.0}}
    fit = {"X_valid": va, "y_valid": va["churned"], "X_calib": ca, "y_calib": ca["churned"]}
    raw = ChurnModel(**kw, calibration="none").fit(tr, tr["churned"], **fit)
    cal = ChurnModel(**kw, calibration="auto").fit(tr, tr["churned"], **fit)
    y = te["churned"].astype(int)
    ece_raw = expected_calibration_error(y, raw.predict_proba(te)[:, 1])
    ece_cal = expected_calibration_error(y, cal.predict_proba(te)[:, 1])
    assert ece_raw > 0.1
    assert ece_cal < ece_raw / 3
