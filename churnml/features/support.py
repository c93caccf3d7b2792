"""Support features from tickets: load per window, backlog, effort, speed and quality of resolution, recency.

Windows are `features.windows.support` (counts per window; quality averages over the longest). A ticket is
visible at as-of date D if it was opened before D. It counts as open at D unless it was
closed before D — a closing timestamp after D is future information and is ignored, and so are the
effort score and reopen flag, which are only known once the ticket is closed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis

from churnml.config import FeatureWindows
from churnml.features.calendar import seconds_between, seen_at_asof
from churnml.features.keys import KEYS, attach
from churnml.features.lifetime import days_since_last

LOOKBACK_DAYS = 365  # open tickets older than this (or than the longest window) are not counted as open
HIGH_PRIORITIES = ("high", "urgent")


def support_features(
    spine: ibis.Table, tickets: ibis.Table, dates: Sequence[dt.date], windows: FeatureWindows | None = None
) -> ibis.Table:
    """Support features for every (account_id, as_of) of `spine`; `days_since_last_ticket` sees all history."""
    ws = (windows or FeatureWindows()).support
    long = max(ws)
    t = seen_at_asof(tickets, "opened_at", dates, max(LOOKBACK_DAYS, long))
    cols = set(tickets.columns)
    age_days = seconds_between(t.as_of_ts, t.opened_at) / 86400.0
    opened_long = age_days <= long
    if "closed_at" in cols:
        closed = t.closed_at.notnull() & (t.closed_at < t.as_of_ts)
        closed_long = closed & (t.closed_at >= t.as_of_ts - ibis.interval(days=long))
    else:
        closed = ibis.literal(False)
        closed_long = ibis.literal(False)
    is_open = ~closed
    high = t.priority.isin(HIGH_PRIORITIES)
    aggs: dict[str, ibis.Value] = {
        **{f"tickets_{w}d": t.account_id.count(where=age_days <= w) for w in ws},
        "tickets_open": t.account_id.count(where=is_open),
        "tickets_open_high_14d": t.account_id.count(where=is_open & high & (age_days > 14)),
        "_high_long": t.account_id.count(where=opened_long & high),
    }
    if "effort_score" in cols:
        aggs[f"effort_mean_{long}d"] = t.effort_score.mean(where=closed_long)
    if "closed_at" in cols:
        hours = seconds_between(t.closed_at, t.opened_at) / 3600.0
        aggs[f"resolution_hours_{long}d"] = hours.mean(where=closed_long)
    if "reopened" in cols:
        aggs[f"reopen_rate_{long}d"] = t.reopened.cast("float64").mean(where=closed_long)
    block = t.group_by(KEYS).aggregate(**aggs)
    out = attach(spine, block, KEYS)
    out = attach(out, days_since_last(tickets, "opened_at", dates, "days_since_last_ticket"), KEYS)
    counts = [*(f"tickets_{w}d" for w in ws), "tickets_open", "tickets_open_high_14d", "_high_long"]
    out = out.mutate(**{c: ibis.coalesce(out[c], 0).cast("int64") for c in counts})
    share = ibis.ifelse(out[f"tickets_{long}d"] > 0, out._high_long.cast("float64") / out[f"tickets_{long}d"],
                        ibis.null("float64"))
    return out.mutate(**{f"high_priority_share_{long}d": share}).drop("_high_long")
