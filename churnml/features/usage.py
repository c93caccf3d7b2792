"""Usage features from product events: volume, active days, active users, breadth, trends, lifetime.

How this scales. Counts and active days: events are reduced once to one row per (account, day), and each row
counts towards a *contiguous run* of as-of dates (`churnml.features.runs`): an account-day d adds its events
to `events_30d` at every as-of date D with d < D <= d + 30. The cost is one pass over the per-day rows whatever
the number of as-of dates or windows (configured per theme, `features.windows.usage`). The lifetime block
(`churnml.features.lifetime`: recency, totals, gaps, money) is windows without an end over the same rows, in
the same pass.

Distinct counts (active users, breadth of features used): each (account, entity) gets a bitmap of its active
days (BIT_OR, 62 days per int64 word); it is active in a window at D when the bitmap shares a bit with that
window's mask. One group per entity instead of one per entity-day, and no COUNT(DISTINCT) per window.

Everything is portable Ibis (equi-joins and cross joins with small in-memory tables, window lead, cumulative
sums, BIT_OR — which `churnml.data.spark` teaches Ibis's PySpark compiler), so Spark runs it unchanged.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections.abc import Collection, Sequence

import ibis

from churnml.config import FeaturesConfig
from churnml.features.keys import KEYS, attach
from churnml.features.lifetime import Derived, daily_rows, has_value, lifetime_derived, lifetime_windows
from churnml.features.runs import Window, as_of_index, lookback, window_rows, windowed_sums

__all__ = ["Window", "usage_features", "windowed_sums"]

USER_WINDOWS: dict[str, tuple[int, int]] = {
    "active_users_7d": (0, 7), "active_users_30d": (0, 30), "active_users_prev_30d": (30, 60),
}
TYPE_WINDOWS: dict[str, tuple[int, int]] = {"event_types_30d": (0, 30), "event_types_90d": (0, 90)}
RATIOS: dict[str, tuple[str, str]] = {
    "events_trend_30d": ("events_30d", "events_prev_30d"),
    "active_users_trend_30d": ("active_users_30d", "active_users_prev_30d"),
}


def event_windows(cfg: FeaturesConfig) -> dict[str, Window]:
    """The windowed counts over per-day rows: events and active days per usage window, the previous 30 days."""
    ws = cfg.windows.usage
    prev = {"events_prev_30d": Window(30, 60, "n_events")} if 30 in ws else {}  # the 30-day trend's reference
    return {
        **{f"events_{w}d": Window(0, w, "n_events") for w in ws},
        **prev,
        **{f"active_days_{w}d": Window(0, w) for w in ws},
    }


def _day_features(cfg: FeaturesConfig, value: bool) -> tuple[dict[str, Window], Derived]:
    return {**event_windows(cfg), **lifetime_windows(cfg, value)}, lifetime_derived(cfg, value)


def per_day_names(cfg: FeaturesConfig | None = None, value: bool | None = None) -> tuple[str, ...]:
    """Features of the per-day block (windowed counts, lifetime, recency, trend) for a configuration
    (`value`: whether the events have a money or time `value`; default: what the configuration says)."""
    cfg = cfg or FeaturesConfig()
    windows, derived = _day_features(cfg, cfg.event_value.meaning != "count" if value is None else value)
    trend = ("events_trend_30d",) if "events_prev_30d" in windows else ()
    return (*[w for w in windows if not w.startswith("_")], *derived, *trend)


# The default configuration's names (tests and callers that ask which block a feature is in).
PER_DAY: tuple[str, ...] = per_day_names()
PER_USER: tuple[str, ...] = (*USER_WINDOWS, "active_users_trend_30d")
PER_TYPE: tuple[str, ...] = tuple(TYPE_WINDOWS)


def _per_day_block(
    events: ibis.Table, dates: Sequence[dt.date], names: Collection[str], cfg: FeaturesConfig
) -> tuple[ibis.Table, list[str]]:
    """The per-day features in `names` (and what they are made from); also the columns that are 0 when absent."""
    value = has_value(cfg, events)
    windows, derived = _day_features(cfg, value)
    asked = {n for n in names if n in derived}
    need = {n for n in names if n in windows} | {d for n in asked for d in derived[n][0]}
    # A derived feature may need another derived one's window only (never a derived one itself).
    picked = {name: w for name, w in windows.items() if name in need}
    lifetime = any(w.hi is None or w.distinct for w in picked.values())
    daily = daily_rows(events, dates, lookback(list(picked.values())), value, lifetime)
    s = windowed_sums(daily, picked, dates)
    extra = {name: derived[name][1](s) for name in derived if name in asked}
    visible = [c for c in picked if not c.startswith("_")]
    zero = visible + [c for c in extra if c.startswith("value_") and not c.startswith("value_mean")]
    return s.select(*KEYS, *visible, **extra), zero


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
    ev = window_rows(events, "ts", dates, hi)
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
    wide = bitmaps.group_by("account_id").aggregate(**counts).cross_join(as_of_index(dates))
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
    spine: ibis.Table, events: ibis.Table, dates: Sequence[dt.date], wanted: Collection[str] | None = None,
    cfg: FeaturesConfig | None = None,
) -> ibis.Table:
    """Usage and lifetime features for every (account_id, as_of) of `spine`.

    Counts and sums are 0 (not missing) for accounts without events in a window: the events table exists, so
    no activity is a fact; recency, gaps, means and trends are null when there is nothing to measure.
    Users/breadth features appear only when `user_id` / `event_type` columns exist.

    Args:
        spine: (account_id, as_of) rows to compute features for.
        events: validated events table (account_id, ts, event_type, optional user_id and value).
        dates: the sorted as-of dates present in `spine`.
        wanted: feature names needed (None = all); windows and blocks none of them need are not computed.
        cfg: windows, and what `value` means (default `FeaturesConfig()`).
    """
    cfg = cfg if cfg is not None else FeaturesConfig()
    per_day = set(per_day_names(cfg, has_value(cfg, events)))
    names = {*per_day, *PER_USER, *PER_TYPE} if wanted is None else set(wanted)
    for ratio, parts in RATIOS.items():
        if ratio in names:
            names |= set(parts)
    out, counts, sums = spine, [], []
    if names & per_day:
        block, zero = _per_day_block(events, dates, names, cfg)
        out = attach(out, block, KEYS)
        counts += [c for c in zero if not c.startswith("value_")]
        sums += [c for c in zero if c.startswith("value_")]
    users = {name: w for name, w in USER_WINDOWS.items() if name in names}
    if "user_id" in events.columns and users:
        out = attach(out, _distinct_block(events, "user_id", users, dates), KEYS)
        counts += list(users)
    types = {name: w for name, w in TYPE_WINDOWS.items() if name in names}
    if "event_type" in events.columns and types:
        out = attach(out, _distinct_block(events, "event_type", types, dates), KEYS)
        counts += list(types)
    out = out.mutate(**{c: ibis.coalesce(out[c], 0).cast("int64") for c in counts},
                     **{c: ibis.coalesce(out[c], 0.0).cast("float64") for c in sums})
    extra = {
        ratio: _ratio(out[num], out[den])
        for ratio, (num, den) in RATIOS.items()
        if ratio in names and {num, den} <= set(out.columns)
    }
    return out.mutate(**extra) if extra else out
