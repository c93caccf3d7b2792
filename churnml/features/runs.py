"""Sums over windows of days before many as-of dates, in one pass: runs over the as-of index.

Per-day rows (one per account and day, or per entity and day) each count towards a *contiguous run* of
as-of dates: a day d adds its value to a window of lags (lo, hi] at every as-of date D with
d + lo < D <= d + hi. A run is written as two deltas (+v at its first as-of index, -v just after its last)
and a running sum over the as-of index per account adds them up. The deltas are summed with one aggregation
per distinct bound, each over only the windows with a bound there. The cost is a pass over the per-day rows per
distinct bound, whatever the number of as-of dates — instead of joining each day to every as-of date that can see
it, a blow-up of the rows by the window length before aggregating.

A window without an end (`hi=None`, the account's whole history before D) is a run to the last as-of date.
Days older than every finite window all share one sentinel row of the day index (every finite window's run
is empty there), so lifetime sums read all history at no extra cost per day. Distinct windows end each run
at the entity's next active day: one row counts at each as-of date, so summing its `dn` gives the last
active day's number.

Everything is portable Ibis (equi-joins and cross joins with small in-memory tables, window lead, cumulative
sums), so Spark runs it unchanged.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import pyarrow as pa

_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class Window:
    """A window of lags (lo, hi] in days before the as-of date (lag 1 = the day before); hi None: no end.

    value: integer column of the per-day rows summed over the window; None counts rows.
    distinct: count each entity once (rows are distinct (entity, day) with `next_day`).
    """

    lo: int
    hi: int | None
    value: str | None = None
    distinct: bool = False


def day_number(d: dt.date) -> int:
    """Days since 1970-01-01."""
    return (d - _EPOCH).days


def day_number_of(day: ibis.Value) -> ibis.Value:
    """`day_number` as an Ibis expression (int64) of a date column."""
    return day.delta(ibis.date(_EPOCH), unit="day").cast("int64")


def lookback(windows: Sequence[Window]) -> int | None:
    """Days of rows before the first as-of date the windows can see (None: all history)."""
    if any(w.hi is None for w in windows):
        return None
    return max((w.hi for w in windows if w.hi is not None), default=0)


def window_rows(table: ibis.Table, ts: str, dates: Sequence[dt.date], days: int | None) -> ibis.Table:
    """Rows of `table` that can count at some as-of date (from `days` before the first; None: all), with `day`."""
    hi = dt.datetime.combine(dates[-1], dt.time())
    keep = table[ts] < hi
    if days is not None:
        keep &= table[ts] >= dt.datetime.combine(dates[0] - dt.timedelta(days=days), dt.time())
    return table.filter(keep).mutate(day=table[ts].date())


def with_next_day(rows: ibis.Table, entity: Sequence[str]) -> ibis.Table:
    """Adds `next_day`: the entity's next row's day (null for its last)."""
    nxt = rows.day.lead().over(ibis.window(group_by=list(entity), order_by="day"))
    return rows.mutate(next_day=nxt)


def _day_index(dates: Sequence[dt.date], offsets: Sequence[int], first: dt.date) -> ibis.Table:
    """One row per day from `first` (the sentinel) to the last as-of date: `_key` and `c{k}` per offset k.

    c{k} = number of as-of dates on or before day + k. A day d lies in the lag window (lo, hi] of as-of
    date index j exactly when c{lo}(d) <= j < c{hi}(d).
    """
    days = [first + dt.timedelta(days=i) for i in range((dates[-1] - first).days)]
    cols: dict[str, pa.Array] = {"_key": pa.array(days, pa.date32())}
    for k in offsets:
        cols[f"c{k}"] = pa.array([bisect.bisect_right(dates, d + dt.timedelta(days=k)) for d in days], pa.int32())
    return ibis.memtable(pa.table(cols))


def as_of_index(dates: Sequence[dt.date]) -> ibis.Table:
    """(idx, as_of, as_of_dn) per as-of date."""
    return ibis.memtable(
        pa.table(
            {
                "idx": pa.array(range(len(dates)), pa.int32()),
                "as_of": pa.array(list(dates), pa.date32()),
                "as_of_dn": pa.array([day_number(d) for d in dates], pa.int32()),
            }
        )
    )


def _bounds(j: ibis.Table, windows: dict[str, Window], n: int) -> tuple[dict[str, ibis.Value], dict[str, tuple]]:
    """Each window's run of as-of indices [start, end) as named bounds (windows sharing one share its name)."""
    bounds: dict[str, ibis.Value] = {}
    runs: dict[str, tuple[str, str]] = {}
    for name, w in windows.items():
        start = f"c{w.lo}"
        bounds[start] = j[start]
        if w.hi is None:
            end = "N"
            bounds[end] = ibis.literal(n, "int32")
        else:
            end = f"c{w.hi}"
            bounds[end] = j[end]
        if w.distinct:
            capped = f"{end}_n{w.lo}"
            bounds[capped] = ibis.least(bounds[end], ibis.coalesce(j[f"n{w.lo}"], n))
            end = capped
        runs[name] = (start, end)
    return bounds, runs


