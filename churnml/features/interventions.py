"""Features from the intervention log: how many CSM plays an account got lately, and how long ago the last was.

Without them a model trained on data where CSMs act on risky accounts would see treated accounts churn less and
learn that their (risky-looking) signals are safe. Point in time: a play is visible at as-of date D only if its
timestamp is strictly before D's midnight; plays older than a year are ignored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis

from churnml.features.calendar import seconds_between, seen_at_asof
from churnml.features.keys import KEYS, attach

LOOKBACK_DAYS = 365


def intervention_features(spine: ibis.Table, interventions: ibis.Table, dates: Sequence[dt.date]) -> ibis.Table:
    """`plays_90d` (0 when none) and `days_since_last_play` (null when none in a year) per spine row."""
    iv = seen_at_asof(interventions, "ts", dates, LOOKBACK_DAYS)
    age_days = seconds_between(iv.as_of_ts, iv.ts) / 86400.0
    iv = iv.mutate(age_days=age_days)
    block = iv.group_by(KEYS).aggregate(
        plays_90d=iv.account_id.count(where=iv.age_days <= 90),
        days_since_last_play=iv.age_days.min().ceil().cast("int64"),
    )
    out = attach(spine, block, KEYS)
    return out.mutate(plays_90d=ibis.coalesce(out.plays_90d, 0).cast("int64"))
