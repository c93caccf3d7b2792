"""The metrics CS leaders track, computed from the contract tables: pure pandas, frames in, frames out.

Revenue and logos (`revenue_monthly`): each month is read between two snapshots, the first day of the month
and the first day of the next. An account is a customer on a day if one of its coverage blocks covers it
(subscriptions merged, gaps of at most `grace_days` bridged, by `churnml.training.labels`); its MRR is the sum of
the MRR of the subscriptions running that day (inside a bridged gap: its latest subscription's MRR).

- churned: a customer at the start, not at the end; logo churn rate = churned / customers at the start,
  retention rate = 1 - logo churn rate.
- new: a customer at the end who had never been one before; reactivated: a customer at the end who had been
  one before and was not at the start (win-backs are neither new logos nor retained ones).
- GRR = (start MRR - churned MRR - contraction) / start MRR; NRR adds expansion. Both are computed on the
  customers at the start only, so new and reactivated revenue never inflates them.
- ARPA = start MRR / customers at the start; LTV = ARPA x gross margin / logo churn rate (undefined, NaN,
  in a month with no churn rather than infinite).

Experience (`experience_monthly`): NPS = % promoters (9-10) - % detractors (0-6) on the 0-10 answers; CSAT =
share of 4-5 answers on the 1-5 scale; CES = mean effort on the 1-7 scale (lower is easier), from surveys and,
separately, from tickets' effort scores; response rate = accounts that answered in the month / customers at
the start of it (there is no table of surveys sent). Missing surveys give NaN, never zeros. CSM team eNPS
(`enps_monthly`) uses the same formula on the team's 0-10 answers.

Every function takes `by` (None, "segment", "csm_id" or any static account column) to split the same
figures by segment or by CSM; `summarise_period` pools months the way the monthly rates are defined.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Columns of `revenue_monthly` that are counts or sums (pooled by addition in `summarise_period`).
REVENUE_SUMS: tuple[str, ...] = (
    "customers_start", "new", "reactivated", "churned", "customers_end",
    "mrr_start", "new_mrr", "reactivation_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "mrr_end",
)
ALL = "(all)"


# --------------------------------------------------------------------------- months and coverage


def month_starts(first: dt.date, last: dt.date) -> list[dt.date]:
    """First days of the months from `first`'s month to `last`'s month, inclusive."""
    out, d = [], dt.date(first.year, first.month, 1)
    while d <= last:
        out.append(d)
        d = dt.date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return out


def complete_months(as_of: dt.date, months: int) -> list[dt.date]:
    """The last `months` calendar months that ended on or before `as_of` (their first days)."""
    end = dt.date(as_of.year, as_of.month, 1)  # the month holding as_of is not complete (unless as_of is the 1st)
    starts = month_starts(dt.date(end.year - (months // 12 + 1), end.month, 1), end)
    return starts[:-1][-months:]


def _dates(col: pd.Series) -> pd.Series:
    return pd.to_datetime(col).dt.normalize()


def coverage_blocks(subscriptions: pd.DataFrame, grace_days: int = 0) -> pd.DataFrame:
    """(account_id, block_start, block_end) with gaps of at most `grace_days` bridged; block_end NaT = open.

    Computed by the label definition itself (`churnml.training.labels.coverage_blocks`, run on an in-process
    DuckDB), so the KPIs and the labels cannot disagree on what a churn is.
    """
    import ibis

    from churnml.training.labels import coverage_blocks as label_blocks

    subs = pd.DataFrame({
        "account_id": subscriptions["account_id"].astype(str),
        "start_date": _dates(subscriptions["start_date"]),
        "end_date": _dates(subscriptions["end_date"]),
    })
    table = ibis.memtable(subs, schema={"account_id": "string", "start_date": "timestamp", "end_date": "timestamp"})
    table = table.mutate(start_date=table.start_date.cast("date"), end_date=table.end_date.cast("date"))
    con = ibis.duckdb.connect()
    try:
        blocks = con.execute(label_blocks(table, grace_days))
    finally:
        con.disconnect()
    out = pd.DataFrame({
        "account_id": blocks["account_id"].astype(str),
        "block_start": pd.to_datetime(blocks["block_start"]),
        "block_end": pd.to_datetime(blocks["block_end"]),
    })
    return out.sort_values(["account_id", "block_start"], kind="stable").reset_index(drop=True)


def account_states(subscriptions: pd.DataFrame, days: Sequence[dt.date], grace_days: int = 0) -> pd.DataFrame:
    """Per (account_id, day): `active` (a customer that day), `mrr`, and `was_customer` (a block began earlier).

    Only accounts with at least one subscription appear; days are snapshot days (e.g. month starts).
    """
    day_ts = pd.to_datetime(pd.Series(list(days))).to_numpy()
    blocks = coverage_blocks(subscriptions, grace_days)
    accounts = np.sort(blocks["account_id"].unique())
    idx = {a: i for i, a in enumerate(accounts)}
    n, m = len(accounts), len(day_ts)
    active = np.zeros((n, m), dtype=bool)
    first = blocks.groupby("account_id")["block_start"].min().reindex(accounts).to_numpy()
    bi = blocks["account_id"].map(idx).to_numpy()
    bs = blocks["block_start"].to_numpy()[:, None]
    be = blocks["block_end"].fillna(pd.Timestamp.max.normalize()).to_numpy()[:, None]
    covers = (bs <= day_ts[None, :]) & (be >= day_ts[None, :])
    np.logical_or.at(active, bi, covers)

    subs = subscriptions.assign(
        account_id=subscriptions["account_id"].astype(str), start=_dates(subscriptions["start_date"]),
        end=_dates(subscriptions["end_date"]).fillna(pd.Timestamp.max.normalize()),
    )
    si = subs["account_id"].map(idx).to_numpy()
    ss, se = subs["start"].to_numpy()[:, None], subs["end"].to_numpy()[:, None]
    mrr_v = subs["mrr"].to_numpy(dtype=float)[:, None]
    running = (ss <= day_ts[None, :]) & (se >= day_ts[None, :])
    mrr = np.zeros((n, m))
    np.add.at(mrr, si, np.where(running, mrr_v, 0.0))
    has_running = np.zeros((n, m), dtype=bool)
    np.logical_or.at(has_running, si, running)
    gap = active & ~has_running
    if gap.any():  # inside a bridged gap: the latest subscription that started before the day
        order = subs.sort_values("start", kind="stable")
        for a, j in zip(*np.nonzero(gap), strict=True):
            rows = order[(order["account_id"] == accounts[a]) & (order["start"] <= day_ts[j])]
            mrr[a, j] = float(rows["mrr"].iloc[-1]) if len(rows) else 0.0
    mrr = np.where(active, mrr, 0.0)
    return pd.DataFrame({
        "account_id": np.repeat(accounts, m),
        "day": np.tile(pd.to_datetime(day_ts), n),
        "active": active.ravel(),
        "mrr": mrr.ravel(),
        "was_customer": (first[:, None] < day_ts[None, :]).ravel(),
    })


def group_of(accounts: pd.DataFrame | None, by: str | None, ids: pd.Series) -> pd.Series:
    """The `by` column of each account id (`ALL` when `by` is None; "(none)" for accounts without a value)."""
    if by is None:
        return pd.Series(ALL, index=ids.index)
    if accounts is None or by not in accounts.columns:
        raise ValueError(f"accounts have no column {by!r} to split by")
    lookup = dict(zip(accounts["account_id"].astype(str), accounts[by].astype(object), strict=True))
    return ids.astype(str).map(lookup).fillna("(none)").astype(str)


def _finish(out: pd.DataFrame, by: str | None) -> pd.DataFrame:
    out = out.rename(columns={"_group": by}) if by else out.drop(columns="_group")
    keys = ([by] if by else []) + ["month"]
    return out.sort_values(keys, kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- revenue and logos


def revenue_rates(t: pd.DataFrame, gross_margin: float = 1.0) -> pd.DataFrame:
    """Add the rates (churn, retention, GRR, NRR, ARPA, LTV) to a frame of `REVENUE_SUMS` columns."""
    t = t.copy()
    start = t["customers_start"].where(t["customers_start"] > 0)
    mrr0 = t["mrr_start"].where(t["mrr_start"] > 0)
    t["logo_churn_rate"] = t["churned"] / start
    t["retention_rate"] = 1.0 - t["logo_churn_rate"]
    t["grr"] = (t["mrr_start"] - t["churned_mrr"] - t["contraction_mrr"]) / mrr0
    t["nrr"] = (t["mrr_start"] - t["churned_mrr"] - t["contraction_mrr"] + t["expansion_mrr"]) / mrr0
    t["arpa"] = t["mrr_start"] / start
    t["ltv"] = t["arpa"] * gross_margin / t["logo_churn_rate"].where(t["logo_churn_rate"] > 0)
    return t


def revenue_monthly(
    subscriptions: pd.DataFrame,
    months: Sequence[dt.date],
    *,
    accounts: pd.DataFrame | None = None,
    by: str | None = None,
    grace_days: int = 0,
    gross_margin: float = 1.0,
) -> pd.DataFrame:
    """Logo and revenue movements per month (and per `by` group): see the module docstring for definitions.

    Args:
        subscriptions: account_id, start_date, end_date (null = open), mrr.
        months: first days of the months to report.
        accounts: account_id plus the `by` column (segment, csm_id...).
        by: split by this static account column; None for the whole base.
        grace_days: a lapse followed by a return within this many days is no churn.
        gross_margin: share of revenue kept, for LTV.
    """
    months = sorted(months)
    if not months:
        raise ValueError("no months to report")
    last = months[-1]
    edges = [*list(months), dt.date(last.year + last.month // 12, last.month % 12 + 1, 1)]
    st = account_states(subscriptions, edges, grace_days)  # account-major, one row per edge
    m = len(edges)
    ids = st["account_id"].to_numpy()[::m]
    act, mrr = st["active"].to_numpy().reshape(-1, m), st["mrr"].to_numpy().reshape(-1, m)
    s, e, r0, r1 = act[:, :-1], act[:, 1:], mrr[:, :-1], mrr[:, 1:]
    before = st["was_customer"].to_numpy().reshape(-1, m)[:, :-1]
    kept, diff = s & e, r1 - r0
    new, back = e & ~s & ~before, e & ~s & before
    cells = {
        "customers_start": s, "new": new, "reactivated": back, "churned": s & ~e, "customers_end": e,
        "mrr_start": np.where(s, r0, 0.0), "new_mrr": np.where(new, r1, 0.0),
        "reactivation_mrr": np.where(back, r1, 0.0), "expansion_mrr": np.where(kept, np.clip(diff, 0, None), 0.0),
        "contraction_mrr": np.where(kept, np.clip(-diff, 0, None), 0.0), "churned_mrr": np.where(s & ~e, r0, 0.0),
        "mrr_end": np.where(e, r1, 0.0),
    }
    groups = group_of(accounts, by, pd.Series(ids)).to_numpy()
    month_ts = [pd.Timestamp(x) for x in edges[:-1]]
    rows = []
    for col in REVENUE_SUMS:
        g = pd.DataFrame(cells[col].astype(float), columns=month_ts).groupby(groups).sum()
        rows.append(g.stack().rename(col))
    out = pd.concat(rows, axis=1).rename_axis(["_group", "month"]).reset_index()
    counts = ["customers_start", "new", "reactivated", "churned", "customers_end"]
    out[counts] = out[counts].astype("int64")
    return _finish(revenue_rates(out, gross_margin), by)


# --------------------------------------------------------------------------- experience


def nps(scores: pd.Series) -> float:
    """Net Promoter Score, -100..100: % of 9-10 answers minus % of 0-6 answers (NaN without answers)."""
    s = pd.Series(scores, dtype=float).dropna()
    if s.empty:
        return float("nan")
    return float(100.0 * ((s >= 9).mean() - (s <= 6).mean()))


def csat(scores: pd.Series) -> float:
    """CSAT: share of 4 and 5 answers on the 1-5 scale (NaN without answers)."""
    s = pd.Series(scores, dtype=float).dropna()
    return float((s >= 4).mean()) if len(s) else float("nan")


def ces(scores: pd.Series) -> float:
    """Customer Effort Score: mean answer on the 1-7 scale, lower is easier (NaN without answers)."""
    s = pd.Series(scores, dtype=float).dropna()
    return float(s.mean()) if len(s) else float("nan")


def month_of(ts: pd.Series) -> pd.Series:
    """First day of each timestamp's month."""
    return pd.to_datetime(ts).dt.to_period("M").dt.to_timestamp()


