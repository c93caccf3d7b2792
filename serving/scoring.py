"""Online scoring: a posted payload becomes a feature frame and goes through batch scoring's own code.

`payload_frame` builds the same frame `churnml.features.to_frame` gives batch scoring (numeric features as
float64 with NaN for "not recorded", categoricals as strings); `score_payload` calls
`churnml.score.score_accounts` (which calls `churnml.explain.explain_frame`, which calls
`churnml.pyfunc.score_frame`) with the model version being served, so a score and its reasons are exactly
those batch scoring would store for the same features.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from churnml.config import ScoringConfig
from churnml.score import score_accounts
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


def payload_matrix(frame: pd.DataFrame, model: Any) -> np.ndarray:
    """The booster's input for a `payload_frame`: what `ChurnModel._matrix` returns, without per-column pandas.

    Numeric features as float64 (NaN when missing); categoricals as the index of the value's string in the
    model's learned levels, NaN when missing or unseen — `ChurnModel.prepare`'s contract. Single-account
    requests spent most of their time in pandas overhead there; `tests/serving/test_scoring.py` checks this
    equals `ChurnModel._matrix` exactly on every row of a simulated world and on edge values.
    """
    cats = set(model.categorical_features_)
    out = np.empty((len(frame), len(model.feature_names_)), dtype="float64")
    for j, name in enumerate(model.feature_names_):
        values = frame[name].to_numpy()
        if name in cats:
            index = {level: k for k, level in enumerate(model.categories_[name])}
            out[:, j] = [np.nan if v is None or (isinstance(v, float) and np.isnan(v)) else
                         index.get(str(v), np.nan) for v in values]
        else:
            out[:, j] = values.astype("float64")
    return out


class PreparedOnce:
    """The served `ChurnModel` with its input matrix computed once, by `payload_matrix`.

    `churnml.pyfunc.score_frame` calls `predict_raw`, `predict_proba` (which calls `predict_raw` again) and
    `contributions` on the same frame, and each ran `ChurnModel.prepare` — per-column pandas work that was
    most of a single-account request. This wrapper runs the model's own methods (the booster, calibrator and
    SHAP are untouched) with `_matrix` answered from the precomputed matrix for that frame object, and by the
    model itself for any other frame; the raw margin, asked for twice, is computed once per frame. One wrapper
    per request: it is not shared between threads.
    """

    def __init__(self, model: Any, frame: pd.DataFrame | None = None) -> None:
        self._model = model
        self._cls = type(model)
        self._last: tuple[pd.DataFrame, np.ndarray] | None = (
            None if frame is None else (frame, payload_matrix(frame, model))
        )
        self._raw: tuple[pd.DataFrame, np.ndarray] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        if self._last is None or self._last[0] is not X:
            self._last = (X, self._cls._matrix(self._model, X))
        return self._last[1]

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        # score_frame asks twice for the same frame (directly and through predict_proba): compute it once
        if self._raw is None or self._raw[0] is not X:
            self._raw = (X, self._cls.predict_raw(self, X))
        return self._raw[1]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self._cls.predict_proba(self, X)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        return self._cls.contributions(self, X)


def score_payload(
    accounts: Sequence[AccountFeatures],
    model: Any,
    *,
    model_name: str,
    model_version: int | str,
    config: ScoringConfig,
    today: dt.date | None = None,
) -> pd.DataFrame:
    """The score table (`churnml.score_store.COLUMNS`) for the posted accounts, in the posted order.

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
        return score_accounts(PreparedOnce(model, frame), frame, accounts=ids, **common)
    frame["_pos"] = np.arange(len(frame))
    parts = []
    for _, group in frame.groupby("as_of", sort=False):  # score_accounts takes one as-of date at a time
        part = group.drop(columns="_pos").reset_index(drop=True)
        scored = score_accounts(
            PreparedOnce(model, part), part,
            accounts=ids.iloc[group["_pos"].to_numpy()].reset_index(drop=True), **common,
        )
        scored["_pos"] = group["_pos"].to_numpy()
        parts.append(scored)
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values("_pos", kind="stable").drop(columns="_pos").reset_index(drop=True)
