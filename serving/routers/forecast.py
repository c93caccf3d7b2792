"""`GET /v1/forecast`: the latest revenue retention forecast (next horizon's GRR/NRR with ranges, by group and
renewal month) and the churn model's health estimated before labels, as `churnml.forecast.store` saved them.

Read-only, any valid key (like the other /v1 reads). 404 with what to run when no forecast was made yet.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from churnml.forecast.store import read_forecast
from serving.deps import Reader, State
from serving.schemas import ErrorBody

NO_FORECAST = ("no forecast yet: train the outcome models (`churnml train-outcomes`), then run `churnml forecast "
               "--as-of DATE` or the weekly job")


class Interval(BaseModel):
    level: float = Field(description="Central interval level, e.g. 0.8.")
    grr_lo: float | None
    grr_hi: float | None
    nrr_lo: float | None
    nrr_hi: float | None


class ForecastGroup(BaseModel):
    """One reported group (`all`, a segment / CSM / plan) or one renewal month."""

    group: str = Field(description="`all`, the group's value, or the renewal month (YYYY-MM).")
    accounts: int
    arr: float = Field(description="ARR today (12 × MRR) of the group's accounts.")
    renewing_arr: float = Field(description="ARR of the accounts whose renewal falls inside the horizon.")
    arr_at_risk: float = Field(description="Expected ARR lost to churn and contraction over the horizon.")
    grr: float | None = Field(description="Expected gross revenue retention at the horizon (0–1).")
    nrr: float | None = Field(description="Expected net revenue retention at the horizon.")
    intervals: list[Interval]


class SegmentHealth(BaseModel):
    segment: str
    accounts: int
    expected_auc: float | None = Field(description="CBPE: ROC-AUC expected from the calibrated probabilities.")
    auc_lo: float | None
    auc_hi: float | None
    expected_churners: float


class ForecastResponse(BaseModel):
    as_of: str
    horizon_days: int
    by: str | None = Field(description="What `groups` are split by besides `all` (None: the portfolio only).")
    levels: list[float]
    versions: dict[str, int] = Field(description="Outcome model versions used (churned, contracted, expanded).")
    written_at: str
    groups: list[ForecastGroup]
    renewals: list[ForecastGroup]
    health: list[SegmentHealth]


router = APIRouter(prefix="/v1", tags=["v1"])


def _group(row: dict[str, Any], key: str, levels: list[float]) -> ForecastGroup:
    ivs = [Interval(level=lv, **{f"{m}_{side}": row.get(f"{m}_{side}{round(lv * 100)}")
                                 for m in ("grr", "nrr") for side in ("lo", "hi")}) for lv in levels]
    return ForecastGroup(group=str(row[key]), accounts=int(row["accounts"]), arr=row["arr"],
                         renewing_arr=row["renewing_arr"], arr_at_risk=row["arr_at_risk"], grr=row.get("grr"),
                         nrr=row.get("nrr"), intervals=ivs)


def forecast_response(doc: dict[str, Any]) -> ForecastResponse:
    """The stored forecast document as the API's response."""
    levels = [float(x) for x in doc["levels"]]
    return ForecastResponse(
        as_of=doc["as_of"], horizon_days=doc["horizon_days"], by=doc.get("by"), levels=levels,
        versions=doc.get("versions", {}), written_at=doc.get("written_at", ""),
        groups=[_group(r, "group", levels) for r in doc["groups"]],
        renewals=[_group(r, "renewal_month", levels) for r in doc["renewals"]],
        health=[SegmentHealth(**{k: r.get(k) for k in SegmentHealth.model_fields}) for r in doc["health"]],
    )


@router.get("/forecast", response_model=ForecastResponse, summary="Latest GRR / NRR forecast with its ranges",
            responses={401: {"model": ErrorBody, "description": "Missing or invalid API key"},
                       404: {"model": ErrorBody, "description": "No forecast made yet"}})
def get_forecast(state: State, _: Reader) -> ForecastResponse:
    """Next horizon's expected GRR and NRR per group and renewal month, with central intervals, and the churn
    model's estimated ROC-AUC by segment (before labels exist)."""
    doc = read_forecast(state.settings.work_dir)
    if doc is None:
        raise HTTPException(404, NO_FORECAST)
    return forecast_response(doc)
