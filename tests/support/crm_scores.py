"""Synthetic stored score rows (the score store's columns) for push tests: no model needed."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd

from churnml.scoring.store import COLUMNS, ScoreStore


def make_scores(n: int, as_of: dt.date, seed: int = 0, ids: list[str] | None = None) -> pd.DataFrame:
    """`n` accounts' score rows for one as-of date, with reasons."""
    rng = np.random.default_rng(seed)
    ids = ids or [f"ACC{i:04d}" for i in range(n)]
    p = rng.uniform(0.01, 0.6, len(ids))
    mrr = rng.uniform(100, 5000, len(ids)).round(2)
    reason = [{"feature": "logins_30d", "theme": "usage", "contribution": 0.4, "sentence": "Logins fell by half"},
              {"feature": "tickets_open", "theme": "support", "contribution": 0.2, "sentence": "3 open tickets"}]
    frame = pd.DataFrame({
        "account_id": ids, "as_of": pd.Timestamp(as_of), "churn_probability": p,
        "risk_band": np.where(p >= 0.25, "high", np.where(p >= 0.1, "medium", "low")),
        "mrr": mrr, "mrr_at_risk": p * mrr, "change_points": np.nan, "previous_as_of": pd.NaT,
        "previous_probability": np.nan, "change_by_theme": None, "change_text": None,
        "risk_drivers": json.dumps(reason), "protective_factors": "[]", "theme_contributions": "{}",
        "raw_score": np.log(p / (1 - p)), "base_value": -2.0, "model_name": "churn-risk", "model_version": "1",
        "segment": "SMB", "csm_id": "C1", "scored_at": pd.Timestamp("2025-01-01 06:00"),
        "signals": json.dumps({"mrr": 100.0}), "account_name": [f"Company {i}" for i in ids], "csm_name": "Ana Berg",
        "band_rule": json.dumps({"rule": "absolute", "medium": 0.1, "high": 0.25, "base_rate": None,
                                 "capacity": None}),
        "context_facts": "[]", "theme_points": json.dumps({"usage": 4.0, "support": 2.0}),
    })
    return frame[list(COLUMNS)]


def store_scores(store_path, n: int, as_of: dt.date, seed: int = 0) -> pd.DataFrame:
    frame = make_scores(n, as_of, seed)
    ScoreStore(store_path).write(frame)
    return frame
