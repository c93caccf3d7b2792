"""ChurnModel: columns by name, categories learned at fit, SHAP additivity, calibration, pickling."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from churnml.model.model import BASE_VALUE, ChurnModel
from tests.support.model_frames import make_frame

FAST = {"num_threads": 1, "n_estimators": 60, "learning_rate": 0.1, "num_leaves": 15, "min_child_samples": 20}


@pytest.fixture(scope="module")
def parts() -> dict[str, pd.DataFrame]:
    df = make_frame(n_accounts=300, n_weeks=30, seed=1)
    df = df[df["churned"].notna()]
    dates = np.sort(df["as_of"].unique())
    return {
        "train": df[df["as_of"] <= dates[15]],
        "valid": df[(df["as_of"] > dates[19]) & (df["as_of"] <= dates[21])],
        "calib": df[df["as_of"] > dates[21]],
    }


@pytest.fixture(scope="module")
def fitted(parts: dict[str, pd.DataFrame]) -> ChurnModel:
    tr, va, ca = parts["train"], parts["valid"], parts["calib"]
    return ChurnModel(**FAST).fit(
        tr, tr["churned"], X_valid=va, y_valid=va["churned"], X_calib=ca, y_calib=ca["churned"]
    )


def test_learned_state(fitted: ChurnModel) -> None:
    assert "account_id" not in fitted.feature_names_ and "churned" not in fitted.feature_names_
    assert "as_of" not in fitted.feature_names_ and "churn_date" not in fitted.feature_names_
    assert set(fitted.categorical_features_) == {"segment", "industry", "region"}
    assert fitted.categories_["segment"] == ["Enterprise", "MidMarket", "SMB"]
    assert 1 <= fitted.best_iteration_ <= 60
    assert fitted.calibrator_.method_ in {"isotonic", "sigmoid"}


def test_predict_proba_shape_and_range(fitted: ChurnModel, parts: dict[str, pd.DataFrame]) -> None:
    p = fitted.predict_proba(parts["calib"])
    assert p.shape == (len(parts["calib"]), 2)
    assert np.allclose(p.sum(axis=1), 1)
    assert (p > 0).all() and (p < 1).all()


def test_columns_taken_by_name_not_position(fitted: ChurnModel, parts: dict[str, pd.DataFrame]) -> None:
    X = parts["calib"]
    shuffled = X[list(reversed(X.columns))].assign(extra=1.0)
    np.testing.assert_allclose(fitted.predict_raw(X), fitted.predict_raw(shuffled))


def test_missing_feature_named_in_error(fitted: ChurnModel, parts: dict[str, pd.DataFrame]) -> None:
    with pytest.raises(KeyError, match="nps_latest"):
        fitted.prepare(parts["calib"].drop(columns=["nps_latest"]))


def test_unseen_category_treated_as_missing(fitted: ChurnModel, parts: dict[str, pd.DataFrame]) -> None:
    X = parts["calib"].head(50).copy()
    unseen = X.assign(industry=pd.Categorical(["Mining"] * len(X)))
    absent = X.assign(industry=pd.Categorical([None] * len(X), categories=["Retail"]))
    assert fitted.prepare(unseen)["industry"].isna().all()
    np.testing.assert_allclose(fitted.predict_raw(unseen), fitted.predict_raw(absent))
    # Strings and categories with other declared levels map the same way.
    as_str = X.assign(industry=X["industry"].astype(str))
    np.testing.assert_allclose(fitted.predict_raw(as_str), fitted.predict_raw(X))


def test_missing_stays_missing(fitted: ChurnModel, parts: dict[str, pd.DataFrame]) -> None:
    X = parts["calib"].head(20)
    assert fitted.prepare(X)["nps_latest"].isna().sum() == X["nps_latest"].isna().sum()


def test_shap_additivity(fitted: ChurnModel, parts: dict[str, pd.DataFrame]) -> None:
    X = parts["calib"].head(200)
    contrib = fitted.contributions(X)
    assert list(contrib.columns) == [*fitted.feature_names_, BASE_VALUE]
    np.testing.assert_allclose(contrib.sum(axis=1).to_numpy(), fitted.predict_raw(X), atol=1e-6)


def test_pickle_roundtrip(fitted: ChurnModel, parts: dict[str, pd.DataFrame]) -> None:
    X = parts["calib"].head(100)
    clone = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(clone.predict_proba(X), fitted.predict_proba(X))
    cloudpickle = pytest.importorskip("cloudpickle")
    clone2 = cloudpickle.loads(cloudpickle.dumps(fitted))
    np.testing.assert_allclose(clone2.contributions(X), fitted.contributions(X))


def test_get_params_roundtrip() -> None:
    m = ChurnModel(num_leaves=7, calibration="sigmoid")
    assert m.get_params()["num_leaves"] == 7
    assert ChurnModel(**m.get_params()).get_params() == m.get_params()


def test_no_calibration_fold_gives_raw_probabilities(parts: dict[str, pd.DataFrame]) -> None:
    tr = parts["train"]
    m = ChurnModel(**FAST, early_stopping_rounds=None).fit(tr, tr["churned"])
    assert m.best_iteration_ == 60
    raw = m.predict_raw(tr.head(10))
    np.testing.assert_allclose(m.predict_proba(tr.head(10))[:, 1], 1 / (1 + np.exp(-raw)), rtol=1e-6)


def test_missing_labels_refused(parts: dict[str, pd.DataFrame]) -> None:
    tr = parts["train"].copy()
    y = tr["churned"].copy()
    y.iloc[0] = pd.NA
    with pytest.raises(ValueError, match="missing"):
        ChurnModel(**FAST).fit(tr, y)


def test_monotone_tickets_never_lower_risk(parts: dict[str, pd.DataFrame]) -> None:
    tr = parts["train"]
    m = ChurnModel(**FAST, calibration="none", monotone_constraints={"tickets_open_high_14d": 1}).fit(
        tr, tr["churned"]
    )
    X = parts["calib"].head(300)
    base = m.predict_proba(X)[:, 1]
    for extra in (1, 3, 10):
        more = m.predict_proba(X.assign(tickets_open_high_14d=X["tickets_open_high_14d"] + extra))[:, 1]
        assert (more >= base - 1e-12).all()


def _matrix_from_prepare(model: ChurnModel, X: pd.DataFrame) -> np.ndarray:
    """The reference: `prepare` (the documented view of a frame) turned into codes/floats column by column."""
    prepared = model.prepare(X)
    cols = []
    for f in model.feature_names_:
        col = prepared[f]
        if isinstance(col.dtype, pd.CategoricalDtype):
            codes = col.cat.codes.to_numpy().astype("float64")
            codes[codes < 0] = np.nan
            cols.append(codes)
        else:
            cols.append(col.to_numpy(dtype="float64"))
    return np.column_stack(cols)


@pytest.mark.parametrize("rows", [1, 7, 32, 33, 500])  # both the per-value path (≤ 32 rows) and the vectorised one
def test_matrix_equals_prepare(fitted: ChurnModel, parts: dict[str, pd.DataFrame], rows: int) -> None:
    X = parts["calib"].head(rows).copy()
    cat = fitted.categorical_features_[0]
    values = X[cat].astype(object).to_numpy().copy()
    values[0] = "never-seen-level"
    if rows > 2:
        values[1] = None
        values[2] = pd.NA
    X[cat] = values
    np.testing.assert_array_equal(fitted._matrix(X), _matrix_from_prepare(fitted, X))
    raw, prob, contrib = fitted.score(X, explain=True)
    np.testing.assert_array_equal(raw, fitted.predict_raw(X))
    np.testing.assert_array_equal(prob, fitted.predict_proba(X)[:, 1])
    pd.testing.assert_frame_equal(contrib, fitted.contributions(X))
