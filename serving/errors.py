"""Error responses: one clear JSON sentence, never a stack trace or internals.

- HTTP errors keep their status and message (`{"detail": ...}`).
- Validation errors are 422 with `errors[].loc` naming the field (the offending input is not echoed back).
- Anything unexpected is logged with its traceback and answered `500 {"detail": "internal error (id …)"}`.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving.scoring import InvalidPayload
from serving.store import StoreUnavailable

logger = logging.getLogger("churnml.serving")


def _field_errors(errors: Any) -> list[dict[str, Any]]:
    out = []
    for e in errors:
        out.append({"loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
                    "msg": str(e.get("msg", "invalid value")), "type": str(e.get("type", "value_error"))})
    return out


def _validation_body(errors: list[dict[str, Any]]) -> dict[str, Any]:
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"] if p != "body") or "request"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return {"detail": f"invalid request: {where}: {first['msg']}{more}", "errors": errors}


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else "request failed"
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse(_validation_body(_field_errors(exc.errors())), status_code=422)


async def _invalid_payload(request: Request, exc: InvalidPayload) -> JSONResponse:
    return JSONResponse(_validation_body(_field_errors(exc.errors)), status_code=422)


async def _store_unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
    logger.warning("score store unavailable: %s", exc)
    return JSONResponse({"detail": "the score store is busy or unavailable; retry shortly"}, status_code=503,
                        headers={"Retry-After": "5"})


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    ref = secrets.token_hex(4)
    logger.exception("unhandled error %s on %s %s", ref, request.method, request.url.path)
    return JSONResponse({"detail": f"internal error (reference {ref}); the server log has the details"},
                        status_code=500)


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(InvalidPayload, _invalid_payload)  # type: ignore[arg-type]
    app.add_exception_handler(StoreUnavailable, _store_unavailable)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