def windowed_sums(rows: ibis.Table, windows: dict[str, Window], dates: Sequence[dt.date]) -> ibis.Table:
    """Per (account_id, as_of) and window name: the sum of `value` over rows whose day is in the window.

    Args:
        rows: per-day rows with `account_id`, `day` and, when any window is distinct, `next_day` (the
            entity's next active day, null if none). Rows dated before every finite window count only
            towards windows without an end.
        windows: output column -> window.
        dates: sorted as-of dates.
    Returns (account_id, as_of, as_of_dn, *windows) for every as-of date of every account with rows; sums
    are 0 where nothing falls in the window.
    """
    n = len(dates)
    offsets = sorted({w.lo for w in windows.values()} | {w.hi for w in windows.values() if w.hi is not None})
    first = dates[0] - dt.timedelta(days=max(offsets) + 1)  # the sentinel: every finite c{k} is 0 there
    idx = _day_index(dates, offsets, first)
    sentinel = ibis.date(first)
    rows = rows.mutate(_key=ibis.ifelse(rows.day < sentinel, sentinel, rows.day))
    j = rows.join(idx, "_key")
    lows = sorted({w.lo for w in windows.values() if w.distinct})
    if lows:
        j = j.mutate(_nkey=ibis.ifelse(j.next_day < sentinel, sentinel, j.next_day))
        nxt = idx.select(_nkey=idx._key, **{f"n{k}": idx[f"c{k}"] for k in lows})
        j = j.join(nxt, "_nkey", how="left")
    bounds, runs = _bounds(j, windows, n)
    # Rows adding nothing (e.g. a user active again before the next as-of date) are dropped.
    j = j.filter(ibis.or_(*[bounds[start] < bounds[end] for start, end in runs.values()]))
    j = j.mutate(**{f"_b_{b}": bounds[b] for b in bounds if b != "N"})
    # One aggregation per distinct bound: at that index, +value (a sum, or a row count) for the runs starting
    # there and -value for the runs ending there, each summing only the windows with a bound there. (Expanding
    # every row into one copy per bound and summing every window on every copy did the same work with most
    # terms 0.) A constant bound (a run to the end) falls at index n, past the last as-of date: no delta.
    parts = []
    for b in bounds:
        if b == "N":
            continue
        at = j.filter(j[f"_b_{b}"] < n)
        signed = {}
        for name, w in windows.items():
            v = at[w.value].cast("int64").sum() if w.value else at.count().cast("int64")
            start, end = runs[name]
            if start == b:
                signed[name] = v
            elif end == b:
                signed[name] = -v
        agg = at.group_by(["account_id", at[f"_b_{b}"].name("idx")]).aggregate(
            **signed)
        zero = ibis.literal(0, "int64")
        parts.append(agg.select("account_id", agg.idx.cast("int32").name("idx"),
                                **{name: agg[name].cast("int64") if name in signed else zero for name in windows}))
    deltas = parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False)
    per_index = deltas.group_by(["account_id", "idx"]).aggregate(**{name: deltas[name].sum() for name in windows})
    grid = per_index.select("account_id").distinct().cross_join(as_of_index(dates))
    dense = grid.join(per_index, ["account_id", "idx"], how="left")
    running = ibis.cumulative_window(group_by="account_id", order_by="idx")
    return dense.select(
        "account_id",
        "as_of",
        "as_of_dn",
        **{name: ibis.coalesce(dense[name], 0).sum().over(running) for name in windows},
    )
