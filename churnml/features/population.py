"""Who is a customer at an as-of date: the rows that get features, labels and scores.

Contractual businesses: accounts with a subscription running at the as-of date. Non-contractual
(usage or purchases only): accounts with any event in the look-back window before it. Accounts that
had already churned are not rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis

from churnml.config import LabelsConfig
from churnml.data.sources import Tables
from churnml.features.calendar import asof_table, lag_calendar


def contractual_population(subscriptions: ibis.Table, dates: Sequence[dt.date]) -> ibis.Table:
    """(account_id, as_of) for every account with a subscription covering the as-of date."""
    asof = asof_table(dates).select("as_of")
    s = subscriptions
    j = s.join(asof, (s.start_date < asof.as_of) & (s.end_date.isnull() | (s.end_date >= asof.as_of)))
    return j.select("account_id", "as_of").distinct()


def active_users_population(events: ibis.Table, dates: Sequence[dt.date], lookback_days: int) -> ibis.Table:
    """(account_id, as_of) for every account with an event in the `lookback_days` before the as-of date."""
    lo = dt.datetime.combine(dates[0] - dt.timedelta(days=lookback_days), dt.time())
    hi = dt.datetime.combine(dates[-1], dt.time())
    ev = events.filter((events.ts >= lo) & (events.ts < hi))
    days = ev.select("account_id", day=ev.ts.date()).distinct()
    j = days.join(lag_calendar(dates, lookback_days), "day")
    return j.select("account_id", "as_of").distinct()


def population(tables: Tables, dates: Sequence[dt.date], labels: LabelsConfig) -> ibis.Table:
    """The (account_id, as_of) spine for the configured label definition, restricted to known accounts."""
    if labels.kind == "contractual":
        if "subscriptions" not in tables:
            raise ValueError(
                "contractual labels need a 'subscriptions' table; use labels.kind=non_contractual "
                "for businesses without subscriptions"
            )
        spine = contractual_population(tables["subscriptions"], dates)
    else:
        spine = active_users_population(tables["events"], dates, labels.lookback_days)
    accounts = tables["accounts"]
    asof = asof_table(dates)
    known = accounts.select("account_id", "created_at")
    spine = spine.join(known, "account_id").join(asof, "as_of")
    spine = spine.filter(spine.created_at < spine.as_of_ts)
    return spine.select("account_id", "as_of")
