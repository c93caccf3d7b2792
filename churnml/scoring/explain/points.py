"""Log-odds contributions as probability points (× 100), the unit a CSM reads: `probability_points`, and
by theme: `points_by_theme`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def probability_points(by_unit: np.ndarray, base: np.ndarray, prob: np.ndarray, base_prob: np.ndarray,
                       calibrate: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Per unit and row, the points (× 100) of probability it accounts for; each row sums to
    `100 × (prob − base_prob)`.

    Method: a two-player Shapley value, then proportional shares. Per row, the risk-raising units (log-odds
    sum D > 0) and the risk-lowering ones (P < 0) are two players of the game v(S) = f(base + Σ_S), f the
    calibration: φ_D = ½[(f(b + D) − f(b)) + (f(b + D + P) − f(b + P))], φ_P likewise, φ_D + φ_P = p − p_base
    exactly. Each unit gets its player's value in proportion to its log-odds. f is increasing, so a unit's points
    have its log-odds' sign, and within one sign the order is the log-odds order. Unlike one exchange rate for
    all (which shrinks everything when drivers and protective factors cancel), each side keeps its own weight.
    Vectorised: three calibrator calls per batch; a row's result depends on that row only.
    """
    pos = np.where(by_unit > 0, by_unit, 0.0).sum(axis=1)
    neg = np.where(by_unit < 0, by_unit, 0.0).sum(axis=1)
    f_pos = np.asarray(calibrate(base + pos), dtype="float64")
    f_neg = np.asarray(calibrate(base + neg), dtype="float64")
    phi_pos = 0.5 * ((f_pos - base_prob) + (prob - f_neg))
    phi_neg = 0.5 * ((f_neg - base_prob) + (prob - f_pos))
    with np.errstate(divide="ignore", invalid="ignore"):
        rate_pos = np.where(pos > 0, phi_pos / pos, 0.0)
        rate_neg = np.where(neg < 0, phi_neg / neg, 0.0)
    rate = np.where(by_unit > 0, rate_pos[:, None], rate_neg[:, None])
    return 100.0 * by_unit * rate


def points_by_theme(points: np.ndarray, contrib: np.ndarray, by_unit: np.ndarray, unit_of: np.ndarray,
                    theme_matrix: np.ndarray) -> np.ndarray:
    """Per row and theme (`theme_matrix`: features × themes, one 1 per feature), the points of its features: each
    feature gets its share of its unit's (`unit_of`) log-odds of the unit's points (so theme points add up to
    the units' points), added feature by feature in feature order. Computed on transposed copies: one
    contiguous array per feature, unit and theme."""
    c, u, p = (np.ascontiguousarray(a.T) for a in (contrib, by_unit, points))
    out = np.zeros((theme_matrix.shape[1], len(contrib)))
    for j, k in zip(*np.nonzero(theme_matrix), strict=True):
        total = u[unit_of[j]]
        out[k] += p[unit_of[j]] * np.divide(c[j], total, out=np.zeros_like(total), where=total != 0)
    return np.ascontiguousarray(out.T)