EXPERIENCE_COLUMNS: tuple[str, ...] = (
    "nps", "nps_responses", "csat", "csat_responses", "ces", "ces_responses", "ticket_ces", "ticket_ces_responses",
    "responding_accounts",
)


def _experience(sv: pd.DataFrame, tk: pd.DataFrame | None, keys: list[str]) -> pd.DataFrame:
    """Experience columns per `keys` cell, vectorised (the same formulas as `nps`, `csat`, `ces`)."""
    score, kind = sv["score"].astype(float), sv["kind"].astype(str)
    cells = sv[keys].copy()
    parts = []
    for name, k, value in (("nps", "nps", (score >= 9).astype(float) - (score <= 6).astype(float)),
                           ("csat", "csat", (score >= 4).astype(float)), ("ces", "ces", score)):
        sel = (kind == k) & score.notna()
        g = value[sel].groupby([cells.loc[sel, c] for c in keys])
        parts.append(pd.DataFrame({name: g.mean() * (100.0 if name == "nps" else 1.0),
                                   f"{name}_responses": g.size()}))
    parts.append(sv.groupby(keys)["account_id"].nunique().rename("responding_accounts").to_frame())
    if tk is not None:
        eff = tk["effort_score"].astype(float)
        sel = eff.notna()
        g = eff[sel].groupby([tk.loc[sel, c] for c in keys])
        parts.append(pd.DataFrame({"ticket_ces": g.mean(), "ticket_ces_responses": g.size()}))
    return pd.concat(parts, axis=1)


