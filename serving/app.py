"""The app factory: `create_app(settings)` wires the routers, middlewares, error handlers and the model holder.

The model is loaded in the lifespan (not at import): the app starts even when no model can be loaded yet,
answers /readyz and POST /v1/score with 503 saying why, and picks the model up when the alias appears (the
background check). /docs and /redoc load their scripts from this server (fastapi-offline), never from a
CDN. Authentication is required whenever keys are configured; with none, the app refuses to
be built unless `serving.allow_anonymous` is set.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from churnml.config import Settings
from churnml.scoring.fresh import FreshScorer
from serving import errors
from serving.auth import KeyChecker
from serving.contract import request_model
from serving.limits import AuthGuardMiddleware, BodyLimitMiddleware
from serving.metrics import Metrics, MetricsMiddleware
from serving.model_holder import ModelHolder
from serving.routers import api, forecast, health, portfolio, web
from serving.state import ServiceState, Sessions
from serving.store import StoreReader

logger = logging.getLogger("churnml.serving")


class ServingConfigError(ValueError):
    """The serving configuration cannot be served safely (e.g. no API keys and anonymous access not allowed)."""


def create_app(settings: Settings, *, holder: ModelHolder | None = None,
               loader: Callable[[str], Any] | None = None) -> FastAPI:
    """A FastAPI app serving `settings.serving.alias` of `settings.registry.name` and the scores in `work_dir`.

    Args:
        settings: churnml settings (the `serving`, `scoring`, `registry` sections and `work_dir` are used).
        holder: a ready-made model holder (tests); default one following the configured alias.
        loader: model loader passed to the default holder (tests inject failures).

    Raises:
        ServingConfigError: no API keys configured and `serving.allow_anonymous` is false.
    """
    cfg = settings.serving
    if not cfg.api_keys and not cfg.allow_anonymous:
        raise ServingConfigError(
            "no API keys configured: add one under serving.api_keys (`churnml apikey new` prints a key and its "
            "hash) or set serving.allow_anonymous: true for local development"
        )
    # several worker processes share sessions through a file; one process keeps them in memory
    sessions_path = Path(settings.work_dir) / "sessions.sqlite" if workers(cfg) > 1 else None
    holder = holder or ModelHolder(settings.work_dir, settings.registry.name, cfg.alias, loader=loader)
    state = ServiceState(settings=settings, holder=holder, store=StoreReader.from_work_dir(settings.work_dir),
                         keys=KeyChecker(cfg.api_keys, cfg.auth_limits.check_workers), metrics=Metrics(),
                         sessions=Sessions(cfg.session_hours, sessions_path), fresh=FreshScorer(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not cfg.api_keys:
            logger.warning("serving WITHOUT authentication (serving.allow_anonymous is set)")
        if holder.current is None:
            await run_in_threadpool(holder.refresh)
        holder.start(cfg.reload_seconds)
        try:
            yield
        finally:
            holder.stop()

    # Swagger UI and ReDoc from files shipped in the fastapi-offline package, not a CDN: /docs works offline
    app = FastAPIOffline(
        title="churnml",
        version="1",
        summary="Churn-risk scores with reasons in a CSM's words",
        description="Every /v1 route needs an API key in the X-API-Key header. See docs/serving.md.",
        lifespan=lifespan,
    )
    app.state.service = state
    errors.install(app)
    app.include_router(health.router)
    app.include_router(api.router)
    app.include_router(web.router)
    app.include_router(forecast.router)
    app.include_router(portfolio.router)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")

    @app.exception_handler(web.LoginRequired)
    async def _login(request: Request, exc: web.LoginRequired) -> RedirectResponse:
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(exc.next_url, safe='')}", status_code=303)

    app.openapi = lambda: served_openapi(app, holder)  # type: ignore[method-assign]
    app.add_middleware(AuthGuardMiddleware, keys=state.keys, limits=cfg.auth_limits)
    app.add_middleware(BodyLimitMiddleware, max_bytes=cfg.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    return app


def served_openapi(app: FastAPI, holder: ModelHolder) -> dict[str, Any]:
    """The OpenAPI schema with `POST /v1/score`'s body as the served model requires it (`serving.contract`).

    Regenerated when the served version changes, so the schema a client reads is the one its request is
    validated against (required features and attributes, types, ranges).
    """
    from fastapi.openapi.utils import get_openapi

    served = holder.current
    key = None if served is None else served.version
    cached = getattr(app.state, "openapi_cache", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    schema = get_openapi(title=app.title, version=app.version, summary=app.summary, description=app.description,
                         routes=app.routes)
    body = served.scorer.request_model if served is not None and served.scorer is not None else request_model()
    js = body.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(js.pop("$defs", {}))
    components[body.__name__] = js
    ref = {"$ref": f"#/components/schemas/{body.__name__}"}
    schema["paths"]["/v1/score"]["post"]["requestBody"] = {"required": True,
                                                           "content": {"application/json": {"schema": ref}}}
    app.state.openapi_cache = (key, schema)
    return schema


def workers(cfg: Any) -> int:
    """uvicorn worker processes: `serving.workers`, default the machine's CPU cores."""
    import os

    return cfg.workers or os.cpu_count() or 1


#: Environment variable through which `churnml serve` hands its settings to uvicorn's worker processes.
SETTINGS_ENV = "CHURNML_SERVE_SETTINGS"


def app_from_env() -> FastAPI:
    """App factory for uvicorn's worker processes (`churnml serve` with several workers): the settings come as
    JSON in `CHURNML_SERVE_SETTINGS`, so every worker serves the same configuration and follows the same alias
    with its own model holder (each worker swaps when the alias moves)."""
    import os

    return create_app(Settings.model_validate_json(os.environ[SETTINGS_ENV]))
