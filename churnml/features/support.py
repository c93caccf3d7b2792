"""Support features from tickets: load, backlog, effort, speed and quality of resolution.

A ticket is visible at as-of date D if it was opened before D. It counts as open at D unless it was
closed before D — a closing timestamp after D is future information and is ignored, and so are the
effort score and reopen flag, which are only known once the ticket is closed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis

from churnml.features.calendar import seconds_between, seen_at_asof
from churnml.features.keys import KEYS, attach

LOOKBACK_DAYS = 365
HIGH_PRIORITIES = ("high", "urgent")


def support_features(spine: ibis.Table, tickets: ibis.Table, dates: Sequence[dt.date]) -> ibis.Table:
    """Support features for every (account_id, as_of) of `spine`; tickets older than a year are ignored."""
    t = seen_at_asof(tickets, "opened_at", dates, LOOKBACK_DAYS)
    cols = set(tickets.columns)
    age_days = seconds_between(t.as_of_ts, t.opened_at) / 86400.0
    opened_30 = age_days <= 30
    opened_90 = age_days <= 90
    if "closed_at" in cols:
        closed = t.closed_at.notnull() & (t.closed_at < t.as_of_ts)
        closed_90 = closed & (t.closed_at >= t.as_of_ts - ibis.interval(days=90))
    else:
        closed = ibis.literal(False)
        closed_90 = ibis.literal(False)
    is_open = ~closed
    high = t.priority.isin(HIGH_PRIORITIES)
    aggs: dict[str, ibis.Value] = {
        "tickets_30d": t.account_id.count(where=opened_30),
        "tickets_90d": t.account_id.count(where=opened_90),
        "tickets_open": t.account_id.count(where=is_open),
        "tickets_open_high_14d": t.account_id.count(where=is_open & high & (age_days > 14)),
        "_high_90d": t.account_id.count(where=opened_90 & high),
    }
    if "effort_score" in cols:
        aggs["effort_mean_90d"] = t.effort_score.mean(where=closed_90)
    if "closed_at" in cols:
        hours = seconds_between(t.closed_at, t.opened_at) / 3600.0
        aggs["resolution_hours_90d"] = hours.mean(where=closed_90)
    if "reopened" in cols:
        aggs["reopen_rate_90d"] = t.reopened.cast("float64").mean(where=closed_90)
    block = t.group_by(KEYS).aggregate(**aggs)
    out = attach(spine, block, KEYS)
    counts = ["tickets_30d", "tickets_90d", "tickets_open", "tickets_open_high_14d", "_high_90d"]
    out = out.mutate(**{c: ibis.coalesce(out[c], 0).cast("int64") for c in counts})
    out = out.mutate(
        high_priority_share_90d=ibis.ifelse(
            out.tickets_90d > 0, out._high_90d.cast("float64") / out.tickets_90d, ibis.null("float64")
        )
    )
    return out.drop("_high_90d")
