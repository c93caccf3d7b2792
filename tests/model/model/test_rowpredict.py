"""The fast paths give LightGBM's own numbers: one row through the single-row C API, many rows per decision
pattern of each tree (`churnml.model.rowpredict`, `churnml.model.patterns`), both against `Booster.predict`."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from churnml.model.model import PATTERN_ROWS, ChurnModel
from churnml.model.patterns import PatternContributions
from tests.support.model_frames import make_frame

FAST = {"num_threads": 1, "n_estimators": 40, "learning_rate": 0.1, "num_leaves": 15, "min_child_samples": 20}


@pytest.fixture(scope="module")
def fitted() -> tuple[ChurnModel, pd.DataFrame]:
    df = make_frame(n_accounts=200, n_weeks=24, seed=3)
    lab = df[df["churned"].notna()]
    model = ChurnModel(**FAST, calibration="sigmoid").fit(lab, lab["churned"], X_calib=lab.tail(800),
                                                         y_calib=lab.tail(800)["churned"])
    return model, df


def _hard_matrix(model: ChurnModel, frame: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """The model matrix with missing values, zeros, and categorical codes that are unseen, negative or huge."""
    m = model._matrix(frame)
    for j, f in enumerate(model.feature_names_):
        rows = rng.random(len(m))
        m[rows < 0.08, j] = np.nan
        if f in model.categorical_features_:
            m[(rows > 0.9) & (rows < 0.95), j] = -1.0
            m[rows >= 0.95, j] = 99.0
        else:
            m[(rows > 0.9) & (rows < 0.95), j] = 0.0
    return m


def _reference(model: ChurnModel, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    b, n = model.booster_, model.best_iteration_
    return b.predict(m, raw_score=True, num_iteration=n), b.predict(m, pred_contrib=True, num_iteration=n)


def test_single_row_api_equals_booster_predict(fitted: tuple[ChurnModel, pd.DataFrame]) -> None:
    model, frame = fitted
    m = _hard_matrix(model, frame.head(300), np.random.default_rng(0))
    raw, contrib = _reference(model, m)
    for i in range(len(m)):
        r, p, c = model.score_row(m[i])
        assert abs(r[0] - raw[i]) <= 1e-9
        np.testing.assert_allclose(c, contrib[i], rtol=0, atol=1e-9)
        assert p[0] == pytest.approx(model.calibrator_.transform(raw[i:i + 1])[0], abs=1e-12)
    clone = pickle.loads(pickle.dumps(model))  # the C handles are not pickled; rebuilt on first use
    np.testing.assert_allclose(clone.score_row(m[0])[2], contrib[0], rtol=0, atol=1e-9)


def test_pattern_contributions_equal_pred_contrib(fitted: tuple[ChurnModel, pd.DataFrame]) -> None:
    model, frame = fitted
    m = _hard_matrix(model, frame, np.random.default_rng(1))
    raw, contrib = _reference(model, m)
    ours = PatternContributions(model.booster_, model.best_iteration_)
    assert ours.supported
    np.testing.assert_allclose(ours(m, raw), contrib, rtol=0, atol=1e-9)


@pytest.mark.parametrize("threads", [2, 3])
def test_pattern_contributions_in_threads_are_those_of_one_thread(fitted: tuple[ChurnModel, pd.DataFrame],
                                                                  threads: int) -> None:
    """Bit for bit, and not repaired by the additivity guard (which would recompute rows with `pred_contrib`):
    each thread predicts with a booster of its own."""
    model, frame = fitted
    m = _hard_matrix(model, frame, np.random.default_rng(2))
    raw, _ = _reference(model, m)
    one = PatternContributions(model.booster_, model.best_iteration_)(m, raw)
    many = PatternContributions(model.booster_, model.best_iteration_, threads)
    calls = []
    guard = many._booster.predict

    def counted(*args: object, **kwargs: object) -> np.ndarray:
        calls.append(kwargs)
        return guard(*args, **kwargs)

    many._booster.predict = counted  # the guard's full recompute would come through the first booster
    np.testing.assert_array_equal(many(m, raw), one)
    assert not [k for k in calls if k.get("start_iteration") is None]  # no row needed the guard


def test_model_uses_patterns_for_many_rows_with_the_same_numbers(fitted: tuple[ChurnModel, pd.DataFrame]) -> None:
    model, frame = fitted
    big = frame.sample(PATTERN_ROWS + 10, replace=True, random_state=0).reset_index(drop=True)
    _, contrib = _reference(model, model._matrix(big))
    np.testing.assert_allclose(model.contributions(big).to_numpy(), contrib, rtol=0, atol=1e-9)
    assert "_patterns" in model.__dict__
    _raw, _prob, c = model.score_matrix(model._matrix(big.head(5)))
    np.testing.assert_allclose(c, contrib[:5], rtol=0, atol=1e-9)
