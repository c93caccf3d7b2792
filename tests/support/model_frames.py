"""Synthetic training frames for model tests: weekly as-of rows per account with a latent, nonlinear signal.

Shaped like `churnml.features.build_training_frame` output: keys, float64 features with NaN for absent
signals, `category` columns, `mrr`, `segment`, nullable-boolean `churned` (null where the horizon is not yet
observed) and `churn_date`. The true churn probability of each row is returned in `p_true` when asked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SEGMENTS = ["SMB", "MidMarket", "Enterprise"]
INDUSTRIES = ["Retail", "Media", "Finance", "Health", "Tech"]
REGIONS = ["NA", "EMEA", "APAC"]


def make_frame(
    n_accounts: int = 400,
    n_weeks: int = 40,
    seed: int = 0,
    horizon_days: int = 28,
    start: str = "2024-01-01",
    unobserved_weeks: int | None = None,
    with_truth: bool = False,
) -> pd.DataFrame:
    """A synthetic training frame.

    The risk is nonlinear on purpose (a U-shape in seat utilisation, an interaction between tickets and
    sentiment, a threshold in days since last event), so trees beat a linear model.

    Args:
        n_accounts / n_weeks: rows = accounts x weekly as-of dates.
        seed: random seed.
        horizon_days: label horizon, only used to null out the last rows' labels.
        start: first as-of date (weekly after that).
        unobserved_weeks: how many final weeks have null labels (default: horizon in weeks).
        with_truth: keep the `p_true` column (the probability labels were drawn from).
    """
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=n_weeks, freq="7D")
    acc = pd.DataFrame(
        {
            "account_id": [f"A{i:05d}" for i in range(n_accounts)],
            "segment": rng.choice(SEGMENTS, n_accounts, p=[0.6, 0.3, 0.1]),
            "industry": rng.choice(INDUSTRIES, n_accounts),
            "region": rng.choice(REGIONS, n_accounts),
            "base": rng.normal(0, 1, n_accounts),
        }
    )
    seg_mrr = acc["segment"].map({"SMB": 300.0, "MidMarket": 2000.0, "Enterprise": 12000.0}).to_numpy()
    acc["mrr"] = seg_mrr * rng.lognormal(0, 0.4, n_accounts)
    # Latent health: account baseline + a random walk over weeks.
    walk = np.cumsum(rng.normal(0, 0.25, (n_accounts, n_weeks)), axis=1)
    health = acc["base"].to_numpy()[:, None] + walk
    df = pd.DataFrame(
        {
            "account_id": np.repeat(acc["account_id"].to_numpy(), n_weeks),
            "as_of": np.tile(dates.to_numpy(), n_accounts),
            "health": health.ravel(),
        }
    )
    df = df.merge(acc.drop(columns="base"), on="account_id", how="left")
    n = len(df)
    h = df["health"].to_numpy()
    df["events_30d"] = rng.poisson(np.exp(3 + 0.5 * h)).astype("float64")
    df["seat_utilisation_30d"] = np.clip(0.6 + 0.2 * h + rng.normal(0, 0.1, n), 0, 1.5)
    df["days_since_last_event"] = np.where(
        h < -1.0, rng.integers(10, 60, n), rng.integers(0, 10, n)
    ).astype("float64")
    df["tickets_open_high_14d"] = rng.poisson(np.exp(-0.5 - 0.6 * h)).astype("float64")
    nps = np.clip(np.round(7 + 1.5 * h + rng.normal(0, 1.5, n)), 0, 10)
    answered = rng.random(n) < 0.35
    df["nps_latest"] = np.where(answered, nps, np.nan)
    df["noise_1"] = rng.normal(0, 1, n)
    df["tenure_days"] = rng.integers(30, 2000, n).astype("float64")
    df.loc[rng.random(n) < 0.05, "events_30d"] = np.nan
    su = df["seat_utilisation_30d"].to_numpy()
    logit = (
        -3.4
        + 1.4 * (df["days_since_last_event"].to_numpy() > 20)
        + 6.0 * (su - 0.6) ** 2
        + 0.5 * np.minimum(df["tickets_open_high_14d"].to_numpy(), 4) * (nps < 6)
        - 0.4 * (df["segment"].to_numpy() == "Enterprise")
        + 0.4 * (df["industry"].to_numpy() == "Media")
    )
    p = 1 / (1 + np.exp(-logit))
    churned = rng.random(n) < p
    df["churned"] = pd.array(churned, dtype="boolean")
    df["churn_date"] = pd.to_datetime(
        np.where(churned, df["as_of"] + pd.to_timedelta(rng.integers(1, horizon_days, n), unit="D"), pd.NaT)
    )
    unobserved = unobserved_weeks if unobserved_weeks is not None else int(np.ceil(horizon_days / 7))
    if unobserved:
        late = df["as_of"] > dates[-1 - unobserved] if unobserved < n_weeks else np.ones(n, bool)
        df.loc[late, "churned"] = pd.NA
        df.loc[late, "churn_date"] = pd.NaT
    for col in ("segment", "industry", "region"):
        df[col] = df[col].astype("category")
    df = df.drop(columns="health")
    if with_truth:
        df["p_true"] = p
    return df.sort_values(["account_id", "as_of"]).reset_index(drop=True)


def make_fingerprint_frame(
    n_accounts: int = 800, n_weeks: int = 40, horizon_days: int = 28, seed: int = 0
) -> pd.DataFrame:
    """Churn is pure chance; the only feature that "works" is an account fingerprint (a constant per account).

    Each account churns once at a random date (or never) and has rows until then; a row is labelled
    churned when the churn falls in [as_of, as_of + horizon). A model can only score well on a later
    window by recognising accounts whose churn it already saw labelled in training — a split-level leak
    that exists only when training labels overlap the evaluation period.
    """
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=n_weeks, freq="7D")
    span = (dates[-1] - dates[0]).days + horizon_days
    churn_day = np.where(rng.random(n_accounts) < 0.6, rng.integers(0, span, n_accounts), 10**6)
    churn_at = dates[0] + pd.to_timedelta(np.minimum(churn_day, 10**5), unit="D")
    acc = pd.DataFrame(
        {
            "account_id": [f"F{i:05d}" for i in range(n_accounts)],
            "fingerprint": rng.random(n_accounts),
            "churn_at": churn_at,
            "churns": churn_day < 10**6,
        }
    )
    df = acc.merge(pd.DataFrame({"as_of": dates}), how="cross")
    df = df[df["as_of"] <= df["churn_at"]].copy()
    within = df["churns"] & (df["churn_at"] < df["as_of"] + pd.Timedelta(days=horizon_days))
    df["churned"] = pd.array(within.to_numpy(), dtype="boolean")
    df["churn_date"] = df["churn_at"].where(within)
    df["noise"] = rng.normal(0, 1, len(df))
    df["mrr"] = 100.0
    df["segment"] = pd.Categorical(["SMB"] * len(df))
    return df.drop(columns=["churn_at", "churns"]).sort_values(["account_id", "as_of"]).reset_index(drop=True)
