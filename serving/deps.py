"""Request dependencies: the service state and API-key access control (401 missing/wrong, 403 read-only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool

from serving.auth import ANONYMOUS, Principal
from serving.state import ServiceState

API_KEY_HEADER = "X-API-Key"
api_key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False,
                              description="An API key (`churnml apikey new`); its role decides what it may call.")


async def get_state(request: Request) -> ServiceState:
    """The app's state (async: a sync dependency would cost every request a thread-pool hop)."""
    return request.app.state.service


State = Annotated[ServiceState, Depends(get_state)]


async def principal_for(state: ServiceState, presented: str | None) -> Principal | None:
    """Who `presented` is (None: unknown); scrypt runs off the event loop the first time a key is seen."""
    if not state.keys.enabled:
        return ANONYMOUS
    if not presented:
        return None
    return state.keys.cached(presented) or await run_in_threadpool(state.keys.check, presented)


async def require_key(state: State, key: Annotated[str | None, Security(api_key_header)] = None) -> Principal:
    """Any valid key (read or score)."""
    who = await principal_for(state, key)
    if who is None:
        detail = (f"missing API key: send it in the {API_KEY_HEADER} header" if not key
                  else "invalid API key")
        raise HTTPException(401, detail, headers={"WWW-Authenticate": "ApiKey"})
    return who


async def require_scorer(who: Annotated[Principal, Depends(require_key)]) -> Principal:
    """A key with role `score`: read-only keys may not score arbitrary payloads."""
    if not who.can_score():
        raise HTTPException(403, f"API key {who.name!r} is read-only: POST /v1/score needs a key with role 'score'")
    return who


async def require_writer(who: Annotated[Principal, Depends(require_key)]) -> Principal:
    """A key with role `write` or `score`: read-only keys may not add to the intervention log."""
    if not who.can_write():
        raise HTTPException(403, f"API key {who.name!r} is read-only: recording a play needs a key with role "
                            "'write' (or 'score')")
    return who


Reader = Annotated[Principal, Depends(require_key)]
Scorer = Annotated[Principal, Depends(require_scorer)]
Writer = Annotated[Principal, Depends(require_writer)]
