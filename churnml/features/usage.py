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


def _per_user_block(events: ibis.Table, cal: ibis.Table, dates: Sequence[dt.date]) -> ibis.Table:
    ev = _window_events(events, dates)
    user_days = ev.filter(ev.user_id.notnull()).select("account_id", "day", "user_id").distinct()
    j = user_days.join(cal.filter(cal.lag <= 60), "day")
    lag, u = j.lag, j.user_id
    return j.group_by(KEYS).aggregate(
        active_users_7d=u.nunique(where=lag <= 7),
        active_users_30d=u.nunique(where=lag <= 30),
        active_users_prev_30d=u.nunique(where=lag > 30),
    )


def _per_type_block(events: ibis.Table, cal: ibis.Table, dates: Sequence[dt.date]) -> ibis.Table:
    ev = _window_events(events, dates)
    type_days = ev.select("account_id", "day", "event_type").distinct()
    j = type_days.join(cal, "day")
    return j.group_by(KEYS).aggregate(
        event_types_30d=j.event_type.nunique(where=j.lag <= 30),
        event_types_90d=j.event_type.nunique(),
    )


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
