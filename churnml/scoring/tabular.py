"""Scoring an imported tabular snapshot (one row per customer, no time axis) with the registered snapshot model.

The model is trained by `churnml.training.tabular`; the score table, reasons and store are the event-log ones.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from churnml.config import Settings
from churnml.data.dates import utc_today
from churnml.features.catalog import FeatureSpec, static_attribute_spec
from churnml.scoring.job import ScoringRun, model_for_alias
from churnml.scoring.store import ScoreStore
from churnml.scoring.table import score_accounts, summarise
from churnml.training.tabular import LABEL, SPLIT, load_snapshot


def score_snapshot(
    settings: Settings,
    data: Path | str,
    *,
    as_of: dt.date | None = None,
    name: str | None = None,
    alias: str | None = None,
    include_churned: bool = False,
    mrr_column: str | None = None,
) -> ScoringRun:
    """Score and explain the customers of a snapshot with the registered snapshot model; store the scores.

    The same score table, reasons and "why it moved" as event-log scoring (`churnml.scoring.table.score_accounts`),
    written to the score store (`<work_dir>/scores.duckdb`) under `as_of` (default: today in UTC, see
    `churnml.data.dates`: a snapshot has no time axis), so the API, the report
    and the CRM push read them as they read event-log scores. Rows already marked churned are left out
    unless `include_churned`: they are no longer customers to save. `mrr_column` names the attribute holding
    monthly revenue (e.g. telco's MonthlyCharges) when the snapshot has no `mrr` column, for MRR at risk.

    Returns:
        what was scored and stored, with the portfolio summary.

    Raises:
        ValueError: no version of the model has the alias, or no customer is left to score.
    """
    cfg = settings.scoring
    name = name or f"{settings.registry.name}-snapshot"
    model, version, uri = model_for_alias(settings, name, alias or cfg.alias, "run `churnml train-snapshot` first")
    frame = load_snapshot(data, labelled=False)
    if LABEL in frame.columns and not include_churned:
        frame = frame[~frame[LABEL]]
    if frame.empty:
        raise ValueError(f"no customer to score in {data}")
    day = as_of or utc_today()
    frame = frame.drop(columns=[c for c in (LABEL, SPLIT) if c in frame.columns]).reset_index(drop=True)
    frame["as_of"] = pd.Timestamp(day)
    if mrr_column is not None:
        if mrr_column not in frame.columns:
            raise ValueError(f"snapshot {data} has no column {mrr_column!r} for MRR")
        frame["mrr"] = pd.to_numeric(frame[mrr_column], errors="coerce")
    accounts = frame[[c for c in ("account_id", "segment", "csm_id") if c in frame.columns]]
    store = ScoreStore.from_work_dir(settings.work_dir)
    scores = score_accounts(model, frame, model_name=name, model_version=version, accounts=accounts,
                            previous=store.previous(day), bands=cfg.bands, top_n=cfg.top_reasons,
                            min_contribution=cfg.min_contribution, specs=snapshot_specs(model))
    store.write(scores)
    return ScoringRun(scores, summarise(scores, cfg.movers), store.path, uri)


def snapshot_specs(model: Any) -> list[FeatureSpec]:
    """Registry entries for a snapshot model's columns. In a one-row-per-customer snapshot the columns are what
    the customer did and is (plan, tenure, tickets), so they are drivers, not context as extra account attributes
    of an event log are."""
    cats = set(getattr(model, "categorical_features_", ()))
    return [replace(static_attribute_spec(n, n not in cats), context=False, description=n.replace("_", " "))
            for n in getattr(model, "feature_names_", ())]


__all__ = ["score_snapshot", "snapshot_specs"]
