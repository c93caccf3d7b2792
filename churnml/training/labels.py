"""Churn labels for (account_id, as_of) rows, point-in-time: the outcome in the horizon after as_of.

Contractual (default): an account's subscriptions are merged into coverage blocks, a lapse followed by
reactivation within `grace_days` being no lapse. The row is churned if the block covering the as-of date
ends within `horizon_days` after it. Non-contractual: churned if the account has no event within the
horizon. Labels whose outcome is not fully observable at `observed_until` are null (not False): the
horizon (plus the grace period) has not passed, so training must not read them as "stayed" — and rows
whose churn already shows are null too, or the late rows would be churners only.

Revenue outcomes (contractual only, `outcome_labels`): MRR at a date is the MRR of the subscriptions covering
it (`covers`, the same predicate as churn's coverage and the `mrr` feature); inside a lapse that grace bridges,
it is the MRR at which coverage resumes. A row *contracted* when it did not churn and its MRR at the horizon is
below `contraction_below` × today's, *expanded* when above `expansion_above` × today's; churned rows are neither
(False). All three are null together until observable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis

from churnml.config import ForecastConfig, LabelsConfig
from churnml.data.dates import observed_until
from churnml.data.sources import Tables
from churnml.features.calendar import asof_table
from churnml.features.keys import KEYS, attach
from churnml.features.population import population

_FAR = dt.date(9999, 12, 31)

__all__ = ["contractual_labels", "coverage_blocks", "labels_expr", "non_contractual_labels", "observed_until"]


def covers(start: ibis.Value, end: ibis.Value, day: ibis.Value) -> ibis.Value:
    """A span [start, end] (end inclusive, null = open) covers as-of `day` if it started before it and has not
    ended before it. One definition for churn's coverage, the population and MRR at a date."""
    return (start < day) & (end.isnull() | (end >= day))


def coverage_blocks(subscriptions: ibis.Table, grace_days: int) -> ibis.Table:
    """Merge each account's subscriptions into blocks of continuous coverage (gaps <= grace are bridged).

    Returns (account_id, block_start, block_end) with block_end null while the block is open.
    Gaps-and-islands with window functions, so it runs unchanged on DuckDB and Spark.
    """
    s = subscriptions.select("account_id", "start_date", "end_date")
    s = s.mutate(end_f=ibis.coalesce(s.end_date, ibis.literal(_FAR)))
    order = [s.start_date, s.end_f]
    prev_end = s.end_f.max().over(ibis.window(group_by="account_id", order_by=order, rows=(None, -1)))
    s = s.mutate(prev_end=prev_end)
    new_block = s.prev_end.isnull() | (s.start_date.delta(s.prev_end, unit="day") > grace_days + 1)
    s = s.mutate(new_block=new_block.cast("int64"))
    s = s.mutate(
        block=s.new_block.sum().over(ibis.window(group_by="account_id", order_by=order, rows=(None, 0)))
    )
    blocks = s.group_by(["account_id", "block"]).aggregate(
        block_start=s.start_date.min(), _end=s.end_f.max()
    )
    return blocks.mutate(
        block_end=ibis.ifelse(blocks._end == ibis.literal(_FAR), ibis.null("date"), blocks._end)
    ).select("account_id", "block_start", "block_end")


def contractual_labels(
    spine: ibis.Table, subscriptions: ibis.Table, cfg: LabelsConfig, observed_until: dt.date
) -> ibis.Table:
    """churned / churn_date for the spine rows (each is covered by exactly one block)."""
    b = coverage_blocks(subscriptions, cfg.grace_days)
    j = spine.join(b, "account_id")
    j = j.filter(covers(j.block_start, j.block_end, j.as_of))
    horizon_end = j.as_of + ibis.interval(days=cfg.horizon_days)
    ends_in_horizon = j.block_end.notnull() & (j.block_end < horizon_end)
    observable = _observable(j.as_of, cfg, observed_until)
    churned = ibis.ifelse(observable, ends_in_horizon, ibis.null("boolean"))
    out = j.mutate(churned=churned, churn_date=ibis.ifelse(ends_in_horizon, j.block_end, ibis.null("date")))
    return out.select("account_id", "as_of", "churned", "churn_date")


def _observable(as_of: ibis.Value, cfg: LabelsConfig, observed_until: dt.date) -> ibis.Value:
    """Contractual outcomes are observable once the horizon and the grace period after it have passed.

    Labelling early rows whose churn already shows (and leaving the rest null) would select churners:
    all-or-nothing per row.
    """
    return (as_of + ibis.interval(days=cfg.horizon_days + cfg.grace_days)) <= ibis.literal(observed_until)


def mrr_at(subscriptions: ibis.Table, points: ibis.Table, day: str, grace_days: int) -> ibis.Table:
    """MRR of each (account_id, as_of) row of `points` at the date in its column `day`.

    The MRR of the subscriptions covering that date (`covers`); when none does but a subscription starts
    within `grace_days` (+1) on or after it — a lapse that grace bridges — the MRR at which coverage resumes.
    Accounts with neither get 0. Returns (account_id, as_of, mrr_at).
    """
    s = subscriptions.select("account_id", "start_date", "end_date", "mrr")
    p = points.select("account_id", "as_of", _day=points[day])
    j = p.join(s, "account_id")
    resumes = (j.start_date >= j._day) & (j.start_date <= j._day + ibis.interval(days=grace_days + 1))
    agg = j.group_by(KEYS).aggregate(
        _now=j.mrr.sum(where=covers(j.start_date, j.end_date, j._day)), _resume=j.start_date.min(where=resumes)
    )
    r = agg.filter(agg._now.isnull() & agg._resume.notnull())
    r = r.mutate(_day=r._resume + ibis.interval(days=1)).join(s, "account_id")
    resumed = r.group_by(KEYS).aggregate(_resumed=r.mrr.sum(where=covers(r.start_date, r.end_date, r._day)))
    out = attach(attach(p.select(*KEYS), agg, KEYS), resumed, KEYS)
    return out.select(*KEYS, mrr_at=ibis.coalesce(out._now, out._resumed, ibis.literal(0.0)))


