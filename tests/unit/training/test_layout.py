"""The layout planner: folds that fit the history, gaps of horizon + grace everywhere, a clear stop when none fits."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churnml.training.backtest import Fold
from churnml.training.layout import LayoutError, Windows, check_history, one_fold_days, plan_layout


def _gaps_hold(fold: Fold, gap: pd.Timedelta) -> None:
    """Independent of `check_fold`: every date learned from is `gap` before every date judged."""
    held = [d for d in (fold.valid_start, fold.calib_start) if pd.notna(d)]
    if held:
        assert fold.train_end + gap <= min(held)
    learned = max(d for d in (fold.train_end, fold.valid_end, fold.calib_end) if pd.notna(d))
    if pd.notna(fold.eval_start):
        assert learned + gap <= fold.eval_start
        assert fold.eval_start <= fold.eval_end


@settings(max_examples=60, deadline=None)
@given(
    weeks=st.integers(5, 120),
    step=st.sampled_from([1, 7, 14]),
    horizon=st.integers(7, 120),
    grace=st.integers(0, 30),
    n_folds=st.integers(1, 5),
    window=st.sampled_from([7, 14, 28, 42]),
)
def test_every_gap_holds_for_random_histories(
    weeks: int, step: int, horizon: int, grace: int, n_folds: int, window: int
) -> None:
    dates = pd.date_range("2023-01-02", periods=weeks * 7 // step, freq=f"{step}D")
    req = Windows(n_folds=n_folds, eval_days=window, valid_days=window, calib_days=window)
    gap = pd.Timedelta(days=horizon + grace)
    try:
        lay = plan_layout(dates, horizon, grace, req)
    except LayoutError as err:
        # It stops only when even one fold with one-snapshot windows cannot fit, and says how much is needed.
        smallest = Windows(1, step, min(window, step), min(window, step))
        need = one_fold_days(smallest, horizon, grace, step)
        assert (dates.max() - dates.min()).days + 1 < need
        assert f"{need} days" in str(err)
        return
    assert 1 <= lay.chosen.n_folds <= n_folds
    for fold in [*lay.folds, lay.final]:
        _gaps_hold(fold, gap)
    for a, b in zip(lay.folds, lay.folds[1:], strict=False):
        assert a.eval_end < b.eval_start
    assert lay.folds[-1].eval_end == dates.max()
    assert lay.final.calib_end == dates.max() or lay.final.valid_end == dates.max() or req.calib_days == 0


def test_twelve_months_with_a_90_day_horizon_fit_the_default_layout_with_fewer_folds() -> None:
    dates = pd.date_range("2024-01-01", "2024-12-30", freq="7D")
    lay = plan_layout(dates, 90, 14, Windows())
    assert lay.chosen.n_folds in (2, 3) and lay.chosen.eval_days == 28
    assert f"{lay.chosen.n_folds} instead of 4 folds" in lay.reason
    assert lay.as_dict()["gap_days"] == 104


def test_a_history_that_holds_the_request_keeps_it() -> None:
    dates = pd.date_range("2023-01-02", periods=80, freq="7D")
    lay = plan_layout(dates, 90, 14, Windows())
    assert lay.chosen == Windows() and lay.reason.startswith("configured layout")


def test_inner_gap_shorter_than_horizon_plus_grace_is_refused() -> None:
    dates = pd.date_range("2023-01-02", periods=80, freq="7D")
    with pytest.raises(ValueError, match="inner_gap_days=28 is shorter than horizon \\+ grace \\(104 days\\)"):
        plan_layout(dates, 90, 14, Windows(inner_gap_days=28))


def test_check_history_fails_on_dates_alone_with_what_to_change() -> None:
    dates = [dt.date(2024, 1, 1) + dt.timedelta(days=7 * k) for k in range(40)]
    until = dates[-1] + dt.timedelta(days=1)
    with pytest.raises(LayoutError, match=r"one honest fold needs at least .* days .*shorten labels.horizon_days"):
        check_history(dates, until, 90, 14)
    assert check_history(dates, until, 28, 0).chosen.n_folds >= 1
