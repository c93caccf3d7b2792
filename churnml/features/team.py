"""Team feature: employee NPS of the CS team that owns the account (morale moves customer health)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis

from churnml.features.calendar import seen_at_asof
from churnml.features.keys import attach

WINDOW_DAYS = 90


def team_features(
    spine: ibis.Table, accounts: ibis.Table, csm_enps: ibis.Table, dates: Sequence[dt.date]
) -> ibis.Table:
    """`csm_enps_90d`: 100 × (promoters − detractors) / answers of the owning CSM over the last 90 days."""
    e = seen_at_asof(csm_enps, "ts", dates, WINDOW_DAYS)
    block = e.group_by(["csm_id", "as_of"]).aggregate(
        _n=e.csm_id.count(),
        _net=e.csm_id.count(where=e.score >= 9) - e.csm_id.count(where=e.score <= 6),
    )
    # Cast before the literal: on Spark a bare 100.0 is a DECIMAL and the quotient would be rounded.
    enps = 100.0 * block._net.cast("float64") / block._n
    block = block.mutate(csm_enps_90d=enps).select("csm_id", "as_of", "csm_enps_90d")
    owners = accounts.select("account_id", "csm_id")
    out = attach(spine, owners, "account_id")
    out = attach(out, block, ["csm_id", "as_of"])
    return out.drop("csm_id")
