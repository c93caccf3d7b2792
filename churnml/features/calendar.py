"""As-of dates as tables, so every feature is computed for many snapshot dates in one query.

Point-in-time rule used everywhere: for an as-of date D, only rows with timestamps strictly before
D 00:00 are used. `lag` is how many whole days before D a day lies (the day before D has lag 1).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import ibis
import pyarrow as pa


def normalise_dates(dates: Iterable[dt.date | dt.datetime | str]) -> list[dt.date]:
    """Sorted unique as-of dates; strings are ISO dates (YYYY-MM-DD)."""
    out: set[dt.date] = set()
    for d in dates:
        if isinstance(d, dt.datetime):
            out.add(d.date())
        elif isinstance(d, dt.date):
            out.add(d)
        else:
            try:
                out.add(dt.date.fromisoformat(str(d).strip()))
            except ValueError:
                raise ValueError(f"as-of date {d!r} is not an ISO date (YYYY-MM-DD)") from None
    if not out:
        raise ValueError("at least one as-of date is required")
    return sorted(out)


def date_range(start: dt.date, end: dt.date, every_days: int) -> list[dt.date]:
    """Every `every_days` days from `start` to `end` inclusive."""
    if every_days < 1:
        raise ValueError("every_days must be >= 1")
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    n = (end - start).days // every_days
    return [start + dt.timedelta(days=i * every_days) for i in range(n + 1)]


def seconds_between(later: ibis.Value, earlier: ibis.Value) -> ibis.Value:
    """Whole seconds from `earlier` to `later` as float64, each timestamp truncated to the second.

    Truncating first makes the engines agree exactly: DuckDB's epoch keeps microseconds, Spark's
    `unix_timestamp` drops them. Float64 (not integer) so that dividing by a literal such as 3600.0 stays
    floating point on Spark, where a bare `3600.0` is a DECIMAL and the quotient would be rounded.
    """
    return (later.epoch_seconds().floor() - earlier.epoch_seconds().floor()).cast("float64")


def asof_table(dates: Sequence[dt.date]) -> ibis.Table:
    """One row per as-of date: `as_of` (date) and `as_of_ts` (its midnight, the exclusive cut-off)."""
    arrow = pa.table(
        {
            "as_of": pa.array(list(dates), pa.date32()),
            "as_of_ts": pa.array([dt.datetime.combine(d, dt.time()) for d in dates], pa.timestamp("us")),
        }
    )
    return ibis.memtable(arrow)


def seen_at_asof(table: ibis.Table, ts: str, dates: Sequence[dt.date], lookback_days: int) -> ibis.Table:
    """Each row of `table` once per as-of date that can see it, with `as_of` and `as_of_ts` beside it.

    The point-in-time rule of every row-level block: a row timestamped `ts` is seen at as-of date D when it is
    strictly before D's midnight and at most `lookback_days` days before it.
    """
    asof = asof_table(dates)
    t = table[ts]
    return table.join(asof, (t < asof.as_of_ts) & (t >= asof.as_of_ts - ibis.interval(days=lookback_days)))


def lag_calendar(dates: Sequence[dt.date], max_lag: int) -> ibis.Table:
    """Rows (as_of, day, lag) for lag = 1..max_lag: the days inside each as-of date's look-back window.

    Joining a per-day table to this on `day` is an equi-join against a tiny table, which both DuckDB and
    Spark execute as a broadcast hash join — far cheaper than a range join on raw timestamps.
    """
    as_of, day, lag = [], [], []
    for d in dates:
        for k in range(1, max_lag + 1):
            as_of.append(d)
            day.append(d - dt.timedelta(days=k))
            lag.append(k)
    arrow = pa.table(
        {
            "as_of": pa.array(as_of, pa.date32()),
            "day": pa.array(day, pa.date32()),
            "lag": pa.array(lag, pa.int32()),
        }
    )
    return ibis.memtable(arrow)
