"""Usage features from product events: volume, active days, active users, breadth, trends.

Events are first reduced to per-day tables (by account; by account and user; by account and event type),
then joined to the as-of calendar on the day. That keeps the expensive part — one pass over the raw
events — independent of how many as-of dates are asked for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis

from churnml.features.calendar import lag_calendar
from churnml.features.keys import KEYS, attach
from churnml.features.registry import USAGE_WINDOWS

MAX_LAG = 90


def _window_events(events: ibis.Table, dates: Sequence[dt.date]) -> ibis.Table:
    lo = dt.datetime.combine(dates[0] - dt.timedelta(days=MAX_LAG), dt.time())
    hi = dt.datetime.combine(dates[-1], dt.time())
    return events.filter((events.ts >= lo) & (events.ts < hi)).mutate(day=events.ts.date())


def _per_day_block(events: ibis.Table, cal: ibis.Table, dates: Sequence[dt.date]) -> ibis.Table:
    daily = (
        _window_events(events, dates)
        .group_by(["account_id", "day"])
        .aggregate(n_events=ibis._.count())
    )
    j = daily.join(cal, "day")
    lag, n = j.lag, j.n_events
    aggs = {}
    for w in USAGE_WINDOWS:
        aggs[f"events_{w}d"] = n.sum(where=lag <= w)
        aggs[f"active_days_{w}d"] = n.count(where=lag <= w)
    aggs["events_prev_30d"] = n.sum(where=(lag > 30) & (lag <= 60))
    aggs["days_since_last_event"] = lag.min()
    return j.group_by(KEYS).aggregate(**aggs)


def _last_days(ev: ibis.Table, entity: str) -> ibis.Table:
    """Distinct (account, entity, day) rows with the entity's next active day (null if none).

    A distinct count over a window [D - w, D) equals the number of entity-days d in that window whose next
    active day is on or after D (d is the entity's last activity before D). Counting those needs plain
    conditional counts instead of COUNT(DISTINCT ...) per window, several times faster on both engines.
    """
    days = ev.filter(ev[entity].notnull()).select("account_id", entity, "day").distinct()
    nxt = days.day.lead().over(ibis.window(group_by=["account_id", entity], order_by="day"))
    return days.mutate(next_day=nxt)


def _distinct_counts(days: ibis.Table, cal: ibis.Table, windows: dict[str, tuple[int, int]]) -> ibis.Table:
    """Per (account, as_of): for each name -> (lo, hi), entities active on days with lag in (lo, hi]."""
    max_lag = max(hi for _, hi in windows.values())
    j = days.join(cal.filter(cal.lag <= max_lag), "day")
    aggs = {}
    for name, (lo, hi) in windows.items():
        # Last activity inside the window: the next active day is at or after the window's end (lag lo).
        window_end = j.as_of - ibis.interval(days=lo)
        last_in_window = j.next_day.isnull() | (j.next_day >= window_end)
        aggs[name] = j.account_id.count(where=(j.lag > lo) & (j.lag <= hi) & last_in_window)
    return j.group_by(KEYS).aggregate(**aggs)


def _per_user_block(events: ibis.Table, cal: ibis.Table, dates: Sequence[dt.date]) -> ibis.Table:
    days = _last_days(_window_events(events, dates), "user_id")
    windows = {"active_users_7d": (0, 7), "active_users_30d": (0, 30), "active_users_prev_30d": (30, 60)}
    return _distinct_counts(days, cal, windows)


def _per_type_block(events: ibis.Table, cal: ibis.Table, dates: Sequence[dt.date]) -> ibis.Table:
    days = _last_days(_window_events(events, dates), "event_type")
    return _distinct_counts(days, cal, {"event_types_30d": (0, 30), "event_types_90d": (0, 90)})


def _ratio(num: ibis.Value, den: ibis.Value) -> ibis.Value:
    """num / den, null where den is 0 or null (no reference, so no ratio — never a fake 0 or inf)."""
    return ibis.ifelse(den > 0, num.cast("float64") / den.cast("float64"), ibis.null("float64"))


def usage_features(spine: ibis.Table, events: ibis.Table, dates: Sequence[dt.date]) -> ibis.Table:
    """Usage features for every (account_id, as_of) of `spine`.

    Counts are 0 (not missing) for accounts without events in a window: the events table exists, so no
    activity is a fact. Users/breadth features appear only when `user_id` / `event_type` columns exist.

    Args:
        spine: (account_id, as_of) rows to compute features for.
        events: validated events table (account_id, ts, event_type, optional user_id).
        dates: the sorted as-of dates present in `spine`.
    """
    cal = lag_calendar(dates, MAX_LAG)
    out = attach(spine, _per_day_block(events, cal, dates), KEYS)
    counts = [f"events_{w}d" for w in USAGE_WINDOWS] + ["events_prev_30d"]
    counts += [f"active_days_{w}d" for w in USAGE_WINDOWS]
    has_users = "user_id" in events.columns
    has_types = "event_type" in events.columns
    if has_users:
        out = attach(out, _per_user_block(events, cal, dates), KEYS)
        counts += ["active_users_7d", "active_users_30d", "active_users_prev_30d"]
    if has_types:
        out = attach(out, _per_type_block(events, cal, dates), KEYS)
        counts += ["event_types_30d", "event_types_90d"]
    out = out.mutate(**{c: ibis.coalesce(out[c], 0).cast("int64") for c in counts})
    extra = {"events_trend_30d": _ratio(out.events_30d, out.events_prev_30d)}
    if has_users:
        extra["active_users_trend_30d"] = _ratio(out.active_users_30d, out.active_users_prev_30d)
    return out.mutate(**extra)
