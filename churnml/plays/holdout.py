"""The holdout: a random, recorded share of eligible accounts whose alerts are kept un-routed, per risk band.

Stratifying by band keeps the held-out accounts as risky as the routed ones, so the comparison of their churn is
clean. Within each band of n new accounts, floor(share × n + u) are held out (u uniform): the share is exact in
expectation and never more than one account off in any week and band. The draw is seeded by (seed, as-of date),
so re-running a week holds out the same accounts.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd


def week_rng(seed: int, as_of: dt.date) -> np.random.Generator:
    """The holdout generator of one week: the same (seed, date) always draws the same accounts."""
    return np.random.default_rng([seed, as_of.toordinal()])


def assign_holdout(accounts: pd.DataFrame, share: float, rng: np.random.Generator) -> pd.Series:
    """Held-out flag per row of `accounts` (columns account_id, risk_band; one row per account), by band.

    Raises:
        ValueError: share outside [0, 1) or an account listed twice.
    """
    if not 0.0 <= share < 1.0:
        raise ValueError(f"plays.holdout must be in [0, 1), got {share}")
    if accounts["account_id"].duplicated().any():
        dup = accounts.loc[accounts["account_id"].duplicated(), "account_id"].iloc[0]
        raise ValueError(f"assign_holdout needs one row per account; {dup!r} is listed twice")
    held = pd.Series(False, index=accounts.index)
    ordered = accounts.sort_values("account_id", kind="stable")  # the draw never depends on the input order
    bands = ordered["risk_band"].astype(str)
    for band in sorted(bands.unique()):
        idx = ordered.index[bands == band]
        k = int(np.floor(share * len(idx) + rng.random()))
        if k:
            held.loc[idx[rng.permutation(len(idx))[:k]]] = True
    return held