def outcome_labels(
    spine: ibis.Table, subscriptions: ibis.Table, cfg: LabelsConfig, outcomes: ForecastConfig,
    observed_until: dt.date,
) -> ibis.Table:
    """Churn, contraction and expansion labels with the MRR at the horizon, for the spine rows.

    Returns (account_id, as_of, churned, churn_date, mrr_horizon, contracted, expanded): `mrr_horizon` is 0
    for churned rows; `contracted` / `expanded` are False for churned rows (churn is its own outcome); an
    account with no MRR today expands if it has any at the horizon. All null until observable.
    """
    churn = contractual_labels(spine, subscriptions, cfg, observed_until)
    keys = churn.select(*KEYS)
    now = mrr_at(subscriptions, keys.mutate(_d=keys.as_of), "_d", cfg.grace_days).rename(_m0="mrr_at")
    later = keys.mutate(_d=keys.as_of + ibis.interval(days=cfg.horizon_days))
    then = mrr_at(subscriptions, later, "_d", cfg.grace_days).rename(_mh="mrr_at")
    j = attach(attach(churn, now, KEYS), then, KEYS)
    known = j.churned.notnull()
    stayed = known & ~j.churned
    mrr_h = ibis.ifelse(known, ibis.ifelse(j.churned, ibis.literal(0.0), j._mh), ibis.null("float64"))
    shrank = ibis.ifelse(stayed, j._mh < j._m0 * outcomes.contraction_below, ibis.literal(False))
    grew = ibis.ifelse(stayed, j._mh > j._m0 * outcomes.expansion_above, ibis.literal(False))
    return j.select(
        *KEYS, "churned", "churn_date", mrr_horizon=mrr_h,
        contracted=ibis.ifelse(known, shrank, ibis.null("boolean")),
        expanded=ibis.ifelse(known, grew, ibis.null("boolean")),
    )


def non_contractual_labels(
    spine: ibis.Table, events: ibis.Table, dates: Sequence[dt.date], cfg: LabelsConfig,
    observed_until: dt.date,
) -> ibis.Table:
    """churned = no event in [as_of, as_of + horizon); churn_date = as_of when churned."""
    asof = asof_table(dates)
    hi = dt.datetime.combine(dates[-1] + dt.timedelta(days=cfg.horizon_days), dt.time())
    lo = dt.datetime.combine(dates[0], dt.time())
    ev = events.filter((events.ts >= lo) & (events.ts < hi))
    ev = ev.select("account_id", "ts")
    j = ev.join(
        asof,
        (ev.ts >= asof.as_of_ts) & (ev.ts < asof.as_of_ts + ibis.interval(days=cfg.horizon_days)),
    )
    seen = j.select("account_id", "as_of").distinct().mutate(_seen=ibis.literal(True))
    out = attach(spine, seen, KEYS)
    observable = out.as_of + ibis.interval(days=cfg.horizon_days) <= ibis.literal(observed_until)
    churned = ibis.ifelse(observable, out._seen.isnull(), ibis.null("boolean"))
    out = out.mutate(churned=churned)
    out = out.mutate(churn_date=ibis.ifelse(out.churned, out.as_of, ibis.null("date")))
    return out.select("account_id", "as_of", "churned", "churn_date")


def labels_expr(
    tables: Tables, dates: Sequence[dt.date], cfg: LabelsConfig, until: dt.date | None = None,
    spine: ibis.Table | None = None,
) -> ibis.Table:
    """Labels for the configured definition over the population at `dates`."""
    until = until if until is not None else observed_until(tables)
    spine = spine if spine is not None else population(tables, dates, cfg)
    if cfg.kind == "contractual":
        return contractual_labels(spine, tables["subscriptions"], cfg, until)
    return non_contractual_labels(spine, tables["events"], dates, cfg, until)


def outcome_labels_expr(
    tables: Tables, dates: Sequence[dt.date], cfg: LabelsConfig, outcomes: ForecastConfig,
    until: dt.date | None = None, spine: ibis.Table | None = None,
) -> ibis.Table:
    """`outcome_labels` over the population at `dates`.

    Raises:
        ValueError: the label definition is not contractual or there is no `subscriptions` table (revenue
            outcomes are read from subscription MRR).
    """
    if cfg.kind != "contractual" or "subscriptions" not in tables:
        raise ValueError(
            "revenue outcomes (contraction, expansion) need labels.kind=contractual and a 'subscriptions' "
            f"table with mrr; got kind={cfg.kind!r}, tables={sorted(tables.tables)}"
        )
    until = until if until is not None else observed_until(tables)
    spine = spine if spine is not None else population(tables, dates, cfg)
    return outcome_labels(spine, tables["subscriptions"], cfg, outcomes, until)
