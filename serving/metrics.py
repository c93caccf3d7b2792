"""Prometheus metrics (prometheus-client): request counts and latency histograms per route, model state.

Each app gets its own `CollectorRegistry` so several apps in one process (tests) do not collide. The
middleware is plain ASGI (no per-request task overhead) and labels by route template (`/v1/accounts/{account_id}`),
never by raw path, so label cardinality stays bounded.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The service's metrics in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("churnml_http_requests_total", "HTTP requests by route, method and status",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("churnml_http_request_duration_seconds", "HTTP request latency by route",
                                 ["method", "route"], buckets=BUCKETS, registry=self.registry)
        self.scored = Counter("churnml_accounts_scored_total", "Accounts scored by POST /v1/score",
                              registry=self.registry)
        self.model_version = Gauge("churnml_model_version", "Registry version of the model served (0: none)",
                                   registry=self.registry)
        self.model_swaps = Gauge("churnml_model_swaps", "Times the served model was swapped after the alias moved",
                                 registry=self.registry)
        self.load_failed = Gauge("churnml_model_load_failed", "1 when the latest model load failed",
                                 registry=self.registry)


def _route(scope: dict[str, Any]) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path:
        return str(path)
    return "/static" if str(scope.get("path", "")).startswith("/static/") else "(unmatched)"


class MetricsMiddleware:
    """Counts every HTTP request and times it (ASGI)."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route, method = _route(scope), scope.get("method", "")
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - start)
            self.metrics.requests.labels(method, route, str(status["code"])).inc()
