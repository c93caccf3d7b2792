"""Online scoring: a posted body becomes the model's input row and goes through batch scoring's explanation code.

`OnlineScorer` is built once per loaded model version (`serving.model_holder`) and holds what every request
needs: the request model with the served model's required fields and ranges (`serving.contract`), the
explanation plan (`churnml.scoring.explain.plan_for`) and the categorical levels. A request is then

1. one validation pass over the raw bytes (`model_validate_json`: parsing, types, required fields and ranges
   together; no second check);
2. the model matrix built straight from the validated values (the layout of `ChurnModel._matrix`: numbers as
   float64, NaN for null, categories as their index in the learned levels);
3. `ChurnModel.score_matrix` (one account: LightGBM's single-row C API; identical to `Booster.predict`);
4. `churnml.scoring.explain.explain_arrays`, the function batch scoring's `explain_frame` ends in, so reasons
   are those batch scoring stores for the same features (tests post stored features and compare);
5. plain dicts in the `AccountScore` shape, serialised once with orjson by the route.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from pydantic import BaseModel, ValidationError

from churnml.config import ScoringConfig
from churnml.scoring.bands import BandCut
from churnml.scoring.explain import Explanation, explain_arrays, plan_for
from serving.contract import request_model
from serving.views import renewal_after, theme_points


class InvalidPayload(ValueError):
    """The body does not match what the served model needs; 422 entries naming each field."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} invalid field(s)")
        self.errors = errors


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"loc": ["body", *e["loc"]], "type": e["type"], "msg": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)]


class OnlineScorer:
    """Answers `POST /v1/score` for one loaded model.

    Args:
        model: the served `ChurnModel`.
        name / version: the registered model, named on every answer.
    """

    def __init__(self, model: Any, *, name: str, version: int | str) -> None:
        self.model = model
        self.name = name
        self.version = str(version)
        self.request_model: type[BaseModel] = request_model(model)
        self.plan = plan_for(model)
        self._names = list(model.feature_names_)
        cats = set(model.categorical_features_)
        self._levels = {f: {lvl: float(k) for k, lvl in enumerate(model.categories_[f])} for f in cats}

    def parse(self, body: bytes) -> list[Any]:
        """The accounts of a request body, validated against the served model's request model.

        Raises:
            InvalidPayload: naming every offending field (`body.accounts.<i>.features.<name>`).
        """
        try:
            return self.request_model.model_validate_json(body).accounts  # type: ignore[attr-defined]
        except ValidationError as exc:
            raise InvalidPayload(_errors(exc)) from None

    def _values(self, accounts: Sequence[Any]) -> list[dict[str, Any]]:
        out = []
        for acc in accounts:
            attrs = acc.attributes
            out.append({**acc.features.__dict__, **attrs.__dict__, **(attrs.__pydantic_extra__ or {})})
        return out

    def matrix(self, values: Sequence[dict[str, Any]]) -> np.ndarray:
        """The model matrix of the accounts' values (`ChurnModel._matrix` layout)."""
        out = np.empty((len(values), len(self._names)))
        for i, row in enumerate(values):
            for j, f in enumerate(self._names):
                v = row.get(f)
                levels = self._levels.get(f)
                if levels is not None:
                    out[i, j] = np.nan if v is None else levels.get(str(v), np.nan)
                else:
                    out[i, j] = np.nan if v is None else float(v)
        return out

    def explain(self, accounts: Sequence[Any], config: ScoringConfig) -> tuple[list[Explanation], list[dict]]:
        """Scores and reasons of the accounts (posted order), and each account's values by name."""
        values = self._values(accounts)
        raw, prob, contrib = self.model.score_matrix(self.matrix(values))
        names = {k for row in values for k in row}
        cols = {k: [row.get(k) for row in values] for k in names}
        order = [self._names.index(n) for n in self.plan.names]
        explained = explain_arrays(
            self.plan, [a.account_id for a in accounts], np.asarray(prob, dtype=float), np.asarray(raw, dtype=float),
            contrib[:, -1], contrib[:, order], cols, top_n=config.top_reasons, min_contribution=config.min_contribution,
        )
        return explained, values

    def answer(self, accounts: Sequence[Any], config: ScoringConfig, today: dt.date | None = None,
               cut: BandCut | None = None) -> dict[str, Any]:
        """The `ScoreResponse` body (plain dicts) for validated accounts, banded by `cut` (the latest stored
        scoring's edges; default the absolute thresholds of `config.bands`)."""
        explained, values = self.explain(accounts, config)
        cut = cut or BandCut("absolute", config.bands.medium, config.bands.high)
        bands = cut.assign([e.probability for e in explained])
        scored_at = dt.datetime.now(dt.UTC).isoformat()
        day = (today or dt.datetime.now(dt.UTC).date()).isoformat()
        ref = {"name": self.name, "version": self.version}
        out = []
        for acc, e, row, band in zip(accounts, explained, values, bands, strict=True):
            mrr = row.get("mrr")
            segment = acc.segment if acc.segment is not None else row.get("segment")
            out.append(account_body(e, band, ref, as_of=acc.as_of.isoformat() if acc.as_of else day,
                                    mrr=None if mrr is None else float(mrr), segment=segment, csm_id=acc.csm_id,
                                    scored_at=scored_at, days_to_renewal=row.get("days_to_renewal")))
        return {"model": ref, "accounts": out}


class _Pts(NamedTuple):
    """A reason's theme and points: what splitting a theme's points needs."""

    theme: str
    points: float


def account_body(e: Explanation, band: str, model: dict[str, str], *, as_of: str, mrr: float | None,
                 segment: str | None, csm_id: str | None, scored_at: str,
                 days_to_renewal: float | None = None) -> dict[str, Any]:
    """One explained account in the `AccountScore` shape, with no change since a previous scoring (and no
    names: a posted account carries ids only)."""
    renewal = renewal_after(dt.date.fromisoformat(as_of), days_to_renewal)
    drivers = [r.to_dict() for r in e.drivers]
    protective = [r.to_dict() for r in e.protective]
    by_theme = [{"theme": theme, "drivers": [r.to_dict() for r in parts["drivers"]],
                 "protective": [r.to_dict() for r in parts["protective"]]} for theme, parts in e.grouped().items()]
    return {
        "account_id": e.account_id, "as_of": as_of, "churn_probability": e.probability, "risk_band": band,
        "mrr": mrr, "mrr_at_risk": None if mrr is None else e.probability * mrr,
        "change_points": None, "previous_as_of": None, "previous_probability": None, "change_text": None,
        "change_by_theme": None, "risk_drivers": drivers, "protective_factors": protective,
        "reasons_by_theme": by_theme, "theme_contributions": e.themes, "raw_score": e.raw_score,
        "base_value": e.base_value, "model": model, "segment": segment, "csm_id": csm_id, "scored_at": scored_at,
        "account_name": None, "csm_name": None, "arr": None if mrr is None else 12 * mrr,
        "renewal_date": None if renewal is None else renewal.isoformat(),
        "context": [r.to_dict() for r in e.context],
        # from the reasons as answered (points rounded as stored), so stored and online splits are equal
        "theme_points": [t.model_dump() for t in theme_points(
            e.theme_points, [_Pts(r["theme"], r["points"]) for r in drivers],
            [_Pts(r["theme"], r["points"]) for r in protective])],
    }
