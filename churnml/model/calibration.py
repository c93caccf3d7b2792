"""Probability calibration of a score on a time-held-out fold: isotonic, Platt (sigmoid) or none.

A gradient-boosted model's raw probabilities drift from observed churn rates (early stopping, leaf
regularisation, base-rate shift between periods). CSMs read "30% risk" literally and revenue-at-risk sums
probabilities times MRR, so scores are mapped to observed frequencies on data later in time than the
training rows. Calibrators map a raw margin (log-odds) to a probability and are monotone, so ranking
(ROC-AUC) is preserved up to ties.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from churnml.training.metrics import log_loss

CalibrationMethod = Literal["auto", "isotonic", "sigmoid", "none"]

_EPS = 1e-6


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35.0, 35.0)))


class IdentityCalibrator(BaseEstimator):
    """No calibration: probability = sigmoid(margin)."""

    def fit(self, scores: np.ndarray, y: np.ndarray) -> IdentityCalibrator:
        self.method_ = "none"
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        return np.clip(_sigmoid(np.asarray(scores, dtype=float)), _EPS, 1 - _EPS)


class PlattCalibrator(BaseEstimator):
    """Platt scaling: a logistic regression on the margin (two parameters, safe on small folds)."""

    def fit(self, scores: np.ndarray, y: np.ndarray) -> PlattCalibrator:
        # Large C: unregularised slope/intercept, the point of Platt scaling.
        lr = LogisticRegression(C=1e6, solver="lbfgs", max_iter=1000)
        lr.fit(np.asarray(scores, dtype=float).reshape(-1, 1), np.asarray(y, dtype=int))
        self.coef_ = float(lr.coef_[0, 0])
        self.intercept_ = float(lr.intercept_[0])
        self.method_ = "sigmoid"
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        z = self.coef_ * np.asarray(scores, dtype=float) + self.intercept_
        return np.clip(_sigmoid(z), _EPS, 1 - _EPS)


#: Isotonic regression is a step function: every account past the calibration fold's riskiest score shares one
#: probability (nine of the demo's top ten read "37%"). Within a step the model's own order is kept by adding at
#: most this much, growing with the margin, so a work list sorted by probability is sorted by the model.
TIE_BREAK = 1e-4


class IsotonicCalibrator(BaseEstimator):
    """Isotonic regression on the margin: any monotone shape, needs a few hundred positives to be stable.

    Strictly increasing in the margin: inside a step the probability moves by less than `TIE_BREAK` with it."""

    def fit(self, scores: np.ndarray, y: np.ndarray) -> IsotonicCalibrator:
        self.isotonic_ = IsotonicRegression(out_of_bounds="clip", y_min=_EPS, y_max=1 - _EPS)
        self.isotonic_.fit(np.asarray(scores, dtype=float), np.asarray(y, dtype=float))
        self.method_ = "isotonic"
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        z = np.asarray(scores, dtype=float)
        step = np.clip(self.isotonic_.predict(z), _EPS, 1 - _EPS)
        # The nudge shrinks towards 0 and 1 so it never crosses them: still strictly inside (0, 1).
        return step + TIE_BREAK * (2 * _sigmoid(z) - 1) * np.minimum(step, 1 - step)


Calibrator = IdentityCalibrator | PlattCalibrator | IsotonicCalibrator

_BY_NAME: dict[str, type] = {
    "none": IdentityCalibrator,
    "sigmoid": PlattCalibrator,
    "isotonic": IsotonicCalibrator,
}


def fit_calibrator(scores: np.ndarray, y: np.ndarray, method: str) -> Calibrator:
    """Fit one calibrator by name ("isotonic", "sigmoid" or "none") on (margin, outcome) pairs."""
    if method not in _BY_NAME:
        raise ValueError(f"unknown calibration method {method!r}; expected one of {sorted(_BY_NAME)} or 'auto'")
    y = np.asarray(y, dtype=int)
    if method != "none" and (len(y) == 0 or y.min() == y.max()):
        # A fold with one class cannot teach a mapping; fall back to the raw probabilities.
        method = "none"
    return _BY_NAME[method]().fit(scores, y)


def choose_calibrator(
    scores: np.ndarray,
    y: np.ndarray,
    method: CalibrationMethod = "auto",
    times: np.ndarray | None = None,
) -> Calibrator:
    """Fit the calibrator; with "auto", pick isotonic or Platt by held-out log loss, then refit on all rows.

    The choice is itself made on held-out time: candidates are fitted on the earlier half of the
    calibration fold (by `times`, when given) and scored on the later half, because that is how the model
    is used — fitted on the past, read on the future. Without `times`, alternate rows are held out.

    Args:
        scores: raw margins (log-odds) of the uncalibrated model on the calibration fold.
        y: outcomes (0/1).
        method: "auto", "isotonic", "sigmoid" or "none".
        times: as-of dates of the rows (any sortable values), optional.
    """
    scores = np.asarray(scores, dtype=float)
    y = np.asarray(y, dtype=int)
    if method != "auto":
        return fit_calibrator(scores, y, method)
    if times is not None and len(np.unique(times)) >= 2:
        t = np.asarray(times)
        cut = np.sort(np.unique(t))[len(np.unique(t)) // 2]
        early, late = t < cut, t >= cut
    else:
        idx = np.arange(len(y))
        early, late = idx % 2 == 0, idx % 2 == 1
    if y[early].min(initial=0) == y[early].max(initial=0) or y[late].min(initial=0) == y[late].max(initial=0):
        return fit_calibrator(scores, y, "sigmoid")
    losses = {
        m: log_loss(y[late], fit_calibrator(scores[early], y[early], m).transform(scores[late]))
        for m in ("sigmoid", "isotonic")
    }
    best = min(losses, key=losses.__getitem__)
    cal = fit_calibrator(scores, y, best)
    cal.heldout_log_loss_ = losses
    return cal
