"""Usage features from product events: volume, active days, active users, breadth, trends.

How this scales. Counts and active days: events are reduced once to one row per (account, day), and each row
counts towards a *contiguous run* of as-of dates: an account-day d adds its events to `events_30d` at every
as-of date D with d < D <= d + 30. A run is written as two deltas (+v at its first as-of index, -v just after
its last) and a running sum over the as-of index per account adds them up. The cost is one pass over the
per-day rows whatever the number of as-of dates or windows — instead of joining each day to every as-of date
that can see it, a 60–90× blow-up of the rows before aggregating. `days_since_last_event` uses the same runs,
with the account's next active day ending each one.

Distinct counts (active users, breadth of features used): each (account, entity) gets a bitmap of its active
days (BIT_OR, 62 days per int64 word); it is active in a window at D when the bitmap shares a bit with that
window's mask. One group per entity instead of one per entity-day, and no COUNT(DISTINCT) per window.

Everything is portable Ibis (equi-joins and cross joins with small in-memory tables, window lead, cumulative
sums, BIT_OR — which `churnml.data.spark` teaches Ibis's PySpark compiler), so Spark runs it unchanged.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import operator
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import ibis
import pyarrow as pa

from churnml.features.catalog import USAGE_WINDOWS
from churnml.features.keys import KEYS, attach

MAX_LAG = 90
_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class Window:
    """A window of lags (lo, hi] in days before the as-of date (lag 1 = the day before).

    value: column of the per-day rows summed over the window; None counts rows.
    distinct: count each entity once (rows are distinct (entity, day) with `next_day`).
    """

    lo: int
    hi: int
    value: str | None = None
    distinct: bool = False


def _day_number(d: dt.date) -> int:
    return (d - _EPOCH).days


def _day_index(dates: Sequence[dt.date], offsets: Sequence[int]) -> ibis.Table:
    """One row per day an event can count on: `day`, `dn` (day number) and `c{k}` for every offset k.

    c{k} = number of as-of dates on or before day + k. A day d lies in the lag window (lo, hi] of as-of
    date index j exactly when c{lo}(d) <= j < c{hi}(d).
    """
    first = dates[0] - dt.timedelta(days=MAX_LAG)
    days = [first + dt.timedelta(days=i) for i in range((dates[-1] - first).days)]
    cols: dict[str, pa.Array] = {
        "day": pa.array(days, pa.date32()),
        "dn": pa.array([_day_number(d) for d in days], pa.int32()),
    }
    for k in offsets:
        cols[f"c{k}"] = pa.array([bisect.bisect_right(dates, d + dt.timedelta(days=k)) for d in days], pa.int32())
    return ibis.memtable(pa.table(cols))


def _as_of_index(dates: Sequence[dt.date]) -> ibis.Table:
    return ibis.memtable(
        pa.table(
            {
                "idx": pa.array(range(len(dates)), pa.int32()),
                "as_of": pa.array(list(dates), pa.date32()),
                "as_of_dn": pa.array([_day_number(d) for d in dates], pa.int32()),
            }
        )
    )


def _window_events(events: ibis.Table, dates: Sequence[dt.date], lookback: int = MAX_LAG) -> ibis.Table:
    """Events that can count at some as-of date (from `lookback` days before the first), with their `day`."""
    lo = dt.datetime.combine(dates[0] - dt.timedelta(days=lookback), dt.time())
    hi = dt.datetime.combine(dates[-1], dt.time())
    return events.filter((events.ts >= lo) & (events.ts < hi)).mutate(day=events.ts.date())


def _with_next_day(rows: ibis.Table, entity: Sequence[str]) -> ibis.Table:
    nxt = rows.day.lead().over(ibis.window(group_by=list(entity), order_by="day"))
    return rows.mutate(next_day=nxt)


def windowed_sums(rows: ibis.Table, windows: dict[str, Window], dates: Sequence[dt.date]) -> ibis.Table:
    """Per (account_id, as_of) and window name: the sum of `value` over rows whose day is in the window.

    Args:
        rows: per-day rows with `account_id`, `day` and, when any window is distinct, `next_day` (the
            entity's next active day, null if none).
        windows: output column -> window.
        dates: sorted as-of dates.
    Returns (account_id, as_of, as_of_dn, *windows) for every as-of date of every account with rows; sums
    are 0 where nothing falls in the window.
    """
    n = len(dates)
    lows = sorted({w.lo for w in windows.values() if w.distinct})
    idx = _day_index(dates, sorted({w.lo for w in windows.values()} | {w.hi for w in windows.values()}))
    j = rows.join(idx, "day")
    if lows:
        nxt = idx.select(next_day=idx.day, **{f"n{k}": idx[f"c{k}"] for k in lows})
        j = j.join(nxt, "next_day", how="left")
    # Each window's run of as-of indices is [start, end), end >= start (next_day > day). Bounds are named so that
    # windows sharing one (e.g. c0, the start of every lo=0 window) share its copy of the row below.
    bounds: dict[str, ibis.Value] = {}
    runs: dict[str, tuple[str, str]] = {}
    for name, w in windows.items():
        start, end = f"c{w.lo}", f"c{w.hi}"
        bounds[start], bounds[end] = j[start], j[end]
        if w.distinct:
            end = f"c{w.hi}_n{w.lo}"
            bounds[end] = ibis.least(j[f"c{w.hi}"], ibis.coalesce(j[f"n{w.lo}"], n))
        runs[name] = (start, end)
    order = list(bounds)
    # Rows adding nothing (e.g. a user active again before the next as-of date) are dropped before expanding.
    j = j.filter(ibis.or_(*[bounds[start] < bounds[end] for start, end in runs.values()]))
    j = j.mutate(**{f"_b_{i}": bounds[b] for i, b in enumerate(order)})
    # One copy of each row per distinct bound: at that index, +value for runs starting there, -value for runs
    # ending there.
    x = j.cross_join(ibis.memtable(pa.table({"_branch": pa.array(range(len(order)), pa.int16())})))
    at = ibis.cases(*[(x._branch == i, x[f"_b_{i}"]) for i in range(len(order))])
    values = {}
    for name, w in windows.items():
        v = (x[w.value] if w.value else ibis.literal(1)).cast("int64")
        start, end = runs[name]
        values[name] = ibis.cases(
            (x._branch == order.index(start), v), (x._branch == order.index(end), -v), else_=ibis.literal(0, "int64")
        )
    deltas = x.select("account_id", idx=at, **values).filter(lambda t: t.idx < n)
    per_index = deltas.group_by(["account_id", "idx"]).aggregate(**{name: deltas[name].sum() for name in windows})
    grid = per_index.select("account_id").distinct().cross_join(_as_of_index(dates))
    dense = grid.join(per_index, ["account_id", "idx"], how="left")
    running = ibis.cumulative_window(group_by="account_id", order_by="idx")
    return dense.select(
        "account_id",
        "as_of",
        "as_of_dn",
        **{name: ibis.coalesce(dense[name], 0).sum().over(running) for name in windows},
    )


EVENT_WINDOWS: dict[str, Window] = {
    **{f"events_{w}d": Window(0, w, "n_events") for w in USAGE_WINDOWS},
    "events_prev_30d": Window(30, 60, "n_events"),
    **{f"active_days_{w}d": Window(0, w) for w in USAGE_WINDOWS},
}
USER_WINDOWS: dict[str, tuple[int, int]] = {
    "active_users_7d": (0, 7), "active_users_30d": (0, 30), "active_users_prev_30d": (30, 60),
}
TYPE_WINDOWS: dict[str, tuple[int, int]] = {"event_types_30d": (0, 30), "event_types_90d": (0, 90)}
RATIOS: dict[str, tuple[str, str]] = {
    "events_trend_30d": ("events_30d", "events_prev_30d"),
    "active_users_trend_30d": ("active_users_30d", "active_users_prev_30d"),
}
PER_DAY: tuple[str, ...] = (*EVENT_WINDOWS, "events_trend_30d", "days_since_last_event")
PER_USER: tuple[str, ...] = (*USER_WINDOWS, "active_users_trend_30d")
PER_TYPE: tuple[str, ...] = tuple(TYPE_WINDOWS)


def _per_day_block(events: ibis.Table, dates: Sequence[dt.date], names: Collection[str]) -> ibis.Table:
    daily = _window_events(events, dates).group_by(["account_id", "day"]).aggregate(n_events=ibis._.count())
    windows = {name: w for name, w in EVENT_WINDOWS.items() if name in names}
    since = "days_since_last_event" in names
    if since:
        # The last active day within MAX_LAG: one row covers each as-of date, so its day number is the sum.
        windows["_active_90d"] = Window(0, MAX_LAG, distinct=True)
        windows["_last_dn"] = Window(0, MAX_LAG, "dn", distinct=True)
        daily = _with_next_day(daily, ["account_id"])
    s = windowed_sums(daily, windows, dates)
    extra = {}
    if since:
        extra["days_since_last_event"] = ibis.ifelse(s._active_90d > 0, s.as_of_dn - s._last_dn, ibis.null("int64"))
    return s.select(*KEYS, *[c for c in windows if not c.startswith("_")], **extra)


# Activity bitmaps: bit i of word k is day first + k * _BITS + i. 62 bits keep every word a positive int64
# on every engine (no sign bit, no overflow in shifts).
_BITS = 62
_MAX_WORDS = 8


def _date_chunks(dates: Sequence[dt.date], hi: int) -> list[list[dt.date]]:
    """Consecutive as-of dates split so each chunk's days (first date - hi .. last date) fit the bitmap."""
    chunks: list[list[dt.date]] = [[]]
    for d in dates:
        if chunks[-1] and (d - chunks[-1][0]).days + hi > _BITS * _MAX_WORDS:
            chunks.append([])
        chunks[-1].append(d)
    return chunks


def _mask(d: dt.date, lo: int, hi: int, first: dt.date, words: int) -> list[int]:
    """The bitmap words of the days with lag in (lo, hi] before as-of date `d`."""
    bits = [0] * words
    for lag in range(lo + 1, hi + 1):
        i = (d - dt.timedelta(days=lag) - first).days
        bits[i // _BITS] |= 1 << (i % _BITS)
    return bits


def _distinct_chunk(
    events: ibis.Table, entity: str, windows: dict[str, tuple[int, int]], dates: Sequence[dt.date]
) -> ibis.Table:
    hi = max(h for _, h in windows.values())
    first = dates[0] - dt.timedelta(days=hi)
    words = -(-((dates[-1] - first).days) // _BITS)
    ev = _window_events(events, dates, hi)
    ev = ev.filter(ev[entity].notnull())
    i = ev.day.delta(ibis.date(first), unit="day")
    # Bit i % 62 of word i // 62, as top bit >> (61 - i % 62): the literal is too big for a 32-bit int, so
    # every engine types it BIGINT (Spark reads a bare `1 << n` as INT and wraps past bit 31).
    top = ibis.literal(1 << (_BITS - 1), "int64")
    ev = ev.select("account_id", entity, word=i // _BITS, bit=top >> (_BITS - 1 - i % _BITS))
    # One BIT_OR per (entity, word), then a pivot to one row per entity: cheaper than a filtered BIT_OR per
    # word over every event.
    per_word = ev.group_by(["account_id", entity, "word"]).aggregate(w=ev.bit.bit_or())
    bitmaps = per_word.group_by(["account_id", entity]).aggregate(
        **{f"w{k}": ibis.coalesce(per_word.w.max(where=per_word.word == k), 0) for k in range(words)}
    )
    # Per account, one count per (window, as-of date): entities whose bitmap shares a bit with the window's
    # mask (a literal; only its non-zero words are tested). Aggregating per account keeps the work at one pass
    # over the entities, then one row per (account, as-of date) is picked out of the wide result.
    counts = {}
    for j, d in enumerate(dates):
        for name, (lo, hi) in windows.items():
            mask = _mask(d, lo, hi, first, words)
            shared = functools.reduce(
                operator.or_, [bitmaps[f"w{k}"] & ibis.literal(m, "int64") for k, m in enumerate(mask) if m]
            )
            counts[f"{name}__{j}"] = (shared != 0).cast("int64").sum()
    wide = bitmaps.group_by("account_id").aggregate(**counts).cross_join(_as_of_index(dates))
    return wide.select(
        "account_id",
        "as_of",
        **{
            name: ibis.cases(*[(wide.idx == j, wide[f"{name}__{j}"]) for j in range(len(dates))])
            for name in windows
        },
    )


def _distinct_block(
    events: ibis.Table, entity: str, windows: dict[str, tuple[int, int]], dates: Sequence[dt.date]
) -> ibis.Table:
    """Per (account_id, as_of): distinct `entity` values active in each window of lags (lo, hi].

    Each (account, entity) gets a bitmap of its active days (BIT_OR of one bit per event); an entity is
    active in a window when its bitmap shares a bit with the window's mask. Far cheaper than distinct
    (account, entity, day) rows: the aggregation has one group per entity, not one per entity-day.
    """
    hi = max(h for _, h in windows.values())
    parts = [_distinct_chunk(events, entity, windows, chunk) for chunk in _date_chunks(dates, hi)]
    return parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False)


def _ratio(num: ibis.Value, den: ibis.Value) -> ibis.Value:
    """num / den, null where den is 0 or null (no reference, so no ratio — never a fake 0 or inf)."""
    return ibis.ifelse(den > 0, num.cast("float64") / den.cast("float64"), ibis.null("float64"))


def usage_features(
    spine: ibis.Table, events: ibis.Table, dates: Sequence[dt.date], wanted: Collection[str] | None = None
) -> ibis.Table:
    """Usage features for every (account_id, as_of) of `spine`.

    Counts are 0 (not missing) for accounts without events in a window: the events table exists, so no
    activity is a fact. Users/breadth features appear only when `user_id` / `event_type` columns exist.

    Args:
        spine: (account_id, as_of) rows to compute features for.
        events: validated events table (account_id, ts, event_type, optional user_id).
        dates: the sorted as-of dates present in `spine`.
        wanted: feature names needed (None = all); windows and blocks none of them need are not computed.
    """
    names = {*PER_DAY, *PER_USER, *PER_TYPE} if wanted is None else set(wanted)
    for ratio, parts in RATIOS.items():
        if ratio in names:
            names |= set(parts)
    out, counts = spine, []
    if names & set(PER_DAY):
        out = attach(out, _per_day_block(events, dates, names), KEYS)
        counts += [c for c in EVENT_WINDOWS if c in names]
    users = {name: w for name, w in USER_WINDOWS.items() if name in names}
    if "user_id" in events.columns and users:
        out = attach(out, _distinct_block(events, "user_id", users, dates), KEYS)
        counts += list(users)
    types = {name: w for name, w in TYPE_WINDOWS.items() if name in names}
    if "event_type" in events.columns and types:
        out = attach(out, _distinct_block(events, "event_type", types, dates), KEYS)
        counts += list(types)
    out = out.mutate(**{c: ibis.coalesce(out[c], 0).cast("int64") for c in counts})
    extra = {
        ratio: _ratio(out[num], out[den])
        for ratio, (num, den) in RATIOS.items()
        if ratio in names and {num, den} <= set(out.columns)
    }
    return out.mutate(**extra) if extra else out
