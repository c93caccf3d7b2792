"""Buy-till-you-die features for non-contractual businesses: P(alive) and expected activity in the horizon.

At each as-of date D a BG/NBD model (`churnml.features.bgnbd`) is fitted on the summaries of every customer with
activity before D — and only on rows before D — then each customer's P(alive) and expected active days in the
next `labels.horizon_days` are read off it. A transaction is an *active day* (a day with any event): repeated
rows on one day, common in purchase logs, are one transaction, as in the usual RFM summaries.

Per customer and date the summary is x = active days before D minus one, t_x = last active day - first, T = D -
first active day (in weeks for the fit). It is computed in portable Ibis in one pass, as `usage` does its
windows: each active day is "the latest one" for a contiguous run of as-of dates (until the next active day),
written as a +value at the run's start and a -value after its end, and a running sum over the as-of index adds
them up. The per-date fits run in Python on that small table (one row per customer and date) and the result is
joined back as a memtable, so DuckDB and Spark get the same numbers.

Point in time: rows on or after D never enter the summaries at D, nor the fit at D (the fit is a pure function of
that date's summaries; tests/data/features/test_buyer.py adds future rows and checks nothing changes). When
features are built for a few accounts only (fresh scores), the fit still uses every customer's rows before D, so
one account's values equal the batch's.
"""

from __future__ import annotations

import bisect
import datetime as dt
import logging
from collections.abc import Sequence

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from churnml.config import BuyerFeaturesConfig, LabelsConfig
from churnml.features import bgnbd
from churnml.features.catalog import FeatureSpec
from churnml.features.keys import KEYS, attach

log = logging.getLogger(__name__)

_EPOCH = dt.date(1970, 1, 1)
_WEEK = 7.0
P_ALIVE = "btyd_p_alive"
EXPECTED = "btyd_expected_active_days"


def buyer_specs(labels: LabelsConfig) -> list[FeatureSpec]:
    """Registry entries of the two BG/NBD features."""
    req = (("events", "ts"),)
    return [
        FeatureSpec(P_ALIVE, "Probability the customer is still active (BG/NBD model of their activity so far)",
                    "usage", "%", requires=req),
        FeatureSpec(EXPECTED, f"Expected active days in the next {labels.horizon_days} days (BG/NBD model)",
                    "usage", "days", requires=req),
    ]


def buyer_enabled(cfg: BuyerFeaturesConfig, labels: LabelsConfig) -> bool:
    """`features.buyer`: on, off, or auto (on for non-contractual labels)."""
    return cfg.mode == "on" or (cfg.mode == "auto" and labels.kind == "non_contractual")


def _day_number(d: dt.date) -> int:
    return (d - _EPOCH).days


def _index_of_day(dates: Sequence[dt.date]) -> ibis.Table:
    """(day, c): c = number of as-of dates on or before the day, for days dates[0] .. dates[-1] - 1."""
    days = [dates[0] + dt.timedelta(days=i) for i in range((dates[-1] - dates[0]).days)]
    c = [bisect.bisect_right(dates, d) for d in days]
    return ibis.memtable(pa.table({"day": pa.array(days, pa.date32()), "c": pa.array(c, pa.int32())}))


