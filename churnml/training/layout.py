"""Choosing a backtest layout that fits the labelled history a team actually has.

The configured layout (default: 4 folds of 28-day evaluation windows, 28-day early-stopping and calibration
windows) needs about 14 months of labelled as-of dates with a 90-day horizon. Shorter histories are common, so
the layout is derived from the dates: first fewer folds (down to one), then shorter early-stopping, calibration
and evaluation windows (halved, down to one snapshot interval). The guarantees never bend: every date a fold
learns from lies at least horizon + grace before the dates it is judged on, and training lies the same gap
before the early-stopping and calibration windows. When not even one such fold fits, `LayoutError` says how
many days of labelled history one fold needs and what to change.

`check_history` runs on the snapshot dates alone (before any feature is computed), so a history that is too
short fails in seconds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churnml.training.backtest import Fold, check_fold, final_layout, make_folds


class LayoutError(ValueError):
    """Not even one honest fold fits the labelled history."""


@dataclass(frozen=True)
class Windows:
    """Requested (or chosen) layout sizes, in days except `n_folds` and `min_train_dates`."""

    n_folds: int = 4
    eval_days: int = 28
    valid_days: int = 28
    calib_days: int = 28
    inner_gap_days: int | None = None
    min_train_dates: int = 4

    def fold_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of `make_folds` (n_folds excluded)."""
        return {"eval_days": self.eval_days, "valid_days": self.valid_days, "calib_days": self.calib_days,
                "inner_gap_days": self.inner_gap_days, "min_train_dates": self.min_train_dates}


@dataclass(frozen=True)
class Layout:
    """The chosen backtest folds and final-fit layout, and why.

    Attributes:
        folds: backtest folds, oldest first.
        final: the production fit's train / valid / calib layout.
        chosen / requested: sizes used and sizes asked for.
        horizon_days / grace_days: the gap is their sum.
        history_days: span of the labelled as-of dates (first to last, inclusive).
        reason: one sentence for the report.
    """

    folds: list[Fold]
    final: Fold
    chosen: Windows
    requested: Windows
    horizon_days: int
    grace_days: int
    history_days: int
    reason: str = field(default="")

    @property
    def gap_days(self) -> int:
        """Days between anything learned and anything judged."""
        return self.horizon_days + self.grace_days

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the report's `layout` block)."""
        return {
            "n_folds": self.chosen.n_folds, "eval_days": self.chosen.eval_days,
            "valid_days": self.chosen.valid_days, "calib_days": self.chosen.calib_days,
            "gap_days": self.gap_days, "horizon_days": self.horizon_days, "grace_days": self.grace_days,
            "labelled_history_days": self.history_days, "requested": self.requested.__dict__,
            "reason": self.reason, "folds": [f.as_dict() for f in self.folds], "final": self.final.as_dict(),
        }


def _step_days(dates: pd.DatetimeIndex) -> int:
    if len(dates) < 2:
        return 1
    return max(1, int(pd.Series(dates).diff().dropna().median().days))


def _shrunk(days: int, floor: int) -> Iterator[int]:
    """days, days/2, ... down to `floor` (0 stays 0)."""
    if days == 0:
        yield 0
        return
    d = days
    while d > floor:
        yield d
        d //= 2
    yield max(floor, min(days, floor))


def _candidates(req: Windows, step: int) -> Iterator[Windows]:
    """Layouts in order of preference: the request, then fewer folds, then shorter windows."""
    series = [list(_shrunk(x, step)) for x in (req.valid_days, req.calib_days, req.eval_days)]
    longest = max(len(s) for s in series)
    sizes = [tuple(s[min(i, len(s) - 1)] for s in series) for i in range(longest)]
    for valid, calib, ev in sizes:
        for n in range(req.n_folds, 0, -1):
            yield Windows(n, ev, valid, calib, req.inner_gap_days, req.min_train_dates)


