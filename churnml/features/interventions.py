"""Features from the intervention log: how many CSM plays an account got lately, and how long ago the last was.

Without them a model trained on data where CSMs act on risky accounts would see treated accounts churn less and
learn that their (risky-looking) signals are safe. Point in time: a play is visible at as-of date D only if its
timestamp is strictly before D's midnight. `days_since_last_play` sees the whole log (recency is never capped).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis

from churnml.features.calendar import seen_at_asof
from churnml.features.keys import KEYS, attach
from churnml.features.lifetime import days_since_last

RECENT_DAYS = 90


def intervention_features(spine: ibis.Table, interventions: ibis.Table, dates: Sequence[dt.date]) -> ibis.Table:
    """`plays_90d` (0 when none) and `days_since_last_play` (null when none, ever) per spine row."""
    iv = seen_at_asof(interventions, "ts", dates, RECENT_DAYS)
    block = iv.group_by(KEYS).aggregate(plays_90d=iv.account_id.count())
    out = attach(spine, block, KEYS)
    out = attach(out, days_since_last(interventions, "ts", dates, "days_since_last_play"), KEYS)
    return out.mutate(plays_90d=ibis.coalesce(out.plays_90d, 0).cast("int64"))
