"""The simulation calendar: day numbers, the monthly grid the latent state lives on, and per-day usage factors.

Days are integers counted from 1970-01-01 (numpy `datetime64[D]` as int); timestamps are microseconds since the
epoch. The monthly grid runs from `pre_start_months` before the month of `start` (so accounts that already exist
at `start` have a history) to the month of the last simulated day, plus one boundary.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` shifted by whole calendar months, clamped to the month's last day (Jan 31 + 1 month = Feb 28/29)."""
    total = day.year * 12 + day.month - 1 + months
    year, month = divmod(total, 12)
    month += 1
    days_in_month = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(year, month, min(day.day, days_in_month))


def day_number(day: dt.date) -> int:
    """Days since 1970-01-01."""
    return (day - dt.date(1970, 1, 1)).days


def from_day_number(n: int) -> dt.date:
    """Inverse of `day_number`."""
    return dt.date(1970, 1, 1) + dt.timedelta(days=int(n))


def add_year(day: int) -> int:
    """Day number one calendar year after `day` (Feb 29 maps to Feb 28)."""
    d = from_day_number(day)
    try:
        return day_number(d.replace(year=d.year + 1))
    except ValueError:
        return day_number(d.replace(year=d.year + 1, day=28))


@dataclass(frozen=True)
class Grid:
    """Calendar of one simulation.

    Attributes:
        start / end: first simulated day and the exclusive end day (day numbers); data lies in [start, end).
        month_starts: day number of each grid month's first day, plus the boundary after the last month.
        first_window_month: grid index of the month containing `start`; earlier months are pre-history.
        month_number: calendar month (1-12) of each grid month.
        window_month: grid month index of each day in [start, end).
        window_frac: position of each day in its month (0 at the first day), for interpolating health.
        weekday: 0 = Monday for each day in [start, end).
        day_factor: weekday x seasonality multiplier of activity for each day in [start, end).
    """

    start: int
    end: int
    month_starts: np.ndarray
    first_window_month: int
    month_number: np.ndarray
    window_month: np.ndarray
    window_frac: np.ndarray
    weekday: np.ndarray
    day_factor: np.ndarray

    @property
    def n_months(self) -> int:
        """Number of grid months (the boundary excluded)."""
        return len(self.month_starts) - 1

    def month_of(self, day: int) -> int:
        """Grid month index of a day number."""
        return int(np.searchsorted(self.month_starts, day, side="right")) - 1


def build_grid(start: dt.date, end: dt.date, pre_start_months: int) -> Grid:
    """Build the calendar for data in [start, end) with `pre_start_months` of history before `start`'s month."""
    s, e = day_number(start), day_number(end)
    first = np.datetime64(start, "M") - np.timedelta64(pre_start_months, "M")
    last = np.datetime64(end - dt.timedelta(days=1), "M") + np.timedelta64(1, "M")
    months = np.arange(first, last + np.timedelta64(1, "M"))
    month_starts = months.astype("datetime64[D]").astype(np.int64)
    month_number = (months.astype(np.int64) % 12 + 1)[:-1]
    days = np.arange(s, e, dtype=np.int64)
    window_month = np.searchsorted(month_starts, days, side="right") - 1
    lengths = month_starts[window_month + 1] - month_starts[window_month]
    window_frac = (days - month_starts[window_month]) / lengths
    weekday = (days + 3) % 7
    dom = days - month_starts[window_month] + 1
    cal_month = month_number[window_month]
    season = np.ones(len(days))
    season[(cal_month == 12) & (dom >= 20)] = 0.45  # holidays
    season[(cal_month == 1) & (dom <= 2)] = 0.5
    season[cal_month == 8] = 0.85  # summer
    weekday_factor = np.where(weekday < 5, 1.0, np.where(weekday == 5, 0.12, 0.08))
    return Grid(
        start=s,
        end=e,
        month_starts=month_starts,
        first_window_month=int(np.searchsorted(month_starts, s, side="right")) - 1,
        month_number=month_number,
        window_month=window_month,
        window_frac=window_frac,
        weekday=weekday,
        day_factor=season * weekday_factor,
    )
