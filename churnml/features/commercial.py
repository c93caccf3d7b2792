"""Commercial features from subscriptions: MRR and its change, seats, plan, contract, tenure, renewal.

Only what is known at the as-of date is used: subscriptions that started before it. An end date after
the as-of date is not used (a cancellation may have been recorded later than it took effect in the
data), except to know that the subscription is still running at the as-of date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis

from churnml.features.calendar import asof_table
from churnml.features.keys import KEYS, attach


def _active_at(start: ibis.Value, end: ibis.Value, day: ibis.Value) -> ibis.Value:
    """A subscription covers `day` if it started before it and has not ended before it (end inclusive)."""
    return (start < day) & (end.isnull() | (end >= day))


def contract_type(term_months: ibis.Value) -> ibis.Value:
    """monthly (< 12 months), annual (12–23), multi-year (24+)."""
    return ibis.cases(
        (term_months.isnull(), ibis.null("string")),
        (term_months >= 24, "multi-year"),
        (term_months >= 12, "annual"),
        else_="monthly",
    )


def commercial_features(spine: ibis.Table, subscriptions: ibis.Table, dates: Sequence[dt.date]) -> ibis.Table:
    """Commercial features for every (account_id, as_of) of `spine`."""
    asof = asof_table(dates)
    subs = subscriptions
    if "term_months" not in subs.columns:
        subs = subs.mutate(term_months=ibis.literal(1, "int64"))
    s = subs.join(asof.select("as_of"), subs.start_date < asof.as_of)
    active = _active_at(s.start_date, s.end_date, s.as_of)
    d90 = s.as_of - ibis.interval(days=90)
    active_90 = _active_at(s.start_date, s.end_date, d90)
    term = ibis.coalesce(s.term_months, 1)
    term_days = (term * 365) // 12
    days_in = s.as_of.delta(s.start_date, unit="day")
    to_renewal = (term_days - days_in % term_days) % term_days
    s = s.mutate(
        active=active,
        active_90=active_90,
        to_renewal=to_renewal,
        active_mrr=ibis.ifelse(active, s.mrr, ibis.null("float64")),
        term=term,
    )
    s = s.mutate(top_mrr=s.active_mrr.max().over(ibis.window(group_by=KEYS)))
    block = s.group_by(KEYS).aggregate(
        mrr=s.mrr.sum(where=s.active),
        mrr_90d_ago=s.mrr.sum(where=s.active_90),
        # seats and plan are optional columns: absent from the source, absent here (not faked).
        **({"seats": s.seats.sum(where=s.active)} if "seats" in s.columns else {}),
        **({"plan": s.plan.max(where=s.active & (s.mrr == s.top_mrr))} if "plan" in s.columns else {}),
        _term=s.term.max(where=s.active),
        _first_start=s.start_date.min(),
        days_to_renewal=s.to_renewal.min(where=s.active),
    )
    out = attach(spine, block, KEYS)
    return out.mutate(
        mrr_change_90d=out.mrr - out.mrr_90d_ago,
        mrr_change_pct_90d=ibis.ifelse(
            out.mrr_90d_ago > 0, (out.mrr - out.mrr_90d_ago) / out.mrr_90d_ago, ibis.null("float64")
        ),
        contract_type=contract_type(out._term),
        contract_term_months=out._term,
        tenure_days=out.as_of.delta(out._first_start, unit="day"),
    ).drop("_term", "_first_start")