def experience_monthly(
    surveys: pd.DataFrame | None,
    months: Sequence[dt.date],
    *,
    accounts: pd.DataFrame | None = None,
    by: str | None = None,
    tickets: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """NPS, CSAT, CES (surveys and tickets' effort scores) and answer counts per month (and per `by` group).

    A month or group without answers has NaN scores and zero counts; `surveys` None means no survey table.
    Tickets count in the month they were closed (when the effort score is given), else opened.
    """
    months = sorted(pd.Timestamp(m) for m in months)
    sv = surveys if surveys is not None else pd.DataFrame(columns=["account_id", "ts", "kind", "score"])
    sv = sv.assign(month=month_of(sv["ts"]), _group=group_of(accounts, by, sv["account_id"]))
    sv = sv[sv["month"].isin(months)]
    tk = None
    if tickets is not None and "effort_score" in tickets.columns:
        when = tickets["closed_at"].fillna(tickets["opened_at"]) if "closed_at" in tickets else tickets["opened_at"]
        tk = tickets.assign(month=month_of(when), _group=group_of(accounts, by, tickets["account_id"]))
        tk = tk[tk["month"].isin(months)]
    groups = sorted(set(sv["_group"]) | (set(tk["_group"]) if tk is not None else set())) or [ALL]
    if by is not None and accounts is not None:
        groups = sorted(set(groups) | set(group_of(accounts, by, accounts["account_id"])))
    grid = pd.MultiIndex.from_product([groups, months], names=["_group", "month"])
    out = _experience(sv, tk, ["_group", "month"]).reindex(grid)
    for c in EXPERIENCE_COLUMNS:
        if c not in out.columns:
            out[c] = np.nan
    counts = [c for c in EXPERIENCE_COLUMNS if c.endswith("_responses") or c == "responding_accounts"]
    out[counts] = out[counts].fillna(0).astype("int64")
    out = out.reset_index()[["_group", "month", *EXPERIENCE_COLUMNS]]
    return _finish(out, by)


def response_rates(experience: pd.DataFrame, revenue: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """`experience` with `response_rate` = accounts that answered a survey / customers at the month's start."""
    keys = ([by] if by else []) + ["month"]
    j = experience.merge(revenue[[*keys, "customers_start"]], on=keys, how="left")
    j["response_rate"] = j["responding_accounts"] / j["customers_start"].where(j["customers_start"] > 0)
    return j


def enps_monthly(
    csm_enps: pd.DataFrame | None, months: Sequence[dt.date], *, by_csm: bool = False
) -> pd.DataFrame:
    """CSM team eNPS (same formula as NPS on the team's 0-10 answers) and answers per month (per CSM)."""
    cols = ["csm_id", "ts", "score"]
    e = csm_enps if csm_enps is not None else pd.DataFrame(columns=cols)
    e = e.assign(month=month_of(e["ts"]), csm_id=e["csm_id"].astype(str))
    rows = []
    for csm in sorted(e["csm_id"].unique()) if by_csm else [None]:
        for m in sorted(pd.Timestamp(x) for x in months):
            g = e[(e["month"] == m) & ((e["csm_id"] == csm) if csm is not None else True)]
            rows.append({"csm_id": csm, "month": m, "enps": nps(g["score"]), "enps_responses": len(g)})
    out = pd.DataFrame(rows, columns=["csm_id", "month", "enps", "enps_responses"])
    return out if by_csm else out.drop(columns="csm_id")


# --------------------------------------------------------------------------- pooled over a period


def summarise_period(
    revenue: pd.DataFrame,
    experience: pd.DataFrame | None = None,
    surveys: pd.DataFrame | None = None,
    *,
    accounts: pd.DataFrame | None = None,
    by: str | None = None,
    gross_margin: float = 1.0,
) -> pd.DataFrame:
    """One row per `by` group over all the months given: outcomes (monthly rates pooled over the months,
    i.e. summed movements over summed starting figures) beside experience (all answers in the months pooled).

    Args:
        revenue: `revenue_monthly` output for the same `by`.
        experience: `experience_monthly` output (for response rates and the months covered).
        surveys: the raw answers, pooled per group for NPS/CSAT/CES (only answers in the revenue months).
    """
    keys = [by] if by else []
    if keys:
        sums = revenue.groupby(keys)[list(REVENUE_SUMS)].sum().reset_index()
    else:
        sums = pd.DataFrame({c: [revenue[c].sum()] for c in REVENUE_SUMS})
    out = revenue_rates(sums, gross_margin)
    out["months"] = revenue["month"].nunique()
    if surveys is not None and len(surveys):
        months = set(pd.to_datetime(revenue["month"]))
        sv = surveys[month_of(surveys["ts"]).isin(months)]
        sv = sv.assign(_group=group_of(accounts, by, sv["account_id"]))
        e = _experience(sv, None, ["_group"]).drop(columns="responding_accounts").reset_index()
        for c in ("nps", "csat", "ces"):
            e[f"{c}_responses"] = e[f"{c}_responses"].fillna(0).astype("int64")
        if by:
            out = out.merge(e.rename(columns={"_group": by}), on=by, how="left")
        else:
            out = pd.concat([out.reset_index(drop=True), e.drop(columns="_group").reset_index(drop=True)], axis=1)
    else:
        for c in ("nps", "csat", "ces"):
            out[c], out[f"{c}_responses"] = np.nan, 0
    if experience is not None:
        answered = experience["responding_accounts"]
        resp = answered.groupby(experience[by]).sum() if by else answered.sum()
        cs = revenue.groupby(keys)["customers_start"].sum() if keys else revenue["customers_start"].sum()
        rate = resp / cs.where(cs > 0) if keys else (resp / cs if cs else np.nan)
        if keys:
            out = out.merge(rate.rename("response_rate").reset_index(), on=keys, how="left")
        else:
            out["response_rate"] = rate
    return out


__all__ = [
    "ALL", "EXPERIENCE_COLUMNS", "REVENUE_SUMS", "account_states", "ces", "complete_months", "coverage_blocks", "csat",
    "enps_monthly", "experience_monthly", "group_of", "month_of", "month_starts", "nps", "response_rates",
    "revenue_monthly", "revenue_rates", "summarise_period",
]
