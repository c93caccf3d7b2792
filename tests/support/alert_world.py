"""Synthetic alert weeks for the task-push tests: causes applied to a real alert store (holdout drawn as in the job)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from churnml.config import PlaysConfig
from churnml.plays.alerts import CAUSE_COLUMNS
from churnml.plays.state import AlertStore

CAUSES = ("band_up", "risk_jump", "detractor")


def make_causes(accounts: list[str], as_of: dt.date, seed: int = 0) -> pd.DataFrame:
    """One cause per account (cycling through `CAUSES`), with what changed and the top reasons."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.3, 0.9, len(accounts))
    rows = [{"account_id": a, "as_of": as_of, "cause": CAUSES[i % len(CAUSES)],
             "detail": f"risk band medium → high (case {i})", "risk_band": "high" if p[i] > 0.5 else "medium",
             "churn_probability": float(p[i]), "mrr": float(100 + 10 * i),
             "reasons": "Logins fell by half; 3 open tickets"} for i, a in enumerate(accounts)]
    return pd.DataFrame(rows, columns=CAUSE_COLUMNS)


def store_alerts(work_dir: Path, accounts: list[str], as_of: dt.date, holdout: float = 0.25,
                 seed: int = 0) -> pd.DataFrame:
    """Apply one week of causes to `<work_dir>/alerts.duckdb`; returns every alert in the store afterwards."""
    store = AlertStore.from_work_dir(work_dir)
    store.update(as_of, make_causes(accounts, as_of, seed), PlaysConfig(holdout=holdout, seed=seed))
    return store.read()


def accounts(n: int, start: int = 0) -> list[str]:
    return [f"ACC{i:04d}" for i in range(start, start + n)]
