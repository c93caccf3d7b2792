"""Liveness, readiness (a model is loaded) and Prometheus metrics; no key needed (for probes and scrapers)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from serving.deps import State
from serving.schemas import Health, Readiness

router = APIRouter(tags=["ops"])


@router.get("/healthz", response_model=Health, summary="The process is up")
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}},
            summary="Ready once a model is loaded")
def readyz(state: State) -> Response:
    served, err = state.holder.current, state.holder.last_error
    if served is None:
        body = Readiness(ready=False, detail=err.message if err else "model not loaded yet")
        return JSONResponse(body.model_dump(), status_code=503)
    return JSONResponse(Readiness(ready=True, model=served.label).model_dump())


@router.get("/metrics", response_class=Response, summary="Prometheus metrics",
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
def metrics(state: State) -> Response:
    m, holder = state.metrics, state.holder
    m.model_version.set(holder.current.version if holder.current else 0)
    m.model_swaps.set(holder.swaps)
    m.load_failed.set(1 if holder.last_error else 0)
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
