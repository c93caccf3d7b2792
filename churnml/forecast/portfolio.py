"""The retention forecast of a portfolio at one as-of date (pure): GRR, NRR, renewing ARR and ARR at risk.

For the next horizon, per reported group (all accounts, and each value of `by`) and per renewal month inside
the horizon: expected GRR and NRR with central intervals from `churnml.forecast.montecarlo`, ARR today,
renewing ARR (accounts whose renewal falls inside the horizon), expected ARR at risk (churn and contraction,
12 × (MRR today − expected gross MRR kept)). Per account: the three probabilities and the expected MRR at
the horizon.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnml.config import ForecastConfig
from churnml.forecast.montecarlo import OUTCOME_ORDER, Portfolio, draw_revenue, expected_mrr
from churnml.forecast.params import POOLED, ForecastParams

ALL = "all"


@dataclass(frozen=True)
class Forecast:
    """A forecast: `groups` (one row per reported group), `renewals` (per renewal month), `accounts`."""

    as_of: dt.date
    horizon_days: int
    by: str | None
    groups: pd.DataFrame
    renewals: pd.DataFrame
    accounts: pd.DataFrame


def portfolio_of(frame: pd.DataFrame, probs: pd.DataFrame) -> Portfolio:
    """Portfolio arrays from a feature frame (mrr, segment) and probabilities (columns `OUTCOME_ORDER`).

    Raises:
        ValueError: a column is missing (named).
    """
    missing = [c for c in OUTCOME_ORDER if c not in probs.columns] + [c for c in ("mrr",) if c not in frame]
    if missing:
        raise ValueError(f"cannot forecast: columns {missing} missing")
    seg = frame["segment"].astype(str).fillna(POOLED) if "segment" in frame else pd.Series(POOLED, index=frame.index)
    codes, segments = pd.factorize(seg, sort=True)
    mrr = frame["mrr"].to_numpy(dtype=float)
    return Portfolio(np.nan_to_num(mrr), probs[list(OUTCOME_ORDER)].to_numpy(float), codes, list(segments))


def _membership(labels: pd.Series) -> tuple[list[str], np.ndarray]:
    codes, levels = pd.factorize(labels.astype(str), sort=True)
    return list(levels), np.eye(len(levels), dtype=bool)[codes] if len(levels) else np.zeros((len(labels), 0), bool)


def summarise(
    gross: np.ndarray, net: np.ndarray, base: np.ndarray, expected_gross: np.ndarray, levels: tuple[float, ...],
) -> pd.DataFrame:
    """One row per group: expected GRR / NRR, their spread (`*_sd`) and central intervals (quantiles of the
    draws), ARR, expected ARR at risk."""
    safe = np.where(base > 0, base, np.nan)
    out: dict[str, np.ndarray] = {"arr": 12 * base}
    for name, x in (("grr", gross / safe), ("nrr", net / safe)):
        mean = np.nanmean(x, axis=0)
        out[name], out[f"{name}_sd"] = mean, np.nanstd(x, axis=0)
        for level in levels:
            tail, pct = (1 - level) / 2, round(level * 100)
            out[f"{name}_lo{pct}"] = np.nanquantile(x, tail, axis=0)
            out[f"{name}_hi{pct}"] = np.nanquantile(x, 1 - tail, axis=0)
    out["arr_at_risk"] = 12 * (base - expected_gross)
    return pd.DataFrame(out)


def forecast_portfolio(
    frame: pd.DataFrame,
    probs: pd.DataFrame,
    params: ForecastParams,
    cfg: ForecastConfig,
    as_of: dt.date,
    by: str | None = None,
) -> Forecast:
    """Forecast the next horizon for the accounts of `frame` (one row each, with mrr, segment, days_to_renewal).

    Args:
        frame: features at `as_of` (plus the `by` column, e.g. csm_id, when reported by it).
        probs: calibrated probabilities, columns `OUTCOME_ORDER`, aligned with `frame`.
        params: amounts and σ (`churnml.forecast.params`).
        cfg: draws, levels, seed.
        as_of: the forecast date.
        by: column to report groups by (None: the whole portfolio only).

    Raises:
        ValueError: `by` is not a column of `frame`.
    """
    if by is not None and by not in frame.columns:
        raise ValueError(f"cannot forecast by {by!r}: no such column (have {sorted(frame.columns)[:20]}…)")
    frame = frame.reset_index(drop=True)
    pf = portfolio_of(frame, probs.reset_index(drop=True))
    e_net, e_gross = expected_mrr(pf, params)
    horizon = params.horizon_days
    to_renewal = frame["days_to_renewal"] if "days_to_renewal" in frame else pd.Series(np.nan, index=frame.index)
    renews = to_renewal.notna() & (to_renewal < horizon)
    month = (pd.Timestamp(as_of) + pd.to_timedelta(to_renewal.fillna(0), unit="D")).dt.strftime("%Y-%m")
    names, blocks = [ALL], [np.ones((len(frame), 1), bool)]
    if by is not None:
        levels, member = _membership(frame[by].fillna("(none)"))
        names += levels
        blocks.append(member)
    months, member = _membership(month.where(renews, "_"))
    keep = [i for i, m in enumerate(months) if m != "_"]
    member = member[:, keep]
    member &= renews.to_numpy()[:, None]
    groups = np.hstack([*blocks, member])
    gross, net = draw_revenue(pf, params, groups, cfg.draws, cfg.seed)
    base = pf.mrr @ groups
    table = summarise(gross, net, base, e_gross @ groups, cfg.levels)
    table.insert(0, "accounts", groups.sum(axis=0))
    table["renewing_arr"] = 12 * (pf.mrr * renews.to_numpy()) @ groups
    n_main = len(names)
    main = table.iloc[:n_main].reset_index(drop=True)
    main.insert(0, by or "group", names)
    renewals = table.iloc[n_main:].reset_index(drop=True)
    renewals.insert(0, "renewal_month", [months[i] for i in keep])
    accounts = pd.DataFrame(
        {
            "account_id": frame["account_id"].to_numpy(),
            "mrr": pf.mrr,
            **{f"p_{o}": pf.p[:, i] for i, o in enumerate(OUTCOME_ORDER)},
            "expected_mrr_horizon": e_net,
            "expected_mrr_at_risk": pf.mrr - e_gross,
            "renews_in_horizon": renews.to_numpy(),
        }
    )
    return Forecast(as_of, horizon, by, main, renewals, accounts)
