"""The report's KPI tiles: each figure over the period, trailing and annualised, against the period before (pure).

A CS leader reads retention over a year, not per month, and always against last year. So each rate tile gives:

- **trailing** (the period as one cohort): of the customers at the period's first day, the share still a
  customer on the day after its last month (logo retention; churn is its complement), and their MRR then over
  their MRR at the start — capped per account at the start MRR for GRR, uncapped for NRR. With 12 reported months
  this is the trailing-12-month figure boards use; new and reactivated customers never count.
- **annualised**: the pooled monthly rate compounded to twelve months (GRR¹², NRR¹², 1 − (1 − churn)¹²), the
  figure to compare across periods of other lengths.
- **monthly**: the pooled monthly rate (movements summed over start-of-month figures), as before.
- **change**: against the same number of months just before the period, where the data reaches back. With
  fewer months there the rates are compared annualised (and the tile says so); with fewer than
  `MIN_PRIOR_MONTHS`, or none, the tile says there is nothing to compare with.

LTV states the gross margin it used; CAC is shown formatted, or says plainly that acquisition costs are missing
and how to add them.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churnml.features.units import format_value
from churnml.reporting import kpi

COSTS_MISSING = "add acquisition costs with --costs FILE (or an acquisition_costs table beside the data)"
#: A period before shorter than this is not compared with (one month of a year says little about the year).
MIN_PRIOR_MONTHS = 3
NO_PRIOR = "no earlier period in the data to compare with"


@dataclass(frozen=True)
class Period:
    """One period's figures: the pooled summary row and the period read as one cohort (`trailing`)."""

    months: list[dt.date]
    overall: dict[str, Any]
    trailing: dict[str, float]

    @property
    def label(self) -> str:
        return f"{self.months[0]:%b %Y} – {self.months[-1]:%b %Y}"


@dataclass
class Tile:
    """One tile: `key` (stable, for tests and CSS), headline `value`, `label`, detail `lines`, `change`."""

    key: str
    label: str
    value: str
    lines: list[str] = field(default_factory=list)
    change: str = ""
    tone: str = ""  # good | bad | "" (no change or no direction)


