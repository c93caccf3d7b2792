"""/v1 routes: the at-risk list and account detail (from the score store), online scoring, the model served."""

from __future__ import annotations

import datetime as dt
import os
from typing import Annotated, Literal

import orjson
import pandas as pd
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool

from serving.deps import Reader, Scorer, State, Writer
from serving.plays import PlayRefused, open_alerts, record
from serving.schemas import (
    AccountDetail,
    AccountPage,
    AccountScore,
    Band,
    ErrorBody,
    Intervention,
    InterventionIn,
    ModelInfo,
    ScoreResponse,
    SortKey,
    ValidationErrorBody,
)
from serving.store import Filters
from serving.views import account_row, account_score, history_point

_AUTH = {401: {"model": ErrorBody, "description": "Missing or invalid API key"}}
_ERRORS = {**_AUTH, 422: {"model": ValidationErrorBody, "description": "Invalid request (the field is named)"},
           503: {"model": ErrorBody, "description": "Score store busy, or no model loaded"}}

router = APIRouter(prefix="/v1", tags=["v1"], responses=_ERRORS)


@router.get("/accounts", response_model=AccountPage, summary="Latest scores, filtered, sorted and paged")
def list_accounts(
    state: State,
    _: Reader,
    band: Band | None = None,
    segment: Annotated[str | None, Query(max_length=128)] = None,
    csm: Annotated[str | None, Query(max_length=128, description="CSM id")] = None,
    q: Annotated[str | None, Query(max_length=128, description="A part of the account id or name (any case)")] = None,
    sort: SortKey = "risk",
    order: Literal["desc", "asc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> AccountPage:
    """Accounts of the latest scoring. `sort=change` orders by the change since the previous scoring,
    `sort=renewal` by the days left to the renewal."""
    filters = Filters(band, segment, csm, (q or "").strip() or None)
    page = state.store.page(filters, sort, order == "desc", limit, offset)
    return AccountPage(as_of=page.as_of, total=page.total, limit=limit, offset=offset,
                       items=[account_row(r) for r in page.rows])


@router.get("/accounts/{account_id}", response_model=AccountDetail,
            responses={404: {"model": ErrorBody, "description": "No scores for this account"}},
            summary="Latest score, reasons, context, open alerts with their plays, and score history of one account")
def get_account(state: State, _: Reader,
                account_id: Annotated[str, Path(min_length=1, max_length=128)]) -> AccountDetail:
    """`alerts` lists every open alert with `held_out` set where the holdout keeps it un-routed: a client
    routing plays to CSMs must skip those (the web page does)."""
    rows = state.store.history(account_id)
    if not rows:
        raise HTTPException(404, f"no scores stored for account {account_id!r}")
    latest = account_score(rows[-1])
    return AccountDetail(**latest.model_dump(), alerts=open_alerts(state.settings, account_id),
                         history=[history_point(r) for r in rows])


@router.post("/accounts/{account_id}/interventions", response_model=Intervention, status_code=201,
             responses={403: {"model": ErrorBody, "description": "Read-only API key"},
                        404: {"model": ErrorBody, "description": "No scores for this account"},
                        409: {"model": ErrorBody, "description": "This play at this time is already logged"},
                        422: {"model": ValidationErrorBody, "description": "Unknown play (the valid ones are "
                              "named), a time in the future, or an invalid body"},
                        503: {"model": ErrorBody, "description": "No writable intervention log, or the alert "
                              "store is busy (nothing recorded)"}},
             summary="Record a play done on an account (the intervention log)")
def add_intervention(state: State, who: Writer, body: InterventionIn,
                     account_id: Annotated[str, Path(min_length=1, max_length=128)]) -> Intervention:
    """Appends `{account_id, ts, play, csm_id, outcome}` to `<data.dir>/interventions.parquet`
    (`churnml.plays.interventions.record_play`, under a file lock) and resolves the account's open alerts
    recommending the play. `csm_id` defaults to the CSM the key belongs to; `ts` to now."""
    try:
        return record(state.settings, state.store, account_id, body.play, ts=body.ts,
                      csm_id=body.csm_id or who.csm_id, outcome=body.outcome)
    except PlayRefused as exc:
        if exc.status == 422:  # the same shape as any invalid body: the field is named
            field = "play" if exc.detail.startswith("unknown play") else "ts"
            raise RequestValidationError([{"loc": ("body", field), "msg": exc.detail, "type": "value_error"}]) \
                from None
        headers = {"Retry-After": "5"} if exc.status == 503 else None
        raise HTTPException(exc.status, exc.detail, headers=headers) from None


#: Requests with at most this many accounts are answered on the event loop (about a millisecond each);
#: larger ones go to the thread pool so they cannot hold up other requests.
INLINE_ACCOUNTS = 4


@router.post("/score", response_model=ScoreResponse,
             responses={403: {"model": ErrorBody, "description": "Read-only API key"},
                        413: {"model": ErrorBody, "description": "Payload too large"}},
             summary="Score and explain accounts from their features")
async def score(request: Request, state: State, _: Scorer) -> Response:
    """Same model artifact and explanation code as batch scoring (`churnml.scoring.explain.explain_arrays`).

    The body is validated once, against what the served model requires (`serving.contract`; the OpenAPI
    schema is that same model), and answered as orjson bytes without a second validation.
    """
    served = state.holder.current  # read once: a swap during this request does not change the model used
    if served is None:
        err = state.holder.last_error
        raise HTTPException(503, "no model loaded yet" + (f": {err.message}" if err else ""),
                            headers={"Retry-After": "30"})
    scorer = served.scorer
    accounts = scorer.parse(await request.body())
    limit = state.settings.serving.max_accounts
    if len(accounts) > limit:
        raise HTTPException(413, f"too many accounts in one request: {len(accounts):,} (at most {limit:,})")
    config = state.settings.scoring
    if len(accounts) <= INLINE_ACCOUNTS:
        body = scorer.answer(accounts, config, cut=state.store.latest_cut(config.bands))
    else:
        body = await run_in_threadpool(scorer.answer, accounts, config, None, state.store.latest_cut(config.bands))
    state.metrics.scored.inc(len(accounts))
    return Response(orjson.dumps(body), media_type="application/json",
                    headers={"X-Model-Version": f"{served.name}/{served.version}"})


@router.post("/accounts/{account_id}/rescore", response_model=AccountScore,
             responses={404: {"model": ErrorBody, "description": "Unknown account, or not active at the date"}},
             summary="Score one account now from its raw signals, with what changed since its last stored score")
def rescore(state: State, _: Reader, account_id: Annotated[str, Path(min_length=1, max_length=128)],
            as_of: Annotated[dt.date | None, Query(description="As-of date (default: today, UTC); data before "
                                                   "its midnight is used, as in batch scoring.")] = None) -> Response:
    """The account's features computed now from the configured data source with the batch definitions
    (`churnml.scoring.fresh`), scored and explained by the served model; nothing is stored."""
    from churnml.data.validate import DataValidationError
    from churnml.scoring.fresh import NotScorable

    served = state.holder.current
    if served is None or state.fresh is None:
        raise HTTPException(503, "no model loaded yet", headers={"Retry-After": "30"})
    history = state.store.history(account_id)
    try:
        row = state.fresh.score(served.model, model_name=served.name, model_version=served.version,
                                account_id=account_id, as_of=as_of,
                                history=pd.DataFrame(history) if history else None)
    except NotScorable as exc:
        raise HTTPException(404, str(exc)) from None
    except (DataValidationError, ValueError, OSError) as exc:
        raise HTTPException(503, f"the data source cannot be read: {str(exc).splitlines()[0][:300]}",
                            headers={"Retry-After": "60"}) from None
    body = account_score(row.to_dict("records")[0])
    return Response(body.model_dump_json(), media_type="application/json",
                    headers={"X-Model-Version": f"{served.name}/{served.version}"})


@router.get("/model", response_model=ModelInfo, summary="The model being served")
def model_info(state: State, _: Reader) -> ModelInfo:
    served, err = state.holder.current, state.holder.last_error
    info = ModelInfo(name=state.holder.name, alias=state.holder.alias, ready=served is not None,
                     last_error=err.message if err else None, last_error_at=err.at if err else None,
                     worker_pid=os.getpid())
    if served is not None:
        info = info.model_copy(update={
            "version": str(served.version), "uri": served.uri, "run_id": served.run_id,
            "loaded_at": served.loaded_at, "trained_from": served.trained_from, "trained_to": served.trained_to,
            "metrics": served.metrics,
        })
    return info
