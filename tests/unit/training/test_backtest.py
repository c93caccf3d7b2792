"""Rolling-origin folds: time order, a horizon-long gap before evaluation, and the leak it keeps out."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from churnml.model.baselines import LogisticBaseline
from churnml.model.model import ChurnModel
from churnml.training.backtest import Fold, check_fold, final_layout, fold_parts, make_folds, run_backtest
from churnml.training.metrics import roc_auc
from tests.support.model_frames import make_fingerprint_frame, make_frame

WEEKLY = pd.date_range("2023-01-07", periods=104, freq="7D")
MEMORISE = {"num_threads": 1, "n_estimators": 200, "learning_rate": 0.2, "num_leaves": 63, "min_child_samples": 2,
            "colsample_bytree": 1.0, "subsample": 1.0, "reg_lambda": 0.0, "max_bin": 1023,
            "early_stopping_rounds": None, "calibration": "none"}


@pytest.mark.parametrize("horizon", [28, 90])
def test_folds_ordered_with_horizon_gap(horizon: int) -> None:
    folds = make_folds(WEEKLY, horizon, n_folds=4)
    assert [f.index for f in folds] == [0, 1, 2, 3]
    assert folds[-1].eval_end == WEEKLY.max()
    for f in folds:
        check_fold(f, horizon)
        assert f.train_end < f.valid_start <= f.valid_end < f.calib_start <= f.calib_end < f.eval_start
        # Every row learned from has its label window [t, t + horizon) closed before evaluation starts.
        assert f.last_fit_date() + pd.Timedelta(days=horizon) <= f.eval_start
        # The inner gap keeps early stopping and calibration out of the training labels' window too.
        assert f.train_end + pd.Timedelta(days=horizon) <= f.valid_start
    for a, b in itertools.pairwise(folds):
        assert a.eval_end < b.eval_start and a.train_end < b.train_end


def test_fold_masks_partition_in_time() -> None:
    frame = pd.DataFrame({"as_of": np.repeat(WEEKLY, 3)})
    fold = make_folds(WEEKLY, 28, n_folds=2)[0]
    masks = fold.masks(frame["as_of"])
    stacked = np.column_stack(list(masks.values()))
    assert (stacked.sum(axis=1) <= 1).all()
    assert frame["as_of"][masks["train"]].max() == fold.train_end
    assert frame["as_of"][masks["eval"]].min() == fold.eval_start


def test_training_churn_dates_never_in_eval_period() -> None:
    df = make_frame(n_accounts=200, n_weeks=40, horizon_days=28, seed=2)
    df = df[df["churned"].notna()]
    for fold in make_folds(df["as_of"], 28, n_folds=3, eval_days=21, valid_days=14, calib_days=14):
        parts = fold_parts(df, fold)
        learned = pd.concat([parts["train"], parts["valid"], parts["calib"]])
        assert learned["churn_date"].dropna().max() < fold.eval_start
        assert (learned["as_of"] + pd.Timedelta(days=28)).max() <= fold.eval_start


def test_too_little_history_is_refused() -> None:
    with pytest.raises(ValueError, match="training as-of date"):
        make_folds(WEEKLY[:20], 90, n_folds=4)


def test_check_fold_rejects_gapless_split() -> None:
    d = WEEKLY
    gapless = Fold(0, d[9], pd.NaT, pd.NaT, pd.NaT, pd.NaT, d[10], d[12])
    with pytest.raises(ValueError, match="reach past"):
        check_fold(gapless, 28)


def test_final_layout_ends_at_last_date() -> None:
    f = final_layout(WEEKLY, 90)
    assert f.calib_end == WEEKLY.max() and pd.isna(f.eval_start)
    check_fold(f, 90)


def test_split_level_leak_is_excluded() -> None:
    """A gapless split lets the model recognise accounts whose coming churn already labelled training rows."""
    horizon = 56
    df = make_fingerprint_frame(n_accounts=800, n_weeks=40, horizon_days=horizon, seed=0)
    fold = make_folds(df["as_of"], horizon, n_folds=1, eval_days=21, valid_days=0, calib_days=0,
                      inner_gap_days=0)[0]
    check_fold(fold, horizon)
    parts = fold_parts(df, fold)
    ev = parts["eval"]
    y_eval = ev["churned"].astype(int)
    learned_churn = parts["train"]["churn_date"].dropna()
    assert learned_churn.max() < fold.eval_start  # no training label window reaches the eval period

    gapless_train = df[df["as_of"] < fold.eval_start]
    gapless = ChurnModel(features=["fingerprint"], **MEMORISE).fit(gapless_train, gapless_train["churned"])
    ours = ChurnModel(features=["fingerprint"], **MEMORISE).fit(parts["train"], parts["train"]["churned"])

    # The leak: pure chance looks predictable when training labels overlap the evaluation period ...
    assert roc_auc(y_eval, gapless.predict_proba(ev)[:, 1]) > 0.8
    # ... and the backtest's gap reports (about) chance.
    assert roc_auc(y_eval, ours.predict_proba(ev)[:, 1]) < 0.62


def test_run_backtest_predictions_frame() -> None:
    df = make_frame(n_accounts=150, n_weeks=36, horizon_days=28, seed=4, with_truth=True)
    res = run_backtest(
        df, lambda: ChurnModel(num_threads=1, n_estimators=30, learning_rate=0.2, min_child_samples=20),
        {"logistic": LogisticBaseline}, horizon_days=28, n_folds=2, eval_days=14, valid_days=14,
        calib_days=14, oracle="p_true",
    )
    pred = res.predictions
    assert set(pred["model"]) == {"lightgbm", "logistic", "oracle"}
    assert list(pred.columns) == ["fold", "model", "account_id", "as_of", "y", "p", "mrr", "segment", "p_oracle"]
    assert pred["y"].isin([0, 1]).all() and pred["p"].between(0, 1).all()
    # Unlabelled rows (open horizons) are never scored.
    assert pred["as_of"].max() <= df.loc[df["churned"].notna(), "as_of"].max()
    for f in res.folds:
        rows = pred[pred["fold"] == f.index]
        assert rows["as_of"].between(f.eval_start, f.eval_end).all()
    oracle = pred[pred["model"] == "oracle"]
    np.testing.assert_allclose(oracle["p"], oracle["p_oracle"])
    assert set(res.overall()["model"]) == {"lightgbm", "logistic", "oracle"}
    assert len(res.per_fold()) == 6
    assert set(res.per_segment()["segment"]) <= {"SMB", "MidMarket", "Enterprise"}
    assert {"best_iteration", "calibration"} <= set(res.info[0])