def next_month(d: dt.date) -> dt.date:
    return dt.date(d.year + d.month // 12, d.month % 12 + 1, 1)


def prior_months(months: list[dt.date], first_month: dt.date) -> list[dt.date]:
    """The `len(months)` months just before `months[0]`, those on or after `first_month` only."""
    start = months[0]
    out: list[dt.date] = []
    d = start
    for _ in months:
        d = dt.date(d.year - (d.month == 1), (d.month - 2) % 12 + 1, 1)
        if d < first_month:
            break
        out.append(d)
    return sorted(out)


def trailing(subscriptions: pd.DataFrame, months: list[dt.date], grace_days: int = 0) -> dict[str, float]:
    """The period as one cohort: customers at `months[0]` followed to the first day after the last month.

    Returns customers, logo_churn, logo_retention, grr, nrr (NaN without customers or MRR at the start).
    """
    start, end = months[0], next_month(months[-1])
    st = kpi.account_states(subscriptions, [start, end], grace_days)
    first = st[st["day"] == pd.Timestamp(start)].set_index("account_id")
    last = st[st["day"] == pd.Timestamp(end)].set_index("account_id").reindex(first.index)
    base = first["active"].to_numpy()
    n = int(base.sum())
    mrr0, mrr1 = first["mrr"].to_numpy()[base], last["mrr"].to_numpy()[base]
    stayed = last["active"].to_numpy()[base]
    total = float(mrr0.sum())
    nan = float("nan")
    return {
        "customers": float(n),
        "logo_churn": float(1 - stayed.mean()) if n else nan,
        "logo_retention": float(stayed.mean()) if n else nan,
        "grr": float(np.minimum(mrr0, mrr1).sum() / total) if total > 0 else nan,
        "nrr": float(mrr1.sum() / total) if total > 0 else nan,
    }


def annualised(overall: dict[str, Any]) -> dict[str, float]:
    """Pooled monthly rates compounded to twelve months."""
    return {"logo_churn": 1 - (1 - float(overall["logo_churn_rate"])) ** 12,
            "grr": float(overall["grr"]) ** 12, "nrr": float(overall["nrr"]) ** 12}


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


#: Report cell kinds as a catalog unit and a fixed number of decimals (the one unit format, features.units).
_UNITS: dict[str, tuple[str, int]] = {"pct": ("%", 1), "money": ("USD", 0), "int": ("", 0), "num": ("", 1),
                                      "ratio": ("", 2), "times": ("ratio", 1)}


def fmt(value: Any, kind: str) -> str:
    """Every number of the report as a person reads it ("–" when missing)."""
    if _missing(value):
        return "–"
    if kind not in _UNITS:
        return str(value)
    unit, decimals = _UNITS[kind]
    return format_value(float(value), unit, decimals=decimals)


def _change(now: Any, before: Any, kind: str, higher_is_better: bool | None, prior: Period | None) -> tuple[str, str]:
    if prior is None:
        return NO_PRIOR, ""
    if _missing(now) or _missing(before):
        return f"vs {prior.label}: –", ""
    diff = float(now) - float(before)
    arrow = "▲" if diff > 0 else "▼" if diff < 0 else "="
    if kind == "pct":
        text = f"{arrow} {abs(100 * diff):.1f} pts"
    elif kind == "num":
        text = f"{arrow} {abs(diff):,.1f} pts"
    elif kind in ("money", "times"):
        text = f"{arrow} {abs(diff) / abs(float(before)):.1%}" if float(before) else f"{arrow} {fmt(abs(diff), kind)}"
    else:
        text = f"{arrow} {abs(diff):,.{2 if kind == 'ratio' else 1}f}"
    tone = "" if diff == 0 or higher_is_better is None else ("good" if (diff > 0) == higher_is_better else "bad")
    return f"{text} vs {prior.label}", tone


def _rate_tile(key: str, name: str, cur: Period, prior: Period | None, higher_is_better: bool) -> Tile:
    """A retention-rate tile: trailing figure, annualised and monthly beside it, change of the trailing figure."""
    monthly_col = {"logo_churn": "logo_churn_rate"}.get(key, key)
    window = "trailing 12 months" if len(cur.months) == 12 else f"trailing {len(cur.months)} months"
    if prior is not None and len(prior.months) != len(cur.months):  # unlike windows: compare annualised rates
        change, tone = _change(annualised(cur.overall)[key], annualised(prior.overall)[key], "pct",
                               higher_is_better, prior)
        change += f" (annualised: the data holds only {len(prior.months)} months before the period)"
    else:
        change, tone = _change(cur.trailing[key], prior.trailing[key] if prior else None, "pct", higher_is_better,
                               prior)
    return Tile(key, f"{name}, {window}", fmt(cur.trailing[key], "pct"),
                [f"annualised from monthly: {fmt(annualised(cur.overall)[key], 'pct')}",
                 f"monthly: {fmt(cur.overall[monthly_col], 'pct')}"], change, tone)


def _plain_tile(key: str, label: str, kind: str, cur: Period, prior: Period | None,
                higher_is_better: bool | None, lines: list[str] | None = None) -> Tile:
    now = cur.overall.get(key)
    change, tone = _change(now, prior.overall.get(key) if prior else None, kind, higher_is_better, prior)
    return Tile(key, label, fmt(now, kind), lines or [], change, tone)


def kpi_tiles(cur: Period, prior: Period | None, *, gross_margin: float, has_costs: bool) -> list[Tile]:
    """Every tile of the report's head, in reading order (see the module docstring)."""
    if prior is not None and len(prior.months) < MIN_PRIOR_MONTHS:
        prior = None
    margin = (f"at {gross_margin:.0%} gross margin (the default: set reporting.gross_margin or --gross-margin)"
              if gross_margin == 1.0 else f"at {gross_margin:.0%} gross margin (reporting.gross_margin / "
              "--gross-margin)")
    tiles = [
        _rate_tile("logo_churn", "logo churn", cur, prior, False),
        _rate_tile("grr", "GRR", cur, prior, True),
        _rate_tile("nrr", "NRR", cur, prior, True),
        _plain_tile("arpa", "ARPA (monthly)", "money", cur, prior, True),
        _plain_tile("ltv", "LTV", "money", cur, prior, True,
                    [f"ARPA × margin ÷ monthly logo churn, {margin}"]),
    ]
    if has_costs:
        tiles.append(_plain_tile("cac", "CAC (per new logo)", "money", cur, prior, False,
                                 ["from the acquisition costs given"]))
        tiles.append(_plain_tile("ltv_cac", "LTV:CAC", "times", cur, prior, True, ["LTV ÷ CAC"]))
    else:
        tiles.append(Tile("cac", "CAC and LTV:CAC", "not provided", [COSTS_MISSING], NO_PRIOR))
    tiles += [
        _plain_tile("nps", "NPS", "num", cur, prior, True, ["% promoters − % detractors"]),
        _plain_tile("csat", "CSAT", "pct", cur, prior, True, ["share of 4–5 answers"]),
        _plain_tile("ces", "CES (survey)", "ratio", cur, prior, False, ["1 easy – 7 hard"]),
    ]
    return tiles


__all__ = ["COSTS_MISSING", "MIN_PRIOR_MONTHS", "NO_PRIOR", "Period", "Tile", "annualised", "fmt", "kpi_tiles",
           "next_month", "prior_months", "trailing"]
