"""Response models of the API and the query types (the OpenAPI schema is generated from these).

The scoring request depends on the model being served (which features and attributes it requires, their
types and ranges), so its model is built per loaded version in `serving.contract`.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Band = Literal["low", "medium", "high"]
SortKey = Literal["risk", "mrr_at_risk", "change", "mrr", "account_id", "renewal", "name"]


class Reason(BaseModel):
    """A reason in a CSM's words; `contribution` is log-odds and `points` probability points, both > 0 when it
    raises risk and < 0 when it lowers it.

    Further fields the explanation adds are kept and passed on as given.
    """

    model_config = ConfigDict(extra="allow")

    feature: str
    theme: str
    contribution: float
    points: float | None = Field(None, description="Share of (probability − base probability), × 100; null in "
                                 "scores stored before points were.")
    sentence: str
    features: list[str] = Field(default_factory=list)


class ThemeReasons(BaseModel):
    """The reasons of one theme (usage, support, sentiment, ...)."""

    theme: str
    drivers: list[Reason]
    protective: list[Reason]


class ThemePoints(BaseModel):
    """One theme's share of the risk in probability points, as the page lists it: `points` = `reasons` (the
    points of the reasons listed under the theme) + `other_factors` (its smaller reasons and context)."""

    theme: str
    points: float = Field(..., description="The theme's total, probability points (> 0 raises risk).")
    reasons: float = Field(..., description="Sum of the points of the reasons listed under the theme.")
    other_factors: float = Field(..., description="The rest of the theme's points: reasons too small to list, "
                                 "and context.")


class Alert(BaseModel):
    """An open alert of the account and the play it recommends (`churnml.plays`: one per account and cause)."""

    alert_id: str
    cause: str = Field(..., description="Why it was raised: band_up, risk_jump, or a signal rule's cause.")
    detail: str | None = Field(None, description="What changed, in words.")
    raised: dt.date = Field(..., description="The scoring date the alert was opened on.")
    last_seen: dt.date = Field(..., description="The latest scoring that still raised it.")
    play: str = Field(..., description="The recommended play (plays.playbook).")
    play_text: str = Field(..., description="The playbook's words for the play.")
    held_out: bool = Field(..., description="Kept un-routed by the holdout (plays.holdout): recorded to measure "
                           "whether plays work; do not route it to a CSM (the web page does not show it).")


class ModelRef(BaseModel):
    """Which model answered."""

    name: str
    version: str


class AccountScore(BaseModel):
    """One account's score with its reasons: the same shape for stored scores and POST /v1/score."""

    account_id: str
    as_of: dt.date
    churn_probability: float
    risk_band: Band
    mrr: float | None
    mrr_at_risk: float | None
    change_points: float | None = Field(None, description="Change since the previous scoring, probability points.")
    previous_as_of: dt.date | None = None
    previous_probability: float | None = None
    change_text: str | None = None
    change_by_theme: dict[str, float] | None = None
    risk_drivers: list[Reason]
    protective_factors: list[Reason]
    reasons_by_theme: list[ThemeReasons]
    theme_contributions: dict[str, float]
    raw_score: float
    base_value: float
    model: ModelRef
    segment: str | None = None
    csm_id: str | None = None
    account_name: str | None = None
    csm_name: str | None = None
    arr: float | None = Field(None, description="Annual recurring revenue: 12 x MRR.")
    renewal_date: dt.date | None = Field(None, description="Next renewal (as-of date + days to renewal).")
    context: list[Reason] = Field(default_factory=list, description="Facts about the account the risk is read "
                                  "against (renewal timing, contract, tenure...), shown beside the drivers.")
    theme_points: list[ThemePoints] = Field(default_factory=list, description="Per theme, its probability "
                                            "points split into the listed reasons and other factors (empty for "
                                            "scores stored before points were).")
    scored_at: dt.datetime | None = Field(None, description="When the score was computed (UTC, with its offset).")


class HistoryPoint(BaseModel):
    """One past scoring of an account."""

    as_of: dt.date
    churn_probability: float
    risk_band: Band
    change_points: float | None
    model_version: str
    theme_contributions: dict[str, float]
    theme_points: dict[str, float] | None = Field(None, description="Each theme's pull on the risk in probability "
                                                  "points (null for scores stored before points were).")


class AccountDetail(AccountScore):
    """Latest score, its reasons, its open alerts with their plays and the account's score history (oldest first)."""

    alerts: list[Alert] = Field(default_factory=list, description="Open alerts of the account, oldest first.")
    history: list[HistoryPoint]


class InterventionIn(BaseModel):
    """A play done on an account, for the intervention log."""

    model_config = ConfigDict(extra="forbid")

    play: str = Field(..., min_length=1, max_length=128, description="A play of plays.playbook.")
    ts: dt.datetime | None = Field(None, description="When it was done (default: now; without an offset: UTC). "
                                   "Not in the future.")
    csm_id: str | None = Field(None, min_length=1, max_length=128,
                               description="Who ran it (default: the CSM the API key belongs to).")
    outcome: str | None = Field("done", max_length=500, description="Free text, e.g. done.")


class Intervention(BaseModel):
    """The row stored in the intervention log, and the open alerts it resolved."""

    account_id: str
    ts: dt.datetime = Field(..., description="When the play was done (UTC).")
    play: str
    csm_id: str | None
    outcome: str | None
    alerts_resolved: int = Field(..., description="Open alerts of the account recommending this play, now "
                                 "resolved.")


class AccountRow(BaseModel):
    """One row of the at-risk list."""

    account_id: str
    as_of: dt.date
    churn_probability: float
    risk_band: Band
    mrr: float | None
    mrr_at_risk: float | None
    change_points: float | None
    segment: str | None
    csm_id: str | None
    account_name: str | None = None
    csm_name: str | None = None
    arr: float | None = Field(None, description="Annual recurring revenue: 12 x MRR.")
    renewal_date: dt.date | None = Field(None, description="Next renewal (as-of date + days to renewal).")
    change_text: str | None = Field(None, description="What changed since the previous scoring, in words.")
    top_reason: str | None = Field(None, description="The largest risk driver, in words.")


class AccountPage(BaseModel):
    """A page of the latest scores."""

    as_of: dt.date | None = Field(None, description="The scoring date listed (the latest stored).")
    total: int
    limit: int
    offset: int
    items: list[AccountRow]


class ScoreResponse(BaseModel):
    """Scores for the posted accounts, in the posted order."""

    model: ModelRef
    accounts: list[AccountScore]


class ModelInfo(BaseModel):
    """The model being served, and any failed attempt to load a newer one."""

    name: str
    alias: str
    ready: bool
    version: str | None = None
    uri: str | None = None
    run_id: str | None = None
    loaded_at: dt.datetime | None = None
    trained_from: str | None = Field(None, description="First as-of date of the training snapshots.")
    trained_to: str | None = Field(None, description="Last as-of date of the training snapshots.")
    metrics: dict[str, float] = Field(default_factory=dict, description="Backtest headline metrics.")
    last_error: str | None = Field(None, description="Why the latest load attempt failed (old model kept).")
    last_error_at: dt.datetime | None = None
    worker_pid: int | None = Field(None, description="Process id of the worker that answered (one of "
                                   "serving.workers); each worker follows the alias itself.")


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    model: str | None = None
    detail: str | None = None


class ErrorBody(BaseModel):
    """Every error: one clear sentence, never a stack trace."""

    detail: str


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    """422: what was wrong and where (`loc` names the field)."""

    detail: str
    errors: list[FieldError]