def one_fold_days(req: Windows, horizon_days: int, grace_days: int, step: int) -> int:
    """Days of labelled as-of dates the smallest honest fold needs (first to last date, inclusive)."""
    def on_grid(days: int) -> int:  # a gap between snapshot dates is a whole number of steps
        return -(-days // step) * step

    gap = on_grid(horizon_days + grace_days)
    held = [d for d in (req.valid_days, req.calib_days) if d > 0]
    inner = (on_grid(max(gap, req.inner_gap_days or gap)) + step * (len(held) - 1)) if held else 0
    return (req.min_train_dates - 1) * step + inner + gap + 1


def plan_layout(
    as_of_dates: Sequence[Any] | pd.Series | np.ndarray,
    horizon_days: int,
    grace_days: int = 0,
    requested: Windows | None = None,
) -> Layout:
    """The most informative honest layout the labelled dates allow (see the module docstring).

    Args:
        as_of_dates: as-of dates of the labelled rows (duplicates fine).
        horizon_days / grace_days: label horizon and grace period.
        requested: the configured sizes (default `Windows()`).

    Raises:
        LayoutError: not even one fold with one-snapshot windows fits; the message gives the days needed.
    """
    req = requested or Windows()
    dates = pd.DatetimeIndex(pd.to_datetime(pd.Series(np.asarray(as_of_dates)).dropna().unique())).sort_values()
    if len(dates) == 0:
        raise LayoutError("no labelled as-of dates: every horizon is still open")
    step = _step_days(dates)
    span = int((dates.max() - dates.min()).days) + 1
    for win in _candidates(req, step):
        try:
            folds = make_folds(dates, horizon_days, win.n_folds, grace_days=grace_days, **win.fold_kwargs())
            final = final_layout(dates, horizon_days, grace_days=grace_days, valid_days=win.valid_days,
                                 calib_days=win.calib_days, inner_gap_days=win.inner_gap_days,
                                 min_train_dates=win.min_train_dates)
        except ValueError as err:
            if "inner_gap_days" in str(err):
                raise
            continue
        for f in folds:
            check_fold(f, horizon_days, grace_days, win.inner_gap_days)
        return Layout(folds, final, win, req, horizon_days, grace_days, span,
                      _reason(win, req, span, horizon_days + grace_days))
    smallest = Windows(1, step, min(req.valid_days, step), min(req.calib_days, step), req.inner_gap_days,
                       req.min_train_dates)
    need = one_fold_days(smallest, horizon_days, grace_days, step)
    raise LayoutError(
        f"the labelled history spans {span} days ({dates.min().date()} to {dates.max().date()}); one honest "
        f"fold needs at least {need} days with horizon {horizon_days} + grace {grace_days} days (training, a "
        f"{horizon_days + grace_days}-day gap, early stopping and calibration, the gap again, evaluation). Bring "
        "more history, shorten labels.horizon_days or labels.grace_days, or set models.valid_days: 0 and "
        "models.calib_days: 0 (no early stopping, no calibration)"
    )


def _reason(win: Windows, req: Windows, span: int, gap: int) -> str:
    shape = (f"{win.n_folds} fold(s) x {win.eval_days}-day evaluation windows, {win.valid_days}-day early "
             f"stopping and {win.calib_days}-day calibration, {gap}-day gaps (horizon + grace)")
    if win == req:
        return f"configured layout: {shape}; fits {span} days of labelled history"
    changes = []
    if win.n_folds != req.n_folds:
        changes.append(f"{win.n_folds} instead of {req.n_folds} folds")
    if (win.valid_days, win.calib_days, win.eval_days) != (req.valid_days, req.calib_days, req.eval_days):
        changes.append("shorter windows")
    return (f"{span} days of labelled history do not hold the configured layout ({req.n_folds} folds, "
            f"{req.eval_days}/{req.valid_days}/{req.calib_days}-day windows) with {gap}-day gaps; chose "
            f"{' and '.join(changes)}: {shape}")


def labelled_dates(
    dates: Sequence[dt.date], observed_until: dt.date, horizon_days: int, grace_days: int
) -> list[dt.date]:
    """Snapshot dates whose label will be observable (as_of + horizon + grace <= observed_until)."""
    delta = dt.timedelta(days=horizon_days + grace_days)
    return [d for d in dates if d + delta <= observed_until]


def check_history(
    dates: Sequence[dt.date], observed_until: dt.date, horizon_days: int, grace_days: int,
    requested: Windows | None = None,
) -> Layout:
    """The layout the snapshot dates will allow, computed before any feature (fails fast with `LayoutError`)."""
    return plan_layout(labelled_dates(dates, observed_until, horizon_days, grace_days), horizon_days, grace_days,
                       requested)
