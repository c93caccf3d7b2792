"""What a scoring request must hold for the model being served: required fields, types and value ranges.

`request_model(model)` builds the pydantic model of `POST /v1/score` for one loaded model version: every feature
the model uses is required (null allowed: "not recorded"), registry features it does not use stay optional,
the model's non-registry attributes are required under `attributes` with their types, and every number must
be finite and inside its feature's range. The OpenAPI schema is generated from this model (`serving.app`), so
a request the schema accepts is a request the service scores.

Ranges (`feature_range`) are derived from the data contract (`churnml.data.contract`: survey scales, effort
score, MRR and seats bounds) and the catalog's kind of quantity (counts, days, shares); nothing else defines
them. Where neither bounds a value, |x| <= 2**53: beyond it a float64 no longer holds whole numbers exactly,
and no real feature value comes near it (1e308 events is a broken client, not a customer).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, create_model

from churnml.data.contract import SUBSCRIPTIONS, SURVEY_SCALES, TICKETS
from churnml.features import FEATURES
from churnml.features.catalog import USAGE_WINDOWS, FeatureSpec

#: The largest magnitude any numeric feature may take (see the module docstring).
LIMIT = float(2**53)
#: Units of quantities that are counts or durations: never negative.
_NON_NEGATIVE_UNITS = frozenset({"events", "tickets", "users", "features", "responses", "seats", "hours", "ratio",
                                 "days"})
_SHARES = frozenset({"high_priority_share_90d", "reopen_rate_90d"})


def _scale(kind: str) -> tuple[float, float]:
    lo, hi = SURVEY_SCALES[kind]
    return float(lo), float(hi)


def _column(table: Any, name: str) -> tuple[float, float]:
    col = table.column(name)
    lo = -LIMIT if col.min_value is None else float(col.min_value)
    return lo, LIMIT if col.max_value is None else float(col.max_value)


def feature_range(spec: FeatureSpec) -> tuple[float, float]:
    """Inclusive (low, high) bounds of a numeric feature's values, from the contract and the catalog."""
    nps_lo, nps_hi = _scale("nps")
    by_name: dict[str, tuple[float, float]] = {
        "nps_latest": (nps_lo, nps_hi), "nps_previous": (nps_lo, nps_hi),
        "nps_change": (nps_lo - nps_hi, nps_hi - nps_lo),
        "csat_mean_90d": _scale("csat"), "ces_mean_90d": _scale("ces"),
        "effort_mean_90d": _column(TICKETS, "effort_score"),
        "mrr": _column(SUBSCRIPTIONS, "mrr"), "mrr_90d_ago": _column(SUBSCRIPTIONS, "mrr"),
        "seats": _column(SUBSCRIPTIONS, "seats"),
        "mrr_change_pct_90d": (-1.0, LIMIT),  # MRR cannot fall by more than all of it
        "csm_enps_90d": (-100.0, 100.0),  # eNPS: % promoters - % detractors
        "days_to_renewal": (-LIMIT, LIMIT),
        **{f"active_days_{w}d": (0.0, float(w)) for w in USAGE_WINDOWS},
        **dict.fromkeys(_SHARES, (0.0, 1.0)),
    }
    if spec.name in by_name:
        return by_name[spec.name]
    if spec.unit in _NON_NEGATIVE_UNITS or spec.unit == "%":
        return 0.0, LIMIT
    return -LIMIT, LIMIT


def _number(lo: float, hi: float) -> Any:
    return Annotated[float, Field(strict=True, allow_inf_nan=False, ge=lo, le=hi)]


def _feature_field(spec: FeatureSpec, required: bool) -> tuple[Any, Any]:
    typ = StrictStr if spec.kind == "categorical" else _number(*feature_range(spec))
    unit = f" ({spec.unit})" if spec.unit else ""
    used = " Required by the served model (null: not recorded)." if required else ""
    return (typ | None, Field(... if required else None, description=f"{spec.description}{unit}. Theme: "
                              f"{spec.theme}.{used}"))


Attribute = _number(-LIMIT, LIMIT) | StrictStr | None


class _Attributes(BaseModel):
    """Account attributes the model was trained on that are not in the feature registry."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, Attribute]  # type: ignore[valid-type]


def request_model(model: Any | None = None) -> type[BaseModel]:
    """The `POST /v1/score` body for `model` (None: no model loaded yet, every feature optional)."""
    used = set(model.feature_names_) if model is not None else set()
    cats = set(getattr(model, "categorical_features_", ()))
    registry = {s.name for s in FEATURES}
    features = create_model(  # type: ignore[call-overload]
        "FeatureValues", __config__=ConfigDict(extra="forbid"),
        __doc__="Feature values of one account, named as in the feature registry (null: not recorded).",
        **{s.name: _feature_field(s, s.name in used) for s in FEATURES},
    )
    own = sorted(used - registry) if model is not None else []
    attributes = create_model(  # type: ignore[call-overload]
        "ModelAttributes", __base__=_Attributes,
        **{n: ((StrictStr if n in cats else _number(-LIMIT, LIMIT)) | None,
               Field(..., description="Required by the served model (null: not recorded).")) for n in own},
    )
    account = create_model(  # type: ignore[call-overload]
        "AccountFeatures", __config__=ConfigDict(extra="forbid"), __doc__="One account to score.",
        account_id=(str, Field(..., min_length=1, max_length=128)),
        as_of=(dt.date | None, Field(None, description="Date the features describe (default: today, UTC).")),
        segment=(str | None, Field(None, max_length=128)),
        csm_id=(str | None, Field(None, max_length=128)),
        features=(features, ...),
        attributes=(attributes, Field(...) if own else Field(default_factory=attributes)),
    )
    return create_model(  # type: ignore[call-overload]
        "ScoreRequest", __config__=ConfigDict(extra="forbid"),
        __doc__="Accounts to score and explain with the served model.",
        accounts=(list[account], Field(..., min_length=1)),
    )
