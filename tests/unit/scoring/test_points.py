"""`points_by_theme` is the simple formula (each feature's share of its unit's points, summed per theme in feature
order), to the last bit, and the theme points add up to the units' points."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from churnml.scoring.explain.points import points_by_theme


def _reference(points: np.ndarray, contrib: np.ndarray, by_unit: np.ndarray, unit_of: np.ndarray,
               theme_matrix: np.ndarray) -> np.ndarray:
    out = np.zeros((len(contrib), theme_matrix.shape[1]))
    for i in range(len(contrib)):
        for j in range(contrib.shape[1]):
            total = by_unit[i, unit_of[j]]
            share = contrib[i, j] / total if total != 0 else 0.0
            out[i, int(np.argmax(theme_matrix[j]))] += points[i, unit_of[j]] * share
    return out


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 20), features=st.integers(1, 9), themes=st.integers(1, 4))
def test_points_by_theme_is_the_formula(seed: int, n: int, features: int, themes: int) -> None:
    rng = np.random.default_rng(seed)
    unit_of = rng.integers(0, features, features)  # some units hold several features, some none
    contrib = np.where(rng.random((n, features)) < 0.2, 0.0, rng.normal(0, 0.3, (n, features)))
    by_unit = np.zeros((n, features))
    for j in range(features):
        by_unit[:, unit_of[j]] += contrib[:, j]
    points = by_unit * rng.uniform(5, 20, (n, 1))
    theme_matrix = np.zeros((features, themes))
    theme_matrix[np.arange(features), rng.integers(0, themes, features)] = 1.0
    got = points_by_theme(points, contrib, by_unit, unit_of, theme_matrix)
    assert np.array_equal(got, _reference(points, contrib, by_unit, unit_of, theme_matrix))
    used = np.unique(unit_of)
    np.testing.assert_allclose(got.sum(axis=1), points[:, used].sum(axis=1), atol=1e-9)
