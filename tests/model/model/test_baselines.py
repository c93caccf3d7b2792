"""Baselines: logistic regression pipeline and the hand-configured health score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnml.model.baselines import (
    DEFAULT_HEALTH_CONFIG,
    HealthScoreBaseline,
    LogisticBaseline,
    RecencyBaseline,
    RFMBaseline,
)
from churnml.training.metrics import roc_auc
from tests.support.model_frames import make_frame


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    df = make_frame(n_accounts=300, n_weeks=20, seed=5)
    return df[df["churned"].notna()].reset_index(drop=True)


def test_logistic_learns_and_takes_columns_by_name(frame: pd.DataFrame) -> None:
    tr, te = frame[frame["as_of"] < "2024-03-15"], frame[frame["as_of"] >= "2024-03-15"]
    lr = LogisticBaseline().fit(tr, tr["churned"])
    p = lr.predict_proba(te)
    assert p.shape == (len(te), 2) and np.allclose(p.sum(axis=1), 1)
    assert roc_auc(te["churned"].astype(int), p[:, 1]) > 0.6
    np.testing.assert_allclose(lr.predict_proba(te[list(reversed(te.columns))]), p)
    assert "account_id" not in lr.feature_names_ and "churn_date" not in lr.feature_names_


def test_logistic_handles_missing_and_unseen_levels(frame: pd.DataFrame) -> None:
    lr = LogisticBaseline().fit(frame, frame["churned"])
    X = frame.head(30).assign(industry=pd.Categorical(["Mining"] * 30), nps_latest=np.nan)
    p = lr.predict_proba(X)[:, 1]
    assert np.isfinite(p).all()


def test_logistic_uses_valid_and_calib_rows(frame: pd.DataFrame) -> None:
    a, b = frame.iloc[:2000], frame.iloc[2000:]
    both = LogisticBaseline().fit(a, a["churned"], X_calib=b, y_calib=b["churned"])
    all_rows = LogisticBaseline().fit(frame, frame["churned"])
    np.testing.assert_allclose(both.predict_proba(frame.head(50)), all_rows.predict_proba(frame.head(50)), atol=1e-6)


def test_health_score_range_and_direction(frame: pd.DataFrame) -> None:
    hs = HealthScoreBaseline().fit(frame, frame["churned"])
    score = hs.score(frame)
    assert score.min() >= 0 and score.max() <= 100
    assert set(hs.components_) == {"usage", "support", "sentiment"}
    # Only configured metrics present in the frame are used.
    assert set(hs.feature_names_) == {"seat_utilisation_30d", "days_since_last_event", "tickets_open_high_14d",
                                      "nps_latest"}
    X = frame.head(200)
    worse = X.assign(tickets_open_high_14d=X["tickets_open_high_14d"] + 5)
    assert (hs.score(worse) <= hs.score(X) + 1e-9).all()
    assert (hs.predict_proba(worse)[:, 1] >= hs.predict_proba(X)[:, 1] - 1e-12).all()
    # Higher health never means higher risk.
    order = np.argsort(score)
    p = hs.predict_proba(frame)[:, 1][order]
    assert (np.diff(p) <= 1e-12).all()
    assert roc_auc(frame["churned"].astype(int), hs.predict_proba(frame)[:, 1]) > 0.6


def test_health_score_renormalises_missing_themes() -> None:
    X = pd.DataFrame({"u": [1.0, 2.0, 3.0, 4.0], "s": [np.nan, np.nan, np.nan, 10.0]})
    cfg = {"usage": (0.5, {"u": 1}), "sentiment": (0.5, {"s": 1})}
    hs = HealthScoreBaseline(config=cfg).fit(X, [1, 1, 0, 0])
    themes = hs.theme_scores(X)
    assert themes["sentiment"].isna().tolist() == [True, True, True, False]
    # Without sentiment the score is the usage score alone, not dragged towards zero.
    np.testing.assert_allclose(hs.score(X)[:3], themes["usage"].to_numpy()[:3])
    assert hs.score(X.assign(u=np.nan, s=np.nan)).tolist() == [50.0] * 4


def test_health_score_needs_some_metric() -> None:
    with pytest.raises(ValueError, match="none of the health-score metrics"):
        HealthScoreBaseline().fit(pd.DataFrame({"x": [1.0, 2.0]}), [0, 1])


def test_default_config_names_registry_features() -> None:
    registry = pytest.importorskip("churnml.features.catalog")
    names = {f.name for f in registry.FEATURES}
    configured = {f for _, metrics in DEFAULT_HEALTH_CONFIG.values() for f in metrics}
    assert configured <= names


# ------------------------------------------------------------------------------- the sceptic's baselines


def test_recency_alone_is_monotone_and_ranks_never_active_as_oldest(frame: pd.DataFrame) -> None:
    lab = frame[frame["churned"].notna()]
    model = RecencyBaseline().fit(lab, lab["churned"].astype(int))
    assert model.feature_names_ == ["days_since_last_event"]
    probe = pd.DataFrame({"days_since_last_event": [0.0, 10.0, 60.0, np.nan]})
    p = model.predict_proba(probe)[:, 1]
    assert p[0] <= p[1] <= p[2] <= p[3]
    assert roc_auc(lab["churned"].astype(int), model.predict_proba(lab)[:, 1]) > 0.55


def test_rfm_uses_the_blocks_the_data_has(frame: pd.DataFrame) -> None:
    lab = frame[frame["churned"].notna()].copy()
    lab["events_30d"] = np.random.default_rng(0).poisson(5, len(lab)).astype(float)
    model = RFMBaseline().fit(lab, lab["churned"].astype(int))
    assert model.feature_names_ == ["days_since_last_event", "events_30d", "mrr"]
    # A business without money: the monetary block is simply absent, the rest still fits and predicts.
    no_money = lab.drop(columns=["mrr"])
    m2 = RFMBaseline().fit(no_money, no_money["churned"].astype(int))
    assert m2.feature_names_ == ["days_since_last_event", "events_30d"]
    assert m2.predict_proba(no_money).shape == (len(no_money), 2)


def test_applicability_follows_the_columns() -> None:
    assert RecencyBaseline.applicable(["days_since_last_event", "mrr"])
    assert not RecencyBaseline.applicable(["mrr"])
    assert RFMBaseline.applicable(["mrr"]) and not RFMBaseline.applicable(["nps_latest"])
    assert HealthScoreBaseline.applicable(["nps_latest"]) and not HealthScoreBaseline.applicable(["mrr"])
    with pytest.raises(ValueError, match="no recency column"):
        RecencyBaseline().fit(pd.DataFrame({"mrr": [1.0, 2.0]}), np.array([0, 1]))


def test_train_leaves_out_baselines_whose_columns_are_missing(frame: pd.DataFrame) -> None:
    from churnml.training.train import TrainConfig, baseline_factories

    cols = ["mrr", "tickets_30d"]
    chosen, skipped = baseline_factories(TrainConfig(), cols, cols)
    assert set(chosen) == {"rfm", "logistic", "health_score"}
    assert skipped == {"recency": "no days-since-last-activity column"}
