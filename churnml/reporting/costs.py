"""Acquisition cost against lifetime value: CAC per new logo and LTV:CAC, overall or split like the KPIs (pandas)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnml.reporting.kpi import ALL, group_of, month_of


def cac(
    costs: pd.DataFrame,
    revenue: pd.DataFrame,
    *,
    accounts: pd.DataFrame | None = None,
    by: str | None = None,
) -> pd.DataFrame:
    """Customer acquisition cost per `by` group.

    `costs` is either per account (account_id, cost: CAC = mean cost of the accounts costed) or per period
    (month and optionally segment, cost: CAC = cost of the months reported / new logos won in them, taken
    from `revenue`, so reactivations are not counted as acquisitions).

    Raises:
        ValueError: `costs` has neither an account_id nor a month column, or no cost column.
    """
    if "cost" not in costs.columns:
        raise ValueError("acquisition costs need a 'cost' column")
    keys = [by] if by else []
    if "account_id" in costs.columns:
        c = costs.assign(_group=group_of(accounts, by, costs["account_id"]))
        out = c.groupby("_group").agg(acquisition_cost=("cost", "sum"), acquired=("cost", "size")).reset_index()
    elif "month" in costs.columns:
        c = costs.assign(month=month_of(costs["month"]))
        c = c[c["month"].isin(set(pd.to_datetime(revenue["month"])))]
        if by and by in c.columns:
            c = c.assign(_group=c[by].astype(str))
        elif by:
            raise ValueError(f"per-month acquisition costs have no {by!r} column to split by")
        else:
            c = c.assign(_group=ALL)
        spent = c.groupby("_group")["cost"].sum().rename("acquisition_cost")
        won = revenue.groupby(keys)["new"].sum() if keys else pd.Series({ALL: revenue["new"].sum()})
        out = pd.concat([spent, won.rename("acquired")], axis=1).rename_axis("_group").reset_index()
        out["acquisition_cost"] = out["acquisition_cost"].fillna(0.0)
    else:
        raise ValueError("acquisition costs need an 'account_id' or a 'month' column")
    out["cac"] = out["acquisition_cost"] / out["acquired"].where(out["acquired"] > 0)
    return out.rename(columns={"_group": by}) if by else out.drop(columns="_group")


def ltv_cac(summary: pd.DataFrame, cac_table: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """`summary` (from `summarise_period`) with `cac` and `ltv_cac` = LTV / CAC beside it."""
    if by:
        out = summary.merge(cac_table[[by, "cac"]], on=by, how="left")
    else:
        out = summary.assign(cac=float(cac_table["cac"].iloc[0]) if len(cac_table) else np.nan)
    out["ltv_cac"] = out["ltv"] / out["cac"].where(out["cac"] > 0)
    return out


__all__ = ["cac", "ltv_cac"]
