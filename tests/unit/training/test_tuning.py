"""The search is scored on windows a full gap before the earliest evaluation window, never on evaluation."""

from __future__ import annotations

import pandas as pd
import pytest

from churnml.training.layout import Layout, LayoutError, Windows, plan_layout
from churnml.training.tuning import tune_params, tuning_layout
from tests.support.model_frames import make_frame

FAST = {"num_threads": 1, "n_estimators": 40, "early_stopping_rounds": 10}


def _windows(fold) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    parts = [(fold.train_end, fold.train_end), (fold.valid_start, fold.valid_end),
             (fold.calib_start, fold.calib_end), (fold.eval_start, fold.eval_end)]
    return [(a, b) for a, b in parts if pd.notna(a)]


def _assert_apart(tuning_folds, backtest: Layout) -> None:
    gap = pd.Timedelta(days=backtest.gap_days)
    evals = [(f.eval_start, f.eval_end) for f in backtest.folds]
    first_eval = min(s for s, _ in evals)
    for fold in tuning_folds:
        for start, end in _windows(fold):
            for e_start, e_end in evals:
                assert end < e_start or start > e_end, f"tuning window {start}..{end} overlaps {e_start}..{e_end}"
            assert end + gap <= first_eval, f"tuning window ending {end} is closer than the gap to {first_eval}"


@pytest.mark.parametrize("weeks", [60, 90, 140])
def test_tuning_windows_end_a_gap_before_every_evaluation_window(weeks: int) -> None:
    dates = pd.Series(pd.date_range("2022-01-03", periods=weeks, freq="7D"))
    backtest = plan_layout(dates, 28, 7, Windows(n_folds=3, eval_days=21, valid_days=14, calib_days=14))
    try:
        lay = tuning_layout(dates, backtest)
    except LayoutError:
        assert weeks == 60  # too little history before the first evaluation window to tune honestly
        return
    _assert_apart(lay.folds, backtest)


def test_tune_params_scores_only_its_own_windows() -> None:
    frame = make_frame(n_accounts=150, n_weeks=60, horizon_days=28, seed=2)
    lab = frame[frame["churned"].notna()].reset_index(drop=True)
    backtest = plan_layout(lab["as_of"], 28, 0, Windows(n_folds=2, eval_days=21, valid_days=14, calib_days=14))
    feats = [c for c in lab.columns if c not in ("account_id", "as_of", "churned", "churn_date", "p_true")]
    res = tune_params(lab, backtest, {**FAST, "features": feats}, n_trials=2, seed=0)
    assert res.skipped is None and res.trials == 2 and res.folds
    _assert_apart(res.folds, backtest)


def test_too_short_a_history_skips_tuning_and_says_why() -> None:
    frame = make_frame(n_accounts=60, n_weeks=20, horizon_days=28, seed=2)
    lab = frame[frame["churned"].notna()].reset_index(drop=True)
    backtest = plan_layout(lab["as_of"], 28, 0, Windows(n_folds=1, eval_days=14, valid_days=7, calib_days=7))
    res = tune_params(lab, backtest, {**FAST}, n_trials=2)
    assert res.skipped and "too short" in res.skipped and res.params == FAST
