"""The oracle: the simulator's true churn probability per (account_id, as_of), the ceiling for any model.

The simulator writes the monthly churn hazard it actually used to `truth/monthly_churn_probability.parquet`.
A row with horizon H churns if any month overlapping [as_of, as_of + H) churns, so its oracle probability
is 1 − Π(1 − p_m) over those months. Evaluation only: the truth is never a feature.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from churnml.training.metrics import roc_auc

TRUTH_FILE = Path("truth") / "monthly_churn_probability.parquet"


def read_truth(data_dir: str | Path) -> pd.DataFrame:
    """The truth table (account_id, month as datetime64 first-of-month, p_churn) of a simulated data folder.

    Raises:
        FileNotFoundError: the folder has no truth table (real data never does).
    """
    path = Path(data_dir) / TRUTH_FILE
    if not path.exists():
        raise FileNotFoundError(f"no truth table at {path}: the oracle exists only for simulated data")
    truth = pd.read_parquet(path, columns=["account_id", "month", "p_churn"])
    truth["account_id"] = truth["account_id"].astype(str)
    truth["month"] = pd.to_datetime(truth["month"]).astype("datetime64[ns]")
    return truth


def oracle_probability(
    keys: pd.DataFrame,
    truth: pd.DataFrame,
    horizon_days: int,
    method: Literal["overlap", "prorate"] = "overlap",
) -> np.ndarray:
    """Oracle churn probability of each (account_id, as_of) row over the next `horizon_days`.

    Args:
        keys: frame with account_id and as_of (any other columns ignored); the result is aligned with it.
        truth: the truth table (see `read_truth`); a month absent for an account counts as p = 0 (the
            account was not a customer then).
        horizon_days: label horizon.
        method: "overlap" multiplies the survival of every month overlapping the horizon; "prorate" weights
            each month's hazard by the share of its days inside the horizon (churn days are spread over the
            month), a closer match for horizons that start or end mid-month.
    """
    as_of = pd.to_datetime(keys["as_of"]).astype("datetime64[ns]").to_numpy()
    end = as_of + np.timedelta64(horizon_days, "D")  # exclusive
    first = as_of.astype("datetime64[M]")
    last = (end - np.timedelta64(1, "D")).astype("datetime64[M]")
    n_months = int((last - first).astype(int).max()) + 1 if len(keys) else 0
    row = np.arange(len(keys))
    acc = keys["account_id"].astype(str).to_numpy()
    parts = []
    for k in range(n_months):
        m = first + np.timedelta64(k, "M")
        ok = m <= last
        month_start = m[ok].astype("datetime64[ns]")
        month_end = (m[ok] + np.timedelta64(1, "M")).astype("datetime64[ns]")
        overlap = np.minimum(month_end, end[ok]) - np.maximum(month_start, as_of[ok])
        weight = overlap / (month_end - month_start)
        parts.append(pd.DataFrame({"row": row[ok], "account_id": acc[ok], "month": month_start, "w": weight}))
    if not parts:
        return np.zeros(0)
    expanded = pd.concat(parts, ignore_index=True).merge(truth, on=["account_id", "month"], how="left")
    p = expanded["p_churn"].fillna(0.0).clip(0, 1).to_numpy()
    if method == "prorate":
        p = p * expanded["w"].to_numpy(dtype=float)
    elif method != "overlap":
        raise ValueError(f"unknown oracle method {method!r}")
    log_survival = pd.Series(np.log1p(-np.minimum(p, 1 - 1e-12))).groupby(expanded["row"].to_numpy()).sum()
    return 1 - np.exp(log_survival.reindex(row, fill_value=0.0).to_numpy())


def oracle_auc(y: np.ndarray | pd.Series, p_oracle: np.ndarray | pd.Series) -> float:
    """ROC-AUC of the oracle on the given evaluation rows (the best ranking any model could reach)."""
    return roc_auc(np.asarray(y, dtype=float), np.asarray(p_oracle, dtype=float))
