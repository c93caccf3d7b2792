"""Online scoring: a posted payload becomes a feature frame and goes through batch scoring's own code.

`payload_frame` builds the same frame `churnml.features.to_frame` gives batch scoring (numeric features as
float64 with NaN for "not recorded", categoricals as strings); `score_payload` calls
`churnml.scoring.table.score_accounts` (which calls `churnml.scoring.explain.explain_frame`, which calls
`churnml.model.pyfunc.score_frame`) with the model version being served, so a score and its reasons are exactly
those batch scoring would store for the same features.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from churnml.config import ScoringConfig
from churnml.scoring.table import score_accounts
from serving.schemas import AccountFeatures


class MissingFeatures(ValueError):
    """The payload lacks features the served model needs (or types them wrongly); 422 entries naming each field."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} feature(s) missing")
        self.errors = errors


def required_features(model: Any) -> list[str]:
    """Every feature the model was trained on (by name; never by position)."""
    return list(model.feature_names_)


def check_required(accounts: Sequence[AccountFeatures], model: Any) -> None:
    """Raise `MissingFeatures` naming `accounts.<i>.features.<name>` for every absent (or mistyped) feature.

    A feature sent as null is present (not recorded); only an absent key is an error, so a client cannot
    silently drop a feature the model uses.
    """
    needed = required_features(model)
    cats = set(model.categorical_features_)
    errors = []
    for i, acc in enumerate(accounts):
        given = acc.features.model_fields_set | set(acc.attributes)
        for name in needed:
            where = "features" if name in type(acc.features).model_fields else "attributes"
            if name not in given:
                errors.append({"loc": ["body", "accounts", i, where, name], "type": "missing",
                               "msg": f"Field required by the served model: {name}"})
            elif name not in cats and isinstance(acc.attributes.get(name), str):
                errors.append({"loc": ["body", "accounts", i, where, name], "type": "float_type",
                               "msg": f"Input should be a number: the served model reads {name} as numeric"})
    if errors:
        raise MissingFeatures(errors)


def payload_frame(accounts: Sequence[AccountFeatures], model: Any, today: dt.date | None = None) -> pd.DataFrame:
    """The feature frame of the posted accounts (one row each, posted order), typed as the model expects.

    Numeric features are float64 with NaN for null; categoricals (and any string attribute) object columns.
    Built column by column from plain lists: pandas per-cell work dominated single-account latency.
    """
    cats = set(model.categorical_features_)
    rows = [{**acc.features.model_dump(exclude_unset=True), **acc.attributes} for acc in accounts]
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    default_day = today or dt.datetime.now(dt.UTC).date()
    cols: dict[str, Any] = {
        "account_id": np.array([a.account_id for a in accounts], dtype=object),
        "as_of": pd.to_datetime([a.as_of or default_day for a in accounts]),
    }
    for name in names:
        values = [row.get(name) for row in rows]
        if name in cats or any(isinstance(v, str) for v in values):
            cols[name] = np.array([None if v is None else str(v) for v in values], dtype=object)
        else:
            cols[name] = np.array([np.nan if v is None else v for v in values], dtype="float64")
    return pd.DataFrame(cols)


def score_payload(
    accounts: Sequence[AccountFeatures],
    model: Any,
    *,
    model_name: str,
    model_version: int | str,
    config: ScoringConfig,
    today: dt.date | None = None,
) -> pd.DataFrame:
    """The score table (`churnml.scoring.store.COLUMNS`) for the posted accounts, in the posted order.

    Raises:
        MissingFeatures: a feature the model uses is absent from an account.
    """
    check_required(accounts, model)
    frame = payload_frame(accounts, model, today)
    ids = pd.DataFrame({
        "account_id": [a.account_id for a in accounts],
        "segment": [a.segment for a in accounts],
        "csm_id": [a.csm_id for a in accounts],
    })
    if ids["segment"].isna().all():
        ids = ids.drop(columns="segment")  # score_accounts then falls back to the `segment` feature
    common = dict(model_name=model_name, model_version=model_version, bands=config.bands,
                  top_n=config.top_reasons, min_contribution=config.min_contribution)
    if frame["as_of"].nunique() == 1:  # the usual case: no regrouping
        return score_accounts(model, frame, accounts=ids, **common)
    frame["_pos"] = np.arange(len(frame))
    parts = []
    for _, group in frame.groupby("as_of", sort=False):  # score_accounts takes one as-of date at a time
        part = group.drop(columns="_pos").reset_index(drop=True)
        scored = score_accounts(
            model, part,
            accounts=ids.iloc[group["_pos"].to_numpy()].reset_index(drop=True), **common,
        )
        scored["_pos"] = group["_pos"].to_numpy()
        parts.append(scored)
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values("_pos", kind="stable").drop(columns="_pos").reset_index(drop=True)