def buyer_summary(events: ibis.Table, dates: Sequence[dt.date]) -> ibis.Table:
    """(account_id, as_of, x, t_x, T) in days, for every account with an event before each as-of date.

    Only rows with ts before an as-of date's midnight count towards it.
    """
    n = len(dates)
    ev = events.filter(events.ts < dt.datetime.combine(dates[-1], dt.time()))
    days = ev.select("account_id", day=ev.ts.date()).distinct()
    dn = days.day.delta(ibis.date(_EPOCH), unit="day").cast("int64")
    w = ibis.window(group_by="account_id", order_by="day")
    days = days.mutate(
        next_day=days.day.lead().over(w), k=(ibis.row_number().over(w) + 1).cast("int64"), dn=dn,
        f=dn.min().over(ibis.window(group_by="account_id")),
    )
    # Days before the first as-of date are before every date: index 0 (no match in the day index).
    idx = _index_of_day(dates)
    j = days.join(idx, "day", how="left")
    j = j.select(*days.columns, start=ibis.coalesce(j.c, 0))
    j = j.join(idx.select(next_day=idx.day, c_next=idx.c), "next_day", how="left")
    end = ibis.ifelse(j.next_day.isnull(), n, ibis.coalesce(j.c_next, 0))
    runs = j.select(*days.columns, "start", end=end.cast("int32"))
    runs = runs.filter(runs.start < runs.end)
    starts = runs.select("account_id", idx=runs.start, k=runs.k, dn=runs.dn, f=runs.f)
    ends = runs.filter(runs.end < n).select("account_id", idx=runs.end, k=-runs.k, dn=-runs.dn, f=-runs.f)
    deltas = ibis.union(starts, ends, distinct=False)
    per_index = deltas.group_by(["account_id", "idx"]).aggregate(k=deltas.k.sum(), dn=deltas.dn.sum(), f=deltas.f.sum())
    as_of = ibis.memtable(pa.table({
        "idx": pa.array(range(n), pa.int32()), "as_of": pa.array(list(dates), pa.date32()),
        "as_of_dn": pa.array([_day_number(d) for d in dates], pa.int64()),
    }))
    grid = per_index.select("account_id").distinct().cross_join(as_of)
    dense = grid.join(per_index, ["account_id", "idx"], how="left")
    running = ibis.cumulative_window(group_by="account_id", order_by="idx")
    s = dense.select(
        "account_id", "as_of", "as_of_dn",
        **{c: ibis.coalesce(dense[c], 0).sum().over(running) for c in ("k", "dn", "f")},
    )
    s = s.filter(s.k > 0)
    return s.select("account_id", "as_of", x=s.k - 1, t_x=s.dn - s.f, T=s.as_of_dn - s.f)


def predict_frame(summary: pd.DataFrame, horizon_days: int, min_customers: int) -> pd.DataFrame:
    """(account_id, as_of, btyd_p_alive, btyd_expected_active_days): one BG/NBD fit per as-of date.

    `summary` is `buyer_summary`'s rows (days). A date with fewer than `min_customers` customers, or whose fit
    gives no finite numbers, gets nulls (logged).
    """
    parts = []
    for as_of, g in summary.groupby("as_of", sort=True):
        x, t_x, T = (g[c].to_numpy(float) for c in ("x", "t_x", "T"))
        p = np.full(len(g), np.nan)
        e = np.full(len(g), np.nan)
        if len(g) >= min_customers:
            params = bgnbd.fit(x, t_x / _WEEK, T / _WEEK)
            if not params.converged:
                log.warning("BG/NBD fit at %s did not converge (%d customers): %s", as_of, len(g), params)
            p = bgnbd.p_alive(params, x, t_x / _WEEK, T / _WEEK)
            e = bgnbd.expected_transactions(params, horizon_days / _WEEK, x, t_x / _WEEK, T / _WEEK)
        else:
            log.warning("BG/NBD features at %s are null: %d customers with history, fewer than "
                        "features.buyer.min_customers=%d", as_of, len(g), min_customers)
        parts.append(pd.DataFrame({"account_id": g["account_id"].to_numpy(), "as_of": g["as_of"].to_numpy(),
                                   P_ALIVE: p, EXPECTED: e}))
    if not parts:
        return pd.DataFrame({"account_id": pd.Series([], dtype=summary["account_id"].dtype),
                             "as_of": pd.Series([], dtype="object"), P_ALIVE: np.array([], float),
                             EXPECTED: np.array([], float)})
    return pd.concat(parts, ignore_index=True)


def buyer_features(
    spine: ibis.Table, fit_events: ibis.Table, dates: Sequence[dt.date], labels: LabelsConfig,
    cfg: BuyerFeaturesConfig,
) -> ibis.Table:
    """BG/NBD features for the (account_id, as_of) rows of `spine`; null for accounts without history.

    Executes the summary query now (the fit needs numbers); the result is an Ibis table joined to `spine`.

    Args:
        fit_events: events the models are fitted on: the whole table, even when `spine` holds a few accounts.
    """
    summary = buyer_summary(fit_events, dates).to_pandas()
    summary["as_of"] = pd.to_datetime(summary["as_of"]).dt.date
    pred = predict_frame(summary, labels.horizon_days, cfg.min_customers)
    table = pa.Table.from_pandas(pred, preserve_index=False)
    table = table.set_column(1, "as_of", pa.array(list(pred["as_of"]), pa.date32()))
    result = ibis.memtable(table)
    out = attach(spine, result, KEYS)
    return out.select(*KEYS, P_ALIVE, EXPECTED)
